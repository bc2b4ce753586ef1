/*
 * Families, budgets and bookings end to end (issue 4): a real respited on
 * real sockets against a private PostgreSQL.
 *
 * The races: 50 clients, each a thread with its own TCP connection and
 * session, start together at a barrier and ask for the same scarce thing
 * (the last bed-nights, a worker's last hours, the last offer seats, the
 * last hours of one family's budget; the last bed-night, with
 * booking.book). Exactly the right number must win,
 * every client's answer must agree with the database, no booking may exist
 * that no client was told about, and every query of sql/invariants.sql
 * must return nothing. Threads only call and record; the asserts run on
 * the test's own thread after they are joined.
 *
 * The scenarios: the rules of DOMAIN.md over the protocol (allowances used
 * up, monthly allowances renewed, the 28-night rule and its override, the
 * charging rule, lapsing holds, idempotent retries, tenancy, staff booking
 * on behalf, cancellation).
 *
 * Data are made through the API as a coordinator wherever a method exists;
 * users are added with h_add_user. Dates are relative to today (races) or
 * in next calendar year (allowance scenarios), so they are always ahead.
 */
#include "harness.h"

#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PRINTF(f, a) __attribute__((format(printf, f, a)))

#define PW "booking-pass"
#define AUTH "E99000041"
#define AUTH_OTHER "E99000042"
#define RACERS 50

static const char *db;
/* The main daemon holds for the default 15 minutes; the short one for 10
 * seconds, with the janitor every 100 ms, for holds that must lapse. */
static struct h_daemon dmain, dshort;
static int today_y, today_m, today_d, next_year;
static long long coord_uid, home_id, sitters_id, hotel_id;

static const char *const main_args[] = { "--set", "db_pool_size=50", NULL };
static const char *const short_args[] = { "--set", "hold_ttl_s=10", "--set",
					  "janitor_interval_ms=100", NULL };

/* ---- what a test allocates is freed after it (LeakSanitizer) ---- */

enum { KEEP_MAX = 16384 };
static json_object *kept[KEEP_MAX];
static int nkept;
static char *kept_str[KEEP_MAX];
static int nkept_str;

static json_object *keep(json_object *r)
{
	if (r && nkept < KEEP_MAX)
		kept[nkept++] = r;
	return r;
}

static char *keep_str(char *s)
{
	if (s && nkept_str < KEEP_MAX)
		kept_str[nkept_str++] = s;
	return s;
}

static void free_kept(void)
{
	while (nkept > 0)
		json_object_put(kept[--nkept]);
	while (nkept_str > 0)
		free(kept_str[--nkept_str]);
}

/* ---- calls ---- */

static const char *js(json_object *o)
{
	return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
		 : "(nothing)";
}

/* The call must succeed; returns its result. */
PRINTF(3, 4)
static json_object *must(struct h_client *c, const char *method, const char *fmt, ...)
{
	char params[16384];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(params, sizeof(params), fmt, ap);
	va_end(ap);
	ck_assert_msg(n > 0 && (size_t)n < sizeof(params), "params too long for %s", method);
	json_object *r = keep(h_call(c, method, params));
	ck_assert_msg(r != NULL, "no answer to %s %s", method, params);
	ck_assert_msg(h_result(r) != NULL, "%s %s failed: %s", method, params, js(r));
	return h_result(r);
}

/* The call must be refused with `reason`; returns error.data. */
PRINTF(4, 5)
static json_object *refused(struct h_client *c, const char *method, const char *reason,
			    const char *fmt, ...)
{
	char params[16384];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(params, sizeof(params), fmt, ap);
	va_end(ap);
	ck_assert_msg(n > 0 && (size_t)n < sizeof(params), "params too long for %s", method);
	json_object *r = keep(h_call(c, method, params));
	ck_assert_msg(r != NULL, "no answer to %s %s", method, params);
	const char *got = h_reason(r);
	ck_assert_msg(got && strcmp(got, reason) == 0, "%s %s: wanted %s, got %s", method, params,
		      reason, js(r));
	return h_get(r, "error.data");
}

static long long num(json_object *o, const char *path)
{
	json_object *v = h_get(o, path);
	ck_assert_msg(v != NULL, "no %s in %s", path, js(o));
	return (long long)json_object_get_int64(v);
}

static const char *str(json_object *o, const char *path)
{
	json_object *v = h_get(o, path);
	ck_assert_msg(v != NULL, "no %s in %s", path, js(o));
	return json_object_get_string(v);
}

static int flag(json_object *o, const char *path)
{
	json_object *v = h_get(o, path);
	return v && json_object_get_boolean(v);
}

static struct h_client *connect_as(const struct h_daemon *d, const char *user)
{
	struct h_client *c = h_connect(d);
	ck_assert_msg(c != NULL, "cannot connect to %s", d->rpc_addr);
	ck_assert_msg(h_login(c, user, PW) != NULL, "%s cannot log in", user);
	return c;
}

/* ---- SQL ---- */

PRINTF(1, 2)
static const char *sqlv(const char *fmt, ...)
{
	char sql[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	char *v = keep_str(h_sql_value(db, sql));
	return v ? v : "(null)";
}

PRINTF(1, 2)
static long long sqli(const char *fmt, ...)
{
	char sql[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	char *v = h_sql_value(db, sql);
	ck_assert_msg(v != NULL, "no value from %s", sql);
	long long n = atoll(v);
	free(v);
	return n;
}

/* JSON text as an SQL literal. */
static char *sql_literal(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(2 * n + 3), *w = out;
	*w++ = '\'';
	for (; *s; s++) {
		if (*s == '\'')
			*w++ = '\'';
		*w++ = *s;
	}
	*w++ = '\'';
	*w = '\0';
	return keep_str(out);
}

static int run(const char *cmd)
{
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Every query of sql/invariants.sql must return no rows (as check_sql). */
static void check_invariants(void)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd),
		 "psql -X -q -A -t -v ON_ERROR_STOP=1 '%s' -f '%s/sql/invariants.sql' > /tmp/respite-binv.$$ && "
		 "! grep -q . /tmp/respite-binv.$$; rc=$?; cat /tmp/respite-binv.$$; "
		 "rm -f /tmp/respite-binv.$$; exit $rc", db, getenv("RESPITE_SRCDIR"));
	ck_assert_msg(run(cmd) == 0, "an invariant query returned rows (printed above)");
}

/* ---- dates ---- */

/* A London date `off` days from today, as YYYY-MM-DD (kept). */
static const char *day(int off)
{
	struct tm tm = { .tm_year = today_y - 1900, .tm_mon = today_m - 1,
			 .tm_mday = today_d + off, .tm_hour = 12 };
	time_t t = timegm(&tm);
	gmtime_r(&t, &tm);
	char *buf = keep_str(malloc(16));
	strftime(buf, 16, "%Y-%m-%d", &tm);
	return buf;
}

/* A date in next calendar year (kept). */
static const char *ny(int m, int d)
{
	char *buf = keep_str(malloc(16));
	snprintf(buf, 16, "%04d-%02d-%02d", next_year, m, d);
	return buf;
}

/* ---- families, budgets, supply ---- */

struct family {
	long long carer_id, person_id;
	char user[48];
};

/* A carer (with a carer user unless user is NULL) and one cared-for
 * person with dementia whose consent is recorded. */
static void new_family(struct h_client *coord, const char *tag, int with_user, struct family *f)
{
	char link[64] = "";
	memset(f, 0, sizeof(*f));
	if (with_user) {
		snprintf(f->user, sizeof(f->user), "carer_%s", tag);
		h_add_user(db, f->user, "carer", PW, AUTH);
		snprintf(link, sizeof(link), ",\"user_id\":%lld",
			 sqli("SELECT id FROM app_user WHERE username = '%s'", f->user));
	}
	json_object *r = must(coord, "family.create",
		"{\"carer\":{\"name\":\"Carer %s\",\"referral_route\":\"self_referral\"}%s,"
		"\"persons\":[{\"name\":\"Person %s\",\"needs\":[\"dementia\"],\"languages\":[\"en\"],"
		"\"consent\":{\"status\":\"given\"}}]}", tag, link, tag);
	f->carer_id = num(r, "carer.carer_id");
	f->person_id = num(r, "persons.0.person_id");
}

