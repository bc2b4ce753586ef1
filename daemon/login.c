/*
 * session.login: the path a password takes.
 *
 *  1. admission, in memory: logins in progress per connection, per source
 *     address and in the whole daemon are bounded (login_queue_per_conn,
 *     login_queue_per_source, login_queue_max), so a flood is refused at
 *     once instead of queueing everyone else's login behind it;
 *  2. the throttles, in PostgreSQL (rs_login_begin, sql/api/10_sessions.sql
 *     and 11_throttle.sql): one call claims this attempt before any
 *     hashing, so guesses in flight count; a throttled attempt is answered
 *     at once, without a hash;
 *  3. the hash, off the loop (kdf.c), in turns by source address;
 *  4. the outcome: a success refunds its own claim and opens the session;
 *     anything else is a failure, also counted for the address.
 *
 * Nothing in an answer, or in its timing, depends on whether the account
 * exists: throttles are keyed by the name as typed, an unknown name is
 * hashed against a dummy like a real one, and a disabled account is hashed
 * and refused like a wrong password.
 */
#include "config.h"
#include "db.h"
#include "fields.h"
#include "kdf.h"
#include "log.h"
#include "method.h"
#include "metrics.h"
#include "netaddr.h"
#include "server.h"
#include "session.h"
#include "sqlcall.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

static const struct field_spec login_fields[] = {
	STR("username", FF_REQUIRED, 1, 64),
	STR("password", FF_REQUIRED, 1, 1024),
	{ NULL },
};
const struct param_schema session_login_params = { login_fields, 0 };

static const char SQL_BEGIN[] =
	"SELECT wait_s, throttled_by, uid, salt, hash, iterations, usable"
	" FROM rs_login_begin($1, $2, $3::jsonb)";
static const char SQL_SUCCEEDED[] =
	"SELECT rs_login_succeeded($1, $2, $3, $4::jsonb, $5::bytea, $6)";
static const char SQL_FAILED[] = "SELECT rs_login_failed($1, $2, $3::jsonb)";

/* The columns of SQL_BEGIN. */
enum { B_WAIT, B_SCOPE, B_UID, B_SALT, B_HASH, B_ITERATIONS, B_USABLE };

/* ---- admission ---- */

/* Logins in progress under one key: a connection ("conn 12") or a source
 * address ("addr 192.0.2.7"). Keys are few: two per login in progress at
 * most, and those are bounded by login_queue_max. */
struct inflight {
	TAILQ_ENTRY(inflight) link;
	char key[80];
	int n;
};
static TAILQ_HEAD(, inflight) inflights = TAILQ_HEAD_INITIALIZER(inflights);
static int inflight_total;

static struct inflight *inflight_find(const char *key)
{
	struct inflight *f;
	TAILQ_FOREACH(f, &inflights, link)
		if (strcmp(f->key, key) == 0)
			return f;
	return NULL;
}

static int inflight_count(const char *key)
{
	struct inflight *f = inflight_find(key);
	return f ? f->n : 0;
}

static int inflight_take(const char *key)
{
	struct inflight *f = inflight_find(key);
	if (!f) {
		if (!(f = calloc(1, sizeof(*f))))
			return -1;
		snprintf(f->key, sizeof(f->key), "%s", key);
		TAILQ_INSERT_TAIL(&inflights, f, link);
	}
	f->n++;
	return 0;
}

static void inflight_drop(const char *key)
{
	struct inflight *f = inflight_find(key);
	if (f && --f->n <= 0) {
		TAILQ_REMOVE(&inflights, f, link);
		free(f);
	}
}

/* ---- one login ---- */

struct login {
	struct request *req;
	int admitted;
	char conn_key[32], source_key[80]; /* admission counts held */
	char source[NETADDR_STRLEN + 4];   /* the address as throttles and turns key it */
	char settings[256];                /* the limits, as rs_login_* read them */
	char user_id[24];                  /* "0": no such account */
	int usable;                        /* an account that may log in */
	char token[65];
	char token_hash[65];
};

/* The address logins are counted under: the client's own for IPv4 (also
 * when it came IPv4-mapped), its /64 for IPv6, where one subscriber picks
 * addresses from a whole /64 at will. "-" when unknown. */
static void source_of(const struct request *req, char *out, size_t len)
{
	const char *peer = req->reply->peer;
	struct netaddr a, key;
	if (netaddr_parse(&a, peer, strlen(peer)) != 0) {
		snprintf(out, len, "-");
		return;
	}
	char text[NETADDR_STRLEN];
	netaddr_count_key(&a, &key);
	netaddr_str(&key, text, sizeof(text));
	snprintf(out, len, "%s%s", text, key.family == AF_INET6 ? "/64" : "");
}

