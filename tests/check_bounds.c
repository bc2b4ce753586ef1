/*
 * The gate's bounds, end to end: for every method of the method table and
 * every bound of its params schema (string length, integer and number
 * value, array length, an array element's own bounds; top-level fields and
 * fields of nested objects and of array elements that have a sub-schema),
 * a real respited against a private PostgreSQL is called over the real
 * protocol, as a user whose role the method allows, with:
 *   - the value AT the bound: it must not be refused with invalid params
 *     naming the field (a business refusal is fine: not_found,
 *     no_capacity, conflict...), nor fail with an internal error;
 *   - the value just PAST the bound: it must be refused with -32602, by
 *     the gate ("too short", "too long", "out of range"), naming the field
 *     (data.field is the field's path, "persons[0].consent.notes").
 * The gate is the one place bounds live; a case that fails the first way
 * is a bound SQL applies more strictly than the gate does.
 *
 * Params are built from the schema: every other field gets a valid value
 * (required fields always; strings within their bounds, integers at their
 * minimum, dates ahead, enums' first value, arrays of their minimum length
 * with valid elements, objects with their required members). A valid value
 * for a schema is not always valid for the business (a worker's fields on
 * a bed, a person's latitude without a longitude, an id of no record), and
 * a call refused early for such a reason never reaches the checks made
 * after it: so each method starts from a small base of params that makes a
 * real, acceptable call with the fixtures made in main (contexts below),
 * and the bound under test is set on top of it.
 */
#include "harness.h"
#include "method.h"
#include "schema.h"

#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PW "bounds-pass"
#define AUTH "E99000051"

static const char *db;
static struct h_daemon dmain;
static int today_y, today_m, today_d;

/* Fixtures, made in main through the API. */
static long long auth_id, p_home, p_sit, p_scheme, p_hotel;
static long long s_bed, s_worker, s_house, s_offer, session_id;
static long long carer_id, person_id, entitlement_id, booking_id, carer_uid;
/* What the methods that change records change, so that the fixtures
 * other methods start from stay as they were: supply and a family. */
static long long u_bed, u_worker, u_house, u_offer, u_carer, u_person, u_booking;

/* One user per role, authority-scoped ones in AUTH. */
static const struct {
	unsigned bit;
	const char *user;
} users[] = {
	{ R_COORD, "b_coord" }, { R_PROVIDER, "b_provider" }, { R_CARER, "b_carer" },
	{ R_HANDLER, "b_handler" }, { R_ADMIN, "b_admin" }, { R_ANON, NULL },
};

/* ---- failing during setup ---- */

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "check_bounds setup: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(99);
}

static const char *js(json_object *o)
{
	return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
		 : "(no answer)";
}

/* ---- dates ---- */

/* A London date `off` days from today, YYYY-MM-DD, into buf. */
static void day(int off, char *buf, size_t size)
{
	struct tm tm = { .tm_year = today_y - 1900, .tm_mon = today_m - 1,
			 .tm_mday = today_d + off, .tm_hour = 12 };
	time_t t = timegm(&tm);
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%d", &tm);
}

/* ---- contexts: where each method's params start from ---- */

/*
 * `paths`: the targets a base is for, space-separated; a target matches an
 * entry when its path is the entry or starts with it and then "." or "[".
 * NULL: every other target of the method. Placeholders, replaced per call:
 * {u} a name no call has used, {d:N} the date N days from today, and the
 * fixtures' ids ({p_home}, {s_bed}, {carer}...).
 */
struct context {
	const char *method;
	const char *paths;
	const char *base;
};

#define WORKER_FIELDS "gender travel_radius_km min_visit_minutes max_visit_minutes travel_buffer_minutes"
#define HOUSEHOLD_FIELDS "bedrooms day_places day_price_pence day_price_unit compatibility approved_from " \
	"approval_expires sla"
#define OFFER_FIELDS "offer_type party_size duration_minutes conditions dietary_notes expires"

