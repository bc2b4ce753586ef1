/* Accepts JSON-RPC clients on the TCP port. */
#ifndef RS_LISTENER_H
#define RS_LISTENER_H

struct server;
struct listener;

/* hostport: "HOST:PORT" ("[::1]:7878" for IPv6). NULL with a logged reason. */
struct listener *listener_new(struct server *srv, const char *hostport);
void listener_free(struct listener *l);
/* Stop accepting (shutdown) without closing existing clients. */
void listener_stop(struct listener *l);

/* Parses HOST:PORT into a sockaddr; shared with the HTTP front. */
struct sockaddr_storage;
int parse_hostport(const char *hostport, struct sockaddr_storage *ss, int *sslen);

#endif