/* An entitlement; `fmt` gives its members. Returns its id. */
PRINTF(2, 3)
static long long grant(struct h_client *coord, const char *fmt, ...)
{
	char params[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(params, sizeof(params), fmt, ap);
	va_end(ap);
	return num(must(coord, "entitlement.create", "%s", params), "entitlement_id");
}

static long long personal_budget(struct h_client *coord, long long person_id, long long pence)
{
	return grant(coord, "{\"person_id\":%lld,\"name\":\"Personal budget\",\"source\":\"person_personal_budget\","
			    "\"unit\":\"pence\",\"rule\":\"one_off\",\"amount\":%lld,\"valid_from\":\"%s\"}",
		     person_id, pence, day(0));
}

static long long direct_payment(struct h_client *coord, long long carer_id, long long pence)
{
	return grant(coord, "{\"carer_id\":%lld,\"name\":\"Direct payment\",\"source\":\"carer_direct_payment\","
			    "\"unit\":\"pence\",\"rule\":\"one_off\",\"amount\":%lld,\"valid_from\":\"%s\"}",
		     carer_id, pence, day(0));
}

/* A sitting worker at £20 an hour (visits of 1 to 12 hours, 15 minutes'
 * travel buffer), available 08:00-22:00 London time on the dates given. */
static long long new_worker(struct h_client *coord, const char *tag, const char *const *dates, int ndates)
{
	long long id = num(must(coord, "supply.create",
		"{\"provider_id\":%lld,\"kind\":\"worker\",\"name\":\"Worker %s\",\"capabilities\":[\"dementia\"],"
		"\"languages\":[\"en\"],\"price_pence\":2000,\"price_unit\":\"hour\",\"min_visit_minutes\":60,"
		"\"max_visit_minutes\":720,\"travel_buffer_minutes\":15}", sitters_id, tag), "supply_id");
	char ranges[12000];
	size_t len = 0;
	for (int i = 0; i < ndates; i++)
		len += (size_t)snprintf(ranges + len, sizeof(ranges) - len,
					"%s{\"date\":\"%s\",\"start_time\":\"08:00\",\"end_time\":\"22:00\"}",
					i ? "," : "", dates[i]);
	ck_assert(len < sizeof(ranges));
	must(coord, "availability.publish", "{\"supply_id\":%lld,\"ranges\":[%s]}", id, ranges);
	return id;
}

/* A worker available on the days today+first .. today+first+n-1. */
static long long worker_on_days(struct h_client *coord, const char *tag, int first, int n)
{
	const char *dates[100];
	ck_assert(n <= 100);
	for (int i = 0; i < n; i++)
		dates[i] = day(first + i);
	return new_worker(coord, tag, dates, n);
}

/* A bed at £100 a night, published for the nights [from, to). */
static long long new_bed(struct h_client *coord, const char *tag, const char *from, const char *to)
{
	long long id = num(must(coord, "supply.create",
		"{\"provider_id\":%lld,\"kind\":\"bed\",\"name\":\"Bed %s\",\"capabilities\":[\"dementia\"],"
		"\"languages\":[\"en\"],\"price_pence\":10000,\"price_unit\":\"night\"}", home_id, tag), "supply_id");
	must(coord, "availability.publish", "{\"supply_id\":%lld,\"ranges\":[{\"from\":\"%s\",\"to\":\"%s\"}]}",
	     id, from, to);
	return id;
}

/* A spa session for one at £10, `seats` of them on one day. */
static long long new_offer(struct h_client *coord, const char *tag, const char *on, int seats)
{
	long long id = num(must(coord, "supply.create",
		"{\"provider_id\":%lld,\"kind\":\"offer\",\"name\":\"Spa %s\",\"offer_type\":\"spa\","
		"\"party_size\":1,\"price_pence\":1000,\"price_unit\":\"session\"}", hotel_id, tag), "supply_id");
	must(coord, "availability.publish", "{\"supply_id\":%lld,\"ranges\":[{\"day\":\"%s\",\"quantity\":%d}]}",
	     id, on, seats);
	return id;
}

/* A sitting visit on a London date. */
static const char *visit(const char *date, const char *t0, const char *t1)
{
	char *buf = keep_str(malloc(96));
	snprintf(buf, 96, "\"date\":\"%s\",\"start_time\":\"%s\",\"end_time\":\"%s\"", date, t0, t1);
	return buf;
}

/* budget.summary's source for an entitlement. */
static json_object *source_of(json_object *summary, long long ent)
{
	json_object *list = h_get(summary, "sources");
	ck_assert_ptr_nonnull(list);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *s = json_object_array_get_idx(list, i);
		if (num(s, "entitlement_id") == ent)
			return s;
	}
	ck_abort_msg("entitlement %lld not in budget.summary %s", ent, js(summary));
	return NULL;
}

/* One period of a recurring source, by its first day. */
static json_object *period_of(json_object *source, const char *from)
{
	json_object *list = h_get(source, "periods");
	ck_assert_ptr_nonnull(list);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *p = json_object_array_get_idx(list, i);
		if (strcmp(str(p, "period.from"), from) == 0)
			return p;
	}
	ck_abort_msg("no period from %s in %s", from, js(source));
	return NULL;
}

