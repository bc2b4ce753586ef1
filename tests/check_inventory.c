/*
 * Inventory end to end (issue 3): providers publish a year of each kind of
 * supply over the real protocol and through respitectl, every bad input is
 * refused with its error and changes nothing, search finds only matching
 * supply in rank order with reasons, and tenancy holds.
 *
 * One daemon serves every test. Setup (in main, before the tests fork)
 * makes the users, the providers of authority AUTH and one fixture supply
 * of each kind with some availability and a confirmed booking; tests add
 * what they need under names of their own, so they run in any order.
 * Search tests use authorities of their own, so that what other tests
 * publish cannot change their answers. Dates are relative to today in
 * London, as the server counts them.
 */
#include "harness.h"

#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define AUTH "E08000012"   /* Liverpool: the fixtures */
#define OTHER "E06000001"  /* another authority */
#define SAUTH "E08000011"  /* the search test's authority */
#define GAUTH "E08000013"  /* generated data */
#define PW "inventory-pass"

static const char *db;
static struct h_daemon dmain;
static int in_setup = 1;
static int today_y, today_m, today_d;
static int spring_off, autumn_off; /* days from today to the Sundays the clocks change */

/* Fixtures made in main. */
static long long p_home, p_sit, p_scheme, p_hotel, p_rival;
static long long bed_id, worker_id, household_id, offer_id, rival_bed_id, booking_id;

/* ---- keeping what tests allocate reachable (and freed at the end) ---- */

static json_object **kept;
static size_t nkept, cap_kept;
static char **kept_str;
static size_t nkept_str, cap_kept_str;

static void *grow(void *a, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return a;
	*cap = *cap ? *cap * 2 : 1024;
	a = realloc(a, *cap * size);
	if (!a)
		abort();
	return a;
}

static json_object *keep(json_object *r)
{
	if (r) {
		kept = grow(kept, &cap_kept, nkept, sizeof *kept);
		kept[nkept++] = r;
	}
	return r;
}

static char *keep_str(char *s)
{
	if (s) {
		kept_str = grow(kept_str, &cap_kept_str, nkept_str, sizeof *kept_str);
		kept_str[nkept_str++] = s;
	}
	return s;
}

static void free_kept(void)
{
	for (size_t i = 0; i < nkept; i++)
		json_object_put(kept[i]);
	for (size_t i = 0; i < nkept_str; i++)
		free(kept_str[i]);
	nkept = nkept_str = 0;
}

/* ---- failing: an assertion inside a test, exit 99 during setup ---- */

__attribute__((format(printf, 2, 3)))
static void expect(int ok, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (ok)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (in_setup) {
		fprintf(stderr, "setup failed: %s\n", msg);
		exit(99);
	}
	ck_abort_msg("%s", msg);
}

static const char *js(json_object *o)
{
	return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "(none)";
}

static char *vfmt(const char *fmt, va_list ap)
{
	char *s = NULL;
	expect(vasprintf(&s, fmt, ap) >= 0, "out of memory");
	return keep_str(s);
}

__attribute__((format(printf, 1, 2)))
static char *fmt(const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	char *s = vfmt(f, ap);
	va_end(ap);
	return s;
}

/* ---- calls ---- */

static json_object *vcall(struct h_client *c, const char *method, const char *f, va_list ap)
{
	char *params = f ? vfmt(f, ap) : NULL;
	json_object *r = keep(h_call(c, method, params));
	expect(r != NULL, "no answer to %s", method);
	return r;
}

/* The result of a call that must succeed. */
__attribute__((format(printf, 3, 4)))
static json_object *must(struct h_client *c, const char *method, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	json_object *r = vcall(c, method, f, ap);
	va_end(ap);
	expect(h_result(r) != NULL, "%s failed: %s", method, js(r));
	return h_result(r);
}

/* The whole answer of a call that must be refused with code. */
__attribute__((format(printf, 4, 5)))
static json_object *refused(struct h_client *c, const char *method, int code, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	json_object *r = vcall(c, method, f, ap);
	va_end(ap);
	expect(h_code(r) == code, "%s: wanted error %d, got %s", method, code, js(r));
	return r;
}

static long long num(json_object *o, const char *path)
{
	json_object *v = h_get(o, path);
	expect(v != NULL, "no %s in %s", path, js(o));
	return (long long)json_object_get_int64(v);
}

static const char *str(json_object *o, const char *path)
{
	json_object *v = h_get(o, path);
	expect(v != NULL, "no %s in %s", path, js(o));
	return json_object_get_string(v);
}

static size_t len(json_object *o, const char *path)
{
	json_object *v = h_get(o, path);
	expect(v && json_object_is_type(v, json_type_array), "no array %s in %s", path, js(o));
	return json_object_array_length(v);
}

/* Whether array `path` of o holds the string s. */
static int has_string(json_object *o, const char *path, const char *s)
{
	json_object *a = h_get(o, path);
	for (size_t i = 0; a && i < json_object_array_length(a); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(a, i)), s) == 0)
			return 1;
	return 0;
}

static char tokens[16][128];
static int ntokens;

/* A connection logged in as user (NULL: anonymous); *token gets the token. */
static struct h_client *connect_as(const char *user, const char **token)
{
	struct h_client *c = h_connect(&dmain);
	expect(c != NULL, "cannot connect");
	if (!user)
		return c;
	const char *t = h_login(c, user, PW);
	expect(t != NULL, "login as %s failed", user);
	if (token) {
		int i = ntokens++ % 16;
		snprintf(tokens[i], sizeof tokens[i], "%s", t);
		*token = tokens[i];
	}
	return c;
}

/* ---- SQL ---- */

__attribute__((format(printf, 1, 2)))
static const char *sqlv(const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	char *sql = vfmt(f, ap);
	va_end(ap);
	char *v = keep_str(h_sql_value(db, sql));
	expect(v != NULL, "no value from %s", sql);
	return v;
}

/* The synthetic-data generator is no part of a deployment: load it into
 * its own schema, as the benchmarks do. */
static void load_generator(void)
{
	char *cmd = fmt("psql -X -q -v ON_ERROR_STOP=1 '%s' -f '%s/clients/gen/generate.sql'", db,
			getenv("RESPITE_SRCDIR"));
	expect(system(cmd) == 0, "cannot load the generator: %s", cmd);
}

__attribute__((format(printf, 1, 2)))
static long long sqli(const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	char *sql = vfmt(f, ap);
	va_end(ap);
	char *v = h_sql_value(db, sql);
	expect(v != NULL, "no value from %s", sql);
	long long n = atoll(v);
	free(v);
	return n;
}

/* Everything the inventory methods could change, by content: published
 * ranges are compared as ranges (publishing rewrites merged rows), the
 * rest row by row. */
static const char *state_sum(void)
{
	return sqlv("SELECT md5(concat_ws('|',"
		    " (SELECT string_agg(to_jsonb(x)::text, ',' ORDER BY x.id) FROM provider x),"
		    " (SELECT string_agg(to_jsonb(x)::text, ',' ORDER BY x.id) FROM supply x),"
		    " (SELECT string_agg(to_jsonb(x)::text, ',' ORDER BY x.id) FROM unit x),"
		    " (SELECT string_agg(x.supply_id || ' ' || x.nights::text, ',' ORDER BY x.supply_id, lower(x.nights)) FROM avail_nights x),"
		    " (SELECT string_agg(x.supply_id || ' ' || x.span::text, ',' ORDER BY x.supply_id, lower(x.span)) FROM avail_span x),"
		    " (SELECT string_agg(to_jsonb(x)::text, ',' ORDER BY x.id) FROM offer_session x),"
		    " (SELECT string_agg(to_jsonb(x)::text, ',' ORDER BY x.id) FROM allocation x),"
		    " (SELECT string_agg(x.user_id || ':' || x.key, ',' ORDER BY x.user_id, x.key) FROM idempotency x)))");
}

static long long count_nights(long long sid)
{
	return sqli("SELECT count(*) FROM avail_nights WHERE supply_id = %lld", sid);
}

static long long count_spans(long long sid)
{
	return sqli("SELECT count(*) FROM avail_span WHERE supply_id = %lld", sid);
}

/* ---- dates: London, relative to today ---- */

/* YYYY-MM-DD of today + off; the last 256 answers stay valid. */
static const char *day(int off)
{
	static char ring[256][16];
	static unsigned next;
	char *buf = ring[next++ % 256];
	struct tm t = { .tm_year = today_y - 1900, .tm_mon = today_m - 1, .tm_mday = today_d + off,
			.tm_hour = 12 };
	time_t s = timegm(&t);
	gmtime_r(&s, &t);
	strftime(buf, 16, "%Y-%m-%d", &t);
	return buf;
}

