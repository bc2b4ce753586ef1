#include "http.h"
#include "config.h"
#include "db.h"
#include "dispatch.h"
#include "httpconn.h"
#include "httpparse.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "netaddr.h"
#include "server.h"
#include "session.h"
#include "static.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JSON_TYPE "application/json"
#define ALLOW_GET "Allow: GET, HEAD\r\n"

struct http_front {
	struct server *srv;
	struct listener *listener;
	int web_root;                     /* web_dir, or -1 */
	struct netaddr_list trusted;      /* trusted_proxies */
	struct netaddr_list metrics_allow;
};

/* A database lookup made for a connection that may be gone when its
 * answer comes: the connection clears `c` when it goes. */
struct wait {
	struct http_front *h;
	struct hconn *c;
};

static void wait_abandon(void *arg)
{
	struct wait *w = arg;
	w->c = NULL;
}

static struct wait *wait_new(struct http_front *h, struct hconn *c)
{
	struct wait *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->h = h;
	w->c = c;
	hconn_wait(c, wait_abandon, w);
	return w;
}

/* The connection the answer is for, or NULL when it has gone; frees w. */
static struct hconn *wait_end(struct wait *w)
{
	struct hconn *c = w->c;
	free(w);
	if (c)
		hconn_wait(c, NULL, NULL);
	return c;
}

/* ---- POST /rpc ---- */

static void rpc_ready(void *owner, struct reply *r)
{
	struct hconn *c = owner;
	char *text = reply_text(r);
	reply_free(r);
	if (text)
		hconn_answer(c, 200, JSON_TYPE, NULL, text, strlen(text));
	else
		hconn_answer(c, 204, NULL, NULL, NULL, 0);
	free(text);
}

static void rpc_abandon(void *arg) { reply_disown(arg); }

/* HTTP is stateless: a login answers with a token, nothing else changes. */
static const struct reply_ops http_reply_ops = { rpc_ready, NULL };

static void rpc_dispatch(struct http_front *h, struct hconn *c, struct principal *who)
{
	size_t len;
	const char *body = hconn_body(c, &len);
	struct reply *r = reply_new(c, &http_reply_ops, hconn_id(c));
	if (!r) {
		hconn_answer_error(c, 500, NULL);
		return;
	}
	snprintf(r->peer, sizeof(r->peer), "%s", hconn_client_str(c));
	hconn_wait(c, rpc_abandon, r);
	dispatch_message(h->srv, who, body, len, r);
}

static void token_resolved(int status, struct principal *p, void *arg)
{
	struct wait *w = arg;
	struct http_front *h = w->h;
	struct hconn *c = wait_end(w);
	/* An unknown token runs as anonymous: methods that need a login then
	 * answer 'unauthorized' through JSON-RPC like everywhere else. */
	(void)status;
	if (c)
		rpc_dispatch(h, c, p);
}

/* "Authorization: Bearer <64 hex>" into token (65 bytes); 0 when found. */
static int bearer_token(const struct http_head *hd, char *token)
{
	const struct http_slice *auth = http_field(hd, "authorization");
	if (!auth || auth->n != 7 + 64 || !http_slice_is((struct http_slice){ auth->p, 7 }, "bearer "))
		return -1;
	memcpy(token, auth->p + 7, 64);
	token[64] = '\0';
	return 0;
}

static void route_rpc(struct http_front *h, struct hconn *c)
{
	const struct http_head *hd = hconn_head(c);
	char token[65];
	if (hd->method != HM_POST) {
		hconn_answer_error(c, 405, "Allow: POST\r\n");
		return;
	}
	/* A browser sends a cross-site POST without asking first only as
	 * text/plain, a form or multipart: requiring JSON makes it ask (CORS
	 * preflight), and this daemon never says yes. */
	if (!http_content_type_is(hd, JSON_TYPE)) {
		hconn_answer_error(c, 415, NULL);
		return;
	}
	if (bearer_token(hd, token) == 0) {
		struct wait *w = wait_new(h, c);
		if (w && session_resolve(h->srv, token, token_resolved, w) == 0)
			return;
		if (w)
			wait_end(w);
	}
	rpc_dispatch(h, c, NULL);
}

/* ---- GET /healthz, /metrics ---- */

static void health_answer(struct hconn *c, int up)
{
	static const char ok[] = "{\"status\":\"ok\",\"database\":\"up\"}";
	static const char down[] = "{\"status\":\"degraded\",\"database\":\"down\"}";
	if (up)
		hconn_answer(c, 200, JSON_TYPE, NULL, ok, sizeof(ok) - 1);
	else
		hconn_answer(c, 503, JSON_TYPE, NULL, down, sizeof(down) - 1);
}

static void health_done(const struct db_result *r, void *arg)
{
	struct hconn *c = wait_end(arg);
	if (c)
		health_answer(c, r->status == DB_OK);
}

