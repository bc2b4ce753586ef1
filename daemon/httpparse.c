#include "httpparse.h"
#include "netaddr.h"

#include <string.h>

static int lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

int http_slice_is(struct http_slice s, const char *lit)
{
	size_t n = strlen(lit);
	if (s.n != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s.p[i]) != lower((unsigned char)lit[i]))
			return 0;
	return 1;
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* A token character (RFC 9110, 5.6.2). */
static int is_tchar(unsigned char c)
{
	if (is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return 1;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

static struct http_slice trim(struct http_slice s)
{
	while (s.n > 0 && is_blank(s.p[0])) {
		s.p++;
		s.n--;
	}
	while (s.n > 0 && is_blank(s.p[s.n - 1]))
		s.n--;
	return s;
}

static enum http_parse fail(struct http_error *err, int status, const char *why)
{
	err->status = status;
	err->why = why;
	return HP_ERROR;
}

/* ---- lines ---- */

struct cursor {
	const char *buf;
	size_t len, pos;
};

/* The next line without its LF or CRLF; 0 when its LF has not arrived. */
static int next_line(struct cursor *c, struct http_slice *line)
{
	const char *start = c->buf + c->pos;
	const char *lf = memchr(start, '\n', c->len - c->pos);
	if (!lf)
		return 0;
	size_t n = (size_t)(lf - start);
	c->pos += n + 1;
	if (n > 0 && start[n - 1] == '\r')
		n--;
	line->p = start;
	line->n = n;
	return 1;
}

/* RFC 9112, 2.2: a server should ignore blank lines before a request
 * (some clients send a CRLF after a POST body). */
static void skip_blank_lines(struct cursor *c)
{
	for (;;) {
		if (c->pos < c->len && c->buf[c->pos] == '\n')
			c->pos++;
		else if (c->pos + 1 < c->len && c->buf[c->pos] == '\r' && c->buf[c->pos + 1] == '\n')
			c->pos += 2;
		else
			return;
	}
}

size_t http_head_end(const char *buf, size_t len, size_t from)
{
	size_t i = from;
	while (i < len) {
		const char *lf = memchr(buf + i, '\n', len - i);
		if (!lf)
			return 0;
		i = (size_t)(lf - buf);
		if (i >= 1 && buf[i - 1] == '\n')
			return i + 1;
		if (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n')
			return i + 1;
		i++;
	}
	return 0;
}

/* ---- the request line ---- */

static enum http_method method_of(struct http_slice m)
{
	static const char *const others[] = { "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT" };
	/* Methods are case-sensitive: "get" is not GET. */
	if (m.n == 3 && memcmp(m.p, "GET", 3) == 0)
		return HM_GET;
	if (m.n == 4 && memcmp(m.p, "HEAD", 4) == 0)
		return HM_HEAD;
	if (m.n == 4 && memcmp(m.p, "POST", 4) == 0)
		return HM_POST;
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		if (m.n == strlen(others[i]) && memcmp(m.p, others[i], m.n) == 0)
			return HM_OTHER;
	return HM_UNKNOWN;
}

static enum http_parse parse_version(const char *v, size_t n, struct http_head *h,
				     struct http_error *err)
{
	if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || !is_digit((unsigned char)v[5]) || v[6] != '.' ||
	    !is_digit((unsigned char)v[7]))
		return fail(err, 400, "bad version");
	if (v[5] != '1')
		return fail(err, 505, "version not supported");
	h->minor = v[7] == '0' ? 0 : 1; /* 1.2 and later are answered as 1.1 */
	return HP_DONE;
}

/* Only origin-form targets ("/path?query"): this is no proxy. */
static enum http_parse parse_target(const char *t, size_t n, struct http_head *h,
				    struct http_error *err)
{
	if (n == 0 || t[0] != '/')
		return fail(err, 400, "target is not a path");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
			return fail(err, 400, "bad target");
	h->target.p = t;
	h->target.n = n;
	const char *q = memchr(t, '?', n);
	h->path.p = t;
	h->path.n = q ? (size_t)(q - t) : n;
	return HP_DONE;
}

static enum http_parse parse_request_line(struct http_slice line, struct http_head *h,
					  struct http_error *err)
{
	const char *p = line.p, *end = line.p + line.n;
	const char *sp1 = memchr(p, ' ', line.n);
	if (!sp1 || sp1 == p)
		return fail(err, 400, "bad request line");
	for (const char *q = p; q < sp1; q++)
		if (!is_tchar((unsigned char)*q))
			return fail(err, 400, "bad method");
	h->method = method_of((struct http_slice){ p, (size_t)(sp1 - p) });
	const char *t = sp1 + 1;
	const char *sp2 = memchr(t, ' ', (size_t)(end - t));
	if (!sp2)
		return fail(err, 400, "bad request line");
	if (parse_target(t, (size_t)(sp2 - t), h, err) != HP_DONE)
		return HP_ERROR;
	return parse_version(sp2 + 1, (size_t)(end - sp2 - 1), h, err);
}

/* ---- header fields ---- */

static int is_field_vchar(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

static enum http_parse parse_field(struct http_slice line, struct http_head *h,
				   struct http_error *err)
{
	if (is_blank(line.p[0]))
		return fail(err, 400, "folded header line");
	const char *colon = memchr(line.p, ':', line.n);
	if (!colon || colon == line.p)
		return fail(err, 400, "bad header line");
	for (const char *q = line.p; q < colon; q++)
		if (!is_tchar((unsigned char)*q))
			return fail(err, 400, "bad header name");
	struct http_slice value = { colon + 1, (size_t)(line.p + line.n - colon - 1) };
	for (size_t i = 0; i < value.n; i++)
		if (!is_field_vchar((unsigned char)value.p[i]))
			return fail(err, 400, "bad header value");
	if (h->nfields == HTTP_MAX_HEADERS)
		return fail(err, 431, "too many header fields");
	struct http_field *f = &h->fields[h->nfields++];
	f->name.p = line.p;
	f->name.n = (size_t)(colon - line.p);
	f->value = trim(value);
	return HP_DONE;
}

const struct http_slice *http_field(const struct http_head *h, const char *name)
{
	for (int i = 0; i < h->nfields; i++)
		if (http_slice_is(h->fields[i].name, name))
			return &h->fields[i].value;
	return NULL;
}

/* ---- what the fields mean ---- */

static enum http_parse content_length(struct http_slice v, int64_t *out, struct http_error *err)
{
	int64_t n = 0;
	if (v.n == 0)
		return fail(err, 400, "bad content-length");
	for (size_t i = 0; i < v.n; i++)
		if (!is_digit((unsigned char)v.p[i]))
			return fail(err, 400, "bad content-length");
	if (v.n > HTTP_MAX_BODY_DIGITS)
		return fail(err, 413, "body too large");
	for (size_t i = 0; i < v.n; i++)
		n = n * 10 + (v.p[i] - '0');
	*out = n;
	return HP_DONE;
}

/* Connection: a comma-separated list of options. */
static void connection_options(struct http_slice v, int *close, int *keep)
{
	const char *p = v.p, *end = v.p + v.n;
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;
		struct http_slice opt = trim((struct http_slice){ p, (size_t)(stop - p) });
		*close |= http_slice_is(opt, "close");
		*keep |= http_slice_is(opt, "keep-alive");
		p = stop + (comma ? 1 : 0);
	}
}

struct field_facts {
	int hosts, have_length, close, keep;
};

static enum http_parse field_meaning(const struct http_field *f, struct http_head *h,
				     struct field_facts *ff, struct http_error *err)
{
	if (http_slice_is(f->name, "host")) {
		ff->hosts++;
	} else if (http_slice_is(f->name, "content-length")) {
		int64_t n;
		if (content_length(f->value, &n, err) != HP_DONE)
			return HP_ERROR;
		if (ff->have_length && n != h->content_length)
			return fail(err, 400, "conflicting content-length");
		ff->have_length = 1;
		h->content_length = n;
	} else if (http_slice_is(f->name, "transfer-encoding")) {
		return fail(err, 501, "transfer-encoding not supported");
	} else if (http_slice_is(f->name, "connection")) {
		connection_options(f->value, &ff->close, &ff->keep);
	} else if (http_slice_is(f->name, "expect")) {
		if (!http_slice_is(f->value, "100-continue"))
			return fail(err, 417, "unsupported expectation");
		h->expect_continue = h->minor >= 1; /* HTTP/1.0 clients do not wait */
	}
	return HP_DONE;
}

static enum http_parse check_fields(struct http_head *h, struct http_error *err)
{
	struct field_facts ff = { 0, 0, 0, 0 };
	for (int i = 0; i < h->nfields; i++)
		if (field_meaning(&h->fields[i], h, &ff, err) != HP_DONE)
			return HP_ERROR;
	if (ff.hosts > 1)
		return fail(err, 400, "more than one host");
	if (h->minor >= 1 && ff.hosts == 0)
		return fail(err, 400, "no host");
	h->keep_alive = !ff.close && (h->minor >= 1 || ff.keep);
	return HP_DONE;
}

/* ---- the head ---- */

static enum http_parse more_or_too_large(size_t len, struct http_error *err)
{
	return len >= HTTP_MAX_HEAD ? fail(err, 431, "head too large") : HP_MORE;
}

enum http_parse http_parse_head(const char *buf, size_t len, struct http_head *h,
				struct http_error *err)
{
	struct cursor c = { buf, len, 0 };
	struct http_slice line;
	memset(h, 0, sizeof(*h));
	skip_blank_lines(&c);
	if (!next_line(&c, &line))
		return more_or_too_large(len, err);
	if (parse_request_line(line, h, err) != HP_DONE)
		return HP_ERROR;
	for (;;) {
		if (!next_line(&c, &line))
			return more_or_too_large(len, err);
		if (line.n == 0)
			break;
		if (parse_field(line, h, err) != HP_DONE)
			return HP_ERROR;
	}
	if (c.pos > HTTP_MAX_HEAD)
		return fail(err, 431, "head too large");
	h->head_len = c.pos;
	return check_fields(h, err) == HP_DONE ? HP_DONE : HP_ERROR;
}

int http_content_type_is(const struct http_head *h, const char *type)
{
	const struct http_slice *v = http_field(h, "content-type");
	if (!v)
		return 0;
	size_t n = 0;
	while (n < v->n && v->p[n] != ';' && !is_blank(v->p[n]))
		n++;
	if (!http_slice_is((struct http_slice){ v->p, n }, type))
		return 0;
	while (n < v->n && is_blank(v->p[n]))
		n++;
	return n == v->n || v->p[n] == ';';
}

/* ---- X-Forwarded-For ---- */

/* One hop: "1.2.3.4", "1.2.3.4:5678", "2001:db8::1" or "[2001:db8::1]:5678". */
static int forwarded_hop(struct http_slice s, struct netaddr *a)
{
	s = trim(s);
	if (s.n > 0 && s.p[0] == '[') {
		const char *close = memchr(s.p, ']', s.n);
		return close ? netaddr_parse(a, s.p + 1, (size_t)(close - s.p - 1)) : -1;
	}
	const char *colon = memchr(s.p, ':', s.n);
	if (colon && !memchr(colon + 1, ':', (size_t)(s.p + s.n - colon - 1)))
		s.n = (size_t)(colon - s.p); /* IPv4 with a port */
	return netaddr_parse(a, s.p, s.n);
}

/* Walks one X-Forwarded-For value from its right end; returns 1 when the
 * client was found (an untrusted hop, or an entry that ends the walk). */
static int walk_forwarded(struct http_slice v, const struct netaddr_list *trusted,
			  struct netaddr *client)
{
	const char *begin = v.p, *end = v.p + v.n;
	while (end > begin) {
		const char *q = end;
		while (q > begin && q[-1] != ',')
			q--;
		struct netaddr hop;
		if (forwarded_hop((struct http_slice){ q, (size_t)(end - q) }, &hop) != 0)
			return 1;
		*client = hop;
		if (!netaddr_list_match(trusted, &hop))
			return 1;
		end = q > begin ? q - 1 : begin;
	}
	return 0;
}

void http_forwarded_client(const struct http_head *h, const struct netaddr *peer,
			   const struct netaddr_list *trusted, struct netaddr *client)
{
	*client = *peer;
	if (!netaddr_list_match(trusted, peer))
		return;
	/* Several X-Forwarded-For fields read as one list, in their order. */
	for (int i = h->nfields - 1; i >= 0; i--)
		if (http_slice_is(h->fields[i].name, "x-forwarded-for") &&
		    walk_forwarded(h->fields[i].value, trusted, client))
			return;
}