/* A London wall-clock time on day `off`, as an RFC 3339 instant in UTC. */
static const char *local_ts(int off, const char *hhmm)
{
	return sqlv("SELECT to_char(rs_local_instant(rs_today() + %d, '%s', 'x') AT TIME ZONE 'UTC', "
		    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')", off, hhmm);
}

/* [{"date":..,"start_time":t0,"end_time":t1}] for n days from day first. */
static char *shifts(int first, int n, const char *t0, const char *t1)
{
	size_t cap = (size_t)n * 80 + 8, used = 0;
	char *s = keep_str(malloc(cap));
	expect(s != NULL, "out of memory");
	used += (size_t)snprintf(s, cap, "[");
	for (int i = 0; i < n; i++)
		used += (size_t)snprintf(s + used, cap - used, "%s{\"date\":\"%s\",\"start_time\":\"%s\",\"end_time\":\"%s\"}",
					 i ? "," : "", day(first + i), t0, t1);
	snprintf(s + used, cap - used, "]");
	return s;
}

/* ---- templates: {bed} {worker} {household} {offer} {rival_bed}
 *      {booking} {dN} (today + N) {spring} {autumn_sat} ---- */

static void put(char **out, size_t *used, size_t *cap, const char *s)
{
	size_t n = strlen(s);
	if (*used + n + 1 > *cap) {
		*cap = (*used + n + 1) * 2;
		*out = realloc(*out, *cap);
	}
	memcpy(*out + *used, s, n + 1);
	*used += n;
}

static const char *token_value(const char *name)
{
	static const struct { const char *name; long long *id; } ids[] = {
		{ "bed", &bed_id }, { "worker", &worker_id }, { "household", &household_id },
		{ "offer", &offer_id }, { "rival_bed", &rival_bed_id }, { "booking", &booking_id },
		{ "home", &p_home },
	};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
		if (strcmp(ids[i].name, name) == 0)
			return fmt("%lld", *ids[i].id);
	if (name[0] == 'd' && name[1] != '\0')
		return day(atoi(name + 1));
	if (strcmp(name, "spring") == 0)
		return day(spring_off);
	if (strcmp(name, "autumn_sat") == 0)
		return day(autumn_off - 1);
	expect(0, "unknown template name {%s}", name);
	return "";
}

static char *expand(const char *tpl)
{
	size_t used = 0, cap = strlen(tpl) + 64;
	char *out = malloc(cap), name[64];
	out[0] = '\0';
	for (const char *p = tpl; *p;) {
		const char *close = *p == '{' ? strchr(p, '}') : NULL;
		size_t n = close ? (size_t)(close - p - 1) : 0;
		if (close && n > 0 && n < sizeof name && !memchr(p + 1, '"', n) && !memchr(p + 1, ':', n)) {
			memcpy(name, p + 1, n);
			name[n] = '\0';
			put(&out, &used, &cap, token_value(name));
			p = close + 1;
		} else {
			char one[2] = { *p++, '\0' };
			put(&out, &used, &cap, one);
		}
	}
	return keep_str(out);
}

/* ---- respitectl ---- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t cap = 4096, n = 0;
	char *s = malloc(cap);
	while (f && !feof(f)) {
		if (n + 2048 > cap)
			s = realloc(s, cap *= 2);
		n += fread(s + n, 1, cap - n - 1, f);
	}
	s[n] = '\0';
	if (f)
		fclose(f);
	return keep_str(s);
}

/* Runs respitectl with the token and args; returns its exit status and
 * what it printed. */
static int run_ctl(const char *token, const char *args, char **out, char **err)
{
	char outp[] = "/tmp/inv-out-XXXXXX", errp[] = "/tmp/inv-err-XXXXXX";
	int fo = mkstemp(outp), fe = mkstemp(errp);
	expect(fo >= 0 && fe >= 0, "mkstemp");
	close(fo);
	close(fe);
	char *cmd = fmt("'%s/respitectl' -c %s -t %s %s >%s 2>%s", getenv("RESPITE_BUILDDIR"),
			dmain.rpc_addr, token, args, outp, errp);
	int st = system(cmd);
	*out = slurp(outp);
	*err = slurp(errp);
	unlink(outp);
	unlink(errp);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Writes text to a new temporary .csv file; returns its name. */
static char *write_csv(const char *text)
{
	char *path = keep_str(strdup("/tmp/inv-XXXXXX.csv"));
	int fd = mkstemps(path, 4);
	expect(fd >= 0, "mkstemps");
	size_t n = strlen(text);
	expect(write(fd, text, n) == (ssize_t)n, "write %s", path);
	close(fd);
	return path;
}

/* ---- making supply ---- */

__attribute__((format(printf, 2, 3)))
static long long new_supply(struct h_client *c, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	json_object *r = vcall(c, "supply.create", f, ap);
	va_end(ap);
	expect(h_result(r) != NULL, "supply.create failed: %s", js(r));
	return num(h_result(r), "supply_id");
}

static long long new_provider(struct h_client *coord, const char *type, const char *name,
			      double lat, double lon, const char *extra)
{
	json_object *r = must(coord, "provider.create",
			      "{\"type\":\"%s\",\"name\":\"%s\",\"postcode_district\":\"L8\","
			      "\"lat\":%.6f,\"lon\":%.6f%s%s}", type, name, lat, lon,
			      extra ? "," : "", extra ? extra : "");
	return num(r, "provider_id");
}

/* A provider user linked to pid (before it first logs in: the session
 * keeps the identity it was opened with). */
static void provider_user(const char *user, long long pid)
{
	h_add_user(db, user, "provider", PW, AUTH);
	h_sql(db, fmt("UPDATE app_user SET provider_id = %lld WHERE username = '%s'", pid, user));
}

/* ======================================================================
 * Publishing a year of each kind
 * ====================================================================== */

START_TEST(publish_year_of_each_kind)
{
	const char *sum;
	struct h_client *home = connect_as("home", NULL), *sit = connect_as("sitters", NULL),
			*scheme = connect_as("scheme", NULL), *hotel = connect_as("hotel", NULL);

	/* a bed: a year of nights is one range */
	long long bed = new_supply(home, "{\"kind\":\"bed\",\"name\":\"Year bed\",\"price_pence\":11000,"
				   "\"price_unit\":\"night\",\"capabilities\":[\"dementia\"]}");
	json_object *r = must(home, "availability.publish", "{\"supply_id\":%lld,\"ranges\":[{\"from\":\"%s\",\"to\":\"%s\"}]}",
			      bed, day(1), day(366));
	ck_assert_int_eq(num(r, "received"), 1);
	ck_assert_int_eq(num(r, "night_ranges"), 1);
	ck_assert_str_eq(sqlv("SELECT nights::text FROM avail_nights WHERE supply_id = %lld", bed),
			 fmt("[%s,%s)", day(1), day(366)));
	/* publishing the same year again changes nothing */
	sum = state_sum();
	r = must(home, "availability.publish", "{\"supply_id\":%lld,\"ranges\":[{\"from\":\"%s\",\"to\":\"%s\"}]}",
		 bed, day(1), day(366));
	ck_assert_int_eq(num(r, "night_ranges"), 1);
	ck_assert_str_eq(state_sum(), sum);

	/* a worker: 365 overnight shifts, across both changes of the clocks */
	long long w = new_supply(sit, "{\"kind\":\"worker\",\"name\":\"Year worker\",\"gender\":\"female\","
				 "\"languages\":[\"en\",\"pa\"],\"capabilities\":[\"dementia\",\"sup:waking_night\"],"
				 "\"price_pence\":2000,\"price_unit\":\"hour\"}");
	r = must(sit, "availability.publish", "{\"supply_id\":%lld,\"ranges\":%s}", w, shifts(1, 365, "21:00", "07:00"));
	ck_assert_int_eq(num(r, "received"), 365);
	ck_assert_int_eq(num(r, "spans"), 365);
	ck_assert_int_eq(count_spans(w), 365);
	/* the night the clocks go forward is 9 hours, the night they go back 11 */
	ck_assert_str_eq(sqlv("SELECT (extract(epoch FROM upper(span) - lower(span)) / 3600)::int FROM avail_span "
			      "WHERE supply_id = %lld AND lower(span) = rs_local_instant(rs_today() + %d, '21:00', 'x')",
			      w, spring_off - 1), "9");
	ck_assert_str_eq(sqlv("SELECT (extract(epoch FROM upper(span) - lower(span)) / 3600)::int FROM avail_span "
			      "WHERE supply_id = %lld AND lower(span) = rs_local_instant(rs_today() + %d, '21:00', 'x')",
			      w, autumn_off - 1), "11");
	ck_assert_int_eq(sqli("SELECT count(*) FROM avail_span WHERE supply_id = %lld "
			      "AND upper(span) - lower(span) = interval '10 hours'", w), 363);
	/* London wall-clock times come back unchanged on the change day */
	r = must(sit, "availability.list", "{\"supply_id\":%lld,\"from\":\"%s\",\"to\":\"%s\"}",
		 w, day(spring_off - 1), day(spring_off));
	ck_assert_int_eq(len(r, "spans"), 2); /* the night before runs into the window */
	ck_assert_str_eq(str(r, "spans.1.local_start"), fmt("%sT21:00", day(spring_off - 1)));
	ck_assert_str_eq(str(r, "spans.1.local_end"), fmt("%sT07:00", day(spring_off)));

	/* a Shared Lives household inside its approval: stays and day support */
	long long hh = new_supply(scheme, "{\"kind\":\"household\",\"name\":\"Year household\",\"bedrooms\":1,"
				  "\"day_places\":1,\"day_price_pence\":1200,\"day_price_unit\":\"hour\","
				  "\"price_pence\":7000,\"price_unit\":\"night\",\"approval_expires\":\"%s\","
				  "\"capabilities\":[\"learning_disability\"]}", day(400));
	char *items = shifts(1, 365, "10:00", "16:00");
	items[strlen(items) - 1] = '\0'; /* drop the ] to add the stay */
	r = must(scheme, "availability.publish", "{\"supply_id\":%lld,\"ranges\":%s,{\"from\":\"%s\",\"to\":\"%s\"}]}",
		 hh, items, day(1), day(366));
	ck_assert_int_eq(num(r, "received"), 366);
	ck_assert_int_eq(num(r, "night_ranges"), 1);
	ck_assert_int_eq(num(r, "spans"), 365);

	/* an offer: a year of evening sessions with 4 seats, and a matinee */
	long long of = new_supply(hotel, "{\"kind\":\"offer\",\"name\":\"Year theatre\",\"offer_type\":\"theatre\","
				  "\"party_size\":2,\"price_pence\":0,\"price_unit\":\"session\",\"expires\":\"%s\"}",
				  day(400));
	r = must(hotel, "availability.publish", "{\"supply_id\":%lld,\"ranges\":["
		 "{\"from\":\"%s\",\"to\":\"%s\",\"starts_at\":\"19:30\",\"quantity\":4},"
		 "{\"day\":\"%s\",\"starts_at\":\"14:30\",\"quantity\":2}]}", of, day(1), day(366), day(10));
	ck_assert_int_eq(num(r, "sessions"), 366);
	ck_assert_int_eq(sqli("SELECT count(*) FROM offer_session WHERE supply_id = %lld", of), 366);
	ck_assert_int_eq(sqli("SELECT sum(quantity) FROM offer_session WHERE supply_id = %lld", of), 365 * 4 + 2);
	/* publishing a session again sets its quantity */
	r = must(hotel, "availability.publish", "{\"supply_id\":%lld,\"ranges\":[{\"day\":\"%s\",\"starts_at\":\"19:30\",\"quantity\":6}]}",
		 of, day(10));
	ck_assert_int_eq(sqli("SELECT count(*) FROM offer_session WHERE supply_id = %lld", of), 366);
	ck_assert_int_eq(sqli("SELECT quantity FROM offer_session WHERE supply_id = %lld AND day = '%s' "
			      "AND starts_at = rs_local_instant('%s', '19:30', 'x')", of, day(10), day(10)), 6);
	h_close(home);
	h_close(sit);
	h_close(scheme);
	h_close(hotel);
}
END_TEST

START_TEST(overlapping_ranges_are_merged)
{
	struct h_client *home = connect_as("home", NULL), *sit = connect_as("sitters", NULL);
	long long bed = new_supply(home, "{\"kind\":\"bed\",\"name\":\"Merge bed\",\"price_pence\":9000,\"price_unit\":\"night\"}");

	/* overlapping and touching ranges of one call become one */
	json_object *r = must(home, "availability.publish", "{\"supply_id\":%lld,\"ranges\":["
			      "{\"from\":\"%s\",\"to\":\"%s\"},{\"from\":\"%s\",\"to\":\"%s\"},{\"from\":\"%s\",\"to\":\"%s\"}]}",
			      bed, day(1), day(10), day(5), day(20), day(20), day(25));
	ck_assert_int_eq(num(r, "night_ranges"), 1);
	r = must(home, "availability.publish", "{\"supply_id\":%lld,\"ranges\":[{\"from\":\"%s\",\"to\":\"%s\"}]}",
		 bed, day(30), day(40));
	ck_assert_int_eq(num(r, "night_ranges"), 2);
	/* and with what is published already */
	r = must(home, "availability.publish", "{\"supply_id\":%lld,\"ranges\":[{\"from\":\"%s\",\"to\":\"%s\"}]}",
		 bed, day(24), day(31));
	ck_assert_int_eq(num(r, "night_ranges"), 1);
	ck_assert_str_eq(sqlv("SELECT string_agg(nights::text, ' ') FROM avail_nights WHERE supply_id = %lld", bed),
			 fmt("[%s,%s)", day(1), day(40)));

	/* shifts too: overlapping instants and a local-time shift that touches them */
	long long w = new_supply(sit, "{\"kind\":\"worker\",\"name\":\"Merge worker\",\"price_pence\":2000,\"price_unit\":\"hour\"}");
	r = must(sit, "availability.publish", "{\"supply_id\":%lld,\"ranges\":["
		 "{\"start\":\"%s\",\"end\":\"%s\"},{\"start\":\"%s\",\"end\":\"%s\"},"
		 "{\"date\":\"%s\",\"start_time\":\"14:00\",\"end_time\":\"18:00\"}]}",
		 w, local_ts(3, "08:00"), local_ts(3, "12:00"), local_ts(3, "11:00"), local_ts(3, "14:00"), day(3));
	ck_assert_int_eq(num(r, "spans"), 1);
	ck_assert_int_eq(sqli("SELECT (extract(epoch FROM upper(span) - lower(span)) / 3600)::int FROM avail_span "
			      "WHERE supply_id = %lld", w), 10);
	h_close(home);
	h_close(sit);
}
END_TEST

START_TEST(withdraw_gives_back_what_is_not_booked)
{
	struct h_client *home = connect_as("home", NULL);
	long long bed = new_supply(home, "{\"kind\":\"bed\",\"name\":\"Maintenance bed\",\"price_pence\":9000,\"price_unit\":\"night\"}");
	must(home, "availability.publish", "{\"supply_id\":%lld,\"ranges\":[{\"from\":\"%s\",\"to\":\"%s\"}]}",
	     bed, day(1), day(366));
	json_object *r = must(home, "availability.withdraw", "{\"supply_id\":%lld,\"ranges\":[{\"from\":\"%s\",\"to\":\"%s\"}]}",
			      bed, day(50), day(57));
	ck_assert_int_eq(num(r, "nights_removed"), 7);
	ck_assert_int_eq(num(r, "night_ranges"), 2);
	ck_assert_str_eq(sqlv("SELECT string_agg(nights::text, ' ' ORDER BY nights) FROM avail_nights WHERE supply_id = %lld", bed),
			 fmt("[%s,%s) [%s,%s)", day(1), day(50), day(57), day(366)));
	h_close(home);
}
END_TEST

/* ======================================================================
 * Through respitectl
 * ====================================================================== */

/* 365 rows of shifts; row `bad` (0-based, -1: none) is dated `bad_off`
 * days from today; row 9 has a note over two lines. */
static char *shift_csv(int first, const char *t0, const char *t1, int bad, int bad_off)
{
	size_t cap = 365 * 120 + 256, used = 0;
	char *s = keep_str(malloc(cap));
	used += (size_t)snprintf(s, cap, "date,start_time,end_time,note\r\n");
	for (int i = 0; i < 365; i++) {
		const char *note = i == 9 ? "\"Mrs \"\"K\"\", please\nring the bell\"" : i % 7 == 0 ? "\"weekly, as agreed\"" : "";
		used += (size_t)snprintf(s + used, cap - used, "%s,%s,%s,%s\r\n",
					 day(i == bad ? bad_off : first + i), t0, t1, note);
	}
	return s;
}

START_TEST(respitectl_publishes_a_year_of_each_kind)
{
	const char *tsit, *thome, *tscheme, *thotel;
	char *out, *err;
	struct h_client *sit = connect_as("sitters", &tsit), *home = connect_as("home", &thome),
			*scheme = connect_as("scheme", &tscheme), *hotel = connect_as("hotel", &thotel);

	long long w = new_supply(sit, "{\"kind\":\"worker\",\"name\":\"CSV worker\",\"price_pence\":2000,\"price_unit\":\"hour\"}");
	char *file = write_csv(shift_csv(1, "09:00", "17:00", -1, 0));
	int rc = run_ctl(tsit, fmt("import-availability --idempotency-key year-%lld %lld %s", w, w, file), &out, &err);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	ck_assert_ptr_nonnull(strstr(out, "\"spans\":365"));
	ck_assert_int_eq(count_spans(w), 365);
	ck_assert_str_eq(sqlv("SELECT min(lower(span))::text = rs_local_instant(rs_today() + 1, '09:00', 'x')::text "
			      "FROM avail_span WHERE supply_id = %lld", w), "t");
	/* the same key again: the first answer, nothing changed */
	const char *sum = state_sum();
	rc = run_ctl(tsit, fmt("import-availability %lld %s --idempotency-key year-%lld", w, file, w), &out, &err);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	ck_assert_ptr_nonnull(strstr(out, "\"replayed\":true"));
	ck_assert_str_eq(state_sum(), sum);
	unlink(file);

	/* a bed, a year of nights */
	long long bed = new_supply(home, "{\"kind\":\"bed\",\"name\":\"CSV bed\",\"price_pence\":9000,\"price_unit\":\"night\"}");
	file = write_csv(fmt("From,To\n%s,\"%s\"\n", day(1), day(366)));
	rc = run_ctl(thome, fmt("import-availability %lld %s", bed, file), &out, &err);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	ck_assert_ptr_nonnull(strstr(out, "\"night_ranges\":1"));
	ck_assert_int_eq(count_nights(bed), 1);
	unlink(file);

	/* a household: a year of stays and weekday day support in one file,
	 * read from stdin */
	long long hh = new_supply(scheme, "{\"kind\":\"household\",\"name\":\"CSV household\",\"bedrooms\":2,"
				  "\"day_places\":1,\"day_price_pence\":1200,\"day_price_unit\":\"hour\","
				  "\"price_pence\":7000,\"price_unit\":\"night\",\"approval_expires\":\"%s\"}", day(700));
	size_t cap = 365 * 64 + 256, used = 0;
	char *text = keep_str(malloc(cap));
	used += (size_t)snprintf(text, cap, "from,to,date,start_time,end_time\n%s,%s,,,\n", day(1), day(366));
	for (int i = 1; i <= 365; i++)
		used += (size_t)snprintf(text + used, cap - used, ",,%s,10:00,16:00\n", day(i));
	file = write_csv(text);
	rc = run_ctl(tscheme, fmt("import-availability %lld - <%s", hh, file), &out, &err);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	ck_assert_ptr_nonnull(strstr(out, "\"spans\":365"));
	ck_assert_int_eq(count_nights(hh), 1);
	ck_assert_int_eq(count_spans(hh), 365);
	unlink(file);

	/* an offer: a year of sessions with their quantities */
	long long of = new_supply(hotel, "{\"kind\":\"offer\",\"name\":\"CSV meal\",\"offer_type\":\"meal\","
				  "\"price_pence\":0,\"price_unit\":\"session\",\"expires\":\"%s\"}", day(400));
	used = 0;
	long long seats = 0;
	used += (size_t)snprintf(text, cap, "day,starts_at,quantity,comment\n");
	for (int i = 1; i <= 365; i++) {
		used += (size_t)snprintf(text + used, cap - used, "%s,\"18:00\",%d,\"table for two, window\"\n",
					 day(i), 1 + i % 3);
		seats += 1 + i % 3;
	}
	file = write_csv(text);
	rc = run_ctl(thotel, fmt("import-availability %lld %s", of, file), &out, &err);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	ck_assert_ptr_nonnull(strstr(out, "\"sessions\":365"));
	ck_assert_int_eq(sqli("SELECT sum(quantity) FROM offer_session WHERE supply_id = %lld", of), seats);
	unlink(file);
	h_close(sit);
	h_close(home);
	h_close(scheme);
	h_close(hotel);
}
END_TEST

/* A row the server refuses (a date in the past) is reported at its own
 * line, past a quoted note over two lines, and nothing of the file is
 * published. */
START_TEST(respitectl_bad_row_publishes_nothing)
{
	const char *tsit;
	char *out, *err;
	struct h_client *sit = connect_as("sitters", &tsit);
	long long w = new_supply(sit, "{\"kind\":\"worker\",\"name\":\"CSV refused worker\",\"price_pence\":2000,\"price_unit\":\"hour\"}");
	const char *sum = state_sum();

	/* row 199 starts on line 202: header, 199 rows before it, one note of two lines */
	char *file = write_csv(shift_csv(1, "21:00", "07:00", 199, -2));
	int rc = run_ctl(tsit, fmt("import-availability %lld %s", w, file), &out, &err);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(err, fmt("%s:202: column date: in the past", file)) != NULL, "stderr: %s", err);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(count_spans(w), 0);
	ck_assert_str_eq(state_sum(), sum);
	unlink(file);

	/* a row refused before anything is sent: line 150 */
	file = write_csv(shift_csv(1, "21:00", "07:00", -1, 0));
	char *text = slurp(file);
	char *line = text;
	for (int i = 1; i < 150; i++)
		line = strchr(line, '\n') + 1;
	memcpy(line + 11, "21:60", 5); /* the start_time of line 150 */
	unlink(file);
	file = write_csv(text);
	rc = run_ctl(tsit, fmt("import-availability %lld %s", w, file), &out, &err);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(err, fmt("%s:150: column start_time: not a time", file)) != NULL, "stderr: %s", err);
	ck_assert_int_eq(count_spans(w), 0);
	ck_assert_str_eq(state_sum(), sum);
	unlink(file);
	h_close(sit);
}
END_TEST

