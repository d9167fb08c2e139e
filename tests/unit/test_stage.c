/* Unit tests for agent/stage.c and agent/sink.c: RAM staging, sealing,
 * the size cap and hashing in one pass. memfd_create is wrapped so the
 * out-of-memory path can be driven. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>

#include "nktest.h"
#include "sink.h"
#include "stage.h"

int __real_memfd_create(const char *name, unsigned int flags);
static int memfd_fail_errno;

int
__wrap_memfd_create(const char *name, unsigned int flags)
{
	if (memfd_fail_errno) {
		errno = memfd_fail_errno;
		return -1;
	}
	assert_true(flags & MFD_CLOEXEC);
	assert_true(flags & MFD_ALLOW_SEALING);
	return __real_memfd_create(name, flags);
}

static void
t_append_seal_readonly(void **st)
{
	struct stage_file s;
	struct nk_err e = { "" };
	char buf[8] = "";
	int seals;

	(void)st;
	assert_int_equal(stage_open(&s, "t", NULL, &e), 0);
	assert_int_equal(stage_append(&s, "hello", 5, &e), 0);
	assert_int_equal(stage_append(&s, "!!", 2, &e), 0);
	assert_int_equal(s.len, 7);
	assert_int_equal(stage_seal(&s, &e), 0);
	assert_int_equal(s.fd, -1);
	assert_true(s.ro_fd >= 0);
	seals = fcntl(s.ro_fd, F_GET_SEALS);
	assert_int_equal(seals & (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL),
	    F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
	assert_int_equal(fcntl(s.ro_fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	assert_true(fcntl(s.ro_fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(write(s.ro_fd, "x", 1), -1);
	assert_int_equal(pread(stage_fd(&s), buf, 7, 0), 7);
	assert_memory_equal(buf, "hello!!", 7);
	stage_close(&s);
	assert_int_equal(s.ro_fd, -1);
}

static void
t_sealed_cannot_be_reopened_writable(void **st)
{
	struct stage_file s;
	struct nk_err e = { "" };
	char path[64];
	int fd;

	(void)st;
	assert_int_equal(stage_open(&s, "t", NULL, &e), 0);
	assert_int_equal(stage_append(&s, "abc", 3, &e), 0);
	assert_int_equal(stage_seal(&s, &e), 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", s.ro_fd);
	fd = open(path, O_RDWR);
	if (fd >= 0) {
		/* Opening may succeed; writing through it must not. */
		assert_int_equal(write(fd, "x", 1), -1);
		assert_int_equal(errno, EPERM);
		close(fd);
	}
	stage_close(&s);
}

static void
t_memfd_enomem(void **st)
{
	struct stage_file s;
	struct nk_err e = { "" };

	(void)st;
	memfd_fail_errno = ENOMEM;
	assert_int_equal(stage_open(&s, "t", NULL, &e), NK_E_NOMEM);
	memfd_fail_errno = 0;
	assert_non_null(strstr(e.msg, "memfd_create"));
}

static void
t_memfd_emfile(void **st)
{
	struct stage_file s;
	struct nk_err e = { "" };

	(void)st;
	memfd_fail_errno = EMFILE;
	assert_int_equal(stage_open(&s, "t", NULL, &e), NK_E_IO);
	memfd_fail_errno = 0;
}

static void
t_sink_cap_exact_ok(void **st)
{
	struct sink k;
	struct nk_err e = { "" };
	uint8_t d[SHA256_BYTES];

	(void)st;
	assert_int_equal(sink_open(&k, "f", 3, NULL, &e), 0);
	assert_int_equal(sink_write(&k, "abc", 3), 0);
	assert_int_equal(sink_digest(&k, d, &e), 0);
	/* sha256("abc"), FIPS 180-2 appendix B.1 */
	assert_int_equal(d[0], 0xba);
	assert_int_equal(d[31], 0xad);
	stage_close(&k.stage);
}

static void
t_sink_cap_plus_one_refused(void **st)
{
	struct sink k;
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(sink_open(&k, "f", 3, NULL, &e), 0);
	assert_int_equal(sink_write(&k, "ab", 2), 0);
	assert_int_equal(sink_write(&k, "cd", 2), NK_E_SIZE);
	assert_true(k.overflow);
	assert_int_equal(sink_len(&k), 2); /* nothing past the cap was staged */
	assert_non_null(strstr(k.err.msg, "larger than the 3 bytes"));
	sink_close(&k);
	stage_close(&k.stage);
}

