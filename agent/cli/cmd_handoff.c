/* cmd_handoff: `handoff --dump DIR`, the files boot would append to the
 * new initrd, written to a directory instead, so an operator sees exactly
 * what the new system will inherit before trusting a kexec with it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "handoff.h"

static const char handoff_help[] =
    "usage: nixos-kexec handoff --dump DIR [options]\n"
    "\n"
    "Collect what boot hands to the new system (network units made from\n"
    "this machine's interfaces, addresses and routes; DNS; authorized SSH\n"
    "keys; host keys; hostname; machine-id; boot.json) and write the files\n"
    "into DIR instead of an initrd archive. Nothing is booted. DIR must not\n"
    "exist, or be empty; it holds all the files or none, mode 0700 (private\n"
    "host keys are 0600 inside).\n"
    "\n"
    "options:\n"
    "  --dump DIR           where to write the files (required)\n"
    "  --root DIR           read /etc, /run and home directories under DIR instead\n"
    "                       of / (a copy of a machine's files; the network\n"
    "                       interfaces and routes are still this machine's)\n"
    HANDOFF_OPTIONS_HELP
    "\n"
    "Keys come from /root/.ssh/authorized_keys, the invoking user's\n"
    "(SUDO_USER or DOAS_USER) ~/.ssh/authorized_keys, every file in\n"
    "/etc/ssh/authorized_keys.d/, and the options above. Options in front of\n"
    "a key (command=\"...\", from=..., no-pty) are dropped.\n"
    "\n"
    "example:\n"
    "  nixos-kexec handoff --dump /tmp/handoff --ssh-key \"$(cat ~/.ssh/id_ed25519.pub)\"\n";

enum { OPT_DUMP = 256, OPT_ROOT, OPT_KEY, OPT_KEYFILE, OPT_NOHOSTKEYS, OPT_HELP };

static const struct option handoff_opts_long[] = {
	{ "dump", required_argument, NULL, OPT_DUMP },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "ssh-key", required_argument, NULL, OPT_KEY },
	{ "ssh-key-file", required_argument, NULL, OPT_KEYFILE },
	{ "no-host-keys", no_argument, NULL, OPT_NOHOSTKEYS },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

int
cmd_handoff(int argc, char **argv)
{
	struct handoff_cli cli;
	struct handoff_opts o;
	struct handoff *h = NULL;
	struct nk_err e = { "" };
	const char *dir = NULL, *root = NULL;
	size_t i;
	int c, rc;

	memset(&cli, 0, sizeof(cli));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", handoff_opts_long, NULL)) != -1) {
		rc = 0;
		switch (c) {
		case OPT_DUMP:
			dir = optarg;
			break;
		case OPT_ROOT:
			root = optarg;
			break;
		case OPT_KEY:
			rc = handoff_cli_ssh_key(&cli, optarg, &e);
			break;
		case OPT_KEYFILE:
			rc = handoff_cli_ssh_key_file(&cli, optarg, &e);
			break;
		case OPT_NOHOSTKEYS:
			cli.no_host_keys = 1;
			break;
		case OPT_HELP:
			fputs(handoff_help, stdout);
			return 0;
		case ':':
			return cmd_usage("handoff", "option '%s' needs a value", argv[optind - 1]);
		default:
			return cmd_usage("handoff", "unknown option '%s'", argv[optind - 1]);
		}
		if (rc != 0)
			return cmd_usage("handoff", "%s", e.msg);
	}
	if (optind != argc)
		return cmd_usage("handoff", "unexpected argument '%s'", argv[optind]);
	if (dir == NULL)
		return cmd_usage("handoff", "--dump DIR is required");
	if (dir[0] == '\0')
		return cmd_usage("handoff", "--dump: empty directory name");
	if (root != NULL && (root[0] != '/' || strcmp(root, "/") == 0))
		return cmd_usage("handoff", "--root: an absolute directory other than / is needed");
	handoff_cli_to_opts(&cli, &o);
	if (root != NULL)
		o.root = root;
	if ((h = malloc(sizeof(*h))) == NULL)
		return cmd_die(NK_E_NOMEM, "out of memory");
	rc = handoff_collect(&o, h, &e);
	if (rc == 0)
		rc = handoff_dump(h, dir, &e);
	for (i = 0; i < h->nnotes; i++)
		fprintf(stderr, "nixos-kexec handoff: note: %s\n", h->notes[i]);
	if (h->notes_over > 0)
		fprintf(stderr, "nixos-kexec handoff: note: %zu more notes\n", h->notes_over);
	if (rc == 0) {
		printf("nonce %s\n", h->nonce);
		for (i = 0; i < h->nfiles; i++)
			printf("wrote %s/%s (%04o, %zu bytes)\n", dir, h->files[i].path,
			    (unsigned)h->files[i].mode, h->files[i].len);
		printf("handoff: %zu network unit%s, %zu SSH key%s, %zu files in %s\n", h->nunits,
		    h->nunits == 1 ? "" : "s", h->nkeys, h->nkeys == 1 ? "" : "s", h->nfiles, dir);
	}
	handoff_free(h);
	free(h);
	if (rc != 0)
		return cmd_die(rc, e.msg);
	return 0;
}
