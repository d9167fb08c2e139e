/* fileio: careful file access by path. */
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define FILEIO_COPY_CHUNK_BYTES (256 * 1024)

/* Opens path as a regular file; follow: whether a symbolic link as the
 * last component is followed (public inputs) or refused (O_NOFOLLOW). */
static int
open_regular(const char *path, int follow, int *fd_out, off_t *size_out, struct nk_err *e)
{
	struct stat st;
	int fd, err;

	/* O_NONBLOCK so a FIFO in the way cannot hang the open; cleared below. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW));
	if (fd < 0) {
		err = errno;
		if (err == ELOOP && !follow && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
			return nk_fail(e, NK_E_IO, "%s: is a symbolic link, and this file is read "
			    "only from the file itself; give the real path (readlink -f %s)",
			    path, path);
		return nk_fail(e, err == ENOENT ? NK_E_MISSING : NK_E_IO, "%s: %s", path,
		    strerror(err));
	}
	if (fstat(fd, &st) != 0) {
		err = errno;
		close(fd);
		return nk_fail(e, NK_E_IO, "%s: %s", path, strerror(err));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return nk_fail(e, NK_E_IO, "%s: not a regular file%s", path,
		    S_ISFIFO(st.st_mode) ? " (a FIFO)" : S_ISDIR(st.st_mode) ? " (a directory)" :
		    S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? " (a device)" : "");
	}
	if (fcntl(fd, F_SETFL, 0) != 0) {
		err = errno;
		close(fd);
		return nk_fail(e, NK_E_IO, "%s: %s", path, strerror(err));
	}
	*fd_out = fd;
	if (size_out != NULL)
		*size_out = st.st_size;
	return 0;
}

int
fileio_open_regular(const char *path, int *fd_out, off_t *size_out, struct nk_err *e)
{
	return open_regular(path, 0, fd_out, size_out, e);
}

static int
read_capped(const char *path, int follow, size_t max, uint8_t **buf, size_t *len,
    struct nk_err *e)
{
	uint8_t *b = NULL;
	size_t got = 0;
	off_t size;
	ssize_t n;
	int fd = -1, rc;

	if ((rc = open_regular(path, follow, &fd, &size, e)) != 0)
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
fileio_read_capped(const char *path, size_t max, uint8_t **buf, size_t *len,
    struct nk_err *e)
{
	return read_capped(path, 0, max, buf, len, e);
}

int
fileio_read_public(const char *path, size_t max, uint8_t **buf, size_t *len,
    struct nk_err *e)
{
	return read_capped(path, 1, max, buf, len, e);
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
	/* Outputs keep O_NOFOLLOW (with O_EXCL): a symlink planted at the
	 * path must not redirect a write, as root, into a file elsewhere. */
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

/* The last component of dir (no trailing slashes) and its parent
 * directory ("." when dir has no slash). */
static const char *
split(const char *dir, char *parent, size_t cap)
{
	const char *slash = strrchr(dir, '/');

	if (slash == NULL) {
		snprintf(parent, cap, ".");
		return dir;
	}
	if (slash == dir)
		snprintf(parent, cap, "/");
	else
		snprintf(parent, cap, "%.*s", (int)(slash - dir), dir);
	return slash + 1;
}

/* Can a rename put another directory where the existing, empty DIR st is?
 * Not onto a mount point (EBUSY), not over what its parent's sticky bit
 * or an immutable flag keeps (EPERM). Each found before any download. */
static int
replaceable(const char *dir, const struct stat *st, struct nk_err *e)
{
	char parent[PATH_MAX];
	struct stat pst;
	int mount_root = 0;

	split(dir, parent, sizeof(parent));
	if (stat(parent, &pst) != 0)
		return nk_fail(e, NK_E_IO, "%s: %s", parent, strerror(errno));
#if defined(STATX_BASIC_STATS) && defined(STATX_ATTR_IMMUTABLE)
	{
		struct statx sx;

		if (statx(AT_FDCWD, dir, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) == 0) {
#ifdef STATX_ATTR_MOUNT_ROOT
			/* A bind mount keeps the device number; this flag does not lie. */
			mount_root = (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
			    (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
#endif
			if (sx.stx_attributes & (STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND))
				return nk_fail(e, NK_E_USAGE, "%s: immutable or append-only "
				    "(chattr): it cannot be removed to put the bundle in its "
				    "place; give another directory", dir);
		}
	}
#endif
	if (mount_root || pst.st_dev != st->st_dev)
		return nk_fail(e, NK_E_USAGE, "%s: is a mount point: a rename cannot put "
		    "another directory in its place; give a new directory inside it "
		    "(e.g. %s/bundle)", dir, dir);
	if ((pst.st_mode & S_ISVTX) && geteuid() != 0 && st->st_uid != geteuid() &&
	    pst.st_uid != geteuid())
		return nk_fail(e, NK_E_USAGE, "%s: belongs to another user in a sticky "
		    "directory (%s): it cannot be removed to put the bundle in its place",
		    dir, parent);
	return 0;
}

int
fileio_outdir_check(const char *dir, int *exists, struct nk_err *e)
{
	char parent[PATH_MAX];
	const char *base = split(dir, parent, sizeof(parent));
	struct stat st;
	struct dirent *d;
	DIR *dh;
	int empty = 1;

	*exists = 0;
	if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return nk_fail(e, NK_E_USAGE, "%s: ends in '.' or '..', which name a directory "
		    "through another one and cannot be renamed into place; give the "
		    "directory's own name (for the current one: \"$(pwd)\")", dir);
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
	if (replaceable(dir, &st, e) != 0)
		return NK_E_USAGE;
	*exists = 1;
	return 0;
}

/* Removes everything inside the open directory dfd, never following a
 * symbolic link (each is unlinked itself), at most FILEIO_SWEEP_DEPTH_MAX
 * levels down. 0 when it is empty afterwards. */
static int
remove_tree(int dfd, int depth)
{
	struct dirent *d;
	DIR *dh;
	int fd, sub, rc = 0;

	if ((fd = dup(dfd)) < 0)
		return -1;
	if ((dh = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((d = readdir(dh)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		if (unlinkat(dfd, d->d_name, 0) == 0)
			continue;
		if ((errno != EISDIR && errno != EPERM) || depth >= FILEIO_SWEEP_DEPTH_MAX) {
			rc = -1;
			continue;
		}
		sub = openat(dfd, d->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			rc = -1;
			continue;
		}
		if (remove_tree(sub, depth + 1) != 0)
			rc = -1;
		close(sub);
		if (unlinkat(dfd, d->d_name, AT_REMOVEDIR) != 0)
			rc = -1;
	}
	closedir(dh);
	return rc;
}

/* mkdtemp's six characters. */
static int
is_partial_tail(const char *t)
{
	size_t i;

	for (i = 0; i < 6; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
		    (t[i] >= '0' && t[i] <= '9')))
			return 0;
	return t[6] == '\0';
}

enum sweep_result { SWEEP_REMOVED, SWEEP_LIVE, SWEEP_KEPT };

/* One DIR.partial-XXXXXX in the directory pfd: removed when it is surely a
 * leftover of this program (a real directory, this user's, mode 0700 as
 * mkdtemp made it, locked by no live run), else why not in why. */
static enum sweep_result
sweep_one(int pfd, const char *name, char *why, size_t cap)
{
	struct stat st;
	int fd;
	enum sweep_result r = SWEEP_KEPT;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		snprintf(why, cap, "%s", strerror(errno));
		return SWEEP_KEPT;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, cap, "%s", S_ISLNK(st.st_mode) ? "a symbolic link" : "not a directory");
		return SWEEP_KEPT;
	}
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, cap, "%s", strerror(errno));
		return SWEEP_KEPT;
	}
	if (fstat(fd, &st) != 0)
		snprintf(why, cap, "%s", strerror(errno));
	else if (st.st_uid != geteuid())
		snprintf(why, cap, "owned by uid %lu", (unsigned long)st.st_uid);
	else if ((st.st_mode & 07777) != 0700)
		snprintf(why, cap, "mode %04o, not 0700", (unsigned)(st.st_mode & 07777));
	else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			r = SWEEP_LIVE; /* a run that is still going */
		else
			snprintf(why, cap, "cannot be locked: %s", strerror(errno));
	} else if (remove_tree(fd, 0) != 0 || unlinkat(pfd, name, AT_REMOVEDIR) != 0)
		snprintf(why, cap, "could not be emptied: %s", strerror(errno));
	else
		r = SWEEP_REMOVED;
	close(fd); /* and with it the lock */
	return r;
}

