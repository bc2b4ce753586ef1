/*
 * Client addresses: the numeric address of a peer (no port), lists of
 * addresses and CIDR blocks from the configuration (trusted_proxies,
 * metrics_allow), and the key a client is counted under for the
 * per-address connection cap.
 */
#ifndef RS_NETADDR_H
#define RS_NETADDR_H

#include <stddef.h>

struct sockaddr;

/* IPv4 is kept as 4 bytes, also when it arrives IPv4-mapped on an IPv6
 * socket, so 127.0.0.1 is one address whichever way it came. */
struct netaddr {
	int family; /* AF_INET, AF_INET6, or 0: unknown (a unix socket...) */
	unsigned char b[16];
};

/* Longest text netaddr_str() writes, NUL included. */
#define NETADDR_STRLEN 48

int netaddr_from_sockaddr(struct netaddr *a, const struct sockaddr *sa);
/* Parses a numeric address of n bytes (no port, no brackets); 0 on success. */
int netaddr_parse(struct netaddr *a, const char *s, size_t n);
void netaddr_str(const struct netaddr *a, char *buf, size_t len);
int netaddr_eq(const struct netaddr *x, const struct netaddr *y);

/* The address a client is counted under: itself for IPv4, its /64 for
 * IPv6, where one subscriber holds a whole /64 and picks from it at will. */
void netaddr_count_key(const struct netaddr *a, struct netaddr *key);
unsigned netaddr_hash(const struct netaddr *a);

struct netblock {
	struct netaddr a;
	int bits;
};

struct netaddr_list {
	int n;
	struct netblock *blocks;
};

/* "127.0.0.0/8, ::1 10.1.2.3": addresses or CIDR blocks separated by
 * commas or spaces; empty text gives an empty list. On error returns -1
 * and names the bad entry in err; *out is then empty. */
int netaddr_list_parse(const char *text, struct netaddr_list *out, char *err, size_t errlen);
int netaddr_list_match(const struct netaddr_list *l, const struct netaddr *a);
void netaddr_list_free(struct netaddr_list *l);

#endif
