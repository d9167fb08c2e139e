/* Unit tests for agent/kexec/kx.c and agent/kexec/preflight.c: every errno explained,
 * each exec mode, the kexec-tools fallback only where kexec_load can work, unload after
 * any failure, and preflight facts read from fixture trees. The system
 * calls (agent/kexec/sys.c) are wrapped: nothing here touches the host kernel. */
#include <errno.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "kx.h"
#include "lock.h"
#include "nktest.h"
#include "preflight.h"
#include "sys.h"

/* --- wrapped system calls ------------------------------------------------ */
static int load_errno;          /* errno for a load (0: success) */
static int load_calls, unload_calls, reboot_calls, sync_calls, run_calls;
static int run_status;          /* what sys_run returns */
static char run_argv0[256], run_argv1[256], run_argv4[512], run_argv5[64];
static unsigned euid;

long
__wrap_sys_kexec_file_load(int kfd, int ifd, unsigned long len, const char *cmd,
    unsigned long flags)
{
	if (flags & 1) { /* KEXEC_FILE_UNLOAD */
		unload_calls++;
		return 0;
	}
	if (kfd < 0) { /* the preflight probe */
		errno = load_errno == ENOSYS ? ENOSYS : EBADF;
		return -1;
	}
	load_calls++;
	assert_int_equal(len, strlen(cmd) + 1);
	if (load_errno) {
		errno = load_errno;
		return -1;
	}
	(void)ifd;
	return 0;
}

int
__wrap_sys_reboot_kexec(void)
{
	reboot_calls++;
	errno = EINVAL;
	return -1;
}

void
__wrap_sys_sync(void)
{
	sync_calls++;
}

int
__wrap_sys_run(char *const argv[], const int keep[2])
{
	run_calls++;
	snprintf(run_argv0, sizeof(run_argv0), "%s", argv[0]);
	snprintf(run_argv1, sizeof(run_argv1), "%s", argv[1] ? argv[1] : "");
	snprintf(run_argv4, sizeof(run_argv4), "%s", argv[1] && argv[2] && argv[3] && argv[4] ? argv[4] : "");
	snprintf(run_argv5, sizeof(run_argv5), "%s", run_argv4[0] && argv[5] ? argv[5] : "");
	(void)keep;
	return run_status;
}

unsigned
__wrap_sys_geteuid(void)
{
	return euid;
}

/* --- fixtures ------------------------------------------------------------ */
static char root[256];
static char saved_path[4096];

static void
put(const char *path, const char *text)
{
	char dir[512], *slash;

	snprintf(dir, sizeof(dir), "%s%s", root, path);
	for (slash = dir + strlen(root) + 1; (slash = strchr(slash, '/')) != NULL; slash++) {
		*slash = '\0';
		mkdir(dir, 0755);
		*slash = '/';
	}
	slash = strrchr(dir, '/');
	*slash = '\0';
	nkt_write(dir, slash + 1, text, strlen(text));
}

static int
setup(void **st)
{
	(void)st;
	nkt_tmpdir(root);
	load_errno = 0;
	load_calls = unload_calls = reboot_calls = sync_calls = run_calls = 0;
	run_status = 0;
	euid = 0;
	put("/proc/meminfo", "MemTotal:        1024000 kB\nMemAvailable:     512000 kB\n");
	put("/proc/sys/kernel/kexec_load_disabled", "0\n");
	put("/sys/kernel/kexec_loaded", "1\n");
	put("/sys/kernel/security/lockdown", "[none] integrity confidentiality\n");
	put("/proc/1/comm", "systemd\n");
	put("/proc/self/status", "Name:\tx\nCapEff:\t000001ffffffffff\n");
	return 0;
}

static int
teardown(void **st)
{
	(void)st;
	setenv("PATH", saved_path, 1);
	nkt_rmtree(root);
	return 0;
}

static struct kx_image img = { 3, 4, 11534336, 402653184, "init=/x console=ttyS0",
	KIMAGE_UNKNOWN };

/* The arch is pinned so the arm64 rules are tested the same on any host. */
static void
gather(struct preflight *p)
{
	preflight_gather(root, p);
	snprintf(p->arch, sizeof(p->arch), "x86_64");
}

#define ARM64(p) snprintf((p).arch, sizeof((p).arch), "aarch64")

/* --- preflight ----------------------------------------------------------- */
static void
t_preflight_ok(void **st)
{
	struct preflight p;
	struct nk_err e;

	(void)st;
	gather(&p);
	assert_true(p.root);
	assert_int_equal(p.cap_sys_boot, TRI_YES);
	assert_int_equal(p.kexec_file, TRI_YES);
	assert_int_equal(p.load_disabled, TRI_NO);
	assert_string_equal(p.lockdown, "none");
	assert_string_equal(p.init, "systemd");
	assert_int_equal(p.mem_available, 512000ULL * 1024);
	assert_int_equal(p.mem_total, 1024000ULL * 1024);
	assert_int_equal(p.secure_boot, TRI_UNKNOWN);
	assert_int_equal(preflight_verdict(&p, &e), 0);
}

#define VERDICT(name, code, needle, body) \
	static void name(void **st) { struct preflight p; struct nk_err e = { "" }; (void)st; \
		body; gather(&p); assert_int_equal(preflight_verdict(&p, &e), code); \
		assert_non_null(strstr(e.msg, needle)); }
