/*
 * refuse-file-load: a test helper of the e2e harness, not product code.
 *
 * Runs a program under a seccomp filter that makes every kexec_file_load(2)
 * fail with EKEYREJECTED, the way CentOS 7 and older arm64 Ubuntu kernels
 * answer an unsigned image, while kexec_load(2) and everything else pass.
 * The filter is inherited by children, so the agent's kexec-tools fallback
 * runs under it too (and must use kexec_load). Built static on the host by
 * tests/e2e/run.sh.
 *
 *   refuse-file-load PROGRAM [ARG...]
 *
 * Exit status: PROGRAM's, or 70 if the filter cannot be installed.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "refuse-file-load: x86_64 or aarch64"
#endif

int
main(int argc, char **argv)
{
	struct sock_filter f[] = {
		/* Another arch's calling convention: refuse outright. */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_kexec_file_load, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EKEYREJECTED & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (argc < 2) {
		fprintf(stderr, "usage: refuse-file-load PROGRAM [ARG...]\n");
		return 64;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
		printf("NK-E2E FAIL refuse-file-load: seccomp: %s\n", strerror(errno));
		return 70;
	}
	printf("NK-E2E refuse-file-load: kexec_file_load now fails with EKEYREJECTED\n");
	fflush(stdout);
	execv(argv[1], argv + 1);
	printf("NK-E2E FAIL refuse-file-load: exec %s: %s\n", argv[1], strerror(errno));
	return 70;
}