/* Holds and confirms; returns the confirmed booking. */
PRINTF(2, 3)
static json_object *book(struct h_client *c, const char *fmt, ...)
{
	char params[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(params, sizeof(params), fmt, ap);
	va_end(ap);
	json_object *h = must(c, "booking.hold", "%s", params);
	ck_assert_str_eq(str(h, "status"), "held");
	json_object *b = must(c, "booking.confirm", "{\"booking_id\":%lld}", num(h, "booking_id"));
	ck_assert_str_eq(str(b, "status"), "confirmed");
	return b;
}

/* ===================================================================== */
/* Races                                                                  */
/* ===================================================================== */

/* One client of a race: what it sends, and what it was answered. */
struct racer {
	struct h_client *c;
	pthread_barrier_t *start;
	char params[1024];
	const char *method;         /* the first call: booking.hold unless set */
	int confirm;                /* confirm after a successful hold */
	long long carer_id;         /* whose family the hold is for */
	/* answers */
	int answered;
	long long booking_id;       /* 0: refused */
	int replayed;
	char status[32];            /* the last status answered */
	char reason[48];            /* the hold's refusal */
	char confirm_reason[48];    /* the confirmation's refusal */
	char *legs;                 /* the last legs answered (JSON) */
	char *data;                 /* the refusal's data (JSON) */
};

static void copy_answer(struct racer *r, json_object *res)
{
	snprintf(r->status, sizeof(r->status), "%s", json_object_get_string(h_get(res, "status")));
	free(r->legs);
	r->legs = strdup(js(h_get(res, "legs")));
}

static void *racer_run(void *arg)
{
	struct racer *r = arg;
	pthread_barrier_wait(r->start);
	json_object *resp = h_call(r->c, r->method ? r->method : "booking.hold", r->params);
	if (!resp)
		return NULL;
	r->answered = 1;
	json_object *res = h_result(resp);
	if (res) {
		r->booking_id = (long long)json_object_get_int64(h_get(res, "booking_id"));
		r->replayed = h_get(res, "replayed") && json_object_get_boolean(h_get(res, "replayed"));
		copy_answer(r, res);
	} else {
		snprintf(r->reason, sizeof(r->reason), "%s", h_reason(resp) ? h_reason(resp) : js(resp));
		r->data = strdup(js(h_get(resp, "error.data")));
	}
	json_object_put(resp);
	if (r->booking_id && r->confirm) {
		char params[64];
		snprintf(params, sizeof(params), "{\"booking_id\":%lld}", r->booking_id);
		resp = h_call(r->c, "booking.confirm", params);
		if (resp && h_result(resp))
			copy_answer(r, h_result(resp));
		else
			snprintf(r->confirm_reason, sizeof(r->confirm_reason), "%s",
				 resp && h_reason(resp) ? h_reason(resp) : "no answer");
		json_object_put(resp);
	}
	return NULL;
}

/* Starts every racer at once and waits for all of them. */
static void race(struct racer *rs, int n)
{
	pthread_barrier_t start;
	pthread_t *th = calloc((size_t)n, sizeof(*th));
	pthread_barrier_init(&start, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		rs[i].start = &start;
		ck_assert_int_eq(pthread_create(&th[i], NULL, racer_run, &rs[i]), 0);
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
	free(th);
}

static void racers_free(struct racer *rs, int n)
{
	for (int i = 0; i < n; i++) {
		h_close(rs[i].c);
		free(rs[i].legs);
		free(rs[i].data);
	}
}

/* The race families: 50 carers, each with a carer user, a person, the
 * person's personal budget and the carer's direct payment. Made once. */
static struct family racefam[RACERS];

/* One contest: RACERS clients for one scarce thing. */
struct contest {
	const char *name;
	struct racer r[RACERS];
	int winners;                /* how many must win */
	const char *loser_reason;   /* what everybody else must be told */
	const char *loser_key;      /* a member of the refusal's data ... */
	char loser_value[32];       /* ... and its value */
	char scope[96];             /* SQL condition: the bookings of this contest */
	long long supply_id;
	long long ent_id;           /* budget race: the entitlement */
	long long tight_carer;      /* budget race: the family */
	void (*extra)(const struct contest *, int winners);
};

static void connect_racers(struct contest *k, const char *const *users)
{
	for (int i = 0; i < RACERS; i++)
		k->r[i].c = connect_as(&dmain, users[i]);
}

static void race_users(const char **users)
{
	for (int i = 0; i < RACERS; i++)
		users[i] = racefam[i].user;
}

static long long active_allocations(long long supply_id)
{
	return sqli("SELECT count(*) FROM allocation a JOIN unit u ON u.id = a.unit_id "
		    "WHERE u.supply_id = %lld AND a.active", supply_id);
}

static void extra_one_allocation(const struct contest *k, int winners)
{
	ck_assert_int_eq(active_allocations(k->supply_id), winners);
}

static void extra_seats(const struct contest *k, int winners)
{
	ck_assert_int_eq(sqli("SELECT sum(booked) FROM offer_session WHERE supply_id = %lld", k->supply_id),
			 winners);
	ck_assert_int_eq(sqli("SELECT sum(quantity) FROM offer_session WHERE supply_id = %lld", k->supply_id),
			 5);
}

/* The family's budget, as budget.summary gives it: 600 minutes less 90 a
 * winner, held or spent; 60 left. */
static void extra_budget(const struct contest *k, int winners)
{
	struct h_client *c = connect_as(&dmain, "coord");
	json_object *s = source_of(must(c, "budget.summary", "{\"carer_id\":%lld}", k->tight_carer), k->ent_id);
	ck_assert_int_eq(num(s, "allowance"), 600);
	ck_assert_int_eq(num(s, "spent") + num(s, "held"), 90LL * winners);
	ck_assert_int_eq(num(s, "remaining"), 600 - 90LL * winners);
	long long confirmed = 0;
	for (int i = 0; i < RACERS; i++)
		confirmed += k->r[i].booking_id && k->r[i].confirm;
	ck_assert_int_eq(num(s, "spent"), 90 * confirmed);
	h_close(c);
}

/* The last bed-nights: one bed free for three nights; half the clients
 * ask for the first two, half for the last two (both contain the middle
 * night). One wins. */
static void setup_bed(struct contest *k, int base, const char *tag)
{
	struct h_client *coord = connect_as(&dmain, "coord");
	const char *users[RACERS];
	k->name = "last bed-nights";
	k->supply_id = new_bed(coord, tag, day(base), day(base + 3));
	for (int i = 0; i < RACERS; i++) {
		snprintf(k->r[i].params, sizeof(k->r[i].params),
			 "{\"person_id\":%lld,\"supply_id\":%lld,\"from\":\"%s\",\"to\":\"%s\"}",
			 racefam[i].person_id, k->supply_id, day(base + i % 2), day(base + 2 + i % 2));
		k->r[i].confirm = i % 2 == 0;
		k->r[i].carer_id = racefam[i].carer_id;
	}
	k->winners = 1;
	k->loser_reason = "no_capacity";
	k->loser_key = "why";
	snprintf(k->loser_value, sizeof(k->loser_value), "booked");
	snprintf(k->scope, sizeof(k->scope), "supply_id = %lld", k->supply_id);
	k->extra = extra_one_allocation;
	race_users(users);
	connect_racers(k, users);
	h_close(coord);
}

/* The last worker hours: one worker, visits of 10:00-12:00 or 11:00-13:00
 * on one day (each overlaps every other, with the travel buffer). */
static void setup_worker(struct contest *k, int base, const char *tag)
{
	struct h_client *coord = connect_as(&dmain, "coord");
	const char *users[RACERS];
	k->name = "last worker hours";
	k->supply_id = worker_on_days(coord, tag, base, 1);
	for (int i = 0; i < RACERS; i++) {
		snprintf(k->r[i].params, sizeof(k->r[i].params), "{\"person_id\":%lld,\"supply_id\":%lld,%s}",
			 racefam[i].person_id, k->supply_id,
			 visit(day(base), i % 2 ? "11:00" : "10:00", i % 2 ? "13:00" : "12:00"));
		k->r[i].confirm = i % 3 == 0;
		k->r[i].carer_id = racefam[i].carer_id;
	}
	k->winners = 1;
	k->loser_reason = "no_capacity";
	k->loser_key = "why";
	snprintf(k->loser_value, sizeof(k->loser_value), "booked");
	snprintf(k->scope, sizeof(k->scope), "supply_id = %lld", k->supply_id);
	k->extra = extra_one_allocation;
	race_users(users);
	connect_racers(k, users);
	h_close(coord);
}

/* The last offer seats: five seats of a spa session, one each. */
static void setup_seats(struct contest *k, int base, const char *tag)
{
	struct h_client *coord = connect_as(&dmain, "coord");
	const char *users[RACERS];
	k->name = "last offer seats";
	k->supply_id = new_offer(coord, tag, day(base), 5);
	for (int i = 0; i < RACERS; i++) {
		snprintf(k->r[i].params, sizeof(k->r[i].params), "{\"supply_id\":%lld,\"from\":\"%s\",\"to\":\"%s\"}",
			 k->supply_id, day(base), day(base + 1));
		k->r[i].confirm = i % 2 == 1;
		k->r[i].carer_id = racefam[i].carer_id;
	}
	k->winners = 5;
	k->loser_reason = "no_capacity";
	k->loser_key = "supply_id";
	snprintf(k->loser_value, sizeof(k->loser_value), "%lld", k->supply_id);
	snprintf(k->scope, sizeof(k->scope), "supply_id = %lld", k->supply_id);
	k->extra = extra_seats;
	race_users(users);
	connect_racers(k, users);
	h_close(coord);
}

/* The last hours of one budget: a family with 600 minutes (council) books
 * 90-minute visits on 50 different days, half through the carer, half
 * through a coordinator. floor(600 / 90) = 6 win; each loser finds the 60
 * minutes left, which cover £20.00 of the £30.00: £10.00 short. */
static void setup_budget(struct contest *k, int base, const char *tag)
{
	struct h_client *coord = connect_as(&dmain, "coord");
	const char *users[RACERS];
	struct family f;
	k->name = "last hours of one budget";
	new_family(coord, tag, 1, &f);
	k->tight_carer = f.carer_id;
	k->ent_id = grant(coord, "{\"carer_id\":%lld,\"name\":\"Ten hours\",\"source\":\"council\",\"unit\":\"minutes\","
				 "\"rule\":\"fixed\",\"amount\":600,\"valid_from\":\"%s\",\"valid_to\":\"%s\"}",
			  f.carer_id, day(0), day(base + 100));
	k->supply_id = worker_on_days(coord, tag, base, RACERS);
	for (int i = 0; i < RACERS; i++) {
		int staff = i % 2;
		char who[48] = "";
		if (staff)
			snprintf(who, sizeof(who), "\"carer_id\":%lld,", f.carer_id);
		snprintf(k->r[i].params, sizeof(k->r[i].params), "{%s\"person_id\":%lld,\"supply_id\":%lld,%s}",
			 who, f.person_id, k->supply_id, visit(day(base + i), "10:00", "11:30"));
		k->r[i].confirm = i % 3 == 0;
		k->r[i].carer_id = f.carer_id;
		users[i] = staff ? "coord" : f.user;
	}
	k->winners = 6;
	k->loser_reason = "budget_exceeded";
	k->loser_key = "shortfall_pence";
	snprintf(k->loser_value, sizeof(k->loser_value), "1000");
	snprintf(k->scope, sizeof(k->scope), "carer_id = %lld", f.carer_id);
	k->extra = extra_budget;
	connect_racers(k, users);
	h_close(coord);
}

/* Every client's answer agrees with the database: a winner's booking is
 * there with the status and legs it was told, for its family; nobody else
 * has a booking in the contest. */
static void check_contest(struct contest *k)
{
	int won = 0;
	char ids[RACERS * 24] = "";
	long long sorted[RACERS];
	for (int i = 0; i < RACERS; i++) {
		struct racer *r = &k->r[i];
		ck_assert_msg(r->answered, "%s: client %d got no answer", k->name, i);
		if (!r->booking_id) {
			ck_assert_msg(strcmp(r->reason, k->loser_reason) == 0, "%s: client %d told %s (wanted %s): %s",
				      k->name, i, r->reason, k->loser_reason, r->data);
			json_object *d = json_tokener_parse(r->data);
			json_object *v = h_get(d, k->loser_key);
			ck_assert_msg(v && strcmp(json_object_get_string(v), k->loser_value) == 0,
				      "%s: client %d refusal data %s (wanted %s = %s)", k->name, i, r->data,
				      k->loser_key, k->loser_value);
			ck_assert_msg(h_get(d, "request") != NULL, "%s: refusal without the request: %s", k->name,
				      r->data);
			json_object_put(d);
			continue;
		}
		sorted[won++] = r->booking_id;
		ck_assert_msg(r->confirm_reason[0] == '\0', "%s: client %d could not confirm: %s", k->name, i,
			      r->confirm_reason);
		ck_assert_str_eq(r->status, r->confirm || (r->method && strcmp(r->method, "booking.book") == 0)
						    ? "confirmed" : "held");
		const char *row = sqlv("SELECT status || ' ' || carer_id || ' ' || (rs_booking_legs_json(id) = %s::jsonb) "
				       "FROM booking WHERE id = %lld AND %s", sql_literal(r->legs), r->booking_id,
				       k->scope);
		char want[96];
		snprintf(want, sizeof(want), "%s %lld true", r->status, r->carer_id);
		ck_assert_msg(strcmp(row, want) == 0, "%s: booking %lld in the database: %s (client told %s, legs %s)",
			      k->name, r->booking_id, row, want, r->legs);
	}
	ck_assert_msg(won == k->winners, "%s: %d won, wanted %d", k->name, won, k->winners);
	/* the bookings in the database are exactly the ones answered */
	for (int i = 0; i < won; i++)
		for (int j = i + 1; j < won; j++)
			if (sorted[j] < sorted[i]) {
				long long t = sorted[i];
				sorted[i] = sorted[j];
				sorted[j] = t;
			}
	for (int i = 0; i < won; i++)
		snprintf(ids + strlen(ids), sizeof(ids) - strlen(ids), "%s%lld", i ? "," : "", sorted[i]);
	ck_assert_str_eq(sqlv("SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM booking WHERE %s",
			      k->scope), ids);
	k->extra(k, won);
}

typedef void (*contest_setup)(struct contest *, int base, const char *tag);

static const struct {
	const char *tag;
	contest_setup setup;
	int base;
} contests[] = {
	{ "bed", setup_bed, 30 },
	{ "worker", setup_worker, 40 },
	{ "seats", setup_seats, 50 },
	{ "budget", setup_budget, 60 },
};
enum { NCONTESTS = sizeof(contests) / sizeof(contests[0]) };

START_TEST(race_for_the_last)
{
	struct contest *k = calloc(1, sizeof(*k));
	char tag[32];
	snprintf(tag, sizeof(tag), "%s_one", contests[_i].tag);
	contests[_i].setup(k, contests[_i].base, tag);
	race(k->r, RACERS);
	check_contest(k);
	check_invariants();
	racers_free(k->r, RACERS);
	free(k);
}
END_TEST

/* The four contests at once: 200 clients, the same 50 families in three of
 * them (different days, so each family's own rules do not interfere). */
START_TEST(four_races_at_once)
{
	struct contest *k = calloc(NCONTESTS, sizeof(*k));
	struct racer *all = calloc(NCONTESTS * RACERS, sizeof(*all));
	char tag[32];
	for (int j = 0; j < (int)NCONTESTS; j++) {
		snprintf(tag, sizeof(tag), "%s_all", contests[j].tag);
		contests[j].setup(&k[j], contests[j].base + 100, tag);
		memcpy(&all[j * RACERS], k[j].r, sizeof(k[j].r));
	}
	race(all, NCONTESTS * RACERS);
	for (int j = 0; j < (int)NCONTESTS; j++) {
		memcpy(k[j].r, &all[j * RACERS], sizeof(k[j].r));
		check_contest(&k[j]);
	}
	check_invariants();
	racers_free(all, NCONTESTS * RACERS);
	free(all);
	free(k);
}
END_TEST

/* The last bed-night, booked with booking.book (hold and confirmation in
 * one transaction): one bed free for one night, 50 families ask for it at
 * once. One is confirmed; everybody else is told no_capacity (booked). */
START_TEST(book_race_for_the_last_night)
{
	struct contest *k = calloc(1, sizeof(*k));
	struct h_client *coord = connect_as(&dmain, "coord");
	const char *users[RACERS];
	k->name = "last bed-night, booking.book";
	k->supply_id = new_bed(coord, "book_one", day(70), day(71));
	for (int i = 0; i < RACERS; i++) {
		snprintf(k->r[i].params, sizeof(k->r[i].params),
			 "{\"person_id\":%lld,\"supply_id\":%lld,\"from\":\"%s\",\"to\":\"%s\"}",
			 racefam[i].person_id, k->supply_id, day(70), day(71));
		k->r[i].method = "booking.book";
		k->r[i].carer_id = racefam[i].carer_id;
	}
	k->winners = 1;
	k->loser_reason = "no_capacity";
	k->loser_key = "why";
	snprintf(k->loser_value, sizeof(k->loser_value), "booked");
	snprintf(k->scope, sizeof(k->scope), "supply_id = %lld", k->supply_id);
	k->extra = extra_one_allocation;
	race_users(users);
	connect_racers(k, users);
	h_close(coord);
	race(k->r, RACERS);
	check_contest(k);
	/* the winner's booking is confirmed, its legs posted, nothing held */
	ck_assert_int_eq(sqli("SELECT count(*) FROM booking WHERE supply_id = %lld AND status = 'confirmed' "
			      "AND expires_at IS NULL AND confirmed_at IS NOT NULL", k->supply_id), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM ledger_transfer t JOIN booking b ON b.id = t.booking_id "
			      "WHERE b.supply_id = %lld AND t.status <> 'posted'", k->supply_id), 0);
	check_invariants();
	racers_free(k->r, RACERS);
	free(k);
}
END_TEST

/* ===================================================================== */
/* Scenarios                                                              */
/* ===================================================================== */

/* 52 hours over nine months (Wandsworth), not on bank holidays, used up
 * in thirteen 4-hour sits; the fourteenth is refused. */
START_TEST(allowance_52_hours_used_up)
{
	struct h_client *coord = connect_as(&dmain, "coord");
	struct family f;
	new_family(coord, "a52", 1, &f);
	const char *csv = sqlv("SELECT string_agg(d::date::text, ',' ORDER BY d) FROM ("
			       "SELECT d FROM generate_series('%s'::date, '%s'::date, '1 day') d "
			       "WHERE extract(isodow FROM d) < 6 AND NOT EXISTS (SELECT 1 FROM bank_holiday WHERE day = d::date) "
			       "ORDER BY d LIMIT 14) x", ny(4, 13), ny(6, 30));
	const char *days[14];
	char *copy = keep_str(strdup(csv)), *save = NULL;
	int n = 0;
	for (char *t = strtok_r(copy, ",", &save); t && n < 14; t = strtok_r(NULL, ",", &save))
		days[n++] = t;
	ck_assert_int_eq(n, 14);
	long long w = new_worker(coord, "a52", days, 14);
	long long e = grant(coord, "{\"carer_id\":%lld,\"name\":\"52 hours over 9 months\",\"source\":\"council\","
				   "\"unit\":\"minutes\",\"rule\":\"fixed\",\"amount\":3120,\"valid_from\":\"%s\","
				   "\"valid_to\":\"%s\",\"exclude_bank_holidays\":true,\"kinds\":[\"worker\",\"household\"]}",
			    f.carer_id, ny(1, 1), ny(10, 1));
	struct h_client *c = connect_as(&dmain, f.user);
	for (int i = 0; i < 13; i++) {
		json_object *b = book(c, "{\"person_id\":%lld,\"supply_id\":%lld,\"pay_from\":[%lld],%s}", f.person_id,
				      w, e, visit(days[i], "10:00", "14:00"));
		ck_assert_int_eq(num(b, "minutes"), 240);
		ck_assert_int_eq(json_object_array_length(h_get(b, "legs")), 1);
		ck_assert_int_eq(num(b, "legs.0.amount"), 240);
		ck_assert_int_eq(num(b, "legs.0.entitlement_id"), e);
		ck_assert_str_eq(str(b, "legs.0.status"), "posted");
		ck_assert_int_eq(num(b, "legs.0.covers_pence"), num(b, "cost_pence"));
	}
	json_object *s = source_of(must(c, "budget.summary", "{}"), e);
	ck_assert_int_eq(num(s, "allowance"), 3120);
	ck_assert_int_eq(num(s, "spent"), 3120);
	ck_assert_int_eq(num(s, "held"), 0);
	ck_assert_int_eq(num(s, "remaining"), 0);
	json_object *d = refused(c, "booking.hold", "budget_exceeded",
				 "{\"person_id\":%lld,\"supply_id\":%lld,\"pay_from\":[%lld],%s}", f.person_id, w, e,
				 visit(days[13], "10:00", "14:00"));
	ck_assert_int_eq(num(d, "shortfall_pence"), 8000);
	ck_assert_int_eq(num(d, "cost_pence"), 8000);
	ck_assert_str_eq(str(d, "not_used.0.category"), "empty");
	ck_assert_int_eq(num(d, "request.supply_id"), w);
	ck_assert_int_eq(sqli("SELECT count(*) FROM booking WHERE carer_id = %lld AND status = 'confirmed'", f.carer_id),
			 13);
	ck_assert_int_eq(sqli("SELECT count(*) FROM booking WHERE carer_id = %lld", f.carer_id), 13);
	check_invariants();
	h_close(c);
	h_close(coord);
}
END_TEST

/* Up to 8 hours a calendar month (Stockton): March used up, refused in
 * March, available again on 1 April. */
START_TEST(allowance_8_hours_a_month)
{
	struct h_client *coord = connect_as(&dmain, "coord");
	struct family f;
	new_family(coord, "m8", 1, &f);
	const char *days[] = { ny(3, 9), ny(3, 16), ny(3, 23), ny(4, 1) };
	long long w = new_worker(coord, "m8", days, 4);
	long long e = grant(coord, "{\"person_id\":%lld,\"name\":\"Sitting: 8 hours a month\",\"source\":\"council\","
				   "\"unit\":\"minutes\",\"rule\":\"recurring\",\"period\":\"month\",\"amount\":480,"
				   "\"valid_from\":\"%s\"}", f.person_id, day(0));
	struct h_client *c = connect_as(&dmain, f.user);
	book(c, "{\"person_id\":%lld,\"supply_id\":%lld,%s}", f.person_id, w, visit(days[0], "10:00", "14:00"));
	book(c, "{\"person_id\":%lld,\"supply_id\":%lld,%s}", f.person_id, w, visit(days[1], "10:00", "14:00"));
	json_object *d = refused(c, "booking.hold", "budget_exceeded", "{\"person_id\":%lld,\"supply_id\":%lld,%s}",
				 f.person_id, w, visit(days[2], "10:00", "11:00"));
	ck_assert_msg(strncmp(str(d, "not_used.0.why"), "nothing left for the month of", 29) == 0, "%s", js(d));
	ck_assert_int_eq(num(d, "not_used.0.entitlement_id"), e);
	json_object *b = book(c, "{\"person_id\":%lld,\"supply_id\":%lld,%s}", f.person_id, w,
			      visit(days[3], "10:00", "14:00"));
	ck_assert_int_eq(num(b, "legs.0.entitlement_id"), e);
	ck_assert_int_eq(num(b, "legs.0.amount"), 240);
	json_object *s = source_of(must(c, "budget.summary", "{}"), e);
	json_object *march = period_of(s, ny(3, 1)), *april = period_of(s, ny(4, 1));
	ck_assert_int_eq(num(march, "allowance"), 480);
	ck_assert_int_eq(num(march, "spent"), 480);
	ck_assert_int_eq(num(march, "remaining"), 0);
	ck_assert_int_eq(num(april, "allowance"), 480);
	ck_assert_int_eq(num(april, "spent"), 240);
	ck_assert_int_eq(num(april, "remaining"), 240);
	check_invariants();
	h_close(c);
	h_close(coord);
}
END_TEST

/* More than 28 consecutive nights of residential respite counts as
 * permanent residence: a 29-night stay is refused; a carer cannot
 * override; a coordinator can, with a reason that is recorded. 28 nights
 * are allowed, with a warning. */
START_TEST(residential_29_nights_override)
{
	struct h_client *coord = connect_as(&dmain, "coord");
	struct family f;
	new_family(coord, "n29", 1, &f);
	long long bed = new_bed(coord, "n29", day(1), day(700));
	personal_budget(coord, f.person_id, 2000000);
	struct h_client *c = connect_as(&dmain, f.user);
	json_object *d = refused(c, "booking.hold", "permanent_residence_risk",
				 "{\"person_id\":%lld,\"supply_id\":%lld,\"from\":\"%s\",\"to\":\"%s\"}", f.person_id,
				 bed, ny(8, 2), ny(8, 31));
	ck_assert_int_eq(num(d, "consecutive_nights"), 29);
	refused(c, "booking.hold", "forbidden",
		"{\"person_id\":%lld,\"supply_id\":%lld,\"from\":\"%s\",\"to\":\"%s\",\"override_reason\":\"please\"}",
		f.person_id, bed, ny(8, 2), ny(8, 31));
	const char *why = "carer in hospital for surgery; placement review booked";
	json_object *b = must(coord, "booking.hold",
			      "{\"carer_id\":%lld,\"person_id\":%lld,\"supply_id\":%lld,\"from\":\"%s\",\"to\":\"%s\","
			      "\"override_reason\":\"%s\"}", f.carer_id, f.person_id, bed, ny(8, 2), ny(8, 31), why);
	long long id = num(b, "booking_id");
	ck_assert_str_eq(str(b, "status"), "held");
	ck_assert_str_eq(str(b, "override_reason"), why);
	ck_assert(flag(b, "on_behalf"));
	ck_assert_str_eq(str(b, "booked_by"), "coord");
	ck_assert_str_eq(str(b, "warnings.0.code"), "long_stay");
	ck_assert_int_eq(num(b, "nights.nights"), 29);
	ck_assert_int_eq(num(b, "cost_pence"), 290000);
	ck_assert_str_eq(str(b, "legs.0.source"), "person_personal_budget");
	must(coord, "booking.confirm", "{\"booking_id\":%lld}", id);
	ck_assert_int_eq(sqli("SELECT override_by FROM booking WHERE id = %lld", id), coord_uid);
	ck_assert_str_eq(sqlv("SELECT reason FROM booking_event WHERE booking_id = %lld AND to_status = 'held'", id), why);
	/* the carer sees the override on the booking */
	ck_assert_str_eq(str(must(c, "booking.get", "{\"booking_id\":%lld}", id), "override_reason"), why);
	/* 28 nights are allowed without an override, with a warning */
	b = must(c, "booking.hold", "{\"person_id\":%lld,\"supply_id\":%lld,\"from\":\"%s\",\"to\":\"%s\"}", f.person_id,
		 bed, ny(10, 1), ny(10, 29));
	ck_assert_int_eq(num(b, "nights.nights"), 28);
	ck_assert_str_eq(str(b, "warnings.0.code"), "long_stay");
	ck_assert_ptr_null(h_get(b, "override_reason"));
	check_invariants();
	h_close(c);
	h_close(coord);
}
END_TEST

/* Replacement care is a service to the cared-for person: it is charged to
 * their budget, never the carer's, and budget.summary shows it so. */
START_TEST(replacement_care_charged_to_the_person)
{
	struct h_client *coord = connect_as(&dmain, "coord");
	struct family f;
	new_family(coord, "charge", 1, &f);
	long long w = worker_on_days(coord, "charge", 20, 1);
	long long dp = direct_payment(coord, f.carer_id, 50000);
	long long pb = personal_budget(coord, f.person_id, 50000);
	struct h_client *c = connect_as(&dmain, f.user);
	json_object *d = refused(c, "booking.hold", "condition_not_met",
				 "{\"person_id\":%lld,\"supply_id\":%lld,\"pay_from\":[%lld],%s}", f.person_id, w, dp,
				 visit(day(20), "10:00", "13:00"));
	ck_assert_str_eq(str(d, "not_used.0.category"), "charging_rule");
	ck_assert_int_eq(num(d, "not_used.0.entitlement_id"), dp);
	json_object *b = book(c, "{\"person_id\":%lld,\"supply_id\":%lld,%s}", f.person_id, w,
			      visit(day(20), "10:00", "13:00"));
	long long id = num(b, "booking_id");
	ck_assert_int_eq(num(b, "cost_pence"), 6000);
	ck_assert_int_eq(json_object_array_length(h_get(b, "legs")), 1);
	ck_assert_str_eq(str(b, "legs.0.source"), "person_personal_budget");
	ck_assert_int_eq(num(b, "legs.0.entitlement_id"), pb);
	ck_assert_int_eq(num(b, "legs.0.amount"), 6000);
	json_object *sum = must(c, "budget.summary", "{}");
	json_object *sp = source_of(sum, pb), *sd = source_of(sum, dp);
	ck_assert_int_eq(num(sp, "spent"), 6000);
	ck_assert_int_eq(num(sp, "remaining"), 44000);
	ck_assert_int_eq(num(sd, "spent"), 0);
	ck_assert_int_eq(num(sd, "held"), 0);
	ck_assert_int_eq(num(sd, "remaining"), 50000);
	ck_assert_int_eq(num(sum, "movements.0.booking_id"), id);
	ck_assert_int_eq(num(sum, "movements.0.entitlement_id"), pb);
	ck_assert_str_eq(str(sum, "movements.0.direction"), "out");
	check_invariants();
	h_close(c);
	h_close(coord);
}
END_TEST

static json_object *wait_status(struct h_client *c, long long id, const char *want, int max_ms)
{
	json_object *b = NULL;
	for (int t = 0; t < max_ms; t += 200) {
		b = must(c, "booking.get", "{\"booking_id\":%lld}", id);
		if (strcmp(str(b, "status"), want) == 0)
			return b;
		usleep(200000);
	}
	ck_abort_msg("booking %lld still %s after %d ms", id, b ? str(b, "status") : "?", max_ms);
	return NULL;
}

/* A hold that is not confirmed lapses (hold_ttl_s=10 on this daemon) and
 * gives back both the supply and the budget. */
START_TEST(lapsed_hold_returns_supply_and_budget)
{
	struct h_client *coord = connect_as(&dmain, "coord");
	struct family f, g;
	new_family(coord, "lapse_f", 1, &f);
	new_family(coord, "lapse_g", 1, &g);
	long long w = worker_on_days(coord, "lapse", 25, 1);
	long long pb = personal_budget(coord, f.person_id, 50000);
	personal_budget(coord, g.person_id, 50000);
	struct h_client *c = connect_as(&dshort, f.user), *other = connect_as(&dmain, g.user);
	const char *slot = visit(day(25), "10:00", "12:00");
	json_object *b = must(c, "booking.hold", "{\"person_id\":%lld,\"supply_id\":%lld,%s}", f.person_id, w, slot);
	long long id = num(b, "booking_id");
	ck_assert_int_eq(num(b, "cost_pence"), 4000);
	ck_assert_str_eq(str(b, "legs.0.status"), "pending");
	ck_assert_int_eq(sqli("SELECT round(extract(epoch FROM expires_at - created_at)) FROM booking WHERE id = %lld", id),
			 10);
	json_object *s = source_of(must(c, "budget.summary", "{}"), pb);
	ck_assert_int_eq(num(s, "held"), 4000);
	ck_assert_int_eq(num(s, "remaining"), 46000);
	/* while held, nobody else can have that worker */
	refused(other, "booking.hold", "no_capacity", "{\"person_id\":%lld,\"supply_id\":%lld,%s}", g.person_id, w, slot);
	b = wait_status(c, id, "expired", 30000);
	json_object *events = h_get(b, "events");
	json_object *last = json_object_array_get_idx(events, json_object_array_length(events) - 1);
	ck_assert_str_eq(str(last, "from"), "held");
	ck_assert_ptr_null(h_get(last, "by")); /* the janitor */
	ck_assert_str_eq(str(b, "legs.0.status"), "voided");
	s = source_of(must(c, "budget.summary", "{}"), pb);
	ck_assert_int_eq(num(s, "held"), 0);
	ck_assert_int_eq(num(s, "spent"), 0);
	ck_assert_int_eq(num(s, "remaining"), 50000);
	ck_assert_int_eq(sqli("SELECT count(*) FROM allocation WHERE booking_id = %lld AND active", id), 0);
	refused(c, "booking.confirm", "hold_expired", "{\"booking_id\":%lld}", id);
	/* the supply can be held again */
	b = must(other, "booking.hold", "{\"person_id\":%lld,\"supply_id\":%lld,%s}", g.person_id, w, slot);
	ck_assert_str_eq(str(b, "status"), "held");
	check_invariants();
	h_close(c);
	h_close(other);
	h_close(coord);
}
END_TEST

/* A retried hold with the same idempotency key returns the same booking
 * and books nothing more, sequentially and when the duplicates race. */
START_TEST(idempotent_retry_same_booking)
{
	struct h_client *coord = connect_as(&dmain, "coord");
	struct family f;
	new_family(coord, "idem", 1, &f);
	long long w = worker_on_days(coord, "idem", 27, 1);
	personal_budget(coord, f.person_id, 50000);
	struct h_client *c = connect_as(&dmain, f.user);
	char params[512];
	snprintf(params, sizeof(params), "{\"person_id\":%lld,\"supply_id\":%lld,%s,\"idempotency_key\":\"hold-1\"}",
		 f.person_id, w, visit(day(27), "10:00", "12:00"));
	json_object *a = must(c, "booking.hold", "%s", params);
	json_object *b = must(c, "booking.hold", "%s", params);
	long long id = num(a, "booking_id");
	ck_assert(!flag(a, "replayed"));
	ck_assert(flag(b, "replayed"));
	ck_assert_int_eq(num(b, "booking_id"), id);
	ck_assert_int_eq(sqli("SELECT count(*) FROM booking WHERE carer_id = %lld", f.carer_id), 1);
	/* the same key for another request is refused */
	refused(c, "booking.hold", "idempotency_mismatch",
		"{\"person_id\":%lld,\"supply_id\":%lld,%s,\"idempotency_key\":\"hold-1\"}", f.person_id, w,
		visit(day(27), "15:00", "16:00"));
	/* a retried confirmation too */
	a = must(c, "booking.confirm", "{\"booking_id\":%lld,\"idempotency_key\":\"confirm-1\"}", id);
	b = must(c, "booking.confirm", "{\"booking_id\":%lld,\"idempotency_key\":\"confirm-1\"}", id);
	ck_assert_str_eq(str(b, "status"), "confirmed");
	ck_assert(flag(b, "replayed"));
	ck_assert_int_eq(sqli("SELECT count(*) FROM booking_event WHERE booking_id = %lld AND to_status = 'confirmed'", id), 1);

	/* ten copies of one request at once, on ten connections */
	enum { DUP = 10 };
	struct racer rs[DUP];
	memset(rs, 0, sizeof(rs));
	for (int i = 0; i < DUP; i++) {
		rs[i].c = connect_as(&dmain, f.user);
		snprintf(rs[i].params, sizeof(rs[i].params),
			 "{\"person_id\":%lld,\"supply_id\":%lld,%s,\"idempotency_key\":\"hold-2\"}", f.person_id, w,
			 visit(day(27), "17:00", "19:00"));
	}
	race(rs, DUP);
	int fresh = 0;
	for (int i = 0; i < DUP; i++) {
		ck_assert_msg(rs[i].booking_id != 0, "duplicate %d refused: %s %s", i, rs[i].reason, rs[i].data);
		ck_assert_int_eq(rs[i].booking_id, rs[0].booking_id);
		fresh += !rs[i].replayed;
	}
	ck_assert_int_eq(fresh, 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM booking WHERE carer_id = %lld", f.carer_id), 2);
	racers_free(rs, DUP);
	check_invariants();
	h_close(c);
	h_close(coord);
}
END_TEST

/* A carer can neither see nor book another family; a coordinator of
 * another authority cannot either, nor a provider but for its own supply,
 * and a provider never books. */
START_TEST(carer_cannot_reach_another_family)
{
	struct h_client *coord = connect_as(&dmain, "coord");
	struct family a, b;
	new_family(coord, "ten_a", 1, &a);
	new_family(coord, "ten_b", 1, &b);
	long long w = worker_on_days(coord, "ten", 29, 1);
	personal_budget(coord, a.person_id, 50000);
	personal_budget(coord, b.person_id, 50000);
	long long bid = num(must(coord, "booking.hold", "{\"carer_id\":%lld,\"person_id\":%lld,\"supply_id\":%lld,%s}",
				 b.carer_id, b.person_id, w, visit(day(29), "10:00", "12:00")), "booking_id");
	const char *slot = visit(day(29), "15:00", "17:00");
	struct {
		const char *user, *method, *reason;
		char params[256];
	} rows[] = {
		{ a.user, "booking.hold", "not_found", "" },
		{ a.user, "booking.hold", "not_found", "" },
		{ a.user, "booking.quote", "not_found", "" },
		{ a.user, "booking.get", "not_found", "" },
		{ a.user, "booking.confirm", "not_found", "" },
		{ a.user, "booking.cancel", "not_found", "" },
		{ a.user, "budget.summary", "not_found", "" },
		{ a.user, "family.get", "not_found", "" },
		{ a.user, "person.update", "not_found", "" },
		{ a.user, "booking.get", "not_found", "" },
		{ a.user, "booking.hold", "not_found", "" },
		{ "coord_other", "booking.get", "not_found", "" },
		{ "coord_other", "family.get", "not_found", "" },
		{ "coord_other", "booking.hold", "not_found", "" },
		{ "prov_hotel", "booking.get", "not_found", "" },
		{ "prov_hotel", "booking.cancel", "not_found", "" },
		{ "prov_sitters", "booking.hold", "forbidden", "" },
	};
	int k = 0;
	snprintf(rows[k++].params, 256, "{\"person_id\":%lld,\"supply_id\":%lld,%s}", b.person_id, w, slot);
	snprintf(rows[k++].params, 256, "{\"carer_id\":%lld,\"person_id\":%lld,\"supply_id\":%lld,%s}", b.carer_id,
		 b.person_id, w, slot);
	snprintf(rows[k++].params, 256, "{\"person_id\":%lld,%s}", b.person_id, slot);
	snprintf(rows[k++].params, 256, "{\"booking_id\":%lld}", bid);
	snprintf(rows[k++].params, 256, "{\"booking_id\":%lld}", bid);
	snprintf(rows[k++].params, 256, "{\"booking_id\":%lld}", bid);
	snprintf(rows[k++].params, 256, "{\"carer_id\":%lld}", b.carer_id);
	snprintf(rows[k++].params, 256, "{\"carer_id\":%lld}", b.carer_id);
	snprintf(rows[k++].params, 256, "{\"person_id\":%lld,\"notes\":\"mine now\"}", b.person_id);
	snprintf(rows[k++].params, 256, "{\"booking_id\":%lld}", bid + 1000000);
	snprintf(rows[k++].params, 256, "{\"person_id\":%lld,\"supply_id\":%lld,%s}", b.person_id + 1000000, w, slot);
	snprintf(rows[k++].params, 256, "{\"booking_id\":%lld}", bid);
	snprintf(rows[k++].params, 256, "{\"carer_id\":%lld}", b.carer_id);
	snprintf(rows[k++].params, 256, "{\"carer_id\":%lld,\"person_id\":%lld,\"supply_id\":%lld,%s}", b.carer_id,
		 b.person_id, w, slot);
	snprintf(rows[k++].params, 256, "{\"booking_id\":%lld}", bid);
	snprintf(rows[k++].params, 256, "{\"booking_id\":%lld,\"reason\":\"no longer available\"}", bid);
	snprintf(rows[k++].params, 256, "{\"carer_id\":%lld,\"person_id\":%lld,\"supply_id\":%lld,%s}", b.carer_id,
		 b.person_id, w, slot);
	ck_assert_int_eq(k, (int)(sizeof(rows) / sizeof(rows[0])));
	for (int i = 0; i < k; i++) {
		struct h_client *c = connect_as(&dmain, rows[i].user);
		refused(c, rows[i].method, rows[i].reason, "%s", rows[i].params);
		h_close(c);
	}
	/* the worker's own agency sees the booking; b's booking is as it was
	 * and nothing of b's is listed to a */
	struct h_client *c = connect_as(&dmain, "prov_sitters");
	ck_assert_str_eq(str(must(c, "booking.get", "{\"booking_id\":%lld}", bid), "status"), "held");
	h_close(c);
	c = connect_as(&dmain, a.user);
	ck_assert_int_eq(json_object_array_length(h_get(must(c, "booking.list", "{}"), "bookings")), 0);
	ck_assert_str_eq(sqlv("SELECT status FROM booking WHERE id = %lld", bid), "held");
	ck_assert_int_eq(sqli("SELECT count(*) FROM booking WHERE carer_id IN (%lld, %lld)", a.carer_id, b.carer_id), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM person WHERE id = %lld AND notes IS NOT NULL", b.person_id), 0);
	check_invariants();
	h_close(c);
	h_close(coord);
}
END_TEST

/* A coordinator books for a carer who is not online: recorded as on
 * behalf, by whom, in the booking and its events; the carer sees it. */
START_TEST(coordinator_books_on_behalf)
{
	struct h_client *coord = connect_as(&dmain, "coord");
	struct family f, off;
	new_family(coord, "behalf", 1, &f);
	new_family(coord, "offline", 0, &off); /* no user at all */
	long long w = worker_on_days(coord, "behalf", 31, 1);
	personal_budget(coord, f.person_id, 50000);
	personal_budget(coord, off.person_id, 50000);
	json_object *b = must(coord, "booking.hold", "{\"carer_id\":%lld,\"person_id\":%lld,\"supply_id\":%lld,%s}",
			      f.carer_id, f.person_id, w, visit(day(31), "10:00", "12:00"));
	long long id = num(b, "booking_id");
	ck_assert(flag(b, "on_behalf"));
	ck_assert_str_eq(str(b, "booked_by"), "coord");
	must(coord, "booking.confirm", "{\"booking_id\":%lld}", id);
	struct h_client *c = connect_as(&dmain, f.user);
	b = must(c, "booking.get", "{\"booking_id\":%lld}", id);
	ck_assert_str_eq(str(b, "status"), "confirmed");
	ck_assert(flag(b, "on_behalf"));
	ck_assert_int_eq(json_object_array_length(h_get(b, "events")), 2);
	ck_assert_str_eq(str(b, "events.0.to"), "held");
	ck_assert_str_eq(str(b, "events.0.by"), "coord");
	ck_assert_str_eq(str(b, "events.1.from"), "held");
	ck_assert_str_eq(str(b, "events.1.to"), "confirmed");
	ck_assert_str_eq(str(b, "events.1.by"), "coord");
	ck_assert_int_eq(num(must(c, "booking.list", "{}"), "bookings.0.booking_id"), id);
	ck_assert_str_eq(sqlv("SELECT on_behalf || ' ' || created_by FROM booking WHERE id = %lld", id),
			 sqlv("SELECT 'true ' || %lld", coord_uid));
	ck_assert_int_eq(sqli("SELECT count(*) FROM booking_event WHERE booking_id = %lld AND actor_user_id = %lld "
			      "AND data->>'on_behalf' = 'true'", id, coord_uid), 2);
	/* a family with no user at all: the person's one carer is implied */
	b = must(coord, "booking.hold", "{\"person_id\":%lld,\"supply_id\":%lld,%s}", off.person_id, w,
		 visit(day(31), "15:00", "17:00"));
	ck_assert_int_eq(num(b, "carer_id"), off.carer_id);
	ck_assert(flag(b, "on_behalf"));
	check_invariants();
	h_close(c);
	h_close(coord);
}
END_TEST

/* Cancelling gives the budget back: a hold's pending leg is voided, a
 * confirmed booking's posted leg is reversed; the slot is free again. */
static const struct {
	int confirm;
	const char *leg_status;
	int legs;
} cancels[] = {
	{ 0, "voided", 1 },
	{ 1, "posted", 2 },
};

START_TEST(cancel_returns_the_budget)
{
	struct h_client *coord = connect_as(&dmain, "coord");
	struct family f;
	char tag[32];
	snprintf(tag, sizeof(tag), "cancel%d", _i);
	new_family(coord, tag, 1, &f);
	long long w = worker_on_days(coord, tag, 33 + _i, 1);
	long long pb = personal_budget(coord, f.person_id, 50000);
	struct h_client *c = connect_as(&dmain, f.user);
	const char *slot = visit(day(33 + _i), "10:00", "13:00");
	json_object *b = must(c, "booking.hold", "{\"person_id\":%lld,\"supply_id\":%lld,%s}", f.person_id, w, slot);
	long long id = num(b, "booking_id");
	if (cancels[_i].confirm)
		must(c, "booking.confirm", "{\"booking_id\":%lld}", id);
	json_object *s = source_of(must(c, "budget.summary", "{}"), pb);
	ck_assert_int_eq(num(s, cancels[_i].confirm ? "spent" : "held"), 6000);
	ck_assert_int_eq(num(s, "remaining"), 44000);
	b = must(c, "booking.cancel", "{\"booking_id\":%lld,\"reason\":\"change of plan\"}", id);
	ck_assert_str_eq(str(b, "status"), "cancelled_by_carer");
	ck_assert_str_eq(str(b, "cancel_reason"), "change of plan");
	ck_assert_int_eq(json_object_array_length(h_get(b, "legs")), cancels[_i].legs);
	ck_assert_str_eq(str(b, "legs.0.status"), cancels[_i].leg_status);
	if (cancels[_i].legs == 2) {
		ck_assert_str_eq(str(b, "legs.1.kind"), "reversal");
		ck_assert_int_eq(num(b, "legs.1.covers_pence"), -6000);
		ck_assert_int_eq(num(b, "legs.1.reverses"), num(b, "legs.0.transfer_id"));
	}
	s = source_of(must(c, "budget.summary", "{}"), pb);
	ck_assert_int_eq(num(s, "spent"), 0);
	ck_assert_int_eq(num(s, "held"), 0);
	ck_assert_int_eq(num(s, "remaining"), 50000);
	refused(c, "booking.cancel", "invalid_state", "{\"booking_id\":%lld}", id);
	/* the worker is free again */
	b = must(c, "booking.hold", "{\"person_id\":%lld,\"supply_id\":%lld,%s}", f.person_id, w, slot);
	ck_assert_str_eq(str(b, "status"), "held");
	check_invariants();
	h_close(c);
	h_close(coord);
}
END_TEST

/* booking.book: the checks of a hold and the answer of a confirmation, in
 * one call: confirmed, legs posted, the budget spent (not held), events
 * held then confirmed; its own idempotency keys; the refusals of a hold. */
START_TEST(book_in_one_call)
{
	struct h_client *coord = connect_as(&dmain, "coord");
	struct family f;
	new_family(coord, "book", 1, &f);
	long long w = worker_on_days(coord, "book", 35, 1);
	long long pb = personal_budget(coord, f.person_id, 50000);
	struct h_client *c = connect_as(&dmain, f.user);
	char params[512];
	snprintf(params, sizeof(params), "{\"person_id\":%lld,\"supply_id\":%lld,%s,\"idempotency_key\":\"book-1\"}",
		 f.person_id, w, visit(day(35), "10:00", "13:00"));
	json_object *b = must(c, "booking.book", "%s", params);
	long long id = num(b, "booking_id");
	ck_assert_str_eq(str(b, "status"), "confirmed");
	ck_assert(!flag(b, "replayed"));
	ck_assert_ptr_null(h_get(b, "hold_expires_at"));
	ck_assert_ptr_nonnull(h_get(b, "confirmed_at"));
	ck_assert_int_eq(num(b, "cost_pence"), 6000);
	ck_assert_int_eq(json_object_array_length(h_get(b, "legs")), 1);
	ck_assert_str_eq(str(b, "legs.0.status"), "posted");
	ck_assert_int_eq(num(b, "legs.0.entitlement_id"), pb);
	ck_assert_int_eq(num(b, "legs.0.covers_pence"), 6000);
	ck_assert_ptr_null(h_get(b, "legs.0.expires_at"));
	ck_assert_int_eq(json_object_array_length(h_get(b, "events")), 2);
	ck_assert_str_eq(str(b, "events.0.to"), "held");
	ck_assert_str_eq(str(b, "events.1.from"), "held");
	ck_assert_str_eq(str(b, "events.1.to"), "confirmed");
	ck_assert_str_eq(str(b, "events.1.by"), f.user);
	ck_assert_int_eq(json_object_array_length(h_get(b, "units")), 1);
	/* the answer is what booking.get says of it */
	json_object *g = must(c, "booking.get", "{\"booking_id\":%lld}", id);
	ck_assert_str_eq(js(g), js(b));
	json_object *s = source_of(must(c, "budget.summary", "{}"), pb);
	ck_assert_int_eq(num(s, "spent"), 6000);
	ck_assert_int_eq(num(s, "held"), 0);
	ck_assert_int_eq(num(s, "remaining"), 44000);
	/* a retry is replayed; the key is booking.book's own */
	json_object *again = must(c, "booking.book", "%s", params);
	ck_assert(flag(again, "replayed"));
	ck_assert_int_eq(num(again, "booking_id"), id);
	refused(c, "booking.hold", "idempotency_mismatch", "%s", params);
	must(c, "booking.hold", "{\"person_id\":%lld,\"supply_id\":%lld,%s,\"idempotency_key\":\"hold-9\"}",
	     f.person_id, w, visit(day(35), "15:00", "16:00"));
	refused(c, "booking.book", "idempotency_mismatch",
		"{\"person_id\":%lld,\"supply_id\":%lld,%s,\"idempotency_key\":\"hold-9\"}", f.person_id, w,
		visit(day(35), "15:00", "16:00"));
	/* the refusals of a hold: the slot is taken, the person is busy */
	refused(coord, "booking.book", "conflict", "{\"carer_id\":%lld,\"person_id\":%lld,\"supply_id\":%lld,%s}",
		f.carer_id, f.person_id, w, visit(day(35), "12:00", "14:00"));
	struct family g2;
	new_family(coord, "book_g", 1, &g2);
	personal_budget(coord, g2.person_id, 50000);
	json_object *d = refused(coord, "booking.book", "no_capacity",
				 "{\"carer_id\":%lld,\"person_id\":%lld,\"supply_id\":%lld,%s}", g2.carer_id,
				 g2.person_id, w, visit(day(35), "11:00", "12:00"));
	ck_assert_str_eq(str(d, "why"), "booked");
	/* carers may not lengthen a hold, even one that never lapses */
	snprintf(params, sizeof(params), "{\"person_id\":%lld,\"supply_id\":%lld,%s,\"hold_seconds\":86400}",
		 f.person_id, w, visit(day(35), "18:00", "19:00"));
	json_object *r = keep(h_call(c, "booking.book", params));
	ck_assert_msg(h_code(r) == -32602 && strcmp(str(r, "error.data.field"), "hold_seconds") == 0, "%s", js(r));
	ck_assert_int_eq(sqli("SELECT count(*) FROM booking WHERE carer_id = %lld", f.carer_id), 2);
	ck_assert_int_eq(sqli("SELECT count(*) FROM booking WHERE carer_id = %lld", g2.carer_id), 0);
	/* cancelled, it gives the budget back like any confirmed booking */
	b = must(c, "booking.cancel", "{\"booking_id\":%lld,\"reason\":\"change of plan\"}", id);
	ck_assert_str_eq(str(b, "legs.1.kind"), "reversal");
	s = source_of(must(c, "budget.summary", "{}"), pb);
	ck_assert_int_eq(num(s, "spent"), 0);
	check_invariants();
	h_close(c);
	h_close(coord);
}
END_TEST

/* ===================================================================== */

static Suite *booking_suite(void)
{
	Suite *s = suite_create("booking");
	TCase *races = tcase_create("races");
	tcase_set_timeout(races, 300);
	tcase_add_checked_fixture(races, NULL, free_kept);
	tcase_add_loop_test(races, race_for_the_last, 0, NCONTESTS);
	tcase_add_test(races, four_races_at_once);
	tcase_add_test(races, book_race_for_the_last_night);
	suite_add_tcase(s, races);
	TCase *sc = tcase_create("scenarios");
	tcase_set_timeout(sc, 120);
	tcase_add_checked_fixture(sc, NULL, free_kept);
	tcase_add_test(sc, allowance_52_hours_used_up);
	tcase_add_test(sc, allowance_8_hours_a_month);
	tcase_add_test(sc, residential_29_nights_override);
	tcase_add_test(sc, replacement_care_charged_to_the_person);
	tcase_add_test(sc, lapsed_hold_returns_supply_and_budget);
	tcase_add_test(sc, idempotent_retry_same_booking);
	tcase_add_test(sc, carer_cannot_reach_another_family);
	tcase_add_test(sc, coordinator_books_on_behalf);
	tcase_add_test(sc, book_in_one_call);
	tcase_add_loop_test(sc, cancel_returns_the_budget, 0, (int)(sizeof(cancels) / sizeof(cancels[0])));
	suite_add_tcase(s, sc);
	return s;
}

/* ---- set-up shared by every test (made before the tests fork) ---- */

static void die(const char *what, json_object *r)
{
	fprintf(stderr, "check_booking: set-up failed: %s: %s\n", what, js(r));
	exit(99);
}

PRINTF(3, 4)
static json_object *setup_call(struct h_client *c, const char *method, const char *fmt, ...)
{
	char params[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(params, sizeof(params), fmt, ap);
	va_end(ap);
	json_object *r = h_call(c, method, params);
	if (!r || !h_result(r))
		die(method, r);
	return r;
}

static long long setup_id(json_object *r, const char *path)
{
	long long v = (long long)json_object_get_int64(h_get(r, path));
	json_object_put(r);
	return v;
}

static void setup_data(void)
{
	char *v = h_sql_value(db, "SELECT to_char(rs_today(), 'YYYY MM DD')");
	if (!v || sscanf(v, "%d %d %d", &today_y, &today_m, &today_d) != 3)
		die("today", NULL);
	free(v);
	next_year = today_y + 1;
	h_add_user(db, "coord", "coordinator", PW, AUTH);
	h_add_user(db, "coord_other", "coordinator", PW, AUTH_OTHER);
	v = h_sql_value(db, "SELECT id FROM app_user WHERE username = 'coord'");
	coord_uid = atoll(v);
	free(v);
	struct h_client *c = h_connect(&dmain);
	if (!c || !h_login(c, "coord", PW))
		die("coordinator login", NULL);
	home_id = setup_id(setup_call(c, "provider.create",
		"{\"type\":\"residential\",\"name\":\"Race Home\",\"postcode_district\":\"L17\",\"lat\":53.38,\"lon\":-2.93}"),
		"result.provider_id");
	sitters_id = setup_id(setup_call(c, "provider.create",
		"{\"type\":\"sitting\",\"name\":\"Race Sitters\",\"postcode_district\":\"L8\",\"lat\":53.39,\"lon\":-2.96}"),
		"result.provider_id");
	hotel_id = setup_id(setup_call(c, "provider.create",
		"{\"type\":\"hotel_leisure\",\"name\":\"Race Hotel\",\"postcode_district\":\"L1\",\"lat\":53.40,\"lon\":-2.98}"),
		"result.provider_id");
	/* provider users, linked to their provider as 002 expects */
	char sql[256];
	h_add_user(db, "prov_sitters", "provider", PW, AUTH);
	h_add_user(db, "prov_hotel", "provider", PW, AUTH);
	snprintf(sql, sizeof(sql), "UPDATE app_user SET provider_id = %lld WHERE username = 'prov_sitters';"
		 "UPDATE app_user SET provider_id = %lld WHERE username = 'prov_hotel'", sitters_id, hotel_id);
	h_sql(db, sql);
	for (int i = 0; i < RACERS; i++) {
		struct family *f = &racefam[i];
		snprintf(f->user, sizeof(f->user), "racer%02d", i);
		h_add_user(db, f->user, "carer", PW, AUTH);
		v = h_sql_value(db, "SELECT max(id) FROM app_user");
		json_object *r = setup_call(c, "family.create",
			"{\"carer\":{\"name\":\"Racer %d\",\"referral_route\":\"carers_centre\"},\"user_id\":%s,"
			"\"persons\":[{\"name\":\"Racer %d's mother\",\"needs\":[\"dementia\"],\"languages\":[\"en\"],"
			"\"consent\":{\"status\":\"given\"}}]}", i, v, i);
		free(v);
		f->carer_id = (long long)json_object_get_int64(h_get(r, "result.carer.carer_id"));
		f->person_id = (long long)json_object_get_int64(h_get(r, "result.persons.0.person_id"));
		json_object_put(r);
		json_object_put(setup_call(c, "entitlement.create",
			"{\"person_id\":%lld,\"name\":\"Personal budget\",\"source\":\"person_personal_budget\",\"unit\":\"pence\","
			"\"rule\":\"one_off\",\"amount\":10000000,\"valid_from\":\"%04d-%02d-%02d\"}", f->person_id, today_y,
			today_m, today_d));
		json_object_put(setup_call(c, "entitlement.create",
			"{\"carer_id\":%lld,\"name\":\"Direct payment\",\"source\":\"carer_direct_payment\",\"unit\":\"pence\","
			"\"rule\":\"one_off\",\"amount\":100000,\"valid_from\":\"%04d-%02d-%02d\"}", f->carer_id, today_y,
			today_m, today_d));
	}
	h_close(c);
}

int main(void)
{
	h_require_postgres();
	db = h_db_create("booking");
	if (h_daemon_start(&dmain, db, main_args) != 0 || h_daemon_start(&dshort, db, short_args) != 0) {
		fprintf(stderr, "respited did not start\n");
		return 99;
	}
	setup_data();
	SRunner *sr = srunner_create(booking_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	int st1 = h_daemon_stop(&dshort, SIGTERM), st2 = h_daemon_stop(&dmain, SIGTERM);
	if (st1 != 0 || st2 != 0) {
		fprintf(stderr, "check_booking: respited exited with %d and %d after the tests\n", st1, st2);
		failed++;
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