/* Bad files: each refused at its line and column, exit 1, nothing changed. */
static const struct {
	const char *supply;  /* template of the supply id */
	const char *csv;     /* template of the file */
	int line;
	const char *column;  /* NULL: the message names no column */
	const char *reason;  /* part of the message */
} bad_files[] = {
	{ "{worker}", "date,start_time,end_time\n{d1},09:00,17:00\n{d2},9am,17:00\n", 3, "start_time", "not a time" },
	{ "{worker}", "date,start_time,end_time\n{d1},09:00,17:00\n\n{d2},09:00\n", 4, NULL, "2 cells, but the header names 3" },
	{ "{worker}", "date,start_time,end_time\n{d1},09:00,17:00\n\"{d2},09:00,17:00\n", 3, NULL, "not closed" },
	{ "{worker}", "date,start_time,end_time\n{d1},09:00,17:00\n{d2},\"09:00\"x,17:00\n", 3, NULL, "after the closing quote" },
	{ "{worker}", "date,strat_time,end_time\n{d1},09:00,17:00\n", 1, NULL, "\"strat_time\": unknown" },
	{ "{worker}", "date,start_time,end_time\n{d1},09:00,\n", 2, "end_time", "empty" },
	{ "{worker}", "date,end_time\n{d1},17:00\n", 2, "start_time", "no such column" },
	{ "{worker}", "from,to\n{d1},{d3}\n", 2, "from", "not for this supply" },
	{ "{worker}", "date,start_time,end_time\n2027-02-30,09:00,17:00\n", 2, "date", "not a date" },
	{ "{worker}", "date,start_time,end_time\n{d1},09:00,17:00\n{d-1},09:00,17:00\n", 3, "date", "in the past" },
	{ "{worker}", "date,start_time,end_time\n{spring},01:30,05:00\n", 2, "start_time", "does not exist" },
	{ "{worker}", "date,start_time,end_time\n{autumn_sat},09:00,09:00\n", 2, "end_time", "at most 24 hours" },
	{ "{worker}", "start,end\n{d2}T10:00:00Z,{d2}T09:00:00Z\n", 2, "end", "must be after start" },
	{ "{bed}", "from,to\n{d1},{d5}\n{d9},{d3}\n", 3, "to", "must be after from" },
	{ "{bed}", "from,to\n{d1},{d5}\n{d9},{d800}\n", 3, "to", "more than two years" },
	{ "{bed}", "from,to,quantity\n{d1},{d5},3\n", 2, "quantity", "not for this supply" },
	{ "{household}", "from,to\n{d1},{d10}\n{d5},{d500}\n", 3, "to", "outside the approval period" },
	{ "{household}", "date,start_time,end_time\n{d450},10:00,16:00\n", 2, "end_time", "outside the approval period" },
	{ "{offer}", "day,quantity\n{d1},3\n{d2},-2\n", 3, "quantity", "whole number, 0 or more" },
	{ "{offer}", "from,to\n{d1},{d3}\n", 2, "quantity", "no such column" },
	{ "{offer}", "day,quantity\n{d1},3\n{d450},3\n", 3, "day", "after the offer expires" },
	{ "{offer}", "day,starts_at,quantity\n{d1},18:00,3\n{d1},18:00,4\n", 3, NULL, "names the same session as ranges[0]" },
};