static void
sweep(struct fileio_outdir *o)
{
	char parent[PATH_MAX], why[128];
	const char *base = split(o->dir, parent, sizeof(parent)), *n;
	size_t bl = strlen(base), sl = strlen(FILEIO_PARTIAL_SUFFIX), used = 0;
	struct dirent *d;
	DIR *dh;
	int pfd, fd;

	if ((pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return; /* begin's own checks will say why */
	if ((fd = dup(pfd)) < 0 || (dh = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		close(pfd);
		return;
	}
	while ((d = readdir(dh)) != NULL) {
		n = d->d_name;
		if (strncmp(n, base, bl) != 0 || strncmp(n + bl, FILEIO_PARTIAL_SUFFIX, sl) != 0 ||
		    !is_partial_tail(n + bl + sl))
			continue;
		switch (sweep_one(pfd, n, why, sizeof(why))) {
		case SWEEP_REMOVED:
			o->swept++;
			break;
		case SWEEP_LIVE:
			break;
		case SWEEP_KEPT:
			o->nkept++;
			if (used < sizeof(o->kept))
				used += (size_t)snprintf(o->kept + used, sizeof(o->kept) - used,
				    "%s%s (%s)", used ? "; " : "", n, why);
			break;
		}
	}
	closedir(dh);
	close(pfd);
}

/* Opens and locks the fresh tmp. -1 when another run's sweep removed it
 * between mkdtemp and the lock (it then held the lock while removing). */
static int
lock_tmp(struct fileio_outdir *o)
{
	struct stat st;
	int fd = open(o->tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? -1 : 0; /* unlocked, but usable */
	if (flock(fd, LOCK_EX) != 0) {
		/* No flock here (some network filesystems): unlocked, and a
		 * concurrent run's sweep sees it as not lockable and keeps it. */
		o->lock_fd = fd;
		return 0;
	}
	if (fstat(fd, &st) != 0 || st.st_nlink == 0) {
		close(fd);
		return -1;
	}
	o->lock_fd = fd;
	return 0;
}

int
fileio_outdir_begin(struct fileio_outdir *o, const char *dir, struct nk_err *e)
{
	size_t n;
	int rc, tries;

	o->tmp[0] = '\0';
	o->lock_fd = -1;
	o->swept = o->nkept = 0;
	o->kept[0] = '\0';
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
	sweep(o);
	for (tries = 0; tries < 3; tries++) {
		snprintf(o->tmp, sizeof(o->tmp), "%s" FILEIO_PARTIAL_SUFFIX "XXXXXX", o->dir);
		if (mkdtemp(o->tmp) == NULL) {
			o->tmp[0] = '\0';
			return nk_fail(e, NK_E_IO, "%s: cannot create a directory beside it: %s",
			    o->dir, strerror(errno));
		}
		if (lock_tmp(o) == 0)
			return 0;
	}
	o->tmp[0] = '\0';
	return nk_fail(e, NK_E_IO, "%s: the directory made beside it kept disappearing "
	    "(another run removing it?)", o->dir);
}

static void
unlock_tmp(struct fileio_outdir *o)
{
	if (o->lock_fd >= 0)
		close(o->lock_fd);
	o->lock_fd = -1;
}

int
fileio_outdir_commit(struct fileio_outdir *o, struct nk_err *e)
{
	if (o->existed && rmdir(o->dir) != 0)
		return nk_fail(e, NK_E_IO, "%s: %s", o->dir, strerror(errno));
	if (rename(o->tmp, o->dir) != 0)
		return nk_fail(e, NK_E_IO, "%s: %s", o->dir, strerror(errno));
	o->tmp[0] = '\0';
	unlock_tmp(o);
	return 0;
}

void
fileio_outdir_abort(struct fileio_outdir *o)
{
	int fd;

	/* Depth first, never following symlinks: only what we made goes. */
	if (o->tmp[0] != '\0') {
		fd = o->lock_fd >= 0 ? o->lock_fd :
		    open(o->tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			(void)remove_tree(fd, 0);
			if (fd != o->lock_fd)
				close(fd);
		}
		rmdir(o->tmp);
	}
	o->tmp[0] = '\0';
	unlock_tmp(o);
}

int
fileio_fs_of(const char *path, char *mount, size_t cap, uint64_t *free_bytes,
    struct nk_err *e)
{
	char cur[PATH_MAX], up[PATH_MAX];
	struct stat st, pst;
	struct statvfs vfs;
	char *slash;

	if (realpath(path, cur) == NULL || stat(cur, &st) != 0)
		return nk_fail(e, NK_E_IO, "%s: %s", path, strerror(errno));
	while (strcmp(cur, "/") != 0) {
		memcpy(up, cur, sizeof(up));
		slash = strrchr(up, '/');
		if (slash == up)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(up, &pst) != 0 || pst.st_dev != st.st_dev)
			break;
		memcpy(cur, up, sizeof(cur));
	}
	snprintf(mount, cap, "%s", cur);
	if (statvfs(path, &vfs) != 0)
		return nk_fail(e, NK_E_IO, "%s: %s", path, strerror(errno));
	/* root may use the blocks reserved for it, others may not; a
	 * filesystem that counts no blocks at all (some FUSE) does not say */
	*free_bytes = vfs.f_blocks == 0 ? UINT64_MAX :
	    (uint64_t)(geteuid() == 0 ? vfs.f_bfree : vfs.f_bavail) * vfs.f_frsize;
	return 0;
}
