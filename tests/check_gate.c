/*
 * The gate's contract, checked without a database:
 *  - protocol/PROTOCOL.md's "Methods at a glance" table against the
 *    compiled method table, both ways: a method in the table but not
 *    documented, documented but not in the table, or documented with other
 *    roles or flags (mutating, emergency) fails; so does a method without
 *    its own "### name" section, or a section for a method that does not
 *    exist;
 *  - that the checker does catch drift: each kind of mistake, made on a
 *    copy of the real document, is reported;
 *  - the params schemas are well formed (bounds in the members their type
 *    reads, min <= max), and the exact bounds behave at the edges.
 */
#include "method.h"
#include "schema.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GLANCE_HEADING "Methods at a glance"
#define FLAG_MASK (MF_MUTATING | MF_EMERGENCY)

/* ---- reading PROTOCOL.md ---- */

static char *read_protocol(void)
{
	const char *src = getenv("RESPITE_SRCDIR");
	char path[1024];
	snprintf(path, sizeof(path), "%s/protocol/PROTOCOL.md", src ? src : ".");
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s (RESPITE_SRCDIR: the source tree)", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *doc = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(doc);
	ck_assert_int_eq((long)fread(doc, 1, (size_t)n, f), n);
	doc[n] = '\0';
	fclose(f);
	return doc;
}

/* ---- problems, collected so that one run lists them all ---- */

struct report {
	int n;
	size_t len;
	char text[16384];
};

static void problem(struct report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct report *r, const char *fmt, ...)
{
	va_list ap;
	r->n++;
	if (r->len >= sizeof(r->text) - 2)
		return;
	va_start(ap, fmt);
	int k = vsnprintf(r->text + r->len, sizeof(r->text) - r->len - 1, fmt, ap);
	va_end(ap);
	if (k > 0)
		r->len += (size_t)k < sizeof(r->text) - r->len - 1 ? (size_t)k : sizeof(r->text) - r->len - 2;
	r->text[r->len++] = '\n';
	r->text[r->len] = '\0';
}

/* ---- the table ---- */

struct doc_method {
	char name[96];
	unsigned roles, flags;
	int line;
};

#define MAX_DOC_METHODS 256

/* Copies the trimmed text between p and end into out. */
static void trimmed(const char *p, const char *end, char *out, size_t size)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	size_t n = (size_t)(end - p) < size - 1 ? (size_t)(end - p) : size - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

static int is_none(const char *s)
{
	return !*s || strcmp(s, "—") == 0 || strcmp(s, "-") == 0;
}

/* "anonymous, admin, carer" -> R_* bits; unknown words are problems. */
static unsigned parse_roles(const char *cell, const char *method, int line, struct report *r)
{
	unsigned mask = 0;
	char word[64];
	for (const char *p = cell; *p;) {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		trimmed(p, end, word, sizeof(word));
		unsigned bit = strcmp(word, "anonymous") == 0 ? R_ANON : role_parse(word);
		if (!bit)
			problem(r, "PROTOCOL.md line %d: %s: unknown role \"%s\"", line, method, word);
		mask |= bit;
		p = comma ? comma + 1 : end;
	}
	if (!mask && !*cell)
		problem(r, "PROTOCOL.md line %d: %s: no roles", line, method);
	return mask;
}

static unsigned parse_flags(const char *cell, const char *method, int line, struct report *r)
{
	unsigned mask = 0;
	char word[64];
	if (is_none(cell))
		return 0;
	for (const char *p = cell; *p;) {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		trimmed(p, end, word, sizeof(word));
		if (strcmp(word, "mutating") == 0)
			mask |= MF_MUTATING;
		else if (strcmp(word, "emergency") == 0)
			mask |= MF_EMERGENCY;
		else
			problem(r, "PROTOCOL.md line %d: %s: unknown flag \"%s\"", line, method, word);
		p = comma ? comma + 1 : end;
	}
	return mask;
}

