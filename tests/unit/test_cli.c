/* Unit tests for agent/cli/opts.c (the options fetch, verify and boot share)
 * and agent/cli/progress.c (JSON and plain event output). Keys are made
 * in-process with minisig_keygen. */
#include "nktest.h"
#include "opts.h"
#include "progress.h"

static struct minisig_keyfiles kf;
static char b64[MINISIG_PUBKEY_B64_BYTES + 1];
static char cfgdir[256], emptycfg[300];

static int
parse(struct fetch_cli *cli, struct nk_err *e, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;

	va_start(ap, e);
	argv[argc++] = "fetch";
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	return fetch_cli_parse(argc, argv, "help\n", NULL, NULL, cli, e);
}

static void
t_minimal(void **st)
{
	struct fetch_cli cli;
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(parse(&cli, &e, "https://h/b/", "-P", b64, "-o", "out", NULL), 0);
	assert_int_equal(cli.opts.nsources, 1);
	assert_string_equal(cli.opts.sources[0], "https://h/b/");
	assert_int_equal(cli.opts.nkeys, 1);
	assert_memory_equal(cli.keys[0].pk, kf.pk.pk, 32);
	assert_string_equal(cli.outdir, "out");
}

static void
t_mirrors_in_order(void **st)
{
	struct fetch_cli cli;
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(parse(&cli, &e, "--mirror", "https://m1/", "https://src/", "-P", b64,
	    "--mirror", "https://m2/", NULL), 0);
	assert_int_equal(cli.opts.nsources, 3);
	assert_string_equal(cli.opts.sources[0], "https://src/");
	assert_string_equal(cli.opts.sources[1], "https://m1/");
	assert_string_equal(cli.opts.sources[2], "https://m2/");
}

static void
t_all_options(void **st)
{
	struct fetch_cli cli;
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(parse(&cli, &e, "s", "-P", b64, "-P", b64, "--cacert", "ca.pem",
	    "--pin", "sha256//x", "--min-version", "42", "--arch", "aarch64", "--allow-legacy",
	    "--stall-timeout", "7", "--json", NULL), 0);
	assert_int_equal(cli.opts.nkeys, 2);
	assert_string_equal(cli.opts.http.cacert, "ca.pem");
	assert_string_equal(cli.opts.http.pin, "sha256//x");
	assert_int_equal(cli.opts.min_version, 42);
	assert_string_equal(cli.opts.arch, "aarch64");
	assert_true(cli.opts.allow_legacy);
	assert_int_equal(cli.opts.http.stall_time_s, 7);
	assert_true(cli.json);
}

#define REFUSED(name, needle, ...) \
	static void name(void **st) { struct fetch_cli cli; struct nk_err e = { "" }; (void)st; \
		int rc = parse(&cli, &e, __VA_ARGS__, NULL); assert_true(rc < 0); \
		if (!strstr(e.msg, needle)) fail_msg("'%s' lacks '%s'", e.msg, needle); }
REFUSED(t_no_source, "SOURCE is missing", "-P", b64)
REFUSED(t_two_sources, "exactly one SOURCE", "a", "b", "-P", b64)
REFUSED(t_no_key, "no trusted key", "s")
REFUSED(t_bad_key, "-P", "s", "-P", "RWnotakey")
REFUSED(t_missing_keyfile, "-p", "s", "-p", "/nonexistent/key.pub")
REFUSED(t_bad_pin, "sha256//", "s", "-P", b64, "--pin", "AAAA")
REFUSED(t_bad_minver, "not a number", "s", "-P", b64, "--min-version", "-1")
REFUSED(t_minver_junk, "not a number", "s", "-P", b64, "--min-version", "12x")
REFUSED(t_stall_zero, "stall-timeout", "s", "-P", b64, "--stall-timeout", "0")
REFUSED(t_unknown_opt, "unknown option", "s", "-P", b64, "--insecure")
REFUSED(t_k_is_not_insecure, "unknown option", "s", "-P", b64, "-k")
REFUSED(t_missing_value, "needs a value", "s", "-P")

static void
t_too_many_mirrors(void **st)
{
	struct fetch_cli cli;
	struct nk_err e = { "" };
	char *argv[64];
	int argc = 0, i;

	(void)st;
	argv[argc++] = "fetch";
	for (i = 0; i < FETCH_SOURCES_MAX; i++) {
		argv[argc++] = "--mirror";
		argv[argc++] = "https://m/";
	}
	argv[argc++] = "s";
	argv[argc++] = "-P";
	argv[argc++] = b64;
	argv[argc] = NULL;
	assert_true(fetch_cli_parse(argc, argv, "", NULL, NULL, &cli, &e) < 0);
	assert_non_null(strstr(e.msg, "mirrors"));
}

