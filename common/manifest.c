/* manifest: strict parser and canonical writer for bundle manifest formats
 * 1 and 2.
 *
 * The manifest is the one signed statement of what may be booted, so the
 * parser accepts exactly one spelling of each value and refuses everything
 * else with a sentence naming the line and the key. Decisions beyond
 * DESIGN.md, written down here so the writer, the fuzzer and the tests
 * agree:
 *
 *  - Bytes: printable ASCII (0x20..0x7e) and LF only. DESIGN.md says UTF-8;
 *    v1 is deliberately stricter: no field needs more than ASCII, and
 *    non-ASCII text invites look-alike names. CR, NUL, tab, other control
 *    bytes and any byte >= 0x80 (a BOM too) are errors.
 *  - Every line ends in LF, the last one too: a missing final LF means the
 *    file may be truncated, so it is refused rather than guessed complete.
 *    No empty lines.
 *  - Line 1 is exactly MANIFEST_MAGIC. The other keys may come in any order
 *    (DESIGN.md fixes none); manifest_write emits DESIGN.md's order.
 *  - "KEY VALUE": exactly one space after the key, no leading or trailing
 *    space, fields of kernel/initrd separated by exactly one space. cmdline
 *    is the rest of the line: non-empty, at most MANIFEST_CMDLINE_MAX_BYTES,
 *    no leading or trailing space, inner runs of spaces kept verbatim
 *    (kernel quoting may need them).
 *  - Numbers: unsigned decimal, no sign, no leading zero except "0" itself,
 *    fitting in 64 bits. Artifact sizes 1..MANIFEST_ARTIFACT_MAX_BYTES;
 *    expires > issued.
 *  - name: [A-Za-z0-9._+-], 1..MANIFEST_NAME_MAX_BYTES.
 *    arch: [a-z0-9_], 1..MANIFEST_ARCH_MAX_BYTES.
 *  - Artifacts: "FILE SIZE sha256:HEX", FILE per manifest_file_name_ok,
 *    HEX exactly 64 lowercase hex digits; kernel and initrd files differ.
 *  - Format 2 (MANIFEST_MAGIC_2) is format 1 plus exactly one `store`
 *    artifact line, same syntax, a file name unlike the other two. A
 *    format 1 manifest with a `store` line and a format 2 one without are
 *    both refused: one spelling each. A higher format is refused as a
 *    newer bundle format, naming it.
 *  - Every refusal is NK_E_MANIFEST (the text is a manifest problem even
 *    when the reason is a size).
 *
 * The writer formats and then runs the parser over its own output, so what
 * it refuses is by construction what the parser refuses: one rule set. (It
 * looks for LF inside fields first only to say so plainly.) */
#include "manifest.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SHA256_PREFIX "sha256:"
#define MSG_VALUE_BYTES 40 /* how much of an offending value a message quotes */

enum mkey {
	K_NAME,
	K_VERSION,
	K_ARCH,
	K_ISSUED,
	K_EXPIRES,
	K_KERNEL,
	K_INITRD,
	K_CMDLINE,
	K_STORE,
	K_COUNT
};

/* In canonical (DESIGN.md) order; indexes are enum mkey. */
static const char *const key_names[K_COUNT] = {
	"name", "version", "arch", "issued", "expires", "kernel", "initrd", "cmdline", "store",
};

/* Bytes of v quoted in a message, so a 4 KiB value cannot drown it. */
static int
quote_len(size_t n)
{
	return (int)(n < MSG_VALUE_BYTES ? n : MSG_VALUE_BYTES);
}

int
manifest_parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;
	unsigned d;

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Same rule as manifest_parse_u64, with a message saying which part of it
 * the value broke. */
static int
parse_number(const char *s, size_t n, uint64_t *out, struct nk_err *e)
{
	size_t i;

	if (manifest_parse_u64(s, n, out) == 0)
		return 0;
	if (n > 0 && (s[0] == '-' || s[0] == '+'))
		return nk_fail(e, NK_E_MANIFEST, "'%.*s' has a sign; numbers are unsigned decimal",
		    quote_len(n), s);
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return nk_fail(e, NK_E_MANIFEST, "'%.*s' is not a decimal number",
			    quote_len(n), s);
	if (n > 1 && s[0] == '0')
		return nk_fail(e, NK_E_MANIFEST, "'%.*s' has a leading zero", quote_len(n), s);
	return nk_fail(e, NK_E_MANIFEST, "'%.*s' does not fit in 64 bits", quote_len(n), s);
}

