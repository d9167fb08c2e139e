/* cmd_util: output helpers shared by the subcommands. */
#include <stdarg.h>
#include <stdio.h>

#include "cmd.h"
#include "err.h"
#include "url.h"

int
cmd_die(int code, const char *msg)
{
	char r[NK_ERR_MAX + 256];

	url_redact(msg, r, sizeof(r));
	fprintf(stderr, "nixos-kexec: %s\n", r);
	return nk_exit_code(code);
}

int
cmd_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "nixos-kexec %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'nixos-kexec %s --help'.\n", cmd);
	return NK_EXIT_USAGE;
}
