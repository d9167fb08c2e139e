/* test_minisig: minisign keys and signatures, read as a threat model:
 * what a forged, damaged or mislabelled key or signature file must not
 * get past, then interoperability with the real minisign binary in both
 * directions (skipped, loudly, when minisign is not installed).
 *
 * NK_TEST_SLOW=0 skips the one case that runs scrypt at minisign's full
 * 1 GiB twice in this process (slow under valgrind). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "b64.h"
#include "cmd.h"
#include "err.h"
#include "minisig.h"

/* Test vectors, made once with Debian's minisign 0.11 (then pasted here):
 *   printf 'nixos-kexec-manifest 1\nname test-vector\n' > msg
 *   minisign -G -W -p a.pub -s a.key; minisign -G -W -p b.pub -s b.key
 *   minisign -S -s a.key -m msg -x a.ed.minisig -t 'nixos-kexec test vector'
 *   minisign -S -l -s a.key -m msg -x a.legacy.minisig -t 'nixos-kexec test vector'
 *   minisign -S -s b.key -m msg -x b.ed.minisig -t 'nixos-kexec test vector'
 * a.key is a throwaway unencrypted key (minisign -W writes kdf 0,0, zero
 * salt and limits, and a zero checksum). */
#define V_MSG "nixos-kexec-manifest 1\nname test-vector\n"
#define V_A_KEYID "90582BF2CB286F37"
#define V_A_B64 "RWQ3byjL8itYkDwszh3SYagx7PVlgAu4y72yjk6ywC0EcSgsI+8dgkti"
#define V_A_PUB "untrusted comment: minisign public key " V_A_KEYID "\n" V_A_B64 "\n"
#define V_A_KEY "untrusted comment: minisign encrypted secret key\n" \
	"RWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAN28oy/IrWJClIda5" \
	"7lGL7VfIMAbQZjiStXwB2QV9TEdUTMWP5L91Bjwszh3SYagx7PVlgAu4y72yjk6ywC0EcSgsI+8dgktiAAAAAAAA" \
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
#define V_B_PUB "untrusted comment: minisign public key 6B52CC53C6A771A3\n" \
	"RWSjcafGU8xSa/uIheTTO12u0wpMBD6937agdeg0FTdC3GjM8BIFWeW9\n"
#define V_SIG_HEAD "untrusted comment: signature from minisign secret key\n"
#define V_TC "trusted comment: nixos-kexec test vector\n"
#define V_A_ED_LINE "RUQ3byjL8itYkM2AWLLvtL56S9tw7fQ2ax3Rwy5qxyq9PjH3X/3wfWDhPJ9RH3H91WvKF4WKvxFtHW01q/RGY79fkCfwRn8x6Ag="
#define V_A_ED_GLOBAL "eY9dVoTYl0ANJ0oJPoV3BGU8wDDIx/NQSLtaESN9F/JcYL4QoJOMnO7U2n/cTzhpUQzM6InO1G9Tya9ybsvWAw=="
#define V_A_ED V_SIG_HEAD V_A_ED_LINE "\n" V_TC V_A_ED_GLOBAL "\n"
#define V_A_LEGACY V_SIG_HEAD \
	"RWQ3byjL8itYkJURQ32ywaskSz1ufZq9bapDEnEi5kXeINWvXP+ZF68pOJb0xOQC8UFKLlgeOH9QkZlbqfjQplX/sYEiJkkdjAY=\n" \
	V_TC "j3/qHxXdAO5J+95Ed4/jmOLnkeuKa35tLJvm1RiiHYqc8sTt0VsTNnWgOzyUx6WlBSf9QW0osP8rXMkM2+KjAg==\n"
#define V_B_ED V_SIG_HEAD \
	"RUSjcafGU8xSa99lo6E+vfzfz8vRWBGumou5n7ozThW7LBZHDBM3a6PBIh/r54Y+jLthzGLhAmswhrndazjPQobrDsnU4ZBvbgU=\n" \
	V_TC "ULOk+5NRovkqW0dTb0DQu3H/dGACFwgzSrHIqdaEbEqC4KVZarq6WOEd/WXCC1cJrz/AEd6pZXreyiFBOwxjCw==\n"

/* scrypt at its minimum (16 MiB) keeps our own encrypted keys fast;
 * minisign reads the limits from the key file. */
#define FAST_OPS 32768ULL
#define FAST_MEM 16777216ULL

static struct nk_err err;
static struct minisig_pubkey pk_a, pk_b;
static struct minisig_sig sig_a, sig_a_legacy, sig_b;
static char tmp[64];

/* ---- helpers ---------------------------------------------------------- */

static int
pk_parse(const char *s, struct minisig_pubkey *pk)
{
	return minisig_pubkey_parse((const uint8_t *)s, strlen(s), pk, &err);
}

static int
sig_parse(const char *s, struct minisig_sig *sig)
{
	return minisig_sig_parse((const uint8_t *)s, strlen(s), sig, &err);
}

static void
pk_rejects(const char *s)
{
	struct minisig_pubkey pk;

	assert_int_equal(pk_parse(s, &pk), NK_E_KEYFILE);
}

static void
sig_rejects(const char *s)
{
	struct minisig_sig sig;

	assert_int_equal(sig_parse(s, &sig), NK_E_SIGFMT);
}

static void
pk_rejects_buf(const uint8_t *b, size_t n)
{
	struct minisig_pubkey pk;

	assert_int_equal(minisig_pubkey_parse(b, n, &pk, &err), NK_E_KEYFILE);
}

/* Decodes base64 line `line` (0-based) of `in`, xors byte off with x,
 * resizes it to newlen bytes (0: keep), re-encodes it into out. */
static const char *
mutate(const char *in, int line, size_t off, uint8_t x, size_t newlen)
{
	static char out[8192];
	uint8_t raw[512];
	char enc[1024];
	const char *p = in, *nl;
	size_t rawlen, used = 0;
	int i;

	for (i = 0; i < line; i++)
		p = strchr(p, '\n') + 1;
	nl = strchr(p, '\n');
	assert_non_null(nl);
	assert_int_equal(b64_decode(p, (size_t)(nl - p), raw, sizeof(raw), &rawlen), 0);
	raw[off] ^= x;
	if (newlen != 0) {
		if (newlen > rawlen)
			memset(raw + rawlen, 'A', newlen - rawlen);
		rawlen = newlen;
	}
	assert_int_equal(b64_encode(raw, rawlen, enc, sizeof(enc)), 0);
	used = (size_t)(p - in);
	memcpy(out, in, used);
	snprintf(out + used, sizeof(out) - used, "%s%s", enc, nl);
	return out;
}

/* in with the first occurrence of from replaced by to. */
static const char *
subst(const char *in, const char *from, const char *to)
{
	static char out[8192];
	const char *at = strstr(in, from);

	assert_non_null(at);
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - in), in, to, at + strlen(from));
	return out;
}

