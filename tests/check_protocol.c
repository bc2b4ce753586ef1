/*
 * Unit tests for protocol/: the strict parser, the JSON-RPC envelope
 * checks, the response writers, the reason table, params schemas and
 * newline-framed I/O. Nothing external is needed.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "jsonrpc.h"
#include "lineio.h"
#include "schema.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
/* A byte string literal and its length, embedded NULs included. */
#define BYTES(s) s, sizeof(s) - 1

static const struct rpc_limits LIM = { 32, 1000 };

/* Test JSON is written with single quotes for readability; this turns
 * them into double quotes (a real ' can be written as \u0027). */
static char *dq(const char *text)
{
	char *s = strdup(text);

	ck_assert_ptr_nonnull(s);
	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	return s;
}

/* Parses test JSON that must be valid; JSON null comes back as NULL. */
static json_object *parse_q(const char *text)
{
	char *s = dq(text);
	const char *err = NULL;
	json_object *o = rpc_parse(s, strlen(s), &(struct rpc_limits){ 64, 1000 }, &err);

	ck_assert_msg(o || (err && strcmp(err, "message is null") == 0),
		      "fixture does not parse: %s (%s)", text, err ? err : "?");
	free(s);
	return o;
}

/* ---- rpc_parse ---------------------------------------------------- */

struct parse_case {
	const char *in;
	size_t len;
	const char *err;  /* NULL: must parse */
};

static const struct parse_case parse_cases[] = {
	/* valid requests, notifications, batches */
	{ BYTES("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"a\":1},\"id\":1}"), NULL },
	{ BYTES("{\"jsonrpc\":\"2.0\",\"method\":\"m\"}"), NULL },
	{ BYTES("[{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1},{\"jsonrpc\":\"2.0\",\"method\":\"n\"}]"), NULL },
	{ BYTES(" \t{\"a\" : [ 1 , 2 ] }\r "), NULL },
	{ BYTES("[]"), NULL },
	{ BYTES("123"), NULL },
	{ BYTES("-0.5e-3"), NULL },
	{ BYTES("1E+5"), NULL },
	{ BYTES("true"), NULL },
	{ BYTES("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\""), NULL },
	{ BYTES("\"\\ud83d\\ude00 \\u00e9 \\\" \\\\ \\/ \\b \\f \\n \\r \\t\""), NULL },
	{ BYTES("\"a\\u0000b\""), NULL },           /* legal JSON; schemas refuse it */
	{ BYTES("1e400"), NULL },                    /* absurd but legal; schemas refuse it */
	{ BYTES("99999999999999999999999"), NULL },
	/* malformed JSON */
	{ BYTES(""), "invalid JSON" },
	{ BYTES("   "), "invalid JSON" },
	{ BYTES("{\"a\":1"), "invalid JSON" },
	{ BYTES("{\"a\":1,}"), "invalid JSON" },
	{ BYTES("[1,]"), "invalid JSON" },
	{ BYTES("[1 2]"), "invalid JSON" },
	{ BYTES("{\"a\" 1}"), "invalid JSON" },
	{ BYTES("{a:1}"), "invalid JSON" },
	{ BYTES("{'a':1}"), "invalid JSON" },
	{ BYTES("\"abc"), "invalid JSON" },
	{ BYTES("NaN"), "invalid JSON" },
	{ BYTES("Infinity"), "invalid JSON" },
	{ BYTES("-Infinity"), "invalid JSON" },
	{ BYTES("nan"), "invalid JSON" },
	{ BYTES("True"), "invalid JSON" },
	{ BYTES("nul"), "invalid JSON" },
	{ BYTES("1."), "invalid JSON" },
	{ BYTES(".5"), "invalid JSON" },
	{ BYTES("01"), "invalid JSON" },
	{ BYTES("+1"), "invalid JSON" },
	{ BYTES("-"), "invalid JSON" },
	{ BYTES("1e"), "invalid JSON" },
	{ BYTES("1e+"), "invalid JSON" },
	{ BYTES("0x10"), "invalid JSON" },
	{ BYTES("/*c*/1"), "invalid JSON" },
	{ BYTES("\"a\tb\""), "unescaped control character" },
	{ BYTES("\"a\nb\""), "unescaped control character" },
	{ BYTES("\"\\x41\""), "invalid escape" },
	{ BYTES("\"\\u12\""), "invalid escape" },
	{ BYTES("\"\\u12g4\""), "invalid escape" },
	/* invalid UTF-8 */
	{ BYTES("\"\xff\""), "invalid UTF-8" },
	{ BYTES("\"\x80\""), "invalid UTF-8" },            /* lone continuation */
	{ BYTES("\"\xc0\x80\""), "invalid UTF-8" },        /* overlong NUL */
	{ BYTES("\"\xc1\xbf\""), "invalid UTF-8" },        /* overlong ASCII */
	{ BYTES("\"\xe0\x80\xaf\""), "invalid UTF-8" },    /* overlong '/' */
	{ BYTES("\"\xf0\x80\x80\xaf\""), "invalid UTF-8" },
	{ BYTES("\"\xed\xa0\x80\""), "invalid UTF-8" },    /* encoded surrogate */
	{ BYTES("\"\xf4\x90\x80\x80\""), "invalid UTF-8" }, /* above U+10FFFF */
	{ BYTES("\"\xf5\x80\x80\x80\""), "invalid UTF-8" },
	{ BYTES("\"\xe2\x82\""), "invalid UTF-8" },        /* truncated */
	{ BYTES("\"\xe2\x82x\""), "invalid UTF-8" },
	{ BYTES("[1]\xc3\xa9"), "invalid UTF-8" },         /* outside a string */
	{ BYTES("\"\\ud800\""), "unpaired surrogate" },
	{ BYTES("\"\\udc00\""), "unpaired surrogate" },
	{ BYTES("\"\\ud800x\""), "unpaired surrogate" },
	{ BYTES("\"\\ud800\\u0041\""), "unpaired surrogate" },
	{ BYTES("\"\\ud800\\ud800\""), "unpaired surrogate" },
	/* embedded NUL */
	{ BYTES("{\"a\":1}\0"), "embedded NUL byte" },
	{ BYTES("\"a\0b\""), "embedded NUL byte" },
	{ BYTES("[1,\0 2]"), "embedded NUL byte" },
	/* trailing garbage */
	{ BYTES("{} {}"), "trailing characters" },
	{ BYTES("1 2"), "trailing characters" },
	{ BYTES("[1]]"), "trailing characters" },
	{ BYTES("{\"a\":1},"), "trailing characters" },
	{ BYTES("{\"a\":1} x"), "invalid JSON" },          /* caught as a bad token first */
	/* a bare null is valid JSON but not something json-c can hand back */
	{ BYTES("null"), "message is null" },
};

