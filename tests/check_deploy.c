/*
 * Schema migrations and the code deploy (daemon/migrate.c, daemon/deploy.c)
 * against the real PostgreSQL, through the real respited binary. Each test
 * gets a fresh database and its own copy of sql/schema and sql/api in a
 * temporary folder, edits the copy the way a developer or an operator
 * would, and runs the daemon on it (mostly with --migrate-only, which does
 * the same start-up work as a full start and then exits).
 */
#include "harness.h"
#include "autoconf.h"

#include <check.h>
#include <glob.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CODE RS_CODE_SCHEMA

static const char *srcdir, *builddir;

/* A test's own place: root/sql holds the copy of the SQL, root/out and
 * root/err what the last run of respited printed. */
struct scratch {
	char root[64];
	char sql[128];
	char db[512];
};

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void scratch_new(struct scratch *s, const char *suite)
{
	snprintf(s->root, sizeof(s->root), "/tmp/respited-deploy-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(s->root));
	snprintf(s->sql, sizeof(s->sql), "%s/sql", s->root);
	ck_assert_int_eq(run("mkdir '%s' && cp -R '%s/sql/schema' '%s/sql/api' '%s/'", s->sql,
			     srcdir, srcdir, s->sql), 0);
	snprintf(s->db, sizeof(s->db), "%s", h_db_create(suite));
}

static void scratch_free(struct scratch *s) { run("rm -rf '%s'", s->root); }

/* respited on the scratch database and SQL, with more arguments; returns
 * its exit status. A daemon that should have refused to start would run
 * until the timeout (status 124). */
static int respited(const struct scratch *s, const char *args)
{
	return run("timeout 120 '%s/respited' --db '%s' --sql-dir '%s' --log-level info %s"
		   " >'%s/out' 2>'%s/err'",
		   builddir, s->db, s->sql, args, s->root, s->root);
}

static int migrate(const struct scratch *s) { return respited(s, "--migrate-only"); }

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot read %s", path);
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* What the last run printed on "out" or "err" (a static buffer). */
static const char *printed(const struct scratch *s, const char *which)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", s->root, which);
	return slurp(path);
}

static void expect_printed(const struct scratch *s, const char *which, const char *text)
{
	const char *all = printed(s, which);
	ck_assert_msg(strstr(all, text) != NULL, "'%s' not in the %s of respited:\n%s", text, which,
		      all);
}

