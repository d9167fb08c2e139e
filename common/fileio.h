/* fileio: careful file access by path (O_NOFOLLOW, O_CLOEXEC, regular
 * files only, size caps) and all-or-nothing writes. */
#ifndef NK_FILEIO_H
#define NK_FILEIO_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

/* Opens a regular file for reading (O_NOFOLLOW|O_CLOEXEC, fstat check). */
int fileio_open_regular(const char *path, int *fd_out, off_t *size_out, struct nk_err *e);

/* Reads a whole regular file of at most max bytes into a malloc'd buffer
 * (NUL-terminated for convenience; *len excludes it). Over max: NK_E_SIZE. */
int fileio_read_capped(const char *path, size_t max, uint8_t **buf, size_t *len,
    struct nk_err *e);

/* Writes buf to path atomically (temporary file in the same directory,
 * fsync, rename). mode is the final file mode. */
int fileio_write_atomic(const char *path, const void *buf, size_t len, mode_t mode,
    struct nk_err *e);

/* Writes all of buf to fd (retries short writes and EINTR). */
int fileio_write_all(int fd, const void *buf, size_t len, struct nk_err *e);

/* Copies all bytes of in_fd (from offset 0) to out_fd. */
int fileio_copy_fd(int in_fd, int out_fd, struct nk_err *e);

/* An output directory written all or nothing. begin: DIR (trailing
 * slashes ignored) must not exist or be empty; a sibling
 * DIR.partial-XXXXXX (mode 0700) is made for the caller to fill (tmp).
 * commit renames it into place; abort removes it and all it holds. */
struct fileio_outdir {
	char dir[PATH_MAX];
	char tmp[PATH_MAX];
	int existed;
};
int fileio_outdir_begin(struct fileio_outdir *o, const char *dir, struct nk_err *e);
int fileio_outdir_commit(struct fileio_outdir *o, struct nk_err *e);
void fileio_outdir_abort(struct fileio_outdir *o);
/* Only the check of begin: 0 when DIR is absent or an empty directory. */
int fileio_outdir_check(const char *dir, int *exists, struct nk_err *e);

#endif