/* The limits as rs_login_* read them (sql/api/10_sessions.sql), from the
 * login_* settings; taken once per login, so that its claim and its
 * refund use the same ones across a reload. */
static void settings_of(const struct config *c, char *out, size_t len)
{
	snprintf(out, len,
		 "{\"max_failures\":%lld,\"user_max_failures\":%lld,\"addr_max_failures\":%lld,"
		 "\"delay_s\":%lld,\"cap_s\":%lld,\"decay_s\":%lld}",
		 (long long)c->login_max_failures, (long long)c->login_user_max_fails,
		 (long long)c->login_addr_max_fails, (long long)c->login_delay_s,
		 (long long)c->login_lockout_s, (long long)c->login_failure_decay_s);
}

static struct login *login_new(struct request *req)
{
	struct login *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->req = req;
	source_of(req, l->source, sizeof(l->source));
	snprintf(l->conn_key, sizeof(l->conn_key), "conn %llu", req->reply->conn_id);
	snprintf(l->source_key, sizeof(l->source_key), "addr %s", l->source);
	settings_of(config_current(), l->settings, sizeof(l->settings));
	strcpy(l->user_id, "0");
	return l;
}

static void login_free(struct login *l)
{
	if (l->admitted) {
		inflight_drop(l->conn_key);
		inflight_drop(l->source_key);
		inflight_total--;
	}
	OPENSSL_cleanse(l->token, sizeof(l->token));
	free(l);
}

/* 1 when a limit refuses one more login for l (*over says which). */
static int over_limit(const struct login *l, const struct config *c,
		      enum metric_login_limit *over)
{
	if (inflight_count(l->conn_key) >= c->login_queue_per_conn)
		*over = METRIC_LOGIN_CONN;
	else if (inflight_count(l->source_key) >= c->login_queue_per_source)
		*over = METRIC_LOGIN_SOURCE;
	else if (inflight_total >= c->login_queue_max)
		*over = METRIC_LOGIN_QUEUE;
	else
		return 0;
	return 1;
}

/* Counts l as in progress until login_free. */
static int admit(struct login *l)
{
	if (inflight_take(l->conn_key) != 0)
		return -1;
	if (inflight_take(l->source_key) != 0) {
		inflight_drop(l->conn_key);
		return -1;
	}
	inflight_total++;
	l->admitted = 1;
	return 0;
}

static const char *param_str(const struct request *req, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(req->params, key, &v) ? json_object_get_string(v) : "";
}

/* ---- answers ---- */

static void refuse_busy(struct login *l, enum metric_login_limit over)
{
	static const char *const limits[] = { "login_queue_per_conn", "login_queue_per_source",
					      "login_queue_max" };
	json_object *data = json_object_new_object();
	json_object_object_add(data, "limit", json_object_new_string(limits[over]));
	metrics_login_refused(over);
	log_info("event=login " REQ_LOG_FMT " source=%s result=refused limit=%s", REQ_LOG_ARGS(l->req),
		 l->source, limits[over]);
	request_error_reason(l->req, RS_R_overloaded, "too many logins in progress; try again", data);
}

static void refuse_throttled(struct login *l, int wait_s, const char *scope)
{
	json_object *data = json_object_new_object();
	json_object_object_add(data, "retry_after_s", json_object_new_int(wait_s));
	metrics_throttled(scope);
	log_info("event=login " REQ_LOG_FMT " source=%s result=throttled scope=%s retry_after_s=%d",
		 REQ_LOG_ARGS(l->req), l->source, scope, wait_s);
	request_error_reason(l->req, RS_R_throttled, NULL, data);
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
	log_info("event=login " REQ_LOG_FMT " user_id=%s source=%s result=ok", REQ_LOG_ARGS(req),
		 l->user_id, l->source);
	request_result(req, res);
	login_free(l);
}

/* The claims already count the failure; the address's count may have
 * failed to follow (the database went away): the answer is the same. */
static void login_failed_recorded(const struct db_result *r, void *arg)
{
	struct login *l = arg;
	const char *why = strcmp(l->user_id, "0") == 0 ? "unknown_user"
			  : l->usable		       ? "bad_password"
						       : "disabled";
	log_info("event=login " REQ_LOG_FMT " user_id=%s source=%s result=%s", REQ_LOG_ARGS(l->req),
		 l->user_id, l->source, why);
	request_error_reason(l->req, RS_R_bad_credentials, NULL, NULL);
	login_free(l);
}

/* ---- outcome ---- */

