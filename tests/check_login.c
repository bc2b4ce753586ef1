/*
 * The login path against a real daemon and PostgreSQL: the throttles
 * (claimed before hashing, so guesses in flight count; keyed by the name
 * as typed and the source address; decaying), the bounds on logins in
 * progress, the turns the hashing threads take between sources, and
 * answers that do not tell whether an account exists.
 *
 * Mechanisms are checked by what the daemon counts (/metrics: hashes run,
 * refusals) and by the order of answers, not by how long anything took.
 * Sources are loopback addresses (127.0.0.x): the client socket is bound
 * to one before it connects. Every test starts with no throttle state.
 */
#include "harness.h"

#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PW "right-pass"

static const char *db;
/* dflt: the default limits (only hashing made cheap). wide: logins in
 * progress unbounded, so that a batch or a crowd reaches the throttles.
 * slow: dear hashes, one thread, a small queue. rr: dear hashes, one
 * thread, no bounds: a queue to take turns in. fast: decay in seconds. */
static struct h_daemon dflt, wide, slow, rr, fast;

static const char *const dflt_args[] = { "--set", "kdf_iterations=10000", NULL };
static const char *const wide_args[] = {
	"--set", "kdf_iterations=10000", "--set", "login_queue_per_conn=1000",
	"--set", "login_queue_per_source=1000", "--set", "login_queue_max=1000", NULL
};
static const char *const slow_args[] = {
	"--set", "kdf_iterations=300000", "--set", "kdf_threads=1", "--set", "login_queue_max=10", NULL
};
static const char *const rr_args[] = {
	"--set", "kdf_iterations=150000", "--set", "kdf_threads=1", "--set", "login_queue_per_conn=1000",
	"--set", "login_queue_per_source=1000", "--set", "login_queue_max=1000", NULL
};
static const char *const fast_args[] = {
	"--set", "kdf_iterations=10000", "--set", "login_max_failures=3",
	"--set", "login_failure_decay_s=1", "--set", "login_delay_s=1", "--set", "login_lockout_s=2", NULL
};

/* ---- helpers ---- */

static struct h_client *from(const struct h_daemon *d, const char *ip)
{
	struct h_client *c = h_connect_from(d, ip);
	ck_assert_msg(c != NULL, "cannot connect from %s", ip);
	return c;
}

static json_object *login(struct h_client *c, const char *user, const char *password)
{
	char params[256];
	snprintf(params, sizeof(params), "{\"username\":\"%s\",\"password\":\"%s\"}", user, password);
	json_object *r = h_call(c, "session.login", params);
	ck_assert_msg(r != NULL, "no answer to the login of %s", user);
	return r;
}

/* "ok", or the refusal's reason. */
static const char *outcome(json_object *r)
{
	const char *why = h_reason(r);
	return h_result(r) ? "ok" : why ? why : "?";
}

static void expect_login(struct h_client *c, const char *user, const char *password,
			 const char *want)
{
	json_object *r = login(c, user, password);
	ck_assert_msg(strcmp(outcome(r), want) == 0, "login %s/%s: expected %s, got %s", user,
		      password, want, json_object_to_json_string(r));
	json_object_put(r);
}

/* One series of GET /metrics ("respited_login_hashes_total",
 * "respited_throttled_total{scope=\"login_addr\"}"); -1 when absent. */
static double metric(const struct h_daemon *d, const char *series)
{
	char *body = NULL, head[256];
	double v = -1;
	ck_assert_int_eq(h_http(d, "GET", "/metrics", NULL, NULL, &body), 200);
	snprintf(head, sizeof(head), "\n%s ", series);
	const char *p = strstr(body, head);
	if (p)
		v = atof(p + strlen(head));
	free(body);
	return v;
}

static double hashes(const struct h_daemon *d) { return metric(d, "respited_login_hashes_total"); }

/* A line holding a batch of n logins as `user` (numbered: user0,
 * user1...), with a wrong password except for call right_at. */
static char *batch_line(int n, const char *user, int numbered, int right_at)
{
	size_t cap = (size_t)n * 200 + 16, len = 0;
	char *line = malloc(cap), name[96];
	line[len++] = '[';
	for (int i = 0; i < n; i++) {
		if (numbered)
			snprintf(name, sizeof(name), "%s%d", user, i);
		else
			snprintf(name, sizeof(name), "%s", user);
		len += (size_t)snprintf(line + len, cap - len,
					"%s{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"session.login\","
					"\"params\":{\"username\":\"%s\",\"password\":\"%s\"}}",
					i ? "," : "", i, name, i == right_at ? PW : "wrong");
	}
	snprintf(line + len, cap - len, "]\n");
	return line;
}

