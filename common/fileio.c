/* fileio: careful file access by path. */
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILEIO_COPY_CHUNK_BYTES (256 * 1024)

int
fileio_open_regular(const char *path, int *fd_out, off_t *size_out, struct nk_err *e)
{
	struct stat st;
	int fd;

	/* O_NONBLOCK so a FIFO in the way cannot hang the open; cleared below. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return nk_fail(e, errno == ENOENT ? NK_E_MISSING : NK_E_IO,
		    "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		int err = errno;
		close(fd);
		return nk_fail(e, NK_E_IO, "%s: %s", path, strerror(err));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return nk_fail(e, NK_E_IO, "%s: not a regular file", path);
	}
	if (fcntl(fd, F_SETFL, 0) != 0) {
		int err = errno;
		close(fd);
		return nk_fail(e, NK_E_IO, "%s: %s", path, strerror(err));
	}
	*fd_out = fd;
	if (size_out != NULL)
		*size_out = st.st_size;
	return 0;
}

int
fileio_read_capped(const char *path, size_t max, uint8_t **buf, size_t *len,
    struct nk_err *e)
{
	uint8_t *b = NULL;
	size_t got = 0;
	off_t size;
	ssize_t n;
	int fd = -1, rc;

	if ((rc = fileio_open_regular(path, &fd, &size, e)) != 0)
		return rc;
	if ((uint64_t)size > max) {
		rc = nk_fail(e, NK_E_SIZE, "%s: %lld bytes, more than the %zu allowed",
		    path, (long long)size, max);
		goto out;
	}
	if ((b = malloc(max + 1)) == NULL) {
		rc = nk_fail(e, NK_E_NOMEM, "%s: out of memory", path);
		goto out;
	}
	/* Read to max + 1 so a file that grew after fstat is still caught. */
	while (got < max + 1) {
		n = read(fd, b + got, max + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = nk_fail(e, NK_E_IO, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > max) {
		rc = nk_fail(e, NK_E_SIZE, "%s: more than the %zu bytes allowed", path, max);
		goto out;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	b = NULL;
	rc = 0;
out:
	free(b);
	close(fd);
	return rc;
}

int
fileio_write_all(int fd, const void *buf, size_t len, struct nk_err *e)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return nk_fail(e, NK_E_IO, "write: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
fileio_copy_fd(int in_fd, int out_fd, struct nk_err *e)
{
	static uint8_t buf[FILEIO_COPY_CHUNK_BYTES];
	off_t off = 0;
	ssize_t n;
	int rc;

	for (;;) {
		n = pread(in_fd, buf, sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return nk_fail(e, NK_E_IO, "read: %s", strerror(errno));
		if (n == 0)
			return 0;
		if ((rc = fileio_write_all(out_fd, buf, (size_t)n, e)) != 0)
			return rc;
		off += n;
	}
}

int
fileio_write_atomic(const char *path, const void *buf, size_t len, mode_t mode,
    struct nk_err *e)
{
	char tmp[PATH_MAX];
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return nk_fail(e, NK_E_IO, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return nk_fail(e, NK_E_IO, "%s: %s", tmp, strerror(errno));
	if ((rc = fileio_write_all(fd, buf, len, e)) != 0)
		goto fail;
	if (fchmod(fd, mode) != 0 || fsync(fd) != 0) {
		rc = nk_fail(e, NK_E_IO, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = nk_fail(e, NK_E_IO, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = nk_fail(e, NK_E_IO, "%s: %s", path, strerror(errno));
		goto fail;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int
fileio_outdir_check(const char *dir, int *exists, struct nk_err *e)
{
	struct stat st;
	struct dirent *d;
	DIR *dh;
	int empty = 1;

	*exists = 0;
	if (lstat(dir, &st) != 0)
		return errno == ENOENT ? 0 : nk_fail(e, NK_E_IO, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return nk_fail(e, NK_E_USAGE, "%s: exists and is not a directory", dir);
	if ((dh = opendir(dir)) == NULL)
		return nk_fail(e, NK_E_IO, "%s: %s", dir, strerror(errno));
	while ((d = readdir(dh)) != NULL)
		if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0)
			empty = 0;
	closedir(dh);
	if (!empty)
		return nk_fail(e, NK_E_USAGE, "%s: not empty; give a new or empty directory", dir);
	*exists = 1;
	return 0;
}

int
fileio_outdir_begin(struct fileio_outdir *o, const char *dir, struct nk_err *e)
{
	size_t n;
	int rc;

	o->tmp[0] = '\0';
	/* "out/" names the same directory as "out"; the temporary one must be
	 * its sibling, not inside it. */
	if ((size_t)snprintf(o->dir, sizeof(o->dir), "%s", dir) >= sizeof(o->dir) - 32)
		return nk_fail(e, NK_E_USAGE, "%s: path too long", dir);
	for (n = strlen(o->dir); n > 1 && o->dir[n - 1] == '/'; n--)
		o->dir[n - 1] = '\0';
	if (o->dir[0] == '\0' || strcmp(o->dir, "/") == 0)
		return nk_fail(e, NK_E_USAGE, "'%s' cannot be an output directory", dir);
	if ((rc = fileio_outdir_check(o->dir, &o->existed, e)) != 0)
		return rc;
	snprintf(o->tmp, sizeof(o->tmp), "%s.partial-XXXXXX", o->dir);
	if (mkdtemp(o->tmp) == NULL) {
		o->tmp[0] = '\0';
		return nk_fail(e, NK_E_IO, "%s: cannot create a directory beside it: %s",
		    o->dir, strerror(errno));
	}
	return 0;
}

int
fileio_outdir_commit(struct fileio_outdir *o, struct nk_err *e)
{
	if (o->existed && rmdir(o->dir) != 0)
		return nk_fail(e, NK_E_IO, "%s: %s", o->dir, strerror(errno));
	if (rename(o->tmp, o->dir) != 0)
		return nk_fail(e, NK_E_IO, "%s: %s", o->dir, strerror(errno));
	o->tmp[0] = '\0';
	return 0;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void
fileio_outdir_abort(struct fileio_outdir *o)
{
	/* Depth first, never following symlinks: only what we made goes. */
	if (o->tmp[0] != '\0')
		nftw(o->tmp, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	o->tmp[0] = '\0';
}