/* A signature file whose trusted comment is n bytes of 'c'. */
static const char *
sig_with_comment(size_t n)
{
	static char out[8192];
	char c[4096];

	memset(c, 'c', n);
	c[n] = '\0';
	snprintf(out, sizeof(out), V_SIG_HEAD V_A_ED_LINE "\ntrusted comment: %s\n" V_A_ED_GLOBAL
	    "\n", c);
	return out;
}

static int
verify_msg(const struct minisig_pubkey *keys, size_t n, const struct minisig_sig *sig,
    const char *msg, int legacy)
{
	return minisig_verify(keys, n, sig, (const uint8_t *)msg, strlen(msg), legacy, &err);
}

static int
verify_a(const struct minisig_sig *sig, int legacy)
{
	return verify_msg(&pk_a, 1, sig, V_MSG, legacy);
}

struct pw {
	const char *pw; /* NULL: fail to read */
	int calls;
};

static int
pw_cb(char *buf, size_t cap, void *ctx)
{
	struct pw *p = ctx;

	p->calls++;
	if (p->pw == NULL)
		return -1;
	snprintf(buf, cap, "%s", p->pw);
	return 0;
}

static int
sk_parse(const char *s, const char *pw, int *calls, struct minisig_seckey *sk)
{
	struct pw p = { pw, 0 };
	int rc;

	rc = minisig_seckey_parse((const uint8_t *)s, strlen(s), pw_cb, &p, sk, &err);
	if (calls != NULL)
		*calls = p.calls;
	return rc;
}

/* Signs V_MSG with sk and verifies it with pk. */
static void
sign_and_verify(const struct minisig_seckey *sk, const struct minisig_pubkey *pk)
{
	char out[MINISIG_FILE_MAX_BYTES];
	struct minisig_sig sig;
	size_t n;

	assert_int_equal(minisig_sign(sk, (const uint8_t *)V_MSG, strlen(V_MSG), "t", out,
	    sizeof(out), &n, &err), 0);
	assert_int_equal(minisig_sig_parse((const uint8_t *)out, n, &sig, &err), 0);
	assert_int_equal(verify_msg(pk, 1, &sig, V_MSG, 0), 0);
}

