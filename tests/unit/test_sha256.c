/* test_sha256: digests against published vectors, the hex codec's
 * refusals, and the streaming copy that bundle (and fetch) hash with.
 *
 * Vectors: FIPS 180-2 appendix B ("abc", the 448-bit message, one million
 * 'a') and the digest of the empty string, as `printf '' | sha256sum`
 * prints it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "sha256.h"

#define H_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define H_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define H_448 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define H_MILLION_A "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
#define MILLION 1000000

static void
digest(const void *buf, size_t len, uint8_t out[SHA256_BYTES])
{
	struct nk_err e = { "" };
	struct sha256 h;

	assert_int_equal(sha256_init(&h, &e), 0);
	assert_int_equal(sha256_update(&h, buf, len, &e), 0);
	assert_int_equal(sha256_final(&h, out, &e), 0);
}

static void
assert_hex(const uint8_t d[SHA256_BYTES], const char *want)
{
	char hex[SHA256_HEX_BYTES];

	sha256_hex(d, hex);
	assert_string_equal(hex, want);
}

/* A temp file holding len copies of c; returns an fd at offset 0. */
static int
temp_file(char c, size_t len)
{
	char path[] = "/tmp/nk-test-sha256-XXXXXX";
	char *buf = malloc(len + 1);
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_non_null(buf);
	unlink(path);
	memset(buf, c, len);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	free(buf);
	return fd;
}

static void
test_empty(void **state)
{
	uint8_t d[SHA256_BYTES];

	digest("", 0, d);
	assert_hex(d, H_EMPTY);
}

static void
test_abc(void **state)
{
	uint8_t d[SHA256_BYTES];

	digest("abc", 3, d);
	assert_hex(d, H_ABC);
}

static void
test_448_bits(void **state)
{
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	uint8_t d[SHA256_BYTES];

	digest(m, strlen(m), d);
	assert_hex(d, H_448);
}

/* One million 'a', once in one call and once in odd chunk sizes that
 * straddle the 64-byte block boundary every way. */
static void
test_million_a_chunks(void **state)
{
	static const size_t chunks[] = { 1, 3, 7, 63, 64, 65, 127, 1000, 4093 };
	uint8_t one[SHA256_BYTES], streamed[SHA256_BYTES];
	char *buf = malloc(MILLION);
	struct nk_err e = { "" };
	struct sha256 h;
	size_t off = 0, i = 0, n;

	assert_non_null(buf);
	memset(buf, 'a', MILLION);
	digest(buf, MILLION, one);
	assert_hex(one, H_MILLION_A);
	assert_int_equal(sha256_init(&h, &e), 0);
	while (off < MILLION) {
		n = chunks[i++ % (sizeof(chunks) / sizeof(chunks[0]))];
		if (n > MILLION - off)
			n = MILLION - off;
		assert_int_equal(sha256_update(&h, buf + off, n, &e), 0);
		off += n;
	}
	assert_int_equal(sha256_update(&h, buf, 0, &e), 0);
	assert_int_equal(sha256_final(&h, streamed, &e), 0);
	assert_memory_equal(one, streamed, SHA256_BYTES);
	free(buf);
}

static void
test_update_without_init(void **state)
{
	struct sha256 h = { NULL };
	struct nk_err e = { "" };
	uint8_t d[SHA256_BYTES];

	assert_int_equal(sha256_update(&h, "x", 1, &e), NK_E_INTERNAL);
	assert_int_equal(sha256_final(&h, d, &e), NK_E_INTERNAL);
}

static void
test_final_twice(void **state)
{
	struct nk_err e = { "" };
	uint8_t d[SHA256_BYTES];
	struct sha256 h;

	assert_int_equal(sha256_init(&h, &e), 0);
	assert_int_equal(sha256_final(&h, d, &e), 0);
	assert_int_equal(sha256_final(&h, d, &e), NK_E_INTERNAL);
	sha256_free(&h); /* safe on a finished context */
}

