/* main: the nixos-kexec command line front door. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "cmd.h"
#include "sys.h"
#include "version.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} commands[] = {
	{ "keygen", cmd_keygen, "make a minisign key pair" },
	{ "bundle", cmd_bundle, "make a bundle directory from a kernel and initrd" },
	{ "sign", cmd_sign, "sign a bundle's manifest (writes manifest.minisig)" },
	{ "fetch", cmd_fetch, "download and verify a bundle into a directory" },
	{ "verify", cmd_verify, "re-check a bundle on disk" },
	{ "check", cmd_check, "can this machine kexec? (preflight report)" },
	{ "boot", cmd_boot, "fetch, verify, stage in RAM and kexec into a bundle" },
	{ "handoff", cmd_handoff, "show what boot carries over (--dump DIR)" },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f,
	    "usage: nixos-kexec COMMAND [OPTIONS]\n"
	    "\n"
	    "Fetch a signed NixOS kernel/initrd bundle over HTTPS, verify every\n"
	    "byte against a minisign key you trust, and boot it from RAM.\n"
	    "\n"
	    "commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
	    "\n"
	    "Run 'nixos-kexec COMMAND --help' for a command's options.\n"
	    "\n"
	    "A first run, on the build machine and then on the target:\n"
	    "  nixos-kexec keygen -p kexec.pub -s kexec.key\n"
	    "  nixos-kexec bundle --kernel bzImage --initrd initrd \\\n"
	    "      --cmdline 'init=/nix/store/...-nixos-system/init' --version 1 -o out\n"
	    "  nixos-kexec sign -s kexec.key out        # or: minisign -Sm out/manifest\n"
	    "  nixos-kexec fetch https://example.org/nixos/ -p kexec.pub -o /run/bundle\n"
	    "\n"
	    "exit status: 0 done, 64 usage, 65 bundle rejected, 69 source unavailable\n"
	    "(retry later), 70 internal, 71 kernel refused, 74 local I/O error,\n"
	    "75 locked, 77 not permitted; 128+N: killed by signal N (fetch -o removes\n"
	    "what it made first).\n");
}

/* The offline tarball and `nix build` carry a bundle beside the agent:
 * <prefix>/bin/nixos-kexec with <prefix>/share/nixos-kexec/bundle/ and
 * its key bundle.pub. Run with no arguments, the agent boots it. */
static int
boot_carried(void)
{
	char exe[PATH_MAX], dir[PATH_MAX + 32], key[PATH_MAX + 32], manifest[PATH_MAX + 48];
	char *argv[] = { "boot", dir, "-p", key, NULL };
	char *slash;

	sys_exe_dir(exe, sizeof(exe)); /* <prefix>/bin */
	if ((slash = strrchr(exe, '/')) == NULL)
		return -1;
	*slash = '\0'; /* <prefix> */
	snprintf(dir, sizeof(dir), "%s/share/nixos-kexec/bundle", exe);
	snprintf(key, sizeof(key), "%s/share/nixos-kexec/bundle.pub", exe);
	snprintf(manifest, sizeof(manifest), "%s/manifest", dir);
	if (access(manifest, R_OK) != 0 || access(key, R_OK) != 0)
		return -1;
	fprintf(stderr, "nixos-kexec: booting the bundle carried in %s\n", dir);
	return cmd_boot(4, argv);
}

int
main(int argc, char **argv)
{
	size_t i;
	int rc;

	/* Before anything touches OpenSSL: no openssl.cnf. The static build's
	 * OpenSSL would read the host's /etc/ssl/openssl.cnf, written for
	 * another distribution's OpenSSL (and OPENSSL_CONF for anyone's); the
	 * agent's TLS settings and digests are its own. */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
	OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
	if (argc < 2) {
		if ((rc = boot_carried()) >= 0)
			return rc;
		usage(stderr);
		return 64;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("nixos-kexec %s\n", NK_VERSION);
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "nixos-kexec: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 64;
}
