/* sink: where downloaded bytes land. Every byte is capped, hashed and
 * staged in RAM in one pass as it arrives; no second read, no extra copy. */
#ifndef NK_SINK_H
#define NK_SINK_H

#include <stdint.h>

#include "err.h"
#include "sha256.h"
#include "stage.h"

struct sink {
	const char *name;        /* file name, for messages */
	struct stage_file stage;
	struct sha256 hash;
	uint64_t max;            /* more than this is an error (size + 1 rule) */
	int overflow;            /* set when a write would pass max */
	int failed;              /* set when staging failed; err holds why */
	int failed_code;
	struct nk_err err;
};

/* Opens a sink for name that accepts at most max bytes, staged in a memfd
 * (dir NULL) or an unnamed file in dir (see stage_open). */
int sink_open(struct sink *k, const char *name, uint64_t max, const char *dir,
    struct nk_err *e);
/* Accepts n bytes. Returns 0, or a code with k->err filled (over the cap:
 * NK_E_SIZE; staging: NK_E_IO/NK_E_NOMEM). */
int sink_write(struct sink *k, const void *buf, size_t n);
/* Drops every byte and restarts the hash (server ignored Range). */
int sink_reset(struct sink *k, struct nk_err *e);
/* Bytes held. */
uint64_t sink_len(const struct sink *k);
/* Finishes the hash into out. */
int sink_digest(struct sink *k, uint8_t out[SHA256_BYTES], struct nk_err *e);
/* Reads the whole content back into buf (cap bytes, for small files). */
int sink_read_all(const struct sink *k, uint8_t *buf, size_t cap, size_t *len,
    struct nk_err *e);
/* Releases hash state; the staged file stays for the caller. */
void sink_close(struct sink *k);

#endif