/* Reads the answer of a batch line; caller puts. */
static json_object *read_batch(struct h_client *c)
{
	char *line = h_read_line(c, 60000);
	ck_assert_msg(line != NULL, "no answer to the batch");
	json_object *a = json_tokener_parse(line);
	free(line);
	ck_assert(a && json_object_is_type(a, json_type_array));
	return a;
}

/* How many answers of the array had `want` as outcome. */
static int count_outcome(json_object *answers, const char *want)
{
	int n = 0;
	for (size_t i = 0; i < json_object_array_length(answers); i++)
		n += strcmp(outcome(json_object_array_get_idx(answers, i)), want) == 0;
	return n;
}

/* Asserts how many answers had `want` as outcome, showing them all if not. */
static void expect_count(json_object *answers, const char *want, int n)
{
	int got = count_outcome(answers, want);
	ck_assert_msg(got == n, "%d answers %s, expected %d: %.3000s", got, want, n,
		      json_object_to_json_string(answers));
}

/* Every throttled answer says when to come back. */
static void expect_retry_after(json_object *r)
{
	if (strcmp(outcome(r), "throttled") != 0)
		return;
	json_object *w = h_get(r, "error.data.retry_after_s");
	ck_assert_msg(w && json_object_get_int(w) >= 1, "no retry_after_s in %s",
		      json_object_to_json_string(r));
}

static void no_throttles(void)
{
	h_sql(db, "DO $$ BEGIN IF to_regclass('auth_throttle') IS NOT NULL THEN "
		  "TRUNCATE auth_throttle; END IF; END $$");
}

static int readable(struct h_client *c)
{
	struct pollfd p = { h_fd(c), POLLIN, 0 };
	return poll(&p, 1, 0) > 0;
}

/* ---- guesses in flight count ---- */

/* The attack: one line, 49 wrong passwords then the right one.
 * Each login claims its attempt before it is hashed, so the limit is
 * reached while the others are still waiting: five are hashed (and
 * wrong), the rest, the right one among them, are refused unhashed. */
START_TEST(batch_of_49_wrong_then_the_right_one)
{
	struct h_client *c = from(&wide, "127.0.0.21");
	double h0 = hashes(&wide);
	char *line = batch_line(50, "victim", 0, 49);
	h_send_raw(c, line, strlen(line));
	free(line);
	json_object *a = read_batch(c);
	ck_assert_int_eq((int)json_object_array_length(a), 50);
	ck_assert_str_ne(outcome(json_object_array_get_idx(a, 49)), "ok");
	expect_count(a, "ok", 0);
	expect_count(a, "bad_credentials", 5);
	expect_count(a, "throttled", 45);
	for (int i = 0; i < 50; i++)
		expect_retry_after(json_object_array_get_idx(a, i));
	ck_assert_int_eq((int)(hashes(&wide) - h0), 5);
	json_object_put(a);
	h_close(c);
}
END_TEST

/* The same with 40 connections sent at once, 39 wrong and the right one
 * last: at most login_max_failures wrong ones are hashed. Which ones is
 * a race: the right one may be claimed among the first five (a login
 * within the limit: it then takes back its own claim, and one more wrong
 * one gets its turn), but never once five wrong ones are counted. */
START_TEST(forty_connections_at_once)
{
	enum { N = 40 };
	struct h_client *c[N];
	double h0 = hashes(&wide);
	for (int i = 0; i < N; i++)
		c[i] = from(&wide, "127.0.0.22");
	for (int i = 0; i < N; i++) {
		char msg[256];
		snprintf(msg, sizeof(msg),
			 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"session.login\",\"params\":"
			 "{\"username\":\"victim\",\"password\":\"%s\"}}\n",
			 i == N - 1 ? PW : "wrong");
		h_send_raw(c[i], msg, strlen(msg));
	}
	int bad = 0, ok = 0, throttled = 0;
	for (int i = 0; i < N; i++) {
		char *line = h_read_line(c[i], 60000);
		ck_assert_ptr_nonnull(line);
		json_object *r = json_tokener_parse(line);
		free(line);
		const char *o = outcome(r);
		throttled += strcmp(o, "throttled") == 0;
		bad += strcmp(o, "bad_credentials") == 0;
		ok += strcmp(o, "ok") == 0;
		json_object_put(r);
		h_close(c[i]);
	}
	ck_assert_int_le(bad, 5);
	ck_assert_int_le(ok, 1);
	ck_assert_int_ge(bad + ok, 5);
	ck_assert_int_eq(bad + ok + throttled, N);
	ck_assert_int_eq((int)(hashes(&wide) - h0), bad + ok);
}
END_TEST