static const struct context contexts[] = {
	{ "provider.create", NULL,
	  "{\"type\":\"residential\",\"name\":\"{u}\",\"postcode_district\":\"L8\",\"lat\":53.4,\"lon\":-2.9}" },
	{ "provider.update", NULL, "{\"provider_id\":{p_home}}" },
	{ "provider.get", NULL, "{\"provider_id\":{p_home}}" },
	{ "provider.bookings", NULL, "{\"provider_id\":{p_home}}" },
	/* visit lengths at their widest, so that either one can reach its own bounds */
	{ "supply.create", WORKER_FIELDS,
	  "{\"provider_id\":{p_sit},\"kind\":\"worker\",\"name\":\"{u}\",\"price_pence\":100,\"price_unit\":\"hour\","
	  "\"min_visit_minutes\":15,\"max_visit_minutes\":1440}" },
	/* a bedroom and a day place, so that either may be 0 */
	{ "supply.create", HOUSEHOLD_FIELDS,
	  "{\"provider_id\":{p_scheme},\"kind\":\"household\",\"name\":\"{u}\",\"price_pence\":100,\"price_unit\":\"night\","
	  "\"bedrooms\":1,\"day_places\":1,\"day_price_pence\":100,\"day_price_unit\":\"hour\",\"approval_expires\":\"{d:365}\"}" },
	{ "supply.create", OFFER_FIELDS,
	  "{\"provider_id\":{p_hotel},\"kind\":\"offer\",\"name\":\"{u}\",\"price_pence\":100,\"price_unit\":\"session\","
	  "\"offer_type\":\"spa\",\"conditions\":{\"per_carer_per\":\"year\",\"max\":1}}" },
	{ "supply.create", NULL,
	  "{\"provider_id\":{p_home},\"kind\":\"bed\",\"name\":\"{u}\",\"price_pence\":100,\"price_unit\":\"night\"}" },
	{ "supply.update", WORKER_FIELDS, "{\"supply_id\":{u_worker},\"min_visit_minutes\":15,\"max_visit_minutes\":1440}" },
	{ "supply.update", HOUSEHOLD_FIELDS,
	  "{\"supply_id\":{u_house},\"bedrooms\":1,\"day_places\":1,\"day_price_pence\":100,\"day_price_unit\":\"hour\"}" },
	{ "supply.update", OFFER_FIELDS, "{\"supply_id\":{u_offer},\"conditions\":{\"per_carer_per\":\"year\",\"max\":1}}" },
	{ "supply.update", NULL, "{\"supply_id\":{u_bed}}" },
	{ "supply.get", NULL, "{\"supply_id\":{s_bed}}" },
	{ "supply.list", NULL, "{\"provider_id\":{p_home}}" },
	{ "availability.publish", "ranges[0].quantity",
	  "{\"supply_id\":{s_offer},\"ranges\":[{\"day\":\"{d:25}\",\"quantity\":1}]}" },
	{ "availability.publish", NULL, "{\"supply_id\":{s_bed},\"ranges\":[{\"from\":\"{d:25}\",\"to\":\"{d:26}\"}]}" },
	{ "availability.withdraw", NULL, "{\"supply_id\":{s_bed},\"ranges\":[{\"from\":\"{d:300}\",\"to\":\"{d:301}\"}]}" },
	{ "availability.list", NULL, "{\"supply_id\":{s_bed}}" },
	{ "availability.search", NULL, "{\"from\":\"{d:25}\",\"to\":\"{d:26}\"}" },
	/* an existing carer, or a new one: not both */
	{ "family.create", "carer_id", "{}" },
	{ "family.create", NULL,
	  "{\"carer\":{\"name\":\"{u}\",\"referral_route\":\"self_referral\",\"lat\":53.4,\"lon\":-2.9},"
	  "\"persons\":[{\"name\":\"{u}\",\"lat\":53.4,\"lon\":-2.9}]}" },
	{ "family.link", NULL, "{\"carer_id\":{u_carer},\"person_id\":{u_person}}" },
	{ "family.get", NULL, "{\"carer_id\":{carer}}" },
	/* latitude and longitude come together */
	{ "person.update", NULL, "{\"person_id\":{u_person},\"lat\":53.4,\"lon\":-2.9}" },
	/* whose: a carer or a person, not both */
	{ "entitlement.create", "carer_id",
	  "{\"name\":\"{u}\",\"source\":\"carer_direct_payment\",\"unit\":\"pence\",\"rule\":\"one_off\","
	  "\"amount\":1000,\"valid_from\":\"{d:0}\"}" },
	{ "entitlement.create", NULL,
	  "{\"person_id\":{person},\"name\":\"{u}\",\"source\":\"person_personal_budget\",\"unit\":\"pence\","
	  "\"rule\":\"one_off\",\"amount\":1000,\"valid_from\":\"{d:0}\"}" },
	{ "budget.summary", NULL, "{\"carer_id\":{carer}}" },
	/* the person has one carer: staff may leave carer_id out */
	{ "booking.quote", NULL,
	  "{\"person_id\":{person},\"date\":\"{d:30}\",\"start_time\":\"10:00\",\"end_time\":\"12:00\"}" },
	{ "booking.hold", NULL,
	  "{\"person_id\":{person},\"supply_id\":{s_worker},\"date\":\"{d:30}\",\"start_time\":\"10:00\","
	  "\"end_time\":\"12:00\"}" },
	/* held and confirmed at once: a slot of its own (after the fixtures' bookings) */
	{ "booking.book", NULL,
	  "{\"person_id\":{person},\"supply_id\":{s_worker},\"date\":\"{d:30}\",\"start_time\":\"19:30\","
	  "\"end_time\":\"21:30\"}" },
	{ "booking.confirm", NULL, "{\"booking_id\":{booking}}" },
	{ "booking.cancel", NULL, "{\"booking_id\":{u_booking},\"by\":\"carer\",\"reason\":\"{u}\"}" },
	{ "booking.complete", NULL, "{\"booking_id\":{booking}}" },
	{ "booking.no_show", NULL, "{\"booking_id\":{booking}}" },
	{ "booking.feedback", NULL, "{\"booking_id\":{booking},\"liked\":true}" },
	{ "booking.get", NULL, "{\"booking_id\":{booking}}" },
	{ "bank_holiday.set", NULL, "{\"day\":\"{d:700}\",\"name\":\"{u}\"}" },
	{ "scheme_rule.set", NULL, "{\"per\":\"year\",\"max\":1,\"name\":\"{u}\"}" },
};

