/*
 * Integration test harness: a private PostgreSQL (started by
 * scripts/test.sh and found through RESPITE_TEST_* variables), a fresh
 * database per suite, the real respited binary on free ports, and blocking
 * JSON-RPC and HTTP clients over real sockets.
 */
#ifndef RS_HARNESS_H
#define RS_HARNESS_H

#include <json-c/json.h>
#include <sys/types.h>

/* Exits 77 (automake's "skipped") when no test PostgreSQL is configured. */
void h_require_postgres(void);

/* Creates an empty database named after the suite; returns its conninfo. */
const char *h_db_create(const char *suite);
/* Runs SQL on that database; aborts the test on error. */
void h_sql(const char *conninfo, const char *sql);
/* First column of the first row as text (malloc'd), or NULL. */
char *h_sql_value(const char *conninfo, const char *sql);
/* Adds a user with a fast-to-check password; authority by code (NULL for admin). */
void h_add_user(const char *conninfo, const char *username, const char *role,
		const char *password, const char *authority_code);

struct h_daemon {
	pid_t pid;
	int rpc_port, http_port;
	char rpc_addr[64];
	char config_path[256];
};

/* Starts respited on free ports with extra "--set k=v" style args (NULL-
 * terminated); waits until it accepts. Returns 0 on success. */
int h_daemon_start(struct h_daemon *d, const char *conninfo, const char *const *extra);
/* What h_daemon_start_opts sets up in the daemon's process before it runs. */
struct h_daemon_opts {
	const char *log_path; /* its stderr (the log) goes to this file; NULL: inherited */
	long log_max_bytes;   /* > 0: the log stops growing there (RLIMIT_FSIZE, writes fail) */
	long nofile;          /* > 0: its RLIMIT_NOFILE, soft and hard */
};
int h_daemon_start_opts(struct h_daemon *d, const char *conninfo, const char *const *extra,
			const struct h_daemon_opts *o);
/* Sends sig and waits; returns the exit status (or -1). */
int h_daemon_stop(struct h_daemon *d, int sig);

/* Stops or starts the test PostgreSQL (RESPITE_TEST_PGCTL). */
void h_pg_ctl(const char *action);

/* ---- JSON-RPC over TCP ---- */
struct h_client;
struct h_client *h_connect(const struct h_daemon *d);
/* As h_connect, from a given loopback address ("127.0.0.2"): the client
 * socket is bound to it first, so the daemon sees another source. */
struct h_client *h_connect_from(const struct h_daemon *d, const char *source_ip);
void h_close(struct h_client *c);
int h_fd(const struct h_client *c);
/* Sends raw bytes as they are (no newline added). */
void h_send_raw(struct h_client *c, const char *buf, size_t len);
/* Reads one line; NULL on EOF/timeout. Caller frees. */
char *h_read_line(struct h_client *c, int timeout_ms);
/* Calls method with params (JSON text or NULL); returns the whole response
 * object (caller puts), or NULL on EOF/timeout. */
json_object *h_call(struct h_client *c, const char *method, const char *params_json);
/* The result member, or NULL; borrowed from resp. */
json_object *h_result(json_object *resp);
/* error.data.reason, error.code, or NULL/0. */
const char *h_reason(json_object *resp);
int h_code(json_object *resp);
/* Logs in; returns the token (static buffer) or NULL. */
const char *h_login(struct h_client *c, const char *user, const char *password);
/* Convenience: path lookup in a JSON object like "user.role"; borrowed. */
json_object *h_get(json_object *o, const char *path);

/* ---- HTTP ---- */
/* Performs one request; returns the status code and fills *body (malloc'd). */
int h_http(const struct h_daemon *d, const char *method, const char *path, const char *token,
	   const char *body, char **resp_body);

#endif
