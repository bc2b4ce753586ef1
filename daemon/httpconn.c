#include "httpconn.h"
#include "config.h"
#include "httpparse.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "netaddr.h"
#include "ratelimit.h"
#include "server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#define LINGER_MS 2000

enum hc_state { HC_HEAD, HC_BODY, HC_BUSY, HC_WRITING, HC_LINGER };

struct hconn {
	TAILQ_ENTRY(hconn) link;
	struct server *srv;
	hconn_route_cb route;
	void *route_arg;
	struct bufferevent *bev;
	struct event *deadline;
	enum hc_state state;
	unsigned long long id;
	struct netaddr peer_addr;   /* the socket's peer */
	struct netaddr counted;     /* its place in the server's accounts */
	struct netaddr client;      /* who the request is from */
	char client_str[NETADDR_STRLEN];
	char peer[64];              /* HOST:PORT, for logs */
	size_t scanned;             /* head bytes searched for its end so far */
	char *headbuf;              /* the request's head; head points into it */
	struct http_head head;
	int have_head;
	char *body;
	size_t body_len;
	int keep_alive;             /* another request may follow the answer */
	int linger;                 /* the answer ends the connection: linger first */
	int page;                   /* the answer is a web client page */
	void (*abandon)(void *);
	void *abandon_arg;
};

static TAILQ_HEAD(, hconn) all_hconns = TAILQ_HEAD_INITIALIZER(all_hconns);

static void start_request(struct hconn *c);

/* ---- life ---- */

static void hconn_free(struct hconn *c, const char *reason)
{
	log_debug("event=conn_close transport=http conn=%llu peer=%s reason=%s", c->id, c->peer,
		  reason);
	if (c->abandon)
		c->abandon(c->abandon_arg);
	TAILQ_REMOVE(&all_hconns, c, link);
	event_free(c->deadline);
	bufferevent_free(c->bev);
	server_conn_closed(c->srv, METRIC_CONN_HTTP, &c->counted);
	metrics_conn_closed(METRIC_CONN_HTTP);
	free(c->headbuf);
	free(c->body);
	free(c);
}

static void arm_deadline(struct hconn *c, int64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };
	event_del(c->deadline);
	event_add(c->deadline, &tv);
}

static struct evbuffer *input(const struct hconn *c) { return bufferevent_get_input(c->bev); }

/* ---- answers ---- */

static const char *reason_phrase(int status)
{
	static const struct { int status; const char *text; } phrases[] = {
		{ 100, "Continue" }, { 200, "OK" }, { 204, "No Content" }, { 400, "Bad Request" },
		{ 403, "Forbidden" }, { 404, "Not Found" }, { 405, "Method Not Allowed" },
		{ 408, "Request Timeout" }, { 413, "Content Too Large" },
		{ 415, "Unsupported Media Type" }, { 417, "Expectation Failed" },
		{ 429, "Too Many Requests" }, { 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
		{ 503, "Service Unavailable" }, { 505, "HTTP Version Not Supported" },
	};
	for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++)
		if (phrases[i].status == status)
			return phrases[i].text;
	return "Unknown";
}

/* Browser hardening, on every answer, errors included: no framing (click-
 * jacking), no referrer leaking tokens in URLs, no MIME sniffing. Pages
 * of the web client may load their own resources; nothing else may load
 * anything. */
#define SECURITY_HEADERS \
	"X-Content-Type-Options: nosniff\r\n" \
	"X-Frame-Options: DENY\r\n" \
	"Referrer-Policy: no-referrer\r\n" \
	"Cache-Control: no-store\r\n"
#define CSP_NONE "default-src 'none'; frame-ancestors 'none'"
#define CSP_PAGE "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

