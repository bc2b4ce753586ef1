/*
 * respite-bench: a closed-loop load generator for respited. N clients, each
 * on its own TCP connection and thread, call one method as fast as answers
 * come, with params taken in turn from a file (one JSON object per line).
 * Prints throughput and latency percentiles; errors are counted by reason.
 *
 *   respite-bench -c 127.0.0.1:7878 -t TOKEN -n 8 -d 10 -m availability.search -p search.jsonl
 *   respite-bench ... -m booking.hold -p holds.jsonl --then booking.confirm:booking_id
 *
 * With --then M:F, each successful call is followed by a call of M with
 * params {"F": <result.F>}; a pair counts as one operation and its latency
 * covers both calls.
 *
 * With -k COUNT each client makes exactly COUNT operations (closed loop)
 * and the run ends when all have: a fixed amount of work, for counting
 * instructions per call (-d is then only an upper bound on the time).
 *
 * With -r RATE the load is open-loop instead: RATE calls per second in
 * all, on a fixed schedule spread evenly over the clients (client i sends
 * its k-th call at start + (k * N + i) / RATE). Latency is measured from
 * the time a call was scheduled, not from when it was sent, so a slow
 * answer that holds up the next calls is charged to them too (no
 * "coordinated omission"). A client that falls behind sends at once until
 * it has caught up; calls still unsent when the time is up are counted as
 * `missed` (any at all means the daemon could not keep up with RATE).
 */
#include "jsonrpc.h"
#include "lineio.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct opts {
	const char *connect, *token, *method, *params_file, *then_method, *then_field;
	int clients;
	double seconds;
	double rate; /* open loop: calls per second in all; 0: closed loop */
	long count;  /* operations per client (-k); 0: as many as time allows */
};

struct worker {
	pthread_t thread;
	const struct opts *o;
	int index;
	char **lines;
	int nlines;
	uint64_t *lat_ns;
	size_t nlat, cap;
	unsigned long errors, missed;
	char first_error[256];
};

