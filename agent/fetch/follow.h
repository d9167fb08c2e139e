/* follow: the SHA-256 of a staged file that several connections write
 * out of order. A worker thread follows the contiguous prefix the writer
 * publishes, reading the bytes back from the file itself, mapped
 * read-only a step at a time (no copy, and never more than
 * FOLLOW_STEP_BYTES of the file mapped, so RSS stays flat at any size);
 * where a file cannot be mapped, it reads them into a buffer instead.
 * The bytes hashed are the bytes in the file: what is sealed later. */
#ifndef NK_FOLLOW_H
#define NK_FOLLOW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "err.h"
#include "sha256.h"

#define FOLLOW_STEP_BYTES (1024 * 1024) /* hashed (and mapped) at a time */
#define FOLLOW_MIN_BYTES (256 * 1024)   /* waited for before a step, but at the end */

struct follow {
	int fd;
	struct sha256 hash;
	uint64_t avail;          /* [0, avail) is in the file */
	uint64_t hashed;         /* [0, hashed) is in the hash */
	uint64_t final;          /* the file's length once known; UINT64_MAX: not yet */
	int stop;                /* abandon: stop now */
	int rc;                  /* the worker's failure */
	struct nk_err err;
	uint8_t *buf;            /* for files that cannot be mapped */
	atomic_int wake_wanted;  /* the writer waits for the hash: call wake */
	void (*wake)(void *ctx);
	void *wake_ctx;
	int waking;              /* the worker is in wake() */
	int threaded;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

/* Starts hashing fd as bytes are published: from offset 0 into a new
 * hash (h NULL), or from offset `from` into h, which holds [0, from)
 * (taken over, left empty, also on failure). wake (may be NULL; called
 * from the worker) is called after a step once follow_want_wake asked
 * for it. */
int follow_start(struct follow *f, int fd, uint64_t from, struct sha256 *h,
    void (*wake)(void *ctx), void *ctx, struct nk_err *e);

/* Bytes [0, avail) are in the file (avail never goes back). */
void follow_publish(struct follow *f, uint64_t avail);

/* Bytes hashed so far. */
uint64_t follow_hashed(struct follow *f);

/* Asks for one call of wake after the next step. */
void follow_want_wake(struct follow *f);

/* No more calls of wake: returns once none is running (before the
 * writer frees what wake uses). */
void follow_quiet(struct follow *f);

/* Waits until [0, len) (all published) is hashed, stops the worker and
 * finishes the digest into out. */
int follow_finish(struct follow *f, uint64_t len, uint8_t out[SHA256_BYTES],
    struct nk_err *e);
/* As follow_finish, but the hash of [0, len) is handed to *out still
 * running (the caller continues and finishes it) instead of finished. */
int follow_handover(struct follow *f, uint64_t len, struct sha256 *out, struct nk_err *e);

/* Stops the worker and releases everything (idempotent; after
 * follow_finish too). */
void follow_stop(struct follow *f);

#endif