/* Throttle state is in PostgreSQL: two daemons count the same guesses. */
START_TEST(daemons_share_the_count)
{
	struct h_client *a = from(&dflt, "127.0.0.23"), *b = from(&wide, "127.0.0.23");
	for (int i = 0; i < 3; i++)
		expect_login(a, "victim", "wrong", "bad_credentials");
	expect_login(b, "victim", "wrong", "bad_credentials");
	expect_login(b, "victim", "wrong", "bad_credentials");
	expect_login(a, "victim", PW, "throttled");
	h_close(a);
	h_close(b);
}
END_TEST

/* ---- by account, by address ---- */

/*
 * One address's guesses do not shut the account for everyone else. The
 * design: the tight limit (login_max_failures) is on this name from this
 * address; the name from all addresses has a higher one
 * (login_user_max_fails, 20). The waits one address earns double until
 * it adds failures no faster than the decay forgives them (near 11 with
 * the defaults), so it never reaches the account-wide limit alone; the
 * counts of several addresses add up to it (next test).
 */
START_TEST(another_address_is_not_locked_out)
{
	struct h_client *bad = from(&dflt, "127.0.0.24"), *good = from(&dflt, "127.0.0.25");
	for (int i = 0; i < 5; i++)
		expect_login(bad, "vic", "wrong", "bad_credentials");
	for (int i = 0; i < 3; i++)
		expect_login(bad, "vic", "wrong", "throttled");
	expect_login(bad, "vic", PW, "throttled");
	expect_login(good, "vic", PW, "ok");
	h_close(bad);
	h_close(good);
}
END_TEST

/* Guesses from many addresses, one each, throttle the name for every
 * address once login_user_max_fails (20) is reached; an admin can clear
 * it. */
START_TEST(many_addresses_throttle_the_account)
{
	for (int i = 1; i <= 20; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "127.0.1.%d", i);
		struct h_client *c = from(&dflt, ip);
		expect_login(c, "vic2", "wrong", "bad_credentials");
		h_close(c);
	}
	struct h_client *c = from(&dflt, "127.0.1.21");
	const char *series = "respited_throttled_total{scope=\"login_user\"}";
	double t0 = metric(&dflt, series); /* -1: no such refusal yet */
	expect_login(c, "vic2", PW, "throttled");
	ck_assert(metric(&dflt, series) == (t0 < 0 ? 0 : t0) + 1);
	struct h_client *admin = from(&dflt, "127.0.1.22");
	json_object_put(login(admin, "adam", PW));
	json_object *r = h_call(admin, "throttle.clear", "{\"scope\":\"login_user\",\"key\":\"VIC2\"}");
	ck_assert_msg(json_object_get_boolean(h_get(r, "result.cleared")), "%s",
		      json_object_to_json_string(r));
	json_object_put(r);
	expect_login(c, "vic2", PW, "ok");
	h_close(admin);
	h_close(c);
}
END_TEST

/* One address trying one wrong password on each of 60 names: after
 * login_addr_max_fails (30) failures the address waits, for every name
 * (and for a right password too); another address does not. */
START_TEST(spraying_names_from_one_address)
{
	struct h_client *c = from(&dflt, "127.0.0.26");
	double h0 = hashes(&dflt);
	int bad = 0, throttled = 0;
	for (int i = 0; i < 60; i++) {
		char user[32];
		snprintf(user, sizeof(user), "spray%02d", i);
		json_object *r = login(c, user, "wrong");
		bad += strcmp(outcome(r), "bad_credentials") == 0;
		throttled += strcmp(outcome(r), "throttled") == 0;
		expect_retry_after(r);
		json_object_put(r);
	}
	ck_assert_int_eq(bad, 30);
	ck_assert_int_eq(throttled, 30);
	ck_assert_int_eq((int)(hashes(&dflt) - h0), 30);
	expect_login(c, "carla", PW, "throttled");
	h_close(c);
	c = from(&dflt, "127.0.0.27");
	expect_login(c, "spray59", "wrong", "bad_credentials");
	expect_login(c, "carla", PW, "ok");
	h_close(c);
}
END_TEST

