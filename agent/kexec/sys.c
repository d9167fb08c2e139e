/* sys: thin system call wrappers (replaced in unit tests). */
#include "sys.h"

#include "preflight.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/reboot.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

long
sys_kexec_file_load(int kernel_fd, int initrd_fd, unsigned long cmdline_len,
    const char *cmdline, unsigned long flags)
{
#ifdef SYS_kexec_file_load
	return syscall(SYS_kexec_file_load, kernel_fd, initrd_fd, cmdline_len, cmdline, flags);
#else
	(void)kernel_fd; (void)initrd_fd; (void)cmdline_len; (void)cmdline; (void)flags;
	errno = ENOSYS;
	return -1;
#endif
}

int
sys_reboot_kexec(void)
{
	return reboot(LINUX_REBOOT_CMD_KEXEC);
}

void
sys_sync(void)
{
	sync();
}

void
sys_exe_dir(char *out, size_t cap)
{
	ssize_t n = readlink("/proc/self/exe", out, cap - 1);
	char *slash;

	if (n <= 0) {
		out[0] = '\0';
		return;
	}
	out[n] = '\0';
	if ((slash = strrchr(out, '/')) != NULL)
		*slash = '\0';
}

const char *
sys_root(void)
{
	return "";
}

unsigned
sys_geteuid(void)
{
	return (unsigned)geteuid();
}

unsigned
sys_exe_owner(void)
{
	struct stat st;

	return stat("/proc/self/exe", &st) == 0 ? (unsigned)st.st_uid : 0;
}

int
sys_run(char *const argv[], const int keep_fds[2])
{
	char why[128];
	pid_t pid;
	int st, i, fd;

	/* The file that runs is the one just checked: the descriptor, not
	 * the path, goes to fexecve. */
	fd = preflight_kexec_open(argv[0], sys_exe_owner(), why, sizeof(why));
	if (fd < 0) {
		errno = strcmp(why, "not found") == 0 ? ENOENT : EACCES;
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		close(fd);
		return -1;
	}
	if (pid == 0) {
		for (i = 0; i < 2; i++)
			if (keep_fds != NULL && keep_fds[i] >= 0)
				fcntl(keep_fds[i], F_SETFD, 0);
		/* Open across exec only so that a #! interpreter can read it. */
		fcntl(fd, F_SETFD, 0);
		fexecve(fd, argv, environ);
		_exit(127);
	}
	close(fd);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
