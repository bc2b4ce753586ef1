/*
 * Start-up work on the database, done before the event loop runs (the only
 * place blocking libpq calls are allowed): apply pending schema migrations,
 * deploy this release's code (deploy.h), create the first admin.
 *
 * Migrations (sql_dir/schema/NNN_name.sql) are append-only: each is
 * applied once, in name order, in its own transaction, and recorded in
 * public.schema_migration with the SHA-256 of the file. A file that no
 * longer matches its checksum stops the start.
 */
#ifndef RS_MIGRATE_H
#define RS_MIGRATE_H

#include <stddef.h>
#include <stdio.h>

/* What this daemon found and left in the database at start, for
 * system.version. */
struct release_info {
	char schema_level[128];  /* newest migration recorded, without ".sql" */
	char code_schema[64];    /* this release's code schema */
	char code_checksum[65];  /* of the code deployed there (hex) */
};

struct migrate_opts {
	int dry_run;       /* change nothing; print what would be done to out */
	int drop_old_code; /* then drop the code of every other release */
	FILE *out;
};

/* Migrations, then the code deploy, then (drop_old_code) the other
 * releases' code, all under one advisory lock so that daemons starting
 * together take turns: the later ones find the work done. Fills info
 * (may be NULL). Returns 0, or -1 with a message in err. */
int migrate_run(const char *conninfo, const char *sql_dir, const struct migrate_opts *o,
		struct release_info *info, char *err, size_t errlen);

/* --check-config: the schema level and code of the files in sql_dir and,
 * when it can connect, of the database. Returns -1 only when the files
 * cannot be read. */
int migrate_describe(const char *conninfo, const char *sql_dir, FILE *out, char *err,
		     size_t errlen);

/* Creates the first admin when there is none and a password is configured. */
int migrate_bootstrap_admin(const char *conninfo, const char *user, const char *password,
			    int iterations, char *err, size_t errlen);

#endif
