/*
 * respitectl: command-line client for respited. Calls one method (after
 * resuming or opening a session when asked to) and prints its result.
 *
 * Exit status: 0 success, 1 the server answered with an error,
 * 2 usage, connection or I/O trouble.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonrpc.h"
#include "lineio.h"
#include "schema.h"

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
static int cmd_import(struct opts *o, int argc, char **argv);
static int cmd_supply(struct opts *o, int argc, char **argv);
static int cmd_bookings(struct opts *o, int argc, char **argv);
static int cmd_help(struct opts *o, int argc, char **argv);

/* Subcommands; any other word is taken as a method name. */
static const struct command commands[] = {
	{ "login", cmd_login, "login -u USER        open a session and print its token" },
	{ "import-availability", cmd_import,
	  "import-availability [--idempotency-key KEY] [--check] SUPPLY_ID FILE.csv|-\n"
	  "                     publish the rows of a CSV file as availability, all or\n"
	  "                     nothing (one availability.publish call)" },
	{ "supply", cmd_supply,
	  "supply [KIND] [key=value ...]   your provider's supply (supply.list, every page)" },
	{ "bookings", cmd_bookings,
	  "bookings [key=value ...]        upcoming bookings of your provider's supply\n"
	  "                     (provider.bookings, every page; from=DATE to=DATE)" },
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
	      "from $RESPITE_PASSWORD or is prompted for.\n"
	      "\nimport-availability: the first row names the columns, in any order:\n"
	      "  beds, household stays:   from,to                    (dates; to = morning of departure)\n"
	      "  shifts, day support:     date,start_time,end_time   (London; overnight when\n"
	      "                                                       end_time <= start_time)\n"
	      "                      or:  start,end                  (RFC 3339 instants)\n"
	      "  offer sessions:          day,quantity  or  from,to,quantity  (to exclusive),\n"
	      "                           with optional starts_at (HH:MM, London)\n"
	      "  note, comment:           ignored\n"
	      "An empty cell leaves that member out. A bad row is reported as FILE:LINE and\n"
	      "nothing is published (exit 1). --check validates the file without sending it.\n"
	      "See docs/CSV.md.\n",
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

/* Takes the result out of a response, or its error: handed to the caller
 * in *error when error is not NULL, else printed. */
static int take_result(json_object *resp, int64_t id, json_object **result, json_object **error)
{
	json_object *v;

	if (!id_matches(resp, id))
		return complain(EXIT_TROUBLE, "answer to another request");
	if (json_object_object_get_ex(resp, "error", &v)) {
		if (error)
			*error = json_object_get(v);
		else
			print_json(stderr, v);
		return EXIT_RPC;
	}
	if (!json_object_object_get_ex(resp, "result", &v))
		return complain(EXIT_TROUBLE, "answer has neither result nor error");
	*result = json_object_get(v);
	return 0;
}

/* One call. Returns 0 with *result (the caller's to put; NULL for a JSON
 * null result), EXIT_RPC with the error object in *error (the caller's to
 * put) or, when error is NULL, after printing it; or EXIT_TROUBLE. */
static int rpc_call_err(struct conn *c, const char *method, json_object *params,
			json_object **result, json_object **error)
{
	json_object *resp = NULL;
	int64_t id = c->next_id++;
	int rc = send_request(c, method, params, id);

	if (rc == 0)
		rc = read_response(c, &resp);
	if (rc != 0)
		return rc;
	rc = take_result(resp, id, result, error);
	json_object_put(resp);
	return rc;
}

static int rpc_call(struct conn *c, const char *method, json_object *params, json_object **result)
{
	return rpc_call_err(c, method, params, result, NULL);
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

/* Provider commands. */

/* Connects and opens the session asked for; on failure nothing is left open. */
static int open_session(struct conn *c, const struct opts *o)
{
	int rc = conn_open(c, o->connect);

	if (rc != 0)
		return rc;
	rc = authenticate(c, o);
	if (rc != 0)
		conn_close(c);
	return rc;
}

static int set_int(json_object *o, const char *key, int64_t v)
{
	json_object *n = json_object_new_int64(v);

	if (!n || json_object_object_add(o, key, n) != 0) {
		json_object_put(n);
		return complain(EXIT_TROUBLE, "out of memory");
	}
	return 0;
}

/* Appends the elements of array `from` to array `to`. */
static int append_all(json_object *to, json_object *from)
{
	size_t n = json_object_array_length(from);

	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_get(json_object_array_get_idx(from, i));
		if (json_object_array_add(to, e) != 0) {
			json_object_put(e);
			return complain(EXIT_TROUBLE, "out of memory");
		}
	}
	return 0;
}

/* The next page's offset, or -1 when this was the last page. */
static int64_t next_offset(json_object *page, int64_t offset)
{
	json_object *next;

	if (!json_object_object_get_ex(page, "next_offset", &next) ||
	    !json_object_is_type(next, json_type_int))
		return -1;
	int64_t n = json_object_get_int64(next);
	return n > offset ? n : -1;
}

/* The `key` array of a list method's answer, or NULL after a complaint. */
static json_object *page_items(json_object *page, const char *method, const char *key)
{
	json_object *items;

	if (!json_object_object_get_ex(page, key, &items) || !json_object_is_type(items, json_type_array)) {
		complain(EXIT_TROUBLE, "the answer to %s has no %s list", method, key);
		return NULL;
	}
	return items;
}

/* Calls a list method page by page and gathers the `key` arrays into the
 * first answer (*out; next_offset then null). When the caller gave limit
 * or offset, only that page is fetched. */
static int call_all_pages(struct conn *c, const char *method, json_object *params,
			  const char *key, json_object **out)
{
	json_object *all = NULL, *page;
	int64_t offset = 0;
	int one_page = json_object_object_get_ex(params, "limit", NULL) ||
		       json_object_object_get_ex(params, "offset", NULL);
	int rc = one_page ? 0 : set_int(params, "limit", 200);

	while (rc == 0) {
		page = NULL;
		if (!one_page && (rc = set_int(params, "offset", offset)) != 0)
			break;
		if ((rc = rpc_call(c, method, params, &page)) != 0)
			break;
		json_object *items = page_items(page, method, key);
		offset = one_page ? -1 : next_offset(page, offset);
		if (!items)
			rc = EXIT_TROUBLE;
		else if (!all)
			all = json_object_get(page);
		else
			rc = append_all(page_items(all, method, key), items);
		json_object_put(page);
		if (offset < 0)
			break;
	}
	if (rc != 0) {
		json_object_put(all);
		return rc;
	}
	if (!one_page)
		json_object_object_add(all, "next_offset", NULL);
	*out = all;
	return 0;
}

/* supply [KIND] [key=value ...] and bookings [key=value ...]: every page
 * of the provider's list, printed as one answer. */
static int list_command(struct opts *o, int argc, char **argv, const char *method, const char *key,
			int takes_kind)
{
	json_object *params = NULL, *result = NULL;
	struct conn c;
	int next = parse_opts(argc, argv, o);

	if (next < 0)
		return EXIT_TROUBLE;
	params = json_object_new_object();
	if (!params)
		return complain(EXIT_TROUBLE, "out of memory");
	int rc = 0;
	if (takes_kind && next < argc && !strchr(argv[next], '=')) {
		json_object *kind = json_object_new_string(argv[next++]);
		if (!kind || json_object_object_add(params, "kind", kind) != 0) {
			json_object_put(kind);
			rc = complain(EXIT_TROUBLE, "out of memory");
		}
	}
	for (int i = next; rc == 0 && i < argc; i++)
		rc = add_pair(params, argv[i]);
	if (rc == 0)
		rc = open_session(&c, o);
	if (rc == 0) {
		rc = call_all_pages(&c, method, params, key, &result);
		if (rc == 0)
			print_json(stdout, result);
		conn_close(&c);
	}
	json_object_put(result);
	json_object_put(params);
	return rc;
}

static int cmd_supply(struct opts *o, int argc, char **argv)
{
	return list_command(o, argc, argv, "supply.list", "supply", 1);
}

static int cmd_bookings(struct opts *o, int argc, char **argv)
{
	return list_command(o, argc, argv, "provider.bookings", "bookings", 0);
}

/*
 * import-availability: a CSV file (RFC 4180: cells separated by commas,
 * quoted with double quotes when they hold commas, quotes or line breaks,
 * a quote inside a quoted cell doubled) whose first row names the columns.
 * Each further row becomes one range of ONE availability.publish call, so
 * the file is published whole or not at all. Rows are checked here first
 * (cells, shapes, dates and times) and refused with FILE:LINE before
 * anything is sent; what only the server can judge (the past, the kind of
 * supply, approval periods) comes back as ranges[i] and is reported at the
 * line row i came from. docs/CSV.md documents the format.
 */

#define MAX_ROWS 2000 /* availability.publish takes at most this many ranges */

enum column {
	C_FROM, C_TO, C_START, C_END, C_DATE, C_START_TIME, C_END_TIME, C_DAY, C_STARTS_AT,
	C_QUANTITY, C_NOTE, C_COMMENT, C_COUNT
};

enum cell_type { CELL_DATE, CELL_TIME, CELL_INSTANT, CELL_COUNT, CELL_IGNORED };

static const struct {
	const char *name;
	enum cell_type type;
} COLUMNS[C_COUNT] = {
	[C_FROM] = { "from", CELL_DATE },
	[C_TO] = { "to", CELL_DATE },
	[C_START] = { "start", CELL_INSTANT },
	[C_END] = { "end", CELL_INSTANT },
	[C_DATE] = { "date", CELL_DATE },
	[C_START_TIME] = { "start_time", CELL_TIME },
	[C_END_TIME] = { "end_time", CELL_TIME },
	[C_DAY] = { "day", CELL_DATE },
	[C_STARTS_AT] = { "starts_at", CELL_TIME },
	[C_QUANTITY] = { "quantity", CELL_COUNT },
	[C_NOTE] = { "note", CELL_IGNORED },
	[C_COMMENT] = { "comment", CELL_IGNORED },
};

#define BIT(c) (1u << (c))

/* The shapes of a range, by the cells a row fills. */
enum shape { S_NIGHTS, S_SPAN, S_LOCAL, S_DAY_SESSIONS, S_RANGE_SESSIONS, S_COUNT };

static const struct {
	const char *what;
	unsigned required, optional;
} SHAPES[S_COUNT] = {
	[S_NIGHTS] = { "nights (from,to)", BIT(C_FROM) | BIT(C_TO), 0 },
	[S_SPAN] = { "a span (start,end)", BIT(C_START) | BIT(C_END), 0 },
	[S_LOCAL] = { "a shift (date,start_time,end_time)",
		      BIT(C_DATE) | BIT(C_START_TIME) | BIT(C_END_TIME), 0 },
	[S_DAY_SESSIONS] = { "offer sessions (day,quantity)", BIT(C_DAY) | BIT(C_QUANTITY),
			     BIT(C_STARTS_AT) },
	[S_RANGE_SESSIONS] = { "offer sessions (from,to,quantity)",
			       BIT(C_FROM) | BIT(C_TO) | BIT(C_QUANTITY), BIT(C_STARTS_AT) },
};

/* What each kind of supply takes. */
static const struct {
	const char *kind;
	unsigned shapes; /* BIT(enum shape) */
	const char *takes;
} KINDS[] = {
	{ "bed", BIT(S_NIGHTS), "a bed takes nights: from,to" },
	{ "worker", BIT(S_SPAN) | BIT(S_LOCAL),
	  "a worker takes shifts: date,start_time,end_time or start,end" },
	{ "household", BIT(S_NIGHTS) | BIT(S_SPAN) | BIT(S_LOCAL),
	  "a household takes stays (from,to) or day support (date,start_time,end_time or start,end)" },
	{ "offer", BIT(S_DAY_SESSIONS) | BIT(S_RANGE_SESSIONS),
	  "an offer takes sessions: day,quantity or from,to,quantity, with an optional starts_at" },
};

struct csv {
	const char *file; /* for messages */
	const char *p, *end;
	int line;         /* of p */
};

struct record {
	char **cells;
	size_t n, cap;
	int line; /* where the record starts */
};

struct import {
	const char *file;
	int columns[64];      /* per header cell: enum column */
	size_t ncolumns;
	unsigned header;      /* BIT(enum column) of the columns named */
	json_object *ranges;  /* the publish items */
	int *lines;           /* per item: its line in the file */
	unsigned char *shapes;
	size_t nrows;
};

__attribute__((format(printf, 3, 4)))
static int at_line(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_RPC;
}

/* CSV reading. */

struct text {
	char *s;
	size_t n, cap;
};

static int text_add(struct text *t, char ch)
{
	if (t->n + 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		char *s = realloc(t->s, cap);
		if (!s)
			return complain(EXIT_TROUBLE, "out of memory");
		t->s = s;
		t->cap = cap;
	}
	t->s[t->n++] = ch;
	t->s[t->n] = '\0';
	return 0;
}

static int is_blank(char ch) { return ch == ' ' || ch == '\t'; }

/* At a line break: "\n", or "\r\n". */
static int at_eol(const struct csv *c)
{
	return c->p < c->end && (*c->p == '\n' || (*c->p == '\r' && c->p + 1 < c->end && c->p[1] == '\n'));
}

static void skip_eol(struct csv *c)
{
	c->p += *c->p == '\r' ? 2 : 1;
	c->line++;
}

static int csv_quoted(struct csv *c, struct text *t)
{
	int opened = c->line;

	for (c->p++;; c->p++) {
		if (c->p == c->end)
			return at_line(c->file, opened, "a quoted cell is not closed");
		if (*c->p == '"' && c->p + 1 < c->end && c->p[1] == '"')
			c->p++;
		else if (*c->p == '"')
			break;
		else if (*c->p == '\n')
			c->line++;
		if (text_add(t, *c->p) != 0)
			return EXIT_TROUBLE;
	}
	for (c->p++; c->p < c->end && is_blank(*c->p); c->p++)
		;
	if (c->p < c->end && *c->p != ',' && !at_eol(c))
		return at_line(c->file, c->line, "text after the closing quote of a cell");
	return 0;
}

static int csv_plain(struct csv *c, struct text *t)
{
	for (; c->p < c->end && *c->p != ',' && !at_eol(c); c->p++) {
		if (*c->p == '"')
			return at_line(c->file, c->line,
				       "a quote inside an unquoted cell (quote the whole cell and double the quote)");
		if (text_add(t, *c->p) != 0)
			return EXIT_TROUBLE;
	}
	while (t->n > 0 && is_blank(t->s[t->n - 1]))
		t->s[--t->n] = '\0';
	return 0;
}

static int record_push(struct record *r, struct text *t)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		char **cells = realloc(r->cells, cap * sizeof *cells);
		if (!cells)
			return complain(EXIT_TROUBLE, "out of memory");
		r->cells = cells;
		r->cap = cap;
	}
	r->cells[r->n] = t->s ? t->s : strdup("");
	if (!r->cells[r->n])
		return complain(EXIT_TROUBLE, "out of memory");
	r->n++;
	t->s = NULL;
	return 0;
}