static void
test_hex_round_trip(void **state)
{
	uint8_t d[SHA256_BYTES], back[SHA256_BYTES];
	char hex[SHA256_HEX_BYTES];
	size_t i;

	for (i = 0; i < SHA256_BYTES; i++)
		d[i] = (uint8_t)(i * 37 + 11);
	d[0] = 0x00;
	d[31] = 0xff;
	sha256_hex(d, hex);
	assert_int_equal(strlen(hex), 64);
	assert_int_equal(sha256_unhex(hex, 64, back), 0);
	assert_memory_equal(d, back, SHA256_BYTES);
}

static void
test_unhex_uppercase(void **state)
{
	uint8_t d[SHA256_BYTES];

	assert_int_equal(sha256_unhex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", 64, d), -1);
}

static void
test_unhex_one_upper(void **state)
{
	uint8_t d[SHA256_BYTES];

	assert_int_equal(sha256_unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015aD", 64, d), -1);
}

static void
test_unhex_63(void **state)
{
	uint8_t d[SHA256_BYTES];

	assert_int_equal(sha256_unhex(H_ABC, 63, d), -1);
}

static void
test_unhex_65(void **state)
{
	uint8_t d[SHA256_BYTES];

	assert_int_equal(sha256_unhex(H_ABC "0", 65, d), -1);
}

static void
test_unhex_empty(void **state)
{
	uint8_t d[SHA256_BYTES];

	assert_int_equal(sha256_unhex("", 0, d), -1);
}

static void
test_unhex_non_hex(void **state)
{
	uint8_t d[SHA256_BYTES];

	assert_int_equal(sha256_unhex("ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 64, d), -1);
	assert_int_equal(sha256_unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a ", 64, d), -1);
	assert_int_equal(sha256_unhex("0x7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 64, d), -1);
}

static void
test_unhex_nul_inside(void **state)
{
	char hex[65];
	uint8_t d[SHA256_BYTES];

	memcpy(hex, H_ABC, 65);
	hex[10] = '\0';
	assert_int_equal(sha256_unhex(hex, 64, d), -1);
}

static void
test_equal(void **state)
{
	uint8_t a[SHA256_BYTES], b[SHA256_BYTES];

	digest("abc", 3, a);
	memcpy(b, a, SHA256_BYTES);
	assert_true(sha256_equal(a, b));
	b[0] ^= 1;
	assert_false(sha256_equal(a, b));
	b[0] ^= 1;
	b[31] ^= 0x80;
	assert_false(sha256_equal(a, b));
}

static void
test_fd_file(void **state)
{
	struct nk_err e = { "" };
	uint8_t d[SHA256_BYTES];
	int fd = temp_file('a', MILLION);

	/* From offset 0 whatever the descriptor's position. */
	assert_int_equal(lseek(fd, 12345, SEEK_SET), 12345);
	assert_int_equal(sha256_fd(fd, d, &e), 0);
	assert_hex(d, H_MILLION_A);
	close(fd);
}

static void
test_fd_empty_file(void **state)
{
	struct nk_err e = { "" };
	uint8_t d[SHA256_BYTES];
	int fd = temp_file('a', 0);

	assert_int_equal(sha256_fd(fd, d, &e), 0);
	assert_hex(d, H_EMPTY);
	close(fd);
}

static void
test_fd_pipe_refused(void **state)
{
	struct nk_err e = { "" };
	uint8_t d[SHA256_BYTES];
	int p[2];

	/* pread on a pipe is ESPIPE: an I/O error, not a digest of nothing. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(sha256_fd(p[0], d, &e), NK_E_IO);
	close(p[0]);
	close(p[1]);
}

static void
test_fd_bad(void **state)
{
	struct nk_err e = { "" };
	uint8_t d[SHA256_BYTES];

	assert_int_equal(sha256_fd(-1, d, &e), NK_E_IO);
}

/* sha256_copy_fd: the copy and the digest are of the same bytes. */
static void
test_copy_fd(void **state)
{
	struct nk_err e = { "" };
	uint8_t d[SHA256_BYTES];
	int in = temp_file('a', MILLION), out = temp_file('z', 0);
	uint64_t n = 0;

	assert_int_equal(sha256_copy_fd(in, out, MILLION, &n, d, &e), 0);
	assert_true(n == MILLION);
	assert_hex(d, H_MILLION_A);
	assert_int_equal(sha256_fd(out, d, &e), 0);
	assert_hex(d, H_MILLION_A);
	close(in);
	close(out);
}

static void
test_copy_fd_over_max(void **state)
{
	struct nk_err e = { "" };
	uint8_t d[SHA256_BYTES];
	int in = temp_file('a', MILLION), out = temp_file('z', 0);
	uint64_t n = 0;

	assert_int_equal(sha256_copy_fd(in, out, MILLION - 1, &n, d, &e), NK_E_SIZE);
	assert_true(n <= MILLION - 1);
	/* Nothing past the cap reaches the output. */
	assert_true(lseek(out, 0, SEEK_END) <= MILLION - 1);
	close(in);
	close(out);
}

static void
test_copy_fd_one_over_small_max(void **state)
{
	struct nk_err e = { "" };
	uint8_t d[SHA256_BYTES];
	int in = temp_file('a', 4), out = temp_file('z', 0);
	uint64_t n = 9;

	assert_int_equal(sha256_copy_fd(in, out, 3, &n, d, &e), NK_E_SIZE);
	assert_true(n == 0);
	assert_int_equal(lseek(out, 0, SEEK_END), 0);
	close(in);
	close(out);
}

static void
test_copy_fd_max_zero_empty(void **state)
{
	struct nk_err e = { "" };
	uint8_t d[SHA256_BYTES];
	int in = temp_file('a', 0);
	uint64_t n = 9;

	assert_int_equal(sha256_copy_fd(in, -1, 0, &n, d, &e), 0);
	assert_true(n == 0);
	assert_hex(d, H_EMPTY);
	close(in);
}

static void
test_copy_fd_hash_only_from_pipe(void **state)
{
	struct nk_err e = { "" };
	uint8_t d[SHA256_BYTES];
	uint64_t n = 0;
	int p[2];

	/* Streams (unlike sha256_fd) from the current position; no cap. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "abc", 3), 3);
	close(p[1]);
	assert_int_equal(sha256_copy_fd(p[0], -1, UINT64_MAX, &n, d, &e), 0);
	assert_true(n == 3);
	assert_hex(d, H_ABC);
	close(p[0]);
}

static void
test_copy_fd_bad_input(void **state)
{
	struct nk_err e = { "" };
	uint8_t d[SHA256_BYTES];

	assert_int_equal(sha256_copy_fd(-1, -1, 10, NULL, d, &e), NK_E_IO);
}

static void
test_copy_fd_bad_output(void **state)
{
	struct nk_err e = { "" };
	uint8_t d[SHA256_BYTES];
	int in = temp_file('a', 10), out = open("/dev/null", O_RDONLY | O_CLOEXEC);
	uint64_t n = 0;

	/* A read-only descriptor as the output: the write fails, loudly. */
	assert_true(out >= 0);
	assert_int_equal(sha256_copy_fd(in, out, 100, &n, d, &e), NK_E_IO);
	close(out);
	close(in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_abc),
		cmocka_unit_test(test_448_bits),
		cmocka_unit_test(test_million_a_chunks),
		cmocka_unit_test(test_update_without_init),
		cmocka_unit_test(test_final_twice),
		cmocka_unit_test(test_hex_round_trip),
		cmocka_unit_test(test_unhex_uppercase),
		cmocka_unit_test(test_unhex_one_upper),
		cmocka_unit_test(test_unhex_63),
		cmocka_unit_test(test_unhex_65),
		cmocka_unit_test(test_unhex_empty),
		cmocka_unit_test(test_unhex_non_hex),
		cmocka_unit_test(test_unhex_nul_inside),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_fd_file),
		cmocka_unit_test(test_fd_empty_file),
		cmocka_unit_test(test_fd_pipe_refused),
		cmocka_unit_test(test_fd_bad),
		cmocka_unit_test(test_copy_fd),
		cmocka_unit_test(test_copy_fd_over_max),
		cmocka_unit_test(test_copy_fd_one_over_small_max),
		cmocka_unit_test(test_copy_fd_max_zero_empty),
		cmocka_unit_test(test_copy_fd_hash_only_from_pipe),
		cmocka_unit_test(test_copy_fd_bad_input),
		cmocka_unit_test(test_copy_fd_bad_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