START_TEST(respitectl_bad_files)
{
	static const char *const users[] = { "sitters", "home", "scheme", "hotel" };
	const char *supply = expand(bad_files[_i].supply), *token;
	const char *user = strstr(bad_files[_i].supply, "worker") ? users[0] : strstr(bad_files[_i].supply, "bed") ? users[1]
			   : strstr(bad_files[_i].supply, "household") ? users[2] : users[3];
	char *out, *err;
	struct h_client *c = connect_as(user, &token);
	char *file = write_csv(expand(bad_files[_i].csv));
	const char *sum = state_sum();

	int rc = run_ctl(token, fmt("import-availability %s %s", supply, file), &out, &err);
	ck_assert_msg(rc == 1, "exit %d for %s: %s", rc, bad_files[_i].csv, err);
	const char *want = bad_files[_i].column ? fmt("%s:%d: column %s: ", file, bad_files[_i].line, bad_files[_i].column)
						: fmt("%s:%d: ", file, bad_files[_i].line);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "wanted %s..., got: %s", want, err);
	ck_assert_msg(strstr(err, bad_files[_i].reason) != NULL, "wanted \"%s\" in: %s", bad_files[_i].reason, err);
	ck_assert_str_eq(out, "");
	ck_assert_str_eq(state_sum(), sum);
	unlink(file);
	h_close(c);
}
END_TEST

START_TEST(respitectl_lists_supply_and_bookings)
{
	const char *tsit, *tcarer;
	char *out, *err;
	struct h_client *sit = connect_as("sitters", &tsit), *carer = connect_as("carer", &tcarer);

	/* every page of the provider's own supply */
	for (int i = 0; i < 3; i++)
		new_supply(sit, "{\"kind\":\"worker\",\"name\":\"Listed worker %d\",\"price_pence\":2000,\"price_unit\":\"hour\"}", i);
	long long mine = sqli("SELECT count(*) FROM supply WHERE provider_id = %lld", p_sit);
	int rc = run_ctl(tsit, "supply worker", &out, &err);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	json_object *r = keep(json_tokener_parse(out));
	ck_assert_int_eq(num(r, "provider_id"), p_sit);
	ck_assert_int_eq((long long)len(r, "supply"), mine);
	ck_assert_int_eq(num(r, "supply.0.supply_id"), worker_id);
	ck_assert_ptr_null(h_get(r, "next_offset")); /* null */
	rc = run_ctl(tsit, "supply limit=2", &out, &err);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	r = keep(json_tokener_parse(out));
	ck_assert_int_eq((long long)len(r, "supply"), 2);
	ck_assert_int_eq(num(r, "next_offset"), 2);
	/* another kind: none */
	rc = run_ctl(tsit, "supply bed", &out, &err);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	r = keep(json_tokener_parse(out));
	ck_assert_int_eq((long long)len(r, "supply"), 0);

	/* the upcoming booking of the fixture worker */
	rc = run_ctl(tsit, "bookings", &out, &err);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	r = keep(json_tokener_parse(out));
	ck_assert_int_eq((long long)len(r, "bookings"), 1);
	ck_assert_int_eq(num(r, "bookings.0.booking_id"), booking_id);
	ck_assert_int_eq(num(r, "bookings.0.supply_id"), worker_id);
	rc = run_ctl(tsit, fmt("bookings from=%s to=%s", day(11), day(40)), &out, &err);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	r = keep(json_tokener_parse(out));
	ck_assert_int_eq((long long)len(r, "bookings"), 0);

	/* a carer may not list a provider's supply: the server's refusal, exit 1 */
	rc = run_ctl(tcarer, "supply", &out, &err);
	ck_assert_int_eq(rc, 1);
	ck_assert_ptr_nonnull(strstr(err, "forbidden"));
	h_close(sit);
	h_close(carer);
}
END_TEST

/* ======================================================================
 * Every bad input: its error, and nothing changed
 * ====================================================================== */

