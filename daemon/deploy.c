#include "deploy.h"
#include "autoconf.h"
#include "log.h"
#include "method.h"
#include "pgsync.h"
#include "sqlfile.h"

#include <stdlib.h>
#include <string.h>

struct release_code {
	char dir[4096];           /* sql_dir/api, for messages */
	struct sqlfile_set files; /* in name order: the order they load in */
	char *method_rows;        /* the method table as api_method rows */
	char checksum[SHA256_HEX_LEN + 1];
};

static const char SQL_HAS_RELEASES[] = "SELECT to_regclass('public.code_release') IS NOT NULL";

static const char SQL_RELEASES_TABLE[] =
	"CREATE TABLE IF NOT EXISTS public.code_release ("
	" schema_name text PRIMARY KEY, release text, checksum text,"
	" deployed_at timestamptz DEFAULT now())";

static const char SQL_RECORDED[] =
	"SELECT checksum, to_regnamespace(schema_name) IS NOT NULL"
	"  FROM public.code_release WHERE schema_name = $1";

static const char SQL_RECORD[] =
	"INSERT INTO public.code_release (schema_name, release, checksum, deployed_at)"
	" VALUES ($1, $2, $3, now()) ON CONFLICT (schema_name) DO UPDATE"
	" SET release = excluded.release, checksum = excluded.checksum,"
	"     deployed_at = excluded.deployed_at";

static const char SQL_METHOD_TABLE[] =
	"CREATE TABLE api_method ("
	" name text PRIMARY KEY, roles text[] NOT NULL, mutating boolean NOT NULL,"
	" lane text NOT NULL CHECK (lane IN ('normal', 'emergency')),"
	" in_sql boolean NOT NULL)";

/* $1: the rows method_rows() wrote, so that what was checksummed is
 * exactly what the gate is built from. */
static const char SQL_METHOD_ROWS[] =
	"INSERT INTO api_method (name, roles, mutating, lane, in_sql)"
	" SELECT f[1], f[2]::text[], f[3]::boolean, f[4], f[5]::boolean"
	"   FROM regexp_split_to_table($1, E'\\n') AS line,"
	"        string_to_array(line, E'\\t') AS f"
	"  WHERE line <> ''";

/* Objects outside schema $1 that depend on an object inside it: DROP
 * SCHEMA ... CASCADE would drop them (a column, a CHECK, a default, a
 * view...) with the code. Internal dependents (a table's TOAST table, a
 * type's array type) are parts of the object itself, wherever they live.
 * Triggers, defaults, rules and policies belong to their table's schema;
 * other objects say their own. */
static const char SQL_DEPENDENTS[] =
	"WITH inside AS ("
	"  SELECT 'pg_proc'::regclass AS cls, o.oid FROM pg_proc o"
	"    JOIN pg_namespace n ON n.oid = o.pronamespace WHERE n.nspname = $1"
	"  UNION ALL SELECT 'pg_type'::regclass, o.oid FROM pg_type o"
	"    JOIN pg_namespace n ON n.oid = o.typnamespace WHERE n.nspname = $1"
	"  UNION ALL SELECT 'pg_class'::regclass, o.oid FROM pg_class o"
	"    JOIN pg_namespace n ON n.oid = o.relnamespace WHERE n.nspname = $1"
	"  UNION ALL SELECT 'pg_operator'::regclass, o.oid FROM pg_operator o"
	"    JOIN pg_namespace n ON n.oid = o.oprnamespace WHERE n.nspname = $1"
	"  UNION ALL SELECT 'pg_collation'::regclass, o.oid FROM pg_collation o"
	"    JOIN pg_namespace n ON n.oid = o.collnamespace WHERE n.nspname = $1"
	"), dependent AS ("
	"  SELECT DISTINCT d.classid, d.objid, d.objsubid,"
	"         CASE d.classid"
	"           WHEN 'pg_attrdef'::regclass THEN (SELECT adrelid FROM pg_attrdef WHERE oid = d.objid)"
	"           WHEN 'pg_trigger'::regclass THEN (SELECT tgrelid FROM pg_trigger WHERE oid = d.objid)"
	"           WHEN 'pg_rewrite'::regclass THEN (SELECT ev_class FROM pg_rewrite WHERE oid = d.objid)"
	"           WHEN 'pg_policy'::regclass THEN (SELECT polrelid FROM pg_policy WHERE oid = d.objid)"
	"         END AS rel"
	"    FROM pg_depend d JOIN inside i ON d.refclassid = i.cls AND d.refobjid = i.oid"
	"   WHERE d.deptype IN ('n', 'a')"
	"), outside AS ("
	"  SELECT pg_describe_object(classid, objid, objsubid) AS what FROM dependent"
	"   WHERE coalesce((SELECT n.nspname::text FROM pg_class c"
	"                     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel),"
	"                  (pg_identify_object(classid, objid, objsubid)).schema, '') <> $1"
	")"
	"SELECT string_agg(what, ', ' ORDER BY what) FROM outside";

