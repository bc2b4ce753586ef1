/*
 * The HTTP front's pure parts, no database and no daemon: the request-head
 * parser on good, bad, split and hostile input (daemon/httpparse.c), the
 * end-of-head scanner, X-Forwarded-For, address lists (daemon/netaddr.c),
 * static file lookup under web_dir (daemon/static.c), and the settings
 * that feed them (daemon/config.c).
 *
 * Every input is copied into a buffer of exactly its length, so that
 * AddressSanitizer catches a read past its end.
 */
#include "config.h"
#include "httpparse.h"
#include "netaddr.h"
#include "static.h"

#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static enum http_parse parse(const char *text, size_t len, struct http_head *h,
			     struct http_error *err)
{
	char *copy = malloc(len ? len : 1);
	memcpy(copy, text, len);
	enum http_parse r = http_parse_head(copy, len, h, err);
	/* slices point into copy: compare what they say before freeing it */
	if (r == HP_DONE) {
		ck_assert_uint_le(h->head_len, len);
		ck_assert(h->path.p >= copy && h->path.p + h->path.n <= copy + len);
		h->path.p = text + (h->path.p - copy);
		h->target.p = text + (h->target.p - copy);
		for (int i = 0; i < h->nfields; i++) {
			h->fields[i].name.p = text + (h->fields[i].name.p - copy);
			h->fields[i].value.p = text + (h->fields[i].value.p - copy);
		}
	}
	free(copy);
	return r;
}

static enum http_parse parse_str(const char *text, struct http_head *h, struct http_error *err)
{
	return parse(text, strlen(text), h, err);
}

