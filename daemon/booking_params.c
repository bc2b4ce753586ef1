/*
 * Params schemas of the family, budget and booking methods. The gate
 * checks shapes, types and every bound here (lengths, ranges, counts:
 * PROTOCOL.md's figures), before SQL is reached; the SQL functions check
 * only the rules that need the data or the date (capability codes in the
 * vocabulary, dates in the future, whose records ids name...).
 */
#include "booking_params.h"

#include "fields.h"


static const char *const referral_routes[] = { "self_referral", "gp_carers_prescription",
	"health_professional", "social_prescriber", "council_assessment", "carers_centre", "other", NULL };
static const char *const consent_statuses[] = { "not_recorded", "given", "best_interests", "refused",
	NULL };
static const char *const sources[] = { "council", "pooled_fund", "carer_direct_payment",
	"carer_personal_budget", "person_personal_budget", "emergency_fund", NULL };
static const char *const units[] = { "pence", "minutes", "nights", NULL };
static const char *const rules[] = { "fixed", "recurring", "one_off", "ongoing", NULL };
static const char *const periods[] = { "week", "month", "quarter", "year", NULL };
static const char *const scheme_periods[] = { "month", "quarter", "year", NULL };
static const char *const kinds[] = { "bed", "worker", "household", "offer", NULL };
static const char *const break_kinds[] = { "planned", "contingency", "emergency", NULL };
static const char *const genders[] = { "female", "male", NULL };
static const char *const cancel_by[] = { "carer", "provider", NULL };
static const char *const statuses[] = { "requested", "held", "confirmed", "in_progress",
	"completed", "cancelled_by_carer", "cancelled_by_provider", "no_show", "expired", NULL };
static const char *const offer_types[] = { "overnight_stay", "theatre", "meal", "spa", "sport",
	"day_activity", NULL };

/* ---- families ---- */

static const struct field_spec consent_fields[] = {
	ENUM("status", FF_REQUIRED, consent_statuses),
	STR("decided_by", 0, 1, 200),
	STR("notes", 0, 1, 2000),
	END,
};
static const struct param_schema consent_schema = { consent_fields, 0 };

static const struct field_spec carer_fields[] = {
	STR("name", FF_REQUIRED, 1, 200),
	DATE("date_of_birth", 0),
	STR("phone", 0, 1, 40),
	STR("email", 0, 3, 200),
	STR("postcode_district", 0, 2, 8),
	LAT(0),
	LON(0),
	ARR("languages", 0, 0, 50, FT_STRING),
	ARR("needs", 0, 0, 100, FT_STRING),
	BOOL("online", 0),
	ENUM("referral_route", FF_REQUIRED, referral_routes),
	STR("referred_by", 0, 1, 200),
	DATE("referred_on", 0),
	STR("notes", 0, 1, 4000),
	END,
};
static const struct param_schema carer_schema = { carer_fields, 0 };

static const struct field_spec person_fields[] = {
	STR("name", FF_REQUIRED, 1, 200),
	DATE("date_of_birth", 0),
	ARR("needs", 0, 0, 100, FT_STRING),
	ARR("wishes", 0, 0, 100, FT_STRING),
	ARR("languages", 0, 0, 50, FT_STRING),
	STR("postcode_district", 0, 2, 8),
	LAT(0),
	LON(0),
	OBJ("consent", 0, &consent_schema),
	STR("relationship", 0, 1, 100),
	BOOL("primary", 0),
	ARR_IDS("preferred_supply_ids", 0, 0, 50),
	STR("notes", 0, 1, 4000),
	END,
};
static const struct param_schema person_schema = { person_fields, 0 };

static const struct field_spec family_create_fields[] = {
	OBJ("carer", 0, &carer_schema),
	ID("carer_id", 0),
	ID("user_id", 0),
	ID("authority_id", 0),
	ARR_OBJ("persons", 0, 0, 20, &person_schema),
	END,
};
const struct param_schema family_create_params = { family_create_fields, 0 };

