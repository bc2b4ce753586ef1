/*
 * Blocking newline-framed I/O for clients and tests (the daemon frames on
 * libevent buffers instead).
 */
#ifndef RS_LINEIO_H
#define RS_LINEIO_H

#include <stddef.h>
#include <sys/types.h>

struct lineio;

struct lineio *lineio_new(int fd, size_t max_line);
void lineio_free(struct lineio *l);  /* does not close fd */
/* Reads one line without its '\n' into a malloc'd string; *len set.
 * Returns NULL on EOF, error, timeout (timeout_ms > 0) or a line over max_line. */
char *lineio_read(struct lineio *l, size_t *len, int timeout_ms);
/* Writes buf and a '\n'; 0 on success. */
int lineio_write(int fd, const char *buf, size_t len);
/* Connects to "host:port" over TCP; returns fd or -1. */
int lineio_connect(const char *hostport);

#endif
