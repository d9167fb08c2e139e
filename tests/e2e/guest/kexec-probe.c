/*
 * kexec-probe: a test helper of the e2e harness, not product code.
 *
 * Loads and executes a kernel with the bare system calls, so the harness can
 * show that the VM side of kexec works (memory, the second initrd, its
 * console, lockdown) independently of the agent. Built static on the host by
 * tests/e2e/run.sh; output lines start with "NK-E2E kexec-probe".
 *
 *   kexec-probe unload                      kexec_load(2) with no segments
 *   kexec-probe load KERNEL INITRD CMDLINE  kexec_file_load(2), timed
 *   kexec-probe exec                        reboot(LINUX_REBOOT_CMD_KEXEC)
 *
 * Exit status: 0 done, 64 usage, 71 the kernel refused (errno printed).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kexec.h>
#include <linux/reboot.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int refused(const char *what)
{
	int e = errno;

	printf("NK-E2E kexec-probe %s: errno=%d (%s)\n", what, e, strerror(e));
	return 71;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int do_load(const char *kernel, const char *initrd, const char *cmdline)
{
	int kfd, ifd;
	double t0;
	long rc;

	kfd = open(kernel, O_RDONLY | O_CLOEXEC);
	if (kfd < 0)
		return refused("open kernel");
	ifd = open(initrd, O_RDONLY | O_CLOEXEC);
	if (ifd < 0)
		return refused("open initrd");
	t0 = now_ms();
	rc = syscall(SYS_kexec_file_load, kfd, ifd, strlen(cmdline) + 1,
		     cmdline, 0UL);
	if (rc != 0)
		return refused("kexec_file_load");
	printf("NK-E2E kexec-probe kexec_file_load: ok in %.0f ms\n",
	       now_ms() - t0);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && strcmp(argv[1], "unload") == 0) {
		if (syscall(SYS_kexec_load, 0UL, 0UL, NULL,
			    (unsigned long)KEXEC_ARCH_DEFAULT) != 0)
			return refused("kexec_load");
		printf("NK-E2E kexec-probe kexec_load: ok\n");
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "load") == 0)
		return do_load(argv[2], argv[3], argv[4]);
	if (argc == 2 && strcmp(argv[1], "exec") == 0) {
		sync();
		syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
			LINUX_REBOOT_CMD_KEXEC, NULL);
		return refused("reboot(KEXEC)");
	}
	fprintf(stderr, "usage: kexec-probe unload | load KERNEL INITRD CMDLINE | exec\n");
	return 64;
}
