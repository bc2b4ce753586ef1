/*
 * Params schemas of the inventory methods. The gate checks shapes, types
 * and every bound here (lengths, ranges, counts: PROTOCOL.md's figures),
 * before SQL is reached; the SQL functions check only the rules that need
 * the data or the date (capability codes in the vocabulary, dates not in
 * the past, which fields each kind of supply takes).
 */
#include "inventory_params.h"

#include "fields.h"

/* A price per night, hour, session or stay (at most 100,000 pounds), and a
 * sum of money (at most a million pounds). */
#define PRICE(n, fl) INT(n, fl, 0, 10000000)
#define PENCE(n, fl) INT(n, fl, 0, 100000000)
/* Capability codes and ISO 639-1 language codes; SQL checks each against
 * the vocabulary and names the bad one ("needs[2]"). */
#define CODES(n) ARR(n, 0, 0, 100, FT_STRING)
#define LANGS(n) ARR(n, 0, 0, 50, FT_STRING)

static const char *const provider_types[] = { "residential", "sitting", "shared_lives", "hotel_leisure",
	NULL };
static const char *const cqc_ratings[] = { "outstanding", "good", "requires_improvement", "inadequate",
	NULL };
static const char *const kinds[] = { "bed", "worker", "household", "offer", NULL };
static const char *const price_units[] = { "night", "hour", "session", "stay", NULL };
static const char *const day_price_units[] = { "hour", "session", NULL };
static const char *const genders[] = { "female", "male", NULL };
static const char *const offer_types[] = { "overnight_stay", "theatre", "meal", "spa", "sport",
	"day_activity", NULL };
static const char *const condition_periods[] = { "month", "quarter", "year", NULL };

/* ---- capabilities ---- */

static const struct field_spec capability_list_fields[] = {
	STR("category", 0, 1, 32),
	END,
};
const struct param_schema capability_list_params = { capability_list_fields, 0 };

/* ---- providers ---- */

static const struct field_spec provider_create_fields[] = {
	ID("authority_id", 0), /* admins only: others work in their own */
	ENUM("type", FF_REQUIRED, provider_types),
	STR("name", FF_REQUIRED, 1, 200),
	STR("postcode_district", FF_REQUIRED, 2, 8),
	LAT(FF_REQUIRED),
	LON(FF_REQUIRED),
	LANGS("languages"),
	CODES("capabilities"),
	ENUM("cqc_rating", 0, cqc_ratings),
	END,
};
const struct param_schema provider_create_params = { provider_create_fields, 0 };

static const struct field_spec provider_update_fields[] = {
	ID("provider_id", FF_REQUIRED),
	STR("name", 0, 1, 200),
	STR("postcode_district", 0, 2, 8),
	LAT(0),
	LON(0),
	LANGS("languages"),
	CODES("capabilities"),
	ENUM("cqc_rating", FF_NULLABLE, cqc_ratings),
	BOOL("active", 0),
	END,
};
const struct param_schema provider_update_params = { provider_update_fields, 0 };

static const struct field_spec provider_get_fields[] = {
	ID("provider_id", FF_REQUIRED),
	END,
};
const struct param_schema provider_get_params = { provider_get_fields, 0 };

static const struct field_spec provider_list_fields[] = {
	ID("authority_id", 0),
	ENUM("type", 0, provider_types),
	LIMIT(200),
	OFFSET,
	END,
};
const struct param_schema provider_list_params = { provider_list_fields, 0 };

static const struct field_spec provider_bookings_fields[] = {
	ID("provider_id", 0), /* provider users: their own by default */
	DATE("from", 0),
	DATE("to", 0),
	LIMIT(200),
	OFFSET,
	END,
};
const struct param_schema provider_bookings_params = { provider_bookings_fields, 0 };

/* ---- supply ---- */

static const struct field_spec compatibility_fields[] = {
	ARR("pets", 0, 0, 20, FT_STRING),
	BOOL("smoking", 0),
	STR("household_members", 0, 1, 500),
	ARR("accessibility", 0, 0, 20, FT_STRING),
	ARR("interests", 0, 0, 50, FT_STRING),
	END,
};
static const struct param_schema compatibility_schema = { compatibility_fields, 0 };

static const struct field_spec sla_fields[] = {
	DATE("starts", 0),
	INT("months", 0, 1, 24),
	PENCE("guaranteed_income_pence", FF_REQUIRED),
	INT("target_per_bedroom_per_year", 0, 1, 52),
	END,
};
static const struct param_schema sla_schema = { sla_fields, 0 };

static const struct field_spec conditions_fields[] = {
	ENUM("per_carer_per", 0, condition_periods),
	INT("max", 0, 1, 100),
	END,
};
static const struct param_schema conditions_schema = { conditions_fields, 0 };

/*
 * What describes supply, shared by create and update. SQL refuses the
 * fields of another kind by name; on update, `nl` lets null clear an
 * optional field (back to its default, or none).
 */
