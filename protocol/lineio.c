/*
 * Blocking newline-framed I/O: buffered reads with an overall deadline per
 * line, and writes that never raise SIGPIPE on sockets.
 */
#include "lineio.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 4096

struct lineio {
	int fd;
	size_t max_line;
	char *buf;
	size_t cap;
	size_t start, end;  /* unread bytes are buf[start, end) */
	size_t scanned;     /* bytes after start known to hold no '\n' */
	int skipping;       /* discarding the rest of an over-long line */
};

struct lineio *lineio_new(int fd, size_t max_line)
{
	struct lineio *l = calloc(1, sizeof *l);

	if (!l)
		return NULL;
	l->fd = fd;
	l->max_line = max_line;
	return l;
}

void lineio_free(struct lineio *l)
{
	if (!l)
		return;
	free(l->buf);
	free(l);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The buffer never needs more than a whole line and its '\n'. */
static size_t cap_limit(const struct lineio *l)
{
	return l->max_line < SIZE_MAX - 1 ? l->max_line + 1 : SIZE_MAX;
}

/* Makes room after l->end: moves unread data to the front, else grows. */
static int make_room(struct lineio *l)
{
	if (l->end < l->cap)
		return 0;
	if (l->start > 0) {
		memmove(l->buf, l->buf + l->start, l->end - l->start);
		l->end -= l->start;
		l->start = 0;
		return 0;
	}
	size_t limit = cap_limit(l);
	size_t cap = l->cap ? l->cap : CHUNK;
	while (cap <= l->cap && cap < limit)
		cap = cap > limit / 2 ? limit : cap * 2;
	if (cap > limit)
		cap = limit;
	char *buf = cap > l->cap ? realloc(l->buf, cap) : NULL;
	if (!buf)
		return -1;
	l->buf = buf;
	l->cap = cap;
	return 0;
}

/* Waits until fd is readable or the deadline (-1: none) passes. */
static int wait_readable(int fd, int64_t deadline)
{
	for (;;) {
		int ms = -1;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();
			if (left <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* Reads more bytes into the buffer; 1 when some came, 0 on EOF, -1 on error. */
static int fill(struct lineio *l, int64_t deadline)
{
	if (make_room(l))
		return -1;
	for (;;) {
		if (wait_readable(l->fd, deadline))
			return -1;
		ssize_t n = read(l->fd, l->buf + l->end, l->cap - l->end);
		if (n > 0) {
			l->end += (size_t)n;
			return 1;
		}
		if (n == 0)
			return 0;
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
	}
}

static void discard_buffered(struct lineio *l)
{
	l->start = l->end = l->scanned = 0;
}

/* Hands out the line ending at nl and consumes it with its '\n'. */
static char *take_line(struct lineio *l, char *nl, size_t *len)
{
	size_t n = (size_t)(nl - (l->buf + l->start));
	char *line = malloc(n + 1);

	if (!line)
		return NULL;
	memcpy(line, l->buf + l->start, n);
	line[n] = '\0';
	l->start += n + 1;
	l->scanned = 0;
	if (l->start == l->end)
		discard_buffered(l);
	*len = n;
	return line;
}

/*
 * Looks for a complete line in the buffer. Returns it, or NULL with
 * *over set when the buffered part of the line is already too long.
 * The bytes of an over-long line are skipped on later calls, so the reader
 * stays in step with the stream.
 */
static char *next_buffered(struct lineio *l, size_t *len, int *over)
{
	for (;;) {
		size_t avail = l->end - l->start;
		char *nl = NULL;
		if (avail > l->scanned)
			nl = memchr(l->buf + l->start + l->scanned, '\n', avail - l->scanned);
		if (nl && !l->skipping)
			return take_line(l, nl, len);
		if (nl) {
			l->start = (size_t)(nl - l->buf) + 1;
			l->scanned = 0;
			l->skipping = 0;
			continue;
		}
		l->scanned = avail;
		if (l->skipping) {
			discard_buffered(l);
		} else if (avail > l->max_line) {
			discard_buffered(l);
			l->skipping = 1;
			*over = 1;
		}
		return NULL;
	}
}

char *lineio_read(struct lineio *l, size_t *len, int timeout_ms)
{
	int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : -1;
	size_t dummy;

	if (!len)
		len = &dummy;
	for (;;) {
		int over = 0;
		char *line = next_buffered(l, len, &over);
		if (line)
			return line;
		if (over) {
			errno = EMSGSIZE;
			return NULL;
		}
		/* A partial line at EOF is incomplete, so it is dropped too. */
		if (fill(l, deadline) <= 0)
			return NULL;
	}
}

/* One write attempt; sendmsg with MSG_NOSIGNAL so a vanished peer gives
 * EPIPE rather than killing the client, writev for non-sockets. */
static ssize_t write_once(int fd, struct iovec *iov, int n)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
	ssize_t r = sendmsg(fd, &m, MSG_NOSIGNAL);

	if (r < 0 && errno == ENOTSOCK)
		r = writev(fd, iov, n);
	return r;
}

/* Drops the first `done` bytes from the iovec array. */
static void advance(struct iovec **iov, int *n, size_t done)
{
	while (*n > 0 && done >= (*iov)->iov_len) {
		done -= (*iov)->iov_len;
		(*iov)++;
		(*n)--;
	}
	if (*n > 0) {
		(*iov)->iov_base = (char *)(*iov)->iov_base + done;
		(*iov)->iov_len -= done;
	}
}

static int wait_writable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	return poll(&p, 1, -1) < 0 && errno != EINTR ? -1 : 0;
}

int lineio_write(int fd, const char *buf, size_t len)
{
	/* One gather write keeps the line and its '\n' in one segment. */
	struct iovec vec[2] = {
		{ .iov_base = (void *)(uintptr_t)buf, .iov_len = len },
		{ .iov_base = (void *)(uintptr_t)"\n", .iov_len = 1 },
	};
	struct iovec *iov = vec;
	int n = 2;

	while (n > 0) {
		ssize_t r = write_once(fd, iov, n);
		if (r >= 0) {
			advance(&iov, &n, (size_t)r);
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (wait_writable(fd))
				return -1;
		} else if (errno != EINTR) {
			return -1;
		}
	}
	return 0;
}

/* Splits "host:port" or "[v6]:port" into host and a numeric port 1-65535. */
static int split_hostport(const char *hp, char *host, size_t hsize, char *port, size_t psize)
{
	const char *colon, *h = hp;
	size_t hlen;

	if (hp[0] == '[') {
		const char *close = strchr(hp, ']');
		if (!close || close[1] != ':')
			return -1;
		h = hp + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(hp, ':');
		/* A bare IPv6 address has colons of its own: ask for brackets. */
		if (!colon || memchr(hp, ':', (size_t)(colon - hp)))
			return -1;
		hlen = (size_t)(colon - hp);
	}
	const char *p = colon + 1;
	size_t plen = strlen(p);
	if (hlen == 0 || hlen >= hsize || plen == 0 || plen >= psize || plen > 5 ||
	    strspn(p, "0123456789") != plen || atoi(p) < 1 || atoi(p) > 65535)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memcpy(port, p, plen + 1);
	return 0;
}

static int connect_one(const struct addrinfo *ai)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);

	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	/* Requests are single lines that want an answer now. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

int lineio_connect(const char *hostport)
{
	char host[256], port[8];
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res;

	if (!hostport || split_hostport(hostport, host, sizeof host, port, sizeof port)) {
		errno = EINVAL;
		return -1;
	}
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		errno = ENXIO;  /* no address: the nearest errno there is */
		return -1;
	}
	int fd = -1;
	for (const struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = connect_one(ai);
	int saved = errno;
	freeaddrinfo(res);
	errno = saved;
	return fd;
}
