#include "migrate.h"
#include "autoconf.h"
#include "deploy.h"
#include "kdf.h"
#include "log.h"
#include "pgsync.h"
#include "sqlfile.h"

#include <stdlib.h>
#include <string.h>

/* Daemons starting together take turns on this lock; it is released when
 * the start-up connection closes. */
static const char SQL_LOCK[] = "SELECT pg_advisory_lock(727274)";

/* The first release made the table without a checksum column: its rows
 * are adopted (see plan_steps). */
static const char SQL_LEDGER[] =
	"CREATE TABLE IF NOT EXISTS public.schema_migration ("
	" name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now(), checksum text);"
	"ALTER TABLE public.schema_migration ADD COLUMN IF NOT EXISTS checksum text";

static const char SQL_LEDGER_SHAPE[] =
	"SELECT to_regclass('public.schema_migration') IS NOT NULL,"
	"       EXISTS (SELECT 1 FROM pg_attribute"
	"                WHERE attrelid = to_regclass('public.schema_migration')"
	"                  AND attname = 'checksum' AND NOT attisdropped)";

static const char SQL_LEVEL[] = "SELECT max(name) FROM public.schema_migration";

enum step {
	STEP_KEEP,  /* applied, checksum matches */
	STEP_ADOPT, /* applied by the first release, which recorded no checksum */
	STEP_APPLY, /* not applied yet */
};

/* The migrations on disk and what to do with each. */
struct plan {
	char dir[4096]; /* sql_dir/schema */
	struct sqlfile_set files;
	char sums[SQLFILE_MAX][SHA256_HEX_LEN + 1];
	enum step steps[SQLFILE_MAX];
};

static int is_migration(const char *name)
{
	size_t n = strlen(name);
	return n > 8 && name[0] >= '0' && name[0] <= '9' && name[1] >= '0' && name[1] <= '9' &&
	       name[2] >= '0' && name[2] <= '9' && name[3] == '_' &&
	       strcmp(name + n - 4, ".sql") == 0;
}

static void plan_free(struct plan *p)
{
	if (!p)
		return;
	sqlfile_free(&p->files);
	free(p);
}

static struct plan *plan_load(const char *sql_dir, char *err, size_t errlen)
{
	struct plan *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(p->dir, sizeof(p->dir), "%s/schema", sql_dir);
	if (sqlfile_load(p->dir, is_migration, &p->files, err, errlen) != 0) {
		free(p);
		return NULL;
	}
	for (int i = 0; i < p->files.n; i++)
		if (sha256_hex_of(p->files.files[i].text, p->files.files[i].len, p->sums[i]) != 0) {
			snprintf(err, errlen, "cannot checksum %s", p->files.files[i].name);
			plan_free(p);
			return NULL;
		}
	return p;
}

/* (name, checksum) of every recorded migration; none when the table does
 * not exist yet (a dry run creates nothing). */
static int recorded(PGconn *db, PGresult **rec, char *err, size_t errlen)
{
	PGresult *r;
	if (pgsync_query(db, SQL_LEDGER_SHAPE, 0, NULL, &r, err, errlen) != 0)
		return -1;
	int has_table = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	int has_sum = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
	PQclear(r);
	const char *sql = !has_table ? "SELECT NULL::text, NULL::text WHERE false"
			  : has_sum  ? "SELECT name, checksum FROM public.schema_migration"
				     : "SELECT name, NULL::text FROM public.schema_migration";
	return pgsync_query(db, sql, 0, NULL, rec, err, errlen);
}

static int find_row(const PGresult *rec, const char *name)
{
	for (int i = 0; i < PQntuples(rec); i++)
		if (strcmp(PQgetvalue(rec, i, 0), name) == 0)
			return i;
	return -1;
}

/* Decides every step before any is taken, so that an edited migration
 * stops the start with nothing changed. */
static int plan_steps(struct plan *p, const PGresult *rec, char *err, size_t errlen)
{
	for (int i = 0; i < p->files.n; i++) {
		const char *name = p->files.files[i].name;
		int row = find_row(rec, name);
		if (row < 0)
			p->steps[i] = STEP_APPLY;
		else if (PQgetisnull(rec, row, 1))
			p->steps[i] = STEP_ADOPT;
		else if (strcmp(PQgetvalue(rec, row, 1), p->sums[i]) == 0)
			p->steps[i] = STEP_KEEP;
		else {
			snprintf(err, errlen, "migration %s was changed after it was applied (its "
				 "checksum differs from the one recorded): restore the released file "
				 "and put the change in a new migration", name);
			return -1;
		}
	}
	return 0;
}

