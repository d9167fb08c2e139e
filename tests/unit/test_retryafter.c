/* Unit tests for agent/fetch/retryafter.c. Dates were checked with
 * `date -u -d 'Sun, 06 Nov 1994 08:49:37 GMT' +%s` (784111777). */
#include "nktest.h"
#include "retryafter.h"

#define NOW 784111777ULL /* Sun, 06 Nov 1994 08:49:37 GMT */
#define MAX 300

static int
ra(const char *v, uint64_t *s)
{
	return retryafter_parse(v, strlen(v), NOW, MAX, s);
}

static void
t_seconds(void **st)
{
	uint64_t s = 99;

	(void)st;
	assert_int_equal(ra("120", &s), 0);
	assert_int_equal(s, 120);
	assert_int_equal(ra(" 0\r\n", &s), 0);
	assert_int_equal(s, 0);
	assert_int_equal(ra("\t5 \r\n", &s), 0);
	assert_int_equal(s, 5);
}

static void
t_capped(void **st)
{
	uint64_t s = 0;

	(void)st;
	assert_int_equal(ra("301", &s), 0);
	assert_int_equal(s, MAX);
	assert_int_equal(ra("18446744073709551615", &s), 0);
	assert_int_equal(s, MAX);
	assert_int_equal(ra("99999999999999999999999999999999", &s), 0); /* over 2^64 */
	assert_int_equal(s, MAX);
}

static void
t_dates(void **st)
{
	uint64_t s = 99;

	(void)st;
	assert_int_equal(ra("Sun, 06 Nov 1994 08:50:37 GMT", &s), 0);
	assert_int_equal(s, 60);
	assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 GMT", &s), 0);
	assert_int_equal(s, 0);
	assert_int_equal(ra("Sat, 05 Nov 1994 08:49:37 GMT", &s), 0); /* past */
	assert_int_equal(s, 0);
	assert_int_equal(ra("Mon, 07 Nov 1994 08:49:37 GMT", &s), 0);
	assert_int_equal(s, MAX);
	/* 2000-02-29, a leap day: 951782400 */
	assert_int_equal(retryafter_parse("Tue, 29 Feb 2000 00:00:10 GMT", 29, 951782400ULL, 1000,
	    &s), 0);
	assert_int_equal(s, 10);
}

#define BAD(name, v) \
	static void name(void **st) { uint64_t s = 7; (void)st; \
		assert_int_equal(ra(v, &s), -1); assert_int_equal(s, 7); }
BAD(t_bad_empty, "")
BAD(t_bad_blank, "  \r\n")
BAD(t_bad_sign, "-5")
BAD(t_bad_plus, "+5")
BAD(t_bad_fraction, "1.5")
BAD(t_bad_unit, "5s")
BAD(t_bad_inner_space, "5 5")
BAD(t_bad_rfc850, "Sunday, 06-Nov-94 08:49:37 GMT")
BAD(t_bad_asctime, "Sun Nov  6 08:49:37 1994")
BAD(t_bad_zone, "Sun, 06 Nov 1994 08:49:37 UTC")
BAD(t_bad_month, "Sun, 06 Nox 1994 08:49:37 GMT")
BAD(t_bad_day, "Sun, 32 Nov 1994 08:49:37 GMT")
BAD(t_bad_day0, "Sun, 00 Nov 1994 08:49:37 GMT")
BAD(t_bad_hour, "Sun, 06 Nov 1994 24:49:37 GMT")
BAD(t_bad_weekday, "Xyz, 06 Nov 1994 08:49:37 GMT")
BAD(t_bad_year, "Sun, 06 Nov 1969 08:49:37 GMT")
BAD(t_bad_digits, "Sun, 0a Nov 1994 08:49:37 GMT")

static void
t_bad_long(void **st)
{
	char v[RETRYAFTER_MAX_BYTES + 2];
	uint64_t s = 7;

	(void)st;
	memset(v, '1', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	assert_int_equal(ra(v, &s), -1);
	assert_int_equal(s, 7);
}

static void
t_not_nul_terminated(void **st)
{
	uint64_t s = 0;

	(void)st;
	/* len bounds the read: "12" of "123" */
	assert_int_equal(retryafter_parse("123", 2, NOW, MAX, &s), 0);
	assert_int_equal(s, 12);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_seconds), cmocka_unit_test(t_capped), cmocka_unit_test(t_dates),
		cmocka_unit_test(t_bad_empty), cmocka_unit_test(t_bad_blank),
		cmocka_unit_test(t_bad_sign), cmocka_unit_test(t_bad_plus),
		cmocka_unit_test(t_bad_fraction), cmocka_unit_test(t_bad_unit),
		cmocka_unit_test(t_bad_inner_space), cmocka_unit_test(t_bad_rfc850),
		cmocka_unit_test(t_bad_asctime), cmocka_unit_test(t_bad_zone),
		cmocka_unit_test(t_bad_month), cmocka_unit_test(t_bad_day),
		cmocka_unit_test(t_bad_day0), cmocka_unit_test(t_bad_hour),
		cmocka_unit_test(t_bad_weekday), cmocka_unit_test(t_bad_year),
		cmocka_unit_test(t_bad_digits), cmocka_unit_test(t_bad_long),
		cmocka_unit_test(t_not_nul_terminated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