static void write_sql(const struct scratch *s, const char *name, const char *mode,
		      const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", s->sql, name);
	FILE *f = fopen(path, mode);
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* The first column of the first row, as text ("" for none); static. */
static const char *value(const char *db, const char *sql)
{
	static char buf[4096];
	char *v = h_sql_value(db, sql);
	snprintf(buf, sizeof(buf), "%s", v ? v : "");
	free(v);
	return buf;
}

static void expect_value(const char *db, const char *sql, const char *want)
{
	ck_assert_msg(strcmp(value(db, sql), want) == 0, "%s gave '%s', not '%s'", sql,
		      value(db, sql), want);
}

static char *checksum_of_code(const char *db)
{
	return strdup(value(db, "SELECT checksum FROM code_release WHERE schema_name = '" CODE "'"));
}

/* How many migrations the tree has (the copy starts as the same). */
static int migration_files(void)
{
	char pattern[1024];
	glob_t g;
	snprintf(pattern, sizeof(pattern), "%s/sql/schema/[0-9][0-9][0-9]_*.sql", srcdir);
	ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
	int n = (int)g.gl_pathc;
	globfree(&g);
	return n;
}

/* Every object name in the database, and the rows of the two
 * bookkeeping tables when they exist: what a dry run must leave alone. */
static char *snapshot(const char *db)
{
	static const char catalog[] =
		"SELECT md5(string_agg(x, E'\\n' ORDER BY x)) FROM ("
		" SELECT 'schema ' || nspname FROM pg_namespace"
		" UNION ALL SELECT 'rel ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text"
		"   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
		" UNION ALL SELECT 'col ' || n.nspname || '.' || c.relname || '.' || a.attname"
		"   FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
		"   JOIN pg_namespace n ON n.oid = c.relnamespace"
		"  WHERE a.attnum > 0 AND NOT a.attisdropped"
		" UNION ALL SELECT 'fn ' || n.nspname || '.' || p.proname || ' ' || md5(p.prosrc)"
		"   FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace) s(x)";
	char *out = malloc(4096);
	snprintf(out, 4096, "%s", value(db, catalog));
	if (strcmp(value(db, "SELECT to_regclass('public.schema_migration') IS NOT NULL"), "t") == 0)
		strcat(out, value(db, "SELECT md5(string_agg(t::text, ',' ORDER BY name))"
				      " FROM schema_migration t"));
	if (strcmp(value(db, "SELECT to_regclass('public.code_release') IS NOT NULL"), "t") == 0)
		strcat(out, value(db, "SELECT md5(string_agg(t::text, ',' ORDER BY schema_name))"
				      " FROM code_release t"));
	return out;
}

/* ---- migrations ---- */

START_TEST(edited_migration_is_refused)
{
	struct scratch s;
	scratch_new(&s, "edited");
	ck_assert_int_eq(migrate(&s), 0);
	ck_assert_int_eq(migrate(&s), 0); /* unchanged files match their checksums */
	write_sql(&s, "schema/002_inventory.sql", "a", "\n-- an edit after the release\n");
	ck_assert_int_ne(migrate(&s), 0);
	expect_printed(&s, "err", "migration 002_inventory.sql was changed after it was applied");
	ck_assert_int_ne(respited(&s, "--migrate-only --dry-run"), 0);
	expect_printed(&s, "err", "migration 002_inventory.sql was changed after it was applied");
	scratch_free(&s);
}
END_TEST

/* The first release recorded names only; its rows take the checksums of
 * the files on disk, and nothing is applied again. */
START_TEST(first_release_rows_are_adopted)
{
	static const char recorded[] =
		"SELECT string_agg(name || ' ' || coalesce(checksum, '-'), ',' ORDER BY name)"
		"  FROM schema_migration";
	struct scratch s;
	scratch_new(&s, "adopted");
	ck_assert_int_eq(migrate(&s), 0);
	char *before = strdup(value(s.db, recorded));
	h_sql(s.db, "ALTER TABLE schema_migration DROP COLUMN checksum");
	ck_assert_int_eq(migrate(&s), 0);
	expect_printed(&s, "err", "event=migration name=001_core.sql result=adopted");
	ck_assert_ptr_null(strstr(printed(&s, "err"), "result=applied"));
	ck_assert_str_eq(value(s.db, recorded), before);
	ck_assert_int_eq(migrate(&s), 0);
	ck_assert_ptr_null(strstr(printed(&s, "err"), "result=adopted"));
	free(before);
	scratch_free(&s);
}
END_TEST

/* ---- code ---- */

static const char probe_answer[] =
	"CREATE OR REPLACE FUNCTION capability_list(ctx jsonb, p jsonb) RETURNS jsonb\n"
	"LANGUAGE sql AS $$ SELECT '{\"probe\": \"changed\"}'::jsonb $$;\n";

/* capability.list as an admin, through the daemon; the response (put it). */
static json_object *list_capabilities(const struct h_daemon *d)
{
	struct h_client *c = h_connect(d);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(h_login(c, "ada", "admin-pass"));
	json_object *r = h_call(c, "capability.list", "{}");
	ck_assert_ptr_nonnull(h_result(r));
	h_close(c);
	return r;
}

START_TEST(changed_code_is_live_after_restart)
{
	struct scratch s;
	struct h_daemon d;
	scratch_new(&s, "live");
	const char *const extra[] = { "--sql-dir", s.sql, NULL };
	ck_assert_int_eq(h_daemon_start(&d, s.db, extra), 0);
	h_add_user(s.db, "ada", "admin", "admin-pass", NULL);
	json_object *r = list_capabilities(&d);
	ck_assert_ptr_nonnull(h_get(r, "result.capabilities"));
	json_object_put(r);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
	char *sum = checksum_of_code(s.db);
	char *migrations = strdup(value(s.db, "SELECT count(*) FROM schema_migration"));

	write_sql(&s, "api/99_probe.sql", "w", probe_answer);
	ck_assert_int_eq(h_daemon_start(&d, s.db, extra), 0);
	r = list_capabilities(&d);
	ck_assert_str_eq(json_object_get_string(h_get(r, "result.probe")), "changed");
	json_object_put(r);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
	ck_assert_str_ne(value(s.db, "SELECT checksum FROM code_release"), sum);
	ck_assert_str_eq(value(s.db, "SELECT count(*) FROM schema_migration"), migrations);
	free(sum);
	free(migrations);
	scratch_free(&s);
}
END_TEST

START_TEST(removed_function_is_gone)
{
	struct scratch s;
	char path[256];
	scratch_new(&s, "removed");
	write_sql(&s, "api/99_probe.sql", "w",
		  "CREATE FUNCTION rs_probe() RETURNS text LANGUAGE sql AS $$ SELECT 'here' $$;\n");
	ck_assert_int_eq(migrate(&s), 0);
	expect_value(s.db, "SELECT rs_probe()", "here");
	snprintf(path, sizeof(path), "%s/api/99_probe.sql", s.sql);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(migrate(&s), 0);
	expect_value(s.db, "SELECT to_regprocedure('" CODE ".rs_probe()') IS NULL", "t");
	expect_value(s.db, "SELECT count(*) FROM pg_proc WHERE proname = 'rs_probe'", "0");
	scratch_free(&s);
}
END_TEST

/* Line 1 holds 60 two-byte characters: a position taken as bytes would
 * point into line 2, not line 3. */
static const char broken_file[] =
	"-- ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé\n"
	"CREATE FUNCTION rs_half_done() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n"
	"SELECT broken syntax here;\n";

START_TEST(broken_code_file_changes_nothing)
{
	struct scratch s;
	scratch_new(&s, "broken");
	ck_assert_int_eq(migrate(&s), 0);
	char *sum = checksum_of_code(s.db);
	write_sql(&s, "api/99_broken.sql", "w", broken_file);
	int rc = respited(&s, "--listen 127.0.0.1:0 --http 127.0.0.1:0"); /* a real start */
	ck_assert_msg(rc != 0 && rc != 124, "respited exited with %d", rc);
	expect_printed(&s, "err", "api/99_broken.sql:3: syntax error");
	ck_assert_str_eq(value(s.db, "SELECT checksum FROM code_release"), sum);
	expect_value(s.db, "SELECT to_regprocedure('" CODE ".rs_half_done()') IS NULL", "t");
	expect_value(s.db, "SELECT \"capability.list\"('{\"role\": \"admin\"}', '{}') ? 'capabilities'",
		     "t");
	free(sum);
	scratch_free(&s);
}
END_TEST

/* A table must never depend on code: the deploy refuses rather than let
 * DROP SCHEMA ... CASCADE take the column default with it. */
START_TEST(table_depending_on_code_blocks_the_deploy)
{
	struct scratch s;
	scratch_new(&s, "leans");
	ck_assert_int_eq(migrate(&s), 0);
	char *sum = checksum_of_code(s.db);
	h_sql(s.db, "CREATE TABLE public.leans_on_code (d date DEFAULT " CODE ".rs_today())");
	write_sql(&s, "api/99_probe.sql", "w", probe_answer);
	ck_assert_int_ne(migrate(&s), 0);
	expect_printed(&s, "err", "leans_on_code");
	ck_assert_str_eq(value(s.db, "SELECT checksum FROM code_release"), sum);
	expect_value(s.db, "SELECT count(*) FROM pg_attrdef"
			   " WHERE adrelid = 'public.leans_on_code'::regclass", "1");
	free(sum);
	scratch_free(&s);
}
END_TEST

/* ---- several daemons, operators ---- */

START_TEST(two_migrate_only_at_once_both_succeed)
{
	struct scratch s;
	char one[2048], two[2048];
	scratch_new(&s, "twice");
	for (int i = 0; i < 2; i++)
		snprintf(i ? two : one, sizeof(one),
			 "'%s/respited' --migrate-only --db '%s' --sql-dir '%s' 2>'%s/err%d'",
			 builddir, s.db, s.sql, s.root, i);
	int rc = run("%s & a=$!; %s & b=$!; wait $a; ra=$?; wait $b; rb=$?;"
		     " echo \"$ra $rb\" >&2; [ $ra = 0 ] && [ $rb = 0 ]", one, two);
	ck_assert_msg(rc == 0, "%s\n---\n%s", printed(&s, "err0"), printed(&s, "err1"));
	char count[16];
	snprintf(count, sizeof(count), "%d", migration_files());
	expect_value(s.db, "SELECT count(*) FROM schema_migration", count);
	expect_value(s.db, "SELECT count(*) FROM code_release", "1");
	expect_value(s.db, "SELECT count(*) > 0 FROM pg_proc WHERE pronamespace = '" CODE
			   "'::regnamespace", "t");
	scratch_free(&s);
}
END_TEST

START_TEST(dry_run_changes_nothing)
{
	struct scratch s;
	scratch_new(&s, "dry");
	char *before = snapshot(s.db);
	ck_assert_int_eq(respited(&s, "--migrate-only --dry-run"), 0);
	expect_printed(&s, "out", "would apply migration 001_core.sql");
	expect_printed(&s, "out", "code " CODE " (checksum ");
	expect_printed(&s, "out", "would be deployed");
	char *after = snapshot(s.db);
	ck_assert_str_eq(after, before);
	free(before);
	free(after);

	ck_assert_int_eq(migrate(&s), 0);
	h_sql(s.db, "UPDATE schema_migration SET checksum = NULL WHERE name = '002_inventory.sql'");
	write_sql(&s, "api/99_probe.sql", "w", probe_answer);
	before = snapshot(s.db);
	ck_assert_int_eq(respited(&s, "--migrate-only --dry-run"), 0);
	expect_printed(&s, "out", "would adopt migration 002_inventory.sql");
	expect_printed(&s, "out", "would be redeployed");
	ck_assert_ptr_null(strstr(printed(&s, "out"), "would apply"));
	after = snapshot(s.db);
	ck_assert_str_eq(after, before);
	free(before);
	free(after);
	scratch_free(&s);
}
END_TEST

START_TEST(drop_old_code_spares_this_release)
{
	struct scratch s;
	scratch_new(&s, "dropold");
	ck_assert_int_eq(migrate(&s), 0);
	h_sql(s.db, "CREATE SCHEMA api_0_1_9;"
		    " CREATE FUNCTION api_0_1_9.rs_probe() RETURNS int LANGUAGE sql AS 'SELECT 1';"
		    " INSERT INTO code_release VALUES ('api_0_1_9', '0.1.9', 'feed', now());"
		    " CREATE SCHEMA api_unlisted");
	char *sum = checksum_of_code(s.db);
	ck_assert_int_eq(respited(&s, "--drop-old-code --dry-run"), 0);
	expect_printed(&s, "out", "would drop the code of another release: schema api_0_1_9");
	expect_value(s.db, "SELECT to_regnamespace('api_0_1_9') IS NOT NULL", "t");

	ck_assert_int_eq(respited(&s, "--drop-old-code"), 0);
	expect_value(s.db, "SELECT to_regnamespace('api_0_1_9') IS NULL", "t");
	expect_value(s.db, "SELECT string_agg(schema_name, ',') FROM code_release", CODE);
	ck_assert_str_eq(value(s.db, "SELECT checksum FROM code_release"), sum);
	expect_value(s.db, "SELECT count(*) > 0 FROM pg_proc WHERE pronamespace = '" CODE
			   "'::regnamespace", "t");
	/* only what code_release lists is a release's code */
	expect_value(s.db, "SELECT to_regnamespace('api_unlisted') IS NOT NULL", "t");
	free(sum);
	scratch_free(&s);
}
END_TEST

/* The newest migration in schema/ by name, without ".sql". */
static void newest_migration(char *out, size_t len)
{
	char pattern[1024];
	glob_t g;
	snprintf(pattern, sizeof(pattern), "%s/sql/schema/[0-9][0-9][0-9]_*.sql", srcdir);
	ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
	const char *base = strrchr(g.gl_pathv[g.gl_pathc - 1], '/') + 1;
	snprintf(out, len, "%.*s", (int)(strlen(base) - 4), base);
	globfree(&g);
}

START_TEST(version_names_schema_level_and_code)
{
	struct scratch s;
	struct h_daemon d;
	char level[128], line[256], sum12[13];
	scratch_new(&s, "version");
	newest_migration(level, sizeof(level));
	const char *const extra[] = { "--sql-dir", s.sql, NULL };
	ck_assert_int_eq(h_daemon_start(&d, s.db, extra), 0);
	snprintf(sum12, sizeof(sum12), "%.12s", value(s.db, "SELECT checksum FROM code_release"));
	struct h_client *c = h_connect(&d);
	json_object *r = h_call(c, "system.version", NULL);
	ck_assert_str_eq(json_object_get_string(h_get(r, "result.version")), PACKAGE_VERSION);
	ck_assert_str_eq(json_object_get_string(h_get(r, "result.schema_level")), level);
	ck_assert_str_eq(json_object_get_string(h_get(r, "result.code_release.schema")), CODE);
	ck_assert_str_eq(json_object_get_string(h_get(r, "result.code_release.checksum")), sum12);
	json_object_put(r);
	h_close(c);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);

	ck_assert_int_eq(respited(&s, "--check-config"), 0);
	snprintf(line, sizeof(line), "\nschema_level = %s\n", level);
	expect_printed(&s, "out", line);
	snprintf(line, sizeof(line), "\ncode_release = %s %s\n", CODE, sum12);
	expect_printed(&s, "out", line);
	snprintf(line, sizeof(line), "\ndatabase schema_level = %s\n", level);
	expect_printed(&s, "out", line);
	snprintf(line, sizeof(line), "\ndatabase code_release = %s %s (release %s", CODE, sum12,
		 PACKAGE_VERSION);
	expect_printed(&s, "out", line);
	scratch_free(&s);
}
END_TEST

