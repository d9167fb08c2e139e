/* stage: memfd staging and sealing. */
#include "stage.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "fileio.h"

#define STAGE_SEALS (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)

int
stage_open(struct stage_file *s, const char *name, const char *dir, struct nk_err *e)
{
	s->ro_fd = -1;
	s->len = 0;
	s->memfd = 0;
	s->dir = NULL;
	s->want = 0;
	if (dir != NULL) {
		s->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
		if (s->fd >= 0) {
			s->dir = dir;
			return 0;
		}
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
			return nk_fail(e, NK_E_IO, "%s: cannot stage a file there: %s", dir,
			    strerror(errno));
	}
	s->memfd = 1;
	s->fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s->fd < 0)
		return nk_fail(e, errno == ENOMEM ? NK_E_NOMEM : NK_E_IO,
		    "memfd_create: %s", strerror(errno));
	return 0;
}

/* MemAvailable from /proc/meminfo in bytes; 0 when unknown. */
static uint64_t
mem_available(void)
{
	char line[128];
	unsigned long long kib = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return (uint64_t)kib * 1024;
}

static double
mib(uint64_t b)
{
	return (double)b / (1024.0 * 1024.0);
}

/* A failed write, in the words of where the bytes were going. */
static int
append_failed(const struct stage_file *s, int err, struct nk_err *e)
{
	char mount[PATH_MAX], want[48] = "", room[48] = "free space unknown";
	uint64_t avail = 0;
	struct nk_err fe;

	if (s->want > 0)
		snprintf(want, sizeof(want), " of %llu", (unsigned long long)s->want);
	if (!s->memfd) {
		if (fileio_fs_of(s->dir, mount, sizeof(mount), &avail, &fe) != 0)
			snprintf(mount, sizeof(mount), "unknown");
		else if (avail != UINT64_MAX)
			snprintf(room, sizeof(room), "%.1f MiB free", mib(avail));
		return nk_fail(e, NK_E_IO, "writing to the output filesystem failed after "
		    "%llu%s bytes: %s (staging in %s; filesystem mounted at %s, %s): make "
		    "room there or give -o on another filesystem",
		    (unsigned long long)s->len, want, strerror(err), s->dir, mount, room);
	}
	avail = mem_available();
	return nk_fail(e, err == ENOSPC || err == ENOMEM ? NK_E_NOMEM : NK_E_IO,
	    "staging in RAM (memfd) failed after %llu%s bytes: %s; MemAvailable %.1f MiB%s",
	    (unsigned long long)s->len, want, strerror(err), mib(avail),
	    err == ENOSPC ? " (a memory limit, e.g. the cgroup's, or RAM is full)" : "");
}

int
stage_write_at(struct stage_file *s, const void *buf, size_t len, uint64_t off,
    struct nk_err *e)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = pwrite(s->fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return append_failed(s, errno, e);
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
		if (off > s->len)
			s->len = off;
	}
	return 0;
}

int
stage_append(struct stage_file *s, const void *buf, size_t len, struct nk_err *e)
{
	return stage_write_at(s, buf, len, s->len, e);
}

#define STAGE_COPY_BYTES (1024 * 1024)