static int
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int
manifest_file_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > MANIFEST_FILE_MAX_BYTES || !is_alnum(s[0]))
		return 0;
	for (i = 1; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return 0;
	/* The bundle's own files: an artifact by that name would replace them. */
	if ((len == 8 && memcmp(s, "manifest", 8) == 0) ||
	    (len == 16 && memcmp(s, "manifest.minisig", 16) == 0))
		return 0;
	return 1;
}

/* Copies a validated value and terminates it; cap includes the NUL. */
static void
copy_str(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

static int
parse_name(const char *s, size_t n, struct manifest *m, struct nk_err *e)
{
	size_t i;

	if (n > MANIFEST_NAME_MAX_BYTES)
		return nk_fail(e, NK_E_MANIFEST, "%zu bytes, more than the %d allowed", n,
		    MANIFEST_NAME_MAX_BYTES);
	for (i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '+' && s[i] != '-')
			return nk_fail(e, NK_E_MANIFEST,
			    "'%c' (column %zu) is not allowed; names use [A-Za-z0-9._+-]",
			    s[i], i + 1);
	copy_str(m->name, sizeof(m->name), s, n);
	return 0;
}

static int
parse_arch(const char *s, size_t n, struct manifest *m, struct nk_err *e)
{
	size_t i;

	if (n > MANIFEST_ARCH_MAX_BYTES)
		return nk_fail(e, NK_E_MANIFEST, "%zu bytes, more than the %d allowed", n,
		    MANIFEST_ARCH_MAX_BYTES);
	for (i = 0; i < n; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= '0' && s[i] <= '9') && s[i] != '_')
			return nk_fail(e, NK_E_MANIFEST,
			    "'%.*s' is not a machine name as uname -m prints it ([a-z0-9_])",
			    quote_len(n), s);
	copy_str(m->arch, sizeof(m->arch), s, n);
	return 0;
}

/* "FILE SIZE sha256:HEX" */
static int
parse_artifact(const char *s, size_t n, struct manifest_artifact *a, struct nk_err *e)
{
	const char *f[3], *sp;
	size_t fl[3], i, rest = n;
	const char *p = s;
	size_t hl;

	for (i = 0; i < 3; i++) {
		sp = memchr(p, ' ', rest);
		f[i] = p;
		fl[i] = sp != NULL ? (size_t)(sp - p) : rest;
		if (i < 2 && sp == NULL)
			return nk_fail(e, NK_E_MANIFEST,
			    "%zu field%s, expected 'FILE SIZE sha256:HEX'", i + 1, i ? "s" : "");
		if (i == 2 && sp != NULL)
			return nk_fail(e, NK_E_MANIFEST,
			    "more than 3 fields, expected 'FILE SIZE sha256:HEX'");
		if (fl[i] == 0)
			return nk_fail(e, NK_E_MANIFEST,
			    "more than one space between fields; fields are separated by one space");
		if (sp != NULL) {
			rest -= fl[i] + 1;
			p = sp + 1;
		}
	}
	if (!manifest_file_name_ok(f[0], fl[0]))
		return nk_fail(e, NK_E_MANIFEST,
		    "file name '%.*s' is not allowed (it must match [A-Za-z0-9][A-Za-z0-9._-]*, "
		    "be at most %d bytes, and not be manifest or manifest.minisig)",
		    quote_len(fl[0]), f[0], MANIFEST_FILE_MAX_BYTES);
	copy_str(a->file, sizeof(a->file), f[0], fl[0]);
	if (parse_number(f[1], fl[1], &a->size, e) != 0) {
		nk_err_prefix(e, "size");
		return NK_E_MANIFEST;
	}
	if (a->size == 0 || a->size > MANIFEST_ARTIFACT_MAX_BYTES)
		return nk_fail(e, NK_E_MANIFEST, "size %llu is outside 1..%llu bytes",
		    (unsigned long long)a->size, (unsigned long long)MANIFEST_ARTIFACT_MAX_BYTES);
	hl = strlen(SHA256_PREFIX);
	if (fl[2] < hl || memcmp(f[2], SHA256_PREFIX, hl) != 0)
		return nk_fail(e, NK_E_MANIFEST, "hash '%.*s' does not start with 'sha256:'",
		    quote_len(fl[2]), f[2]);
	if (fl[2] - hl != 2 * SHA256_BYTES)
		return nk_fail(e, NK_E_MANIFEST, "sha256 has %zu digits, not %d", fl[2] - hl,
		    2 * SHA256_BYTES);
	if (sha256_unhex(f[2] + hl, fl[2] - hl, a->sha256) != 0)
		return nk_fail(e, NK_E_MANIFEST, "sha256 must be lowercase hex digits (0-9a-f)");
	return 0;
}

