/* Unit tests for agent/fetch/follow.c, the hash that follows a file
 * written out of order. The threats: a byte hashed before it was written
 * (or never, or twice), a digest of other bytes than the file holds, a
 * wake-up after the writer freed what wake uses, a mapping left behind
 * that stops a memfd from being sealed, a read error that goes unnoticed.
 * The data are a xorshift stream; the expected digest is sha256.c's of
 * the same bytes in order. */
#include <fcntl.h>
#include <sys/mman.h>

#include "follow.h"
#include "nktest.h"
#include "stage.h"

#define KiB 1024ULL

static uint8_t *
pattern(size_t n, uint64_t seed)
{
	uint8_t *b = malloc(n);
	size_t i;

	assert_non_null(b);
	for (i = 0; i < n; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		b[i] = (uint8_t)seed;
	}
	return b;
}

static void
digest_of(const uint8_t *b, size_t n, uint8_t out[SHA256_BYTES])
{
	struct sha256 h;
	struct nk_err e;

	assert_int_equal(sha256_init(&h, &e), 0);
	assert_int_equal(sha256_update(&h, b, n, &e), 0);
	assert_int_equal(sha256_final(&h, out, &e), 0);
}

static int wakes;

static void
count_wake(void *ctx)
{
	(void)ctx;
	__atomic_add_fetch(&wakes, 1, __ATOMIC_SEQ_CST);
}

static void
t_out_of_order_writes_hashed_in_order(void **st)
{
	size_t n = 3 * 1024 * KiB + 5, piece = 256 * KiB;
	uint8_t *b = pattern(n, 7), want[SHA256_BYTES], got[SHA256_BYTES];
	struct follow f;
	struct nk_err e = { "" };
	int fd = memfd_create("t", MFD_CLOEXEC);
	size_t order[] = { 3, 1, 0, 5, 2, 4, 7, 6, 11, 9, 8, 10, 12 };
	int written[13] = { 0 };
	size_t k, contig = 0, off;

	(void)st;
	assert_true(fd >= 0);
	assert_int_equal(follow_start(&f, fd, 0, NULL, NULL, NULL, &e), 0);
	for (k = 0; k < 13; k++) {
		off = order[k] * piece;
		assert_int_equal(pwrite(fd, b + off, off + piece > n ? n - off : piece, (off_t)off),
		    (ssize_t)(off + piece > n ? n - off : piece));
		written[order[k]] = 1;
		while (contig < 13 && written[contig])
			contig++;
		follow_publish(&f, contig * piece > n ? n : contig * piece);
		assert_true(follow_hashed(&f) <= contig * piece);
	}
	assert_int_equal(follow_finish(&f, n, got, &e), 0);
	digest_of(b, n, want);
	assert_memory_equal(got, want, SHA256_BYTES);
	close(fd);
	free(b);
}

/* A prefix came another way (one stream, hashed as it arrived): follow
 * goes on from its end into that hash, reading nothing before it; the
 * digest is the whole file's. The file's first bytes are zeros here, so
 * a follow that read them back would get another digest. */
static void
t_goes_on_from_a_prefix_and_its_hash(void **st)
{
	size_t n = 2 * 1024 * KiB + 77, from = 300 * KiB + 3;
	uint8_t *b = pattern(n, 11), *z, want[SHA256_BYTES], got[SHA256_BYTES];
	struct sha256 h;
	struct follow f;
	struct nk_err e = { "" };
	int fd = memfd_create("t", MFD_CLOEXEC);

	(void)st;
	assert_true(fd >= 0);
	z = calloc(1, from);
	assert_non_null(z);
	assert_int_equal(pwrite(fd, z, from, 0), (ssize_t)from);
	assert_int_equal(sha256_init(&h, &e), 0);
	assert_int_equal(sha256_update(&h, b, from, &e), 0);
	assert_int_equal(follow_start(&f, fd, from, &h, NULL, NULL, &e), 0);
	assert_null(h.ctx); /* taken over */
	assert_int_equal(follow_hashed(&f), from);
	assert_int_equal(pwrite(fd, b + from, n - from, (off_t)from), (ssize_t)(n - from));
	follow_publish(&f, n);
	assert_int_equal(follow_finish(&f, n, got, &e), 0);
	digest_of(b, n, want);
	assert_memory_equal(got, want, SHA256_BYTES);
	close(fd);
	free(z);
	free(b);
}

