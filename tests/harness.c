#include "harness.h"
#include "autoconf.h"
#include "kdf.h"
#include "lineio.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char conninfo_buf[512];

static const char *env_or_die(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v) {
		fprintf(stderr, "harness: %s is not set\n", name);
		exit(99);
	}
	return v;
}

void h_require_postgres(void)
{
	if (!getenv("RESPITE_TEST_PGHOST")) {
		fprintf(stderr, "skipped: no test PostgreSQL (run scripts/test.sh)\n");
		exit(77);
	}
	/* The daemon's connections find this release's code first, then the
	 * tables (daemon/deploy.h); the tests' own libpq and psql connections
	 * see the same. The daemon sets its own, whatever this says. */
	setenv("PGOPTIONS", "-c search_path=" RS_CODE_SCHEMA ",public", 1);
}

static void quiet(void *arg, const char *msg) { (void)arg; (void)msg; }

static PGconn *connect_to(const char *conninfo)
{
	PGconn *db = PQconnectdb(conninfo);
	if (PQstatus(db) != CONNECTION_OK) {
		fprintf(stderr, "harness: connect %s: %s\n", conninfo, PQerrorMessage(db));
		exit(99);
	}
	PQsetNoticeProcessor(db, quiet, NULL);
	return db;
}

static void admin_conninfo(char *buf, size_t len, const char *dbname)
{
	snprintf(buf, len, "host=%s port=%s user=%s dbname=%s", env_or_die("RESPITE_TEST_PGHOST"),
		 env_or_die("RESPITE_TEST_PGPORT"), env_or_die("RESPITE_TEST_PGUSER"), dbname);
}

const char *h_db_create(const char *suite)
{
	char admin[512], sql[256], name[64];
	snprintf(name, sizeof(name), "t_%s_%d", suite, (int)getpid());
	admin_conninfo(admin, sizeof(admin), "postgres");
	PGconn *db = connect_to(admin);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", name);
	PQclear(PQexec(db, sql));
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	PGresult *r = PQexec(db, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "harness: %s", PQresultErrorMessage(r));
		exit(99);
	}
	PQclear(r);
	PQfinish(db);
	admin_conninfo(conninfo_buf, sizeof(conninfo_buf), name);
	return conninfo_buf;
}

void h_sql(const char *conninfo, const char *sql)
{
	PGconn *db = connect_to(conninfo);
	PGresult *r = PQexec(db, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		fprintf(stderr, "harness: SQL failed: %s\n%s\n", PQresultErrorMessage(r), sql);
		exit(99);
	}
	PQclear(r);
	PQfinish(db);
}

char *h_sql_value(const char *conninfo, const char *sql)
{
	PGconn *db = connect_to(conninfo);
	PGresult *r = PQexec(db, sql);
	char *v = NULL;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		v = strdup(PQgetvalue(r, 0, 0));
	else if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fprintf(stderr, "harness: %s", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(db);
	return v;
}

static void hexify(const unsigned char *in, size_t n, char *out)
{
	out += sprintf(out, "\\x");
	for (size_t i = 0; i < n; i++)
		out += sprintf(out, "%02x", in[i]);
}

void h_add_user(const char *conninfo, const char *username, const char *role,
		const char *password, const char *authority_code)
{
	unsigned char salt[KDF_SALT_LEN], hash[KDF_HASH_LEN];
	char salthex[64], hashhex[80], sql[1024];
	kdf_new_salt(salt);
	kdf_hash(password, salt, sizeof(salt), 10000, hash);
	hexify(salt, sizeof(salt), salthex);
	hexify(hash, sizeof(hash), hashhex);
	if (authority_code) {
		snprintf(sql, sizeof(sql),
			 "INSERT INTO authority (code, name) VALUES ('%s', 'Test %s') ON CONFLICT DO NOTHING;",
			 authority_code, authority_code);
		h_sql(conninfo, sql);
	}
	snprintf(sql, sizeof(sql),
		 "INSERT INTO app_user (username, role, authority_id, pw_salt, pw_hash, pw_iterations) "
		 "VALUES ('%s', '%s', (SELECT id FROM authority WHERE code = %s%s%s), '%s', '%s', 10000)",
		 username, role, authority_code ? "'" : "", authority_code ? authority_code : "NULL",
		 authority_code ? "'" : "", salthex, hashhex);
	h_sql(conninfo, sql);
}

/* ---- the daemon ---- */

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		close(fd);
		return -1;
	}
	close(fd);
	return ntohs(sa.sin_port);
}

