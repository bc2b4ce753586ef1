/*
 * session.*: logging in, resuming with a token, who am I, logging out.
 * Tokens are 32 random bytes shown once as hex; PostgreSQL keeps only
 * their SHA-256, so any daemon can check a token and a stolen database
 * reveals none.
 */
#ifndef RS_SESSION_H
#define RS_SESSION_H

#include "request.h"
#include "schema.h"

struct server;

extern const struct param_schema session_login_params;
extern const struct param_schema session_resume_params;
extern const struct param_schema session_whoami_params;

void session_login(struct request *req); /* in login.c */
void session_resume(struct request *req);
void session_whoami(struct request *req);
void session_logout(struct request *req);

/* For HTTP: turns a bearer token into a principal (NULL when unknown or
 * expired). cb runs later, on the loop; status != 0 means the database
 * could not answer. Returns 0 when queued. */
typedef void (*session_resolve_cb)(int status, struct principal *p, void *arg);
int session_resolve(struct server *srv, const char *token, session_resolve_cb cb, void *arg);

/* Runs `then` once the caller's session is found valid in the database
 * (on the call's own lane), with req->who refreshed from it; otherwise
 * answers unauthorized (or forbidden, when its role changed). For methods
 * answered in C; SQL methods check inside their own transaction. */
void session_verify(struct request *req, void (*then)(struct request *req));

/* Lower-case hex of n bytes; out must hold 2n + 1. */
void session_hex(const unsigned char *in, size_t n, char *out);

/* Hex SHA-256 of a token; out must hold 65 bytes. */
void session_token_hash(const char *token, char out[65]);

#endif
