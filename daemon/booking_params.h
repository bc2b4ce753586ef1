/*
 * Families, budgets and bookings (issue 4): the params schemas of their
 * methods. The work is done in SQL (sql/api/3*_*.sql and 4*_*.sql)
 * through sqlcall_handler; the method table
 * (methods.def) names these schemas.
 */
#ifndef RS_BOOKING_PARAMS_H
#define RS_BOOKING_PARAMS_H

#include "schema.h"

extern const struct param_schema family_create_params;
extern const struct param_schema family_link_params;
extern const struct param_schema family_get_params;
extern const struct param_schema family_list_params;
extern const struct param_schema person_update_params;
extern const struct param_schema entitlement_create_params;
extern const struct param_schema budget_summary_params;
extern const struct param_schema booking_quote_params;
extern const struct param_schema booking_hold_params;
extern const struct param_schema booking_book_params;
extern const struct param_schema booking_confirm_params;
extern const struct param_schema booking_cancel_params;
extern const struct param_schema booking_complete_params;
extern const struct param_schema booking_no_show_params;
extern const struct param_schema booking_feedback_params;
extern const struct param_schema booking_get_params;
extern const struct param_schema booking_list_params;
extern const struct param_schema bank_holiday_set_params;
extern const struct param_schema bank_holiday_list_params;
extern const struct param_schema scheme_rule_set_params;
extern const struct param_schema scheme_rule_list_params;

#endif
