#include "dispatch.h"
#include "config.h"
#include "method.h"
#include "metrics.h"
#include "schema.h"
#include "server.h"
#include "session.h"

#include <stdlib.h>
#include <string.h>

void dispatch_reject(struct reply *reply, int code, const char *message)
{
	if (reply_expect(reply, 1, 0) != 0)
		return;
	metrics_request_done(-1, 1, 0);
	reply_put(reply, 0, rpc_error(NULL, code, message, NULL));
}

/* The idempotency key is common to every mutating method, so the gate
 * checks it here and hides it from the method's own schema. */
static int check_idempotency_key(const struct method *m, json_object *k, struct schema_error *err)
{
	snprintf(err->field, sizeof(err->field), "idempotency_key");
	if (!(m->flags & MF_MUTATING)) {
		err->why = "unknown field";
		return -1;
	}
	size_t n = json_object_is_type(k, json_type_string) ? strlen(json_object_get_string(k)) : 0;
	if (n < 1 || n > 128) {
		err->why = "expected a string of 1 to 128 bytes";
		return -1;
	}
	return 0;
}

static int validate_params(const struct method *m, json_object *params, struct schema_error *err)
{
	static const struct field_spec none[] = { { NULL } };
	static const struct param_schema empty = { none, 0 };
	const struct param_schema *schema = m->schema ? m->schema : &empty;
	json_object *key;
	if (!params || !json_object_object_get_ex(params, "idempotency_key", &key))
		return schema_validate(schema, params, err);
	if (check_idempotency_key(m, key, err) != 0)
		return -1;
	/* Validate without the key, then put it back: SQL stores the answer under it. */
	json_object_get(key);
	json_object_object_del(params, "idempotency_key");
	int rc = schema_validate(schema, params, err);
	json_object_object_add(params, "idempotency_key", key);
	return rc;
}

/* Role check: anonymous callers only reach R_ANON methods. */
static enum rpc_reason check_role(const struct method *m, const struct principal *who)
{
	if (!who)
		return (m->roles & R_ANON) ? RS_R_COUNT : RS_R_unauthorized;
	if (who->expires && who->expires < time(NULL))
		return RS_R_unauthorized;
	return (m->roles & who->role) ? RS_R_COUNT : RS_R_forbidden;
}

/* A call refused by the gate. Notifications get no answer, even errors
 * (JSON-RPC 2.0, section 4.1); an unreadable envelope always does. */
static void error_part(struct reply *reply, int slot, int has_id, char *text)
{
	metrics_request_done(-1, 1, 0);
	if (!has_id) {
		free(text);
		text = NULL;
	}
	reply_put(reply, slot, text);
}

/* One call: everything between the raw JSON element and its handler. */
static void dispatch_one(struct server *srv, struct principal *who, json_object *msg,
			 struct reply *reply, int slot)
{
	struct rpc_request rr = { 0 };
	const char *err = NULL;
	int code = rpc_check_request(msg, &rr, &err);
	if (code != 0) {
		error_part(reply, slot, 1, rpc_error(rr.id, code, err, NULL));
		return;
	}
	const struct method *m = method_find(rr.method);
	if (!m) {
		error_part(reply, slot, rr.has_id,
			   rpc_error(rr.id, RPC_METHOD_NOT_FOUND, "method not found", NULL));
		return;
	}
	enum rpc_reason denied = check_role(m, who);
	if (denied == RS_R_COUNT && srv->draining)
		denied = RS_R_draining;
	if (denied != RS_R_COUNT) {
		error_part(reply, slot, rr.has_id, rpc_error_reason(rr.id, denied, NULL, NULL));
		return;
	}
	struct schema_error serr;
	memset(&serr, 0, sizeof(serr));
	if (validate_params(m, rr.params, &serr) != 0) {
		error_part(reply, slot, rr.has_id,
			   rpc_error_params(rr.id, serr.field, serr.why));
		return;
	}
	struct request *req = request_new(srv, m, reply, slot, &rr, who);
	if (!req) {
		error_part(reply, slot, rr.has_id,
			   rpc_error(rr.id, RPC_INTERNAL_ERROR, "out of memory", NULL));
		return;
	}
	if (m->flags & MF_BARRIER)
		reply->barrier = 1;
	/* The role above is the one cached at login: a method that needs a
	 * login and is answered in C checks the session as it is now first
	 * (SQL methods do so in their own transaction). Logout needs none. */
	if (who && !(m->roles & R_ANON) && !(m->flags & MF_BARRIER) && !method_in_sql(m))
		session_verify(req, m->fn);
	else
		m->fn(req);
}

static void dispatch_batch(struct server *srv, struct principal *who, json_object *root,
			   struct reply *reply)
{
	size_t n = json_object_array_length(root);
	if (n == 0) {
		dispatch_reject(reply, RPC_INVALID_REQUEST, "empty batch");
		return;
	}
	if (n > (size_t)config_current()->max_batch) {
		dispatch_reject(reply, RPC_INVALID_REQUEST, "batch too large");
		return;
	}
	if (reply_expect(reply, (int)n, 1) != 0)
		return;
	/* nparts is known before any call runs, so the reply cannot complete
	 * until every slot has had its answer, however soon each comes. */
	for (size_t i = 0; i < n; i++)
		dispatch_one(srv, who, json_object_array_get_idx(root, i), reply, (int)i);
}

void dispatch_message(struct server *srv, struct principal *who, const char *buf, size_t len,
		      struct reply *reply)
{
	const struct config *c = config_current();
	struct rpc_limits lim = { (int)c->max_depth, (size_t)c->max_batch };
	const char *err = NULL;
	json_object *root = rpc_parse(buf, len, &lim, &err);
	if (!root) {
		dispatch_reject(reply, RPC_PARSE_ERROR, err ? err : "parse error");
		return;
	}
	if (json_object_is_type(root, json_type_array)) {
		dispatch_batch(srv, who, root, reply);
	} else if (reply_expect(reply, 1, 0) == 0) {
		dispatch_one(srv, who, root, reply, 0);
	}
	json_object_put(root);
}
