/* Unit tests for common/url.c: which --report URLs are accepted
 * (https only, URL characters only: nothing that could break out of
 * boot.json or a shell word), and the host and port a source names. */
#include "nktest.h"
#include "url.h"

static void
t_accepts(void **st)
{
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(url_https_check("https://collect.example/r", &e), 0);
	assert_int_equal(url_https_check("HTTPS://c.example:8443/a/b?x=1&y=%20#f", &e), 0);
	assert_int_equal(url_https_check("https://[::1]:443/", &e), 0);
	assert_int_equal(url_https_check("https://user:pw@c.example/", &e), 0);
}

#define REFUSED(name, url, needle) \
	static void name(void **st) { struct nk_err e = { "" }; (void)st; \
		assert_int_equal(url_https_check(url, &e), NK_E_USAGE); \
		if (!strstr(e.msg, needle)) fail_msg("'%s' lacks '%s'", e.msg, needle); }
REFUSED(t_http, "http://c.example/", "only https://")
REFUSED(t_ftp, "ftp://c.example/", "only https://")
REFUSED(t_no_scheme, "c.example/r", "only https://")
REFUSED(t_no_host, "https:///r", "no valid host")
REFUSED(t_empty_port, "https://c.example:/r", "no valid host")
REFUSED(t_port_zero, "https://c.example:0/r", "no valid host")
REFUSED(t_port_big, "https://c.example:65536/r", "no valid host")
REFUSED(t_port_letters, "https://c.example:8o/r", "no valid host")
REFUSED(t_v6_open, "https://[::1/r", "no valid host")
REFUSED(t_space, "https://c.example/a b", "byte 0x20")
REFUSED(t_quote, "https://c.example/\"", "byte 0x22")
REFUSED(t_backslash, "https://c.example/\\", "byte 0x5c")
REFUSED(t_backtick, "https://c.example/`id`", "byte 0x60")
REFUSED(t_newline, "https://c.example/\nx", "byte 0x0a")
REFUSED(t_utf8, "https://c.example/\xc3\xa9", "byte 0xc3")
REFUSED(t_empty, "", "only https://")

static void
t_too_long(void **st)
{
	static char u[URL_MAX_BYTES + 2];
	struct nk_err e = { "" };

	(void)st;
	memcpy(u, "https://h/", 10);
	memset(u + 10, 'a', URL_MAX_BYTES - 10);
	assert_int_equal(url_https_check(u, &e), 0); /* exactly the cap */
	u[URL_MAX_BYTES] = 'a';
	assert_int_equal(url_https_check(u, &e), NK_E_USAGE);
	assert_non_null(strstr(e.msg, "longer than"));
}

static void
t_host_port(void **st)
{
	char h[URL_HOST_MAX_BYTES + 1];
	unsigned p;

	(void)st;
	assert_int_equal(url_host_port("https://boot.example.org/nixos/", h, sizeof(h), &p), 0);
	assert_string_equal(h, "boot.example.org");
	assert_int_equal(p, 443);
	assert_int_equal(url_host_port("https://10.0.2.100:8443", h, sizeof(h), &p), 0);
	assert_string_equal(h, "10.0.2.100");
	assert_int_equal(p, 8443);
	assert_int_equal(url_host_port("https://[fe80::1]:9/x", h, sizeof(h), &p), 0);
	assert_string_equal(h, "fe80::1");
	assert_int_equal(p, 9);
	assert_int_equal(url_host_port("https://u:p@h:1?q#f", h, sizeof(h), &p), 0);
	assert_string_equal(h, "h");
	assert_int_equal(p, 1);
	assert_int_equal(url_host_port("https://h/a@b:5/", h, sizeof(h), &p), 0);
	assert_string_equal(h, "h"); /* '@' after the authority is the path's */
	assert_int_equal(p, 443);
}