static const struct {
	const char *user;    /* NULL: anonymous */
	const char *method;
	const char *params;  /* template */
	int code;
	const char *field;   /* -32602: data.field */
	const char *reason;  /* -32602: part of data.reason; others: data.reason */
} bad_inputs[] = {
	/* end before start */
	{ "home", "availability.publish", "{\"supply_id\":{bed},\"ranges\":[{\"from\":\"{d10}\",\"to\":\"{d5}\"}]}",
	  -32602, "ranges[0].to", "must be after from" },
	{ "home", "availability.publish", "{\"supply_id\":{bed},\"ranges\":[{\"from\":\"{d10}\",\"to\":\"{d10}\"}]}",
	  -32602, "ranges[0].to", "must be after from" },
	{ "sitters", "availability.publish", "{\"supply_id\":{worker},\"ranges\":[{\"start\":\"{d10}T10:00:00Z\",\"end\":\"{d10}T09:00:00Z\"}]}",
	  -32602, "ranges[0].end", "must be after start" },
	{ "hotel", "availability.publish", "{\"supply_id\":{offer},\"ranges\":[{\"from\":\"{d10}\",\"to\":\"{d4}\",\"quantity\":2}]}",
	  -32602, "ranges[0].to", "must be after from" },
	/* dates in the past; all or nothing: the good first range is not kept */
	{ "home", "availability.publish", "{\"supply_id\":{bed},\"ranges\":[{\"from\":\"{d-1}\",\"to\":\"{d5}\"}]}",
	  -32602, "ranges[0].from", "in the past" },
	{ "home", "availability.publish", "{\"supply_id\":{bed},\"ranges\":[{\"from\":\"{d40}\",\"to\":\"{d50}\"},{\"from\":\"{d-3}\",\"to\":\"{d2}\"}]}",
	  -32602, "ranges[1].from", "in the past" },
	{ "sitters", "availability.publish", "{\"supply_id\":{worker},\"ranges\":[{\"date\":\"{d-1}\",\"start_time\":\"09:00\",\"end_time\":\"17:00\"}]}",
	  -32602, "ranges[0].date", "in the past" },
	{ "sitters", "availability.publish", "{\"supply_id\":{worker},\"ranges\":[{\"start\":\"{d-2}T09:00:00Z\",\"end\":\"{d-2}T17:00:00Z\"}]}",
	  -32602, "ranges[0].start", "in the past" },
	{ "hotel", "availability.publish", "{\"supply_id\":{offer},\"ranges\":[{\"day\":\"{d-1}\",\"quantity\":2}]}",
	  -32602, "ranges[0].day", "in the past" },
	{ "home", "availability.publish", "{\"supply_id\":{bed},\"ranges\":[{\"from\":\"{d1}\",\"to\":\"{d800}\"}]}",
	  -32602, "ranges[0].to", "more than two years ahead" },
	{ "home", "availability.withdraw", "{\"supply_id\":{bed},\"ranges\":[{\"from\":\"{d-5}\",\"to\":\"{d3}\"}]}",
	  -32602, "ranges[0].from", "in the past" },
	/* clocks: a skipped local time, a shift over 24 hours on the long night */
	{ "sitters", "availability.publish", "{\"supply_id\":{worker},\"ranges\":[{\"date\":\"{spring}\",\"start_time\":\"01:30\",\"end_time\":\"05:00\"}]}",
	  -32602, "ranges[0].start_time", "does not exist" },
	{ "sitters", "availability.publish", "{\"supply_id\":{worker},\"ranges\":[{\"date\":\"{autumn_sat}\",\"start_time\":\"09:00\",\"end_time\":\"09:00\"}]}",
	  -32602, "ranges[0].end", "at most 24 hours" },
	/* unknown capability, language; codes given in the wrong field */
	{ "home", "supply.create", "{\"kind\":\"bed\",\"name\":\"Bad caps\",\"price_pence\":1,\"price_unit\":\"night\",\"capabilities\":[\"dementia\",\"flying\"]}",
	  -32602, "capabilities[1]", "unknown capability flying" },
	{ "home", "supply.create", "{\"kind\":\"bed\",\"name\":\"Bad lang\",\"price_pence\":1,\"price_unit\":\"night\",\"languages\":[\"en\",\"xx\"]}",
	  -32602, "languages[1]", "unknown language xx" },
	{ "home", "supply.create", "{\"kind\":\"bed\",\"name\":\"Lang in caps\",\"price_pence\":1,\"price_unit\":\"night\",\"capabilities\":[\"lang:pa\"]}",
	  -32602, "capabilities[0]", "languages field" },
	{ "home", "supply.update", "{\"supply_id\":{bed},\"capabilities\":[\"hoist\",\"dementia\",\"nope\"]}",
	  -32602, "capabilities[2]", "unknown capability nope" },
	{ "carer", "availability.search", "{\"from\":\"{d5}\",\"to\":\"{d8}\",\"needs\":[\"dementia\",\"telepathy\"]}",
	  -32602, "needs[1]", "unknown capability telepathy" },
	{ "carer", "availability.search", "{\"from\":\"{d5}\",\"to\":\"{d8}\",\"language\":\"xx\"}",
	  -32602, "language", "unknown language" },
	/* outside an approval period, after an offer expires */
	{ "scheme", "availability.publish", "{\"supply_id\":{household},\"ranges\":[{\"from\":\"{d5}\",\"to\":\"{d500}\"}]}",
	  -32602, "ranges[0].to", "outside the approval period" },
	{ "scheme", "availability.publish", "{\"supply_id\":{household},\"ranges\":[{\"date\":\"{d450}\",\"start_time\":\"10:00\",\"end_time\":\"16:00\"}]}",
	  -32602, "ranges[0].end", "outside the approval period" },
	{ "hotel", "availability.publish", "{\"supply_id\":{offer},\"ranges\":[{\"day\":\"{d450}\",\"quantity\":2}]}",
	  -32602, "ranges[0].day", "after the offer expires" },
	/* negative quantities and prices */
	{ "hotel", "availability.publish", "{\"supply_id\":{offer},\"ranges\":[{\"day\":\"{d5}\",\"quantity\":2},{\"day\":\"{d6}\",\"quantity\":-1}]}",
	  -32602, "ranges[1].quantity", "out of range" },
	{ "home", "supply.create", "{\"kind\":\"bed\",\"name\":\"Negative\",\"price_pence\":-5,\"price_unit\":\"night\"}",
	  -32602, "price_pence", "out of range" },
	{ "hotel", "availability.publish", "{\"supply_id\":{offer},\"ranges\":[{\"day\":\"{d5}\",\"quantity\":10001}]}",
	  -32602, "ranges[0].quantity", "out of range" },
	/* shapes that do not belong to the kind */
	{ "home", "availability.publish", "{\"supply_id\":{bed},\"ranges\":[{\"from\":\"{d5}\",\"to\":\"{d6}\",\"quantity\":1}]}",
	  -32602, "ranges[0].quantity", "not allowed" },
	{ "sitters", "availability.publish", "{\"supply_id\":{worker},\"ranges\":[{\"date\":\"{d5}\",\"start_time\":\"09:00\",\"end_time\":\"17:00\",\"quantity\":1}]}",
	  -32602, "ranges[0].quantity", "not allowed for kind worker" },
	{ "hotel", "availability.publish", "{\"supply_id\":{offer},\"ranges\":[{\"day\":\"{d5}\",\"starts_at\":\"18:00\",\"quantity\":2},{\"day\":\"{d5}\",\"starts_at\":\"18:00\",\"quantity\":3}]}",
	  -32602, "ranges[1]", "names the same session as ranges[0]" },
	{ "home", "supply.create", "{\"kind\":\"worker\",\"name\":\"Wrong kind\",\"price_pence\":1,\"price_unit\":\"hour\"}",
	  -32602, "kind", "supplies bed" },
	{ "home", "availability.publish", "{\"supply_id\":{bed},\"ranges\":[]}", -32602, "ranges", "" },
	/* withdrawing booked availability: refused whole, naming the booking */
	{ "sitters", "availability.withdraw", "{\"supply_id\":{worker},\"ranges\":[{\"date\":\"{d9}\",\"start_time\":\"09:00\",\"end_time\":\"17:00\"},{\"date\":\"{d10}\",\"start_time\":\"09:00\",\"end_time\":\"17:00\"}]}",
	  -32016, NULL, "booked" },
	{ "sitters", "supply.update", "{\"supply_id\":{worker},\"active\":false}", -32016, NULL, "booked" },
	/* the travel buffer after the visit (12:00-12:15) is held too */
	{ "sitters", "availability.withdraw", "{\"supply_id\":{worker},\"ranges\":[{\"date\":\"{d10}\",\"start_time\":\"12:05\",\"end_time\":\"12:10\"}]}",
	  -32016, NULL, "booked" },
	/* tenancy and roles */
	{ "rival", "availability.publish", "{\"supply_id\":{bed},\"ranges\":[{\"from\":\"{d40}\",\"to\":\"{d50}\"}]}", -32004, NULL, "forbidden" },
	{ "rival", "availability.withdraw", "{\"supply_id\":{bed},\"ranges\":[{\"from\":\"{d1}\",\"to\":\"{d3}\"}]}", -32004, NULL, "forbidden" },
	{ "rival", "supply.update", "{\"supply_id\":{bed},\"price_pence\":1}", -32004, NULL, "forbidden" },
	{ "rival", "supply.create", "{\"provider_id\":{home},\"kind\":\"bed\",\"name\":\"Planted\",\"price_pence\":1,\"price_unit\":\"night\"}", -32004, NULL, "forbidden" },
	{ "rival", "provider.update", "{\"provider_id\":{home},\"name\":\"Renamed\"}", -32004, NULL, "forbidden" },
	{ "coord2", "availability.publish", "{\"supply_id\":{bed},\"ranges\":[{\"from\":\"{d40}\",\"to\":\"{d50}\"}]}", -32005, NULL, "not_found" },
	{ "coord2", "supply.update", "{\"supply_id\":{worker},\"price_pence\":1}", -32005, NULL, "not_found" },
	{ "carer", "availability.publish", "{\"supply_id\":{bed},\"ranges\":[{\"from\":\"{d40}\",\"to\":\"{d50}\"}]}", -32004, NULL, "forbidden" },
	{ "carer", "availability.withdraw", "{\"supply_id\":{bed},\"ranges\":[{\"from\":\"{d1}\",\"to\":\"{d3}\"}]}", -32004, NULL, "forbidden" },
	{ "carer", "supply.create", "{\"provider_id\":{home},\"kind\":\"bed\",\"name\":\"Carer's\",\"price_pence\":1,\"price_unit\":\"night\"}", -32004, NULL, "forbidden" },
	{ NULL, "availability.publish", "{\"supply_id\":{bed},\"ranges\":[{\"from\":\"{d40}\",\"to\":\"{d50}\"}]}", -32001, NULL, "unauthorized" },
	{ "home", "availability.publish", "{\"supply_id\":999999,\"ranges\":[{\"from\":\"{d40}\",\"to\":\"{d50}\"}]}", -32005, NULL, "not_found" },
};