/*
 * Bounds the business may legitimately refuse AT the bound, naming the
 * field. Each entry says why; keep it short.
 */
static const struct {
	const char *method, *path, *edge;
	const char *why;
} allowed[] = {
	/* user 1 is no carer user of the authority, and SQL says so naming user_id */
	{ "family.create", "user_id", "at min", "the record with id 1 is not a carer user" },
};

static int path_matches(const char *path, const char *entry)
{
	size_t n = strlen(entry);
	return strncmp(path, entry, n) == 0 && (path[n] == '\0' || path[n] == '.' || path[n] == '[');
}

static const char *base_for(const char *method, const char *path)
{
	for (size_t i = 0; i < sizeof(contexts) / sizeof(contexts[0]); i++) {
		const struct context *c = &contexts[i];
		if (strcmp(c->method, method) != 0)
			continue;
		if (!c->paths)
			return c->base;
		char list[512];
		snprintf(list, sizeof(list), "%s", c->paths);
		for (char *save = NULL, *e = strtok_r(list, " ", &save); e; e = strtok_r(NULL, " ", &save))
			if (path_matches(path, e))
				return c->base;
	}
	return "{}";
}

static int is_allowed(const char *method, const char *path, const char *edge)
{
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (allowed[i].method && strcmp(allowed[i].method, method) == 0 &&
		    strcmp(allowed[i].path, path) == 0 && strcmp(allowed[i].edge, edge) == 0)
			return 1;
	return 0;
}

/* ---- values ---- */

static int uniq; /* per process: each method's test runs in a process of its own */
static int method_no;

/* A string of exactly n bytes for a field: its format when it has one
 * (a postcode district, a language code), else a name no call has used. */
static json_object *string_of(const char *name, int64_t n)
{
	char *s = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(s);
	if (strcmp(name, "postcode_district") == 0 && n >= 2) {
		memset(s, ' ', (size_t)n); /* "L8" and spaces: SQL takes the spaces out */
		memcpy(s, "L8", 2);
	} else if (strcmp(name, "language") == 0 && n == 2) {
		memcpy(s, "en", 2);
	} else {
		char tok[48];
		int k = snprintf(tok, sizeof(tok), "m%dn%d", method_no, ++uniq);
		if (k <= n) {
			memset(s, 'x', (size_t)n);
			memcpy(s, tok, (size_t)k);
		} else {
			memcpy(s, tok + (k - n), (size_t)n); /* the end of it, which changes most */
		}
	}
	s[n] = '\0';
	json_object *o = json_object_new_string_len(s, (int)n);
	free(s);
	return o;
}

/* A valid element of a string array, by the array's name. */
static json_object *string_item(const char *array)
{
	if (strcmp(array, "needs") == 0 || strcmp(array, "wishes") == 0 || strcmp(array, "capabilities") == 0)
		return json_object_new_string("dementia");
	if (strcmp(array, "languages") == 0)
		return json_object_new_string("en");
	return json_object_new_string("x");
}

/* The id of a fixture for an id field (or an id array's elements). */
static long long fixture_id(const char *name)
{
	static const struct {
		const char *name;
		long long *id;
	} ids[] = {
		{ "authority_id", &auth_id }, { "provider_id", &p_home }, { "supply_id", &s_bed },
		{ "carer_id", &carer_id }, { "person_id", &person_id }, { "entitlement_id", &entitlement_id },
		{ "booking_id", &booking_id }, { "session_id", &session_id }, { "user_id", &carer_uid },
		{ "pay_from", &entitlement_id }, { "preferred_supply_ids", &s_worker },
		{ "avoid_supply_ids", &s_worker },
	};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		if (strcmp(ids[i].name, name) == 0)
			return *ids[i].id;
	return 1;
}

static int has_bounds(const struct field_spec *f)
{
	return f->min != 0 || f->max != 0;
}

static int has_num_bounds(const struct field_spec *f)
{
	return f->num_min != 0 || f->num_max != 0;
}

static void fill_required(json_object *obj, const struct param_schema *s);
static json_object *valid_value(const struct field_spec *f, const char *name);

/* A valid element of the array field f. */
static json_object *valid_item(const struct field_spec *f)
{
	if (f->each)
		return valid_value(f->each, f->name);
	switch (f->item) {
	case FT_STRING:
		return string_item(f->name);
	case FT_ENUM:
		return json_object_new_string(f->values[0]);
	case FT_OBJECT: {
		json_object *o = json_object_new_object();
		fill_required(o, f->sub);
		return o;
	}
	case FT_INT:
		return json_object_new_int64(fixture_id(f->name));
	default: {
		const struct field_spec item = { .name = f->name, .type = f->item };
		return valid_value(&item, f->name);
	}
	}
}