static void http_date(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void log_answer(const struct hconn *c, int status)
{
	const struct http_head *h = &c->head;
	static const char *const names[] = { "GET", "HEAD", "POST", "other", "unknown" };
	if (log_get_level() < LOG_LVL_DEBUG)
		return;
	log_debug("event=http_request conn=%llu client=%s method=%s path=\"%.*s\" status=%d",
		  c->id, c->client_str, c->have_head ? names[h->method] : "-",
		  c->have_head ? (int)(h->path.n > 200 ? 200 : h->path.n) : 1,
		  c->have_head ? h->path.p : "-", status);
}

static void send_head(struct hconn *c, int status, const char *type, const char *extra,
		      size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char date[64];
	if (c->srv->draining)
		c->keep_alive = 0;
	http_date(date, sizeof(date));
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, reason_phrase(status),
			    date);
	if (type)
		evbuffer_add_printf(out, "Content-Type: %s\r\n", type);
	if (status != 204)
		evbuffer_add_printf(out, "Content-Length: %zu\r\n", len);
	if (!c->keep_alive)
		evbuffer_add_printf(out, "Connection: close\r\n");
	else if (c->have_head && c->head.minor == 0)
		evbuffer_add_printf(out, "Connection: keep-alive\r\n");
	evbuffer_add_printf(out, SECURITY_HEADERS "Content-Security-Policy: %s\r\n%s\r\n",
			    c->page ? CSP_PAGE : CSP_NONE, extra ? extra : "");
	log_answer(c, status);
}

static int is_head_request(const struct hconn *c)
{
	return c->have_head && c->head.method == HM_HEAD;
}

/* The answer is queued: nothing more is read until it is sent. */
static void answered(struct hconn *c)
{
	c->abandon = NULL;
	c->state = HC_WRITING;
	event_del(c->deadline);
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_enable(c->bev, EV_WRITE);
}

void hconn_answer(struct hconn *c, int status, const char *type, const char *extra,
		  const void *body, size_t len)
{
	send_head(c, status, type, extra, len);
	if (len && !is_head_request(c))
		evbuffer_add(bufferevent_get_output(c->bev), body, len);
	answered(c);
}

void hconn_answer_buf(struct hconn *c, int status, const char *type, const char *extra,
		      struct evbuffer *body)
{
	send_head(c, status, type, extra, evbuffer_get_length(body));
	if (is_head_request(c))
		evbuffer_drain(body, evbuffer_get_length(body));
	else
		evbuffer_add_buffer(bufferevent_get_output(c->bev), body);
	answered(c);
}

void hconn_answer_head(struct hconn *c, int status, const char *type, size_t len)
{
	send_head(c, status, type, NULL, len);
	answered(c);
}

static int ends_connection(int status)
{
	return status == 400 || status == 408 || status == 413 || status == 417 || status == 429 ||
	       status == 431 || status >= 500;
}

void hconn_answer_error(struct hconn *c, int status, const char *extra)
{
	char text[80];
	int n = snprintf(text, sizeof(text), "%d %s\n", status, reason_phrase(status));
	if (ends_connection(status)) {
		c->keep_alive = 0;
		c->linger = 1;
	}
	c->page = 0;
	hconn_answer(c, status, "text/plain; charset=utf-8", extra, text, (size_t)n);
}

/* A request that cannot be read on: answer, then close. */
static void fail_request(struct hconn *c, int status, const char *why)
{
	log_debug("event=http_refused conn=%llu peer=%s status=%d reason=\"%s\"", c->id, c->peer,
		  status, why);
	hconn_answer_error(c, status, NULL);
}

