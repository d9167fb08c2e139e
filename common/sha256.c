/* sha256: streaming SHA-256 on OpenSSL EVP. */
#include "sha256.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "fileio.h"

#define SHA256_COPY_CHUNK_BYTES (64 * 1024) /* on the stack: reentrant */

int
sha256_init(struct sha256 *h, struct nk_err *e)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	h->ctx = NULL;
	if (c == NULL)
		return nk_fail(e, NK_E_NOMEM, "sha256: out of memory");
	if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(c);
		return nk_fail(e, NK_E_INTERNAL, "sha256: EVP init failed");
	}
	h->ctx = c;
	return 0;
}

int
sha256_update(struct sha256 *h, const void *buf, size_t len, struct nk_err *e)
{
	if (h->ctx == NULL)
		return nk_fail(e, NK_E_INTERNAL, "sha256: update without init");
	if (len > 0 && EVP_DigestUpdate(h->ctx, buf, len) != 1)
		return nk_fail(e, NK_E_INTERNAL, "sha256: EVP update failed");
	return 0;
}

int
sha256_final(struct sha256 *h, uint8_t out[SHA256_BYTES], struct nk_err *e)
{
	unsigned int n = 0;
	int rc = 0;

	if (h->ctx == NULL)
		return nk_fail(e, NK_E_INTERNAL, "sha256: final without init");
	if (EVP_DigestFinal_ex(h->ctx, out, &n) != 1 || n != SHA256_BYTES)
		rc = nk_fail(e, NK_E_INTERNAL, "sha256: EVP final failed");
	sha256_free(h);
	return rc;
}

void
sha256_free(struct sha256 *h)
{
	if (h->ctx != NULL)
		EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

int
sha256_fd(int fd, uint8_t out[SHA256_BYTES], struct nk_err *e)
{
	/* One read loop for all: rewind, then hash without copying. */
	if (lseek(fd, 0, SEEK_SET) < 0)
		return nk_fail(e, NK_E_IO, "read: %s", strerror(errno));
	return sha256_copy_fd(fd, -1, UINT64_MAX, NULL, out, e);
}

int
sha256_copy_fd(int in_fd, int out_fd, uint64_t max, uint64_t *n,
    uint8_t digest[SHA256_BYTES], struct nk_err *e)
{
	uint8_t buf[SHA256_COPY_CHUNK_BYTES];
	struct sha256 h;
	uint64_t total = 0;
	size_t want;
	ssize_t got;
	int rc;

	if (n != NULL)
		*n = 0;
	if ((rc = sha256_init(&h, e)) != 0)
		return rc;
	for (;;) {
		/* Ask for one byte past max, without overflowing at UINT64_MAX. */
		want = sizeof(buf);
		if (max - total < sizeof(buf))
			want = (size_t)(max - total) + 1;
		got = read(in_fd, buf, want);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = nk_fail(e, NK_E_IO, "read: %s", strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		if ((uint64_t)got > max - total) {
			rc = nk_fail(e, NK_E_SIZE, "more than the %llu bytes allowed",
			    (unsigned long long)max);
			goto out;
		}
		if ((rc = sha256_update(&h, buf, (size_t)got, e)) != 0)
			goto out;
		if (out_fd >= 0 && (rc = fileio_write_all(out_fd, buf, (size_t)got, e)) != 0)
			goto out;
		total += (uint64_t)got;
		if (n != NULL)
			*n = total;
	}
	return sha256_final(&h, digest, e);
out:
	sha256_free(&h);
	return rc;
}

void
sha256_hex(const uint8_t d[SHA256_BYTES], char out[SHA256_HEX_BYTES])
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < SHA256_BYTES; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[2 * SHA256_BYTES] = '\0';
}

static int
unhex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
sha256_unhex(const char *hex, size_t len, uint8_t out[SHA256_BYTES])
{
	size_t i;
	int hi, lo;

	if (len != 2 * SHA256_BYTES)
		return -1;
	for (i = 0; i < SHA256_BYTES; i++) {
		hi = unhex_digit(hex[2 * i]);
		lo = unhex_digit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int
sha256_equal(const uint8_t a[SHA256_BYTES], const uint8_t b[SHA256_BYTES])
{
	return CRYPTO_memcmp(a, b, SHA256_BYTES) == 0;
}
