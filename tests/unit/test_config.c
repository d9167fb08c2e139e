/* Unit tests for agent/fleet/config.c (the config file's syntax) and for
 * its use by agent/cli/opts.c: lines applied through the same handler as
 * the command line, the command line winning option by option, errors
 * naming the file and the line. Config files are written to a temporary
 * directory; keys are made in-process with minisig_keygen. */
#include "nktest.h"
#include "config.h"
#include "opts.h"

static struct minisig_keyfiles kf, kf2;
static char b64[MINISIG_PUBKEY_B64_BYTES + 1], b64b[MINISIG_PUBKEY_B64_BYTES + 1];
static char dir[256], cfgpath[300], keyfile[300], emptycfg[300];

/* --- the syntax ---------------------------------------------------------- */

static struct config cf; /* 64 KiB: not on the stack of every test */

static int
parse_str(const char *s, struct nk_err *e)
{
	return config_parse((const uint8_t *)s, strlen(s), &cf, e);
}

static void
t_parse_lines(void **st)
{
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(parse_str("# fleet settings\n"
	    "source https://h/b/\n"
	    "\n"
	    "   key-file   /etc/k.pub  \n"
	    "\t# indented comment\n"
	    "json\n"
	    "mirror https://m/#not-a-comment\n"
	    "ssh-key ssh-ed25519 AAAA user@h\xc3\xa9\n"
	    "splay 30", &e), 0);
	assert_int_equal(cf.n, 6);
	assert_int_equal(cf.entries[0].line, 2);
	assert_string_equal(cf.entries[0].name, "source");
	assert_string_equal(cf.entries[0].value, "https://h/b/");
	assert_int_equal(cf.entries[1].line, 4);
	assert_string_equal(cf.entries[1].name, "key-file");
	assert_string_equal(cf.entries[1].value, "/etc/k.pub");
	assert_string_equal(cf.entries[2].name, "json");
	assert_null(cf.entries[2].value);
	assert_string_equal(cf.entries[3].value, "https://m/#not-a-comment");
	assert_string_equal(cf.entries[4].value, "ssh-ed25519 AAAA user@h\xc3\xa9");
	assert_int_equal(cf.entries[5].line, 9);
	assert_string_equal(cf.entries[5].value, "30"); /* no final LF */
}

static void
t_parse_empty(void **st)
{
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(config_parse((const uint8_t *)"", 0, &cf, &e), 0);
	assert_int_equal(cf.n, 0);
	assert_int_equal(parse_str("\n\n# only comments\n  \n", &e), 0);
	assert_int_equal(cf.n, 0);
}

/* Each refusal: input, the line named, a piece of the message. */
#define BAD(name, input, line, needle) \
	static void name(void **st) { struct nk_err e = { "" }; char want[64]; (void)st; \
		assert_int_equal(config_parse((const uint8_t *)(input), sizeof(input) - 1, &cf, &e), \
		    NK_E_USAGE); \
		assert_int_equal(cf.n, 0); assert_int_equal(cf.bad_line, line); \
		snprintf(want, sizeof(want), "line %u: ", (unsigned)(line)); \
		if (!strstr(e.msg, want) || !strstr(e.msg, needle)) \
			fail_msg("'%s' lacks '%s' or '%s'", e.msg, want, needle); }
