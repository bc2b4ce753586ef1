/*
 * The HTTP side: POST /rpc (JSON-RPC with a bearer token), GET /healthz,
 * GET /metrics and the web client's static files (static.h), on HTTP/1.1
 * connections of our own (httpconn.h, httpparse.h).
 */
#ifndef RS_HTTP_H
#define RS_HTTP_H

struct server;
struct http_front;

struct http_front *http_new(struct server *srv, const char *hostport, const char *web_dir);
void http_free(struct http_front *h);
/* Applies reloadable settings: trusted_proxies, metrics_allow (limits and
 * deadlines are read from the configuration at each use). */
void http_apply_limits(struct http_front *h);
/* Requests still waiting for their answer, or sending it. */
int http_pending(const struct http_front *h);

#endif