VERDICT(t_not_root, NK_E_PERM, "not root", euid = 1000)
VERDICT(t_no_cap, NK_E_PERM, "CAP_SYS_BOOT", put("/proc/self/status", "Name:\tx\nCapEff:\t0000000000000000\n"))
VERDICT(t_disabled, NK_E_PERM, "kexec_load_disabled = 1", put("/proc/sys/kernel/kexec_load_disabled", "1\n"))
VERDICT(t_lockdown_integrity, NK_E_PERM, "lockdown is in integrity mode", put("/sys/kernel/security/lockdown", "none [integrity] confidentiality\n"))
VERDICT(t_lockdown_conf, NK_E_PERM, "confidentiality", put("/sys/kernel/security/lockdown", "none integrity [confidentiality]\n"))
VERDICT(t_container_systemd, NK_E_PERM, "container (lxc)", put("/run/systemd/container", "lxc\n"))
VERDICT(t_container_docker, NK_E_PERM, "container (docker)", put("/.dockerenv", ""))
VERDICT(t_no_kexec_at_all, NK_E_KERNEL, "no kexec_file_load", load_errno = ENOSYS; setenv("PATH", "/nonexistent", 1))

static void
t_secure_boot_var(void **st)
{
	struct preflight p;
	char full[512];
	const unsigned char on[5] = { 6, 0, 0, 0, 1 };

	(void)st;
	put("/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-e98c3a4a5bc8", "");
	snprintf(full, sizeof(full), "%s/sys/firmware/efi/efivars", root);
	nkt_write(full, "SecureBoot-8be4df61-93ca-11d2-aa0d-e98c3a4a5bc8", on, 5);
	gather(&p);
	assert_int_equal(p.secure_boot, TRI_YES);
}

/* MemAvailable is 500 MiB in the fixture. */
#define STAGE_CASE(name, want, kib, iib, dir, rc, chose, needle) \
	static void name(void **st) { struct preflight p; struct nk_err e = { "" }; \
		enum preflight_stage c; char f[NK_ERR_MAX]; (void)st; gather(&p); \
		assert_int_equal(preflight_memory(&p, want, (uint64_t)(kib) << 20, \
		    (uint64_t)(iib) << 20, dir, "/var/tmp: tmpfs (its pages are RAM)", &c, f, \
		    sizeof(f), &e), rc); \
		if ((rc) == 0) assert_int_equal(c, chose); \
		assert_non_null(strstr((rc) ? e.msg : f, needle)); }

/* 3.3 x 110 + 64 = 427 MiB fits 500: RAM, with both formulas shown */
STAGE_CASE(t_memory_auto_ram, PREFLIGHT_STAGE_AUTO, 10, 100, "/d", 0, PREFLIGHT_STAGE_RAM,
    "bundle B = kernel 10.0 MiB + initrd 100.0 MiB = 110.0 MiB; RAM staging peaks at 3.3 x B "
    "+ 64.0 MiB margin = 427.0 MiB, disk staging at 2.3 x B + 64.0 MiB = 317.0 MiB; "
    "MemAvailable 500.0 MiB: staging in RAM (--stage auto); disk staging in /d")
/* 3.3 x 150 + 64 = 559 > 500, 2.3 x 150 + 64 = 409 fits: disk */
STAGE_CASE(t_memory_auto_disk, PREFLIGHT_STAGE_AUTO, 10, 140, "/d", 0, PREFLIGHT_STAGE_DISK,
    "= 559.0 MiB, disk staging at 2.3 x B + 64.0 MiB = 409.0 MiB; MemAvailable 500.0 MiB: "
    "staging on disk")
/* the same without a disk to stage on: refused, saying why */
STAGE_CASE(t_memory_auto_no_disk, PREFLIGHT_STAGE_AUTO, 10, 140, NULL, NK_E_KERNEL, 0,
    "neither fits (--stage auto); disk staging not possible: /var/tmp: tmpfs")
/* 2.3 x 200 + 64 = 524 > 500: not even on disk (the old 2 B + 64 = 464 passed here) */
STAGE_CASE(t_memory_auto_too_big, PREFLIGHT_STAGE_AUTO, 10, 190, "/d", NK_E_KERNEL, 0,
    "not enough memory to stage and load this bundle")
STAGE_CASE(t_memory_ram_forced_refused, PREFLIGHT_STAGE_RAM, 10, 140, "/d", NK_E_KERNEL, 0,
    "neither fits (--stage ram)")
STAGE_CASE(t_memory_disk_forced, PREFLIGHT_STAGE_DISK, 10, 100, "/d", 0, PREFLIGHT_STAGE_DISK,
    "staging on disk (--stage disk)")
STAGE_CASE(t_memory_disk_forced_no_dir, PREFLIGHT_STAGE_DISK, 10, 100, NULL, NK_E_KERNEL, 0,
    "disk staging not possible")

static void
t_memory_unknown_available(void **st)
{
	struct preflight p;
	struct nk_err e = { "" };
	enum preflight_stage c;
	char f[NK_ERR_MAX];

	(void)st;
	gather(&p);
	p.mem_available = 0;
	assert_int_equal(preflight_memory(&p, PREFLIGHT_STAGE_AUTO, 10 << 20, 4000ULL << 20, NULL,
	    "x", &c, f, sizeof(f), &e), 0);
	assert_int_equal(c, PREFLIGHT_STAGE_RAM);
	assert_non_null(strstr(f, "MemAvailable unknown"));
}

