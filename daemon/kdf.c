#include "kdf.h"
#include "log.h"

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

int kdf_hash(const char *password, const unsigned char *salt, size_t saltlen, int iterations,
	     unsigned char out[KDF_HASH_LEN])
{
	int ok = PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)saltlen,
				   iterations, EVP_sha256(), KDF_HASH_LEN, out);
	return ok == 1 ? 0 : -1;
}

int kdf_new_salt(unsigned char salt[KDF_SALT_LEN])
{
	return RAND_bytes(salt, KDF_SALT_LEN) == 1 ? 0 : -1;
}

struct kdf_job {
	TAILQ_ENTRY(kdf_job) link;
	char *password;
	unsigned char salt[64];
	size_t saltlen;
	int iterations;
	unsigned char expected[KDF_HASH_LEN];
	int result;
	kdf_cb cb;
	void *arg;
};
TAILQ_HEAD(kdf_queue, kdf_job);

/* The jobs of one source, waiting for its turn. */
struct kdf_source {
	TAILQ_ENTRY(kdf_source) link;
	struct kdf_queue jobs;
	char key[64];
};
TAILQ_HEAD(kdf_turns, kdf_source);

struct kdf_pool {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct kdf_turns turns; /* sources with jobs waiting, next turn first */
	struct kdf_queue done;
	int queued;
	int stopping;
	int nthreads;
	pthread_t *threads;
	int notify[2]; /* worker writes a byte; the loop reads and collects */
	struct event *ev;
};

static void job_free(struct kdf_job *j)
{
	if (j->password) {
		OPENSSL_cleanse(j->password, strlen(j->password));
		free(j->password);
	}
	free(j);
}

static void run_job(struct kdf_job *j)
{
	unsigned char got[KDF_HASH_LEN];
	if (kdf_hash(j->password, j->salt, j->saltlen, j->iterations, got) != 0)
		j->result = -1;
	else
		j->result = CRYPTO_memcmp(got, j->expected, KDF_HASH_LEN) == 0;
}

/* Under the lock: the next job, from the source whose turn it is; that
 * source then waits behind every other one. */
static struct kdf_job *next_job(struct kdf_pool *k)
{
	struct kdf_source *src = TAILQ_FIRST(&k->turns);
	struct kdf_job *j = TAILQ_FIRST(&src->jobs);
	TAILQ_REMOVE(&src->jobs, j, link);
	TAILQ_REMOVE(&k->turns, src, link);
	if (TAILQ_EMPTY(&src->jobs))
		free(src);
	else
		TAILQ_INSERT_TAIL(&k->turns, src, link);
	k->queued--;
	return j;
}

static void *worker(void *arg)
{
	struct kdf_pool *k = arg;
	pthread_mutex_lock(&k->lock);
	for (;;) {
		while (!k->stopping && TAILQ_EMPTY(&k->turns))
			pthread_cond_wait(&k->wake, &k->lock);
		if (k->stopping)
			break;
		struct kdf_job *j = next_job(k);
		pthread_mutex_unlock(&k->lock);
		run_job(j);
		pthread_mutex_lock(&k->lock);
		TAILQ_INSERT_TAIL(&k->done, j, link);
		char b = 1;
		if (write(k->notify[1], &b, 1) < 0) {
			/* pipe full: the loop is already due to collect */
		}
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

static void collect(evutil_socket_t fd, short what, void *arg)
{
	struct kdf_pool *k = arg;
	char buf[256];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	struct kdf_queue ready;
	TAILQ_INIT(&ready);
	pthread_mutex_lock(&k->lock);
	TAILQ_CONCAT(&ready, &k->done, link);
	pthread_mutex_unlock(&k->lock);
	struct kdf_job *j;
	while ((j = TAILQ_FIRST(&ready))) {
		TAILQ_REMOVE(&ready, j, link);
		j->cb(j->result, j->arg);
		job_free(j);
	}
}

struct kdf_pool *kdf_pool_new(struct event_base *base, int threads)
{
	struct kdf_pool *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	pthread_mutex_init(&k->lock, NULL);
	pthread_cond_init(&k->wake, NULL);
	TAILQ_INIT(&k->turns);
	TAILQ_INIT(&k->done);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, k->notify) != 0) {
		free(k);
		return NULL;
	}
	evutil_make_socket_nonblocking(k->notify[0]);
	evutil_make_socket_nonblocking(k->notify[1]);
	k->ev = event_new(base, k->notify[0], EV_READ | EV_PERSIST, collect, k);
	event_add(k->ev, NULL);
	k->threads = calloc((size_t)threads, sizeof(pthread_t));
	for (int i = 0; k->threads && i < threads; i++)
		if (pthread_create(&k->threads[i], NULL, worker, k) == 0)
			k->nthreads++;
	if (k->nthreads == 0) {
		log_error("event=kdf_start result=failed");
		kdf_pool_free(k);
		return NULL;
	}
	return k;
}