/* Per-address limits count failures only: a test suite or a busy office
 * logging in again and again is never throttled by its own successes. */
START_TEST(successes_never_count_for_the_address)
{
	struct h_client *c = from(&dflt, "127.0.0.28");
	for (int i = 0; i < 45; i++)
		expect_login(c, "carla", PW, "ok");
	expect_login(c, "nobody-here", "wrong", "bad_credentials");
	h_close(c);
}
END_TEST

/* "Carla" and "carla" are one key. */
START_TEST(names_are_counted_without_case)
{
	struct h_client *c = from(&dflt, "127.0.0.29");
	expect_login(c, "Carla", "wrong", "bad_credentials");
	expect_login(c, "CARLA", "wrong", "bad_credentials");
	expect_login(c, "carla", "wrong", "bad_credentials");
	expect_login(c, "cArLa", "wrong", "bad_credentials");
	expect_login(c, "carlA", "wrong", "bad_credentials");
	expect_login(c, "carla", PW, "throttled");
	h_close(c);
}
END_TEST

/* A success takes back its own attempt, not the failures before it: four
 * typos, a login, one more typo reaches the limit. */
START_TEST(success_refunds_only_its_own_claim)
{
	struct h_client *c = from(&dflt, "127.0.0.30");
	for (int i = 0; i < 4; i++)
		expect_login(c, "rena", "wrong", "bad_credentials");
	expect_login(c, "rena", PW, "ok");
	expect_login(c, "rena", "wrong", "bad_credentials");
	expect_login(c, "rena", PW, "throttled");
	h_close(c);
}
END_TEST

/* Counts decay (login_failure_decay_s = 1 here): after the limit, a wait
 * for the failures to be forgiven, and a typo no longer relocks. */
START_TEST(failures_decay)
{
	struct h_client *c = from(&fast, "127.0.0.31");
	for (int i = 0; i < 3; i++)
		expect_login(c, "rena", "wrong", "bad_credentials");
	expect_login(c, "rena", PW, "throttled");
	usleep(3600 * 1000); /* three failures, one forgiven a second */
	/* and the janitor soon drops the spent rows: the table does not grow */
	char *left = NULL;
	for (int i = 0; i < 40; i++) {
		free(left);
		left = h_sql_value(db, "SELECT count(*) FROM auth_throttle WHERE key LIKE 'rena%'");
		if (left && strcmp(left, "0") == 0)
			break;
		usleep(100000);
	}
	ck_assert_str_eq(left ? left : "(null)", "0");
	free(left);
	expect_login(c, "rena", "wrong", "bad_credentials");
	expect_login(c, "rena", "wrong", "bad_credentials");
	expect_login(c, "rena", PW, "ok");
	h_close(c);
}
END_TEST

/* ---- nothing tells whether an account exists ---- */

static char *error_of(json_object *r)
{
	json_object *e = h_get(r, "error");
	return strdup(e ? json_object_to_json_string(e) : "(none)");
}

/* A real name and an unknown one get the same answers, each attempt
 * hashed alike, and the same throttled answer, unhashed, once the limit
 * is reached. A disabled account is refused like a wrong password, even
 * with the right one. */
START_TEST(unknown_and_real_names_answer_alike)
{
	static const char *const names[] = { "carla", "no-such-carer" };
	char *answer[2][6];
	int hashed[2][6];
	struct h_client *c = from(&dflt, "127.0.0.32");
	for (int n = 0; n < 2; n++)
		for (int i = 0; i < 6; i++) {
			double h0 = hashes(&dflt);
			json_object *r = login(c, names[n], "wrong");
			answer[n][i] = error_of(r);
			hashed[n][i] = (int)(hashes(&dflt) - h0);
			json_object_put(r);
		}
	for (int i = 0; i < 6; i++)
		ck_assert_str_eq(answer[0][i], answer[1][i]);
	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(hashed[0][i], i < 5 ? 1 : 0);
		ck_assert_int_eq(hashed[1][i], i < 5 ? 1 : 0);
		free(answer[0][i]);
		free(answer[1][i]);
	}
	double u0 = metric(&dflt, "respited_login_hashes_unknown_total");
	expect_login(c, "dora", PW, "bad_credentials");
	expect_login(c, "nobody-else", PW, "bad_credentials");
	ck_assert(metric(&dflt, "respited_login_hashes_unknown_total") == u0 + 1);
	h_close(c);
}
END_TEST

