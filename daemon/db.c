#include "db.h"
#include "autoconf.h"
#include "log.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

enum conn_state {
	CS_DOWN,       /* waiting for the reconnect timer */
	CS_CONNECTING, /* PQconnectPoll in progress */
	CS_IDLE,
	CS_BUSY,       /* one statement in flight */
	CS_TXN,        /* lent to a transaction; statements sent by its owner */
};

struct db_job {
	TAILQ_ENTRY(db_job) link;
	int is_txn;
	const char *sql;
	int nparams;
	char **params;
	db_cb cb;
	db_txn_cb tcb;
	void *arg;
};
TAILQ_HEAD(job_queue, db_job);

#define MAX_PREPARED 256

/* A transaction remembers the connection's generation: once the
 * connection breaks or is returned, the old handle goes stale and can no
 * longer reach whoever uses that connection next. */
struct db_txn {
	struct db_conn *conn;
	unsigned gen;
};

struct db_conn {
	struct db_pool *pool;
	int id;
	int emergency_only;
	enum conn_state state;
	PGconn *pg;
	struct event *io;
	short watching;
	evutil_socket_t watched_fd;
	struct event *retry;
	int backoff_ms;
	struct db_job *job;     /* statement in flight */
	int preparing;          /* job's statement is being prepared first */
	PGresult *last;         /* result collected for job */
	unsigned gen;              /* bumped whenever a transaction's hold ends */
	struct db_job *txn_job;    /* the txn waiting for its BEGIN */
	struct event *fail_ev;     /* reports a send failure outside the caller */
	int nprepared;
	const char *prepared[MAX_PREPARED];
};

struct db_pool {
	struct event_base *base;
	char *conninfo;
	char options[160];
	int nconns;
	struct db_conn *conns;
	struct job_queue queue[DB_NLANES];
	int queued;
	int queue_max;
	int reconnect_max_ms;
	unsigned long long queries, failures, reconnects;
};

static void conn_start(struct db_conn *c);
static void conn_io_cb(evutil_socket_t fd, short what, void *arg);
static void pool_assign(struct db_pool *p);

/* ---- jobs ---- */

static void job_free(struct db_job *j)
{
	for (int i = 0; i < j->nparams; i++)
		free(j->params[i]);
	free(j->params);
	free(j);
}

static struct db_job *job_new(const char *sql, int nparams, const char *const *params)
{
	struct db_job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->sql = sql;
	j->nparams = nparams;
	if (nparams > 0 && !(j->params = calloc((size_t)nparams, sizeof(char *)))) {
		free(j);
		return NULL;
	}
	for (int i = 0; i < nparams; i++) {
		if (params[i] && !(j->params[i] = strdup(params[i]))) {
			job_free(j);
			return NULL;
		}
	}
	return j;
}

static void job_finish(struct db_job *j, enum db_status st, PGresult *res)
{
	struct db_result r = { st, res };
	if (j->cb)
		j->cb(&r, j->arg);
	job_free(j);
}

static void job_fail(struct db_job *j, enum db_status st)
{
	if (!j->is_txn) {
		job_finish(j, st, NULL);
		return;
	}
	j->tcb(NULL, st, j->arg);
	job_free(j);
}

/* ---- connection lifecycle ---- */

/* The socket's event is allocated once per connection slot and re-aimed
 * here, so a query costs no allocation in libevent. */
static void conn_watch(struct db_conn *c, short what)
{
	evutil_socket_t fd = PQsocket(c->pg);
	if (c->watching == what && c->watched_fd == fd)
		return;
	event_del(c->io);
	event_assign(c->io, c->pool->base, fd, what | EV_PERSIST, conn_io_cb, c);
	event_add(c->io, NULL);
	c->watching = what;
	c->watched_fd = fd;
}

static void conn_close(struct db_conn *c)
{
	event_del(c->io);
	c->watching = 0;
	c->watched_fd = -1;
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	c->nprepared = 0;
	PQclear(c->last);
	c->last = NULL;
}

static void pool_fail_queue_if_down(struct db_pool *p);