/* One migration, all or nothing. */
static int apply_one(PGconn *db, const struct plan *p, int i, char *err, size_t errlen)
{
	char why[1024], ignored[256];
	const struct sqlfile *f = &p->files.files[i];
	const char *argv[2] = { f->name, p->sums[i] };
	int rc = pgsync_exec(db, "BEGIN", why, sizeof(why));
	if (rc == 0)
		rc = pgsync_exec_file(db, p->dir, f, why, sizeof(why));
	if (rc == 0)
		rc = pgsync_query(db, "INSERT INTO public.schema_migration (name, checksum)"
				      " VALUES ($1, $2)", 2, argv, NULL, why, sizeof(why));
	if (rc == 0)
		rc = pgsync_exec(db, "COMMIT", why, sizeof(why));
	if (rc != 0) {
		pgsync_exec(db, "ROLLBACK", ignored, sizeof(ignored));
		snprintf(err, errlen, "migration %s failed, nothing of it was applied: %s", f->name,
			 why);
		return -1;
	}
	log_info("event=migration name=%s result=applied", f->name);
	return 0;
}

/* The file is taken as the one that was applied: the first release could
 * not record what it applied, and a database it made has no other record. */
static int adopt_one(PGconn *db, const struct plan *p, int i, char *err, size_t errlen)
{
	const char *argv[2] = { p->files.files[i].name, p->sums[i] };
	if (pgsync_query(db, "UPDATE public.schema_migration SET checksum = $2"
			     " WHERE name = $1 AND checksum IS NULL", 2, argv, NULL, err, errlen) != 0)
		return -1;
	log_info("event=migration name=%s result=adopted", argv[0]);
	return 0;
}

static int migrate_all(PGconn *db, struct plan *p, char *err, size_t errlen)
{
	PGresult *rec;
	if (pgsync_exec(db, SQL_LEDGER, err, errlen) != 0 || recorded(db, &rec, err, errlen) != 0)
		return -1;
	int rc = plan_steps(p, rec, err, errlen);
	PQclear(rec);
	for (int i = 0; rc == 0 && i < p->files.n; i++) {
		if (p->steps[i] == STEP_ADOPT)
			rc = adopt_one(db, p, i, err, errlen);
		else if (p->steps[i] == STEP_APPLY)
			rc = apply_one(db, p, i, err, errlen);
	}
	return rc;
}

/* "005_versioned_code.sql" -> "005_versioned_code" */
static void level_of(const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);
	if (n > 4 && strcmp(name + n - 4, ".sql") == 0)
		n -= 4;
	snprintf(out, outlen, "%.*s", (int)n, name);
}

static int fill_info(PGconn *db, const struct release_code *code, struct release_info *info,
		     char *err, size_t errlen)
{
	char level[128];
	if (!info)
		return 0;
	if (pgsync_value(db, SQL_LEVEL, 0, NULL, level, sizeof(level), err, errlen) != 0)
		return -1;
	level_of(level, info->schema_level, sizeof(info->schema_level));
	snprintf(info->code_schema, sizeof(info->code_schema), "%s", deploy_schema(code));
	snprintf(info->code_checksum, sizeof(info->code_checksum), "%s", deploy_checksum(code));
	return 0;
}

static int run_for_real(PGconn *db, struct plan *p, const struct release_code *code,
			const struct migrate_opts *o, struct release_info *info, char *err,
			size_t errlen)
{
	if (migrate_all(db, p, err, errlen) != 0 || deploy_run(db, code, err, errlen) != 0)
		return -1;
	if (o->drop_old_code && deploy_drop_old(db, code, 0, o->out, err, errlen) != 0)
		return -1;
	return fill_info(db, code, info, err, errlen);
}

static void print_plan(const struct plan *p, FILE *out)
{
	int changes = 0;
	for (int i = 0; i < p->files.n; i++) {
		const char *name = p->files.files[i].name;
		if (p->steps[i] == STEP_APPLY)
			fprintf(out, "would apply migration %s\n", name);
		else if (p->steps[i] == STEP_ADOPT)
			fprintf(out, "would adopt migration %s (applied by the first release, which "
				     "recorded no checksum)\n", name);
		changes += p->steps[i] != STEP_KEEP;
	}
	if (!changes)
		fprintf(out, "migrations: none to apply (%d applied)\n", p->files.n);
}

static int dry_run(PGconn *db, struct plan *p, const struct release_code *code,
		   const struct migrate_opts *o, char *err, size_t errlen)
{
	static const char *const verdict[] = { [DEPLOY_CURRENT] = "up to date",
					       [DEPLOY_NEW] = "would be deployed",
					       [DEPLOY_CHANGED] = "would be redeployed" };
	PGresult *rec;
	enum deploy_state st;
	if (recorded(db, &rec, err, errlen) != 0)
		return -1;
	int rc = plan_steps(p, rec, err, errlen);
	PQclear(rec);
	if (rc != 0 || deploy_state(db, code, &st, err, errlen) != 0)
		return -1;
	print_plan(p, o->out);
	fprintf(o->out, "code %s (checksum %.*s): %s\n", deploy_schema(code), CODE_CHECKSUM_SHORT,
		deploy_checksum(code), verdict[st]);
	if (o->drop_old_code)
		return deploy_drop_old(db, code, 1, o->out, err, errlen);
	return 0;
}