static void record_clear(struct record *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->cells[i]);
	r->n = 0;
}

/* One cell into r; leading and trailing blanks of unquoted cells are dropped. */
static int csv_cell(struct csv *c, struct record *r)
{
	struct text t = { NULL, 0, 0 };

	while (c->p < c->end && is_blank(*c->p))
		c->p++;
	int rc = c->p < c->end && *c->p == '"' ? csv_quoted(c, &t) : csv_plain(c, &t);
	if (rc == 0)
		rc = record_push(r, &t);
	free(t.s);
	return rc;
}

#define CSV_END (-1)

/* Reads the next record into r (empty lines are skipped). Returns 0 with a
 * record, CSV_END at the end of the input, or an exit status after
 * reporting the trouble. */
static int csv_record(struct csv *c, struct record *r)
{
	record_clear(r);
	while (at_eol(c))
		skip_eol(c);
	if (c->p == c->end)
		return CSV_END;
	r->line = c->line;
	for (;;) {
		int rc = csv_cell(c, r);
		if (rc != 0)
			return rc;
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			continue;
		}
		if (at_eol(c))
			skip_eol(c);
		else if (c->p < c->end) /* a lone \r */
			return at_line(c->file, c->line, "a carriage return inside an unquoted cell");
		return 0;
	}
}