/* ---- logins in progress are bounded ---- */

/* The flood: one line of 200 logins to unknown names. Two may be
 * in progress for one connection (login_queue_per_conn); the rest are
 * refused at once, unhashed, and another source's login goes through. */
START_TEST(flood_on_one_connection_is_refused)
{
	struct h_client *c = from(&dflt, "127.0.0.33"), *other = from(&dflt, "127.0.0.34");
	double h0 = hashes(&dflt);
	const char *refused = "respited_login_refused_total{limit=\"login_queue_per_conn\"}";
	double r0 = metric(&dflt, refused);
	char *line = batch_line(200, "flood", 1, -1);
	h_send_raw(c, line, strlen(line));
	free(line);
	expect_login(other, "carla", PW, "ok");
	json_object *a = read_batch(c);
	expect_count(a, "overloaded", 198);
	expect_count(a, "bad_credentials", 2);
	ck_assert_int_eq((int)(hashes(&dflt) - h0), 3);
	ck_assert(metric(&dflt, refused) == r0 + 198);
	json_object_put(a);
	h_close(c);
	h_close(other);
}
END_TEST

/* n connections, from `ip` or (NULL) each from its own address, one
 * login each to an unknown name, all sent before any is answered (hashes
 * are dear on `slow`); returns how many were refused overloaded. */
static int crowd(const char *ip, int n)
{
	struct h_client *c[16];
	int refused = 0;
	for (int i = 0; i < n; i++) {
		char own[32], msg[256];
		snprintf(own, sizeof(own), "127.0.2.%d", i + 1);
		c[i] = from(&slow, ip ? ip : own);
		snprintf(msg, sizeof(msg),
			 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"session.login\",\"params\":"
			 "{\"username\":\"crowd%d\",\"password\":\"wrong\"}}\n", i);
		h_send_raw(c[i], msg, strlen(msg));
	}
	for (int i = 0; i < n; i++) {
		char *line = h_read_line(c[i], 60000);
		ck_assert_ptr_nonnull(line);
		json_object *r = json_tokener_parse(line);
		refused += strcmp(outcome(r), "overloaded") == 0;
		json_object_put(r);
		free(line);
		h_close(c[i]);
	}
	return refused;
}

/* One address may have login_queue_per_source (8) logins in progress. */
START_TEST(one_source_has_a_bounded_share)
{
	const char *series = "respited_login_refused_total{limit=\"login_queue_per_source\"}";
	double r0 = metric(&slow, series);
	ck_assert_int_eq(crowd("127.0.0.35", 12), 4);
	ck_assert(metric(&slow, series) == r0 + 4);
}
END_TEST

/* The daemon as a whole has login_queue_max (10 here) in progress. */
START_TEST(the_queue_is_bounded)
{
	const char *series = "respited_login_refused_total{limit=\"login_queue_max\"}";
	double r0 = metric(&slow, series);
	ck_assert_int_eq(crowd(NULL, 12), 2);
	ck_assert(metric(&slow, series) == r0 + 2);
}
END_TEST

/* During a flood from one source, the hashing thread takes the next turn
 * for another source: its login is answered while most of the flood
 * still waits (the queue gauge), and before the flood's own answer. */
START_TEST(second_source_is_served_next)
{
	struct h_client *flood = from(&rr, "127.0.0.36"), *other = from(&rr, "127.0.0.37");
	char *line = batch_line(30, "wave", 1, -1);
	h_send_raw(flood, line, strlen(line));
	free(line);
	double q = 0;
	for (int i = 0; i < 500 && q < 20; i++) {
		usleep(10000);
		q = metric(&rr, "respited_login_queue");
	}
	ck_assert_msg(q >= 20, "the flood never queued (queue %g)", q);
	expect_login(other, "carla", PW, "ok");
	q = metric(&rr, "respited_login_queue");
	ck_assert_msg(q >= 15, "the other source waited for the flood (queue %g)", q);
	ck_assert(!readable(flood));
	json_object_put(read_batch(flood));
	h_close(flood);
	h_close(other);
}
END_TEST