int migrate_run(const char *conninfo, const char *sql_dir, const struct migrate_opts *o,
		struct release_info *info, char *err, size_t errlen)
{
	struct plan *p = plan_load(sql_dir, err, errlen);
	struct release_code *code = p ? deploy_load(sql_dir, err, errlen) : NULL;
	/* Migrations create tables in public, whatever PGOPTIONS says. */
	PGconn *db = code ? pgsync_connect(conninfo, "public", 0, err, errlen) : NULL;
	int rc = db ? pgsync_exec(db, SQL_LOCK, err, errlen) : -1;
	if (rc == 0 && o->dry_run)
		rc = dry_run(db, p, code, o, err, errlen);
	else if (rc == 0)
		rc = run_for_real(db, p, code, o, info, err, errlen);
	PQfinish(db); /* also releases the advisory lock */
	deploy_free(code);
	plan_free(p);
	return rc;
}

/* ---- --check-config ---- */

static void describe_database(const char *conninfo, FILE *out)
{
	char why[512], level[128], shown[128];
	PGconn *db = pgsync_connect(conninfo, "public", 5, why, sizeof(why));
	if (!db) {
		why[strcspn(why, "\n")] = '\0';
		fprintf(out, "database = not reachable (%s)\n", why);
		return;
	}
	PGresult *rec = NULL;
	if (recorded(db, &rec, why, sizeof(why)) == 0 && PQntuples(rec) > 0 &&
	    pgsync_value(db, SQL_LEVEL, 0, NULL, level, sizeof(level), why, sizeof(why)) == 0) {
		level_of(level, shown, sizeof(shown));
		fprintf(out, "database schema_level = %s\n", shown);
	} else {
		fprintf(out, "database schema_level = (none)\n");
	}
	PQclear(rec);
	if (deploy_describe(db, out, why, sizeof(why)) != 0)
		fprintf(out, "database code_release = unknown (%s)\n", why);
	PQfinish(db);
}

int migrate_describe(const char *conninfo, const char *sql_dir, FILE *out, char *err,
		     size_t errlen)
{
	char level[128] = "(none)";
	struct plan *p = plan_load(sql_dir, err, errlen);
	struct release_code *code = p ? deploy_load(sql_dir, err, errlen) : NULL;
	if (!code) {
		plan_free(p);
		return -1;
	}
	if (p->files.n > 0)
		level_of(p->files.files[p->files.n - 1].name, level, sizeof(level));
	fprintf(out, "schema_level = %s\ncode_release = %s %.*s\n", level, deploy_schema(code),
		CODE_CHECKSUM_SHORT, deploy_checksum(code));
	describe_database(conninfo, out);
	deploy_free(code);
	plan_free(p);
	return 0;
}

/* ---- the first admin ---- */

static void to_hex(const unsigned char *in, size_t n, char *out)
{
	out[0] = '\\';
	out[1] = 'x';
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i + 2, "%02x", in[i]);
}

int migrate_bootstrap_admin(const char *conninfo, const char *user, const char *password,
			    int iterations, char *err, size_t errlen)
{
	unsigned char salt[KDF_SALT_LEN], hash[KDF_HASH_LEN];
	char salthex[2 * KDF_SALT_LEN + 3], hashhex[2 * KDF_HASH_LEN + 3], iter[16], made[8];
	char why[512];
	if (!*password)
		return 0;
	if (kdf_new_salt(salt) != 0 || kdf_hash(password, salt, sizeof(salt), iterations, hash)) {
		snprintf(err, errlen, "cannot hash the admin password");
		return -1;
	}
	to_hex(salt, sizeof(salt), salthex);
	to_hex(hash, sizeof(hash), hashhex);
	snprintf(iter, sizeof(iter), "%d", iterations);
	PGconn *db = pgsync_connect(conninfo, RS_CODE_SCHEMA ",public", 0, err, errlen);
	if (!db)
		return -1;
	const char *argv[4] = { user, salthex, hashhex, iter };
	int rc = pgsync_value(db, "SELECT rs_bootstrap_admin($1, $2::bytea, $3::bytea, $4)", 4,
			      argv, made, sizeof(made), why, sizeof(why));
	if (rc != 0)
		snprintf(err, errlen, "cannot create the first admin: %s", why);
	else if (strcmp(made, "t") == 0)
		log_info("event=bootstrap_admin user=%s result=created", user);
	PQfinish(db);
	return rc;
}
