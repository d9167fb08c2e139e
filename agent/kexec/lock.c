/* lock: flock-based single instance. */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

const char *
lock_path(void)
{
	const char *p = getenv("NIXOS_KEXEC_LOCK");

	return p && *p ? p : LOCK_DEFAULT_PATH;
}

int
lock_take(const char *path, int *fd_out, struct nk_err *e)
{
	char pid[32] = "";
	ssize_t n;
	int fd;

	if (path == NULL)
		path = lock_path();
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return nk_fail(e, errno == EACCES ? NK_E_PERM : NK_E_IO, "lock %s: %s", path,
		    strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int err = errno;
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		close(fd);
		if (err == EWOULDBLOCK)
			return nk_fail(e, NK_E_LOCKED, "another nixos-kexec boot (pid %s) holds %s; "
			    "wait for it to finish", pid[0] ? pid : "unknown", path);
		return nk_fail(e, NK_E_IO, "lock %s: %s", path, strerror(err));
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		close(fd);
		return nk_fail(e, NK_E_IO, "lock %s: %s", path, strerror(errno));
	}
	*fd_out = fd;
	return 0;
}

void
lock_release(const char *path, int fd)
{
	/* The file stays: unlinking it would let a run that opened the old
	 * inode and a run that creates a new one both hold "the" lock. */
	(void)path;
	if (fd >= 0)
		close(fd);
}
