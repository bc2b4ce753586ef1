#include "migrate.h"
#include "kdf.h"
#include "log.h"

#include <dirent.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MIGRATIONS 512

static int exec_ok(PGconn *db, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(db, sql);
	ExecStatusType st = PQresultStatus(r);
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok)
		snprintf(err, errlen, "%s", PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

static int is_migration(const char *name)
{
	size_t n = strlen(name);
	return n > 8 && name[0] >= '0' && name[0] <= '9' && name[1] >= '0' && name[1] <= '9' &&
	       name[2] >= '0' && name[2] <= '9' && name[3] == '_' &&
	       strcmp(name + n - 4, ".sql") == 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted migration file names; returns count or -1. */
static int list_migrations(const char *dir, char **names, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "cannot open SQL folder %s", dir);
		return -1;
	}
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < MAX_MIGRATIONS)
		if (is_migration(e->d_name))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, (size_t)n, sizeof(char *), cmp_names);
	return n;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = len >= 0 ? malloc((size_t)len + 1) : NULL;
	if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[len] = '\0';
	fclose(f);
	return buf;
}

static int is_applied(PGconn *db, const char *name)
{
	const char *argv[1] = { name };
	PGresult *r = PQexecParams(db, "SELECT 1 FROM schema_migration WHERE name = $1", 1, NULL,
				   argv, NULL, NULL, 0);
	int yes = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
	PQclear(r);
	return yes;
}

/* One migration, all or nothing. */
static int apply_one(PGconn *db, const char *dir, const char *name, char *err, size_t errlen)
{
	char path[1024], why[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	char *sql = read_file(path);
	if (!sql) {
		snprintf(err, errlen, "cannot read %s", path);
		return -1;
	}
	const char *argv[1] = { name };
	int rc = exec_ok(db, "BEGIN", why, sizeof(why));
	if (rc == 0)
		rc = exec_ok(db, sql, why, sizeof(why));
	if (rc == 0) {
		PGresult *r = PQexecParams(db, "INSERT INTO schema_migration (name) VALUES ($1)", 1,
					   NULL, argv, NULL, NULL, 0);
		rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
		if (rc)
			snprintf(why, sizeof(why), "%s", PQresultErrorMessage(r));
		PQclear(r);
	}
	if (rc == 0)
		rc = exec_ok(db, "COMMIT", why, sizeof(why));
	free(sql);
	if (rc != 0) {
		exec_ok(db, "ROLLBACK", why + strlen(why), sizeof(why) - strlen(why));
		snprintf(err, errlen, "migration %s failed, nothing of it was applied: %s", name, why);
		return -1;
	}
	log_info("event=migration name=%s result=applied", name);
	return 0;
}

static PGconn *connect_blocking(const char *conninfo, char *err, size_t errlen)
{
	PGconn *db = PQconnectdb(conninfo);
	if (PQstatus(db) != CONNECTION_OK) {
		snprintf(err, errlen, "cannot connect to PostgreSQL: %s", PQerrorMessage(db));
		PQfinish(db);
		return NULL;
	}
	return db;
}

static void quiet_notice(void *arg, const char *msg) { (void)arg; (void)msg; }

int migrate_run(const char *conninfo, const char *sql_dir, char *err, size_t errlen)
{
	char *names[MAX_MIGRATIONS];
	PGconn *db = connect_blocking(conninfo, err, errlen);
	if (!db)
		return -1;
	PQsetNoticeProcessor(db, quiet_notice, NULL);
	int n = list_migrations(sql_dir, names, err, errlen);
	int rc = n < 0 ? -1 : 0;
	if (rc == 0)
		rc = exec_ok(db, "SELECT pg_advisory_lock(727274)", err, errlen);
	if (rc == 0)
		rc = exec_ok(db, "CREATE TABLE IF NOT EXISTS schema_migration ("
				 " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
			     err, errlen);
	for (int i = 0; rc == 0 && i < n; i++)
		if (!is_applied(db, names[i]))
			rc = apply_one(db, sql_dir, names[i], err, errlen);
	for (int i = 0; i < n; i++)
		free(names[i]);
	PQfinish(db); /* also releases the advisory lock */
	return rc;
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
	out[0] = '\\';
	out[1] = 'x';
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 + 2 * i, "%02x", in[i]);
}

int migrate_bootstrap_admin(const char *conninfo, const char *user, const char *password,
			    int iterations, char *err, size_t errlen)
{
	unsigned char salt[KDF_SALT_LEN], hash[KDF_HASH_LEN];
	char salthex[2 * KDF_SALT_LEN + 3], hashhex[2 * KDF_HASH_LEN + 3], iter[16];
	if (!*password)
		return 0;
	if (kdf_new_salt(salt) != 0 || kdf_hash(password, salt, sizeof(salt), iterations, hash)) {
		snprintf(err, errlen, "cannot hash the admin password");
		return -1;
	}
	to_hex(salt, sizeof(salt), salthex);
	to_hex(hash, sizeof(hash), hashhex);
	snprintf(iter, sizeof(iter), "%d", iterations);
	PGconn *db = connect_blocking(conninfo, err, errlen);
	if (!db)
		return -1;
	const char *argv[4] = { user, salthex, hashhex, iter };
	PGresult *r = PQexecParams(db, "SELECT rs_bootstrap_admin($1, $2::bytea, $3::bytea, $4)", 4,
				   NULL, argv, NULL, NULL, 0);
	int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
	if (rc)
		snprintf(err, errlen, "cannot create the first admin: %s", PQresultErrorMessage(r));
	else if (strcmp(PQgetvalue(r, 0, 0), "t") == 0)
		log_info("event=bootstrap_admin user=%s result=created", user);
	PQclear(r);
	PQfinish(db);
	return rc;
}
