/*
 * respited: start-up, signals and shutdown. Everything else lives in the
 * modules; this file only wires them together.
 */
#include "autoconf.h"
#include "config.h"
#include "conn.h"
#include "db.h"
#include "http.h"
#include "janitor.h"
#include "kdf.h"
#include "listener.h"
#include "log.h"
#include "method.h"
#include "metrics.h"
#include "migrate.h"
#include "server.h"

#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRAIN_GRACE_TICKS 100 /* x 50 ms: in-flight calls get 5 s to finish */

struct daemon {
	struct server srv;
	struct config_overrides ov;
	const char *config_path;
	int check_only, migrate_only, dry_run, drop_old_code;
	struct release_info release;
	struct janitor *janitor;
	struct event *sig_int, *sig_term, *sig_hup, *drain_timer;
	int drain_ticks;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: respited [options]\n"
		"  --config FILE        read settings from an INI file (flags override it)\n"
		"  --listen HOST:PORT   JSON-RPC over TCP (default 127.0.0.1:7878)\n"
		"  --http HOST:PORT     HTTP: POST /rpc, /healthz, /metrics, web client\n"
		"  --db CONNINFO        libpq connection string\n"
		"  --sql-dir DIR        SQL folder (schema/, api/)  --web-dir DIR  web client folder\n"
		"  --log-level LEVEL    error, warn, info, debug\n"
		"  --set KEY=VALUE      any setting below\n"
		"  --check-config       check the settings and the SQL files, print them and exit\n"
		"  --migrate-only       apply pending migrations, deploy this release's code, exit\n"
		"  --dry-run            with --migrate-only: say what it would do, change nothing\n"
		"  --drop-old-code      drop the code of every other release, then exit\n"
		"  --version, --help\n\nsettings:\n");
	config_print_help(out);
}

static int add_override(struct daemon *d, const char *key, const char *val)
{
	if (config_override_add(&d->ov, key, val) != 0) {
		fprintf(stderr, "respited: too many settings on the command line\n");
		return -1;
	}
	return 0;
}

static int add_set(struct daemon *d, const char *kv)
{
	char key[128];
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof(key)) {
		fprintf(stderr, "respited: --set wants KEY=VALUE, got '%s'\n", kv);
		return -1;
	}
	snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
	return add_override(d, key, eq + 1);
}

/* Returns 0 to go on, 1 to exit successfully, -1 on a usage error. */
static int parse_args(struct daemon *d, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", 1, NULL, 'c' }, { "listen", 1, NULL, 'l' }, { "http", 1, NULL, 'H' },
		{ "db", 1, NULL, 'd' }, { "sql-dir", 1, NULL, 's' }, { "web-dir", 1, NULL, 'w' },
		{ "log-level", 1, NULL, 'L' }, { "set", 1, NULL, 'S' },
		{ "check-config", 0, NULL, 'k' }, { "migrate-only", 0, NULL, 'm' },
		{ "dry-run", 0, NULL, 'n' }, { "drop-old-code", 0, NULL, 'D' },
		{ "version", 0, NULL, 'V' }, { "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	static const struct { int opt; const char *key; } keyed[] = {
		{ 'l', "listen" }, { 'H', "http" }, { 'd', "db" }, { 's', "sql_dir" },
		{ 'w', "web_dir" }, { 'L', "log_level" },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int done = 0;
		for (size_t i = 0; i < sizeof(keyed) / sizeof(keyed[0]); i++)
			if (keyed[i].opt == c) {
				if (add_override(d, keyed[i].key, optarg) != 0)
					return -1;
				done = 1;
			}
		if (done)
			continue;
		switch (c) {
		case 'c': d->config_path = optarg; break;
		case 'S': if (add_set(d, optarg) != 0) return -1; break;
		case 'k': d->check_only = 1; break;
		case 'm': d->migrate_only = 1; break;
		case 'n': d->dry_run = 1; break;
		case 'D': d->drop_old_code = d->migrate_only = 1; break;
		case 'V': printf("respited %s\n", PACKAGE_VERSION); return 1;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "respited: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (d->dry_run && !d->migrate_only) {
		fprintf(stderr, "respited: --dry-run goes with --migrate-only or --drop-old-code\n");
		return -1;
	}
	return 0;
}

static void apply_logging(const struct config *c)
{
	log_set_level((enum log_level)log_level_parse(c->log_level));
	log_use_syslog((int)c->syslog);
}

/* ---- signals ---- */

static void drain_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	int left = conn_drain_all() + http_pending(d->srv.http);
	if (left == 0 || ++d->drain_ticks >= DRAIN_GRACE_TICKS) {
		log_info("event=shutdown in_flight_abandoned=%d", left);
		event_base_loopexit(d->srv.base, NULL);
		return;
	}
	struct timeval tv = { 0, 50000 };
	evtimer_add(d->drain_timer, &tv);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	if (d->srv.draining)
		return;
	log_info("event=shutdown signal=%d phase=draining", (int)sig);
	d->srv.draining = 1;
	listener_stop(d->srv.rpc);
	drain_tick(-1, 0, d);
}