/* The header. */

static int column_named(const char *name)
{
	for (int i = 0; i < C_COUNT; i++)
		if (strcmp(COLUMNS[i].name, name) == 0)
			return i;
	return -1;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int read_header(struct csv *c, struct import *im)
{
	struct record r = { NULL, 0, 0, 0 };
	int rc = csv_record(c, &r);

	if (rc == CSV_END)
		rc = at_line(im->file, c->line, "empty file: the first row names the columns (see docs/CSV.md)");
	for (size_t i = 0; rc == 0 && i < r.n; i++) {
		lower(r.cells[i]);
		int col = column_named(r.cells[i]);
		if (i >= sizeof im->columns / sizeof im->columns[0])
			rc = at_line(im->file, r.line, "too many columns");
		else if (col < 0)
			rc = at_line(im->file, r.line,
				     "column \"%s\": unknown (expected from, to, start, end, date, start_time, "
				     "end_time, day, starts_at, quantity, note, comment)", r.cells[i]);
		else if (im->header & BIT(col))
			rc = at_line(im->file, r.line, "column %s: named twice", r.cells[i]);
		else {
			im->columns[i] = col;
			im->header |= BIT(col);
		}
	}
	im->ncolumns = r.n;
	if (rc == 0 && (im->header & ~(BIT(C_NOTE) | BIT(C_COMMENT))) == 0)
		rc = at_line(im->file, r.line, "the header names no availability columns (see docs/CSV.md)");
	record_clear(&r);
	free(r.cells);
	return rc;
}

/* Rows. */

static int check_count(const char *s)
{
	size_t n = strspn(s, "0123456789");
	return n > 0 && n <= 9 && s[n] == '\0';
}

/* Checks one cell's text against its column; 0 or an exit status. */
static int check_cell(const struct import *im, int line, int col, const char *s)
{
	switch (COLUMNS[col].type) {
	case CELL_DATE:
		if (!schema_is_date(s))
			return at_line(im->file, line, "column %s: not a date (YYYY-MM-DD): %s", COLUMNS[col].name, s);
		break;
	case CELL_TIME:
		if (!schema_is_time(s))
			return at_line(im->file, line, "column %s: not a time (HH:MM, 00:00 to 23:59): %s",
				       COLUMNS[col].name, s);
		break;
	case CELL_INSTANT:
		if (!schema_is_timestamp(s))
			return at_line(im->file, line,
				       "column %s: not an RFC 3339 instant with an offset "
				       "(e.g. 2027-03-28T09:00:00Z): %s", COLUMNS[col].name, s);
		break;
	case CELL_COUNT:
		if (!check_count(s))
			return at_line(im->file, line, "column %s: must be a whole number, 0 or more: %s",
				       COLUMNS[col].name, s);
		break;
	case CELL_IGNORED:
		break;
	}
	return 0;
}

static int add_cell(json_object *item, int col, const char *s)
{
	json_object *v;

	if (COLUMNS[col].type == CELL_IGNORED)
		return 0;
	v = COLUMNS[col].type == CELL_COUNT ? json_object_new_int64(strtoll(s, NULL, 10))
					    : json_object_new_string(s);
	if (!v || json_object_object_add(item, COLUMNS[col].name, v) != 0) {
		json_object_put(v);
		return complain(EXIT_TROUBLE, "out of memory");
	}
	return 0;
}

/* The shape a row's filled cells are meant to be, judged by its most
 * telling cell. */
static enum shape meant_shape(unsigned filled)
{
	if (filled & (BIT(C_DAY) | BIT(C_QUANTITY) | BIT(C_STARTS_AT)))
		return filled & BIT(C_DAY) ? S_DAY_SESSIONS : S_RANGE_SESSIONS;
	if (filled & (BIT(C_START) | BIT(C_END)))
		return S_SPAN;
	if (filled & (BIT(C_DATE) | BIT(C_START_TIME) | BIT(C_END_TIME)))
		return S_LOCAL;
	return S_NIGHTS;
}

static int lowest_bit(unsigned set)
{
	for (int i = 0; i < C_COUNT; i++)
		if (set & BIT(i))
			return i;
	return -1;
}

/* The row's shape, or -1 after reporting what is wrong with it. */
static int row_shape(const struct import *im, int line, unsigned filled)
{
	enum shape s = meant_shape(filled);
	unsigned extra = filled & ~(SHAPES[s].required | SHAPES[s].optional);
	unsigned missing = SHAPES[s].required & ~filled;

	if (filled == 0) {
		at_line(im->file, line, "no values in this row");
		return -1;
	}
	if (extra) {
		at_line(im->file, line, "column %s: not allowed in %s", COLUMNS[lowest_bit(extra)].name,
			SHAPES[s].what);
		return -1;
	}
	if (missing) {
		int col = lowest_bit(missing);
		at_line(im->file, line, "column %s: %s (needed for %s)", COLUMNS[col].name,
			im->header & BIT(col) ? "empty" : "no such column", SHAPES[s].what);
		return -1;
	}
	return (int)s;
}

static int grow_rows(struct import *im)
{
	int *lines = realloc(im->lines, (im->nrows + 1) * sizeof *lines);
	if (lines)
		im->lines = lines;
	unsigned char *shapes = lines ? realloc(im->shapes, im->nrows + 1) : NULL;
	if (shapes)
		im->shapes = shapes;
	return shapes ? 0 : complain(EXIT_TROUBLE, "out of memory");
}

/* One row into im: checked, then added as a range. */
static int add_row(struct import *im, const struct record *r)
{
	json_object *item;
	unsigned filled = 0;
	int rc = 0, shape;

	if (r->n != im->ncolumns)
		return at_line(im->file, r->line, "%zu cells, but the header names %zu columns", r->n,
			       im->ncolumns);
	if (im->nrows >= MAX_ROWS)
		return at_line(im->file, r->line, "more than %d rows: split the file (one publish call takes "
			       "at most %d ranges)", MAX_ROWS, MAX_ROWS);
	for (size_t i = 0; rc == 0 && i < r->n; i++) {
		if (r->cells[i][0] == '\0' || COLUMNS[im->columns[i]].type == CELL_IGNORED)
			continue;
		rc = check_cell(im, r->line, im->columns[i], r->cells[i]);
		filled |= BIT(im->columns[i]);
	}
	if (rc != 0)
		return rc;
	if ((shape = row_shape(im, r->line, filled)) < 0)
		return EXIT_RPC;
	if ((item = json_object_new_object()) == NULL || grow_rows(im) != 0) {
		json_object_put(item);
		return complain(EXIT_TROUBLE, "out of memory");
	}
	for (size_t i = 0; rc == 0 && i < r->n; i++)
		if (r->cells[i][0] != '\0')
			rc = add_cell(item, im->columns[i], r->cells[i]);
	if (rc == 0 && json_object_array_add(im->ranges, item) != 0)
		rc = complain(EXIT_TROUBLE, "out of memory");
	if (rc != 0) {
		json_object_put(item);
		return rc;
	}
	im->lines[im->nrows] = r->line;
	im->shapes[im->nrows++] = (unsigned char)shape;
	return 0;
}

static int read_rows(struct csv *c, struct import *im)
{
	struct record r = { NULL, 0, 0, 0 };
	int rc;

	while ((rc = csv_record(c, &r)) == 0) {
		/* a line of blanks only */
		if (r.n == 1 && r.cells[0][0] == '\0' && im->ncolumns > 1)
			continue;
		if ((rc = add_row(im, &r)) != 0)
			break;
	}
	record_clear(&r);
	free(r.cells);
	if (rc == CSV_END)
		rc = im->nrows ? 0 : at_line(im->file, c->line, "no rows after the header: nothing to publish");
	return rc;
}

static void import_free(struct import *im)
{
	json_object_put(im->ranges);
	free(im->lines);
	free(im->shapes);
}

/* Reads and checks the whole file (path "-": stdin). */
static int load_import(const char *path, struct import *im)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	size_t len = 0;

	im->file = f == stdin ? "<stdin>" : path;
	if (!f)
		return complain(EXIT_TROUBLE, "cannot open %s: %s", path, strerror(errno));
	char *text = read_all(f, MAX_LINE, &len);
	if (f != stdin)
		fclose(f);
	if (!text)
		return complain(EXIT_TROUBLE, "cannot read %s (at most %zu bytes)", im->file, MAX_LINE);
	struct csv c = { im->file, text, text + len, 1 };
	int rc = 0;
	if (memchr(text, '\0', len))
		rc = complain(EXIT_RPC, "%s: not a text file (it holds a NUL byte)", im->file);
	if (rc == 0 && len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		c.p += 3; /* a UTF-8 byte order mark, as spreadsheets write */
	im->ranges = json_object_new_array();
	if (rc == 0 && !im->ranges)
		rc = complain(EXIT_TROUBLE, "out of memory");
	if (rc == 0)
		rc = read_header(&c, im);
	if (rc == 0)
		rc = read_rows(&c, im);
	free(text);
	return rc;
}

/* Publishing. */

/* Rows whose shape the supply's kind does not take are refused here,
 * naming the column: one not allowed, or the one missing. */
static int check_kind(const struct import *im, const char *kind)
{
	size_t k = 0;

	while (k < sizeof KINDS / sizeof KINDS[0] && strcmp(KINDS[k].kind, kind) != 0)
		k++;
	if (k == sizeof KINDS / sizeof KINDS[0])
		return complain(EXIT_TROUBLE, "supply of unknown kind %s", kind);
	unsigned allowed = 0;
	for (int s = 0; s < S_COUNT; s++)
		if (KINDS[k].shapes & BIT(s))
			allowed |= SHAPES[s].required | SHAPES[s].optional;
	for (size_t i = 0; i < im->nrows; i++) {
		unsigned filled = SHAPES[im->shapes[i]].required;
		if (KINDS[k].shapes & BIT(im->shapes[i]))
			continue;
		if (filled & ~allowed)
			return at_line(im->file, im->lines[i], "column %s: not for this supply: %s",
				       COLUMNS[lowest_bit(filled & ~allowed)].name, KINDS[k].takes);
		/* from,to on an offer: sessions need a quantity */
		return at_line(im->file, im->lines[i], "column quantity: %s (needed for %s)",
			       im->header & BIT(C_QUANTITY) ? "empty" : "no such column",
			       SHAPES[S_RANGE_SESSIONS].what);
	}
	return 0;
}

/* The supply's kind, asked of the server (the caller frees it). */
static int supply_kind(struct conn *c, int64_t supply_id, char **kind)
{
	json_object *params = json_object_new_object(), *result = NULL, *k;
	int rc = params ? set_int(params, "supply_id", supply_id) : complain(EXIT_TROUBLE, "out of memory");

	if (rc == 0)
		rc = rpc_call(c, "supply.get", params, &result);
	if (rc == 0 && (!json_object_object_get_ex(result, "kind", &k) ||
			!json_object_is_type(k, json_type_string)))
		rc = complain(EXIT_TROUBLE, "the answer to supply.get has no kind");
	if (rc == 0 && !(*kind = strdup(json_object_get_string(k))))
		rc = complain(EXIT_TROUBLE, "out of memory");
	json_object_put(result);
	json_object_put(params);
	return rc;
}

/* The file's column for a member the server named: start and end of a
 * local-time shift are its start_time and end_time. */
static const char *column_for(const struct import *im, const char *member)
{
	int col = column_named(member);

	if (col >= 0 && (im->header & BIT(col)))
		return member;
	if (strcmp(member, "start") == 0 && (im->header & BIT(C_START_TIME)))
		return "start_time";
	if (strcmp(member, "end") == 0 && (im->header & BIT(C_END_TIME)))
		return "end_time";
	return member;
}

static const char *member_string(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* " (bookings 41, 42)" when the refusal names bookings. */
static void print_bookings(json_object *data)
{
	json_object *b;

	if (!data || !json_object_object_get_ex(data, "bookings", &b) ||
	    !json_object_is_type(b, json_type_array) || json_object_array_length(b) == 0)
		return;
	fputs(" (bookings ", stderr);
	for (size_t i = 0; i < json_object_array_length(b); i++)
		fprintf(stderr, "%s%s", i ? ", " : "", json_object_get_string(json_object_array_get_idx(b, i)));
	fputc(')', stderr);
}

/* Reports a refused publish: at the row's line when the error names
 * ranges[i], else as the server said it. */
static int report_refusal(const struct import *im, json_object *error)
{
	json_object *data = NULL, *code = NULL;
	size_t idx = 0;
	int used = 0;

	json_object_object_get_ex(error, "data", &data);
	json_object_object_get_ex(error, "code", &code);
	const char *field = member_string(data, "field");
	const char *why = json_object_get_int(code) == -32602 ? member_string(data, "reason")
							       : member_string(error, "message");
	if (field && why && strcmp(field, "ranges") == 0) {
		fprintf(stderr, "%s: %s\n", im->file, why);
		return EXIT_RPC;
	}
	if (!field || !why || sscanf(field, "ranges[%zu]%n", &idx, &used) != 1 || used == 0 ||
	    idx >= im->nrows || (field[used] != '\0' && field[used] != '.')) {
		print_json(stderr, error);
		return EXIT_RPC;
	}
	fprintf(stderr, "%s:%d: ", im->file, im->lines[idx]);
	if (field[used] == '.')
		fprintf(stderr, "column %s: ", column_for(im, field + used + 1));
	fputs(why, stderr);
	print_bookings(data);
	fputs(" (nothing was published)\n", stderr);
	return EXIT_RPC;
}

static json_object *publish_params(int64_t supply_id, const struct import *im, const char *key)
{
	json_object *p = json_object_new_object();
	json_object *ranges = json_object_get(im->ranges);
	json_object *k = key ? json_object_new_string(key) : NULL;

	if (p && json_object_object_add(p, "ranges", ranges) == 0) {
		ranges = NULL;
		if (!key || (k && json_object_object_add(p, "idempotency_key", k) == 0)) {
			k = NULL;
			if (set_int(p, "supply_id", supply_id) == 0)
				return p;
		}
	}
	json_object_put(ranges);
	json_object_put(k);
	json_object_put(p);
	complain(EXIT_TROUBLE, "out of memory");
	return NULL;
}

static int publish(struct conn *c, int64_t supply_id, const struct import *im, const char *key)
{
	json_object *params, *result = NULL, *error = NULL;
	char *kind = NULL;
	int rc = supply_kind(c, supply_id, &kind);

	if (rc == 0)
		rc = check_kind(im, kind);
	free(kind);
	if (rc != 0)
		return rc;
	if (!(params = publish_params(supply_id, im, key)))
		return EXIT_TROUBLE;
	rc = rpc_call_err(c, "availability.publish", params, &result, &error);
	if (rc == 0)
		print_json(stdout, result);
	else if (rc == EXIT_RPC)
		rc = report_refusal(im, error);
	json_object_put(error);
	json_object_put(result);
	json_object_put(params);
	return rc;
}

struct import_args {
	const char *key;
	int check_only;
	int64_t supply_id;
	const char *path;
};

static int import_args(struct opts *o, int argc, char **argv, struct import_args *a)
{
	static const struct option longs[] = {
		{ "idempotency-key", required_argument, NULL, 'k' },
		{ "check", no_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int ch;

	optind = 0; /* glibc: a full restart, so that options may follow the arguments */
	while ((ch = getopt_long(argc, argv, "c:t:u:k:", longs, NULL)) != -1) {
		switch (ch) {
		case 'c': o->connect = optarg; break;
		case 't': o->token = optarg; break;
		case 'u': o->user = optarg; break;
		case 'k': a->key = optarg; break;
		case 'C': a->check_only = 1; break;
		default: return EXIT_TROUBLE;
		}
	}
	if (argc - optind != 2)
		return complain(EXIT_TROUBLE, "usage: import-availability [--idempotency-key KEY] [--check] "
			        "SUPPLY_ID FILE.csv|-");
	errno = 0;
	a->supply_id = strtoll(argv[optind], &end, 10);
	if (errno || *end || end == argv[optind] || a->supply_id < 1)
		return complain(EXIT_TROUBLE, "SUPPLY_ID must be a positive integer, not \"%s\"", argv[optind]);
	if (a->key && (a->key[0] == '\0' || strlen(a->key) > 128))
		return complain(EXIT_TROUBLE, "an idempotency key has 1 to 128 bytes");
	a->path = argv[optind + 1];
	return 0;
}

static int cmd_import(struct opts *o, int argc, char **argv)
{
	struct import_args a = { NULL, 0, 0, NULL };
	struct import im;
	struct conn c;
	int rc = import_args(o, argc, argv, &a);

	if (rc != 0)
		return rc;
	memset(&im, 0, sizeof im);
	rc = load_import(a.path, &im);
	if (rc == 0 && a.check_only)
		printf("%s: %zu rows, nothing sent\n", im.file, im.nrows);
	else if (rc == 0 && (rc = open_session(&c, o)) == 0) {
		rc = publish(&c, a.supply_id, &im, a.key);
		conn_close(&c);
	}
	import_free(&im);
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
