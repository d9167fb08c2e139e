/* preflight: what this machine allows, read before anything is fetched:
 * privileges, kexec system calls, kexec_load_disabled, lockdown, Secure
 * Boot, container and virtualisation, arch, init system, memory. Facts
 * come from /proc, /sys and EFI variables under a root prefix, so tests
 * feed fixture trees. */
#ifndef NK_PREFLIGHT_H
#define NK_PREFLIGHT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define PREFLIGHT_MEM_MARGIN_BYTES (64ULL << 20)
#define PREFLIGHT_CAP_SYS_BOOT 22

enum tri { TRI_UNKNOWN = -1, TRI_NO = 0, TRI_YES = 1 };

struct preflight {
	int root;                /* effective uid 0 */
	enum tri cap_sys_boot;   /* CapEff bit 22 */
	enum tri kexec_file;     /* kexec_file_load exists */
	char kexec_tools[PATH_MAX]; /* kexec-tools' kexec, or "" */
	char kexec_skipped[1024];   /* "PATH: why; ..." candidates passed over */
	enum tri load_disabled;  /* kernel.kexec_load_disabled */
	char lockdown[32];       /* "none", "integrity", "confidentiality", "" unknown */
	enum tri secure_boot;    /* EFI SecureBoot variable */
	char container[32];      /* "" when none found */
	char virt[96];           /* hypervisor / product name, "" unknown */
	char arch[32];
	char init[32];           /* PID 1's name */
	uint64_t mem_available;  /* bytes, 0 unknown */
	uint64_t mem_total;
	enum tri kexec_loaded;   /* /sys/kernel/kexec_loaded */
};

/* Reads every fact under root ("" for this machine). Never fails: what
 * cannot be read stays unknown. */
void preflight_gather(const char *root, struct preflight *p);

/* The first fact that rules kexec out, as a code (NK_E_PERM, NK_E_KERNEL)
 * and a sentence; 0 when nothing does. */
int preflight_verdict(const struct preflight *p, struct nk_err *e);

/* RAM needed to stage and load a bundle: 2 x (kernel + initrd) + margin
 * (the staged copy in a memfd and the kernel's own copy at load).
 * Writes the formula with the numbers into formula; NK_E_KERNEL-class
 * refusal (NK_E_KERNEL) when MemAvailable is known and too small. */
int preflight_memory(const struct preflight *p, uint64_t kernel, uint64_t initrd,
    char *formula, size_t cap, struct nk_err *e);

/* Reads a small text file under root into buf (trimmed); -1 on failure. */
int preflight_read(const char *root, const char *path, char *buf, size_t cap);

/* Finds kexec-tools' kexec next to exe_dir, then on PATH (each PATH entry
 * resolved first); "" if none. Only a candidate preflight_kexec_open
 * accepts is taken; the others, with why, go to skipped ("PATH: why; ..."). */
void preflight_find_kexec(const char *exe_dir, unsigned owner, char *out, size_t cap,
    char *skipped, size_t skipped_cap);

/* What the agent executes: opens the absolute path with O_PATH|O_NOFOLLOW
 * and returns the descriptor (O_CLOEXEC) to run with fexecve, when the
 * file is a regular executable and both it and its directory are owned by
 * root or owner (the agent's own owner) and writable by no one else
 * (group or other). -1 otherwise, with why ("not found" when absent). */
int preflight_kexec_open(const char *path, unsigned owner, char *why, size_t cap);

#endif
