/*
 * Upgrading a database made by the first release (0.1.0): the fixture
 * tests/fixtures/release-0.1.0.sql is restored into a fresh database, what
 * it holds is recorded from its tables alone (the old functions are gone
 * once the new daemon has upgraded it), and the daemon of this tree is
 * started on it. Nothing may be lost or changed: the same bookings,
 * balances, ledger, sessions and users, the same rows in every table; the
 * old session token still works and the held booking can still be
 * confirmed. Every file of sql/schema/ is then recorded with its checksum,
 * and a second start changes nothing.
 *
 * The fixture is never regenerated (tests/fixtures/README): when this test
 * fails, the upgrade is wrong, not the fixture.
 */
#include "harness.h"

#include <check.h>
#include <errno.h>
#include <glob.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RELEASE "0.1.0"

static char fixture_sql[1024], fixture_json[1024], invariants_sql[1024], schema_dir[1024];
static json_object *fx; /* release-0.1.0.json */

/* Tables whose rows a migration after 0.1.0 changes on purpose, so the
 * snapshot leaves them out (each checked on its own instead). */
static const char *const changed_by_design[] = { "schema_migration", NULL };

/* ---- small helpers ---- */

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_add(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_add(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
		va_end(ap);
		ck_assert_int_ge(n, 0);
		if (b->p && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
		if (b->len == 0)
			b->p[0] = '\0';
	}
}

static char *buf_take(struct buf *b)
{
	if (!b->p)
		return strdup("");
	char *p = b->p;
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

static long fx_int(const char *key)
{
	json_object *v = h_get(fx, key);
	ck_assert_msg(v != NULL, "%s has no \"%s\"", fixture_json, key);
	return (long)json_object_get_int64(v);
}

static const char *fx_str(const char *key)
{
	json_object *v = h_get(fx, key);
	ck_assert_msg(v != NULL, "%s has no \"%s\"", fixture_json, key);
	return json_object_get_string(v);
}

/* Runs argv (a program found on PATH) with its stdout and stderr captured
 * into *out (malloc'd); returns its exit status, or -1. */
static int run_capture(char *const argv[], char **out)
{
	char path[] = "/tmp/respite-upgrade-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execvp(argv[0], argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	struct buf b = { 0 };
	char chunk[4096];
	ssize_t n;
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(&b, "%.*s", (int)n, chunk);
	close(fd);
	*out = buf_take(&b);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\n' && *s != '\r' && *s != '\t')
			return 0;
	return 1;
}

/* ---- the database ---- */

static void quiet(void *arg, const char *msg) { (void)arg; (void)msg; }

static PGconn *db_open(const char *conninfo)
{
	PGconn *db = PQconnectdb(conninfo);
	ck_assert_msg(PQstatus(db) == CONNECTION_OK, "connect: %s", PQerrorMessage(db));
	PQsetNoticeProcessor(db, quiet, NULL);
	return db;
}

/* Every row of the query as text, columns joined by '|', each row ended
 * by '\n', NULL as "NULL". Returns NULL on an SQL error, with the message
 * in err. */
static char *q_text(PGconn *db, const char *sql, int nparams, const char *const *params, char *err,
		    size_t errlen)
{
	PGresult *r = PQexecParams(db, sql, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "%s", PQresultErrorMessage(r));
		PQclear(r);
		return NULL;
	}
	struct buf b = { 0 };
	for (int i = 0; i < PQntuples(r); i++) {
		for (int j = 0; j < PQnfields(r); j++)
			buf_add(&b, "%s%s", j ? "|" : "", PQgetisnull(r, i, j) ? "NULL" : PQgetvalue(r, i, j));
		buf_add(&b, "\n");
	}
	PQclear(r);
	return buf_take(&b);
}

static char *q_must(PGconn *db, const char *sql, int nparams, const char *const *params)
{
	char err[1024];
	char *v = q_text(db, sql, nparams, params, err, sizeof(err));
	ck_assert_msg(v != NULL, "query failed: %s\n%s", err, sql);
	return v;
}

/* One value of a query run on its own connection (malloc'd, no newline). */
static char *value_of(const char *conninfo, const char *sql, int nparams, const char *const *params)
{
	PGconn *db = db_open(conninfo);
	char *v = q_must(db, sql, nparams, params);
	PQfinish(db);
	size_t n = strlen(v);
	if (n && v[n - 1] == '\n')
		v[n - 1] = '\0';
	return v;
}

/* A fresh database holding the fixture, restored with psql as a release's
 * operator would; returns its conninfo (static). */
static const char *restore_fixture(const char *suite)
{
	static char conninfo[1024];
	snprintf(conninfo, sizeof(conninfo), "%s", h_db_create(suite));
	char *const argv[] = { "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null",
			       "-d", conninfo, "-f", fixture_sql, NULL };
	char *out = NULL;
	int rc = run_capture(argv, &out);
	ck_assert_msg(rc == 0, "restoring %s failed (psql exit %d):\n%s", fixture_sql, rc, out);
	free(out);
	return conninfo;
}

/* Every query of sql/invariants.sql returns no rows. */
static void check_invariants(const char *conninfo, const char *when)
{
	char db[1024];
	snprintf(db, sizeof(db), "%s", conninfo);
	char *const argv[] = { "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
			       "-d", db, "-f", invariants_sql, NULL };
	char *out = NULL;
	int rc = run_capture(argv, &out);
	ck_assert_msg(rc == 0, "sql/invariants.sql failed %s (psql exit %d):\n%s", when, rc, out);
	ck_assert_msg(blank(out), "an invariant is broken %s:\n%s", when, out);
	free(out);
}

/* ---- the snapshot: tables only ---- */

#define SNAP_MAX 256

struct snap {
	int n;
	char *name[SNAP_MAX], *query[SNAP_MAX], *value[SNAP_MAX];
};

static void snap_add(struct snap *s, PGconn *db, const char *name, const char *query)
{
	ck_assert_int_lt(s->n, SNAP_MAX);
	s->name[s->n] = strdup(name);
	s->query[s->n] = strdup(query);
	s->value[s->n] = q_must(db, query, 0, NULL);
	s->n++;
}

static int by_design(const char *table)
{
	for (int i = 0; changed_by_design[i]; i++)
		if (strcmp(table, changed_by_design[i]) == 0)
			return 1;
	return 0;
}

/* What the fixture holds, from its tables. The queries are kept, so that
 * later the same columns are read again (a new version may add columns;
 * it may not lose or change what was there). */
static void snap_take(struct snap *s, const char *conninfo)
{
	memset(s, 0, sizeof(*s));
	PGconn *db = db_open(conninfo);
	snap_add(s, db, "bookings (id, status, cost, actual cost, hold expiry, allocations, seats)",
		 "SELECT b.id, b.status, b.cost_pence, b.actual_cost_pence, b.expires_at,"
		 " (SELECT string_agg(concat_ws(':', a.id, a.unit_id, a.active, a.nights, a.span), ','"
		 "   ORDER BY a.id) FROM public.allocation a WHERE a.booking_id = b.id),"
		 " (SELECT string_agg(concat_ws(':', o.id, o.session_id, o.seats, o.active), ','"
		 "   ORDER BY o.id) FROM public.offer_allocation o WHERE o.booking_id = b.id)"
		 " FROM public.booking b ORDER BY b.id");
	snap_add(s, db, "account balances",
		 "SELECT id, ref, kind, unit, credits_posted, debits_posted, credits_pending,"
		 " debits_pending, allow_overdraw FROM public.account ORDER BY id");
	snap_add(s, db, "ledger transfers",
		 "SELECT id, debit_account_id, credit_account_id, amount, unit, status, kind,"
		 " booking_id, leg, covers_pence, reverses_id, expires_at, posted_at, voided_at, note"
		 " FROM public.ledger_transfer ORDER BY id");
	snap_add(s, db, "sessions",
		 "SELECT encode(token_hash, 'hex'), user_id, created_at, expires_at"
		 " FROM public.session ORDER BY 1");
	snap_add(s, db, "users",
		 "SELECT id, username, role, authority_id, encode(pw_salt, 'hex'), encode(pw_hash, 'hex'),"
		 " pw_iterations, failed_logins, locked_until, disabled, created_at, provider_id, carer_id"
		 " FROM public.app_user ORDER BY id");

	/* Every table of public: its row count, and all its rows (the columns
	 * it has now) as one checksum. */
	char *tables = q_must(db,
		"SELECT c.relname, quote_ident(c.relname),"
		" string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)"
		" FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
		" JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
		" WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
		" GROUP BY c.relname ORDER BY c.relname", 0, NULL);
	struct buf counts = { 0 };
	int ntables = 0;
	for (char *line = strtok(tables, "\n"); line; line = strtok(NULL, "\n")) {
		char *rel = line, *ident = strchr(rel, '|'), *cols;
		ck_assert_ptr_nonnull(ident);
		*ident++ = '\0';
		cols = strchr(ident, '|');
		ck_assert_ptr_nonnull(cols);
		*cols++ = '\0';
		if (by_design(rel))
			continue;
		buf_add(&counts, "%sSELECT '%s', count(*) FROM public.%s", ntables++ ? " UNION ALL " : "",
			rel, ident);
		struct buf q = { 0 }, name = { 0 };
		buf_add(&q, "SELECT count(*), md5(coalesce(string_agg(r, E'\\n' ORDER BY r), ''))"
			    " FROM (SELECT ROW(%s)::text AS r FROM public.%s) x", cols, ident);
		buf_add(&name, "rows of table %s (%s)", rel, cols);
		char *qs = buf_take(&q), *ns = buf_take(&name);
		snap_add(s, db, ns, qs);
		free(qs);
		free(ns);
	}
	ck_assert_msg(ntables >= 20, "the fixture holds only %d tables", ntables);
	buf_add(&counts, " ORDER BY 1");
	char *cq = buf_take(&counts);
	snap_add(s, db, "row counts of every table", cq);
	free(cq);
	free(tables);
	PQfinish(db);
}

static void snap_free(struct snap *s)
{
	for (int i = 0; i < s->n; i++) {
		free(s->name[i]);
		free(s->query[i]);
		free(s->value[i]);
	}
	s->n = 0;
}

/* The same queries now answer exactly as they did. */
static void snap_expect_same(const struct snap *s, const char *conninfo, const char *when)
{
	PGconn *db = db_open(conninfo);
	for (int i = 0; i < s->n; i++) {
		char err[1024];
		char *now = q_text(db, s->query[i], 0, NULL, err, sizeof(err));
		ck_assert_msg(now != NULL, "%s: %s can no longer be read: %s", when, s->name[i], err);
		ck_assert_msg(strcmp(now, s->value[i]) == 0,
			      "%s: %s changed.\nbefore:\n%.3000s\nafter:\n%.3000s", when, s->name[i],
			      s->value[i], now);
		free(now);
	}
	PQfinish(db);
}

/* Every sequence owned by a column of a table is ahead of that column's
 * values, so new rows do not collide with the fixture's. */
static void check_sequences(const char *conninfo)
{
	PGconn *db = db_open(conninfo);
	char *seqs = q_must(db,
		"SELECT s.oid::regclass, quote_ident(t.relname), quote_ident(a.attname)"
		" FROM pg_class s"
		" JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid"
		"  AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')"
		" JOIN pg_class t ON t.oid = d.refobjid"
		" JOIN pg_namespace n ON n.oid = t.relnamespace"
		" JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid"
		" WHERE s.relkind = 'S' AND n.nspname = 'public' ORDER BY 2, 3", 0, NULL);
	int n = 0;
	for (char *line = strtok(seqs, "\n"); line; line = strtok(NULL, "\n"), n++) {
		char *table = strchr(line, '|'), *col, q[1024];
		ck_assert_ptr_nonnull(table);
		*table++ = '\0';
		col = strchr(table, '|');
		ck_assert_ptr_nonnull(col);
		*col++ = '\0';
		snprintf(q, sizeof(q),
			 "SELECT (SELECT last_value FROM %s) >= (SELECT coalesce(max(%s), 0) FROM public.%s)",
			 line, col, table);
		char *ok = q_must(db, q, 0, NULL);
		ck_assert_msg(strcmp(ok, "t\n") == 0, "the sequence %s is behind %s.%s", line, table, col);
		free(ok);
	}
	ck_assert_msg(n >= 10, "only %d sequences found", n);
	free(seqs);
	PQfinish(db);
}

/* ---- the protocol ---- */

static void expect_str(json_object *resp, const char *path, const char *want, const char *what)
{
	json_object *v = h_get(resp, path);
	ck_assert_msg(v && strcmp(json_object_get_string(v), want) == 0, "%s: %s is not \"%s\": %s",
		      what, path, want, resp ? json_object_to_json_string(resp) : "(no answer)");
}

static void expect_int(json_object *resp, const char *path, long want, const char *what)
{
	json_object *v = h_get(resp, path);
	ck_assert_msg(v && json_object_get_int64(v) == want, "%s: %s is not %ld: %s", what, path, want,
		      resp ? json_object_to_json_string(resp) : "(no answer)");
}

static json_object *call(struct h_client *c, const char *method, const char *params)
{
	json_object *r = h_call(c, method, params);
	ck_assert_msg(r != NULL, "%s: no answer", method);
	return r;
}

/* A new connection acting as the fixture's carer through the old token. */
static struct h_client *resume(const struct h_daemon *d)
{
	char params[256];
	struct h_client *c = h_connect(d);
	ck_assert_ptr_nonnull(c);
	snprintf(params, sizeof(params), "{\"token\":\"%s\"}", fx_str("token"));
	json_object *r = call(c, "session.resume", params);
	ck_assert_msg(h_result(r) != NULL, "session.resume with the token of release " RELEASE
		      " is refused: %s", json_object_to_json_string(r));
	expect_str(r, "result.username", fx_str("carer_user"), "session.resume");
	json_object_put(r);
	r = call(c, "session.whoami", NULL);
	expect_str(r, "result.username", fx_str("carer_user"), "session.whoami");
	expect_int(r, "result.user_id", fx_int("carer_user_id"), "session.whoami");
	expect_str(r, "result.role", "carer", "session.whoami");
	json_object_put(r);
	return c;
}

static void expect_booking(struct h_client *c, const char *key, const char *status)
{
	char params[128], what[128];
	long id = fx_int(key);
	snprintf(params, sizeof(params), "{\"booking_id\":%ld}", id);
	snprintf(what, sizeof(what), "booking.get of %s (%ld)", key, id);
	json_object *r = call(c, "booking.get", params);
	expect_int(r, "result.booking_id", id, what);
	expect_str(r, "result.status", status, what);
	json_object_put(r);
}

/* What a carer sees of the fixture, read through the protocol; reads only. */
static void check_reads(const struct h_daemon *d)
{
	struct h_client *c = resume(d);
	json_object *r = call(c, "family.get", NULL);
	expect_int(r, "result.carer.carer_id", fx_int("carer_id"), "family.get");
	expect_int(r, "result.persons.0.person_id", fx_int("person_id"), "family.get");
	json_object_put(r);
	expect_booking(c, "booking_confirmed", "confirmed");
	expect_booking(c, "booking_held", "held");
	expect_booking(c, "booking_cancelled", "cancelled_by_carer");
	expect_booking(c, "booking_voided", "cancelled_by_carer");
	expect_booking(c, "booking_offer_confirmed", "confirmed");

	/* A retry of a confirmation made by release 0.1.0 is still recognised:
	 * the first answer, replayed, and nothing done twice. */
	char params[256];
	snprintf(params, sizeof(params), "{\"booking_id\":%ld,\"idempotency_key\":\"%s\"}",
		 fx_int("booking_confirmed"), fx_str("idempotency_keys.confirm_confirmed"));
	r = call(c, "booking.confirm", params);
	ck_assert_msg(h_result(r) != NULL, "replaying a confirmation of release " RELEASE ": %s",
		      json_object_to_json_string(r));
	ck_assert_msg(json_object_get_boolean(h_get(r, "result.replayed")),
		      "the confirmation was not replayed: %s", json_object_to_json_string(r));
	expect_str(r, "result.status", "confirmed", "the replayed confirmation");
	json_object_put(r);
	h_close(c);
}

/* ---- the tests ---- */

/* The fixture itself: it restores, it is consistent, and it holds what
 * its JSON file says (so a broken fixture is told apart from a broken
 * upgrade). Passes with any daemon, none is started. */
START_TEST(fixture_restores_cleanly)
{
	const char *db = restore_fixture("upgrade_fixture");
	check_invariants(db, "in the restored fixture");
	char *v = value_of(db, "SELECT string_agg(id || ':' || status, ',' ORDER BY id) FROM booking", 0,
			   NULL);
	char want[256];
	snprintf(want, sizeof(want), "%ld:confirmed,%ld:held,%ld:cancelled_by_carer,%ld:cancelled_by_carer,%ld:confirmed",
		 fx_int("booking_confirmed"), fx_int("booking_held"), fx_int("booking_cancelled"),
		 fx_int("booking_voided"), fx_int("booking_offer_confirmed"));
	ck_assert_str_eq(v, want);
	free(v);
	const char *token = fx_str("token");
	v = value_of(db, "SELECT count(*) FROM session s JOIN app_user u ON u.id = s.user_id"
			 " WHERE s.token_hash = sha256(convert_to($1, 'UTF8')) AND u.username = $2"
			 " AND s.expires_at >= '2099-01-01'",
		     2, (const char *const[]){ token, fx_str("carer_user") });
	ck_assert_msg(strcmp(v, "1") == 0, "the fixture's token has no lasting session of %s",
		      fx_str("carer_user"));
	free(v);
	v = value_of(db, "SELECT string_agg(DISTINCT status::text, ',' ORDER BY status::text) FROM ledger_transfer",
		     0, NULL);
	ck_assert_str_eq(v, "pending,posted,voided");
	free(v);
	v = value_of(db, "SELECT count(*) FROM schema_migration", 0, NULL);
	ck_assert_str_eq(v, "4");
	free(v);
	struct snap s;
	snap_take(&s, db);
	snap_expect_same(&s, db, "read twice");
	snap_free(&s);
	check_sequences(db);
}
END_TEST

/* The new daemon upgrades it and loses nothing; what the carer had still
 * works, and the held booking can still be confirmed. */
START_TEST(upgrade_keeps_everything)
{
	const char *db = restore_fixture("upgrade_keep");
	struct snap s;
	snap_take(&s, db);
	struct h_daemon d;
	ck_assert_msg(h_daemon_start(&d, db, NULL) == 0,
		      "respited did not start on a database of release " RELEASE);
	snap_expect_same(&s, db, "after the upgrade");
	check_sequences(db);
	check_invariants(db, "after the upgrade");
	check_reads(&d);
	snap_expect_same(&s, db, "after reading through the protocol");

	struct h_client *c = resume(&d);
	char params[256];
	snprintf(params, sizeof(params), "{\"booking_id\":%ld,\"idempotency_key\":\"after-upgrade-confirm\"}",
		 fx_int("booking_held"));
	json_object *r = call(c, "booking.confirm", params);
	expect_str(r, "result.status", "confirmed", "booking.confirm of the held booking");
	json_object_put(r);
	expect_booking(c, "booking_held", "confirmed");
	h_close(c);
	check_invariants(db, "after confirming the held booking");
	char q[256];
	snprintf(q, sizeof(q), "SELECT string_agg(DISTINCT status::text, ',') FROM ledger_transfer"
			       " WHERE booking_id = %ld", fx_int("booking_held"));
	char *v = value_of(db, q, 0, NULL);
	ck_assert_msg(strcmp(v, "posted") == 0, "the held booking's legs are %s, not posted", v);
	free(v);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
	snap_free(&s);
}
END_TEST

/* Every migration of this tree is recorded with its checksum, also those
 * that release 0.1.0 had applied before checksums were recorded. */
START_TEST(upgrade_records_schema_files)
{
	char pattern[1200];
	glob_t g;
	snprintf(pattern, sizeof(pattern), "%s/[0-9][0-9][0-9]_*.sql", schema_dir);
	int found = glob(pattern, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
	ck_assert_msg(found > 0, "no migrations in %s", schema_dir);

	const char *db = restore_fixture("upgrade_migr");
	struct h_daemon d;
	ck_assert_msg(h_daemon_start(&d, db, NULL) == 0,
		      "respited did not start on a database of release " RELEASE);
	char *v = value_of(db, "SELECT count(*) FROM information_schema.columns"
			       " WHERE table_schema = 'public' AND table_name = 'schema_migration'"
			       " AND column_name = 'checksum'", 0, NULL);
	ck_assert_msg(strcmp(v, "1") == 0, "schema_migration has no checksum column");
	free(v);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		const char *name = strrchr(g.gl_pathv[i], '/') + 1;
		v = value_of(db, "SELECT coalesce((SELECT CASE WHEN checksum IS NULL THEN 'no checksum'"
				 " ELSE 'ok' END FROM schema_migration WHERE name = $1), 'not recorded')",
			     1, (const char *const[]){ name });
		ck_assert_msg(strcmp(v, "ok") == 0, "sql/schema/%s: %s in schema_migration", name, v);
		free(v);
	}
	globfree(&g);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
}
END_TEST

/* What a start may have done: the migrations recorded (every column, and
 * the row versions) and the schemas and functions deployed. */
static char *deployed_state(const char *conninfo)
{
	PGconn *db = db_open(conninfo);
	struct buf b = { 0 };
	char *m = q_must(db, "SELECT m.xmin, ROW(m.*)::text FROM schema_migration m ORDER BY m.name", 0,
			 NULL);
	char *code = q_must(db,
		"SELECT n.nspname, n.oid, n.xmin, count(p.oid),"
		" md5(coalesce(string_agg(p.oid || ':' || p.xmin, ',' ORDER BY p.oid), ''))"
		" FROM pg_namespace n LEFT JOIN pg_proc p ON p.pronamespace = n.oid"
		" WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'"
		" GROUP BY n.nspname, n.oid, n.xmin ORDER BY n.nspname", 0, NULL);
	buf_add(&b, "schema_migration:\n%sschemas and their functions:\n%s", m, code);
	free(m);
	free(code);
	PQfinish(db);
	return buf_take(&b);
}

/* A second start on an upgraded database applies and deploys nothing,
 * and serves. */
START_TEST(second_start_is_a_noop)
{
	const char *db = restore_fixture("upgrade_again");
	struct h_daemon d;
	ck_assert_msg(h_daemon_start(&d, db, NULL) == 0,
		      "respited did not start on a database of release " RELEASE);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
	struct snap s;
	snap_take(&s, db);
	char *before = deployed_state(db);

	ck_assert_msg(h_daemon_start(&d, db, NULL) == 0, "respited did not start a second time");
	char *after = deployed_state(db);
	ck_assert_msg(strcmp(before, after) == 0,
		      "the second start re-applied something.\nbefore:\n%.4000s\nafter:\n%.4000s",
		      before, after);
	snap_expect_same(&s, db, "after the second start");
	check_reads(&d);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
	free(before);
	free(after);
	snap_free(&s);
}
END_TEST

static Suite *upgrade_suite(void)
{
	Suite *s = suite_create("upgrade");
	TCase *tc = tcase_create("from_release_0_1_0");
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, fixture_restores_cleanly);
	tcase_add_test(tc, upgrade_keeps_everything);
	tcase_add_test(tc, upgrade_records_schema_files);
	tcase_add_test(tc, second_start_is_a_noop);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	h_require_postgres();
	const char *src = getenv("RESPITE_SRCDIR");
	if (!src || !*src) {
		fprintf(stderr, "RESPITE_SRCDIR is not set\n");
		return 99;
	}
	snprintf(fixture_sql, sizeof(fixture_sql), "%s/tests/fixtures/release-" RELEASE ".sql", src);
	snprintf(fixture_json, sizeof(fixture_json), "%s/tests/fixtures/release-" RELEASE ".json", src);
	snprintf(invariants_sql, sizeof(invariants_sql), "%s/sql/invariants.sql", src);
	snprintf(schema_dir, sizeof(schema_dir), "%s/sql/schema", src);
	if (access(fixture_sql, R_OK) != 0 || !(fx = json_object_from_file(fixture_json))) {
		fprintf(stderr, "cannot read the fixture %s and %s\n", fixture_sql, fixture_json);
		return 99;
	}
	SRunner *sr = srunner_create(upgrade_suite());
	srunner_run_all(sr, CK_VERBOSE);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	json_object_put(fx);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
