/* Unit tests for agent/fetch/fetch.c on local bundles: the order of checks and
 * that every refusal leaves nothing staged. Bundles are made in-process:
 * a fresh key (minisig_keygen), random artifacts, manifest_write, and
 * minisig_sign, in a temporary directory. */
#include <sys/stat.h>

#include "fetch.h"
#include "nktest.h"

#define KSIZE 4096
#define ISIZE 70000
#define NOW 1795527343ULL

struct fx {
	char dir[256];
	char dir2[256];
	struct minisig_keyfiles kf, other;
	struct minisig_seckey sk;
	struct manifest m;
	uint8_t kernel[KSIZE], initrd[ISIZE];
	struct fetch_opts o;
	struct fetch_result r;
	struct nk_err e;
};

static void
digest(const uint8_t *b, size_t n, uint8_t out[SHA256_BYTES])
{
	struct sha256 h;

	assert_int_equal(sha256_init(&h, NULL), 0);
	assert_int_equal(sha256_update(&h, b, n, NULL), 0);
	assert_int_equal(sha256_final(&h, out, NULL), 0);
}

static void
sign_manifest(struct fx *f, const char *dir)
{
	char text[MANIFEST_MAX_BYTES], sig[MINISIG_FILE_MAX_BYTES];
	size_t n, sn;

	assert_int_equal(manifest_write(&f->m, text, sizeof(text), &n, &f->e), 0);
	nkt_write(dir, "manifest", text, n);
	assert_int_equal(minisig_sign(&f->sk, (uint8_t *)text, n, "t", sig, sizeof(sig), &sn,
	    &f->e), 0);
	nkt_write(dir, "manifest.minisig", sig, sn);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	size_t i;

	assert_non_null(f);
	nkt_tmpdir(f->dir);
	nkt_tmpdir(f->dir2);
	assert_int_equal(minisig_keygen(NULL, &f->kf, &f->e), 0);
	assert_int_equal(minisig_keygen(NULL, &f->other, &f->e), 0);
	assert_int_equal(minisig_seckey_parse((uint8_t *)f->kf.sec, f->kf.sec_len, NULL, NULL,
	    &f->sk, &f->e), 0);
	for (i = 0; i < KSIZE; i++)
		f->kernel[i] = (uint8_t)(i * 7);
	for (i = 0; i < ISIZE; i++)
		f->initrd[i] = (uint8_t)(i * 13 + 1);
	snprintf(f->m.name, sizeof(f->m.name), "test");
	f->m.version = 10;
	snprintf(f->m.arch, sizeof(f->m.arch), "x86_64");
	f->m.issued = NOW - 100;
	f->m.expires = NOW + 1000;
	snprintf(f->m.kernel.file, sizeof(f->m.kernel.file), "bzImage");
	f->m.kernel.size = KSIZE;
	digest(f->kernel, KSIZE, f->m.kernel.sha256);
	snprintf(f->m.initrd.file, sizeof(f->m.initrd.file), "initrd");
	f->m.initrd.size = ISIZE;
	digest(f->initrd, ISIZE, f->m.initrd.sha256);
	snprintf(f->m.cmdline, sizeof(f->m.cmdline), "console=ttyS0 panic=30");
	nkt_write(f->dir, "bzImage", f->kernel, KSIZE);
	nkt_write(f->dir, "initrd", f->initrd, ISIZE);
	sign_manifest(f, f->dir);
	f->o.sources[0] = f->dir;
	f->o.nsources = 1;
	f->o.keys = &f->kf.pk;
	f->o.nkeys = 1;
	f->o.arch = "x86_64";
	f->o.now = NOW;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	nkt_rmtree(f->dir);
	nkt_rmtree(f->dir2);
	minisig_seckey_wipe(&f->sk);
	free(f);
	return 0;
}

/* Runs the fetch; on failure, checks the code, the message and that
 * nothing is left staged. */