START_TEST(test_parse_table)
{
	const struct parse_case *c = &parse_cases[_i];
	const char *err = "unset";
	json_object *o = rpc_parse(c->in, c->len, &LIM, &err);

	if (c->err) {
		ck_assert_msg(o == NULL, "case %d accepted", _i);
		ck_assert_ptr_nonnull(err);
		ck_assert_str_eq(err, c->err);
	} else {
		ck_assert_msg(o != NULL, "case %d refused: %s", _i, err ? err : "(null)");
		ck_assert_ptr_null(err);
	}
	json_object_put(o);
}
END_TEST

START_TEST(test_parse_values)
{
	const char *err;
	json_object *o = rpc_parse(BYTES("[{\"a\":1},{\"b\":2}]"), &LIM, &err);

	ck_assert(json_object_is_type(o, json_type_array));
	ck_assert_uint_eq(json_object_array_length(o), 2);
	json_object_put(o);

	o = rpc_parse(BYTES("\"\\ud83d\\ude00\\u00e9\""), &LIM, &err);
	ck_assert_str_eq(json_object_get_string(o), "\xf0\x9f\x98\x80\xc3\xa9");
	json_object_put(o);

	o = rpc_parse(BYTES("42"), &LIM, &err);
	ck_assert_int_eq(json_object_get_int64(o), 42);
	json_object_put(o);

	/* Only len bytes count: what follows in memory is not read. */
	o = rpc_parse("[1]garbage", 3, &LIM, &err);
	ck_assert(json_object_is_type(o, json_type_array));
	json_object_put(o);
}
END_TEST

/* n nested arrays (open and close), or objects {"a":...{}} when obj. */
static char *nested(int n, int obj)
{
	char *s = malloc((size_t)n * 6 + 3), *p = s;

	ck_assert_ptr_nonnull(s);
	for (int i = 0; i < n; i++)
		p += sprintf(p, "%s", obj ? (i + 1 < n ? "{\"a\":" : "{") : "[");
	for (int i = 0; i < n; i++)
		*p++ = obj ? '}' : ']';
	*p = '\0';
	return s;
}

START_TEST(test_parse_depth)
{
	static const struct { int levels, obj, ok; } cases[] = {
		{ 31, 0, 1 }, { 32, 0, 1 }, { 33, 0, 0 }, { 200, 0, 0 },
		{ 32, 1, 1 }, { 33, 1, 0 },
	};
	for (size_t i = 0; i < NELEM(cases); i++) {
		char *s = nested(cases[i].levels, cases[i].obj);
		const char *err = NULL;
		json_object *o = rpc_parse(s, strlen(s), &LIM, &err);
		if (cases[i].ok) {
			ck_assert_msg(o != NULL, "%d levels refused: %s", cases[i].levels, err);
		} else {
			ck_assert_msg(o == NULL, "%d levels accepted", cases[i].levels);
			ck_assert_str_eq(err, "nesting too deep");
		}
		json_object_put(o);
		free(s);
	}
}
END_TEST

START_TEST(test_parse_depth_small_limit)
{
	const struct rpc_limits one = { 1, 10 };
	const char *err;
	json_object *o = rpc_parse(BYTES("[]"), &one, &err);

	ck_assert_ptr_nonnull(o);
	json_object_put(o);
	ck_assert_ptr_null(rpc_parse(BYTES("[[]]"), &one, &err));
	ck_assert_str_eq(err, "nesting too deep");
}
END_TEST

/* ---- rpc_check_request ------------------------------------------- */

struct req_case {
	const char *json;  /* single-quoted */
	int rc;
	int has_id;
	const char *err;   /* NULL when rc == 0 */
};

#define V "'jsonrpc':'2.0',"
static const struct req_case req_cases[] = {
	{ "{" V "'method':'m','params':{'a':1},'id':1}", 0, 1, NULL },
	{ "{" V "'method':'m','id':'abc'}", 0, 1, NULL },
	{ "{" V "'method':'m','id':null}", 0, 1, NULL },
	{ "{" V "'method':'m','id':-9223372036854775807}", 0, 1, NULL },
	{ "{" V "'method':'m'}", 0, 0, NULL },
	{ "{'method':'m'," V "'params':{}}", 0, 0, NULL },
	/* not an object */
	{ "[]", RPC_INVALID_REQUEST, 0, "request must be an object" },
	{ "1", RPC_INVALID_REQUEST, 0, "request must be an object" },
	{ "'x'", RPC_INVALID_REQUEST, 0, "request must be an object" },
	/* jsonrpc member */
	{ "{'method':'m','id':1}", RPC_INVALID_REQUEST, 1, "jsonrpc must be \"2.0\"" },
	{ "{'jsonrpc':'1.0','method':'m','id':1}", RPC_INVALID_REQUEST, 1, "jsonrpc must be \"2.0\"" },
	{ "{'jsonrpc':2.0,'method':'m','id':1}", RPC_INVALID_REQUEST, 1, "jsonrpc must be \"2.0\"" },
	{ "{'jsonrpc':'2.00','method':'m','id':1}", RPC_INVALID_REQUEST, 1, "jsonrpc must be \"2.0\"" },
	{ "{'jsonrpc':'2.0\\u0000','method':'m','id':1}", RPC_INVALID_REQUEST, 1, "jsonrpc must be \"2.0\"" },
	{ "{'jsonrpc':null,'method':'m'}", RPC_INVALID_REQUEST, 0, "jsonrpc must be \"2.0\"" },
	/* method member */
	{ "{" V "'id':1}", RPC_INVALID_REQUEST, 1, "method must be a string" },
	{ "{" V "'method':1,'id':1}", RPC_INVALID_REQUEST, 1, "method must be a string" },
	{ "{" V "'method':null}", RPC_INVALID_REQUEST, 0, "method must be a string" },
	{ "{" V "'method':'','id':1}", RPC_INVALID_REQUEST, 1, "method must be a non-empty string without NUL" },
	{ "{" V "'method':'m\\u0000x','id':1}", RPC_INVALID_REQUEST, 1, "method must be a non-empty string without NUL" },
	/* id member */
	{ "{" V "'method':'m','id':true}", RPC_INVALID_REQUEST, 0, "id must be a string, an integer or null" },
	{ "{" V "'method':'m','id':{}}", RPC_INVALID_REQUEST, 0, "id must be a string, an integer or null" },
	{ "{" V "'method':'m','id':[1]}", RPC_INVALID_REQUEST, 0, "id must be a string, an integer or null" },
	{ "{" V "'method':'m','id':1.5}", RPC_INVALID_REQUEST, 0, "id must be a string, an integer or null" },
	{ "{" V "'method':'m','id':1e3}", RPC_INVALID_REQUEST, 0, "id must be a string, an integer or null" },
	{ "{" V "'method':'m','id':99999999999999999999}", RPC_INVALID_REQUEST, 0, "id must be a string, an integer or null" },
	/* params member */
	{ "{" V "'method':'m','params':[1,2],'id':1}", RPC_INVALID_PARAMS, 1, "params must be an object" },
	{ "{" V "'method':'m','params':[]}", RPC_INVALID_PARAMS, 0, "params must be an object" },
	{ "{" V "'method':'m','params':'x','id':1}", RPC_INVALID_REQUEST, 1, "params must be an object" },
	{ "{" V "'method':'m','params':3,'id':1}", RPC_INVALID_REQUEST, 1, "params must be an object" },
	{ "{" V "'method':'m','params':null,'id':1}", RPC_INVALID_REQUEST, 1, "params must be an object" },
	/* other members */
	{ "{" V "'method':'m','id':1,'extra':1}", RPC_INVALID_REQUEST, 1, "unknown member in request" },
	{ "{" V "'method':'m','result':1}", RPC_INVALID_REQUEST, 0, "unknown member in request" },
	{ "{" V "'method':'m','ID':1}", RPC_INVALID_REQUEST, 0, "unknown member in request" },
};
#undef V

