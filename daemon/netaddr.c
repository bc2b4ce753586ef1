#include "netaddr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const unsigned char v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static void set_v4(struct netaddr *a, const void *four)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	memcpy(a->b, four, 4);
}

static void set_v6(struct netaddr *a, const unsigned char *sixteen)
{
	if (memcmp(sixteen, v4_mapped, sizeof(v4_mapped)) == 0) {
		set_v4(a, sixteen + 12);
		return;
	}
	memset(a, 0, sizeof(*a));
	a->family = AF_INET6;
	memcpy(a->b, sixteen, 16);
}

int netaddr_from_sockaddr(struct netaddr *a, const struct sockaddr *sa)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		set_v4(a, &in->sin_addr);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		set_v6(a, in6->sin6_addr.s6_addr);
		return 0;
	}
	return -1;
}

int netaddr_parse(struct netaddr *a, const char *s, size_t n)
{
	char buf[INET6_ADDRSTRLEN];
	unsigned char raw[16];
	memset(a, 0, sizeof(*a));
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, raw) == 1) {
		set_v4(a, raw);
		return 0;
	}
	if (inet_pton(AF_INET6, buf, raw) == 1) {
		set_v6(a, raw);
		return 0;
	}
	return -1;
}

void netaddr_str(const struct netaddr *a, char *buf, size_t len)
{
	if (len == 0)
		return;
	if (a->family == 0 || !inet_ntop(a->family, a->b, buf, (socklen_t)len))
		snprintf(buf, len, "-");
}

int netaddr_eq(const struct netaddr *x, const struct netaddr *y)
{
	return x->family == y->family && memcmp(x->b, y->b, sizeof(x->b)) == 0;
}

void netaddr_count_key(const struct netaddr *a, struct netaddr *key)
{
	*key = *a;
	if (a->family == AF_INET6)
		memset(key->b + 8, 0, 8);
}

unsigned netaddr_hash(const struct netaddr *a)
{
	unsigned h = 2166136261u ^ (unsigned)a->family; /* FNV-1a */
	for (size_t i = 0; i < sizeof(a->b); i++)
		h = (h ^ a->b[i]) * 16777619u;
	return h;
}

/* ---- lists ---- */

static int block_parse(struct netblock *blk, const char *s, size_t n)
{
	const char *slash = memchr(s, '/', n);
	size_t alen = slash ? (size_t)(slash - s) : n;
	if (netaddr_parse(&blk->a, s, alen) != 0)
		return -1;
	int max = blk->a.family == AF_INET ? 32 : 128;
	blk->bits = max;
	if (!slash)
		return 0;
	const char *d = slash + 1, *end = s + n;
	if (d == end || end - d > 3)
		return -1;
	int bits = 0;
	for (; d < end; d++) {
		if (!isdigit((unsigned char)*d))
			return -1;
		bits = bits * 10 + (*d - '0');
	}
	if (bits > max)
		return -1;
	blk->bits = bits;
	return 0;
}

static int is_sep(char ch) { return ch == ',' || isspace((unsigned char)ch); }

int netaddr_list_parse(const char *text, struct netaddr_list *out, char *err, size_t errlen)
{
	size_t cap = strlen(text) / 2 + 1; /* entries are one byte or more, apart */
	memset(out, 0, sizeof(*out));
	out->blocks = calloc(cap, sizeof(*out->blocks));
	if (!out->blocks) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	const char *p = text;
	for (;;) {
		while (*p && is_sep(*p))
			p++;
		if (!*p)
			return 0;
		const char *start = p;
		while (*p && !is_sep(*p))
			p++;
		if (block_parse(&out->blocks[out->n], start, (size_t)(p - start)) != 0) {
			snprintf(err, errlen, "'%.*s' is not an address or CIDR block",
				 (int)(p - start > 64 ? 64 : p - start), start);
			netaddr_list_free(out);
			return -1;
		}
		out->n++;
	}
}

static int block_match(const struct netblock *blk, const struct netaddr *a)
{
	if (blk->a.family != a->family)
		return 0;
	int whole = blk->bits / 8, rest = blk->bits % 8;
	if (memcmp(blk->a.b, a->b, (size_t)whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (blk->a.b[whole] & mask) == (a->b[whole] & mask);
}

int netaddr_list_match(const struct netaddr_list *l, const struct netaddr *a)
{
	for (int i = 0; l && i < l->n; i++)
		if (block_match(&l->blocks[i], a))
			return 1;
	return 0;
}

void netaddr_list_free(struct netaddr_list *l)
{
	free(l->blocks);
	l->blocks = NULL;
	l->n = 0;
}
