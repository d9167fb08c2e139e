/* cmd_bundle: `nixos-kexec bundle` makes an unsigned bundle directory from a
 * kernel, an initrd and a command line: the two artifacts copied in (hashed
 * in the same pass, so the manifest describes exactly the bytes written)
 * and a canonical manifest. Signing is a separate step.
 *
 * Defaults: --arch is uname -m; --name is nixos-<arch>-<version>;
 * --expires-in is 30 days; --issued is now. An artifact keeps its input's
 * base name when that is a valid manifest file name, else becomes
 * "kernel"/"initrd" (both fall back when the two would collide); --store F
 * (the Nix store squashfs of a lean bundle, manifest format 2) likewise, or
 * "nix-store.squashfs". -o DIR must
 * not exist or be an empty directory; on failure everything this command
 * created is removed again. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "err.h"
#include "fileio.h"
#include "manifest.h"
#include "sha256.h"

#define BUNDLE_EXPIRES_IN_DEFAULT_SECONDS (30ULL * 24 * 60 * 60)
#define BUNDLE_FILE_MODE 0644
#define BUNDLE_DIR_MODE 0755

struct bundle_opts {
	const char *kernel, *initrd, *store, *cmdline, *version, *arch, *name;
	const char *expires_in, *issued, *out;
};

/* What this run made, so a failure can take it back. */
struct bundle_undo {
	const char *dir;
	int made_dir;
	char files[3][PATH_MAX];
	int nfiles;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: nixos-kexec bundle --kernel F --initrd F --cmdline S --version N\n"
	    "                          [--arch A] [--name S] [--expires-in SECONDS]\n"
	    "                          [--issued UNIX] [--store F] -o DIR\n"
	    "\n"
	    "Copies the kernel and initrd (and the store) into DIR (which must not\n"
	    "exist or be empty) and writes DIR/manifest with their sizes and SHA-256\n"
	    "digests.\n"
	    "\n"
	    "  --kernel F          kernel image (bzImage, Image, ...)\n"
	    "  --initrd F          initrd\n"
	    "  --store F           the Nix store squashfs of a lean bundle (the initrd\n"
	    "                      then holds stage 1 only); the manifest says format 2\n"
	    "  --cmdline S         kernel command line (printable ASCII, <= %d bytes)\n"
	    "  --version N         bundle version; targets refuse versions below their floor\n"
	    "  --arch A            uname -m of the target (default: this machine's)\n"
	    "  --name S            bundle name (default: nixos-ARCH-VERSION)\n"
	    "  --expires-in SECS   validity from --issued (default: %llu, 30 days)\n"
	    "  --issued UNIX       issue time in Unix seconds (default: now)\n"
	    "  -o, --output DIR    the bundle directory to create\n"
	    "\n"
	    "Then sign it: nixos-kexec sign -s KEY DIR   (or: minisign -Sm DIR/manifest)\n",
	    MANIFEST_CMDLINE_MAX_BYTES, (unsigned long long)BUNDLE_EXPIRES_IN_DEFAULT_SECONDS);
}

static const char *
opt_name(const struct option *opts, int c)
{
	for (; opts->name != NULL; opts++)
		if (opts->val == c)
			return c == 'o' ? "o" : opts->name;
	return "?";
}