static void
t_host_port_refused(void **st)
{
	char h[8];
	unsigned p = 7;

	(void)st;
	assert_int_equal(url_host_port("/srv/bundle/", h, sizeof(h), &p), -1);
	assert_int_equal(url_host_port("file:///srv/b/", h, sizeof(h), &p), -1);
	assert_int_equal(url_host_port("https://", h, sizeof(h), &p), -1);
	assert_int_equal(url_host_port("https://[]:1/", h, sizeof(h), &p), -1);
	assert_int_equal(url_host_port("https://h:123456/", h, sizeof(h), &p), -1);
	assert_int_equal(url_host_port("https://h:-1/", h, sizeof(h), &p), -1);
	assert_int_equal(url_host_port("https://[::1]x/", h, sizeof(h), &p), -1);
	assert_int_equal(url_host_port("https://longer-than-8/", h, sizeof(h), &p), -1);
	assert_int_equal(url_host_port("https://h/", h, 0, &p), -1);
	assert_int_equal(p, 7);
}

/* --- url_redact (issue 19.2) ----------------------------------------------- */
#define REDACT(name, in, want) \
	static void name(void **st) { char o[256]; (void)st; url_redact(in, o, sizeof(o)); \
		assert_string_equal(o, want); url_redact(want, o, sizeof(o)); \
		assert_string_equal(o, want); /* idempotent */ }
REDACT(t_redact_plain, "https://h.example/nixos/", "https://h.example/nixos/")
REDACT(t_redact_userinfo, "https://user:secret@h.example/nixos/", "https://***@h.example/nixos/")
REDACT(t_redact_user_only, "https://token@h.example:8443/", "https://***@h.example:8443/")
REDACT(t_redact_at_in_password, "https://u:p@ss@h.example/", "https://***@h.example/")
REDACT(t_redact_query, "https://b.s3.example/x/manifest?X-Amz-Signature=abc&X-Amz-Credential=k",
    "https://b.s3.example/x/manifest?***")
REDACT(t_redact_fragment, "https://h.example/x#tok", "https://h.example/x#***")
REDACT(t_redact_both, "https://u:p@h.example?sig=1", "https://***@h.example?***")
REDACT(t_redact_at_in_path, "https://h.example/a@b/", "https://h.example/a@b/")
REDACT(t_redact_http, "http://u:p@h.example/", "http://***@h.example/")
REDACT(t_redact_sentence, "https://u:p@h/a?s=1: HTTP 404 (no bundle at https://v:q@g/?t=2)",
    "https://***@h/a?***: HTTP 404 (no bundle at https://***@g/?***)")
REDACT(t_redact_quoted, "trying 'https://u:p@h/x?y' now.", "trying 'https://***@h/x?***' now.")
REDACT(t_redact_no_url, "no URL here: just words", "no URL here: just words")
REDACT(t_redact_bare, "://u:p@h/", "://u:p@h/")
REDACT(t_redact_empty, "", "")

static void
t_redact_truncates(void **st)
{
	char o[12];

	(void)st;
	assert_int_equal(url_redact("https://user:secret@h/", o, sizeof(o)), 11);
	assert_string_equal(o, "https://***");
	assert_int_equal(url_redact("x", o, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_accepts), cmocka_unit_test(t_http), cmocka_unit_test(t_ftp),
		cmocka_unit_test(t_no_scheme), cmocka_unit_test(t_no_host),
		cmocka_unit_test(t_empty_port), cmocka_unit_test(t_port_zero),
		cmocka_unit_test(t_port_big), cmocka_unit_test(t_port_letters),
		cmocka_unit_test(t_v6_open), cmocka_unit_test(t_space), cmocka_unit_test(t_quote),
		cmocka_unit_test(t_backslash), cmocka_unit_test(t_backtick),
		cmocka_unit_test(t_newline), cmocka_unit_test(t_utf8), cmocka_unit_test(t_empty),
		cmocka_unit_test(t_too_long), cmocka_unit_test(t_host_port),
		cmocka_unit_test(t_host_port_refused),
		cmocka_unit_test(t_redact_plain), cmocka_unit_test(t_redact_userinfo),
		cmocka_unit_test(t_redact_user_only), cmocka_unit_test(t_redact_at_in_password),
		cmocka_unit_test(t_redact_query), cmocka_unit_test(t_redact_fragment),
		cmocka_unit_test(t_redact_both), cmocka_unit_test(t_redact_at_in_path),
		cmocka_unit_test(t_redact_http), cmocka_unit_test(t_redact_sentence),
		cmocka_unit_test(t_redact_quoted), cmocka_unit_test(t_redact_no_url),
		cmocka_unit_test(t_redact_bare), cmocka_unit_test(t_redact_empty),
		cmocka_unit_test(t_redact_truncates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
