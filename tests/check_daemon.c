/*
 * The daemon end to end: a real respited on real sockets against a private
 * PostgreSQL. One daemon serves most tests; tests that restart things start
 * their own.
 */
#include "harness.h"
#include "method.h"

#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *db;
static struct h_daemon daemon_main;

static const char *const fast_limits[] = {
	"--set", "line_timeout_ms=400", "--set", "max_line_bytes=65536",
	"--set", "max_batch=50", "--set", "max_depth=16", NULL
};

static json_object *call(struct h_client *c, const char *method, const char *params)
{
	json_object *r = h_call(c, method, params);
	ck_assert_msg(r != NULL, "no answer to %s", method);
	return r;
}

static uint64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the protocol ---- */

START_TEST(ping_over_tcp)
{
	struct h_client *c = h_connect(&daemon_main);
	json_object *r = call(c, "system.ping", "{\"echo\":\"hi\"}");
	ck_assert(json_object_get_boolean(h_get(r, "result.pong")));
	ck_assert_str_eq(json_object_get_string(h_get(r, "result.echo")), "hi");
	ck_assert_int_eq(json_object_get_int(h_get(r, "id")), 1);
	json_object_put(r);
	h_close(c);
}
END_TEST

START_TEST(garbage_gets_parse_error_and_others_are_served)
{
	struct h_client *bad = h_connect(&daemon_main), *good = h_connect(&daemon_main);
	h_send_raw(bad, "{not json at all\n", 17);
	char *line = h_read_line(bad, 5000);
	ck_assert_ptr_nonnull(line);
	ck_assert_ptr_nonnull(strstr(line, "-32700"));
	ck_assert_ptr_nonnull(strstr(line, "\"id\":null"));
	free(line);
	json_object *r = call(good, "system.ping", NULL);
	ck_assert_ptr_nonnull(h_result(r));
	json_object_put(r);
	/* the bad connection is still usable after a parse error */
	r = call(bad, "system.ping", NULL);
	ck_assert_ptr_nonnull(h_result(r));
	json_object_put(r);
	h_close(bad);
	h_close(good);
}
END_TEST