static void
t_nothing_hashed_past_what_was_published(void **st)
{
	size_t n = 4 * 1024 * KiB;
	uint8_t *b = pattern(n, 9), got[SHA256_BYTES], want[SHA256_BYTES];
	struct follow f;
	struct nk_err e = { "" };
	int fd = memfd_create("t", MFD_CLOEXEC);

	(void)st;
	assert_int_equal(pwrite(fd, b, n, 0), (ssize_t)n);
	assert_int_equal(follow_start(&f, fd, 0, NULL, NULL, NULL, &e), 0);
	follow_publish(&f, 1024 * KiB);
	usleep(50000);
	assert_true(follow_hashed(&f) <= 1024 * KiB);
	follow_publish(&f, 512 * KiB); /* never goes back */
	assert_int_equal(follow_finish(&f, n, got, &e), 0);
	digest_of(b, n, want);
	assert_memory_equal(got, want, SHA256_BYTES);
	close(fd);
	free(b);
}

/* par.c's hand-over to one stream: the hash of exactly the prefix, still
 * running, so that the rest continues it. */
static void
t_handover_gives_the_running_hash_of_the_prefix(void **st)
{
	size_t n = 3 * 1024 * KiB + 11, m = 2 * 1024 * KiB + 3;
	uint8_t *b = pattern(n, 5), got[SHA256_BYTES], want[SHA256_BYTES];
	struct follow f;
	struct sha256 h = { 0 };
	struct nk_err e = { "" };
	int fd = memfd_create("t", MFD_CLOEXEC);

	(void)st;
	assert_int_equal(pwrite(fd, b, n, 0), (ssize_t)n);
	assert_int_equal(follow_start(&f, fd, 0, NULL, NULL, NULL, &e), 0);
	follow_publish(&f, m);
	assert_int_equal(follow_handover(&f, m, &h, &e), 0);
	assert_non_null(h.ctx);
	assert_int_equal(sha256_update(&h, b + m, n - m, &e), 0);
	assert_int_equal(sha256_final(&h, got, &e), 0);
	digest_of(b, n, want);
	assert_memory_equal(got, want, SHA256_BYTES);
	close(fd);
	free(b);
}

static void
t_small_rest_waits_for_the_end_or_a_waiting_writer(void **st)
{
	size_t n = 100 * KiB; /* under FOLLOW_MIN_BYTES */
	uint8_t *b = pattern(n, 11), got[SHA256_BYTES];
	struct follow f;
	struct nk_err e = { "" };
	int fd = memfd_create("t", MFD_CLOEXEC), i;

	(void)st;
	wakes = 0;
	assert_int_equal(pwrite(fd, b, n, 0), (ssize_t)n);
	assert_int_equal(follow_start(&f, fd, 0, NULL, count_wake, NULL, &e), 0);
	follow_publish(&f, n);
	usleep(20000);
	assert_int_equal(follow_hashed(&f), 0); /* a step is not due yet */
	follow_want_wake(&f); /* the writer waits: hash what is there */
	for (i = 0; i < 200 && follow_hashed(&f) < n; i++)
		usleep(5000);
	assert_int_equal(follow_hashed(&f), n);
	for (i = 0; i < 200 && __atomic_load_n(&wakes, __ATOMIC_SEQ_CST) == 0; i++)
		usleep(5000);
	assert_int_equal(__atomic_load_n(&wakes, __ATOMIC_SEQ_CST), 1);
	assert_int_equal(follow_finish(&f, n, got, &e), 0);
	close(fd);
	free(b);
}

