/*
 * Declarative params schemas. Each method's params are described as data in
 * the method table; the dispatcher validates them before any handler runs,
 * so handlers assume well-typed, in-range input.
 */
#ifndef RS_SCHEMA_H
#define RS_SCHEMA_H

#include <stdint.h>
#include <stddef.h>
#include <json-c/json.h>

enum field_type {
	FT_STRING,    /* min/max bound the length in bytes */
	FT_INT,       /* min/max bound the value (int64) */
	FT_NUMBER,    /* double; num_min/num_max bound the value */
	FT_BOOL,
	FT_DATE,      /* "YYYY-MM-DD", a real calendar date */
	FT_TIME,      /* "HH:MM" 24h local time */
	FT_TIMESTAMP, /* RFC 3339 with offset or Z, e.g. 2026-03-29T01:30:00Z */
	FT_ENUM,      /* string, one of `values` */
	FT_OBJECT,    /* validated against `sub` when set, else any object */
	FT_ARRAY,     /* min/max bound the length; items validated as `each`, else as `item` */
	FT_ANY,
};

#define FF_REQUIRED 0x1
#define FF_NULLABLE 0x2

struct field_spec;

struct param_schema {
	const struct field_spec *fields; /* terminated by a {NULL} entry */
	int allow_unknown;               /* 0: unknown members are refused */
};

struct field_spec {
	const char *name;
	enum field_type type;
	unsigned flags;
	int64_t min, max;                /* FT_STRING, FT_INT, FT_ARRAY; both 0: no bound */
	double num_min, num_max;         /* FT_NUMBER; both 0: no bound */
	const char *const *values;       /* FT_ENUM: NULL-terminated */
	const struct param_schema *sub;  /* FT_OBJECT, or items of FT_ARRAY when item==FT_OBJECT */
	enum field_type item;            /* FT_ARRAY: type of each element */
	/* FT_ARRAY: when set, each element is checked against this spec (its
	 * name is unused), so elements can have bounds of their own; else
	 * elements are of type `item`, with the array's `values` and `sub`. */
	const struct field_spec *each;
};

struct schema_error {
	char field[128];  /* dotted path: "ranges[3].end" */
	const char *why;  /* "required", "unknown field", "expected integer", "too long",
			   * "out of range", "not a date (YYYY-MM-DD)", ... (see schema.c) */
	char whybuf[256]; /* storage when why is built per call ("not one of: a, b") */
};

/* Returns 0 when params (may be NULL = {}) satisfy the schema; else -1 and *err. */
int schema_validate(const struct param_schema *s, json_object *params, struct schema_error *err);

/* Validators usable on their own. */
int schema_is_date(const char *s);
int schema_is_time(const char *s);
int schema_is_timestamp(const char *s);

/*
 * Reads a json-c integer that is exactly representable: 0 and *out, or -1
 * when o is not an integer or lies beyond int64. json-c saturates integers
 * it cannot hold (to UINT64_MAX or INT64_MIN), so INT64_MIN is refused too:
 * it cannot be told apart from a clamped -99999999999999999999.
 */
int schema_get_int64(json_object *o, int64_t *out);

#endif
