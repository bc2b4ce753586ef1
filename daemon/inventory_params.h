/*
 * Inventory (issue 3): providers, supply, availability and search. The
 * params schemas of its methods; the work is done in SQL
 * (sql/api/2*_*.sql) through sqlcall_handler, and the method table
 * (methods.def) names these schemas.
 */
#ifndef RS_INVENTORY_PARAMS_H
#define RS_INVENTORY_PARAMS_H

#include "schema.h"

extern const struct param_schema capability_list_params;
extern const struct param_schema provider_create_params;
extern const struct param_schema provider_update_params;
extern const struct param_schema provider_get_params;
extern const struct param_schema provider_list_params;
extern const struct param_schema provider_bookings_params;
extern const struct param_schema supply_create_params;
extern const struct param_schema supply_update_params;
extern const struct param_schema supply_get_params;
extern const struct param_schema supply_list_params;
extern const struct param_schema availability_publish_params;
extern const struct param_schema availability_withdraw_params;
extern const struct param_schema availability_list_params;
extern const struct param_schema availability_search_params;

#endif
