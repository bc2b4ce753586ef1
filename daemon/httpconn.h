/*
 * One HTTP/1.1 connection: requests read one at a time (head, then a
 * Content-Length body) under deadlines, handed to a route, answered, and
 * the connection kept for the next request unless either side closes it.
 * It knows nothing of what the routes do (http.c does).
 *
 * The states, each with what ends it:
 *   head     waiting for a whole request head, from the accept or the
 *            previous answer: http_header_timeout_ms (then 408, or a
 *            silent close when nothing of a request came: idle)
 *   body     reading Content-Length bytes: http_body_timeout_ms (408)
 *   busy     the route works out the answer (nothing is read meanwhile:
 *            the next request waits in the socket)
 *   writing  the answer is sent: write_timeout_ms
 *   linger   after an answer that ends the connection: the write side is
 *            shut and what the client still sends is read and dropped for
 *            a moment, so its unread bytes do not turn the close into a
 *            reset that destroys the answer before it is read.
 */
#ifndef RS_HTTPCONN_H
#define RS_HTTPCONN_H

#include <stddef.h>

#include <event2/util.h>

struct accepted;
struct evbuffer;
struct hconn;
struct http_head;
struct netaddr;
struct server;

/* A request's head and body are in: answer it with hconn_answer*(), now
 * or later (hconn_wait). */
typedef void (*hconn_route_cb)(void *arg, struct hconn *c);

/* Takes over an accepted connection (always: on failure it is closed and
 * uncounted). */
void hconn_new(struct server *srv, const struct accepted *a, hconn_route_cb route, void *arg);
/* Answers a connection refused at accept with 503 and no more. */
void hconn_refuse(evutil_socket_t fd);
void hconn_close_all(void);
/* Connections whose request is being answered. */
int hconn_busy_count(void);

/* ---- for routes ---- */

const struct http_head *hconn_head(const struct hconn *c);
const char *hconn_body(const struct hconn *c, size_t *len); /* NUL-terminated */
unsigned long long hconn_id(const struct hconn *c);
/* The peer of the socket, and the client it speaks for (the same unless
 * set otherwise by hconn_set_client). */
const struct netaddr *hconn_peer(const struct hconn *c);
const struct netaddr *hconn_client(const struct hconn *c);
const char *hconn_client_str(const struct hconn *c);
/* The connection speaks for another client (a trusted proxy's
 * X-Forwarded-For): from now on it is counted under that client's address
 * (family 0: under none). -1 when that address has reached
 * max_conns_per_address: answer 429 then. */
int hconn_set_client(struct hconn *c, const struct netaddr *client, int count_it);

/* The answer comes later: when the connection goes first, abandon(arg)
 * is called instead, once. Answering clears it. */
void hconn_wait(struct hconn *c, void (*abandon)(void *arg), void *arg);
/* The answer is a page of the web client: its Content-Security-Policy
 * lets it load its own scripts and styles. */
void hconn_set_page(struct hconn *c);

/* Answers: status, Content-Type (NULL: none), more header lines (each
 * ending in CRLF; NULL: none) and the body. A HEAD request gets the head
 * alone, Content-Length included. Security headers go on every answer. */
void hconn_answer(struct hconn *c, int status, const char *type, const char *extra,
		  const void *body, size_t len);
/* The same with the body in an evbuffer, which is drained. */
void hconn_answer_buf(struct hconn *c, int status, const char *type, const char *extra,
		      struct evbuffer *body);
/* A head announcing `len` bytes and no body (HEAD of a file not read). */
void hconn_answer_head(struct hconn *c, int status, const char *type, size_t len);
/* "404 Not Found" as text/plain. Statuses after which the request's
 * framing or the client cannot be trusted (400, 408, 413, 417, 429, 431,
 * 501, 505...) close the connection. */
void hconn_answer_error(struct hconn *c, int status, const char *extra);

#endif
