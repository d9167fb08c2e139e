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

/* Where boot keeps the verified bundle until the kernel has copied it. */
enum preflight_stage { PREFLIGHT_STAGE_AUTO, PREFLIGHT_STAGE_RAM, PREFLIGHT_STAGE_DISK };

/* The measured peak drop of MemAvailable while a bundle of B bytes is
 * staged and loaded, in tenths of B (docs/bench.md, issue 22: a 2 GiB
 * guest, B = 408 MiB, kexec_file_load). RAM: the sealed memfds (B, not
 * reclaimable) plus the kernel's read buffer and the pages it boots from
 * (about 2.3 B): 3.27 B. Disk: the staged file is page cache the kernel
 * may reclaim, so only its own copies count: 2.28-2.30 B. */
#define PREFLIGHT_PEAK_RAM_TENTHS 33
#define PREFLIGHT_PEAK_DISK_TENTHS 23

/* Parses "ram", "disk" or "auto"; -1 for anything else. */
int preflight_stage_parse(const char *s, enum preflight_stage *out);
/* "ram", "disk", "auto". */
const char *preflight_stage_name(enum preflight_stage s);

/* MemAvailable that staging in mode (RAM or DISK) and loading a bundle
 * of `bundle` bytes needs: its measured peak plus the margin. */
uint64_t preflight_need(enum preflight_stage mode, uint64_t bundle);

/* Chooses where to stage a bundle of kernel + initrd bytes: want RAM or
 * DISK, or AUTO (RAM when MemAvailable covers its peak, else disk when
 * disk_dir is set and MemAvailable covers the disk peak). disk_dir is a
 * local disk directory with room (NULL: none; disk_why says why).
 * Writes both modes' formulas with their numbers and the choice into
 * formula; NK_E_KERNEL when MemAvailable is known and neither wanted mode
 * fits. Unknown MemAvailable: the wanted mode, RAM for AUTO. */
int preflight_memory(const struct preflight *p, enum preflight_stage want, uint64_t kernel,
    uint64_t initrd, const char *disk_dir, const char *disk_why,
    enum preflight_stage *chosen, char *formula, size_t cap, struct nk_err *e);

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