static void
t_stage_parse(void **st)
{
	enum preflight_stage s;

	(void)st;
	assert_int_equal(preflight_stage_parse("disk", &s), 0);
	assert_int_equal(s, PREFLIGHT_STAGE_DISK);
	assert_int_equal(preflight_stage_parse("ram", &s), 0);
	assert_int_equal(s, PREFLIGHT_STAGE_RAM);
	assert_int_equal(preflight_stage_parse("auto", &s), 0);
	assert_int_equal(s, PREFLIGHT_STAGE_AUTO);
	assert_int_equal(preflight_stage_parse("Disk", &s), -1);
	assert_int_equal(preflight_stage_parse("", &s), -1);
}

/* --- kx_explain: one line per errno -------------------------------------- */
#define EXPLAIN(name, err, code, needle, body) \
	static void name(void **st) { struct preflight p; struct nk_err e = { "" }; (void)st; \
		gather(&p); body; assert_int_equal(kx_explain(err, &p, &img, &e), code); \
		if (!strstr(e.msg, needle)) fail_msg("'%s' lacks '%s'", e.msg, needle); }
EXPLAIN(t_eperm_root, EPERM, NK_E_PERM, "not root", p.root = 0)
EXPLAIN(t_eperm_disabled, EPERM, NK_E_PERM, "kexec_load_disabled", p.load_disabled = TRI_YES)
EXPLAIN(t_eperm_lockdown, EPERM, NK_E_PERM, "lockdown (integrity)", snprintf(p.lockdown, sizeof(p.lockdown), "integrity"))
EXPLAIN(t_eperm_other, EPERM, NK_E_PERM, "CAP_SYS_BOOT", (void)0)
EXPLAIN(t_ekeyrejected, EKEYREJECTED, NK_E_KERNEL, "only accepts signed kernel images", (void)0)
EXPLAIN(t_enokey, ENOKEY, NK_E_KERNEL, "NixOS kernels are unsigned", (void)0)
EXPLAIN(t_ebadmsg, EBADMSG, NK_E_KERNEL, "signed", (void)0)
EXPLAIN(t_enoexec, ENOEXEC, NK_E_KERNEL, "not a format this kernel can load", (void)0)
EXPLAIN(t_eaddrnotavail, EADDRNOTAVAIL, NK_E_KERNEL, "kernel 11.0 MiB + initrd 384.0 MiB, MemTotal 1000.0 MiB", (void)0)
EXPLAIN(t_enomem, ENOMEM, NK_E_KERNEL, "no memory hole", (void)0)
EXPLAIN(t_ebusy, EBUSY, NK_E_KERNEL, "in progress", (void)0)
EXPLAIN(t_einval, EINVAL, NK_E_KERNEL, "more than half of RAM (kernel 11.0 MiB + initrd 384.0 MiB, MemTotal 1000.0 MiB) or the command line of 21 bytes", (void)0)
EXPLAIN(t_eio, EIO, NK_E_KERNEL, "Input/output error", (void)0)

/* --- kx_load --------------------------------------------------------------- */
static void
t_load_ok(void **st)
{
	struct preflight p;
	struct nk_err e = { "" };
	char how[KX_HOW_BYTES];

	(void)st;
	gather(&p);
	assert_int_equal(kx_load(&img, &p, root, how, &e), 0);
	assert_int_equal(load_calls, 1);
	assert_int_equal(unload_calls, 0);
	assert_int_equal(run_calls, 0);
}

static void
t_load_refused_unloads(void **st)
{
	struct preflight p;
	struct nk_err e = { "" };
	char how[KX_HOW_BYTES];

	(void)st;
	gather(&p);
	load_errno = EINVAL;
	snprintf(p.kexec_tools, sizeof(p.kexec_tools), "/opt/x/kexec");
	assert_int_equal(kx_load(&img, &p, root, how, &e), NK_E_KERNEL);
	assert_int_equal(unload_calls, 1);
	assert_int_equal(run_calls, 0); /* kexec_load would hit the same limit */
}

static void
t_load_not_confirmed(void **st)
{
	struct preflight p;
	struct nk_err e = { "" };
	char how[KX_HOW_BYTES];

	(void)st;
	gather(&p);
	put("/sys/kernel/kexec_loaded", "0\n");
	assert_int_equal(kx_load(&img, &p, root, how, &e), NK_E_KERNEL);
	assert_non_null(strstr(e.msg, "kexec_loaded"));
	assert_int_equal(unload_calls, 1);
}

static void
t_load_enosys_fallback(void **st)
{
	struct preflight p;
	struct nk_err e = { "" };
	char how[KX_HOW_BYTES];

	(void)st;
	gather(&p);
	load_errno = ENOSYS;
	snprintf(p.kexec_tools, sizeof(p.kexec_tools), "/opt/x/kexec");
	assert_int_equal(kx_load(&img, &p, root, how, &e), 0);
	assert_int_equal(run_calls, 1);
	assert_string_equal(run_argv0, "/opt/x/kexec");
	assert_string_equal(run_argv1, "-l");
	assert_string_equal(run_argv4, "--command-line=init=/x console=ttyS0");
}

static void
t_load_enosys_fallback_fails(void **st)
{
	struct preflight p;
	struct nk_err e = { "" };
	char how[KX_HOW_BYTES];

	(void)st;
	gather(&p);
	load_errno = ENOSYS;
	run_status = 1;
	snprintf(p.kexec_tools, sizeof(p.kexec_tools), "/opt/x/kexec");
	assert_int_equal(kx_load(&img, &p, root, how, &e), NK_E_KERNEL);
	assert_non_null(strstr(e.msg, "fallback"));
}