/* The connection is gone: fail what it carried and try again later. */
static void conn_broken(struct db_conn *c, const char *why)
{
	struct db_pool *p = c->pool;
	if (c->state != CS_CONNECTING || c->backoff_ms == 0)
		log_warn("event=db_conn_lost conn=%d reason=\"%s\"", c->id, why);
	conn_close(c);
	struct db_job *j = c->job, *tj = c->txn_job;
	c->job = NULL;
	c->txn_job = NULL;
	c->gen++;
	c->state = CS_DOWN;
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : 100;
	if (c->backoff_ms > p->reconnect_max_ms)
		c->backoff_ms = p->reconnect_max_ms;
	struct timeval tv = { c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000 };
	evtimer_add(c->retry, &tv);
	if (j) {
		p->failures++;
		job_finish(j, DB_UNAVAILABLE, NULL);
	}
	if (tj)
		job_fail(tj, DB_UNAVAILABLE);
	/* A transaction's owner otherwise learns of the loss from its next
	 * statement, which finds its handle stale. */
	pool_fail_queue_if_down(p);
}

static void conn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;
	c->pool->reconnects++;
	conn_start(c);
}

static void conn_ready(struct db_conn *c)
{
	if (c->backoff_ms)
		log_info("event=db_conn_ready conn=%d", c->id);
	c->backoff_ms = 0;
	c->state = CS_IDLE;
	PQsetnonblocking(c->pg, 1);
	conn_watch(c, EV_READ);
	pool_assign(c->pool);
}

static void conn_poll_connect(struct db_conn *c)
{
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		conn_watch(c, EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		conn_watch(c, EV_WRITE);
		break;
	case PGRES_POLLING_OK:
		conn_ready(c);
		break;
	default:
		conn_broken(c, PQerrorMessage(c->pg));
	}
}

/* Server notices ("terminating connection...") go to the log, not stderr. */
static void conn_notice(void *arg, const char *msg)
{
	log_debug("event=db_notice conn=%d message=\"%s\"", ((struct db_conn *)arg)->id, msg);
}

static void conn_start(struct db_conn *c)
{
	const char *kw[] = { "dbname", "options", "fallback_application_name", NULL };
	const char *val[] = { c->pool->conninfo, c->pool->options, "respited", NULL };
	c->pg = PQconnectStartParams(kw, val, 1);
	if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD || PQsocket(c->pg) < 0) {
		c->state = CS_CONNECTING;
		conn_broken(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		return;
	}
	c->state = CS_CONNECTING;
	PQsetNoticeProcessor(c->pg, conn_notice, c);
	conn_watch(c, EV_WRITE);
}

/* ---- sending and receiving ---- */

static int conn_is_prepared(const struct db_conn *c, const char *sql)
{
	for (int i = 0; i < c->nprepared; i++)
		if (c->prepared[i] == sql)
			return i;
	return -1;
}

static void stmt_name(char *buf, size_t len, int idx) { snprintf(buf, len, "rs%d", idx); }

static int conn_send(struct db_conn *c)
{
	struct db_job *j = c->job;
	char name[16];
	int idx = conn_is_prepared(c, j->sql);
	int ok;
	if (idx < 0 && c->nprepared < MAX_PREPARED) {
		stmt_name(name, sizeof(name), c->nprepared);
		c->preparing = 1;
		ok = PQsendPrepare(c->pg, name, j->sql, j->nparams, NULL);
	} else if (idx < 0) {
		/* More distinct statements than slots: run unprepared. */
		ok = PQsendQueryParams(c->pg, j->sql, j->nparams, NULL,
				       (const char *const *)j->params, NULL, NULL, 0);
	} else {
		stmt_name(name, sizeof(name), idx);
		ok = PQsendQueryPrepared(c->pg, name, j->nparams,
					 (const char *const *)j->params, NULL, NULL, 0);
	}
	if (!ok)
		return -1;
	int f = PQflush(c->pg);
	if (f < 0)
		return -1;
	conn_watch(c, f == 1 ? EV_READ | EV_WRITE : EV_READ);
	return 0;
}

static void conn_fail_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;
	if (c->pg)
		conn_broken(c, PQerrorMessage(c->pg));
}

