/* kx: load a verified kernel and initrd with kexec_file_load, explain
 * every refusal in words a person can act on, unload on failure, and
 * execute in one of three ways. */
#ifndef NK_KX_H
#define NK_KX_H

#include <stdint.h>

#include "err.h"
#include "kimage.h"
#include "preflight.h"

#define KX_CMDLINE_MAX_BYTES 8192

enum kx_exec {
	KX_EXEC_SYSTEMD, /* systemctl kexec: a clean shutdown first */
	KX_EXEC_DIRECT,  /* sync, then reboot(LINUX_REBOOT_CMD_KEXEC) */
	KX_EXEC_NONE,    /* leave it loaded */
};

struct kx_image {
	int kernel_fd;
	int initrd_fd;
	uint64_t kernel_size;
	uint64_t initrd_size;
	const char *cmdline;
	enum kimage_format kernel_format; /* from its first bytes; arm64's EINVAL rule */
};

/* The errno of a failed kexec_file_load as a code and a sentence. */
int kx_explain(int err, const struct preflight *p, const struct kx_image *img,
    struct nk_err *e);

#define KX_HOW_BYTES 512

/* Whether kexec_load (kexec-tools) may still work where kexec_file_load
 * failed with err for img: not under lockdown or kexec_load_disabled, and
 * only for refusals particular to the in-kernel file loader (see kx.c for
 * each; on aarch64 that includes EINVAL for a kernel that is not a raw
 * Image). */
int kx_fallback_ok(int err, const struct preflight *p, const struct kx_image *img);

/* What boot will do about kexec_load, in one sentence for `check`: not
 * available (and why), used for every boot (no kexec_file_load, as on
 * Debian's arm64 kernels), or a fallback for images kexec_file_load
 * refuses. */
const char *kx_fallback_plan(const struct preflight *p);

/* Loads img. kexec_file_load first; where it fails with an errno that
 * kx_fallback_ok accepts, kexec-tools' kexec (p->kexec_tools) with the
 * same memfds and command line. how says which system call loaded it and
 * why. On any failure after a load, unloads. Confirms
 * /sys/kernel/kexec_loaded (under root) reads 1. */
int kx_load(const struct kx_image *img, const struct preflight *p, const char *root,
    char how[KX_HOW_BYTES], struct nk_err *e);

/* Unloads whatever is loaded (best effort). */
void kx_unload(const struct preflight *p);

/* The default mode: systemd when PID 1 is systemd, else direct. */
enum kx_exec kx_default_exec(const struct preflight *p);

/* Parses "systemd", "direct" or "none"; -1 otherwise. */
int kx_exec_parse(const char *s, enum kx_exec *out);

/* Executes the loaded kernel. Returns only on failure (or for NONE, 0). */
int kx_exec(enum kx_exec mode, struct nk_err *e);

#endif