static int
parse_cmdline(const char *s, size_t n, struct manifest *m, struct nk_err *e)
{
	if (n > MANIFEST_CMDLINE_MAX_BYTES)
		return nk_fail(e, NK_E_MANIFEST, "%zu bytes, more than the %d allowed", n,
		    MANIFEST_CMDLINE_MAX_BYTES);
	copy_str(m->cmdline, sizeof(m->cmdline), s, n);
	return 0;
}

static int
parse_value(enum mkey k, const char *v, size_t n, struct manifest *m, struct nk_err *e)
{
	switch (k) {
	case K_NAME:
		return parse_name(v, n, m, e);
	case K_VERSION:
		return parse_number(v, n, &m->version, e);
	case K_ARCH:
		return parse_arch(v, n, m, e);
	case K_ISSUED:
		return parse_number(v, n, &m->issued, e);
	case K_EXPIRES:
		return parse_number(v, n, &m->expires, e);
	case K_KERNEL:
		return parse_artifact(v, n, &m->kernel, e);
	case K_INITRD:
		return parse_artifact(v, n, &m->initrd, e);
	case K_CMDLINE:
		return parse_cmdline(v, n, m, e);
	case K_STORE:
		if (m->format < 2)
			return nk_fail(e, NK_E_MANIFEST, "a store is format 2 ('%s'), this "
			    "manifest says format 1", MANIFEST_MAGIC_2);
		m->has_store = 1;
		return parse_artifact(v, n, &m->store, e);
	case K_COUNT:
		break;
	}
	return nk_fail(e, NK_E_INTERNAL, "manifest: bad key index");
}

/* Every byte printable ASCII; the line's LF is not part of s. */
static int
check_bytes(const uint8_t *s, size_t n, size_t lineno, struct nk_err *e)
{
	const char *why;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f)
			continue;
		if (s[i] == '\r')
			why = "carriage return (CR); manifests use LF line endings only";
		else if (s[i] == '\0')
			why = "NUL byte";
		else if (s[i] == '\t')
			why = "tab; fields are separated by a single space";
		else if (s[i] >= 0x80)
			why = "non-ASCII byte; format v1 manifests are printable ASCII only";
		else
			why = "control character";
		return nk_fail(e, NK_E_MANIFEST, "manifest line %zu, column %zu: %s (0x%02x)",
		    lineno, i + 1, why, s[i]);
	}
	return 0;
}

static int
parse_magic(const char *s, size_t n, unsigned *format, struct nk_err *e)
{
	static const char family[] = "nixos-kexec-manifest ";
	const char *v = s + strlen(family);
	size_t vl = n - strlen(family);
	uint64_t f;

	if (n == strlen(MANIFEST_MAGIC) && memcmp(s, MANIFEST_MAGIC, n) == 0) {
		*format = 1;
		return 0;
	}
	if (n == strlen(MANIFEST_MAGIC_2) && memcmp(s, MANIFEST_MAGIC_2, n) == 0) {
		*format = 2;
		return 0;
	}
	if (n > strlen(family) && memcmp(s, family, strlen(family)) == 0 &&
	    manifest_parse_u64(v, vl, &f) == 0 && f > MANIFEST_FORMAT_MAX)
		return nk_fail(e, NK_E_MANIFEST, "manifest line 1: format %llu is a newer bundle "
		    "format than this agent reads (formats 1 to %d): update the agent",
		    (unsigned long long)f, MANIFEST_FORMAT_MAX);
	if (n > strlen(family) && memcmp(s, family, strlen(family)) == 0)
		return nk_fail(e, NK_E_MANIFEST,
		    "manifest line 1: format '%.*s' is not supported (this agent reads '%s' "
		    "and '%s')", quote_len(vl), v, MANIFEST_MAGIC, MANIFEST_MAGIC_2);
	return nk_fail(e, NK_E_MANIFEST,
	    "manifest line 1: not a nixos-kexec manifest (the first line must be '%s')",
	    MANIFEST_MAGIC);
}

/* One "KEY VALUE" line after the magic; seen[k] holds the line of key k. */
static int
parse_line(const char *s, size_t n, size_t lineno, size_t seen[K_COUNT],
    struct manifest *m, struct nk_err *e)
{
	char where[64];
	const char *sp, *v;
	size_t kl, vl;
	int k, rc;

