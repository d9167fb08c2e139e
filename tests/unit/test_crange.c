/* Unit tests for agent/fetch/crange.c. A parallel download believes a
 * 206 only when its Content-Range names exactly the bytes asked for, so
 * every form a server may send must parse to what it says, and anything
 * else (signs, overflow, reversed or out-of-file ranges) must not parse
 * at all. */
#include "crange.h"
#include "nktest.h"

static int
cr(const char *v, struct crange *r)
{
	return crange_parse(v, strlen(v), r);
}

static void
expect(const char *v, int64_t first, int64_t last, int64_t complete)
{
	struct crange r;

	if (cr(v, &r) != 0)
		fail_msg("'%s' did not parse", v);
	assert_int_equal(r.first, first);
	assert_int_equal(r.last, last);
	assert_int_equal(r.complete, complete);
}

static void
bad(const char *v)
{
	struct crange r = { 7, 7, 7 };

	if (cr(v, &r) == 0)
		fail_msg("'%s' parsed", v);
	assert_int_equal(r.first, 7); /* untouched */
}

static void t_full(void **st) { (void)st; expect(" bytes 0-499/1234\r\n", 0, 499, 1234); }
static void t_unknown_length(void **st) { (void)st; expect("bytes 100-199/*", 100, 199, CRANGE_NONE); }
static void t_unsatisfied(void **st) { (void)st; expect("bytes */1234", CRANGE_NONE, CRANGE_NONE, 1234); }
static void t_unit_case(void **st) { (void)st; expect("Bytes 1-1/2", 1, 1, 2); }
static void t_blanks(void **st) { (void)st; expect("\tbytes  5-9/10 \t\r\n", 5, 9, 10); }
static void t_big(void **st) { (void)st; expect("bytes 0-999999999999999998/999999999999999999", 0, 999999999999999998LL, 999999999999999999LL); }
static void t_bad_empty(void **st) { (void)st; bad(""); bad("\r\n"); }
static void t_bad_unit(void **st) { (void)st; bad("items 0-1/2"); bad("bytes0-1/2"); bad("byte 0-1/2"); }
static void t_bad_sign(void **st) { (void)st; bad("bytes -1-5/10"); bad("bytes +1-5/10"); bad("bytes 1--5/10"); }
static void t_bad_reversed(void **st) { (void)st; bad("bytes 9-5/10"); }
static void t_bad_past_end(void **st) { (void)st; bad("bytes 0-10/10"); bad("bytes 5-9/5"); }
static void t_bad_overflow(void **st) { (void)st; bad("bytes 0-1/9999999999999999999"); bad("bytes 9223372036854775808-9223372036854775809/*"); }
static void t_bad_both_unknown(void **st) { (void)st; bad("bytes */*"); }
static void t_bad_missing(void **st) { (void)st; bad("bytes 0-5"); bad("bytes 0-/10"); bad("bytes -5/10"); bad("bytes 0-5/"); }
static void t_bad_trailing(void **st) { (void)st; bad("bytes 0-5/10, 20-25/30"); bad("bytes 0-5/10x"); bad("bytes 0-5 /10"); }
static void t_bad_multiple_ranges(void **st) { (void)st; bad("bytes 0-5,7-9/10"); }

static void
t_bad_long(void **st)
{
	char v[CRANGE_MAX_BYTES + 40];

	(void)st;
	snprintf(v, sizeof(v), "bytes 0-1/%0*d", CRANGE_MAX_BYTES, 2);
	bad(v);
}

static void
t_not_nul_terminated(void **st)
{
	struct crange r;

	(void)st;
	/* len bounds the read: "bytes 0-1/2" of "bytes 0-1/23" */
	assert_int_equal(crange_parse("bytes 0-1/23", 11, &r), 0);
	assert_int_equal(r.complete, 2);
}

/* crange_check: what a 206 for bytes 100-199 of a 1000-byte file says. */
static int
judge(long status, const char *v, int64_t clen, struct nk_err *e)
{
	struct crange_answer a = { .status = status, .clen = clen };

	if (v != NULL) {
		a.has_range = cr(v, &a.range) == 0;
		a.range_malformed = !a.has_range;
	}
	return crange_check(&a, 100, 200, 1000, e);
}

static void
t_check_exact(void **st)
{
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(judge(206, "bytes 100-199/1000", 100, &e), 0);
	assert_int_equal(judge(206, "bytes 100-199/*", -1, &e), 0);
}

static void
t_check_other_range(void **st)
{
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(judge(206, "bytes 0-99/1000", 100, &e), NK_E_HTTP);
	assert_non_null(strstr(e.msg, "asked for bytes 100-199, the server answered with "
	    "bytes 0-99; a server that mixes up ranges is refused"));
}

static void
t_check_other_size(void **st)
{
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(judge(206, "bytes 100-199/999", 100, &e), NK_E_SIZE);
	assert_non_null(strstr(e.msg, "the server's file is 999 bytes"));
}

/* Issue 19.7: a 206 in a 416's form names no bytes; never "bytes -1--1". */
static void
t_check_star_range(void **st)
{
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(judge(206, "bytes */1000", -1, &e), NK_E_HTTP);
	assert_null(strstr(e.msg, "--1"));
	assert_null(strstr(e.msg, "bytes -1"));
	assert_null(strstr(e.msg, "mixes up"));
	assert_non_null(strstr(e.msg, "Content-Range bytes */1000"));
}

/* Issue 19.7: the range is right, the length is not: say that. */
static void
t_check_length_disagrees(void **st)
{
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(judge(206, "bytes 100-199/1000", 150, &e), NK_E_HTTP);
	assert_null(strstr(e.msg, "mixes up"));
	assert_non_null(strstr(e.msg, "Content-Length of 150 bytes"));
	assert_non_null(strstr(e.msg, "100 bytes"));
}

static void
t_check_no_or_bad_header(void **st)
{
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(judge(206, NULL, 100, &e), NK_E_HTTP);
	assert_non_null(strstr(e.msg, "HTTP 206 without Content-Range"));
	assert_int_equal(judge(206, "bytes 100-199", 100, &e), NK_E_HTTP);
	assert_non_null(strstr(e.msg, "malformed Content-Range"));
	assert_int_equal(judge(302, NULL, -1, &e), NK_E_HTTP);
	assert_non_null(strstr(e.msg, "HTTP 302 instead of 206"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_full), cmocka_unit_test(t_unknown_length),
		cmocka_unit_test(t_check_exact), cmocka_unit_test(t_check_other_range),
		cmocka_unit_test(t_check_other_size), cmocka_unit_test(t_check_star_range),
		cmocka_unit_test(t_check_length_disagrees), cmocka_unit_test(t_check_no_or_bad_header),
		cmocka_unit_test(t_unsatisfied), cmocka_unit_test(t_unit_case),
		cmocka_unit_test(t_blanks), cmocka_unit_test(t_big),
		cmocka_unit_test(t_bad_empty), cmocka_unit_test(t_bad_unit),
		cmocka_unit_test(t_bad_sign), cmocka_unit_test(t_bad_reversed),
		cmocka_unit_test(t_bad_past_end), cmocka_unit_test(t_bad_overflow),
		cmocka_unit_test(t_bad_both_unknown), cmocka_unit_test(t_bad_missing),
		cmocka_unit_test(t_bad_trailing), cmocka_unit_test(t_bad_multiple_ranges),
		cmocka_unit_test(t_bad_long), cmocka_unit_test(t_not_nul_terminated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
