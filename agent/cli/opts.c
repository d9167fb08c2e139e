/* opts: shared option parsing for fetch, verify, boot and check: the
 * command line, and the config file through the very same handler. */
#include "opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "url.h"

#define OPTS_EXTRA_MAX 16
#define OPTS_EXTRA_BASE 1000
#define OPTS_BASE_MAX 32

enum {
	OPT_CACERT = 256,
	OPT_PIN,
	OPT_MINVER,
	OPT_MIRROR,
	OPT_ARCH,
	OPT_LEGACY,
	OPT_STALL,
	OPT_TIMEOUT,
	OPT_JSON,
	OPT_HELP,
	OPT_CONFIG,
	OPT_NOCONFIG,
	OPT_STATEDIR,
	OPT_REPORT,
	OPT_SPLAY,
	OPT_CONNECTIONS,
};

static const struct option base_opts[] = {
	{ "cacert", required_argument, NULL, OPT_CACERT },
	{ "pin", required_argument, NULL, OPT_PIN },
	{ "min-version", required_argument, NULL, OPT_MINVER },
	{ "mirror", required_argument, NULL, OPT_MIRROR },
	{ "arch", required_argument, NULL, OPT_ARCH },
	{ "allow-legacy", no_argument, NULL, OPT_LEGACY },
	{ "stall-timeout", required_argument, NULL, OPT_STALL },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "key", required_argument, NULL, 'P' },
	{ "key-file", required_argument, NULL, 'p' },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "no-config", no_argument, NULL, OPT_NOCONFIG },
	{ "state-dir", required_argument, NULL, OPT_STATEDIR },
	{ "report", required_argument, NULL, OPT_REPORT },
	{ "splay", required_argument, NULL, OPT_SPLAY },
	{ "connections", required_argument, NULL, OPT_CONNECTIONS },
};

_Static_assert(sizeof(base_opts) / sizeof(base_opts[0]) <= OPTS_BASE_MAX,
    "OPTS_BASE_MAX is too small for base_opts");

/* Which commands read a config file, and which may go without SOURCE.
 * verify checks a directory the command line names: no config. */
static const struct {
	const char *cmd;
	int config;
	int source_optional;
} policies[] = {
	{ "fetch", 1, 0 },
	{ "boot", 1, 0 },
	{ "check", 1, 1 },
	{ "verify", 0, 0 },
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

	/* A public key is no secret: follow symlinks (on NixOS every file in
	 * /etc is one, and so is a key kept in a dotfiles repository). */
	if ((rc = fileio_read_public(path, OPTS_KEYFILE_MAX_BYTES, &buf, &len, e)) != 0)
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
	case OPT_TIMEOUT:
		if (opts_u64(arg, &v) != 0 || v == 0 || v > (uint64_t)OPTS_TIMEOUT_MAX_S)
			return nk_fail(e, NK_E_USAGE, "--timeout: 1 to %ld seconds", OPTS_TIMEOUT_MAX_S);
		cli->opts.http.timeout_s = (long)v;
		return 0;
	case OPT_CONNECTIONS:
		if (opts_u64(arg, &v) != 0 || v == 0 || v > FETCH_CONNECTIONS_MAX)
			return nk_fail(e, NK_E_USAGE, "--connections: 1 to %u", FETCH_CONNECTIONS_MAX);
		cli->opts.connections = (unsigned)v;
		return 0;
	case OPT_JSON:
		cli->json = 1;
		return 0;
	case OPT_CONFIG:
	case OPT_NOCONFIG:
		return 0; /* taken before the config file is read */
	case OPT_STATEDIR:
		if (arg[0] == '\0')
			return nk_fail(e, NK_E_USAGE, "--state-dir: empty path");
		cli->fleet.state_dir = arg;
		return 0;
	case OPT_REPORT:
		if (url_https_check(arg, e) != 0)
			return nk_fail(e, NK_E_USAGE, "--report: %s", e->msg);
		cli->fleet.report = arg;
		return 0;
	case OPT_SPLAY:
		if (opts_u64(arg, &v) != 0 || v > FLEET_SPLAY_MAX_S)
			return nk_fail(e, NK_E_USAGE, "--splay: 0 to %u seconds", FLEET_SPLAY_MAX_S);
		cli->fleet.splay_s = v;
		return 0;
	case OPT_HELP:
		fputs(help, stdout);
		return 1;
	default:
		return nk_fail(e, NK_E_USAGE, "unknown option");
	}
}

/* The option of lo called name, or -1. */
static int
find_long(const struct option *lo, const char *name)
{
	int i;

	for (i = 0; lo[i].name != NULL; i++)
		if (strcmp(lo[i].name, name) == 0)
			return i;
	return -1;
}

/* Options that the command line overrides together: -P and -p both give
 * the trusted keys. */
static int
group_of(int c)
{
	return c == 'p' ? 'P' : c;
}

static int
seen_has(const int *seen, size_t n, int c)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (seen[i] == group_of(c))
			return 1;
	return 0;
}