	if (n == 0)
		return nk_fail(e, NK_E_MANIFEST, "manifest line %zu: empty line", lineno);
	if (s[0] == ' ')
		return nk_fail(e, NK_E_MANIFEST, "manifest line %zu: leading space", lineno);
	sp = memchr(s, ' ', n);
	kl = sp != NULL ? (size_t)(sp - s) : n;
	for (k = 0; k < K_COUNT; k++)
		if (strlen(key_names[k]) == kl && memcmp(s, key_names[k], kl) == 0)
			break;
	if (k == K_COUNT)
		return nk_fail(e, NK_E_MANIFEST, "manifest line %zu: unknown key '%.*s'", lineno,
		    quote_len(kl), s);
	if (seen[k] != 0)
		return nk_fail(e, NK_E_MANIFEST,
		    "manifest line %zu: key '%s' repeated (first on line %zu)", lineno,
		    key_names[k], seen[k]);
	seen[k] = lineno;
	v = s + kl + 1;
	vl = sp != NULL ? n - kl - 1 : 0;
	if (sp == NULL || vl == 0)
		return nk_fail(e, NK_E_MANIFEST, "manifest line %zu: key '%s' has no value",
		    lineno, key_names[k]);
	if (v[0] == ' ')
		return nk_fail(e, NK_E_MANIFEST,
		    "manifest line %zu: key '%s': more than one space after the key", lineno,
		    key_names[k]);
	if (v[vl - 1] == ' ')
		return nk_fail(e, NK_E_MANIFEST, "manifest line %zu: key '%s': trailing space",
		    lineno, key_names[k]);
	if ((rc = parse_value((enum mkey)k, v, vl, m, e)) != 0) {
		snprintf(where, sizeof(where), "manifest line %zu (%s)", lineno, key_names[k]);
		nk_err_prefix(e, where);
	}
	return rc;
}

/* Rules between fields, once every key is present. */
static int
check_whole(const struct manifest *m, const size_t seen[K_COUNT], size_t lines,
    struct nk_err *e)
{
	int k;

	for (k = 0; k < K_COUNT; k++)
		if (seen[k] == 0 && (k != K_STORE || m->format >= 2))
			return nk_fail(e, NK_E_MANIFEST,
			    "manifest: key '%s' missing (the manifest ends at line %zu; every key "
			    "must appear exactly once)", key_names[k], lines);
	if (m->expires <= m->issued)
		return nk_fail(e, NK_E_MANIFEST,
		    "manifest line %zu (expires): %llu is not after issued %llu (line %zu)",
		    seen[K_EXPIRES], (unsigned long long)m->expires,
		    (unsigned long long)m->issued, seen[K_ISSUED]);
	if (strcmp(m->kernel.file, m->initrd.file) == 0)
		return nk_fail(e, NK_E_MANIFEST,
		    "manifest line %zu (initrd): file '%s' is the kernel's too (line %zu)",
		    seen[K_INITRD], m->initrd.file, seen[K_KERNEL]);
	if (m->has_store && (strcmp(m->store.file, m->kernel.file) == 0 ||
	    strcmp(m->store.file, m->initrd.file) == 0))
		return nk_fail(e, NK_E_MANIFEST,
		    "manifest line %zu (store): file '%s' is the %s's too", seen[K_STORE],
		    m->store.file, strcmp(m->store.file, m->kernel.file) == 0 ? "kernel" : "initrd");
	return 0;
}

int
manifest_parse(const uint8_t *buf, size_t len, struct manifest *out, struct nk_err *e)
{
	size_t seen[K_COUNT] = { 0 };
	size_t off = 0, lineno = 0, n;
	const uint8_t *line, *nl;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > MANIFEST_MAX_BYTES) {
		rc = nk_fail(e, NK_E_MANIFEST, "manifest: %zu bytes, more than the %d allowed",
		    len, MANIFEST_MAX_BYTES);
		goto fail;
	}
	if (len == 0) {
		rc = nk_fail(e, NK_E_MANIFEST, "manifest: empty");
		goto fail;
	}
	while (off < len) {
		lineno++;
		line = buf + off;
		nl = memchr(line, '\n', len - off);
		n = nl != NULL ? (size_t)(nl - line) : len - off;
		if (n > MANIFEST_LINE_MAX_BYTES) {
			rc = nk_fail(e, NK_E_MANIFEST,
			    "manifest line %zu: longer than %d bytes", lineno,
			    MANIFEST_LINE_MAX_BYTES);
			goto fail;
		}
		if ((rc = check_bytes(line, n, lineno, e)) != 0)
			goto fail;
		if (nl == NULL) {
			rc = nk_fail(e, NK_E_MANIFEST,
			    "manifest line %zu: no LF at the end (the last line must end "
			    "with a newline too; truncated file?)", lineno);
			goto fail;
		}
		if (lineno == 1)
			rc = parse_magic((const char *)line, n, &out->format, e);
		else
			rc = parse_line((const char *)line, n, lineno, seen, out, e);
		if (rc != 0)
			goto fail;
		off += n + 1;
	}
	if ((rc = check_whole(out, seen, lineno, e)) != 0)
		goto fail;
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return rc;
}

