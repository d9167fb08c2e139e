/* test_err: every code reaches the exit status DESIGN.md's table gives its
 * class (64 usage, 65 rejected, 69 unavailable, 70 internal, 71 kernel,
 * 74 I/O, 75 locked, 77 not permitted) under a stable, unique name; an
 * unknown code is internal, never success. The expectations below are
 * copied by hand from DESIGN.md and err.h, not from err.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"

static const struct {
	int code, exit;
	const char *name;
} want[] = {
	{ NK_OK, 0, "ok" },
	{ NK_E_USAGE, 64, "usage" },
	{ NK_E_KEYFILE, 64, "key-file" },
	{ NK_E_PASSWORD, 64, "password" },
	{ NK_E_SOURCE, 64, "source" },
	{ NK_E_MANIFEST, 65, "manifest" },
	{ NK_E_SIGFMT, 65, "signature-format" },
	{ NK_E_KEYID, 65, "untrusted-key" },
	{ NK_E_LEGACY, 65, "legacy-signature" },
	{ NK_E_SIG, 65, "signature" },
	{ NK_E_GLOBALSIG, 65, "trusted-comment" },
	{ NK_E_SIZE, 65, "size" },
	{ NK_E_HASH, 65, "hash" },
	{ NK_E_VERSION, 65, "version" },
	{ NK_E_EXPIRED, 65, "expired" },
	{ NK_E_ARCH, 65, "arch" },
	{ NK_E_MISSING, 65, "missing" },
	{ NK_E_NET, 69, "network" },
	{ NK_E_TLS, 69, "tls" },
	{ NK_E_HTTP, 69, "http" },
	{ NK_E_REDIRECT, 69, "redirect" },
	{ NK_E_NOMEM, 70, "out-of-memory" },
	{ NK_E_INTERNAL, 70, "internal" },
	{ NK_E_KERNEL, 71, "kernel" },
	{ NK_E_IO, 74, "io" },
	{ NK_E_LOCKED, 75, "locked" },
	{ NK_E_PERM, 77, "permission" },
};

#define NWANT (sizeof(want) / sizeof(want[0]))

static void
test_exit_codes(void **state)
{
	size_t i;

	for (i = 0; i < NWANT; i++) {
		if (nk_exit_code(want[i].code) != want[i].exit)
			print_error("code %d (%s): exit %d, want %d\n", want[i].code,
			    want[i].name, nk_exit_code(want[i].code), want[i].exit);
		assert_int_equal(nk_exit_code(want[i].code), want[i].exit);
	}
}

static void
test_names(void **state)
{
	size_t i;

	for (i = 0; i < NWANT; i++)
		assert_string_equal(nk_code_name(want[i].code), want[i].name);
}

static void
test_names_unique(void **state)
{
	size_t i, j;

	for (i = 0; i < NWANT; i++)
		for (j = i + 1; j < NWANT; j++)
			assert_string_not_equal(nk_code_name(want[i].code),
			    nk_code_name(want[j].code));
}

/* A code added to err.c without a row here (and so without a decided exit
 * status) fails this test. */
static void
test_no_unlisted_codes(void **state)
{
	size_t i;
	int c, listed;

	for (c = -200; c <= 0; c++) {
		listed = 0;
		for (i = 0; i < NWANT; i++)
			listed |= want[i].code == c;
		if (!listed && strcmp(nk_code_name(c), "internal") != 0)
			print_error("code %d (%s) has no row in test_err\n", c, nk_code_name(c));
		assert_true(listed || strcmp(nk_code_name(c), "internal") == 0);
	}
}

static void
test_unknown_code_is_internal(void **state)
{
	assert_int_equal(nk_exit_code(-9999), 70);
	assert_int_equal(nk_exit_code(1), 70);
	assert_int_equal(nk_exit_code(-7), 70);
	assert_string_equal(nk_code_name(-9999), "internal");
}

static void
test_fail_formats_and_returns(void **state)
{
	struct nk_err e = { "old" };

	assert_int_equal(nk_fail(&e, NK_E_HASH, "%s: want %d, got %d", "bzImage", 1, 2),
	    NK_E_HASH);
	assert_string_equal(e.msg, "bzImage: want 1, got 2");
}

static void
test_fail_null_buffer(void **state)
{
	assert_int_equal(nk_fail(NULL, NK_E_IO, "x %d", 1), NK_E_IO);
}

static void
test_fail_truncates(void **state)
{
	char big[NK_ERR_MAX * 2];
	struct nk_err e;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(nk_fail(&e, NK_E_USAGE, "%s", big), NK_E_USAGE);
	assert_int_equal(strlen(e.msg), NK_ERR_MAX - 1);
}

static void
test_prefix(void **state)
{
	struct nk_err e;

	nk_fail(&e, NK_E_HASH, "sha256 mismatch");
	nk_err_prefix(&e, "initrd");
	assert_string_equal(e.msg, "initrd: sha256 mismatch");
	nk_err_prefix(&e, "https://example.org/b/");
	assert_string_equal(e.msg, "https://example.org/b/: initrd: sha256 mismatch");
}

static void
test_prefix_truncates(void **state)
{
	char big[NK_ERR_MAX];
	struct nk_err e;

	memset(big, 'p', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	nk_fail(&e, NK_E_USAGE, "%s", big);
	nk_err_prefix(&e, "what");
	assert_int_equal(strlen(e.msg), NK_ERR_MAX - 1);
	assert_memory_equal(e.msg, "what: ppp", 9);
}

static void
test_prefix_null(void **state)
{
	nk_err_prefix(NULL, "what");
}

/* Issue 19.2: a message never keeps a URL's credentials, whichever way
 * it was made. */
static void
test_fail_redacts(void **state)
{
	struct nk_err e;

	(void)state;
	nk_fail(&e, NK_E_HTTP, "%s: HTTP 404", "https://u:s3cr3t@h.example/m?sig=s3cr3t");
	assert_string_equal(e.msg, "https://***@h.example/m?***: HTTP 404");
	nk_fail(&e, NK_E_HTTP, "HTTP 404");
	nk_err_prefix(&e, "https://u:s3cr3t@h.example/");
	assert_string_equal(e.msg, "https://***@h.example/: HTTP 404");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_codes),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_names_unique),
		cmocka_unit_test(test_no_unlisted_codes),
		cmocka_unit_test(test_unknown_code_is_internal),
		cmocka_unit_test(test_fail_formats_and_returns),
		cmocka_unit_test(test_fail_null_buffer),
		cmocka_unit_test(test_fail_truncates),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_prefix_truncates),
		cmocka_unit_test(test_prefix_null),
		cmocka_unit_test(test_fail_redacts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
