/* sink: cap as bytes arrive; hash and stage them in batches, in a worker. */
#include "sink.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Everything but the stage and the hash; nothing to undo on failure. */
static int
init(struct sink *k, const char *name, uint64_t max, struct nk_err *e)
{
	size_t i;

	memset(k, 0, sizeof(*k));
	k->name = name;
	k->max = max;
	k->stage.fd = k->stage.ro_fd = -1;
	for (i = 0; i < SINK_BATCHES; i++)
		if ((k->batch[i] = malloc(SINK_BATCH_BYTES)) == NULL) {
			while (i > 0)
				free(k->batch[--i]);
			k->batch[0] = NULL;
			return nk_fail(e, NK_E_NOMEM, "%s: out of memory", name);
		}
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	return 0;
}

static void
uninit(struct sink *k)
{
	size_t i;

	for (i = 0; i < SINK_BATCHES; i++) {
		free(k->batch[i]);
		k->batch[i] = NULL;
	}
	pthread_cond_destroy(&k->cv);
	pthread_mutex_destroy(&k->mu);
}

int
sink_open(struct sink *k, const char *name, uint64_t max, const char *dir,
    struct nk_err *e)
{
	int rc;

	if ((rc = init(k, name, max, e)) != 0)
		return rc;
	if ((rc = stage_open(&k->stage, name, dir, e)) != 0)
		goto fail;
	if ((rc = sha256_init(&k->hash, e)) != 0) {
		stage_close(&k->stage);
		goto fail;
	}
	return 0;
fail:
	uninit(k);
	return rc;
}

int
sink_adopt(struct sink *k, const char *name, uint64_t max, struct stage_file *st,
    struct sha256 *h, struct nk_err *e)
{
	int rc;

	if ((rc = init(k, name, max, e)) != 0)
		return rc;
	k->stage = *st;
	k->hash = *h;
	k->accepted = st->len;
	st->fd = st->ro_fd = -1;
	h->ctx = NULL;
	return 0;
}

/* Hashes and stages one batch; the only place bytes reach the stage. */
static int
consume(struct sink *k, const uint8_t *buf, size_t n, struct nk_err *e)
{
	int rc;

	if ((rc = sha256_update(&k->hash, buf, n, e)) != 0)
		return rc;
	return stage_append(&k->stage, buf, n, e);
}

static void *
worker_main(void *arg)
{
	struct sink *k = arg;
	struct nk_err e = { "" };
	const uint8_t *b;
	size_t len;
	int rc, skip;

	pthread_mutex_lock(&k->mu);
	for (;;) {
		while (k->tail == k->head && !k->stop)
			pthread_cond_wait(&k->cv, &k->mu);
		if (k->tail == k->head)
			break;
		/* The oldest batch handed over; the receiver fills others. */
		b = k->batch[k->tail % SINK_BATCHES];
		len = k->len[k->tail % SINK_BATCHES];
		skip = k->worker_rc != 0;
		pthread_mutex_unlock(&k->mu);
		rc = skip ? 0 : consume(k, b, len, &e);
		pthread_mutex_lock(&k->mu);
		if (rc != 0 && k->worker_rc == 0) {
			k->worker_rc = rc;
			k->worker_err = e;
		}
		k->tail++;
		pthread_cond_broadcast(&k->cv);
	}
	pthread_mutex_unlock(&k->mu);
	return NULL;
}

/* Waits until the worker has drained at least down to `left` batches
 * in flight; its failure becomes the sink's. */
static int
wait_drained(struct sink *k, unsigned left)
{
	int rc;

	if (!k->threaded)
		return k->failed ? k->failed_code : 0;
	pthread_mutex_lock(&k->mu);
	while (k->head - k->tail > left)
		pthread_cond_wait(&k->cv, &k->mu);
	rc = k->worker_rc;
	if (rc != 0 && !k->failed) {
		k->failed = 1;
		k->failed_code = rc;
		k->err = k->worker_err;
	}
	pthread_mutex_unlock(&k->mu);
	return rc;
}

static int
wait_idle(struct sink *k)
{
	return wait_drained(k, 0);
}

/* Hands the filling batch to the worker (starting it on first use) and
 * moves on to the next slot, waiting until the worker has left it: at
 * most SINK_BATCHES - 1 batches are in flight while one fills. */