void kdf_pool_free(struct kdf_pool *k)
{
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	k->stopping = 1;
	pthread_cond_broadcast(&k->wake);
	pthread_mutex_unlock(&k->lock);
	for (int i = 0; i < k->nthreads; i++)
		pthread_join(k->threads[i], NULL);
	struct kdf_job *j;
	while (!TAILQ_EMPTY(&k->turns))
		job_free(next_job(k));
	while ((j = TAILQ_FIRST(&k->done))) {
		TAILQ_REMOVE(&k->done, j, link);
		job_free(j);
	}
	if (k->ev)
		event_free(k->ev);
	close(k->notify[0]);
	close(k->notify[1]);
	free(k->threads);
	pthread_mutex_destroy(&k->lock);
	pthread_cond_destroy(&k->wake);
	free(k);
}

/* Under the lock: the queue of `key`, made when it has nothing waiting. A
 * source that had nothing waiting goes first: it has had no turn yet.
 * Sources are few (logins in progress are bounded, login.c). */
static struct kdf_source *source_queue(struct kdf_pool *k, const char *key)
{
	struct kdf_source *src;
	TAILQ_FOREACH(src, &k->turns, link)
		if (strcmp(src->key, key) == 0)
			return src;
	if (!(src = calloc(1, sizeof(*src))))
		return NULL;
	TAILQ_INIT(&src->jobs);
	snprintf(src->key, sizeof(src->key), "%s", key);
	TAILQ_INSERT_HEAD(&k->turns, src, link);
	return src;
}

static struct kdf_job *job_new(const char *password, const unsigned char *salt,
			       size_t saltlen, int iterations, const unsigned char *expected,
			       kdf_cb cb, void *arg)
{
	struct kdf_job *j = calloc(1, sizeof(*j));
	if (!j || !(j->password = strdup(password))) {
		free(j);
		return NULL;
	}
	memcpy(j->salt, salt, saltlen);
	j->saltlen = saltlen;
	j->iterations = iterations;
	memcpy(j->expected, expected, KDF_HASH_LEN);
	j->cb = cb;
	j->arg = arg;
	return j;
}

int kdf_verify(struct kdf_pool *k, const char *source, const char *password,
	       const unsigned char *salt, size_t saltlen, int iterations,
	       const unsigned char *expected, size_t explen, kdf_cb cb, void *arg)
{
	if (saltlen > sizeof(((struct kdf_job *)0)->salt) || explen != KDF_HASH_LEN)
		return -1;
	struct kdf_job *j = job_new(password, salt, saltlen, iterations, expected, cb, arg);
	if (!j)
		return -1;
	pthread_mutex_lock(&k->lock);
	struct kdf_source *src = source_queue(k, source ? source : "");
	if (src) {
		TAILQ_INSERT_TAIL(&src->jobs, j, link);
		k->queued++;
		pthread_cond_signal(&k->wake);
	}
	pthread_mutex_unlock(&k->lock);
	if (!src)
		job_free(j);
	return src ? 0 : -1;
}

int kdf_queued(struct kdf_pool *k)
{
	pthread_mutex_lock(&k->lock);
	int n = k->queued;
	pthread_mutex_unlock(&k->lock);
	return n;
}
