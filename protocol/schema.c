/*
 * Params validation against the declarative schemas of schema.h. The first
 * problem found is reported with the dotted path of the offending field, so
 * a client can point at it.
 */
#include "schema.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Schemas are static data; the guard only stops a schema that refers to
 * itself from recursing without end on deep input. */
#define MAX_DEPTH 32

struct vctx {
	struct schema_error *err;
	int depth;
};

static int fail(struct vctx *c, const char *why)
{
	c->err->why = why;
	return -1;
}

/* Path building: err->field is the working path; a child appends to it and
 * cuts it back on success, so on failure it names the culprit. Over-long
 * paths are truncated, which only shortens the report. */
static size_t path_push_name(struct vctx *c, const char *name)
{
	char *f = c->err->field;
	size_t len = strlen(f);

	snprintf(f + len, sizeof c->err->field - len, "%s%s", len ? "." : "", name);
	return len;
}

static size_t path_push_index(struct vctx *c, size_t i)
{
	char *f = c->err->field;
	size_t len = strlen(f);

	snprintf(f + len, sizeof c->err->field - len, "[%zu]", i);
	return len;
}

static void path_pop(struct vctx *c, size_t len)
{
	c->err->field[len] = '\0';
}

/* Integers. */

int schema_get_int64(json_object *o, int64_t *out)
{
	if (!json_object_is_type(o, json_type_int))
		return -1;
	int64_t v = json_object_get_int64(o);
	/* json-c keeps values above INT64_MAX as uint64 and saturates beyond
	 * that; INT64_MIN may equally be a clamped smaller number. */
	if (v == INT64_MIN || (v == INT64_MAX && json_object_get_uint64(o) > (uint64_t)INT64_MAX))
		return -1;
	*out = v;
	return 0;
}

/* Date and time syntax. */

/* Reads exactly n digits as a number within [lo, hi]; returns the end or NULL. */
static const char *read_num(const char *s, int n, int lo, int hi, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return NULL;
		v = v * 10 + (s[i] - '0');
	}
	if (v < lo || v > hi)
		return NULL;
	if (out)
		*out = v;
	return s + n;
}

static const char *expect_char(const char *s, char c)
{
	return s && *s == c ? s + 1 : NULL;
}

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* YYYY-MM-DD, a real calendar date in 1900..2200; returns the end or NULL. */
static const char *parse_date(const char *s)
{
	int y, m, d;

	s = read_num(s, 4, 1900, 2200, &y);
	s = expect_char(s, '-');
	s = s ? read_num(s, 2, 1, 12, &m) : NULL;
	s = expect_char(s, '-');
	s = s ? read_num(s, 2, 1, 31, &d) : NULL;
	return s && d <= days_in_month(y, m) ? s : NULL;
}

/* HH:MM, 24h; returns the end or NULL. */
static const char *parse_time(const char *s)
{
	s = read_num(s, 2, 0, 23, NULL);
	s = expect_char(s, ':');
	return s ? read_num(s, 2, 0, 59, NULL) : NULL;
}

/* [:SS[.fraction]] after HH:MM; 60 allows a leap second as RFC 3339 does. */
static const char *parse_seconds(const char *s)
{
	if (*s != ':')
		return s;
	s = read_num(s + 1, 2, 0, 60, NULL);
	if (!s || *s != '.')
		return s;
	int n = 0;
	for (s++; *s >= '0' && *s <= '9'; s++)
		n++;
	return n >= 1 && n <= 9 ? s : NULL;
}

/* Z or +HH:MM / -HH:MM; returns the end or NULL. */
static const char *parse_offset(const char *s)
{
	if (*s == 'Z' || *s == 'z')
		return s + 1;
	if (*s != '+' && *s != '-')
		return NULL;
	return parse_time(s + 1);
}

int schema_is_date(const char *s)
{
	const char *end = s ? parse_date(s) : NULL;

	return end && *end == '\0';
}

int schema_is_time(const char *s)
{
	const char *end = s ? parse_time(s) : NULL;

	return end && *end == '\0';
}

/* RFC 3339 (T and Z in either case, as section 5.6 allows), with seconds
 * optional as PostgreSQL accepts. */
int schema_is_timestamp(const char *s)
{
	if (!s)
		return 0;
	s = parse_date(s);
	if (!s || (*s != 'T' && *s != 't'))
		return 0;
	s = parse_time(s + 1);
	s = s ? parse_seconds(s) : NULL;
	s = s ? parse_offset(s) : NULL;
	return s && *s == '\0';
}