static void conn_start_job(struct db_conn *c, struct db_job *j, enum conn_state st)
{
	c->job = j;
	c->state = st;
	c->pool->queries++;
	/* Called from inside db_query() and friends: a failure is reported
	 * from the loop, so callbacks never run inside the caller. */
	if (conn_send(c) != 0)
		event_active(c->fail_ev, 0, 0);
}

static int is_connection_error(const PGresult *r)
{
	const char *s = db_sqlstate(r);
	/* 08: connection exception; 57P01-03: server shutting down or crashed */
	return strncmp(s, "08", 2) == 0 || strncmp(s, "57P", 3) == 0;
}

/* The statement's results are complete: hand them over. */
static void conn_job_done(struct db_conn *c)
{
	struct db_job *j = c->job;
	PGresult *r = c->last;
	c->last = NULL;
	if (c->preparing) {
		c->preparing = 0;
		if (PQresultStatus(r) == PGRES_COMMAND_OK) {
			PQclear(r);
			c->prepared[c->nprepared++] = j->sql;
			if (conn_send(c) != 0)
				conn_broken(c, PQerrorMessage(c->pg));
			return;
		}
	}
	c->job = NULL;
	if (c->state == CS_BUSY)
		c->state = CS_IDLE;
	ExecStatusType st = PQresultStatus(r);
	int ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
	if (!ok)
		c->pool->failures++;
	job_finish(j, ok ? DB_OK : is_connection_error(r) ? DB_UNAVAILABLE : DB_SQL_ERROR, r);
	PQclear(r);
	if (c->state == CS_IDLE)
		pool_assign(c->pool);
}

static void conn_read(struct db_conn *c)
{
	if (!PQconsumeInput(c->pg)) {
		conn_broken(c, PQerrorMessage(c->pg));
		return;
	}
	while (c->job && !PQisBusy(c->pg)) {
		PGresult *r = PQgetResult(c->pg);
		if (!r) {
			conn_job_done(c);
			return;
		}
		PQclear(c->last);
		c->last = r;
	}
	if (!c->job) {
		/* Idle: only notices or the server saying goodbye arrive here. */
		PGresult *r;
		while (!PQisBusy(c->pg) && (r = PQgetResult(c->pg)))
			PQclear(r);
		if (PQstatus(c->pg) == CONNECTION_BAD)
			conn_broken(c, "server closed the connection");
	}
}

static void conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;
	if (c->state == CS_CONNECTING) {
		conn_poll_connect(c);
		return;
	}
	if (what & EV_WRITE) {
		int f = PQflush(c->pg);
		if (f < 0) {
			conn_broken(c, PQerrorMessage(c->pg));
			return;
		}
		if (f == 0)
			conn_watch(c, EV_READ);
	}
	if (what & EV_READ)
		conn_read(c);
}

/* ---- assigning work ---- */

static struct db_job *queue_take(struct db_pool *p, int emergency_only)
{
	struct db_job *j = TAILQ_FIRST(&p->queue[DB_LANE_EMERGENCY]);
	if (j) {
		TAILQ_REMOVE(&p->queue[DB_LANE_EMERGENCY], j, link);
	} else if (!emergency_only && (j = TAILQ_FIRST(&p->queue[DB_LANE_NORMAL]))) {
		TAILQ_REMOVE(&p->queue[DB_LANE_NORMAL], j, link);
	}
	if (j)
		p->queued--;
	return j;
}

static const char SQL_BEGIN[] = "BEGIN";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";

static void txn_release(struct db_conn *c)
{
	c->gen++;
	if (c->state == CS_TXN) {
		c->state = CS_IDLE;
		pool_assign(c->pool);
	}
}

static void txn_begun(const struct db_result *r, void *arg)
{
	struct db_conn *c = arg;
	struct db_job *tj = c->txn_job;
	c->txn_job = NULL;
	if (!tj)
		return; /* the connection broke: conn_broken told the owner */
	struct db_txn *t = r->status == DB_OK ? malloc(sizeof(*t)) : NULL;
	if (!t) {
		txn_release(c);
		job_fail(tj, r->status == DB_OK ? DB_OVERLOADED : r->status);
		return;
	}
	t->conn = c;
	t->gen = c->gen;
	tj->tcb(t, DB_OK, tj->arg);
	job_free(tj);
}

