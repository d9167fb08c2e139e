/* kx: kexec load, explain, unload, execute. */
#include "kx.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/kexec.h>

#include "sys.h"

#ifndef KEXEC_FILE_UNLOAD
#define KEXEC_FILE_UNLOAD 0x00000001
#endif

#define KX_SYSTEMCTL_PATHS { "/run/current-system/sw/bin/systemctl", "/usr/bin/systemctl", \
	"/bin/systemctl", "/usr/sbin/systemctl", NULL }

/* arm64's in-kernel loader (image_probe in arch/arm64/kernel/kexec_image.c)
 * returns EINVAL, not ENOEXEC, for anything without the raw Image magic:
 * there EINVAL is a format refusal, not the half-of-RAM or command line
 * limit it means elsewhere. */
static int
arm64_format_einval(int err, const struct preflight *p, const struct kx_image *img)
{
	return err == EINVAL && strcmp(p->arch, "aarch64") == 0 &&
	    img->kernel_format != KIMAGE_ARM64;
}

static double
mib(uint64_t n)
{
	return (double)n / (1 << 20);
}

int
kx_explain(int err, const struct preflight *p, const struct kx_image *img,
    struct nk_err *e)
{
	switch (err) {
	case EPERM:
		if (!p->root)
			return nk_fail(e, NK_E_PERM, "kexec_file_load: EPERM: not root");
		if (p->load_disabled == TRI_YES)
			return nk_fail(e, NK_E_PERM, "kexec_file_load: EPERM: kexec is disabled "
			    "until reboot (kernel.kexec_load_disabled = 1)");
		if (p->lockdown[0] && strcmp(p->lockdown, "none") != 0)
			return nk_fail(e, NK_E_PERM, "kexec_file_load: EPERM: kernel lockdown (%s) "
			    "forbids loading an unsigned kernel; turn Secure Boot or lockdown off",
			    p->lockdown);
		return nk_fail(e, NK_E_PERM, "kexec_file_load: EPERM: not permitted (no "
		    "CAP_SYS_BOOT, a security module, or kexec disabled)");
	case EKEYREJECTED:
	case ENOKEY:
	case EKEYEXPIRED:
	case EKEYREVOKED:
	case EBADMSG:
	case ENODATA:
		return nk_fail(e, NK_E_KERNEL, "kexec_file_load: %s: this kernel only accepts "
		    "signed kernel images (KEXEC_SIG_FORCE or Secure Boot lockdown), and NixOS "
		    "kernels are unsigned; turn Secure Boot off in the firmware", strerror(err));
	case EOPNOTSUPP:
		return nk_fail(e, NK_E_KERNEL, "kexec_file_load: EOPNOTSUPP: this kernel's "
		    "in-kernel loader does not support this image type");
	case ENOEXEC:
		return nk_fail(e, NK_E_KERNEL, "kexec_file_load: ENOEXEC: the kernel image is "
		    "not a format this kernel can load (built for another arch, or not a "
		    "bzImage / arm64 Image)");
	case EADDRNOTAVAIL:
	case ENOMEM:
		return nk_fail(e, NK_E_KERNEL, "kexec_file_load: %s: no memory hole for the "
		    "new kernel: kernel %.1f MiB + initrd %.1f MiB, MemTotal %.1f MiB, "
		    "MemAvailable %.1f MiB (the kernel refuses segments over half of RAM)",
		    err == ENOMEM ? "ENOMEM" : "EADDRNOTAVAIL", mib(img->kernel_size),
		    mib(img->initrd_size), mib(p->mem_total), mib(p->mem_available));
	case EBUSY:
		return nk_fail(e, NK_E_KERNEL, "kexec_file_load: EBUSY: another kexec load "
		    "or crash kernel operation is in progress; try again");
	case EINVAL:
		if (arm64_format_einval(err, p, img))
			return nk_fail(e, NK_E_KERNEL, "kexec_file_load: EINVAL: arm64 loads only "
			    "an uncompressed Image (\"ARM\\x64\" at 0x38), and this kernel is %s "
			    "%s; make the bundle with 'nixos-kexec bundle --arch aarch64', which "
			    "unpacks Image.gz and EFI zboot images", img->kernel_format ==
			    KIMAGE_UNKNOWN ? "an" : "a", kimage_name(img->kernel_format));
		return nk_fail(e, NK_E_KERNEL, "kexec_file_load: EINVAL: the kernel refused the "
		    "arguments: either the images need more than half of RAM (kernel %.1f MiB + "
		    "initrd %.1f MiB, MemTotal %.1f MiB) or the command line of %zu bytes is "
		    "too long for this kernel", mib(img->kernel_size), mib(img->initrd_size),
		    mib(p->mem_total), strlen(img->cmdline));
	default:
		return nk_fail(e, NK_E_KERNEL, "kexec_file_load: %s", strerror(err));
	}
}

