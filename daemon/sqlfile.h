/*
 * The SQL files a release ships (sql/schema/ migrations, sql/api/ code):
 * listing a folder in name order, reading a file, and SHA-256 checksums,
 * so that what was applied can be compared with what is on disk.
 */
#ifndef RS_SQLFILE_H
#define RS_SQLFILE_H

#include <stddef.h>

#define SQLFILE_MAX 512
#define SHA256_HEX_LEN 64

struct sqlfile {
	char *name;   /* the file name, without the folder */
	char *text;   /* its whole content, NUL-terminated */
	size_t len;
};

struct sqlfile_set {
	int n;
	struct sqlfile files[SQLFILE_MAX];
};

/* Reads every file of dir whose name `accept` takes, in strcmp order.
 * Returns 0, or -1 with a message naming the folder or file in err. */
int sqlfile_load(const char *dir, int (*accept)(const char *name), struct sqlfile_set *set,
		 char *err, size_t errlen);
void sqlfile_free(struct sqlfile_set *set);

/* SHA-256 of what is added, as lower-case hex. */
struct sha256;
struct sha256 *sha256_new(void);
void sha256_add(struct sha256 *h, const void *data, size_t len);
/* Writes the hex digest to out and frees h. Returns 0, or -1 (h freed). */
int sha256_hex(struct sha256 *h, char out[SHA256_HEX_LEN + 1]);
/* One buffer at once. Returns 0 or -1. */
int sha256_hex_of(const void *data, size_t len, char out[SHA256_HEX_LEN + 1]);

/* The 1-based line of the 1-based character position pos (as PostgreSQL
 * counts them: UTF-8 characters, not bytes) in text. */
int sqlfile_line_at(const char *text, long pos);

#endif