/* Each malformed message and the error code it must get. */
static const struct { const char *msg; int code; } bad_inputs[] = {
	{ "[1,2", -32700 },
	{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"system.ping\"} trailing", -32700 },
	{ "\"\xff\xfe\"", -32700 },                                  /* invalid UTF-8 */
	{ "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", -32700 }, /* too deep */
	{ "42", -32600 },
	{ "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"system.ping\"}", -32600 },
	{ "{\"jsonrpc\":\"2.0\",\"id\":1}", -32600 },
	{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", -32600 },
	{ "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"system.ping\"}", -32600 },
	{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"system.ping\",\"extra\":1}", -32600 },
	{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"no.such\"}", -32601 },
	{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"system.ping\",\"params\":[1]}", -32602 },
	{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"system.ping\",\"params\":{\"echo\":5}}", -32602 },
	{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"system.ping\",\"params\":{\"nope\":1}}", -32602 },
	{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"session.login\",\"params\":{\"username\":\"x\"}}", -32602 },
	{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"session.login\",\"params\":{\"username\":\"x\",\"password\":\"y\",\"idempotency_key\":\"k\"}}", -32602 },
	{ "[]", -32600 },
	{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"session.whoami\"}", -32001 },
};

START_TEST(bad_input_table)
{
	struct h_client *c = h_connect(&daemon_main);
	char want[32];
	h_send_raw(c, bad_inputs[_i].msg, strlen(bad_inputs[_i].msg));
	h_send_raw(c, "\n", 1);
	char *line = h_read_line(c, 5000);
	ck_assert_msg(line != NULL, "no answer to %s", bad_inputs[_i].msg);
	snprintf(want, sizeof(want), "\"code\":%d", bad_inputs[_i].code);
	ck_assert_msg(strstr(line, want) != NULL, "%s -> %s (wanted %s)", bad_inputs[_i].msg, line, want);
	free(line);
	/* nothing else happened: the connection still answers */
	json_object *r = call(c, "system.ping", NULL);
	ck_assert_ptr_nonnull(h_result(r));
	json_object_put(r);
	h_close(c);
}
END_TEST

START_TEST(invalid_params_name_the_field)
{
	struct h_client *c = h_connect(&daemon_main);
	json_object *r = call(c, "session.login", "{\"username\":\"\",\"password\":\"p\"}");
	ck_assert_int_eq(h_code(r), -32602);
	ck_assert_str_eq(json_object_get_string(h_get(r, "error.data.field")), "username");
	json_object_put(r);
	h_close(c);
}
END_TEST

START_TEST(notifications_get_no_answer)
{
	struct h_client *c = h_connect(&daemon_main);
	const char *msgs = "{\"jsonrpc\":\"2.0\",\"method\":\"system.ping\"}\n"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"no.such\"}\n"
			   "{\"jsonrpc\":\"2.0\",\"id\":\"after\",\"method\":\"system.ping\"}\n";
	h_send_raw(c, msgs, strlen(msgs));
	char *line = h_read_line(c, 5000);
	ck_assert_ptr_nonnull(line);
	ck_assert_ptr_nonnull(strstr(line, "\"id\":\"after\""));
	free(line);
	h_close(c);
}
END_TEST

START_TEST(batch_answers_in_order)
{
	struct h_client *c = h_connect(&daemon_main);
	const char *batch =
		"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"system.ping\"},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"system.ping\"},"
		"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"no.such\"},"
		"5,"
		"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"system.version\"}]\n";
	h_send_raw(c, batch, strlen(batch));
	char *line = h_read_line(c, 5000);
	json_object *r = json_tokener_parse(line);
	ck_assert(json_object_is_type(r, json_type_array));
	ck_assert_int_eq((int)json_object_array_length(r), 4);
	ck_assert_int_eq(json_object_get_int(h_get(r, "0.id")), 1);
	ck_assert_int_eq(json_object_get_int(h_get(r, "1.error.code")), -32601);
	ck_assert_int_eq(json_object_get_int(h_get(r, "2.error.code")), -32600);
	ck_assert_str_eq(json_object_get_string(h_get(r, "3.result.name")), "respited");
	json_object_put(r);
	free(line);
	h_close(c);
}
END_TEST

START_TEST(batch_too_large_is_refused)
{
	struct h_client *c = h_connect(&daemon_main);
	char *msg = malloc(51 * 64 + 8), *w = msg;
	*w++ = '[';
	for (int i = 0; i < 51; i++)
		w += sprintf(w, "%s{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"system.ping\"}", i ? "," : "", i);
	strcpy(w, "]\n");
	h_send_raw(c, msg, strlen(msg));
	char *line = h_read_line(c, 5000);
	ck_assert_ptr_nonnull(strstr(line, "-32600"));
	free(line);
	free(msg);
	h_close(c);
}
END_TEST

/* Thousands of calls written at once come back complete and in order. */
START_TEST(pipelining_thousands)
{
	enum { N = 5000 };
	struct h_client *c = h_connect(&daemon_main);
	size_t cap = (size_t)N * 80;
	char *buf = malloc(cap), *w = buf;
	for (int i = 0; i < N; i++)
		w += sprintf(w, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"system.ping\"}\n", i);
	h_send_raw(c, buf, (size_t)(w - buf));
	for (int i = 0; i < N; i++) {
		char *line = h_read_line(c, 10000);
		ck_assert_msg(line != NULL, "answer %d missing", i);
		json_object *r = json_tokener_parse(line);
		ck_assert_int_eq(json_object_get_int(h_get(r, "id")), i);
		json_object_put(r);
		free(line);
	}
	free(buf);
	h_close(c);
}
END_TEST

START_TEST(overlong_line_error_then_close)
{
	struct h_client *c = h_connect(&daemon_main), *other = h_connect(&daemon_main);
	size_t n = 70000;
	char *big = malloc(n + 1);
	memset(big, 'x', n);
	big[n] = '\n';
	h_send_raw(c, big, n + 1);
	char *line = h_read_line(c, 5000);
	ck_assert_ptr_nonnull(line);
	ck_assert_ptr_nonnull(strstr(line, "line too long"));
	free(line);
	ck_assert_ptr_null(h_read_line(c, 3000)); /* closed */
	json_object *r = call(other, "system.ping", NULL);
	ck_assert_ptr_nonnull(h_result(r));
	json_object_put(r);
	free(big);
	h_close(c);
	h_close(other);
}
END_TEST

START_TEST(unfinished_line_is_cut_off)
{
	struct h_client *c = h_connect(&daemon_main);
	h_send_raw(c, "{\"jsonrpc\":", 11);
	uint64_t t0 = ms_now();
	ck_assert_ptr_null(h_read_line(c, 5000));
	ck_assert_msg(ms_now() - t0 < 4000, "slow client kept for %llu ms",
		      (unsigned long long)(ms_now() - t0));
	h_close(c);
}
END_TEST

/* A client that never reads its answers fills its own buffers only. */
START_TEST(client_that_never_reads)
{
	struct h_client *hog = h_connect(&daemon_main), *other = h_connect(&daemon_main);
	char line[128];
	int len = snprintf(line, sizeof(line),
			   "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"system.ping\",\"params\":{\"echo\":\"%s\"}}\n",
			   "0123456789012345678901234567890123456789");
	/* write without reading until the kernel buffers fill up */
	int fd = h_fd(hog);
	for (int i = 0; i < 400000; i++) {
		struct pollfd p = { fd, POLLOUT, 0 };
		if (poll(&p, 1, 200) <= 0)
			break;
		if (write(fd, line, (size_t)len) <= 0)
			break;
	}
	uint64_t t0 = ms_now();
	json_object *r = call(other, "system.ping", NULL);
	ck_assert_ptr_nonnull(h_result(r));
	ck_assert_msg(ms_now() - t0 < 1000, "other client waited %llu ms",
		      (unsigned long long)(ms_now() - t0));
	json_object_put(r);
	h_close(hog);
	h_close(other);
}
END_TEST

/* ---- sessions and roles ---- */

START_TEST(login_whoami_logout)
{
	struct h_client *c = h_connect(&daemon_main);
	const char *token = h_login(c, "carol", "carer-pass");
	ck_assert_ptr_nonnull(token);
	ck_assert_int_eq((int)strlen(token), 64);
	json_object *r = call(c, "session.whoami", NULL);
	ck_assert_str_eq(json_object_get_string(h_get(r, "result.role")), "carer");
	ck_assert_str_eq(json_object_get_string(h_get(r, "result.username")), "carol");
	json_object_put(r);
	r = call(c, "session.logout", NULL);
	ck_assert_ptr_nonnull(h_result(r));
	json_object_put(r);
	r = call(c, "session.whoami", NULL);
	ck_assert_str_eq(h_reason(r), "unauthorized");
	json_object_put(r);
	h_close(c);
}
END_TEST

START_TEST(login_pipelined_with_next_call)
{
	/* The call after a login, sent before its answer, runs as the new user. */
	struct h_client *c = h_connect(&daemon_main);
	const char *two =
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"session.login\",\"params\":{\"username\":\"carol\",\"password\":\"carer-pass\"}}\n"
		"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"session.whoami\"}\n";
	h_send_raw(c, two, strlen(two));
	char *a = h_read_line(c, 5000), *b = h_read_line(c, 5000);
	ck_assert_ptr_nonnull(strstr(a, "\"token\""));
	json_object *r = json_tokener_parse(b);
	ck_assert_str_eq(json_object_get_string(h_get(r, "result.username")), "carol");
	json_object_put(r);
	free(a);
	free(b);
	h_close(c);
}
END_TEST

START_TEST(bad_password_and_unknown_user)
{
	struct h_client *c = h_connect(&daemon_main);
	json_object *r = call(c, "session.login", "{\"username\":\"carol\",\"password\":\"wrong\"}");
	ck_assert_str_eq(h_reason(r), "bad_credentials");
	json_object_put(r);
	r = call(c, "session.login", "{\"username\":\"nobody\",\"password\":\"wrong\"}");
	ck_assert_str_eq(h_reason(r), "bad_credentials");
	json_object_put(r);
	h_close(c);
}
END_TEST

/* After login_max_failures the next attempt waits, the right password
 * too (tests/check_login covers the throttles in full). */
START_TEST(throttled_after_failures)
{
	struct h_client *c = h_connect(&daemon_main);
	json_object *r;
	for (int i = 0; i < 5; i++)
		json_object_put(call(c, "session.login", "{\"username\":\"locky\",\"password\":\"no\"}"));
	r = call(c, "session.login", "{\"username\":\"locky\",\"password\":\"locky-pass\"}");
	ck_assert_str_eq(h_reason(r), "throttled");
	ck_assert_int_ge(json_object_get_int(h_get(r, "error.data.retry_after_s")), 1);
	json_object_put(r);
	h_close(c);
}
END_TEST

START_TEST(token_resume_on_new_connection)
{
	struct h_client *a = h_connect(&daemon_main), *b = h_connect(&daemon_main);
	char params[128];
	snprintf(params, sizeof(params), "{\"token\":\"%s\"}", h_login(a, "adam", "admin-pass"));
	json_object *r = call(b, "session.resume", params);
	ck_assert_str_eq(json_object_get_string(h_get(r, "result.role")), "admin");
	json_object_put(r);
	r = call(b, "session.resume", "{\"token\":\"0000000000000000000000000000000000000000000000000000000000000000\"}");
	ck_assert_str_eq(h_reason(r), "unauthorized");
	json_object_put(r);
	h_close(a);
	h_close(b);
}
END_TEST

START_TEST(roles_are_enforced)
{
	struct h_client *c = h_connect(&daemon_main);
	h_login(c, "carol", "carer-pass");
	json_object *r = call(c, "system.config", NULL);
	ck_assert_str_eq(h_reason(r), "forbidden");
	json_object_put(r);
	h_close(c);
	c = h_connect(&daemon_main);
	h_login(c, "adam", "admin-pass");
	r = call(c, "system.config", NULL);
	ck_assert_int_eq(json_object_get_int(h_get(r, "result.max_batch")), 50);
	ck_assert_ptr_null(strstr(json_object_to_json_string(r), "admin-pass"));
	json_object_put(r);
	h_close(c);
}
END_TEST

/* An admin's system.methods is the whole method table, in its order
 * (tests/check_gate.c checks the table against PROTOCOL.md). */
START_TEST(system_methods_lists_the_table)
{
	struct h_client *c = h_connect(&daemon_main);
	h_login(c, "adam", "admin-pass");
	json_object *r = call(c, "system.methods", NULL);
	json_object *list = h_get(r, "result.methods");
	ck_assert_ptr_nonnull(list);
	ck_assert_int_eq((int)json_object_array_length(list), method_count());
	for (int i = 0; i < method_count(); i++) {
		const char *name = json_object_get_string(h_get(json_object_array_get_idx(list, (size_t)i), "name"));
		ck_assert_str_eq(name, method_at(i)->name);
	}
	json_object_put(r);
	h_close(c);
}
END_TEST

/* ---- HTTP ---- */

START_TEST(http_rpc_with_bearer_token)
{
	struct h_client *c = h_connect(&daemon_main);
	char token[80], *body = NULL;
	snprintf(token, sizeof(token), "%s", h_login(c, "carol", "carer-pass"));
	int st = h_http(&daemon_main, "POST", "/rpc", token,
			"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"session.whoami\"}", &body);
	ck_assert_int_eq(st, 200);
	json_object *r = json_tokener_parse(body);
	ck_assert_str_eq(json_object_get_string(h_get(r, "result.username")), "carol");
	ck_assert_int_eq(json_object_get_int(h_get(r, "id")), 9);
	json_object_put(r);
	free(body);
	st = h_http(&daemon_main, "POST", "/rpc", NULL,
		    "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"session.whoami\"}", &body);
	ck_assert_ptr_nonnull(strstr(body, "unauthorized"));
	free(body);
	st = h_http(&daemon_main, "POST", "/rpc", NULL, "{oops", &body);
	ck_assert_ptr_nonnull(strstr(body, "-32700"));
	free(body);
	h_close(c);
}
END_TEST

START_TEST(http_health_metrics_static)
{
	char *body = NULL;
	ck_assert_int_eq(h_http(&daemon_main, "GET", "/healthz", NULL, NULL, &body), 200);
	ck_assert_ptr_nonnull(strstr(body, "\"database\":\"up\""));
	free(body);
	ck_assert_int_eq(h_http(&daemon_main, "GET", "/metrics", NULL, NULL, &body), 200);
	ck_assert_ptr_nonnull(strstr(body, "respited_requests_total{method=\"system.ping\"}"));
	ck_assert_ptr_nonnull(strstr(body, "respited_db_connections{state=\"ready\"}"));
	free(body);
	ck_assert_int_eq(h_http(&daemon_main, "GET", "/", NULL, NULL, &body), 200);
	ck_assert_ptr_nonnull(strstr(body, "<html"));
	free(body);
	ck_assert_int_eq(h_http(&daemon_main, "GET", "/../../etc/passwd", NULL, NULL, &body), 404);
	free(body);
	ck_assert_int_eq(h_http(&daemon_main, "GET", "/rpc", NULL, NULL, &body), 405);
	free(body);
}
END_TEST

/* ---- lifecycle: each starts its own daemon ---- */

START_TEST(postgres_restart_is_survived)
{
	struct h_daemon d;
	const char *const extra[] = { "--set", "db_reconnect_max_ms=300", NULL };
	ck_assert_int_eq(h_daemon_start(&d, db, extra), 0);
	struct h_client *c = h_connect(&d);
	ck_assert_ptr_nonnull(h_login(c, "carol", "carer-pass"));
	h_pg_ctl("stop");
	uint64_t t0 = ms_now();
	json_object *r = call(c, "session.login", "{\"username\":\"carol\",\"password\":\"carer-pass\"}");
	ck_assert_str_eq(h_reason(r), "unavailable");
	ck_assert_msg(ms_now() - t0 < 2000, "unavailable took %llu ms", (unsigned long long)(ms_now() - t0));
	json_object_put(r);
	char *body = NULL;
	ck_assert_int_eq(h_http(&d, "GET", "/healthz", NULL, NULL, &body), 503);
	free(body);
	r = call(c, "system.ping", NULL); /* the daemon itself still answers */
	ck_assert_ptr_nonnull(h_result(r));
	json_object_put(r);
	h_pg_ctl("start");
	const char *token = NULL;
	for (int i = 0; i < 100 && !token; i++) {
		usleep(100000);
		token = h_login(c, "carol", "carer-pass");
	}
	ck_assert_msg(token != NULL, "service did not resume after PostgreSQL came back");
	h_close(c);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
}
END_TEST

START_TEST(sighup_reload_keeps_connections)
{
	struct h_daemon d;
	char path[] = "/tmp/respited-test-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	dprintf(fd, "max_batch = 50\n");
	close(fd);
	const char *const extra[] = { "--config", path, NULL };
	ck_assert_int_eq(h_daemon_start(&d, db, extra), 0);
	struct h_client *c = h_connect(&d);
	h_login(c, "adam", "admin-pass");
	fd = open(path, O_WRONLY | O_TRUNC);
	dprintf(fd, "max_batch = 7\nlisten = 127.0.0.1:1\n");
	close(fd);
	kill(d.pid, SIGHUP);
	usleep(300000);
	json_object *r = call(c, "system.config", NULL);
	ck_assert_int_eq(json_object_get_int(h_get(r, "result.max_batch")), 7);
	/* listen needs a restart: the running value stays */
	ck_assert_str_eq(json_object_get_string(h_get(r, "result.listen")), d.rpc_addr);
	json_object_put(r);
	/* a broken file is refused whole and changes nothing */
	fd = open(path, O_WRONLY | O_TRUNC);
	dprintf(fd, "max_batch = lots\n");
	close(fd);
	kill(d.pid, SIGHUP);
	usleep(300000);
	r = call(c, "system.config", NULL);
	ck_assert_int_eq(json_object_get_int(h_get(r, "result.max_batch")), 7);
	json_object_put(r);
	h_close(c);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
	unlink(path);
}
END_TEST

START_TEST(failed_migration_refuses_to_start)
{
	char dir[] = "/tmp/respited-sql-XXXXXX", cmd[1024];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "cp -R %s/sql/schema %s/sql/api %s/ && printf 'CREATE TABLE half_done (x int);\\nSELECT broken syntax here;\\n' > %s/schema/999_broken.sql",
		 getenv("RESPITE_SRCDIR"), getenv("RESPITE_SRCDIR"), dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	struct h_daemon d;
	char sqldir[300];
	snprintf(sqldir, sizeof(sqldir), "%s", dir);
	const char *const extra[] = { "--sql-dir", sqldir, NULL };
	ck_assert_int_ne(h_daemon_start(&d, db, extra), 0);
	char *v = h_sql_value(db, "SELECT count(*) FROM pg_tables WHERE tablename = 'half_done'");
	ck_assert_str_eq(v, "0");
	free(v);
	v = h_sql_value(db, "SELECT count(*) FROM schema_migration WHERE name = '999_broken.sql'");
	ck_assert_str_eq(v, "0");
	free(v);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* Starts a daemon with extra args whose stderr (its log) goes to path. */
static int start_logging_to(struct h_daemon *d, const char *path, const char *const *extra)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int saved = dup(2);
	ck_assert(fd >= 0 && saved >= 0);
	dup2(fd, 2);
	int rc = h_daemon_start(d, db, extra);
	dup2(saved, 2);
	close(saved);
	close(fd);
	return rc;
}

/* One request, one thread in the logs: every line about it names the
 * connection, the request and the method. */
START_TEST(request_logs_name_conn_req_method)
{
	char path[] = "/tmp/respited-log-XXXXXX", want[256];
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	struct h_daemon d;
	const char *const extra[] = { "--log-level", "debug", NULL };
	ck_assert_int_eq(start_logging_to(&d, path, extra), 0);
	struct h_client *c = h_connect(&d);
	ck_assert_ptr_nonnull(h_login(c, "carol", "carer-pass"));
	json_object_put(call(c, "system.ping", NULL));
	h_close(c);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
	FILE *f = fopen(path, "r");
	static char log[1 << 20];
	size_t n = fread(log, 1, sizeof(log) - 1, f);
	log[n] = '\0';
	fclose(f);
	unlink(path);
	const char *login = strstr(log, "event=login conn=");
	ck_assert_msg(login != NULL, "no login in:\n%s", log);
	unsigned long long conn = strtoull(login + strlen("event=login conn="), NULL, 10);
	ck_assert_ptr_nonnull(strstr(login, " req=1 method=session.login user_id="));
	snprintf(want, sizeof(want), "event=conn_open conn=%llu ", conn);
	ck_assert_msg(strstr(log, want) != NULL, "'%s' not in:\n%s", want, log);
	snprintf(want, sizeof(want), "event=request conn=%llu req=1 method=session.login ", conn);
	ck_assert_msg(strstr(log, want) != NULL, "'%s' not in:\n%s", want, log);
	snprintf(want, sizeof(want), "event=request conn=%llu req=2 method=system.ping ", conn);
	ck_assert_msg(strstr(log, want) != NULL, "'%s' not in:\n%s", want, log);
}
END_TEST

START_TEST(sigterm_exits_cleanly)
{
	struct h_daemon d;
	ck_assert_int_eq(h_daemon_start(&d, db, NULL), 0);
	struct h_client *c = h_connect(&d);
	json_object_put(call(c, "system.ping", NULL));
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
	h_close(c);
}
END_TEST

static Suite *daemon_suite(void)
{
	Suite *s = suite_create("daemon");
	TCase *proto = tcase_create("protocol");
	tcase_set_timeout(proto, 60);
	tcase_add_test(proto, ping_over_tcp);
	tcase_add_test(proto, garbage_gets_parse_error_and_others_are_served);
	tcase_add_loop_test(proto, bad_input_table, 0, (int)(sizeof(bad_inputs) / sizeof(bad_inputs[0])));
	tcase_add_test(proto, invalid_params_name_the_field);
	tcase_add_test(proto, notifications_get_no_answer);
	tcase_add_test(proto, batch_answers_in_order);
	tcase_add_test(proto, batch_too_large_is_refused);
	tcase_add_test(proto, pipelining_thousands);
	tcase_add_test(proto, overlong_line_error_then_close);
	tcase_add_test(proto, unfinished_line_is_cut_off);
	tcase_add_test(proto, client_that_never_reads);
	suite_add_tcase(s, proto);
	TCase *sess = tcase_create("sessions");
	tcase_set_timeout(sess, 60);
	tcase_add_test(sess, login_whoami_logout);
	tcase_add_test(sess, login_pipelined_with_next_call);
	tcase_add_test(sess, bad_password_and_unknown_user);
	tcase_add_test(sess, throttled_after_failures);
	tcase_add_test(sess, token_resume_on_new_connection);
	tcase_add_test(sess, roles_are_enforced);
	tcase_add_test(sess, system_methods_lists_the_table);
	tcase_add_test(sess, http_rpc_with_bearer_token);
	tcase_add_test(sess, http_health_metrics_static);
	suite_add_tcase(s, sess);
	TCase *life = tcase_create("lifecycle");
	tcase_set_timeout(life, 120);
	tcase_add_test(life, sighup_reload_keeps_connections);
	tcase_add_test(life, failed_migration_refuses_to_start);
	tcase_add_test(life, sigterm_exits_cleanly);
	tcase_add_test(life, request_logs_name_conn_req_method);
	tcase_add_test(life, postgres_restart_is_survived);
	suite_add_tcase(s, life);
	return s;
}

int main(void)
{
	h_require_postgres();
	db = h_db_create("daemon");
	if (h_daemon_start(&daemon_main, db, fast_limits) != 0) {
		fprintf(stderr, "respited did not start\n");
		return 99;
	}
	h_add_user(db, "carol", "carer", "carer-pass", "E09000001");
	h_add_user(db, "adam", "admin", "admin-pass", NULL);
	h_add_user(db, "locky", "carer", "locky-pass", "E09000001");
	SRunner *sr = srunner_create(daemon_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	h_daemon_stop(&daemon_main, SIGTERM);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
