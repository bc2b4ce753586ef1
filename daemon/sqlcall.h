/*
 * Methods whose work is one SQL function: the function receives the
 * caller's identity (ctx) and the validated params as jsonb, does the whole
 * job in one transaction and returns the result as jsonb. One round trip
 * per call, and PostgreSQL guards the invariants.
 *
 * The function is named exactly like the method ("booking.hold"): the
 * wrapper the release's gate generates (sql/api/00_gate.sql), found in the
 * release's schema through the connection's search_path.
 */
#ifndef RS_SQLCALL_H
#define RS_SQLCALL_H

#include <libpq-fe.h>

#include "db.h"
#include "request.h"

void sqlcall_handler(struct request *req);

/* Finishes req with the error a failed statement means: a reason raised
 * by rs_raise(), invalid params from rs_bad_param(), a constraint that
 * caught a conflict, or an internal error (logged, not shown). */
void sqlcall_fail(struct request *req, const struct db_result *r);

/* Lane for a request's method. */
enum db_lane sqlcall_lane(const struct request *req);

/* Queues sql with params on req's lane, cb(arg) to follow; when the pool
 * refuses, finishes req with the reason and returns -1. */
int sqlcall_query(struct request *req, const char *sql, int nparams, const char *const *params,
		  db_cb cb, void *arg);

#endif
