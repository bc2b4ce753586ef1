/*
 * JSON-RPC 2.0 envelope: strict parsing, request checks and response
 * writers. See jsonrpc.h for the contract.
 */
#include "jsonrpc.h"
#include "schema.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WRITE_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static const struct {
	const char *name;
	int code;
	const char *message;
} reasons[] = {
#define REASON(name, code, msg) { #name, code, msg },
#include "reasons.def"
#undef REASON
};

/* An out-of-range reason is a programming error; answering with a generic
 * internal error beats reading past the table. */
static int reason_ok(enum rpc_reason r)
{
	return (int)r >= 0 && r < RS_R_COUNT;
}

int rpc_reason_code(enum rpc_reason r)
{
	return reason_ok(r) ? reasons[r].code : RPC_INTERNAL_ERROR;
}

const char *rpc_reason_name(enum rpc_reason r)
{
	return reason_ok(r) ? reasons[r].name : "internal";
}

const char *rpc_reason_message(enum rpc_reason r)
{
	return reason_ok(r) ? reasons[r].message : "internal error";
}

int rpc_reason_lookup(const char *name)
{
	if (!name)
		return -1;
	for (int i = 0; i < RS_R_COUNT; i++)
		if (strcmp(reasons[i].name, name) == 0)
			return i;
	return -1;
}

/*
 * Lexical pass.
 *
 * json-c 0.16 in strict mode still accepts NaN and Infinity, single-quoted
 * strings, "1.", raw control characters inside strings, and (with UTF-8
 * validation on) overlong forms, UTF-8-encoded surrogates and code points
 * above U+10FFFF; it also turns lone \uD800 escapes into U+FFFD silently.
 * So every token is checked here first, in one pass over the bytes, and
 * json-c is left only the structure (brackets, commas, colons, depth),
 * which it gets right.
 */
struct scan {
	const unsigned char *p, *end;
	const char *err;
};

