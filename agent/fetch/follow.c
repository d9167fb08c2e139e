/* follow: hashing the contiguous prefix of a file written out of order. */
#include "follow.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Hashes [from, to) of the file: mapped (MAP_PRIVATE and read-only, so
 * the mapping never stands in the way of sealing a memfd), else read. */
static int
hash_range(struct follow *f, uint64_t from, uint64_t to, struct nk_err *e)
{
	static long page;
	uint64_t base;
	size_t len, got;
	ssize_t n;
	void *p;
	int rc;

	if (page == 0)
		page = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096;
	base = from - from % (uint64_t)page;
	len = (size_t)(to - base);
	if (f->buf == NULL) {
		p = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, f->fd, (off_t)base);
		if (p != MAP_FAILED) {
			rc = sha256_update(&f->hash, (const uint8_t *)p + (from - base),
			    (size_t)(to - from), e);
			munmap(p, len);
			return rc;
		}
		if ((f->buf = malloc(FOLLOW_STEP_BYTES)) == NULL)
			return nk_fail(e, NK_E_NOMEM, "out of memory");
	}
	while (from < to) {
		len = (size_t)(to - from);
		for (got = 0; got < len; got += (size_t)n) {
			n = pread(f->fd, f->buf + got, len - got, (off_t)(from + got));
			if (n < 0 && errno == EINTR) {
				n = 0;
				continue;
			}
			if (n <= 0)
				return nk_fail(e, NK_E_IO, "reading staged bytes back: %s",
				    n < 0 ? strerror(errno) : "short read");
		}
		if ((rc = sha256_update(&f->hash, f->buf, len, e)) != 0)
			return rc;
		from += len;
	}
	return 0;
}

/* A step is due when FOLLOW_MIN_BYTES are waiting, or whatever is there
 * once the length is known or the writer waits for the hash. */
static int
due(const struct follow *f)
{
	return f->avail - f->hashed >= FOLLOW_MIN_BYTES ||
	    (f->hashed < f->avail && (f->final != UINT64_MAX || atomic_load(&f->wake_wanted)));
}

static void *
worker(void *arg)
{
	struct follow *f = arg;
	struct nk_err e = { "" };
	uint64_t from, to;
	int rc;

	pthread_mutex_lock(&f->mu);
	while (!f->stop && f->rc == 0 && f->hashed != f->final) {
		if (!due(f)) {
			pthread_cond_wait(&f->cv, &f->mu);
			continue;
		}
		from = f->hashed;
		to = f->avail - from > FOLLOW_STEP_BYTES ? from + FOLLOW_STEP_BYTES : f->avail;
		pthread_mutex_unlock(&f->mu);
		rc = hash_range(f, from, to, &e);
		pthread_mutex_lock(&f->mu);
		if (rc != 0) {
			f->rc = rc;
			f->err = e;
		}
		f->hashed = to;
		pthread_cond_broadcast(&f->cv);
		if (f->wake != NULL && atomic_exchange(&f->wake_wanted, 0)) {
			f->waking = 1;
			pthread_mutex_unlock(&f->mu);
			f->wake(f->wake_ctx);
			pthread_mutex_lock(&f->mu);
			f->waking = 0;
			pthread_cond_broadcast(&f->cv);
		}
	}
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

int
follow_start(struct follow *f, int fd, uint64_t from, struct sha256 *h,
    void (*wake)(void *ctx), void *ctx, struct nk_err *e)
{
	int rc;

	memset(f, 0, sizeof(*f));
	f->fd = fd;
	f->final = UINT64_MAX;
	f->wake = wake;
	f->wake_ctx = ctx;
	atomic_init(&f->wake_wanted, 0);
	if (h != NULL) {
		f->hash = *h;
		h->ctx = NULL;
		f->avail = f->hashed = from;
	} else if ((rc = sha256_init(&f->hash, e)) != 0) {
		return rc;
	}
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	if (pthread_create(&f->th, NULL, worker, f) != 0) {
		pthread_cond_destroy(&f->cv);
		pthread_mutex_destroy(&f->mu);
		sha256_free(&f->hash);
		return nk_fail(e, NK_E_NOMEM, "cannot start the hashing thread");
	}
	f->threaded = 1;
	return 0;
}

void
follow_publish(struct follow *f, uint64_t avail)
{
	pthread_mutex_lock(&f->mu);
	if (avail > f->avail) {
		f->avail = avail;
		if (due(f))
			pthread_cond_broadcast(&f->cv);
	}
	pthread_mutex_unlock(&f->mu);
}

uint64_t
follow_hashed(struct follow *f)
{
	uint64_t h;

	pthread_mutex_lock(&f->mu);
	h = f->hashed;
	pthread_mutex_unlock(&f->mu);
	return h;
}

void
follow_want_wake(struct follow *f)
{
	if (atomic_exchange(&f->wake_wanted, 1))
		return;
	pthread_mutex_lock(&f->mu);
	if (due(f))
		pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

void
follow_quiet(struct follow *f)
{
	if (!f->threaded)
		return;
	pthread_mutex_lock(&f->mu);
	f->wake = NULL;
	while (f->waking)
		pthread_cond_wait(&f->cv, &f->mu);
	pthread_mutex_unlock(&f->mu);
}

void
follow_stop(struct follow *f)
{
	if (f->threaded) {
		pthread_mutex_lock(&f->mu);
		f->stop = 1;
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);
		pthread_join(f->th, NULL);
		pthread_cond_destroy(&f->cv);
		pthread_mutex_destroy(&f->mu);
		f->threaded = 0;
	}
	sha256_free(&f->hash);
	free(f->buf);
	f->buf = NULL;
}

/* Waits until [0, len) is hashed and stops the worker; its failure, if any. */
static int
drain(struct follow *f, uint64_t len, struct nk_err *e)
{
	int rc;

	pthread_mutex_lock(&f->mu);
	if (f->avail < len)
		f->avail = len;
	f->final = len;
	pthread_cond_broadcast(&f->cv);
	while (f->rc == 0 && f->hashed < len)
		pthread_cond_wait(&f->cv, &f->mu);
	rc = f->rc;
	if (rc != 0)
		*e = f->err;
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->th, NULL);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	f->threaded = 0;
	return rc;
}

int
follow_finish(struct follow *f, uint64_t len, uint8_t out[SHA256_BYTES], struct nk_err *e)
{
	int rc = drain(f, len, e);

	if (rc == 0)
		rc = sha256_final(&f->hash, out, e);
	follow_stop(f);
	return rc;
}

int
follow_handover(struct follow *f, uint64_t len, struct sha256 *out, struct nk_err *e)
{
	int rc = drain(f, len, e);

	if (rc == 0) {
		*out = f->hash;
		f->hash.ctx = NULL;
	}
	follow_stop(f);
	return rc;
}
