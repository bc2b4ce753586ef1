/*
 * The composition root: what every request may reach. Built by main(),
 * passed down explicitly (no global server struct).
 */
#ifndef RS_SERVER_H
#define RS_SERVER_H

#include <time.h>

struct event_base;
struct db_pool;
struct kdf_pool;
struct listener;
struct http_front;
struct release_info;

struct server {
	struct event_base *base;
	struct db_pool *db;
	struct kdf_pool *kdf;
	struct listener *rpc;
	struct http_front *http;
	int draining;  /* shutting down: refuse new calls, finish the rest */
	int nclients;  /* open TCP and HTTP connections */
	time_t started;
	unsigned long long last_conn_id;
	const struct release_info *release; /* schema and code found at start (deploy.h) */
};

/* Counts a client against max_connections; 0 when it may stay. */
int server_client_open(struct server *s);
void server_client_close(struct server *s);
/* A new connection id, unique among TCP connections and HTTP exchanges
 * alike, so that conn=N in the logs names one client. */
unsigned long long server_conn_id(struct server *s);

#endif
