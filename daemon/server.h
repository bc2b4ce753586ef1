/*
 * The composition root: what every request may reach. Built by main(),
 * passed down explicitly (no global server struct).
 *
 * It also keeps the connection accounts: every TCP and HTTP connection is
 * counted against its transport's cap and against the cap of its client
 * address, from accept to close.
 */
#ifndef RS_SERVER_H
#define RS_SERVER_H

#include <time.h>

#include "metrics.h"
#include "netaddr.h"

struct event_base;
struct db_pool;
struct kdf_pool;
struct listener;
struct http_front;
struct release_info;
struct addr_count;

#define SERVER_ADDR_BUCKETS 4096

struct server {
	struct event_base *base;
	struct db_pool *db;
	struct kdf_pool *kdf;
	struct listener *rpc;
	struct http_front *http;
	int draining;  /* shutting down: refuse new calls, finish the rest */
	int nconns[2];    /* open connections by enum metric_conn_kind */
	int max_conns[2]; /* their caps in force (server_apply_limits) */
	time_t started;
	unsigned long long last_conn_id;
	const struct release_info *release; /* schema and code found at start (deploy.h) */
	struct addr_count *addr_buckets[SERVER_ADDR_BUCKETS]; /* connections per address */
};

/* Fits max_connections and max_http_connections to the open-file limit:
 * raises the soft RLIMIT_NOFILE to the hard one, then, when both caps and
 * what the daemon needs besides (the database pool, logs, files) do not
 * fit, lowers the caps in proportion, with one warning. At start and on
 * every reload. */
void server_apply_limits(struct server *s);

/* A new connection of kind k from addr: 0 when it may stay (it is then
 * counted until server_conn_closed), -1 when a cap refuses it (counted in
 * /metrics, logged at most once per interval with how many). */
int server_conn_admit(struct server *s, enum metric_conn_kind k, const struct netaddr *addr);
void server_conn_closed(struct server *s, enum metric_conn_kind k, const struct netaddr *addr);

/* The per-address count alone, for a connection that turns out to speak
 * for another client (HTTP behind a trusted proxy): 0 when addr may have
 * one more connection (it is then counted), -1 when refused. A zero
 * address (family 0) is never counted nor refused. */
int server_addr_take(struct server *s, const struct netaddr *addr);
void server_addr_drop(struct server *s, const struct netaddr *addr);

/* A new connection id, unique among TCP and HTTP connections alike, so
 * that conn=N in the logs names one client. */
unsigned long long server_conn_id(struct server *s);

#endif
