/*
 * Periodic housekeeping: expired sessions now, expired holds and offers as
 * the booking model grows. The work is one SQL function that is safe to run
 * from several daemons at once, so the timer holds no state of its own.
 */
#ifndef RS_JANITOR_H
#define RS_JANITOR_H

struct server;
struct janitor;

struct janitor *janitor_new(struct server *srv);
void janitor_free(struct janitor *j);

#endif
