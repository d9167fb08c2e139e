/* test_lines: the line reader of the lenient parsers (sshd_config,
 * resolv.conf, networkd's state, authorized_keys, /etc/passwd): LF and
 * CR LF, a last line without LF, empty lines, nothing after a final LF,
 * bytes past the cap never read (a guard page), and which lines the
 * parsers may read (length, NUL). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "lines.h"

/* Every line of s (at most cap bytes), joined by '|'. */
static void
joined(const char *s, size_t len, size_t cap, char *out, size_t outcap)
{
	struct lines l;
	const char *p;
	size_t n, o = 0;
	int first = 1;

	lines_init(&l, s, len, cap);
	out[0] = '\0';
	while (lines_next(&l, &p, &n)) {
		assert_true(o + n + 2 < outcap);
		if (!first)
			out[o++] = '|';
		memcpy(out + o, p, n);
		o += n;
		out[o] = '\0';
		first = 0;
	}
}

static void
check(const char *s, const char *want)
{
	char out[256];

	joined(s, strlen(s), strlen(s), out, sizeof(out));
	assert_string_equal(out, want);
}

static void
test_lf_and_crlf(void **state)
{
	check("a\nbb\nccc\n", "a|bb|ccc");
	check("a\r\nbb\r\nccc\r\n", "a|bb|ccc");
	check("a\nbb\r\nccc", "a|bb|ccc");
}

static void
test_last_line_without_lf(void **state)
{
	check("one", "one");
	check("one\ntwo", "one|two");
}

static void
test_empty_lines_count(void **state)
{
	struct lines l;
	const char *p;
	size_t n, count = 0;
	const char *s = "\n\r\nx\n\n";

	lines_init(&l, s, strlen(s), strlen(s));
	while (lines_next(&l, &p, &n))
		count++;
	/* "", "" (CR LF), "x", "": nothing after the final LF */
	assert_int_equal(count, 4);
	check("\n", "");
}

static void
test_nothing_is_no_line(void **state)
{
	struct lines l;
	const char *p = NULL;
	size_t n = 7;

	lines_init(&l, "", 0, 100);
	assert_int_equal(lines_next(&l, &p, &n), 0);
	assert_null(p);
	assert_int_equal(n, 7);
	lines_init(&l, "abc\n", 4, 0);
	assert_int_equal(lines_next(&l, &p, &n), 0);
}

static void
test_inner_cr_kept(void **state)
{
	check("a\rb\n", "a\rb");
	check("a\r\r\n", "a\r");
}

/* The cap is where reading ends: a line cut there is the last one, and
 * the bytes after it are never touched (a page that cannot be read). */
static void
test_cap_never_read_past(void **state)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *m, *s, out[64];
	const char *text = "first\nsecond";

	m = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	assert_int_equal(mprotect(m + pg, (size_t)pg, PROT_NONE), 0);
	s = m + pg - strlen(text);
	memcpy(s, text, strlen(text));
	/* len says there is more (a file that grew): only cap bytes are read */
	joined(s, strlen(text) + 100, strlen(text), out, sizeof(out));
	assert_string_equal(out, "first|second");
	joined(s, strlen(text) + 100, 9, out, sizeof(out));
	assert_string_equal(out, "first|sec");
	munmap(m, (size_t)pg * 2);
}

static void
test_readable(void **state)
{
	assert_true(lines_readable("abcd", 4, 4));
	assert_false(lines_readable("abcde", 5, 4));
	assert_false(lines_readable("ab\0d", 4, 4));
	assert_true(lines_readable("ab\0d", 2, 4));
	assert_true(lines_readable("", 0, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lf_and_crlf),
		cmocka_unit_test(test_last_line_without_lf),
		cmocka_unit_test(test_empty_lines_count),
		cmocka_unit_test(test_nothing_is_no_line),
		cmocka_unit_test(test_inner_cr_kept),
		cmocka_unit_test(test_cap_never_read_past),
		cmocka_unit_test(test_readable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
