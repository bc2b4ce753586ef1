/*
 * Blocking libpq for the start-up work (migrations, code deploy, the first
 * admin, --check-config): it runs before the event loop, the only place
 * blocking calls are allowed. Every function reports failure as -1 with a
 * message in err.
 */
#ifndef RS_PGSYNC_H
#define RS_PGSYNC_H

#include <libpq-fe.h>
#include <stddef.h>

struct sqlfile;

/* Connects with search_path set (it overrides the conninfo's and
 * PGOPTIONS'), server notices silenced; timeout_s > 0 caps the wait for
 * the server. NULL on failure. */
PGconn *pgsync_connect(const char *conninfo, const char *search_path, int timeout_s, char *err,
		       size_t errlen);

/* One statement (or several, without parameters); its rows are dropped. */
int pgsync_exec(PGconn *db, const char *sql, char *err, size_t errlen);
/* One statement with text parameters; *res (when res is not NULL) gets the
 * result, to PQclear. */
int pgsync_query(PGconn *db, const char *sql, int nparams, const char *const *params,
		 PGresult **res, char *err, size_t errlen);
/* The first column of the first row, copied into out ("" for none or NULL). */
int pgsync_value(PGconn *db, const char *sql, int nparams, const char *const *params,
		 char *out, size_t outlen, char *err, size_t errlen);

/* The primary message of a failed result (one line, no "ERROR:"). */
const char *pgsync_message(const PGresult *r);

/* Runs a whole SQL file (sql/schema or sql/api) as one simple-query string
 * inside the caller's transaction, which it must not end. On failure err
 * reads "DIR/NAME:LINE: why", the line found from the error's position
 * (or "DIR/NAME: why" when PostgreSQL gives none). */
int pgsync_exec_file(PGconn *db, const char *dir, const struct sqlfile *f, char *err,
		     size_t errlen);

#endif