START_TEST(test_check_request_table)
{
	const struct req_case *c = &req_cases[_i];
	json_object *msg = parse_q(c->json);
	struct rpc_request req;
	const char *err = "unset";
	int rc = rpc_check_request(msg, &req, &err);

	ck_assert_msg(rc == c->rc, "case %d (%s): rc %d, want %d", _i, c->json, rc, c->rc);
	ck_assert_int_eq(req.has_id, c->has_id);
	if (c->err) {
		ck_assert_ptr_nonnull(err);
		ck_assert_str_eq(err, c->err);
	} else {
		ck_assert_ptr_null(err);
		ck_assert_str_eq(req.method, "m");
	}
	json_object_put(msg);
}
END_TEST

START_TEST(test_check_request_fields)
{
	json_object *msg = parse_q("{'jsonrpc':'2.0','method':'a.b','params':{'x':[1]},'id':7}");
	struct rpc_request req;
	const char *err;

	ck_assert_int_eq(rpc_check_request(msg, &req, &err), 0);
	ck_assert_str_eq(req.method, "a.b");
	ck_assert_int_eq(json_object_get_int64(req.id), 7);
	ck_assert(json_object_is_type(req.params, json_type_object));
	ck_assert(json_object_object_get_ex(req.params, "x", NULL));
	json_object_put(msg);

	/* No params: NULL; null id: present but NULL. */
	msg = parse_q("{'jsonrpc':'2.0','method':'m','id':null}");
	ck_assert_int_eq(rpc_check_request(msg, &req, &err), 0);
	ck_assert_ptr_null(req.params);
	ck_assert_ptr_null(req.id);
	ck_assert_int_eq(req.has_id, 1);
	json_object_put(msg);

	/* A valid id is kept even when the request is refused. */
	msg = parse_q("{'jsonrpc':'2.0','params':[],'id':'k'}");
	ck_assert_int_eq(rpc_check_request(msg, &req, &err), RPC_INVALID_REQUEST);
	ck_assert_str_eq(json_object_get_string(req.id), "k");
	json_object_put(msg);
}
END_TEST

/* ---- writers ------------------------------------------------------- */

/* Checks a writer's output, that it is valid JSON, and frees it. */
static void check_output(char *got, const char *want)
{
	const char *err;

	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
	json_object *o = rpc_parse(got, strlen(got), &LIM, &err);
	ck_assert_msg(o != NULL, "writer output does not parse: %s", err);
	json_object_put(o);
	free(got);
}

START_TEST(test_write_result)
{
	json_object *id = json_object_new_int(1);
	json_object *res = parse_q("{'a':[1,'x/y'],'b':null,'c':'\\u00e9'}");

	check_output(rpc_result(id, res),
		     "{\"jsonrpc\":\"2.0\",\"result\":{\"a\":[1,\"x/y\"],\"b\":null,\"c\":\"\xc3\xa9\"},\"id\":1}");
	/* Not consumed: still usable. */
	ck_assert_int_eq(json_object_object_length(res), 3);
	check_output(rpc_result(NULL, NULL), "{\"jsonrpc\":\"2.0\",\"result\":null,\"id\":null}");
	json_object_put(res);
	json_object_put(id);
}
END_TEST

START_TEST(test_write_result_raw)
{
	json_object *id = json_object_new_string("a\"b");

	check_output(rpc_result_raw(id, "{\"n\": 1, \"k\": [true]}"),
		     "{\"jsonrpc\":\"2.0\",\"result\":{\"n\": 1, \"k\": [true]},\"id\":\"a\\\"b\"}");
	check_output(rpc_result_raw(NULL, "[]"), "{\"jsonrpc\":\"2.0\",\"result\":[],\"id\":null}");
	json_object_put(id);
}
END_TEST

