#include "conn.h"
#include "config.h"
#include "dispatch.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "netaddr.h"
#include "request.h"
#include "server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

TAILQ_HEAD(reply_queue, reply);

struct conn {
	TAILQ_ENTRY(conn) link;
	struct server *srv;
	struct bufferevent *bev;
	struct principal *who;
	struct reply_queue replies; /* answers owed, oldest first */
	int pending;                /* replies not yet complete */
	int in_read;                /* inside process_input: no re-entry */
	int closing;                /* close once the output is flushed */
	int eof;                    /* the client has finished sending */
	struct event *line_timer;   /* a started line must finish in time */
	struct event *resume;       /* re-runs input processing from the loop */
	unsigned long long id;
	struct netaddr counted;     /* its place in the server's accounts */
	char addr_str[NETADDR_STRLEN]; /* the client's address, for replies */
	char peer[64];              /* HOST:PORT, for logs */
};

static TAILQ_HEAD(, conn) all_conns = TAILQ_HEAD_INITIALIZER(all_conns);

static void process_input(struct conn *c);

static void conn_free(struct conn *c, const char *reason)
{
	log_info("event=conn_close conn=%llu peer=%s reason=%s", c->id, c->peer, reason);
	struct reply *r;
	while ((r = TAILQ_FIRST(&c->replies))) {
		TAILQ_REMOVE(&c->replies, r, link);
		reply_disown(r);
	}
	TAILQ_REMOVE(&all_conns, c, link);
	principal_unref(c->who);
	event_free(c->line_timer);
	event_free(c->resume);
	bufferevent_free(c->bev);
	server_conn_closed(c->srv, METRIC_CONN_TCP, &c->counted);
	metrics_conn_closed(METRIC_CONN_TCP);
	free(c);
}

static size_t output_len(const struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* Stop reading while answers are owed, unread or awaited, so that one
 * client's flood is paid for by that client alone. */
static int must_pause(const struct conn *c)
{
	const struct config *cfg = config_current();
	struct reply *last = TAILQ_LAST(&c->replies, reply_queue);
	if (c->closing)
		return 1;
	if (last && last->barrier && !last->complete)
		return 1;
	return c->pending >= cfg->max_inflight || output_len(c) > (size_t)cfg->max_output_bytes;
}

static int has_line(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	return evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF).pos >= 0;
}

/* The line timer is for a client that is slow to send a line, not for a
 * daemon that is slow to read one: it runs only while the connection is
 * read and what is buffered is a partial line (no newline yet). Complete
 * lines left unread by must_pause() (max_inflight, a barrier, unread
 * answers) never start it. */
static void update_line_timer(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	if (c->eof || c->closing || must_pause(c) || evbuffer_get_length(in) == 0 || has_line(c)) {
		event_del(c->line_timer);
		return;
	}
	if (!event_pending(c->line_timer, EV_TIMEOUT, NULL)) {
		int64_t ms = config_current()->line_timeout_ms;
		struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };
		event_add(c->line_timer, &tv);
	}
}

static void update_reading(struct conn *c)
{
	update_line_timer(c);
	if (must_pause(c)) {
		bufferevent_disable(c->bev, EV_READ);
		return;
	}
	if (c->eof) { /* nothing more will come: just finish what is buffered */
		if (has_line(c))
			event_active(c->resume, 0, 0);
		return;
	}
	if (!(bufferevent_get_enabled(c->bev) & EV_READ)) {
		bufferevent_enable(c->bev, EV_READ);
		event_active(c->resume, 0, 0); /* lines may already be buffered */
	}
}

/* Closes when nothing is owed any more: after an error that ends the
 * connection, or after the client's end of input once every line it sent
 * has been answered. Returns 1 when c was freed. */
static int maybe_finish_close(struct conn *c)
{
	if (!c->closing && !c->eof)
		return 0;
	if (!TAILQ_EMPTY(&c->replies) || output_len(c) != 0)
		return 0;
	if (c->eof && !c->closing && has_line(c))
		return 0;
	conn_free(c, c->closing ? "closed_after_error" : "eof");
	return 1;
}

static void write_out(struct conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct reply *r;
	while ((r = TAILQ_FIRST(&c->replies)) && r->complete) {
		TAILQ_REMOVE(&c->replies, r, link);
		char *text = reply_text(r);
		if (text) {
			evbuffer_add(out, text, strlen(text));
			evbuffer_add(out, "\n", 1);
			free(text);
		}
		reply_free(r);
	}
}

/* reply_ops.ready: an answer is complete; send whatever is now in order. */
static void on_reply_ready(void *owner, struct reply *r)
{
	struct conn *c = owner;
	c->pending--;
	write_out(c);
	if (!c->in_read)
		update_reading(c);
}

static void set_timeouts(struct conn *c);

static void on_set_principal(void *owner, struct principal *p)
{
	struct conn *c = owner;
	principal_unref(c->who);
	c->who = principal_ref(p);
	set_timeouts(c);
}

static const struct reply_ops conn_reply_ops = { on_reply_ready, on_set_principal };

static struct reply *queue_reply(struct conn *c)
{
	struct reply *r = reply_new(c, &conn_reply_ops, c->id);
	if (!r)
		return NULL;
	snprintf(r->peer, sizeof(r->peer), "%s", c->addr_str);
	TAILQ_INSERT_TAIL(&c->replies, r, link);
	c->pending++;
	return r;
}

