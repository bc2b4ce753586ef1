/*
 * respitectl: command-line client for respited. Calls one method (after
 * resuming or opening a session when asked to) and prints its result.
 *
 * Exit status: 0 success, 1 the server answered with an error,
 * 2 usage, connection or I/O trouble.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonrpc.h"
#include "lineio.h"

#define EXIT_RPC 1
#define EXIT_TROUBLE 2
#define DEFAULT_CONNECT "127.0.0.1:7878"
#define READ_TIMEOUT_MS 30000
#define MAX_LINE ((size_t)64 << 20)
#define PRINT_FLAGS (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Client-side parsing only guards against nonsense; the server enforces
 * its own, stricter limits on what we send. */
static const struct rpc_limits PARAM_LIMITS = { 64, 1000 };
static const struct rpc_limits REPLY_LIMITS = { 512, 1000 };

struct opts {
	const char *connect;
	const char *token;
	const char *user;
};

struct conn {
	int fd;
	struct lineio *in;
	int64_t next_id;
};

struct command {
	const char *name;
	int (*run)(struct opts *o, int argc, char **argv);
	const char *help;
};

static int cmd_login(struct opts *o, int argc, char **argv);
static int cmd_help(struct opts *o, int argc, char **argv);

/* Subcommands; any other word is taken as a method name. */
static const struct command commands[] = {
	{ "login", cmd_login, "login -u USER        open a session and print its token" },
	{ "help", cmd_help, "help                 show this text" },
};

