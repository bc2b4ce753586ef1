/*
 * Runs each SQL scenario file in tests/sql with psql against a fresh
 * database holding every migration, then the invariant queries of
 * sql/invariants.sql, each of which must return no rows.
 */
#include "harness.h"

#include <check.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static glob_t files;

static int run(const char *cmd)
{
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void migrate(const char *conninfo)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "'%s/respited' --migrate-only --log-level warn --db '%s' --sql-dir '%s/sql'",
		 getenv("RESPITE_BUILDDIR"), conninfo, getenv("RESPITE_SRCDIR"));
	ck_assert_int_eq(run(cmd), 0);
}

/* Every invariant query is a SELECT that must find nothing. */
static void check_invariants(const char *conninfo)
{
	char path[1024], cmd[4096];
	snprintf(path, sizeof(path), "%s/sql/invariants.sql", getenv("RESPITE_SRCDIR"));
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "psql -X -q -A -t -v ON_ERROR_STOP=1 '%s' -f '%s' > /tmp/respite-invariants.$$ && "
		 "! grep -q . /tmp/respite-invariants.$$; rc=$?; cat /tmp/respite-invariants.$$; "
		 "rm -f /tmp/respite-invariants.$$; exit $rc", conninfo, path);
	ck_assert_msg(run(cmd) == 0, "an invariant query returned rows");
}

START_TEST(sql_scenario)
{
	const char *file = files.gl_pathv[_i];
	const char *base = strrchr(file, '/') + 1;
	char suite[64], cmd[4096];
	snprintf(suite, sizeof(suite), "sql%d", _i);
	const char *db = h_db_create(suite);
	migrate(db);
	snprintf(cmd, sizeof(cmd), "psql -X -q -v ON_ERROR_STOP=1 '%s' -f '%s' >/dev/null", db, file);
	ck_assert_msg(run(cmd) == 0, "%s failed", base);
	check_invariants(db);
}
END_TEST

int main(void)
{
	char pattern[1024];
	h_require_postgres();
	snprintf(pattern, sizeof(pattern), "%s/tests/sql/*.sql", getenv("RESPITE_SRCDIR"));
	if (glob(pattern, 0, NULL, &files) != 0 || files.gl_pathc == 0) {
		fprintf(stderr, "skipped: no SQL scenario files under %s\n", pattern);
		return 77;
	}
	Suite *s = suite_create("sql");
	TCase *tc = tcase_create("scenarios");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, sql_scenario, 0, (int)files.gl_pathc);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_VERBOSE);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	globfree(&files);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
