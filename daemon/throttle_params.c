#include "throttle_params.h"
#include "fields.h"

#include <stddef.h>

/* The scopes there are (sql/api/10_sessions.sql says what each counts).
 * A key is at most a name of 64 bytes, "@" and an address. */
static const char *const scopes[] = { "login_user", "login_user_addr", "login_addr", NULL };

static const struct field_spec list_fields[] = {
	ENUM("scope", 0, scopes),
	STR("key", 0, 1, 128),
	LIMIT(200),
	OFFSET,
	END,
};
const struct param_schema throttle_list_params = { list_fields, 0 };

static const struct field_spec clear_fields[] = {
	ENUM("scope", FF_REQUIRED, scopes),
	STR("key", FF_REQUIRED, 1, 128),
	END,
};
const struct param_schema throttle_clear_params = { clear_fields, 0 };
