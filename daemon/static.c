#include "static.h"
#include "log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATIC_MAX_PATH 1024
#define STATIC_MAX_FILE ((off_t)64 << 20) /* read whole into memory: keep it sane */

int static_open_root(const char *web_dir)
{
	int fd = open(web_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		log_warn("event=web_dir result=unavailable path=%s error=\"%s\"", web_dir,
			 strerror(errno));
	return fd;
}

static int component_ok(const char *s, size_t n)
{
	if (n == 0 || n > NAME_MAX || s[0] == '.') /* ".", "..", hidden files */
		return 0;
	return memchr(s, '\\', n) == NULL;
}

static int is_wanted(const struct stat *st, int last)
{
	return last ? S_ISREG(st->st_mode) : S_ISDIR(st->st_mode);
}

/* One component below dir: a directory to go on from, or the regular file
 * at the end. The type is checked before opening (so no FIFO or device is
 * ever opened) and again after (in case the name was swapped between). */
static int open_below(int dir, const char *name, int last)
{
	struct stat st;
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !is_wanted(&st, last))
		return -1;
	int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (last ? 0 : O_DIRECTORY);
	int fd = openat(dir, name, flags);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !is_wanted(&st, last)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int file_size(int fd, off_t *size)
{
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size > STATIC_MAX_FILE)
		return -1;
	*size = st.st_size;
	return 0;
}

int static_open(int root, const char *path, size_t len, off_t *size)
{
	char buf[STATIC_MAX_PATH];
	if (root < 0 || len == 0 || path[0] != '/' || len >= sizeof(buf))
		return -1;
	if (len == 1) {
		path = "/index.html";
		len = strlen(path);
	}
	memcpy(buf, path + 1, len - 1);
	buf[len - 1] = '\0';
	int dir = root;
	char *name = buf;
	for (;;) {
		char *slash = strchr(name, '/');
		if (slash)
			*slash = '\0';
		int fd = component_ok(name, strlen(name)) ? open_below(dir, name, !slash) : -1;
		if (dir != root)
			close(dir);
		if (fd < 0)
			return -1;
		if (!slash) {
			if (file_size(fd, size) == 0)
				return fd;
			close(fd);
			return -1;
		}
		dir = fd;
		name = slash + 1;
	}
}

const char *static_content_type(const char *path, size_t len)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" }, { ".svg", "image/svg+xml" },
		{ ".json", "application/json" }, { ".png", "image/png" }, { ".ico", "image/x-icon" },
		{ ".txt", "text/plain; charset=utf-8" },
	};
	if (len == 1)
		return types[0].type; /* "/" is index.html */
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t n = strlen(types[i].ext);
		if (len >= n && memcmp(path + len - n, types[i].ext, n) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}

int static_read(int fd, off_t size, struct evbuffer *out)
{
	off_t left = size;
	while (left > 0) {
		int n = evbuffer_read(out, fd, left > 65536 ? 65536 : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		left -= n;
	}
	close(fd);
	return left == 0 ? 0 : -1;
}
