/* cpio: newc archives in memory, and their gzip form. */
#include "cpio.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zlib.h>

#define CPIO_GROW_MIN_BYTES 4096
#define CPIO_MODE_DIR 0040000u
#define CPIO_MODE_REG 0100000u
#define CPIO_PERM_MASK 07777u

void
cpio_init(struct cpio *c, uint32_t mtime)
{
	memset(c, 0, sizeof(*c));
	c->max = CPIO_ARCHIVE_MAX_BYTES;
	c->ino = 1;
	c->mtime = mtime;
}

void
cpio_free(struct cpio *c)
{
	if (c->buf != NULL) {
		sodium_memzero(c->buf, c->cap);
		free(c->buf);
	}
	c->buf = NULL;
	c->len = c->cap = 0;
}

void
cpio_gz_free(uint8_t *gz, size_t len)
{
	if (gz == NULL)
		return;
	sodium_memzero(gz, len);
	free(gz);
}

/* Relative, '/'-separated, no empty, "." or ".." component, a small
 * character set: what the kernel's unpacker and a shell both take as is. */
static int
name_ok(const char *name, size_t *len_out)
{
	size_t n = strnlen(name, CPIO_NAME_MAX_BYTES + 1), i, comp = 0;

	if (n == 0 || n > CPIO_NAME_MAX_BYTES)
		return 0;
	for (i = 0; i <= n; i++) {
		char ch = name[i];

		if (ch == '/' || ch == '\0') {
			if (comp == 0)
				return 0;
			if ((comp == 1 && name[i - 1] == '.') ||
			    (comp == 2 && name[i - 1] == '.' && name[i - 2] == '.'))
				return 0;
			comp = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("._-+@,=:", ch) != NULL))
			return 0;
		comp++;
	}
	*len_out = n;
	return 1;
}

/* Grows to hold need more bytes, never through realloc: the old buffer
 * may hold secrets and is wiped before it is freed. */
static int
reserve(struct cpio *c, size_t need, struct nk_err *e)
{
	uint8_t *nb;
	size_t ncap;

	if (need > c->max || c->len > c->max - need)
		return nk_fail(e, NK_E_SIZE, "cpio archive over %zu bytes", c->max);
	if (c->len + need <= c->cap)
		return 0;
	ncap = c->cap < CPIO_GROW_MIN_BYTES ? CPIO_GROW_MIN_BYTES : c->cap;
	while (ncap < c->len + need)
		ncap = ncap > c->max / 2 ? c->max : ncap * 2;
	if ((nb = malloc(ncap)) == NULL)
		return nk_fail(e, NK_E_NOMEM, "cpio: out of memory");
	if (c->buf != NULL) {
		memcpy(nb, c->buf, c->len);
		sodium_memzero(c->buf, c->cap);
		free(c->buf);
	}
	c->buf = nb;
	c->cap = ncap;
	return 0;
}

static void
put(struct cpio *c, const void *p, size_t n)
{
	if (n > 0)
		memcpy(c->buf + c->len, p, n);
	c->len += n;
}

static void
pad4(struct cpio *c)
{
	static const uint8_t zeros[4];

	put(c, zeros, (4 - (c->len & 3)) & 3);
}

/* Bytes an entry takes: header and name padded to 4, data padded to 4. */
static size_t
entry_bytes(size_t namesize, size_t len)
{
	return ((CPIO_HEADER_BYTES + namesize + 3) & ~(size_t)3) + ((len + 3) & ~(size_t)3);
}

/* An entry; data NULL with len > 0: the header of a file whose len bytes
 * the caller writes after the archive (cpio_add_file_header). */
static int
add(struct cpio *c, const char *name, uint32_t mode, uint32_t nlink, const void *data,
    uint64_t len, struct nk_err *e)
{
	char hdr[CPIO_HEADER_BYTES + 1];
	size_t nlen;
	int rc;

	if (c->finished)
		return nk_fail(e, NK_E_INTERNAL, "cpio: entry '%s' after the trailer", name);
	if (!name_ok(name, &nlen) && strcmp(name, CPIO_TRAILER) != 0)
		return nk_fail(e, NK_E_INTERNAL, "cpio: refused entry name '%.64s'", name);
	if (strcmp(name, CPIO_TRAILER) == 0)
		nlen = sizeof(CPIO_TRAILER) - 1;
	if (data != NULL && len > CPIO_FILE_MAX_BYTES)
		return nk_fail(e, NK_E_SIZE, "cpio: %s: %llu bytes, more than the %d allowed",
		    name, (unsigned long long)len, CPIO_FILE_MAX_BYTES);
	if (len > CPIO_NEWC_FILE_MAX_BYTES)
		return nk_fail(e, NK_E_SIZE, "cpio: %s: %llu bytes, more than newc's 8 hex "
		    "digits hold", name, (unsigned long long)len);
	if ((rc = reserve(c, entry_bytes(nlen + 1, data != NULL ? (size_t)len : 0), e)) != 0)
		return rc;
	/* ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor
	 * rdevminor namesize check */
	snprintf(hdr, sizeof(hdr), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
	    mode == 0 && nlink == 1 ? 0u : c->ino, mode, 0u, 0u, nlink, c->mtime,
	    (unsigned)len, 0u, 0u, 0u, 0u, (unsigned)(nlen + 1), 0u);
	put(c, hdr, CPIO_HEADER_BYTES);
	put(c, name, nlen);
	put(c, "", 1);
	pad4(c);
	if (data == NULL && len > 0) {
		c->finished = 1; /* the file's bytes come next, outside c */
		c->ino++;
		return 0;
	}
	put(c, data, (size_t)len);
	pad4(c);
	c->ino++;
	return 0;
}

