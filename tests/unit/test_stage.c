/* Unit tests for agent/fetch/stage.c and agent/fetch/sink.c: RAM staging, sealing,
 * the size cap and hashing in one pass. memfd_create is wrapped so the
 * out-of-memory path can be driven. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/vfs.h>

#include "nktest.h"
#include "sink.h"
#include "stage.h"

int __real_memfd_create(const char *name, unsigned int flags);
ssize_t __real_pwrite(int fd, const void *buf, size_t n, off_t off);
static int memfd_fail_errno;
static int pwrite_fail_errno; /* a full disk or a full RAM, on demand */
static int slow_writes; /* makes the sink's worker lag behind the receiver */

ssize_t
__wrap_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (pwrite_fail_errno) {
		errno = pwrite_fail_errno;
		return -1;
	}
	if (slow_writes)
		usleep(2000);
	return __real_pwrite(fd, buf, n, off);
}

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

/* par.c's hand-over: the prefix staged at its offsets and hashed goes
 * on as one stream in a sink, which appends after it and continues the
 * hash (the prefix counts against the cap). */
static void
t_sink_adopt_continues_the_file_and_the_hash(void **st)
{
	struct sink k;
	struct stage_file sf = { .fd = -1, .ro_fd = -1 };
	struct sha256 h;
	struct nk_err e = { "" };
	uint8_t d[SHA256_BYTES], buf[8];
	size_t n;

	(void)st;
	assert_int_equal(stage_open(&sf, "f", NULL, &e), 0);
	assert_int_equal(stage_write_at(&sf, "ab", 2, 0, &e), 0);
	assert_int_equal(sha256_init(&h, &e), 0);
	assert_int_equal(sha256_update(&h, "ab", 2, &e), 0);
	assert_int_equal(sink_adopt(&k, "f", 3, &sf, &h, &e), 0);
	assert_int_equal(sf.fd, -1); /* taken over */
	assert_null(h.ctx);
	assert_int_equal(sink_len(&k), 2);
	assert_int_equal(sink_write(&k, "c", 1), 0); /* 2 + 1: exactly the cap */
	assert_int_equal(sink_digest(&k, d, &e), 0);
	/* sha256("abc"), FIPS 180-2 appendix B.1 */
	assert_int_equal(d[0], 0xba);
	assert_int_equal(d[31], 0xad);
	assert_int_equal(sink_read_all(&k, buf, sizeof(buf), &n, &e), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "abc", 3);
	stage_close(&k.stage);
}

/* sink_detach, sink_adopt's reverse (a stream that goes parallel): every
 * accepted byte staged (the last partial batch too, and batches the
 * worker still held), the stage and the running hash handed out, the
 * sink closed. More than two batches, so the worker ran. */
static void
t_sink_detach_hands_out_the_stage_and_the_hash(void **st)
{
	size_t n = 2 * SINK_BATCH_BYTES + 1000, i;
	uint8_t *b = malloc(n), d[SHA256_BYTES], want[SHA256_BYTES];
	struct sink k;
	struct stage_file sf = { .fd = -1, .ro_fd = -1 };
	struct sha256 h;
	struct nk_err e = { "" };

	(void)st;
	assert_non_null(b);
	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 7 + i / 251);
	assert_int_equal(sha256_init(&h, &e), 0);
	assert_int_equal(sha256_update(&h, b, n, &e), 0);
	assert_int_equal(sha256_final(&h, want, &e), 0);
	slow_writes = 1;
	assert_int_equal(sink_open(&k, "f", n, NULL, &e), 0);
	for (i = 0; i < n - 1000; i += 4096)
		assert_int_equal(sink_write(&k, b + i, i + 4096 > n - 1000 ? n - 1000 - i : 4096), 0);
	assert_int_equal(sink_detach(&k, &sf, &h, &e), 0);
	slow_writes = 0;
	assert_int_equal(k.stage.fd, -1); /* handed out */
	assert_null(k.hash.ctx);
	assert_null(k.batch[0]);          /* closed */
	assert_int_equal(sf.len, n - 1000);
	/* The rest as the parallel path writes it: at its offset. */
	assert_int_equal(stage_write_at(&sf, b + n - 1000, 1000, n - 1000, &e), 0);
	assert_int_equal(sha256_update(&h, b + n - 1000, 1000, &e), 0);
	assert_int_equal(sha256_final(&h, d, &e), 0);
	assert_memory_equal(d, want, SHA256_BYTES);
	assert_int_equal(sha256_fd(stage_fd(&sf), d, &e), 0);
	assert_memory_equal(d, want, SHA256_BYTES);
	stage_close(&sf);
	free(b);
}

