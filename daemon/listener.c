#include "listener.h"
#include "conn.h"
#include "log.h"
#include "server.h"

#include <arpa/inet.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct listener {
	struct server *srv;
	struct evconnlistener *ev;
};

int parse_hostport(const char *hostport, struct sockaddr_storage *ss, int *sslen)
{
	memset(ss, 0, sizeof(*ss));
	*sslen = (int)sizeof(*ss);
	return evutil_parse_sockaddr_port(hostport, (struct sockaddr *)ss, sslen);
}

static void peer_name(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	snprintf(buf, len, "%s:%d", host, port);
}

static void accept_cb(struct evconnlistener *ev, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct listener *l = arg;
	char peer[64];
	if (server_client_open(l->srv) != 0) {
		evutil_closesocket(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	peer_name(sa, peer, sizeof(peer));
	if (!conn_new(l->srv, fd, peer)) {
		server_client_close(l->srv);
		log_error("event=accept result=out_of_memory peer=%s", peer);
	}
}

static void accept_error_cb(struct evconnlistener *ev, void *arg)
{
	/* EMFILE and friends: log and carry on; the listener keeps trying. */
	log_error("event=accept_error error=\"%s\"",
		  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

struct listener *listener_new(struct server *srv, const char *hostport)
{
	struct sockaddr_storage ss;
	int len;
	if (parse_hostport(hostport, &ss, &len) != 0) {
		log_error("event=listen result=bad_address address=%s", hostport);
		return NULL;
	}
	struct listener *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->srv = srv;
	l->ev = evconnlistener_new_bind(srv->base, accept_cb, l,
					LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
					(struct sockaddr *)&ss, len);
	if (!l->ev) {
		log_error("event=listen result=failed address=%s error=\"%s\"", hostport,
			  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		free(l);
		return NULL;
	}
	evconnlistener_set_error_cb(l->ev, accept_error_cb);
	log_info("event=listen transport=jsonrpc address=%s", hostport);
	return l;
}

void listener_stop(struct listener *l)
{
	if (l && l->ev)
		evconnlistener_disable(l->ev);
}

void listener_free(struct listener *l)
{
	if (!l)
		return;
	evconnlistener_free(l->ev);
	free(l);
}
