/*
 * Shorthand for params schemas (protocol/schema.h): one line per field,
 * name and flags first, then what the type needs. Used by the domain
 * modules' schema tables.
 */
#ifndef RS_FIELDS_H
#define RS_FIELDS_H

#include <stdint.h>

#include "schema.h"

#define ID_MAX INT64_MAX

#define STR(n, fl, lo, hi) { .name = (n), .type = FT_STRING, .flags = (fl), .min = (lo), .max = (hi) }
#define INT(n, fl, lo, hi) { .name = (n), .type = FT_INT, .flags = (fl), .min = (lo), .max = (hi) }
#define NUM(n, fl, lo, hi) { .name = (n), .type = FT_NUMBER, .flags = (fl), .num_min = (lo), .num_max = (hi) }
#define BOOL(n, fl) { .name = (n), .type = FT_BOOL, .flags = (fl) }
#define DATE(n, fl) { .name = (n), .type = FT_DATE, .flags = (fl) }
#define TIME(n, fl) { .name = (n), .type = FT_TIME, .flags = (fl) }
#define TS(n, fl) { .name = (n), .type = FT_TIMESTAMP, .flags = (fl) }
#define ENUM(n, fl, vals) { .name = (n), .type = FT_ENUM, .flags = (fl), .values = (vals) }
#define OBJ(n, fl, schema) { .name = (n), .type = FT_OBJECT, .flags = (fl), .sub = (schema) }
#define ARR(n, fl, lo, hi, it) { .name = (n), .type = FT_ARRAY, .flags = (fl), .min = (lo), .max = (hi), .item = (it) }
#define ARR_ENUM(n, fl, lo, hi, vals) \
	{ .name = (n), .type = FT_ARRAY, .flags = (fl), .min = (lo), .max = (hi), .values = (vals), .item = FT_ENUM }
#define ARR_OBJ(n, fl, lo, hi, schema) \
	{ .name = (n), .type = FT_ARRAY, .flags = (fl), .min = (lo), .max = (hi), .sub = (schema), .item = FT_OBJECT }
#define ID(n, fl) INT(n, fl, 1, ID_MAX)
/* An array of record ids: each element is an id itself ("pay_from[2]"). */
#define ARR_IDS(n, fl, lo, hi) \
	{ .name = (n), .type = FT_ARRAY, .flags = (fl), .min = (lo), .max = (hi), .item = FT_INT, \
	  .each = &(const struct field_spec)ID(NULL, 0) }
#define END { .name = NULL }

/* Coordinates: the service covers England, and these are the bounds the
 * database's CHECKs hold too. */
#define LAT(fl) NUM("lat", fl, 49.8, 55.9)
#define LON(fl) NUM("lon", fl, -6.5, 2.0)

#define LIMIT(max) INT("limit", 0, 1, max)
#define OFFSET INT("offset", 0, 0, 100000)

#endif
