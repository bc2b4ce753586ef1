#include "metrics.h"
#include "db.h"
#include "method.h"
#include "server.h"

#include <event2/buffer.h>
#include <stdlib.h>

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
	evbuffer_add_printf(out, "# TYPE respited_requests_total counter\n"
				 "# TYPE respited_request_errors_total counter\n"
				 "# TYPE respited_request_seconds histogram\n");
	for (int i = 0; i < nstats; i++)
		render_method(out, i);
	render_pool(out, srv);
}
