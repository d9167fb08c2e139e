/* opts: the options fetch, verify, boot and check share (keys, TLS,
 * floor, mirrors, output, fleet), parsed one way for all, from the command
 * line and from the config file (fetch, boot and check; the command line
 * wins). */
#ifndef NK_OPTS_H
#define NK_OPTS_H

#include <limits.h>

#include "config.h"
#include "err.h"
#include "fetch.h"
#include "fleet.h"

#define OPTS_KEYFILE_MAX_BYTES 4096
#define OPTS_TIMEOUT_DEFAULT_S 3600L        /* --timeout: the whole run */
#define OPTS_TIMEOUT_MAX_S (7L * 24 * 3600)

#define FETCH_OPTIONS_HELP \
    "options:\n" \
    "  -P, --key KEY        trust this minisign public key (RW...); repeatable\n" \
    "  -p, --key-file FILE  trust the public key in FILE (a symlink is followed);\n" \
    "                       repeatable (rotation: give the old and the new key)\n" \
    "  --cacert FILE        trust this CA bundle instead of the system's\n" \
    "  --pin sha256//B64    also require this server public key (curl's\n" \
    "                       --pinnedpubkey form; several joined with ';')\n" \
    "  --min-version N      refuse bundles with a lower version (anti-rollback)\n" \
    "  --mirror URL         try this source when SOURCE fails; repeatable, in order\n" \
    "  --arch A             expect arch A instead of this machine's (uname -m)\n" \
    "  --allow-legacy       accept legacy (non-prehashed) Ed signatures\n" \
    "  --stall-timeout S    give up a transfer slower than 1 KiB/s for S seconds\n" \
    "                       (default 30), or a connection (TLS handshake\n" \
    "                       included) not made within S (at most 20) seconds;\n" \
    "                       it is then retried and resumed\n" \
    "  --timeout S          the whole run's deadline in seconds (default 3600),\n" \
    "                       retries and resumes included\n" \
    "  --connections N      fetch an artifact of 8 MiB or more over N (1-16)\n" \
    "                       connections at once, in ranges; default 16 when the\n" \
    "                       server is 2 ms or more away, else 1 (one stream)\n" \
    "  --json               one JSON object per event on stdout\n" \
    "\n" \
    "fleet:\n" \
    "  --config FILE        read options from FILE, one 'name value' a line (the\n" \
    "                       long names without dashes; 'source URL' for SOURCE);\n" \
    "                       default " CONFIG_DEFAULT_PATH " when it exists\n" \
    "                       ($" CONFIG_PATH_ENV " names another); the command\n" \
    "                       line wins over it, option by option\n" \
    "  --no-config          read no config file\n" \
    "  --state-dir DIR      remember the highest version verified in DIR and\n" \
    "                       refuse lower ones later (exit 65), and keep the last\n" \
    "                       result there (last-result.json)\n" \
    "  --report URL         POST each milestone (start, verified, loaded,\n" \
    "                       executing, result) as JSON to URL; https with the\n" \
    "                       TLS rules and CA store above; never changes the outcome\n" \
    "  --splay S            wait a random 0 to S seconds before the first request\n" \
    "\n" \
    "TLS certificate and host checks are always on. Proxies are taken from\n" \
    "https_proxy / no_proxy as curl does.\n"

/* An extra option a command adds to the shared ones. */
struct opts_extra {
	const char *name;   /* long name */
	int has_arg;
	int (*apply)(void *ctx, const char *arg, struct nk_err *e);
	int repeatable;     /* may appear on several lines of a config file */
};

/* boot's own options (cmd_boot.c). A config file is shared by fetch,
 * check and boot: the first two pass over these names. */
extern const struct opts_extra cmd_boot_options[];

struct fetch_cli {
	struct fetch_opts opts;
	struct minisig_pubkey keys[FETCH_KEYS_MAX];
	const char *outdir;
	int json;
	struct fleet_opts fleet;       /* --state-dir, --report, --splay */
	char config_path[PATH_MAX];    /* the config file read, "" for none */
	struct config config;          /* its lines: option values point here */
};

/* Parses argv (argv[0] is the command) into cli: first the config file
 * (fetch, boot, check: --config FILE, else $NIXOS_KEXEC_CONFIG or
 * CONFIG_DEFAULT_PATH when it exists; not with --no-config), applied
 * line by line through the same handler as argv, skipping each option
 * argv gives (all lines of a repeatable one; -P and -p count as one; a
 * SOURCE on the command line drops the file's source and mirrors); then
 * argv. extra: the command's own options (NULL-name terminated, or NULL),
 * applied with extra_ctx. check may go without SOURCE (nsources 0).
 * 0: parsed; 1: --help printed; negative: usage error in e, naming the
 * file and line for a config file's. cli is large: its strings point
 * into it, so it must outlive their use. */
int fetch_cli_parse(int argc, char **argv, const char *help,
    const struct opts_extra *extra, void *extra_ctx, struct fetch_cli *cli,
    struct nk_err *e);

/* Parses a decimal uint64 with no sign and nothing after it. */
int opts_u64(const char *s, uint64_t *out);

#endif