/* An array of n elements: copies of `like` when given, else valid ones. */
static json_object *array_of(const struct field_spec *f, int64_t n, json_object *like)
{
	json_object *a = json_object_new_array();
	for (int64_t i = 0; i < n; i++) {
		json_object *item = NULL;
		if (like)
			ck_assert_int_eq(json_object_deep_copy(like, &item, NULL), 0);
		else
			item = valid_item(f);
		json_object_array_add(a, item);
	}
	return a;
}

/* A value of field f that its schema accepts (name: what to call it by). */
static json_object *valid_value(const struct field_spec *f, const char *name)
{
	char buf[40];
	switch (f->type) {
	case FT_STRING: {
		int64_t n = 12;
		if (has_bounds(f))
			n = n < f->min ? f->min : n > f->max ? f->max : n;
		return string_of(name, n);
	}
	case FT_INT:
		if (f->min == 1 && f->max == INT64_MAX)
			return json_object_new_int64(fixture_id(name));
		return json_object_new_int64(has_bounds(f) ? f->min : 0);
	case FT_NUMBER:
		snprintf(buf, sizeof(buf), "%.15g", f->num_min);
		return json_object_new_double_s(f->num_min, buf);
	case FT_BOOL:
		return json_object_new_boolean(0);
	case FT_DATE:
		day(60, buf, sizeof(buf));
		return json_object_new_string(buf);
	case FT_TIME:
		return json_object_new_string("10:00");
	case FT_TIMESTAMP:
		day(60, buf, sizeof(buf));
		strcat(buf, "T10:00:00Z");
		return json_object_new_string(buf);
	case FT_ENUM:
		return json_object_new_string(f->values[0]);
	case FT_OBJECT: {
		json_object *o = json_object_new_object();
		fill_required(o, f->sub);
		return o;
	}
	case FT_ARRAY:
		return array_of(f, has_bounds(f) ? f->min : 0, NULL);
	case FT_ANY:
		break;
	}
	return NULL;
}

/* Adds a valid value for every required member that obj lacks. */
static void fill_required(json_object *obj, const struct param_schema *s)
{
	for (const struct field_spec *f = s ? s->fields : NULL; f && f->name; f++)
		if ((f->flags & FF_REQUIRED) && !json_object_object_get_ex(obj, f->name, NULL))
			json_object_object_add(obj, f->name, valid_value(f, f->name));
}

/* ---- targets: the bounds of a method's schema ---- */

enum edge { AT_MIN, AT_MAX, PAST_MIN, PAST_MAX };
static const char *const edge_names[] = { "at min", "at max", "past min", "past max" };

struct step {
	const struct field_spec *f;
	int into_item; /* then into element [0] of the array f */
};

struct target {
	struct step steps[8];
	int n;
	const struct field_spec *leaf; /* the bounded spec: f, or f->each for an element */
	char path[256];
};

#define MAX_TARGETS 512
static struct target targets[MAX_TARGETS];
static int ntargets;

static int bounded(const struct field_spec *f)
{
	switch (f->type) {
	case FT_STRING:
	case FT_INT:
	case FT_ARRAY:
		return has_bounds(f);
	case FT_NUMBER:
		return has_num_bounds(f);
	default:
		return 0;
	}
}

static void add_target(const struct step *steps, int n, const struct field_spec *leaf)
{
	ck_assert_int_lt(ntargets, MAX_TARGETS);
	struct target *t = &targets[ntargets++];
	memcpy(t->steps, steps, sizeof(*steps) * (size_t)n);
	t->n = n;
	t->leaf = leaf;
	size_t len = 0;
	t->path[0] = '\0';
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(t->path + len, sizeof(t->path) - len, "%s%s%s", i ? "." : "",
					steps[i].f->name, steps[i].into_item ? "[0]" : "");
}

static void walk(const struct param_schema *s, struct step *steps, int n)
{
	ck_assert_int_lt(n, 8);
	for (const struct field_spec *f = s ? s->fields : NULL; f && f->name; f++) {
		steps[n] = (struct step){ f, 0 };
		if (bounded(f))
			add_target(steps, n + 1, f);
		if (f->type == FT_OBJECT && f->sub)
			walk(f->sub, steps, n + 1);
		if (f->type == FT_ARRAY) {
			steps[n].into_item = 1;
			if (f->each && bounded(f->each))
				add_target(steps, n + 1, f->each);
			else if (!f->each && f->item == FT_OBJECT && f->sub)
				walk(f->sub, steps, n + 1);
			steps[n].into_item = 0;
		}
	}
}

/* The value at or past one edge of the leaf's bounds; NULL when there is
 * no such value (a length below 0). `like`: an element to copy for arrays. */