static int wait_accepting(struct h_daemon *d)
{
	for (int i = 0; i < 200; i++) {
		int fd = lineio_connect(d->rpc_addr);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		int status;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			return -1;
		}
		usleep(50000);
	}
	return -1;
}

/* Accepting is not enough: the database pool may still be connecting, and
 * a first call would get "unavailable". Waits until GET /healthz answers
 * 200 with the database up, for at most 10 s (times CK_TIMEOUT_MULTIPLIER,
 * as sanitized builds are slower); a daemon that does not get there is
 * stopped and -1 returned. */
static int wait_healthy(struct h_daemon *d)
{
	const char *mult = getenv("CK_TIMEOUT_MULTIPLIER");
	double m = mult && atof(mult) > 1 ? atof(mult) : 1;
	int tries = (int)(m * 10000 / 50);
	for (int i = 0; i < tries; i++) {
		char *body = NULL;
		int status = h_http(d, "GET", "/healthz", NULL, NULL, &body);
		int up = status == 200 && body && strstr(body, "\"database\":\"up\"");
		free(body);
		if (up)
			return 0;
		int wstatus;
		if (waitpid(d->pid, &wstatus, WNOHANG) == d->pid) {
			d->pid = 0;
			return -1;
		}
		usleep(50000);
	}
	fprintf(stderr, "harness: respited (pid %d) did not report its database up in time\n",
		(int)d->pid);
	h_daemon_stop(d, SIGTERM);
	return -1;
}

/* In the daemon's process, before exec: its log file and its limits. */
static void apply_opts(const struct h_daemon_opts *o)
{
	if (!o)
		return;
	/* A test that fails mid-way must not leave its daemon behind. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (o->log_path) {
		int fd = open(o->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
	}
	if (o->log_max_bytes > 0) {
		struct rlimit fs = { (rlim_t)o->log_max_bytes, (rlim_t)o->log_max_bytes };
		signal(SIGXFSZ, SIG_IGN); /* ignored dispositions survive exec */
		setrlimit(RLIMIT_FSIZE, &fs);
	}
	if (o->nofile > 0) {
		struct rlimit nf = { (rlim_t)o->nofile, (rlim_t)o->nofile };
		setrlimit(RLIMIT_NOFILE, &nf);
	}
}

int h_daemon_start(struct h_daemon *d, const char *conninfo, const char *const *extra)
{
	return h_daemon_start_opts(d, conninfo, extra, NULL);
}

int h_daemon_start_opts(struct h_daemon *d, const char *conninfo, const char *const *extra,
			const struct h_daemon_opts *o)
{
	char bin[512], sqldir[512], webdir[512], listen[64], http[64];
	const char *argv[64];
	int n = 0;
	memset(d, 0, sizeof(*d));
	d->rpc_port = free_port();
	d->http_port = free_port();
	snprintf(d->rpc_addr, sizeof(d->rpc_addr), "127.0.0.1:%d", d->rpc_port);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", d->rpc_port);
	snprintf(http, sizeof(http), "127.0.0.1:%d", d->http_port);
	snprintf(bin, sizeof(bin), "%s/respited", env_or_die("RESPITE_BUILDDIR"));
	snprintf(sqldir, sizeof(sqldir), "%s/sql", env_or_die("RESPITE_SRCDIR"));
	snprintf(webdir, sizeof(webdir), "%s/clients/web", env_or_die("RESPITE_SRCDIR"));
	const char *fixed[] = { bin, "--db", conninfo, "--listen", listen, "--http", http,
				"--sql-dir", sqldir, "--web-dir", webdir, "--log-level", "warn" };
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		argv[n++] = fixed[i];
	for (int i = 0; extra && extra[i] && n < 62; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	d->pid = fork();
	if (d->pid == 0) {
		apply_opts(o);
		execv(bin, (char *const *)(uintptr_t)argv); /* execv takes char *const[] */
		_exit(127);
	}
	if (d->pid <= 0 || wait_accepting(d) != 0)
		return -1;
	return wait_healthy(d);
}

int h_daemon_stop(struct h_daemon *d, int sig)
{
	int status;
	if (d->pid <= 0)
		return -1;
	kill(d->pid, sig);
	for (int i = 0; i < 300; i++) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		usleep(20000);
	}
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &status, 0);
	d->pid = 0;
	return -1;
}

void h_pg_ctl(const char *action)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s %s >/dev/null 2>&1", env_or_die("RESPITE_TEST_PGCTL"),
		 action);
	if (system(cmd) != 0)
		fprintf(stderr, "harness: '%s' failed\n", cmd);
}