static void
t_sink_adopt_counts_the_prefix_against_the_cap(void **st)
{
	struct sink k;
	struct stage_file sf = { .fd = -1, .ro_fd = -1 };
	struct sha256 h;
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(stage_open(&sf, "f", NULL, &e), 0);
	assert_int_equal(stage_write_at(&sf, "ab", 2, 0, &e), 0);
	assert_int_equal(sha256_init(&h, &e), 0);
	assert_int_equal(sink_adopt(&k, "f", 3, &sf, &h, &e), 0);
	assert_int_equal(sink_write(&k, "cd", 2), NK_E_SIZE);
	assert_true(k.overflow);
	sink_close(&k);
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
	sink_close(&k);
	assert_int_equal(sink_read_all(&k, buf, sizeof(buf), &n, &e), NK_E_SIZE);
	stage_close(&k.stage);
}

/* Several batches, in chunks that straddle batch boundaries: the worker's
 * hash and the staged bytes must equal a one-shot hash of the input, also
 * after a reset halfway (a server that ignored Range). */
static void
t_sink_batches_in_worker(void **st)
{
	const size_t total = 3 * SINK_BATCHES * SINK_BATCH_BYTES + 12345;
	uint8_t *data = malloc(total), *back = malloc(total), want[SHA256_BYTES], got[SHA256_BYTES];
	struct sha256 h;
	struct sink k;
	struct nk_err e = { "" };
	size_t i, n, step;
	uint32_t x;

	(void)st;
	assert_non_null(data);
	assert_non_null(back);
	/* A pattern that never repeats at batch distance (an LCG's high byte):
	 * a batch hashed or staged in the wrong place changes the result. */
	for (i = 0, x = 12345; i < total; i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (uint8_t)(x >> 24);
	}
	assert_int_equal(sha256_init(&h, &e), 0);
	assert_int_equal(sha256_update(&h, data, total, &e), 0);
	assert_int_equal(sha256_final(&h, want, &e), 0);
	/* The worker's writes are slowed so the receiver fills every free
	 * batch and waits: a batch still being hashed must never be refilled. */
	slow_writes = 1;
	assert_int_equal(sink_open(&k, "f", total, NULL, &e), 0);
	for (i = 0; i < SINK_BATCH_BYTES + 7; i += step) { /* some bytes, then a reset */
		step = 16381;
		assert_int_equal(sink_write(&k, data, step), 0);
	}
	assert_int_equal(sink_reset(&k, &e), 0);
	assert_int_equal(sink_len(&k), 0);
	for (i = 0; i < total; i += n) {
		n = total - i < 16381 ? total - i : 16381; /* TLS-record-sized, odd */
		assert_int_equal(sink_write(&k, data + i, n), 0);
	}
	assert_int_equal(sink_len(&k), total);
	assert_int_equal(sink_write(&k, "x", 1), NK_E_SIZE); /* size + 1 */
	k.failed = 0; /* the cap refusal above stopped nothing already staged */
	assert_int_equal(sink_digest(&k, got, &e), 0);
	slow_writes = 0;
	assert_memory_equal(got, want, SHA256_BYTES);
	assert_int_equal(k.stage.len, total);
	assert_int_equal(pread(stage_fd(&k.stage), back, total, 0), (ssize_t)total);
	assert_memory_equal(back, data, total);
	sink_close(&k);
	stage_close(&k.stage);
	free(data);
	free(back);
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

/* fetch -o stages on the output filesystem: a full disk there is a local
 * I/O error (74) that names it, not "RAM". */
static void
t_enospc_output_fs_named(void **st)
{
	struct stage_file s;
	struct nk_err e = { "" };
	char dir[256];

	(void)st;
	nkt_tmpdir(dir);
	assert_int_equal(stage_open(&s, "initrd", dir, &e), 0);
	assert_false(s.memfd);
	s.want = 1000;
	assert_int_equal(stage_append(&s, "abc", 3, &e), 0);
	pwrite_fail_errno = ENOSPC;
	assert_int_equal(stage_append(&s, "def", 3, &e), NK_E_IO);
	pwrite_fail_errno = 0;
	assert_int_equal(nk_exit_code(NK_E_IO), 74);
	assert_non_null(strstr(e.msg, "output filesystem"));
	assert_non_null(strstr(e.msg, "after 3 of 1000 bytes"));
	assert_non_null(strstr(e.msg, dir));
	assert_non_null(strstr(e.msg, "mounted at /"));
	assert_non_null(strstr(e.msg, "MiB free"));
	assert_null(strstr(e.msg, "RAM"));
	stage_close(&s);
	nkt_rmtree(dir);
}

/* boot stages in memfds: a full memfd is RAM, with the numbers. */
static void
t_enospc_memfd_says_ram_with_numbers(void **st)
{
	struct stage_file s;
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(stage_open(&s, "initrd", NULL, &e), 0);
	s.want = 400;
	pwrite_fail_errno = ENOSPC;
	assert_int_equal(stage_append(&s, "abc", 3, &e), NK_E_NOMEM);
	pwrite_fail_errno = 0;
	assert_non_null(strstr(e.msg, "RAM"));
	assert_non_null(strstr(e.msg, "after 0 of 400 bytes"));
	assert_non_null(strstr(e.msg, "MemAvailable"));
	stage_close(&s);
}

/* Parallel ranges land out of order: every byte where it belongs, the
 * length the highest end written; a full RAM is still said as RAM. */
static void
t_write_at_out_of_order(void **st)
{
	struct stage_file s;
	struct nk_err e = { "" };
	char buf[16] = "";

	(void)st;
	assert_int_equal(stage_open(&s, "initrd", NULL, &e), 0);
	assert_int_equal(stage_write_at(&s, "world", 5, 6, &e), 0);
	assert_int_equal(s.len, 11);
	assert_int_equal(stage_write_at(&s, "hello ", 6, 0, &e), 0);
	assert_int_equal(s.len, 11);
	assert_int_equal(pread(s.fd, buf, sizeof(buf), 0), 11);
	assert_string_equal(buf, "hello world");
	s.want = 400;
	pwrite_fail_errno = ENOSPC;
	assert_int_equal(stage_write_at(&s, "x", 1, 20, &e), NK_E_NOMEM);
	pwrite_fail_errno = 0;
	assert_non_null(strstr(e.msg, "RAM"));
	assert_int_equal(s.len, 11);
	stage_close(&s);
}

/* boot --stage disk: tmpfs is RAM and is passed over, a missing
 * directory too; a disk directory with room is taken; one without room
 * is refused with every reason. */
static void
t_disk_dir_skips_tmpfs(void **st)
{
	char dir[256], out[256], why[512];
	struct nk_err e = { "" };
	const char *dirs[] = { "/dev/shm", "/nonexistent/dir", dir, NULL };
	struct statfs sf;

	(void)st;
	nkt_tmpdir(dir);
	if (statfs("/dev/shm", &sf) != 0 || (unsigned long)sf.f_type != 0x01021994UL ||
	    statfs(dir, &sf) != 0 || (unsigned long)sf.f_type == 0x01021994UL) {
		nkt_rmtree(dir);
		skip(); /* needs /dev/shm on tmpfs and a temporary directory on disk */
	}
	assert_int_equal(stage_disk_dir(dirs, 1 << 20, out, sizeof(out), why, sizeof(why), &e), 0);
	assert_string_equal(out, dir);
	assert_non_null(strstr(why, "/dev/shm: tmpfs (its pages are RAM)"));
	assert_non_null(strstr(why, "/nonexistent/dir: No such file"));
	/* 1 EiB free nowhere */
	assert_int_equal(stage_disk_dir(dirs, 1ULL << 60, out, sizeof(out), why, sizeof(why), &e),
	    NK_E_IO);
	assert_non_null(strstr(e.msg, "no local disk filesystem"));
	assert_non_null(strstr(why, ": not enough free space"));
	nkt_rmtree(dir);
}

/* A disk-staged file is written back and reopened read-only at seal. */
static void
t_disk_staged_sealed_readonly(void **st)
{
	char dir[256];
	struct stage_file s;
	struct nk_err e = { "" };

	(void)st;
	nkt_tmpdir(dir);
	assert_int_equal(stage_open(&s, "t", dir, &e), 0);
	assert_int_equal(s.memfd, 0);
	assert_int_equal(stage_append(&s, "abc", 3, &e), 0);
	assert_int_equal(stage_seal(&s, &e), 0);
	assert_int_equal(s.fd, -1);
	assert_int_equal(write(stage_fd(&s), "x", 1), -1);
	assert_int_equal(errno, EBADF);
	stage_close(&s);
	nkt_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_append_seal_readonly),
		cmocka_unit_test(t_write_at_out_of_order),
		cmocka_unit_test(t_sealed_cannot_be_reopened_writable),
		cmocka_unit_test(t_memfd_enomem),
		cmocka_unit_test(t_memfd_emfile),
		cmocka_unit_test(t_sink_cap_exact_ok),
		cmocka_unit_test(t_sink_adopt_continues_the_file_and_the_hash),
		cmocka_unit_test(t_sink_adopt_counts_the_prefix_against_the_cap),
		cmocka_unit_test(t_sink_cap_plus_one_refused),
		cmocka_unit_test(t_sink_reset_rehashes),
		cmocka_unit_test(t_sink_detach_hands_out_the_stage_and_the_hash),
		cmocka_unit_test(t_sink_read_all_cap),
		cmocka_unit_test(t_sink_batches_in_worker),
		cmocka_unit_test(t_tmpfile_staged_then_linked),
		cmocka_unit_test(t_unlinked_tmpfile_leaves_nothing),
		cmocka_unit_test(t_memfd_link_copies),
		cmocka_unit_test(t_stage_dir_missing),
		cmocka_unit_test(t_disk_dir_skips_tmpfs),
		cmocka_unit_test(t_disk_staged_sealed_readonly),
		cmocka_unit_test(t_enospc_output_fs_named),
		cmocka_unit_test(t_enospc_memfd_says_ram_with_numbers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
