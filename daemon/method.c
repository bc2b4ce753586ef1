#include "method.h"

#include <string.h>

static const struct method methods[] = {
#define METHOD(name, fn, roles, schema, flags) { name, fn, roles, &schema, flags },
#include "methods.def"
#undef METHOD
};
#define NMETHODS ((int)(sizeof(methods) / sizeof(methods[0])))

/* In bit order: role_name(i) names 1 << i. */
static const char *const role_names[R_NBITS] = { "anonymous", "admin", "coordinator",
						 "provider", "carer", "call_handler" };

unsigned role_parse(const char *name)
{
	for (int i = 1; name && i < R_NBITS; i++)
		if (strcmp(name, role_names[i]) == 0)
			return 1u << i;
	return 0;
}

const char *role_name(int i) { return i >= 0 && i < R_NBITS ? role_names[i] : NULL; }

int method_count(void) { return NMETHODS; }

const struct method *method_at(int i) { return i >= 0 && i < NMETHODS ? &methods[i] : NULL; }

int method_index(const struct method *m) { return (int)(m - methods); }

const struct method *method_find(const char *name)
{
	/* ~50 names: a linear scan costs less than the JSON parse before it. */
	for (int i = 0; i < NMETHODS; i++)
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	return NULL;
}

int method_in_sql(const struct method *m) { return m->fn == sqlcall_handler; }
