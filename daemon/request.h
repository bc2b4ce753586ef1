/*
 * A request is one JSON-RPC call in progress; a reply collects the answers
 * to one incoming message (a single call or a batch) so that its owner (a
 * TCP connection or an HTTP exchange) can send them in order.
 *
 * Park and resume: a handler that needs PostgreSQL sends its query with the
 * request as the callback argument and returns. When the answer comes the
 * request is finished; if the client left meanwhile, the reply has no owner
 * any more and is simply freed.
 */
#ifndef RS_REQUEST_H
#define RS_REQUEST_H

#include <json-c/json.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include "jsonrpc.h"

struct server;
struct method;

/* Who a request runs as, shared by reference between a connection and the
 * requests it has in flight. */
struct principal {
	int refs;
	int64_t user_id;
	unsigned role;   /* an R_* bit (method.h) */
	char *ctx_json;  /* rs_user_ctx(): the identity passed to SQL */
	char token_hash[65];
	time_t expires;
};

struct principal *principal_new(const char *ctx_json, const char *token_hash_hex);
struct principal *principal_ref(struct principal *p);
void principal_unref(struct principal *p);

struct reply;

struct reply_ops {
	/* All answers of the message are in: send reply_text() and free it. */
	void (*ready)(void *owner, struct reply *r);
	/* session.login/resume/logout changed who this client is. May be NULL. */
	void (*set_principal)(void *owner, struct principal *p);
};

struct reply {
	TAILQ_ENTRY(reply) link; /* the owner's queue */
	void *owner;             /* NULL once the owner has gone */
	const struct reply_ops *ops;
	unsigned long long conn_id; /* the connection it came on, for logs */
	char peer[48];           /* the client's address, no port ("-" unknown): behind a
				  * trusted proxy the one it names; for throttles and logs */
	int batch;
	int nparts, ndone;
	int barrier;             /* holds a call that changes the identity */
	int complete;
	char **parts;            /* one answer per call; NULL for notifications */
	char *single;            /* storage when nparts == 1 */
};

/* conn_id: server_conn_id() of the connection the message came on. */
struct reply *reply_new(void *owner, const struct reply_ops *ops, unsigned long long conn_id);
/* The owner is going away: free finished replies, orphan the others. */
void reply_disown(struct reply *r);
void reply_free(struct reply *r);
/* The text to send: malloc'd, no newline; NULL when nothing is owed
 * (notifications only). */
char *reply_text(const struct reply *r);
/* Called by dispatch once it knows how many calls the message holds. */
int reply_expect(struct reply *r, int nparts, int batch);
/* Stores the answer for one part (consumes text; NULL = no answer). */
void reply_put(struct reply *r, int slot, char *text);

struct request {
	struct server *srv;
	const struct method *m;
	json_object *id;       /* a reference of our own; NULL when absent */
	int has_id;
	json_object *params;   /* a reference of our own; never NULL */
	struct principal *who; /* NULL: not logged in */
	struct reply *reply;
	int slot;
	uint64_t started_ns;
	uint64_t seq;          /* for logs */
};

/* Every log line about a request starts its key=value pairs with these,
 * so one request reads as one thread in the logs:
 *   log_info("event=x " REQ_LOG_FMT " more=%d", REQ_LOG_ARGS(req), n); */
#define REQ_LOG_FMT "conn=%llu req=%llu method=%s"
#define REQ_LOG_ARGS(req) (req)->reply->conn_id, (unsigned long long)(req)->seq, \
	(req)->m ? (req)->m->name : "-"

struct request *request_new(struct server *srv, const struct method *m, struct reply *reply,
			    int slot, const struct rpc_request *rr, struct principal *who);
/* Finishing a request sends its answer (unless a notification) and frees it. */
void request_result_raw(struct request *req, const char *raw_json);
void request_result(struct request *req, json_object *result); /* consumes result */
void request_error_reason(struct request *req, enum rpc_reason r, const char *detail,
			  json_object *extra); /* consumes extra */
void request_error_params(struct request *req, const char *field, const char *why);
void request_error_code(struct request *req, int code, const char *message);
/* Changes the identity of the client that sent req, if it is still there. */
void request_set_principal(struct request *req, struct principal *p);

uint64_t now_ns(void);

#endif
