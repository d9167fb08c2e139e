/* preflight: read what this machine allows. */
#include "preflight.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "sys.h"

#define SECUREBOOT_VAR "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-e98c3a4a5bc8"

static int
open_under(const char *root, const char *path)
{
	char full[PATH_MAX];

	snprintf(full, sizeof(full), "%s%s", root, path);
	return open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY);
}

int
preflight_read(const char *root, const char *path, char *buf, size_t cap)
{
	ssize_t n;
	int fd = open_under(root, path);

	if (fd < 0 || cap == 0)
		return fd < 0 ? -1 : (close(fd), -1);
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

static enum tri
read_bool(const char *root, const char *path)
{
	char b[16];

	if (preflight_read(root, path, b, sizeof(b)) != 0)
		return TRI_UNKNOWN;
	return b[0] == '1' ? TRI_YES : TRI_NO;
}

/* "none [integrity] confidentiality" -> "integrity" */
static void
read_lockdown(const char *root, struct preflight *p)
{
	char b[128], *l, *r;

	p->lockdown[0] = '\0';
	if (preflight_read(root, "/sys/kernel/security/lockdown", b, sizeof(b)) != 0)
		return;
	if ((l = strchr(b, '[')) != NULL && (r = strchr(l, ']')) != NULL) {
		*r = '\0';
		snprintf(p->lockdown, sizeof(p->lockdown), "%s", l + 1);
	}
}

/* The EFI variable: 4 bytes of attributes, then the value byte. */
static void
read_secure_boot(const char *root, struct preflight *p)
{
	unsigned char b[5];
	int fd = open_under(root, SECUREBOOT_VAR);

	p->secure_boot = TRI_UNKNOWN;
	if (fd < 0)
		return;
	if (read(fd, b, sizeof(b)) == (ssize_t)sizeof(b))
		p->secure_boot = b[4] == 1 ? TRI_YES : TRI_NO;
	close(fd);
}

static void
read_caps(const char *root, struct preflight *p)
{
	char b[4096], *s;
	unsigned long long caps;

	p->cap_sys_boot = TRI_UNKNOWN;
	if (preflight_read(root, "/proc/self/status", b, sizeof(b)) != 0)
		return;
	if ((s = strstr(b, "\nCapEff:")) == NULL || sscanf(s + 8, "%llx", &caps) != 1)
		return;
	p->cap_sys_boot = (caps >> PREFLIGHT_CAP_SYS_BOOT) & 1 ? TRI_YES : TRI_NO;
}

static uint64_t
meminfo_kb(const char *buf, const char *key)
{
	const char *s = strstr(buf, key);
	unsigned long long kb;

	if (s == NULL || sscanf(s + strlen(key), " %llu kB", &kb) != 1)
		return 0;
	return (uint64_t)kb * 1024;
}

static void
read_container(const char *root, struct preflight *p)
{
	char b[4096], *s;
	ssize_t n;
	int fd;

	p->container[0] = '\0';
	if (preflight_read(root, "/run/systemd/container", b, sizeof(b)) == 0 && b[0]) {
		snprintf(p->container, sizeof(p->container), "%s", b);
		return;
	}
	if ((fd = open_under(root, "/proc/1/environ")) >= 0) {
		n = read(fd, b, sizeof(b) - 1);
		close(fd);
		b[n > 0 ? n : 0] = '\0';
		for (s = b; n > 0 && s < b + n; s += strlen(s) + 1)
			if (strncmp(s, "container=", 10) == 0) {
				snprintf(p->container, sizeof(p->container), "%s", s + 10);
				return;
			}
	}
	if ((fd = open_under(root, "/.dockerenv")) >= 0) {
		close(fd);
		snprintf(p->container, sizeof(p->container), "docker");
	}
}

static void
read_virt(const char *root, struct preflight *p)
{
	char vendor[48] = "", product[48] = "", cpu[65536];

	p->virt[0] = '\0';
	preflight_read(root, "/sys/class/dmi/id/sys_vendor", vendor, sizeof(vendor));
	preflight_read(root, "/sys/class/dmi/id/product_name", product, sizeof(product));
	if (preflight_read(root, "/proc/cpuinfo", cpu, sizeof(cpu)) == 0 &&
	    strstr(cpu, " hypervisor") == NULL && vendor[0] == '\0')
		return;
	if (vendor[0] || product[0])
		snprintf(p->virt, sizeof(p->virt), "%s%s%s", vendor, *vendor && *product ? " " : "",
		    product);
	else
		snprintf(p->virt, sizeof(p->virt), "hypervisor");
}

/* Appends "PATH: why" to the passed-over list (bounded, "; "-separated). */
static void
passed_over(char *list, size_t cap, const char *path, const char *why)
{
	size_t n = strlen(list);

	if (n + 1 < cap)
		snprintf(list + n, cap - n, "%s%s: %s", n ? "; " : "", path, why);
}

/* What untrusted judges. */
enum trust_of {
	TRUST_FILE,   /* the candidate */
	TRUST_DIR,    /* its directory */
	TRUST_ABOVE,  /* a directory above that: sticky may be writable by others */
};

/* Owned by root or by owner, and writable by nobody else (a directory
 * above the candidate's: unless sticky, where no one else can rename or
 * remove the entry below, whose owner the next step checks). */
static const char *
untrusted(const struct stat *st, unsigned owner, enum trust_of of)
{
	static const char *const owned[] = { "owned by another user",
		"its directory is owned by another user",
		"a directory above it is owned by another user" };
	static const char *const writable[] = { "writable by others",
		"its directory is writable by others",
		"a directory above it is writable by others" };

	if (st->st_uid != 0 && st->st_uid != owner)
		return owned[of];
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) &&
	    !(of == TRUST_ABOVE && (st->st_mode & S_ISVTX)))
		return writable[of];
	return NULL;
}

