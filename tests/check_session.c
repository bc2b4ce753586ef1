/*
 * Every call runs as the session as it is now, not as it was at login:
 * a logout elsewhere, a disabled account, or a provider login moved to
 * another provider reach connections that are already open, on the very
 * next call, whether the method is answered by SQL or in C. And records
 * of another authority cannot be told apart from records that do not
 * exist. Against a real daemon and PostgreSQL.
 */
#include "harness.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *db;
static struct h_daemon d;
static long long carol_family, supply_a, person_other;

static json_object *call(struct h_client *c, const char *method, const char *params)
{
	json_object *r = h_call(c, method, params);
	ck_assert_msg(r != NULL, "no answer to %s", method);
	return r;
}

/* The call's error reason, or "ok" when it succeeded. */
static char *outcome(struct h_client *c, const char *method, const char *params)
{
	json_object *r = call(c, method, params);
	const char *why = h_reason(r);
	char *s = strdup(h_result(r) ? "ok" : why ? why : "?");
	json_object_put(r);
	return s;
}

static void expect(struct h_client *c, const char *method, const char *params, const char *want)
{
	char *got = outcome(c, method, params);
	ck_assert_msg(strcmp(got, want) == 0, "%s %s: expected %s, got %s", method,
		      params ? params : "", want, got);
	free(got);
}

static struct h_client *login(const char *user, const char *password)
{
	struct h_client *c = h_connect(&d);
	ck_assert_ptr_nonnull(h_login(c, user, password));
	return c;
}

static long long sql_id(const char *sql)
{
	char *v = h_sql_value(db, sql);
	ck_assert_msg(v != NULL, "no value: %s", sql);
	long long n = atoll(v);
	free(v);
	return n;
}

static char family_params[64];

START_TEST(logout_reaches_a_connection_that_resumed_the_token)
{
	struct h_client *a = h_connect(&d), *b = h_connect(&d);
	const char *token = h_login(a, "carol", "carol-pass");
	ck_assert_ptr_nonnull(token);
	char params[128];
	snprintf(params, sizeof(params), "{\"token\":\"%s\"}", token);
	expect(b, "session.resume", params, "ok");
	expect(b, "family.get", family_params, "ok");
	expect(a, "session.logout", NULL, "ok");
	/* b never logged out, but its session is gone */
	expect(b, "session.whoami", NULL, "unauthorized");
	expect(b, "family.get", family_params, "unauthorized");
	expect(b, "capability.list", NULL, "unauthorized");
	h_close(a);
	h_close(b);
}
END_TEST

START_TEST(disabled_login_stops_working_on_its_open_connection)
{
	struct h_client *c = login("dora", "dora-pass");
	expect(c, "capability.list", NULL, "ok");
	expect(c, "system.methods", NULL, "ok");
	h_sql(db, "UPDATE app_user SET disabled = true WHERE username = 'dora'");
	expect(c, "capability.list", NULL, "unauthorized");
	expect(c, "session.whoami", NULL, "unauthorized");
	expect(c, "system.methods", NULL, "unauthorized");
	h_sql(db, "UPDATE app_user SET disabled = false WHERE username = 'dora'");
	expect(c, "session.whoami", NULL, "ok");
	h_close(c);
}
END_TEST

START_TEST(provider_login_moved_cannot_touch_its_old_provider)
{
	struct h_client *c = login("paula", "paula-pass");
	char params[96];
	snprintf(params, sizeof(params), "{\"supply_id\":%lld,\"price_pence\":1200}", supply_a);
	expect(c, "supply.update", params, "ok");
	h_sql(db, "UPDATE app_user SET provider_id = (SELECT id FROM provider WHERE name = 'Other Sitters')"
		  " WHERE username = 'paula'");
	expect(c, "supply.update", params, "forbidden");
	json_object *r = call(c, "session.whoami", NULL);
	char *want = h_sql_value(db, "SELECT id FROM provider WHERE name = 'Other Sitters'");
	ck_assert_int_eq(json_object_get_int64(h_get(r, "result.provider_id")), atoll(want));
	free(want);
	json_object_put(r);
	h_close(c);
}
END_TEST

START_TEST(role_changed_applies_to_methods_answered_in_c)
{
	struct h_client *c = login("adele", "adele-pass");
	expect(c, "system.config", NULL, "ok");
	h_sql(db, "UPDATE app_user SET role = 'coordinator', authority_id = (SELECT id FROM authority"
		  " WHERE code = 'E09000001') WHERE username = 'adele'");
	expect(c, "system.config", NULL, "forbidden");
	h_close(c);
}
END_TEST