static int slice_eq(struct http_slice s, const char *lit)
{
	return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

/* ---- good heads ---- */

START_TEST(minimal_get)
{
	struct http_head h;
	struct http_error e;
	const char *req = "GET /x?y=1 HTTP/1.1\r\nHost: a\r\n\r\n";
	ck_assert_int_eq(parse_str(req, &h, &e), HP_DONE);
	ck_assert_int_eq(h.method, HM_GET);
	ck_assert(slice_eq(h.path, "/x"));
	ck_assert(slice_eq(h.target, "/x?y=1"));
	ck_assert_int_eq(h.minor, 1);
	ck_assert_int_eq(h.keep_alive, 1);
	ck_assert_int_eq((int)h.content_length, 0);
	ck_assert_uint_eq(h.head_len, strlen(req));
	ck_assert(slice_eq(*http_field(&h, "HOST"), "a"));
}
END_TEST

/* Each good head and what it must say. */
static const struct {
	const char *req;
	enum http_method method;
	int minor, keep_alive, expect;
	int64_t length;
} good[] = {
	{ "GET / HTTP/1.1\nHost: a\n\n", HM_GET, 1, 1, 0, 0 },               /* bare LF */
	{ "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", HM_GET, 1, 1, 0, 0 }, /* blank lines first */
	{ "GET / HTTP/1.0\r\n\r\n", HM_GET, 0, 0, 0, 0 },                     /* 1.0 needs no Host */
	{ "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", HM_GET, 0, 1, 0, 0 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", HM_GET, 1, 0, 0, 0 },
	{ "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", HM_HEAD, 1, 1, 0, 0 },
	{ "POST /rpc HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", HM_POST, 1, 1, 0, 5 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", HM_POST, 1, 1, 0, 5 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n", HM_POST, 1, 1, 0, 7 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 9\r\n\r\n", HM_POST, 1, 1, 1, 9 },
	{ "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n", HM_POST, 0, 0, 0, 9 },
	{ "PUT / HTTP/1.1\r\nHost: a\r\n\r\n", HM_OTHER, 1, 1, 0, 0 },
	{ "BREW / HTTP/1.1\r\nHost: a\r\n\r\n", HM_UNKNOWN, 1, 1, 0, 0 },
	{ "get / HTTP/1.1\r\nHost: a\r\n\r\n", HM_UNKNOWN, 1, 1, 0, 0 },       /* methods are case-sensitive */
	{ "GET / HTTP/1.9\r\nHost: a\r\n\r\n", HM_GET, 1, 1, 0, 0 },           /* answered as 1.1 */
	{ "GET / HTTP/1.1\r\nHost:\r\nX-A:  spaced  value \t\r\nX-B: caf\xc3\xa9\r\n\r\n", HM_GET, 1, 1, 0, 0 },
};

START_TEST(good_heads)
{
	struct http_head h;
	struct http_error e = { 0, NULL };
	enum http_parse r = parse_str(good[_i].req, &h, &e);
	ck_assert_msg(r == HP_DONE, "%s: %d %s", good[_i].req, e.status, e.why);
	ck_assert_int_eq(h.method, good[_i].method);
	ck_assert_int_eq(h.minor, good[_i].minor);
	ck_assert_int_eq(h.keep_alive, good[_i].keep_alive);
	ck_assert_int_eq(h.expect_continue, good[_i].expect);
	ck_assert_int_eq((int)h.content_length, (int)good[_i].length);
	ck_assert_uint_eq(h.head_len, strlen(good[_i].req));
}
END_TEST

START_TEST(field_values_are_trimmed)
{
	struct http_head h;
	struct http_error e;
	ck_assert_int_eq(parse_str(good[15].req, &h, &e), HP_DONE);
	ck_assert(slice_eq(*http_field(&h, "x-a"), "spaced  value"));
	ck_assert(slice_eq(*http_field(&h, "host"), ""));
	ck_assert_ptr_null(http_field(&h, "x-c"));
}
END_TEST

/* ---- bad heads ---- */

static const struct {
	const char *req;
	int status;
} bad[] = {
	{ "GET / HTTP/1.1\r\n\r\n", 400 },                                    /* no Host */
	{ "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400 },
	{ "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456\r\n\r\n", 413 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 501 },
	{ "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505 },
	{ "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505 },
	{ "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400 },
	{ "GET / FOO/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "GET /\r\nHost: a\r\n\r\n", 400 },
	{ "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400 },
	{ "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	{ " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400 },                        /* space before colon */
	{ "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a\r\n: empty name\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x01z\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rz\r\n\r\n", 400 },            /* bare CR */
	{ "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417 },
};

START_TEST(bad_heads)
{
	struct http_head h;
	struct http_error e = { 0, NULL };
	enum http_parse r = parse_str(bad[_i].req, &h, &e);
	ck_assert_msg(r == HP_ERROR, "accepted: %s", bad[_i].req);
	ck_assert_msg(e.status == bad[_i].status, "%s: %d (%s), wanted %d", bad[_i].req, e.status,
		      e.why, bad[_i].status);
	ck_assert_ptr_nonnull(e.why);
}
END_TEST

START_TEST(nul_in_a_field_is_refused)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
	struct http_head h;
	struct http_error e;
	ck_assert_int_eq(parse(req, sizeof(req) - 1, &h, &e), HP_ERROR);
	ck_assert_int_eq(e.status, 400);
}
END_TEST

static char *repeat_fields(int n, size_t *len)
{
	char *buf = malloc((size_t)n * 16 + 64), *w = buf;
	w += sprintf(w, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 1; i < n; i++)
		w += sprintf(w, "X-%d: v\r\n", i);
	w += sprintf(w, "\r\n");
	*len = (size_t)(w - buf);
	return buf;
}

START_TEST(too_many_fields_or_too_long_a_head)
{
	struct http_head h;
	struct http_error e;
	size_t len;
	char *req = repeat_fields(HTTP_MAX_HEADERS, &len);
	ck_assert_int_eq(parse(req, len, &h, &e), HP_DONE);
	free(req);
	req = repeat_fields(HTTP_MAX_HEADERS + 1, &len);
	ck_assert_int_eq(parse(req, len, &h, &e), HP_ERROR);
	ck_assert_int_eq(e.status, 431);
	free(req);
	/* a head that does not fit, complete or not */
	char *big = malloc(HTTP_MAX_HEAD + 64);
	int n = sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
	memset(big + n, 'a', HTTP_MAX_HEAD);
	ck_assert_int_eq(parse(big, HTTP_MAX_HEAD, &h, &e), HP_ERROR);
	ck_assert_int_eq(e.status, 431);
	memcpy(big + HTTP_MAX_HEAD, "\r\n\r\n", 4);
	ck_assert_int_eq(parse(big, HTTP_MAX_HEAD + 4, &h, &e), HP_ERROR);
	ck_assert_int_eq(e.status, 431);
	ck_assert_int_eq(parse(big, HTTP_MAX_HEAD - 1, &h, &e), HP_MORE);
	free(big);
}
END_TEST

/* ---- split input ---- */

/* Every proper prefix of a good head is "more", and the scanner that
 * looks at each new byte once finds the same end as one that looks at
 * the whole, however the head is cut. */
START_TEST(every_split_point)
{
	const char *req = good[_i].req;
	size_t len = strlen(req);
	struct http_head h;
	struct http_error e;
	size_t skip = 0; /* the connection drops leading blank lines first */
	while (req[skip] == '\r' || req[skip] == '\n')
		skip++;
	for (size_t cut = 0; cut < len; cut++)
		ck_assert_msg(parse(req, cut, &h, &e) == HP_MORE, "%s cut at %zu", req, cut);
	const char *b = req + skip;
	size_t blen = len - skip;
	for (size_t step = 1; step <= blen; step++) {
		size_t from = 0, end = 0, n = 0;
		while (!end && n < blen) {
			n = n + step > blen ? blen : n + step;
			end = http_head_end(b, n, from);
			from = n;
		}
		ck_assert_msg(end == blen, "%s in steps of %zu: end %zu", req, step, end);
	}
}
END_TEST

START_TEST(head_end_of_pipelined_requests)
{
	const char two[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
	size_t first = strlen("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n");
	ck_assert_uint_eq(http_head_end(two, sizeof(two) - 1, 0), first);
	ck_assert_uint_eq(http_head_end("GET / HTTP/1.1\n\n", 16, 0), 16);
	ck_assert_uint_eq(http_head_end("GET / HTTP/1.1\r\n\r", 17, 0), 0);
	ck_assert_uint_eq(http_head_end("", 0, 0), 0);
}
END_TEST

/* ---- hostile input ---- */

static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static void check_any(const char *buf, size_t len)
{
	struct http_head h;
	struct http_error e = { 0, NULL };
	enum http_parse r = parse(buf, len, &h, &e);
	if (r == HP_ERROR)
		ck_assert_msg(e.status >= 400 && e.status <= 505 && e.why, "status %d", e.status);
	else
		ck_assert(r == HP_MORE || r == HP_DONE);
	size_t end = http_head_end(buf, len, len > 7 ? len - 7 : 0);
	ck_assert_uint_le(end, len);
}

/* Random bytes, biased towards the characters that matter. */
START_TEST(random_bytes)
{
	static const char alphabet[] = "\r\n\r\n: \t,GET/HTTP1.0HostContent-Length9\x00\x7f\xff";
	char buf[512];
	for (int round = 0; round < 20000; round++) {
		size_t len = rng() % sizeof(buf);
		for (size_t i = 0; i < len; i++)
			buf[i] = (rng() % 4) ? alphabet[rng() % (sizeof(alphabet) - 1)] : (char)rng();
		check_any(buf, len);
	}
}
END_TEST

/* Good heads with bytes flipped, dropped and repeated. */
START_TEST(mutated_heads)
{
	char buf[1024];
	for (int round = 0; round < 20000; round++) {
		const char *req = good[rng() % (sizeof(good) / sizeof(good[0]))].req;
		size_t len = strlen(req);
		memcpy(buf, req, len);
		for (int m = 0, nm = 1 + (int)(rng() % 4); m < nm && len > 0; m++) {
			size_t at = rng() % len;
			switch (rng() % 3) {
			case 0: buf[at] = (char)rng(); break;
			case 1: memmove(buf + at, buf + at + 1, len - at - 1); len--; break;
			default:
				if (len + 1 < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, len - at);
					len++;
				}
			}
		}
		check_any(buf, len);
	}
}
END_TEST

/* ---- content type ---- */

START_TEST(content_type_json_with_parameters)
{
	static const struct { const char *value; int ok; } cases[] = {
		{ "application/json", 1 }, { "Application/JSON", 1 },
		{ "application/json; charset=utf-8", 1 }, { "application/json ;charset=UTF-8", 1 },
		{ "text/plain", 0 }, { "application/jsonx", 0 }, { "application/json-seq", 0 },
		{ "multipart/form-data", 0 }, { "application/x-www-form-urlencoded", 0 }, { "", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char req[256];
		struct http_head h;
		struct http_error e;
		snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nHost: a\r\nContent-Type: %s\r\n\r\n",
			 cases[i].value);
		ck_assert_int_eq(parse_str(req, &h, &e), HP_DONE);
		ck_assert_msg(http_content_type_is(&h, "application/json") == cases[i].ok, "%s",
			      cases[i].value);
	}
	struct http_head h;
	struct http_error e;
	ck_assert_int_eq(parse_str("POST / HTTP/1.1\r\nHost: a\r\n\r\n", &h, &e), HP_DONE);
	ck_assert(!http_content_type_is(&h, "application/json"));
}
END_TEST

/* ---- addresses ---- */

static struct netaddr addr(const char *s)
{
	struct netaddr a;
	ck_assert_msg(netaddr_parse(&a, s, strlen(s)) == 0, "%s", s);
	return a;
}

static const char *str(const struct netaddr *a)
{
	static char buf[NETADDR_STRLEN];
	netaddr_str(a, buf, sizeof(buf));
	return buf;
}

START_TEST(addresses_and_blocks)
{
	struct netaddr a = addr("::ffff:127.0.0.1"), b = addr("127.0.0.1");
	ck_assert(netaddr_eq(&a, &b));
	ck_assert_str_eq(str(&a), "127.0.0.1");
	ck_assert_str_eq(str(&(struct netaddr){ 0 }), "-");
	struct netaddr junk;
	ck_assert_int_ne(netaddr_parse(&junk, "localhost", 9), 0);
	ck_assert_int_ne(netaddr_parse(&junk, "1.2.3.4:80", 10), 0);
	ck_assert_int_ne(netaddr_parse(&junk, "", 0), 0);

	struct netaddr_list l;
	char err[256];
	ck_assert_int_eq(netaddr_list_parse("127.0.0.0/8 ::1,\t10.1.0.0/16", &l, err, sizeof(err)), 0);
	ck_assert_int_eq(l.n, 3);
	const char *in[] = { "127.255.0.1", "::1", "10.1.200.3", "::ffff:127.0.0.9" };
	const char *out[] = { "128.0.0.1", "::2", "10.2.0.1", "192.168.1.1" };
	for (size_t i = 0; i < 4; i++) {
		struct netaddr x = addr(in[i]), y = addr(out[i]);
		ck_assert_msg(netaddr_list_match(&l, &x), "%s", in[i]);
		ck_assert_msg(!netaddr_list_match(&l, &y), "%s", out[i]);
	}
	netaddr_list_free(&l);
	ck_assert_int_eq(netaddr_list_parse("0.0.0.0/0", &l, err, sizeof(err)), 0);
	struct netaddr any = addr("203.0.113.9"), v6 = addr("2001:db8::1");
	ck_assert(netaddr_list_match(&l, &any));
	ck_assert(!netaddr_list_match(&l, &v6));
	netaddr_list_free(&l);
	ck_assert_int_eq(netaddr_list_parse("", &l, err, sizeof(err)), 0);
	ck_assert_int_eq(l.n, 0);
	netaddr_list_free(&l);
	const char *wrong[] = { "10.0.0.0/33", "::1/129", "foo", "1.2.3.4/", "1.2.3.4/x", "10.0.0.0/8,bar" };
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		ck_assert_msg(netaddr_list_parse(wrong[i], &l, err, sizeof(err)) != 0, "%s", wrong[i]);
		ck_assert_ptr_nonnull(strstr(err, "is not an address"));
	}
}
END_TEST

START_TEST(ipv6_clients_counted_per_64)
{
	struct netaddr a = addr("2001:db8:1:2:aaaa::1"), b = addr("2001:db8:1:2:bbbb::2");
	struct netaddr c = addr("2001:db8:1:3::1"), ka, kb, kc;
	netaddr_count_key(&a, &ka);
	netaddr_count_key(&b, &kb);
	netaddr_count_key(&c, &kc);
	ck_assert(netaddr_eq(&ka, &kb));
	ck_assert(!netaddr_eq(&ka, &kc));
	struct netaddr v4 = addr("192.0.2.1"), k4;
	netaddr_count_key(&v4, &k4);
	ck_assert(netaddr_eq(&v4, &k4));
}
END_TEST

/* ---- X-Forwarded-For ---- */

static const struct {
	const char *peer, *fields, *client;
} forwarded[] = {
	{ "192.0.2.5", "X-Forwarded-For: 203.0.113.7\r\n", "192.0.2.5" },  /* untrusted peer */
	{ "127.0.0.1", "", "127.0.0.1" },                                 /* no header */
	{ "127.0.0.1", "X-Forwarded-For: 203.0.113.7\r\n", "203.0.113.7" },
	{ "127.0.0.1", "X-Forwarded-For: 198.51.100.1, 10.0.0.2\r\n", "198.51.100.1" },
	{ "127.0.0.1", "X-Forwarded-For: 10.0.0.3, 10.0.0.2\r\n", "10.0.0.3" }, /* all trusted */
	{ "127.0.0.1", "X-Forwarded-For: spoofed, 203.0.113.7\r\n", "203.0.113.7" },
	{ "127.0.0.1", "X-Forwarded-For: 203.0.113.7, unknown\r\n", "127.0.0.1" },
	{ "127.0.0.1", "X-Forwarded-For: 198.51.100.1, 10.0.0.2,\r\n", "127.0.0.1" },
	{ "127.0.0.1", "X-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 10.0.0.2\r\n", "1.1.1.1" },
	{ "127.0.0.1", "X-Forwarded-For: [2001:db8::1]:443\r\n", "2001:db8::1" },
	{ "127.0.0.1", "X-Forwarded-For: 192.0.2.1:5555\r\n", "192.0.2.1" },
	{ "127.0.0.1", "X-Forwarded-For: 2001:db8::2\r\n", "2001:db8::2" },
};

START_TEST(forwarded_for)
{
	struct netaddr_list trusted;
	char err[256], req[512];
	struct http_head h;
	struct http_error e;
	ck_assert_int_eq(netaddr_list_parse("127.0.0.1, 10.0.0.0/8", &trusted, err, sizeof(err)), 0);
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: a\r\n%s\r\n", forwarded[_i].fields);
	ck_assert_int_eq(http_parse_head(req, strlen(req), &h, &e), HP_DONE);
	struct netaddr peer = addr(forwarded[_i].peer), client;
	http_forwarded_client(&h, &peer, &trusted, &client);
	ck_assert_str_eq(str(&client), forwarded[_i].client);
	netaddr_list_free(&trusted);
}
END_TEST

/* ---- static files ---- */

static char webdir[64];

static void put_file(const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", webdir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void make_webdir(void)
{
	char path[256], target[256];
	snprintf(webdir, sizeof(webdir), "/tmp/respited-web-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(webdir));
	put_file("index.html", "<html>hi</html>");
	put_file(".hidden", "secret");
	snprintf(path, sizeof(path), "%s/css", webdir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	put_file("css/site.css", "body{}");
	snprintf(path, sizeof(path), "%s/passwd.txt", webdir);
	ck_assert_int_eq(symlink("/etc/passwd", path), 0);
	snprintf(path, sizeof(path), "%s/etc", webdir);
	ck_assert_int_eq(symlink("/etc", path), 0);
	snprintf(path, sizeof(path), "%s/css/inner.html", webdir);
	snprintf(target, sizeof(target), "%s/index.html", webdir);
	ck_assert_int_eq(symlink(target, path), 0); /* even inside web_dir: no links */
	snprintf(path, sizeof(path), "%s/pipe.txt", webdir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
}

static void remove_webdir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", webdir);
	ck_assert_int_eq(system(cmd), 0);
}

static int serves(int root, const char *path)
{
	off_t size = -1;
	int fd = static_open(root, path, strlen(path), &size);
	if (fd < 0)
		return 0;
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq((int)size, (int)st.st_size);
	close(fd);
	return 1;
}

START_TEST(static_files_inside_web_dir_only)
{
	make_webdir();
	int root = static_open_root(webdir);
	ck_assert_int_ge(root, 0);
	ck_assert(serves(root, "/"));
	ck_assert(serves(root, "/index.html"));
	ck_assert(serves(root, "/css/site.css"));
	const char *refused[] = {
		"/passwd.txt", "/etc/passwd", "/css/inner.html", "/pipe.txt", "/.hidden",
		"/../etc/passwd", "/css/../index.html", "/./index.html", "//index.html", "/css/",
		"/css", "/nope.html", "/css\\site.css", "", "index.html",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		ck_assert_msg(!serves(root, refused[i]), "served %s", refused[i]);
	ck_assert(!serves(-1, "/index.html"));
	close(root);
	ck_assert_int_lt(static_open_root("/nonexistent/web"), 0);
	remove_webdir();
}
END_TEST

START_TEST(static_content_types)
{
	ck_assert_str_eq(static_content_type("/", 1), "text/html; charset=utf-8");
	ck_assert_str_eq(static_content_type("/a.js", 5), "text/javascript; charset=utf-8");
	ck_assert_str_eq(static_content_type("/a.css", 6), "text/css; charset=utf-8");
	ck_assert_str_eq(static_content_type("/a.bin", 6), "application/octet-stream");
	ck_assert_str_eq(static_content_type("/html", 5), "application/octet-stream");
}
END_TEST

/* ---- settings ---- */

static struct config *load_with(const char *key, const char *value, char *err, size_t len)
{
	struct config_overrides ov = { 0 };
	ck_assert_int_eq(config_override_add(&ov, key, value), 0);
	struct config *c = config_load(NULL, &ov, err, len);
	config_overrides_free(&ov);
	return c;
}

START_TEST(address_settings_are_checked_at_load)
{
	char err[512];
	struct config *c = load_with("metrics_allow", "10.0.0.0/8, 192.0.2.1", err, sizeof(err));
	ck_assert_ptr_nonnull(c);
	config_free(c);
	ck_assert_ptr_null(load_with("metrics_allow", "10.0.0.0/40", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "metrics_allow"));
	ck_assert_ptr_null(load_with("trusted_proxies", "proxy.example", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "trusted_proxies"));
	c = load_with("max_conns_per_address", "0", err, sizeof(err));
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq((int)c->max_conns_per_address, 0);
	ck_assert_str_eq(c->metrics_allow, "127.0.0.0/8 ::1");
	ck_assert_int_eq((int)c->max_http_connections, 2000);
	config_free(c);
	ck_assert_ptr_null(load_with("http_header_timeout_ms", "10", err, sizeof(err)));
}
END_TEST

/* `respited --help` shows every key of the HTTP front and its default. */
START_TEST(help_shows_the_keys)
{
	const char *builddir = getenv("RESPITE_BUILDDIR");
	char cmd[512], out[16384];
	if (!builddir)
		return;
	snprintf(cmd, sizeof(cmd), "'%s/respited' --help", builddir);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	ck_assert_int_eq(pclose(p), 0);
	const char *want[] = { "max_http_connections", "max_conns_per_address",
			       "anon_idle_timeout_s", "http_header_timeout_ms",
			       "http_body_timeout_ms", "trusted_proxies",
			       "metrics_allow", "(default: 127.0.0.0/8 ::1)" };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(strstr(out, want[i]) != NULL, "%s not in --help", want[i]);
}
END_TEST

static Suite *httpparse_suite(void)
{
	Suite *s = suite_create("httpparse");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, minimal_get);
	tcase_add_loop_test(tc, good_heads, 0, (int)(sizeof(good) / sizeof(good[0])));
	tcase_add_test(tc, field_values_are_trimmed);
	tcase_add_loop_test(tc, bad_heads, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, nul_in_a_field_is_refused);
	tcase_add_test(tc, too_many_fields_or_too_long_a_head);
	tcase_add_test(tc, content_type_json_with_parameters);
	suite_add_tcase(s, tc);
	tc = tcase_create("split");
	tcase_add_loop_test(tc, every_split_point, 0, (int)(sizeof(good) / sizeof(good[0])));
	tcase_add_test(tc, head_end_of_pipelined_requests);
	suite_add_tcase(s, tc);
	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, random_bytes);
	tcase_add_test(tc, mutated_heads);
	suite_add_tcase(s, tc);
	tc = tcase_create("addresses");
	tcase_add_test(tc, addresses_and_blocks);
	tcase_add_test(tc, ipv6_clients_counted_per_64);
	tcase_add_loop_test(tc, forwarded_for, 0, (int)(sizeof(forwarded) / sizeof(forwarded[0])));
	suite_add_tcase(s, tc);
	tc = tcase_create("static");
	tcase_add_test(tc, static_files_inside_web_dir_only);
	tcase_add_test(tc, static_content_types);
	suite_add_tcase(s, tc);
	tc = tcase_create("settings");
	tcase_add_test(tc, address_settings_are_checked_at_load);
	tcase_add_test(tc, help_shows_the_keys);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(httpparse_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
