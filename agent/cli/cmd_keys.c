/* cmd_keys: "keygen" and "sign", the build-side commands that make a
 * minisign key pair and sign a bundle's manifest with it. Passwords come
 * from the terminal with echo off when stdin is a terminal, otherwise
 * from one line of stdin, so scripts can pipe them (as with minisign). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cmd.h"
#include "err.h"
#include "fileio.h"
#include "manifest.h"
#include "minisig.h"

#define PUBKEY_FILE_MODE 0644
#define SECKEY_FILE_MODE 0600
#define SIG_FILE_MODE 0644

static volatile sig_atomic_t pw_signal;

/* Best effort: a prompt that cannot be shown changes nothing. */
static void
put(int fd, const char *s)
{
	ssize_t r = write(fd, s, strlen(s));

	(void)r;
}

static void
pw_on_signal(int sig)
{
	pw_signal = sig;
}

/* Reads one line from fd byte by byte (so nothing after it is consumed).
 * 0: a line (without LF or a trailing CR, as minisign trims them);
 * -1: nothing read or interrupted; -2: longer than cap - 1. */
static int
read_line_fd(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	int too_long = 0;
	ssize_t r;
	char c;

	for (;;) {
		r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR && pw_signal == 0)
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			if (n == 0 && !too_long)
				return -1;
			break;
		}
		if (c == '\n')
			break;
		if (n + 1 < cap)
			buf[n++] = c;
		else
			too_long = 1;
	}
	c = 0;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return too_long ? -2 : 0;
}

/* Prompts on the terminal with echo off. A signal while echo is off
 * restores the terminal first, then takes its default course. */
static int
read_tty(const char *prompt, char *buf, size_t cap)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa, saved[sizeof(sigs) / sizeof(sigs[0])];
	struct termios old, quiet;
	int fd, own, rc;
	size_t i;

	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	own = fd >= 0;
	if (!own)
		fd = STDIN_FILENO;
	if (tcgetattr(fd, &old) != 0) {
		if (own)
			close(fd);
		return -1;
	}
	pw_signal = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pw_on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, &saved[i]);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fd, TCSAFLUSH, &quiet);
	put(own ? fd : STDERR_FILENO, prompt);
	rc = read_line_fd(fd, buf, cap);
	tcsetattr(fd, TCSAFLUSH, &old);
	put(own ? fd : STDERR_FILENO, "\n");
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &saved[i], NULL);
	if (own)
		close(fd);
	if (pw_signal != 0)
		raise(pw_signal);
	return rc;
}

/* One password: from the terminal (asked twice when confirm is set), or
 * one line of stdin. Returns 0 or fills e. */
static int
get_password(const char *prompt, int confirm, char *pw, size_t cap, struct nk_err *e)
{
	char again[MINISIG_PASSWORD_MAX_BYTES];
	int rc, tty = isatty(STDIN_FILENO);

	rc = tty ? read_tty(prompt, pw, cap) : read_line_fd(STDIN_FILENO, pw, cap);
	if (rc == -2) {
		rc = nk_fail(e, NK_E_PASSWORD, "password longer than %zu bytes", cap - 1);
		goto out;
	}
	if (rc != 0) {
		rc = nk_fail(e, NK_E_PASSWORD, "no password read (%s)", tty ?
		    "terminal closed" : "stdin is not a terminal: pipe the password into it");
		goto out;
	}
	if (confirm && tty) {
		if (read_tty("Password (one more time): ", again, sizeof(again)) != 0 ||
		    strlen(again) != strlen(pw) ||
		    sodium_memcmp(again, pw, strlen(pw)) != 0) {
			rc = nk_fail(e, NK_E_PASSWORD, "the passwords do not match");
			goto out;
		}
	}
	rc = 0;
out:
	sodium_memzero(again, sizeof(again));
	if (rc != 0)
		sodium_memzero(pw, cap);
	return rc;
}

struct sk_password_ctx {
	const char *path;
	int failed;
	struct nk_err err; /* why, when failed */
};

static int
sk_password(char *pw, size_t cap, void *ctx)
{
	struct sk_password_ctx *c = ctx;
	char prompt[PATH_MAX + 32];

	snprintf(prompt, sizeof(prompt), "Password for %s: ", c->path);
	c->failed = get_password(prompt, 0, pw, cap, &c->err) != 0;
	return c->failed ? -1 : 0;
}

/* Parses getopt's complaint into a usage error. */
static int
bad_option(const char *cmd, int c, char **argv)
{
	if (c == ':')
		return optopt != 0 ? cmd_usage(cmd, "option -%c needs a value", optopt) :
		    cmd_usage(cmd, "option %s needs a value", argv[optind - 1]);
	return optopt != 0 ? cmd_usage(cmd, "unknown option -%c", optopt) :
	    cmd_usage(cmd, "unknown option %s", argv[optind - 1]);
}

