/* cmd_fetch: `fetch` and `verify`. Both run the one verified pipeline
 * (fetch.c); fetch then writes the bundle out, all or nothing. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "fetch.h"
#include "fileio.h"
#include "opts.h"
#include "progress.h"

static const char fetch_help[] =
    "usage: nixos-kexec fetch SOURCE -o DIR (-P KEY | -p FILE)... [options]\n"
    "\n"
    "Download a signed bundle, verify it, and write it to DIR. DIR ends up\n"
    "holding exactly the verified bundle (manifest, manifest.minisig, kernel,\n"
    "initrd), or nothing at all: the artifacts are staged as unnamed files in a\n"
    "hidden DIR.partial-XXXXXX beside it and named only after every check.\n"
    "\n"
    "SOURCE  https:// URL of the bundle directory or of its manifest,\n"
    "        a local directory, or file:///path. http:// is refused.\n"
    "\n"
    FETCH_OPTIONS_HELP
    "  -o DIR               where to put the verified bundle (must not exist,\n"
    "                       or be empty)\n"
    "\n"
    "examples:\n"
    "  nixos-kexec fetch https://example.org/nixos/ -P RWQ... -o /run/bundle\n"
    "  nixos-kexec fetch https://cdn.example.org/b/manifest -p kexec.pub \\\n"
    "      --mirror https://mirror.example.net/b/ --min-version 20261124 -o b\n";

static const char verify_help[] =
    "usage: nixos-kexec verify DIR (-P KEY | -p FILE)... [options]\n"
    "\n"
    "Re-check a bundle on disk exactly as fetch does: signature, manifest,\n"
    "arch, version floor, validity window, every artifact's size and sha256.\n"
    "\n"
    "options:\n"
    "  -P KEY               trust this minisign public key (RW...); repeatable\n"
    "  -p FILE              trust the public key in FILE; repeatable\n"
    "  --min-version N      refuse bundles with a lower version\n"
    "  --arch A             expect arch A instead of this machine's (uname -m)\n"
    "  --allow-legacy       accept legacy (non-prehashed) Ed signatures\n"
    "  --json               one JSON object per event on stdout\n";

/* Fills the output's temporary directory with the verified bundle and
 * renames it into place. The artifacts were staged there as unnamed files
 * while downloading: they are linked, not copied. */
static int
write_bundle(struct fileio_outdir *od, const struct fetch_result *r, struct nk_err *e)
{
	char path[PATH_MAX];
	int rc;

	snprintf(path, sizeof(path), "%s/manifest", od->tmp);
	if ((rc = fileio_write_atomic(path, r->manifest, r->manifest_len, 0644, e)) != 0)
		return rc;
	snprintf(path, sizeof(path), "%s/manifest.minisig", od->tmp);
	if ((rc = fileio_write_atomic(path, r->sig, r->sig_len, 0644, e)) != 0)
		return rc;
	snprintf(path, sizeof(path), "%s/%s", od->tmp, r->m.kernel.file);
	if ((rc = stage_link(&r->kernel, path, e)) != 0)
		return rc;
	snprintf(path, sizeof(path), "%s/%s", od->tmp, r->m.initrd.file);
	if ((rc = stage_link(&r->initrd, path, e)) != 0)
		return rc;
	return fileio_outdir_commit(od, e);
}

static void
print_summary(struct progress *p, const struct fetch_result *r, const char *what)
{
	char msg[NK_ERR_MAX];

	snprintf(msg, sizeof(msg), "%s %s version %" PRIu64 " (%s): kernel %" PRIu64
	    " bytes, initrd %" PRIu64 " bytes, verified", what, r->m.name, r->m.version,
	    r->m.arch, r->m.kernel.size, r->m.initrd.size);
	progress_result(p, 0, 0, msg);
}

static int
run(int argc, char **argv, int is_fetch)
{
	struct fetch_cli cli;
	struct fetch_result *r = NULL;
	struct progress p;
	struct nk_err e = { "" };
	const char *cmd = is_fetch ? "fetch" : "verify";
	struct fileio_outdir od;
	int rc, have_od = 0;

	rc = fetch_cli_parse(argc, argv, is_fetch ? fetch_help : verify_help, NULL, NULL,
	    &cli, &e);
	if (rc != 0)
		return rc > 0 ? 0 : cmd_usage(cmd, "%s", e.msg);
	if (is_fetch && cli.outdir == NULL)
		return cmd_usage(cmd, "-o DIR is required");
	if (!is_fetch && cli.outdir != NULL)
		return cmd_usage(cmd, "-o is not an option of verify");
	progress_init(&p, cli.json);
	cli.opts.http.ev = (struct event_sink){ progress_event, &p };
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		rc = nk_fail(&e, NK_E_NOMEM, "out of memory");
		goto out;
	}
	if (is_fetch) {
		/* Refuse a full directory before downloading, not after; stage
		 * the artifacts in its hidden sibling, where they are linked. */
		if ((rc = fileio_outdir_begin(&od, cli.outdir, &e)) != 0)
			goto out;
		have_od = 1;
		cli.opts.stage_dir = od.tmp;
	}
	if ((rc = fetch_run(&cli.opts, r, &e)) != 0)
		goto out;
	if (is_fetch && (rc = write_bundle(&od, r, &e)) != 0)
		goto out_staged;
	print_summary(&p, r, is_fetch ? "fetched" : "bundle");
out_staged:
	fetch_result_close(r);
out:
	if (have_od && rc != 0)
		fileio_outdir_abort(&od);
	free(r);
	if (rc != 0)
		progress_result(&p, rc, nk_exit_code(rc), e.msg);
	return nk_exit_code(rc);
}

int
cmd_fetch(int argc, char **argv)
{
	return run(argc, argv, 1);
}

int
cmd_verify(int argc, char **argv)
{
	return run(argc, argv, 0);
}
