/*
 * The method table (methods.def) as data: names, roles, params schemas,
 * flags and handlers, looked up by the gate, the metrics, the handlers and
 * the code deploy.
 *
 * This module is a leaf: it includes no other daemon module. The table
 * names handlers and schemas defined elsewhere (system.c, session.c,
 * sqlcall.c, the *_params.c files); they are declared below from the table
 * itself, so the modules that read the table (system.methods, sqlcall)
 * can include this header without an include circle. Where a module's
 * own header declares them too, the compiler checks that both agree.
 */
#ifndef RS_METHOD_H
#define RS_METHOD_H

struct request;
struct param_schema;

/* Roles as bits, so a method's allowed roles are one mask. */
enum role_bit {
	R_ANON = 1 << 0,
	R_ADMIN = 1 << 1,
	R_COORD = 1 << 2,
	R_PROVIDER = 1 << 3,
	R_CARER = 1 << 4,
	R_HANDLER = 1 << 5,
};
#define R_USERS (R_ADMIN | R_COORD | R_PROVIDER | R_CARER | R_HANDLER)
#define R_NBITS 6

/* Parses "admin", "coordinator", ... into an R_* bit; 0 if unknown
 * ("anonymous" is not a role a user can have). */
unsigned role_parse(const char *name);
/* The name of bit number i (0 = R_ANON: "anonymous"), or NULL. */
const char *role_name(int i);

typedef void (*method_fn)(struct request *req);

enum method_flags {
	MF_MUTATING = 1 << 0, /* accepts idempotency_key; changes state */
	MF_EMERGENCY = 1 << 1, /* runs on the emergency database lane */
	MF_BARRIER = 1 << 2, /* changes the caller's identity: later calls wait */
};

struct method {
	const char *name;
	method_fn fn;
	unsigned roles;
	const struct param_schema *schema;
	unsigned flags;
};

#define METHOD(name, fn, roles, schema, flags) \
	void fn(struct request *req); \
	extern const struct param_schema schema;
#include "methods.def"
#undef METHOD

const struct method *method_find(const char *name);
int method_count(void);
const struct method *method_at(int i);
/* Position in the table, for per-method metrics and per-method SQL. */
int method_index(const struct method *m);
/* Served by one SQL function of the same name (see sqlcall.h). */
int method_in_sql(const struct method *m);

#endif