int
cpio_add_file_header(struct cpio *c, const char *name, uint32_t mode, uint64_t len,
    struct nk_err *e)
{
	if (strcmp(name, CPIO_TRAILER) == 0 || len == 0)
		return nk_fail(e, NK_E_INTERNAL, "cpio: refused header '%.64s'", name);
	return add(c, name, CPIO_MODE_REG | (mode & CPIO_PERM_MASK), 1, NULL, len, e);
}

size_t
cpio_pad_bytes(uint64_t len)
{
	return (size_t)((4 - (len & 3)) & 3);
}

int
cpio_add_dir(struct cpio *c, const char *name, uint32_t mode, struct nk_err *e)
{
	if (strcmp(name, CPIO_TRAILER) == 0)
		return nk_fail(e, NK_E_INTERNAL, "cpio: refused entry name '%s'", name);
	return add(c, name, CPIO_MODE_DIR | (mode & CPIO_PERM_MASK), 2, NULL, 0, e);
}

int
cpio_add_file(struct cpio *c, const char *name, uint32_t mode, const void *data,
    size_t len, struct nk_err *e)
{
	if (strcmp(name, CPIO_TRAILER) == 0)
		return nk_fail(e, NK_E_INTERNAL, "cpio: refused entry name '%s'", name);
	if (data == NULL && len > 0)
		return nk_fail(e, NK_E_INTERNAL, "cpio: %s: no data", name);
	return add(c, name, CPIO_MODE_REG | (mode & CPIO_PERM_MASK), 1, data, len, e);
}

int
cpio_finish(struct cpio *c, struct nk_err *e)
{
	int rc;

	if ((rc = add(c, CPIO_TRAILER, 0, 1, NULL, 0, e)) != 0)
		return rc;
	c->finished = 1;
	return 0;
}

/* zlib's window and hash tables hold the plaintext: wipe them too. */
#define CPIO_ZHDR_BYTES 16

static voidpf
z_alloc(voidpf opaque, uInt items, uInt size)
{
	size_t n;
	uint8_t *p;

	(void)opaque;
	if (size != 0 && items > (SIZE_MAX - CPIO_ZHDR_BYTES) / size)
		return Z_NULL;
	n = (size_t)items * size;
	if ((p = malloc(n + CPIO_ZHDR_BYTES)) == NULL)
		return Z_NULL;
	memcpy(p, &n, sizeof(n));
	return p + CPIO_ZHDR_BYTES;
}

static void
z_free(voidpf opaque, voidpf addr)
{
	uint8_t *p = (uint8_t *)addr - CPIO_ZHDR_BYTES;
	size_t n;

	(void)opaque;
	if (addr == Z_NULL)
		return;
	memcpy(&n, p, sizeof(n));
	sodium_memzero(p, n + CPIO_ZHDR_BYTES);
	free(p);
}

int
cpio_gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len,
    struct nk_err *e)
{
	z_stream zs;
	uint8_t *buf = NULL;
	uLong bound;
	int rc, zrc;

	*out = NULL;
	*out_len = 0;
	if (len > CPIO_ARCHIVE_MAX_BYTES || len > UINT_MAX)
		return nk_fail(e, NK_E_SIZE, "gzip: input over %d bytes", CPIO_ARCHIVE_MAX_BYTES);
	memset(&zs, 0, sizeof(zs));
	zs.zalloc = z_alloc;
	zs.zfree = z_free;
	/* 15 + 16: a gzip header and trailer around raw deflate, which is what
	 * the kernel's initramfs unpacker recognises (1f 8b). */
	if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return nk_fail(e, NK_E_NOMEM, "gzip: deflateInit2 failed");
	/* deflateBound covers the zlib wrapper; gzip's is 12 bytes larger. */
	bound = deflateBound(&zs, (uLong)len) + 32;
	if ((buf = malloc(bound)) == NULL) {
		rc = nk_fail(e, NK_E_NOMEM, "gzip: out of memory");
		goto out;
	}
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = buf;
	zs.avail_out = (uInt)bound;
	zrc = deflate(&zs, Z_FINISH);
	if (zrc != Z_STREAM_END) {
		rc = nk_fail(e, NK_E_INTERNAL, "gzip: deflate returned %d", zrc);
		goto out;
	}
	*out = buf;
	*out_len = zs.total_out;
	buf = NULL;
	rc = 0;
out:
	deflateEnd(&zs);
	if (buf != NULL)
		cpio_gz_free(buf, bound);
	return rc;
}