START_TEST(test_write_error)
{
	json_object *id = json_object_new_string("x");
	json_object *data = parse_q("{'k':1}");

	check_output(rpc_error(id, RPC_METHOD_NOT_FOUND, "no such method", NULL),
		     "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32601,\"message\":\"no such method\"},\"id\":\"x\"}");
	check_output(rpc_error(NULL, RPC_PARSE_ERROR, NULL, data),
		     "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,\"message\":\"Parse error\",\"data\":{\"k\":1}},\"id\":null}");
	check_output(rpc_error(NULL, RPC_INTERNAL_ERROR, "say \"hi\"\n\t/\xc3\xa9", NULL),
		     "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32603,\"message\":\"say \\\"hi\\\"\\n\\t/\xc3\xa9\"},\"id\":null}");
	ck_assert_int_eq(json_object_object_length(data), 1);
	json_object_put(data);
	json_object_put(id);
}
END_TEST

START_TEST(test_write_error_reason)
{
	json_object *id = json_object_new_int(5);
	json_object *extra = parse_q("{'hold_id':42,'reason':'spoofed','gone':null}");

	check_output(rpc_error_reason(id, RS_R_no_capacity, NULL, NULL),
		     "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32010,\"message\":"
		     "\"the supply is no longer available\",\"data\":{\"reason\":\"no_capacity\"}},\"id\":5}");
	check_output(rpc_error_reason(id, RS_R_conflict, "slot taken", extra),
		     "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32006,\"message\":\"slot taken\","
		     "\"data\":{\"reason\":\"conflict\",\"hold_id\":42,\"gone\":null}},\"id\":5}");
	/* extra is shared, not consumed, and left as it was. */
	ck_assert_str_eq(json_object_to_json_string_ext(extra, JSON_C_TO_STRING_PLAIN),
			 "{\"hold_id\":42,\"reason\":\"spoofed\",\"gone\":null}");
	json_object_put(extra);
	json_object_put(id);
}
END_TEST

START_TEST(test_write_error_params)
{
	check_output(rpc_error_params(NULL, "ranges[3].end", "not a date (YYYY-MM-DD)"),
		     "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32602,\"message\":\"Invalid params\","
		     "\"data\":{\"field\":\"ranges[3].end\",\"reason\":\"not a date (YYYY-MM-DD)\"}},\"id\":null}");
}
END_TEST

START_TEST(test_write_request)
{
	json_object *params = parse_q("{'token':'t/1'}");
	json_object *id = json_object_new_int(0);

	check_output(rpc_request_str("session.resume", params, id),
		     "{\"jsonrpc\":\"2.0\",\"method\":\"session.resume\",\"params\":{\"token\":\"t/1\"},\"id\":0}");
	check_output(rpc_request_str("system.ping", NULL, NULL),
		     "{\"jsonrpc\":\"2.0\",\"method\":\"system.ping\"}");
	ck_assert_ptr_null(rpc_request_str(NULL, NULL, NULL));
	json_object_put(id);
	json_object_put(params);
}
END_TEST

/* ---- reasons -------------------------------------------------------- */

START_TEST(test_reasons_table)
{
	for (int i = 0; i < RS_R_COUNT; i++) {
		const char *name = rpc_reason_name((enum rpc_reason)i);
		int code = rpc_reason_code((enum rpc_reason)i);
		ck_assert_int_eq(rpc_reason_lookup(name), i);
		ck_assert_msg(code <= -32000 && code >= -32099, "%s: code %d outside server range", name, code);
		ck_assert_msg(strlen(rpc_reason_message((enum rpc_reason)i)) > 0, "%s: no message", name);
		for (int j = 0; j < i; j++)
			ck_assert_msg(rpc_reason_code((enum rpc_reason)j) != code, "%s: code %d reused", name, code);
	}
}
END_TEST

START_TEST(test_reasons_lookup)
{
	ck_assert_int_eq(rpc_reason_lookup("no_capacity"), RS_R_no_capacity);
	ck_assert_int_eq(rpc_reason_code(RS_R_no_capacity), -32010);
	ck_assert_int_eq(rpc_reason_lookup("timeout"), RS_R_timeout);
	ck_assert_str_eq(rpc_reason_name(RS_R_unauthorized), "unauthorized");
	ck_assert_int_eq(rpc_reason_lookup("nope"), -1);
	ck_assert_int_eq(rpc_reason_lookup(""), -1);
	ck_assert_int_eq(rpc_reason_lookup("NO_CAPACITY"), -1);
	ck_assert_int_eq(rpc_reason_lookup(NULL), -1);
	ck_assert_int_eq(rpc_reason_code(RS_R_COUNT), RPC_INTERNAL_ERROR);
}
END_TEST

/* ---- schema ------------------------------------------------------- */

static const char *const colours[] = { "red", "green", "blue", NULL };

static const struct field_spec range_fields[] = {
	{ .name = "start", .type = FT_DATE, .flags = FF_REQUIRED },
	{ .name = "end", .type = FT_DATE, .flags = FF_REQUIRED },
	{ .name = NULL },
};
static const struct param_schema range_schema = { range_fields, 0 };

static const struct field_spec loose_fields[] = {
	{ .name = "known", .type = FT_INT },
	{ .name = NULL },
};
static const struct param_schema loose_schema = { loose_fields, 1 };

static const struct field_spec main_fields[] = {
	{ .name = "name", .type = FT_STRING, .flags = FF_REQUIRED, .min = 1, .max = 5 },
	{ .name = "count", .type = FT_INT, .min = -3, .max = 100 },
	{ .name = "big", .type = FT_INT },
	{ .name = "ratio", .type = FT_NUMBER, .num_min = -5, .num_max = 5 },
	{ .name = "free", .type = FT_NUMBER },
	{ .name = "flag", .type = FT_BOOL },
	{ .name = "day", .type = FT_DATE },
	{ .name = "at", .type = FT_TIME },
	{ .name = "when", .type = FT_TIMESTAMP, .flags = FF_NULLABLE },
	{ .name = "colour", .type = FT_ENUM, .values = colours },
	{ .name = "note", .type = FT_STRING, .flags = FF_NULLABLE },
	{ .name = "meta", .type = FT_OBJECT },
	{ .name = "loose", .type = FT_OBJECT, .sub = &loose_schema },
	{ .name = "ranges", .type = FT_ARRAY, .min = 1, .max = 3, .item = FT_OBJECT, .sub = &range_schema },
	{ .name = "tags", .type = FT_ARRAY, .item = FT_STRING },
	{ .name = "shades", .type = FT_ARRAY, .item = FT_ENUM, .values = colours },
	{ .name = "any", .type = FT_ANY },
	{ .name = NULL },
};
static const struct param_schema main_schema = { main_fields, 0 };