static void
write_file(const char *name, const char *text, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static size_t
read_file(const char *name, char *buf, size_t cap)
{
	char path[256];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	assert_non_null(f = fopen(path, "r"));
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	return n;
}

static const char *
in_tmp(const char *name)
{
	static char paths[8][256];
	static int next;
	char *p = paths[next++ % 8];

	snprintf(p, 256, "%s/%s", tmp, name);
	return p;
}

/* Runs argv in tmp with text (or nothing) on stdin, output discarded;
 * returns the exit status, or -1 when it did not exit normally. */
static int
run(const char *text, char *const argv[])
{
	int fds[2], status, devnull;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		devnull = open("/dev/null", O_WRONLY);
		dup2(fds[0], 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		close(fds[1]);
		if (chdir(tmp) != 0)
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[0]);
	if (text != NULL && write(fds[1], text, strlen(text)) != (ssize_t)strlen(text))
		fail_msg("write to child");
	close(fds[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
have_minisign(void)
{
	char *const v[] = { "minisign", "-v", NULL };

	return run(NULL, v) == 0;
}

#define NEED_MINISIGN() do { \
	if (!have_minisign()) { \
		print_message("minisign is not installed: interop case skipped\n"); \
		skip(); \
	} \
} while (0)

/* Calls a command with text (NULL: /dev/null) as its stdin. */
static int
cmd_with_stdin(const char *text, int (*fn)(int, char **), char **argv)
{
	int fds[2], saved, rc, argc = 0;

	while (argv[argc] != NULL)
		argc++;
	saved = dup(0);
	if (text != NULL) {
		assert_int_equal(pipe(fds), 0);
		assert_int_equal(write(fds[1], text, strlen(text)), (ssize_t)strlen(text));
		close(fds[1]);
	} else {
		fds[0] = open("/dev/null", O_RDONLY);
	}
	dup2(fds[0], 0);
	close(fds[0]);
	rc = fn(argc, argv);
	fflush(stdout);
	dup2(saved, 0);
	close(saved);
	return rc;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
tmp_setup(void **state)
{
	snprintf(tmp, sizeof(tmp), "%s/test_minisig.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(tmp) != NULL ? 0 : -1;
}

static int
tmp_teardown(void **state)
{
	return nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int
group_setup(void **state)
{
	if (sodium_init() < 0)
		return -1;
	if (pk_parse(V_A_PUB, &pk_a) != 0 || pk_parse(V_B_PUB, &pk_b) != 0 ||
	    sig_parse(V_A_ED, &sig_a) != 0 || sig_parse(V_A_LEGACY, &sig_a_legacy) != 0 ||
	    sig_parse(V_B_ED, &sig_b) != 0) {
		fprintf(stderr, "vector setup: %s\n", err.msg);
		return -1;
	}
	return 0;
}

/* ---- public keys ------------------------------------------------------ */

static void
pk_file_ok(void **s)
{
	char hex[MINISIG_KEYID_HEX_BYTES + 1], b64[MINISIG_PUBKEY_B64_BYTES + 1];
	struct minisig_pubkey pk;

	assert_int_equal(pk_parse(V_A_PUB, &pk), 0);
	minisig_keyid_hex(pk.keyid, hex);
	assert_string_equal(hex, V_A_KEYID); /* as minisign printed it in the comment */
	minisig_pubkey_b64(&pk, b64);
	assert_string_equal(b64, V_A_B64);
}

static void pk_file_no_final_lf_ok(void **s) { struct minisig_pubkey pk; assert_int_equal(pk_parse(subst(V_A_PUB, "kti\n", "kti"), &pk), 0); assert_memory_equal(&pk, &pk_a, sizeof(pk)); }
static void pk_bare_ok(void **s) { struct minisig_pubkey pk; assert_int_equal(pk_parse(V_A_B64, &pk), 0); assert_memory_equal(&pk, &pk_a, sizeof(pk)); }
static void pk_bare_lf_ok(void **s) { struct minisig_pubkey pk; assert_int_equal(pk_parse(V_A_B64 "\n", &pk), 0); assert_memory_equal(&pk, &pk_a, sizeof(pk)); }
static void pk_empty(void **s) { pk_rejects(""); }
static void pk_only_lf(void **s) { pk_rejects("\n"); }
static void pk_bare_two_lf(void **s) { pk_rejects(V_A_B64 "\n\n"); }
static void pk_file_blank_line_after(void **s) { pk_rejects(V_A_PUB "\n"); }
static void pk_file_third_line(void **s) { pk_rejects(V_A_PUB "extra\n"); }
static void pk_file_comment_only(void **s) { pk_rejects("untrusted comment: minisign public key " V_A_KEYID "\n"); }
static void pk_file_comment_no_lf(void **s) { pk_rejects("untrusted comment: minisign public key"); }
static void pk_file_key_on_comment_line(void **s) { pk_rejects("untrusted comment: " V_A_B64 "\n"); }
static void pk_crlf(void **s) { pk_rejects(subst(V_A_PUB, "\n", "\r\n")); }
static void pk_bare_crlf(void **s) { pk_rejects(V_A_B64 "\r\n"); }
static void pk_nul_at_end(void **s) { pk_rejects_buf((const uint8_t *)V_A_PUB, sizeof(V_A_PUB)); }
static void pk_nul_in_comment(void **s) { char b[] = V_A_PUB; b[30] = '\0'; pk_rejects_buf((const uint8_t *)b, sizeof(b) - 1); }
static void pk_bad_base64(void **s) { pk_rejects(subst(V_A_B64, "RWQ3", "RWQ!")); }
static void pk_base64_no_padding_room(void **s) { pk_rejects(V_A_B64 "="); }
static void pk_leading_space(void **s) { pk_rejects(" " V_A_B64); }
static void pk_trailing_space(void **s) { pk_rejects(V_A_B64 " "); }
static void pk_too_short(void **s) { pk_rejects(mutate(V_A_PUB, 1, 0, 0, 41)); }
static void pk_too_long(void **s) { pk_rejects(mutate(V_A_PUB, 1, 0, 0, 45)); }
static void pk_alg_not_ed(void **s) { pk_rejects(mutate(V_A_PUB, 1, 1, 'd' ^ 'D', 0)); /* "ED" */ }
static void pk_alg_garbage(void **s) { pk_rejects(mutate(V_A_PUB, 1, 0, 0xff, 0)); }
static void pk_comment_prefix_typo(void **s) { pk_rejects(subst(V_A_PUB, "untrusted comment: ", "untrusted comment:")); }
static void pk_secret_key_given(void **s) { pk_rejects(V_A_KEY); assert_non_null(strstr(err.msg, "secret key")); }
static void pk_signature_given(void **s) { pk_rejects(V_A_ED); }
static void pk_comment_too_long(void **s) { char b[2048]; memset(b, 'x', sizeof(b)); memcpy(b, "untrusted comment: ", 19); snprintf(b + 19 + MINISIG_COMMENT_MAX_BYTES + 1, 100, "\n%s\n", V_A_B64); pk_rejects(b); }
static void pk_over_cap(void **s) { static uint8_t b[MINISIG_FILE_MAX_BYTES + 1]; memset(b, 'A', sizeof(b)); pk_rejects_buf(b, sizeof(b)); }

/* ---- signature files -------------------------------------------------- */

static void
sig_ed_ok(void **s)
{
	assert_memory_equal(sig_a.alg, "ED", 2);
	assert_memory_equal(sig_a.keyid, pk_a.keyid, 8);
	assert_string_equal(sig_a.trusted_comment, "nixos-kexec test vector");
	assert_int_equal(sig_a.trusted_comment_len, strlen("nixos-kexec test vector"));
	assert_memory_equal(sig_a_legacy.alg, "Ed", 2);
}

static void sig_no_final_lf_ok(void **s) { struct minisig_sig sig; assert_int_equal(sig_parse(subst(V_A_ED, "Aw==\n", "Aw=="), &sig), 0); }
static void sig_empty_trusted_comment_ok(void **s) { struct minisig_sig sig; assert_int_equal(sig_parse(sig_with_comment(0), &sig), 0); assert_int_equal(sig.trusted_comment_len, 0); }
static void sig_comment_at_cap_ok(void **s) { struct minisig_sig sig; assert_int_equal(sig_parse(sig_with_comment(MINISIG_COMMENT_MAX_BYTES), &sig), 0); }
static void sig_empty(void **s) { sig_rejects(""); }
static void sig_one_line(void **s) { sig_rejects(V_SIG_HEAD); }
static void sig_two_lines(void **s) { sig_rejects(V_SIG_HEAD V_A_ED_LINE "\n"); }
static void sig_no_global(void **s) { sig_rejects(V_SIG_HEAD V_A_ED_LINE "\n" V_TC); }
static void sig_no_untrusted_comment(void **s) { sig_rejects(V_A_ED_LINE "\n" V_TC V_A_ED_GLOBAL "\n" V_A_ED_GLOBAL "\n"); }
static void sig_extra_line(void **s) { sig_rejects(V_A_ED "extra\n"); }
static void sig_extra_blank_line(void **s) { sig_rejects(V_A_ED "\n"); }
static void sig_two_signatures(void **s) { sig_rejects(V_A_ED V_A_ED); }
static void sig_untrusted_prefix_case(void **s) { sig_rejects(subst(V_A_ED, "untrusted", "Untrusted")); }
static void sig_untrusted_prefix_nospace(void **s) { sig_rejects(subst(V_A_ED, "untrusted comment: ", "untrusted comment:")); }
static void sig_trusted_prefix_wrong(void **s) { sig_rejects(subst(V_A_ED, "trusted comment: nixos", "trusted-comment: nixos")); }
static void sig_trusted_as_untrusted(void **s) { sig_rejects(subst(V_A_ED, "\ntrusted comment: ", "\nuntrusted comment: ")); }
static void sig_lines_swapped(void **s) { sig_rejects(V_SIG_HEAD V_TC V_A_ED_LINE "\n" V_A_ED_GLOBAL "\n"); }
static void sig_bad_base64_sig(void **s) { sig_rejects(subst(V_A_ED, "RUQ3", "RUQ*")); }
static void sig_bad_base64_global(void **s) { sig_rejects(subst(V_A_ED, "eY9d", "eY9-")); }
static void sig_base64_url_variant(void **s) { sig_rejects(subst(V_A_ED, "/3wf", "_3wf")); }
static void sig_space_in_base64(void **s) { sig_rejects(subst(V_A_ED, "RUQ3", "RUQ3 ")); }
static void sig_sig_short(void **s) { sig_rejects(mutate(V_A_ED, 1, 0, 0, 73)); }
static void sig_sig_long(void **s) { sig_rejects(mutate(V_A_ED, 1, 0, 0, 75)); }
static void sig_global_short(void **s) { sig_rejects(mutate(V_A_ED, 3, 0, 0, 63)); }
static void sig_global_in_sig_slot(void **s) { sig_rejects(V_SIG_HEAD V_A_ED_GLOBAL "\n" V_TC V_A_ED_GLOBAL "\n"); }
static void sig_unknown_alg(void **s) { sig_rejects(mutate(V_A_ED, 1, 1, 'D' ^ 'X', 0)); }
static void sig_trusted_comment_over_cap(void **s) { sig_rejects(sig_with_comment(MINISIG_COMMENT_MAX_BYTES + 1)); }
static void sig_untrusted_comment_over_cap(void **s) { char b[4096]; memset(b, 'u', 1100); b[1100] = '\0'; sig_rejects(subst(V_A_ED, "signature from", b)); }
static void sig_crlf(void **s) { sig_rejects(subst(V_A_ED, "\n", "\r\n")); }
static void sig_cr_in_comment(void **s) { sig_rejects(subst(V_A_ED, "test vector", "test\rvector")); }
static void sig_nul_at_end(void **s) { struct minisig_sig sig; assert_int_equal(minisig_sig_parse((const uint8_t *)V_A_ED, sizeof(V_A_ED), &sig, &err), NK_E_SIGFMT); }
static void sig_nul_in_trusted_comment(void **s) { char b[] = V_A_ED; struct minisig_sig sig; *strstr(b, "test vector") = '\0'; assert_int_equal(minisig_sig_parse((const uint8_t *)b, sizeof(b) - 1, &sig, &err), NK_E_SIGFMT); }
static void sig_over_cap(void **s) { static uint8_t b[MINISIG_FILE_MAX_BYTES + 1]; struct minisig_sig sig; memset(b, 'A', sizeof(b)); assert_int_equal(minisig_sig_parse(b, sizeof(b), &sig, &err), NK_E_SIGFMT); }

/* ---- verification ----------------------------------------------------- */

static void verify_ed_ok(void **s) { assert_int_equal(verify_a(&sig_a, 0), 0); }
static void verify_legacy_refused(void **s) { assert_int_equal(verify_a(&sig_a_legacy, 0), NK_E_LEGACY); assert_non_null(strstr(err.msg, "--allow-legacy")); }
static void verify_legacy_allowed(void **s) { assert_int_equal(verify_a(&sig_a_legacy, 1), 0); }
static void verify_ed_relabelled_legacy(void **s) { struct minisig_sig x = sig_a; memcpy(x.alg, "Ed", 2); assert_int_equal(verify_a(&x, 1), NK_E_SIG); }
static void verify_legacy_relabelled_ed(void **s) { struct minisig_sig x = sig_a_legacy; memcpy(x.alg, "ED", 2); assert_int_equal(verify_a(&x, 0), NK_E_SIG); }
static void verify_unknown_alg(void **s) { struct minisig_sig x = sig_a; memcpy(x.alg, "XX", 2); assert_int_equal(verify_a(&x, 1), NK_E_SIGFMT); }
static void verify_no_keys(void **s) { assert_int_equal(verify_msg(&pk_a, 0, &sig_a, V_MSG, 0), NK_E_KEYID); }
static void verify_wrong_key(void **s) { assert_int_equal(verify_msg(&pk_b, 1, &sig_a, V_MSG, 0), NK_E_KEYID); assert_non_null(strstr(err.msg, V_A_KEYID)); assert_non_null(strstr(err.msg, "6B52CC53C6A771A3")); }
static void verify_same_keyid_wrong_pk(void **s) { struct minisig_pubkey k = pk_b; memcpy(k.keyid, pk_a.keyid, 8); assert_int_equal(verify_msg(&k, 1, &sig_a, V_MSG, 0), NK_E_SIG); }
static void verify_msg_flipped(void **s) { assert_int_equal(verify_msg(&pk_a, 1, &sig_a, subst(V_MSG, "vector", "vectos"), 0), NK_E_SIG); }
static void verify_msg_truncated(void **s) { assert_int_equal(verify_msg(&pk_a, 1, &sig_a, "nixos-kexec-manifest 1\n", 0), NK_E_SIG); }
static void verify_msg_extended(void **s) { assert_int_equal(verify_msg(&pk_a, 1, &sig_a, V_MSG "version 9\n", 0), NK_E_SIG); }
static void verify_msg_empty(void **s) { assert_int_equal(verify_msg(&pk_a, 1, &sig_a, "", 0), NK_E_SIG); }
static void verify_sig_flipped(void **s) { struct minisig_sig x = sig_a; x.sig[0] ^= 1; assert_int_equal(verify_a(&x, 0), NK_E_SIG); }
static void verify_sig_last_byte_flipped(void **s) { struct minisig_sig x = sig_a; x.sig[63] ^= 0x80; assert_int_equal(verify_a(&x, 0), NK_E_SIG); }
static void verify_comment_flipped(void **s) { struct minisig_sig x = sig_a; x.trusted_comment[0] ^= 1; assert_int_equal(verify_a(&x, 0), NK_E_GLOBALSIG); }
static void verify_comment_truncated(void **s) { struct minisig_sig x = sig_a; x.trusted_comment_len--; assert_int_equal(verify_a(&x, 0), NK_E_GLOBALSIG); }
static void verify_comment_swapped_in(void **s) { struct minisig_sig x = sig_a; memcpy(x.trusted_comment, "nixos-kexec test vectoR", 23); assert_int_equal(verify_a(&x, 0), NK_E_GLOBALSIG); }
static void verify_global_flipped(void **s) { struct minisig_sig x = sig_a; x.global_sig[10] ^= 4; assert_int_equal(verify_a(&x, 0), NK_E_GLOBALSIG); }
static void verify_global_from_other_sig(void **s) { struct minisig_sig x = sig_a; memcpy(x.global_sig, sig_a_legacy.global_sig, 64); assert_int_equal(verify_a(&x, 0), NK_E_GLOBALSIG); }
static void verify_comment_over_cap(void **s) { struct minisig_sig x = sig_a; x.trusted_comment_len = MINISIG_COMMENT_MAX_BYTES + 1; assert_int_equal(verify_a(&x, 0), NK_E_SIGFMT); }
static void verify_rotation_second_key(void **s) { struct minisig_pubkey k[2] = { pk_a, pk_b }; assert_int_equal(verify_msg(k, 2, &sig_b, V_MSG, 0), 0); assert_int_equal(verify_msg(k, 2, &sig_a, V_MSG, 0), 0); }
static void verify_rotation_old_key_dropped(void **s) { struct minisig_pubkey k[1] = { pk_b }; assert_int_equal(verify_msg(k, 1, &sig_a, V_MSG, 0), NK_E_KEYID); }
static void verify_rotation_keyid_clash(void **s) { struct minisig_pubkey k[2] = { pk_b, pk_a }; memcpy(k[0].keyid, pk_a.keyid, 8); assert_int_equal(verify_msg(k, 2, &sig_a, V_MSG, 0), 0); }

/* ---- secret keys, keygen, signing --------------------------------------- */

static void
sk_minisign_unencrypted_ok(void **s)
{
	struct minisig_seckey sk;
	struct minisig_pubkey pk;
	int calls;

	assert_int_equal(sk_parse(V_A_KEY, "unused", &calls, &sk), 0);
	assert_int_equal(calls, 0); /* no password asked for a -W key */
	minisig_seckey_pubkey(&sk, &pk);
	assert_memory_equal(&pk, &pk_a, sizeof(pk));
	sign_and_verify(&sk, &pk_a);
	minisig_seckey_wipe(&sk);
	assert_true(sodium_is_zero((const uint8_t *)&sk, sizeof(sk)));
}

static void
keygen_unencrypted_roundtrip(void **s)
{
	struct minisig_keyfiles kf;
	struct minisig_seckey sk;
	struct minisig_pubkey pk, pk2;
	char comment[64];

	assert_int_equal(minisig_keygen(NULL, &kf, &err), 0);
	assert_int_equal(pk_parse(kf.pub, &pk), 0);
	assert_int_equal(pk_parse(kf.pub_b64, &pk2), 0);
	assert_memory_equal(&pk, &kf.pk, sizeof(pk));
	assert_memory_equal(&pk2, &kf.pk, sizeof(pk));
	snprintf(comment, sizeof(comment), "untrusted comment: minisign public key %s\n",
	    kf.keyid_hex);
	assert_memory_equal(kf.pub, comment, strlen(comment));
	assert_int_equal(strncmp(kf.pub_b64, "RW", 2), 0);
	assert_int_equal(sk_parse(kf.sec, NULL, NULL, &sk), 0);
	sign_and_verify(&sk, &pk);
	minisig_seckey_wipe(&sk);
	minisig_keyfiles_wipe(&kf);
	assert_true(sodium_is_zero((const uint8_t *)&kf, sizeof(kf)));
}

static void
keygen_encrypted_roundtrip(void **s)
{
	struct minisig_keyfiles kf;
	struct minisig_seckey sk;
	int calls;

	assert_int_equal(minisig_keygen_kdf("correct horse", FAST_OPS, FAST_MEM, &kf, &err), 0);
	assert_int_equal(sk_parse(kf.sec, "correct horse", &calls, &sk), 0);
	assert_int_equal(calls, 1);
	sign_and_verify(&sk, &kf.pk);
	assert_int_equal(sk_parse(kf.sec, "correct horsE", NULL, &sk), NK_E_PASSWORD);
	assert_true(sodium_is_zero((const uint8_t *)&sk, sizeof(sk)));
	assert_int_equal(sk_parse(kf.sec, "", NULL, &sk), NK_E_PASSWORD);
	assert_int_equal(sk_parse(kf.sec, NULL, NULL, &sk), NK_E_PASSWORD);
	assert_int_equal(minisig_seckey_parse((const uint8_t *)kf.sec, kf.sec_len, NULL, NULL, &sk,
	    &err), NK_E_PASSWORD);
	minisig_keyfiles_wipe(&kf);
}

static void
keygen_keys_differ(void **s)
{
	struct minisig_keyfiles a, b;

	assert_int_equal(minisig_keygen(NULL, &a, &err), 0);
	assert_int_equal(minisig_keygen(NULL, &b, &err), 0);
	assert_memory_not_equal(&a.pk, &b.pk, sizeof(a.pk));
	minisig_keyfiles_wipe(&a);
	minisig_keyfiles_wipe(&b);
}

static void
sk_encrypted_damaged(void **s)
{
	struct minisig_keyfiles kf;
	struct minisig_seckey sk;

	assert_int_equal(minisig_keygen_kdf("pw", FAST_OPS, FAST_MEM, &kf, &err), 0);
	/* A flipped salt derives another stream: looks like a wrong password. */
	assert_int_equal(sk_parse(mutate(kf.sec, 1, 6, 1, 0), "pw", NULL, &sk), NK_E_PASSWORD);
	/* A flipped key byte breaks the checksum the same way. */
	assert_int_equal(sk_parse(mutate(kf.sec, 1, 70, 1, 0), "pw", NULL, &sk), NK_E_PASSWORD);
	minisig_keyfiles_wipe(&kf);
}

static int sk_rc(const char *text) { struct minisig_seckey sk; int calls; int rc = sk_parse(text, "pw", &calls, &sk); return calls == 0 ? rc : 1000 + rc; }
static void sk_unencrypted_chk_damaged(void **s) { struct minisig_keyfiles kf; assert_int_equal(minisig_keygen(NULL, &kf, &err), 0); assert_int_equal(sk_rc(mutate(kf.sec, 1, 130, 1, 0)), NK_E_KEYFILE); minisig_keyfiles_wipe(&kf); }
static void sk_unencrypted_seed_damaged(void **s) { assert_int_equal(sk_rc(mutate(V_A_KEY, 1, 62, 1, 0)), NK_E_KEYFILE); /* zero chk: caught by the pk check */ }
static void sk_unencrypted_pk_half_damaged(void **s) { assert_int_equal(sk_rc(mutate(V_A_KEY, 1, 100, 1, 0)), NK_E_KEYFILE); }
static void sk_unknown_kdf(void **s) { assert_int_equal(sk_rc(mutate(V_A_KEY, 1, 2, 'X', 0)), NK_E_KEYFILE); }
static void sk_unknown_sig_alg(void **s) { assert_int_equal(sk_rc(mutate(V_A_KEY, 1, 1, 'd' ^ 'D', 0)), NK_E_KEYFILE); }
static void sk_unknown_chk_alg(void **s) { assert_int_equal(sk_rc(mutate(V_A_KEY, 1, 4, 1, 0)), NK_E_KEYFILE); }
static void sk_huge_memlimit_refused_before_password(void **s) { struct minisig_keyfiles kf; assert_int_equal(minisig_keygen_kdf("pw", FAST_OPS, FAST_MEM, &kf, &err), 0); assert_int_equal(sk_rc(mutate(kf.sec, 1, 53, 0x10, 0)), NK_E_KEYFILE); minisig_keyfiles_wipe(&kf); }
static void sk_truncated(void **s) { assert_int_equal(sk_rc(mutate(V_A_KEY, 1, 0, 0, 157)), NK_E_KEYFILE); }
static void sk_public_key_given(void **s) { assert_int_equal(sk_rc(V_A_PUB), NK_E_KEYFILE); assert_non_null(strstr(err.msg, "public key")); }
static void sk_key_line_only(void **s) { assert_int_equal(sk_rc(strchr(V_A_KEY, '\n') + 1), NK_E_KEYFILE); }
static void sk_extra_line(void **s) { assert_int_equal(sk_rc(V_A_KEY "\n"), NK_E_KEYFILE); }
static void sk_crlf(void **s) { assert_int_equal(sk_rc(subst(V_A_KEY, "\n", "\r\n")), NK_E_KEYFILE); }
static void sk_empty(void **s) { assert_int_equal(sk_rc(""), NK_E_KEYFILE); }

static void sign_comment_with_lf(void **s) { struct minisig_seckey sk; char out[MINISIG_FILE_MAX_BYTES]; size_t n; assert_int_equal(sk_parse(V_A_KEY, NULL, NULL, &sk), 0); assert_int_equal(minisig_sign(&sk, (const uint8_t *)"m", 1, "a\nb", out, sizeof(out), &n, &err), NK_E_USAGE); }
static void sign_comment_with_cr(void **s) { struct minisig_seckey sk; char out[MINISIG_FILE_MAX_BYTES]; size_t n; assert_int_equal(sk_parse(V_A_KEY, NULL, NULL, &sk), 0); assert_int_equal(minisig_sign(&sk, (const uint8_t *)"m", 1, "a\rb", out, sizeof(out), &n, &err), NK_E_USAGE); }
static void sign_comment_over_cap(void **s) { struct minisig_seckey sk; char out[MINISIG_FILE_MAX_BYTES], c[MINISIG_COMMENT_MAX_BYTES + 2]; size_t n; memset(c, 'c', sizeof(c) - 1); c[sizeof(c) - 1] = '\0'; assert_int_equal(sk_parse(V_A_KEY, NULL, NULL, &sk), 0); assert_int_equal(minisig_sign(&sk, (const uint8_t *)"m", 1, c, out, sizeof(out), &n, &err), NK_E_USAGE); }
static void sign_buffer_too_small(void **s) { struct minisig_seckey sk; char out[100]; size_t n; assert_int_equal(sk_parse(V_A_KEY, NULL, NULL, &sk), 0); assert_int_equal(minisig_sign(&sk, (const uint8_t *)"m", 1, "t", out, sizeof(out), &n, &err), NK_E_INTERNAL); }

static void
sign_comment_at_cap_ok(void **s)
{
	char out[MINISIG_FILE_MAX_BYTES], c[MINISIG_COMMENT_MAX_BYTES + 1];
	struct minisig_seckey sk;
	struct minisig_sig sig;
	size_t n;

	memset(c, '\t', sizeof(c) - 1);
	c[sizeof(c) - 1] = '\0';
	assert_int_equal(sk_parse(V_A_KEY, NULL, NULL, &sk), 0);
	assert_int_equal(minisig_sign(&sk, (const uint8_t *)"", 0, c, out, sizeof(out), &n, &err), 0);
	assert_int_equal(minisig_sig_parse((const uint8_t *)out, n, &sig, &err), 0);
	assert_int_equal(verify_msg(&pk_a, 1, &sig, "", 0), 0);
	assert_memory_equal(out, "untrusted comment: signature from nixos-kexec secret key\nRUQ", 60);
}

static void
default_comment_like_minisign(void **s)
{
	char c[MINISIG_COMMENT_MAX_BYTES + 1];

	assert_int_equal(minisig_default_comment("out/manifest", 1795527343, c, sizeof(c), &err), 0);
	assert_string_equal(c, "timestamp:1795527343\tfile:manifest\thashed");
	assert_int_equal(minisig_default_comment("a\nb", 1, c, sizeof(c), &err), NK_E_USAGE);
}

/* A manifest the parser accepts (the sign command refuses anything else);
 * written by hand after DESIGN.md's example, hashes of nothing in particular. */
#define V_MANIFEST "nixos-kexec-manifest 1\nname t\nversion 1\narch x86_64\n" \
	"issued 1795527343\nexpires 1798119343\n" \
	"kernel bzImage 1 sha256:0000000000000000000000000000000000000000000000000000000000000000\n" \
	"initrd initrd 1 sha256:1111111111111111111111111111111111111111111111111111111111111111\n" \
	"cmdline console=ttyS0\n"

/* ---- the keygen and sign commands --------------------------------------- */

static void
cmd_keygen_and_sign(void **s)
{
	char *kg[] = { "keygen", "-W", "-p", (char *)in_tmp("k.pub"), "-s", (char *)in_tmp("k.key"), NULL };
	char *kgf[] = { "keygen", "-f", "-W", "-p", (char *)in_tmp("k.pub"), "-s", (char *)in_tmp("k.key"), NULL };
	char *sg[] = { "sign", "-s", (char *)in_tmp("k.key"), "-t", "release 7", tmp, NULL };
	char pub[MINISIG_FILE_MAX_BYTES], sig_text[MINISIG_FILE_MAX_BYTES];
	struct minisig_pubkey pk;
	struct minisig_sig sig;
	struct stat st;

	assert_int_equal(cmd_with_stdin(NULL, cmd_keygen, kg), 0);
	assert_int_equal(stat(in_tmp("k.key"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(cmd_with_stdin(NULL, cmd_keygen, kg), 64);  /* no overwrite */
	assert_int_equal(cmd_with_stdin(NULL, cmd_keygen, kgf), 0);  /* -f */
	write_file("manifest", V_MANIFEST, strlen(V_MANIFEST));
	assert_int_equal(cmd_with_stdin(NULL, cmd_sign, sg), 0);
	read_file("k.pub", pub, sizeof(pub));
	read_file("manifest.minisig", sig_text, sizeof(sig_text));
	assert_int_equal(pk_parse(pub, &pk), 0);
	assert_int_equal(sig_parse(sig_text, &sig), 0);
	assert_string_equal(sig.trusted_comment, "release 7");
	assert_int_equal(verify_msg(&pk, 1, &sig, V_MANIFEST, 0), 0);
}

static void
cmd_sign_encrypted_password_on_stdin(void **s)
{
	char *sg[] = { "sign", "-s", (char *)in_tmp("e.key"), tmp, NULL };
	struct minisig_keyfiles kf;

	assert_int_equal(minisig_keygen_kdf("hunter2", FAST_OPS, FAST_MEM, &kf, &err), 0);
	write_file("e.key", kf.sec, kf.sec_len);
	write_file("manifest", V_MANIFEST, strlen(V_MANIFEST));
	assert_int_equal(cmd_with_stdin("hunter3\n", cmd_sign, sg), 64); /* wrong */
	assert_int_equal(cmd_with_stdin(NULL, cmd_sign, sg), 64);        /* none */
	assert_int_equal(cmd_with_stdin("hunter2\r\n", cmd_sign, sg), 0); /* CR trimmed, as minisign */
	assert_int_equal(cmd_with_stdin("hunter2", cmd_sign, sg), 0);    /* no LF */
	minisig_keyfiles_wipe(&kf);
}

static void cmd_keygen_needs_both_files(void **s) { char *a[] = { "keygen", "-W", "-p", "x.pub", NULL }; assert_int_equal(cmd_with_stdin(NULL, cmd_keygen, a), 64); }
static void cmd_keygen_same_file(void **s) { char *a[] = { "keygen", "-W", "-p", "x", "-s", "x", NULL }; assert_int_equal(cmd_with_stdin(NULL, cmd_keygen, a), 64); }
static void cmd_keygen_unknown_option(void **s) { char *a[] = { "keygen", "-Z", NULL }; assert_int_equal(cmd_with_stdin(NULL, cmd_keygen, a), 64); }
static void cmd_keygen_no_password(void **s) { char *a[] = { "keygen", "-p", (char *)in_tmp("a"), "-s", (char *)in_tmp("b"), NULL }; assert_int_equal(cmd_with_stdin(NULL, cmd_keygen, a), 64); assert_int_equal(access(in_tmp("b"), F_OK), -1); }
static void cmd_keygen_empty_password(void **s) { char *a[] = { "keygen", "-p", (char *)in_tmp("a"), "-s", (char *)in_tmp("b"), NULL }; assert_int_equal(cmd_with_stdin("\n", cmd_keygen, a), 64); assert_int_equal(access(in_tmp("b"), F_OK), -1); }
static void cmd_sign_needs_dir(void **s) { char *a[] = { "sign", "-s", "k", NULL }; assert_int_equal(cmd_with_stdin(NULL, cmd_sign, a), 64); }
static void cmd_sign_no_manifest(void **s) { char *a[] = { "sign", "-s", (char *)in_tmp("k"), tmp, NULL }; assert_int_equal(cmd_with_stdin(NULL, cmd_sign, a), 64); }
static void cmd_sign_not_a_manifest(void **s) { char *a[] = { "sign", "-s", (char *)in_tmp("k"), tmp, NULL }; write_file("manifest", "hello\n", 6); write_file("k", V_A_KEY, strlen(V_A_KEY)); assert_int_equal(cmd_with_stdin(NULL, cmd_sign, a), 65); assert_int_equal(access(in_tmp("manifest.minisig"), F_OK), -1); }
static void cmd_sign_public_key_given(void **s) { char *a[] = { "sign", "-s", (char *)in_tmp("k"), tmp, NULL }; write_file("manifest", V_MANIFEST, strlen(V_MANIFEST)); write_file("k", V_A_PUB, strlen(V_A_PUB)); assert_int_equal(cmd_with_stdin(NULL, cmd_sign, a), 64); assert_int_equal(access(in_tmp("manifest.minisig"), F_OK), -1); }
static void cmd_sign_comment_with_lf(void **s) { char *a[] = { "sign", "-s", "k", "-t", "a\nb", tmp, NULL }; assert_int_equal(cmd_with_stdin(NULL, cmd_sign, a), 64); }

/* ---- interoperability with the minisign binary -------------------------- */

/* minisign -G -W, -S (prehashed by default in 0.11) and -S -l (legacy)
 * on a fresh key: our parser and verifier agree with it. */
static void
interop_minisign_signs_we_verify(void **s)
{
	char *g[] = { "minisign", "-G", "-W", "-p", "m.pub", "-s", "m.key", NULL };
	char *sg[] = { "minisign", "-S", "-s", "m.key", "-m", "manifest", NULL };
	char *sl[] = { "minisign", "-S", "-l", "-s", "m.key", "-m", "manifest", "-x", "l.minisig", NULL };
	char pub[MINISIG_FILE_MAX_BYTES], text[MINISIG_FILE_MAX_BYTES];
	struct minisig_pubkey pk;
	struct minisig_sig sig;

	NEED_MINISIGN();
	write_file("manifest", V_MANIFEST, strlen(V_MANIFEST));
	assert_int_equal(run(NULL, g), 0);
	assert_int_equal(run(NULL, sg), 0);
	assert_int_equal(run(NULL, sl), 0);
	read_file("m.pub", pub, sizeof(pub));
	assert_int_equal(pk_parse(pub, &pk), 0);
	read_file("manifest.minisig", text, sizeof(text));
	assert_int_equal(sig_parse(text, &sig), 0);
	assert_memory_equal(sig.alg, "ED", 2);
	assert_non_null(strstr(sig.trusted_comment, "\thashed"));
	assert_int_equal(verify_msg(&pk, 1, &sig, V_MANIFEST, 0), 0);
	assert_int_equal(verify_msg(&pk, 1, &sig, V_MANIFEST "x", 0), NK_E_SIG);
	read_file("l.minisig", text, sizeof(text));
	assert_int_equal(sig_parse(text, &sig), 0);
	assert_int_equal(verify_msg(&pk, 1, &sig, V_MANIFEST, 0), NK_E_LEGACY);
	assert_int_equal(verify_msg(&pk, 1, &sig, V_MANIFEST, 1), 0);
}

/* Our unencrypted keygen and signer; minisign -V (and -V -H, which
 * insists on prehashed) accept the result and reject a changed file. */
static void
interop_we_sign_minisign_verifies(void **s)
{
	char *v[] = { "minisign", "-V", "-p", "n.pub", "-m", "manifest", NULL };
	char *vh[] = { "minisign", "-V", "-H", "-p", "n.pub", "-m", "manifest", NULL };
	char *ms[] = { "minisign", "-S", "-s", "n.key", "-m", "other", NULL };
	char *mv[] = { "minisign", "-V", "-p", "n.pub", "-m", "other", NULL };
	char *sg[] = { "sign", "-s", (char *)in_tmp("n.key"), tmp, NULL };
	struct minisig_keyfiles kf;

	NEED_MINISIGN();
	assert_int_equal(minisig_keygen(NULL, &kf, &err), 0);
	write_file("n.pub", kf.pub, kf.pub_len);
	write_file("n.key", kf.sec, kf.sec_len);
	write_file("manifest", V_MANIFEST, strlen(V_MANIFEST));
	assert_int_equal(cmd_with_stdin(NULL, cmd_sign, sg), 0);
	assert_int_equal(run(NULL, v), 0);
	assert_int_equal(run(NULL, vh), 0);
	write_file("manifest", V_MANIFEST "x", strlen(V_MANIFEST) + 1);
	assert_int_equal(run(NULL, v), 1);
	/* minisign also signs with our unencrypted secret key file. */
	write_file("other", "other\n", 6);
	assert_int_equal(run(NULL, ms), 0);
	assert_int_equal(run(NULL, mv), 0);
	minisig_keyfiles_wipe(&kf);
}

/* Our encrypted key (scrypt at its minimum): minisign decrypts it with
 * the password on stdin (it reads stdin when that is not a TTY), signs,
 * and we verify. */
static void
interop_our_encrypted_key_in_minisign(void **s)
{
	char *ms[] = { "minisign", "-S", "-s", "e.key", "-m", "manifest", NULL };
	char text[MINISIG_FILE_MAX_BYTES];
	struct minisig_keyfiles kf;
	struct minisig_sig sig;

	NEED_MINISIGN();
	assert_int_equal(minisig_keygen_kdf("s3cret", FAST_OPS, FAST_MEM, &kf, &err), 0);
	write_file("e.key", kf.sec, kf.sec_len);
	write_file("manifest", V_MANIFEST, strlen(V_MANIFEST));
	assert_int_equal(run("wrong\n", ms), 2); /* "Wrong password for that key" */
	assert_int_equal(run("s3cret\n", ms), 0);
	read_file("manifest.minisig", text, sizeof(text));
	assert_int_equal(sig_parse(text, &sig), 0);
	assert_int_equal(verify_msg(&kf.pk, 1, &sig, V_MANIFEST, 0), 0);
	minisig_keyfiles_wipe(&kf);
}

/* minisign -G with a password (1 GiB scrypt; two stdin lines, since it
 * asks twice): our parser refuses the wrong password and with the right
 * one signs something minisign -V accepts. */
static void
interop_minisign_encrypted_key_we_sign(void **s)
{
	char *g[] = { "minisign", "-G", "-p", "m.pub", "-s", "m.key", NULL };
	char *v[] = { "minisign", "-V", "-p", "m.pub", "-m", "manifest", NULL };
	char key[MINISIG_FILE_MAX_BYTES], out[MINISIG_FILE_MAX_BYTES];
	struct minisig_seckey sk;
	const char *slow = getenv("NK_TEST_SLOW");
	size_t n;

	NEED_MINISIGN();
	if (slow != NULL && strcmp(slow, "0") == 0) {
		print_message("NK_TEST_SLOW=0: skipping the 1 GiB scrypt minisign key case\n");
		skip();
	}
	assert_int_equal(run("pa55 word\npa55 word\n", g), 0);
	n = read_file("m.key", key, sizeof(key));
	assert_int_equal(minisig_seckey_parse((const uint8_t *)key, n, pw_cb,
	    &(struct pw){ "pa55 wore", 0 }, &sk, &err), NK_E_PASSWORD);
	assert_int_equal(minisig_seckey_parse((const uint8_t *)key, n, pw_cb,
	    &(struct pw){ "pa55 word", 0 }, &sk, &err), 0);
	assert_int_equal(minisig_sign(&sk, (const uint8_t *)V_MANIFEST, strlen(V_MANIFEST), "ours", out,
	    sizeof(out), &n, &err), 0);
	minisig_seckey_wipe(&sk);
	write_file("manifest", V_MANIFEST, strlen(V_MANIFEST));
	write_file("manifest.minisig", out, n);
	assert_int_equal(run(NULL, v), 0);
}

#define T(f) cmocka_unit_test(f)
#define TT(f) cmocka_unit_test_setup_teardown(f, tmp_setup, tmp_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(pk_file_ok), T(pk_file_no_final_lf_ok), T(pk_bare_ok), T(pk_bare_lf_ok),
		T(pk_empty), T(pk_only_lf), T(pk_bare_two_lf), T(pk_file_blank_line_after),
		T(pk_file_third_line), T(pk_file_comment_only), T(pk_file_comment_no_lf),
		T(pk_file_key_on_comment_line), T(pk_crlf), T(pk_bare_crlf), T(pk_nul_at_end), T(pk_nul_in_comment),
		T(pk_bad_base64), T(pk_base64_no_padding_room), T(pk_leading_space),
		T(pk_trailing_space), T(pk_too_short), T(pk_too_long), T(pk_alg_not_ed),
		T(pk_alg_garbage), T(pk_comment_prefix_typo), T(pk_secret_key_given),
		T(pk_signature_given), T(pk_comment_too_long), T(pk_over_cap),

		T(sig_ed_ok), T(sig_no_final_lf_ok), T(sig_empty_trusted_comment_ok),
		T(sig_comment_at_cap_ok), T(sig_empty), T(sig_one_line), T(sig_two_lines),
		T(sig_no_global), T(sig_no_untrusted_comment), T(sig_extra_line),
		T(sig_extra_blank_line), T(sig_two_signatures), T(sig_untrusted_prefix_case),
		T(sig_untrusted_prefix_nospace), T(sig_trusted_prefix_wrong),
		T(sig_trusted_as_untrusted), T(sig_lines_swapped), T(sig_bad_base64_sig),
		T(sig_bad_base64_global), T(sig_base64_url_variant), T(sig_space_in_base64),
		T(sig_sig_short), T(sig_sig_long), T(sig_global_short), T(sig_global_in_sig_slot),
		T(sig_unknown_alg), T(sig_trusted_comment_over_cap),
		T(sig_untrusted_comment_over_cap), T(sig_crlf), T(sig_cr_in_comment),
		T(sig_nul_at_end), T(sig_nul_in_trusted_comment), T(sig_over_cap),

		T(verify_ed_ok), T(verify_legacy_refused), T(verify_legacy_allowed),
		T(verify_ed_relabelled_legacy), T(verify_legacy_relabelled_ed),
		T(verify_unknown_alg), T(verify_no_keys), T(verify_wrong_key),
		T(verify_same_keyid_wrong_pk), T(verify_msg_flipped), T(verify_msg_truncated),
		T(verify_msg_extended), T(verify_msg_empty), T(verify_sig_flipped),
		T(verify_sig_last_byte_flipped), T(verify_comment_flipped),
		T(verify_comment_truncated), T(verify_comment_swapped_in), T(verify_global_flipped),
		T(verify_global_from_other_sig), T(verify_comment_over_cap),
		T(verify_rotation_second_key), T(verify_rotation_old_key_dropped),
		T(verify_rotation_keyid_clash),

		T(sk_minisign_unencrypted_ok), T(keygen_unencrypted_roundtrip),
		T(keygen_encrypted_roundtrip), T(keygen_keys_differ), T(sk_encrypted_damaged),
		T(sk_unencrypted_chk_damaged), T(sk_unencrypted_seed_damaged),
		T(sk_unencrypted_pk_half_damaged), T(sk_unknown_kdf), T(sk_unknown_sig_alg),
		T(sk_unknown_chk_alg), T(sk_huge_memlimit_refused_before_password), T(sk_truncated),
		T(sk_public_key_given), T(sk_key_line_only), T(sk_extra_line), T(sk_crlf),
		T(sk_empty), T(sign_comment_with_lf), T(sign_comment_with_cr),
		T(sign_comment_over_cap), T(sign_buffer_too_small), T(sign_comment_at_cap_ok),
		T(default_comment_like_minisign),

		TT(cmd_keygen_and_sign), TT(cmd_sign_encrypted_password_on_stdin),
		TT(cmd_keygen_needs_both_files), TT(cmd_keygen_same_file),
		TT(cmd_keygen_unknown_option), TT(cmd_keygen_no_password),
		TT(cmd_keygen_empty_password), TT(cmd_sign_needs_dir), TT(cmd_sign_no_manifest),
		TT(cmd_sign_not_a_manifest), TT(cmd_sign_public_key_given),
		TT(cmd_sign_comment_with_lf),

		TT(interop_minisign_signs_we_verify), TT(interop_we_sign_minisign_verifies),
		TT(interop_our_encrypted_key_in_minisign),
		TT(interop_minisign_encrypted_key_we_sign),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
