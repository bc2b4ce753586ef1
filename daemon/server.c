#include "server.h"
#include "config.h"
#include "log.h"
#include "ratelimit.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/resource.h>

/* Descriptors kept for what is not a client: listeners, the event loop
 * and its signal pipe, the log, static files while they are read, libpq
 * reconnecting. The database pool comes on top. */
#define FD_HEADROOM 64

struct addr_count {
	struct addr_count *next;
	struct netaddr key;
	int n;
};

static const char *const kind_key[] = { "max_connections", "max_http_connections" };

/* ---- caps against the open-file limit ---- */

/* RLIMIT_NOFILE after raising the soft limit to the hard one. */
static long open_file_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return LONG_MAX;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit up = { rl.rlim_max, rl.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
			log_info("event=fd_limit result=raised from=%llu to=%llu",
				 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
			rl.rlim_cur = rl.rlim_max;
		}
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)INT_MAX)
		return LONG_MAX;
	return (long)rl.rlim_cur;
}

void server_apply_limits(struct server *s)
{
	const struct config *c = config_current();
	long want[2] = { (long)c->max_connections, (long)c->max_http_connections };
	long nofile = open_file_limit();
	long reserved = (long)(c->db_pool_size + c->db_emergency_pool) + FD_HEADROOM;
	long avail = nofile == LONG_MAX ? LONG_MAX : nofile - reserved;
	if (avail < 2)
		avail = 2;
	if (want[0] + want[1] <= avail) {
		s->max_conns[0] = (int)want[0];
		s->max_conns[1] = (int)want[1];
		return;
	}
	long tcp = avail * want[0] / (want[0] + want[1]);
	tcp = tcp < 1 ? 1 : tcp > avail - 1 ? avail - 1 : tcp;
	s->max_conns[0] = (int)tcp;
	s->max_conns[1] = (int)(avail - tcp);
	log_warn("event=fd_limit result=clamped nofile=%ld reserved=%ld max_connections=%d "
		 "max_http_connections=%d configured=%ld,%ld",
		 nofile, reserved, s->max_conns[0], s->max_conns[1], want[0], want[1]);
}

/* ---- refusals ---- */

static void refused(enum metric_refusal why, const char *reason, long long limit,
		    const struct netaddr *addr)
{
	static struct ratelimit rl[METRIC_REFUSED_N];
	metrics_refused(why);
	unsigned long long n = ratelimit_hit(&rl[why]);
	if (n == 0)
		return;
	char peer[NETADDR_STRLEN];
	netaddr_str(addr, peer, sizeof(peer));
	log_warn("event=client_refused reason=%s limit=%lld peer=%s count=%llu interval_s=%d",
		 reason, limit, peer, n, RATELIMIT_INTERVAL_S);
}

/* ---- per address ---- */

static struct addr_count **addr_slot(struct server *s, const struct netaddr *key)
{
	struct addr_count **p = &s->addr_buckets[netaddr_hash(key) % SERVER_ADDR_BUCKETS];
	while (*p && !netaddr_eq(&(*p)->key, key))
		p = &(*p)->next;
	return p;
}

int server_addr_take(struct server *s, const struct netaddr *addr)
{
	int64_t limit = config_current()->max_conns_per_address;
	struct netaddr key;
	if (addr->family == 0)
		return 0;
	netaddr_count_key(addr, &key);
	struct addr_count **p = addr_slot(s, &key);
	if (limit > 0 && *p && (*p)->n >= limit) {
		refused(METRIC_REFUSED_PER_ADDRESS, "max_conns_per_address", (long long)limit, addr);
		return -1;
	}
	if (!*p) {
		*p = calloc(1, sizeof(**p));
		if (!*p)
			return 0; /* uncounted rather than refused: drop tolerates it */
		(*p)->key = key;
	}
	(*p)->n++;
	return 0;
}

void server_addr_drop(struct server *s, const struct netaddr *addr)
{
	struct netaddr key;
	if (addr->family == 0)
		return;
	netaddr_count_key(addr, &key);
	struct addr_count **p = addr_slot(s, &key), *e = *p;
	if (e && --e->n <= 0) {
		*p = e->next;
		free(e);
	}
}

/* ---- connections ---- */

int server_conn_admit(struct server *s, enum metric_conn_kind k, const struct netaddr *addr)
{
	if (s->nconns[k] >= s->max_conns[k]) {
		refused(k == METRIC_CONN_TCP ? METRIC_REFUSED_MAX_CONNECTIONS
					     : METRIC_REFUSED_MAX_HTTP_CONNECTIONS,
			kind_key[k], s->max_conns[k], addr);
		return -1;
	}
	if (server_addr_take(s, addr) != 0)
		return -1;
	s->nconns[k]++;
	return 0;
}

void server_conn_closed(struct server *s, enum metric_conn_kind k, const struct netaddr *addr)
{
	s->nconns[k]--;
	server_addr_drop(s, addr);
}

unsigned long long server_conn_id(struct server *s) { return ++s->last_conn_id; }