struct schema_case {
	const char *json;   /* single-quoted */
	const char *field;  /* NULL: valid */
	const char *why;
};

#define N "{'name':'ann',"
#define R1 "{'start':'2024-01-01','end':'2024-01-02'}"
static const struct schema_case schema_cases[] = {
	{ "{'name':'ann'}", NULL, NULL },
	{ N "'count':-3,'big':9223372036854775807,'ratio':-5,'free':1e-400,'flag':false,"
	    "'day':'2024-02-29','at':'23:59','when':'2026-03-29T01:30:00Z','colour':'blue',"
	    "'note':null,'meta':{'x':{'y':[1]}},'loose':{'known':1,'other':2},"
	    "'ranges':[" R1 "," R1 "," R1 "],'tags':[],'shades':['red','green'],'any':[null,{}]}",
	  NULL, NULL },
	{ N "'count':100,'ratio':4.99,'free':-1e300,'when':null,'any':null}", NULL, NULL },
	{ "{'name':'abcde'}", NULL, NULL },
	/* required and unknown */
	{ "{}", "name", "required" },
	{ N "'extra':1}", "extra", "unknown field" },
	{ "{'nmae':'ann'}", "nmae", "unknown field" },
	/* strings */
	{ "{'name':5}", "name", "expected string" },
	{ "{'name':null}", "name", "expected string" },
	{ "{'name':['a']}", "name", "expected string" },
	{ "{'name':''}", "name", "too short" },
	{ "{'name':'abcdef'}", "name", "too long" },
	{ "{'name':'a\\u0000b'}", "name", "contains a NUL character" },
	{ N "'note':7}", "note", "expected string" },
	/* integers */
	{ N "'count':1.5}", "count", "expected integer" },
	{ N "'count':1.0}", "count", "expected integer" },
	{ N "'count':1e2}", "count", "expected integer" },
	{ N "'count':'5'}", "count", "expected integer" },
	{ N "'count':true}", "count", "expected integer" },
	{ N "'count':101}", "count", "out of range" },
	{ N "'count':-4}", "count", "out of range" },
	{ N "'big':9999999999999999999999}", "big", "out of range" },
	{ N "'big':-9999999999999999999999}", "big", "out of range" },
	{ N "'big':9223372036854775808}", "big", "out of range" },
	{ N "'big':18446744073709551615}", "big", "out of range" },
	{ N "'big':1e400}", "big", "expected integer" },
	/* numbers */
	{ N "'ratio':5.5}", "ratio", "out of range" },
	{ N "'ratio':-6}", "ratio", "out of range" },
	{ N "'ratio':'1'}", "ratio", "expected number" },
	{ N "'ratio':null}", "ratio", "expected number" },
	{ N "'free':1e400}", "free", "out of range" },
	{ N "'free':-1e400}", "free", "out of range" },
	{ N "'free':99999999999999999999}", "free", "out of range" },
	/* booleans */
	{ N "'flag':1}", "flag", "expected boolean" },
	{ N "'flag':'true'}", "flag", "expected boolean" },
	/* dates, times, timestamps */
	{ N "'day':'2023-02-29'}", "day", "not a date (YYYY-MM-DD)" },
	{ N "'day':'2024-02-29\\u0000x'}", "day", "contains a NUL character" },
	{ N "'day':20240229}", "day", "expected string" },
	{ N "'at':'24:00'}", "at", "not a time (HH:MM)" },
	{ N "'at':930}", "at", "expected string" },
	{ N "'when':'2026-03-29T01:30:00'}", "when", "not a timestamp (RFC 3339)" },
	{ N "'when':1774747800}", "when", "expected string" },
	/* enums */
	{ N "'colour':'pink'}", "colour", "not one of: red, green, blue" },
	{ N "'colour':'Red'}", "colour", "not one of: red, green, blue" },
	{ N "'colour':1}", "colour", "expected string" },
	/* objects */
	{ N "'meta':[]}", "meta", "expected object" },
	{ N "'meta':'{}'}", "meta", "expected object" },
	{ N "'loose':{'known':'x'}}", "loose.known", "expected integer" },
	/* arrays and nested paths */
	{ N "'ranges':{}}", "ranges", "expected array" },
	{ N "'ranges':[]}", "ranges", "too short" },
	{ N "'ranges':[" R1 "," R1 "," R1 "," R1 "]}", "ranges", "too long" },
	{ N "'ranges':[" R1 ",{'start':'2024-01-01','end':'2024-13-01'}]}", "ranges[1].end",
	  "not a date (YYYY-MM-DD)" },
	{ N "'ranges':[{'start':'2024-01-01'}]}", "ranges[0].end", "required" },
	{ N "'ranges':[" R1 "," R1 ",{'start':'2024-01-01','end':'2024-01-02','x':1}]}",
	  "ranges[2].x", "unknown field" },
	{ N "'ranges':[1]}", "ranges[0]", "expected object" },
	{ N "'ranges':[null]}", "ranges[0]", "expected object" },
	{ N "'tags':['a',2]}", "tags[1]", "expected string" },
	{ N "'tags':['a','b\\u0000']}", "tags[1]", "contains a NUL character" },
	{ N "'shades':['red','pink']}", "shades[1]", "not one of: red, green, blue" },
};
#undef N
#undef R1

START_TEST(test_schema_table)
{
	const struct schema_case *c = &schema_cases[_i];
	json_object *params = parse_q(c->json);
	struct schema_error err;
	int rc = schema_validate(&main_schema, params, &err);

	if (!c->field) {
		ck_assert_msg(rc == 0, "case %d refused: %s: %s", _i, err.field, err.why);
	} else {
		ck_assert_msg(rc == -1, "case %d accepted: %s", _i, c->json);
		ck_assert_str_eq(err.field, c->field);
		ck_assert_ptr_nonnull(err.why);
		ck_assert_str_eq(err.why, c->why);
	}
	json_object_put(params);
}
END_TEST

