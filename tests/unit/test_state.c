/* Unit tests for agent/fleet/state.c: the version file's strict format,
 * the floor refusing a rollback by name, a floor that only rises (also
 * when another run raised it meanwhile), a corrupt or unreadable state
 * refusing to go on, and the last result written atomically. */
#include <sys/stat.h>

#include "nktest.h"
#include "state.h"

static char dir[256];

static int
setup(void **st)
{
	(void)st;
	nkt_tmpdir(dir);
	return 0;
}

static int
teardown(void **st)
{
	(void)st;
	nkt_rmtree(dir);
	return 0;
}

static char *
slurp(const char *name)
{
	static char buf[4096];
	char p[512];
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if ((f = fopen(p, "rb")) == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void
t_parse_version(void **st)
{
	struct nk_err e = { "" };
	uint64_t v;

	(void)st;
	assert_int_equal(state_parse_version((const uint8_t *)"100\n", 4, &v, &e), 0);
	assert_int_equal(v, 100);
	assert_int_equal(state_parse_version((const uint8_t *)"0\n", 2, &v, &e), 0);
	assert_int_equal(v, 0);
	assert_int_equal(state_parse_version((const uint8_t *)"18446744073709551615\n", 21, &v,
	    &e), 0);
	assert_true(v == UINT64_MAX);
}

#define BADV(name, text) \
	static void name(void **st) { struct nk_err e = { "" }; uint64_t v = 7; (void)st; \
		assert_int_equal(state_parse_version((const uint8_t *)(text), sizeof(text) - 1, &v, \
		    &e), NK_E_IO); assert_int_equal(v, 7); }
BADV(t_bad_empty, "")
BADV(t_bad_no_lf, "100")
BADV(t_bad_lf_only, "\n")
BADV(t_bad_two_lf, "100\n\n")
BADV(t_bad_crlf, "100\r\n")
BADV(t_bad_sign, "+100\n")
BADV(t_bad_minus, "-1\n")
BADV(t_bad_space, " 100\n")
BADV(t_bad_leading_zero, "0100\n")
BADV(t_bad_overflow, "18446744073709551616\n")
BADV(t_bad_too_long, "000000000000000000001\n")
BADV(t_bad_hex, "0x64\n")
BADV(t_bad_nul, "10\0\n")

static void
t_floor_refuses_rollback(void **st)
{
	struct state s;
	struct nk_err e = { "" };
	char want[512];

	(void)st;
	assert_int_equal(state_open(&s, dir, &e), 0);
	assert_false(s.have_floor);
	assert_int_equal(state_check(&s, 1, &e), 0); /* no floor yet */
	assert_int_equal(state_record(&s, 100, &e), 0);
	assert_string_equal(slurp("version"), "100\n");
	assert_int_equal(state_open(&s, dir, &e), 0);
	assert_true(s.have_floor);
	assert_int_equal(s.floor, 100);
	assert_int_equal(state_check(&s, 100, &e), 0);
	assert_int_equal(state_check(&s, 101, &e), 0);
	assert_int_equal(state_check(&s, 99, &e), NK_E_VERSION);
	snprintf(want, sizeof(want), "state file %s/version", dir);
	assert_non_null(strstr(e.msg, want));
	assert_non_null(strstr(e.msg, "99 is below 100"));
	assert_int_equal(nk_exit_code(NK_E_VERSION), 65);
}

static void
t_floor_only_rises(void **st)
{
	struct state a, b;
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(state_open(&a, dir, &e), 0);
	assert_int_equal(state_open(&b, dir, &e), 0);
	/* a verifies 200 while b, opened before, verifies 150 */
	assert_int_equal(state_record(&a, 200, &e), 0);
	assert_int_equal(state_record(&b, 150, &e), 0);
	assert_string_equal(slurp("version"), "200\n");
	assert_int_equal(b.floor, 200);
	assert_int_equal(state_record(&a, 10, &e), 0);
	assert_string_equal(slurp("version"), "200\n");
}

static void
t_makes_the_directory(void **st)
{
	struct state s;
	struct nk_err e = { "" };
	char sub[300];
	struct stat sb;

	(void)st;
	snprintf(sub, sizeof(sub), "%s/state", dir);
	assert_int_equal(state_open(&s, sub, &e), 0);
	assert_int_equal(stat(sub, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, STATE_DIR_MODE);
	/* but not its parents */
	snprintf(sub, sizeof(sub), "%s/a/b", dir);
	assert_int_equal(state_open(&s, sub, &e), NK_E_IO);
	assert_true(s.dir_unusable);
	assert_false(s.open);
}

static void
t_not_a_directory(void **st)
{
	struct state s;
	struct nk_err e = { "" };
	char f[300];

	(void)st;
	nkt_write(dir, "file", "x", 1);
	snprintf(f, sizeof(f), "%s/file", dir);
	assert_int_equal(state_open(&s, f, &e), NK_E_IO);
	assert_true(s.dir_unusable);
	assert_int_equal(state_open(&s, "", &e), NK_E_USAGE);
}

static void
t_corrupt_version_refuses(void **st)
{
	struct state s;
	struct nk_err e = { "" };

	(void)st;
	nkt_write(dir, "version", "one hundred\n", 12);
	assert_int_equal(state_open(&s, dir, &e), NK_E_IO);
	assert_false(s.dir_unusable); /* the floor is unknown: no going on */
	assert_non_null(strstr(e.msg, "version"));
	assert_non_null(strstr(e.msg, "remove the file"));
}

static void
t_symlinked_version_refused(void **st)
{
	struct state s;
	struct nk_err e = { "" };
	char p[300], t[300];

	(void)st;
	nkt_write(dir, "elsewhere", "5\n", 2);
	snprintf(p, sizeof(p), "%s/version", dir);
	snprintf(t, sizeof(t), "%s/elsewhere", dir);
	assert_int_equal(symlink(t, p), 0);
	assert_int_equal(state_open(&s, dir, &e), NK_E_IO);
	assert_non_null(strstr(e.msg, "cannot be enforced"));
}

static void
t_oversized_version_refused(void **st)
{
	static char big[STATE_VERSION_MAX_BYTES + 2];
	struct state s;
	struct nk_err e = { "" };

	(void)st;
	memset(big, '1', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	nkt_write(dir, "version", big, sizeof(big));
	assert_int_equal(state_open(&s, dir, &e), NK_E_IO);
}

static void
t_last_result(void **st)
{
	struct state s;
	struct nk_err e = { "" };
	static char big[STATE_RESULT_MAX_BYTES + 1];

	(void)st;
	/* nothing written without an open state */
	memset(&s, 0, sizeof(s));
	assert_int_equal(state_write_result(&s, "{}\n", 3, &e), 0);
	assert_null(slurp("last-result.json"));
	assert_int_equal(state_open(&s, dir, &e), 0);
	assert_int_equal(state_write_result(&s, "{\"a\":1}\n", 8, &e), 0);
	assert_string_equal(slurp("last-result.json"), "{\"a\":1}\n");
	assert_int_equal(state_write_result(&s, "{\"b\":2}\n", 8, &e), 0);
	assert_string_equal(slurp("last-result.json"), "{\"b\":2}\n");
	assert_int_equal(state_write_result(&s, big, sizeof(big), &e), NK_E_INTERNAL);
}

static void
t_record_without_open_is_nothing(void **st)
{
	struct state s;
	struct nk_err e = { "" };

	(void)st;
	memset(&s, 0, sizeof(s));
	assert_int_equal(state_record(&s, 5, &e), 0);
	assert_int_equal(state_check(&s, 0, &e), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(t_parse_version), T(t_bad_empty), T(t_bad_no_lf), T(t_bad_lf_only),
		T(t_bad_two_lf), T(t_bad_crlf), T(t_bad_sign), T(t_bad_minus), T(t_bad_space),
		T(t_bad_leading_zero), T(t_bad_overflow), T(t_bad_too_long), T(t_bad_hex),
		T(t_bad_nul), T(t_floor_refuses_rollback), T(t_floor_only_rises),
		T(t_makes_the_directory), T(t_not_a_directory), T(t_corrupt_version_refuses),
		T(t_symlinked_version_refused), T(t_oversized_version_refused), T(t_last_result),
		T(t_record_without_open_is_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
