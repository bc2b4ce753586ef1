/*
 * The HTTP side: POST /rpc (JSON-RPC with a bearer token), GET /healthz,
 * GET /metrics and the web client's static files.
 */
#ifndef RS_HTTP_H
#define RS_HTTP_H

struct server;
struct http_front;

struct http_front *http_new(struct server *srv, const char *hostport, const char *web_dir);
void http_free(struct http_front *h);
/* Applies reloadable limits (body size, timeouts). */
void http_apply_limits(struct http_front *h);
/* Exchanges still waiting for their answer. */
int http_pending(const struct http_front *h);

#endif