static int
hand_over(struct sink *k)
{
	int rc;

	if (k->failed)
		return k->failed_code;
	if (!k->threaded) {
		if (pthread_create(&k->worker, NULL, worker_main, k) != 0) {
			/* No thread: do the work here, as before. */
			if ((rc = consume(k, k->batch[k->head % SINK_BATCHES], k->fill,
			    &k->err)) != 0) {
				k->failed = 1;
				k->failed_code = rc;
			}
			k->fill = 0;
			return rc;
		}
		k->threaded = 1;
	}
	pthread_mutex_lock(&k->mu);
	k->len[k->head % SINK_BATCHES] = k->fill;
	k->head++;
	k->fill = 0;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
	return wait_drained(k, SINK_BATCHES - 1);
}

/* Stages whatever is buffered and waits: afterwards the stage holds every
 * accepted byte. A last partial batch is done here, with no thread. */
static int
flush(struct sink *k)
{
	int rc;

	if (k->batch[0] == NULL)
		return k->failed ? k->failed_code : 0;
	if ((rc = wait_idle(k)) != 0)
		return rc;
	if (k->fill > 0) {
		if ((rc = consume(k, k->batch[k->head % SINK_BATCHES], k->fill, &k->err)) != 0) {
			k->failed = 1;
			k->failed_code = rc;
			return rc;
		}
		k->fill = 0;
	}
	return 0;
}

int
sink_write(struct sink *k, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	size_t take;
	int rc;

	if (k->failed)
		return k->failed_code;
	if (n > k->max - k->accepted) {
		k->overflow = 1;
		k->failed = 1;
		k->failed_code = NK_E_SIZE;
		return nk_fail(&k->err, NK_E_SIZE,
		    "larger than the %llu bytes expected; transfer stopped",
		    (unsigned long long)k->max);
	}
	k->accepted += n;
	while (n > 0) {
		take = SINK_BATCH_BYTES - k->fill;
		if (take > n)
			take = n;
		memcpy(k->batch[k->head % SINK_BATCHES] + k->fill, p, take);
		k->fill += take;
		p += take;
		n -= take;
		if (k->fill == SINK_BATCH_BYTES && (rc = hand_over(k)) != 0)
			return rc;
	}
	return 0;
}

int
sink_reset(struct sink *k, struct nk_err *e)
{
	int rc;

	(void)wait_idle(k); /* the worker must not be writing while we truncate */
	k->fill = 0;
	sha256_free(&k->hash);
	if ((rc = stage_reset(&k->stage, e)) != 0)
		return rc;
	k->accepted = 0;
	k->overflow = k->failed = 0;
	k->worker_rc = 0;
	return sha256_init(&k->hash, e);
}

uint64_t
sink_len(const struct sink *k)
{
	return k->accepted;
}

static void
stop_worker(struct sink *k)
{
	if (k->threaded) {
		pthread_mutex_lock(&k->mu);
		k->stop = 1;
		pthread_cond_broadcast(&k->cv);
		pthread_mutex_unlock(&k->mu);
		pthread_join(k->worker, NULL);
		k->threaded = 0;
	}
	if (k->batch[0] != NULL)
		uninit(k);
}

/* Stages what is buffered and stops the worker: sink_digest's and
 * sink_detach's common start. On failure the hash is released and e
 * says why (the stage stays for the caller). */
static int
finish(struct sink *k, struct nk_err *e)
{
	int rc = flush(k);

	stop_worker(k);
	if (rc != 0) {
		*e = k->err;
		sha256_free(&k->hash);
	}
	return rc;
}

int
sink_digest(struct sink *k, uint8_t out[SHA256_BYTES], struct nk_err *e)
{
	int rc = finish(k, e);

	return rc != 0 ? rc : sha256_final(&k->hash, out, e);
}

int
sink_detach(struct sink *k, struct stage_file *st, struct sha256 *h, struct nk_err *e)
{
	int rc = finish(k, e);

	if (rc != 0)
		return rc;
	*st = k->stage;
	*h = k->hash;
	k->stage.fd = k->stage.ro_fd = -1;
	k->hash.ctx = NULL;
	return 0;
}

int
sink_read_all(const struct sink *k, uint8_t *buf, size_t cap, size_t *len,
    struct nk_err *e)
{
	size_t got = 0;
	ssize_t n;

	if (k->stage.len > cap)
		return nk_fail(e, NK_E_SIZE, "%s: %llu bytes, more than %zu", k->name,
		    (unsigned long long)k->stage.len, cap);
	while (got < k->stage.len) {
		n = pread(stage_fd(&k->stage), buf + got, k->stage.len - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return nk_fail(e, NK_E_IO, "%s: reading staged bytes: %s", k->name,
			    n < 0 ? strerror(errno) : "short read");
		got += (size_t)n;
	}
	*len = got;
	return 0;
}

void
sink_close(struct sink *k)
{
	(void)flush(k);
	stop_worker(k);
	sha256_free(&k->hash);
}
