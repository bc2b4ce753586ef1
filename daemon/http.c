#include "http.h"
#include "config.h"
#include "db.h"
#include "dispatch.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "session.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct http_front {
	struct server *srv;
	struct evhttp *http;
	char *web_dir;
	int pending;
};

/* One POST /rpc in progress. `req` is NULL once the client has gone.
 * Each exchange gets a connection id of its own: HTTP carries nothing
 * from one request to the next, and libevent gives an HTTP connection no
 * place to keep one. */
struct exchange {
	struct http_front *h;
	struct evhttp_request *req;
	struct reply *reply;
	unsigned long long conn_id;
	char *body;
	size_t len;
};

static void common_headers(struct evhttp_request *req, const char *type)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	evhttp_add_header(out, "Content-Type", type);
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(out, "Cache-Control", "no-store");
}

static void send_text(struct evhttp_request *req, int code, const char *reason,
		      const char *type, const char *text)
{
	struct evbuffer *b = evbuffer_new();
	common_headers(req, type);
	if (b && text)
		evbuffer_add(b, text, strlen(text));
	evhttp_send_reply(req, code, reason, b);
	if (b)
		evbuffer_free(b);
}

/* ---- POST /rpc ---- */

static void exchange_free(struct exchange *x)
{
	free(x->body);
	free(x);
}

static void exchange_closed(struct evhttp_connection *evcon, void *arg)
{
	struct exchange *x = arg;
	x->req = NULL;
}

static void rpc_ready(void *owner, struct reply *r)
{
	struct exchange *x = owner;
	x->h->pending--;
	if (x->req) {
		evhttp_connection_set_closecb(evhttp_request_get_connection(x->req), NULL, NULL);
		char *text = reply_text(r);
		if (text)
			send_text(x->req, 200, "OK", "application/json", text);
		else
			evhttp_send_reply(x->req, 204, "No Content", NULL);
		free(text);
	}
	reply_free(r);
	exchange_free(x);
}

/* HTTP is stateless: a login answers with a token, nothing else changes. */
static const struct reply_ops http_reply_ops = { rpc_ready, NULL };

static void rpc_dispatch(struct exchange *x, struct principal *who)
{
	x->reply = reply_new(x, &http_reply_ops, x->conn_id);
	if (!x->reply) {
		if (x->req)
			evhttp_send_error(x->req, 500, "out of memory");
		x->h->pending--;
		exchange_free(x);
		return;
	}
	dispatch_message(x->h->srv, who, x->body, x->len, x->reply);
}

static void token_resolved(int status, struct principal *p, void *arg)
{
	struct exchange *x = arg;
	/* An unknown token runs as anonymous: methods that need a login then
	 * answer 'unauthorized' through JSON-RPC like everywhere else. */
	(void)status;
	rpc_dispatch(x, p);
}

static const char *bearer_token(struct evhttp_request *req)
{
	const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req),
					      "Authorization");
	if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
		return NULL;
	return auth + 7;
}

static void handle_rpc(struct http_front *h, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct exchange *x = calloc(1, sizeof(*x));
	if (!x) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	x->h = h;
	x->req = req;
	x->conn_id = server_conn_id(h->srv);
	x->len = evbuffer_get_length(in);
	x->body = malloc(x->len + 1);
	if (!x->body) {
		free(x);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evbuffer_remove(in, x->body, x->len);
	x->body[x->len] = '\0';
	h->pending++;
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), exchange_closed, x);
	const char *token = bearer_token(req);
	if (!token || strlen(token) != 64 || session_resolve(h->srv, token, token_resolved, x) != 0)
		rpc_dispatch(x, NULL);
}

/* ---- GET /healthz, /metrics ---- */

static void health_done(const struct db_result *r, void *arg)
{
	struct evhttp_request *req = arg;
	if (r->status == DB_OK)
		send_text(req, 200, "OK", "application/json", "{\"status\":\"ok\",\"database\":\"up\"}");
	else
		send_text(req, 503, "Service Unavailable", "application/json",
			  "{\"status\":\"degraded\",\"database\":\"down\"}");
}

