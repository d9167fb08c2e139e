/* sys_fake: agent/kexec/sys.c for the integration tests' build of the agent
 * (build/tests/nixos-kexec-fakesys): boot runs to the end without touching
 * this machine's kernel. A load copies what the kernel would read into
 * $NK_FAKE_LOG.kernel and .initrd and appends one line to $NK_FAKE_LOG
 * saying what the descriptors were (memfd or a file in a directory, and
 * their access mode); preflight and kx read /proc and /sys under
 * $NK_FAKE_ROOT, a fixture tree (a faked /proc/meminfo). Never part of the
 * nixos-kexec binary. */
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAKE_UNLOAD 1 /* KEXEC_FILE_UNLOAD */

static void
copy_out(int fd, const char *suffix)
{
	char path[4096], buf[65536];
	const char *log = getenv("NK_FAKE_LOG");
	ssize_t n;
	off_t off = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s.%s", log, suffix);
	if ((f = fopen(path, "we")) == NULL)
		return;
	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		fwrite(buf, 1, (size_t)n, f);
		off += n;
	}
	fclose(f);
}

static void
describe(int fd, char *out, size_t cap)
{
	char proc[64], target[1024] = "";
	int fl = fcntl(fd, F_GETFL);
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if ((n = readlink(proc, target, sizeof(target) - 1)) > 0)
		target[n] = '\0';
	snprintf(out, cap, "%s,%s", target,
	    fl >= 0 && (fl & O_ACCMODE) == O_RDONLY ? "ro" : "rw");
}

long
sys_kexec_file_load(int kernel_fd, int initrd_fd, unsigned long cmdline_len,
    const char *cmdline, unsigned long flags)
{
	const char *log = getenv("NK_FAKE_LOG");
	char k[1100], i[1100];
	FILE *f;

	if (flags & FAKE_UNLOAD) {
		if (log != NULL && (f = fopen(log, "ae")) != NULL) {
			fputs("unload\n", f);
			fclose(f);
		}
		return 0;
	}
	if (kernel_fd < 0) { /* preflight's probe: present and allowed */
		errno = EBADF;
		return -1;
	}
	if (log == NULL || (f = fopen(log, "ae")) == NULL) {
		errno = EIO;
		return -1;
	}
	describe(kernel_fd, k, sizeof(k));
	describe(initrd_fd, i, sizeof(i));
	/* tab-separated: a memfd's link target holds spaces */
	fprintf(f, "load\tkernel=%s\tinitrd=%s\tcmdline_len=%lu\tcmdline=%s\n", k, i,
	    cmdline_len, cmdline);
	fclose(f);
	copy_out(kernel_fd, "kernel");
	copy_out(initrd_fd, "initrd");
	return 0;
}

int
sys_reboot_kexec(void)
{
	errno = EPERM;
	return -1;
}

void
sys_sync(void)
{
}

int
sys_run(char *const argv[], const int keep_fds[2])
{
	(void)argv;
	(void)keep_fds;
	errno = ENOEXEC;
	return -1;
}

void
sys_exe_dir(char *out, size_t cap)
{
	snprintf(out, cap, "%s", "");
}

const char *
sys_root(void)
{
	const char *r = getenv("NK_FAKE_ROOT");

	return r != NULL ? r : "/nonexistent-fake-root";
}

unsigned
sys_geteuid(void)
{
	return 0;
}

/* The owner the kexec ownership rule accepts besides root: root here,
 * as for an agent installed by root. */
unsigned
sys_exe_owner(void)
{
	return 0;
}
