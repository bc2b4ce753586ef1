/*
 * Asynchronous PostgreSQL pool driven by the event loop. No call here
 * blocks: connects, sends, flushes and reads are all non-blocking libpq.
 *
 * Work comes in two lanes. Ordinary work uses the `normal` connections;
 * the emergency lane may use those too but also has `emergency`
 * connections of its own that ordinary work can never take, so an
 * emergency call is never queued behind planned bookings.
 *
 * Contract: db_query()/db_txn_begin() return DB_OK when the work was queued
 * (its callback then runs exactly once, later, never from inside the call),
 * or DB_UNAVAILABLE / DB_OVERLOADED when it was not (no callback).
 */
#ifndef RS_DB_H
#define RS_DB_H

#include <libpq-fe.h>

struct event_base;
struct db_pool;
struct db_txn;

enum db_lane { DB_LANE_NORMAL = 0, DB_LANE_EMERGENCY = 1, DB_NLANES };

enum db_status {
	DB_OK = 0,
	DB_SQL_ERROR,   /* the statement failed; res holds the error */
	DB_UNAVAILABLE, /* no connection to PostgreSQL, or it dropped mid-query */
	DB_OVERLOADED,  /* the wait queue is full */
};

struct db_result {
	enum db_status status;
	PGresult *res; /* PGRES_TUPLES_OK/COMMAND_OK or the error; NULL when unavailable */
};

typedef void (*db_cb)(const struct db_result *r, void *arg);
typedef void (*db_txn_cb)(struct db_txn *t, enum db_status st, void *arg);

struct db_pool_stats {
	int total, ready, busy, connecting, queued;
	unsigned long long queries, failures, reconnects;
};

struct db_pool *db_pool_new(struct event_base *base, const char *conninfo, int normal,
			    int emergency, int statement_timeout_ms);
void db_pool_free(struct db_pool *p);
void db_pool_set_limits(struct db_pool *p, int queue_max, int reconnect_max_ms);
void db_pool_stats(const struct db_pool *p, struct db_pool_stats *out);
/* True when at least one connection is ready or busy. */
int db_pool_healthy(const struct db_pool *p);

/* One statement in its own transaction. `sql` must be a string literal or
 * otherwise outlive the pool: it is prepared once per connection and found
 * again by pointer. params are text (NULL = SQL NULL) and are copied. */
enum db_status db_query(struct db_pool *p, enum db_lane lane, const char *sql, int nparams,
			const char *const *params, db_cb cb, void *arg);

/* Several statements of one request in one transaction on one connection. */
enum db_status db_txn_begin(struct db_pool *p, enum db_lane lane, db_txn_cb cb, void *arg);
enum db_status db_txn_query(struct db_txn *t, const char *sql, int nparams,
			    const char *const *params, db_cb cb, void *arg);
/* COMMIT (commit=1) or ROLLBACK, then the connection returns to the pool.
 * cb may be NULL. After a failed statement only ROLLBACK is useful. */
void db_txn_end(struct db_txn *t, int commit, db_cb cb, void *arg);

/* SQLSTATE of an error result, or "" */
const char *db_sqlstate(const PGresult *res);

#endif