static int
kexec_loaded(const char *root)
{
	char b[8];

	return preflight_read(root, "/sys/kernel/kexec_loaded", b, sizeof(b)) == 0 &&
	    b[0] == '1';
}

/* The errnos kx_fallback_ok takes, by name, for the operator's log. */
static const char *
errno_name(int err)
{
	switch (err) {
	case ENOSYS: return "ENOSYS";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EKEYREJECTED: return "EKEYREJECTED";
	case ENOKEY: return "ENOKEY";
	case EKEYEXPIRED: return "EKEYEXPIRED";
	case EKEYREVOKED: return "EKEYREVOKED";
	case EBADMSG: return "EBADMSG";
	case ENODATA: return "ENODATA";
	case ENOEXEC: return "ENOEXEC";
	case EINVAL: return "EINVAL";
	case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
	default: return "an error";
	}
}

int
kx_fallback_ok(int err, const struct preflight *p, const struct kx_image *img)
{
	/* Lockdown forbids kexec_load as much as an unsigned kexec_file_load,
	 * and kexec_load_disabled stops both: nothing to fall back to. */
	if (p->load_disabled == TRI_YES ||
	    (p->lockdown[0] && strcmp(p->lockdown, "none") != 0))
		return 0;
	if (arm64_format_einval(err, p, img))
		return 1; /* kexec-tools reads the formats it knows in user space */
	switch (err) {
	case ENOSYS:       /* no kexec_file_load in this kernel or arch */
	case EOPNOTSUPP:   /* not for this image type on this arch */
	case EKEYREJECTED: /* KEXEC_SIG(_FORCE) or a distribution patch wants */
	case ENOKEY:       /* a signed image (CentOS 7, older arm64 Ubuntu); */
	case EKEYEXPIRED:  /* kexec_load checks no signature, and without */
	case EKEYREVOKED:  /* lockdown (checked above) the kernel allows it */
	case EBADMSG:
	case ENODATA:      /* no signature found where one was demanded */
	case ENOEXEC:      /* the in-kernel loader lacks this format (x86's
	                    * bzImage64 probe for a non-bzImage; arm64 says
	                    * EINVAL instead, above): kexec-tools parses
	                    * more formats in user space */
	case EADDRNOTAVAIL:/* the in-kernel placement found no hole; kexec-tools
	                    * places the segments itself */
		return 1;
	default:           /* EPERM, EBUSY, EINVAL (half of RAM, command line
	                    * length; arm64's format EINVAL is above), ENOMEM:
	                    * kexec_load hits the same wall */
		return 0;
	}
}

const char *
kx_fallback_plan(const struct preflight *p)
{
	static const struct kx_image any = { -1, -1, 0, 0, "", KIMAGE_UNKNOWN };
	int arm64 = strcmp(p->arch, "aarch64") == 0;

	if (!p->kexec_tools[0])
		return "not available (no kexec-tools 'kexec' next to the agent or on PATH)";
	/* EKEYREJECTED falls back unless lockdown or kexec_load_disabled. */
	if (!kx_fallback_ok(EKEYREJECTED, p, &any))
		return "not available (lockdown or kexec_load_disabled forbid kexec_load too)";
	if (p->kexec_file == TRI_NO)
		return arm64 ? "used for every boot: this arm64 kernel has no kexec_file_load "
		    "(built without CONFIG_KEXEC_FILE, as Debian's are), so kexec-tools loads "
		    "with kexec_load" : "used for every boot: this kernel has no "
		    "kexec_file_load, so kexec-tools loads with kexec_load";
	return arm64 ? "available: kexec-tools, when kexec_file_load refuses the image "
	    "(on arm64 it takes only an uncompressed Image)" : "available: kexec-tools, "
	    "when kexec_file_load refuses the image";
}

/* kexec-tools' `kexec -l` (the kexec_load system call), reading the same
 * sealed memfds through /proc/self/fd with the same command line. */
