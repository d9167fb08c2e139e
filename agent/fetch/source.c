/* source: parse SOURCE arguments. */
#include "source.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "manifest.h"

#define SOURCE_MANIFEST "manifest"

static int
has_prefix_ci(const char *s, const char *p)
{
	return strncasecmp(s, p, strlen(p)) == 0;
}

/* Copies s into out as a base ending in '/', dropping a final "manifest". */
static int
set_base(struct source *out, const char *s, struct nk_err *e)
{
	size_t n = strlen(s), m = strlen(SOURCE_MANIFEST);

	if (n >= m + 1 && strcmp(s + n - m, SOURCE_MANIFEST) == 0 && s[n - m - 1] == '/')
		n -= m;
	if (n == 0 || n + 1 > SOURCE_MAX_BYTES)
		return nk_fail(e, NK_E_SOURCE, "source is empty or longer than %d bytes",
		    SOURCE_MAX_BYTES);
	memcpy(out->base, s, n);
	if (out->base[n - 1] != '/')
		out->base[n++] = '/';
	out->base[n] = '\0';
	return 0;
}

int
source_parse(const char *arg, struct source *out, struct nk_err *e)
{
	const char *p;

	memset(out, 0, sizeof(*out));
	if (has_prefix_ci(arg, "https://")) {
		if (strpbrk(arg, "?# \t\r\n") != NULL)
			return nk_fail(e, NK_E_SOURCE,
			    "%s: a bundle URL may not hold a query, a fragment or spaces", arg);
		if (arg[8] == '\0' || arg[8] == '/')
			return nk_fail(e, NK_E_SOURCE, "%s: no host in URL", arg);
		out->kind = SOURCE_HTTPS;
		return set_base(out, arg, e);
	}
	if (has_prefix_ci(arg, "file://")) {
		p = arg + 7;
		if (*p != '/')
			return nk_fail(e, NK_E_SOURCE,
			    "%s: file:// needs an absolute path (file:///path)", arg);
		out->kind = SOURCE_DIR;
		return set_base(out, p, e);
	}
	if (strstr(arg, "://") != NULL)
		return nk_fail(e, NK_E_SOURCE,
		    "%s: only https:// (or a local directory) is accepted; "
		    "bundles are never fetched without TLS", arg);
	out->kind = SOURCE_DIR;
	return set_base(out, arg, e);
}

int
source_join(const struct source *s, const char *name, char *out, size_t cap,
    struct nk_err *e)
{
	if (!manifest_file_name_ok(name, strlen(name)) && strcmp(name, "manifest.minisig") != 0 &&
	    strcmp(name, SOURCE_MANIFEST) != 0)
		return nk_fail(e, NK_E_MANIFEST, "%s: not a valid bundle file name", name);
	if ((size_t)snprintf(out, cap, "%s%s", s->base, name) >= cap)
		return nk_fail(e, NK_E_SOURCE, "%s%s: too long", s->base, name);
	return 0;
}
