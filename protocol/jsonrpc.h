/*
 * JSON-RPC 2.0 envelope: parsing incoming messages with limits, checking the
 * request shape, and writing responses. Shared by the daemon and the C
 * clients; knows nothing of sockets or the event loop.
 */
#ifndef RS_JSONRPC_H
#define RS_JSONRPC_H

#include <stddef.h>
#include <json-c/json.h>

enum rpc_code {
	RPC_PARSE_ERROR = -32700,
	RPC_INVALID_REQUEST = -32600,
	RPC_METHOD_NOT_FOUND = -32601,
	RPC_INVALID_PARAMS = -32602,
	RPC_INTERNAL_ERROR = -32603,
};

/* Application reasons (protocol/reasons.def) as an enum: RS_R_no_capacity... */
enum rpc_reason {
#define REASON(name, code, msg) RS_R_##name,
#include "reasons.def"
#undef REASON
	RS_R_COUNT
};

int rpc_reason_code(enum rpc_reason r);
const char *rpc_reason_name(enum rpc_reason r);
const char *rpc_reason_message(enum rpc_reason r);
/* Looks a reason up by name (as raised by SQL); -1 if unknown. */
int rpc_reason_lookup(const char *name);

struct rpc_limits {
	int max_depth;     /* nesting of arrays/objects, e.g. 32 */
	size_t max_batch;  /* elements in one batch array, e.g. 1000 */
};

/*
 * Parses one message (a line without its '\n'). Strict JSON, UTF-8
 * validated, nesting limited. Returns the root or NULL with *err set to a
 * short static description ("invalid UTF-8", "nesting too deep", ...).
 * The caller owns the root (json_object_put). A bare `null` is valid JSON
 * but json-c's NULL, so it also returns NULL, with *err "message is null".
 */
json_object *rpc_parse(const char *buf, size_t len, const struct rpc_limits *lim,
		       const char **err);

/* One request taken apart. Pointers borrow from the parsed message. */
struct rpc_request {
	json_object *id;      /* NULL when the member is absent (notification) */
	int has_id;           /* 1 when "id" was present, even as null */
	const char *method;
	json_object *params;  /* object or NULL when absent */
};

/*
 * Checks one message element against JSON-RPC 2.0: an object with
 * "jsonrpc":"2.0", a string "method", an optional "params" that must be an
 * object (by-name params only; arrays are refused with -32602), an optional
 * "id" that is a string, integer or null, and no other members.
 * Returns 0 and fills *req, or returns an rpc_code (-32600 or -32602) with
 * *err set to a static description. req->id/has_id are filled even on error
 * when the id itself was valid, so the error can carry it.
 */
int rpc_check_request(json_object *msg, struct rpc_request *req, const char **err);

/*
 * Response writers. Each returns a malloc'd NUL-terminated compact JSON
 * string without a trailing newline (caller frees), or NULL on OOM.
 * `id` may be NULL (written as null). raw_result is already-serialised JSON
 * (e.g. a jsonb value straight from PostgreSQL) and is copied verbatim.
 * `data` may be NULL; it is serialised, not consumed.
 */
char *rpc_result_raw(json_object *id, const char *raw_result);
char *rpc_result(json_object *id, json_object *result);
char *rpc_error(json_object *id, int code, const char *message, json_object *data);
/* Error for an application reason: data = {"reason": name, ...extra members}. */
char *rpc_error_reason(json_object *id, enum rpc_reason r, const char *detail,
		       json_object *extra);
/* -32602 with data = {"field": field, "reason": why}. */
char *rpc_error_params(json_object *id, const char *field, const char *why);

/* Client side: builds a request line (no newline), id may be NULL for a
 * notification. params is serialised, not consumed. */
char *rpc_request_str(const char *method, json_object *params, json_object *id);

#endif
