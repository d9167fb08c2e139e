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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
