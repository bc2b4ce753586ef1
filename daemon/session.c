#include "session.h"
#include "db.h"
#include "fields.h"
#include "log.h"
#include "method.h"
#include "server.h"
#include "sqlcall.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static const struct field_spec resume_fields[] = {
	STR("token", FF_REQUIRED, 64, 64),
	{ NULL },
};
const struct param_schema session_resume_params = { resume_fields, 0 };

static const struct field_spec no_fields[] = { { NULL } };
const struct param_schema session_whoami_params = { no_fields, 0 };

static const char SQL_RESUME[] = "SELECT rs_session_resume($1::bytea)";
static const char SQL_DELETE[] = "SELECT rs_session_delete($1::bytea)";

void session_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void session_token_hash(const char *token, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;
	EVP_Digest(token, strlen(token), md, &len, EVP_sha256(), NULL);
	session_hex(md, 32, out);
}

static const char *param_str(const struct request *req, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(req->params, key, &v) ? json_object_get_string(v) : "";
}

/* ---- login: daemon/login.c ---- */

/* ---- resume (also used for HTTP bearer tokens) ---- */

struct resolve {
	session_resolve_cb cb;
	void *arg;
	char token_hash[65];
};

static void resolved(const struct db_result *r, void *arg)
{
	struct resolve *rs = arg;
	struct principal *p = NULL;
	if (r->status == DB_OK && PQntuples(r->res) == 1 && !PQgetisnull(r->res, 0, 0))
		p = principal_new(PQgetvalue(r->res, 0, 0), rs->token_hash);
	rs->cb(r->status == DB_OK ? 0 : -1, p, rs->arg);
	principal_unref(p);
	free(rs);
}

int session_resolve(struct server *srv, const char *token, session_resolve_cb cb, void *arg)
{
	struct resolve *rs = calloc(1, sizeof(*rs));
	char hash_arg[70];
	if (!rs)
		return -1;
	rs->cb = cb;
	rs->arg = arg;
	session_token_hash(token, rs->token_hash);
	snprintf(hash_arg, sizeof(hash_arg), "\\x%s", rs->token_hash);
	const char *argv[1] = { hash_arg };
	if (db_query(srv->db, DB_LANE_NORMAL, SQL_RESUME, 1, argv, resolved, rs) != DB_OK) {
		free(rs);
		return -1;
	}
	return 0;
}

static void resume_done(int status, struct principal *p, void *arg)
{
	struct request *req = arg;
	if (status != 0) {
		request_error_reason(req, RS_R_unavailable, NULL, NULL);
		return;
	}
	if (!p) {
		request_error_reason(req, RS_R_unauthorized, "unknown or expired token", NULL);
		return;
	}
	request_set_principal(req, p);
	request_result_raw(req, p->ctx_json);
}

void session_resume(struct request *req)
{
	if (session_resolve(req->srv, param_str(req, "token"), resume_done, req) != 0)
		request_error_reason(req, RS_R_unavailable, NULL, NULL);
}

void session_whoami(struct request *req) { request_result_raw(req, req->who->ctx_json); }

/* ---- the session as it is now, for methods answered in C ---- */

struct verify {
	struct request *req;
	void (*then)(struct request *req);
};

/* The session is looked up again on the call's own lane: the identity a
 * connection cached at login may have been logged out, disabled or
 * changed since (methods served by SQL do the same inside their own
 * transaction, in rs_session_ctx). */
static void verified(const struct db_result *r, void *arg)
{
	struct verify *v = arg;
	struct request *req = v->req;
	void (*then)(struct request *) = v->then;
	free(v);
	if (r->status != DB_OK) {
		sqlcall_fail(req, r);
		return;
	}
	if (PQntuples(r->res) != 1 || PQgetisnull(r->res, 0, 0)) {
		request_error_reason(req, RS_R_unauthorized, "your session has ended: log in again", NULL);
		return;
	}
	struct principal *now = principal_new(PQgetvalue(r->res, 0, 0), req->who->token_hash);
	if (!now) {
		request_error_code(req, RPC_INTERNAL_ERROR, "out of memory");
		return;
	}
	principal_unref(req->who);
	req->who = now;
	if (!(req->m->roles & now->role)) {
		request_error_reason(req, RS_R_forbidden, NULL, NULL);
		return;
	}
	then(req);
}

void session_verify(struct request *req, void (*then)(struct request *req))
{
	struct verify *v = calloc(1, sizeof(*v));
	char hash_arg[70];
	if (!v) {
		request_error_code(req, RPC_INTERNAL_ERROR, "out of memory");
		return;
	}
	v->req = req;
	v->then = then;
	snprintf(hash_arg, sizeof(hash_arg), "\\x%s", req->who->token_hash);
	const char *argv[1] = { hash_arg };
	if (sqlcall_query(req, SQL_RESUME, 1, argv, verified, v) != 0)
		free(v);
}

static void logout_done(const struct db_result *r, void *arg)
{
	struct request *req = arg;
	if (r->status != DB_OK) {
		sqlcall_fail(req, r);
		return;
	}
	request_set_principal(req, NULL);
	request_result_raw(req, "{\"logged_out\":true}");
}

void session_logout(struct request *req)
{
	char hash_arg[70];
	snprintf(hash_arg, sizeof(hash_arg), "\\x%s", req->who->token_hash);
	const char *argv[1] = { hash_arg };
	sqlcall_query(req, SQL_DELETE, 1, argv, logout_done, req);
}
