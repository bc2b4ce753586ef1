/*
 * Code deploy. A release's SQL code (the .sql files of sql_dir/api:
 * functions and types, no data) lives in a schema of its own, RS_CODE_SCHEMA
 * ("api_" + the version), which the release's daemons put first in their
 * search_path. At start the schema is replaced whole, in one transaction,
 * when its files or the method table changed; otherwise it is left alone.
 * So daemons of two releases can share one database during an upgrade,
 * each calling its own code, and a code change needs no migration.
 *
 * public.code_release records each deployed schema with the checksum of
 * what was deployed: SHA-256 over every code file's name, a NUL, its text,
 * a NUL, in name order, then the method table rows (see deploy.c).
 *
 * All of it runs on the start-up connection, under the migrations'
 * advisory lock, before the event loop (blocking libpq).
 */
#ifndef RS_DEPLOY_H
#define RS_DEPLOY_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdio.h>

#define CODE_CHECKSUM_SHORT 12 /* hex digits shown to people */

struct release_code;

/* Reads sql_dir/api/ and the method table; NULL with a message in err. */
struct release_code *deploy_load(const char *sql_dir, char *err, size_t errlen);
void deploy_free(struct release_code *c);
const char *deploy_schema(const struct release_code *c);
const char *deploy_checksum(const struct release_code *c);

enum deploy_state {
	DEPLOY_CURRENT, /* the database holds exactly this code */
	DEPLOY_NEW,     /* this release's schema is not there yet */
	DEPLOY_CHANGED, /* it is there, with other code */
};

/* Compares with the database; a missing public.code_release counts as
 * nothing deployed, and nothing is created. Returns 0 or -1. */
int deploy_state(PGconn *db, const struct release_code *c, enum deploy_state *st, char *err,
		 size_t errlen);

/* Deploys unless current: creates public.code_release if needed, then
 * in one transaction replaces the schema, loads the method table and
 * every file, generates the gate and records the checksum. A file that
 * fails leaves the old code as it was; err then reads "FILE:LINE: why". */
int deploy_run(PGconn *db, const struct release_code *c, char *err, size_t errlen);

/* Drops every schema code_release lists other than this release's, and
 * their rows (each only when nothing outside it depends on it). With
 * dry_run it only writes what it would drop to out. */
int deploy_drop_old(PGconn *db, const struct release_code *c, int dry_run, FILE *out, char *err,
		    size_t errlen);

/* Writes what code_release holds, one "database code_release = ..." line
 * per schema, for --check-config. */
int deploy_describe(PGconn *db, FILE *out, char *err, size_t errlen);

#endif
