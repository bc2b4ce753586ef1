#include "sqlfile.h"

#include <dirent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_names(const void *a, const void *b)
{
	return strcmp(((const struct sqlfile *)a)->name, ((const struct sqlfile *)b)->name);
}

static char *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
	if (n >= 0 && fseek(f, 0, SEEK_SET) == 0)
		buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf) {
		buf[n] = '\0';
		*len = (size_t)n;
	}
	fclose(f);
	return buf;
}

/* Names first, so that the files are read in order. */
static int list_names(const char *dir, int (*accept)(const char *), struct sqlfile_set *set,
		      char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "cannot open SQL folder %s", dir);
		return -1;
	}
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d))) {
		if (!accept(e->d_name))
			continue;
		if (set->n == SQLFILE_MAX) {
			snprintf(err, errlen, "more than %d SQL files in %s", SQLFILE_MAX, dir);
			rc = -1;
		} else if (!(set->files[set->n++].name = strdup(e->d_name))) {
			snprintf(err, errlen, "out of memory");
			rc = -1;
		}
	}
	closedir(d);
	qsort(set->files, (size_t)set->n, sizeof(set->files[0]), cmp_names);
	return rc;
}

int sqlfile_load(const char *dir, int (*accept)(const char *name), struct sqlfile_set *set,
		 char *err, size_t errlen)
{
	memset(set, 0, sizeof(*set));
	if (list_names(dir, accept, set, err, errlen) != 0) {
		sqlfile_free(set);
		return -1;
	}
	for (int i = 0; i < set->n; i++) {
		char path[4096];
		struct sqlfile *f = &set->files[i];
		snprintf(path, sizeof(path), "%s/%s", dir, f->name);
		if (!(f->text = read_whole(path, &f->len))) {
			snprintf(err, errlen, "cannot read %s", path);
			sqlfile_free(set);
			return -1;
		}
	}
	return 0;
}

void sqlfile_free(struct sqlfile_set *set)
{
	for (int i = 0; i < set->n; i++) {
		free(set->files[i].name);
		free(set->files[i].text);
	}
	set->n = 0;
}

/* ---- SHA-256 ---- */

struct sha256 *sha256_new(void)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(c);
		c = NULL;
	}
	return (struct sha256 *)c;
}

void sha256_add(struct sha256 *h, const void *data, size_t len)
{
	if (h)
		EVP_DigestUpdate((EVP_MD_CTX *)h, data, len);
}

int sha256_hex(struct sha256 *h, char out[SHA256_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	int ok = h && EVP_DigestFinal_ex((EVP_MD_CTX *)h, md, &n) == 1 && n * 2 == SHA256_HEX_LEN;
	EVP_MD_CTX_free((EVP_MD_CTX *)h);
	out[0] = '\0';
	for (unsigned int i = 0; ok && i < n; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	return ok ? 0 : -1;
}

int sha256_hex_of(const void *data, size_t len, char out[SHA256_HEX_LEN + 1])
{
	struct sha256 *h = sha256_new();
	sha256_add(h, data, len);
	return sha256_hex(h, out);
}

int sqlfile_line_at(const char *text, long pos)
{
	int line = 1;
	long chars = 0;
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if ((*p & 0xC0) != 0x80 && ++chars >= pos)
			break; /* the first byte of character number pos */
		if (*p == '\n')
			line++;
	}
	return line;
}