/* What the command line holds, before anything is applied. */
struct cmdline {
	int seen[OPTS_BASE_MAX + OPTS_EXTRA_MAX + 4]; /* option groups given */
	size_t nseen;
	const char *config;    /* --config FILE */
	int no_config;
	int has_source;
};

/* The one place an option takes effect, from argv or from a config line. */
static int
dispatch(struct fetch_cli *cli, int c, const char *arg, const char *help,
    const struct opts_extra *extra, void *extra_ctx, struct nk_err *e)
{
	if (c >= OPTS_EXTRA_BASE)
		return extra[c - OPTS_EXTRA_BASE].apply(extra_ctx, arg, e);
	return apply(cli, c, arg, help, e);
}

static int
repeatable(int c, const struct opts_extra *extra)
{
	if (c >= OPTS_EXTRA_BASE)
		return extra[c - OPTS_EXTRA_BASE].repeatable;
	return c == 'P' || c == 'p' || c == OPT_MIRROR;
}

/* Pass 1: which options argv gives (they win over the config file), the
 * config file to read, whether SOURCE is there; --help answered. */
static int
scan(int argc, char **argv, const struct option *lo, const char *help, struct cmdline *cl,
    struct nk_err *e)
{
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":P:p:o:", lo, NULL)) != -1) {
		if (c == '?')
			return nk_fail(e, NK_E_USAGE, "unknown option '%s'", argv[optind - 1]);
		if (c == ':')
			return nk_fail(e, NK_E_USAGE, "option '%s' needs a value", argv[optind - 1]);
		if (c == OPT_HELP) {
			fputs(help, stdout);
			return 1;
		}
		if (c == OPT_CONFIG)
			cl->config = optarg;
		if (c == OPT_NOCONFIG)
			cl->no_config = 1;
		if (!seen_has(cl->seen, cl->nseen, c) && cl->nseen < sizeof(cl->seen) / sizeof(int))
			cl->seen[cl->nseen++] = group_of(c);
	}
	cl->has_source = optind < argc;
	return 0;
}

/* Reads and parses the config file into cli->config: the one --config
 * names, else the default one when it exists. */
static int
read_config(struct fetch_cli *cli, const struct cmdline *cl, int *have, struct nk_err *e)
{
	const char *path = cl->config;
	struct stat st;
	uint8_t *buf = NULL;
	size_t len;
	int rc;

	*have = 0;
	if (cl->no_config && cl->config != NULL)
		return nk_fail(e, NK_E_USAGE, "--config and --no-config together");
	if (cl->no_config)
		return 0;
	if (path == NULL) {
		path = getenv(CONFIG_PATH_ENV);
		/* Only the built-in default may be absent: a named file (the
		 * environment's, like --config's) that is missing is a typo
		 * that would silently drop min-version or state-dir. */
		if (path != NULL && path[0] != '\0') {
			if (stat(path, &st) != 0 && errno == ENOENT)
				return nk_fail(e, NK_E_USAGE, "config file %s (from $%s) does not "
				    "exist; unset it for the default %s", path, CONFIG_PATH_ENV,
				    CONFIG_DEFAULT_PATH);
		} else {
			path = CONFIG_DEFAULT_PATH;
			if (stat(path, &st) != 0 && errno == ENOENT)
				return 0;
		}
	}
	snprintf(cli->config_path, sizeof(cli->config_path), "%s", path);
	if ((rc = fileio_read_public(path, CONFIG_MAX_BYTES, &buf, &len, e)) != 0)
		return nk_fail(e, NK_E_USAGE, "config file: %s", e->msg);
	rc = config_parse(buf, len, &cli->config, e);
	free(buf);
	if (rc != 0)
		return nk_fail(e, NK_E_USAGE, "%s: %s", cli->config_path, e->msg);
	*have = 1;
	return 0;
}

/* An option name of boot's, in a config file fetch or check reads too. */
static int
boot_only(const char *name)
{
	size_t i;

	for (i = 0; cmd_boot_options[i].name != NULL; i++)
		if (strcmp(cmd_boot_options[i].name, name) == 0)
			return 1;
	return 0;
}

/* Applies the config file's lines that the command line does not
 * override, through the same handler as argv; SOURCE from 'source'. */