/* Values. */

static const char *expected(enum field_type t)
{
	switch (t) {
	case FT_INT:
		return "expected integer";
	case FT_NUMBER:
		return "expected number";
	case FT_BOOL:
		return "expected boolean";
	case FT_OBJECT:
		return "expected object";
	case FT_ARRAY:
		return "expected array";
	default:
		return "expected string";
	}
}

static int has_bounds(const struct field_spec *f)
{
	return f->min != 0 || f->max != 0;
}

static int has_num_bounds(const struct field_spec *f)
{
	return f->num_min != 0 || f->num_max != 0;
}

/* A string without embedded NUL (\u0000 parses, but C code downstream
 * would silently cut the value there). */
static int get_string(struct vctx *c, const struct field_spec *f, json_object *v,
		      const char **out, size_t *len)
{
	if (!json_object_is_type(v, json_type_string))
		return fail(c, expected(f->type));
	*out = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
	if (strlen(*out) != *len)
		return fail(c, "contains a NUL character");
	return 0;
}

static int is_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return 0;
	return 1;
}

static int check_string(struct vctx *c, const struct field_spec *f, json_object *v)
{
	const char *s;
	size_t len;

	if (get_string(c, f, v, &s, &len))
		return -1;
	if (has_bounds(f) && (int64_t)len < f->min)
		return fail(c, "too short");
	if (has_bounds(f) && (int64_t)len > f->max)
		return fail(c, "too long");
	/* A name, note or reason that must be given is not given by spaces. */
	if (has_bounds(f) && f->min >= 1 && is_blank(s, len))
		return fail(c, "blank");
	return 0;
}

static int check_int(struct vctx *c, const struct field_spec *f, json_object *v)
{
	int64_t n;

	if (!json_object_is_type(v, json_type_int))
		return fail(c, expected(f->type));
	if (schema_get_int64(v, &n))
		return fail(c, "out of range");
	if (has_bounds(f) && (n < f->min || n > f->max))
		return fail(c, "out of range");
	return 0;
}

static int check_number(struct vctx *c, const struct field_spec *f, json_object *v)
{
	double d;
	int64_t n;

	if (json_object_is_type(v, json_type_int)) {
		if (schema_get_int64(v, &n))
			return fail(c, "out of range");
		d = (double)n;
	} else if (json_object_is_type(v, json_type_double)) {
		d = json_object_get_double(v);
	} else {
		return fail(c, expected(f->type));
	}
	/* 1e400 parses to infinity; never let it reach arithmetic. */
	if (!isfinite(d))
		return fail(c, "out of range");
	if (has_num_bounds(f) && (d < f->num_min || d > f->num_max))
		return fail(c, "out of range");
	return 0;
}

static int check_syntax(struct vctx *c, const struct field_spec *f, json_object *v,
			int (*ok)(const char *), const char *why)
{
	const char *s;
	size_t len;

	if (get_string(c, f, v, &s, &len))
		return -1;
	return ok(s) ? 0 : fail(c, why);
}

/* "not one of: a, b, c" in the caller's buffer, cut short with "..." when
 * the list does not fit. */
static int fail_enum(struct vctx *c, const struct field_spec *f)
{
	char *buf = c->err->whybuf;
	size_t size = sizeof c->err->whybuf;
	size_t len = (size_t)snprintf(buf, size, "not one of: ");

	for (size_t i = 0; f->values && f->values[i]; i++) {
		int n = snprintf(buf + len, size - len, "%s%s", i ? ", " : "", f->values[i]);
		if (n < 0 || (size_t)n >= size - len) {
			memcpy(buf + size - 4, "...", 4);
			break;
		}
		len += (size_t)n;
	}
	return fail(c, buf);
}

static int check_enum(struct vctx *c, const struct field_spec *f, json_object *v)
{
	const char *s;
	size_t len;

	if (get_string(c, f, v, &s, &len))
		return -1;
	for (size_t i = 0; f->values && f->values[i]; i++)
		if (strcmp(f->values[i], s) == 0)
			return 0;
	return fail_enum(c, f);
}

static int check_value(struct vctx *c, const struct field_spec *f, json_object *v);
static int check_object(struct vctx *c, const struct param_schema *s, json_object *obj);

