/* test_manifest: the manifest parser as a threat model. One valid manifest
 * (BASE) is mutated once per rule; each mutation must be refused with
 * NK_E_MANIFEST and a message naming the line and key. A few exact
 * boundaries and the writer's round trip are the success cases.
 *
 * BASE was written by hand from DESIGN.md's example. Its digests are the
 * FIPS 180-2 SHA-256 of "abc" (kernel) and of "" (initrd): well-known
 * values, since the manifest alone does not bind a digest to a size. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "manifest.h"

#define H_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define H_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const char BASE[] =
    "nixos-kexec-manifest 1\n"
    "name nixos-25.11-x86_64\n"
    "version 20261124001\n"
    "arch x86_64\n"
    "issued 1795527343\n"
    "expires 1798119343\n"
    "kernel bzImage 11534336 sha256:" H_ABC "\n"
    "initrd initrd 402653184 sha256:" H_EMPTY "\n"
    "cmdline init=/nix/store/aaaa-nixos-system/init console=ttyS0,115200 panic=30 loglevel=4\n";

#define CMDLINE_BASE "init=/nix/store/aaaa-nixos-system/init console=ttyS0,115200 panic=30 loglevel=4"
#define BUF_BYTES (MANIFEST_MAX_BYTES + 64)

/* Lines made at start-up (too long to write out): "KEY " + N repeats. */
static char name_128[160], name_129[160], arch_32[64], arch_33[64], file_128[320],
    file_129[320], cmdline_4096[4200], cmdline_4097[4200], line_4201[4300];

/* Replaces the first `from` in BASE by `to`; fails the test when `from`
 * is absent, so a mistyped vector cannot pass by parsing BASE. */
static size_t
mutate(const char *from, const char *to, char *out, size_t cap)
{
	const char *at = strstr(BASE, from);
	size_t pre, fl = strlen(from), tl = strlen(to), n;

	assert_non_null(at);
	pre = (size_t)(at - BASE);
	n = strlen(BASE) - fl + tl;
	assert_true(n <= cap);
	memcpy(out, BASE, pre);
	memcpy(out + pre, to, tl);
	memcpy(out + pre + tl, at + fl, strlen(at + fl));
	return n;
}

static int
all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

/* Parse must fail with NK_E_MANIFEST, a message holding `want`, and a
 * zeroed result. */
static void
assert_refused(const char *buf, size_t len, const char *want)
{
	struct manifest m;
	struct nk_err e = { "" };
	int rc;

	memset(&m, 0xa5, sizeof(m));
	rc = manifest_parse((const uint8_t *)buf, len, &m, &e);
	if (rc != NK_E_MANIFEST || strstr(e.msg, want) == NULL) {
		print_error("rc %d, message \"%s\"; wanted NK_E_MANIFEST and \"%s\"\n", rc,
		    e.msg, want);
		fail();
	}
	assert_true(all_zero(&m, sizeof(m)));
}

struct vec {
	const char *name, *from, *to, *want;
};