static void conn_take_job(struct db_conn *c, struct db_job *j)
{
	if (!j->is_txn) {
		conn_start_job(c, j, CS_BUSY);
		return;
	}
	struct db_job *b = job_new(SQL_BEGIN, 0, NULL);
	if (!b) {
		job_fail(j, DB_OVERLOADED);
		return;
	}
	b->cb = txn_begun;
	b->arg = c;
	c->txn_job = j;
	conn_start_job(c, b, CS_TXN);
}

static void pool_assign(struct db_pool *p)
{
	for (int i = 0; i < p->nconns && p->queued > 0; i++) {
		struct db_conn *c = &p->conns[i];
		if (c->state != CS_IDLE)
			continue;
		struct db_job *j = queue_take(p, c->emergency_only);
		if (j)
			conn_take_job(c, j);
	}
}

static int lane_can_run(const struct db_pool *p, enum db_lane lane)
{
	for (int i = 0; i < p->nconns; i++) {
		const struct db_conn *c = &p->conns[i];
		if (c->emergency_only && lane != DB_LANE_EMERGENCY)
			continue;
		if (c->state == CS_IDLE || c->state == CS_BUSY || c->state == CS_TXN)
			return 1;
	}
	return 0;
}

/* With no live connection for a lane, queued work would wait for an
 * unknown time: answer it now instead. */
static void pool_fail_queue_if_down(struct db_pool *p)
{
	for (int lane = 0; lane < DB_NLANES; lane++) {
		if (lane_can_run(p, (enum db_lane)lane))
			continue;
		struct db_job *j;
		while ((j = TAILQ_FIRST(&p->queue[lane]))) {
			TAILQ_REMOVE(&p->queue[lane], j, link);
			p->queued--;
			job_fail(j, DB_UNAVAILABLE);
		}
	}
}

static enum db_status pool_submit(struct db_pool *p, enum db_lane lane, struct db_job *j)
{
	if (!lane_can_run(p, lane)) {
		job_free(j);
		return DB_UNAVAILABLE;
	}
	if (p->queued >= p->queue_max) {
		job_free(j);
		return DB_OVERLOADED;
	}
	TAILQ_INSERT_TAIL(&p->queue[lane], j, link);
	p->queued++;
	pool_assign(p);
	return DB_OK;
}

enum db_status db_query(struct db_pool *p, enum db_lane lane, const char *sql, int nparams,
			const char *const *params, db_cb cb, void *arg)
{
	struct db_job *j = job_new(sql, nparams, params);
	if (!j)
		return DB_OVERLOADED;
	j->cb = cb;
	j->arg = arg;
	return pool_submit(p, lane, j);
}

enum db_status db_txn_begin(struct db_pool *p, enum db_lane lane, db_txn_cb cb, void *arg)
{
	struct db_job *j = job_new(NULL, 0, NULL);
	if (!j)
		return DB_OVERLOADED;
	j->is_txn = 1;
	j->tcb = cb;
	j->arg = arg;
	return pool_submit(p, lane, j);
}

static int txn_live(const struct db_txn *t)
{
	return t->gen == t->conn->gen && t->conn->state == CS_TXN && !t->conn->job;
}

enum db_status db_txn_query(struct db_txn *t, const char *sql, int nparams,
			    const char *const *params, db_cb cb, void *arg)
{
	struct db_conn *c = t->conn;
	if (!txn_live(t))
		return DB_UNAVAILABLE;
	struct db_job *j = job_new(sql, nparams, params);
	if (!j)
		return DB_OVERLOADED;
	j->cb = cb;
	j->arg = arg;
	conn_start_job(c, j, CS_TXN);
	return DB_OK;
}

struct txn_end_ctx {
	struct db_conn *conn;
	db_cb cb;
	void *arg;
};

static void txn_end_done(const struct db_result *r, void *arg)
{
	struct txn_end_ctx *e = arg;
	if (e->cb)
		e->cb(r, e->arg);
	txn_release(e->conn);
	free(e);
}