START_TEST(test_schema_edges)
{
	struct schema_error err;
	json_object *o;

	/* NULL params stand for {}. */
	ck_assert_int_eq(schema_validate(&main_schema, NULL, &err), -1);
	ck_assert_str_eq(err.field, "name");
	ck_assert_str_eq(err.why, "required");
	/* No schema: no params allowed. */
	ck_assert_int_eq(schema_validate(NULL, NULL, &err), 0);
	o = parse_q("{}");
	ck_assert_int_eq(schema_validate(NULL, o, &err), 0);
	json_object_put(o);
	o = parse_q("{'a':1}");
	ck_assert_int_eq(schema_validate(NULL, o, &err), -1);
	ck_assert_str_eq(err.field, "a");
	ck_assert_str_eq(err.why, "unknown field");
	json_object_put(o);
	/* Params that are not an object at all. */
	o = parse_q("[1]");
	ck_assert_int_eq(schema_validate(&main_schema, o, &err), -1);
	ck_assert_str_eq(err.field, "");
	ck_assert_str_eq(err.why, "expected object");
	json_object_put(o);
}
END_TEST

static const char *const many_values[] = {
	"value-number-00", "value-number-01", "value-number-02", "value-number-03",
	"value-number-04", "value-number-05", "value-number-06", "value-number-07",
	"value-number-08", "value-number-09", "value-number-10", "value-number-11",
	"value-number-12", "value-number-13", "value-number-14", "value-number-15",
	"value-number-16", "value-number-17", "value-number-18", "value-number-19",
	NULL,
};
static const struct field_spec many_fields[] = {
	{ .name = "v", .type = FT_ENUM, .values = many_values },
	{ .name = NULL },
};
static const struct param_schema many_schema = { many_fields, 0 };

START_TEST(test_schema_enum_truncated)
{
	struct schema_error err;
	json_object *o = parse_q("{'v':'value-number-20'}");

	ck_assert_int_eq(schema_validate(&many_schema, o, &err), -1);
	ck_assert_ptr_eq(err.why, err.whybuf);
	ck_assert_uint_eq(strlen(err.why), sizeof err.whybuf - 1);
	ck_assert(strncmp(err.why, "not one of: value-number-00, value-number-01", 44) == 0);
	ck_assert_str_eq(err.why + strlen(err.why) - 3, "...");
	json_object_put(o);
	o = parse_q("{'v':'value-number-19'}");
	ck_assert_int_eq(schema_validate(&many_schema, o, &err), 0);
	json_object_put(o);
}
END_TEST

/* A schema that contains itself, as a tree of "abcdefghij" objects. */
static const struct param_schema tree_schema;
static const struct field_spec tree_fields[] = {
	{ .name = "abcdefghij", .type = FT_OBJECT, .sub = &tree_schema },
	{ .name = "leaf", .type = FT_INT },
	{ .name = NULL },
};
static const struct param_schema tree_schema = { tree_fields, 0 };

/* {"abcdefghij":{...n levels...{"leaf":leaf}}} */
static json_object *tree(int n, const char *leaf)
{
	size_t size = (size_t)n * 16 + 64;
	char *s = malloc(size), *p = s;

	ck_assert_ptr_nonnull(s);
	for (int i = 0; i < n; i++)
		p += sprintf(p, "{\"abcdefghij\":");
	p += sprintf(p, "{\"leaf\":%s}", leaf);
	for (int i = 0; i < n; i++)
		*p++ = '}';
	*p = '\0';
	const char *err;
	json_object *o = rpc_parse(s, strlen(s), &(struct rpc_limits){ 100, 10 }, &err);
	ck_assert_msg(o != NULL, "tree fixture: %s", err);
	free(s);
	return o;
}

START_TEST(test_schema_depth_and_long_path)
{
	struct schema_error err;
	json_object *o = tree(3, "1.5");

	ck_assert_int_eq(schema_validate(&tree_schema, o, &err), -1);
	ck_assert_str_eq(err.field, "abcdefghij.abcdefghij.abcdefghij.leaf");
	ck_assert_str_eq(err.why, "expected integer");
	json_object_put(o);

	o = tree(32, "1");
	ck_assert_int_eq(schema_validate(&tree_schema, o, &err), 0);
	json_object_put(o);

	/* Past the guard; the path is cut at the buffer, still terminated. */
	o = tree(33, "1");
	ck_assert_int_eq(schema_validate(&tree_schema, o, &err), -1);
	ck_assert_str_eq(err.why, "nesting too deep");
	ck_assert_uint_eq(strlen(err.field), sizeof err.field - 1);
	ck_assert(strncmp(err.field, "abcdefghij.abcdefghij.", 22) == 0);
	json_object_put(o);
}
END_TEST

struct int_case {
	const char *json;
	int ok;
	int64_t value;
};

static const struct int_case int_cases[] = {
	{ "0", 1, 0 },
	{ "-1", 1, -1 },
	{ "9223372036854775807", 1, INT64_MAX },
	{ "-9223372036854775807", 1, -INT64_MAX },
	{ "9223372036854775808", 0, 0 },
	{ "18446744073709551615", 0, 0 },
	{ "99999999999999999999999", 0, 0 },
	{ "-9223372036854775808", 0, 0 },  /* indistinguishable from a clamp */
	{ "-99999999999999999999999", 0, 0 },
	{ "1.0", 0, 0 },
	{ "'1'", 0, 0 },
};

START_TEST(test_schema_get_int64)
{
	const struct int_case *c = &int_cases[_i];
	json_object *o = parse_q(c->json);
	int64_t v = 12345;

	ck_assert_int_eq(schema_get_int64(o, &v), c->ok ? 0 : -1);
	ck_assert_int_eq(v, c->ok ? c->value : 12345);
	json_object_put(o);
}
END_TEST

struct syntax_case {
	const char *s;
	int ok;
};

static const struct syntax_case date_cases[] = {
	{ "2024-02-29", 1 }, { "2023-02-29", 0 }, { "2000-02-29", 1 }, { "1900-02-29", 0 },
	{ "2100-02-29", 0 }, { "2023-02-28", 1 }, { "1900-01-01", 1 }, { "1899-12-31", 0 },
	{ "2200-12-31", 1 }, { "2201-01-01", 0 }, { "2024-04-30", 1 }, { "2024-04-31", 0 },
	{ "2024-01-31", 1 }, { "2024-01-32", 0 }, { "2024-12-31", 1 }, { "2024-13-01", 0 },
	{ "2024-00-10", 0 }, { "2024-01-00", 0 }, { "2024-1-01", 0 }, { "2024-01-1", 0 },
	{ "2024-01-01 ", 0 }, { " 2024-01-01", 0 }, { "2024/01/01", 0 }, { "20240101", 0 },
	{ "2024-01-01T00:00Z", 0 }, { "", 0 }, { "+024-01-01", 0 }, { "2024-0a-01", 0 },
};

