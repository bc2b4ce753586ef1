#include "session.h"
#include "config.h"
#include "db.h"
#include "fields.h"
#include "kdf.h"
#include "log.h"
#include "method.h"
#include "server.h"
#include "sqlcall.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

static const struct field_spec login_fields[] = {
	STR("username", FF_REQUIRED, 1, 64),
	STR("password", FF_REQUIRED, 1, 1024),
	{ NULL },
};
const struct param_schema session_login_params = { login_fields, 0 };

static const struct field_spec resume_fields[] = {
	STR("token", FF_REQUIRED, 64, 64),
	{ NULL },
};
const struct param_schema session_resume_params = { resume_fields, 0 };

static const struct field_spec no_fields[] = { { NULL } };
const struct param_schema session_whoami_params = { no_fields, 0 };

static const char SQL_LOOKUP[] =
	"SELECT user_id, salt, hash, iterations, locked FROM rs_login_lookup($1)";
static const char SQL_CREATE[] = "SELECT rs_session_create($1, $2::bytea, $3)";
static const char SQL_FAILED[] = "SELECT rs_login_failed($1, $2, $3)";
static const char SQL_RESUME[] = "SELECT rs_session_resume($1::bytea)";
static const char SQL_DELETE[] = "SELECT rs_session_delete($1::bytea)";

static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* PostgreSQL's bytea text form is "\x" then hex. */
static int unhex_bytea(const char *s, unsigned char *out, size_t max, size_t *n)
{
	if (strncmp(s, "\\x", 2) != 0)
		return -1;
	s += 2;
	size_t len = strlen(s) / 2;
	if (len > max)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	*n = len;
	return 0;
}

void session_token_hash(const char *token, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;
	EVP_Digest(token, strlen(token), md, &len, EVP_sha256(), NULL);
	hex(md, 32, out);
}

static const char *param_str(const struct request *req, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(req->params, key, &v) ? json_object_get_string(v) : "";
}

/* ---- login ---- */

struct login {
	struct request *req;
	char user_id[24];
	char token[65];
	char token_hash[65];
};

static void login_free(struct login *l)
{
	OPENSSL_cleanse(l->token, sizeof(l->token));
	free(l);
}

static void login_created(const struct db_result *r, void *arg)
{
	struct login *l = arg;
	struct request *req = l->req;
	if (r->status != DB_OK) {
		sqlcall_fail(req, r);
		login_free(l);
		return;
	}
	const char *ctx = PQgetvalue(r->res, 0, 0);
	struct principal *p = principal_new(ctx, l->token_hash);
	json_object *res = json_object_new_object();
	json_object_object_add(res, "token", json_object_new_string(l->token));
	json_object_object_add(res, "user", json_tokener_parse(ctx));
	request_set_principal(req, p);
	principal_unref(p);
	log_info("event=login " REQ_LOG_FMT " user_id=%s result=ok", REQ_LOG_ARGS(req), l->user_id);
	request_result(req, res);
	login_free(l);
}

static void login_failed_recorded(const struct db_result *r, void *arg)
{
	struct login *l = arg;
	log_info("event=login " REQ_LOG_FMT " user_id=%s result=bad_password", REQ_LOG_ARGS(l->req),
		 l->user_id);
	request_error_reason(l->req, RS_R_bad_credentials, NULL, NULL);
	login_free(l);
}

static void login_verified(int match, void *arg)
{
	struct login *l = arg;
	const struct config *c = config_current();
	if (match != 1) {
		char maxf[24], lock[24];
		snprintf(maxf, sizeof(maxf), "%lld", (long long)c->login_max_failures);
		snprintf(lock, sizeof(lock), "%lld", (long long)c->login_lockout_s);
		const char *argv[3] = { l->user_id, maxf, lock };
		if (sqlcall_query(l->req, SQL_FAILED, 3, argv, login_failed_recorded, l) != 0)
			login_free(l);
		return;
	}
	unsigned char raw[32];
	char ttl[24], hash_arg[70];
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		request_error_code(l->req, RPC_INTERNAL_ERROR, "no randomness");
		login_free(l);
		return;
	}
	hex(raw, sizeof(raw), l->token);
	session_token_hash(l->token, l->token_hash);
	snprintf(hash_arg, sizeof(hash_arg), "\\x%s", l->token_hash);
	snprintf(ttl, sizeof(ttl), "%lld", (long long)c->session_ttl_s);
	const char *argv[3] = { l->user_id, hash_arg, ttl };
	if (sqlcall_query(l->req, SQL_CREATE, 3, argv, login_created, l) != 0)
		login_free(l);
}

/* A fixed salt and hash to verify against when the user does not exist,
 * so an unknown name takes as long to refuse as a wrong password. */
static const unsigned char dummy_salt[KDF_SALT_LEN] = "respited-nobody";
static const unsigned char dummy_hash[KDF_HASH_LEN];

static int start_verify(struct login *l, const struct db_result *r)
{
	const char *password = param_str(l->req, "password");
	unsigned char salt[64], hash[KDF_HASH_LEN];
	size_t saltlen, hashlen;
	struct kdf_pool *kdf = l->req->srv->kdf;
	if (PQntuples(r->res) == 0) {
		strcpy(l->user_id, "0");
		return kdf_verify(kdf, password, dummy_salt, KDF_SALT_LEN,
				  (int)config_current()->kdf_iterations, dummy_hash, KDF_HASH_LEN,
				  login_verified, l);
	}
	snprintf(l->user_id, sizeof(l->user_id), "%s", PQgetvalue(r->res, 0, 0));
	if (unhex_bytea(PQgetvalue(r->res, 0, 1), salt, sizeof(salt), &saltlen) != 0 ||
	    unhex_bytea(PQgetvalue(r->res, 0, 2), hash, sizeof(hash), &hashlen) != 0)
		return -1;
	return kdf_verify(kdf, password, salt, saltlen, atoi(PQgetvalue(r->res, 0, 3)), hash,
			  hashlen, login_verified, l);
}

static void login_looked_up(const struct db_result *r, void *arg)
{
	struct login *l = arg;
	if (r->status != DB_OK) {
		sqlcall_fail(l->req, r);
		login_free(l);
		return;
	}
	if (PQntuples(r->res) == 1 && strcmp(PQgetvalue(r->res, 0, 4), "t") == 0) {
		log_info("event=login " REQ_LOG_FMT " user_id=%s result=locked", REQ_LOG_ARGS(l->req),
			 PQgetvalue(r->res, 0, 0));
		request_error_reason(l->req, RS_R_locked_out, NULL, NULL);
		login_free(l);
		return;
	}
	if (start_verify(l, r) != 0) {
		request_error_code(l->req, RPC_INTERNAL_ERROR, "internal error");
		login_free(l);
	}
}

void session_login(struct request *req)
{
	struct login *l = calloc(1, sizeof(*l));
	if (!l) {
		request_error_code(req, RPC_INTERNAL_ERROR, "out of memory");
		return;
	}
	l->req = req;
	const char *argv[1] = { param_str(req, "username") };
	if (sqlcall_query(req, SQL_LOOKUP, 1, argv, login_looked_up, l) != 0)
		free(l);
}

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
