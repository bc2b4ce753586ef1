/*
 * Hostile and careless clients against the real daemon on real sockets:
 * running out of file descriptors, floods of idle connections from one
 * address, slowloris on HTTP, back-pressure that must not look like a slow
 * client, a proxy's X-Forwarded-For, strict HTTP framing, browser
 * hardening headers, static files that point out of web_dir.
 *
 * The limits are scaled down (deadlines of a second or so, caps of a few
 * connections) and the tests check mechanisms, not timings: whether a
 * connection was cut or answered, what /metrics counts, how many lines
 * the log holds. Every wait is bounded, so a daemon that spins or blocks
 * fails a test instead of hanging it.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *db;
static char webdir[64];
static struct h_daemon dmain; /* web_dir with hostile entries, small bodies */

static uint64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) { usleep((useconds_t)ms * 1000); }

/* ---- raw sockets ---- */

/* A TCP connection to 127.0.0.1:port, from a given loopback address when
 * from is not NULL (the daemon then sees another client). Connecting is
 * bounded: a daemon that accepts nothing must not hang the test. */
static int tcp_connect(int port, const char *from)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (from) {
		struct sockaddr_in me = { .sin_family = AF_INET };
		inet_pton(AF_INET, from, &me.sin_addr);
		if (bind(fd, (struct sockaddr *)&me, sizeof(me)) != 0)
			goto fail;
	}
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0 && errno != EINPROGRESS)
		goto fail;
	struct pollfd p = { fd, POLLOUT, 0 };
	int err = 0;
	socklen_t len = sizeof(err);
	if (poll(&p, 1, 2000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err)
		goto fail;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
fail:
	close(fd);
	return -1;
}