/* One table row "| `name` | roles | flags |"; 0 when it was read. */
static int parse_row(const char *line, const char *end, int lineno, struct doc_method *out,
		     struct report *r)
{
	char cell[3][512];
	const char *p = line + 1; /* after the leading '|' */
	for (int i = 0; i < 3; i++) {
		const char *bar = memchr(p, '|', (size_t)(end - p));
		if (!bar) {
			problem(r, "PROTOCOL.md line %d: a row of the methods table needs 3 cells", lineno);
			return -1;
		}
		trimmed(p, bar, cell[i], sizeof(cell[i]));
		p = bar + 1;
	}
	size_t n = strlen(cell[0]);
	if (n < 3 || cell[0][0] != '`' || cell[0][n - 1] != '`' || n - 2 >= sizeof(out->name)) {
		problem(r, "PROTOCOL.md line %d: the method is written `name`, not %s", lineno, cell[0]);
		return -1;
	}
	memcpy(out->name, cell[0] + 1, n - 2);
	out->name[n - 2] = '\0';
	out->line = lineno;
	out->roles = parse_roles(cell[1], out->name, lineno, r);
	out->flags = parse_flags(cell[2], out->name, lineno, r);
	return 0;
}

/* Reads the rows of the table under the "Methods at a glance" heading;
 * returns how many, or -1 when there is no such table. */
static int parse_glance(const char *doc, struct doc_method *rows, int max, struct report *r)
{
	int lineno = 0, in_section = 0, in_table = 0, n = 0;
	for (const char *line = doc; *line;) {
		const char *nl = strchr(line, '\n');
		const char *end = nl ? nl : line + strlen(line);
		lineno++;
		if (*line == '#') {
			if (in_table)
				break;
			in_section = strstr(line, GLANCE_HEADING) != NULL && strstr(line, GLANCE_HEADING) < end;
		} else if (in_section && *line == '|') {
			const char *q = line + 1;
			while (q < end && (*q == ' ' || *q == '-' || *q == '|' || *q == ':'))
				q++;
			if (!in_table) {
				in_table = 1; /* the header row */
			} else if (q == end) {
				/* the |---| separator */
			} else if (n >= max) {
				problem(r, "PROTOCOL.md line %d: more than %d methods", lineno, max);
				break;
			} else if (parse_row(line, end, lineno, &rows[n], r) == 0) {
				for (int i = 0; i < n; i++)
					if (strcmp(rows[i].name, rows[n].name) == 0)
						problem(r, "PROTOCOL.md line %d: %s is listed twice (also line %d)",
							lineno, rows[n].name, rows[i].line);
				n++;
			}
		} else if (in_table) {
			break; /* the first line after the table ends it */
		}
		line = nl ? nl + 1 : end;
	}
	return in_table ? n : -1;
}

/* "### name" on a line of its own. */
static int has_section(const char *doc, const char *name)
{
	char heading[160];
	snprintf(heading, sizeof(heading), "\n### %s\n", name);
	return strstr(doc, heading) != NULL;
}

/* Method-like section headings ("### booking.hold") must name a method. */
static void check_sections(const char *doc, struct report *r)
{
	int lineno = 0;
	for (const char *line = doc; *line;) {
		const char *nl = strchr(line, '\n');
		const char *end = nl ? nl : line + strlen(line);
		lineno++;
		if (strncmp(line, "### ", 4) == 0) {
			char name[128];
			trimmed(line + 4, end, name, sizeof(name));
			int methodlike = strchr(name, '.') != NULL;
			for (const char *c = name; *c && methodlike; c++)
				methodlike = (*c >= 'a' && *c <= 'z') || *c == '_' || *c == '.';
			if (methodlike && !method_find(name))
				problem(r, "PROTOCOL.md line %d: section ### %s: no such method in the table",
					lineno, name);
		}
		line = nl ? nl + 1 : end;
	}
}

static void mask_words(unsigned roles, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (int i = 0; i < R_NBITS && len < size; i++)
		if (roles & (1u << i))
			len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "", role_name(i));
}

static void flag_words(unsigned flags, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s", flags & MF_MUTATING ? "mutating" : "",
		 (flags & MF_MUTATING) && (flags & MF_EMERGENCY) ? ", " : "",
		 flags & MF_EMERGENCY ? "emergency" : "");
	if (!buf[0])
		snprintf(buf, size, "—");
}

