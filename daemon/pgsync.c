#include "pgsync.h"
#include "sqlfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void quiet_notice(void *arg, const char *msg) { (void)arg; (void)msg; }

PGconn *pgsync_connect(const char *conninfo, const char *search_path, int timeout_s, char *err,
		       size_t errlen)
{
	char options[256], timeout[16];
	snprintf(options, sizeof(options), "-c search_path=%s", search_path);
	snprintf(timeout, sizeof(timeout), "%d", timeout_s);
	/* Later keywords override what the conninfo string expands to; a NULL
	 * value leaves the conninfo's own. */
	const char *kw[] = { "dbname", "options", "fallback_application_name", "connect_timeout",
			     NULL };
	const char *val[] = { conninfo, options, "respited", timeout_s > 0 ? timeout : NULL, NULL };
	PGconn *db = PQconnectdbParams(kw, val, 1);
	if (PQstatus(db) != CONNECTION_OK) {
		snprintf(err, errlen, "cannot connect to PostgreSQL: %s", PQerrorMessage(db));
		PQfinish(db);
		return NULL;
	}
	PQsetNoticeProcessor(db, quiet_notice, NULL);
	return db;
}

const char *pgsync_message(const PGresult *r)
{
	const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	return m ? m : PQresultErrorMessage(r);
}

int pgsync_query(PGconn *db, const char *sql, int nparams, const char *const *params,
		 PGresult **res, char *err, size_t errlen)
{
	PGresult *r = nparams > 0 ? PQexecParams(db, sql, nparams, NULL, params, NULL, NULL, 0)
				  : PQexec(db, sql);
	ExecStatusType st = PQresultStatus(r);
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok)
		snprintf(err, errlen, "%s", r ? pgsync_message(r) : PQerrorMessage(db));
	if (res && ok)
		*res = r;
	else
		PQclear(r);
	return ok ? 0 : -1;
}

int pgsync_exec(PGconn *db, const char *sql, char *err, size_t errlen)
{
	return pgsync_query(db, sql, 0, NULL, NULL, err, errlen);
}

int pgsync_value(PGconn *db, const char *sql, int nparams, const char *const *params,
		 char *out, size_t outlen, char *err, size_t errlen)
{
	PGresult *r;
	if (pgsync_query(db, sql, nparams, params, &r, err, errlen) != 0)
		return -1;
	int has = PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0);
	snprintf(out, outlen, "%s", has ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return 0;
}

int pgsync_exec_file(PGconn *db, const char *dir, const struct sqlfile *f, char *err,
		     size_t errlen)
{
	PGresult *r = PQexec(db, f->text);
	ExecStatusType st = PQresultStatus(r);
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
	if (!ok) {
		const char *pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
		const char *why = r ? pgsync_message(r) : PQerrorMessage(db);
		if (pos)
			snprintf(err, errlen, "%s/%s:%d: %s", dir, f->name,
				 sqlfile_line_at(f->text, atol(pos)), why);
		else
			snprintf(err, errlen, "%s/%s: %s", dir, f->name, why);
	} else if (PQtransactionStatus(db) != PQTRANS_INTRANS) {
		/* A COMMIT inside would make the rest of the file, and what
		 * follows it, no longer all or nothing. */
		snprintf(err, errlen, "%s/%s: ends the transaction it runs in (no BEGIN, COMMIT or "
			 "ROLLBACK in SQL files)", dir, f->name);
		ok = 0;
	}
	PQclear(r);
	return ok ? 0 : -1;
}