static void route_healthz(struct http_front *h, struct hconn *c)
{
	static const char sql[] = "SELECT 1";
	struct wait *w = wait_new(h, c);
	if (w && db_query(h->srv->db, DB_LANE_NORMAL, sql, 0, NULL, health_done, w) == DB_OK)
		return;
	if (w)
		wait_end(w);
	health_answer(c, 0);
}

static void route_metrics(struct http_front *h, struct hconn *c)
{
	if (!netaddr_list_match(&h->metrics_allow, hconn_client(c))) {
		hconn_answer_error(c, 403, NULL);
		return;
	}
	struct evbuffer *b = evbuffer_new();
	if (!b) {
		hconn_answer_error(c, 500, NULL);
		return;
	}
	metrics_render(b, h->srv);
	hconn_answer_buf(c, 200, "text/plain; version=0.0.4", NULL, b);
	evbuffer_free(b);
}

/* ---- static files ---- */

static void route_static(struct http_front *h, struct hconn *c)
{
	const struct http_head *hd = hconn_head(c);
	off_t size;
	int fd = static_open(h->web_root, hd->path.p, hd->path.n, &size);
	if (fd < 0) {
		hconn_answer_error(c, 404, NULL);
		return;
	}
	const char *type = static_content_type(hd->path.p, hd->path.n);
	hconn_set_page(c);
	if (hd->method == HM_HEAD) {
		close(fd);
		hconn_answer_head(c, 200, type, (size_t)size);
		return;
	}
	struct evbuffer *b = evbuffer_new();
	if (!b || static_read(fd, size, b) != 0) {
		if (!b)
			close(fd);
		hconn_answer_error(c, 500, NULL);
	} else {
		hconn_answer_buf(c, 200, type, NULL, b);
	}
	if (b)
		evbuffer_free(b);
}

/* ---- routing ---- */

/* Behind a trusted proxy the connection speaks for the client the proxy
 * names: that is the address /metrics checks, the login throttle sees,
 * and the per-address cap counts (a proxy itself is never counted). */
static int find_client(struct http_front *h, struct hconn *c)
{
	struct netaddr client;
	if (!netaddr_list_match(&h->trusted, hconn_peer(c)))
		return 0;
	http_forwarded_client(hconn_head(c), hconn_peer(c), &h->trusted, &client);
	if (hconn_set_client(c, &client, !netaddr_list_match(&h->trusted, &client)) == 0)
		return 0;
	hconn_answer_error(c, 429, NULL);
	return -1;
}

static void route(void *arg, struct hconn *c)
{
	struct http_front *h = arg;
	const struct http_head *hd = hconn_head(c);
	if (find_client(h, c) != 0)
		return;
	if (hd->method == HM_UNKNOWN) {
		hconn_answer_error(c, 501, NULL);
		return;
	}
	if (http_slice_is(hd->path, "/rpc")) {
		route_rpc(h, c);
		return;
	}
	if (hd->method != HM_GET && hd->method != HM_HEAD)
		hconn_answer_error(c, 405, ALLOW_GET);
	else if (http_slice_is(hd->path, "/healthz"))
		route_healthz(h, c);
	else if (http_slice_is(hd->path, "/metrics"))
		route_metrics(h, c);
	else
		route_static(h, c);
}

/* ---- the front ---- */

static void accepted(void *arg, const struct accepted *a)
{
	struct http_front *h = arg;
	hconn_new(h->srv, a, route, h);
}

static void refused(void *arg, evutil_socket_t fd) { hconn_refuse(fd); }

/* Swaps in a freshly parsed list; config_load() checked the text. */
static void reload_list(struct netaddr_list *l, const char *key, const char *text)
{
	struct netaddr_list next;
	char err[256];
	if (netaddr_list_parse(text, &next, err, sizeof(err)) != 0) {
		log_error("event=config_reload key=%s result=refused error=\"%s\"", key, err);
		return;
	}
	netaddr_list_free(l);
	*l = next;
}

void http_apply_limits(struct http_front *h)
{
	const struct config *c = config_current();
	reload_list(&h->trusted, "trusted_proxies", c->trusted_proxies);
	reload_list(&h->metrics_allow, "metrics_allow", c->metrics_allow);
}

struct http_front *http_new(struct server *srv, const char *hostport, const char *web_dir)
{
	struct http_front *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->srv = srv;
	h->web_root = static_open_root(web_dir);
	http_apply_limits(h);
	h->listener = listener_open(srv, hostport, METRIC_CONN_HTTP, accepted, refused, h);
	if (!h->listener) {
		http_free(h);
		return NULL;
	}
	listener_set_exempt(h->listener, &h->trusted);
	return h;
}

void http_free(struct http_front *h)
{
	if (!h)
		return;
	listener_free(h->listener);
	hconn_close_all();
	if (h->web_root >= 0)
		close(h->web_root);
	netaddr_list_free(&h->trusted);
	netaddr_list_free(&h->metrics_allow);
	free(h);
}

int http_pending(const struct http_front *h) { return h ? hconn_busy_count() : 0; }