static void handle_healthz(struct http_front *h, struct evhttp_request *req)
{
	static const char sql[] = "SELECT 1";
	struct db_result down = { DB_UNAVAILABLE, NULL };
	if (db_query(h->srv->db, DB_LANE_NORMAL, sql, 0, NULL, health_done, req) != DB_OK)
		health_done(&down, req);
}

static void handle_metrics(struct http_front *h, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();
	if (!b) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	metrics_render(b, h->srv);
	common_headers(req, "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* ---- static files ---- */

static const char *content_type(const char *path)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript" },
		{ ".css", "text/css" }, { ".svg", "image/svg+xml" }, { ".json", "application/json" },
		{ ".png", "image/png" }, { ".ico", "image/x-icon" },
	};
	const char *dot = strrchr(path, '.');
	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

/* Only plain names under web_dir: no "..", no hidden files, no escapes. */
static int safe_path(const char *p)
{
	if (p[0] != '/' || strstr(p, "/.") || strchr(p, '\\') || strlen(p) > 200)
		return 0;
	return 1;
}

static void handle_static(struct http_front *h, struct evhttp_request *req, const char *path)
{
	char file[512];
	struct stat st;
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	if (!safe_path(path)) {
		evhttp_send_error(req, 404, "Not Found");
		return;
	}
	snprintf(file, sizeof(file), "%s%s", h->web_dir, path);
	int fd = open(file, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		evhttp_send_error(req, 404, "Not Found");
		return;
	}
	struct evbuffer *b = evbuffer_new();
	common_headers(req, content_type(file));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Security-Policy",
			  "default-src 'self'");
	if (b && evbuffer_add_file(b, fd, 0, st.st_size) == 0)
		evhttp_send_reply(req, 200, "OK", b);
	else
		evhttp_send_error(req, 500, "read error");
	if (b)
		evbuffer_free(b);
}

/* ---- routing ---- */

static void route(struct evhttp_request *req, void *arg)
{
	struct http_front *h = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	if (!path) {
		evhttp_send_error(req, 400, "Bad Request");
		return;
	}
	if (strcmp(path, "/rpc") == 0) {
		if (cmd == EVHTTP_REQ_POST)
			handle_rpc(h, req);
		else
			evhttp_send_error(req, 405, "use POST");
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	if (strcmp(path, "/healthz") == 0)
		handle_healthz(h, req);
	else if (strcmp(path, "/metrics") == 0)
		handle_metrics(h, req);
	else
		handle_static(h, req, path);
}

void http_apply_limits(struct http_front *h)
{
	const struct config *c = config_current();
	evhttp_set_max_body_size(h->http, (ev_ssize_t)c->max_line_bytes);
	evhttp_set_max_headers_size(h->http, 16384);
	evhttp_set_timeout(h->http, (int)(c->line_timeout_ms / 1000 > 0 ? c->line_timeout_ms / 1000 : 1));
}

struct http_front *http_new(struct server *srv, const char *hostport, const char *web_dir)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof(host)) {
		log_error("event=listen transport=http result=bad_address address=%s", hostport);
		return NULL;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport), hostport);
	if (host[0] == '[') { /* [::1]:8080 */
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	struct http_front *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->srv = srv;
	h->web_dir = strdup(web_dir);
	h->http = evhttp_new(srv->base);
	if (!h->web_dir || !h->http ||
	    !evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)atoi(colon + 1))) {
		log_error("event=listen transport=http result=failed address=%s", hostport);
		http_free(h);
		return NULL;
	}
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(h->http, route, h);
	http_apply_limits(h);
	log_info("event=listen transport=http address=%s", hostport);
	return h;
}

void http_free(struct http_front *h)
{
	if (!h)
		return;
	if (h->http)
		evhttp_free(h->http);
	free(h->web_dir);
	free(h);
}

int http_pending(const struct http_front *h) { return h ? h->pending : 0; }