/* Appends printf output to buf; on overflow marks *len past cap. */
static void
append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*len >= cap) {
		*len = cap;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *len)
		*len = cap;
	else
		*len += (size_t)n;
}

static void
append_artifact(char *buf, size_t cap, size_t *len, const char *key,
    const struct manifest_artifact *a)
{
	char hex[SHA256_HEX_BYTES];

	sha256_hex(a->sha256, hex);
	append(buf, cap, len, "%s %.*s %llu %s%s\n", key,
	    (int)strnlen(a->file, sizeof(a->file)), a->file, (unsigned long long)a->size,
	    SHA256_PREFIX, hex);
}

/* A line break inside a field would turn into a line of its own; the
 * parser would refuse it, but only with a puzzling "unknown key". */
static int
field_has_lf(const char *key, const char *s, size_t cap, struct nk_err *e)
{
	if (memchr(s, '\n', strnlen(s, cap)) == NULL)
		return 0;
	return nk_fail(e, NK_E_MANIFEST,
	    "refusing to write an invalid manifest: %s contains a line break", key);
}

int
manifest_write(const struct manifest *m, char *buf, size_t cap, size_t *outlen,
    struct nk_err *e)
{
	/* Strings are read with strnlen bounded by their arrays, so even an
	 * unterminated field cannot push the text past this size. */
	char text[MANIFEST_WRITE_MAX_BYTES];
	struct manifest check;
	size_t len = 0;
	int rc;

	if ((rc = field_has_lf("name", m->name, sizeof(m->name), e)) != 0 ||
	    (rc = field_has_lf("arch", m->arch, sizeof(m->arch), e)) != 0 ||
	    (rc = field_has_lf("kernel file", m->kernel.file, sizeof(m->kernel.file), e)) != 0 ||
	    (rc = field_has_lf("initrd file", m->initrd.file, sizeof(m->initrd.file), e)) != 0 ||
	    (m->has_store &&
	    (rc = field_has_lf("store file", m->store.file, sizeof(m->store.file), e)) != 0) ||
	    (rc = field_has_lf("cmdline", m->cmdline, sizeof(m->cmdline), e)) != 0)
		return rc;
	append(text, sizeof(text), &len, "%s\n", m->has_store ? MANIFEST_MAGIC_2 : MANIFEST_MAGIC);
	append(text, sizeof(text), &len, "name %.*s\n",
	    (int)strnlen(m->name, sizeof(m->name)), m->name);
	append(text, sizeof(text), &len, "version %llu\n", (unsigned long long)m->version);
	append(text, sizeof(text), &len, "arch %.*s\n",
	    (int)strnlen(m->arch, sizeof(m->arch)), m->arch);
	append(text, sizeof(text), &len, "issued %llu\n", (unsigned long long)m->issued);
	append(text, sizeof(text), &len, "expires %llu\n", (unsigned long long)m->expires);
	append_artifact(text, sizeof(text), &len, "kernel", &m->kernel);
	append_artifact(text, sizeof(text), &len, "initrd", &m->initrd);
	if (m->has_store)
		append_artifact(text, sizeof(text), &len, "store", &m->store);
	append(text, sizeof(text), &len, "cmdline %.*s\n",
	    (int)strnlen(m->cmdline, sizeof(m->cmdline)), m->cmdline);
	if (len >= sizeof(text))
		return nk_fail(e, NK_E_INTERNAL, "manifest_write: text over %d bytes",
		    MANIFEST_WRITE_MAX_BYTES);
	/* One rule set: whatever the parser refuses, the writer refuses. */
	if ((rc = manifest_parse((const uint8_t *)text, len, &check, e)) != 0) {
		nk_err_prefix(e, "refusing to write an invalid manifest");
		return rc;
	}
	if (len > cap)
		return nk_fail(e, NK_E_SIZE, "manifest_write: needs %zu bytes, buffer holds %zu",
		    len, cap);
	memcpy(buf, text, len);
	*outlen = len;
	return 0;
}
