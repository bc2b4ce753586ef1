/*
 * docs/SECURITY.md against daemon/config.def, both ways: every setting of
 * the daemon has a row in one of its tables, with the same default, and
 * every row names a setting that exists. So a new limit cannot be added
 * without saying what it defends against, and the document cannot keep a
 * limit, or a default, that the code no longer has. No database needed.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct setting {
	const char *key;
	const char *dflt;
};

/* The folders' defaults depend on where the build installs: the document
 * writes them relative to the installation prefix. */
#undef SQLDIR
#undef WEBDIR
#define SQLDIR "PREFIX/share/respited/sql"
#define WEBDIR "PREFIX/share/respited/web"

static const struct setting settings[] = {
#define CONF(key, type, dflt, min, max, reload, help) { #key, dflt },
#include "config.def"
#undef CONF
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static char *doc;

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

/* The table row "| `key` | default | ..." of a setting, or NULL. */
static const char *row_of(const char *key)
{
	char head[128];
	snprintf(head, sizeof(head), "\n| `%s` |", key);
	return strstr(doc, head);
}

/* The second cell of a row, trimmed, into out. */
static void second_cell(const char *row, char *out, size_t len)
{
	const char *a = strchr(row + 2, '|');
	const char *b = a ? strchr(a + 1, '|') : NULL;
	out[0] = '\0';
	if (!a || !b)
		return;
	a++;
	while (a < b && *a == ' ')
		a++;
	while (b > a && b[-1] == ' ')
		b--;
	snprintf(out, len, "%.*s", (int)(b - a), a);
}

START_TEST(every_setting_documented_with_its_default)
{
	int missing = 0;
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *row = row_of(settings[i].key);
		if (!row) {
			fprintf(stderr, "docs/SECURITY.md has no row for `%s`\n", settings[i].key);
			missing++;
			continue;
		}
		char cell[256], want[256];
		second_cell(row, cell, sizeof(cell));
		snprintf(want, sizeof(want), "%s", *settings[i].dflt ? settings[i].dflt : "(empty)");
		/* The default is written as in config.def, in backticks. */
		char quoted[260];
		snprintf(quoted, sizeof(quoted), "`%s`", want);
		if (strcmp(cell, quoted) != 0 && strcmp(cell, want) != 0) {
			fprintf(stderr, "`%s`: docs/SECURITY.md says %s, config.def %s\n", settings[i].key,
				cell, want);
			missing++;
		}
	}
	ck_assert_msg(missing == 0, "%d settings missing or with another default in docs/SECURITY.md",
		      missing);
}
END_TEST

START_TEST(every_documented_setting_exists)
{
	int unknown = 0;
	for (const char *p = strstr(doc, "\n| `"); p; p = strstr(p + 1, "\n| `")) {
		char key[128];
		const char *end = strchr(p + 4, '`');
		if (!end || end - (p + 4) >= (long)sizeof(key))
			continue;
		snprintf(key, sizeof(key), "%.*s", (int)(end - (p + 4)), p + 4);
		int found = 0;
		for (size_t i = 0; i < NSETTINGS && !found; i++)
			found = strcmp(settings[i].key, key) == 0;
		if (!found) {
			fprintf(stderr, "docs/SECURITY.md documents `%s`, which config.def does not have\n", key);
			unknown++;
		}
	}
	ck_assert_msg(unknown == 0, "%d rows of docs/SECURITY.md name no setting", unknown);
}
END_TEST

int main(void)
{
	const char *src = getenv("RESPITE_SRCDIR");
	char path[1024];
	if (!src) {
		fprintf(stderr, "RESPITE_SRCDIR is not set\n");
		return 77;
	}
	snprintf(path, sizeof(path), "%s/docs/SECURITY.md", src);
	doc = slurp(path);
	if (!doc) {
		fprintf(stderr, "cannot read %s\n", path);
		return EXIT_FAILURE;
	}
	Suite *s = suite_create("docs");
	TCase *tc = tcase_create("security");
	tcase_add_test(tc, every_setting_documented_with_its_default);
	tcase_add_test(tc, every_documented_setting_exists);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_VERBOSE);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	free(doc);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
