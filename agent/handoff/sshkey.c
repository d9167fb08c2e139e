/* sshkey: one authorized_keys line, parsed as sshd reads it. The options
 * field is walked with sshd's quoting rules and dropped; the key type must
 * be known and its base64 must decode to a blob naming that type. Pure:
 * no I/O, no allocation, bounded by SSHKEY_LINE_MAX_BYTES. */
#include "sshkey.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "b64.h"

static const char *const key_types[] = {
	"ssh-ed25519", "ssh-rsa", "ssh-dss",
	"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
	"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
	"ssh-ed25519-cert-v01@openssh.com", "ssh-rsa-cert-v01@openssh.com",
	"ssh-dss-cert-v01@openssh.com", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
	"ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp521-cert-v01@openssh.com",
	"sk-ssh-ed25519-cert-v01@openssh.com", "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
};

static int
is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static const char *
known_type(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (strlen(key_types[i]) == n && memcmp(key_types[i], p, n) == 0)
			return key_types[i];
	return NULL;
}

/* Walks sshd's options syntax: up to unquoted whitespace, a quote
 * toggling, \" never toggling (as auth2-pubkeyfile.c / authfile.c).
 * Returns the end, or (size_t)-1 for an unterminated quote. With
 * cert_authority, reports whether one option is cert-authority. */
static size_t
options_end(const char *s, size_t i, size_t len, int *cert_authority)
{
	size_t start = i;
	int quoted = 0;

	*cert_authority = 0;
	for (; i < len && (quoted || !is_ws(s[i])); i++) {
		if (s[i] == '\\' && i + 1 < len && s[i + 1] == '"') {
			i++;
			continue;
		}
		if (s[i] == '"')
			quoted = !quoted;
		/* An option starts at the start or after an unquoted comma. */
		if (!quoted && (i == start || s[i - 1] == ',') &&
		    len - i >= 14 && strncasecmp(s + i, "cert-authority", 14) == 0 &&
		    (i + 14 == len || s[i + 14] == ',' || is_ws(s[i + 14])))
			*cert_authority = 1;
	}
	return quoted ? (size_t)-1 : i;
}

/* The blob starts with a string naming its own type. */
static int
blob_matches(const uint8_t *blob, size_t n, const char *type)
{
	size_t tl = strlen(type);
	uint32_t l;

	if (n < 4)
		return 0;
	l = (uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 | blob[3];
	return l == tl && n - 4 >= tl && memcmp(blob + 4, type, tl) == 0;
}

int
sshkey_parse(const char *line, size_t len, char *out, size_t cap, struct nk_err *e)
{
	uint8_t blob[SSHKEY_BLOB_MAX_BYTES];
	const char *type;
	size_t i = 0, t0, b0, b1, c0, c1, blen;
	int ca;

	if (len > SSHKEY_LINE_MAX_BYTES)
		return nk_fail(e, NK_E_USAGE, "line longer than %d bytes", SSHKEY_LINE_MAX_BYTES);
	if (len > 0 && line[len - 1] == '\r')
		len--;
	for (i = 0; i < len; i++)
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
			return nk_fail(e, NK_E_USAGE, "control character in the line");
	for (i = 0; i < len && is_ws(line[i]); i++)
		;
	if (i == len || line[i] == '#')
		return 0;
	for (t0 = i; i < len && !is_ws(line[i]); i++)
		;
	if ((type = known_type(line + t0, i - t0)) == NULL) {
		/* Not a key type: an options field comes first. */
		if ((i = options_end(line, t0, len, &ca)) == (size_t)-1)
			return nk_fail(e, NK_E_USAGE, "unterminated quote in the key options");
		if (ca)
			return nk_fail(e, NK_E_USAGE, "a cert-authority line (trusts certificates, "
			    "not a key; without its options it would mean something else)");
		for (; i < len && is_ws(line[i]); i++)
			;
		for (t0 = i; i < len && !is_ws(line[i]); i++)
			;
		if (t0 == i)
			return nk_fail(e, NK_E_USAGE, "options but no key");
		if ((type = known_type(line + t0, i - t0)) == NULL)
			return nk_fail(e, NK_E_USAGE, "'%.*s' is not a key type", (int)(i - t0 > 40 ?
			    40 : i - t0), line + t0);
	}
	for (; i < len && is_ws(line[i]); i++)
		;
	for (b0 = i; i < len && !is_ws(line[i]); i++)
		;
	b1 = i;
	if (b0 == b1)
		return nk_fail(e, NK_E_USAGE, "%s key without its base64 data", type);
	if (b64_decode(line + b0, b1 - b0, blob, sizeof(blob), &blen) != 0 ||
	    !blob_matches(blob, blen, type))
		return nk_fail(e, NK_E_USAGE, "%s key data is not base64 of a %s key", type, type);
	for (; i < len && is_ws(line[i]); i++)
		;
	c0 = i;
	for (c1 = len; c1 > c0 && is_ws(line[c1 - 1]); c1--)
		;
	if ((size_t)snprintf(out, cap, "%s %.*s%s%.*s", type, (int)(b1 - b0), line + b0,
	    c1 > c0 ? " " : "", (int)(c1 - c0), line + c0) >= cap)
		return nk_fail(e, NK_E_USAGE, "key line longer than %zu bytes", cap - 1);
	return 1;
}
