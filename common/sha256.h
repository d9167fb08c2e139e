/* sha256: streaming SHA-256 on OpenSSL EVP, and digest helpers. */
#ifndef NK_SHA256_H
#define NK_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SHA256_BYTES 32
#define SHA256_HEX_BYTES 65 /* 64 lowercase hex digits and NUL */

struct sha256 {
	void *ctx; /* EVP_MD_CTX */
};

/* Starts a digest. */
int sha256_init(struct sha256 *h, struct nk_err *e);
/* Adds len bytes. */
int sha256_update(struct sha256 *h, const void *buf, size_t len, struct nk_err *e);
/* Finishes into out and releases the context. */
int sha256_final(struct sha256 *h, uint8_t out[SHA256_BYTES], struct nk_err *e);
/* Releases the context without a result (safe on a finished or zeroed h). */
void sha256_free(struct sha256 *h);
/* Hashes the whole of a seekable file descriptor from offset 0. */
int sha256_fd(int fd, uint8_t out[SHA256_BYTES], struct nk_err *e);
/* Streams in_fd (read(2) from its current offset, so pipes work) to out_fd
 * until EOF, hashing the same bytes in the same pass. out_fd < 0 only
 * hashes. Reads stop at max + 1 bytes: more than max is NK_E_SIZE, with
 * nothing of the excess written. *n (may be NULL) receives the bytes
 * copied, also on failure. */
int sha256_copy_fd(int in_fd, int out_fd, uint64_t max, uint64_t *n,
    uint8_t digest[SHA256_BYTES], struct nk_err *e);

/* Lowercase hex of a digest. */
void sha256_hex(const uint8_t d[SHA256_BYTES], char out[SHA256_HEX_BYTES]);
/* Parses exactly 64 lowercase hex digits; -1 on anything else. */
int sha256_unhex(const char *hex, size_t len, uint8_t out[SHA256_BYTES]);
/* Constant-time comparison; 1 when equal. */
int sha256_equal(const uint8_t a[SHA256_BYTES], const uint8_t b[SHA256_BYTES]);

#endif
