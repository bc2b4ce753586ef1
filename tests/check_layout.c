/*
 * The SQL tree's layout rules, checked on the files themselves (no
 * database needed):
 *  - every function name appears in exactly one CREATE FUNCTION in the
 *    tree (sql/, clients/gen/, tests/): a function has one home, and a
 *    fix to it cannot miss a copy;
 *  - schema migrations (sql/schema/) define no function except those a
 *    table needs (a trigger's function): code lives in sql/api/;
 *  - the role check and the idempotency prologue are written once, in the
 *    gate (sql/api/00_gate.sql), never in a method's own function.
 * Session-local helpers of the SQL scenarios (pg_temp.*) are not part of
 * any database and are left out, and so is tests/fixtures/ (a dump).
 */
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_DEFS 2048

struct def {
	char name[128];
	char file[1024];
};

static struct def defs[MAX_DEFS];
static int ndefs;

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(f);
	return buf;
}

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

/* The name after "CREATE [OR REPLACE] FUNCTION ", schema and quotes kept. */
static const char *def_name(const char *p, char *out, size_t len)
{
	static const char *const heads[] = { "CREATE FUNCTION ", "CREATE OR REPLACE FUNCTION " };
	for (size_t h = 0; h < 2; h++) {
		size_t n = strlen(heads[h]);
		if (strncmp(p, heads[h], n) != 0)
			continue;
		p += n;
		size_t i = 0;
		while (*p && (isalnum((unsigned char)*p) || strchr("_.\"", *p)) && i + 1 < len)
			out[i++] = *p++;
		out[i] = '\0';
		return out;
	}
	return NULL;
}

/* Only definitions at the start of a line count: prose that mentions
 * "CREATE FUNCTION" mid-sentence, or a format() string building one, does
 * not define anything. */
static void scan_file(const char *path, const char *text)
{
	for (const char *p = text; p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		char name[128];
		if (!def_name(p, name, sizeof(name)) || strncmp(name, "pg_temp.", 8) == 0)
			continue;
		ck_assert_int_lt(ndefs, MAX_DEFS);
		snprintf(defs[ndefs].name, sizeof(defs[ndefs].name), "%s", name);
		snprintf(defs[ndefs].file, sizeof(defs[ndefs].file), "%s", path);
		ndefs++;
	}
}

static void scan_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		struct stat st;
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			/* tests/fixtures holds a dump of the first release's
			 * database, functions and all: a record, not source. */
			if (strcmp(e->d_name, "fixtures") != 0)
				scan_tree(path);
		} else if (has_suffix(path, ".sql") || has_suffix(path, ".sh") || has_suffix(path, ".c")) {
			char *text = slurp(path);
			if (text)
				scan_file(path, text);
			free(text);
		}
	}
	closedir(d);
}

/* Function names compare without the schema: gen.x and x would still be
 * two homes for one name. */
static const char *bare(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot && name[0] != '"' ? dot + 1 : name;
}

START_TEST(each_function_defined_once)
{
	const char *src = getenv("RESPITE_SRCDIR");
	static const char *const dirs[] = { "sql", "clients/gen", "tests" };
	char path[1024];
	ndefs = 0;
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", src, dirs[i]);
		scan_tree(path);
	}
	ck_assert_msg(ndefs > 150, "found only %d function definitions: wrong folder?", ndefs);
	int dups = 0;
	for (int i = 0; i < ndefs; i++)
		for (int j = i + 1; j < ndefs; j++)
			if (strcmp(bare(defs[i].name), bare(defs[j].name)) == 0) {
				fprintf(stderr, "%s is defined in %s and again in %s\n", defs[i].name,
					defs[i].file, defs[j].file);
				dups++;
			}
	ck_assert_msg(dups == 0, "%d functions are defined more than once", dups);
}
END_TEST

static char *schema_file(const char *name)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/sql/schema/%s", getenv("RESPITE_SRCDIR"), name);
	return slurp(path);
}

START_TEST(migrations_hold_schema_only)
{
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/sql/schema", getenv("RESPITE_SRCDIR"));
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	struct dirent *e;
	int files = 0;
	while ((e = readdir(d))) {
		if (!has_suffix(e->d_name, ".sql"))
			continue;
		char *text = schema_file(e->d_name);
		ck_assert_ptr_nonnull(text);
		files++;
		for (const char *p = text; p; p = strchr(p, '\n')) {
			if (*p == '\n')
				p++;
			char name[128], use[200];
			if (!def_name(p, name, sizeof(name)))
				continue;
			/* A function a trigger of the same migration runs is schema. */
			snprintf(use, sizeof(use), "EXECUTE FUNCTION %s(", name);
			ck_assert_msg(strstr(text, use) != NULL,
				      "sql/schema/%s defines %s, which no trigger uses: code belongs in sql/api/",
				      e->d_name, name);
		}
		free(text);
	}
	closedir(d);
	ck_assert_int_ge(files, 5);
}
END_TEST

START_TEST(gate_written_once)
{
	static const char *const words[] = { "idem_begin(", "idem_end(", "rs_require_role(",
		"ctx->>'role' = ANY" };
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/sql/api", getenv("RESPITE_SRCDIR"));
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!has_suffix(e->d_name, ".sql") || strcmp(e->d_name, "00_gate.sql") == 0)
			continue;
		char path[1300];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		char *text = slurp(path);
		ck_assert_ptr_nonnull(text);
		for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++)
			ck_assert_msg(strstr(text, words[w]) == NULL,
				      "sql/api/%s uses %s: the gate (00_gate.sql) does that for every method",
				      e->d_name, words[w]);
		free(text);
	}
	closedir(d);
}
END_TEST

int main(void)
{
	if (!getenv("RESPITE_SRCDIR")) {
		fprintf(stderr, "RESPITE_SRCDIR is not set\n");
		return 77;
	}
	Suite *s = suite_create("layout");
	TCase *tc = tcase_create("sql");
	tcase_add_test(tc, each_function_defined_once);
	tcase_add_test(tc, migrations_hold_schema_only);
	tcase_add_test(tc, gate_written_once);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_VERBOSE);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
