#include "config.h"
#include "log.h"
#include "netaddr.h"

#include <ctype.h>
#include <json-c/json.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum conf_type { CT_STR, CT_INT };

struct conf_key {
	const char *key;
	enum conf_type type;
	const char *def;
	int64_t min, max;
	int reload;
	const char *help;
	size_t offset;
};

static const struct conf_key keys[] = {
#define STR CT_STR
#define INT CT_INT
#define CONF(k, type, def, min, max, reload, help) \
	{ #k, type, def, min, max, reload, help, offsetof(struct config, k) },
#include "config.def"
#undef CONF
#undef STR
#undef INT
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static struct config *current;

const struct config *config_current(void) { return current; }

void config_install(struct config *c)
{
	config_free(current);
	current = c;
}

static const struct conf_key *find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].key, name) == 0)
			return &keys[i];
	return NULL;
}

static char **str_field(struct config *c, const struct conf_key *k)
{
	return (char **)((char *)c + k->offset);
}

static int64_t *int_field(struct config *c, const struct conf_key *k)
{
	return (int64_t *)((char *)c + k->offset);
}

static const char *str_value(const struct config *c, const struct conf_key *k)
{
	return *(char *const *)((const char *)c + k->offset);
}

static int64_t int_value(const struct config *c, const struct conf_key *k)
{
	return *(const int64_t *)((const char *)c + k->offset);
}

/* Sets one key from text; on error writes the reason into err. */
static int set_value(struct config *c, const struct conf_key *k, const char *val,
		     char *err, size_t errlen)
{
	if (k->type == CT_STR) {
		char *copy = strdup(val);
		if (!copy) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		free(*str_field(c, k));
		*str_field(c, k) = copy;
		return 0;
	}
	char *end;
	errno = 0;
	long long v = strtoll(val, &end, 10);
	if (errno || end == val || *end != '\0') {
		snprintf(err, errlen, "%s: '%s' is not an integer", k->key, val);
		return -1;
	}
	if (v < k->min || v > k->max) {
		snprintf(err, errlen, "%s: %lld is outside %" PRId64 "..%" PRId64, k->key, v,
			 k->min, k->max);
		return -1;
	}
	*int_field(c, k) = v;
	return 0;
}

static int set_named(struct config *c, const char *name, const char *val, char *err,
		     size_t errlen)
{
	const struct conf_key *k = find_key(name);
	if (!k) {
		snprintf(err, errlen, "unknown setting '%s'", name);
		return -1;
	}
	return set_value(c, k, val, err, errlen);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* INI: `key = value`, '#' or ';' comments, [sections] accepted and ignored
 * (one daemon, one namespace). Values may be double-quoted. */
static int parse_line(struct config *c, char *line, char *err, size_t errlen)
{
	char *s = trim(line);
	if (*s == '\0' || *s == '#' || *s == ';' || *s == '[')
		return 0;
	char *eq = strchr(s, '=');
	if (!eq) {
		snprintf(err, errlen, "expected key = value");
		return -1;
	}
	*eq = '\0';
	char *key = trim(s), *val = trim(eq + 1);
	size_t n = strlen(val);
	if (n >= 2 && val[0] == '"' && val[n - 1] == '"') {
		val[n - 1] = '\0';
		val++;
	}
	return set_named(c, key, val, err, errlen);
}

static int load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char line[4096], why[512];
	int lineno = 0, rc = 0;
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		lineno++;
		if (parse_line(c, line, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
			rc = -1;
		}
	}
	fclose(f);
	return rc;
}

/* Lists of addresses are parsed here too, so a reload with a bad one is
 * refused whole like any other bad value. */