static void
expect(struct fx *f, int code, const char *needle)
{
	int rc = fetch_run(&f->o, &f->r, &f->e);

	if (rc != code)
		fail_msg("expected %d, got %d: %s", code, rc, f->e.msg);
	if (code != 0) {
		assert_int_equal(f->r.kernel.fd, -1);
		assert_int_equal(f->r.kernel.ro_fd, -1);
		assert_int_equal(f->r.initrd.fd, -1);
		assert_int_equal(f->r.initrd.ro_fd, -1);
		if (strstr(f->e.msg, needle) == NULL)
			fail_msg("message '%s' lacks '%s'", f->e.msg, needle);
		return;
	}
	assert_true(f->r.kernel.ro_fd >= 0);
	assert_true(f->r.initrd.ro_fd >= 0);
	fetch_result_close(&f->r);
}

static void
corrupt(struct fx *f, const char *name, long off)
{
	char p[512];
	FILE *fp;
	int c;

	snprintf(p, sizeof(p), "%s/%s", f->dir, name);
	assert_non_null(fp = fopen(p, "r+b"));
	assert_int_equal(fseek(fp, off, SEEK_SET), 0);
	c = fgetc(fp);
	assert_int_equal(fseek(fp, off, SEEK_SET), 0);
	fputc(c ^ 1, fp);
	fclose(fp);
}

#define F struct fx *f = *st
static void t_good(void **st) { F; expect(f, 0, ""); assert_int_equal(f->r.m.version, 10); }
static void t_kernel_byte(void **st) { F; corrupt(f, "bzImage", 100); expect(f, NK_E_HASH, "bzImage: sha256 mismatch: expected "); }
static void t_initrd_last_byte(void **st) { F; corrupt(f, "initrd", ISIZE - 1); expect(f, NK_E_HASH, "initrd: sha256 mismatch"); }
static void t_initrd_truncated(void **st) { F; char p[512]; snprintf(p, 512, "%s/initrd", f->dir); assert_int_equal(truncate(p, ISIZE - 1), 0); expect(f, NK_E_SIZE, "expected 70000 bytes, got 69999"); }
static void t_initrd_extended(void **st) { F; char p[512]; snprintf(p, 512, "%s/initrd", f->dir); assert_int_equal(truncate(p, ISIZE + 1), 0); expect(f, NK_E_SIZE, "larger than the 70000 bytes"); }
static void t_manifest_byte(void **st) { F; corrupt(f, "manifest", 30); expect(f, NK_E_SIG, "manifest.minisig"); }
static void t_sig_missing(void **st) { F; char p[512]; snprintf(p, 512, "%s/manifest.minisig", f->dir); unlink(p); expect(f, NK_E_MISSING, "unsigned"); }
static void t_wrong_key(void **st) { F; f->o.keys = &f->other.pk; expect(f, NK_E_KEYID, "manifest.minisig"); }
static void t_rotation(void **st) { F; struct minisig_pubkey ks[2] = { f->other.pk, f->kf.pk }; f->o.keys = ks; f->o.nkeys = 2; expect(f, 0, ""); }
static void t_no_keys(void **st) { F; f->o.nkeys = 0; expect(f, NK_E_USAGE, "no trusted public key"); }
static void t_expired(void **st) { F; f->o.now = NOW + 1000; expect(f, NK_E_EXPIRED, "expired"); }
static void t_future(void **st) { F; f->o.now = NOW - 100 - FETCH_CLOCK_SKEW_S - 1; expect(f, NK_E_EXPIRED, "future"); }
static void t_skew_ok(void **st) { F; f->o.now = NOW - 100 - FETCH_CLOCK_SKEW_S + 1; expect(f, 0, ""); }
static void t_rollback(void **st) { F; f->o.min_version = 11; expect(f, NK_E_VERSION, "below the floor 11"); }
static void t_floor_equal(void **st) { F; f->o.min_version = 10; expect(f, 0, ""); }
static void t_arch(void **st) { F; f->o.arch = "aarch64"; expect(f, NK_E_ARCH, "bundle is for x86_64, this machine is aarch64"); }
static void t_artifact_missing(void **st) { F; char p[512]; snprintf(p, 512, "%s/initrd", f->dir); unlink(p); expect(f, NK_E_MISSING, "initrd"); }
static void t_artifact_symlink(void **st) { F; char p[512], q[512]; snprintf(p, 512, "%s/initrd", f->dir); snprintf(q, 512, "%s/real", f->dir); assert_int_equal(rename(p, q), 0); assert_int_equal(symlink(q, p), 0); expect(f, NK_E_IO, "initrd"); }
static void t_artifact_dir(void **st) { F; char p[512]; snprintf(p, 512, "%s/initrd", f->dir); unlink(p); assert_int_equal(mkdir(p, 0700), 0); expect(f, NK_E_IO, "not a regular file"); }
static void t_swapped_hashes(void **st) { F; uint8_t t[SHA256_BYTES]; memcpy(t, f->m.kernel.sha256, sizeof(t)); memcpy(f->m.kernel.sha256, f->m.initrd.sha256, sizeof(t)); memcpy(f->m.initrd.sha256, t, sizeof(t)); sign_manifest(f, f->dir); expect(f, NK_E_HASH, "bzImage: sha256 mismatch"); }
static void t_http_source(void **st) { F; f->o.sources[0] = "http://127.0.0.1:1/"; expect(f, NK_E_SOURCE, "only https://"); }
static void t_mirror_used(void **st) { F; f->o.sources[0] = f->dir2; f->o.sources[1] = f->dir; f->o.nsources = 2; expect(f, 0, ""); assert_string_equal(f->r.origin + strlen(f->r.origin) - 1, "/"); }
static void t_mirror_all_bad(void **st) { F; f->o.sources[0] = f->dir2; f->o.sources[1] = f->dir2; f->o.nsources = 2; expect(f, NK_E_HTTP, "no bundle at"); }
static void t_artifact_from_mirror(void **st) { F; char p[512]; /* primary lost its initrd; the mirror has all */
	sign_manifest(f, f->dir2); nkt_write(f->dir2, "bzImage", f->kernel, KSIZE); nkt_write(f->dir2, "initrd", f->initrd, ISIZE);
	snprintf(p, 512, "%s/initrd", f->dir); unlink(p); f->o.sources[1] = f->dir2; f->o.nsources = 2; expect(f, 0, ""); }
