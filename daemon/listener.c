#include "listener.h"
#include "conn.h"
#include "log.h"
#include "netaddr.h"
#include "ratelimit.h"
#include "server.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* How long a listener rests after accept() failed for want of a file
 * descriptor: long enough not to spin, short enough that a freed slot is
 * soon used. */
#define ACCEPT_RETRY_MS 250

struct listener {
	struct server *srv;
	struct evconnlistener *ev;
	struct event *retry;
	enum metric_conn_kind kind;
	listener_cb cb;
	listener_refuse_cb refuse;
	void *arg;
	const struct netaddr_list *exempt;
	int stopped;
	struct ratelimit paused_log;
};

static const char *const transport_name[] = { "jsonrpc", "http" };

static int resolve_hostport(const char *hostport, struct sockaddr_storage *ss, int *sslen)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof(host))
		return -1;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport), hostport);
	struct evutil_addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE;
	if (evutil_getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res)
		return -1;
	int ok = res->ai_addrlen <= sizeof(*ss);
	if (ok) {
		memcpy(ss, res->ai_addr, res->ai_addrlen);
		*sslen = (int)res->ai_addrlen;
	}
	evutil_freeaddrinfo(res);
	return ok ? 0 : -1;
}

int parse_hostport(const char *hostport, struct sockaddr_storage *ss, int *sslen)
{
	memset(ss, 0, sizeof(*ss));
	*sslen = (int)sizeof(*ss);
	if (evutil_parse_sockaddr_port(hostport, (struct sockaddr *)ss, sslen) == 0)
		return 0;
	return resolve_hostport(hostport, ss, sslen); /* once, at start: blocking is fine */
}

static void peer_name(const struct netaddr *a, const struct sockaddr *sa, char *buf, size_t len)
{
	char host[NETADDR_STRLEN];
	int port = 0;
	netaddr_str(a, host, sizeof(host));
	if (sa->sa_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	else if (sa->sa_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	snprintf(buf, len, "%s:%d", host, port);
}

static void accept_cb(struct evconnlistener *ev, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct listener *l = arg;
	struct accepted a;
	memset(&a, 0, sizeof(a));
	a.fd = fd;
	netaddr_from_sockaddr(&a.addr, sa); /* family 0 when neither IPv4 nor IPv6 */
	if (!l->exempt || !netaddr_list_match(l->exempt, &a.addr))
		a.counted = a.addr;
	if (server_conn_admit(l->srv, l->kind, &a.counted) != 0) {
		if (l->refuse)
			l->refuse(l->arg, fd);
		evutil_closesocket(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	peer_name(&a.addr, sa, a.peer, sizeof(a.peer));
	l->cb(l->arg, &a);
}

/* EMFILE and friends: the connection stays in the kernel's backlog and
 * the listening socket stays readable, so carrying on would wake the loop
 * at once, forever. Rest instead, and say so once per interval. */
static void accept_error_cb(struct evconnlistener *ev, void *arg)
{
	struct listener *l = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { 0, ACCEPT_RETRY_MS * 1000 };
	evconnlistener_disable(ev);
	evtimer_add(l->retry, &tv);
	metrics_accept_paused(l->kind);
	unsigned long long n = ratelimit_hit(&l->paused_log);
	if (n)
		log_warn("event=accept_paused transport=%s error=\"%s\" retry_ms=%d count=%llu "
			 "interval_s=%d", transport_name[l->kind], evutil_socket_error_to_string(err),
			 ACCEPT_RETRY_MS, n, RATELIMIT_INTERVAL_S);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	if (!l->stopped)
		evconnlistener_enable(l->ev);
}

struct listener *listener_open(struct server *srv, const char *hostport,
			       enum metric_conn_kind kind, listener_cb cb,
			       listener_refuse_cb refuse, void *arg)
{
	struct sockaddr_storage ss;
	int len;
	if (parse_hostport(hostport, &ss, &len) != 0) {
		log_error("event=listen transport=%s result=bad_address address=%s",
			  transport_name[kind], hostport);
		return NULL;
	}
	struct listener *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	*l = (struct listener){ .srv = srv, .kind = kind, .cb = cb, .refuse = refuse, .arg = arg };
	l->retry = evtimer_new(srv->base, retry_cb, l);
	l->ev = evconnlistener_new_bind(srv->base, accept_cb, l,
					LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
					(struct sockaddr *)&ss, len);
	if (!l->ev || !l->retry) {
		log_error("event=listen transport=%s result=failed address=%s error=\"%s\"",
			  transport_name[kind], hostport,
			  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		listener_free(l);
		return NULL;
	}
	evconnlistener_set_error_cb(l->ev, accept_error_cb);
	log_info("event=listen transport=%s address=%s", transport_name[kind], hostport);
	return l;
}

static void rpc_accepted(void *arg, const struct accepted *a)
{
	struct server *srv = arg;
	if (!conn_new(srv, a)) {
		server_conn_closed(srv, METRIC_CONN_TCP, &a->counted);
		log_error("event=accept result=out_of_memory peer=%s", a->peer);
	}
}

struct listener *listener_new(struct server *srv, const char *hostport)
{
	return listener_open(srv, hostport, METRIC_CONN_TCP, rpc_accepted, NULL, srv);
}

void listener_set_exempt(struct listener *l, const struct netaddr_list *exempt)
{
	l->exempt = exempt;
}

void listener_stop(struct listener *l)
{
	if (!l)
		return;
	l->stopped = 1;
	if (l->retry)
		event_del(l->retry);
	if (l->ev)
		evconnlistener_disable(l->ev);
}

void listener_free(struct listener *l)
{
	if (!l)
		return;
	if (l->ev)
		evconnlistener_free(l->ev);
	if (l->retry)
		event_free(l->retry);
	free(l);
}
