/*
 * The web client's static files: regular files inside web_dir, and
 * nothing else. Every component of the path is opened relative to the one
 * before it without following symbolic links, so a link inside web_dir
 * (web_dir/passwd.txt -> /etc/passwd) serves nothing, and FIFOs, devices
 * and sockets are refused before they are opened (a FIFO would block the
 * loop until someone wrote to it).
 */
#ifndef RS_STATIC_H
#define RS_STATIC_H

#include <stddef.h>
#include <sys/types.h>

struct evbuffer;

/* Opens web_dir itself; -1 (logged) when it cannot be opened. */
int static_open_root(const char *web_dir);

/* The file for a request path ("/", "/app.js", "/css/site.css"): "/" is
 * "/index.html"; empty components, ".", "..", hidden names (".x") and
 * backslashes are refused. Returns an open fd and its size, or -1 when
 * there is nothing to serve (the answer is then 404). */
int static_open(int root, const char *path, size_t len, off_t *size);

/* The Content-Type for a file name. */
const char *static_content_type(const char *path, size_t len);

/* Reads size bytes of fd into out and closes fd; 0 on success. The file
 * is read whole at once so that a connection holds no file descriptor
 * while its answer is sent. */
int static_read(int fd, off_t size, struct evbuffer *out);

#endif