/* Parses argv into o; returns -1 when done (help printed), else an exit. */
static int
parse_args(int argc, char **argv, struct bundle_opts *o)
{
	enum { O_KERNEL = 256, O_INITRD, O_STORE, O_CMDLINE, O_VERSION, O_ARCH, O_NAME,
		O_EXPIRES_IN, O_ISSUED };
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, O_KERNEL },
		{ "initrd", required_argument, NULL, O_INITRD },
		{ "store", required_argument, NULL, O_STORE },
		{ "cmdline", required_argument, NULL, O_CMDLINE },
		{ "version", required_argument, NULL, O_VERSION },
		{ "arch", required_argument, NULL, O_ARCH },
		{ "name", required_argument, NULL, O_NAME },
		{ "expires-in", required_argument, NULL, O_EXPIRES_IN },
		{ "issued", required_argument, NULL, O_ISSUED },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char **slot;
	int c;

	/* 0, not 1: glibc then resets its state, so the command can run more
	 * than once in a process (the unit tests do). */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
		switch (c) {
		case O_KERNEL: slot = &o->kernel; break;
		case O_INITRD: slot = &o->initrd; break;
		case O_STORE: slot = &o->store; break;
		case O_CMDLINE: slot = &o->cmdline; break;
		case O_VERSION: slot = &o->version; break;
		case O_ARCH: slot = &o->arch; break;
		case O_NAME: slot = &o->name; break;
		case O_EXPIRES_IN: slot = &o->expires_in; break;
		case O_ISSUED: slot = &o->issued; break;
		case 'o': slot = &o->out; break;
		case 'h':
			usage(stdout);
			return -1;
		case ':':
			return cmd_usage("bundle", "option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt != 0)
				return cmd_usage("bundle", "unknown option '-%c'", optopt);
			return cmd_usage("bundle", "unknown option '%s'", argv[optind - 1]);
		}
		if (*slot != NULL)
			return cmd_usage("bundle", "option %s%s given twice", c == 'o' ? "-" : "--",
			    opt_name(longopts, c));
		*slot = optarg;
	}
	if (optind < argc)
		return cmd_usage("bundle", "unexpected argument '%s'", argv[optind]);
	if (o->kernel == NULL)
		return cmd_usage("bundle", "--kernel is required");
	if (o->initrd == NULL)
		return cmd_usage("bundle", "--initrd is required");
	if (o->cmdline == NULL)
		return cmd_usage("bundle", "--cmdline is required");
	if (o->version == NULL)
		return cmd_usage("bundle", "--version is required");
	if (o->out == NULL)
		return cmd_usage("bundle", "-o DIR is required");
	return 0;
}

static int
number_arg(const char *opt, const char *s, uint64_t *v)
{
	if (manifest_parse_u64(s, strlen(s), v) != 0)
		return cmd_usage("bundle", "%s '%s' is not an unsigned decimal number "
		    "(no sign, no leading zero, at most 18446744073709551615)", opt, s);
	return 0;
}

/* Bounded copy of a string option into a manifest field; the manifest
 * check that follows reports anything too long by the rule it breaks. */
static void
set_field(char *dst, size_t cap, const char *s)
{
	size_t n = strnlen(s, cap);

	memcpy(dst, s, n < cap ? n : cap);
	if (n < cap)
		dst[n] = '\0';
}

/* Fills the manifest's text fields and times from the options. */
static int
fill_manifest(const struct bundle_opts *o, struct manifest *m)
{
	uint64_t expires_in = BUNDLE_EXPIRES_IN_DEFAULT_SECONDS;
	struct utsname u;
	char name[MANIFEST_NAME_MAX_BYTES + 64];
	int rc;

	if ((rc = number_arg("--version", o->version, &m->version)) != 0)
		return rc;
	if (o->issued != NULL) {
		if ((rc = number_arg("--issued", o->issued, &m->issued)) != 0)
			return rc;
	} else {
		m->issued = (uint64_t)time(NULL);
	}
	if (o->expires_in != NULL && (rc = number_arg("--expires-in", o->expires_in,
	    &expires_in)) != 0)
		return rc;
	if (expires_in == 0)
		return cmd_usage("bundle", "--expires-in must be at least 1 second");
	if (expires_in > UINT64_MAX - m->issued)
		return cmd_usage("bundle", "--issued + --expires-in overflows 64 bits");
	m->expires = m->issued + expires_in;
	if (o->arch != NULL) {
		set_field(m->arch, sizeof(m->arch), o->arch);
	} else {
		if (uname(&u) != 0)
			return cmd_die(NK_E_INTERNAL, "bundle: uname failed; give --arch");
		set_field(m->arch, sizeof(m->arch), u.machine);
	}
	if (o->name != NULL) {
		set_field(m->name, sizeof(m->name), o->name);
	} else {
		snprintf(name, sizeof(name), "nixos-%.*s-%llu",
		    (int)strnlen(m->arch, sizeof(m->arch)), m->arch,
		    (unsigned long long)m->version);
		set_field(m->name, sizeof(m->name), name);
	}
	set_field(m->cmdline, sizeof(m->cmdline), o->cmdline);
	return 0;
}

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