/* The whole comparison; returns the number of problems. */
static int check_doc(const char *doc, struct report *r)
{
	static struct doc_method rows[MAX_DOC_METHODS];
	int n = parse_glance(doc, rows, MAX_DOC_METHODS, r);
	if (n < 0) {
		problem(r, "PROTOCOL.md has no table under a \"" GLANCE_HEADING "\" heading");
		return r->n;
	}
	for (int i = 0; i < method_count(); i++) {
		const struct method *m = method_at(i);
		const struct doc_method *d = NULL;
		for (int j = 0; j < n && !d; j++)
			if (strcmp(rows[j].name, m->name) == 0)
				d = &rows[j];
		if (!has_section(doc, m->name))
			problem(r, "%s: no \"### %s\" section in PROTOCOL.md", m->name, m->name);
		if (!d) {
			problem(r, "%s: in the method table but not documented in \"" GLANCE_HEADING "\"",
				m->name);
			continue;
		}
		char want[128], got[128];
		if (d->roles != m->roles) {
			mask_words(m->roles, want, sizeof(want));
			mask_words(d->roles, got, sizeof(got));
			problem(r, "%s: roles are \"%s\" in the method table, \"%s\" in PROTOCOL.md line %d",
				m->name, want, got, d->line);
		}
		if (d->flags != (m->flags & FLAG_MASK)) {
			flag_words(m->flags & FLAG_MASK, want, sizeof(want));
			flag_words(d->flags, got, sizeof(got));
			problem(r, "%s: flags are \"%s\" in the method table, \"%s\" in PROTOCOL.md line %d",
				m->name, want, got, d->line);
		}
	}
	for (int j = 0; j < n; j++)
		if (!method_find(rows[j].name))
			problem(r, "%s: documented (PROTOCOL.md line %d) but not in the method table",
				rows[j].name, rows[j].line);
	check_sections(doc, r);
	return r->n;
}

START_TEST(protocol_md_matches_method_table)
{
	char *doc = read_protocol();
	static struct report r;
	memset(&r, 0, sizeof(r));
	int n = check_doc(doc, &r);
	ck_assert_msg(n == 0, "PROTOCOL.md and the method table disagree (%d):\n%s", n, r.text);
	free(doc);
}
END_TEST

/* ---- the checker catches drift ---- */

/* A copy of doc with the first `from` replaced by `to`. */
static char *replaced(const char *doc, const char *from, const char *to)
{
	const char *at = strstr(doc, from);
	ck_assert_msg(at != NULL, "PROTOCOL.md no longer contains \"%s\": update this test", from);
	size_t head = (size_t)(at - doc), nf = strlen(from), nt = strlen(to);
	char *out = malloc(strlen(doc) - nf + nt + 1);
	ck_assert_ptr_nonnull(out);
	memcpy(out, doc, head);
	memcpy(out + head, to, nt);
	strcpy(out + head + nt, at + nf);
	return out;
}

struct drift {
	const char *what;
	const char *from, *to; /* the mistake, made on the real document */
	const char *expect;    /* in the report */
};

