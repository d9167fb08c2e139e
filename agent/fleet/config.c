/* config: the configuration file's syntax (pure, bounded). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int
is_blank(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* The length of the well-formed UTF-8 sequence of 2 to 4 bytes at p (at
 * most n bytes there), or 0: no overlong forms, no surrogates, nothing
 * above U+10FFFF. */
static size_t
utf8_len(const uint8_t *p, size_t n)
{
	size_t want, i;
	uint32_t cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		want = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		want = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		want = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < want)
		return 0;
	for (i = 1; i < want; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((want == 3 && cp < 0x800) || (want == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return want;
}

int
config_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > CONFIG_NAME_MAX_BYTES || s[0] == '-')
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* Empties out and says which line is at fault. */
static int __attribute__((format(printf, 4, 5)))
fail(struct config *out, unsigned line, struct nk_err *e, const char *fmt, ...)
{
	char msg[NK_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	out->n = 0;
	out->bad_line = line;
	return nk_fail(e, NK_E_USAGE, "line %u: %s", line, msg);
}

/* Checks one line's bytes (no LF inside): printable ASCII, tab, UTF-8. */
static int
check_bytes(const uint8_t *p, size_t n, unsigned line, struct config *out, struct nk_err *e)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		if (p[i] == '\r')
			return fail(out, line, e, "carriage return: save the file with "
			    "LF line ends");
		if (p[i] == '\0')
			return fail(out, line, e, "NUL byte");
		if (p[i] == '\t' || (p[i] >= 0x20 && p[i] < 0x7f))
			continue;
		if (p[i] < 0x80)
			return fail(out, line, e, "control byte 0x%02x", p[i]);
		if ((k = utf8_len(p + i, n - i)) == 0)
			return fail(out, line, e, "not UTF-8");
		i += k - 1;
	}
	return 0;
}

/* One non-empty, non-comment line, blanks around it already dropped. */
static int
parse_line(const uint8_t *p, size_t n, unsigned line, size_t *used, struct config *out,
    struct nk_err *e)
{
	char shown[CONFIG_NAME_MAX_BYTES + 8];
	struct config_entry *en;
	size_t nl = 0, v;

	while (nl < n && !is_blank(p[nl]))
		nl++;
	snprintf(shown, sizeof(shown), "%.*s%s", (int)(nl > CONFIG_NAME_MAX_BYTES ?
	    CONFIG_NAME_MAX_BYTES : nl), (const char *)p, nl > CONFIG_NAME_MAX_BYTES ? "..." : "");
	if (nl >= 2 && p[0] == '-' && p[1] == '-')
		return fail(out, line, e, "'%s': write the option's name without "
		    "the dashes ('source URL', not '--source URL')", shown);
	if (memchr(p, '=', nl) != NULL)
		return fail(out, line, e, "'%s': write 'name value', not "
		    "'name=value'", shown);
	if (!config_name_ok((const char *)p, nl))
		return fail(out, line, e, "'%s' is not an option name (the long "
		    "option names, lowercase, without dashes)", shown);
	if (out->n >= CONFIG_ENTRIES_MAX)
		return fail(out, line, e, "more than %d options", CONFIG_ENTRIES_MAX);
	for (v = nl; v < n && is_blank(p[v]); v++)
		;
	/* Never taken (see struct config); kept as the bound's proof. */
	if (*used + n + 1 > sizeof(out->text))
		return fail(out, line, e, "over the parser's text buffer");
	en = &out->entries[out->n++];
	en->line = line;
	en->name = out->text + *used;
	memcpy(out->text + *used, p, nl);
	out->text[*used + nl] = '\0';
	*used += nl + 1;
	en->value = NULL;
	if (v < n) {
		en->value = out->text + *used;
		memcpy(out->text + *used, p + v, n - v);
		out->text[*used + n - v] = '\0';
		*used += n - v + 1;
	}
	return 0;
}

int
config_parse(const uint8_t *buf, size_t len, struct config *out, struct nk_err *e)
{
	size_t pos = 0, end, a, b, used = 0;
	unsigned line = 0;
	int rc;

	out->n = 0;
	out->bad_line = 0;
	if (len > CONFIG_MAX_BYTES)
		return nk_fail(e, NK_E_USAGE, "longer than %d bytes", CONFIG_MAX_BYTES);
	while (pos < len) {
		line++;
		end = pos;
		while (end < len && buf[end] != '\n')
			end++;
		if (end - pos > CONFIG_LINE_MAX_BYTES)
			return fail(out, line, e, "longer than %d bytes",
			    CONFIG_LINE_MAX_BYTES);
		if ((rc = check_bytes(buf + pos, end - pos, line, out, e)) != 0)
			return rc;
		for (a = pos; a < end && is_blank(buf[a]); a++)
			;
		for (b = end; b > a && is_blank(buf[b - 1]); b--)
			;
		if (a < b && buf[a] != '#' &&
		    (rc = parse_line(buf + a, b - a, line, &used, out, e)) != 0)
			return rc;
		pos = end + 1;
	}
	return 0;
}
