#include "janitor.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "server.h"

#include <event2/event.h>
#include <stdlib.h>

struct janitor {
	struct server *srv;
	struct event *timer;
	int running; /* one round at a time, however slow the database */
};

static const char SQL_JANITOR[] = "SELECT rs_janitor()";

static void schedule(struct janitor *j)
{
	int64_t ms = config_current()->janitor_interval_ms;
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };
	evtimer_add(j->timer, &tv);
}

static void round_done(const struct db_result *r, void *arg)
{
	struct janitor *j = arg;
	j->running = 0;
	if (r->status == DB_OK)
		log_debug("event=janitor result=%s", PQgetvalue(r->res, 0, 0));
	else if (r->status == DB_SQL_ERROR)
		log_error("event=janitor error=\"%s\"", PQresultErrorMessage(r->res));
	schedule(j);
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
	struct janitor *j = arg;
	if (j->running || j->srv->draining)
		return;
	if (db_query(j->srv->db, DB_LANE_NORMAL, SQL_JANITOR, 0, NULL, round_done, j) == DB_OK)
		j->running = 1;
	else
		schedule(j); /* database away: try again next period */
}

struct janitor *janitor_new(struct server *srv)
{
	struct janitor *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->srv = srv;
	j->timer = evtimer_new(srv->base, tick, j);
	if (!j->timer) {
		free(j);
		return NULL;
	}
	schedule(j);
	return j;
}

void janitor_free(struct janitor *j)
{
	if (!j)
		return;
	event_free(j->timer);
	free(j);
}