START_TEST(bad_input_table)
{
	struct h_client *c = connect_as(bad_inputs[_i].user, NULL);
	const char *sum = state_sum();
	char *params = expand(bad_inputs[_i].params);
	json_object *r = keep(h_call(c, bad_inputs[_i].method, params));

	ck_assert_msg(r != NULL, "no answer");
	ck_assert_msg(h_code(r) == bad_inputs[_i].code, "%s %s: wanted %d, got %s", bad_inputs[_i].method, params,
		      bad_inputs[_i].code, js(r));
	if (bad_inputs[_i].code == -32602) {
		ck_assert_str_eq(str(r, "error.data.field"), bad_inputs[_i].field);
		ck_assert_msg(strstr(str(r, "error.data.reason"), bad_inputs[_i].reason) != NULL,
			      "wanted \"%s\" in %s", bad_inputs[_i].reason, js(r));
	} else {
		ck_assert_str_eq(h_reason(r), bad_inputs[_i].reason);
	}
	if (bad_inputs[_i].code == -32016) {
		ck_assert_int_eq(len(r, "error.data.bookings"), 1);
		ck_assert_int_eq(num(r, "error.data.bookings.0"), booking_id);
	}
	ck_assert_str_eq(state_sum(), sum);
	h_close(c);
}
END_TEST

/* ======================================================================
 * Search
 * ====================================================================== */

static const double LAT = 53.41, LON = -2.98; /* Liverpool */

/* Supply of the search authority, made by its coordinator. */
static long long search_bed(struct h_client *co, long long pid, const char *name, const char *caps,
			    const char *langs, double north_km, int price, const char *extra)
{
	return new_supply(co, "{\"provider_id\":%lld,\"kind\":\"bed\",\"name\":\"%s\",\"capabilities\":%s,"
			  "\"languages\":%s,\"lat\":%.6f,\"lon\":%.6f,\"price_pence\":%d,\"price_unit\":\"night\"%s}",
			  pid, name, caps, langs, LAT + north_km / 111.2, LON, price, extra ? extra : "");
}

static void publish_nights(struct h_client *c, long long sid, int from, int to)
{
	must(c, "availability.publish", "{\"supply_id\":%lld,\"ranges\":[{\"from\":\"%s\",\"to\":\"%s\"}]}",
	     sid, day(from), day(to));
}

/* Each result meets every need (checked on the supply itself, via
 * supply.get), says so, and carries the reasons for its place. */
static void check_results_meet(struct h_client *c, json_object *res, const char *const *needs, int nneeds)
{
	size_t n = len(res, "results");
	for (size_t i = 0; i < n; i++) {
		json_object *it = h_get(res, fmt("results.%zu", i));
		ck_assert_int_eq(num(it, "rank"), (long long)i + 1);
		json_object *s = must(c, "supply.get", "{\"supply_id\":%lld}", num(it, "supply_id"));
		for (int k = 0; k < nneeds; k++)
			ck_assert_msg(has_string(s, "capabilities", needs[k]), "result %lld lacks %s: %s",
				      num(it, "supply_id"), needs[k], js(s));
		ck_assert(json_object_get_boolean(h_get(s, "active")));
		ck_assert(!json_object_get_boolean(h_get(s, "emergency_only")));
		ck_assert_str_eq(str(it, "needs_met"), "1/1");
		ck_assert(has_string(it, "reasons", "meets 1/1 needs"));
		ck_assert(has_string(it, "reasons", "speaks Punjabi"));
	}
}

static void expect_ids(json_object *res, const long long *want, size_t n)
{
	char got[512] = "", wanted[512] = "";
	size_t m = len(res, "results");
	for (size_t i = 0; i < m; i++)
		snprintf(got + strlen(got), sizeof got - strlen(got), " %lld",
			 num(res, fmt("results.%zu.supply_id", i)));
	for (size_t i = 0; i < n; i++)
		snprintf(wanted + strlen(wanted), sizeof wanted - strlen(wanted), " %lld", want[i]);
	ck_assert_msg(strcmp(got, wanted) == 0, "results [%s ] wanted [%s ]", got, wanted);
}

START_TEST(search_dementia_punjabi_finds_only_matching_in_rank_order)
{
	struct h_client *co = connect_as("coord_s", NULL), *carer = connect_as("carer_s", NULL);
	static const char *const needs[] = { "dementia", "lang:pa" };
	long long home = new_provider(co, "residential", "Search Lodge", LAT, LON, "\"cqc_rating\":\"good\"");
	long long sit = new_provider(co, "sitting", "Search Sitters", LAT, LON, "\"cqc_rating\":\"outstanding\"");
	long long scheme = new_provider(co, "shared_lives", "Search Shared Lives", LAT, LON, NULL);
	long long hotel = new_provider(co, "hotel_leisure", "Search Gardens", LAT, LON, NULL);
	const char *dh = "[\"dementia\",\"diet:halal\"]", *d = "[\"dementia\"]", *pa = "[\"en\",\"pa\"]";

	long long bA = search_bed(co, home, "A", dh, pa, 3.0, 10000, NULL);
	long long bB = search_bed(co, home, "B", d, pa, 0.5, 9000, NULL);
	long long bC = search_bed(co, home, "C", dh, pa, 1.0, 12000, NULL);
	long long bD = search_bed(co, home, "D", dh, pa, 1.0, 9000, NULL);
	long long bE = search_bed(co, home, "E no Punjabi", dh, "[\"en\"]", 1.0, 9000, NULL);
	long long bF = search_bed(co, home, "F no dementia", "[\"diet:halal\"]", pa, 1.0, 9000, NULL);
	long long bG = search_bed(co, home, "G emergency", dh, pa, 1.0, 9000, ",\"emergency_only\":true");
	long long bH = search_bed(co, home, "H not published then", dh, pa, 1.0, 9000, NULL);
	long long bI = search_bed(co, home, "I inactive", dh, pa, 1.0, 9000, NULL);
	long long bJ = search_bed(co, home, "J too far", dh, pa, 25.0, 9000, NULL);
	long long bK = search_bed(co, home, "K withdrawn", dh, pa, 1.0, 9000, NULL);
	long long all_beds[] = { bA, bB, bC, bD, bE, bF, bG, bI, bJ, bK };
	for (size_t i = 0; i < sizeof all_beds / sizeof all_beds[0]; i++)
		publish_nights(co, all_beds[i], 1, 366);
	publish_nights(co, bH, 1, 20);
	must(co, "supply.update", "{\"supply_id\":%lld,\"active\":false}", bI);
	must(co, "availability.withdraw", "{\"supply_id\":%lld,\"ranges\":[{\"from\":\"%s\",\"to\":\"%s\"}]}",
	     bK, day(31), day(32));
	long long h1 = new_supply(co, "{\"provider_id\":%lld,\"kind\":\"household\",\"name\":\"The Gill household\","
				  "\"capabilities\":%s,\"languages\":%s,\"bedrooms\":1,\"day_places\":0,"
				  "\"price_pence\":7000,\"price_unit\":\"night\",\"approval_expires\":\"%s\","
				  "\"lat\":%.6f,\"lon\":%.6f}", scheme, d, pa, day(400), LAT + 2.0 / 111.2, LON);
	long long h2 = new_supply(co, "{\"provider_id\":%lld,\"kind\":\"household\",\"name\":\"The Sandhu household\","
				  "\"capabilities\":%s,\"languages\":%s,\"bedrooms\":1,\"day_places\":0,"
				  "\"price_pence\":7000,\"price_unit\":\"night\",\"approval_expires\":\"%s\"}",
				  scheme, dh, pa, day(31));
	publish_nights(co, h1, 1, 366);
	publish_nights(co, h2, 1, 31);
	long long o1 = new_supply(co, "{\"provider_id\":%lld,\"kind\":\"offer\",\"name\":\"Punjabi lunch\","
				  "\"offer_type\":\"meal\",\"languages\":%s,\"capabilities\":[\"diet:halal\"],"
				  "\"price_pence\":0,\"price_unit\":\"session\",\"expires\":\"%s\"}", hotel, pa, day(400));
	long long o2 = new_supply(co, "{\"provider_id\":%lld,\"kind\":\"offer\",\"name\":\"Memory garden\","
				  "\"offer_type\":\"day_activity\",\"languages\":%s,\"capabilities\":%s,"
				  "\"price_pence\":0,\"price_unit\":\"session\",\"expires\":\"%s\"}", hotel, pa, dh, day(400));
	must(co, "availability.publish", "{\"supply_id\":%lld,\"ranges\":[{\"from\":\"%s\",\"to\":\"%s\",\"quantity\":2}]}",
	     o1, day(1), day(366));
	must(co, "availability.publish", "{\"supply_id\":%lld,\"ranges\":[{\"from\":\"%s\",\"to\":\"%s\",\"quantity\":2}]}",
	     o2, day(1), day(366));

	/* three nights from day 30, every kind, one wish, bB liked before */
	const char *q = fmt("{\"from\":\"%s\",\"to\":\"%s\",\"needs\":[\"dementia\"],\"language\":\"pa\","
			    "\"wishes\":[\"diet:halal\"],\"near\":{\"lat\":%.2f,\"lon\":%.2f,\"radius_km\":20},"
			    "\"preferred_supply_ids\":[%lld]", day(30), day(33), LAT, LON, bB);
	json_object *res = must(carer, "availability.search", "%s}", q);
	const long long want[] = { bB, o2, bD, bC, bA, h1 };
	expect_ids(res, want, 6);
	check_results_meet(co, res, needs, 2);
	ck_assert_ptr_null(h_get(res, "next_offset"));
	ck_assert_ptr_nonnull(strstr(str(res, "ranking"), "preferred supply first, then most wishes met, then nearest"));
	/* the reasons for each place */
	ck_assert(has_string(res, "results.0.reasons", "chosen before"));
	ck_assert(has_string(res, "results.0.reasons", "meets 0/1 wishes"));
	ck_assert(has_string(res, "results.1.reasons", "meets 1/1 wishes"));
	ck_assert(has_string(res, "results.1.reasons", "0.0 km away"));
	ck_assert(has_string(res, "results.1.reasons", fmt("2 left on %s", day(30))));
	ck_assert_str_eq(str(res, "results.1.mode"), "session");
	ck_assert(has_string(res, "results.2.reasons", "1.0 km away"));
	ck_assert(has_string(res, "results.2.reasons", "£90.00 per night, £270.00 in all"));
	ck_assert(has_string(res, "results.2.reasons", "CQC rated good"));
	ck_assert_int_eq(num(res, "results.3.cost_pence"), 36000);
	ck_assert(has_string(res, "results.4.reasons", "3.0 km away"));
	ck_assert_str_eq(str(res, "results.5.mode"), "stay");
	ck_assert_str_eq(str(res, "results.5.wishes_met"), "0/1");

	/* paging keeps the order */
	res = must(carer, "availability.search", "%s,\"limit\":2,\"offset\":2}", q);
	expect_ids(res, want + 2, 2);
	ck_assert_int_eq(num(res, "results.0.rank"), 3);
	ck_assert_int_eq(num(res, "next_offset"), 4);

	/* a visit at night: only the Punjabi-speaking worker with dementia
	 * skills on shift then, within her own travel radius */
	long long w1 = new_supply(co, "{\"provider_id\":%lld,\"kind\":\"worker\",\"name\":\"Harpreet\",\"gender\":\"female\","
				  "\"capabilities\":%s,\"languages\":%s,\"price_pence\":2000,\"price_unit\":\"hour\"}", sit, d, pa);
	long long w2 = new_supply(co, "{\"provider_id\":%lld,\"kind\":\"worker\",\"name\":\"No Punjabi\",\"gender\":\"female\","
				  "\"capabilities\":%s,\"languages\":[\"en\"],\"price_pence\":2000,\"price_unit\":\"hour\"}", sit, d);
	long long w3 = new_supply(co, "{\"provider_id\":%lld,\"kind\":\"worker\",\"name\":\"Day shifts\",\"gender\":\"female\","
				  "\"capabilities\":%s,\"languages\":%s,\"price_pence\":2000,\"price_unit\":\"hour\"}", sit, d, pa);
	long long w4 = new_supply(co, "{\"provider_id\":%lld,\"kind\":\"worker\",\"name\":\"Stays local\",\"gender\":\"male\","
				  "\"capabilities\":%s,\"languages\":%s,\"price_pence\":1900,\"price_unit\":\"hour\","
				  "\"travel_radius_km\":1,\"lat\":%.6f,\"lon\":%.6f}", sit, d, pa, LAT + 3.0 / 111.2, LON);
	long long nights[] = { w1, w2, w4 };
	for (size_t i = 0; i < 3; i++)
		must(co, "availability.publish", "{\"supply_id\":%lld,\"ranges\":%s}", nights[i], shifts(1, 60, "21:00", "07:00"));
	must(co, "availability.publish", "{\"supply_id\":%lld,\"ranges\":%s}", w3, shifts(1, 60, "09:00", "17:00"));
	const char *v = fmt("{\"kinds\":[\"worker\"],\"start\":\"%s\",\"end\":\"%s\",\"needs\":[\"dementia\"],\"language\":\"pa\","
			    "\"near\":{\"lat\":%.2f,\"lon\":%.2f,\"radius_km\":20}", local_ts(30, "22:00"), local_ts(31, "01:00"), LAT, LON);
	res = must(carer, "availability.search", "%s}", v);
	expect_ids(res, (const long long[]){ w1 }, 1);
	check_results_meet(co, res, needs, 2);
	ck_assert_str_eq(str(res, "results.0.mode"), "visit");
	ck_assert_int_eq(num(res, "results.0.cost_pence"), 6000);
	ck_assert(has_string(res, "results.0.reasons", "CQC rated outstanding"));
	res = must(carer, "availability.search", "%s,\"gender\":\"male\"}", v);
	ck_assert_int_eq(len(res, "results"), 0);

	/* booked supply is not offered: book bed D for the nights */
	long long person = num(must(co, "family.create", "{\"carer\":{\"name\":\"Search carer\",\"referral_route\":\"self_referral\"},"
				    "\"persons\":[{\"name\":\"Search person\",\"consent\":{\"status\":\"given\"}}]}"),
			       "persons.0.person_id");
	json_object *b = must(co, "booking.hold", "{\"person_id\":%lld,\"supply_id\":%lld,\"from\":\"%s\",\"to\":\"%s\","
			      "\"self_fund_remainder\":true}", person, bD, day(30), day(33));
	must(co, "booking.confirm", "{\"booking_id\":%lld}", num(b, "booking_id"));
	res = must(carer, "availability.search", "%s}", q);
	expect_ids(res, (const long long[]){ bB, o2, bC, bA, h1 }, 5);
	h_close(co);
	h_close(carer);
}
END_TEST

