/* test_fileio: opening by path refuses what an attacker with a writable
 * directory could plant (symlinks, directories, oversized files), and
 * atomic writes leave either the old file or the new one, never a
 * temporary. Every case builds its files in a fresh mkdtemp directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fileio.h"

struct dir {
	char path[64];
};

static int
setup(void **state)
{
	struct dir *d = malloc(sizeof(*d));

	if (d == NULL)
		return -1;
	strcpy(d->path, "/tmp/nk-test-fileio-XXXXXX");
	if (mkdtemp(d->path) == NULL)
		return -1;
	*state = d;
	return 0;
}

static int
teardown(void **state)
{
	struct dir *d = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
	if (system(cmd) != 0)
		return -1;
	free(d);
	return 0;
}

static const char *
at(void **state, const char *name)
{
	static char p[PATH_MAX];
	struct dir *d = *state;

	snprintf(p, sizeof(p), "%s/%s", d->path, name);
	return p;
}

static void
put(const char *path, const char *s, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, n), (ssize_t)n);
	close(fd);
}

/* Number of entries in the test directory other than . and .. */
static int
entries(void **state)
{
	struct dir *d = *state;
	struct dirent *de;
	DIR *dp = opendir(d->path);
	int n = 0;

	assert_non_null(dp);
	while ((de = readdir(dp)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(dp);
	return n;
}

static void
test_read_capped(void **state)
{
	struct nk_err e = { "" };
	uint8_t *buf = NULL;
	size_t len = 0;

	put(at(state, "f"), "hello", 5);
	assert_int_equal(fileio_read_capped(at(state, "f"), 5, &buf, &len, &e), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "hello", 6); /* NUL-terminated too */
	free(buf);
}

static void
test_read_capped_empty(void **state)
{
	struct nk_err e = { "" };
	uint8_t *buf = NULL;
	size_t len = 9;

	put(at(state, "f"), "", 0);
	assert_int_equal(fileio_read_capped(at(state, "f"), 5, &buf, &len, &e), 0);
	assert_int_equal(len, 0);
	free(buf);
}

static void
test_read_over_cap(void **state)
{
	struct nk_err e = { "" };
	uint8_t *buf = NULL;
	size_t len = 0;

	put(at(state, "f"), "hello!", 6);
	assert_int_equal(fileio_read_capped(at(state, "f"), 5, &buf, &len, &e), NK_E_SIZE);
	assert_null(buf);
}

static void
test_read_symlink_refused(void **state)
{
	struct nk_err e = { "" };
	uint8_t *buf = NULL;
	size_t len = 0;
	char target[PATH_MAX];

	put(at(state, "real"), "x", 1);
	strcpy(target, at(state, "real"));
	assert_int_equal(symlink(target, at(state, "link")), 0);
	assert_int_equal(fileio_read_capped(at(state, "link"), 5, &buf, &len, &e), NK_E_IO);
	assert_null(buf);
}

static void
test_read_dangling_symlink_refused(void **state)
{
	struct nk_err e = { "" };
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_int_equal(symlink("/nonexistent/nk", at(state, "link")), 0);
	assert_int_equal(fileio_read_capped(at(state, "link"), 5, &buf, &len, &e), NK_E_IO);
}

static void
test_read_directory_refused(void **state)
{
	struct nk_err e = { "" };
	uint8_t *buf = NULL;
	size_t len = 0;
	struct dir *d = *state;

	assert_int_equal(fileio_read_capped(d->path, 5, &buf, &len, &e), NK_E_IO);
	assert_non_null(strstr(e.msg, "not a regular file"));
}

static void
test_read_device_refused(void **state)
{
	struct nk_err e = { "" };
	uint8_t *buf = NULL;
	size_t len = 0;

	/* /dev/zero would never end; the size cap must not be the only guard. */
	assert_int_equal(fileio_read_capped("/dev/zero", 5, &buf, &len, &e), NK_E_IO);
}

static void
test_read_missing(void **state)
{
	struct nk_err e = { "" };
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_int_equal(fileio_read_capped(at(state, "absent"), 5, &buf, &len, &e),
	    NK_E_MISSING);
	assert_non_null(strstr(e.msg, "absent"));
}

static void
test_open_regular_size(void **state)
{
	struct nk_err e = { "" };
	off_t size = 0;
	int fd = -1;

	put(at(state, "f"), "12345678", 8);
	assert_int_equal(fileio_open_regular(at(state, "f"), &fd, &size, &e), 0);
	assert_int_equal(size, 8);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
}

static void
test_write_atomic(void **state)
{
	struct nk_err e = { "" };
	uint8_t *buf = NULL;
	size_t len = 0;
	struct stat st;
	mode_t old = umask(022);

	/* The mode is the one asked for, whatever the umask. */
	assert_int_equal(fileio_write_atomic(at(state, "m"), "abc", 3, 0666, &e), 0);
	umask(old);
	assert_int_equal(stat(at(state, "m"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0666);
	assert_int_equal(fileio_read_capped(at(state, "m"), 10, &buf, &len, &e), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "abc", 3);
	free(buf);
	assert_int_equal(entries(state), 1); /* no temporary left */
}

static void
test_write_atomic_private_mode(void **state)
{
	struct nk_err e = { "" };
	struct stat st;

	assert_int_equal(fileio_write_atomic(at(state, "key"), "s", 1, 0600, &e), 0);
	assert_int_equal(stat(at(state, "key"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void
test_write_atomic_replaces(void **state)
{
	struct nk_err e = { "" };
	uint8_t *buf = NULL;
	size_t len = 0;

	put(at(state, "m"), "old contents", 12);
	assert_int_equal(fileio_write_atomic(at(state, "m"), "new", 3, 0644, &e), 0);
	assert_int_equal(fileio_read_capped(at(state, "m"), 20, &buf, &len, &e), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "new", 3);
	free(buf);
	assert_int_equal(entries(state), 1);
}

static void
test_write_atomic_replaces_symlink_not_target(void **state)
{
	struct nk_err e = { "" };
	uint8_t *buf = NULL;
	size_t len = 0;
	struct stat st;
	char target[PATH_MAX];

	/* A symlink planted at the destination is replaced, not followed. */
	put(at(state, "victim"), "keep", 4);
	strcpy(target, at(state, "victim"));
	assert_int_equal(symlink(target, at(state, "m")), 0);
	assert_int_equal(fileio_write_atomic(at(state, "m"), "new", 3, 0644, &e), 0);
	assert_int_equal(lstat(at(state, "m"), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(fileio_read_capped(at(state, "victim"), 20, &buf, &len, &e), 0);
	assert_memory_equal(buf, "keep", 4);
	free(buf);
}

static void
test_write_atomic_missing_dir(void **state)
{
	struct nk_err e = { "" };

	assert_int_equal(fileio_write_atomic(at(state, "no/such/m"), "x", 1, 0644, &e), NK_E_IO);
	assert_int_equal(entries(state), 0);
}

static void
test_write_atomic_onto_directory(void **state)
{
	struct nk_err e = { "" };

	/* rename onto a directory fails; the temporary must go too. */
	assert_int_equal(mkdir(at(state, "d"), 0755), 0);
	assert_int_equal(fileio_write_atomic(at(state, "d"), "x", 1, 0644, &e), NK_E_IO);
	assert_int_equal(entries(state), 1);
}

static void
test_write_all_bad_fd(void **state)
{
	struct nk_err e = { "" };
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fileio_write_all(fd, "x", 1, &e), NK_E_IO);
	close(fd);
}

static void
test_copy_fd(void **state)
{
	struct nk_err e = { "" };
	uint8_t *buf = NULL;
	size_t len = 0;
	int in, out;

	put(at(state, "in"), "0123456789", 10);
	in = open(at(state, "in"), O_RDONLY | O_CLOEXEC);
	out = open(at(state, "out"), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(in >= 0 && out >= 0);
	/* Copies from offset 0, whatever the input's position. */
	assert_int_equal(lseek(in, 7, SEEK_SET), 7);
	assert_int_equal(fileio_copy_fd(in, out, &e), 0);
	close(in);
	close(out);
	assert_int_equal(fileio_read_capped(at(state, "out"), 20, &buf, &len, &e), 0);
	assert_int_equal(len, 10);
	assert_memory_equal(buf, "0123456789", 10);
	free(buf);
}

static void
test_copy_fd_unwritable(void **state)
{
	struct nk_err e = { "" };
	int in, out = open("/dev/null", O_RDONLY | O_CLOEXEC);

	put(at(state, "in"), "0123456789", 10);
	in = open(at(state, "in"), O_RDONLY | O_CLOEXEC);
	assert_true(in >= 0 && out >= 0);
	assert_int_equal(fileio_copy_fd(in, out, &e), NK_E_IO);
	close(in);
	close(out);
}

/* Public inputs (minisign public keys) may be symlinks: on NixOS every
 * file in /etc is one. The target must still be a regular file. */
static void
test_read_public_follows_symlinks(void **state)
{
	struct nk_err e = { "" };
	uint8_t *buf = NULL;
	size_t len = 0;
	char target[PATH_MAX];

	put(at(state, "real"), "key", 3);
	strcpy(target, at(state, "real"));
	assert_int_equal(symlink(target, at(state, "l1")), 0);
	assert_int_equal(symlink("l1", at(state, "l2")), 0); /* relative, two hops */
	assert_int_equal(fileio_read_public(at(state, "l2"), 5, &buf, &len, &e), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "key", 3);
	free(buf);
}

static void
test_read_public_still_refuses_what_is_not_a_file(void **state)
{
	struct nk_err e = { "" };
	uint8_t *buf = NULL;
	size_t len = 0;
	struct dir *d = *state;

	assert_int_equal(mkfifo(at(state, "fifo"), 0600), 0);
	assert_int_equal(symlink("fifo", at(state, "to-fifo")), 0);
	assert_int_equal(fileio_read_public(at(state, "to-fifo"), 5, &buf, &len, &e), NK_E_IO);
	assert_non_null(strstr(e.msg, "FIFO"));
	assert_int_equal(symlink(d->path, at(state, "to-dir")), 0);
	assert_int_equal(fileio_read_public(at(state, "to-dir"), 5, &buf, &len, &e), NK_E_IO);
	assert_int_equal(fileio_read_public("/dev/zero", 5, &buf, &len, &e), NK_E_IO);
	put(at(state, "big"), "123456", 6);
	assert_int_equal(symlink("big", at(state, "to-big")), 0);
	assert_int_equal(fileio_read_public(at(state, "to-big"), 5, &buf, &len, &e), NK_E_SIZE);
	assert_int_equal(symlink("nowhere", at(state, "dangling")), 0);
	assert_int_equal(fileio_read_public(at(state, "dangling"), 5, &buf, &len, &e),
	    NK_E_MISSING);
	assert_null(buf);
}

/* Where symlinks stay refused (secret keys), the refusal says so and
 * what to do instead of "Too many levels of symbolic links". */
static void
test_read_symlink_refusal_says_why(void **state)
{
	struct nk_err e = { "" };
	uint8_t *buf = NULL;
	size_t len = 0;

	put(at(state, "real"), "x", 1);
	assert_int_equal(symlink("real", at(state, "link")), 0);
	assert_int_equal(fileio_read_capped(at(state, "link"), 5, &buf, &len, &e), NK_E_IO);
	assert_non_null(strstr(e.msg, "symbolic link"));
	assert_non_null(strstr(e.msg, "readlink -f"));
}

static int
begin_in(void **state, const char *name, struct fileio_outdir *od, struct nk_err *e)
{
	return fileio_outdir_begin(od, at(state, name), e);
}

/* Names a rename can never put in place are refused before anything is
 * made, so before any download. */
static void
test_outdir_dot_and_dotdot_refused(void **state)
{
	static const char *const bad[] = { ".", "./", "..", "sub/..", "sub/.", "sub/./" };
	struct fileio_outdir od;
	struct nk_err e = { "" };
	size_t i;

	assert_int_equal(mkdir(at(state, "sub"), 0755), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(begin_in(state, bad[i], &od, &e), NK_E_USAGE);
		assert_non_null(strstr(e.msg, "'.' or '..'"));
	}
	assert_int_equal(entries(state), 1); /* only sub: no partial directory */
}

static void
test_outdir_lock_held_while_running(void **state)
{
	struct fileio_outdir od;
	struct nk_err e = { "" };
	int fd;

	assert_int_equal(begin_in(state, "out", &od, &e), 0);
	assert_true(od.lock_fd >= 0);
	fd = open(od.tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), -1); /* a live run's */
	assert_int_equal(fileio_outdir_commit(&od, &e), 0);
	assert_int_equal(od.lock_fd, -1);
	close(fd);
}

/* A partial directory left by a killed run: removed by the next begin,
 * contents and subdirectories too, without following the symlink inside. */
static void
test_outdir_sweeps_stale_partial(void **state)
{
	struct fileio_outdir od;
	struct nk_err e = { "" };
	uint8_t *buf = NULL;
	size_t len = 0;
	char target[PATH_MAX];

	put(at(state, "victim"), "keep", 4);
	strcpy(target, at(state, "victim"));
	assert_int_equal(mkdir(at(state, "out.partial-AbC123"), 0700), 0);
	assert_int_equal(chmod(at(state, "out.partial-AbC123"), 0700), 0);
	assert_int_equal(symlink(target, at(state, "out.partial-AbC123/manifest")), 0);
	assert_int_equal(mkdir(at(state, "out.partial-AbC123/ssh"), 0700), 0);
	put(at(state, "out.partial-AbC123/ssh/key"), "k", 1);
	assert_int_equal(begin_in(state, "out", &od, &e), 0);
	assert_int_equal(od.swept, 1);
	assert_int_equal(od.nkept, 0);
	assert_int_equal(access(at(state, "out.partial-AbC123"), F_OK), -1);
	assert_int_equal(fileio_read_capped(at(state, "victim"), 10, &buf, &len, &e), 0);
	assert_memory_equal(buf, "keep", 4);
	free(buf);
	fileio_outdir_abort(&od);
	assert_int_equal(entries(state), 1); /* the victim alone */
}

/* Only what is surely a leftover of this program goes: a live run's
 * (locked), a symlink, another mode, another base name stay. */
static void
test_outdir_sweep_keeps_what_is_not_surely_ours(void **state)
{
	struct fileio_outdir od;
	struct nk_err e = { "" };
	struct dir *d = *state;
	int live;

	assert_int_equal(mkdir(at(state, "out.partial-L1ve00"), 0700), 0);
	assert_int_equal(chmod(at(state, "out.partial-L1ve00"), 0700), 0);
	live = open(at(state, "out.partial-L1ve00"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(live >= 0);
	assert_int_equal(flock(live, LOCK_EX), 0);
	assert_int_equal(mkdir(at(state, "out.partial-0pen00"), 0700), 0);
	assert_int_equal(chmod(at(state, "out.partial-0pen00"), 0755), 0);
	assert_int_equal(symlink(d->path, at(state, "out.partial-L1nk00")), 0);
	assert_int_equal(mkdir(at(state, "other.partial-AbC123"), 0700), 0);
	assert_int_equal(mkdir(at(state, "out.partial-toolong"), 0700), 0);
	assert_int_equal(begin_in(state, "out", &od, &e), 0);
	assert_int_equal(od.swept, 0);
	assert_int_equal(od.nkept, 2);
	assert_non_null(strstr(od.kept, "out.partial-0pen00 (mode 0755"));
	assert_non_null(strstr(od.kept, "out.partial-L1nk00 (a symbolic link)"));
	assert_int_equal(access(at(state, "out.partial-L1ve00"), F_OK), 0);
	assert_int_equal(access(at(state, "other.partial-AbC123"), F_OK), 0);
	fileio_outdir_abort(&od);
	close(live);
	assert_int_equal(entries(state), 5);
}

static void
test_fs_of_names_mount_and_space(void **state)
{
	struct nk_err e = { "" };
	char mount[PATH_MAX];
	uint64_t avail = 0;
	struct stat a, b;

	assert_int_equal(fileio_fs_of(at(state, "."), mount, sizeof(mount), &avail, &e), 0);
	assert_int_equal(stat(mount, &a), 0);
	assert_int_equal(stat(at(state, "."), &b), 0);
	assert_true(a.st_dev == b.st_dev);
	assert_true(avail > 0);
	assert_int_equal(fileio_fs_of("/proc/self", mount, sizeof(mount), &avail, &e), 0);
	assert_string_equal(mount, "/proc");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_read_capped),
		T(test_read_capped_empty),
		T(test_read_over_cap),
		T(test_read_symlink_refused),
		T(test_read_dangling_symlink_refused),
		T(test_read_directory_refused),
		T(test_read_device_refused),
		T(test_read_missing),
		T(test_open_regular_size),
		T(test_write_atomic),
		T(test_write_atomic_private_mode),
		T(test_write_atomic_replaces),
		T(test_write_atomic_replaces_symlink_not_target),
		T(test_write_atomic_missing_dir),
		T(test_write_atomic_onto_directory),
		T(test_write_all_bad_fd),
		T(test_copy_fd),
		T(test_copy_fd_unwritable),
		T(test_read_public_follows_symlinks),
		T(test_read_public_still_refuses_what_is_not_a_file),
		T(test_read_symlink_refusal_says_why),
		T(test_outdir_dot_and_dotdot_refused),
		T(test_outdir_lock_held_while_running),
		T(test_outdir_sweeps_stale_partial),
		T(test_outdir_sweep_keeps_what_is_not_surely_ours),
		T(test_fs_of_names_mount_and_space),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
