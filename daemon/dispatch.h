/*
 * The gate every call passes before its handler: parse, envelope check,
 * method lookup, role check, params validation, idempotency key, draining.
 * Handlers never repeat these checks.
 */
#ifndef RS_DISPATCH_H
#define RS_DISPATCH_H

#include <stddef.h>

#include "request.h"
#include "schema.h"

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
	const char *sql;
};

const struct method *method_find(const char *name);
int method_count(void);
const struct method *method_at(int i);
/* Position in the table, for per-method metrics. */
int method_index(const struct method *m);

/* Dispatches one incoming message (a line, or an HTTP body) whose answers
 * go to `reply`. The reply may complete before this returns. */
void dispatch_message(struct server *srv, struct principal *who, const char *buf, size_t len,
		      struct reply *reply);

/* Answers a message that could not even be read (line too long...). */
void dispatch_reject(struct reply *reply, int code, const char *message);

#endif