static int scan_fail(struct scan *s, const char *err)
{
	s->err = err;
	return -1;
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int hex_value(int c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629 table 3-7), or 0. */
static size_t utf8_seq_len(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xBF;
	size_t n;

	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		lo = c == 0xE0 ? 0xA0 : 0x80;  /* overlong */
		hi = c == 0xED ? 0x9F : 0xBF;  /* surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		lo = c == 0xF0 ? 0x90 : 0x80;  /* overlong */
		hi = c == 0xF4 ? 0x8F : 0xBF;  /* above U+10FFFF */
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	return n;
}

/* Reads the four hex digits of a \u escape (s->p after the 'u'). */
static int scan_hex4(struct scan *s, unsigned *out)
{
	unsigned v = 0;

	if (s->end - s->p < 4)
		return scan_fail(s, "invalid escape");
	for (int i = 0; i < 4; i++) {
		int h = hex_value(s->p[i]);
		if (h < 0)
			return scan_fail(s, "invalid escape");
		v = v << 4 | (unsigned)h;
	}
	s->p += 4;
	*out = v;
	return 0;
}

/* A \u escape; a high surrogate must be followed at once by a low one. */
static int scan_unicode_escape(struct scan *s)
{
	unsigned u, low;

	if (scan_hex4(s, &u))
		return -1;
	if (u >= 0xDC00 && u <= 0xDFFF)
		return scan_fail(s, "unpaired surrogate");
	if (u < 0xD800 || u > 0xDBFF)
		return 0;
	if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u')
		return scan_fail(s, "unpaired surrogate");
	s->p += 2;
	if (scan_hex4(s, &low))
		return -1;
	if (low < 0xDC00 || low > 0xDFFF)
		return scan_fail(s, "unpaired surrogate");
	return 0;
}

/* s->p is just after the backslash. */
static int scan_escape(struct scan *s)
{
	if (s->p == s->end)
		return scan_fail(s, "invalid JSON");
	unsigned char c = *s->p++;
	if (c == 'u')
		return scan_unicode_escape(s);
	if (c && strchr("\"\\/bfnrt", c))
		return 0;
	return scan_fail(s, "invalid escape");
}

/* s->p is just after the opening quote. */
static int scan_string(struct scan *s)
{
	while (s->p < s->end) {
		unsigned char c = *s->p;
		if (c == '"') {
			s->p++;
			return 0;
		}
		if (c == '\\') {
			s->p++;
			if (scan_escape(s))
				return -1;
		} else if (c == 0) {
			return scan_fail(s, "embedded NUL byte");
		} else if (c < 0x20) {
			return scan_fail(s, "unescaped control character");
		} else if (c < 0x80) {
			s->p++;
		} else {
			size_t n = utf8_seq_len(s->p, s->end);
			if (n == 0)
				return scan_fail(s, "invalid UTF-8");
			s->p += n;
		}
	}
	return scan_fail(s, "invalid JSON");
}

/* Skips one or more digits; -1 when there is none. */
static int scan_digits(struct scan *s)
{
	if (s->p == s->end || !is_digit(*s->p))
		return -1;
	while (s->p < s->end && is_digit(*s->p))
		s->p++;
	return 0;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? exactly. */
static int scan_number(struct scan *s)
{
	if (*s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0') {
		s->p++;
		if (s->p < s->end && is_digit(*s->p))
			return scan_fail(s, "invalid JSON");
	} else if (scan_digits(s)) {
		return scan_fail(s, "invalid JSON");
	}
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (scan_digits(s))
			return scan_fail(s, "invalid JSON");
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (scan_digits(s))
			return scan_fail(s, "invalid JSON");
	}
	return 0;
}

/* A run of lowercase letters must be exactly true, false or null. */
static int scan_literal(struct scan *s)
{
	const unsigned char *start = s->p;

	while (s->p < s->end && *s->p >= 'a' && *s->p <= 'z')
		s->p++;
	size_t n = (size_t)(s->p - start);
	if ((n == 4 && memcmp(start, "true", 4) == 0) ||
	    (n == 5 && memcmp(start, "false", 5) == 0) ||
	    (n == 4 && memcmp(start, "null", 4) == 0))
		return 0;
	return scan_fail(s, "invalid JSON");
}

static int scan_token(struct scan *s)
{
	unsigned char c = *s->p;

	if (c == '"') {
		s->p++;
		return scan_string(s);
	}
	if (c == '-' || is_digit(c))
		return scan_number(s);
	if (c >= 'a' && c <= 'z')
		return scan_literal(s);
	if (c != 0 && strchr("{}[],: \t\r\n", c)) {
		s->p++;
		return 0;
	}
	if (c == 0)
		return scan_fail(s, "embedded NUL byte");
	return scan_fail(s, c >= 0x80 ? "invalid UTF-8" : "invalid JSON");
}

/* NULL when every token is well-formed, else a static description. */
static const char *scan_text(const char *buf, size_t len)
{
	struct scan s = { (const unsigned char *)buf, (const unsigned char *)buf + len, NULL };

	while (s.p < s.end)
		if (scan_token(&s))
			return s.err;
	return NULL;
}

static const char *tokener_error(enum json_tokener_error e)
{
	switch (e) {
	case json_tokener_error_depth:
		return "nesting too deep";
	case json_tokener_error_parse_utf8_string:
		return "invalid UTF-8";
	case json_tokener_error_size:
		return "message too large";
	default:
		return "invalid JSON";
	}
}

static int only_whitespace(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr(" \t\r\n", p[i]) || p[i] == 0)
			return 0;
	return 1;
}

/*
 * Builds the tree from text the lexical pass accepted. A number at the very
 * end leaves json-c waiting for more digits, so a NUL is fed to end it.
 */
static json_object *tokenize(struct json_tokener *tok, const char *buf, size_t len,
			     const char **err)
{
	json_object *root = json_tokener_parse_ex(tok, buf, (int)len);
	enum json_tokener_error e = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);

	if (!root && e == json_tokener_continue) {
		root = json_tokener_parse_ex(tok, "", 1);
		e = json_tokener_get_error(tok);
		end = len;
	}
	if (e != json_tokener_success) {
		json_object_put(root);
		*err = tokener_error(e);
		return NULL;
	}
	if (!only_whitespace(buf + end, len - end)) {
		json_object_put(root);
		*err = "trailing characters";
		return NULL;
	}
	/* json-c represents null as NULL, which the caller cannot tell
	 * from failure; a bare null is not a request anyway. */
	if (!root)
		*err = "message is null";
	return root;
}