static void
t_sink_reset_rehashes(void **st)
{
	struct sink k;
	struct nk_err e = { "" };
	uint8_t d[SHA256_BYTES];

	(void)st;
	assert_int_equal(sink_open(&k, "f", 16, NULL, &e), 0);
	assert_int_equal(sink_write(&k, "zzz", 3), 0);
	assert_int_equal(sink_reset(&k, &e), 0);
	assert_int_equal(sink_len(&k), 0);
	assert_int_equal(sink_write(&k, "abc", 3), 0);
	assert_int_equal(sink_digest(&k, d, &e), 0);
	assert_int_equal(d[0], 0xba); /* the hash of "abc", not of "zzzabc" */
	stage_close(&k.stage);
}

static void
t_sink_read_all_cap(void **st)
{
	struct sink k;
	struct nk_err e = { "" };
	uint8_t buf[4];
	size_t n;

	(void)st;
	assert_int_equal(sink_open(&k, "f", 16, NULL, &e), 0);
	assert_int_equal(sink_write(&k, "abcdef", 6), 0);
	assert_int_equal(sink_read_all(&k, buf, sizeof(buf), &n, &e), NK_E_SIZE);
	sink_close(&k);
	stage_close(&k.stage);
}

static void
t_tmpfile_staged_then_linked(void **st)
{
	struct stage_file s;
	struct nk_err e = { "" };
	char dir[256], path[512], buf[8] = "";
	FILE *f;

	(void)st;
	nkt_tmpdir(dir);
	assert_int_equal(stage_open(&s, "t", dir, &e), 0);
	assert_false(s.memfd);
	assert_int_equal(stage_append(&s, "verified", 8, &e), 0);
	snprintf(path, sizeof(path), "%s/initrd", dir);
	assert_int_equal(access(path, F_OK), -1); /* unnamed until linked */
	assert_int_equal(stage_seal(&s, &e), 0);  /* no seals on a plain file */
	assert_int_equal(stage_link(&s, path, &e), 0);
	assert_non_null(f = fopen(path, "rb"));
	assert_int_equal(fread(buf, 1, 8, f), 8);
	fclose(f);
	assert_memory_equal(buf, "verified", 8);
	assert_int_equal(stage_link(&s, path, &e), NK_E_IO); /* never overwrites */
	stage_close(&s);
	nkt_rmtree(dir);
}

static void
t_unlinked_tmpfile_leaves_nothing(void **st)
{
	struct stage_file s;
	struct nk_err e = { "" };
	char dir[256];

	(void)st;
	nkt_tmpdir(dir);
	assert_int_equal(stage_open(&s, "t", dir, &e), 0);
	assert_int_equal(stage_append(&s, "refused", 7, &e), 0);
	stage_close(&s);
	assert_int_equal(rmdir(dir), 0); /* empty: the bytes went with the fd */
}

static void
t_memfd_link_copies(void **st)
{
	struct stage_file s;
	struct nk_err e = { "" };
	char dir[256], path[512], buf[4] = "";
	FILE *f;

	(void)st;
	nkt_tmpdir(dir);
	assert_int_equal(stage_open(&s, "t", NULL, &e), 0);
	assert_true(s.memfd);
	assert_int_equal(stage_append(&s, "abc", 3, &e), 0);
	assert_int_equal(stage_seal(&s, &e), 0);
	snprintf(path, sizeof(path), "%s/k", dir);
	assert_int_equal(stage_link(&s, path, &e), 0);
	assert_non_null(f = fopen(path, "rb"));
	assert_int_equal(fread(buf, 1, 3, f), 3);
	fclose(f);
	assert_memory_equal(buf, "abc", 3);
	stage_close(&s);
	nkt_rmtree(dir);
}

static void
t_stage_dir_missing(void **st)
{
	struct stage_file s;
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(stage_open(&s, "t", "/nonexistent/dir", &e), NK_E_IO);
	assert_non_null(strstr(e.msg, "/nonexistent/dir"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_append_seal_readonly),
		cmocka_unit_test(t_sealed_cannot_be_reopened_writable),
		cmocka_unit_test(t_memfd_enomem),
		cmocka_unit_test(t_memfd_emfile),
		cmocka_unit_test(t_sink_cap_exact_ok),
		cmocka_unit_test(t_sink_cap_plus_one_refused),
		cmocka_unit_test(t_sink_reset_rehashes),
		cmocka_unit_test(t_sink_read_all_cap),
		cmocka_unit_test(t_tmpfile_staged_then_linked),
		cmocka_unit_test(t_unlinked_tmpfile_leaves_nothing),
		cmocka_unit_test(t_memfd_link_copies),
		cmocka_unit_test(t_stage_dir_missing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