/* Over generated supply: the beds a search returns are exactly the beds
 * that meet every need and are free, cheapest first; with wishes and a
 * radius every result still meets every need and the order holds. */
START_TEST(search_generated_supply)
{
	static const char *const needs[] = { "dementia", "lang:pa" };
	struct h_client *carer = connect_as("carer_g", NULL);
	long long auth = sqli("SELECT id FROM authority WHERE code = '" GAUTH "'");

	load_generator();
	h_sql(db, fmt("SELECT gen.generate_inventory(%lld, 200)", auth));
	const char *want = sqlv("SELECT coalesce(string_agg(id::text, ' ' ORDER BY price_pence, id), '') FROM supply s "
				"WHERE authority_id = %lld AND kind = 'bed' AND active AND NOT emergency_only "
				"AND capabilities @> '{dementia,lang:pa}' "
				"AND EXISTS (SELECT 1 FROM avail_nights a WHERE a.supply_id = s.id "
				"            AND a.nights @> daterange(rs_today() + 30, rs_today() + 33))", auth);
	ck_assert_msg(strlen(want) > 0, "the generator made no matching bed");
	json_object *res = must(carer, "availability.search", "{\"kinds\":[\"bed\"],\"from\":\"%s\",\"to\":\"%s\","
				"\"needs\":[\"dementia\"],\"language\":\"pa\",\"limit\":100}", day(30), day(33));
	char got[4096] = "";
	for (size_t i = 0; i < len(res, "results"); i++)
		snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? " " : "",
			 num(res, fmt("results.%zu.supply_id", i)));
	ck_assert_str_eq(got, want);

	res = must(carer, "availability.search", "{\"from\":\"%s\",\"to\":\"%s\",\"needs\":[\"dementia\"],\"language\":\"pa\","
		   "\"wishes\":[\"diet:halal\",\"hoist\",\"gender:female\"],\"near\":{\"lat\":53.41,\"lon\":-2.98,\"radius_km\":6},"
		   "\"limit\":100}", day(30), day(33));
	size_t n = len(res, "results");
	ck_assert_int_gt(n, 0);
	check_results_meet(carer, res, needs, 2);
	for (size_t i = 1; i < n; i++) {
		json_object *a = h_get(res, fmt("results.%zu", i - 1)), *z = h_get(res, fmt("results.%zu", i));
		int wa = atoi(str(a, "wishes_met")), wz = atoi(str(z, "wishes_met"));
		ck_assert_int_ge(wa, wz);
		if (wa == wz)
			ck_assert(json_object_get_double(h_get(a, "distance_km")) <=
				  json_object_get_double(h_get(z, "distance_km")));
		ck_assert(json_object_get_double(h_get(z, "distance_km")) <= 6.05);
	}
	h_close(carer);
}
END_TEST

/* ======================================================================
 * Tenancy
 * ====================================================================== */

START_TEST(provider_cannot_touch_another_providers_supply)
{
	struct h_client *rival = connect_as("rival", NULL);
	const char *sum = state_sum();

	/* reading the authority's directory is allowed */
	json_object *s = must(rival, "supply.get", "{\"supply_id\":%lld}", bed_id);
	ck_assert_int_eq(num(s, "provider_id"), p_home);
	refused(rival, "supply.list", -32004, "{\"provider_id\":%lld}", p_home);
	refused(rival, "availability.list", -32004, "{\"supply_id\":%lld}", bed_id);
	refused(rival, "provider.bookings", -32004, "{\"provider_id\":%lld}", p_sit);
	/* its own list holds its own supply only */
	json_object *mine = must(rival, "supply.list", NULL);
	ck_assert_int_eq(num(mine, "provider_id"), p_rival);
	ck_assert_int_eq(len(mine, "supply"), 1);
	ck_assert_int_eq(num(mine, "supply.0.supply_id"), rival_bed_id);
	ck_assert_str_eq(state_sum(), sum);
	h_close(rival);
}
END_TEST

START_TEST(other_authority_sees_nothing)
{
	struct h_client *co2 = connect_as("coord2", NULL), *co = connect_as("coord", NULL);
	const char *sum = state_sum();

	refused(co2, "supply.get", -32005, "{\"supply_id\":%lld}", bed_id);
	refused(co2, "provider.get", -32005, "{\"provider_id\":%lld}", p_home);
	refused(co2, "supply.list", -32005, "{\"provider_id\":%lld}", p_home);
	refused(co2, "availability.list", -32005, "{\"supply_id\":%lld}", bed_id);
	refused(co2, "provider.bookings", -32005, "{\"provider_id\":%lld}", p_sit);
	long long auth = sqli("SELECT id FROM authority WHERE code = '" AUTH "'");
	refused(co2, "availability.search", -32004, "{\"authority_id\":%lld,\"from\":\"%s\",\"to\":\"%s\"}", auth, day(2), day(3));
	json_object *r = must(co2, "provider.list", NULL);
	ck_assert_int_eq(len(r, "providers"), 0);
	r = must(co2, "availability.search", "{\"from\":\"%s\",\"to\":\"%s\"}", day(2), day(3));
	ck_assert_int_eq(len(r, "results"), 0);
	/* the same search in AUTH does find the fixture bed */
	r = must(co, "availability.search", "{\"kinds\":[\"bed\"],\"from\":\"%s\",\"to\":\"%s\",\"limit\":100}", day(2), day(3));
	ck_assert_int_gt(len(r, "results"), 0);
	ck_assert_str_eq(state_sum(), sum);
	h_close(co2);
	h_close(co);
}
END_TEST

