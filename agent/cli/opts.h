/* opts: the options fetch, verify and boot share (keys, TLS, floor,
 * mirrors, output), parsed one way for all three. */
#ifndef NK_OPTS_H
#define NK_OPTS_H

#include "err.h"
#include "fetch.h"

#define OPTS_KEYFILE_MAX_BYTES 4096

#define FETCH_OPTIONS_HELP \
    "options:\n" \
    "  -P KEY               trust this minisign public key (RW...); repeatable\n" \
    "  -p FILE              trust the public key in FILE; repeatable (rotation:\n" \
    "                       give the old and the new key)\n" \
    "  --cacert FILE        trust this CA bundle instead of the system's\n" \
    "  --pin sha256//B64    also require this server public key (curl's\n" \
    "                       --pinnedpubkey form; several joined with ';')\n" \
    "  --min-version N      refuse bundles with a lower version (anti-rollback)\n" \
    "  --mirror URL         try this source when SOURCE fails; repeatable, in order\n" \
    "  --arch A             expect arch A instead of this machine's (uname -m)\n" \
    "  --allow-legacy       accept legacy (non-prehashed) Ed signatures\n" \
    "  --stall-timeout S    give up a transfer slower than 1 KiB/s for S seconds\n" \
    "                       (default 30); it is then retried and resumed\n" \
    "  --json               one JSON object per event on stdout\n" \
    "\n" \
    "TLS certificate and host checks are always on. Proxies are taken from\n" \
    "https_proxy / no_proxy as curl does.\n"

/* An extra option a command adds to the shared ones. */
struct opts_extra {
	const char *name;   /* long name */
	int has_arg;
	int (*apply)(void *ctx, const char *arg, struct nk_err *e);
};

struct fetch_cli {
	struct fetch_opts opts;
	struct minisig_pubkey keys[FETCH_KEYS_MAX];
	const char *outdir;
	int json;
};

/* Parses argv (argv[0] is the command) into cli. extra: the command's own
 * options (NULL-name terminated, or NULL), applied with extra_ctx.
 * 0: parsed; 1: --help printed; negative: usage error in e. */
int fetch_cli_parse(int argc, char **argv, const char *help,
    const struct opts_extra *extra, void *extra_ctx, struct fetch_cli *cli,
    struct nk_err *e);

/* Parses a decimal uint64 with no sign and nothing after it. */
int opts_u64(const char *s, uint64_t *out);

#endif
