/*
 * Counters for GET /metrics (Prometheus text format). Updated on the loop
 * thread only, so plain integers suffice.
 */
#ifndef RS_METRICS_H
#define RS_METRICS_H

#include <stdint.h>

struct evbuffer;
struct server;

enum metric_conn_kind { METRIC_CONN_TCP, METRIC_CONN_HTTP };

int metrics_init(int nmethods);
void metrics_free(void);
/* method: index in the method table, or -1 for calls refused before one
 * was found (parse errors, unknown methods). */
void metrics_request_done(int method, int is_error, uint64_t ns);
void metrics_conn_opened(enum metric_conn_kind k);
void metrics_conn_closed(enum metric_conn_kind k);

/* Connections refused at accept (respited_refused_total{reason}). */
enum metric_refusal {
	METRIC_REFUSED_MAX_CONNECTIONS,
	METRIC_REFUSED_MAX_HTTP_CONNECTIONS,
	METRIC_REFUSED_PER_ADDRESS,
	METRIC_REFUSED_N
};
void metrics_refused(enum metric_refusal why);
/* A listener stopped accepting for a while: no file descriptor left. */
void metrics_accept_paused(enum metric_conn_kind k);
/* HTTP connections cut by a deadline: idle between requests, slow head,
 * slow body (respited_http_deadline_total{phase}). */
enum metric_http_cut { METRIC_CUT_IDLE, METRIC_CUT_HEADERS, METRIC_CUT_BODY, METRIC_CUT_N };
void metrics_http_cut(enum metric_http_cut phase);
/* Logins (login.c): an attempt a throttle refused, by its scope
 * ("login_user"...); a password hash run (unknown_name: against the dummy,
 * for a name with no account); a login refused because its connection,
 * its source address or the whole daemon had too many in progress. */
enum metric_login_limit { METRIC_LOGIN_CONN, METRIC_LOGIN_SOURCE, METRIC_LOGIN_QUEUE };
void metrics_throttled(const char *scope);
void metrics_login_hashed(int unknown_name);
void metrics_login_refused(enum metric_login_limit l);
void metrics_render(struct evbuffer *out, const struct server *srv);

#endif