static int
load_with_tools(const struct kx_image *img, const struct preflight *p, int file_err,
    char how[KX_HOW_BYTES], struct nk_err *e)
{
	char kpath[40], ipath[48], cmd[KX_CMDLINE_MAX_BYTES + 32];
	/* -c: kexec_load itself, never kexec-tools' own try of kexec_file_load,
	 * which has just refused this image. */
	char *argv[] = { (char *)p->kexec_tools, "-l", kpath, ipath, cmd, "-c", NULL };
	int keep[2] = { img->kernel_fd, img->initrd_fd }, st, rc;

	if (p->kexec_tools[0] == '\0') {
		if (file_err == ENOSYS)
			return nk_fail(e, NK_E_KERNEL, "kexec_file_load: ENOSYS: not in this "
			    "kernel, and no kexec-tools 'kexec' next to the agent or on PATH "
			    "to fall back to");
		rc = kx_explain(file_err, p, img, e);
		return nk_fail(e, rc, "%s; no kexec-tools 'kexec' next to the agent or on "
		    "PATH to fall back to kexec_load", e->msg);
	}
	snprintf(kpath, sizeof(kpath), "/proc/self/fd/%d", img->kernel_fd);
	snprintf(ipath, sizeof(ipath), "--initrd=/proc/self/fd/%d", img->initrd_fd);
	snprintf(cmd, sizeof(cmd), "--command-line=%s", img->cmdline);
	st = sys_run(argv, keep);
	if (st != 0) {
		int run_err = errno;

		rc = kx_explain(file_err, p, img, e);
		if (st < 0)
			return nk_fail(e, rc, "%s; the fallback %s: %s%s", e->msg, p->kexec_tools,
			    strerror(run_err), run_err == EACCES ? " (it no longer passes the "
			    "ownership check: see 'nixos-kexec check')" : "");
		return nk_fail(e, rc, "%s; the fallback '%s -l' (kexec_load) failed too "
		    "(exit %d)", e->msg, p->kexec_tools, st);
	}
	snprintf(how, KX_HOW_BYTES, "loaded with kexec_load by %s, because kexec_file_load "
	    "said %s (%s)", p->kexec_tools, errno_name(file_err), strerror(file_err));
	return 0;
}

void
kx_unload(const struct preflight *p)
{
	char *argv[] = { (char *)p->kexec_tools, "-u", NULL };

	/* KEXEC_FILE_UNLOAD frees the image however it was loaded; where the
	 * call itself is missing or refused, kexec-tools unloads instead. */
	if (sys_kexec_file_load(-1, -1, 0, NULL, KEXEC_FILE_UNLOAD) != 0 && p->kexec_tools[0])
		(void)sys_run(argv, NULL);
}

int
kx_load(const struct kx_image *img, const struct preflight *p, const char *root,
    char how[KX_HOW_BYTES], struct nk_err *e)
{
	size_t len = strlen(img->cmdline) + 1; /* the kernel wants the NUL counted */
	int rc = 0, err;

	snprintf(how, KX_HOW_BYTES, "loaded with kexec_file_load");
	if (sys_kexec_file_load(img->kernel_fd, img->initrd_fd, len, img->cmdline, 0) != 0) {
		err = errno;
		rc = kx_fallback_ok(err, p, img) ? load_with_tools(img, p, err, how, e) :
		    kx_explain(err, p, img, e);
	}
	if (rc != 0) {
		kx_unload(p);
		return rc;
	}
	if (!kexec_loaded(root)) {
		kx_unload(p);
		return nk_fail(e, NK_E_KERNEL, "the load returned success but "
		    "/sys/kernel/kexec_loaded does not read 1; unloaded");
	}
	return 0;
}

enum kx_exec
kx_default_exec(const struct preflight *p)
{
	return strcmp(p->init, "systemd") == 0 ? KX_EXEC_SYSTEMD : KX_EXEC_DIRECT;
}

int
kx_exec_parse(const char *s, enum kx_exec *out)
{
	if (strcmp(s, "systemd") == 0)
		*out = KX_EXEC_SYSTEMD;
	else if (strcmp(s, "direct") == 0)
		*out = KX_EXEC_DIRECT;
	else if (strcmp(s, "none") == 0)
		*out = KX_EXEC_NONE;
	else
		return -1;
	return 0;
}

static int
exec_systemd(struct nk_err *e)
{
	const char *paths[] = KX_SYSTEMCTL_PATHS;
	char real[PATH_MAX], *argv[] = { real, "kexec", NULL };
	size_t i;
	int st;

	/* Resolved first: sys_run runs no symbolic link (NixOS's systemctl
	 * is one into the store). */
	for (i = 0; paths[i] != NULL; i++)
		if (access(paths[i], X_OK) == 0 && realpath(paths[i], real) != NULL)
			break;
	if (paths[i] == NULL)
		return nk_fail(e, NK_E_KERNEL, "--exec systemd: systemctl not found; "
		    "use --exec direct");
	st = sys_run(argv, NULL);
	if (st != 0)
		return nk_fail(e, NK_E_KERNEL, "systemctl kexec failed (exit %d); the image "
		    "stays loaded: 'systemctl kexec' or --exec direct", st);
	return 0;
}

int
kx_exec(enum kx_exec mode, struct nk_err *e)
{
	switch (mode) {
	case KX_EXEC_NONE:
		return 0;
	case KX_EXEC_SYSTEMD:
		return exec_systemd(e);
	case KX_EXEC_DIRECT:
		sys_sync();
		sys_reboot_kexec();
		return nk_fail(e, errno == EPERM ? NK_E_PERM : NK_E_KERNEL,
		    "reboot(LINUX_REBOOT_CMD_KEXEC): %s", strerror(errno));
	}
	return nk_fail(e, NK_E_INTERNAL, "unknown exec mode");
}