json_object *rpc_parse(const char *buf, size_t len, const struct rpc_limits *lim,
		       const char **err)
{
	int depth = lim && lim->max_depth > 0 ? lim->max_depth : 32;

	*err = NULL;
	if (len > INT32_MAX) {
		*err = "message too large";
		return NULL;
	}
	*err = scan_text(buf, len);
	if (*err)
		return NULL;
	struct json_tokener *tok = json_tokener_new_ex(depth);
	if (!tok) {
		*err = "out of memory";
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8 |
				    JSON_TOKENER_ALLOW_TRAILING_CHARS);
	json_object *root = tokenize(tok, buf, len, err);
	json_tokener_free(tok);
	return root;
}

/* Request checks. */

/* A usable id: string, null, or an integer json-c holds exactly (a
 * saturated huge integer would be echoed back as a different id). */
static int id_ok(json_object *id)
{
	int64_t v;

	switch (json_object_get_type(id)) {
	case json_type_null:
	case json_type_string:
		return 1;
	case json_type_int:
		return schema_get_int64(id, &v) == 0;
	default:
		return 0;
	}
}

static int check_id(json_object *msg, struct rpc_request *req, const char **err)
{
	json_object *id;

	if (!json_object_object_get_ex(msg, "id", &id))
		return 0;
	if (!id_ok(id)) {
		*err = "id must be a string, an integer or null";
		return RPC_INVALID_REQUEST;
	}
	req->id = id;
	req->has_id = 1;
	return 0;
}

static int check_version(json_object *msg, const char **err)
{
	json_object *v;

	if (!json_object_object_get_ex(msg, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) != 3 ||
	    memcmp(json_object_get_string(v), "2.0", 3) != 0) {
		*err = "jsonrpc must be \"2.0\"";
		return RPC_INVALID_REQUEST;
	}
	return 0;
}

static int check_method(json_object *msg, struct rpc_request *req, const char **err)
{
	json_object *m;

	if (!json_object_object_get_ex(msg, "method", &m) ||
	    !json_object_is_type(m, json_type_string)) {
		*err = "method must be a string";
		return RPC_INVALID_REQUEST;
	}
	const char *name = json_object_get_string(m);
	size_t n = (size_t)json_object_get_string_len(m);
	/* An embedded NUL would make "a\u0000b" match method "a". */
	if (n == 0 || strlen(name) != n) {
		*err = "method must be a non-empty string without NUL";
		return RPC_INVALID_REQUEST;
	}
	req->method = name;
	return 0;
}

static int check_members(json_object *msg, const char **err)
{
	static const char *const known[] = { "jsonrpc", "method", "params", "id" };

	json_object_object_foreach(msg, key, val) {
		(void)val;
		size_t i = 0;
		while (i < sizeof known / sizeof known[0] && strcmp(known[i], key) != 0)
			i++;
		if (i == sizeof known / sizeof known[0]) {
			*err = "unknown member in request";
			return RPC_INVALID_REQUEST;
		}
	}
	return 0;
}

static int check_params(json_object *msg, struct rpc_request *req, const char **err)
{
	json_object *p;

	if (!json_object_object_get_ex(msg, "params", &p))
		return 0;
	if (json_object_is_type(p, json_type_array)) {
		*err = "params must be an object";
		return RPC_INVALID_PARAMS;
	}
	/* JSON-RPC allows only structured params; anything else, null
	 * included, is a malformed request rather than bad params. */
	if (!json_object_is_type(p, json_type_object)) {
		*err = "params must be an object";
		return RPC_INVALID_REQUEST;
	}
	req->params = p;
	return 0;
}

int rpc_check_request(json_object *msg, struct rpc_request *req, const char **err)
{
	int rc;

	memset(req, 0, sizeof *req);
	*err = NULL;
	if (!json_object_is_type(msg, json_type_object)) {
		*err = "request must be an object";
		return RPC_INVALID_REQUEST;
	}
	/* The id first, so that every later error can carry it. */
	if ((rc = check_id(msg, req, err)) || (rc = check_version(msg, err)) ||
	    (rc = check_method(msg, req, err)) || (rc = check_members(msg, err)) ||
	    (rc = check_params(msg, req, err)))
		return rc;
	return 0;
}

/* Writers. */

/* Serialises o (NULL gives "null") into a malloc'd copy. */
static char *to_string(json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, WRITE_FLAGS);

	return s ? strdup(s) : NULL;
}

/* Serialises o into a malloc'd copy and drops the caller's reference. */
static char *finish(json_object *o)
{
	char *s = o ? to_string(o) : NULL;

	json_object_put(o);
	return s;
}

