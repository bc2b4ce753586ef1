#include "metrics.h"
#include "db.h"
#include "kdf.h"
#include "method.h"
#include "server.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Latency buckets in microseconds: 100 us up to 10 s. */
static const uint64_t bucket_us[] = { 100, 250, 500, 1000, 2500, 5000, 10000, 25000,
				      50000, 100000, 250000, 1000000, 10000000 };
#define NBUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

struct method_stats {
	unsigned long long calls, errors;
	unsigned long long buckets[NBUCKETS];
	double seconds;
};

static struct method_stats *stats;     /* [0] = refused before dispatch */
static int nstats;
static unsigned long long conns_open[2], conns_total[2];

int metrics_init(int nmethods)
{
	nstats = nmethods + 1;
	stats = calloc((size_t)nstats, sizeof(*stats));
	return stats ? 0 : -1;
}

void metrics_free(void)
{
	free(stats);
	stats = NULL;
}

void metrics_request_done(int method, int is_error, uint64_t ns)
{
	if (!stats || method + 1 >= nstats)
		return;
	struct method_stats *m = &stats[method + 1];
	m->calls++;
	m->errors += is_error != 0;
	m->seconds += (double)ns / 1e9;
	uint64_t us = ns / 1000;
	for (size_t i = 0; i < NBUCKETS; i++)
		if (us <= bucket_us[i])
			m->buckets[i]++;
}

void metrics_conn_opened(enum metric_conn_kind k)
{
	conns_open[k]++;
	conns_total[k]++;
}

void metrics_conn_closed(enum metric_conn_kind k) { conns_open[k]--; }

static unsigned long long refusals[METRIC_REFUSED_N], accept_pauses[2], http_cuts[METRIC_CUT_N];

void metrics_refused(enum metric_refusal why) { refusals[why]++; }
void metrics_accept_paused(enum metric_conn_kind k) { accept_pauses[k]++; }
void metrics_http_cut(enum metric_http_cut phase) { http_cuts[phase]++; }

/* Caps in force, refusals, accept pauses and HTTP deadline cuts. */
static void render_limits(struct evbuffer *out, const struct server *srv)
{
	static const char *kinds[] = { "tcp", "http" };
	static const char *reasons[] = { "max_connections", "max_http_connections", "per_address" };
	static const char *phases[] = { "idle", "headers", "body" };
	evbuffer_add_printf(out, "# TYPE respited_connections_max gauge\n");
	for (int k = 0; k < 2; k++)
		evbuffer_add_printf(out, "respited_connections_max{transport=\"%s\"} %d\n", kinds[k],
				    srv->max_conns[k]);
	evbuffer_add_printf(out, "# TYPE respited_refused_total counter\n");
	for (int i = 0; i < METRIC_REFUSED_N; i++)
		evbuffer_add_printf(out, "respited_refused_total{reason=\"%s\"} %llu\n", reasons[i],
				    refusals[i]);
	evbuffer_add_printf(out, "# TYPE respited_accept_paused_total counter\n");
	for (int k = 0; k < 2; k++)
		evbuffer_add_printf(out, "respited_accept_paused_total{transport=\"%s\"} %llu\n",
				    kinds[k], accept_pauses[k]);
	evbuffer_add_printf(out, "# TYPE respited_http_deadline_total counter\n");
	for (int i = 0; i < METRIC_CUT_N; i++)
		evbuffer_add_printf(out, "respited_http_deadline_total{phase=\"%s\"} %llu\n", phases[i],
				    http_cuts[i]);
}

/* Logins: throttle refusals by scope (a handful of scopes: the first ones
 * seen get a slot each, any more are summed under "other"), hashes run,
 * logins refused for too many in progress. */
#define THROTTLE_SCOPES 8
static struct { char name[32]; unsigned long long n; } throttled[THROTTLE_SCOPES];
static unsigned long long hashes[2], login_refusals[3];

void metrics_throttled(const char *scope)
{
	int i = 0;
	while (i < THROTTLE_SCOPES - 1 && throttled[i].name[0] && strcmp(throttled[i].name, scope) != 0)
		i++;
	if (!throttled[i].name[0])
		snprintf(throttled[i].name, sizeof(throttled[i].name), "%s",
			 i == THROTTLE_SCOPES - 1 ? "other" : scope);
	throttled[i].n++;
}

void metrics_login_hashed(int unknown_name) { hashes[unknown_name != 0]++; }
void metrics_login_refused(enum metric_login_limit l) { login_refusals[l]++; }