static int send_str(int fd, const char *s)
{
	size_t len = strlen(s);
	return send(fd, s, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static int wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	return poll(&p, 1, timeout_ms);
}

static long content_length(const char *head)
{
	const char *p = strcasestr(head, "\r\ncontent-length:");
	return p ? atol(p + strlen("\r\ncontent-length:")) : 0;
}

/* One answer: its head, then as many body bytes as Content-Length says
 * (none when no_body: the answer to HEAD). NULL when it did not come. */
static char *read_answer(int fd, int timeout_ms, int no_body)
{
	char head[32768];
	size_t n = 0;
	while (n < sizeof(head) - 1) {
		if (wait_readable(fd, timeout_ms) != 1 || recv(fd, head + n, 1, 0) != 1)
			return NULL;
		if (++n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	head[n] = '\0';
	long body = no_body || strncmp(head, "HTTP/1.1 1", 10) == 0 ? 0 : content_length(head);
	char *out = malloc(n + (size_t)body + 1);
	memcpy(out, head, n);
	for (long got = 0; got < body;) {
		ssize_t r = wait_readable(fd, timeout_ms) == 1 ? recv(fd, out + n + got, (size_t)(body - got), 0) : -1;
		if (r <= 0) {
			free(out);
			return NULL;
		}
		got += r;
	}
	out[n + (size_t)body] = '\0';
	return out;
}

static int status_of(const char *answer)
{
	int st = 0;
	return answer && sscanf(answer, "HTTP/1.1 %d", &st) == 1 ? st : 0;
}

static const char *body_of(const char *answer)
{
	const char *sep = answer ? strstr(answer, "\r\n\r\n") : NULL;
	return sep ? sep + 4 : "";
}

/* The peer closed within timeout_ms (whatever it sent first is dropped). */
static int closed_within(int fd, int timeout_ms)
{
	char buf[4096];
	uint64_t end = ms_now() + (uint64_t)timeout_ms;
	while (ms_now() < end) {
		if (wait_readable(fd, (int)(end - ms_now())) != 1)
			return 0;
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return 1;
		if (r < 0)
			return 0;
	}
	return 0;
}

/* One request on a connection of its own; the answer (malloc'd) or NULL. */
static char *request_from(int port, const char *from, const char *req)
{
	int fd = tcp_connect(port, from);
	if (fd < 0)
		return NULL;
	char *answer = send_str(fd, req) == 0 ? read_answer(fd, 5000, strncmp(req, "HEAD ", 5) == 0) : NULL;
	close(fd);
	return answer;
}

static char *request(const struct h_daemon *d, const char *req)
{
	return request_from(d->http_port, NULL, req);
}

static int get_status(const struct h_daemon *d, const char *path)
{
	char req[512];
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
	char *a = request(d, req);
	int st = status_of(a);
	free(a);
	return st;
}

/* A value from GET /metrics (asked from 127.0.0.1), or -1. */
static long metric(const struct h_daemon *d, const char *name)
{
	char *a = request(d, "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	char want[256];
	long v = -1;
	snprintf(want, sizeof(want), "\n%s ", name);
	const char *p = a ? strstr(a, want) : NULL; /* no head line starts with a metric */
	if (p)
		v = atol(p + strlen(want));
	free(a);
	return v;
}

/* Waits (a few seconds at most) until a metric has a value. */
static int wait_metric(const struct h_daemon *d, const char *name, long want)
{
	for (int i = 0; i < 50; i++, sleep_ms(100))
		if (metric(d, name) == want)
			return 1;
	return 0;
}

/* A JSON-RPC ping over TCP on fd; 1 when it was answered. */
static int ping_fd(int fd)
{
	static const char ping[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"system.ping\"}\n";
	char buf[512];
	if (send_str(fd, ping) != 0 || wait_readable(fd, 3000) != 1)
		return 0;
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strstr(buf, "\"pong\":true") != NULL;
}

/* A new TCP connection answers a ping, within a few tries. */
static int ping_new(const struct h_daemon *d, const char *from)
{
	for (int i = 0; i < 20; i++) {
		int fd = tcp_connect(d->rpc_port, from);
		int ok = fd >= 0 && ping_fd(fd);
		if (fd >= 0)
			close(fd);
		if (ok)
			return 1;
		sleep_ms(250);
	}
	return 0;
}

/* ---- logs ---- */

static void log_path(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/respited-hostile-%d-XXXXXX", (int)getpid());
	int fd = mkstemp(buf);
	ck_assert_int_ge(fd, 0);
	close(fd);
}

/* Lines of the log (up to its first 8 MiB) that contain needle (all: NULL). */
static int log_lines(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int n = 0;
	long seen = 0;
	if (!f)
		return -1;
	while (seen < (8L << 20) && fgets(line, sizeof(line), f)) {
		seen += (long)strlen(line);
		n += !needle || strstr(line, needle) != NULL;
	}
	fclose(f);
	return n;
}

static int start_with_log(struct h_daemon *d, const char *path, long nofile,
			  const char *const *extra)
{
	struct h_daemon_opts o = { path, 8L << 20, nofile };
	return h_daemon_start_opts(d, db, extra, &o);
}

static int count_fds(pid_t pid)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *dp = opendir(dir);
	int n = 0;
	if (!dp)
		return -1;
	for (struct dirent *e; (e = readdir(dp));)
		n += e->d_name[0] != '.';
	closedir(dp);
	return n;
}

/* ---- file descriptors run out (defect 2) ---- */

/* Under `ulimit -n 256`, 300 idle TCP connections: the caps are fitted to
 * the limit at start, so the ones over it are refused by count (one log
 * line), HTTP keeps its own slots, and a slot freed is used again. */
START_TEST(fd_limit_idle_tcp_flood)
{
	enum { N = 300 };
	char path[64];
	int fds[N];
	struct h_daemon d;
	log_path(path, sizeof(path));
	ck_assert_int_eq(start_with_log(&d, path, 256, NULL), 0);
	for (int i = 0; i < N; i++)
		fds[i] = tcp_connect(d.rpc_port, "127.0.0.5");
	sleep_ms(1000);
	ck_assert_int_eq(get_status(&d, "/healthz"), 200);
	for (int i = 0; i < 20; i++)
		close(fds[i]);
	ck_assert_msg(ping_new(&d, "127.0.0.5"), "no ping on a freed slot");
	for (int i = 20; i < N; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	ck_assert_msg(ping_new(&d, NULL), "did not recover");
	ck_assert_int_gt(metric(&d, "respited_refused_total{reason=\"max_connections\"}"), 0);
	long cap = metric(&d, "respited_connections_max{transport=\"tcp\"}");
	ck_assert_msg(cap > 0 && cap < 256, "tcp cap %ld", cap);
	int lines = log_lines(path, NULL);
	ck_assert_msg(lines >= 0 && lines < 20, "the log holds %d lines", lines);
	ck_assert_int_eq(log_lines(path, "event=fd_limit result=clamped"), 1);
	ck_assert_int_le(log_lines(path, "event=client_refused"), 2);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
	unlink(path);
}
END_TEST

/* The same with 300 HTTP requests that never finish their head: HTTP has
 * a cap of its own, TCP clients are not locked out, and the half-sent
 * requests are cut by the header deadline. */
START_TEST(fd_limit_half_sent_http_flood)
{
	enum { N = 300 };
	char path[64];
	int fds[N], refused = 0;
	struct h_daemon d;
	const char *const extra[] = { "--set", "http_header_timeout_ms=1500", NULL };
	log_path(path, sizeof(path));
	ck_assert_int_eq(start_with_log(&d, path, 256, extra), 0);
	for (int i = 0; i < N; i++) {
		fds[i] = tcp_connect(d.http_port, "127.0.0.6");
		if (fds[i] >= 0)
			send_str(fds[i], "GET / HTTP/1.1\r\nHost: x\r\n");
	}
	ck_assert_msg(ping_new(&d, NULL), "TCP locked out by HTTP");
	for (int i = N - 1; i >= 0 && !refused; i--) {
		char *a = fds[i] >= 0 ? read_answer(fds[i], 200, 0) : NULL;
		refused = status_of(a) == 503;
		free(a);
	}
	ck_assert_msg(refused, "no HTTP connection was refused");
	int up = 0;
	for (int i = 0; i < 40 && !up; i++, sleep_ms(250))
		up = get_status(&d, "/healthz") == 200;
	ck_assert_msg(up, "HTTP did not recover");
	for (int i = 0; i < N; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	ck_assert_int_gt(metric(&d, "respited_refused_total{reason=\"max_http_connections\"}"), 0);
	ck_assert_int_gt(metric(&d, "respited_http_deadline_total{phase=\"headers\"}"), 0);
	int lines = log_lines(path, NULL);
	ck_assert_msg(lines >= 0 && lines < 20, "the log holds %d lines", lines);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
	unlink(path);
}
END_TEST

/* Descriptors taken by something else: accept() fails with EMFILE. The
 * listener rests instead of spinning (log lines bounded), then accepts
 * again once descriptors are free. */
START_TEST(emfile_pauses_accepting)
{
	enum { N = 40 };
	char path[64];
	int fds[N];
	struct h_daemon d;
	log_path(path, sizeof(path));
	ck_assert_int_eq(start_with_log(&d, path, 0, NULL), 0);
	/* the pool is connected: nothing but accept() will want a descriptor */
	ck_assert(wait_metric(&d, "respited_db_connections{state=\"connecting\"}", 0));
	int before = log_lines(path, NULL);
	struct rlimit old, low;
	ck_assert_int_eq(prlimit(d.pid, RLIMIT_NOFILE, NULL, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)count_fds(d.pid) + 5;
	ck_assert_int_eq(prlimit(d.pid, RLIMIT_NOFILE, &low, NULL), 0);
	for (int i = 0; i < N; i++)
		fds[i] = tcp_connect(d.rpc_port, "127.0.0.7");
	sleep_ms(1500);
	int lines = log_lines(path, NULL) - before;
	ck_assert_msg(lines <= 5, "%d log lines while out of descriptors", lines);
	ck_assert_int_ge(log_lines(path, "event=accept_paused"), 1);
	for (int i = 0; i < N; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	ck_assert_msg(ping_new(&d, NULL), "accepting did not resume");
	ck_assert_int_eq(prlimit(d.pid, RLIMIT_NOFILE, &old, NULL), 0);
	ck_assert_int_gt(metric(&d, "respited_accept_paused_total{transport=\"tcp\"}"), 0);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
	unlink(path);
}
END_TEST

/* ---- the line timer and back-pressure (defect 5) ---- */

/* Holds an exclusive lock on table until lock_release(). */
static PGconn *lock_table(const char *table)
{
	char sql[128];
	PGconn *c = PQconnectdb(db);
	ck_assert_int_eq(PQstatus(c), CONNECTION_OK);
	PQclear(PQexec(c, "BEGIN"));
	snprintf(sql, sizeof(sql), "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", table);
	PGresult *r = PQexec(c, sql);
	ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	return c;
}

static void lock_release(PGconn *c)
{
	PQclear(PQexec(c, "COMMIT"));
	PQfinish(c);
}

static const char *const backpressure_limits[] = {
	"--set", "line_timeout_ms=500", "--set", "max_inflight=4", NULL
};

/* A login and the call after it, sent together while the database is
 * busy: the second line waits behind the login (a barrier) for longer
 * than line_timeout_ms, and both are answered. */
START_TEST(pipelined_login_outlasts_line_timeout)
{
	struct h_daemon d;
	ck_assert_int_eq(h_daemon_start(&d, db, backpressure_limits), 0);
	struct h_client *c = h_connect(&d);
	const char *two =
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"session.login\",\"params\":{\"username\":\"carol\",\"password\":\"carer-pass\"}}\n"
		"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"session.whoami\"}\n";
	PGconn *lock = lock_table("app_user");
	h_send_raw(c, two, strlen(two));
	sleep_ms(1500);
	lock_release(lock);
	char *a = h_read_line(c, 10000), *b = h_read_line(c, 10000);
	ck_assert_msg(a && strstr(a, "\"token\""), "login: %s", a ? a : "(cut)");
	ck_assert_msg(b && strstr(b, "\"carol\""), "whoami: %s", b ? b : "(cut)");
	free(a);
	free(b);
	h_close(c);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
}
END_TEST

/* 40 calls pipelined behind max_inflight=4 while a table lock holds them
 * longer than line_timeout_ms: every answer comes, in order. A partial
 * line sent after them is still cut once reading resumes. */
START_TEST(pipelined_calls_behind_max_inflight)
{
	enum { N = 40 };
	struct h_daemon d;
	ck_assert_int_eq(h_daemon_start(&d, db, backpressure_limits), 0);
	struct h_client *c = h_connect(&d);
	ck_assert_ptr_nonnull(h_login(c, "carol", "carer-pass"));
	char *buf = malloc(N * 96 + 64), *w = buf;
	for (int i = 0; i < N; i++)
		w += sprintf(w, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"capability.list\"}\n", 100 + i);
	strcpy(w, "{\"jsonrpc\":");
	PGconn *lock = lock_table("capability");
	h_send_raw(c, buf, strlen(buf));
	sleep_ms(1500);
	lock_release(lock);
	for (int i = 0; i < N; i++) {
		char *line = h_read_line(c, 10000), want[32];
		ck_assert_msg(line != NULL, "answer %d of %d missing", i + 1, N);
		snprintf(want, sizeof(want), "\"id\":%d", 100 + i);
		ck_assert_msg(strstr(line, want) && strstr(line, "\"result\""), "%d: %s", i, line);
		free(line);
	}
	uint64_t t0 = ms_now();
	ck_assert_ptr_null(h_read_line(c, 8000));
	ck_assert_msg(ms_now() - t0 < 7000, "the partial line was never cut");
	free(buf);
	h_close(c);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
}
END_TEST

/* ---- slow and idle clients (defect 7) ---- */

static const char *const deadline_limits[] = {
	"--set", "http_header_timeout_ms=1000", "--set", "http_body_timeout_ms=1000",
	"--set", "anon_idle_timeout_s=1", NULL
};

/* Headers trickled one line at a time, each well within any per-read
 * timeout: the whole head has a deadline, and they are cut with 408. */
START_TEST(slowloris_headers_are_cut)
{
	enum { N = 5 };
	struct h_daemon d;
	int fds[N], cut = 0;
	ck_assert_int_eq(h_daemon_start(&d, db, deadline_limits), 0);
	for (int i = 0; i < N; i++) {
		fds[i] = tcp_connect(d.http_port, NULL);
		ck_assert_int_ge(fds[i], 0);
		send_str(fds[i], "GET / HTTP/1.1\r\nHost: t\r\n");
	}
	for (int round = 0; round < 30 && cut < N; round++) {
		sleep_ms(200);
		for (int i = 0; i < N; i++) {
			if (fds[i] < 0)
				continue;
			if (send_str(fds[i], "X-Slow: 1\r\n") != 0 || wait_readable(fds[i], 0) == 1) {
				char *a = read_answer(fds[i], 1000, 0);
				ck_assert_int_eq(status_of(a), 408);
				free(a);
				ck_assert(closed_within(fds[i], 3000));
				close(fds[i]);
				fds[i] = -1;
				cut++;
			}
		}
	}
	ck_assert_int_eq(cut, N);
	ck_assert_int_ge(metric(&d, "respited_http_deadline_total{phase=\"headers\"}"), N);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
}
END_TEST

/* One body byte at a time: the body has a deadline of its own. */
START_TEST(slow_body_is_cut)
{
	struct h_daemon d;
	ck_assert_int_eq(h_daemon_start(&d, db, deadline_limits), 0);
	int fd = tcp_connect(d.http_port, NULL), answered = 0;
	send_str(fd, "POST /rpc HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
		     "Content-Length: 100\r\n\r\n");
	for (int i = 0; i < 30 && !answered; i++) {
		sleep_ms(200);
		answered = send_str(fd, "{") != 0 || wait_readable(fd, 0) == 1;
	}
	ck_assert_msg(answered, "a body sent one byte at a time was never cut");
	char *a = read_answer(fd, 1000, 0);
	ck_assert_int_eq(status_of(a), 408);
	free(a);
	close(fd);
	ck_assert_int_ge(metric(&d, "respited_http_deadline_total{phase=\"body\"}"), 1);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
}
END_TEST

/* A connection that sends nothing, on either port, is closed: HTTP by the
 * header deadline, TCP by the idle timeout before login; one logged in
 * stays. */
START_TEST(idle_connections_are_closed)
{
	struct h_daemon d;
	ck_assert_int_eq(h_daemon_start(&d, db, deadline_limits), 0);
	int http = tcp_connect(d.http_port, NULL), tcp = tcp_connect(d.rpc_port, NULL);
	struct h_client *user = h_connect(&d);
	ck_assert_ptr_nonnull(h_login(user, "carol", "carer-pass"));
	ck_assert_msg(closed_within(http, 5000), "idle HTTP connection kept");
	ck_assert_msg(closed_within(tcp, 5000), "idle anonymous TCP connection kept");
	sleep_ms(1500);
	json_object *r = h_call(user, "system.ping", NULL);
	ck_assert_msg(r && h_result(r), "the logged-in connection was closed");
	json_object_put(r);
	ck_assert_int_ge(metric(&d, "respited_http_deadline_total{phase=\"idle\"}"), 1);
	close(http);
	close(tcp);
	h_close(user);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
}
END_TEST

/* One address may hold max_conns_per_address connections, TCP and HTTP
 * together; the next are refused (and the refusals logged once per
 * interval), while other addresses are served. */
START_TEST(per_address_cap)
{
	enum { CAP = 4 };
	char path[64];
	int fds[CAP];
	struct h_daemon d;
	const char *const extra[] = { "--set", "max_conns_per_address=4", NULL };
	log_path(path, sizeof(path));
	ck_assert_int_eq(start_with_log(&d, path, 0, extra), 0);
	for (int i = 0; i < CAP; i++) {
		fds[i] = tcp_connect(d.rpc_port, "127.0.0.2");
		ck_assert_msg(fds[i] >= 0 && ping_fd(fds[i]), "connection %d refused", i);
	}
	int extra_fd = tcp_connect(d.rpc_port, "127.0.0.2");
	ck_assert_msg(closed_within(extra_fd, 3000), "connection over the cap kept");
	close(extra_fd);
	char *a = request_from(d.http_port, "127.0.0.2", "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(status_of(a), 503);
	free(a);
	for (int i = 0; i < 50; i++) {
		int fd = tcp_connect(d.rpc_port, "127.0.0.2");
		if (fd >= 0)
			close(fd);
	}
	ck_assert_int_eq(get_status(&d, "/healthz"), 200); /* 127.0.0.1 is another client */
	close(fds[0]);
	ck_assert_msg(ping_new(&d, "127.0.0.2"), "the freed slot was not given back");
	ck_assert_int_ge(metric(&d, "respited_refused_total{reason=\"per_address\"}"), 2);
	int lines = log_lines(path, "event=client_refused");
	ck_assert_msg(lines >= 1 && lines <= 2, "%d refusal lines", lines);
	for (int i = 1; i < CAP; i++)
		close(fds[i]);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
	unlink(path);
}
END_TEST

/* max_http_connections and max_connections refuse by transport, counted
 * apart in /metrics. */
START_TEST(transport_caps)
{
	struct h_daemon d;
	const char *const extra[] = { "--set", "max_http_connections=3", "--set", "max_connections=3", NULL };
	int h[3], t[3];
	ck_assert_int_eq(h_daemon_start(&d, db, extra), 0);
	ck_assert(wait_metric(&d, "respited_connections{transport=\"tcp\"}", 0));
	for (int i = 0; i < 3; i++) {
		h[i] = tcp_connect(d.http_port, "127.0.0.3");
		t[i] = tcp_connect(d.rpc_port, "127.0.0.3");
		ck_assert(ping_fd(t[i]));
	}
	char *a = request_from(d.http_port, "127.0.0.4", "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(status_of(a), 503);
	ck_assert_ptr_nonnull(strstr(a, "X-Frame-Options: DENY"));
	free(a);
	int fd = tcp_connect(d.rpc_port, "127.0.0.4");
	ck_assert(closed_within(fd, 3000));
	close(fd);
	close(h[0]);
	close(t[0]);
	int ok = 0;
	for (int i = 0; i < 20 && !ok; i++, sleep_ms(100))
		ok = metric(&d, "respited_refused_total{reason=\"max_http_connections\"}") >= 1;
	ck_assert(ok);
	ck_assert_int_ge(metric(&d, "respited_refused_total{reason=\"max_connections\"}"), 1);
	ck_assert_int_eq(metric(&d, "respited_connections_max{transport=\"http\"}"), 3);
	for (int i = 1; i < 3; i++) {
		close(h[i]);
		close(t[i]);
	}
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
}
END_TEST

/* ---- behind a proxy ---- */

static int status_with_forwarded(const struct h_daemon *d, const char *from, const char *path,
				 const char *xff)
{
	char req[512];
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: %s\r\n\r\n", path, xff);
	char *a = request_from(d->http_port, from, req);
	int st = status_of(a);
	free(a);
	return st;
}

/* The proxy's X-Forwarded-For names the client: for /metrics, for the
 * per-address cap (the proxy itself is not capped), for the request's
 * peer; nobody else's is believed. */
START_TEST(trusted_proxy_names_the_client)
{
	char path[64];
	struct h_daemon d;
	const char *const extra[] = {
		"--set", "trusted_proxies=127.0.0.1", "--set", "metrics_allow=198.51.100.0/24",
		"--set", "max_conns_per_address=2", "--log-level", "debug", NULL
	};
	log_path(path, sizeof(path));
	ck_assert_int_eq(start_with_log(&d, path, 0, extra), 0);
	ck_assert_int_eq(get_status(&d, "/metrics"), 403);
	ck_assert_int_eq(status_with_forwarded(&d, NULL, "/metrics", "198.51.100.9"), 200);
	ck_assert_int_eq(status_with_forwarded(&d, NULL, "/metrics", "203.0.113.5"), 403);
	ck_assert_int_eq(status_with_forwarded(&d, NULL, "/metrics", "198.51.100.9, 127.0.0.1"), 200);
	ck_assert_int_eq(status_with_forwarded(&d, "127.0.0.2", "/metrics", "198.51.100.9"), 403);
	/* three keep-alive connections through the proxy for one client */
	int fds[4], st[4];
	for (int i = 0; i < 4; i++) {
		fds[i] = tcp_connect(d.http_port, NULL);
		send_str(fds[i], i < 3 ? "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n"
				       : "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.8\r\n\r\n");
		char *a = read_answer(fds[i], 5000, 0);
		st[i] = status_of(a);
		free(a);
	}
	ck_assert_int_eq(st[0], 200);
	ck_assert_int_eq(st[1], 200);
	ck_assert_int_eq(st[2], 429);
	ck_assert_int_eq(st[3], 200);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	char *a = request(&d, "POST /rpc HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.9\r\n"
			      "Content-Type: application/json\r\nContent-Length: 47\r\n\r\n"
			      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"system.ping\"}");
	ck_assert_int_eq(status_of(a), 200);
	free(a);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
	ck_assert_int_ge(log_lines(path, "event=http_request conn="), 1);
	ck_assert_int_ge(log_lines(path, "client=203.0.113.9 method=POST path=\"/rpc\" status=200"), 1);
	unlink(path);
}
END_TEST

/* ---- HTTP answers (defects 10 and 12) ---- */

static void assert_hardened(const char *answer)
{
	ck_assert_ptr_nonnull(answer);
	const char *want[] = {
		"\r\nX-Frame-Options: DENY\r\n", "\r\nReferrer-Policy: no-referrer\r\n",
		"\r\nX-Content-Type-Options: nosniff\r\n", "frame-ancestors 'none'",
		"\r\nContent-Security-Policy: ",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(strstr(answer, want[i]) != NULL, "no %s in:\n%s", want[i], answer);
}

static const struct {
	const char *req;
	int status;
} answers[] = {
	{ "GET / HTTP/1.1\r\nHost: t\r\n\r\n", 200 },
	{ "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 200 },
	{ "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", 200 },
	{ "GET /nope.html HTTP/1.1\r\nHost: t\r\n\r\n", 404 },
	{ "GET /rpc HTTP/1.1\r\nHost: t\r\n\r\n", 405 },
	{ "DELETE /rpc HTTP/1.1\r\nHost: t\r\n\r\n", 405 },
	{ "POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405 },
	{ "PUT / HTTP/1.1\r\nHost: t\r\n\r\n", 405 },
	{ "BREW / HTTP/1.1\r\nHost: t\r\n\r\n", 501 },
	{ "GET / HTTP/1.1\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400 },
	{ "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505 },
	{ "POST /rpc HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n{}xx", 400 },
	{ "POST /rpc HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501 },
	{ "POST /rpc HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n", 413 },
	{ "POST /rpc HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}", 415 },
	{ "POST /rpc HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}", 415 },
	{ "POST /rpc HTTP/1.1\r\nHost: t\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 47\r\n\r\n"
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"system.ping\"}", 200 },
	{ "POST /rpc HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 43\r\n\r\n"
	  "{\"jsonrpc\":\"2.0\",\"method\":\"system.version\"}", 204 },
	{ "POST /rpc HTTP/1.1\r\nHost: t\r\nExpect: 200-ok\r\nContent-Length: 0\r\n\r\n", 417 },
};

START_TEST(every_answer_is_hardened)
{
	char *a = request(&dmain, answers[_i].req);
	ck_assert_msg(status_of(a) == answers[_i].status, "%s\n-> %s", answers[_i].req, a ? a : "(none)");
	assert_hardened(a);
	free(a);
}
END_TEST

START_TEST(oversized_head_is_refused)
{
	char *req = malloc(20000);
	int n = sprintf(req, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ");
	memset(req + n, 'a', 18000);
	strcpy(req + n + 18000, "\r\n\r\n");
	char *a = request(&dmain, req);
	ck_assert_int_eq(status_of(a), 431);
	assert_hardened(a);
	free(a);
	free(req);
}
END_TEST

static long version_calls(void)
{
	long v = metric(&dmain, "respited_requests_total{method=\"system.version\"}");
	return v < 0 ? 0 : v;
}

/* A cross-site form can POST text/plain without asking: such a body is
 * refused before it reaches JSON-RPC. */
START_TEST(text_plain_post_is_not_executed)
{
	static const char body[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"system.version\"}";
	char req[512];
	long before = version_calls();
	snprintf(req, sizeof(req), "POST /rpc HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
		 "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
	char *a = request(&dmain, req);
	ck_assert_int_eq(status_of(a), 415);
	ck_assert_ptr_null(strstr(a, "jsonrpc"));
	free(a);
	ck_assert_int_eq(version_calls(), before);
	snprintf(req, sizeof(req), "POST /rpc HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
	a = request(&dmain, req);
	ck_assert_int_eq(status_of(a), 200);
	free(a);
	ck_assert_int_eq(version_calls(), before + 1);
}
END_TEST

/* Keep-alive: answers in order on one connection, pipelined or not;
 * Connection: close and HTTP/1.0 end it; Expect: 100-continue gets its
 * interim answer before the body is sent. */
START_TEST(keep_alive_pipelining_and_continue)
{
	int fd = tcp_connect(dmain.http_port, NULL);
	send_str(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
		     "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
		     "POST /rpc HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 47\r\n\r\n"
		     "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"system.ping\"}");
	int want[] = { 200, 404, 200 };
	for (int i = 0; i < 3; i++) {
		char *a = read_answer(fd, 5000, 0);
		ck_assert_msg(status_of(a) == want[i], "answer %d: %s", i, a ? a : "(none)");
		if (i == 2)
			ck_assert_ptr_nonnull(strstr(body_of(a), "\"id\":7"));
		free(a);
	}
	send_str(fd, "POST /rpc HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
		     "Expect: 100-continue\r\nContent-Length: 47\r\n\r\n");
	char *a = read_answer(fd, 5000, 0);
	ck_assert_int_eq(status_of(a), 100);
	free(a);
	send_str(fd, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"system.ping\"}");
	a = read_answer(fd, 5000, 0);
	ck_assert_int_eq(status_of(a), 200);
	free(a);
	send_str(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	a = read_answer(fd, 5000, 0);
	ck_assert_ptr_nonnull(strstr(a, "\r\nConnection: close\r\n"));
	free(a);
	ck_assert(closed_within(fd, 3000));
	close(fd);
	fd = tcp_connect(dmain.http_port, NULL);
	send_str(fd, "GET /healthz HTTP/1.0\r\n\r\n");
	a = read_answer(fd, 5000, 0);
	ck_assert_int_eq(status_of(a), 200);
	free(a);
	ck_assert(closed_within(fd, 3000));
	close(fd);
}
END_TEST

START_TEST(head_requests_and_allow)
{
	char *get = request(&dmain, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
	int fd = tcp_connect(dmain.http_port, NULL);
	send_str(fd, "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
	char *head = read_answer(fd, 5000, 1);
	ck_assert_int_eq(status_of(head), 200);
	ck_assert_int_eq(content_length(head), (long)strlen(body_of(get)));
	ck_assert_str_eq(body_of(head), "");
	send_str(fd, "HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
	free(head);
	head = read_answer(fd, 5000, 1);
	ck_assert_int_eq(status_of(head), 200); /* and no body came before it */
	close(fd);
	free(head);
	free(get);
	char *a = request(&dmain, "GET /rpc HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(a, "\r\nAllow: POST\r\n"));
	free(a);
	a = request(&dmain, "POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(a, "\r\nAllow: GET, HEAD\r\n"));
	free(a);
}
END_TEST

/* ---- static files (defect 8) ---- */

/* web_dir for the main daemon: the web client, a link to /etc/passwd, a
 * link to /etc and a FIFO. Runs before the tests (no ck_assert). */
static int make_webdir(void)
{
	char cmd[512];
	snprintf(webdir, sizeof(webdir), "/tmp/respited-hweb-XXXXXX");
	if (!mkdtemp(webdir))
		return -1;
	snprintf(cmd, sizeof(cmd), "cp '%s/clients/web/index.html' '%s/' && ln -s /etc/passwd '%s/passwd.txt'"
		 " && ln -s /etc '%s/etc' && mkfifo '%s/pipe.txt'", getenv("RESPITE_SRCDIR"), webdir,
		 webdir, webdir, webdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A daemon that blocked on the FIFO is let go (by a writer appearing), so
 * that a failing test does not leave it stuck. */
static void release_fifo(void)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/pipe.txt", webdir);
	int fd = open(path, O_WRONLY | O_NONBLOCK);
	if (fd >= 0)
		close(fd);
}

START_TEST(static_files_stay_in_web_dir)
{
	char *a = request(&dmain, "GET /passwd.txt HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(status_of(a), 404);
	ck_assert_ptr_null(strstr(a, "root:"));
	free(a);
	ck_assert_int_eq(get_status(&dmain, "/etc/passwd"), 404);
	ck_assert_int_eq(get_status(&dmain, "/../../etc/passwd"), 404);
	ck_assert_int_eq(get_status(&dmain, "/%2e%2e/%2e%2e/etc/passwd"), 404);
	/* the FIFO is refused without being opened, and the loop goes on */
	int fd = tcp_connect(dmain.http_port, NULL);
	send_str(fd, "GET /pipe.txt HTTP/1.1\r\nHost: t\r\n\r\n");
	int other = get_status(&dmain, "/");
	char *fifo = read_answer(fd, 3000, 0);
	int st = status_of(fifo);
	free(fifo);
	close(fd);
	release_fifo();
	ck_assert_int_eq(other, 200);
	ck_assert_int_eq(st, 404);
	ck_assert_int_eq(get_status(&dmain, "/index.html"), 200);
}
END_TEST

/* ---- reload ---- */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(reload_applies_http_settings)
{
	char conf[] = "/tmp/respited-hconf-XXXXXX";
	int fd = mkstemp(conf);
	ck_assert_int_ge(fd, 0);
	close(fd);
	write_file(conf, "metrics_allow = 10.0.0.0/8\nmax_http_connections = 50\n");
	const char *const extra[] = { "--config", conf, NULL };
	struct h_daemon d;
	ck_assert_int_eq(h_daemon_start(&d, db, extra), 0);
	ck_assert_int_eq(get_status(&d, "/metrics"), 403);
	write_file(conf, "metrics_allow = 127.0.0.1\nmax_http_connections = 40\n");
	kill(d.pid, SIGHUP);
	int st = 0;
	for (int i = 0; i < 20 && st != 200; i++, sleep_ms(100))
		st = get_status(&d, "/metrics");
	ck_assert_int_eq(st, 200);
	ck_assert_int_eq(metric(&d, "respited_connections_max{transport=\"http\"}"), 40);
	write_file(conf, "metrics_allow = 10.0.0.0/99\nmax_http_connections = 30\n");
	kill(d.pid, SIGHUP);
	sleep_ms(300);
	ck_assert_int_eq(get_status(&d, "/metrics"), 200); /* refused whole */
	ck_assert_int_eq(metric(&d, "respited_connections_max{transport=\"http\"}"), 40);
	ck_assert_int_eq(h_daemon_stop(&d, SIGTERM), 0);
	unlink(conf);
}
END_TEST

static Suite *hostile_suite(void)
{
	Suite *s = suite_create("hostile");
	TCase *tc = tcase_create("fd_limits");
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, fd_limit_idle_tcp_flood);
	tcase_add_test(tc, fd_limit_half_sent_http_flood);
	tcase_add_test(tc, emfile_pauses_accepting);
	suite_add_tcase(s, tc);
	tc = tcase_create("backpressure");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, pipelined_login_outlasts_line_timeout);
	tcase_add_test(tc, pipelined_calls_behind_max_inflight);
	suite_add_tcase(s, tc);
	tc = tcase_create("slow_and_idle");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, slowloris_headers_are_cut);
	tcase_add_test(tc, slow_body_is_cut);
	tcase_add_test(tc, idle_connections_are_closed);
	tcase_add_test(tc, per_address_cap);
	tcase_add_test(tc, transport_caps);
	tcase_add_test(tc, trusted_proxy_names_the_client);
	suite_add_tcase(s, tc);
	tc = tcase_create("http");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, every_answer_is_hardened, 0, (int)(sizeof(answers) / sizeof(answers[0])));
	tcase_add_test(tc, oversized_head_is_refused);
	tcase_add_test(tc, text_plain_post_is_not_executed);
	tcase_add_test(tc, keep_alive_pipelining_and_continue);
	tcase_add_test(tc, head_requests_and_allow);
	tcase_add_test(tc, static_files_stay_in_web_dir);
	tcase_add_test(tc, reload_applies_http_settings);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	h_require_postgres();
	signal(SIGPIPE, SIG_IGN);
	db = h_db_create("hostile");
	if (make_webdir() != 0) {
		fprintf(stderr, "could not make a web_dir\n");
		return 99;
	}
	char web[128];
	snprintf(web, sizeof(web), "%s", webdir);
	const char *const main_limits[] = { "--web-dir", web, "--set", "max_line_bytes=65536", NULL };
	if (h_daemon_start(&dmain, db, main_limits) != 0) {
		fprintf(stderr, "respited did not start\n");
		return 99;
	}
	h_add_user(db, "carol", "carer", "carer-pass", "E09000001");
	SRunner *sr = srunner_create(hostile_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	release_fifo();
	if (h_daemon_stop(&dmain, SIGTERM) != 0) {
		fprintf(stderr, "the main daemon did not exit cleanly\n");
		failed++;
	}
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", webdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", webdir);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