static void
t_u64(void **st)
{
	uint64_t v;

	(void)st;
	assert_int_equal(opts_u64("0", &v), 0);
	assert_int_equal(opts_u64("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(opts_u64("18446744073709551616", &v), -1);
	assert_int_equal(opts_u64("+1", &v), -1);
	assert_int_equal(opts_u64(" 1", &v), -1);
	assert_int_equal(opts_u64("", &v), -1);
}

/* --- progress ------------------------------------------------------------ */
static char *
capture_json(const struct event *ev)
{
	static char buf[2048];
	struct progress p;
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	assert_non_null(f);
	progress_init(&p, 1);
	p.out = f;
	progress_event(&p, ev);
	fclose(f);
	return buf;
}

static void
t_json_escapes(void **st)
{
	struct event ev = { .type = EV_RETRY, .file = "in\"it\\rd", .msg = "a\nb\x01", .attempt = 3 };
	char *s = capture_json(&ev);

	(void)st;
	assert_non_null(strstr(s, "\"event\":\"retry\""));
	assert_non_null(strstr(s, "\"file\":\"in\\\"it\\\\rd\""));
	assert_non_null(strstr(s, "\"message\":\"a\\u000ab\\u0001\""));
	assert_non_null(strstr(s, "\"attempt\":3"));
	assert_int_equal(s[strlen(s) - 1], '\n');
	assert_null(strchr(s, '\n') == s + strlen(s) - 1 ? NULL : "two lines");
}

static void
t_json_long_string(void **st)
{
	static char in[3001], out[8192];
	FILE *f = fmemopen(out, sizeof(out), "w");
	size_t i;

	(void)st;
	for (i = 0; i < 3000; i++)
		in[i] = i % 3 == 0 ? '"' : 'a'; /* 1000 quotes: 4000 bytes escaped */
	assert_non_null(f);
	progress_json_str(f, in); /* longer than the 1024-byte stack buffer */
	fclose(f);
	assert_int_equal(strlen(out), 4002);
	assert_memory_equal(out, "\"\\\"aa\\\"", 7); /* "\"aa\" */
	assert_int_equal(out[4001], '"');
}

static void
t_json_progress_numbers(void **st)
{
	struct event ev = { .type = EV_PROGRESS, .file = "initrd", .done = 5, .total = 10, .seconds = 1.5 };
	char *s = capture_json(&ev);

	(void)st;
	assert_non_null(strstr(s, "\"bytes\":5,\"total\":10,\"seconds\":1.500"));
}

static void
t_plain_mode_without_tty(void **st)
{
	struct progress p;

	(void)st;
	progress_init(&p, 0);
	if (!isatty(STDERR_FILENO))
		assert_int_equal(p.mode, PROGRESS_PLAIN);
	setenv("TERM", "dumb", 1);
	progress_init(&p, 0);
	assert_int_not_equal(p.mode, PROGRESS_TTY);
	progress_init(&p, 1);
	assert_int_equal(p.mode, PROGRESS_JSON);
}

static int
group_setup(void **st)
{
	(void)st;
	assert_int_equal(minisig_keygen(NULL, &kf, NULL), 0);
	memcpy(b64, kf.pub_b64, sizeof(b64));
	/* This machine's own config file, if it has one, is not the test's:
	 * an empty one instead (a missing one would be an error). */
	nkt_tmpdir(cfgdir);
	nkt_write(cfgdir, "empty", "", 0);
	snprintf(emptycfg, sizeof(emptycfg), "%s/empty", cfgdir);
	setenv(CONFIG_PATH_ENV, emptycfg, 1);
	return 0;
}

static int
group_teardown(void **st)
{
	(void)st;
	nkt_rmtree(cfgdir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_minimal), cmocka_unit_test(t_mirrors_in_order),
		cmocka_unit_test(t_all_options), cmocka_unit_test(t_no_source),
		cmocka_unit_test(t_two_sources), cmocka_unit_test(t_no_key),
		cmocka_unit_test(t_bad_key), cmocka_unit_test(t_missing_keyfile),
		cmocka_unit_test(t_bad_pin), cmocka_unit_test(t_bad_minver),
		cmocka_unit_test(t_minver_junk), cmocka_unit_test(t_stall_zero),
		cmocka_unit_test(t_unknown_opt), cmocka_unit_test(t_k_is_not_insecure),
		cmocka_unit_test(t_missing_value), cmocka_unit_test(t_too_many_mirrors),
		cmocka_unit_test(t_u64), cmocka_unit_test(t_json_escapes),
		cmocka_unit_test(t_json_long_string), cmocka_unit_test(t_json_progress_numbers), cmocka_unit_test(t_plain_mode_without_tty),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
