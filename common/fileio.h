/* fileio: careful file access by path (O_NOFOLLOW, O_CLOEXEC, regular
 * files only, size caps) and all-or-nothing writes. */
#ifndef NK_FILEIO_H
#define NK_FILEIO_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

/* Opens a regular file for reading (O_NOFOLLOW|O_CLOEXEC, fstat check).
 * A symbolic link is refused with a sentence saying so. */
int fileio_open_regular(const char *path, int *fd_out, off_t *size_out, struct nk_err *e);

/* Reads a whole regular file of at most max bytes into a malloc'd buffer
 * (NUL-terminated for convenience; *len excludes it). Over max: NK_E_SIZE.
 * The last component must not be a symbolic link (O_NOFOLLOW): for secret
 * keys and for files inside a directory someone else may write. */
int fileio_read_capped(const char *path, size_t max, uint8_t **buf, size_t *len,
    struct nk_err *e);

/* fileio_read_capped for public inputs named by the user (minisign public
 * keys): symbolic links are followed, as on NixOS every file in /etc is
 * one; the target must still be a regular file within max bytes, and a
 * FIFO or device cannot hang or flood the read. */
int fileio_read_public(const char *path, size_t max, uint8_t **buf, size_t *len,
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
 * slashes ignored) must not exist or be empty, and must be a directory a
 * rename can put in place: not '.' or '..', not a mount point, removable
 * from its parent. A sibling DIR.partial-XXXXXX (mode 0700) is made for
 * the caller to fill (tmp), and locked (flock) while this run lives.
 * Before that, stale DIR.partial-XXXXXX of earlier runs (killed, power
 * cut) are removed: only real directories (never a symbolic link, never
 * followed inside), owned by this user, mode 0700, that no live run holds
 * locked; anything else of that name is left and reported in kept.
 * commit renames tmp into place; abort removes it and all it holds. */
#define FILEIO_PARTIAL_SUFFIX ".partial-"
#define FILEIO_SWEEP_DEPTH_MAX 8   /* directory levels inside a partial one */
struct fileio_outdir {
	char dir[PATH_MAX];
	char tmp[PATH_MAX];
	int existed;
	int lock_fd;         /* tmp, flock'ed; -1 when none */
	unsigned swept;      /* stale partial directories removed by begin */
	unsigned nkept;      /* look-alikes left alone by begin */
	char kept[NK_ERR_MAX]; /* which and why, for the caller to report */
};
int fileio_outdir_begin(struct fileio_outdir *o, const char *dir, struct nk_err *e);
int fileio_outdir_commit(struct fileio_outdir *o, struct nk_err *e);
void fileio_outdir_abort(struct fileio_outdir *o);
/* Only the check of begin: 0 when DIR is absent or an empty directory
 * that a rename can replace. */
int fileio_outdir_check(const char *dir, int *exists, struct nk_err *e);

/* The mount point of the filesystem holding path (an existing file or
 * directory), found by walking up until the device changes; and its free
 * bytes (as available to this user; UINT64_MAX when the filesystem does
 * not count blocks). For checks and messages about full disks. */
int fileio_fs_of(const char *path, char *mount, size_t cap, uint64_t *free_bytes,
    struct nk_err *e);

#endif
