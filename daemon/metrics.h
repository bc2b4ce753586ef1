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
void metrics_render(struct evbuffer *out, const struct server *srv);

#endif
