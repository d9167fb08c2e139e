/* Unit tests for agent/fetch/castore.c: which CA store an agent with no
 * --cacert trusts, on fixture trees laid out like each distribution. The
 * environment's SSL_CERT_FILE and SSL_CERT_DIR are unset for each case. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "castore.h"
#include "nktest.h"

static char root[256];

static void
put(const char *rel) /* a non-empty file at root/rel, directories made */
{
	char path[512], *slash;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (slash = path + strlen(root) + 1; (slash = strchr(slash, '/')) != NULL; slash++) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	slash = strrchr(path, '/');
	*slash = '\0';
	nkt_write(path, slash + 1, "-----BEGIN CERTIFICATE-----\n", 28);
}

static int
setup(void **st)
{
	(void)st;
	nkt_tmpdir(root);
	unsetenv("SSL_CERT_FILE");
	unsetenv("SSL_CERT_DIR");
	return 0;
}

static int
teardown(void **st)
{
	(void)st;
	nkt_rmtree(root);
	return 0;
}

static void
want_file(const char *rel)
{
	struct castore ca;
	struct nk_err e = { "" };
	char full[512];

	assert_int_equal(castore_find(root, NULL, &ca, &e), 0);
	snprintf(full, sizeof(full), "%s%s", root, rel);
	assert_string_equal(ca.file, full);
	assert_string_equal(ca.dir, "");
}

#define LAYOUT(name, rel) static void name(void **st) { (void)st; put(rel); want_file("/" rel); }
LAYOUT(t_debian, "etc/ssl/certs/ca-certificates.crt")
LAYOUT(t_rhel, "etc/pki/tls/certs/ca-bundle.crt")
LAYOUT(t_rhel_extracted, "etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem")
LAYOUT(t_suse, "etc/ssl/ca-bundle.pem")
LAYOUT(t_suse_var, "var/lib/ca-certificates/ca-bundle.pem")
LAYOUT(t_alpine, "etc/ssl/cert.pem")

static void
t_order(void **st)
{
	(void)st;
	put("etc/ssl/cert.pem");
	put("etc/pki/tls/certs/ca-bundle.crt");
	want_file("/etc/pki/tls/certs/ca-bundle.crt");
}

static void
t_empty_file_skipped(void **st)
{
	char dir[512];

	(void)st;
	snprintf(dir, sizeof(dir), "%s/etc", root);
	mkdir(dir, 0755);
	strcat(dir, "/ssl");
	mkdir(dir, 0755);
	nkt_write(dir, "ca-bundle.pem", "", 0);
	put("etc/ssl/cert.pem");
	want_file("/etc/ssl/cert.pem");
}

static void
t_symlinked_file(void **st)
{
	char link[512], target[512];
	struct castore ca;
	struct nk_err e = { "" };

	(void)st;
	put("etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem");
	snprintf(link, sizeof(link), "%s/etc/pki/tls", root);
	assert_int_equal(mkdir(link, 0755), 0);
	strcat(link, "/certs");
	assert_int_equal(mkdir(link, 0755), 0);
	strcat(link, "/ca-bundle.crt");
	snprintf(target, sizeof(target), "%s/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", root);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(castore_find(root, NULL, &ca, &e), 0);
	assert_string_equal(ca.file, link);
}

static void
t_hashed_dir(void **st)
{
	char dir[512];
	struct castore ca;
	struct nk_err e = { "" };

	(void)st;
	put("etc/ssl/certs/a.pem");
	snprintf(dir, sizeof(dir), "%s/etc/ssl/certs", root);
	nkt_write(dir, "5ed36f99.0", "x", 1);
	assert_int_equal(castore_find(root, NULL, &ca, &e), 0);
	assert_string_equal(ca.dir, dir);
	assert_string_equal(ca.file, "");
	assert_string_equal(ca.from, "hashed directory");
}

static void
t_unhashed_dir_is_none(void **st)
{
	struct castore ca;
	struct nk_err e = { "" };

	(void)st;
	put("etc/ssl/certs/a.pem");
	put("etc/ssl/certs/5ed36f99.1x");
	assert_int_equal(castore_find(root, NULL, &ca, &e), NK_E_TLS);
}

static void
t_none(void **st)
{
	struct castore ca;
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(castore_find(root, NULL, &ca, &e), NK_E_TLS);
	assert_non_null(strstr(e.msg, "/etc/ssl/certs/ca-certificates.crt"));
	assert_non_null(strstr(e.msg, "/var/lib/ca-certificates/ca-bundle.pem"));
	assert_non_null(strstr(e.msg, "/etc/pki/tls/certs/"));
	assert_non_null(strstr(e.msg, "--cacert FILE"));
}

static void
t_cacert_wins(void **st)
{
	struct castore ca;
	struct nk_err e = { "" };

	(void)st;
	put("etc/ssl/cert.pem");
	setenv("SSL_CERT_FILE", "/nonexistent", 1);
	assert_int_equal(castore_find(root, "/x/ca.pem", &ca, &e), 0);
	assert_string_equal(ca.file, "/x/ca.pem");
	assert_string_equal(ca.from, "--cacert");
}

static void
t_env_file_wins(void **st)
{
	char f[512];
	struct castore ca;
	struct nk_err e = { "" };

	(void)st;
	put("etc/ssl/cert.pem");
	put("mine.pem");
	snprintf(f, sizeof(f), "%s/mine.pem", root);
	setenv("SSL_CERT_FILE", f, 1);
	assert_int_equal(castore_find(root, NULL, &ca, &e), 0);
	assert_string_equal(ca.file, f);
	assert_string_equal(ca.from, "SSL_CERT_FILE");
}

static void
t_env_file_missing(void **st)
{
	struct castore ca;
	struct nk_err e = { "" };

	(void)st;
	put("etc/ssl/cert.pem");
	setenv("SSL_CERT_FILE", "/nonexistent/ca.pem", 1);
	assert_int_equal(castore_find(root, NULL, &ca, &e), NK_E_TLS);
	assert_non_null(strstr(e.msg, "SSL_CERT_FILE=/nonexistent/ca.pem"));
}

static void
t_env_dir_list_refused(void **st)
{
	struct castore ca;
	struct nk_err e = { "" };

	(void)st;
	setenv("SSL_CERT_DIR", "/etc/ssl/certs:/etc/pki/tls/certs", 1);
	assert_int_equal(castore_find(root, NULL, &ca, &e), NK_E_TLS);
	assert_non_null(strstr(e.msg, "not one readable directory"));
}

static void
t_env_dir(void **st)
{
	struct castore ca;
	struct nk_err e = { "" };

	(void)st;
	setenv("SSL_CERT_DIR", root, 1);
	assert_int_equal(castore_find(root, NULL, &ca, &e), 0);
	assert_string_equal(ca.dir, root);
	assert_string_equal(ca.file, "");
}

int
main(void)
{
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(t_debian), T(t_rhel), T(t_rhel_extracted), T(t_suse), T(t_suse_var),
		T(t_alpine), T(t_order), T(t_empty_file_skipped), T(t_symlinked_file),
		T(t_hashed_dir), T(t_unhashed_dir_is_none), T(t_none), T(t_cacert_wins),
		T(t_env_file_wins), T(t_env_file_missing), T(t_env_dir_list_refused),
		T(t_env_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