static json_object *edge_value(const struct field_spec *leaf, const char *name, enum edge e,
			       json_object *like, char *shown, size_t size)
{
	if (leaf->type == FT_NUMBER) {
		double d = e == AT_MIN ? leaf->num_min : e == AT_MAX ? leaf->num_max
			 : e == PAST_MIN ? leaf->num_min - 0.01 : leaf->num_max + 0.01;
		snprintf(shown, size, "%.15g", d);
		return json_object_new_double_s(d, shown);
	}
	int64_t lo = leaf->min, hi = leaf->max;
	if (leaf->type == FT_INT) {
		if (e == PAST_MIN && lo == INT64_MIN)
			return NULL;
		if (e == PAST_MAX && hi == INT64_MAX) {
			snprintf(shown, size, "%llu", (unsigned long long)INT64_MAX + 1);
			return json_object_new_uint64((uint64_t)INT64_MAX + 1);
		}
		int64_t v = e == AT_MIN ? lo : e == AT_MAX ? hi : e == PAST_MIN ? lo - 1 : hi + 1;
		snprintf(shown, size, "%lld", (long long)v);
		return json_object_new_int64(v);
	}
	int64_t n = e == AT_MIN ? lo : e == AT_MAX ? hi : e == PAST_MIN ? lo - 1 : hi + 1;
	if (n < 0)
		return NULL;
	snprintf(shown, size, "%s of %lld", leaf->type == FT_ARRAY ? "array" : "string", (long long)n);
	return leaf->type == FT_ARRAY ? array_of(leaf, n, like) : string_of(name, n);
}

/* Replaces {u}, {d:N} and the fixtures' names in a base. */
static char *substitute(const char *base)
{
	size_t cap = strlen(base) * 2 + 256, len = 0;
	char *out = malloc(cap);
	ck_assert_ptr_nonnull(out);
	const struct {
		const char *name;
		long long *id;
	} ids[] = {
		{ "{p_home}", &p_home }, { "{p_sit}", &p_sit }, { "{p_scheme}", &p_scheme },
		{ "{p_hotel}", &p_hotel }, { "{s_bed}", &s_bed }, { "{s_worker}", &s_worker },
		{ "{s_house}", &s_house }, { "{s_offer}", &s_offer }, { "{carer}", &carer_id },
		{ "{person}", &person_id }, { "{booking}", &booking_id }, { "{u_bed}", &u_bed },
		{ "{u_worker}", &u_worker }, { "{u_house}", &u_house }, { "{u_offer}", &u_offer },
		{ "{u_carer}", &u_carer }, { "{u_person}", &u_person }, { "{u_booking}", &u_booking },
	};
	for (const char *p = base; *p;) {
		char piece[64] = "";
		size_t used = 1;
		int off;
		if (strncmp(p, "{u}", 3) == 0) {
			snprintf(piece, sizeof(piece), "m%du%d", method_no, ++uniq);
			used = 3;
		} else if (sscanf(p, "{d:%d}", &off) == 1) {
			day(off, piece, sizeof(piece));
			used = (size_t)(strchr(p, '}') - p) + 1;
		} else {
			for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
				if (strncmp(p, ids[i].name, strlen(ids[i].name)) == 0) {
					snprintf(piece, sizeof(piece), "%lld", *ids[i].id);
					used = strlen(ids[i].name);
				}
			if (!piece[0])
				snprintf(piece, sizeof(piece), "%c", *p);
		}
		size_t k = strlen(piece);
		if (len + k + 1 > cap) {
			cap = (len + k + 1) * 2;
			out = realloc(out, cap);
			ck_assert_ptr_nonnull(out);
		}
		memcpy(out + len, piece, k);
		len += k;
		p += used;
	}
	out[len] = '\0';
	return out;
}

/* The params of one case: the method's base, the required fields, and the
 * target at the edge, creating the objects and elements on its path. NULL
 * when the edge has no value. */
static json_object *build(const struct method *m, const struct target *t, enum edge e, char *shown,
			  size_t size)
{
	char *text = substitute(base_for(m->name, t->path));
	json_object *p = json_tokener_parse(text);
	ck_assert_msg(p != NULL, "%s: base is not JSON: %s", m->name, text);
	free(text);
	fill_required(p, m->schema);
	json_object *obj = p;
	for (int i = 0; i < t->n; i++) {
		const struct step *st = &t->steps[i];
		const struct field_spec *f = st->f;
		json_object *cur = NULL;
		json_object_object_get_ex(obj, f->name, &cur);
		int last = i == t->n - 1;
		if (last && !st->into_item) {
			json_object *like = f->type == FT_ARRAY && cur && json_object_array_length(cur) > 0
				? json_object_array_get_idx(cur, 0) : NULL;
			json_object *v = edge_value(t->leaf, f->name, e, like, shown, size);
			if (!v) {
				json_object_put(p);
				return NULL;
			}
			json_object_object_add(obj, f->name, v);
			break;
		}
		if (f->type == FT_OBJECT) {
			if (!cur || !json_object_is_type(cur, json_type_object)) {
				cur = json_object_new_object();
				json_object_object_add(obj, f->name, cur);
			}
			fill_required(cur, f->sub);
			obj = cur;
			continue;
		}
		/* an array: into its element 0 */
		if (!cur || !json_object_is_type(cur, json_type_array)) {
			cur = json_object_new_array();
			json_object_object_add(obj, f->name, cur);
		}
		if (json_object_array_length(cur) == 0)
			json_object_array_add(cur, valid_item(f));
		if (last) {
			json_object *v = edge_value(t->leaf, f->name, e, NULL, shown, size);
			if (!v) {
				json_object_put(p);
				return NULL;
			}
			json_object_array_put_idx(cur, 0, v);
			break;
		}
		obj = json_object_array_get_idx(cur, 0);
		fill_required(obj, f->sub);
	}
	return p;
}