/* ---- admin ---- */

START_TEST(admin_lists_and_clears_a_throttle)
{
	struct h_client *c = from(&dflt, "127.0.0.38"), *admin = from(&dflt, "127.0.0.39");
	for (int i = 0; i < 5; i++)
		expect_login(c, "Carla", "wrong", "bad_credentials");
	expect_login(c, "carla", PW, "throttled");
	expect_login(admin, "carla", PW, "ok"); /* a carer may not list */
	json_object *r = h_call(admin, "throttle.list", NULL);
	ck_assert_str_eq(outcome(r), "forbidden");
	json_object_put(r);
	json_object_put(login(admin, "adam", PW));
	r = h_call(admin, "throttle.list", "{\"scope\":\"login_user_addr\",\"key\":\"carla@127.0.0.38\"}");
	ck_assert_msg(json_object_array_length(h_get(r, "result.throttles")) == 1, "%s",
		      json_object_to_json_string(r));
	ck_assert_int_ge(json_object_get_int(h_get(r, "result.throttles.0.retry_after_s")), 1);
	ck_assert_int_ge(json_object_get_int(h_get(r, "result.throttles.0.failures")), 4);
	json_object_put(r);
	r = h_call(admin, "throttle.clear",
		   "{\"scope\":\"login_user_addr\",\"key\":\"CARLA@127.0.0.38\",\"idempotency_key\":\"c1\"}");
	ck_assert(json_object_get_boolean(h_get(r, "result.cleared")));
	json_object_put(r);
	expect_login(c, "carla", PW, "ok");
	h_close(c);
	h_close(admin);
}
END_TEST

static Suite *login_suite(void)
{
	Suite *s = suite_create("login");
	TCase *t = tcase_create("in_flight");
	tcase_set_timeout(t, 60);
	tcase_add_checked_fixture(t, no_throttles, NULL);
	tcase_add_test(t, batch_of_49_wrong_then_the_right_one);
	tcase_add_test(t, forty_connections_at_once);
	tcase_add_test(t, daemons_share_the_count);
	suite_add_tcase(s, t);
	t = tcase_create("keys");
	tcase_set_timeout(t, 60);
	tcase_add_checked_fixture(t, no_throttles, NULL);
	tcase_add_test(t, another_address_is_not_locked_out);
	tcase_add_test(t, many_addresses_throttle_the_account);
	tcase_add_test(t, spraying_names_from_one_address);
	tcase_add_test(t, successes_never_count_for_the_address);
	tcase_add_test(t, names_are_counted_without_case);
	tcase_add_test(t, success_refunds_only_its_own_claim);
	tcase_add_test(t, failures_decay);
	tcase_add_test(t, unknown_and_real_names_answer_alike);
	tcase_add_test(t, admin_lists_and_clears_a_throttle);
	suite_add_tcase(s, t);
	t = tcase_create("queue");
	tcase_set_timeout(t, 60);
	tcase_add_checked_fixture(t, no_throttles, NULL);
	tcase_add_test(t, flood_on_one_connection_is_refused);
	tcase_add_test(t, one_source_has_a_bounded_share);
	tcase_add_test(t, the_queue_is_bounded);
	tcase_add_test(t, second_source_is_served_next);
	suite_add_tcase(s, t);
	return s;
}

static void start(struct h_daemon *d, const char *const *args, const char *name)
{
	if (h_daemon_start(d, db, args) != 0) {
		fprintf(stderr, "respited (%s) did not start\n", name);
		exit(99);
	}
}

int main(void)
{
	h_require_postgres();
	db = h_db_create("login");
	start(&dflt, dflt_args, "defaults");
	start(&wide, wide_args, "wide");
	start(&slow, slow_args, "slow");
	start(&rr, rr_args, "rr");
	start(&fast, fast_args, "fast");
	static const char *const users[] = { "carla", "victim", "vic", "vic2", "rena", "dora" };
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		h_add_user(db, users[i], "carer", PW, "E09000007");
	h_add_user(db, "adam", "admin", PW, NULL);
	h_sql(db, "UPDATE app_user SET disabled = true WHERE username = 'dora'");
	SRunner *sr = srunner_create(login_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	struct h_daemon *all[] = { &dflt, &wide, &slow, &rr, &fast };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		h_daemon_stop(all[i], SIGTERM);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
