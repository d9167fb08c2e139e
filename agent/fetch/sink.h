/* sink: where downloaded bytes land. Every byte is capped as it arrives,
 * then hashed and staged in one pass; no second read. The receiving
 * thread only copies into a batch buffer: a worker thread hashes and
 * writes each full batch (SINK_BATCH_BYTES) while the next ones fill, so
 * SHA-256 runs beside TLS and the network instead of after them. */
#ifndef NK_SINK_H
#define NK_SINK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "sha256.h"
#include "stage.h"

#define SINK_BATCH_BYTES (512 * 1024) /* 2 hand-overs per MiB (docs/bench.md) */
#define SINK_BATCHES 4           /* 2 MiB in flight at most */

struct sink {
	const char *name;        /* file name, for messages */
	struct stage_file stage;
	struct sha256 hash;
	uint64_t max;            /* more than this is an error (size + 1 rule) */
	uint64_t accepted;       /* bytes taken: staged, being staged or buffered */
	int overflow;            /* set when a write would pass max */
	int failed;              /* set when staging failed; err holds why */
	int failed_code;
	struct nk_err err;
	/* A ring of batches: the receiver fills batch[head % N]; the worker
	 * drains batches tail..head-1 in order. */
	uint8_t *batch[SINK_BATCHES];
	size_t len[SINK_BATCHES];
	size_t fill;             /* bytes in the filling batch */
	unsigned head, tail;     /* batches handed over, batches done */
	int worker_rc;
	struct nk_err worker_err;
	int threaded, stop;
	pthread_t worker;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

/* Opens a sink for name that accepts at most max bytes, staged in a memfd
 * (dir NULL) or an unnamed file in dir (see stage_open). */
int sink_open(struct sink *k, const char *name, uint64_t max, const char *dir,
    struct nk_err *e);
/* A sink that continues st (its st->len bytes hashed into h, still
 * running): takes both over (st's descriptors and h are left empty);
 * writes go on at st->len. On failure st and h are untouched. */
int sink_adopt(struct sink *k, const char *name, uint64_t max, struct stage_file *st,
    struct sha256 *h, struct nk_err *e);
/* Accepts n bytes. Returns 0, or a code with k->err filled (over the cap:
 * NK_E_SIZE; staging, reported by the batch after the failure:
 * NK_E_IO/NK_E_NOMEM). */
int sink_write(struct sink *k, const void *buf, size_t n);
/* Drops every byte and restarts the hash (server ignored Range). */
int sink_reset(struct sink *k, struct nk_err *e);
/* Bytes accepted so far (where a resumed transfer continues). */
uint64_t sink_len(const struct sink *k);
/* Stages what is buffered, waits for it, and finishes the hash into out;
 * the worker is stopped. */
int sink_digest(struct sink *k, uint8_t out[SHA256_BYTES], struct nk_err *e);
/* The reverse of sink_adopt: stages what is buffered, stops the worker,
 * and gives the stage to *st and the hash of its st->len bytes, still
 * running, to *h; the sink is closed. On failure (staging failed) the
 * sink is closed, its stage left in k->stage for the caller to close. */
int sink_detach(struct sink *k, struct stage_file *st, struct sha256 *h, struct nk_err *e);
/* Reads the whole content back into buf (cap bytes, for small files);
 * call after sink_digest or sink_close. */
int sink_read_all(const struct sink *k, uint8_t *buf, size_t cap, size_t *len,
    struct nk_err *e);
/* Stages what is buffered, stops the worker, releases hash state and
 * buffers (idempotent); the staged file stays for the caller. */
void sink_close(struct sink *k);

#endif