/* Walks dir (absolute) from / without following a symbolic link, each
 * directory judged by untrusted (TRUST_ABOVE, then dir itself TRUST_DIR).
 * Its O_PATH descriptor, or -1 with why (left alone when a component does
 * not exist: "not found"). */
static int
open_trusted_dir(const char *dir, unsigned owner, char *why, size_t cap)
{
	char buf[PATH_MAX], *comp, *save = NULL;
	const char *bad, *at = "/";
	struct stat st;
	int fd, sub;

	snprintf(buf, sizeof(buf), "%s", dir);
	if ((fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	for (comp = strtok_r(buf, "/", &save);; comp = strtok_r(NULL, "/", &save)) {
		if (fstat(fd, &st) != 0) {
			snprintf(why, cap, "%s", strerror(errno));
			break;
		}
		if (comp == NULL) {
			if ((bad = untrusted(&st, owner, TRUST_DIR)) == NULL)
				return fd;
			snprintf(why, cap, "%s", bad);
			break;
		}
		if ((bad = untrusted(&st, owner, TRUST_ABOVE)) != NULL) {
			snprintf(why, cap, "%s (%s)", bad, at);
			break;
		}
		if (strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0) {
			snprintf(why, cap, "not a plain absolute path (. or ..)");
			break;
		}
		sub = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			if (errno == ELOOP || errno == ENOTDIR)
				snprintf(why, cap, "a symbolic link or a file in its path (%s)",
				    comp);
			else if (errno != ENOENT)
				snprintf(why, cap, "%s", strerror(errno));
			break;
		}
		close(fd);
		fd = sub;
		at = comp;
	}
	close(fd);
	return -1;
}

int
preflight_kexec_open(const char *path, unsigned owner, char *why, size_t cap)
{
	char dir[PATH_MAX];
	const char *base = strrchr(path, '/'), *bad = NULL;
	struct stat st;
	int dfd = -1, fd = -1;

	snprintf(why, cap, "not found");
	if (path[0] != '/' || base == NULL || base[1] == '\0' ||
	    (size_t)(base - path) >= sizeof(dir)) {
		snprintf(why, cap, "not an absolute path");
		return -1;
	}
	memcpy(dir, path, (size_t)(base - path));
	dir[base - path] = '\0';
	if ((dfd = open_trusted_dir(dir, owner, why, cap)) < 0)
		goto out;
	fd = openat(dfd, base + 1, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			snprintf(why, cap, "%s", strerror(errno));
		goto out;
	}
	bad = fstat(fd, &st) != 0 ? strerror(errno) : S_ISLNK(st.st_mode) ?
	    "a symbolic link (not followed)" : !S_ISREG(st.st_mode) ? "not a regular file" :
	    !(st.st_mode & S_IXUSR) ? "not executable" : untrusted(&st, owner, TRUST_FILE);
	if (bad != NULL) {
		snprintf(why, cap, "%s", bad);
		close(fd);
		fd = -1;
	}
out:
	if (dfd >= 0)
		close(dfd);
	return fd;
}

/* Takes path when it passes preflight_kexec_open; else notes why (a
 * missing file is not worth a note). */
static int
try_kexec(const char *path, unsigned owner, char *out, size_t cap, char *skipped,
    size_t skipped_cap)
{
	char why[128];
	int fd = preflight_kexec_open(path, owner, why, sizeof(why));

	if (fd >= 0) {
		close(fd);
		snprintf(out, cap, "%s", path);
		return 1;
	}
	if (strcmp(why, "not found") != 0)
		passed_over(skipped, skipped_cap, path, why);
	return 0;
}

void
preflight_find_kexec(const char *exe_dir, unsigned owner, char *out, size_t cap,
    char *skipped, size_t skipped_cap)
{
	char path[4096], cand[PATH_MAX], real[PATH_MAX], *save = NULL, *dir;
	const char *env = getenv("PATH");
	struct utsname u;

	out[0] = '\0';
	skipped[0] = '\0';
	if (exe_dir != NULL) {
		snprintf(cand, sizeof(cand), "%s/kexec", exe_dir);
		if (try_kexec(cand, owner, out, cap, skipped, skipped_cap))
			return;
		/* The release layout's name: bin/kexec-<uname -m> beside
		 * bin/nixos-kexec-<uname -m>. */
		if (uname(&u) == 0) {
			snprintf(cand, sizeof(cand), "%s/kexec-%s", exe_dir, u.machine);
			if (try_kexec(cand, owner, out, cap, skipped, skipped_cap))
				return;
		}
	}
	snprintf(path, sizeof(path), "%s", env ? env : "/usr/sbin:/usr/bin:/sbin:/bin");
	for (dir = strtok_r(path, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		if (dir[0] != '/')
			continue;
		snprintf(cand, sizeof(cand), "%s/kexec", dir);
		/* PATH entries are often symlinks (/run/current-system/sw/bin,
		 * /sbin -> usr/sbin): the rule applies to the file they name. */
		if (realpath(cand, real) == NULL)
			continue;
		if (try_kexec(real, owner, out, cap, skipped, skipped_cap))
			return;
	}
	out[0] = '\0';
}

/* kexec_file_load(-1, -1, 0, NULL, 0): ENOSYS when absent, EPERM when
 * not allowed (checked first), EBADF when present and allowed. Loads
 * nothing and unloads nothing. */
static enum tri
probe_kexec_file(void)
{
	if (sys_kexec_file_load(-1, -1, 0, NULL, 0) == 0)
		return TRI_YES;
	if (errno == ENOSYS)
		return TRI_NO;
	return errno == EPERM ? TRI_UNKNOWN : TRI_YES;
}

void
preflight_gather(const char *root, struct preflight *p)
{
	char b[8192], dir[PATH_MAX];
	struct utsname u;

	memset(p, 0, sizeof(*p));
	p->root = sys_geteuid() == 0;
	read_caps(root, p);
	p->kexec_file = probe_kexec_file();
	sys_exe_dir(dir, sizeof(dir));
	preflight_find_kexec(dir[0] ? dir : NULL, sys_exe_owner(), p->kexec_tools,
	    sizeof(p->kexec_tools), p->kexec_skipped, sizeof(p->kexec_skipped));
	p->load_disabled = read_bool(root, "/proc/sys/kernel/kexec_load_disabled");
	p->kexec_loaded = read_bool(root, "/sys/kernel/kexec_loaded");
	read_lockdown(root, p);
	read_secure_boot(root, p);
	read_container(root, p);
	read_virt(root, p);
	if (uname(&u) == 0)
		snprintf(p->arch, sizeof(p->arch), "%s", u.machine);
	if (preflight_read(root, "/proc/1/comm", p->init, sizeof(p->init)) != 0)
		p->init[0] = '\0';
	if (preflight_read(root, "/proc/meminfo", b, sizeof(b)) == 0) {
		p->mem_available = meminfo_kb(b, "MemAvailable:");
		p->mem_total = meminfo_kb(b, "MemTotal:");
	}
}

int
preflight_verdict(const struct preflight *p, struct nk_err *e)
{
	if (!p->root)
		return nk_fail(e, NK_E_PERM, "not root: loading a kernel needs root "
		    "(run with sudo, or as root)");
	if (p->cap_sys_boot == TRI_NO)
		return nk_fail(e, NK_E_PERM, "root, but without CAP_SYS_BOOT (a container or "
		    "a restricted service?): kexec needs it");
	if (p->container[0])
		return nk_fail(e, NK_E_PERM, "running in a container (%s): kexec replaces the "
		    "host's kernel and is not available here; run on the machine itself",
		    p->container);
	if (p->load_disabled == TRI_YES)
		return nk_fail(e, NK_E_PERM, "kexec is disabled until the next reboot "
		    "(kernel.kexec_load_disabled = 1, which cannot be turned back off)");
	if (strcmp(p->lockdown, "integrity") == 0 || strcmp(p->lockdown, "confidentiality") == 0)
		return nk_fail(e, NK_E_PERM, "kernel lockdown is in %s mode%s: it allows only "
		    "signed kernels, and NixOS kernels are unsigned; disable Secure Boot "
		    "(or lockdown) in the firmware or boot loader first", p->lockdown,
		    p->secure_boot == TRI_YES ? " (Secure Boot is on)" : "");
	if (p->kexec_file == TRI_NO && p->kexec_tools[0] == '\0')
		return nk_fail(e, NK_E_KERNEL, "this kernel has no kexec_file_load and no "
		    "kexec-tools 'kexec' was found next to the agent or on PATH");
	return 0;
}

static void
mib(uint64_t n, char *buf, size_t cap)
{
	snprintf(buf, cap, "%.1f MiB", (double)n / (1 << 20));
}

int
preflight_stage_parse(const char *s, enum preflight_stage *out)
{
	if (strcmp(s, "ram") == 0)
		*out = PREFLIGHT_STAGE_RAM;
	else if (strcmp(s, "disk") == 0)
		*out = PREFLIGHT_STAGE_DISK;
	else if (strcmp(s, "auto") == 0)
		*out = PREFLIGHT_STAGE_AUTO;
	else
		return -1;
	return 0;
}

const char *
preflight_stage_name(enum preflight_stage s)
{
	return s == PREFLIGHT_STAGE_RAM ? "ram" : s == PREFLIGHT_STAGE_DISK ? "disk" : "auto";
}

uint64_t
preflight_need(enum preflight_stage mode, uint64_t bundle)
{
	uint64_t t = mode == PREFLIGHT_STAGE_DISK ? PREFLIGHT_PEAK_DISK_TENTHS :
	    PREFLIGHT_PEAK_RAM_TENTHS;

	return (bundle * t + 9) / 10 + PREFLIGHT_MEM_MARGIN_BYTES;
}

int
preflight_memory(const struct preflight *p, enum preflight_stage want, uint64_t kernel,
    uint64_t initrd, const char *disk_dir, const char *disk_why,
    enum preflight_stage *chosen, char *formula, size_t cap, struct nk_err *e)
{
	uint64_t b = kernel + initrd, avail = p->mem_available;
	uint64_t nram = preflight_need(PREFLIGHT_STAGE_RAM, b);
	uint64_t ndisk = preflight_need(PREFLIGHT_STAGE_DISK, b);
	int fits_ram = avail == 0 || avail >= nram;
	int fits_disk = disk_dir != NULL && (avail == 0 || avail >= ndisk);
	char k[32], i[32], m[32], nr[32], nd[32], a[32], bb[32], where[PATH_MAX + 300];
	const char *verdict;

	mib(kernel, k, sizeof(k));
	mib(initrd, i, sizeof(i));
	mib(b, bb, sizeof(bb));
	mib(PREFLIGHT_MEM_MARGIN_BYTES, m, sizeof(m));
	mib(nram, nr, sizeof(nr));
	mib(ndisk, nd, sizeof(nd));
	mib(avail, a, sizeof(a));
	if (disk_dir != NULL)
		snprintf(where, sizeof(where), "in %s", disk_dir);
	else
		snprintf(where, sizeof(where), "not possible: %s", disk_why ? disk_why : "no directory");
	*chosen = want == PREFLIGHT_STAGE_RAM ? (fits_ram ? PREFLIGHT_STAGE_RAM : PREFLIGHT_STAGE_AUTO) :
	    want == PREFLIGHT_STAGE_DISK ? (fits_disk ? PREFLIGHT_STAGE_DISK : PREFLIGHT_STAGE_AUTO) :
	    fits_ram ? PREFLIGHT_STAGE_RAM : fits_disk ? PREFLIGHT_STAGE_DISK : PREFLIGHT_STAGE_AUTO;
	verdict = *chosen == PREFLIGHT_STAGE_RAM ? "staging in RAM" :
	    *chosen == PREFLIGHT_STAGE_DISK ? "staging on disk" : "neither fits";
	snprintf(formula, cap, "bundle B = kernel %s + initrd %s = %s; RAM staging peaks at "
	    "%d.%d x B + %s margin = %s, disk staging at %d.%d x B + %s = %s; "
	    "MemAvailable %s: %s (--stage %s); disk staging %s", k, i, bb,
	    PREFLIGHT_PEAK_RAM_TENTHS / 10, PREFLIGHT_PEAK_RAM_TENTHS % 10, m, nr,
	    PREFLIGHT_PEAK_DISK_TENTHS / 10, PREFLIGHT_PEAK_DISK_TENTHS % 10, m, nd,
	    avail ? a : "unknown", verdict, preflight_stage_name(want), where);
	if (*chosen == PREFLIGHT_STAGE_AUTO)
		return nk_fail(e, NK_E_KERNEL, "not enough memory to stage and load this bundle: %s",
		    formula);
	return 0;
}