static void
t_load_enosys_no_tools(void **st)
{
	struct preflight p;
	struct nk_err e = { "" };
	char how[KX_HOW_BYTES];

	(void)st;
	gather(&p);
	load_errno = ENOSYS;
	p.kexec_tools[0] = '\0';
	assert_int_equal(kx_load(&img, &p, root, how, &e), NK_E_KERNEL);
	assert_non_null(strstr(e.msg, "ENOSYS"));
	assert_int_equal(run_calls, 0);
}

/* kexec_file_load refusals that kexec_load does not share fall back; the
 * others, lockdown and kexec_load_disabled never do. */
#define FALLBACK(name, err, want, body) \
	static void name(void **st) { struct preflight p; (void)st; gather(&p); body; \
		assert_int_equal(kx_fallback_ok(err, &p, &img), want); }
FALLBACK(t_fb_enosys, ENOSYS, 1, (void)0)
FALLBACK(t_fb_eopnotsupp, EOPNOTSUPP, 1, (void)0)
FALLBACK(t_fb_ekeyrejected, EKEYREJECTED, 1, (void)0)
FALLBACK(t_fb_enokey, ENOKEY, 1, (void)0)
FALLBACK(t_fb_ekeyexpired, EKEYEXPIRED, 1, (void)0)
FALLBACK(t_fb_ekeyrevoked, EKEYREVOKED, 1, (void)0)
FALLBACK(t_fb_ebadmsg, EBADMSG, 1, (void)0)
FALLBACK(t_fb_enodata, ENODATA, 1, (void)0)
FALLBACK(t_fb_enoexec, ENOEXEC, 1, (void)0)
FALLBACK(t_fb_eaddrnotavail, EADDRNOTAVAIL, 1, (void)0)
FALLBACK(t_fb_eperm, EPERM, 0, (void)0)
FALLBACK(t_fb_ebusy, EBUSY, 0, (void)0)
FALLBACK(t_fb_einval, EINVAL, 0, (void)0)
FALLBACK(t_fb_enomem, ENOMEM, 0, (void)0)
FALLBACK(t_fb_eio, EIO, 0, (void)0)
FALLBACK(t_fb_lockdown, EKEYREJECTED, 0, snprintf(p.lockdown, sizeof(p.lockdown), "integrity"))
FALLBACK(t_fb_lockdown_enosys, ENOSYS, 0, snprintf(p.lockdown, sizeof(p.lockdown), "confidentiality"))
FALLBACK(t_fb_disabled, EKEYREJECTED, 0, p.load_disabled = TRI_YES)

/* arm64's image_probe says EINVAL, not ENOEXEC, for anything but a raw
 * Image: there (and only there, and only then) EINVAL falls back. */
#define FALLBACK_ARM64(name, err, fmt, want, body) \
	static void name(void **st) { struct preflight p; struct kx_image i = img; (void)st; \
		gather(&p); ARM64(p); i.kernel_format = fmt; body; \
		assert_int_equal(kx_fallback_ok(err, &p, &i), want); }
FALLBACK_ARM64(t_fb_arm64_einval_gzip, EINVAL, KIMAGE_GZIP, 1, (void)0)
FALLBACK_ARM64(t_fb_arm64_einval_zboot, EINVAL, KIMAGE_ZBOOT, 1, (void)0)
FALLBACK_ARM64(t_fb_arm64_einval_unknown, EINVAL, KIMAGE_UNKNOWN, 1, (void)0)
FALLBACK_ARM64(t_fb_arm64_einval_raw, EINVAL, KIMAGE_ARM64, 0, (void)0)
FALLBACK_ARM64(t_fb_arm64_einval_lockdown, EINVAL, KIMAGE_GZIP, 0, snprintf(p.lockdown, sizeof(p.lockdown), "integrity"))
FALLBACK_ARM64(t_fb_arm64_einval_disabled, EINVAL, KIMAGE_GZIP, 0, p.load_disabled = TRI_YES)
FALLBACK_ARM64(t_fb_arm64_ebusy, EBUSY, KIMAGE_GZIP, 0, (void)0)
FALLBACK_ARM64(t_fb_x86_einval_gzip, EINVAL, KIMAGE_GZIP, 0, snprintf(p.arch, sizeof(p.arch), "x86_64"))

static void
t_einval_arm64_explained(void **st)
{
	struct preflight p;
	struct nk_err e = { "" };
	struct kx_image i = img;

	(void)st;
	gather(&p);
	ARM64(p);
	i.kernel_format = KIMAGE_GZIP;
	assert_int_equal(kx_explain(EINVAL, &p, &i, &e), NK_E_KERNEL);
	assert_non_null(strstr(e.msg, "arm64 loads only an uncompressed Image"));
	assert_non_null(strstr(e.msg, "a gzip-compressed image"));
	assert_null(strstr(e.msg, "half of RAM"));
	i.kernel_format = KIMAGE_ARM64; /* a raw Image: the usual EINVAL reasons */
	assert_int_equal(kx_explain(EINVAL, &p, &i, &e), NK_E_KERNEL);
	assert_null(strstr(e.msg, "arm64 loads only"));
	assert_non_null(strstr(e.msg, "half of RAM"));
}