/* ---- the release's code on disk ---- */

static int is_code_file(const char *name)
{
	size_t n = strlen(name);
	return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".sql") == 0;
}

static void write_roles(FILE *f, unsigned roles)
{
	const char *sep = "";
	fputc('{', f);
	for (int b = 0; b < R_NBITS; b++)
		if (roles & (1u << b)) {
			fprintf(f, "%s%s", sep, role_name(b));
			sep = ",";
		}
	fputc('}', f);
}

/* One line per method: name, roles, mutating, lane, in_sql, tab-separated. */
static char *method_rows(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	for (int i = 0; i < method_count(); i++) {
		const struct method *m = method_at(i);
		fprintf(f, "%s\t", m->name);
		write_roles(f, m->roles);
		fprintf(f, "\t%s\t%s\t%s\n", (m->flags & MF_MUTATING) ? "t" : "f",
			(m->flags & MF_EMERGENCY) ? "emergency" : "normal", method_in_sql(m) ? "t" : "f");
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int compute_checksum(struct release_code *c)
{
	struct sha256 *h = sha256_new();
	for (int i = 0; i < c->files.n; i++) {
		const struct sqlfile *f = &c->files.files[i];
		sha256_add(h, f->name, strlen(f->name) + 1); /* with its NUL */
		sha256_add(h, f->text, f->len);
		sha256_add(h, "", 1);
	}
	sha256_add(h, c->method_rows, strlen(c->method_rows));
	return sha256_hex(h, c->checksum);
}

struct release_code *deploy_load(const char *sql_dir, char *err, size_t errlen)
{
	struct release_code *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(c->dir, sizeof(c->dir), "%s/api", sql_dir);
	if (sqlfile_load(c->dir, is_code_file, &c->files, err, errlen) != 0) {
		free(c);
		return NULL;
	}
	if (c->files.n == 0)
		snprintf(err, errlen, "no code (*.sql) in %s", c->dir);
	else if (!(c->method_rows = method_rows()) || compute_checksum(c) != 0)
		snprintf(err, errlen, "cannot checksum the code in %s", c->dir);
	else
		return c;
	deploy_free(c);
	return NULL;
}

void deploy_free(struct release_code *c)
{
	if (!c)
		return;
	sqlfile_free(&c->files);
	free(c->method_rows);
	free(c);
}

const char *deploy_schema(const struct release_code *c) { (void)c; return RS_CODE_SCHEMA; }

const char *deploy_checksum(const struct release_code *c) { return c->checksum; }

/* ---- what the database holds ---- */

static int has_releases_table(PGconn *db, int *yes, char *err, size_t errlen)
{
	char v[8];
	if (pgsync_value(db, SQL_HAS_RELEASES, 0, NULL, v, sizeof(v), err, errlen) != 0)
		return -1;
	*yes = strcmp(v, "t") == 0;
	return 0;
}

int deploy_state(PGconn *db, const struct release_code *c, enum deploy_state *st, char *err,
		 size_t errlen)
{
	PGresult *r;
	int exists;
	const char *argv[1] = { RS_CODE_SCHEMA };
	*st = DEPLOY_NEW;
	if (has_releases_table(db, &exists, err, errlen) != 0)
		return -1;
	if (!exists)
		return 0;
	if (pgsync_query(db, SQL_RECORDED, 1, argv, &r, err, errlen) != 0)
		return -1;
	if (PQntuples(r) == 1) {
		/* A recorded schema somebody dropped by hand is deployed again. */
		int same = strcmp(PQgetvalue(r, 0, 0), c->checksum) == 0 &&
			   strcmp(PQgetvalue(r, 0, 1), "t") == 0;
		*st = same ? DEPLOY_CURRENT : DEPLOY_CHANGED;
	}
	PQclear(r);
	return 0;
}

/* ---- deploying ---- */

/* A table must never depend on code: refuses instead of letting CASCADE
 * take the dependent objects with it. */
static int check_dependents(PGconn *db, const char *schema, char *err, size_t errlen)
{
	char list[2048];
	const char *argv[1] = { schema };
	if (pgsync_value(db, SQL_DEPENDENTS, 1, argv, list, sizeof(list), err, errlen) != 0)
		return -1;
	if (!*list)
		return 0;
	snprintf(err, errlen, "schema %s holds code that objects outside it depend on (%s): "
		 "a table must never depend on code; move those objects into a migration",
		 schema, list);
	return -1;
}

static int replace_schema(PGconn *db, const char *schema, char *err, size_t errlen)
{
	char sql[512];
	char *q = PQescapeIdentifier(db, schema, strlen(schema));
	if (!q) {
		snprintf(err, errlen, "%s", PQerrorMessage(db));
		return -1;
	}
	snprintf(sql, sizeof(sql),
		 "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s;"
		 " SET LOCAL search_path = %s, public",
		 q, q, q);
	PQfreemem(q);
	if (check_dependents(db, schema, err, errlen) != 0)
		return -1;
	return pgsync_exec(db, sql, err, errlen);
}

static int load_code(PGconn *db, const struct release_code *c, char *err, size_t errlen)
{
	char why[1024];
	const char *argv[1] = { c->method_rows };
	if (pgsync_exec(db, SQL_METHOD_TABLE, why, sizeof(why)) != 0 ||
	    pgsync_query(db, SQL_METHOD_ROWS, 1, argv, NULL, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "cannot load the method table: %s", why);
		return -1;
	}
	for (int i = 0; i < c->files.n; i++)
		if (pgsync_exec_file(db, c->dir, &c->files.files[i], err, errlen) != 0)
			return -1;
	if (pgsync_exec(db, "SELECT rs_gate_build()", why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: generating the gate (rs_gate_build): %s", c->dir, why);
		return -1;
	}
	return 0;
}

static int record_release(PGconn *db, const struct release_code *c, char *err, size_t errlen)
{
	const char *argv[3] = { RS_CODE_SCHEMA, PACKAGE_VERSION, c->checksum };
	return pgsync_query(db, SQL_RECORD, 3, argv, NULL, err, errlen);
}

/* Everything or nothing: on any failure the transaction rolls back and
 * the schema keeps the code it had. */
static int deploy_txn(PGconn *db, const struct release_code *c, char *err, size_t errlen)
{
	char ignored[256];
	int rc = pgsync_exec(db, "BEGIN", err, errlen);
	if (rc == 0)
		rc = replace_schema(db, RS_CODE_SCHEMA, err, errlen);
	if (rc == 0)
		rc = load_code(db, c, err, errlen);
	if (rc == 0)
		rc = record_release(db, c, err, errlen);
	if (rc == 0)
		rc = pgsync_exec(db, "COMMIT", err, errlen);
	if (rc != 0)
		pgsync_exec(db, "ROLLBACK", ignored, sizeof(ignored));
	return rc;
}

int deploy_run(PGconn *db, const struct release_code *c, char *err, size_t errlen)
{
	enum deploy_state st;
	if (pgsync_exec(db, SQL_RELEASES_TABLE, err, errlen) != 0 ||
	    deploy_state(db, c, &st, err, errlen) != 0)
		return -1;
	if (st == DEPLOY_CURRENT) {
		log_info("event=code_deploy schema=%s checksum=%.*s result=unchanged", RS_CODE_SCHEMA,
			 CODE_CHECKSUM_SHORT, c->checksum);
		return 0;
	}
	if (deploy_txn(db, c, err, errlen) != 0) {
		log_error("event=code_deploy schema=%s checksum=%.*s result=failed", RS_CODE_SCHEMA,
			  CODE_CHECKSUM_SHORT, c->checksum);
		return -1;
	}
	log_info("event=code_deploy schema=%s checksum=%.*s files=%d result=%s", RS_CODE_SCHEMA,
		 CODE_CHECKSUM_SHORT, c->checksum, c->files.n,
		 st == DEPLOY_NEW ? "deployed" : "redeployed");
	return 0;
}

/* ---- other releases ---- */

/* Only names a daemon can have written: a stray row naming, say, public
 * must never lead to DROP SCHEMA public CASCADE. */
static int is_release_schema(const char *name)
{
	if (strncmp(name, "api_", 4) != 0 || !name[4])
		return 0;
	return strspn(name + 4, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(name + 4);
}

static int drop_one(PGconn *db, const char *schema, char *err, size_t errlen)
{
	char sql[256], ignored[256];
	const char *argv[1] = { schema };
	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS \"%s\" CASCADE", schema);
	int rc = pgsync_exec(db, "BEGIN", err, errlen);
	if (rc == 0)
		rc = check_dependents(db, schema, err, errlen);
	if (rc == 0)
		rc = pgsync_exec(db, sql, err, errlen);
	if (rc == 0)
		rc = pgsync_query(db, "DELETE FROM public.code_release WHERE schema_name = $1", 1,
				  argv, NULL, err, errlen);
	if (rc == 0)
		rc = pgsync_exec(db, "COMMIT", err, errlen);
	if (rc != 0) {
		pgsync_exec(db, "ROLLBACK", ignored, sizeof(ignored));
		return -1;
	}
	log_info("event=code_drop schema=%s result=dropped", schema);
	return 0;
}

int deploy_drop_old(PGconn *db, const struct release_code *c, int dry_run, FILE *out, char *err,
		    size_t errlen)
{
	PGresult *r;
	int exists, rc = 0;
	const char *argv[1] = { deploy_schema(c) };
	if (has_releases_table(db, &exists, err, errlen) != 0)
		return -1;
	if (!exists)
		return 0; /* nothing was ever deployed */
	if (pgsync_query(db, "SELECT schema_name FROM public.code_release WHERE schema_name <> $1"
			     " ORDER BY schema_name", 1, argv, &r, err, errlen) != 0)
		return -1;
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		const char *s = PQgetvalue(r, i, 0);
		if (!is_release_schema(s))
			log_warn("event=code_drop schema=\"%s\" result=skipped reason=not_a_release_schema", s);
		else if (dry_run)
			fprintf(out, "would drop the code of another release: schema %s\n", s);
		else
			rc = drop_one(db, s, err, errlen);
	}
	PQclear(r);
	return rc;
}

int deploy_describe(PGconn *db, FILE *out, char *err, size_t errlen)
{
	PGresult *r;
	int exists;
	if (has_releases_table(db, &exists, err, errlen) != 0)
		return -1;
	if (!exists) {
		fprintf(out, "database code_release = (none)\n");
		return 0;
	}
	if (pgsync_query(db, "SELECT schema_name, left(checksum, 12), release, deployed_at"
			     "  FROM public.code_release ORDER BY deployed_at, schema_name",
			 0, NULL, &r, err, errlen) != 0)
		return -1;
	for (int i = 0; i < PQntuples(r); i++)
		fprintf(out, "database code_release = %s %s (release %s, deployed %s)\n",
			PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
			PQgetvalue(r, i, 3));
	if (PQntuples(r) == 0)
		fprintf(out, "database code_release = (none)\n");
	PQclear(r);
	return 0;
}