static const struct drift drifts[] = {
	{ "a method left out of the table",
	  "| `booking.get` | admin, coordinator, provider, carer | — |\n", "",
	  "booking.get: in the method table but not documented" },
	{ "a method that does not exist",
	  "| `system.ping` |", "| `system.pong` | admin | — |\n| `system.ping` |",
	  "system.pong: documented (PROTOCOL.md line" },
	{ "a role too many",
	  "| `system.config` | admin |", "| `system.config` | admin, coordinator |",
	  "system.config: roles are \"admin\" in the method table, \"admin, coordinator\"" },
	{ "a role too few",
	  "| `booking.cancel` | admin, coordinator, provider, carer |", "| `booking.cancel` | admin, coordinator, carer |",
	  "booking.cancel: roles are" },
	{ "anonymous access not documented",
	  "| `session.login` | anonymous, admin,", "| `session.login` | admin,",
	  "session.login: roles are" },
	{ "a mutating method documented as not",
	  "| `booking.hold` | admin, coordinator, carer | mutating |", "| `booking.hold` | admin, coordinator, carer | — |",
	  "booking.hold: flags are \"mutating\" in the method table, \"—\"" },
	{ "a reading method documented as mutating",
	  "| `booking.get` | admin, coordinator, provider, carer | — |", "| `booking.get` | admin, coordinator, provider, carer | mutating |",
	  "booking.get: flags are \"—\" in the method table, \"mutating\"" },
	{ "an emergency flag the method does not have",
	  "| `booking.hold` | admin, coordinator, carer | mutating |", "| `booking.hold` | admin, coordinator, carer | mutating, emergency |",
	  "booking.hold: flags are \"mutating\" in the method table, \"mutating, emergency\"" },
	{ "a misspelt role",
	  "| `system.config` | admin |", "| `system.config` | administrator |",
	  "unknown role \"administrator\"" },
	{ "a misspelt flag",
	  "| `booking.hold` | admin, coordinator, carer | mutating |", "| `booking.hold` | admin, coordinator, carer | mutates |",
	  "unknown flag \"mutates\"" },
	{ "a method listed twice",
	  "| `system.ping` |", "| `system.config` | admin | — |\n| `system.ping` |",
	  "system.config is listed twice" },
	{ "a method without its section", "\n### booking.no_show\n", "\n### booking.noshow\n",
	  "booking.no_show: no \"### booking.no_show\" section" },
	{ "a section for no method", "\n### booking.no_show\n", "\n### booking.no_show\n\n### booking.show\n",
	  "section ### booking.show: no such method" },
	{ "no table at all", "### " GLANCE_HEADING, "### Methods in brief",
	  "PROTOCOL.md has no table" },
};

START_TEST(checker_catches_drift)
{
	const struct drift *d = &drifts[_i];
	char *doc = read_protocol();
	char *bad = replaced(doc, d->from, d->to);
	static struct report r;
	memset(&r, 0, sizeof(r));
	int n = check_doc(bad, &r);
	ck_assert_msg(n > 0, "%s: not reported", d->what);
	ck_assert_msg(strstr(r.text, d->expect) != NULL, "%s: expected \"%s\" in:\n%s", d->what, d->expect,
		      r.text);
	free(bad);
	free(doc);
}
END_TEST

/* ---- the schemas themselves ---- */

static void check_schema(const char *method, const char *at, const struct param_schema *s,
			 struct report *r, int depth)
{
	if (!s || depth > 8)
		return;
	for (const struct field_spec *f = s->fields; f && f->name; f++) {
		char path[256];
		snprintf(path, sizeof(path), "%s%s", at, f->name);
		int ints = f->min != 0 || f->max != 0, nums = f->num_min != 0 || f->num_max != 0;
		if (f->type == FT_NUMBER && ints)
			problem(r, "%s %s: a number's bounds go in num_min/num_max", method, path);
		if (f->type != FT_NUMBER && nums)
			problem(r, "%s %s: num_min/num_max are for numbers only", method, path);
		if (ints && f->min > f->max)
			problem(r, "%s %s: min > max", method, path);
		if (nums && f->num_min > f->num_max)
			problem(r, "%s %s: num_min > num_max", method, path);
		if ((f->type == FT_ENUM || (f->type == FT_ARRAY && f->item == FT_ENUM && !f->each)) && !f->values)
			problem(r, "%s %s: an enum without values", method, path);
		if (f->each && f->type != FT_ARRAY)
			problem(r, "%s %s: `each` is for arrays only", method, path);
		if (f->each && f->each->type != f->item)
			problem(r, "%s %s: `each` is not of the type `item` says", method, path);
		char sub[sizeof(path) + 4];
		snprintf(sub, sizeof(sub), "%s%s", path, f->type == FT_ARRAY ? "[]." : ".");
		check_schema(method, sub, f->sub, r, depth + 1);
		if (f->each)
			check_schema(method, sub, f->each->sub, r, depth + 1);
	}
}

START_TEST(schemas_are_well_formed)
{
	static struct report r;
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < method_count(); i++)
		check_schema(method_at(i)->name, "", method_at(i)->schema, &r, 0);
	ck_assert_msg(r.n == 0, "%s", r.text);
}
END_TEST

/* Exact bounds at their edges, on the real schemas. */
struct edge {
	const char *method;
	const char *params;
	const char *field; /* NULL: valid */
};