__attribute__((format(printf, 2, 3)))
static int complain(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("respitectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

static void usage(FILE *f)
{
	fputs("usage: respitectl [-c HOST:PORT] [-t TOKEN] [-u USER] METHOD [key=value ...]\n"
	      "       respitectl [-c HOST:PORT] [-t TOKEN] [-u USER] METHOD -   (params as JSON on stdin)\n",
	      f);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "       respitectl %s\n", commands[i].help);
	fputs("\nkey=value: the value is taken as JSON when it parses as JSON (42, true,\n"
	      "[1,2], {\"a\":1}, \"007\"), otherwise as a plain string.\n"
	      "-c defaults to $RESPITE_CONNECT or " DEFAULT_CONNECT "; -t to $RESPITE_TOKEN.\n"
	      "With -u (and no token) a session is opened first; the password comes\n"
	      "from $RESPITE_PASSWORD or is prompted for.\n",
	      f);
}

/* Parses options from argv[1] on, stopping at the first other word.
 * Returns that word's index, or -1 after a complaint. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	int c;

	optind = 1;
	while ((c = getopt(argc, argv, "+c:t:u:h")) != -1) {
		switch (c) {
		case 'c':
			o->connect = optarg;
			break;
		case 't':
			o->token = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		default:
			usage(stderr);
			return -1;
		}
	}
	return optind;
}

static void print_json(FILE *f, json_object *o)
{
	fprintf(f, "%s\n", json_object_to_json_string_ext(o, PRINT_FLAGS));
}

/* Connection. */

static int conn_open(struct conn *c, const char *hostport)
{
	c->next_id = 0;
	c->fd = lineio_connect(hostport);
	if (c->fd < 0 && errno == EINVAL)
		return complain(EXIT_TROUBLE, "cannot connect to %s: expected HOST:PORT or [IPV6]:PORT",
				hostport);
	if (c->fd < 0 && errno == ENXIO)
		return complain(EXIT_TROUBLE, "cannot connect to %s: unknown host", hostport);
	if (c->fd < 0)
		return complain(EXIT_TROUBLE, "cannot connect to %s: %s", hostport, strerror(errno));
	c->in = lineio_new(c->fd, MAX_LINE);
	if (!c->in) {
		close(c->fd);
		return complain(EXIT_TROUBLE, "out of memory");
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	lineio_free(c->in);
	close(c->fd);
}

static int send_request(struct conn *c, const char *method, json_object *params, int64_t id)
{
	json_object *jid = json_object_new_int64(id);
	char *line = jid ? rpc_request_str(method, params, jid) : NULL;

	json_object_put(jid);
	if (!line)
		return complain(EXIT_TROUBLE, "out of memory");
	int rc = lineio_write(c->fd, line, strlen(line));
	free(line);
	if (rc != 0)
		return complain(EXIT_TROUBLE, "cannot send: %s", strerror(errno));
	return 0;
}

static int read_failure(void)
{
	if (errno == ETIMEDOUT)
		return complain(EXIT_TROUBLE, "no answer within %d s", READ_TIMEOUT_MS / 1000);
	if (errno == EMSGSIZE)
		return complain(EXIT_TROUBLE, "answer longer than %zu bytes", MAX_LINE);
	if (errno != 0)
		return complain(EXIT_TROUBLE, "cannot read: %s", strerror(errno));
	return complain(EXIT_TROUBLE, "connection closed by the server");
}

/* Reads one line and parses it as a response object (caller puts it). */
static int read_response(struct conn *c, json_object **out)
{
	size_t len;
	const char *err;

	errno = 0;
	char *line = lineio_read(c->in, &len, READ_TIMEOUT_MS);
	if (!line)
		return read_failure();
	json_object *resp = rpc_parse(line, len, &REPLY_LIMITS, &err);
	free(line);
	if (!resp)
		return complain(EXIT_TROUBLE, "unreadable answer: %s", err);
	if (!json_object_is_type(resp, json_type_object)) {
		json_object_put(resp);
		return complain(EXIT_TROUBLE, "answer is not a JSON-RPC response");
	}
	*out = resp;
	return 0;
}

/* Our id, or null: the server could not read the request to learn it. */
static int id_matches(json_object *resp, int64_t id)
{
	json_object *rid;

	if (!json_object_object_get_ex(resp, "id", &rid))
		return 0;
	if (!rid)
		return 1;
	return json_object_is_type(rid, json_type_int) && json_object_get_int64(rid) == id;
}

/* Takes the result out of a response, or reports its error. */
static int take_result(json_object *resp, int64_t id, json_object **result)
{
	json_object *v;

	if (!id_matches(resp, id))
		return complain(EXIT_TROUBLE, "answer to another request");
	if (json_object_object_get_ex(resp, "error", &v)) {
		print_json(stderr, v);
		return EXIT_RPC;
	}
	if (!json_object_object_get_ex(resp, "result", &v))
		return complain(EXIT_TROUBLE, "answer has neither result nor error");
	*result = json_object_get(v);
	return 0;
}

/* One call. Returns 0 with *result (the caller's to put; NULL for a JSON
 * null result), EXIT_RPC after printing the error, or EXIT_TROUBLE. */
static int rpc_call(struct conn *c, const char *method, json_object *params, json_object **result)
{
	json_object *resp = NULL;
	int64_t id = c->next_id++;
	int rc = send_request(c, method, params, id);

	if (rc == 0)
		rc = read_response(c, &resp);
	if (rc != 0)
		return rc;
	rc = take_result(resp, id, result);
	json_object_put(resp);
	return rc;
}

/* Sessions. */

/* Builds {"key": value} with a string value. */
static json_object *string_params(const char *key, const char *value)
{
	json_object *p = json_object_new_object();
	json_object *v = p ? json_object_new_string(value) : NULL;

	if (!v || json_object_object_add(p, key, v) != 0) {
		json_object_put(v);
		json_object_put(p);
		return NULL;
	}
	return p;
}

static json_object *login_params(const char *user)
{
	const char *env = getenv("RESPITE_PASSWORD");
	char prompt[300];
	char *typed = NULL;

	if (!env) {
		snprintf(prompt, sizeof prompt, "Password for %s: ", user);
		typed = getpass(prompt);
		if (!typed) {
			complain(EXIT_TROUBLE, "cannot read a password (set RESPITE_PASSWORD)");
			return NULL;
		}
	}
	json_object *p = string_params("username", user);
	json_object *pw = json_object_new_string(env ? env : typed);
	if (typed)
		explicit_bzero(typed, strlen(typed));
	if (!p || !pw || json_object_object_add(p, "password", pw) != 0) {
		json_object_put(pw);
		json_object_put(p);
		complain(EXIT_TROUBLE, "out of memory");
		return NULL;
	}
	return p;
}

/* session.login; *result is the login result (caller puts it). */
static int login(struct conn *c, const char *user, json_object **result)
{
	json_object *params = login_params(user);

	if (!params)
		return EXIT_TROUBLE;
	int rc = rpc_call(c, "session.login", params, result);
	json_object_put(params);
	if (rc == EXIT_RPC)
		complain(EXIT_RPC, "login as %s failed", user);
	return rc;
}

static int resume(struct conn *c, const char *token)
{
	json_object *params = string_params("token", token);
	json_object *result = NULL;

	if (!params)
		return complain(EXIT_TROUBLE, "out of memory");
	int rc = rpc_call(c, "session.resume", params, &result);
	json_object_put(params);
	json_object_put(result);
	if (rc == EXIT_RPC)
		complain(EXIT_RPC, "cannot resume the session (token expired?)");
	return rc;
}

/* A token wins over a user name; with neither the call runs anonymously. */
static int authenticate(struct conn *c, const struct opts *o)
{
	json_object *result = NULL;

	if (o->token && *o->token)
		return resume(c, o->token);
	if (!o->user)
		return 0;
	int rc = login(c, o->user, &result);
	json_object_put(result);
	return rc;
}

/* Params. */

/* The value as JSON when it parses, else as a plain string; -1 on OOM. */
static int param_value(const char *text, json_object **out)
{
	const char *err;

	*out = rpc_parse(text, strlen(text), &PARAM_LIMITS, &err);
	/* json-c holds JSON null as NULL, which rpc_parse reports this way. */
	if (*out || strcmp(err, "message is null") == 0)
		return 0;
	*out = json_object_new_string(text);
	return *out ? 0 : -1;
}

static int add_pair(json_object *params, const char *arg)
{
	const char *eq = strchr(arg, '=');
	json_object *v = NULL;

	if (!eq || eq == arg)
		return complain(EXIT_TROUBLE, "expected key=value, got \"%s\"", arg);
	char *key = strndup(arg, (size_t)(eq - arg));
	if (!key || param_value(eq + 1, &v) != 0 || json_object_object_add(params, key, v) != 0) {
		free(key);
		json_object_put(v);
		return complain(EXIT_TROUBLE, "out of memory");
	}
	free(key);
	return 0;
}

static char *read_all(FILE *f, size_t max, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	while (buf) {
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap || cap > max)
			break;
		char *bigger = realloc(buf, cap * 2);
		if (!bigger)
			free(buf);
		buf = bigger;
		cap *= 2;
	}
	if (buf && (ferror(f) || n > max)) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

static int stdin_params(json_object **out)
{
	size_t len;
	const char *err;
	char *text = read_all(stdin, MAX_LINE, &len);

	if (!text)
		return complain(EXIT_TROUBLE, "cannot read params from stdin (at most %zu bytes)", MAX_LINE);
	json_object *p = rpc_parse(text, len, &PARAM_LIMITS, &err);
	free(text);
	if (!p)
		return complain(EXIT_TROUBLE, "params on stdin: %s", err);
	if (!json_object_is_type(p, json_type_object)) {
		json_object_put(p);
		return complain(EXIT_TROUBLE, "params on stdin must be a JSON object");
	}
	*out = p;
	return 0;
}

/* Params from "-" (stdin) or key=value arguments; NULL when there are none. */
static int build_params(int argc, char **argv, json_object **out)
{
	*out = NULL;
	if (argc == 0)
		return 0;
	if (argc == 1 && strcmp(argv[0], "-") == 0)
		return stdin_params(out);
	json_object *p = json_object_new_object();
	if (!p)
		return complain(EXIT_TROUBLE, "out of memory");
	for (int i = 0; i < argc; i++) {
		if (add_pair(p, argv[i]) != 0) {
			json_object_put(p);
			return EXIT_TROUBLE;
		}
	}
	*out = p;
	return 0;
}

/* Commands. */

/* The generic call: METHOD [key=value ...] or METHOD -. */
static int cmd_call(struct opts *o, int argc, char **argv)
{
	json_object *params, *result = NULL;
	struct conn c;
	int rc = build_params(argc - 1, argv + 1, &params);

	if (rc != 0)
		return rc;
	rc = conn_open(&c, o->connect);
	if (rc == 0) {
		rc = authenticate(&c, o);
		if (rc == 0)
			rc = rpc_call(&c, argv[0], params, &result);
		if (rc == 0)
			print_json(stdout, result);
		conn_close(&c);
	}
	json_object_put(result);
	json_object_put(params);
	return rc;
}

static int print_token(json_object *result)
{
	json_object *token;

	if (!json_object_object_get_ex(result, "token", &token) ||
	    !json_object_is_type(token, json_type_string))
		return complain(EXIT_TROUBLE, "login answer has no token");
	printf("%s\n", json_object_get_string(token));
	return 0;
}

static int cmd_login(struct opts *o, int argc, char **argv)
{
	json_object *result = NULL;
	struct conn c;
	int next = parse_opts(argc, argv, o);

	if (next < 0)
		return EXIT_TROUBLE;
	if (next != argc)
		return complain(EXIT_TROUBLE, "login takes options only");
	if (!o->user)
		return complain(EXIT_TROUBLE, "login needs -u USER");
	int rc = conn_open(&c, o->connect);
	if (rc != 0)
		return rc;
	rc = login(&c, o->user, &result);
	if (rc == 0)
		rc = print_token(result);
	json_object_put(result);
	conn_close(&c);
	return rc;
}

static int cmd_help(struct opts *o, int argc, char **argv)
{
	usage(stdout);
	return EXIT_SUCCESS;
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	struct opts o = { getenv("RESPITE_CONNECT"), getenv("RESPITE_TOKEN"), NULL };

	if (!o.connect || !*o.connect)
		o.connect = DEFAULT_CONNECT;
	int first = parse_opts(argc, argv, &o);
	if (first < 0)
		return EXIT_TROUBLE;
	if (first >= argc) {
		usage(stderr);
		return EXIT_TROUBLE;
	}
	const struct command *cmd = find_command(argv[first]);
	if (cmd)
		return cmd->run(&o, argc - first, argv + first);
	return cmd_call(&o, argc - first, argv + first);
}
