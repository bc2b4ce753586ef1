/*
 * libFuzzer target for the HTTP request-head parser (daemon/httpparse.c)
 * and what reads its result: the end-of-head scanner, field lookup, the
 * content type check and X-Forwarded-For. Not part of `make check`; build
 * and run it from the top of the tree with clang:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -Idaemon tests/fuzz/fuzz_httpparse.c daemon/httpparse.c daemon/netaddr.c \
 *       -o fuzz_httpparse
 *   ./fuzz_httpparse -max_len=20000 -max_total_time=600
 */
#include "httpparse.h"
#include "netaddr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct netaddr_list trusted;

static void use_head(const struct http_head *h)
{
	struct netaddr peer, client;
	netaddr_parse(&peer, "127.0.0.1", 9);
	http_forwarded_client(h, &peer, &trusted, &client);
	(void)http_content_type_is(h, "application/json");
	(void)http_field(h, "authorization");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	char err[64];
	if (!ready) {
		ready = netaddr_list_parse("127.0.0.0/8 10.0.0.0/8 ::1", &trusted, err, sizeof(err)) == 0;
		if (!ready)
			abort();
	}
	/* A copy of exactly size bytes: a read past it is caught. */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	struct http_head h;
	struct http_error e;
	enum http_parse r = http_parse_head(buf, size, &h, &e);
	if (r == HP_DONE) {
		if (h.head_len > size)
			abort();
		use_head(&h);
	} else if (r == HP_ERROR && (e.status < 400 || e.status > 505 || !e.why)) {
		abort();
	}
	size_t half = size / 2;
	size_t end = http_head_end(buf, half, 0);
	if (!end)
		end = http_head_end(buf, size, half);
	if (end > size)
		abort();
	free(buf);
	return 0;
}