static void
t_load_arm64_einval_fallback(void **st)
{
	struct preflight p;
	struct nk_err e = { "" };
	struct kx_image i = img;
	char how[KX_HOW_BYTES];

	(void)st;
	gather(&p);
	ARM64(p);
	i.kernel_format = KIMAGE_ZBOOT;
	load_errno = EINVAL;
	snprintf(p.kexec_tools, sizeof(p.kexec_tools), "/opt/x/kexec");
	assert_int_equal(kx_load(&i, &p, root, how, &e), 0);
	assert_int_equal(run_calls, 1);
	assert_string_equal(run_argv5, "-c");
	assert_non_null(strstr(how, "said EINVAL"));
	run_status = 1; /* kexec-tools fails too: the arm64 sentence, then the fallback's */
	assert_int_equal(kx_load(&i, &p, root, how, &e), NK_E_KERNEL);
	assert_non_null(strstr(e.msg, "arm64 loads only an uncompressed Image"));
	assert_non_null(strstr(e.msg, "failed too"));
}

/* What `check` says about kexec_load, by arch and kexec_file_load. */
#define PLAN(name, needle, body) \
	static void name(void **st) { struct preflight p; (void)st; gather(&p); \
		snprintf(p.kexec_tools, sizeof(p.kexec_tools), "/opt/x/kexec"); body; \
		if (!strstr(kx_fallback_plan(&p), needle)) \
			fail_msg("'%s' lacks '%s'", kx_fallback_plan(&p), needle); }
PLAN(t_plan_arm64_no_file, "used for every boot: this arm64 kernel has no kexec_file_load", ARM64(p); p.kexec_file = TRI_NO)
PLAN(t_plan_arm64_file, "on arm64 it takes only an uncompressed Image", ARM64(p); p.kexec_file = TRI_YES)
PLAN(t_plan_x86_no_file, "used for every boot: this kernel has no kexec_file_load", p.kexec_file = TRI_NO)
PLAN(t_plan_x86_file, "available: kexec-tools, when kexec_file_load refuses", p.kexec_file = TRI_YES)
PLAN(t_plan_no_tools, "not available (no kexec-tools", ARM64(p); p.kexec_tools[0] = '\0')
PLAN(t_plan_lockdown, "not available (lockdown", ARM64(p); p.kexec_file = TRI_NO; snprintf(p.lockdown, sizeof(p.lockdown), "integrity"))

static void
t_load_keyrejected_fallback(void **st)
{
	struct preflight p;
	struct nk_err e = { "" };
	char how[KX_HOW_BYTES];

	(void)st;
	gather(&p);
	load_errno = EKEYREJECTED;
	snprintf(p.kexec_tools, sizeof(p.kexec_tools), "/opt/x/kexec");
	assert_int_equal(kx_load(&img, &p, root, how, &e), 0);
	assert_int_equal(run_calls, 1);
	assert_string_equal(run_argv1, "-l");
	assert_string_equal(run_argv4, "--command-line=init=/x console=ttyS0");
	assert_string_equal(run_argv5, "-c"); /* kexec_load, not kexec_file_load again */
	assert_int_equal(unload_calls, 0);
	assert_non_null(strstr(how, "kexec_load by /opt/x/kexec"));
	assert_non_null(strstr(how, "EKEYREJECTED"));
}

static void
t_load_keyrejected_no_tools(void **st)
{
	struct preflight p;
	struct nk_err e = { "" };
	char how[KX_HOW_BYTES];

	(void)st;
	gather(&p);
	load_errno = EKEYREJECTED;
	p.kexec_tools[0] = '\0';
	assert_int_equal(kx_load(&img, &p, root, how, &e), NK_E_KERNEL);
	assert_non_null(strstr(e.msg, "only accepts signed kernel images"));
	assert_non_null(strstr(e.msg, "no kexec-tools 'kexec'"));
	assert_int_equal(run_calls, 0);
	assert_int_equal(unload_calls, 1);
}

static void
t_load_keyrejected_fallback_fails(void **st)
{
	struct preflight p;
	struct nk_err e = { "" };
	char how[KX_HOW_BYTES];

	(void)st;
	gather(&p);
	load_errno = ENODATA;
	run_status = 255;
	snprintf(p.kexec_tools, sizeof(p.kexec_tools), "/opt/x/kexec");
	assert_int_equal(kx_load(&img, &p, root, how, &e), NK_E_KERNEL);
	assert_non_null(strstr(e.msg, "kexec_file_load: "));
	assert_non_null(strstr(e.msg, "'/opt/x/kexec -l' (kexec_load) failed too (exit 255)"));
	assert_int_equal(unload_calls, 1);
}

static void
t_load_lockdown_no_fallback(void **st)
{
	struct preflight p;
	struct nk_err e = { "" };
	char how[KX_HOW_BYTES];

	(void)st;
	gather(&p);
	load_errno = EKEYREJECTED;
	snprintf(p.lockdown, sizeof(p.lockdown), "integrity");
	snprintf(p.kexec_tools, sizeof(p.kexec_tools), "/opt/x/kexec");
	assert_int_equal(kx_load(&img, &p, root, how, &e), NK_E_KERNEL);
	assert_int_equal(run_calls, 0);
	assert_null(strstr(e.msg, "fall back"));
}

static void
t_load_ok_says_file_load(void **st)
{
	struct preflight p;
	struct nk_err e = { "" };
	char how[KX_HOW_BYTES];

	(void)st;
	gather(&p);
	assert_int_equal(kx_load(&img, &p, root, how, &e), 0);
	assert_string_equal(how, "loaded with kexec_file_load");
}