static void on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	char err[512];
	struct config *next = config_load(d->config_path, &d->ov, err, sizeof(err));
	if (!next) {
		log_error("event=config_reload result=refused error=\"%s\"", err);
		return;
	}
	config_keep_restart_keys(next, config_current());
	config_install(next);
	apply_logging(next);
	server_apply_limits(&d->srv);
	http_apply_limits(d->srv.http);
	log_info("event=config_reload result=ok");
}

static int add_signals(struct daemon *d)
{
	struct event_base *b = d->srv.base;
	signal(SIGPIPE, SIG_IGN);
	d->sig_int = evsignal_new(b, SIGINT, on_stop, d);
	d->sig_term = evsignal_new(b, SIGTERM, on_stop, d);
	d->sig_hup = evsignal_new(b, SIGHUP, on_reload, d);
	d->drain_timer = evtimer_new(b, drain_tick, d);
	if (!d->sig_int || !d->sig_term || !d->sig_hup || !d->drain_timer)
		return -1;
	evsignal_add(d->sig_int, NULL);
	evsignal_add(d->sig_term, NULL);
	evsignal_add(d->sig_hup, NULL);
	return 0;
}

/* ---- start-up ---- */

static int prepare_database(struct daemon *d, const struct config *c, char *err, size_t errlen)
{
	struct migrate_opts o = { d->dry_run, d->drop_old_code, stdout };
	if (migrate_run(c->db, c->sql_dir, &o, &d->release, err, errlen) != 0)
		return -1;
	d->srv.release = &d->release;
	if (d->dry_run)
		return 0;
	return migrate_bootstrap_admin(c->db, c->admin_user, c->admin_password,
				       (int)c->kdf_iterations, err, errlen);
}

/* --check-config: the settings, then the SQL they point at. */
static int check_config(const struct config *c)
{
	char err[1024];
	config_dump(c, stdout);
	if (migrate_describe(c->db, c->sql_dir, stdout, err, sizeof(err)) != 0) {
		fprintf(stderr, "respited: %s\n", err);
		return 1;
	}
	printf("configuration ok\n");
	return 0;
}

static int start_services(struct daemon *d)
{
	const struct config *c = config_current();
	struct server *s = &d->srv;
	s->started = time(NULL);
	s->base = event_base_new();
	if (!s->base || metrics_init(method_count()) != 0 || add_signals(d) != 0)
		return -1;
	s->db = db_pool_new(s->base, c->db, (int)c->db_pool_size, (int)c->db_emergency_pool,
			    (int)c->request_timeout_ms);
	s->kdf = kdf_pool_new(s->base, (int)c->kdf_threads);
	if (!s->db || !s->kdf)
		return -1;
	db_pool_set_limits(s->db, (int)c->db_queue_max, (int)c->db_reconnect_max_ms);
	server_apply_limits(s);
	s->rpc = listener_new(s, c->listen);
	s->http = http_new(s, c->http, c->web_dir);
	d->janitor = janitor_new(s);
	return s->rpc && s->http && d->janitor ? 0 : -1;
}

static void stop_services(struct daemon *d)
{
	struct server *s = &d->srv;
	conn_close_all();
	janitor_free(d->janitor);
	http_free(s->http);
	listener_free(s->rpc);
	kdf_pool_free(s->kdf);
	db_pool_free(s->db);
	struct event *evs[] = { d->sig_int, d->sig_term, d->sig_hup, d->drain_timer };
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i])
			event_free(evs[i]);
	metrics_free();
	if (s->base)
		event_base_free(s->base);
}

/* Everything after the configuration is in force; returns the exit code. */
static int run(struct daemon *d, const struct config *c)
{
	char err[1024];
	if (d->check_only)
		return check_config(c);
	if (prepare_database(d, c, err, sizeof(err)) != 0) {
		log_error("event=startup result=failed error=\"%s\"", err);
		return 1;
	}
	if (d->migrate_only)
		return 0;
	int rc = start_services(d) == 0 ? 0 : 1;
	if (rc == 0) {
		log_info("event=startup result=ok version=%s", PACKAGE_VERSION);
		event_base_dispatch(d->srv.base);
	} else {
		log_error("event=startup result=failed");
	}
	stop_services(d);
	log_info("event=exit code=%d", rc);
	return rc;
}

int main(int argc, char **argv)
{
	struct daemon d;
	char err[1024];
	memset(&d, 0, sizeof(d));
	int rc = parse_args(&d, argc, argv);
	struct config *c = NULL;
	if (rc > 0) { /* --version, --help */
		config_overrides_free(&d.ov);
		return 0;
	}
	if (rc == 0 && !(c = config_load(d.config_path, &d.ov, err, sizeof(err)))) {
		fprintf(stderr, "respited: %s\n", err);
		rc = -1;
	}
	if (rc == 0) {
		config_install(c);
		apply_logging(c);
		rc = run(&d, c);
		config_install(NULL);
	}
	config_overrides_free(&d.ov);
	return rc < 0 ? 2 : rc;
}
