/*
 * Password hashing: PBKDF2-HMAC-SHA256 from OpenSSL. Verifying takes tens
 * of milliseconds by design, so the daemon runs it on worker threads and
 * gets the answer back on the event loop.
 */
#ifndef RS_KDF_H
#define RS_KDF_H

#include <stddef.h>

#define KDF_SALT_LEN 16
#define KDF_HASH_LEN 32

struct event_base;
struct kdf_pool;

/* Blocking; for start-up and tools. Returns 0 on success. */
int kdf_hash(const char *password, const unsigned char *salt, size_t saltlen, int iterations,
	     unsigned char out[KDF_HASH_LEN]);
int kdf_new_salt(unsigned char salt[KDF_SALT_LEN]);

/* match: 1 when the password hashes to `expected`, 0 when not, -1 on error. */
typedef void (*kdf_cb)(int match, void *arg);

struct kdf_pool *kdf_pool_new(struct event_base *base, int threads);
void kdf_pool_free(struct kdf_pool *k);
/* Queues a verification; cb runs later on the loop thread. Returns 0 when
 * queued. Copies everything it is given. Jobs wait in turns by `source`
 * (the client's address): the threads take one job from each source with
 * jobs waiting in turn, a source that had none waiting first, so one
 * source's flood delays everyone else's login by one hash, not by the
 * flood. */
int kdf_verify(struct kdf_pool *k, const char *source, const char *password,
	       const unsigned char *salt, size_t saltlen, int iterations,
	       const unsigned char *expected, size_t explen, kdf_cb cb, void *arg);
/* Jobs waiting for a thread (not counting those being hashed). */
int kdf_queued(struct kdf_pool *k);

#endif
