#include "system.h"
#include "config.h"
#include "deploy.h"
#include "method.h"
#include "migrate.h"
#include "server.h"
#include "fields.h"

#include "autoconf.h"

static const struct field_spec ping_fields[] = {
	STR("echo", 0, 0, 1024),
	{ NULL },
};
const struct param_schema system_ping_params = { ping_fields, 0 };

static const struct field_spec no_fields[] = { { NULL } };
const struct param_schema system_version_params = { no_fields, 0 };

/* Answers from the loop alone: a ping proves the daemon, not the database
 * (GET /healthz covers that). */
void system_ping(struct request *req)
{
	json_object *res = json_object_new_object();
	json_object *echo;
	json_object_object_add(res, "pong", json_object_new_boolean(1));
	if (json_object_object_get_ex(req->params, "echo", &echo))
		json_object_object_add(res, "echo", json_object_get(echo));
	request_result(req, res);
}

/* The code release as {"schema", "checksum"}: the checksum shortened, as
 * people compare it by eye with --check-config's. */
static json_object *code_release_of(const struct release_info *ri)
{
	char shortsum[CODE_CHECKSUM_SHORT + 1];
	json_object *o = json_object_new_object();
	snprintf(shortsum, sizeof(shortsum), "%.*s", CODE_CHECKSUM_SHORT, ri->code_checksum);
	json_object_object_add(o, "schema", json_object_new_string(ri->code_schema));
	json_object_object_add(o, "checksum", json_object_new_string(shortsum));
	return o;
}

/* The release, and what this daemon found and left in the database when
 * it started. */
void system_version(struct request *req)
{
	const struct release_info *ri = req->srv->release;
	json_object *res = json_object_new_object();
	json_object_object_add(res, "name", json_object_new_string(PACKAGE_NAME));
	json_object_object_add(res, "version", json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(res, "protocol", json_object_new_string("jsonrpc-2.0"));
	if (ri) {
		json_object_object_add(res, "schema_level", json_object_new_string(ri->schema_level));
		json_object_object_add(res, "code_release", code_release_of(ri));
	}
	request_result(req, res);
}

static json_object *roles_of(unsigned mask)
{
	json_object *a = json_object_new_array();
	for (int i = 0; i < R_NBITS; i++)
		if (mask & (1u << i))
			json_object_array_add(a, json_object_new_string(role_name(i)));
	return a;
}

/* The method table as the caller may use it: clients discover what they
 * can call (tests/check_daemon.c checks an admin sees the whole table). */
void system_methods(struct request *req)
{
	json_object *list = json_object_new_array();
	for (int i = 0; i < method_count(); i++) {
		const struct method *m = method_at(i);
		if (req->who && !(m->roles & req->who->role) && req->who->role != R_ADMIN)
			continue;
		json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(m->name));
		json_object_object_add(o, "roles", roles_of(m->roles));
		json_object_object_add(o, "mutating", json_object_new_boolean(!!(m->flags & MF_MUTATING)));
		json_object_array_add(list, o);
	}
	json_object *res = json_object_new_object();
	json_object_object_add(res, "methods", list);
	request_result(req, res);
}

/* The settings in force (after reloads), for operators. */
void system_config(struct request *req) { request_result(req, config_to_json(config_current())); }
