/*
 * One JSON-RPC client over TCP: newline-framed messages in, answers out in
 * the order the messages came. The connection protects the daemon from the
 * client: over-long lines, lines that never end, too many calls in flight
 * and answers nobody reads each have a configured limit.
 */
#ifndef RS_CONN_H
#define RS_CONN_H

#include <event2/util.h>

struct server;
struct conn;
struct accepted;

/* Takes over the accepted fd (closed on failure) and, once created, the
 * connection's place in the server's accounts (released when it closes). */
struct conn *conn_new(struct server *srv, const struct accepted *a);
/* Shutting down: close every connection with nothing in flight, and the
 * rest as soon as their answers are sent. Returns how many remain. */
int conn_drain_all(void);
void conn_close_all(void);

#endif
