/* Unit tests for agent/fetch/source.c: what a SOURCE argument may be. */
#include "nktest.h"
#include "source.h"

static void
ok(const char *arg, enum source_kind kind, const char *base)
{
	struct source s;
	struct nk_err e = { "" };

	assert_int_equal(source_parse(arg, &s, &e), 0);
	assert_int_equal(s.kind, kind);
	assert_string_equal(s.base, base);
}

static void
refused(const char *arg, const char *needle)
{
	struct source s;
	struct nk_err e = { "" };

	assert_int_equal(source_parse(arg, &s, &e), NK_E_SOURCE);
	assert_non_null(strstr(e.msg, needle));
}

static void t_https_dir(void **st) { (void)st; ok("https://h.example/b/", SOURCE_HTTPS, "https://h.example/b/"); }
static void t_https_noslash(void **st) { (void)st; ok("https://h.example/b", SOURCE_HTTPS, "https://h.example/b/"); }
static void t_https_manifest(void **st) { (void)st; ok("https://h.example/b/manifest", SOURCE_HTTPS, "https://h.example/b/"); }
static void t_https_port(void **st) { (void)st; ok("https://127.0.0.1:4443/", SOURCE_HTTPS, "https://127.0.0.1:4443/"); }
static void t_https_upper(void **st) { (void)st; ok("HTTPS://h.example/x", SOURCE_HTTPS, "HTTPS://h.example/x/"); }
static void t_dir(void **st) { (void)st; ok("/srv/bundle", SOURCE_DIR, "/srv/bundle/"); }
static void t_dir_rel(void **st) { (void)st; ok("out", SOURCE_DIR, "out/"); }
static void t_dir_manifest(void **st) { (void)st; ok("/srv/b/manifest", SOURCE_DIR, "/srv/b/"); }
static void t_file_url(void **st) { (void)st; ok("file:///srv/b/", SOURCE_DIR, "/srv/b/"); }
static void t_not_manifest_suffix(void **st) { (void)st; ok("https://h/mymanifest", SOURCE_HTTPS, "https://h/mymanifest/"); }

static void t_http(void **st) { (void)st; refused("http://h.example/b/", "only https://"); }
static void t_ftp(void **st) { (void)st; refused("ftp://h.example/b/", "only https://"); }
static void t_query(void **st) { (void)st; refused("https://h.example/b/?x=1", "query"); }
static void t_fragment(void **st) { (void)st; refused("https://h.example/b/#x", "fragment"); }
static void t_space(void **st) { (void)st; refused("https://h.example/a b/", "spaces"); }
static void t_nohost(void **st) { (void)st; refused("https://", "no host"); }
static void t_nohost_path(void **st) { (void)st; refused("https:///b/", "no host"); }
static void t_file_relative(void **st) { (void)st; refused("file://b/", "absolute"); }
static void t_empty(void **st) { (void)st; refused("", "empty"); }

static void
t_too_long(void **st)
{
	char arg[SOURCE_MAX_BYTES + 16];

	(void)st;
	memset(arg, 'a', sizeof(arg) - 1);
	arg[sizeof(arg) - 1] = '\0';
	refused(arg, "longer");
}

static void
t_join(void **st)
{
	struct source s;
	struct nk_err e = { "" };
	char out[64];

	(void)st;
	assert_int_equal(source_parse("https://h/b/", &s, &e), 0);
	assert_int_equal(source_join(&s, "initrd", out, sizeof(out), &e), 0);
	assert_string_equal(out, "https://h/b/initrd");
	assert_int_equal(source_join(&s, "manifest.minisig", out, sizeof(out), &e), 0);
	assert_int_equal(source_join(&s, "../x", out, sizeof(out), &e), NK_E_MANIFEST);
	assert_int_equal(source_join(&s, "a/b", out, sizeof(out), &e), NK_E_MANIFEST);
	assert_int_equal(source_join(&s, "initrd", out, 10, &e), NK_E_SOURCE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_https_dir), cmocka_unit_test(t_https_noslash),
		cmocka_unit_test(t_https_manifest), cmocka_unit_test(t_https_port),
		cmocka_unit_test(t_https_upper), cmocka_unit_test(t_dir),
		cmocka_unit_test(t_dir_rel), cmocka_unit_test(t_dir_manifest),
		cmocka_unit_test(t_file_url), cmocka_unit_test(t_not_manifest_suffix),
		cmocka_unit_test(t_http), cmocka_unit_test(t_ftp), cmocka_unit_test(t_query),
		cmocka_unit_test(t_fragment), cmocka_unit_test(t_space),
		cmocka_unit_test(t_nohost), cmocka_unit_test(t_nohost_path),
		cmocka_unit_test(t_file_relative), cmocka_unit_test(t_empty),
		cmocka_unit_test(t_too_long), cmocka_unit_test(t_join),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