static void
choose_names(const struct bundle_opts *o, struct manifest *m)
{
	const char *k = base_name(o->kernel), *i = base_name(o->initrd), *st;

	if (!manifest_file_name_ok(k, strlen(k)))
		k = "kernel";
	if (!manifest_file_name_ok(i, strlen(i)))
		i = "initrd";
	if (strcmp(k, i) == 0) {
		k = "kernel";
		i = "initrd";
	}
	set_field(m->kernel.file, sizeof(m->kernel.file), k);
	set_field(m->initrd.file, sizeof(m->initrd.file), i);
	if (o->store == NULL)
		return;
	m->has_store = 1;
	st = base_name(o->store);
	if (!manifest_file_name_ok(st, strlen(st)) || strcmp(st, k) == 0 || strcmp(st, i) == 0)
		st = "nix-store.squashfs";
	set_field(m->store.file, sizeof(m->store.file), st);
}

/* DIR must be absent (we make it) or an empty directory. */
static int
make_dir(const char *dir, struct bundle_undo *u, struct nk_err *e)
{
	struct dirent *d;
	struct stat st;
	DIR *dp;
	int rc;

	if (mkdir(dir, BUNDLE_DIR_MODE) == 0) {
		u->made_dir = 1;
		return 0;
	}
	if (errno != EEXIST)
		return nk_fail(e, NK_E_IO, "%s: %s", dir, strerror(errno));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return nk_fail(e, NK_E_USAGE, "%s exists and is not a directory", dir);
	if ((dp = opendir(dir)) == NULL)
		return nk_fail(e, NK_E_IO, "%s: %s", dir, strerror(errno));
	while ((d = readdir(dp)) != NULL)
		if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0)
			break;
	/* d points into dp: format before closing. */
	rc = d == NULL ? 0 : nk_fail(e, NK_E_USAGE,
	    "%s is not empty (holds '%s'); give a new or empty directory", dir, d->d_name);
	closedir(dp);
	return rc;
}

static void
undo(struct bundle_undo *u)
{
	int i;

	for (i = u->nfiles - 1; i >= 0; i--)
		unlink(u->files[i]);
	if (u->made_dir)
		rmdir(u->dir);
}

static int
join(char *out, const char *dir, const char *file, struct nk_err *e)
{
	if (snprintf(out, PATH_MAX, "%s/%s", dir, file) >= PATH_MAX)
		return nk_fail(e, NK_E_USAGE, "%s/%s: path too long", dir, file);
	return 0;
}

/* Copies an opened input into the bundle, filling a's size and digest
 * from the bytes actually written. */
static int
copy_artifact(const char *src, int in, struct manifest_artifact *a, struct bundle_undo *u,
    struct nk_err *e)
{
	char *dst = u->files[u->nfiles];
	int out, rc;

	if ((rc = join(dst, u->dir, a->file, e)) != 0)
		return rc;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, BUNDLE_FILE_MODE);
	if (out < 0)
		return nk_fail(e, NK_E_IO, "%s: %s", dst, strerror(errno));
	u->nfiles++;
	if ((rc = sha256_copy_fd(in, out, MANIFEST_ARTIFACT_MAX_BYTES, &a->size, a->sha256,
	    e)) != 0) {
		nk_err_prefix(e, src);
		goto out;
	}
	/* Checked again on the bytes read: the file may have changed. */
	if (a->size == 0) {
		rc = nk_fail(e, NK_E_USAGE, "%s is empty", src);
		goto out;
	}
	if (fsync(out) != 0) {
		rc = nk_fail(e, NK_E_IO, "%s: %s", dst, strerror(errno));
		goto out;
	}
	rc = close(out);
	out = -1;
	if (rc != 0)
		rc = nk_fail(e, NK_E_IO, "%s: %s", dst, strerror(errno));
out:
	if (out >= 0)
		close(out);
	return rc;
}

/* Opens an input; its size must fit an artifact before anything is made.
 * Unlike the agent's own files, inputs may be symlinks: a Nix build's
 * kexec tree is made of them (bzImage -> /nix/store/...). */