static int
apply_config(struct fetch_cli *cli, const struct option *lo, const struct cmdline *cl,
    int is_boot, const char *help, const struct opts_extra *extra, void *extra_ctx,
    const char **source, struct nk_err *e)
{
	const struct config *cf = &cli->config;
	const struct config_entry *en;
	size_t i, j;
	int k = -1, c, rc;

	for (i = 0; i < cf->n; i++) {
		en = &cf->entries[i];
		for (j = 0; j < i; j++)
			if (strcmp(cf->entries[j].name, en->name) == 0)
				break;
		if (strcmp(en->name, "source") == 0) {
			c = -1;
		} else if ((k = find_long(lo, en->name)) >= 0) {
			c = lo[k].val;
		} else if (!is_boot && boot_only(en->name)) {
			continue; /* boot's; this command has no use for it */
		} else {
			return nk_fail(e, NK_E_USAGE, "%s: line %u: unknown option '%s'",
			    cli->config_path, en->line, en->name);
		}
		if (c == OPT_HELP || c == OPT_CONFIG || c == OPT_NOCONFIG)
			return nk_fail(e, NK_E_USAGE, "%s: line %u: '%s' cannot be set in a "
			    "config file", cli->config_path, en->line, en->name);
		if (c == -1 || lo[k].has_arg != no_argument) {
			if (en->value == NULL)
				return nk_fail(e, NK_E_USAGE, "%s: line %u: '%s' needs a value",
				    cli->config_path, en->line, en->name);
		} else if (en->value != NULL) {
			return nk_fail(e, NK_E_USAGE, "%s: line %u: '%s' takes no value",
			    cli->config_path, en->line, en->name);
		}
		if (j < i && (c == -1 || !repeatable(c, extra)))
			return nk_fail(e, NK_E_USAGE, "%s: line %u: '%s' was given on line %u "
			    "already (only key, key-file, mirror, ssh-key and ssh-key-file "
			    "repeat)", cli->config_path, en->line, en->name, cf->entries[j].line);
		/* The command line wins: an option it gives replaces all of the
		 * file's (-P and -p together); its SOURCE, the file's mirrors. */
		if (c == -1 ? cl->has_source : seen_has(cl->seen, cl->nseen, c) ||
		    (c == OPT_MIRROR && cl->has_source))
			continue;
		if (c == -1) {
			*source = en->value;
			continue;
		}
		if ((rc = dispatch(cli, c, en->value, help, extra, extra_ctx, e)) != 0)
			return nk_fail(e, rc, "%s: line %u: %s", cli->config_path, en->line,
			    e->msg);
	}
	return 0;
}

static void
policy_of(const char *cmd, int *config, int *source_optional)
{
	size_t i;

	*config = 1;
	*source_optional = 0;
	for (i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
		if (strcmp(policies[i].cmd, cmd) == 0) {
			*config = policies[i].config;
			*source_optional = policies[i].source_optional;
		}
}

int
fetch_cli_parse(int argc, char **argv, const char *help,
    const struct opts_extra *extra, void *extra_ctx, struct fetch_cli *cli,
    struct nk_err *e)
{
	struct option lo[OPTS_BASE_MAX + OPTS_EXTRA_MAX + 1];
	size_t nb = sizeof(base_opts) / sizeof(base_opts[0]), n = 0, mirrors;
	struct cmdline cl;
	const char *source = NULL;
	int c, rc, use_config, source_optional, have_config = 0;

	memset(cli, 0, sizeof(*cli));
	memset(&cl, 0, sizeof(cl));
	cli->opts.keys = cli->keys;
	policy_of(argv[0], &use_config, &source_optional);
	memcpy(lo, base_opts, sizeof(base_opts));
	for (; extra != NULL && extra[n].name != NULL && n < OPTS_EXTRA_MAX; n++)
		lo[nb + n] = (struct option){ extra[n].name, extra[n].has_arg, NULL,
			OPTS_EXTRA_BASE + (int)n };
	memset(&lo[nb + n], 0, sizeof(lo[0]));
	if ((rc = scan(argc, argv, lo, help, &cl, e)) != 0)
		return rc;
	if (!use_config && (cl.config != NULL || cl.no_config))
		return nk_fail(e, NK_E_USAGE, "%s reads no config file", argv[0]);
	if (use_config && (rc = read_config(cli, &cl, &have_config, e)) != 0)
		return rc;
	/* Mirrors fill sources[1..]; SOURCE goes to sources[0] at the end. */
	if (have_config && (rc = apply_config(cli, lo, &cl, strcmp(argv[0], "boot") == 0, help,
	    extra, extra_ctx, &source, e)) != 0)
		return rc;
	optind = 0; /* a full restart (glibc and musl): pass 1 permuted argv */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":P:p:o:", lo, NULL)) != -1) {
		if (c == '?' || c == ':')
			return nk_fail(e, NK_E_USAGE, "bad option '%s'", argv[optind - 1]);
		if ((rc = dispatch(cli, c, optarg, help, extra, extra_ctx, e)) != 0)
			return rc;
	}
	if (optind < argc - 1)
		return nk_fail(e, NK_E_USAGE, "exactly one SOURCE (extra: '%s')", argv[optind + 1]);
	if (optind < argc)
		source = argv[optind];
	if (source == NULL && source_optional) {
		cli->opts.nsources = 0;
		return 0;
	}
	if (source == NULL)
		return nk_fail(e, NK_E_USAGE, "SOURCE is missing%s", use_config ? " (give it, "
		    "or 'source URL' in the config file)" : "");
	mirrors = cli->opts.nsources;
	cli->opts.sources[0] = source;
	cli->opts.nsources = mirrors + 1;
	if (cli->opts.nkeys == 0)
		return nk_fail(e, NK_E_USAGE, "no trusted key: give -P KEY or -p FILE");
	/* The deadline runs from here: the whole run, retries and all. */
	if (cli->opts.http.timeout_s == 0)
		cli->opts.http.timeout_s = OPTS_TIMEOUT_DEFAULT_S;
	cli->opts.http.deadline = http_now() + (double)cli->opts.http.timeout_s;
	return 0;
}