static const struct syntax_case time_cases[] = {
	{ "00:00", 1 }, { "23:59", 1 }, { "09:30", 1 }, { "24:00", 0 }, { "12:60", 0 },
	{ "1:00", 0 }, { "12:0", 0 }, { "12:00:00", 0 }, { "12-00", 0 }, { "", 0 },
	{ "12:00 ", 0 }, { "ab:cd", 0 },
};

static const struct syntax_case timestamp_cases[] = {
	{ "2026-03-29T01:30:00Z", 1 },
	{ "2026-03-29T01:30Z", 1 },
	{ "2026-03-29T01:30:00.123456+01:00", 1 },
	{ "2026-03-29T01:30:00.1-05:30", 1 },
	{ "2026-03-29t01:30:00z", 1 },
	{ "2016-12-31T23:59:60Z", 1 },
	{ "2024-02-29T00:00:00+00:00", 1 },
	{ "2026-03-29T01:30:00", 0 },
	{ "2026-03-29 01:30:00Z", 0 },
	{ "2026-03-29T01:30:00+1:00", 0 },
	{ "2026-03-29T01:30:00+0100", 0 },
	{ "2026-03-29T01:30:00+24:00", 0 },
	{ "2023-02-29T01:30:00Z", 0 },
	{ "2026-03-29T01:30:00.Z", 0 },
	{ "2026-03-29T01:30:00.1234567890Z", 0 },
	{ "2026-03-29T01:30:61Z", 0 },
	{ "2026-03-29T01:30:0Z", 0 },
	{ "2026-03-29T25:00Z", 0 },
	{ "2026-03-29T01:30:00Zx", 0 },
	{ "2026-03-29T01:30.5Z", 0 },
	{ "2026-03-29", 0 },
	{ "", 0 },
};

START_TEST(test_is_date)
{
	ck_assert_msg(schema_is_date(date_cases[_i].s) == date_cases[_i].ok, "date \"%s\"", date_cases[_i].s);
}
END_TEST

START_TEST(test_is_time)
{
	ck_assert_msg(schema_is_time(time_cases[_i].s) == time_cases[_i].ok, "time \"%s\"", time_cases[_i].s);
}
END_TEST

START_TEST(test_is_timestamp)
{
	ck_assert_msg(schema_is_timestamp(timestamp_cases[_i].s) == timestamp_cases[_i].ok,
		      "timestamp \"%s\"", timestamp_cases[_i].s);
}
END_TEST

START_TEST(test_is_null)
{
	ck_assert_int_eq(schema_is_date(NULL), 0);
	ck_assert_int_eq(schema_is_time(NULL), 0);
	ck_assert_int_eq(schema_is_timestamp(NULL), 0);
}
END_TEST

/* ---- lineio --------------------------------------------------------- */

static void pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

/* Reads one line and checks it, embedded bytes included. */
static void expect_line(struct lineio *l, const char *want, size_t want_len)
{
	size_t len = 0;
	char *s = lineio_read(l, &len, 2000);

	ck_assert_msg(s != NULL, "no line (errno %d)", errno);
	ck_assert_uint_eq(len, want_len);
	ck_assert(memcmp(s, want, want_len) == 0);
	ck_assert_int_eq(s[len], '\0');
	free(s);
}

