#include "server.h"
#include "config.h"
#include "log.h"

int server_client_open(struct server *s)
{
	if (s->nclients >= config_current()->max_connections) {
		log_warn("event=client_refused reason=max_connections limit=%lld",
			 (long long)config_current()->max_connections);
		return -1;
	}
	s->nclients++;
	return 0;
}

void server_client_close(struct server *s) { s->nclients--; }

unsigned long long server_conn_id(struct server *s) { return ++s->last_conn_id; }