BAD(t_bad_crlf, "json\r\n", 1, "carriage return")
BAD(t_bad_nul, "json\nsource a\0b\n", 2, "NUL")
BAD(t_bad_control, "source a\x1b[31m\n", 1, "control byte 0x1b")
BAD(t_bad_del, "source a\x7f\n", 1, "control byte 0x7f")
BAD(t_bad_utf8_lone, "source \x80\n", 1, "not UTF-8")
BAD(t_bad_utf8_overlong, "source \xc0\xaf\n", 1, "not UTF-8")
BAD(t_bad_utf8_surrogate, "source \xed\xa0\x80\n", 1, "not UTF-8")
BAD(t_bad_utf8_short, "source \xe2\x82", 1, "not UTF-8")
BAD(t_bad_dashes, "\n--source https://h/\n", 2, "without the dashes")
BAD(t_bad_equals, "source=https://h/\n", 1, "not 'name=value'")
BAD(t_bad_upper, "Source https://h/\n", 1, "is not an option name")
BAD(t_bad_underscore, "min_version 3\n", 1, "is not an option name")
BAD(t_bad_leading_dash, "-p k.pub\n", 1, "is not an option name")
BAD(t_bad_utf8_name, "s\xc3\xa9 x\n", 1, "is not an option name")
BAD(t_bad_long_name, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa x\n", 1, "is not an option name")

static void
t_bad_long_line(void **st)
{
	static char buf[CONFIG_LINE_MAX_BYTES + 16];
	struct nk_err e = { "" };

	(void)st;
	memcpy(buf, "json\nsource ", 12);
	memset(buf + 12, 'a', CONFIG_LINE_MAX_BYTES - 6);
	assert_int_equal(config_parse((const uint8_t *)buf, 12 + CONFIG_LINE_MAX_BYTES - 6, &cf, &e),
	    NK_E_USAGE);
	assert_non_null(strstr(e.msg, "line 2: longer than"));
	/* exactly the cap is fine */
	assert_int_equal(config_parse((const uint8_t *)buf, 12 + CONFIG_LINE_MAX_BYTES - 7, &cf, &e),
	    0);
}

static void
t_bad_too_big(void **st)
{
	static char buf[CONFIG_MAX_BYTES + 1];
	struct nk_err e = { "" };

	(void)st;
	memset(buf, '\n', sizeof(buf));
	assert_int_equal(config_parse((const uint8_t *)buf, sizeof(buf), &cf, &e), NK_E_USAGE);
	assert_non_null(strstr(e.msg, "longer than 65536 bytes"));
	assert_int_equal(config_parse((const uint8_t *)buf, sizeof(buf) - 1, &cf, &e), 0);
}

static void
t_bad_too_many(void **st)
{
	static char buf[CONFIG_ENTRIES_MAX * 5 + 16];
	struct nk_err e = { "" };
	size_t n = 0, i;

	(void)st;
	for (i = 0; i <= CONFIG_ENTRIES_MAX; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "json\n");
	assert_int_equal(config_parse((const uint8_t *)buf, n, &cf, &e), NK_E_USAGE);
	assert_non_null(strstr(e.msg, "line 129: more than 128 options"));
	assert_int_equal(config_parse((const uint8_t *)buf, n - 5, &cf, &e), 0);
	assert_int_equal(cf.n, CONFIG_ENTRIES_MAX);
}

/* A full file of the longest lines, the last without its LF: every
 * value arrives whole (the text buffer's bound is len + 1). */
static void
t_text_buffer_bound(void **st)
{
	static char buf[CONFIG_MAX_BYTES];
	struct nk_err e = { "" };
	size_t i, line = CONFIG_LINE_MAX_BYTES + 1, n = sizeof(buf) / line;

	(void)st;
	memset(buf, 'v', sizeof(buf));
	for (i = 0; i < n; i++) {
		memcpy(buf + i * line, "a ", 2);
		buf[i * line + line - 1] = '\n';
	}
	memcpy(buf + n * line, "b ", 2); /* the rest, no LF */
	assert_int_equal(config_parse((const uint8_t *)buf, sizeof(buf), &cf, &e), 0);
	assert_int_equal(cf.n, n + 1);
	assert_int_equal(strlen(cf.entries[0].value), CONFIG_LINE_MAX_BYTES - 2);
	assert_string_equal(cf.entries[n].name, "b");
	assert_int_equal(strlen(cf.entries[n].value), sizeof(buf) - n * line - 2);
}

/* --- through fetch_cli_parse ---------------------------------------------- */

static void
write_cfg(const char *text)
{
	nkt_write(dir, "config", text, strlen(text));
}

static struct fetch_cli cli; /* large: holds the config */

static int
parse_cmd(const char *cmd, const struct opts_extra *extra, void *ctx, struct nk_err *e, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;

	va_start(ap, e);
	argv[argc++] = (char *)cmd;
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	return fetch_cli_parse(argc, argv, "help\n", extra, ctx, &cli, e);
}

#define parse(e, ...) parse_cmd("fetch", NULL, NULL, e, __VA_ARGS__)

static void
t_opts_from_file(void **st)
{
	struct nk_err e = { "" };
	char text[1024];

	(void)st;
	snprintf(text, sizeof(text), "source https://src/b/\nkey %s\nkey-file %s\n"
	    "cacert /ca.pem\nmin-version 7\nmirror https://m1/\nmirror https://m2/\n"
	    "state-dir /var/lib/x\nreport https://collect.example/r\nsplay 30\njson\n", b64b,
	    keyfile);
	write_cfg(text);
	assert_int_equal(parse(&e, "--config", cfgpath, "-o", "out", NULL), 0);
	assert_int_equal(cli.opts.nsources, 3);
	assert_string_equal(cli.opts.sources[0], "https://src/b/");
	assert_string_equal(cli.opts.sources[1], "https://m1/");
	assert_string_equal(cli.opts.sources[2], "https://m2/");
	assert_int_equal(cli.opts.nkeys, 2);
	assert_memory_equal(cli.keys[0].pk, kf2.pk.pk, 32);
	assert_memory_equal(cli.keys[1].pk, kf.pk.pk, 32);
	assert_string_equal(cli.opts.http.cacert, "/ca.pem");
	assert_int_equal(cli.opts.min_version, 7);
	assert_string_equal(cli.fleet.state_dir, "/var/lib/x");
	assert_string_equal(cli.fleet.report, "https://collect.example/r");
	assert_int_equal(cli.fleet.splay_s, 30);
	assert_true(cli.json);
	assert_string_equal(cli.config_path, cfgpath);
}

static void
t_cmdline_wins(void **st)
{
	struct nk_err e = { "" };
	char text[1024];

	(void)st;
	snprintf(text, sizeof(text), "source https://src/b/\nkey %s\nmin-version 7\n"
	    "mirror https://m1/\ncacert /file-ca.pem\n", b64b);
	write_cfg(text);
	/* single-valued: the command line's value; keys: the command line's
	 * set replaces the file's (-p replaces key too) */
	assert_int_equal(parse(&e, "--config", cfgpath, "--min-version", "9", "-p", keyfile,
	    NULL), 0);
	assert_int_equal(cli.opts.min_version, 9);
	assert_int_equal(cli.opts.nkeys, 1);
	assert_memory_equal(cli.keys[0].pk, kf.pk.pk, 32);
	assert_string_equal(cli.opts.http.cacert, "/file-ca.pem");
	assert_string_equal(cli.opts.sources[0], "https://src/b/");
	assert_int_equal(cli.opts.nsources, 2);
	/* a SOURCE on the command line takes the file's mirrors with it */
	assert_int_equal(parse(&e, "--config", cfgpath, "https://other/b/", NULL), 0);
	assert_string_equal(cli.opts.sources[0], "https://other/b/");
	assert_int_equal(cli.opts.nsources, 1);
	/* mirrors on the command line replace the file's */
	assert_int_equal(parse(&e, "--config", cfgpath, "--mirror", "https://m9/", NULL), 0);
	assert_int_equal(cli.opts.nsources, 2);
	assert_string_equal(cli.opts.sources[1], "https://m9/");
}

static void
t_default_path_and_no_config(void **st)
{
	struct nk_err e = { "" };

	(void)st;
	write_cfg("source https://src/b/\nmin-version 5\n");
	setenv(CONFIG_PATH_ENV, cfgpath, 1);
	assert_int_equal(parse(&e, "-P", b64, NULL), 0);
	assert_int_equal(cli.opts.min_version, 5);
	assert_int_equal(parse(&e, "--no-config", "https://s/", "-P", b64, NULL), 0);
	assert_int_equal(cli.opts.min_version, 0);
	assert_string_equal(cli.config_path, "");
	/* verify reads no config file */
	assert_int_equal(parse_cmd("verify", NULL, NULL, &e, "dir", "-P", b64, NULL), 0);
	assert_int_equal(cli.opts.min_version, 0);
	assert_true(parse_cmd("verify", NULL, NULL, &e, "dir", "-P", b64, "--config", cfgpath,
	    NULL) < 0);
	assert_non_null(strstr(e.msg, "verify reads no config file"));
	/* issue 19.5: a missing file named by the environment is an error
	 * like --config's (only the built-in default may be absent) */
	setenv(CONFIG_PATH_ENV, "/nonexistent/nixos-kexec/config", 1);
	assert_true(parse(&e, "https://s/", "-P", b64, NULL) < 0);
	assert_non_null(strstr(e.msg, "/nonexistent/nixos-kexec/config (from $NIXOS_KEXEC_CONFIG) "
	    "does not exist"));
	assert_int_equal(parse(&e, "https://s/", "-P", b64, "--no-config", NULL), 0);
	setenv(CONFIG_PATH_ENV, emptycfg, 1);
	/* a missing named one is an error */
	assert_true(parse(&e, "https://s/", "-P", b64, "--config", "/nonexistent/c", NULL) < 0);
	assert_non_null(strstr(e.msg, "/nonexistent/c"));
}

static void
t_check_source_optional(void **st)
{
	struct nk_err e = { "" };

	(void)st;
	write_cfg("json\n");
	assert_int_equal(parse_cmd("check", NULL, NULL, &e, "--config", cfgpath, NULL), 0);
	assert_int_equal(cli.opts.nsources, 0);
	assert_true(cli.json);
	assert_true(parse(&e, "--config", cfgpath, NULL) < 0);
	assert_non_null(strstr(e.msg, "SOURCE is missing (give it, or 'source URL'"));
}

/* boot's own options, as boot passes them */
static int boot_seen;

static int
apply_exec(void *ctx, const char *arg, struct nk_err *e)
{
	(void)ctx;
	(void)e;
	boot_seen += strcmp(arg, "none") == 0;
	return 0;
}

static int
apply_key(void *ctx, const char *arg, struct nk_err *e)
{
	(void)ctx;
	(void)arg;
	(void)e;
	boot_seen += 100;
	return 0;
}

static const struct opts_extra boot_like[] = {
	{ "exec", 1, apply_exec, 0 },
	{ "ssh-key", 1, apply_key, 1 },
	{ NULL, 0, NULL, 0 },
};

static void
t_boot_options_shared_file(void **st)
{
	struct nk_err e = { "" };

	(void)st;
	write_cfg("source https://src/b/\nexec none\nssh-key a\nssh-key b\ndelay 5\n"
	    "revert-after 600\n");
	/* fetch passes over boot's options (cmd_boot_options) */
	assert_int_equal(parse(&e, "--config", cfgpath, "-P", b64, NULL), 0);
	/* a boot-like command applies its own; the rest are unknown to it */
	boot_seen = 0;
	write_cfg("source https://src/b/\nexec none\nssh-key a\nssh-key b\n");
	assert_int_equal(parse_cmd("boot", boot_like, NULL, &e, "--config", cfgpath, "-P", b64,
	    NULL), 0);
	assert_int_equal(boot_seen, 201);
	/* the command line's ssh-key replaces the file's two */
	boot_seen = 0;
	assert_int_equal(parse_cmd("boot", boot_like, NULL, &e, "--config", cfgpath, "-P", b64,
	    "--ssh-key", "c", NULL), 0);
	assert_int_equal(boot_seen, 101);
}

/* A file's option errors: the file, the line, the reason. */
#define CFG_BAD(name, text, needle) \
	static void name(void **st) { struct nk_err e = { "" }; char want[400]; (void)st; \
		write_cfg(text); \
		assert_true(parse(&e, "--config", cfgpath, "-P", b64, NULL) < 0); \
		snprintf(want, sizeof(want), "%s: %s", cfgpath, needle); \
		if (!strstr(e.msg, want)) fail_msg("'%s' lacks '%s'", e.msg, want); }
CFG_BAD(t_cfg_unknown, "source https://s/\n\nfrobnicate 1\n", "line 3: unknown option 'frobnicate'")
CFG_BAD(t_cfg_bad_value, "source https://s/\nmin-version seven\n",
    "line 2: --min-version: 'seven' is not a number")
CFG_BAD(t_cfg_needs_value, "source https://s/\ncacert\n", "line 2: 'cacert' needs a value")
CFG_BAD(t_cfg_flag_value, "source https://s/\njson yes\n", "line 2: 'json' takes no value")
CFG_BAD(t_cfg_repeat, "source https://s/\ncacert /a\n# x\ncacert /b\n",
    "line 4: 'cacert' was given on line 2 already")
CFG_BAD(t_cfg_repeat_source, "source https://s/\nsource https://t/\n",
    "line 2: 'source' was given on line 1 already")
CFG_BAD(t_cfg_help, "help\n", "line 1: 'help' cannot be set in a config file")
CFG_BAD(t_cfg_config, "config /etc/other\n", "line 1: 'config' cannot be set")
CFG_BAD(t_cfg_syntax, "source https://s/\njson\r\n", "line 2: carriage return")
CFG_BAD(t_cfg_report_http, "source https://s/\nreport http://c/\n",
    "line 2: --report: http://c/: only https://")
CFG_BAD(t_cfg_report_quote, "source https://s/\nreport https://c/\"x\n",
    "line 2: --report: byte 0x22")
CFG_BAD(t_cfg_splay_big, "source https://s/\nsplay 3601\n", "line 2: --splay: 0 to 3600")

static void
t_cfg_bad_key_file(void **st)
{
	struct nk_err e = { "" };
	char want[400];

	(void)st;
	write_cfg("source https://s/\nkey-file /nonexistent/k.pub\n");
	assert_true(parse(&e, "--config", cfgpath, NULL) < 0);
	snprintf(want, sizeof(want), "%s: line 2: -p ", cfgpath);
	if (!strstr(e.msg, want))
		fail_msg("'%s' lacks '%s'", e.msg, want);
}
CFG_BAD(t_cfg_empty_state, "source https://s/\nstate-dir \n", "line 2: 'state-dir' needs a value")

static void
t_cfg_errors_checked_before_cmdline(void **st)
{
	struct nk_err e = { "" };

	(void)st;
	/* even an option the command line overrides must be well-formed
	 * syntax; a value the command line replaces is never applied */
	write_cfg("source https://s/\nmin-version seven\n");
	assert_int_equal(parse(&e, "--config", cfgpath, "-P", b64, "--min-version", "1", NULL), 0);
	assert_int_equal(cli.opts.min_version, 1);
	write_cfg("source https://s/\nmin_version 1\n");
	assert_true(parse(&e, "--config", cfgpath, "-P", b64, "--min-version", "1", NULL) < 0);
}

static void
t_cmdline_report_checked(void **st)
{
	struct nk_err e = { "" };

	(void)st;
	assert_true(parse(&e, "--no-config", "s", "-P", b64, "--report", "ftp://x/", NULL) < 0);
	assert_non_null(strstr(e.msg, "--report"));
	assert_true(parse(&e, "--no-config", "s", "-P", b64, "--splay", "-1", NULL) < 0);
	assert_true(parse(&e, "--no-config", "s", "-P", b64, "--config", cfgpath, NULL) < 0);
	assert_non_null(strstr(e.msg, "--config and --no-config"));
	assert_int_equal(parse(&e, "--no-config", "s", "--key", b64, "--splay", "0", NULL), 0);
	assert_int_equal(cli.opts.nkeys, 1);
}

static void
t_help_before_config(void **st)
{
	struct nk_err e = { "" };
	int saved = dup(STDOUT_FILENO);
	FILE *null = fopen("/dev/null", "w");

	(void)st;
	write_cfg("garbage=1\n");
	assert_non_null(null);
	fflush(stdout);
	dup2(fileno(null), STDOUT_FILENO);
	assert_int_equal(parse(&e, "--config", cfgpath, "--help", NULL), 1);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	fclose(null);
}

static int
group_setup(void **st)
{
	(void)st;
	assert_int_equal(minisig_keygen(NULL, &kf, NULL), 0);
	assert_int_equal(minisig_keygen(NULL, &kf2, NULL), 0);
	memcpy(b64, kf.pub_b64, sizeof(b64));
	memcpy(b64b, kf2.pub_b64, sizeof(b64b));
	nkt_tmpdir(dir);
	snprintf(cfgpath, sizeof(cfgpath), "%s/config", dir);
	snprintf(keyfile, sizeof(keyfile), "%s/k.pub", dir);
	nkt_write(dir, "k.pub", kf.pub, kf.pub_len);
	/* This machine's own config file, if it has one, is not the test's. */
	nkt_write(dir, "empty", "", 0);
	snprintf(emptycfg, sizeof(emptycfg), "%s/empty", dir);
	setenv(CONFIG_PATH_ENV, emptycfg, 1);
	return 0;
}

static int
group_teardown(void **st)
{
	(void)st;
	nkt_rmtree(dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_parse_lines), cmocka_unit_test(t_parse_empty),
		cmocka_unit_test(t_bad_crlf), cmocka_unit_test(t_bad_nul),
		cmocka_unit_test(t_bad_control), cmocka_unit_test(t_bad_del),
		cmocka_unit_test(t_bad_utf8_lone), cmocka_unit_test(t_bad_utf8_overlong),
		cmocka_unit_test(t_bad_utf8_surrogate), cmocka_unit_test(t_bad_utf8_short),
		cmocka_unit_test(t_bad_dashes), cmocka_unit_test(t_bad_equals),
		cmocka_unit_test(t_bad_upper), cmocka_unit_test(t_bad_underscore),
		cmocka_unit_test(t_bad_leading_dash), cmocka_unit_test(t_bad_utf8_name),
		cmocka_unit_test(t_bad_long_name), cmocka_unit_test(t_bad_long_line),
		cmocka_unit_test(t_bad_too_big), cmocka_unit_test(t_bad_too_many),
		cmocka_unit_test(t_text_buffer_bound),
		cmocka_unit_test(t_opts_from_file), cmocka_unit_test(t_cmdline_wins),
		cmocka_unit_test(t_default_path_and_no_config),
		cmocka_unit_test(t_check_source_optional),
		cmocka_unit_test(t_boot_options_shared_file),
		cmocka_unit_test(t_cfg_unknown), cmocka_unit_test(t_cfg_bad_value),
		cmocka_unit_test(t_cfg_needs_value), cmocka_unit_test(t_cfg_flag_value),
		cmocka_unit_test(t_cfg_repeat), cmocka_unit_test(t_cfg_repeat_source),
		cmocka_unit_test(t_cfg_help), cmocka_unit_test(t_cfg_config),
		cmocka_unit_test(t_cfg_syntax), cmocka_unit_test(t_cfg_report_http),
		cmocka_unit_test(t_cfg_report_quote), cmocka_unit_test(t_cfg_splay_big),
		cmocka_unit_test(t_cfg_bad_key_file), cmocka_unit_test(t_cfg_empty_state),
		cmocka_unit_test(t_cfg_errors_checked_before_cmdline),
		cmocka_unit_test(t_cmdline_report_checked), cmocka_unit_test(t_help_before_config),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
