/* opts: shared option parsing for fetch, verify and boot. */
#include "opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

#define OPTS_EXTRA_MAX 16
#define OPTS_EXTRA_BASE 1000

enum {
	OPT_CACERT = 256,
	OPT_PIN,
	OPT_MINVER,
	OPT_MIRROR,
	OPT_ARCH,
	OPT_LEGACY,
	OPT_STALL,
	OPT_JSON,
	OPT_HELP,
};

static const struct option base_opts[] = {
	{ "cacert", required_argument, NULL, OPT_CACERT },
	{ "pin", required_argument, NULL, OPT_PIN },
	{ "min-version", required_argument, NULL, OPT_MINVER },
	{ "mirror", required_argument, NULL, OPT_MIRROR },
	{ "arch", required_argument, NULL, OPT_ARCH },
	{ "allow-legacy", no_argument, NULL, OPT_LEGACY },
	{ "stall-timeout", required_argument, NULL, OPT_STALL },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, OPT_HELP },
};

int
opts_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int
add_key(struct fetch_cli *cli, const uint8_t *buf, size_t len, const char *what,
    struct nk_err *e)
{
	int rc;

	if (cli->opts.nkeys >= FETCH_KEYS_MAX)
		return nk_fail(e, NK_E_USAGE, "more than %d trusted keys", FETCH_KEYS_MAX);
	if ((rc = minisig_pubkey_parse(buf, len, &cli->keys[cli->opts.nkeys], e)) != 0) {
		nk_err_prefix(e, what);
		return rc;
	}
	cli->opts.nkeys++;
	return 0;
}

static int
add_key_file(struct fetch_cli *cli, const char *path, struct nk_err *e)
{
	uint8_t *buf = NULL;
	size_t len;
	int rc;

	if ((rc = fileio_read_capped(path, OPTS_KEYFILE_MAX_BYTES, &buf, &len, e)) != 0)
		return nk_fail(e, NK_E_KEYFILE, "-p %s", e->msg);
	rc = add_key(cli, buf, len, path, e);
	free(buf);
	return rc;
}

static int
apply(struct fetch_cli *cli, int c, const char *arg, const char *help, struct nk_err *e)
{
	uint64_t v;

	switch (c) {
	case 'P':
		return add_key(cli, (const uint8_t *)arg, strlen(arg), "-P", e);
	case 'p':
		return add_key_file(cli, arg, e);
	case 'o':
		cli->outdir = arg;
		return 0;
	case OPT_CACERT:
		cli->opts.http.cacert = arg;
		return 0;
	case OPT_PIN:
		if (strncmp(arg, "sha256//", 8) != 0)
			return nk_fail(e, NK_E_USAGE, "--pin takes sha256//BASE64 (as curl's "
			    "--pinnedpubkey)");
		cli->opts.http.pin = arg;
		return 0;
	case OPT_MINVER:
		if (opts_u64(arg, &cli->opts.min_version) != 0)
			return nk_fail(e, NK_E_USAGE, "--min-version: '%s' is not a number", arg);
		return 0;
	case OPT_MIRROR:
		if (cli->opts.nsources >= FETCH_SOURCES_MAX - 1)
			return nk_fail(e, NK_E_USAGE, "at most %d mirrors", FETCH_SOURCES_MAX - 1);
		cli->opts.sources[1 + cli->opts.nsources++] = arg;
		return 0;
	case OPT_ARCH:
		cli->opts.arch = arg;
		return 0;
	case OPT_LEGACY:
		cli->opts.allow_legacy = 1;
		return 0;
	case OPT_STALL:
		if (opts_u64(arg, &v) != 0 || v == 0 || v > 3600)
			return nk_fail(e, NK_E_USAGE, "--stall-timeout: 1 to 3600 seconds");
		cli->opts.http.stall_time_s = (long)v;
		return 0;
	case OPT_JSON:
		cli->json = 1;
		return 0;
	case OPT_HELP:
		fputs(help, stdout);
		return 1;
	default:
		return nk_fail(e, NK_E_USAGE, "unknown option");
	}
}

int
fetch_cli_parse(int argc, char **argv, const char *help,
    const struct opts_extra *extra, void *extra_ctx, struct fetch_cli *cli,
    struct nk_err *e)
{
	struct option lo[sizeof(base_opts) / sizeof(base_opts[0]) + OPTS_EXTRA_MAX + 1];
	size_t nb = sizeof(base_opts) / sizeof(base_opts[0]), n = 0, mirrors;
	int c, rc;

	memset(cli, 0, sizeof(*cli));
	cli->opts.keys = cli->keys;
	memcpy(lo, base_opts, sizeof(base_opts));
	for (; extra != NULL && extra[n].name != NULL && n < OPTS_EXTRA_MAX; n++)
		lo[nb + n] = (struct option){ extra[n].name, extra[n].has_arg, NULL,
			OPTS_EXTRA_BASE + (int)n };
	memset(&lo[nb + n], 0, sizeof(lo[0]));
	optind = 1;
	opterr = 0;
	/* Mirrors fill sources[1..]; SOURCE goes to sources[0] at the end. */
	while ((c = getopt_long(argc, argv, ":P:p:o:", lo, NULL)) != -1) {
		if (c == '?')
			return nk_fail(e, NK_E_USAGE, "unknown option '%s'", argv[optind - 1]);
		if (c == ':')
			return nk_fail(e, NK_E_USAGE, "option '%s' needs a value", argv[optind - 1]);
		if (c >= OPTS_EXTRA_BASE)
			rc = extra[c - OPTS_EXTRA_BASE].apply(extra_ctx, optarg, e);
		else
			rc = apply(cli, c, optarg, help, e);
		if (rc != 0)
			return rc;
	}
	if (optind != argc - 1)
		return nk_fail(e, NK_E_USAGE, optind >= argc ? "SOURCE is missing" :
		    "exactly one SOURCE (extra: '%s')", argv[optind >= argc ? 0 : optind + 1]);
	mirrors = cli->opts.nsources;
	cli->opts.sources[0] = argv[optind];
	cli->opts.nsources = mirrors + 1;
	if (cli->opts.nkeys == 0)
		return nk_fail(e, NK_E_USAGE, "no trusted key: give -P KEY or -p FILE");
	return 0;
}
