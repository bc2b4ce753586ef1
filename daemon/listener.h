/*
 * Accepting connections, for the JSON-RPC port and the HTTP port alike.
 * Every accepted connection is first counted (server_conn_admit): one over
 * a cap is closed at once. When accept() fails because no file descriptor
 * is left, the listener stops accepting for a moment instead of being
 * woken again and again by the connections waiting in its backlog.
 */
#ifndef RS_LISTENER_H
#define RS_LISTENER_H

#include <event2/util.h>

#include "metrics.h"
#include "netaddr.h"

struct server;
struct listener;

/* A connection admitted and counted. The callee owns fd and must call
 * server_conn_closed(srv, kind, &counted) when it goes, also when it
 * cannot take it. */
struct accepted {
	evutil_socket_t fd;
	struct netaddr addr;    /* the socket's peer */
	struct netaddr counted; /* the address counted against max_conns_per_address
				 * (family 0: none, for an exempt peer) */
	char peer[64];          /* HOST:PORT, for logs */
};
typedef void (*listener_cb)(void *arg, const struct accepted *a);
/* A connection refused by a cap, before it is closed (fd is closed after);
 * may be NULL. HTTP answers it with a status line. */
typedef void (*listener_refuse_cb)(void *arg, evutil_socket_t fd);

/* hostport: "HOST:PORT" ("[::1]:7878" for IPv6). NULL with a logged reason. */
struct listener *listener_open(struct server *srv, const char *hostport,
			       enum metric_conn_kind kind, listener_cb cb,
			       listener_refuse_cb refuse, void *arg);
/* The JSON-RPC port: each connection becomes a struct conn (conn.h). */
struct listener *listener_new(struct server *srv, const char *hostport);
void listener_free(struct listener *l);
/* Peers in *exempt (read at each accept; may change) are not counted per
 * address at accept: a trusted proxy speaks for many clients, and HTTP
 * counts each of them once it knows who (httpconn.h). */
void listener_set_exempt(struct listener *l, const struct netaddr_list *exempt);
/* Stop accepting (shutdown) without closing existing clients. */
void listener_stop(struct listener *l);

/* Parses HOST:PORT (a numeric address, or a name looked up once) into a
 * sockaddr; 0 on success. */
struct sockaddr_storage;
int parse_hostport(const char *hostport, struct sockaddr_storage *ss, int *sslen);

#endif
