/* cpio: a writer of "newc" (SVR4, no CRC) cpio archives into a growing
 * memory buffer, as the kernel unpacks them from an initrd, and a gzip
 * wrapper (zlib) for the finished archive. Only directories and regular
 * files; names are relative, checked, and bounded; sizes are capped. */
#ifndef NK_CPIO_H
#define NK_CPIO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define CPIO_NAME_MAX_BYTES 256              /* a path, without its NUL */
#define CPIO_FILE_MAX_BYTES (1024 * 1024)    /* one regular file's content */
#define CPIO_ARCHIVE_MAX_BYTES (16 * 1024 * 1024) /* the whole archive */
#define CPIO_HEADER_BYTES 110                /* "070701" and 13 x 8 hex digits */
#define CPIO_TRAILER "TRAILER!!!"
#define CPIO_NEWC_FILE_MAX_BYTES 0xffffffffULL /* filesize is 8 hex digits */

struct cpio {
	uint8_t *buf;
	size_t len;
	size_t cap;
	size_t max;       /* archive cap; CPIO_ARCHIVE_MAX_BYTES by default */
	uint32_t ino;     /* next inode number */
	uint32_t mtime;   /* Unix seconds for every entry */
	int finished;     /* the trailer is written */
};

/* Starts an empty archive whose entries carry mtime. */
void cpio_init(struct cpio *c, uint32_t mtime);

/* Adds a directory (mode: permission bits, e.g. 0755). Parents must be
 * added first; the writer does not invent them. */
int cpio_add_dir(struct cpio *c, const char *name, uint32_t mode, struct nk_err *e);

/* Adds a regular file of len bytes (mode: permission bits, e.g. 0600). */
int cpio_add_file(struct cpio *c, const char *name, uint32_t mode, const void *data,
    size_t len, struct nk_err *e);

/* Adds only the header (and name) of a regular file of len bytes, for a
 * file too large for the buffer: the caller writes the len bytes right
 * after the archive's bytes, then cpio_pad_bytes(len) zero bytes, then
 * a finished archive of its own (a lone trailer) if nothing follows.
 * Nothing more can be added to c. len at most CPIO_NEWC_FILE_MAX_BYTES. */
int cpio_add_file_header(struct cpio *c, const char *name, uint32_t mode, uint64_t len,
    struct nk_err *e);
/* Zero bytes that pad len bytes of file data to newc's 4-byte alignment. */
size_t cpio_pad_bytes(uint64_t len);

/* Writes the TRAILER!!! entry; no entry can be added after it. */
int cpio_finish(struct cpio *c, struct nk_err *e);

/* Wipes and frees the buffer (archives may hold private keys). */
void cpio_free(struct cpio *c);

/* Compresses in as one gzip member (deflate, windowBits 15+16, level 9)
 * into a malloc'd *out; free it with cpio_gz_free. */
int cpio_gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len,
    struct nk_err *e);

/* Wipes and frees a buffer from cpio_gzip (NULL is fine). */
void cpio_gz_free(uint8_t *gz, size_t len);

#endif