START_TEST(carer_searches_but_cannot_publish)
{
	struct h_client *carer = connect_as("carer", NULL);
	const char *sum = state_sum();

	json_object *r = must(carer, "availability.search", "{\"kinds\":[\"bed\"],\"from\":\"%s\",\"to\":\"%s\",\"limit\":100}",
			      day(2), day(3));
	int found = 0;
	for (size_t i = 0; i < len(r, "results"); i++)
		found |= num(r, fmt("results.%zu.supply_id", i)) == bed_id;
	ck_assert_msg(found, "the fixture bed is not in %s", js(r));
	refused(carer, "availability.publish", -32004, "{\"supply_id\":%lld,\"ranges\":[{\"from\":\"%s\",\"to\":\"%s\"}]}",
		bed_id, day(40), day(50));
	refused(carer, "supply.list", -32004, "{\"provider_id\":%lld}", p_home);
	refused(carer, "availability.list", -32004, "{\"supply_id\":%lld}", bed_id);
	refused(carer, "provider.bookings", -32004, "{\"provider_id\":%lld}", p_sit);
	ck_assert_str_eq(state_sum(), sum);
	h_close(carer);
}
END_TEST

/* ======================================================================
 * Setup
 * ====================================================================== */

static void find_clock_changes(void)
{
/* Days 2 to 366 hold each change exactly once, and the Saturday before
 * it (the night the clocks change) is one of days 1 to 365. */
#define LAST_SUNDAY_OF(month) \
	"SELECT g::date - rs_today() FROM generate_series(rs_today() + 2, rs_today() + 366, " \
	"interval '1 day') g WHERE extract(month FROM g) = " #month " AND extract(isodow FROM g) = 7 " \
	"AND extract(day FROM g) >= 25"
	spring_off = (int)sqli(LAST_SUNDAY_OF(3));
	autumn_off = (int)sqli(LAST_SUNDAY_OF(10));
}

static void setup_fixtures(void)
{
	const char *today = sqlv("SELECT to_char(rs_today(), 'YYYY-MM-DD')");
	expect(sscanf(today, "%d-%d-%d", &today_y, &today_m, &today_d) == 3, "today: %s", today);
	find_clock_changes();

	h_add_user(db, "coord", "coordinator", PW, AUTH);
	h_add_user(db, "coord2", "coordinator", PW, OTHER);
	h_add_user(db, "carer", "carer", PW, AUTH);
	h_add_user(db, "coord_s", "coordinator", PW, SAUTH);
	h_add_user(db, "carer_s", "carer", PW, SAUTH);
	h_add_user(db, "carer_g", "carer", PW, GAUTH);

	struct h_client *co = connect_as("coord", NULL);
	p_home = new_provider(co, "residential", "Sefton Park Lodge", 53.375, -2.935, "\"cqc_rating\":\"good\"");
	p_sit = new_provider(co, "sitting", "Princes Park Sitting Service", 53.389, -2.965, "\"languages\":[\"en\",\"pa\"]");
	p_scheme = new_provider(co, "shared_lives", "Mersey Shared Lives", 53.400, -2.920, NULL);
	p_hotel = new_provider(co, "hotel_leisure", "Baltic Kitchen", 53.400, -2.985, NULL);
	p_rival = new_provider(co, "residential", "Calderstones House", 53.380, -2.905, NULL);
	provider_user("home", p_home);
	provider_user("sitters", p_sit);
	provider_user("scheme", p_scheme);
	provider_user("hotel", p_hotel);
	provider_user("rival", p_rival);

	struct h_client *c = connect_as("home", NULL);
	bed_id = new_supply(c, "{\"kind\":\"bed\",\"name\":\"Fixture bed\",\"price_pence\":9500,\"price_unit\":\"night\","
			    "\"capabilities\":[\"dementia\",\"hoist\"]}");
	publish_nights(c, bed_id, 1, 30);
	h_close(c);
	c = connect_as("sitters", NULL);
	worker_id = new_supply(c, "{\"kind\":\"worker\",\"name\":\"Fixture worker\",\"price_pence\":2000,\"price_unit\":\"hour\"}");
	must(c, "availability.publish", "{\"supply_id\":%lld,\"ranges\":%s}", worker_id, shifts(1, 60, "09:00", "17:00"));
	h_close(c);
	c = connect_as("scheme", NULL);
	household_id = new_supply(c, "{\"kind\":\"household\",\"name\":\"Fixture household\",\"bedrooms\":1,\"day_places\":1,"
				  "\"day_price_pence\":1200,\"day_price_unit\":\"hour\",\"price_pence\":7000,"
				  "\"price_unit\":\"night\",\"approval_expires\":\"%s\"}", day(400));
	must(c, "availability.publish", "{\"supply_id\":%lld,\"ranges\":[{\"from\":\"%s\",\"to\":\"%s\"},"
	     "{\"date\":\"%s\",\"start_time\":\"10:00\",\"end_time\":\"16:00\"}]}", household_id, day(1), day(30), day(2));
	h_close(c);
	c = connect_as("hotel", NULL);
	offer_id = new_supply(c, "{\"kind\":\"offer\",\"name\":\"Fixture meal\",\"offer_type\":\"meal\",\"price_pence\":0,"
			      "\"price_unit\":\"session\",\"expires\":\"%s\"}", day(400));
	must(c, "availability.publish", "{\"supply_id\":%lld,\"ranges\":[{\"day\":\"%s\",\"starts_at\":\"18:00\",\"quantity\":4}]}",
	     offer_id, day(5));
	h_close(c);
	c = connect_as("rival", NULL);
	rival_bed_id = new_supply(c, "{\"kind\":\"bed\",\"name\":\"Rival bed\",\"price_pence\":9000,\"price_unit\":\"night\"}");
	publish_nights(c, rival_bed_id, 1, 30);
	h_close(c);

	/* a confirmed visit of the fixture worker on day 10 */
	long long person = num(must(co, "family.create", "{\"carer\":{\"name\":\"Fixture carer\",\"referral_route\":\"self_referral\"},"
				    "\"persons\":[{\"name\":\"Fixture person\",\"consent\":{\"status\":\"given\"}}]}"),
			       "persons.0.person_id");
	json_object *b = must(co, "booking.hold", "{\"person_id\":%lld,\"supply_id\":%lld,\"date\":\"%s\","
			      "\"start_time\":\"10:00\",\"end_time\":\"12:00\",\"self_fund_remainder\":true}",
			      person, worker_id, day(10));
	booking_id = num(b, "booking_id");
	must(co, "booking.confirm", "{\"booking_id\":%lld}", booking_id);
	h_close(co);
}

static void teardown(void) { free_kept(); }

static Suite *inventory_suite(void)
{
	Suite *s = suite_create("inventory");
	TCase *pub = tcase_create("publish");
	tcase_set_timeout(pub, 120);
	tcase_add_checked_fixture(pub, NULL, teardown);
	tcase_add_test(pub, publish_year_of_each_kind);
	tcase_add_test(pub, overlapping_ranges_are_merged);
	tcase_add_test(pub, withdraw_gives_back_what_is_not_booked);
	suite_add_tcase(s, pub);

	TCase *ctl = tcase_create("respitectl");
	tcase_set_timeout(ctl, 120);
	tcase_add_checked_fixture(ctl, NULL, teardown);
	tcase_add_test(ctl, respitectl_publishes_a_year_of_each_kind);
	tcase_add_test(ctl, respitectl_bad_row_publishes_nothing);
	tcase_add_loop_test(ctl, respitectl_bad_files, 0, (int)(sizeof bad_files / sizeof bad_files[0]));
	tcase_add_test(ctl, respitectl_lists_supply_and_bookings);
	suite_add_tcase(s, ctl);

	TCase *bad = tcase_create("refusals");
	tcase_set_timeout(bad, 60);
	tcase_add_checked_fixture(bad, NULL, teardown);
	tcase_add_loop_test(bad, bad_input_table, 0, (int)(sizeof bad_inputs / sizeof bad_inputs[0]));
	suite_add_tcase(s, bad);

	TCase *search = tcase_create("search");
	tcase_set_timeout(search, 120);
	tcase_add_checked_fixture(search, NULL, teardown);
	tcase_add_test(search, search_dementia_punjabi_finds_only_matching_in_rank_order);
	tcase_add_test(search, search_generated_supply);
	suite_add_tcase(s, search);

	TCase *ten = tcase_create("tenancy");
	tcase_set_timeout(ten, 60);
	tcase_add_checked_fixture(ten, NULL, teardown);
	tcase_add_test(ten, provider_cannot_touch_another_providers_supply);
	tcase_add_test(ten, other_authority_sees_nothing);
	tcase_add_test(ten, carer_searches_but_cannot_publish);
	suite_add_tcase(s, ten);
	return s;
}

int main(void)
{
	h_require_postgres();
	db = h_db_create("inventory");
	if (h_daemon_start(&dmain, db, NULL) != 0) {
		fprintf(stderr, "respited did not start\n");
		return 99;
	}
	setup_fixtures();
	free_kept();
	in_setup = 0;
	SRunner *sr = srunner_create(inventory_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	h_daemon_stop(&dmain, SIGTERM);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