/* ---- the calls ---- */

static const char *user_for(const struct method *m)
{
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		if (m->roles & users[i].bit)
			return users[i].user;
	return NULL;
}

static struct h_client *connect_as(const char *user)
{
	struct h_client *c = h_connect(&dmain);
	ck_assert_msg(c != NULL, "cannot connect");
	if (user)
		ck_assert_msg(h_login(c, user, PW) != NULL, "%s cannot log in", user);
	return c;
}

static int is_gate_reason(const char *why)
{
	return why && (strcmp(why, "too short") == 0 || strcmp(why, "too long") == 0 ||
		       strcmp(why, "out of range") == 0);
}

/* What a case found wrong, appended to the method's report. */
struct report {
	int cases, failed;
	size_t len;
	char text[65536];
};

__attribute__((format(printf, 2, 3)))
static void note(struct report *r, const char *fmt, ...)
{
	va_list ap;
	r->failed++;
	if (r->len + 2 >= sizeof(r->text))
		return;
	va_start(ap, fmt);
	int k = vsnprintf(r->text + r->len, sizeof(r->text) - r->len - 1, fmt, ap);
	va_end(ap);
	if (k > 0)
		r->len = r->len + (size_t)k < sizeof(r->text) - 2 ? r->len + (size_t)k : sizeof(r->text) - 2;
	r->text[r->len++] = '\n';
	r->text[r->len] = '\0';
}

/* An answer, cut short for the report. */
static const char *brief(json_object *resp, char *buf, size_t size)
{
	json_object *err = h_get(resp, "error");
	snprintf(buf, size, "%s", err ? js(err) : resp ? "a result" : "no answer");
	return buf;
}

static void run_case(struct h_client **c, const char *user, const struct method *m,
		     const struct target *t, enum edge e, struct report *r)
{
	char shown[64] = "";
	json_object *p = build(m, t, e, shown, sizeof(shown));
	if (!p)
		return;
	r->cases++;
	json_object *resp = h_call(*c, m->name, js(p));
	char b[512];
	const char *field = json_object_get_string(h_get(resp, "error.data.field"));
	const char *why = json_object_get_string(h_get(resp, "error.data.reason"));
	int code = h_code(resp);
	int names_it = code == -32602 && field && strcmp(field, t->path) == 0;
	if (!resp) {
		note(r, "%s %s %s (%s): no answer", m->name, t->path, edge_names[e], shown);
	} else if (e == AT_MIN || e == AT_MAX) {
		if (names_it && !is_allowed(m->name, t->path, edge_names[e]))
			note(r, "%s %s %s (%s): refused: %s  [SQL stricter than the gate]", m->name, t->path,
			     edge_names[e], shown, brief(resp, b, sizeof(b)));
		else if (code == -32603)
			note(r, "%s %s %s (%s): internal error", m->name, t->path, edge_names[e], shown);
	} else if (!names_it) {
		note(r, "%s %s %s (%s): not refused naming the field: %s", m->name, t->path, edge_names[e],
		     shown, brief(resp, b, sizeof(b)));
	} else if (!is_gate_reason(why)) {
		note(r, "%s %s %s (%s): refused by SQL, not by the gate: %s", m->name, t->path, edge_names[e],
		     shown, brief(resp, b, sizeof(b)));
	}
	json_object_put(resp);
	json_object_put(p);
	/* session.login and friends change who the connection is */
	if (m->flags & MF_BARRIER) {
		h_close(*c);
		*c = connect_as(user);
	}
}

START_TEST(bounds_of_each_method)
{
	const struct method *m = method_at(_i);
	method_no = _i;
	struct step steps[8];
	ntargets = 0;
	walk(m->schema, steps, 0);
	if (ntargets == 0)
		return;
	const char *user = user_for(m);
	struct h_client *c = connect_as(user);
	static struct report r;
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < ntargets; i++)
		for (enum edge e = AT_MIN; e <= PAST_MAX; e++)
			run_case(&c, user, m, &targets[i], e, &r);
	h_close(c);
	/* every failure on stderr; Check's message holds only so much */
	if (r.failed)
		fprintf(stderr, "%s", r.text);
	ck_assert_msg(r.failed == 0, "%s as %s: %d of %d cases failed (all of them above):\n%.2000s",
		      m->name, user ? user : "anonymous", r.failed, r.cases, r.text);
}
END_TEST

