#include "request.h"
#include "log.h"
#include "method.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- principal ---- */

struct principal *principal_new(const char *ctx_json, const char *token_hash_hex)
{
	json_object *ctx = json_tokener_parse(ctx_json);
	json_object *v;
	struct principal *p = NULL;
	if (!ctx || !json_object_is_type(ctx, json_type_object))
		goto out;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->ctx_json = strdup(ctx_json))) {
		free(p);
		p = NULL;
		goto out;
	}
	p->refs = 1;
	if (json_object_object_get_ex(ctx, "user_id", &v))
		p->user_id = json_object_get_int64(v);
	if (json_object_object_get_ex(ctx, "role", &v))
		p->role = role_parse(json_object_get_string(v));
	if (token_hash_hex)
		snprintf(p->token_hash, sizeof(p->token_hash), "%s", token_hash_hex);
out:
	json_object_put(ctx);
	return p;
}

struct principal *principal_ref(struct principal *p)
{
	if (p)
		p->refs++;
	return p;
}

void principal_unref(struct principal *p)
{
	if (!p || --p->refs > 0)
		return;
	free(p->ctx_json);
	free(p);
}

/* ---- reply ---- */

struct reply *reply_new(void *owner, const struct reply_ops *ops, unsigned long long conn_id)
{
	struct reply *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->owner = owner;
	r->ops = ops;
	r->conn_id = conn_id;
	return r;
}

int reply_expect(struct reply *r, int nparts, int batch)
{
	r->batch = batch;
	r->nparts = nparts;
	if (nparts == 1) {
		r->parts = &r->single;
		return 0;
	}
	r->parts = calloc((size_t)nparts, sizeof(char *));
	return r->parts ? 0 : -1;
}

void reply_free(struct reply *r)
{
	if (!r)
		return;
	for (int i = 0; r->parts && i < r->nparts; i++)
		free(r->parts[i]);
	if (r->parts != &r->single)
		free(r->parts);
	free(r);
}

void reply_disown(struct reply *r)
{
	if (r->complete)
		reply_free(r);
	else
		r->owner = NULL;
}

void reply_put(struct reply *r, int slot, char *text)
{
	r->parts[slot] = text;
	if (++r->ndone < r->nparts)
		return;
	r->complete = 1;
	if (r->owner)
		r->ops->ready(r->owner, r);
	else
		reply_free(r);
}

char *reply_text(const struct reply *r)
{
	if (!r->batch)
		return r->parts[0] ? strdup(r->parts[0]) : NULL;
	size_t len = 2;
	int any = 0;
	for (int i = 0; i < r->nparts; i++)
		if (r->parts[i]) {
			len += strlen(r->parts[i]) + 1;
			any = 1;
		}
	char *out = any ? malloc(len + 1) : NULL;
	if (!out)
		return NULL;
	char *w = out;
	*w++ = '[';
	for (int i = 0; i < r->nparts; i++) {
		if (!r->parts[i])
			continue;
		if (w > out + 1)
			*w++ = ',';
		size_t n = strlen(r->parts[i]);
		memcpy(w, r->parts[i], n);
		w += n;
	}
	*w++ = ']';
	*w = '\0';
	return out;
}

/* ---- request ---- */

static uint64_t next_seq;

struct request *request_new(struct server *srv, const struct method *m, struct reply *reply,
			    int slot, const struct rpc_request *rr, struct principal *who)
{
	struct request *req = calloc(1, sizeof(*req));
	if (!req)
		return NULL;
	req->srv = srv;
	req->m = m;
	req->reply = reply;
	req->slot = slot;
	req->has_id = rr->has_id;
	req->id = json_object_get(rr->id);
	req->params = rr->params ? json_object_get(rr->params) : json_object_new_object();
	req->who = principal_ref(who);
	req->started_ns = now_ns();
	req->seq = ++next_seq;
	return req;
}

static void request_finish(struct request *req, char *text, int is_error)
{
	uint64_t took = now_ns() - req->started_ns;
	metrics_request_done(req->m ? method_index(req->m) : -1, is_error, took);
	log_debug("event=request " REQ_LOG_FMT " error=%d us=%llu", REQ_LOG_ARGS(req), is_error,
		  (unsigned long long)(took / 1000));
	if (!req->has_id) { /* a notification gets no answer, even an error */
		free(text);
		text = NULL;
	}
	reply_put(req->reply, req->slot, text);
	json_object_put(req->id);
	json_object_put(req->params);
	principal_unref(req->who);
	free(req);
}

void request_result_raw(struct request *req, const char *raw_json)
{
	request_finish(req, rpc_result_raw(req->id, raw_json), 0);
}

void request_result(struct request *req, json_object *result)
{
	request_finish(req, rpc_result(req->id, result), 0);
	json_object_put(result);
}

void request_error_reason(struct request *req, enum rpc_reason r, const char *detail,
			  json_object *extra)
{
	request_finish(req, rpc_error_reason(req->id, r, detail, extra), 1);
	json_object_put(extra);
}

void request_error_params(struct request *req, const char *field, const char *why)
{
	request_finish(req, rpc_error_params(req->id, field, why), 1);
}

void request_error_code(struct request *req, int code, const char *message)
{
	request_finish(req, rpc_error(req->id, code, message, NULL), 1);
}

void request_set_principal(struct request *req, struct principal *p)
{
	struct reply *r = req->reply;
	if (r->owner && r->ops->set_principal)
		r->ops->set_principal(r->owner, p);
}