#define SUPPLY_PROFILE(nl) \
	CODES("capabilities"), \
	LANGS("languages"), \
	BOOL("emergency_only", 0), \
	LAT(nl), \
	LON(nl), \
	OBJ("attrs", nl, NULL), \
	/* worker */ \
	ENUM("gender", nl, genders), \
	NUM("travel_radius_km", nl, 0, 100), \
	INT("min_visit_minutes", nl, 15, 1440), \
	INT("max_visit_minutes", nl, 15, 1440), \
	INT("travel_buffer_minutes", nl, 0, 240), \
	/* household */ \
	INT("bedrooms", 0, 0, 6), \
	INT("day_places", 0, 0, 6), \
	PRICE("day_price_pence", nl), \
	ENUM("day_price_unit", nl, day_price_units), \
	OBJ("compatibility", nl, &compatibility_schema), \
	DATE("approved_from", 0), \
	DATE("approval_expires", 0), \
	OBJ("sla", nl, &sla_schema), \
	/* offer */ \
	ENUM("offer_type", 0, offer_types), \
	INT("party_size", 0, 1, 10), \
	INT("duration_minutes", nl, 15, 1440), \
	OBJ("conditions", nl, &conditions_schema), \
	STR("dietary_notes", nl, 1, 1000), \
	DATE("expires", nl)

static const struct field_spec supply_create_fields[] = {
	ID("provider_id", 0), /* provider users: their own by default */
	ENUM("kind", FF_REQUIRED, kinds),
	STR("name", FF_REQUIRED, 1, 200),
	PRICE("price_pence", FF_REQUIRED),
	ENUM("price_unit", FF_REQUIRED, price_units),
	SUPPLY_PROFILE(0),
	END,
};
const struct param_schema supply_create_params = { supply_create_fields, 0 };

static const struct field_spec supply_update_fields[] = {
	ID("supply_id", FF_REQUIRED),
	STR("name", 0, 1, 200),
	PRICE("price_pence", 0),
	ENUM("price_unit", 0, price_units),
	BOOL("active", 0),
	SUPPLY_PROFILE(FF_NULLABLE),
	END,
};
const struct param_schema supply_update_params = { supply_update_fields, 0 };

static const struct field_spec supply_get_fields[] = {
	ID("supply_id", FF_REQUIRED),
	END,
};
const struct param_schema supply_get_params = { supply_get_fields, 0 };

static const struct field_spec supply_list_fields[] = {
	ID("provider_id", 0),
	ENUM("kind", 0, kinds),
	BOOL("active", 0),
	LIMIT(200),
	OFFSET,
	END,
};
const struct param_schema supply_list_params = { supply_list_fields, 0 };

/* ---- availability ---- */

/*
 * One range of a publish or withdraw call. Which members are allowed
 * depends on the kind of supply (SQL checks it):
 *   nights (beds, household stays): from, to
 *   spans (worker shifts, household day support): start, end (instants),
 *     or date, start_time, end_time (London local; overnight when end_time
 *     is not after start_time)
 *   offer sessions: day, or from and to; starts_at; quantity (publish)
 */
#define RANGE_MEMBERS \
	DATE("from", 0), \
	DATE("to", 0), \
	TS("start", 0), \
	TS("end", 0), \
	DATE("date", 0), \
	TIME("start_time", 0), \
	TIME("end_time", 0), \
	DATE("day", 0), \
	TIME("starts_at", 0)

static const struct field_spec publish_range_fields[] = {
	RANGE_MEMBERS,
	INT("quantity", 0, 0, 10000),
	END,
};
static const struct param_schema publish_range_schema = { publish_range_fields, 0 };

static const struct field_spec withdraw_range_fields[] = {
	RANGE_MEMBERS,
	END,
};
static const struct param_schema withdraw_range_schema = { withdraw_range_fields, 0 };

/* A year of nights is one range; a year of shifts is 365 or more. */
static const struct field_spec availability_publish_fields[] = {
	ID("supply_id", FF_REQUIRED),
	ARR_OBJ("ranges", FF_REQUIRED, 1, 2000, &publish_range_schema),
	END,
};
const struct param_schema availability_publish_params = { availability_publish_fields, 0 };

static const struct field_spec availability_withdraw_fields[] = {
	ID("supply_id", FF_REQUIRED),
	ARR_OBJ("ranges", FF_REQUIRED, 1, 2000, &withdraw_range_schema),
	END,
};
const struct param_schema availability_withdraw_params = { availability_withdraw_fields, 0 };

static const struct field_spec availability_list_fields[] = {
	ID("supply_id", FF_REQUIRED),
	DATE("from", 0),
	DATE("to", 0),
	END,
};
const struct param_schema availability_list_params = { availability_list_fields, 0 };

static const struct field_spec near_fields[] = {
	LAT(FF_REQUIRED),
	LON(FF_REQUIRED),
	NUM("radius_km", FF_REQUIRED, 0.1, 200),
	END,
};
static const struct param_schema near_schema = { near_fields, 0 };

static const struct field_spec availability_search_fields[] = {
	ID("authority_id", 0), /* required of admins; others search their own */
	ARR_ENUM("kinds", 0, 0, 4, kinds),
	DATE("from", 0),
	DATE("to", 0),
	TS("start", 0),
	TS("end", 0),
	CODES("needs"),
	CODES("wishes"),
	STR("language", 0, 2, 2), /* ISO 639-1 */
	ENUM("gender", 0, genders),
	OBJ("near", 0, &near_schema),
	ID("supply_id", 0),
	ARR_IDS("preferred_supply_ids", 0, 0, 50),
	PENCE("max_cost_pence", 0),
	LIMIT(100),
	OFFSET,
	END,
};
const struct param_schema availability_search_params = { availability_search_fields, 0 };
