#include "sqlcall.h"
#include "config.h"
#include "log.h"
#include "method.h"
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each method's statement, built once (by the compiler) from the table:
 * the SQL function named exactly like the method is the release's gate
 * wrapper (sql/api/00_gate.sql), found through the connection's
 * search_path. The name is ours, never the caller's; the data travel as
 * parameters. Methods not served by SQL have one too and never use it. */
static const char *const call_sql[] = {
#define METHOD(name, fn, roles, schema, flags) "SELECT \"" name "\"($1::jsonb, $2::jsonb)",
#include "methods.def"
#undef METHOD
};

enum db_lane sqlcall_lane(const struct request *req)
{
	return (req->m->flags & MF_EMERGENCY) ? DB_LANE_EMERGENCY : DB_LANE_NORMAL;
}

int sqlcall_query(struct request *req, const char *sql, int nparams, const char *const *params,
		  db_cb cb, void *arg)
{
	enum db_status st = db_query(req->srv->db, sqlcall_lane(req), sql, nparams, params, cb, arg);
	if (st == DB_OK)
		return 0;
	request_error_reason(req, st == DB_OVERLOADED ? RS_R_overloaded : RS_R_unavailable, NULL,
			     NULL);
	return -1;
}

/* ctx = which session the call runs as, plus what this call is. Only the
 * token's hash travels, not the identity cached at login: the gate
 * function looks the session up in the call's own transaction, so a
 * logout, a disabled account or a changed role or provider applies to the
 * very next call on every open connection of every daemon. */
static char *build_ctx(const struct request *req)
{
	json_object *ctx = json_object_new_object();
	if (req->who)
		json_object_object_add(ctx, "token_hash", json_object_new_string(req->who->token_hash));
	json_object_object_add(ctx, "method", json_object_new_string(req->m->name));
	json_object_object_add(ctx, "request_seq", json_object_new_int64((int64_t)req->seq));
	/* Settings the SQL side needs travel with the call, not in a table,
	 * so a reload applies to the next call. */
	json_object_object_add(ctx, "hold_ttl_s", json_object_new_int64(config_current()->hold_ttl_s));
	char *s = strdup(json_object_to_json_string_ext(ctx, JSON_C_TO_STRING_PLAIN));
	json_object_put(ctx);
	return s;
}

static void sqlcall_done(const struct db_result *r, void *arg)
{
	struct request *req = arg;
	if (r->status != DB_OK) {
		sqlcall_fail(req, r);
		return;
	}
	if (PQntuples(r->res) != 1 || PQnfields(r->res) != 1 || PQgetisnull(r->res, 0, 0)) {
		request_result_raw(req, "null");
		return;
	}
	request_result_raw(req, PQgetvalue(r->res, 0, 0));
}

void sqlcall_handler(struct request *req)
{
	char *ctx = build_ctx(req);
	const char *params = json_object_to_json_string_ext(req->params, JSON_C_TO_STRING_PLAIN);
	if (!ctx) {
		request_error_code(req, RPC_INTERNAL_ERROR, "out of memory");
		return;
	}
	const char *argv[2] = { ctx, params };
	sqlcall_query(req, call_sql[method_index(req->m)], 2, argv, sqlcall_done, req);
	free(ctx);
}

/* Constraint violations mean the invariant held against a race the
 * function's own checks did not see: report them as the conflict they are. */
static int reason_for_sqlstate(const char *state)
{
	if (strcmp(state, "23P01") == 0)
		return RS_R_no_capacity;       /* exclusion: overlapping booking */
	if (strcmp(state, "23505") == 0)
		return RS_R_conflict;          /* unique */
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		return RS_R_conflict;          /* serialization failure, deadlock */
	if (strcmp(state, "57014") == 0)
		return RS_R_timeout;           /* statement_timeout */
	if (strncmp(state, "23", 2) == 0)
		return RS_R_conflict;          /* other integrity checks (balance >= 0...) */
	return -1;
}

static void fail_invalid_params(struct request *req, json_object *data)
{
	json_object *f = NULL, *w = NULL;
	json_object_object_get_ex(data, "field", &f);
	json_object_object_get_ex(data, "reason", &w);
	request_error_params(req, f ? json_object_get_string(f) : "params",
			     w ? json_object_get_string(w) : "invalid");
}

void sqlcall_fail(struct request *req, const struct db_result *r)
{
	if (r->status == DB_UNAVAILABLE || !r->res) {
		request_error_reason(req, RS_R_unavailable, NULL, NULL);
		return;
	}
	const char *msg = PQresultErrorField(r->res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(r->res, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(r->res, PG_DIAG_MESSAGE_HINT);
	const char *state = db_sqlstate(r->res);
	if (msg && strcmp(state, "P0001") == 0) {
		json_object *data = detail ? json_tokener_parse(detail) : NULL;
		int reason = rpc_reason_lookup(msg);
		if (strcmp(msg, "invalid_params") == 0) {
			fail_invalid_params(req, data);
			json_object_put(data);
			return;
		}
		if (reason >= 0) {
			request_error_reason(req, (enum rpc_reason)reason, hint, data);
			return;
		}
		json_object_put(data);
	}
	int reason = reason_for_sqlstate(state);
	if (reason >= 0) {
		log_info("event=sql_conflict " REQ_LOG_FMT " sqlstate=%s", REQ_LOG_ARGS(req), state);
		request_error_reason(req, (enum rpc_reason)reason, NULL, NULL);
		return;
	}
	log_error("event=sql_error " REQ_LOG_FMT " sqlstate=%s message=\"%s\"", REQ_LOG_ARGS(req),
		  state, msg ? msg : "?");
	request_error_code(req, RPC_INTERNAL_ERROR, "internal error");
}