#define NEAR(lat, lon, km) "{\"near\":{\"lat\":" lat ",\"lon\":" lon ",\"radius_km\":" km "}}"
static const struct edge edges[] = {
	{ "availability.search", NEAR("49.8", "-6.5", "0.1"), NULL },
	{ "availability.search", NEAR("55.9", "2.0", "200"), NULL },
	{ "availability.search", NEAR("49.79", "0", "1"), "near.lat" },
	{ "availability.search", NEAR("55.91", "0", "1"), "near.lat" },
	{ "availability.search", NEAR("53", "-6.51", "1"), "near.lon" },
	{ "availability.search", NEAR("53", "2.01", "1"), "near.lon" },
	{ "availability.search", NEAR("53", "0", "0.09"), "near.radius_km" },
	{ "availability.search", NEAR("53", "0", "0"), "near.radius_km" },
	{ "availability.search", NEAR("53", "0", "200.5"), "near.radius_km" },
	{ "availability.search", "{\"preferred_supply_ids\":[1,9223372036854775807]}", NULL },
	{ "availability.search", "{\"preferred_supply_ids\":[3,0]}", "preferred_supply_ids[1]" },
	{ "availability.search", "{\"preferred_supply_ids\":[-2]}", "preferred_supply_ids[0]" },
	{ "availability.search", "{\"preferred_supply_ids\":[\"7\"]}", "preferred_supply_ids[0]" },
	{ "booking.hold", "{\"pay_from\":[1]}", NULL },
	{ "booking.hold", "{\"pay_from\":[]}", "pay_from" },
	{ "booking.hold", "{\"pay_from\":[5,0]}", "pay_from[1]" },
	{ "booking.hold", "{\"radius_km\":0.1,\"language\":\"pa\"}", NULL },
	{ "booking.hold", "{\"radius_km\":0}", "radius_km" },
	{ "booking.hold", "{\"language\":\"pan\"}", "language" },
	{ "supply.update", "{\"supply_id\":1,\"price_pence\":10000000,\"day_price_pence\":0}", NULL },
	{ "supply.update", "{\"supply_id\":1,\"price_pence\":10000001}", "price_pence" },
	{ "supply.update", "{\"supply_id\":1,\"day_price_pence\":10000001}", "day_price_pence" },
	{ "person.update", "{\"person_id\":1,\"lat\":49.8,\"lon\":2}", NULL },
	{ "person.update", "{\"person_id\":1,\"lat\":49.7999}", "lat" },
	{ "person.update", "{\"person_id\":1,\"avoid_supply_ids\":[0]}", "avoid_supply_ids[0]" },
	{ "family.create", "{\"persons\":[{\"name\":\"A\",\"preferred_supply_ids\":[0]}]}",
	  "persons[0].preferred_supply_ids[0]" },
};

START_TEST(exact_bounds_at_the_edges)
{
	const struct edge *e = &edges[_i];
	const struct method *m = method_find(e->method);
	ck_assert_ptr_nonnull(m);
	json_object *p = json_tokener_parse(e->params);
	ck_assert_ptr_nonnull(p);
	struct schema_error err;
	int rc = schema_validate(m->schema, p, &err);
	if (!e->field)
		ck_assert_msg(rc == 0, "%s %s: refused at %s: %s", e->method, e->params, err.field, err.why);
	else {
		ck_assert_msg(rc != 0, "%s %s: accepted", e->method, e->params);
		ck_assert_str_eq(err.field, e->field);
	}
	json_object_put(p);
}
END_TEST

static Suite *gate_suite(void)
{
	Suite *s = suite_create("gate");
	TCase *doc = tcase_create("protocol.md");
	tcase_add_test(doc, protocol_md_matches_method_table);
	tcase_add_loop_test(doc, checker_catches_drift, 0, (int)(sizeof(drifts) / sizeof(drifts[0])));
	suite_add_tcase(s, doc);
	TCase *schemas = tcase_create("schemas");
	tcase_add_test(schemas, schemas_are_well_formed);
	tcase_add_loop_test(schemas, exact_bounds_at_the_edges, 0, (int)(sizeof(edges) / sizeof(edges[0])));
	suite_add_tcase(s, schemas);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(gate_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