static void txn_end_failed(struct db_conn *c, db_cb cb, void *arg)
{
	struct db_result fail = { DB_UNAVAILABLE, NULL };
	if (cb)
		cb(&fail, arg);
}

void db_txn_end(struct db_txn *t, int commit, db_cb cb, void *arg)
{
	struct db_conn *c = t->conn;
	struct txn_end_ctx *e = txn_live(t) ? malloc(sizeof(*e)) : NULL;
	free(t);
	if (!e) {
		txn_end_failed(c, cb, arg);
		return;
	}
	e->conn = c;
	e->cb = cb;
	e->arg = arg;
	struct db_job *j = job_new(commit ? SQL_COMMIT : SQL_ROLLBACK, 0, NULL);
	if (!j) {
		free(e);
		txn_end_failed(c, cb, arg);
		return;
	}
	j->cb = txn_end_done;
	j->arg = e;
	conn_start_job(c, j, CS_TXN);
}

/* ---- pool ---- */

struct db_pool *db_pool_new(struct event_base *base, const char *conninfo, int normal,
			    int emergency, int statement_timeout_ms)
{
	struct db_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->base = base;
	p->conninfo = strdup(conninfo);
	p->nconns = normal + emergency;
	p->conns = calloc((size_t)p->nconns, sizeof(*p->conns));
	p->queue_max = 10000;
	p->reconnect_max_ms = 5000;
	/* The release's own code first (deploy.h), then the tables. */
	snprintf(p->options, sizeof(p->options),
		 "-c statement_timeout=%d -c TimeZone=UTC -c search_path=%s,public",
		 statement_timeout_ms, RS_CODE_SCHEMA);
	TAILQ_INIT(&p->queue[0]);
	TAILQ_INIT(&p->queue[1]);
	if (!p->conninfo || !p->conns) {
		db_pool_free(p);
		return NULL;
	}
	for (int i = 0; i < p->nconns; i++) {
		struct db_conn *c = &p->conns[i];
		c->pool = p;
		c->id = i;
		c->emergency_only = i >= normal;
		c->retry = evtimer_new(base, conn_retry_cb, c);
		c->fail_ev = event_new(base, -1, 0, conn_fail_cb, c);
		c->io = event_new(base, -1, 0, conn_io_cb, c);
		c->watched_fd = -1;
		if (!c->retry || !c->fail_ev || !c->io) {
			db_pool_free(p);
			return NULL;
		}
		conn_start(c);
	}
	return p;
}

void db_pool_free(struct db_pool *p)
{
	if (!p)
		return;
	for (int lane = 0; lane < DB_NLANES; lane++) {
		struct db_job *j;
		while ((j = TAILQ_FIRST(&p->queue[lane]))) {
			TAILQ_REMOVE(&p->queue[lane], j, link);
			job_free(j);
		}
	}
	for (int i = 0; p->conns && i < p->nconns; i++) {
		struct db_conn *c = &p->conns[i];
		conn_close(c);
		if (c->job)
			job_free(c->job);
		if (c->retry)
			event_free(c->retry);
		if (c->fail_ev)
			event_free(c->fail_ev);
		if (c->io)
			event_free(c->io);
		if (c->txn_job)
			job_free(c->txn_job);
	}
	free(p->conns);
	free(p->conninfo);
	free(p);
}

void db_pool_set_limits(struct db_pool *p, int queue_max, int reconnect_max_ms)
{
	p->queue_max = queue_max;
	p->reconnect_max_ms = reconnect_max_ms;
}

void db_pool_stats(const struct db_pool *p, struct db_pool_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->total = p->nconns;
	out->queued = p->queued;
	out->queries = p->queries;
	out->failures = p->failures;
	out->reconnects = p->reconnects;
	for (int i = 0; i < p->nconns; i++) {
		enum conn_state s = p->conns[i].state;
		out->ready += s == CS_IDLE;
		out->busy += s == CS_BUSY || s == CS_TXN;
		out->connecting += s == CS_CONNECTING || s == CS_DOWN;
	}
}

int db_pool_healthy(const struct db_pool *p) { return lane_can_run(p, DB_LANE_NORMAL); }

const char *db_sqlstate(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	return s ? s : "";
}
