/* err: error codes, messages and exit status. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "url.h"

int
nk_fail(struct nk_err *e, int code, const char *fmt, ...)
{
	char tmp[NK_ERR_MAX];
	va_list ap;

	if (e != NULL) {
		/* Through a copy, so e->msg may itself be an argument. */
		va_start(ap, fmt);
		vsnprintf(tmp, sizeof(tmp), fmt, ap);
		va_end(ap);
		/* Messages leave the process (stderr, reports, state files):
		 * never with a URL's credentials. */
		url_redact(tmp, e->msg, sizeof(e->msg));
	}
	return code;
}

void
nk_err_prefix(struct nk_err *e, const char *what)
{
	char tmp[NK_ERR_MAX];

	if (e == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s: %s", what, e->msg);
	url_redact(tmp, e->msg, sizeof(e->msg));
}

static const struct {
	int code;
	int exit;
	const char *name;
} codes[] = {
	{ NK_OK, NK_EXIT_OK, "ok" },
	{ NK_E_USAGE, NK_EXIT_USAGE, "usage" },
	{ NK_E_KEYFILE, NK_EXIT_USAGE, "key-file" },
	{ NK_E_PASSWORD, NK_EXIT_USAGE, "password" },
	{ NK_E_MANIFEST, NK_EXIT_REJECTED, "manifest" },
	{ NK_E_SIGFMT, NK_EXIT_REJECTED, "signature-format" },
	{ NK_E_KEYID, NK_EXIT_REJECTED, "untrusted-key" },
	{ NK_E_LEGACY, NK_EXIT_REJECTED, "legacy-signature" },
	{ NK_E_SIG, NK_EXIT_REJECTED, "signature" },
	{ NK_E_GLOBALSIG, NK_EXIT_REJECTED, "trusted-comment" },
	{ NK_E_SIZE, NK_EXIT_REJECTED, "size" },
	{ NK_E_HASH, NK_EXIT_REJECTED, "hash" },
	{ NK_E_VERSION, NK_EXIT_REJECTED, "version" },
	{ NK_E_EXPIRED, NK_EXIT_REJECTED, "expired" },
	{ NK_E_ARCH, NK_EXIT_REJECTED, "arch" },
	{ NK_E_MISSING, NK_EXIT_REJECTED, "missing" },
	{ NK_E_NET, NK_EXIT_UNAVAILABLE, "network" },
	{ NK_E_TLS, NK_EXIT_UNAVAILABLE, "tls" },
	{ NK_E_HTTP, NK_EXIT_UNAVAILABLE, "http" },
	{ NK_E_REDIRECT, NK_EXIT_UNAVAILABLE, "redirect" },
	{ NK_E_SOURCE, NK_EXIT_USAGE, "source" },
	{ NK_E_NOMEM, NK_EXIT_INTERNAL, "out-of-memory" },
	{ NK_E_INTERNAL, NK_EXIT_INTERNAL, "internal" },
	{ NK_E_IO, NK_EXIT_IO, "io" },
	{ NK_E_KERNEL, NK_EXIT_KERNEL, "kernel" },
	{ NK_E_LOCKED, NK_EXIT_LOCKED, "locked" },
	{ NK_E_PERM, NK_EXIT_PERM, "permission" },
};

int
nk_exit_code(int code)
{
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == code)
			return codes[i].exit;
	return NK_EXIT_INTERNAL;
}

const char *
nk_code_name(int code)
{
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == code)
			return codes[i].name;
	return "internal";
}
