/*
 * Typed configuration. A config is built whole (defaults, then the INI file,
 * then command-line settings), validated, and only then swapped in, so a
 * bad reload changes nothing.
 */
#ifndef RS_CONFIG_H
#define RS_CONFIG_H

#include <stdint.h>
#include <stdio.h>

struct config {
#define STR char *
#define INT int64_t
#define CONF(key, type, def, min, max, reload, help) type key;
#include "config.def"
#undef CONF
#undef STR
#undef INT
	char *path; /* the file it was read from, or NULL */
};

/* Command-line settings kept to re-apply over the file on every reload. */
struct config_overrides {
	int n;
	char *keys[64];
	char *values[64];
};

/* The configuration in force. Modules read it at each use so reloads take
 * effect without restarts. */
const struct config *config_current(void);
void config_install(struct config *c); /* frees the previous one */

/* Builds a config from defaults, file (may be NULL) and overrides.
 * Returns NULL and writes a message naming the key and line into err. */
struct config *config_load(const char *path, const struct config_overrides *ov,
			   char *err, size_t errlen);
void config_free(struct config *c);

int config_override_add(struct config_overrides *ov, const char *key, const char *value);
void config_overrides_free(struct config_overrides *ov);

/* Reload: for keys that need a restart and changed, logs a warning and
 * keeps the running value in `next`. Returns how many were kept. */
int config_keep_restart_keys(struct config *next, const struct config *cur);

void config_print_help(FILE *out);
/* Every key as a JSON object (admin_password masked); a json_object *. */
struct json_object *config_to_json(const struct config *c);
/* Writes every key = value (admin_password masked). */
void config_dump(const struct config *c, FILE *out);

#endif
