/*
 * The gate every call passes before its handler: parse, envelope check,
 * method lookup (method.h), role check, params validation, idempotency
 * key, draining. Handlers never repeat these checks.
 */
#ifndef RS_DISPATCH_H
#define RS_DISPATCH_H

#include <stddef.h>

#include "request.h"

/* Dispatches one incoming message (a line, or an HTTP body) whose answers
 * go to `reply`. The reply may complete before this returns. */
void dispatch_message(struct server *srv, struct principal *who, const char *buf, size_t len,
		      struct reply *reply);

/* Answers a message that could not even be read (line too long...). */
void dispatch_reject(struct reply *reply, int code, const char *message);

#endif