static const struct field_spec family_link_fields[] = {
	ID("carer_id", FF_REQUIRED),
	ID("person_id", FF_REQUIRED),
	STR("relationship", 0, 1, 100),
	BOOL("primary", 0),
	BOOL("remove", 0),
	END,
};
const struct param_schema family_link_params = { family_link_fields, 0 };

static const struct field_spec family_get_fields[] = {
	ID("carer_id", 0),
	END,
};
const struct param_schema family_get_params = { family_get_fields, 0 };

static const struct field_spec family_list_fields[] = {
	ID("authority_id", 0),
	STR("q", 0, 1, 100),
	BOOL("young_carers", 0),
	LIMIT(200),
	OFFSET,
	END,
};
const struct param_schema family_list_params = { family_list_fields, 0 };

static const struct field_spec person_update_fields[] = {
	ID("person_id", FF_REQUIRED),
	STR("name", 0, 1, 200),
	DATE("date_of_birth", 0),
	ARR("needs", 0, 0, 100, FT_STRING),
	ARR("wishes", 0, 0, 100, FT_STRING),
	ARR("languages", 0, 0, 50, FT_STRING),
	STR("postcode_district", 0, 2, 8),
	LAT(0),
	LON(0),
	OBJ("consent", 0, &consent_schema),
	ARR_IDS("preferred_supply_ids", 0, 0, 50),
	ARR_IDS("avoid_supply_ids", 0, 0, 50),
	STR("notes", FF_NULLABLE, 1, 4000),
	END,
};
const struct param_schema person_update_params = { person_update_fields, 0 };

/* ---- budgets ---- */

static const struct field_spec entitlement_create_fields[] = {
	ID("carer_id", 0),
	ID("person_id", 0),
	STR("name", FF_REQUIRED, 1, 200),
	ENUM("source", FF_REQUIRED, sources),
	ENUM("unit", FF_REQUIRED, units),
	ENUM("rule", FF_REQUIRED, rules),
	INT("amount", FF_REQUIRED, 1, 100000000000),
	ENUM("period", 0, periods),
	DATE("valid_from", FF_REQUIRED),
	DATE("valid_to", 0),
	BOOL("exclude_bank_holidays", 0),
	ARR_ENUM("kinds", 0, 1, 4, kinds),
	INT("priority", 0, 0, 1000),
	BOOL("allow_overdraw", 0),
	STR("notes", 0, 1, 2000),
	END,
};
const struct param_schema entitlement_create_params = { entitlement_create_fields, 0 };

static const struct field_spec budget_summary_fields[] = {
	ID("carer_id", 0),
	ID("entitlement_id", 0),
	INT("movements_limit", 0, 0, 500),
	END,
};
const struct param_schema budget_summary_params = { budget_summary_fields, 0 };

/* ---- bookings ---- */

/*
 * What a break is, shared by booking.quote and booking.hold: who (person_id
 * for replacement care, none for the carer's own break; carer_id for
 * staff), when (from/to nights or days; start/end instants; or a London
 * date with start_time/end_time), which supply and how it is paid.
 */
#define BOOKING_REQUEST_FIELDS                                  \
	ID("person_id", 0),                                     \
	ID("carer_id", 0),                                      \
	ENUM("break_kind", 0, break_kinds),                     \
	DATE("from", 0),                                        \
	DATE("to", 0),                                          \
	TS("start", 0),                                         \
	TS("end", 0),                                           \
	DATE("date", 0),                                        \
	TIME("start_time", 0),                                  \
	TIME("end_time", 0),                                    \
	ARR_ENUM("kinds", 0, 0, 4, kinds),                      \
	ARR("needs", 0, 0, 100, FT_STRING),                     \
	ARR("wishes", 0, 0, 100, FT_STRING),                    \
	STR("language", 0, 2, 2), /* ISO 639-1 */               \
	ENUM("gender", 0, genders),                             \
	NUM("radius_km", 0, 0.1, 200),                          \
	ID("supply_id", 0),                                     \
	ID("session_id", 0),                                    \
	INT("seats", 0, 1, 10),                                 \
	ARR_IDS("pay_from", 0, 1, 10),                          \
	BOOL("self_fund_remainder", 0),                         \
	STR("override_reason", 0, 1, 500),                      \
	STR("notes", 0, 1, 2000)