static void t_mirror_bad_copy(void **st) { F; /* a mirror with a tampered initrd is refused too */
	sign_manifest(f, f->dir2); nkt_write(f->dir2, "bzImage", f->kernel, KSIZE); f->initrd[5] ^= 1; nkt_write(f->dir2, "initrd", f->initrd, ISIZE);
	f->o.sources[0] = f->dir2; expect(f, NK_E_HASH, "initrd"); }

static void
t_check_manifest_order(void **st)
{
	F;
	struct nk_err e;

	/* arch is checked before the version and the clock. */
	f->m.version = 1;
	assert_int_equal(fetch_check_manifest(&f->m, "riscv64", 5, NOW + 5000, &e), NK_E_ARCH);
	assert_int_equal(fetch_check_manifest(&f->m, "x86_64", 5, NOW + 5000, &e), NK_E_VERSION);
	assert_int_equal(fetch_check_manifest(&f->m, "x86_64", 1, NOW + 5000, &e), NK_E_EXPIRED);
	assert_int_equal(fetch_check_manifest(&f->m, "x86_64", 1, NOW, &e), 0);
}

int
main(void)
{
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(t_good), T(t_kernel_byte), T(t_initrd_last_byte), T(t_initrd_truncated),
		T(t_initrd_extended), T(t_manifest_byte), T(t_sig_missing), T(t_wrong_key),
		T(t_rotation), T(t_no_keys), T(t_expired), T(t_future), T(t_skew_ok),
		T(t_rollback), T(t_floor_equal), T(t_arch), T(t_artifact_missing),
		T(t_artifact_symlink), T(t_artifact_dir), T(t_swapped_hashes),
		T(t_http_source), T(t_mirror_used), T(t_mirror_all_bad),
		T(t_artifact_from_mirror), T(t_mirror_bad_copy), T(t_check_manifest_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
