/* test_b64: the RFC 4648 section 10 vectors both ways, and the inputs a
 * signature or key file could carry that must not decode: foreign
 * alphabets, missing or extra padding, non-canonical trailing bits,
 * whitespace, trailing garbage, and output buffers one byte short. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "b64.h"

/* RFC 4648, section 10 ("Test Vectors"), verbatim. */
static const struct {
	const char *plain, *b64;
} rfc[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void
test_rfc4648_encode(void **state)
{
	char out[16];
	size_t i;

	for (i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++) {
		assert_int_equal(b64_encode((const uint8_t *)rfc[i].plain, strlen(rfc[i].plain),
		    out, sizeof(out)), 0);
		assert_string_equal(out, rfc[i].b64);
	}
}

static void
test_rfc4648_decode(void **state)
{
	uint8_t out[16];
	size_t i, n;

	for (i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++) {
		n = 99;
		assert_int_equal(b64_decode(rfc[i].b64, strlen(rfc[i].b64), out, sizeof(out), &n), 0);
		assert_int_equal(n, strlen(rfc[i].plain));
		assert_memory_equal(out, rfc[i].plain, n);
	}
}

/* All 256 byte values survive a round trip. */
static void
test_all_bytes(void **state)
{
	uint8_t in[256], back[256];
	char enc[400];
	size_t i, n = 0;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	assert_int_equal(b64_encode(in, sizeof(in), enc, sizeof(enc)), 0);
	assert_int_equal(b64_decode(enc, strlen(enc), back, sizeof(back), &n), 0);
	assert_int_equal(n, sizeof(in));
	assert_memory_equal(in, back, n);
}

static int
dec(const char *s)
{
	uint8_t out[64];
	size_t n;

	return b64_decode(s, strlen(s), out, sizeof(out), &n);
}

/* Each refusal made by hand from an RFC vector above. */
static void test_bad_char(void **state) { assert_int_equal(dec("Zm9v!A=="), -1); }
static void test_urlsafe_alphabet(void **state) { assert_int_equal(dec("Zm-_"), -1); }
static void test_trailing_garbage(void **state) { assert_int_equal(dec("Zm9vYg==x"), -1); }
static void test_two_blocks_padded(void **state) { assert_int_equal(dec("Zg==Zg=="), -1); }
static void test_missing_padding(void **state) { assert_int_equal(dec("Zm9vYg"), -1); }
static void test_short_padding(void **state) { assert_int_equal(dec("Zm9vYg="), -1); }
static void test_extra_padding(void **state) { assert_int_equal(dec("Zm9vYg==="), -1); }
static void test_only_padding(void **state) { assert_int_equal(dec("="), -1); }
static void test_noncanonical_bits(void **state) { assert_int_equal(dec("Zm9="), -1); }
static void test_inner_space(void **state) { assert_int_equal(dec("Zm9v Zm9v"), -1); }
static void test_trailing_newline(void **state) { assert_int_equal(dec("Zm9v\n"), -1); }

static void
test_embedded_nul(void **state)
{
	uint8_t out[16];
	size_t n;

	/* The length, not a NUL, says where the input ends. */
	assert_int_equal(b64_decode("Zm9v\0Zm9v", 9, out, sizeof(out), &n), -1);
}

static void
test_decode_cap_one_short(void **state)
{
	uint8_t out[6];
	size_t n;

	assert_int_equal(b64_decode("Zm9vYmFy", 8, out, 5, &n), -1);
	assert_int_equal(b64_decode("Zm9vYmFy", 8, out, 6, &n), 0);
	assert_int_equal(n, 6);
}

static void
test_encode_cap_one_short(void **state)
{
	char out[5];

	/* "Zm9v" needs 5 bytes with its NUL. */
	assert_int_equal(b64_encode((const uint8_t *)"foo", 3, out, 4), -1);
	assert_int_equal(b64_encode((const uint8_t *)"foo", 3, out, 5), 0);
	assert_string_equal(out, "Zm9v");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_encode),
		cmocka_unit_test(test_rfc4648_decode),
		cmocka_unit_test(test_all_bytes),
		cmocka_unit_test(test_bad_char),
		cmocka_unit_test(test_urlsafe_alphabet),
		cmocka_unit_test(test_trailing_garbage),
		cmocka_unit_test(test_two_blocks_padded),
		cmocka_unit_test(test_missing_padding),
		cmocka_unit_test(test_short_padding),
		cmocka_unit_test(test_extra_padding),
		cmocka_unit_test(test_only_padding),
		cmocka_unit_test(test_noncanonical_bits),
		cmocka_unit_test(test_inner_space),
		cmocka_unit_test(test_trailing_newline),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_decode_cap_one_short),
		cmocka_unit_test(test_encode_cap_one_short),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