static void
t_find_kexec_release_name(void **st)
{
	struct utsname u;
	char dir[512], name[300], out[600], skipped[1024];

	(void)st;
	assert_int_equal(uname(&u), 0);
	snprintf(dir, sizeof(dir), "%s/bin", root);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(name, sizeof(name), "kexec-%s", u.machine);
	nkt_write(dir, name, "#!/bin/sh\n", 10);
	assert_int_equal(chmod(strcat(strcat(strcpy(out, dir), "/"), name), 0755), 0);
	setenv("PATH", "/nonexistent", 1);
	preflight_find_kexec(dir, getuid(), out, sizeof(out), skipped, sizeof(skipped));
	assert_non_null(strstr(out, name));
	nkt_write(dir, "kexec", "#!/bin/sh\n", 10); /* plain kexec first */
	snprintf(name, sizeof(name), "%s/kexec", dir);
	assert_int_equal(chmod(name, 0755), 0);
	preflight_find_kexec(dir, getuid(), out, sizeof(out), skipped, sizeof(skipped));
	assert_string_equal(out, name);
	assert_string_equal(skipped, "");
}

/* --- what the agent executes (issue 19.1) --------------------------------- */
/* Makes DIR (mode dmode) under root holding an executable NAME (fmode);
 * path gets its full name. */
static void
plant(const char *sub, mode_t dmode, const char *name, mode_t fmode, char *path, size_t cap)
{
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/%s", root, sub);
	mkdir(dir, 0755);
	assert_int_equal(chmod(dir, dmode), 0);
	nkt_write(dir, name, "#!/bin/sh\nexit 0\n", 18);
	snprintf(path, cap, "%s/%s", dir, name);
	assert_int_equal(chmod(path, fmode), 0);
}

/* Makes path owned by someone else: chown as root, else a different
 * agent owner (the file stays ours). */
static unsigned trust_owner;
static void
not_ours(const char *path)
{
	trust_owner = getuid();
	if (getuid() == 0)
		assert_int_equal(chown(path, 4242, (gid_t)-1), 0);
	else
		trust_owner = getuid() + 4242;
}

#define TRUST(name, body, want) \
	static void name(void **st) { char path[600], why[128]; int fd; (void)st; \
		trust_owner = getuid(); body; \
		fd = preflight_kexec_open(path, trust_owner, why, sizeof(why)); \
		if (fd >= 0) close(fd); \
		if (want == NULL) { if (fd < 0) fail_msg("%s refused: %s", path, why); } \
		else if (fd >= 0 || !strstr(why, want ? want : "")) \
			fail_msg("%s: fd %d, '%s' lacks '%s'", path, fd, why, want ? want : ""); }
TRUST(t_trust_ok, plant("ok", 0755, "kexec", 0755, path, sizeof(path)), (const char *)NULL)
TRUST(t_trust_sticky_tmp, plant("tmp", 01777, "kexec", 0755, path, sizeof(path)), "directory is writable by others")
TRUST(t_trust_group_dir, plant("g", 0775, "kexec", 0755, path, sizeof(path)), "directory is writable by others")
TRUST(t_trust_file_writable, plant("w", 0755, "kexec", 0757, path, sizeof(path)), "writable by others")
TRUST(t_trust_file_group, plant("w", 0755, "kexec", 0775, path, sizeof(path)), "writable by others")
TRUST(t_trust_not_exec, plant("x", 0755, "kexec", 0644, path, sizeof(path)), "not executable")
TRUST(t_trust_file_owner, plant("o", 0755, "kexec", 0755, path, sizeof(path));
    not_ours(path), "owned by another user")
TRUST(t_trust_dir_owner, plant("d", 0755, "kexec", 0755, path, sizeof(path));
    *strrchr(path, '/') = '\0'; not_ours(path);
    strcat(path, "/kexec"), (getuid() == 0 ? "its directory is owned by another user" :
    "owned by another user")) /* not root: every directory counts as another's */
/* Every directory above it too (issue: the rule checked only the last):
 * group-writable refused, sticky world-writable (/tmp) taken (no one
 * else can rename the entry below), another user's refused, a symbolic
 * link on the way refused (the search resolves PATH entries first). */
static void
updir(const char *sub, mode_t mode)
{
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/%s", root, sub);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(chmod(dir, mode), 0);
}
TRUST(t_trust_ancestor_group, updir("up", 0775); plant("up/bin", 0755, "kexec", 0755, path,
    sizeof(path)), "a directory above it is writable by others")
TRUST(t_trust_ancestor_sticky, updir("up", 01777); plant("up/bin", 0755, "kexec", 0755, path,
    sizeof(path)), (const char *)NULL)
TRUST(t_trust_ancestor_owner, updir("up", 0755); plant("up/bin", 0755, "kexec", 0755, path,
    sizeof(path)); *strstr(path, "/bin/kexec") = '\0'; not_ours(path);
    strcat(path, "/bin/kexec"), "a directory above it is owned by another user")
TRUST(t_trust_ancestor_symlink, updir("real", 0755); plant("real/bin", 0755, "kexec", 0755, path,
    sizeof(path)); snprintf(path, sizeof(path), "%s/link", root);
    assert_int_equal(symlink("real", path), 0); strcat(path, "/bin/kexec"),
    "a symbolic link or a file in its path (link)")
TRUST(t_trust_dotdot, plant("ok", 0755, "kexec", 0755, path, sizeof(path));
    snprintf(path, sizeof(path), "%s/ok/../ok/kexec", root), "not a plain absolute path")