int
stage_append_fd(struct stage_file *s, int fd, uint64_t len, struct nk_err *e)
{
	uint8_t *buf = malloc(STAGE_COPY_BYTES);
	uint64_t off = 0;
	ssize_t n;
	int rc = 0;

	if (buf == NULL)
		return nk_fail(e, NK_E_NOMEM, "out of memory");
	while (off < len && rc == 0) {
		n = pread(fd, buf, len - off < STAGE_COPY_BYTES ? (size_t)(len - off) :
		    STAGE_COPY_BYTES, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			rc = nk_fail(e, NK_E_IO, "copying a staged file: %s after %llu of %llu "
			    "bytes", n < 0 ? strerror(errno) : "it ends", (unsigned long long)off,
			    (unsigned long long)len);
		else if ((rc = stage_append(s, buf, (size_t)n, e)) == 0)
			off += (uint64_t)n;
	}
	free(buf);
	return rc;
}

int
stage_reset(struct stage_file *s, struct nk_err *e)
{
	if (ftruncate(s->fd, 0) != 0)
		return nk_fail(e, NK_E_IO, "staging reset: %s", strerror(errno));
	s->len = 0;
	return 0;
}

int
stage_seal(struct stage_file *s, struct nk_err *e)
{
	char path[64];
	int ro;

	if (s->memfd && fcntl(s->fd, F_ADD_SEALS, STAGE_SEALS) != 0)
		return nk_fail(e, NK_E_IO, "sealing staged file: %s", strerror(errno));
	if (!s->memfd && fdatasync(s->fd) != 0)
		return nk_fail(e, NK_E_IO, "writing back the staged file in %s: %s",
		    s->dir ? s->dir : "?", strerror(errno));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", s->fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	if (ro < 0)
		return nk_fail(e, NK_E_IO, "reopening staged file read-only (%s): %s",
		    path, strerror(errno));
	close(s->fd);
	s->fd = -1;
	s->ro_fd = ro;
	return 0;
}

int
stage_link(const struct stage_file *s, const char *path, struct nk_err *e)
{
	char proc[64];
	int fd = stage_fd(s), out, rc;

	if (s->memfd) {
		/* An output: never written through a planted symlink. */
		out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (out < 0)
			return nk_fail(e, NK_E_IO, "%s: %s", path, strerror(errno));
		if ((rc = fileio_copy_fd(fd, out, e)) != 0)
			nk_err_prefix(e, path);
		if (rc == 0 && fsync(out) != 0)
			rc = nk_fail(e, NK_E_IO, "%s: %s", path, strerror(errno));
		if (close(out) != 0 && rc == 0)
			rc = nk_fail(e, NK_E_IO, "%s: %s", path, strerror(errno));
		return rc;
	}
	if (fsync(fd) != 0)
		return nk_fail(e, NK_E_IO, "%s: fsync: %s", path, strerror(errno));
	/* The /proc form needs no CAP_DAC_READ_SEARCH, unlike AT_EMPTY_PATH. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) != 0)
		return nk_fail(e, NK_E_IO, "%s: %s", path, strerror(errno));
	return 0;
}

int
stage_fd(const struct stage_file *s)
{
	return s->ro_fd >= 0 ? s->ro_fd : s->fd;
}

void
stage_close(struct stage_file *s)
{
	if (s->fd >= 0)
		close(s->fd);
	if (s->ro_fd >= 0)
		close(s->ro_fd);
	s->fd = -1;
	s->ro_fd = -1;
	s->len = 0;
}

/* statfs f_type values whose pages are RAM or whose bytes are not on a
 * local disk (linux/magic.h, and fs/smb's and fs/fuse's own). */
static const char *
fs_unfit(long type)
{
	switch ((unsigned long)type & 0xffffffffUL) {
	case 0x01021994UL: return "tmpfs (its pages are RAM)";
	case 0x858458f6UL: return "ramfs (its pages are RAM)";
	case 0x6969UL: return "NFS (a network filesystem)";
	case 0x517b: case 0xff534d42UL: case 0xfe534d42UL:
		return "SMB/CIFS (a network filesystem)";
	case 0x00c36400UL: return "Ceph (a network filesystem)";
	case 0x5346414fUL: return "AFS (a network filesystem)";
	case 0x01021997UL: return "9p (a host or network filesystem)";
	case 0x65735546UL: return "FUSE (a user-space filesystem, perhaps remote)";
	case 0x73717368UL: return "squashfs (read-only)";
	case 0x9660UL: return "ISO 9660 (read-only)";
	default: return NULL;
	}
}

int
stage_disk_dir(const char *const *dirs, uint64_t need, char *out, size_t cap, char *why,
    size_t why_cap, struct nk_err *e)
{
	char mount[PATH_MAX];
	const char *bad;
	struct statfs sf;
	struct nk_err fe;
	uint64_t avail = 0;
	size_t used = 0;
	int fd;

	why[0] = '\0';
	for (; *dirs != NULL; dirs++) {
		bad = NULL;
		if (statfs(*dirs, &sf) != 0)
			bad = strerror(errno);
		else if ((bad = fs_unfit(sf.f_type)) == NULL &&
		    fileio_fs_of(*dirs, mount, sizeof(mount), &avail, &fe) != 0)
			bad = fe.msg;
		else if (bad == NULL && avail != UINT64_MAX && avail < need)
			bad = "not enough free space";
		if (bad == NULL) {
			/* O_EXCL: this probe can never be given a name. */
			fd = open(*dirs, O_TMPFILE | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
			if (fd < 0)
				bad = errno == EOPNOTSUPP || errno == EISDIR ?
				    "no O_TMPFILE support" : strerror(errno);
			else
				close(fd);
		}
		if (bad == NULL) {
			snprintf(out, cap, "%s", *dirs);
			return 0;
		}
		used += (size_t)snprintf(why + used, used < why_cap ? why_cap - used : 0,
		    "%s%s: %s", used ? "; " : "", *dirs, bad);
		if (used >= why_cap)
			used = why_cap - 1;
	}
	return nk_fail(e, NK_E_IO, "no local disk filesystem with %.1f MiB free to stage on (%s)",
	    mib(need), why);
}