static void
t_no_wake_unless_asked_or_after_quiet(void **st)
{
	size_t n = 2048 * KiB;
	uint8_t *b = pattern(n, 13), got[SHA256_BYTES];
	struct follow f;
	struct nk_err e = { "" };
	int fd = memfd_create("t", MFD_CLOEXEC);

	(void)st;
	wakes = 0;
	assert_int_equal(pwrite(fd, b, n, 0), (ssize_t)n);
	assert_int_equal(follow_start(&f, fd, 0, NULL, count_wake, NULL, &e), 0);
	follow_publish(&f, n / 2);
	follow_quiet(&f);
	follow_want_wake(&f);
	follow_publish(&f, n);
	assert_int_equal(follow_finish(&f, n, got, &e), 0);
	assert_int_equal(__atomic_load_n(&wakes, __ATOMIC_SEQ_CST), 0);
	close(fd);
	free(b);
}

static void
t_memfd_seals_after_following(void **st)
{
	struct stage_file s;
	struct follow f;
	struct nk_err e = { "" };
	size_t n = 3 * 1024 * KiB;
	uint8_t *b = pattern(n, 17), got[SHA256_BYTES];

	(void)st;
	assert_int_equal(stage_open(&s, "t", NULL, &e), 0);
	assert_int_equal(follow_start(&f, s.fd, 0, NULL, NULL, NULL, &e), 0);
	assert_int_equal(stage_write_at(&s, b + n / 2, n - n / 2, n / 2, &e), 0);
	assert_int_equal(stage_write_at(&s, b, n / 2, 0, &e), 0);
	assert_int_equal(s.len, n);
	follow_publish(&f, n);
	assert_int_equal(follow_finish(&f, n, got, &e), 0);
	/* no mapping of the file is left: F_SEAL_WRITE would fail with EBUSY */
	assert_int_equal(stage_seal(&s, &e), 0);
	stage_close(&s);
	free(b);
}

static void
t_unreadable_file_fails(void **st)
{
	struct follow f;
	struct nk_err e = { "" };
	uint8_t got[SHA256_BYTES];
	int p[2];

	(void)st;
	assert_int_equal(pipe(p), 0); /* neither mapped nor read at an offset */
	assert_int_equal(follow_start(&f, p[0], 0, NULL, NULL, NULL, &e), 0);
	follow_publish(&f, 512 * KiB);
	assert_int_equal(follow_finish(&f, 512 * KiB, got, &e), NK_E_IO);
	assert_non_null(strstr(e.msg, "reading staged bytes back"));
	close(p[0]);
	close(p[1]);
}

static void
t_stop_without_finish(void **st)
{
	struct follow f;
	struct nk_err e = { "" };
	int fd = memfd_create("t", MFD_CLOEXEC);

	(void)st;
	assert_int_equal(follow_start(&f, fd, 0, NULL, NULL, NULL, &e), 0);
	follow_publish(&f, 0);
	follow_stop(&f);
	follow_stop(&f); /* idempotent */
	close(fd);
}

static void
t_empty_file(void **st)
{
	struct follow f;
	struct nk_err e = { "" };
	uint8_t got[SHA256_BYTES], want[SHA256_BYTES];
	int fd = memfd_create("t", MFD_CLOEXEC);

	(void)st;
	assert_int_equal(follow_start(&f, fd, 0, NULL, NULL, NULL, &e), 0);
	assert_int_equal(follow_finish(&f, 0, got, &e), 0);
	digest_of((const uint8_t *)"", 0, want);
	assert_memory_equal(got, want, SHA256_BYTES);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_goes_on_from_a_prefix_and_its_hash),
		cmocka_unit_test(t_out_of_order_writes_hashed_in_order),
		cmocka_unit_test(t_handover_gives_the_running_hash_of_the_prefix),
		cmocka_unit_test(t_nothing_hashed_past_what_was_published),
		cmocka_unit_test(t_small_rest_waits_for_the_end_or_a_waiting_writer),
		cmocka_unit_test(t_no_wake_unless_asked_or_after_quiet),
		cmocka_unit_test(t_memfd_seals_after_following),
		cmocka_unit_test(t_unreadable_file_fails),
		cmocka_unit_test(t_stop_without_finish),
		cmocka_unit_test(t_empty_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