TRUST(t_trust_symlink, plant("s", 0755, "real", 0755, path, sizeof(path));
    *strrchr(path, '/') = '\0'; strcat(path, "/kexec");
    assert_int_equal(symlink("real", path), 0), "symbolic link")
TRUST(t_trust_dir_node, plant("n", 0755, "x", 0755, path, sizeof(path));
    *strrchr(path, '/') = '\0'; strcat(path, "/kexec"); assert_int_equal(mkdir(path, 0755), 0),
    "not a regular file")
TRUST(t_trust_relative, snprintf(path, sizeof(path), "kexec"), "absolute")
TRUST(t_trust_absent, snprintf(path, sizeof(path), "%s/none/kexec", root), "not found")

/* sys_run itself (the real one) keeps the rule: a script planted in a
 * 1777 directory does not run; the same script in a trusted directory
 * runs through fexecve on its descriptor (a #! script too). */
int __real_sys_run(char *const argv[], const int keep[2]);
static void
t_sys_run_refuses_planted(void **st)
{
	char path[600], mark[600], dir[512];
	char *argv[] = { path, mark, NULL };
	struct stat sb;

	(void)st;
	snprintf(dir, sizeof(dir), "%s/bad", root);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(chmod(dir, 01777), 0);
	nkt_write(dir, "kexec", "#!/bin/sh\n: >\"$1\"\n", 18);
	snprintf(path, sizeof(path), "%s/kexec", dir);
	assert_int_equal(chmod(path, 0755), 0);
	snprintf(mark, sizeof(mark), "%s/ran", root);
	errno = 0;
	assert_int_equal(__real_sys_run(argv, NULL), -1);
	assert_int_equal(errno, EACCES);
	assert_int_equal(stat(mark, &sb), -1);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(__real_sys_run(argv, NULL), 0);
	assert_int_equal(stat(mark, &sb), 0);
}

/* The case: the agent run from a 1777 directory where another
 * user planted kexec; a good one on PATH is taken instead, and the planted
 * one is named with the reason. */
static void
t_find_kexec_passes_over_planted(void **st)
{
	char planted[600], good[600], out[600], skipped[1024];

	(void)st;
	plant("tmp", 01777, "kexec", 0755, planted, sizeof(planted));
	*strrchr(planted, '/') = '\0';
	setenv("PATH", "/nonexistent", 1);
	preflight_find_kexec(planted, getuid(), out, sizeof(out), skipped, sizeof(skipped));
	assert_string_equal(out, "");
	assert_non_null(strstr(skipped, "/tmp/kexec: its directory is writable by others"));
	plant("sbin", 0755, "kexec", 0755, good, sizeof(good));
	*strrchr(good, '/') = '\0';
	setenv("PATH", good, 1);
	preflight_find_kexec(planted, getuid(), out, sizeof(out), skipped, sizeof(skipped));
	assert_non_null(strstr(out, "/sbin/kexec"));
	assert_non_null(strstr(skipped, "/tmp/kexec"));
	/* A PATH entry that is a symbolic link to a trusted directory
	 * (NixOS's /run/current-system/sw/bin) is resolved, then checked. */
	snprintf(out, sizeof(out), "%s/link", root);
	assert_int_equal(symlink(good, out), 0);
	setenv("PATH", out, 1);
	preflight_find_kexec(NULL, getuid(), out, sizeof(out), skipped, sizeof(skipped));
	assert_string_equal(out, strcat(good, "/kexec"));
	/* ...and a writable one on PATH is passed over like the one beside. */
	setenv("PATH", planted, 1);
	preflight_find_kexec(NULL, getuid(), out, sizeof(out), skipped, sizeof(skipped));
	assert_string_equal(out, "");
	assert_non_null(strstr(skipped, "writable by others"));
}

/* --- exec modes -------------------------------------------------------------- */
static void
t_exec_none(void **st)
{
	struct nk_err e;

	(void)st;
	assert_int_equal(kx_exec(KX_EXEC_NONE, &e), 0);
	assert_int_equal(reboot_calls + sync_calls + run_calls, 0);
}

static void
t_exec_direct_syncs_then_reboots(void **st)
{
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(kx_exec(KX_EXEC_DIRECT, &e), NK_E_KERNEL); /* the wrap fails */
	assert_int_equal(sync_calls, 1);
	assert_int_equal(reboot_calls, 1);
	assert_non_null(strstr(e.msg, "LINUX_REBOOT_CMD_KEXEC"));
}

static void
t_exec_systemd(void **st)
{
	struct nk_err e = { "" };

	(void)st;
	if (access("/usr/bin/systemctl", X_OK) != 0 && access("/bin/systemctl", X_OK) != 0) {
		assert_int_equal(kx_exec(KX_EXEC_SYSTEMD, &e), NK_E_KERNEL);
		assert_non_null(strstr(e.msg, "systemctl not found"));
		return;
	}
	assert_int_equal(kx_exec(KX_EXEC_SYSTEMD, &e), 0);
	assert_int_equal(run_calls, 1);
	assert_string_equal(run_argv1, "kexec");
	run_status = 1;
	assert_int_equal(kx_exec(KX_EXEC_SYSTEMD, &e), NK_E_KERNEL);
	assert_int_equal(reboot_calls, 0);
}