/* One rule broken per line: the text `from` in BASE becomes `to`. */
static const struct vec rejects[] = {
	/* magic and framing */
	{ "magic_misspelt", "nixos-kexec-manifest 1\n", "nixos-kexec-manifst 1\n", "line 1: not a nixos-kexec manifest" },
	{ "magic_format_2_no_store", "nixos-kexec-manifest 1\n", "nixos-kexec-manifest 2\n", "key 'store' missing" },
	{ "magic_format_3", "nixos-kexec-manifest 1\n", "nixos-kexec-manifest 3\n", "line 1: format 3 is a newer bundle format than this agent reads (formats 1 to 2)" },
	{ "magic_format_10", "nixos-kexec-manifest 1\n", "nixos-kexec-manifest 10\n", "format 10 is a newer bundle format" },
	{ "magic_format_0", "nixos-kexec-manifest 1\n", "nixos-kexec-manifest 0\n", "format '0' is not supported" },
	{ "magic_format_02", "nixos-kexec-manifest 1\n", "nixos-kexec-manifest 02\n", "format '02' is not supported" },
	{ "store_in_format_1", "cmdline init=", "store nix-store.squashfs 5 sha256:" H_ABC "\ncmdline init=", "line 9 (store): a store is format 2" },
	{ "magic_absent", "nixos-kexec-manifest 1\n", "", "line 1: not a nixos-kexec manifest" },
	{ "magic_trailing_space", "nixos-kexec-manifest 1\n", "nixos-kexec-manifest 1 \n", "line 1" },
	{ "magic_crlf", "nixos-kexec-manifest 1\n", "nixos-kexec-manifest 1\r\n", "line 1, column 23: carriage return" },
	{ "magic_bom", "nixos-kexec-manifest 1\n", "\xef\xbb\xbfnixos-kexec-manifest 1\n", "line 1, column 1: non-ASCII" },
	{ "no_final_lf", "loglevel=4\n", "loglevel=4", "line 9: no LF at the end" },
	{ "empty_line_at_end", "loglevel=4\n", "loglevel=4\n\n", "line 10: empty line" },
	{ "empty_line_inside", "arch x86_64\n", "arch x86_64\n\n", "line 5: empty line" },
	/* keys */
	{ "unknown_key", "arch x86_64\n", "arch x86_64\nsignature abc\n", "line 5: unknown key 'signature'" },
	{ "unknown_key_case", "version 20261124001", "Version 20261124001", "line 3: unknown key 'Version'" },
	{ "unknown_key_no_value", "arch x86_64\n", "arch x86_64\nfoo\n", "line 5: unknown key 'foo'" },
	{ "repeated_key", "arch x86_64\n", "arch x86_64\narch x86_64\n", "line 5: key 'arch' repeated (first on line 4)" },
	{ "repeated_cmdline", "issued", "cmdline x\nissued", "line 10: key 'cmdline' repeated (first on line 5)" },
	{ "missing_name", "name nixos-25.11-x86_64\n", "", "key 'name' missing" },
	{ "missing_version", "version 20261124001\n", "", "key 'version' missing" },
	{ "missing_arch", "arch x86_64\n", "", "key 'arch' missing" },
	{ "missing_issued", "issued 1795527343\n", "", "key 'issued' missing" },
	{ "missing_expires", "expires 1798119343\n", "", "key 'expires' missing" },
	{ "commented_out_kernel", "kernel bzImage", "#kernel bzImage", "line 7: unknown key '#kernel'" },
	{ "missing_kernel_line", "kernel bzImage 11534336 sha256:" H_ABC "\n", "", "key 'kernel' missing" },
	{ "missing_initrd", "initrd initrd 402653184 sha256:" H_EMPTY "\n", "", "key 'initrd' missing" },
	{ "missing_cmdline", "cmdline " CMDLINE_BASE "\n", "", "key 'cmdline' missing" },
	/* bytes */
	{ "cr_in_line", "version 20261124001\n", "version 20261124001\r\n", "line 3, column 20: carriage return" },
	{ "tab_separator", "arch x86_64", "arch\tx86_64", "line 4, column 5: tab" },
	{ "vertical_tab", "arch x86_64", "arch\vx86_64", "line 4, column 5: control character" },
	{ "del_byte", "panic=30", "panic=30\x7f", "line 9, column 77: control character (0x7f)" },
	{ "escape_byte", "panic=30", "\x1b[2Jpanic=30", "control character (0x1b)" },
	{ "utf8_in_cmdline", "console=ttyS0", "console=tty\xc3\xa9S0", "line 9, column 59: non-ASCII byte" },
	{ "utf8_lookalike_name", "name nixos", "name nix\xd0\xbes", "line 2, column 9: non-ASCII byte" },
	{ "latin1_byte", "arch x86_64", "arch x86_64\xff", "line 4, column 12: non-ASCII" },
	/* spaces */
	{ "trailing_space", "arch x86_64\n", "arch x86_64 \n", "line 4: key 'arch': trailing space" },
	{ "trailing_space_cmdline", "loglevel=4\n", "loglevel=4 \n", "line 9: key 'cmdline': trailing space" },
	{ "double_space_after_key", "arch x86_64", "arch  x86_64", "line 4: key 'arch': more than one space" },
	{ "double_space_in_artifact", "bzImage 11534336", "bzImage  11534336", "line 7 (kernel): more than one space" },
	{ "leading_space", "arch x86_64", " arch x86_64", "line 4: leading space" },
	{ "key_without_value", "arch x86_64", "arch", "line 4: key 'arch' has no value" },
	{ "key_space_no_value", "arch x86_64", "arch ", "line 4: key 'arch' has no value" },
	{ "cmdline_empty", "cmdline " CMDLINE_BASE, "cmdline ", "line 9: key 'cmdline' has no value" },
	{ "cmdline_bare", "cmdline " CMDLINE_BASE, "cmdline", "line 9: key 'cmdline' has no value" },
	{ "space_in_name", "name nixos-25.11", "name nixos 25.11", "line 2 (name): ' ' (column 6)" },
	{ "space_in_number", "version 20261124001", "version 2026 1124001", "line 3 (version): '2026 1124001' is not a decimal" },
	/* numbers */
	{ "version_leading_zero", "version 20261124001", "version 020261124001", "line 3 (version): '020261124001' has a leading zero" },
	{ "version_00", "version 20261124001", "version 00", "line 3 (version): '00' has a leading zero" },
	{ "version_2_pow_64", "version 20261124001", "version 18446744073709551616", "line 3 (version): '18446744073709551616' does not fit in 64 bits" },
	{ "version_21_digits", "version 20261124001", "version 100000000000000000000", "does not fit in 64 bits" },
	{ "version_negative", "version 20261124001", "version -1", "line 3 (version): '-1' has a sign" },
	{ "version_plus", "version 20261124001", "version +1", "'+1' has a sign" },
	{ "version_hex", "version 20261124001", "version 0x10", "'0x10' is not a decimal number" },
	{ "version_exponent", "version 20261124001", "version 1e9", "'1e9' is not a decimal number" },
	{ "issued_leading_zero", "issued 1795527343", "issued 01795527343", "line 5 (issued): '01795527343' has a leading zero" },
	{ "expires_equal_issued", "expires 1798119343", "expires 1795527343", "line 6 (expires): 1795527343 is not after issued 1795527343 (line 5)" },
	{ "expires_before_issued", "expires 1798119343", "expires 1", "line 6 (expires): 1 is not after issued" },
	/* artifacts */
	{ "size_zero", "bzImage 11534336", "bzImage 0", "line 7 (kernel): size 0 is outside 1..17179869184" },
	{ "size_16GiB_plus_1", "bzImage 11534336", "bzImage 17179869185", "line 7 (kernel): size 17179869185 is outside" },
	{ "size_2_pow_64", "bzImage 11534336", "bzImage 18446744073709551616", "line 7 (kernel): size: '18446744073709551616' does not fit" },
	{ "size_leading_zero", "initrd 402653184", "initrd 0402653184", "line 8 (initrd): size: '0402653184' has a leading zero" },
	{ "size_negative", "bzImage 11534336", "bzImage -11534336", "line 7 (kernel): size: '-11534336' has a sign" },
	{ "hex_uppercase", "sha256:ba7816bf", "sha256:BA7816BF", "line 7 (kernel): sha256 must be lowercase hex" },
	{ "hex_63_digits", H_ABC "\n", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a\n", "line 7 (kernel): sha256 has 63 digits, not 64" },
	{ "hex_65_digits", H_ABC "\n", H_ABC "0\n", "sha256 has 65 digits" },
	{ "hex_non_hex", "sha256:ba7816bf", "sha256:ga7816bf", "sha256 must be lowercase hex" },
	{ "hex_empty", "sha256:" H_ABC, "sha256:", "sha256 has 0 digits" },
	{ "prefix_sha512", "sha256:" H_ABC, "sha512:" H_ABC, "line 7 (kernel): hash 'sha512:ba78" },
	{ "prefix_uppercase", "sha256:" H_ABC, "SHA256:" H_ABC, "does not start with 'sha256:'" },
	{ "prefix_absent", "sha256:" H_ABC, H_ABC, "does not start with 'sha256:'" },
	{ "artifact_two_fields", "bzImage 11534336 ", "bzImage ", "line 7 (kernel): 2 fields, expected 'FILE SIZE sha256:HEX'" },
	{ "artifact_one_field", "initrd initrd 402653184 sha256:" H_EMPTY, "initrd initrd", "line 8 (initrd): 1 field," },
	{ "artifact_four_fields", H_ABC "\n", H_ABC " extra\n", "line 7 (kernel): more than 3 fields" },
	{ "file_absolute", "kernel bzImage", "kernel /boot/bzImage", "line 7 (kernel): file name '/boot/bzImage' is not allowed" },
	{ "file_dotdot", "kernel bzImage", "kernel ..", "file name '..' is not allowed" },
	{ "file_dot", "kernel bzImage", "kernel .", "file name '.' is not allowed" },
	{ "file_traversal", "kernel bzImage", "kernel ../../etc/shadow", "file name '../../etc/shadow'" },
	{ "file_subdir", "kernel bzImage", "kernel a/b", "file name 'a/b' is not allowed" },
	{ "file_dash", "kernel bzImage", "kernel -x", "file name '-x' is not allowed" },
	{ "file_hidden", "kernel bzImage", "kernel .hidden", "file name '.hidden' is not allowed" },
	{ "file_colon", "kernel bzImage", "kernel a:b", "file name 'a:b' is not allowed" },
	{ "file_percent", "kernel bzImage", "kernel a%2fb", "file name 'a%2fb' is not allowed" },
	{ "file_manifest", "initrd initrd", "initrd manifest", "line 8 (initrd): file name 'manifest' is not allowed" },
	{ "file_manifest_minisig", "initrd initrd", "initrd manifest.minisig", "file name 'manifest.minisig'" },
	{ "file_same_as_kernel", "initrd initrd", "initrd bzImage", "line 8 (initrd): file 'bzImage' is the kernel's too (line 7)" },
	/* name and arch */
	{ "name_slash", "name nixos-25.11", "name nixos/25.11", "line 2 (name): '/' (column 6) is not allowed" },
	{ "name_colon", "name nixos-25.11", "name nixos:25.11", "':' (column 6)" },
	{ "arch_uppercase", "arch x86_64", "arch X86_64", "line 4 (arch): 'X86_64' is not a machine name" },
	{ "arch_dash", "arch x86_64", "arch x86-64", "line 4 (arch): 'x86-64'" },
	{ "arch_dot", "arch x86_64", "arch x86.64", "'x86.64' is not a machine name" },
};

/* Rows whose `to` is made at start-up. */
static const struct vec rejects_long[] = {
	{ "name_129_bytes", "name nixos-25.11-x86_64", name_129, "line 2 (name): 129 bytes, more than the 128 allowed" },
	{ "arch_33_bytes", "arch x86_64", arch_33, "line 4 (arch): 33 bytes, more than the 32 allowed" },
	{ "file_129_bytes", "kernel bzImage", file_129, "line 7 (kernel): file name 'aaaa" },
	{ "cmdline_4097_bytes", "cmdline " CMDLINE_BASE, cmdline_4097, "line 9 (cmdline): 4097 bytes, more than the 4096 allowed" },
	{ "line_4201_bytes", "cmdline " CMDLINE_BASE, line_4201, "line 9: longer than 4200 bytes" },
};

/* Exact boundaries and harmless variations that must still parse. */
static const struct vec accepts[] = {
	{ "name_128_bytes", "name nixos-25.11-x86_64", name_128, NULL },
	{ "arch_32_bytes", "arch x86_64", arch_32, NULL },
	{ "file_128_bytes", "kernel bzImage", file_128, NULL },
	{ "cmdline_4096_bytes", "cmdline " CMDLINE_BASE, cmdline_4096, NULL },
	{ "cmdline_inner_spaces", "panic=30", "foo=\"a  b\"", NULL },
	{ "version_0", "version 20261124001", "version 0", NULL },
	{ "version_2_pow_64_minus_1", "version 20261124001", "version 18446744073709551615", NULL },
	{ "issued_0", "issued 1795527343", "issued 0", NULL },
	{ "size_1", "bzImage 11534336", "bzImage 1", NULL },
	{ "size_16GiB", "bzImage 11534336", "bzImage 17179869184", NULL },
	{ "name_all_classes", "name nixos-25.11-x86_64", "name Az09._+-", NULL },
	{ "file_all_classes", "kernel bzImage", "kernel 0aZ._-", NULL },
	{ "file_manifest_prefix", "kernel bzImage", "kernel manifest2", NULL },
	{ "keys_reordered", "arch x86_64\nissued 1795527343\n", "issued 1795527343\narch x86_64\n", NULL },
};

static void
test_reject(void **state)
{
	const struct vec *v = *state;
	char *buf = malloc(BUF_BYTES);
	size_t n;

	assert_non_null(buf);
	n = mutate(v->from, v->to, buf, BUF_BYTES);
	assert_refused(buf, n, v->want);
	free(buf);
}

static void
test_accept(void **state)
{
	const struct vec *v = *state;
	struct nk_err e = { "" };
	struct manifest m;
	char *buf = malloc(BUF_BYTES);
	size_t n;
	int rc;

	assert_non_null(buf);
	n = mutate(v->from, v->to, buf, BUF_BYTES);
	rc = manifest_parse((const uint8_t *)buf, n, &m, &e);
	if (rc != 0)
		print_error("%s\n", e.msg);
	assert_int_equal(rc, 0);
	free(buf);
}

/* BASE decoded field by field. */
static void
test_parse_fields(void **state)
{
	struct nk_err e = { "" };
	struct manifest m;
	uint8_t abc[SHA256_BYTES], empty[SHA256_BYTES];

	assert_int_equal(manifest_parse((const uint8_t *)BASE, strlen(BASE), &m, &e), 0);
	assert_string_equal(m.name, "nixos-25.11-x86_64");
	assert_true(m.version == 20261124001ULL);
	assert_string_equal(m.arch, "x86_64");
	assert_true(m.issued == 1795527343ULL && m.expires == 1798119343ULL);
	assert_string_equal(m.kernel.file, "bzImage");
	assert_true(m.kernel.size == 11534336ULL);
	assert_string_equal(m.initrd.file, "initrd");
	assert_true(m.initrd.size == 402653184ULL);
	assert_int_equal(sha256_unhex(H_ABC, 64, abc), 0);
	assert_int_equal(sha256_unhex(H_EMPTY, 64, empty), 0);
	assert_memory_equal(m.kernel.sha256, abc, SHA256_BYTES);
	assert_memory_equal(m.initrd.sha256, empty, SHA256_BYTES);
	assert_string_equal(m.cmdline, CMDLINE_BASE);
}

/* parse then write gives BASE back byte for byte (it is canonical). */
static void
test_round_trip(void **state)
{
	char out[MANIFEST_WRITE_MAX_BYTES];
	struct manifest m, m2;
	struct nk_err e = { "" };
	size_t n = 0;

	assert_int_equal(manifest_parse((const uint8_t *)BASE, strlen(BASE), &m, &e), 0);
	assert_int_equal(manifest_write(&m, out, sizeof(out), &n, &e), 0);
	assert_int_equal(n, strlen(BASE));
	assert_memory_equal(out, BASE, n);
	assert_int_equal(manifest_parse((const uint8_t *)out, n, &m2, &e), 0);
	assert_memory_equal(&m, &m2, sizeof(m));
}

/* Keys in another order parse to the same thing; the writer restores
 * DESIGN.md's order. */
static void
test_write_canonical_order(void **state)
{
	char in[BUF_BYTES], out[MANIFEST_WRITE_MAX_BYTES];
	struct nk_err e = { "" };
	struct manifest m;
	size_t n, on = 0;

	n = mutate("name nixos-25.11-x86_64\n", "", in, sizeof(in));
	memcpy(in + n, "name nixos-25.11-x86_64\n", 24);
	n += 24;
	assert_int_equal(manifest_parse((const uint8_t *)in, n, &m, &e), 0);
	assert_int_equal(manifest_write(&m, out, sizeof(out), &on, &e), 0);
	assert_int_equal(on, strlen(BASE));
	assert_memory_equal(out, BASE, on);
}

static void
base(struct manifest *m)
{
	struct nk_err e = { "" };

	assert_int_equal(manifest_parse((const uint8_t *)BASE, strlen(BASE), m, &e), 0);
}

/* The writer refuses a struct the parser would refuse, and writes nothing. */
static void
assert_write_refused(const struct manifest *m, const char *want)
{
	char out[MANIFEST_WRITE_MAX_BYTES];
	struct nk_err e = { "" };
	size_t n = 12345;
	int rc;

	memset(out, 'X', sizeof(out));
	rc = manifest_write(m, out, sizeof(out), &n, &e);
	if (rc != NK_E_MANIFEST || strstr(e.msg, want) == NULL ||
	    strstr(e.msg, "refusing to write") == NULL) {
		print_error("rc %d, message \"%s\"; wanted \"%s\"\n", rc, e.msg, want);
		fail();
	}
	assert_int_equal(n, 12345);
	assert_int_equal(out[0], 'X');
}

static void
test_write_refuses_newline_injection(void **state)
{
	struct manifest m;

	base(&m);
	/* A field smuggling a second key must not become two lines. */
	strcpy(m.cmdline, "quiet\nversion 99");
	assert_write_refused(&m, "cmdline contains a line break");
}

static void
test_write_refuses_newline_in_file(void **state)
{
	struct manifest m;

	base(&m);
	strcpy(m.initrd.file, "initrd\n");
	assert_write_refused(&m, "initrd file contains a line break");
}

static void
test_write_refuses_cr(void **state)
{
	struct manifest m;

	base(&m);
	strcpy(m.cmdline, "quiet\r");
	assert_write_refused(&m, "carriage return");
}

static void
test_write_refuses_empty_name(void **state)
{
	struct manifest m;

	base(&m);
	m.name[0] = '\0';
	assert_write_refused(&m, "key 'name' has no value");
}

static void
test_write_refuses_unterminated_name(void **state)
{
	struct manifest m;

	base(&m);
	/* No NUL anywhere in name[]: the writer must not read past it. */
	memset(m.name, 'n', sizeof(m.name));
	assert_write_refused(&m, "129 bytes, more than the 128 allowed");
}

static void
test_write_refuses_unterminated_cmdline(void **state)
{
	struct manifest m;

	base(&m);
	memset(m.cmdline, 'c', sizeof(m.cmdline));
	assert_write_refused(&m, "4097 bytes, more than the 4096 allowed");
}

static void
test_write_refuses_size_0(void **state)
{
	struct manifest m;

	base(&m);
	m.initrd.size = 0;
	assert_write_refused(&m, "(initrd): size 0 is outside");
}

static void
test_write_refuses_huge_size(void **state)
{
	struct manifest m;

	base(&m);
	m.kernel.size = UINT64_MAX;
	assert_write_refused(&m, "(kernel): size 18446744073709551615 is outside");
}

static void
test_write_refuses_expired_order(void **state)
{
	struct manifest m;

	base(&m);
	m.expires = m.issued;
	assert_write_refused(&m, "is not after issued");
}

static void
test_write_refuses_same_file(void **state)
{
	struct manifest m;

	base(&m);
	strcpy(m.initrd.file, m.kernel.file);
	assert_write_refused(&m, "is the kernel's too");
}

static void
test_write_refuses_manifest_file(void **state)
{
	struct manifest m;

	base(&m);
	strcpy(m.kernel.file, "manifest.minisig");
	assert_write_refused(&m, "file name 'manifest.minisig' is not allowed");
}

static void
test_write_refuses_bad_arch(void **state)
{
	struct manifest m;

	base(&m);
	strcpy(m.arch, "x86 64");
	assert_write_refused(&m, "is not a machine name");
}

static void
test_write_refuses_space_in_file(void **state)
{
	struct manifest m;

	base(&m);
	strcpy(m.kernel.file, "a 1 sha256:");
	assert_write_refused(&m, "more than 3 fields");
}

static void
test_write_buffer_too_small(void **state)
{
	char out[MANIFEST_WRITE_MAX_BYTES];
	struct nk_err e = { "" };
	struct manifest m;
	size_t n = 7;

	base(&m);
	assert_int_equal(manifest_write(&m, out, strlen(BASE) - 1, &n, &e), NK_E_SIZE);
	assert_non_null(strstr(e.msg, "buffer holds"));
	assert_int_equal(n, 7);
	assert_int_equal(manifest_write(&m, out, 0, &n, &e), NK_E_SIZE);
}

static void
test_write_buffer_exact(void **state)
{
	char out[sizeof(BASE) - 1];
	struct nk_err e = { "" };
	struct manifest m;
	size_t n = 0;

	base(&m);
	assert_int_equal(manifest_write(&m, out, sizeof(out), &n, &e), 0);
	assert_int_equal(n, sizeof(out));
}

/* Framing the table cannot express: binary bytes, sizes, empty input. */
static void
test_nul_byte(void **state)
{
	char buf[BUF_BYTES];
	size_t n = mutate("arch x86_64\n", "arch x86_64@\n", buf, sizeof(buf));

	*strchr(buf, '@') = '\0';
	assert_refused(buf, n, "line 4, column 12: NUL byte");
}

static void
test_nul_after_final_lf(void **state)
{
	char buf[BUF_BYTES];
	size_t n = strlen(BASE);

	memcpy(buf, BASE, n);
	buf[n++] = '\0';
	assert_refused(buf, n, "line 10, column 1: NUL byte");
}

static void
test_empty_input(void **state)
{
	assert_refused("", 0, "manifest: empty");
}

static void
test_only_magic(void **state)
{
	const char m[] = "nixos-kexec-manifest 1\n";

	assert_refused(m, strlen(m), "key 'name' missing (the manifest ends at line 1");
}

static void
test_oversize(void **state)
{
	char *buf = malloc(MANIFEST_MAX_BYTES + 1);
	size_t n = strlen(BASE);

	/* BASE, then printable padding to 64 KiB + 1: the cap comes first. */
	assert_non_null(buf);
	memset(buf, 'x', MANIFEST_MAX_BYTES + 1);
	memcpy(buf, BASE, n);
	assert_refused(buf, MANIFEST_MAX_BYTES + 1, "65537 bytes, more than the 65536 allowed");
	free(buf);
}

static void
test_file_name_ok(void **state)
{
	assert_true(manifest_file_name_ok("bzImage", 7));
	assert_true(manifest_file_name_ok("initrd.zst", 10));
	assert_false(manifest_file_name_ok("", 0));
	assert_false(manifest_file_name_ok(".", 1));
	assert_false(manifest_file_name_ok("..", 2));
	assert_false(manifest_file_name_ok("_x", 2));
	assert_false(manifest_file_name_ok("a/b", 3));
	assert_false(manifest_file_name_ok("a\\b", 3));
	assert_false(manifest_file_name_ok("a b", 3));
	assert_false(manifest_file_name_ok("manifest", 8));
	assert_false(manifest_file_name_ok("manifest.minisig", 16));
	/* The length given is what counts, not a NUL: "ab\0c" is refused. */
	assert_false(manifest_file_name_ok("ab\0c", 4));
	assert_true(manifest_file_name_ok(file_128 + 7, 128));
	assert_false(manifest_file_name_ok(file_129 + 7, 129));
}

static void
test_parse_u64(void **state)
{
	uint64_t v = 7;

	assert_int_equal(manifest_parse_u64("0", 1, &v), 0);
	assert_true(v == 0);
	assert_int_equal(manifest_parse_u64("18446744073709551615", 20, &v), 0);
	assert_true(v == UINT64_MAX);
	v = 7;
	assert_int_equal(manifest_parse_u64("", 0, &v), -1);
	assert_int_equal(manifest_parse_u64("18446744073709551616", 20, &v), -1);
	assert_int_equal(manifest_parse_u64("99999999999999999999", 20, &v), -1);
	assert_int_equal(manifest_parse_u64("01", 2, &v), -1);
	assert_int_equal(manifest_parse_u64("-0", 2, &v), -1);
	assert_int_equal(manifest_parse_u64(" 1", 2, &v), -1);
	assert_int_equal(manifest_parse_u64("1 ", 2, &v), -1);
	assert_true(v == 7); /* untouched on failure */
}

static void
fill(char *dst, size_t cap, const char *key, char c, size_t n, const char *tail)
{
	size_t kl = strlen(key), tl = strlen(tail);

	assert_true(kl + n + tl < cap);
	memcpy(dst, key, kl);
	memset(dst + kl, c, n);
	memcpy(dst + kl + n, tail, tl + 1);
}

/* Format 2: BASE with the magic 2 and a store line (the digest of "abc"
 * again: only the syntax matters here). */
static size_t
base2(const char *store_line, char *out, size_t cap)
{
	char tmp[BUF_BYTES];
	size_t n = mutate("nixos-kexec-manifest 1\n", "nixos-kexec-manifest 2\n", tmp, sizeof(tmp));
	const char *at;
	size_t pre;

	tmp[n] = '\0';
	at = strstr(tmp, "cmdline ");
	assert_non_null(at);
	pre = (size_t)(at - tmp);
	assert_true(n + strlen(store_line) <= cap);
	memcpy(out, tmp, pre);
	memcpy(out + pre, store_line, strlen(store_line));
	memcpy(out + pre + strlen(store_line), at, n - pre);
	return n + strlen(store_line);
}

static void
test_store_format_2(void **state)
{
	char buf[BUF_BYTES], w[MANIFEST_WRITE_MAX_BYTES];
	struct manifest m;
	struct nk_err e = { "" };
	size_t n, wl;

	(void)state;
	n = base2("store nix-store.squashfs 419430400 sha256:" H_ABC "\n", buf, sizeof(buf));
	assert_int_equal(manifest_parse((const uint8_t *)buf, n, &m, &e), 0);
	assert_int_equal(m.format, 2);
	assert_int_equal(m.has_store, 1);
	assert_string_equal(m.store.file, "nix-store.squashfs");
	assert_true(m.store.size == 419430400ULL);
	assert_int_equal(m.store.sha256[0], 0xba);
	/* the writer says 2 and puts the store after the initrd: byte for byte */
	assert_int_equal(manifest_write(&m, w, sizeof(w), &wl, &e), 0);
	assert_int_equal(wl, n);
	assert_memory_equal(w, buf, n);
	/* without the store, the writer says 1 */
	m.has_store = 0;
	assert_int_equal(manifest_write(&m, w, sizeof(w), &wl, &e), 0);
	assert_memory_equal(w, "nixos-kexec-manifest 1\n", 23);
	assert_int_equal(manifest_parse((const uint8_t *)BASE, strlen(BASE), &m, &e), 0);
	assert_int_equal(m.format, 1);
	assert_int_equal(m.has_store, 0);
}

static void
test_store_refusals(void **state)
{
	char buf[BUF_BYTES];
	size_t n;

	(void)state;
	n = base2("store initrd 5 sha256:" H_ABC "\n", buf, sizeof(buf));
	assert_refused(buf, n, "manifest line 9 (store): file 'initrd' is the initrd's too");
	n = base2("store bzImage 5 sha256:" H_ABC "\n", buf, sizeof(buf));
	assert_refused(buf, n, "file 'bzImage' is the kernel's too");
	n = base2("store s 5 sha256:" H_ABC "\nstore t 5 sha256:" H_ABC "\n", buf, sizeof(buf));
	assert_refused(buf, n, "key 'store' repeated (first on line 9)");
	n = base2("store s 0 sha256:" H_ABC "\n", buf, sizeof(buf));
	assert_refused(buf, n, "(store): size 0 is outside");
	n = base2("store s 5 sha256:" H_EMPTY "x\n", buf, sizeof(buf));
	assert_refused(buf, n, "(store): sha256 has 65 digits");
	n = base2("store manifest 5 sha256:" H_ABC "\n", buf, sizeof(buf));
	assert_refused(buf, n, "(store): file name 'manifest' is not allowed");
	n = base2("store s 5\n", buf, sizeof(buf));
	assert_refused(buf, n, "(store): 2 fields");
}

#define ROWS(a) (sizeof(a) / sizeof((a)[0]))

int
main(void)
{
	static const struct CMUnitTest plain[] = {
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_write_canonical_order),
		cmocka_unit_test(test_write_buffer_exact),
		cmocka_unit_test(test_file_name_ok),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_nul_after_final_lf),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_only_magic),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_write_refuses_newline_injection),
		cmocka_unit_test(test_write_refuses_newline_in_file),
		cmocka_unit_test(test_write_refuses_cr),
		cmocka_unit_test(test_write_refuses_empty_name),
		cmocka_unit_test(test_write_refuses_unterminated_name),
		cmocka_unit_test(test_write_refuses_unterminated_cmdline),
		cmocka_unit_test(test_write_refuses_size_0),
		cmocka_unit_test(test_write_refuses_huge_size),
		cmocka_unit_test(test_write_refuses_expired_order),
		cmocka_unit_test(test_write_refuses_same_file),
		cmocka_unit_test(test_write_refuses_manifest_file),
		cmocka_unit_test(test_write_refuses_bad_arch),
		cmocka_unit_test(test_write_refuses_space_in_file),
		cmocka_unit_test(test_write_buffer_too_small),
		cmocka_unit_test(test_store_format_2),
		cmocka_unit_test(test_store_refusals),
	};
	struct CMUnitTest t[ROWS(plain) + ROWS(rejects) + ROWS(rejects_long) + ROWS(accepts)];
	size_t i, n = 0;

	/* The vectors too long to spell out: "KEY " + N copies of one byte. */
	fill(name_128, sizeof(name_128), "name ", 'n', 128, "");
	fill(name_129, sizeof(name_129), "name ", 'n', 129, "");
	fill(arch_32, sizeof(arch_32), "arch ", 'a', 32, "");
	fill(arch_33, sizeof(arch_33), "arch ", 'a', 33, "");
	fill(file_128, sizeof(file_128), "kernel ", 'a', 128, "");
	fill(file_129, sizeof(file_129), "kernel ", 'a', 129, "");
	fill(cmdline_4096, sizeof(cmdline_4096), "cmdline ", 'c', 4096, "");
	fill(cmdline_4097, sizeof(cmdline_4097), "cmdline ", 'c', 4097, "");
	fill(line_4201, sizeof(line_4201), "cmdline ", 'c', 4201 - 8, "");

	for (i = 0; i < ROWS(plain); i++)
		t[n++] = plain[i];
	for (i = 0; i < ROWS(rejects); i++)
		t[n++] = (struct CMUnitTest){ rejects[i].name, test_reject, NULL, NULL,
			(void *)&rejects[i] };
	for (i = 0; i < ROWS(rejects_long); i++)
		t[n++] = (struct CMUnitTest){ rejects_long[i].name, test_reject, NULL, NULL,
			(void *)&rejects_long[i] };
	for (i = 0; i < ROWS(accepts); i++)
		t[n++] = (struct CMUnitTest){ accepts[i].name, test_accept, NULL, NULL,
			(void *)&accepts[i] };
	return _cmocka_run_group_tests("manifest", t, n, NULL, NULL);
}