static void render_logins(struct evbuffer *out, const struct server *srv)
{
	static const char *limits[] = { "login_queue_per_conn", "login_queue_per_source",
					"login_queue_max" };
	evbuffer_add_printf(out, "# TYPE respited_throttled_total counter\n");
	for (int i = 0; i < THROTTLE_SCOPES && throttled[i].name[0]; i++)
		evbuffer_add_printf(out, "respited_throttled_total{scope=\"%s\"} %llu\n",
				    throttled[i].name, throttled[i].n);
	evbuffer_add_printf(out,
		"# TYPE respited_login_hashes_total counter\nrespited_login_hashes_total %llu\n"
		"# TYPE respited_login_hashes_unknown_total counter\n"
		"respited_login_hashes_unknown_total %llu\n"
		"# TYPE respited_login_queue gauge\nrespited_login_queue %d\n"
		"# TYPE respited_login_refused_total counter\n",
		hashes[0] + hashes[1], hashes[1], srv->kdf ? kdf_queued(srv->kdf) : 0);
	for (int i = 0; i < 3; i++)
		evbuffer_add_printf(out, "respited_login_refused_total{limit=\"%s\"} %llu\n",
				    limits[i], login_refusals[i]);
}

static const char *stat_name(int i) { return i == 0 ? "(refused)" : method_at(i - 1)->name; }

static void render_method(struct evbuffer *out, int i)
{
	const struct method_stats *m = &stats[i];
	const char *name = stat_name(i);
	if (m->calls == 0)
		return;
	evbuffer_add_printf(out, "respited_requests_total{method=\"%s\"} %llu\n", name, m->calls);
	evbuffer_add_printf(out, "respited_request_errors_total{method=\"%s\"} %llu\n", name, m->errors);
	for (size_t b = 0; b < NBUCKETS; b++)
		evbuffer_add_printf(out, "respited_request_seconds_bucket{method=\"%s\",le=\"%g\"} %llu\n",
				    name, (double)bucket_us[b] / 1e6, m->buckets[b]);
	evbuffer_add_printf(out, "respited_request_seconds_bucket{method=\"%s\",le=\"+Inf\"} %llu\n",
			    name, m->calls);
	evbuffer_add_printf(out, "respited_request_seconds_sum{method=\"%s\"} %.6f\n", name, m->seconds);
	evbuffer_add_printf(out, "respited_request_seconds_count{method=\"%s\"} %llu\n", name, m->calls);
}

static void render_pool(struct evbuffer *out, const struct server *srv)
{
	struct db_pool_stats ps;
	db_pool_stats(srv->db, &ps);
	evbuffer_add_printf(out,
		"# TYPE respited_db_connections gauge\n"
		"respited_db_connections{state=\"ready\"} %d\n"
		"respited_db_connections{state=\"busy\"} %d\n"
		"respited_db_connections{state=\"connecting\"} %d\n"
		"# TYPE respited_db_queue gauge\nrespited_db_queue %d\n"
		"# TYPE respited_db_queries_total counter\nrespited_db_queries_total %llu\n"
		"# TYPE respited_db_failures_total counter\nrespited_db_failures_total %llu\n"
		"# TYPE respited_db_reconnects_total counter\nrespited_db_reconnects_total %llu\n",
		ps.ready, ps.busy, ps.connecting, ps.queued, ps.queries, ps.failures, ps.reconnects);
}

void metrics_render(struct evbuffer *out, const struct server *srv)
{
	static const char *kinds[] = { "tcp", "http" };
	evbuffer_add_printf(out, "# TYPE respited_connections gauge\n");
	for (int k = 0; k < 2; k++)
		evbuffer_add_printf(out, "respited_connections{transport=\"%s\"} %llu\n", kinds[k],
				    conns_open[k]);
	evbuffer_add_printf(out, "# TYPE respited_connections_total counter\n");
	for (int k = 0; k < 2; k++)
		evbuffer_add_printf(out, "respited_connections_total{transport=\"%s\"} %llu\n",
				    kinds[k], conns_total[k]);
	render_limits(out, srv);
	evbuffer_add_printf(out, "# TYPE respited_requests_total counter\n"
				 "# TYPE respited_request_errors_total counter\n"
				 "# TYPE respited_request_seconds histogram\n");
	for (int i = 0; i < nstats; i++)
		render_method(out, i);
	render_pool(out, srv);
	render_logins(out, srv);
}
