/* test_bundle: `nixos-kexec bundle` end to end on temporary files. A
 * success must leave a manifest the parser accepts with the sizes and
 * digests of the bytes copied; every refusal must leave no directory (or
 * an empty one it did not make) behind, with the exit status DESIGN.md
 * gives it. Inputs are made in each case from a byte pattern, so digests
 * are recomputed here, not copied from anywhere. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd.h"
#include "fileio.h"
#include "manifest.h"
#include "sha256.h"

#define KERNEL_BYTES 100003 /* not a multiple of any buffer size */
#define INITRD_BYTES 5000

struct ctx {
	char dir[64];
	char cwd[PATH_MAX];
};

/* A file of n bytes of a pattern seeded by `seed`. */
static void
make_file(const char *path, size_t n, unsigned seed)
{
	uint8_t *b = malloc(n + 1);
	size_t i;
	int fd;

	assert_non_null(b);
	for (i = 0; i < n; i++)
		b[i] = (uint8_t)((i * 2654435761u + seed) >> 13);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	close(fd);
	free(b);
}

static int
setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (c == NULL || getcwd(c->cwd, sizeof(c->cwd)) == NULL)
		return -1;
	strcpy(c->dir, "/tmp/nk-test-bundle-XXXXXX");
	if (mkdtemp(c->dir) == NULL || chdir(c->dir) != 0)
		return -1;
	make_file("bzImage", KERNEL_BYTES, 1);
	make_file("initrd.img", INITRD_BYTES, 2);
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct ctx *c = *state;
	char cmd[128];
	int rc;

	if (chdir(c->cwd) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
	rc = system(cmd);
	free(c);
	return rc == 0 ? 0 : -1;
}

/* Runs `bundle ARGS...` (NULL-terminated) and returns its exit status. */
static int
run(const char *first, ...)
{
	char *argv[64];
	const char *a;
	va_list ap;
	int argc = 0;

	argv[argc++] = (char *)"bundle";
	va_start(ap, first);
	for (a = first; a != NULL; a = va_arg(ap, const char *)) {
		assert_true(argc < 63);
		argv[argc++] = (char *)a;
	}
	va_end(ap);
	argv[argc] = NULL;
	fflush(stdout);
	return cmd_bundle(argc, argv);
}

/* The standard invocation with the last options varied by the case. */
#define STD "--kernel", "bzImage", "--initrd", "initrd.img", "--cmdline", "init=/x quiet", \
	"--arch", "x86_64", "--issued", "1000"

