/* sys: the system calls that change the machine, each in one small
 * wrapper so unit tests replace them (-Wl,--wrap=sys_...). Nothing else
 * calls kexec_file_load, reboot or sync directly. */
#ifndef NK_SYS_H
#define NK_SYS_H

#include <stddef.h>

/* kexec_file_load(2); returns 0 or -1 with errno. */
long sys_kexec_file_load(int kernel_fd, int initrd_fd, unsigned long cmdline_len,
    const char *cmdline, unsigned long flags);
/* reboot(LINUX_REBOOT_CMD_KEXEC): only returns on failure. */
int sys_reboot_kexec(void);
/* sync(2). */
void sys_sync(void);
/* Runs argv (argv[0] an absolute path) with keep_fds left open across
 * exec (-1 ends early), waits, returns its exit status, or -1 with errno
 * when it could not be started. argv[0] runs only when
 * preflight_kexec_open accepts it (EACCES otherwise), with fexecve on
 * that descriptor. */
int sys_run(char *const argv[], const int keep_fds[2]);
/* The directory holding this program (/proc/self/exe), "" if unknown. */
void sys_exe_dir(char *out, size_t cap);
/* The owner of this program's file (/proc/self/exe), 0 if unknown. */
unsigned sys_exe_owner(void);
/* The prefix under which preflight and kx read /proc and /sys: "" here;
 * the integration tests' build of the agent (tests/integration/sys_fake.c)
 * points it at a fixture tree. */
const char *sys_root(void);
/* geteuid(2). */
unsigned sys_geteuid(void);

#endif