static void
keygen_help(void)
{
	printf(
	    "usage: nixos-kexec keygen -p PUB -s SEC [-W] [-f]\n"
	    "\n"
	    "Make a minisign key pair for signing bundles. The secret key is encrypted\n"
	    "with a password (scrypt, 1 GiB, as minisign does) unless -W is given.\n"
	    "minisign can use both files, and nixos-kexec can use keys minisign made.\n"
	    "\n"
	    "  -p PUB    where to write the public key (give it to targets)\n"
	    "  -s SEC    where to write the secret key (mode 0600; keep it secret)\n"
	    "  -W        do not encrypt the secret key (for unattended signing)\n"
	    "  -f        overwrite existing key files\n"
	    "\n"
	    "The password is read from the terminal with echo off, twice. When stdin\n"
	    "is not a terminal, one line of stdin is the password:\n"
	    "  nixos-kexec keygen -p kexec.pub -s kexec.key\n"
	    "  printf '%%s\\n' \"$PASSWORD\" | nixos-kexec keygen -p kexec.pub -s kexec.key\n"
	    "  nixos-kexec keygen -W -p ci.pub -s ci.key\n");
}

static int
refuse_existing(const char *path, struct nk_err *e)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		return nk_fail(e, NK_E_USAGE, "%s already exists; pass -f to overwrite it (the key "
		    "it holds would be lost)", path);
	return 0;
}

int
cmd_keygen(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char pw[MINISIG_PASSWORD_MAX_BYTES];
	struct minisig_keyfiles kf;
	const char *pub = NULL, *sec = NULL;
	int c, unencrypted = 0, force = 0, rc;
	struct nk_err e;

	memset(pw, 0, sizeof(pw));
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:s:Wfh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': pub = optarg; break;
		case 's': sec = optarg; break;
		case 'W': unencrypted = 1; break;
		case 'f': force = 1; break;
		case 'h': keygen_help(); return 0;
		default: return bad_option("keygen", c, argv);
		}
	}
	if (optind < argc)
		return cmd_usage("keygen", "unexpected argument '%s'", argv[optind]);
	if (pub == NULL || sec == NULL)
		return cmd_usage("keygen", "both -p PUB and -s SEC are needed");
	if (strcmp(pub, sec) == 0)
		return cmd_usage("keygen", "-p and -s name the same file");
	if (!force && ((rc = refuse_existing(pub, &e)) != 0 || (rc = refuse_existing(sec, &e)) != 0))
		return cmd_die(rc, e.msg);
	if (!unencrypted) {
		if ((rc = get_password("Password for the new secret key: ", 1, pw, sizeof(pw),
		    &e)) != 0)
			return cmd_die(rc, e.msg);
		if (pw[0] == '\0') {
			sodium_memzero(pw, sizeof(pw));
			return cmd_die(NK_E_PASSWORD, "empty password; use -W for a secret key "
			    "without one");
		}
		fprintf(stderr, "Deriving a key from the password to encrypt the secret key...\n");
	}
	rc = minisig_keygen(unencrypted ? NULL : pw, &kf, &e);
	sodium_memzero(pw, sizeof(pw));
	if (rc != 0)
		return cmd_die(rc, e.msg);
	/* Again: the password prompt and scrypt take a while. */
	if (!force && ((rc = refuse_existing(pub, &e)) != 0 || (rc = refuse_existing(sec, &e)) != 0))
		goto out;
	if ((rc = fileio_write_atomic(sec, kf.sec, kf.sec_len, SECKEY_FILE_MODE, &e)) != 0)
		goto out;
	if ((rc = fileio_write_atomic(pub, kf.pub, kf.pub_len, PUBKEY_FILE_MODE, &e)) != 0)
		goto out;
	printf("The secret key was saved as %s - keep it secret%s.\n", sec,
	    unencrypted ? " (it is NOT encrypted)" : "");
	printf("The public key was saved as %s - that one can be public.\n\n", pub);
	printf("Public key (key id %s):\n%s\n\n", kf.keyid_hex, kf.pub_b64);
	printf("Sign a bundle:   nixos-kexec sign -s %s DIR\n", sec);
	printf("Fetch and check: nixos-kexec fetch URL -o DIR -P %s\n", kf.pub_b64);
	rc = 0;
out:
	minisig_keyfiles_wipe(&kf);
	return rc != 0 ? cmd_die(rc, e.msg) : 0;
}

static void
sign_help(void)
{
	printf(
	    "usage: nixos-kexec sign -s SEC [-t COMMENT] DIR\n"
	    "\n"
	    "Sign DIR/manifest with a minisign secret key and write DIR/manifest.minisig\n"
	    "(prehashed, as minisign 0.11 signs by default). Only the manifest is signed:\n"
	    "it holds the size and SHA-256 of every other file in the bundle.\n"
	    "\n"
	    "  -s SEC      secret key file (from nixos-kexec keygen or minisign -G)\n"
	    "  -t COMMENT  trusted comment (default: timestamp:NOW<TAB>file:manifest<TAB>hashed)\n"
	    "\n"
	    "An encrypted key asks for its password on the terminal, or reads one line\n"
	    "of stdin when stdin is not a terminal.\n"
	    "  nixos-kexec sign -s kexec.key out\n"
	    "  minisign -S -s kexec.key -m out/manifest    # the same, with minisign\n");
}

