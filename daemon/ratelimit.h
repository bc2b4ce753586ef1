/*
 * At most one log line per interval for events that can repeat without
 * bound (refused clients, failed accepts, cut connections): a flood must
 * not turn into a flood of log lines. The line due carries how many such
 * events there were since the previous one; /metrics counts every one.
 */
#ifndef RS_RATELIMIT_H
#define RS_RATELIMIT_H

#include <time.h>

#define RATELIMIT_INTERVAL_S 10

struct ratelimit {
	time_t next;              /* no line before this (monotonic seconds) */
	unsigned long long count; /* events since the last line */
};

/* Counts one event; returns how many to report when a line is due now,
 * else 0. */
static inline unsigned long long ratelimit_hit(struct ratelimit *rl)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	rl->count++;
	if (ts.tv_sec < rl->next)
		return 0;
	rl->next = ts.tv_sec + RATELIMIT_INTERVAL_S;
	unsigned long long n = rl->count;
	rl->count = 0;
	return n;
}

#endif