static void open_session(struct login *l)
{
	unsigned char raw[32];
	char ttl[24], hash_arg[70];
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		request_error_code(l->req, RPC_INTERNAL_ERROR, "no randomness");
		login_free(l);
		return;
	}
	session_hex(raw, sizeof(raw), l->token);
	OPENSSL_cleanse(raw, sizeof(raw));
	session_token_hash(l->token, l->token_hash);
	snprintf(hash_arg, sizeof(hash_arg), "\\x%s", l->token_hash);
	snprintf(ttl, sizeof(ttl), "%lld", (long long)config_current()->session_ttl_s);
	const char *argv[6] = { l->user_id, param_str(l->req, "username"), l->source, l->settings,
				hash_arg, ttl };
	if (sqlcall_query(l->req, SQL_SUCCEEDED, 6, argv, login_created, l) != 0)
		login_free(l);
}

static void record_failure(struct login *l)
{
	const char *argv[3] = { param_str(l->req, "username"), l->source, l->settings };
	if (sqlcall_query(l->req, SQL_FAILED, 3, argv, login_failed_recorded, l) != 0)
		login_free(l);
}

static void login_verified(int match, void *arg)
{
	struct login *l = arg;
	metrics_login_hashed(strcmp(l->user_id, "0") == 0);
	if (match < 0) {
		/* The claim stays counted: an attempt that could not be
		 * checked is not refunded. */
		log_error("event=login " REQ_LOG_FMT " result=hash_failed", REQ_LOG_ARGS(l->req));
		request_error_code(l->req, RPC_INTERNAL_ERROR, "internal error");
		login_free(l);
	} else if (match == 1 && l->usable) {
		open_session(l);
	} else {
		record_failure(l);
	}
}

/* ---- the hash ---- */

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

/* A fixed salt and hash to verify against when the user does not exist,
 * at the iterations new passwords get, so an unknown name costs a hash
 * like a wrong password. */
static const unsigned char dummy_salt[KDF_SALT_LEN] = "respited-nobody";
static const unsigned char dummy_hash[KDF_HASH_LEN];

static int start_verify(struct login *l, const PGresult *res)
{
	const char *password = param_str(l->req, "password");
	struct kdf_pool *kdf = l->req->srv->kdf;
	unsigned char salt[64], hash[KDF_HASH_LEN];
	size_t saltlen, hashlen;
	if (PQgetisnull(res, 0, B_UID))
		return kdf_verify(kdf, l->source, password, dummy_salt, KDF_SALT_LEN,
				  (int)config_current()->kdf_iterations, dummy_hash, KDF_HASH_LEN,
				  login_verified, l);
	snprintf(l->user_id, sizeof(l->user_id), "%s", PQgetvalue(res, 0, B_UID));
	l->usable = strcmp(PQgetvalue(res, 0, B_USABLE), "t") == 0;
	if (unhex_bytea(PQgetvalue(res, 0, B_SALT), salt, sizeof(salt), &saltlen) != 0 ||
	    unhex_bytea(PQgetvalue(res, 0, B_HASH), hash, sizeof(hash), &hashlen) != 0)
		return -1;
	return kdf_verify(kdf, l->source, password, salt, saltlen,
			  atoi(PQgetvalue(res, 0, B_ITERATIONS)), hash, hashlen, login_verified, l);
}

static void login_begun(const struct db_result *r, void *arg)
{
	struct login *l = arg;
	if (r->status != DB_OK) {
		sqlcall_fail(l->req, r);
		login_free(l);
		return;
	}
	int wait_s = atoi(PQgetvalue(r->res, 0, B_WAIT));
	if (wait_s > 0) {
		refuse_throttled(l, wait_s, PQgetvalue(r->res, 0, B_SCOPE));
		login_free(l);
		return;
	}
	if (start_verify(l, r->res) != 0) {
		request_error_code(l->req, RPC_INTERNAL_ERROR, "internal error");
		login_free(l);
	}
}

void session_login(struct request *req)
{
	struct login *l = login_new(req);
	enum metric_login_limit over;
	if (!l) {
		request_error_code(req, RPC_INTERNAL_ERROR, "out of memory");
		return;
	}
	if (over_limit(l, config_current(), &over)) {
		refuse_busy(l, over);
		login_free(l);
		return;
	}
	if (admit(l) != 0) {
		request_error_code(req, RPC_INTERNAL_ERROR, "out of memory");
		login_free(l);
		return;
	}
	const char *argv[3] = { param_str(req, "username"), l->source, l->settings };
	if (sqlcall_query(req, SQL_BEGIN, 3, argv, login_begun, l) != 0)
		login_free(l);
}
