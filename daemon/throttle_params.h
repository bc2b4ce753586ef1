/*
 * Throttles (admin): the params schemas of throttle.list and
 * throttle.clear. The work is done in SQL (sql/api/11_throttle.sql)
 * through sqlcall_handler; the method table (methods.def) names these
 * schemas.
 */
#ifndef RS_THROTTLE_PARAMS_H
#define RS_THROTTLE_PARAMS_H

#include "schema.h"

extern const struct param_schema throttle_list_params;
extern const struct param_schema throttle_clear_params;

#endif