/* Another authority's records answer exactly as missing ones do: the
 * same reason and the same message, so ids cannot be probed. */
static void same_as_missing(struct h_client *c, const char *method, const char *key, long long id,
			    const char *more)
{
	char there[128], gone[128];
	snprintf(there, sizeof(there), "{\"%s\":%lld%s}", key, id, more);
	snprintf(gone, sizeof(gone), "{\"%s\":%lld%s}", key, id + 1000000, more);
	json_object *a = call(c, method, there), *b = call(c, method, gone);
	ck_assert_msg(h_reason(a) && strcmp(h_reason(a), "not_found") == 0, "%s %s: %s", method, there,
		      json_object_to_json_string(a));
	ck_assert_str_eq(h_reason(b), "not_found");
	ck_assert_str_eq(json_object_get_string(h_get(a, "error.message")),
			 json_object_get_string(h_get(b, "error.message")));
	json_object_put(a);
	json_object_put(b);
}

START_TEST(other_authorities_records_look_missing)
{
	struct h_client *c = login("colin", "colin-pass");
	same_as_missing(c, "person.update", "person_id", person_other, ",\"notes\":\"x\"");
	same_as_missing(c, "supply.get", "supply_id", supply_a, "");
	same_as_missing(c, "family.get", "carer_id", carol_family, "");
	h_close(c);
}
END_TEST

/* Providers, supply, and a family for carol; the first test, so that its
 * checks report like any other (the suite runs without forking, in order). */
START_TEST(setup_records)
{
	h_add_user(db, "carol", "carer", "carol-pass", "E09000001");
	h_add_user(db, "dora", "carer", "dora-pass", "E09000001");
	h_add_user(db, "cora", "coordinator", "cora-pass", "E09000001");
	h_add_user(db, "colin", "coordinator", "colin-pass", "E09000002");
	h_add_user(db, "adele", "admin", "adele-pass", NULL);
	h_add_user(db, "paula", "provider", "paula-pass", "E09000001");
	struct h_client *co = login("cora", "cora-pass");
	static const char *const providers[] = { "Home Sitters", "Other Sitters" };
	for (int i = 0; i < 2; i++) {
		char p[256];
		snprintf(p, sizeof(p), "{\"type\":\"sitting\",\"name\":\"%s\",\"postcode_district\":\"L8\","
			 "\"lat\":53.39,\"lon\":-2.96}", providers[i]);
		expect(co, "provider.create", p, "ok");
	}
	h_sql(db, "UPDATE app_user SET provider_id = (SELECT id FROM provider WHERE name = 'Home Sitters')"
		  " WHERE username = 'paula'");
	char p[512];
	snprintf(p, sizeof(p), "{\"provider_id\":%lld,\"kind\":\"worker\",\"name\":\"Sam\","
		 "\"price_pence\":1800,\"price_unit\":\"hour\"}",
		 sql_id("SELECT id FROM provider WHERE name = 'Home Sitters'"));
	expect(co, "supply.create", p, "ok");
	supply_a = sql_id("SELECT id FROM supply WHERE name = 'Sam'");
	snprintf(p, sizeof(p), "{\"carer\":{\"name\":\"Carol\",\"referral_route\":\"self_referral\"},"
		 "\"user_id\":%lld,\"persons\":[{\"name\":\"Pat\"}]}",
		 sql_id("SELECT id FROM app_user WHERE username = 'carol'"));
	expect(co, "family.create", p, "ok");
	carol_family = sql_id("SELECT carer_id FROM app_user WHERE username = 'carol'");
	snprintf(family_params, sizeof(family_params), "{\"carer_id\":%lld}", carol_family);
	person_other = sql_id("SELECT person_id FROM care_link WHERE carer_id = "
			      "(SELECT carer_id FROM app_user WHERE username = 'carol')");
	h_close(co);
}
END_TEST

static Suite *session_suite(void)
{
	Suite *s = suite_create("session");
	TCase *tc = tcase_create("now");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, setup_records);
	tcase_add_test(tc, logout_reaches_a_connection_that_resumed_the_token);
	tcase_add_test(tc, disabled_login_stops_working_on_its_open_connection);
	tcase_add_test(tc, provider_login_moved_cannot_touch_its_old_provider);
	tcase_add_test(tc, role_changed_applies_to_methods_answered_in_c);
	tcase_add_test(tc, other_authorities_records_look_missing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	h_require_postgres();
	db = h_db_create("session");
	if (h_daemon_start(&d, db, NULL) != 0) {
		fprintf(stderr, "respited did not start\n");
		return 99;
	}
	SRunner *sr = srunner_create(session_suite());
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	h_daemon_stop(&d, SIGTERM);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