static int check_address_list(const char *key, const char *text, char *err, size_t errlen)
{
	struct netaddr_list l;
	char why[256];
	if (netaddr_list_parse(text, &l, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", key, why);
		return -1;
	}
	netaddr_list_free(&l);
	return 0;
}

static int check_whole(const struct config *c, char *err, size_t errlen)
{
	if (log_level_parse(c->log_level) < 0) {
		snprintf(err, errlen, "log_level: '%s' is not error, warn, info or debug",
			 c->log_level);
		return -1;
	}
	return check_address_list("trusted_proxies", c->trusted_proxies, err, errlen) ||
	       check_address_list("metrics_allow", c->metrics_allow, err, errlen) ? -1 : 0;
}

struct config *config_load(const char *path, const struct config_overrides *ov,
			   char *err, size_t errlen)
{
	struct config *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < NKEYS; i++)
		if (set_value(c, &keys[i], keys[i].def, err, errlen) != 0)
			goto fail;
	const char *envpw = getenv("RESPITE_ADMIN_PASSWORD");
	if (envpw && set_named(c, "admin_password", envpw, err, errlen) != 0)
		goto fail;
	if (path && load_file(c, path, err, errlen) != 0)
		goto fail;
	for (int i = 0; ov && i < ov->n; i++)
		if (set_named(c, ov->keys[i], ov->values[i], err, errlen) != 0)
			goto fail;
	if (check_whole(c, err, errlen) != 0)
		goto fail;
	c->path = path ? strdup(path) : NULL;
	return c;
fail:
	config_free(c);
	return NULL;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].type == CT_STR)
			free(*str_field(c, &keys[i]));
	free(c->path);
	free(c);
}

int config_override_add(struct config_overrides *ov, const char *key, const char *value)
{
	if (ov->n >= (int)(sizeof(ov->keys) / sizeof(ov->keys[0])))
		return -1;
	ov->keys[ov->n] = strdup(key);
	ov->values[ov->n] = strdup(value);
	if (!ov->keys[ov->n] || !ov->values[ov->n])
		return -1;
	ov->n++;
	return 0;
}

void config_overrides_free(struct config_overrides *ov)
{
	for (int i = 0; i < ov->n; i++) {
		free(ov->keys[i]);
		free(ov->values[i]);
	}
	ov->n = 0;
}

static int same_value(const struct config *a, const struct config *b, const struct conf_key *k)
{
	if (k->type == CT_INT)
		return int_value(a, k) == int_value(b, k);
	return strcmp(str_value(a, k), str_value(b, k)) == 0;
}

int config_keep_restart_keys(struct config *next, const struct config *cur)
{
	int kept = 0;
	for (size_t i = 0; i < NKEYS; i++) {
		const struct conf_key *k = &keys[i];
		if (k->reload || same_value(next, cur, k))
			continue;
		log_warn("event=config_reload key=%s result=needs_restart", k->key);
		char err[256];
		if (k->type == CT_INT)
			*int_field(next, k) = int_value(cur, k);
		else if (set_value(next, k, str_value(cur, k), err, sizeof(err)))
			continue;
		kept++;
	}
	return kept;
}

void config_print_help(FILE *out)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct conf_key *k = &keys[i];
		fprintf(out, "  %-22s %s (default: %s%s)\n", k->key, k->help,
			*k->def ? k->def : "empty", k->reload ? "" : "; restart to change");
	}
}

void config_dump(const struct config *c, FILE *out)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct conf_key *k = &keys[i];
		if (k->type == CT_INT)
			fprintf(out, "%s = %" PRId64 "\n", k->key, int_value(c, k));
		else if (strcmp(k->key, "admin_password") == 0)
			fprintf(out, "%s = %s\n", k->key, *str_value(c, k) ? "(set)" : "");
		else
			fprintf(out, "%s = %s\n", k->key, str_value(c, k));
	}
}

struct json_object *config_to_json(const struct config *c)
{
	json_object *o = json_object_new_object();
	for (size_t i = 0; o && i < NKEYS; i++) {
		const struct conf_key *k = &keys[i];
		json_object *v;
		if (k->type == CT_INT)
			v = json_object_new_int64(int_value(c, k));
		else if (strcmp(k->key, "admin_password") == 0)
			v = json_object_new_boolean(*str_value(c, k) != '\0');
		else
			v = json_object_new_string(str_value(c, k));
		json_object_object_add(o, k->key, v);
	}
	return o;
}