int
cmd_sign(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char manifest_path[PATH_MAX], sig_path[PATH_MAX], comment[MINISIG_COMMENT_MAX_BYTES + 1];
	char sig[MINISIG_FILE_MAX_BYTES], hex[MINISIG_KEYID_HEX_BYTES + 1];
	struct sk_password_ctx pctx;
	struct minisig_seckey sk;
	const char *sec = NULL, *tcomment = NULL, *dir;
	uint8_t *manifest = NULL, *skbuf = NULL;
	size_t manifest_len = 0, sklen = 0, siglen;
	int c, rc;
	struct nk_err e;

	memset(&sk, 0, sizeof(sk));
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': sec = optarg; break;
		case 't': tcomment = optarg; break;
		case 'h': sign_help(); return 0;
		default: return bad_option("sign", c, argv);
		}
	}
	if (sec == NULL)
		return cmd_usage("sign", "-s SEC (the secret key file) is needed");
	if (optind != argc - 1)
		return cmd_usage("sign", optind == argc ? "the bundle directory DIR is needed" :
		    "one bundle directory, please");
	dir = argv[optind];
	if (snprintf(manifest_path, sizeof(manifest_path), "%s/manifest", dir) >=
	    (int)sizeof(manifest_path) ||
	    snprintf(sig_path, sizeof(sig_path), "%s/manifest.minisig", dir) >= (int)sizeof(sig_path))
		return cmd_usage("sign", "directory name too long");
	if (tcomment != NULL && (strlen(tcomment) > MINISIG_COMMENT_MAX_BYTES ||
	    strpbrk(tcomment, "\r\n") != NULL))
		return cmd_usage("sign", "the trusted comment must be one line of at most %d bytes",
		    MINISIG_COMMENT_MAX_BYTES);

	/* The manifest first: no password prompt for a bundle we cannot sign. */
	if ((rc = fileio_read_capped(manifest_path, MANIFEST_MAX_BYTES, &manifest, &manifest_len,
	    &e)) != 0) {
		if (rc == NK_E_MISSING)
			rc = nk_fail(&e, NK_E_USAGE, "%s: no manifest; make the bundle with "
			    "'nixos-kexec bundle' first", manifest_path);
		goto out;
	}
	/* Sign only what the agent would accept: a manifest it parses. */
	{
		struct manifest m;

		if ((rc = manifest_parse(manifest, manifest_len, &m, &e)) != 0) {
			nk_err_prefix(&e, manifest_path);
			goto out;
		}
	}
	/* The secret key is read only from a regular file named directly, never
	 * through a symbolic link (O_NOFOLLOW), unlike public keys: in a
	 * directory others can write, a link swapped in would have the signer
	 * load, and prompt for the password of, a key file of someone else's
	 * choosing. A key behind a link (agenix, sops-nix) is given by its
	 * real path, which the refusal names: readlink -f. */
	if ((rc = fileio_read_capped(sec, MINISIG_FILE_MAX_BYTES, &skbuf, &sklen, &e)) != 0) {
		if (rc == NK_E_MISSING || rc == NK_E_SIZE || rc == NK_E_IO)
			rc = NK_E_KEYFILE;
		goto out;
	}
	pctx.path = sec;
	pctx.failed = 0;
	rc = minisig_seckey_parse(skbuf, sklen, sk_password, &pctx, &sk, &e);
	if (rc != 0 && pctx.failed)
		e = pctx.err;
	if (rc != 0) {
		nk_err_prefix(&e, sec);
		goto out;
	}
	if (tcomment == NULL) {
		if ((rc = minisig_default_comment("manifest", time(NULL), comment, sizeof(comment),
		    &e)) != 0)
			goto out;
		tcomment = comment;
	}
	if ((rc = minisig_sign(&sk, manifest, manifest_len, tcomment, sig, sizeof(sig), &siglen,
	    &e)) != 0)
		goto out;
	if ((rc = fileio_write_atomic(sig_path, sig, siglen, SIG_FILE_MODE, &e)) != 0)
		goto out;
	minisig_keyid_hex(sk.keyid, hex);
	printf("Signed %s with key id %s: wrote %s\n", manifest_path, hex, sig_path);
	rc = 0;
out:
	minisig_seckey_wipe(&sk);
	if (skbuf != NULL) {
		sodium_memzero(skbuf, sklen);
		free(skbuf);
	}
	free(manifest);
	return rc != 0 ? cmd_die(rc, e.msg) : 0;
}