START_TEST(test_lineio_roundtrip)
{
	int sv[2];

	pair(sv);
	ck_assert_int_eq(lineio_write(sv[0], "hello", 5), 0);
	ck_assert_int_eq(lineio_write(sv[0], "", 0), 0);
	ck_assert_int_eq(lineio_write(sv[0], "{\"a\":\"\xc3\xa9\"}", 10), 0);
	ck_assert_int_eq(lineio_write(sv[0], "a\0b", 3), 0);
	struct lineio *l = lineio_new(sv[1], 64);
	ck_assert_ptr_nonnull(l);
	expect_line(l, "hello", 5);
	expect_line(l, "", 0);
	expect_line(l, "{\"a\":\"\xc3\xa9\"}", 10);
	expect_line(l, "a\0b", 3);
	lineio_free(l);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_lineio_many_and_large)
{
	int sv[2];
	char text[32], many[500 * 10];
	size_t many_len = 0, big_len = 60000;
	char *big = malloc(big_len);

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', big_len);
	pair(sv);
	/* 500 lines in one write, so that reads see many per buffer (one
	 * send per line would fill the socket buffer with overhead). */
	for (int i = 0; i < 500; i++)
		many_len += (size_t)sprintf(many + many_len, "line %d\n", i);
	ck_assert_int_eq(write(sv[0], many, many_len), (ssize_t)many_len);
	ck_assert_int_eq(lineio_write(sv[0], big, big_len), 0);
	ck_assert_int_eq(lineio_write(sv[0], "end", 3), 0);
	struct lineio *l = lineio_new(sv[1], 65536);
	for (int i = 0; i < 500; i++) {
		int n = snprintf(text, sizeof text, "line %d", i);
		expect_line(l, text, (size_t)n);
	}
	expect_line(l, big, big_len);
	expect_line(l, "end", 3);
	lineio_free(l);
	free(big);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_lineio_too_long)
{
	int sv[2];
	char big[5000];
	size_t len;

	memset(big, 'y', sizeof big);
	pair(sv);
	ck_assert_int_eq(lineio_write(sv[0], "0123456789abcdef", 16), 0);   /* exactly max */
	ck_assert_int_eq(lineio_write(sv[0], "0123456789abcdefg", 17), 0);  /* one over */
	ck_assert_int_eq(lineio_write(sv[0], "next", 4), 0);
	ck_assert_int_eq(lineio_write(sv[0], big, sizeof big), 0);          /* spans reads */
	ck_assert_int_eq(lineio_write(sv[0], "last", 4), 0);
	struct lineio *l = lineio_new(sv[1], 16);
	expect_line(l, "0123456789abcdef", 16);
	errno = 0;
	ck_assert_ptr_null(lineio_read(l, &len, 2000));
	ck_assert_int_eq(errno, EMSGSIZE);
	/* The reader skips the rest of the over-long line and stays in step. */
	expect_line(l, "next", 4);
	ck_assert_ptr_null(lineio_read(l, &len, 2000));
	expect_line(l, "last", 4);
	lineio_free(l);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static int64_t elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (int64_t)(t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

START_TEST(test_lineio_timeout_and_eof)
{
	int sv[2];
	size_t len;
	struct timespec t0;

	pair(sv);
	struct lineio *l = lineio_new(sv[1], 64);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	errno = 0;
	ck_assert_ptr_null(lineio_read(l, &len, 100));
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_ge(elapsed_ms(&t0), 90);
	/* A partial line waits for its end; at EOF it is dropped. */
	ck_assert_int_eq(write(sv[0], "part", 4), 4);
	ck_assert_ptr_null(lineio_read(l, &len, 50));
	ck_assert_int_eq(write(sv[0], "ial\nrest", 8), 8);
	expect_line(l, "partial", 7);
	shutdown(sv[0], SHUT_WR);
	ck_assert_ptr_null(lineio_read(l, &len, 2000));
	ck_assert_ptr_null(lineio_read(l, &len, 0));
	lineio_free(l);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_lineio_write_errors)
{
	int sv[2], p[2];
	char buf[8];

	/* A vanished peer is an error, not a SIGPIPE. */
	pair(sv);
	close(sv[1]);
	errno = 0;
	ck_assert_int_eq(lineio_write(sv[0], "x", 1), -1);
	ck_assert_int_eq(errno, EPIPE);
	close(sv[0]);
	/* Not a socket: plain writes. */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(lineio_write(p[1], "abc", 3), 0);
	ck_assert_int_eq(read(p[0], buf, sizeof buf), 4);
	ck_assert(memcmp(buf, "abc\n", 4) == 0);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* Listens on a loopback address with an ephemeral port; -1 if the family
 * is unavailable here. */
static int listen_loopback(int family, int *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int fd = socket(family, SOCK_STREAM, 0);

	memset(&ss, 0, sizeof ss);
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
	else
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 4) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					 : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/* Connects through lineio_connect and exchanges a line both ways. */
static void connect_roundtrip(int lfd, const char *hostport)
{
	int fd = lineio_connect(hostport);

	ck_assert_msg(fd >= 0, "connect %s: %s", hostport, strerror(errno));
	int afd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(afd, 0);
	ck_assert_int_eq(lineio_write(fd, "ping", 4), 0);
	struct lineio *server = lineio_new(afd, 100), *client = lineio_new(fd, 100);
	expect_line(server, "ping", 4);
	ck_assert_int_eq(lineio_write(afd, "pong", 4), 0);
	expect_line(client, "pong", 4);
	lineio_free(server);
	lineio_free(client);
	close(afd);
	close(fd);
}

START_TEST(test_lineio_connect)
{
	char hp[64];
	int port;
	int lfd = listen_loopback(AF_INET, &port);

	ck_assert_int_ge(lfd, 0);
	snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
	connect_roundtrip(lfd, hp);
	close(lfd);
	/* Nothing listens there now. */
	ck_assert_int_eq(lineio_connect(hp), -1);

	lfd = listen_loopback(AF_INET6, &port);
	if (lfd < 0)
		return;  /* no IPv6 loopback in this environment */
	snprintf(hp, sizeof hp, "[::1]:%d", port);
	connect_roundtrip(lfd, hp);
	close(lfd);
}
END_TEST

static const char *const bad_hostports[] = {
	"", "127.0.0.1", "127.0.0.1:", ":7878", "127.0.0.1:0", "127.0.0.1:65536",
	"127.0.0.1:12a", "127.0.0.1:-1", "127.0.0.1:007878", "::1:7878", "[::1]", "[::1]7878",
	"[]:7878", "[::1:7878",
};

START_TEST(test_lineio_connect_bad)
{
	errno = 0;
	ck_assert_int_eq(lineio_connect(bad_hostports[_i]), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* ---- suite ---------------------------------------------------------- */

static Suite *protocol_suite(void)
{
	Suite *s = suite_create("protocol");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_loop_test(tc, test_parse_table, 0, NELEM(parse_cases));
	tcase_add_test(tc, test_parse_values);
	tcase_add_test(tc, test_parse_depth);
	tcase_add_test(tc, test_parse_depth_small_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("check_request");
	tcase_add_loop_test(tc, test_check_request_table, 0, NELEM(req_cases));
	tcase_add_test(tc, test_check_request_fields);
	suite_add_tcase(s, tc);

	tc = tcase_create("writers");
	tcase_add_test(tc, test_write_result);
	tcase_add_test(tc, test_write_result_raw);
	tcase_add_test(tc, test_write_error);
	tcase_add_test(tc, test_write_error_reason);
	tcase_add_test(tc, test_write_error_params);
	tcase_add_test(tc, test_write_request);
	suite_add_tcase(s, tc);

	tc = tcase_create("reasons");
	tcase_add_test(tc, test_reasons_table);
	tcase_add_test(tc, test_reasons_lookup);
	suite_add_tcase(s, tc);

	tc = tcase_create("schema");
	tcase_add_loop_test(tc, test_schema_table, 0, NELEM(schema_cases));
	tcase_add_test(tc, test_schema_edges);
	tcase_add_test(tc, test_schema_enum_truncated);
	tcase_add_test(tc, test_schema_depth_and_long_path);
	tcase_add_loop_test(tc, test_schema_get_int64, 0, NELEM(int_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("syntax");
	tcase_add_loop_test(tc, test_is_date, 0, NELEM(date_cases));
	tcase_add_loop_test(tc, test_is_time, 0, NELEM(time_cases));
	tcase_add_loop_test(tc, test_is_timestamp, 0, NELEM(timestamp_cases));
	tcase_add_test(tc, test_is_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("lineio");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_lineio_roundtrip);
	tcase_add_test(tc, test_lineio_many_and_large);
	tcase_add_test(tc, test_lineio_too_long);
	tcase_add_test(tc, test_lineio_timeout_and_eof);
	tcase_add_test(tc, test_lineio_write_errors);
	tcase_add_test(tc, test_lineio_connect);
	tcase_add_loop_test(tc, test_lineio_connect_bad, 0, NELEM(bad_hostports));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(protocol_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
