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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