/* ---- JSON-RPC client ---- */

struct h_client {
	int fd;
	struct lineio *io;
	int next_id;
};

struct h_client *h_connect(const struct h_daemon *d)
{
	struct h_client *c = calloc(1, sizeof(*c));
	c->fd = lineio_connect(d->rpc_addr);
	if (c->fd < 0) {
		free(c);
		return NULL;
	}
	c->io = lineio_new(c->fd, 64 << 20);
	return c;
}

struct h_client *h_connect_from(const struct h_daemon *d, const char *source_ip)
{
	struct sockaddr_in from = { .sin_family = AF_INET }, to = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	to.sin_port = htons((uint16_t)d->rpc_port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || inet_pton(AF_INET, source_ip, &from.sin_addr) != 1 ||
	    bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0 ||
	    connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	struct h_client *c = calloc(1, sizeof(*c));
	c->fd = fd;
	c->io = lineio_new(c->fd, 64 << 20);
	return c;
}

void h_close(struct h_client *c)
{
	if (!c)
		return;
	lineio_free(c->io);
	close(c->fd);
	free(c);
}

int h_fd(const struct h_client *c) { return c->fd; }

void h_send_raw(struct h_client *c, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(c->fd, buf, len);
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

char *h_read_line(struct h_client *c, int timeout_ms)
{
	size_t len;
	return lineio_read(c->io, &len, timeout_ms);
}

json_object *h_call(struct h_client *c, const char *method, const char *params_json)
{
	char *line;
	size_t need = strlen(method) + (params_json ? strlen(params_json) : 0) + 128;
	char *msg = malloc(need);
	int id = ++c->next_id;
	if (params_json)
		snprintf(msg, need, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\",\"params\":%s}\n",
			 id, method, params_json);
	else
		snprintf(msg, need, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\"}\n", id, method);
	h_send_raw(c, msg, strlen(msg));
	free(msg);
	line = h_read_line(c, 20000);
	if (!line)
		return NULL;
	json_object *resp = json_tokener_parse(line);
	free(line);
	return resp;
}

json_object *h_get(json_object *o, const char *path)
{
	char key[128];
	while (o && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		snprintf(key, sizeof(key), "%.*s", (int)n, path);
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, (size_t)atoi(key));
		else if (!json_object_object_get_ex(o, key, &o))
			return NULL;
		path += n + (dot ? 1 : 0);
	}
	return o;
}

json_object *h_result(json_object *resp) { return h_get(resp, "result"); }

const char *h_reason(json_object *resp)
{
	json_object *r = h_get(resp, "error.data.reason");
	return r ? json_object_get_string(r) : NULL;
}

int h_code(json_object *resp)
{
	json_object *c = h_get(resp, "error.code");
	return c ? json_object_get_int(c) : 0;
}

const char *h_login(struct h_client *c, const char *user, const char *password)
{
	static char token[128];
	char params[512];
	snprintf(params, sizeof(params), "{\"username\":\"%s\",\"password\":\"%s\"}", user, password);
	json_object *resp = h_call(c, "session.login", params);
	json_object *t = h_get(resp, "result.token");
	if (t)
		snprintf(token, sizeof(token), "%s", json_object_get_string(t));
	json_object_put(resp);
	return t ? token : NULL;
}

/* ---- HTTP ---- */

static char *read_all(int fd)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, 20000) <= 0)
			break;
		if (len + 4096 > cap)
			buf = realloc(buf, cap *= 2);
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

int h_http(const struct h_daemon *d, const char *method, const char *path, const char *token,
	   const char *body, char **resp_body)
{
	char addr[64], head[1024], auth[256] = "";
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", d->http_port);
	int fd = lineio_connect(addr);
	if (fd < 0)
		return -1;
	if (token)
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token);
	size_t blen = body ? strlen(body) : 0;
	snprintf(head, sizeof(head),
		 "%s %s HTTP/1.1\r\nHost: localhost\r\n%sContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n", method, path, auth, blen);
	if (write(fd, head, strlen(head)) < 0 || (blen && write(fd, body, blen) < 0)) {
		close(fd);
		return -1;
	}
	char *all = read_all(fd);
	close(fd);
	int status = 0;
	sscanf(all, "HTTP/1.%*d %d", &status);
	char *sep = strstr(all, "\r\n\r\n");
	if (resp_body)
		*resp_body = strdup(sep ? sep + 4 : "");
	free(all);
	return status;
}