static void
t_exec_default(void **st)
{
	struct preflight p;

	(void)st;
	gather(&p);
	assert_int_equal(kx_default_exec(&p), KX_EXEC_SYSTEMD);
	put("/proc/1/comm", "init\n");
	gather(&p);
	assert_int_equal(kx_default_exec(&p), KX_EXEC_DIRECT);
}

static void
t_exec_parse(void **st)
{
	enum kx_exec m;

	(void)st;
	assert_int_equal(kx_exec_parse("systemd", &m), 0);
	assert_int_equal(m, KX_EXEC_SYSTEMD);
	assert_int_equal(kx_exec_parse("direct", &m), 0);
	assert_int_equal(kx_exec_parse("none", &m), 0);
	assert_int_equal(kx_exec_parse("Direct", &m), -1);
	assert_int_equal(kx_exec_parse("", &m), -1);
}

/* --- lock ---------------------------------------------------------------------- */
static void
t_lock_second_run_refused(void **st)
{
	struct nk_err e = { "" };
	char path[512];
	int a = -1, b = -1;

	(void)st;
	snprintf(path, sizeof(path), "%s/lock", root);
	assert_int_equal(lock_take(path, &a, &e), 0);
	assert_int_equal(lock_take(path, &b, &e), NK_E_LOCKED);
	assert_non_null(strstr(e.msg, "holds"));
	assert_int_equal(nk_exit_code(NK_E_LOCKED), 75);
	lock_release(path, a);
	assert_int_equal(lock_take(path, &b, &e), 0);
	lock_release(path, b);
}

static void
t_lock_symlink_refused(void **st)
{
	struct nk_err e = { "" };
	char path[512], target[512];
	int fd = -1;

	(void)st;
	snprintf(path, sizeof(path), "%s/lock", root);
	snprintf(target, sizeof(target), "%s/elsewhere", root);
	assert_int_equal(symlink(target, path), 0);
	assert_int_not_equal(lock_take(path, &fd, &e), 0);
}

int
main(void)
{
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(t_preflight_ok), T(t_not_root), T(t_no_cap), T(t_disabled),
		T(t_lockdown_integrity), T(t_lockdown_conf), T(t_container_systemd),
		T(t_container_docker), T(t_no_kexec_at_all), T(t_secure_boot_var),
		T(t_memory_auto_ram), T(t_memory_auto_disk), T(t_memory_auto_no_disk),
		T(t_memory_auto_too_big), T(t_memory_ram_forced_refused), T(t_memory_disk_forced),
		T(t_memory_disk_forced_no_dir), T(t_memory_unknown_available), T(t_stage_parse),
		T(t_eperm_root), T(t_eperm_disabled), T(t_eperm_lockdown), T(t_eperm_other),
		T(t_ekeyrejected), T(t_enokey), T(t_ebadmsg), T(t_enoexec), T(t_eaddrnotavail),
		T(t_enomem), T(t_ebusy), T(t_einval), T(t_eio),
		T(t_load_ok), T(t_load_refused_unloads), T(t_load_not_confirmed),
		T(t_load_enosys_fallback), T(t_load_enosys_fallback_fails),
		T(t_load_enosys_no_tools),
		T(t_fb_enosys), T(t_fb_eopnotsupp), T(t_fb_ekeyrejected), T(t_fb_enokey),
		T(t_fb_ekeyexpired), T(t_fb_ekeyrevoked), T(t_fb_ebadmsg), T(t_fb_enodata),
		T(t_fb_enoexec), T(t_fb_eaddrnotavail), T(t_fb_eperm), T(t_fb_ebusy),
		T(t_fb_einval), T(t_fb_enomem), T(t_fb_eio), T(t_fb_lockdown),
		T(t_fb_lockdown_enosys), T(t_fb_disabled),
		T(t_fb_arm64_einval_gzip), T(t_fb_arm64_einval_zboot), T(t_fb_arm64_einval_unknown),
		T(t_fb_arm64_einval_raw), T(t_fb_arm64_einval_lockdown), T(t_fb_arm64_einval_disabled),
		T(t_fb_arm64_ebusy), T(t_fb_x86_einval_gzip), T(t_einval_arm64_explained),
		T(t_load_arm64_einval_fallback),
		T(t_plan_arm64_no_file), T(t_plan_arm64_file), T(t_plan_x86_no_file),
		T(t_plan_x86_file), T(t_plan_no_tools), T(t_plan_lockdown),
		T(t_load_keyrejected_fallback), T(t_load_keyrejected_no_tools),
		T(t_load_keyrejected_fallback_fails), T(t_load_lockdown_no_fallback),
		T(t_load_ok_says_file_load), T(t_find_kexec_release_name),
		T(t_trust_ok), T(t_trust_sticky_tmp), T(t_trust_group_dir), T(t_trust_file_writable),
		T(t_trust_file_group), T(t_trust_not_exec), T(t_trust_file_owner), T(t_trust_dir_owner),
		T(t_trust_symlink), T(t_trust_ancestor_group), T(t_trust_ancestor_sticky),
		T(t_trust_ancestor_owner), T(t_trust_ancestor_symlink), T(t_trust_dotdot),
		T(t_trust_dir_node), T(t_trust_relative), T(t_trust_absent),
		T(t_find_kexec_passes_over_planted), T(t_sys_run_refuses_planted),
		T(t_exec_none), T(t_exec_direct_syncs_then_reboots), T(t_exec_systemd),
		T(t_exec_default), T(t_exec_parse),
		T(t_lock_second_run_refused), T(t_lock_symlink_refused),
	};
	snprintf(saved_path, sizeof(saved_path), "%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