/* The message cannot be read as a line: answer once, then hang up. */
static void reject_and_close(struct conn *c, int code, const char *why)
{
	log_warn("event=conn_reject conn=%llu peer=%s reason=\"%s\"", c->id, c->peer, why);
	struct reply *r = queue_reply(c);
	c->closing = 1;
	event_del(c->line_timer);
	bufferevent_disable(c->bev, EV_READ);
	evbuffer_drain(bufferevent_get_input(c->bev), (size_t)-1);
	if (r)
		dispatch_reject(r, code, why);
	maybe_finish_close(c);
}

static void handle_line(struct conn *c, char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (len == 0)
		return;
	struct reply *r = queue_reply(c);
	if (!r) {
		reject_and_close(c, RPC_INTERNAL_ERROR, "out of memory");
		return;
	}
	dispatch_message(c->srv, c->who, line, len, r);
}

/* Takes complete lines off the input while the limits allow. Returns -1
 * when the connection was closed. */
static int take_lines(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t max = (size_t)config_current()->max_line_bytes;
	while (!must_pause(c)) {
		size_t len;
		struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &len, EVBUFFER_EOL_LF);
		if (eol.pos < 0) {
			if (evbuffer_get_length(in) > max) {
				reject_and_close(c, RPC_INVALID_REQUEST, "line too long");
				return -1;
			}
			return 0;
		}
		if ((size_t)eol.pos > max) {
			reject_and_close(c, RPC_INVALID_REQUEST, "line too long");
			return -1;
		}
		char *line = malloc((size_t)eol.pos + 1);
		if (!line) {
			reject_and_close(c, RPC_INTERNAL_ERROR, "out of memory");
			return -1;
		}
		evbuffer_remove(in, line, (size_t)eol.pos);
		evbuffer_drain(in, 1);
		line[eol.pos] = '\0';
		handle_line(c, line, (size_t)eol.pos);
		free(line);
		event_del(c->line_timer); /* a line arrived whole: the next starts afresh */
	}
	return 0;
}

static void process_input(struct conn *c)
{
	if (c->in_read || c->closing)
		return;
	c->in_read = 1;
	if (take_lines(c) < 0)
		return; /* closing, and reject_and_close may already have freed c */
	c->in_read = 0;
	update_reading(c);
	if (output_len(c) == 0)
		maybe_finish_close(c);
}

static void read_cb(struct bufferevent *bev, void *arg) { process_input(arg); }

static void resume_cb(evutil_socket_t fd, short what, void *arg) { process_input(arg); }

static void write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (maybe_finish_close(c) || c->closing)
		return;
	update_reading(c);
}

static void line_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	conn_free(c, "line_timeout");
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	if (what & BEV_EVENT_TIMEOUT) {
		if ((what & BEV_EVENT_READING) && c->pending > 0) {
			bufferevent_enable(bev, EV_READ); /* busy, not idle */
			return;
		}
		conn_free(c, (what & BEV_EVENT_WRITING) ? "write_timeout" : "idle_timeout");
		return;
	}
	if ((what & BEV_EVENT_EOF) && !c->closing) {
		/* Half-closed (e.g. `printf ... | nc`): answer what was sent first. */
		c->eof = 1;
		event_del(c->line_timer);
		bufferevent_disable(bev, EV_READ);
		process_input(c);
		return;
	}
	conn_free(c, (what & BEV_EVENT_EOF) ? "eof" : "error");
}

/* Before a login the idle timeout is shorter (anon_idle_timeout_s): a
 * connection nobody has logged in on costs the same slot as a user's, and
 * holding thousands of them open is the cheapest way to lock others out. */
static void set_timeouts(struct conn *c)
{
	const struct config *cfg = config_current();
	int64_t idle_s = cfg->idle_timeout_s;
	if (!c->who && cfg->anon_idle_timeout_s > 0 &&
	    (idle_s == 0 || cfg->anon_idle_timeout_s < idle_s))
		idle_s = cfg->anon_idle_timeout_s;
	struct timeval idle = { (time_t)idle_s, 0 };
	struct timeval wr = { (time_t)(cfg->write_timeout_ms / 1000),
			      (suseconds_t)((cfg->write_timeout_ms % 1000) * 1000) };
	bufferevent_set_timeouts(c->bev, idle_s ? &idle : NULL, &wr);
}

struct conn *conn_new(struct server *srv, const struct accepted *a)
{
	evutil_socket_t fd = a->fd;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		evutil_closesocket(fd);
		return NULL;
	}
	c->srv = srv;
	c->id = server_conn_id(srv);
	c->counted = a->counted;
	netaddr_str(&a->addr, c->addr_str, sizeof(c->addr_str));
	snprintf(c->peer, sizeof(c->peer), "%s", a->peer);
	TAILQ_INIT(&c->replies);
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->line_timer = evtimer_new(srv->base, line_timeout_cb, c);
	c->resume = event_new(srv->base, -1, 0, resume_cb, c);
	if (!c->bev || !c->line_timer || !c->resume) {
		if (c->line_timer)
			event_free(c->line_timer);
		if (c->resume)
			event_free(c->resume);
		if (c->bev)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		free(c);
		return NULL;
	}
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	set_timeouts(c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&all_conns, c, link);
	metrics_conn_opened(METRIC_CONN_TCP);
	log_debug("event=conn_open conn=%llu peer=%s", c->id, c->peer);
	return c;
}

int conn_drain_all(void)
{
	int left = 0;
	struct conn *c = TAILQ_FIRST(&all_conns), *next;
	for (; c; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->pending == 0 && output_len(c) == 0)
			conn_free(c, "shutdown");
		else
			left++;
	}
	return left;
}

void conn_close_all(void)
{
	struct conn *c;
	while ((c = TAILQ_FIRST(&all_conns)))
		conn_free(c, "shutdown");
}