static void
assert_absent(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static int
count_entries(const char *dir)
{
	struct dirent *d;
	DIR *dp = opendir(dir);
	int n = 0;

	assert_non_null(dp);
	while ((d = readdir(dp)) != NULL)
		n += strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
	closedir(dp);
	return n;
}

static void
load(const char *dir, struct manifest *m)
{
	struct nk_err e = { "" };
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/manifest", dir);
	assert_int_equal(fileio_read_capped(path, MANIFEST_MAX_BYTES, &buf, &len, &e), 0);
	if (manifest_parse(buf, len, m, &e) != 0)
		print_error("%s\n", e.msg);
	free(buf);
	assert_string_equal(e.msg, "");
}

/* The artifact in the bundle equals its input, and the manifest holds
 * that file's size and digest. */
static void
assert_artifact(const char *dir, const struct manifest_artifact *a, const char *input,
    size_t size)
{
	uint8_t want[SHA256_BYTES], got[SHA256_BYTES];
	struct nk_err e = { "" };
	char path[PATH_MAX];
	int fd;

	fd = open(input, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(sha256_fd(fd, want, &e), 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/%s", dir, a->file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(sha256_fd(fd, got, &e), 0);
	close(fd);
	assert_true(a->size == size);
	assert_memory_equal(a->sha256, want, SHA256_BYTES);
	assert_memory_equal(got, want, SHA256_BYTES);
}

/* --- successes --- */

static void
test_ok(void **state)
{
	struct manifest m;

	assert_int_equal(run(STD, "--version", "5", "-o", "out", NULL), 0);
	load("out", &m);
	assert_string_equal(m.name, "nixos-x86_64-5");
	assert_true(m.version == 5);
	assert_string_equal(m.arch, "x86_64");
	assert_true(m.issued == 1000 && m.expires == 1000 + 30 * 24 * 3600);
	assert_string_equal(m.cmdline, "init=/x quiet");
	assert_string_equal(m.kernel.file, "bzImage");
	assert_string_equal(m.initrd.file, "initrd.img");
	assert_artifact("out", &m.kernel, "bzImage", KERNEL_BYTES);
	assert_artifact("out", &m.initrd, "initrd.img", INITRD_BYTES);
	assert_int_equal(count_entries("out"), 3);
}

static void
test_ok_options(void **state)
{
	struct manifest m;

	assert_int_equal(run(STD, "--version", "18446744073709551615", "--name", "fleet-a.1+b",
	    "--expires-in", "60", "--output", "out", NULL), 0);
	load("out", &m);
	assert_string_equal(m.name, "fleet-a.1+b");
	assert_true(m.version == UINT64_MAX);
	assert_true(m.expires == 1060);
}

static void
test_ok_default_arch_and_time(void **state)
{
	struct manifest m;

	assert_int_equal(run("--kernel", "bzImage", "--initrd", "initrd.img", "--cmdline", "x",
	    "--version", "1", "-o", "out", NULL), 0);
	load("out", &m);
	assert_true(m.arch[0] != '\0');
	assert_true(m.issued > 1700000000);
}

static void
test_ok_into_empty_dir(void **state)
{
	assert_int_equal(mkdir("out", 0755), 0);
	assert_int_equal(run(STD, "--version", "1", "-o", "out", NULL), 0);
	assert_int_equal(count_entries("out"), 3);
}

static void
test_ok_symlinked_inputs(void **state)
{
	struct manifest m;

	/* A Nix kexec tree is symlinks into the store; they are followed. */
	assert_int_equal(mkdir("tree", 0755), 0);
	assert_int_equal(symlink("../bzImage", "tree/bzImage"), 0);
	assert_int_equal(symlink("../initrd.img", "tree/initrd"), 0);
	assert_int_equal(run("--kernel", "tree/bzImage", "--initrd", "tree/initrd", "--cmdline",
	    "x", "--version", "1", "-o", "out", NULL), 0);
	load("out", &m);
	assert_string_equal(m.initrd.file, "initrd");
	assert_artifact("out", &m.kernel, "bzImage", KERNEL_BYTES);
}

static void
test_ok_unusable_names_fall_back(void **state)
{
	struct manifest m;

	/* ".vmlinuz" (hidden) and "manifest" (reserved) cannot be used. */
	make_file(".vmlinuz", 10, 3);
	make_file("manifest", 20, 4);
	assert_int_equal(run("--kernel", ".vmlinuz", "--initrd", "manifest", "--cmdline", "x",
	    "--version", "1", "-o", "out", NULL), 0);
	load("out", &m);
	assert_string_equal(m.kernel.file, "kernel");
	assert_string_equal(m.initrd.file, "initrd");
	assert_artifact("out", &m.initrd, "manifest", 20);
}

static void
test_ok_same_base_names(void **state)
{
	struct manifest m;

	assert_int_equal(mkdir("a", 0755), 0);
	assert_int_equal(mkdir("b", 0755), 0);
	make_file("a/image", 10, 5);
	make_file("b/image", 11, 6);
	assert_int_equal(run("--kernel", "a/image", "--initrd", "b/image", "--cmdline", "x",
	    "--version", "1", "-o", "out", NULL), 0);
	load("out", &m);
	assert_string_equal(m.kernel.file, "kernel");
	assert_string_equal(m.initrd.file, "initrd");
	assert_artifact("out", &m.kernel, "a/image", 10);
	assert_artifact("out", &m.initrd, "b/image", 11);
}

static void
test_help(void **state)
{
	assert_int_equal(run("--help", NULL), 0);
	assert_int_equal(count_entries("."), 2);
}

/* --- refusals: exit status, and nothing left behind --- */

#define REFUSE(fn, status, ...) \
	static void fn(void **state) \
	{ \
		assert_int_equal(run(__VA_ARGS__, NULL), status); \
		assert_absent("out"); \
		assert_int_equal(count_entries("."), 2); \
	}

REFUSE(test_version_leading_zero, 64, STD, "--version", "07", "-o", "out")
REFUSE(test_version_negative, 64, STD, "--version", "-1", "-o", "out")
REFUSE(test_version_not_number, 64, STD, "--version", "v1", "-o", "out")
REFUSE(test_version_empty, 64, STD, "--version", "", "-o", "out")
REFUSE(test_version_overflow, 64, STD, "--version", "18446744073709551616", "-o", "out")
REFUSE(test_version_missing, 64, STD, "-o", "out")
REFUSE(test_output_missing, 64, STD, "--version", "1")
REFUSE(test_kernel_missing_option, 64, "--initrd", "initrd.img", "--cmdline", "x", "--version", "1", "-o", "out")
REFUSE(test_kernel_absent, 64, "--kernel", "nope", "--initrd", "initrd.img", "--cmdline", "x", "--version", "1", "-o", "out")
REFUSE(test_initrd_absent, 64, "--kernel", "bzImage", "--initrd", "nope", "--cmdline", "x", "--version", "1", "-o", "out")
REFUSE(test_kernel_is_directory, 64, "--kernel", ".", "--initrd", "initrd.img", "--cmdline", "x", "--version", "1", "-o", "out")
REFUSE(test_kernel_is_device, 64, "--kernel", "/dev/zero", "--initrd", "initrd.img", "--cmdline", "x", "--version", "1", "-o", "out")
REFUSE(test_cmdline_missing, 64, "--kernel", "bzImage", "--initrd", "initrd.img", "--version", "1", "-o", "out")
REFUSE(test_cmdline_empty, 64, STD, "--cmdline", "", "--version", "1", "-o", "out")
REFUSE(test_cmdline_given_twice, 64, STD, "--cmdline", "y", "--version", "1", "-o", "out")
REFUSE(test_cmdline_newline, 64, "--kernel", "bzImage", "--initrd", "initrd.img", "--cmdline", "quiet\nversion 9", "--version", "1", "-o", "out")
REFUSE(test_cmdline_tab, 64, "--kernel", "bzImage", "--initrd", "initrd.img", "--cmdline", "a\tb", "--version", "1", "-o", "out")
REFUSE(test_cmdline_utf8, 64, "--kernel", "bzImage", "--initrd", "initrd.img", "--cmdline", "caf\xc3\xa9", "--version", "1", "-o", "out")
REFUSE(test_arch_uppercase, 64, "--kernel", "bzImage", "--initrd", "initrd.img", "--cmdline", "x", "--arch", "X86_64", "--version", "1", "-o", "out")
REFUSE(test_arch_too_long, 64, "--kernel", "bzImage", "--initrd", "initrd.img", "--cmdline", "x", "--arch", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "--version", "1", "-o", "out")
REFUSE(test_name_slash, 64, STD, "--name", "../x", "--version", "1", "-o", "out")
REFUSE(test_expires_in_zero, 64, STD, "--expires-in", "0", "--version", "1", "-o", "out")
REFUSE(test_issued_overflow, 64, "--kernel", "bzImage", "--initrd", "initrd.img", "--cmdline", "x", "--issued", "18446744073709551615", "--version", "1", "-o", "out")
REFUSE(test_unknown_option, 64, STD, "--sign", "--version", "1", "-o", "out")
REFUSE(test_positional_argument, 64, STD, "--version", "1", "-o", "out", "extra")
REFUSE(test_option_without_value, 64, STD, "--version", "1", "-o")

static void
test_kernel_empty(void **state)
{
	make_file("empty", 0, 0);
	assert_int_equal(run("--kernel", "empty", "--initrd", "initrd.img", "--cmdline", "x",
	    "--version", "1", "-o", "out", NULL), 64);
	assert_absent("out");
}

static void
test_cmdline_4097_bytes(void **state)
{
	char *c = malloc(4098);

	assert_non_null(c);
	memset(c, 'c', 4097);
	c[4097] = '\0';
	assert_int_equal(run(STD, "--cmdline", c, "--version", "1", "-o", "out", NULL), 64);
	assert_absent("out");
	free(c);
}

static void
test_output_not_empty(void **state)
{
	assert_int_equal(mkdir("out", 0755), 0);
	make_file("out/precious", 3, 7);
	assert_int_equal(run(STD, "--version", "1", "-o", "out", NULL), 64);
	assert_int_equal(count_entries("out"), 1);
}

static void
test_output_holds_manifest(void **state)
{
	/* An earlier bundle is never overwritten. */
	assert_int_equal(run(STD, "--version", "1", "-o", "out", NULL), 0);
	assert_int_equal(run(STD, "--version", "2", "-o", "out", NULL), 64);
	assert_int_equal(count_entries("out"), 3);
}

static void
test_output_is_file(void **state)
{
	make_file("out", 3, 8);
	assert_int_equal(run(STD, "--version", "1", "-o", "out", NULL), 64);
}

static void
test_output_parent_missing(void **state)
{
	assert_int_equal(run(STD, "--version", "1", "-o", "no/such/out", NULL), 74);
	assert_absent("no");
}

/* Writing the initrd fails half-way (a file size limit: EFBIG) after the
 * kernel was copied: the kernel copy and the directory must both go. */
static void
fail_midway(const char *out)
{
	struct rlimit old, lim;

	make_file("big-initrd", 300000, 9);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 200000;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(run("--kernel", "bzImage", "--initrd", "big-initrd", "--cmdline", "x",
	    "--version", "1", "-o", out, NULL), 74);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
}

static void
test_write_fails_midway(void **state)
{
	fail_midway("out");
	assert_absent("out");
}

static void
test_write_fails_midway_existing_dir(void **state)
{
	/* A directory it did not make stays, emptied of what it wrote. */
	assert_int_equal(mkdir("out", 0755), 0);
	fail_midway("out");
	assert_int_equal(count_entries("out"), 0);
}

/* --store: the lean bundle's squashfs, a third artifact, format 2 */
static void
test_ok_store(void **state)
{
	struct manifest m;

	make_file("nix-store.squashfs", 7000, 3);
	assert_int_equal(run(STD, "--version", "5", "--store", "nix-store.squashfs", "-o", "out",
	    NULL), 0);
	load("out", &m);
	assert_int_equal(m.format, 2);
	assert_int_equal(m.has_store, 1);
	assert_string_equal(m.store.file, "nix-store.squashfs");
	assert_artifact("out", &m.store, "nix-store.squashfs", 7000);
	assert_artifact("out", &m.initrd, "initrd.img", INITRD_BYTES);
	assert_int_equal(count_entries("out"), 4);
}

/* A store named like the initrd gets the standard name, not a clash. */
static void
test_ok_store_name_clash(void **state)
{
	struct manifest m;

	assert_int_equal(mkdir("s", 0755), 0);
	make_file("s/initrd.img", 300, 4);
	assert_int_equal(run(STD, "--version", "5", "--store", "s/initrd.img", "-o", "out", NULL), 0);
	load("out", &m);
	assert_string_equal(m.store.file, "nix-store.squashfs");
	assert_artifact("out", &m.store, "s/initrd.img", 300);
}

static void
test_store_absent(void **state)
{
	assert_int_not_equal(run(STD, "--version", "5", "--store", "nope", "-o", "out", NULL), 0);
	assert_absent("out");
}

static void
test_store_empty(void **state)
{
	make_file("empty", 0, 1);
	assert_int_not_equal(run(STD, "--version", "5", "--store", "empty", "-o", "out", NULL), 0);
	assert_absent("out");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_ok),
		T(test_ok_options),
		T(test_ok_default_arch_and_time),
		T(test_ok_into_empty_dir),
		T(test_ok_symlinked_inputs),
		T(test_ok_unusable_names_fall_back),
		T(test_ok_same_base_names),
		T(test_ok_store),
		T(test_ok_store_name_clash),
		T(test_store_absent),
		T(test_store_empty),
		T(test_help),
		T(test_version_leading_zero),
		T(test_version_negative),
		T(test_version_not_number),
		T(test_version_empty),
		T(test_version_overflow),
		T(test_version_missing),
		T(test_output_missing),
		T(test_kernel_missing_option),
		T(test_kernel_absent),
		T(test_initrd_absent),
		T(test_kernel_is_directory),
		T(test_kernel_is_device),
		T(test_kernel_empty),
		T(test_cmdline_missing),
		T(test_cmdline_empty),
		T(test_cmdline_given_twice),
		T(test_cmdline_newline),
		T(test_cmdline_tab),
		T(test_cmdline_utf8),
		T(test_cmdline_4097_bytes),
		T(test_arch_uppercase),
		T(test_arch_too_long),
		T(test_name_slash),
		T(test_expires_in_zero),
		T(test_issued_overflow),
		T(test_unknown_option),
		T(test_positional_argument),
		T(test_option_without_value),
		T(test_output_not_empty),
		T(test_output_holds_manifest),
		T(test_output_is_file),
		T(test_output_parent_missing),
		T(test_write_fails_midway),
		T(test_write_fails_midway_existing_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
