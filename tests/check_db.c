/*
 * The asynchronous pool against a real PostgreSQL, driven by a real event
 * loop: single statements, transactions that span several statements, and
 * the emergency lane's reserved connections.
 */
#include "config.h"
#include "db.h"
#include "harness.h"

#include <check.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

static const char *conninfo;

struct probe {
	struct event_base *base;
	struct db_pool *pool;
	struct db_txn *txn;
	int step;
	char value[64];
	enum db_status status;
};

static void stop(struct probe *p) { event_base_loopbreak(p->base); }

static void got_value(const struct db_result *r, void *arg)
{
	struct probe *p = arg;
	p->status = r->status;
	if (r->status == DB_OK && PQntuples(r->res) > 0)
		snprintf(p->value, sizeof(p->value), "%s", PQgetvalue(r->res, 0, 0));
	stop(p);
}

static void run_loop(struct probe *p)
{
	struct timeval limit = { 10, 0 };
	event_base_loopexit(p->base, &limit);
	event_base_dispatch(p->base);
}

static void setup_probe(struct probe *p, int normal, int emergency)
{
	memset(p, 0, sizeof(*p));
	p->base = event_base_new();
	p->pool = db_pool_new(p->base, conninfo, normal, emergency, 10000);
	ck_assert_ptr_nonnull(p->pool);
	/* let the connections come up */
	for (int i = 0; i < 100 && !db_pool_healthy(p->pool); i++) {
		struct timeval tick = { 0, 20000 };
		event_base_loopexit(p->base, &tick);
		event_base_dispatch(p->base);
	}
	ck_assert(db_pool_healthy(p->pool));
}

static void teardown_probe(struct probe *p)
{
	db_pool_free(p->pool);
	event_base_free(p->base);
}

START_TEST(single_statement_with_params)
{
	struct probe p;
	setup_probe(&p, 2, 0);
	const char *params[2] = { "20", "22" };
	ck_assert_int_eq(db_query(p.pool, DB_LANE_NORMAL, "SELECT $1::int + $2::int", 2, params,
				  got_value, &p), DB_OK);
	run_loop(&p);
	ck_assert_int_eq(p.status, DB_OK);
	ck_assert_str_eq(p.value, "42");
	teardown_probe(&p);
}
END_TEST

START_TEST(sql_error_is_reported)
{
	struct probe p;
	setup_probe(&p, 1, 0);
	ck_assert_int_eq(db_query(p.pool, DB_LANE_NORMAL, "SELECT 1/0", 0, NULL, got_value, &p), DB_OK);
	run_loop(&p);
	ck_assert_int_eq(p.status, DB_SQL_ERROR);
	teardown_probe(&p);
}
END_TEST

/* A transaction of several statements on one connection: what it wrote is
 * visible inside it and gone after ROLLBACK. */
static void txn_step(const struct db_result *r, void *arg);

static void txn_started(struct db_txn *t, enum db_status st, void *arg)
{
	struct probe *p = arg;
	ck_assert_int_eq(st, DB_OK);
	p->txn = t;
	db_txn_query(t, "INSERT INTO txn_probe VALUES (1), (2)", 0, NULL, txn_step, p);
}

static void txn_step(const struct db_result *r, void *arg)
{
	struct probe *p = arg;
	ck_assert_int_eq(r->status, DB_OK);
	if (p->step++ == 0) {
		db_txn_query(p->txn, "SELECT count(*) FROM txn_probe", 0, NULL, txn_step, p);
		return;
	}
	snprintf(p->value, sizeof(p->value), "%s", PQgetvalue(r->res, 0, 0));
	db_txn_end(p->txn, 0, NULL, NULL);
	db_query(p->pool, DB_LANE_NORMAL, "SELECT count(*) FROM txn_probe", 0, NULL, got_value, p);
}

START_TEST(transaction_spans_statements)
{
	struct probe p;
	h_sql(conninfo, "CREATE TABLE IF NOT EXISTS txn_probe (x int)");
	setup_probe(&p, 1, 0);
	ck_assert_int_eq(db_txn_begin(p.pool, DB_LANE_NORMAL, txn_started, &p), DB_OK);
	run_loop(&p);
	/* value was overwritten by the final count after rollback */
	ck_assert_str_eq(p.value, "0");
	ck_assert_int_eq(p.step, 2);
	teardown_probe(&p);
}
END_TEST

/* Ordinary work cannot take the emergency lane's connections: with the
 * only normal connection busy, an emergency query still runs at once. */
START_TEST(emergency_lane_is_reserved)
{
	struct probe slow, urgent;
	setup_probe(&slow, 1, 1);
	urgent = slow;
	ck_assert_int_eq(db_query(slow.pool, DB_LANE_NORMAL, "SELECT pg_sleep(1.5)::text", 0, NULL,
				  got_value, &slow), DB_OK);
	ck_assert_int_eq(db_query(slow.pool, DB_LANE_EMERGENCY, "SELECT 'now'", 0, NULL, got_value,
				  &urgent), DB_OK);
	struct timeval limit = { 1, 0 };
	event_base_loopexit(slow.base, &limit);
	event_base_dispatch(slow.base);
	ck_assert_str_eq(urgent.value, "now");
	ck_assert_str_eq(slow.value, ""); /* still sleeping */
	run_loop(&slow);
	teardown_probe(&slow);
}
END_TEST

int main(void)
{
	h_require_postgres();
	conninfo = h_db_create("db");
	static struct config_overrides none;
	char err[256];
	config_install(config_load(NULL, &none, err, sizeof(err)));
	Suite *s = suite_create("db");
	TCase *tc = tcase_create("pool");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, single_statement_with_params);
	tcase_add_test(tc, sql_error_is_reported);
	tcase_add_test(tc, transaction_spans_statements);
	tcase_add_test(tc, emergency_lane_is_reserved);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