void hconn_refuse(evutil_socket_t fd)
{
	static const char text[] =
		"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
		"Content-Length: 24\r\nConnection: close\r\nRetry-After: 1\r\n" SECURITY_HEADERS
		"Content-Security-Policy: " CSP_NONE "\r\n\r\n503 Service Unavailable\n";
	/* Best effort on a fresh socket: its buffer is empty, so this fits. */
	(void)send(fd, text, sizeof(text) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* ---- after the answer ---- */

static void start_linger(struct hconn *c)
{
	c->state = HC_LINGER;
	shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	evbuffer_drain(input(c), evbuffer_get_length(input(c)));
	bufferevent_enable(c->bev, EV_READ);
	arm_deadline(c, LINGER_MS);
}

static void answer_sent(struct hconn *c)
{
	if (c->linger) {
		start_linger(c);
		return;
	}
	if (!c->keep_alive) {
		hconn_free(c, "done");
		return;
	}
	start_request(c);
}

/* ---- reading a request ---- */

static void route(struct hconn *c)
{
	c->state = HC_BUSY;
	event_del(c->deadline);
	bufferevent_disable(c->bev, EV_READ);
	c->route(c->route_arg, c);
}

static void read_body(struct hconn *c)
{
	size_t need = (size_t)c->head.content_length;
	if (evbuffer_get_length(input(c)) < need)
		return;
	c->body = malloc(need + 1);
	if (!c->body) {
		fail_request(c, 500, "out of memory");
		return;
	}
	evbuffer_remove(input(c), c->body, need);
	c->body[need] = '\0';
	c->body_len = need;
	route(c);
}

static void got_head(struct hconn *c)
{
	const struct http_head *h = &c->head;
	c->have_head = 1;
	c->keep_alive = h->keep_alive;
	if (h->content_length > config_current()->max_line_bytes) {
		fail_request(c, 413, "body too large");
		return;
	}
	c->state = HC_BODY;
	arm_deadline(c, config_current()->http_body_timeout_ms);
	if (h->expect_continue && h->content_length > 0 &&
	    evbuffer_get_length(input(c)) < (size_t)h->content_length)
		evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n");
	read_body(c);
}

/* RFC 9112, 2.2: blank lines before a request line are skipped. */
static void skip_blank_lines(struct evbuffer *in)
{
	for (;;) {
		unsigned char two[2];
		size_t n = evbuffer_get_length(in);
		if (n == 0 || evbuffer_copyout(in, two, n < 2 ? 1 : 2) < 1)
			return;
		if (two[0] == '\n')
			evbuffer_drain(in, 1);
		else if (n >= 2 && two[0] == '\r' && two[1] == '\n')
			evbuffer_drain(in, 2);
		else
			return;
	}
}

static void take_head(struct hconn *c, size_t end)
{
	struct http_error err = { 400, "bad request" };
	c->headbuf = malloc(end);
	if (!c->headbuf) {
		fail_request(c, 500, "out of memory");
		return;
	}
	evbuffer_remove(input(c), c->headbuf, end);
	enum http_parse r = http_parse_head(c->headbuf, end, &c->head, &err);
	if (r == HP_DONE)
		got_head(c);
	else
		fail_request(c, err.status, r == HP_MORE ? "bad request" : err.why);
}

static void read_head(struct hconn *c)
{
	struct evbuffer *in = input(c);
	skip_blank_lines(in);
	size_t len = evbuffer_get_length(in);
	size_t look = len < HTTP_MAX_HEAD + 1 ? len : HTTP_MAX_HEAD + 1;
	if (look == 0)
		return;
	const char *buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)look);
	size_t end = buf ? http_head_end(buf, look, c->scanned) : 0;
	if (end == 0) {
		c->scanned = look;
		if (look > HTTP_MAX_HEAD)
			fail_request(c, 431, "head too large");
		return;
	}
	if (end > HTTP_MAX_HEAD) {
		fail_request(c, 431, "head too large");
		return;
	}
	take_head(c, end);
}

/* Ready for the next request on this connection. */
static void start_request(struct hconn *c)
{
	free(c->headbuf);
	free(c->body);
	c->headbuf = c->body = NULL;
	c->body_len = c->scanned = 0;
	c->have_head = c->page = c->linger = 0;
	c->client = c->peer_addr;
	netaddr_str(&c->client, c->client_str, sizeof(c->client_str));
	c->state = HC_HEAD;
	arm_deadline(c, config_current()->http_header_timeout_ms);
	bufferevent_enable(c->bev, EV_READ);
	read_head(c); /* a pipelined request may be buffered already */
}

/* ---- callbacks ---- */

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct hconn *c = arg;
	switch (c->state) {
	case HC_HEAD: read_head(c); break;
	case HC_BODY: read_body(c); break;
	case HC_LINGER: evbuffer_drain(input(c), evbuffer_get_length(input(c))); break;
	default: break;
	}
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	struct hconn *c = arg;
	if (c->state == HC_WRITING)
		answer_sent(c);
}