static Suite *deploy_suite(void)
{
	Suite *s = suite_create("deploy");
	TCase *mig = tcase_create("migrations");
	tcase_set_timeout(mig, 120);
	tcase_add_test(mig, edited_migration_is_refused);
	tcase_add_test(mig, first_release_rows_are_adopted);
	suite_add_tcase(s, mig);
	TCase *code = tcase_create("code");
	tcase_set_timeout(code, 120);
	tcase_add_test(code, changed_code_is_live_after_restart);
	tcase_add_test(code, removed_function_is_gone);
	tcase_add_test(code, broken_code_file_changes_nothing);
	tcase_add_test(code, table_depending_on_code_blocks_the_deploy);
	suite_add_tcase(s, code);
	TCase *ops = tcase_create("operators");
	tcase_set_timeout(ops, 120);
	tcase_add_test(ops, two_migrate_only_at_once_both_succeed);
	tcase_add_test(ops, dry_run_changes_nothing);
	tcase_add_test(ops, drop_old_code_spares_this_release);
	tcase_add_test(ops, version_names_schema_level_and_code);
	suite_add_tcase(s, ops);
	return s;
}

int main(void)
{
	h_require_postgres();
	srcdir = getenv("RESPITE_SRCDIR");
	builddir = getenv("RESPITE_BUILDDIR");
	if (!srcdir || !builddir) {
		fprintf(stderr, "RESPITE_SRCDIR and RESPITE_BUILDDIR must be set (make check does)\n");
		return 99;
	}
	SRunner *sr = srunner_create(deploy_suite());
	srunner_run_all(sr, CK_VERBOSE);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