static const struct field_spec booking_quote_fields[] = {
	BOOKING_REQUEST_FIELDS,
	INT("limit", 0, 1, 20),
	END,
};
const struct param_schema booking_quote_params = { booking_quote_fields, 0 };

static const struct field_spec booking_hold_fields[] = {
	BOOKING_REQUEST_FIELDS,
	/* Carers may only shorten the configured hold; staff may lengthen it. */
	INT("hold_seconds", 0, 60, 86400),
	END,
};
const struct param_schema booking_hold_params = { booking_hold_fields, 0 };
/* booking.book takes exactly booking.hold's params (hold_seconds too: it is
 * checked the same way, though the booking is confirmed at once). */
const struct param_schema booking_book_params = { booking_hold_fields, 0 };

static const struct field_spec booking_id_fields[] = {
	ID("booking_id", FF_REQUIRED),
	END,
};
const struct param_schema booking_confirm_params = { booking_id_fields, 0 };
const struct param_schema booking_get_params = { booking_id_fields, 0 };

static const struct field_spec booking_cancel_fields[] = {
	ID("booking_id", FF_REQUIRED),
	ENUM("by", 0, cancel_by),
	STR("reason", 0, 1, 500),
	END,
};
const struct param_schema booking_cancel_params = { booking_cancel_fields, 0 };

static const struct field_spec booking_complete_fields[] = {
	ID("booking_id", FF_REQUIRED),
	INT("actual_minutes", 0, 1, 1440),
	INT("actual_cost_pence", 0, 0, 100000000),
	BOOL("self_fund_remainder", 0),
	STR("notes", 0, 1, 2000),
	END,
};
const struct param_schema booking_complete_params = { booking_complete_fields, 0 };

static const struct field_spec booking_no_show_fields[] = {
	ID("booking_id", FF_REQUIRED),
	STR("reason", 0, 1, 500),
	END,
};
const struct param_schema booking_no_show_params = { booking_no_show_fields, 0 };

static const struct field_spec booking_feedback_fields[] = {
	ID("booking_id", FF_REQUIRED),
	BOOL("liked", FF_REQUIRED),
	STR("note", 0, 1, 500),
	END,
};
const struct param_schema booking_feedback_params = { booking_feedback_fields, 0 };

static const struct field_spec booking_list_fields[] = {
	ID("carer_id", 0),
	ID("person_id", 0),
	ID("provider_id", 0),
	ARR_ENUM("status", 0, 1, 9, statuses),
	DATE("from", 0),
	DATE("to", 0),
	LIMIT(200),
	OFFSET,
	END,
};
const struct param_schema booking_list_params = { booking_list_fields, 0 };

/* ---- bank holidays and scheme rules ---- */

static const struct field_spec bank_holiday_set_fields[] = {
	DATE("day", FF_REQUIRED),
	STR("name", 0, 1, 100),
	BOOL("remove", 0),
	END,
};
const struct param_schema bank_holiday_set_params = { bank_holiday_set_fields, 0 };

static const struct field_spec bank_holiday_list_fields[] = {
	DATE("from", 0),
	DATE("to", 0),
	END,
};
const struct param_schema bank_holiday_list_params = { bank_holiday_list_fields, 0 };

static const struct field_spec scheme_rule_set_fields[] = {
	ID("authority_id", 0),
	STR("name", 0, 1, 200),
	ENUM("offer_type", 0, offer_types),
	ENUM("per", FF_REQUIRED, scheme_periods),
	INT("max", 0, 1, 100),
	BOOL("remove", 0),
	END,
};
const struct param_schema scheme_rule_set_params = { scheme_rule_set_fields, 0 };

static const struct field_spec scheme_rule_list_fields[] = {
	ID("authority_id", 0),
	END,
};
const struct param_schema scheme_rule_list_params = { scheme_rule_list_fields, 0 };