static void cut(struct hconn *c, enum metric_http_cut phase, const char *name)
{
	static struct ratelimit rl[METRIC_CUT_N];
	metrics_http_cut(phase);
	unsigned long long n = ratelimit_hit(&rl[phase]);
	if (n)
		log_info("event=http_deadline phase=%s peer=%s count=%llu interval_s=%d", name,
			 c->peer, n, RATELIMIT_INTERVAL_S);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *c = arg;
	if (c->state == HC_HEAD && evbuffer_get_length(input(c)) == 0) {
		cut(c, METRIC_CUT_IDLE, "idle");
		hconn_free(c, "idle_timeout");
	} else if (c->state == HC_HEAD) {
		cut(c, METRIC_CUT_HEADERS, "headers");
		fail_request(c, 408, "head too slow");
	} else if (c->state == HC_BODY) {
		cut(c, METRIC_CUT_BODY, "body");
		fail_request(c, 408, "body too slow");
	} else if (c->state == HC_LINGER) {
		hconn_free(c, "closed_after_error");
	}
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct hconn *c = arg;
	if (what & BEV_EVENT_TIMEOUT) {
		hconn_free(c, "write_timeout");
		return;
	}
	if ((what & BEV_EVENT_EOF) && (c->state == HC_BUSY || c->state == HC_WRITING)) {
		c->keep_alive = 0; /* half-closed: answer, then close */
		return;
	}
	if (what & BEV_EVENT_EOF)
		hconn_free(c, c->state == HC_LINGER ? "closed_after_error" : "eof");
	else
		hconn_free(c, "error");
}

void hconn_new(struct server *srv, const struct accepted *a, hconn_route_cb route_cb, void *arg)
{
	struct hconn *c = calloc(1, sizeof(*c));
	struct bufferevent *bev = c ? bufferevent_socket_new(srv->base, a->fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
	struct event *deadline = bev ? evtimer_new(srv->base, deadline_cb, c) : NULL;
	if (!deadline) {
		if (bev)
			bufferevent_free(bev);
		else
			evutil_closesocket(a->fd);
		free(c);
		server_conn_closed(srv, METRIC_CONN_HTTP, &a->counted);
		log_error("event=accept transport=http result=out_of_memory peer=%s", a->peer);
		return;
	}
	*c = (struct hconn){ .srv = srv, .route = route_cb, .route_arg = arg, .bev = bev,
			     .deadline = deadline, .id = server_conn_id(srv), .peer_addr = a->addr,
			     .counted = a->counted };
	snprintf(c->peer, sizeof(c->peer), "%s", a->peer);
	const struct config *cfg = config_current();
	struct timeval wr = { (time_t)(cfg->write_timeout_ms / 1000),
			      (suseconds_t)((cfg->write_timeout_ms % 1000) * 1000) };
	bufferevent_setcb(bev, read_cb, write_cb, event_cb, c);
	bufferevent_set_timeouts(bev, NULL, &wr);
	TAILQ_INSERT_TAIL(&all_hconns, c, link);
	metrics_conn_opened(METRIC_CONN_HTTP);
	log_debug("event=conn_open transport=http conn=%llu peer=%s", c->id, c->peer);
	start_request(c);
}

void hconn_close_all(void)
{
	struct hconn *c;
	while ((c = TAILQ_FIRST(&all_hconns)))
		hconn_free(c, "shutdown");
}

int hconn_busy_count(void)
{
	int n = 0;
	struct hconn *c;
	TAILQ_FOREACH(c, &all_hconns, link)
		n += c->state == HC_BUSY || c->state == HC_WRITING;
	return n;
}

/* ---- for routes ---- */

const struct http_head *hconn_head(const struct hconn *c) { return &c->head; }

const char *hconn_body(const struct hconn *c, size_t *len)
{
	*len = c->body_len;
	return c->body ? c->body : "";
}

unsigned long long hconn_id(const struct hconn *c) { return c->id; }
const struct netaddr *hconn_peer(const struct hconn *c) { return &c->peer_addr; }
const struct netaddr *hconn_client(const struct hconn *c) { return &c->client; }
const char *hconn_client_str(const struct hconn *c) { return c->client_str; }

int hconn_set_client(struct hconn *c, const struct netaddr *client, int count_it)
{
	struct netaddr none, want;
	memset(&none, 0, sizeof(none));
	want = count_it ? *client : none;
	c->client = *client;
	netaddr_str(client, c->client_str, sizeof(c->client_str));
	if (netaddr_eq(&want, &c->counted))
		return 0;
	server_addr_drop(c->srv, &c->counted);
	c->counted = none;
	if (server_addr_take(c->srv, &want) != 0)
		return -1;
	c->counted = want;
	return 0;
}

void hconn_wait(struct hconn *c, void (*abandon)(void *arg), void *arg)
{
	c->abandon = abandon;
	c->abandon_arg = arg;
}

void hconn_set_page(struct hconn *c) { c->page = 1; }