static volatile int stop_flag;
static volatile int clients_left;
/* Open loop: the schedule's start and end (CLOCK_MONOTONIC ns). */
static uint64_t sched_start, sched_end;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { (time_t)(t / 1000000000ull), (long)(t % 1000000000ull) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static json_object *call(int fd, struct lineio *io, const char *method, const char *params,
			 int id)
{
	char *msg;
	size_t len = strlen(method) + strlen(params) + 96;
	msg = malloc(len);
	snprintf(msg, len, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\",\"params\":%s}", id,
		 method, params);
	int rc = lineio_write(fd, msg, strlen(msg));
	free(msg);
	if (rc != 0)
		return NULL;
	size_t n;
	char *line = lineio_read(io, &n, 30000);
	json_object *resp = line ? json_tokener_parse(line) : NULL;
	free(line);
	return resp;
}

static int note_error(struct worker *w, json_object *resp)
{
	json_object *err;
	if (resp && !json_object_object_get_ex(resp, "error", &err))
		return 0;
	w->errors++;
	if (!w->first_error[0])
		snprintf(w->first_error, sizeof(w->first_error), "%s",
			 resp ? json_object_to_json_string(err) : "no answer");
	return 1;
}

static void record(struct worker *w, uint64_t ns)
{
	if (w->nlat == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 4096;
		w->lat_ns = realloc(w->lat_ns, w->cap * sizeof(uint64_t));
	}
	w->lat_ns[w->nlat++] = ns;
}

/* The follow-up call of --then, with the field copied from the result. */
static int follow_up(struct worker *w, int fd, struct lineio *io, json_object *resp, int id)
{
	json_object *res, *v;
	char params[256];
	if (!json_object_object_get_ex(resp, "result", &res) ||
	    !json_object_object_get_ex(res, w->o->then_field, &v))
		return note_error(w, NULL);
	snprintf(params, sizeof(params), "{\"%s\":%s}", w->o->then_field,
		 json_object_to_json_string(v));
	json_object *r2 = call(fd, io, w->o->then_method, params, id);
	int bad = note_error(w, r2);
	json_object_put(r2);
	return bad;
}

static int resume(int fd, struct lineio *io, const char *token)
{
	char params[128];
	snprintf(params, sizeof(params), "{\"token\":\"%s\"}", token);
	json_object *r = call(fd, io, "session.resume", params, 0);
	json_object *res;
	int ok = r && json_object_object_get_ex(r, "result", &res);
	json_object_put(r);
	return ok ? 0 : -1;
}

/* One operation (the call, and the --then call) timed from t0; 0 when
 * the connection is still usable. */
static int operate(struct worker *w, int fd, struct lineio *io, int k, int id, uint64_t t0)
{
	const char *params = w->lines[(w->index + (size_t)k * w->o->clients) % w->nlines];
	json_object *resp = call(fd, io, w->o->method, params, id);
	if (!resp) {
		note_error(w, NULL);
		return -1;
	}
	int bad = note_error(w, resp);
	if (!bad && w->o->then_method)
		bad = follow_up(w, fd, io, resp, id + 1);
	json_object_put(resp);
	if (!bad)
		record(w, now_ns() - t0);
	return 0;
}

/* Closed loop: the next call as soon as the answer is in. */
static void closed_loop(struct worker *w, int fd, struct lineio *io)
{
	for (int k = 0, id = 1; !stop_flag && (w->o->count == 0 || k < w->o->count); k++, id += 2)
		if (operate(w, fd, io, k, id, now_ns()) != 0)
			break;
}

/* Open loop: each call at its scheduled time, timed from that time. */
static void open_loop(struct worker *w, int fd, struct lineio *io)
{
	uint64_t every = (uint64_t)((double)w->o->clients * 1e9 / w->o->rate);
	uint64_t first = sched_start + (uint64_t)((double)w->index * 1e9 / w->o->rate);

	for (int k = 0, id = 1;; k++, id += 2) {
		uint64_t at = first + (uint64_t)k * every;
		if (at >= sched_end)
			break;
		if (stop_flag) {
			w->missed += (sched_end - at + every - 1) / every;
			break;
		}
		sleep_until(at);
		if (operate(w, fd, io, k, id, at) != 0)
			break;
	}
}

static void *run_worker(void *arg)
{
	struct worker *w = arg;
	int fd = lineio_connect(w->o->connect);
	struct lineio *io = fd >= 0 ? lineio_new(fd, 64 << 20) : NULL;
	if (!io || (w->o->token && resume(fd, io, w->o->token) != 0)) {
		fprintf(stderr, "respite-bench: client %d could not connect or log in\n", w->index);
		w->errors++;
		lineio_free(io);
		if (fd >= 0)
			close(fd);
		__atomic_sub_fetch(&clients_left, 1, __ATOMIC_SEQ_CST);
		return NULL;
	}
	if (w->o->rate > 0)
		open_loop(w, fd, io);
	else
		closed_loop(w, fd, io);
	lineio_free(io);
	close(fd);
	__atomic_sub_fetch(&clients_left, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static char **read_lines(const char *path, int *n)
{
	FILE *f = path ? fopen(path, "r") : NULL;
	char **lines = NULL, *line = NULL;
	size_t cap = 0;
	ssize_t len;
	*n = 0;
	if (!f) {
		lines = malloc(sizeof(char *));
		lines[(*n)++] = strdup("{}");
		return lines;
	}
	while ((len = getline(&line, &cap, f)) > 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		lines = realloc(lines, (size_t)(*n + 1) * sizeof(char *));
		lines[(*n)++] = strdup(line);
	}
	free(line);
	fclose(f);
	return lines;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return (double)v[i] / 1e6;
}

static void report(struct worker *ws, const struct opts *o, double elapsed)
{
	size_t total = 0;
	unsigned long errors = 0, missed = 0;
	for (int i = 0; i < o->clients; i++) {
		total += ws[i].nlat;
		errors += ws[i].errors;
		missed += ws[i].missed;
	}
	uint64_t *all = malloc((total + 1) * sizeof(uint64_t));
	size_t k = 0;
	for (int i = 0; i < o->clients; i++) {
		if (ws[i].nlat == 0)
			continue; /* lat_ns is NULL: nothing recorded */
		memcpy(all + k, ws[i].lat_ns, ws[i].nlat * sizeof(uint64_t));
		k += ws[i].nlat;
	}
	qsort(all, total, sizeof(uint64_t), cmp_u64);
	printf("method=%s%s%s clients=%d ", o->method, o->then_method ? "+" : "",
	       o->then_method ? o->then_method : "", o->clients);
	if (o->rate > 0)
		printf("mode=open rate=%.1f missed=%lu ", o->rate, missed);
	else
		printf("mode=closed ");
	printf("seconds=%.1f ok=%zu errors=%lu ops_per_s=%.1f "
	       "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n",
	       elapsed, total, errors, (double)total / elapsed, pct(all, total, 0.50),
	       pct(all, total, 0.90), pct(all, total, 0.99), pct(all, total, 0.999), pct(all, total, 1.0));
	for (int i = 0; i < o->clients; i++)
		if (ws[i].first_error[0]) {
			printf("first error: %s\n", ws[i].first_error);
			break;
		}
	free(all);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = { { "then", 1, NULL, 'T' }, { NULL, 0, NULL, 0 } };
	int c;
	*o = (struct opts){ "127.0.0.1:7878", getenv("RESPITE_TOKEN"), "system.ping", NULL, NULL,
			    NULL, 8, 10.0, 0, 0 };
	while ((c = getopt_long(argc, argv, "c:t:n:d:m:p:r:k:", longs, NULL)) != -1) {
		switch (c) {
		case 'c': o->connect = optarg; break;
		case 't': o->token = optarg; break;
		case 'n': o->clients = atoi(optarg); break;
		case 'd': o->seconds = atof(optarg); break;
		case 'm': o->method = optarg; break;
		case 'p': o->params_file = optarg; break;
		case 'r': o->rate = atof(optarg); if (o->rate <= 0) return -1; break;
		case 'k': o->count = atol(optarg); if (o->count <= 0) return -1; break;
		case 'T': {
			char *colon = strchr(optarg, ':');
			if (!colon)
				return -1;
			*colon = '\0';
			o->then_method = optarg;
			o->then_field = colon + 1;
			break;
		}
		default: return -1;
		}
	}
	return o->clients > 0 && o->clients <= 1000 && o->seconds > 0 && !(o->count && o->rate > 0) ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse_opts(argc, argv, &o) != 0) {
		fprintf(stderr, "usage: respite-bench [-c HOST:PORT] [-t TOKEN] [-n CLIENTS] [-d SECONDS]\n"
				"                     [-m METHOD] [-p PARAMS.jsonl] [--then METHOD:FIELD]\n"
				"                     [-r CALLS_PER_SECOND]   (open loop: a fixed schedule)\n"
				"                     [-k OPERATIONS_PER_CLIENT]   (a fixed amount of work)\n");
		return 2;
	}
	int nlines;
	char **lines = read_lines(o.params_file, &nlines);
	if (nlines == 0) {
		fprintf(stderr, "respite-bench: no params in %s\n", o.params_file);
		return 2;
	}
	struct worker *ws = calloc((size_t)o.clients, sizeof(*ws));
	/* open loop: the schedule starts once the clients have had time to log in */
	sched_start = now_ns() + 200000000ull;
	sched_end = sched_start + (uint64_t)(o.seconds * 1e9);
	clients_left = o.clients;
	for (int i = 0; i < o.clients; i++) {
		ws[i] = (struct worker){ .o = &o, .index = i, .lines = lines, .nlines = nlines };
		pthread_create(&ws[i].thread, NULL, run_worker, &ws[i]);
	}
	uint64_t t0 = o.rate > 0 ? sched_start : now_ns();
	if (o.rate > 0) {
		sleep_until(sched_end);
	} else {
		/* with -k the clients stop by themselves; -d still bounds the run */
		uint64_t end = t0 + (uint64_t)(o.seconds * 1e9);
		while (now_ns() < end && (o.count == 0 || __atomic_load_n(&clients_left, __ATOMIC_SEQ_CST) > 0))
			usleep(o.count ? 1000 : (useconds_t)((end - now_ns()) / 1000 + 1));
	}
	stop_flag = 1;
	for (int i = 0; i < o.clients; i++)
		pthread_join(ws[i].thread, NULL);
	report(ws, &o, (double)(now_ns() - t0) / 1e9);
	for (int i = 0; i < o.clients; i++)
		free(ws[i].lat_ns);
	for (int i = 0; i < nlines; i++)
		free(lines[i]);
	free(lines);
	free(ws);
	return 0;
}