static int
open_input(const char *what, const char *path, int *fd, struct nk_err *e)
{
	struct stat st;

	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return nk_fail(e, errno == ENOENT ? NK_E_MISSING : NK_E_IO, "%s %s: %s", what,
		    path, strerror(errno));
	if (fstat(*fd, &st) != 0)
		return nk_fail(e, NK_E_IO, "%s %s: %s", what, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return nk_fail(e, NK_E_USAGE, "%s %s: not a regular file", what, path);
	if (st.st_size == 0 || (uint64_t)st.st_size > MANIFEST_ARTIFACT_MAX_BYTES)
		return nk_fail(e, NK_E_USAGE, "%s %s: %lld bytes, outside 1..%llu", what, path,
		    (long long)st.st_size, (unsigned long long)MANIFEST_ARTIFACT_MAX_BYTES);
	return 0;
}

static void
print_artifact(const char *key, const struct manifest_artifact *a)
{
	char hex[SHA256_HEX_BYTES];

	sha256_hex(a->sha256, hex);
	printf("  %-7s %-16s %12llu bytes  sha256:%s\n", key, a->file,
	    (unsigned long long)a->size, hex);
}

static void
print_time(const char *label, uint64_t t)
{
	char s[64] = "?";
	time_t tt = (time_t)t;
	struct tm tm;

	if ((uint64_t)tt == t && gmtime_r(&tt, &tm) != NULL)
		strftime(s, sizeof(s), "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("  %-7s %s (%llu)\n", label, s, (unsigned long long)t);
}

static void
summary(const char *dir, const struct manifest *m)
{
	printf("bundle %s: %s, version %llu, arch %s\n", dir, m->name,
	    (unsigned long long)m->version, m->arch);
	print_artifact("kernel", &m->kernel);
	print_artifact("initrd", &m->initrd);
	if (m->has_store)
		print_artifact("store", &m->store);
	printf("  %-7s %s\n", "cmdline", m->cmdline);
	print_time("issued", m->issued);
	print_time("expires", m->expires);
	printf("next, sign the manifest (unsigned bundles are refused):\n"
	    "  nixos-kexec sign -s KEY %s\n"
	    "  or: minisign -Sm %s/manifest\n", dir, dir);
}

int
cmd_bundle(int argc, char **argv)
{
	struct bundle_opts o = { 0 };
	struct bundle_undo u = { 0 };
	struct manifest m = { 0 };
	struct nk_err e = { "" };
	char text[MANIFEST_WRITE_MAX_BYTES], path[PATH_MAX];
	int rc, fd, kin = -1, iin = -1, sin = -1;
	size_t len;

	if ((rc = parse_args(argc, argv, &o)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = fill_manifest(&o, &m)) != 0)
		return rc;
	choose_names(&o, &m);
	/* Check every field before touching the disk, with a stand-in size
	 * and digest for the artifacts not yet read. */
	m.kernel.size = m.initrd.size = m.store.size = 1;
	if (manifest_write(&m, text, sizeof(text), &len, &e) != 0)
		return cmd_usage("bundle", "%s", e.msg);
	if (join(path, o.out, "manifest", &e) != 0)
		return cmd_usage("bundle", "%s", e.msg);
	if ((rc = open_input("kernel", o.kernel, &kin, &e)) != 0 ||
	    (rc = open_input("initrd", o.initrd, &iin, &e)) != 0 ||
	    (o.store != NULL && (rc = open_input("store", o.store, &sin, &e)) != 0))
		goto fail;

	u.dir = o.out;
	if ((rc = make_dir(o.out, &u, &e)) != 0)
		goto fail;
	if ((rc = copy_artifact(o.kernel, kin, &m.kernel, &u, &e)) != 0 ||
	    (rc = copy_artifact(o.initrd, iin, &m.initrd, &u, &e)) != 0 ||
	    (o.store != NULL && (rc = copy_artifact(o.store, sin, &m.store, &u, &e)) != 0))
		goto fail;
	if ((rc = manifest_write(&m, text, sizeof(text), &len, &e)) != 0)
		goto fail;
	if ((rc = fileio_write_atomic(path, text, len, BUNDLE_FILE_MODE, &e)) != 0)
		goto fail;
	/* Make the new names durable too, not only the bytes. */
	if ((fd = open(o.out, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	close(kin);
	close(iin);
	if (sin >= 0)
		close(sin);
	summary(o.out, &m);
	return 0;
fail:
	undo(&u);
	if (sin >= 0)
		close(sin);
	if (iin >= 0)
		close(iin);
	if (kin >= 0)
		close(kin);
	/* A missing input or a used directory is the caller's mistake. */
	if (rc == NK_E_USAGE || rc == NK_E_MISSING)
		return cmd_usage("bundle", "%s", e.msg);
	return cmd_die(rc, e.msg);
}
