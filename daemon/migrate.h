/*
 * Start-up work on the database, done before the event loop runs (the only
 * place blocking libpq calls are allowed): apply pending migrations and
 * create the first admin.
 */
#ifndef RS_MIGRATE_H
#define RS_MIGRATE_H

#include <stddef.h>

/* Applies every sql_dir/NNN_*.sql not yet recorded, in order, each in its
 * own transaction. Returns 0, or -1 with a message in err. Several daemons
 * starting together serialise on an advisory lock. */
int migrate_run(const char *conninfo, const char *sql_dir, char *err, size_t errlen);

/* Creates the first admin when there is none and a password is configured. */
int migrate_bootstrap_admin(const char *conninfo, const char *user, const char *password,
			    int iterations, char *err, size_t errlen);

#endif