static int check_array(struct vctx *c, const struct field_spec *f, json_object *v)
{
	if (!json_object_is_type(v, json_type_array))
		return fail(c, expected(f->type));
	size_t n = json_object_array_length(v);
	if (has_bounds(f) && (int64_t)n < f->min)
		return fail(c, "too short");
	if (has_bounds(f) && (int64_t)n > f->max)
		return fail(c, "too long");
	/* Without `each`, items share the array's enum values and sub-schema;
	 * array bounds are about the length, so items get none. */
	const struct field_spec item = {
		.name = NULL, .type = f->item, .values = f->values, .sub = f->sub, .item = FT_ANY,
	};
	const struct field_spec *spec = f->each ? f->each : &item;
	for (size_t i = 0; i < n; i++) {
		size_t mark = path_push_index(c, i);
		if (check_value(c, spec, json_object_array_get_idx(v, i)))
			return -1;
		path_pop(c, mark);
	}
	return 0;
}

static int check_nested(struct vctx *c, const struct field_spec *f, json_object *v)
{
	if (c->depth >= MAX_DEPTH)
		return fail(c, "nesting too deep");
	c->depth++;
	int rc;
	if (f->type == FT_ARRAY)
		rc = check_array(c, f, v);
	else if (!json_object_is_type(v, json_type_object))
		rc = fail(c, expected(f->type));
	else
		rc = f->sub ? check_object(c, f->sub, v) : 0;
	c->depth--;
	return rc;
}

static int check_value(struct vctx *c, const struct field_spec *f, json_object *v)
{
	/* json-c represents JSON null as NULL. */
	if (!v)
		return f->type == FT_ANY || (f->flags & FF_NULLABLE) ? 0 : fail(c, expected(f->type));
	switch (f->type) {
	case FT_STRING:
		return check_string(c, f, v);
	case FT_INT:
		return check_int(c, f, v);
	case FT_NUMBER:
		return check_number(c, f, v);
	case FT_BOOL:
		return json_object_is_type(v, json_type_boolean) ? 0 : fail(c, expected(f->type));
	case FT_DATE:
		return check_syntax(c, f, v, schema_is_date, "not a date (YYYY-MM-DD)");
	case FT_TIME:
		return check_syntax(c, f, v, schema_is_time, "not a time (HH:MM)");
	case FT_TIMESTAMP:
		return check_syntax(c, f, v, schema_is_timestamp, "not a timestamp (RFC 3339)");
	case FT_ENUM:
		return check_enum(c, f, v);
	case FT_OBJECT:
	case FT_ARRAY:
		return check_nested(c, f, v);
	case FT_ANY:
		return 0;
	}
	return fail(c, "unsupported field type");
}

static const struct field_spec *find_field(const struct param_schema *s, const char *name)
{
	for (const struct field_spec *f = s->fields; f && f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

/* Unknown members first: a misspelt optional field would otherwise pass
 * silently, and a misspelt required one would be reported as missing. */
static int check_unknown(struct vctx *c, const struct param_schema *s, json_object *obj)
{
	if (s->allow_unknown || !obj)
		return 0;
	json_object_object_foreach(obj, key, val) {
		(void)val;
		if (!find_field(s, key)) {
			path_push_name(c, key);
			return fail(c, "unknown field");
		}
	}
	return 0;
}

/* obj may be NULL, standing for an empty object. */
static int check_object(struct vctx *c, const struct param_schema *s, json_object *obj)
{
	if (check_unknown(c, s, obj))
		return -1;
	for (const struct field_spec *f = s->fields; f && f->name; f++) {
		json_object *v = NULL;
		size_t mark = path_push_name(c, f->name);
		if (!obj || !json_object_object_get_ex(obj, f->name, &v)) {
			if (f->flags & FF_REQUIRED)
				return fail(c, "required");
		} else if (check_value(c, f, v)) {
			return -1;
		}
		path_pop(c, mark);
	}
	return 0;
}

int schema_validate(const struct param_schema *s, json_object *params, struct schema_error *err)
{
	/* No schema: the method takes no params at all. */
	static const struct param_schema none = { NULL, 0 };
	struct vctx c = { err, 0 };

	err->field[0] = '\0';
	err->whybuf[0] = '\0';
	err->why = NULL;
	if (params && !json_object_is_type(params, json_type_object))
		return fail(&c, "expected object");
	return check_object(&c, s ? s : &none, params);
}
