/*
 * The HTTP/1.1 request head, parsed from a buffer: the request line, the
 * header fields and what they say about the body and the connection.
 *
 * Pure functions on bytes: nothing is allocated, nothing is kept between
 * calls, nothing past buf[len - 1] is read, so a fuzzer or a unit test can
 * call them directly and a connection can call them again as bytes arrive.
 * The parser is strict where leniency lets two readers of one message
 * disagree (request smuggling): a body is framed by Content-Length alone,
 * Transfer-Encoding is refused, and so are two different Content-Lengths,
 * folded header lines, a space before a colon and bare CRs.
 */
#ifndef RS_HTTPPARSE_H
#define RS_HTTPPARSE_H

#include <stddef.h>
#include <stdint.h>

struct netaddr;
struct netaddr_list;

#define HTTP_MAX_HEAD 16384   /* request line and header fields, blank line included */
#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_BODY_DIGITS 15

enum http_method {
	HM_GET, HM_HEAD, HM_POST,
	HM_OTHER,   /* a method of RFC 9110 we serve on no path: 405 */
	HM_UNKNOWN, /* any other token: 501 */
};

struct http_slice {
	const char *p;
	size_t n;
};

struct http_field {
	struct http_slice name, value; /* value without surrounding blanks */
};

struct http_head {
	enum http_method method;
	struct http_slice target; /* as sent, query included */
	struct http_slice path;   /* the target up to '?' */
	int minor;                /* HTTP/1.minor: 0 or 1 */
	int keep_alive;           /* the connection may carry another request */
	int expect_continue;      /* Expect: 100-continue */
	int64_t content_length;   /* 0 when absent */
	size_t head_len;          /* bytes of the head, leading blank lines included */
	int nfields;
	struct http_field fields[HTTP_MAX_HEADERS];
};

enum http_parse { HP_MORE = 0, HP_DONE = 1, HP_ERROR = -1 };

struct http_error {
	int status;      /* the answer to send: 400, 413, 417, 431, 501, 505 */
	const char *why; /* a few words for the log */
};

/* Parses the head at the start of buf. HP_MORE: the blank line that ends
 * it has not arrived yet; HP_DONE: *h is filled, its slices point into
 * buf; HP_ERROR: *err says which answer to give (also for a head that
 * would not fit in HTTP_MAX_HEAD, complete or not). */
enum http_parse http_parse_head(const char *buf, size_t len, struct http_head *h,
				struct http_error *err);

/* Where the head ends: the length of buf's head through its blank line,
 * or 0 when none has arrived. Looks only at bytes from `from` on (minus
 * the two before it), so a caller that remembers how far it looked scans
 * each byte once however the head is split. Leading blank lines are the
 * caller's to skip: buf must start with the request line. */
size_t http_head_end(const char *buf, size_t len, size_t from);

/* The first field named `name` (ASCII case-insensitive), or NULL. */
const struct http_slice *http_field(const struct http_head *h, const char *name);
/* Case-insensitive comparison of a slice with a NUL-terminated string. */
int http_slice_is(struct http_slice s, const char *lit);

/* The media type of Content-Type is `type` (parameters such as charset
 * allowed after it). */
int http_content_type_is(const struct http_head *h, const char *type);

/* The client behind `peer`: when peer is in `trusted`, X-Forwarded-For is
 * read from its right end, skipping trusted proxies, to the first address
 * that is not one; an entry that is not an address stops the walk at the
 * hop before it. Otherwise, or without X-Forwarded-For, the peer itself. */
void http_forwarded_client(const struct http_head *h, const struct netaddr *peer,
			   const struct netaddr_list *trusted, struct netaddr *client);

#endif