/* The enumeration itself: a schema change must not silently leave bounds
 * untested (every kind of bound is found, nested ones too). */
START_TEST(every_kind_of_bound_is_enumerated)
{
	int total = 0, nested = 0, items = 0, numbers = 0, arrays = 0;
	for (int i = 0; i < method_count(); i++) {
		struct step steps[8];
		ntargets = 0;
		walk(method_at(i)->schema, steps, 0);
		total += ntargets;
		for (int k = 0; k < ntargets; k++) {
			nested += targets[k].n > 1;
			items += targets[k].steps[targets[k].n - 1].into_item;
			numbers += targets[k].leaf->type == FT_NUMBER;
			arrays += targets[k].leaf->type == FT_ARRAY;
		}
	}
	ck_assert_int_gt(total, 200);
	ck_assert_int_gt(nested, 20);
	ck_assert_int_gt(items, 3);
	ck_assert_int_gt(numbers, 10);
	ck_assert_int_gt(arrays, 20);
}
END_TEST

/* ---- fixtures ---- */

static json_object *setup_call(struct h_client *c, const char *method, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static json_object *setup_call(struct h_client *c, const char *method, const char *fmt, ...)
{
	char params[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(params, sizeof(params), fmt, ap);
	va_end(ap);
	json_object *r = h_call(c, method, params);
	if (!h_result(r))
		die("%s %s: %s", method, params, js(r));
	return r;
}

static long long setup_id(json_object *r, const char *path)
{
	json_object *v = h_get(r, path);
	if (!v)
		die("no %s in %s", path, js(r));
	long long id = (long long)json_object_get_int64(v);
	json_object_put(r);
	return id;
}

static long long sql_id(const char *sql)
{
	char *v = h_sql_value(db, sql);
	if (!v)
		die("no value from %s", sql);
	long long id = atoll(v);
	free(v);
	return id;
}

static void setup_data(void)
{
	char *v = h_sql_value(db, "SELECT to_char((now() AT TIME ZONE 'Europe/London')::date, 'YYYY MM DD')");
	if (!v || sscanf(v, "%d %d %d", &today_y, &today_m, &today_d) != 3)
		die("today");
	free(v);
	h_add_user(db, "b_admin", "admin", PW, NULL);
	h_add_user(db, "b_coord", "coordinator", PW, AUTH);
	h_add_user(db, "b_provider", "provider", PW, AUTH);
	h_add_user(db, "b_carer", "carer", PW, AUTH);
	h_add_user(db, "b_handler", "call_handler", PW, AUTH);
	auth_id = sql_id("SELECT id FROM authority WHERE code = '" AUTH "'");
	carer_uid = sql_id("SELECT id FROM app_user WHERE username = 'b_carer'");

	struct h_client *c = h_connect(&dmain);
	if (!c || !h_login(c, "b_coord", PW))
		die("coordinator login");
#define PROVIDER(type, name) setup_id(setup_call(c, "provider.create", "{\"type\":\"%s\",\"name\":\"%s\"," \
	"\"postcode_district\":\"L8\",\"lat\":53.39,\"lon\":-2.96}", type, name), "result.provider_id")
	char d1[16], d2[16], dx[16];
	p_home = PROVIDER("residential", "Home");
	p_sit = PROVIDER("sitting", "Sitters");
	p_scheme = PROVIDER("shared_lives", "Scheme");
	p_hotel = PROVIDER("hotel_leisure", "Hotel");
#undef PROVIDER
	char sql[256];
	snprintf(sql, sizeof(sql), "UPDATE app_user SET provider_id = %lld WHERE username = 'b_provider'", p_sit);
	h_sql(db, sql);

	day(365, dx, sizeof(dx));
	/* Cases at an id's minimum name record 1 of a table, and may change
	 * it (cancel it, update it): so each table's first record is one no
	 * other case relies on. i: 0 that one, 1 kept, 2 changed by cases. */
	long long bed = 0, worker = 0, house = 0, offer = 0, spare_worker = 0;
	for (int i = 0; i < 3; i++) {
		const char *tag = i == 0 ? "first" : i == 1 ? "kept" : "changed";
		bed = setup_id(setup_call(c, "supply.create",
			"{\"provider_id\":%lld,\"kind\":\"bed\",\"name\":\"Bed %s\",\"price_pence\":10000,"
			"\"price_unit\":\"night\"}", p_home, tag), "result.supply_id");
		worker = setup_id(setup_call(c, "supply.create",
			"{\"provider_id\":%lld,\"kind\":\"worker\",\"name\":\"Worker %s\",\"capabilities\":[\"dementia\"],"
			"\"languages\":[\"en\"],\"price_pence\":2000,\"price_unit\":\"hour\"}", p_sit, tag), "result.supply_id");
		house = setup_id(setup_call(c, "supply.create",
			"{\"provider_id\":%lld,\"kind\":\"household\",\"name\":\"Household %s\",\"price_pence\":7000,"
			"\"price_unit\":\"night\",\"bedrooms\":1,\"day_places\":1,\"day_price_pence\":1000,"
			"\"day_price_unit\":\"hour\",\"approval_expires\":\"%s\"}", p_scheme, tag, dx), "result.supply_id");
		offer = setup_id(setup_call(c, "supply.create",
			"{\"provider_id\":%lld,\"kind\":\"offer\",\"name\":\"Spa %s\",\"offer_type\":\"spa\","
			"\"price_pence\":1000,\"price_unit\":\"session\"}", p_hotel, tag), "result.supply_id");
		if (i == 0)
			spare_worker = worker;
		*(i == 2 ? &u_bed : &s_bed) = bed;
		*(i == 2 ? &u_worker : &s_worker) = worker;
		*(i == 2 ? &u_house : &s_house) = house;
		*(i == 2 ? &u_offer : &s_offer) = offer;
	}
	day(25, d1, sizeof(d1));
	json_object_put(setup_call(c, "availability.publish",
		"{\"supply_id\":%lld,\"ranges\":[{\"day\":\"%s\",\"quantity\":5}]}", s_offer, d1));
	day(30, d2, sizeof(d2));
	for (int i = 0; i < 2; i++)
		json_object_put(setup_call(c, "availability.publish",
			"{\"supply_id\":%lld,\"ranges\":[{\"date\":\"%s\",\"start_time\":\"08:00\",\"end_time\":\"22:00\"}]}",
			i ? s_worker : spare_worker, d2));
	snprintf(sql, sizeof(sql), "SELECT min(id) FROM offer_session WHERE supply_id = %lld", s_offer);
	session_id = sql_id(sql);

	json_object *r = setup_call(c, "family.create",
		"{\"carer\":{\"name\":\"First carer\",\"referral_route\":\"self_referral\"},"
		"\"persons\":[{\"name\":\"First person\",\"consent\":{\"status\":\"given\"}}]}");
	long long first_person = (long long)json_object_get_int64(h_get(r, "result.persons.0.person_id"));
	json_object_put(r);
	r = setup_call(c, "family.create",
		"{\"carer\":{\"name\":\"Carer\",\"referral_route\":\"self_referral\"},\"user_id\":%lld,"
		"\"persons\":[{\"name\":\"Person\",\"needs\":[\"dementia\"],\"languages\":[\"en\"],"
		"\"consent\":{\"status\":\"given\"}}]}", carer_uid);
	carer_id = (long long)json_object_get_int64(h_get(r, "result.carer.carer_id"));
	person_id = (long long)json_object_get_int64(h_get(r, "result.persons.0.person_id"));
	json_object_put(r);
	r = setup_call(c, "family.create", "{\"carer\":{\"name\":\"Other carer\",\"referral_route\":\"self_referral\"},"
		       "\"persons\":[{\"name\":\"Other person\"}]}");
	u_carer = (long long)json_object_get_int64(h_get(r, "result.carer.carer_id"));
	u_person = (long long)json_object_get_int64(h_get(r, "result.persons.0.person_id"));
	json_object_put(r);
	day(0, d1, sizeof(d1));
#define BUDGET "{\"person_id\":%lld,\"name\":\"Personal budget\",\"source\":\"person_personal_budget\"," \
	"\"unit\":\"pence\",\"rule\":\"one_off\",\"amount\":10000000,\"valid_from\":\"%s\"}"
	json_object_put(setup_call(c, "entitlement.create", BUDGET, first_person, d1));
	entitlement_id = setup_id(setup_call(c, "entitlement.create", BUDGET, person_id, d1), "result.entitlement_id");
#undef BUDGET
	/* bookings, held then confirmed: the first, one to keep, one to cancel */
	for (int i = 0; i < 3; i++) {
		long long id = setup_id(setup_call(c, "booking.hold",
			"{\"person_id\":%lld,\"supply_id\":%lld,\"date\":\"%s\",\"start_time\":\"%s\",\"end_time\":\"%s\"}",
			i ? person_id : first_person, i ? s_worker : spare_worker, d2, i == 2 ? "17:00" : "14:00",
			i == 2 ? "19:00" : "16:00"), "result.booking_id");
		json_object_put(setup_call(c, "booking.confirm", "{\"booking_id\":%lld}", id));
		if (i)
			*(i == 2 ? &u_booking : &booking_id) = id;
	}
	h_close(c);
}

static Suite *bounds_suite(void)
{
	Suite *s = suite_create("bounds");
	TCase *tc = tcase_create("gate");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, every_kind_of_bound_is_enumerated);
	tcase_add_loop_test(tc, bounds_of_each_method, 0, method_count());
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	h_require_postgres();
	db = h_db_create("bounds");
	if (h_daemon_start(&dmain, db, NULL) != 0) {
		fprintf(stderr, "respited did not start\n");
		return 99;
	}
	setup_data();
	SRunner *sr = srunner_create(bounds_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	int st = h_daemon_stop(&dmain, SIGTERM);
	if (st != 0) {
		fprintf(stderr, "check_bounds: respited exited with %d after the tests\n", st);
		failed++;
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
