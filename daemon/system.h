/* system.*: liveness, version and the method list. */
#ifndef RS_SYSTEM_H
#define RS_SYSTEM_H

#include "request.h"
#include "schema.h"

extern const struct param_schema system_ping_params;
extern const struct param_schema system_version_params;

void system_ping(struct request *req);
void system_version(struct request *req);
void system_methods(struct request *req);
void system_config(struct request *req);

#endif