/* Concatenates n strings into one malloc'd string. */
static char *concat(const char *const parts[], size_t n)
{
	size_t total = 1;

	for (size_t i = 0; i < n; i++)
		total += strlen(parts[i]);
	char *out = malloc(total), *p = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t k = strlen(parts[i]);
		memcpy(p, parts[i], k);
		p += k;
	}
	*p = '\0';
	return out;
}

/* Wraps an already-serialised member ("result" or "error") with the id. */
static char *envelope(const char *member, const char *value, json_object *id)
{
	char *id_text = to_string(id);

	if (!id_text)
		return NULL;
	const char *parts[] = { "{\"jsonrpc\":\"2.0\",\"", member, "\":", value,
				",\"id\":", id_text, "}" };
	char *out = concat(parts, sizeof parts / sizeof parts[0]);
	free(id_text);
	return out;
}

char *rpc_result_raw(json_object *id, const char *raw_result)
{
	return envelope("result", raw_result ? raw_result : "null", id);
}

char *rpc_result(json_object *id, json_object *result)
{
	char *text = to_string(result);

	if (!text)
		return NULL;
	char *out = rpc_result_raw(id, text);
	free(text);
	return out;
}

/* Adds v under key, taking over the reference; -1 (v released) on failure. */
static int add(json_object *o, const char *key, json_object *v)
{
	if (!v)
		return -1;
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

static const char *standard_message(int code)
{
	switch (code) {
	case RPC_PARSE_ERROR:
		return "Parse error";
	case RPC_INVALID_REQUEST:
		return "Invalid Request";
	case RPC_METHOD_NOT_FOUND:
		return "Method not found";
	case RPC_INVALID_PARAMS:
		return "Invalid params";
	case RPC_INTERNAL_ERROR:
		return "Internal error";
	default:
		return "Server error";
	}
}

char *rpc_error(json_object *id, int code, const char *message, json_object *data)
{
	json_object *err = json_object_new_object();

	if (!err)
		return NULL;
	if (add(err, "code", json_object_new_int(code)) ||
	    add(err, "message", json_object_new_string(message ? message : standard_message(code))) ||
	    (data && add(err, "data", json_object_get(data)))) {
		json_object_put(err);
		return NULL;
	}
	char *err_text = finish(err);
	if (!err_text)
		return NULL;
	char *out = envelope("error", err_text, id);
	free(err_text);
	return out;
}

/* Copies the members of extra (shared, not consumed) except "reason",
 * which must name the reason actually raised. */
static int merge_extra(json_object *data, json_object *extra)
{
	if (!json_object_is_type(extra, json_type_object))
		return 0;
	json_object_object_foreach(extra, key, val) {
		if (strcmp(key, "reason") == 0)
			continue;
		/* val may be NULL (a JSON null); get and put accept that. */
		if (json_object_object_add(data, key, json_object_get(val)) != 0) {
			json_object_put(val);
			return -1;
		}
	}
	return 0;
}

char *rpc_error_reason(json_object *id, enum rpc_reason r, const char *detail,
		       json_object *extra)
{
	json_object *data = json_object_new_object();

	if (!data)
		return NULL;
	if (add(data, "reason", json_object_new_string(rpc_reason_name(r))) ||
	    merge_extra(data, extra)) {
		json_object_put(data);
		return NULL;
	}
	char *out = rpc_error(id, rpc_reason_code(r), detail ? detail : rpc_reason_message(r), data);
	json_object_put(data);
	return out;
}

char *rpc_error_params(json_object *id, const char *field, const char *why)
{
	json_object *data = json_object_new_object();

	if (!data)
		return NULL;
	if (add(data, "field", json_object_new_string(field ? field : "")) ||
	    add(data, "reason", json_object_new_string(why ? why : "invalid"))) {
		json_object_put(data);
		return NULL;
	}
	char *out = rpc_error(id, RPC_INVALID_PARAMS, NULL, data);
	json_object_put(data);
	return out;
}

char *rpc_request_str(const char *method, json_object *params, json_object *id)
{
	if (!method)
		return NULL;
	json_object *req = json_object_new_object();
	if (!req)
		return NULL;
	if (add(req, "jsonrpc", json_object_new_string("2.0")) ||
	    add(req, "method", json_object_new_string(method)) ||
	    (params && add(req, "params", json_object_get(params))) ||
	    (id && add(req, "id", json_object_get(id)))) {
		json_object_put(req);
		return NULL;
	}
	return finish(req);
}
