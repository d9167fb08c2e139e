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
    "initrd), or nothing at all. Nothing is written before every check passed.\n"
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

static int
write_fd_file(const char *dir, const char *name, int src, struct nk_err *e)
{
	char path[PATH_MAX];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return nk_fail(e, NK_E_IO, "%s: %s", path, strerror(errno));
	rc = fileio_copy_fd(src, fd, e);
	if (rc == 0 && fsync(fd) != 0)
		rc = nk_fail(e, NK_E_IO, "%s: %s", path, strerror(errno));
	if (close(fd) != 0 && rc == 0)
		rc = nk_fail(e, NK_E_IO, "%s: %s", path, strerror(errno));
	return rc;
}

/* Writes the verified bundle beside DIR, then renames it into place. */
static int
write_bundle(const char *dir, const struct fetch_result *r, struct nk_err *e)
{
	struct fileio_outdir od;
	char path[PATH_MAX];
	int rc;

	if ((rc = fileio_outdir_begin(&od, dir, e)) != 0)
		return rc;
	snprintf(path, sizeof(path), "%s/manifest", od.tmp);
	if ((rc = fileio_write_atomic(path, r->manifest, r->manifest_len, 0644, e)) != 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/manifest.minisig", od.tmp);
	if ((rc = fileio_write_atomic(path, r->sig, r->sig_len, 0644, e)) != 0)
		goto fail;
	if ((rc = write_fd_file(od.tmp, r->m.kernel.file, stage_fd(&r->kernel), e)) != 0 ||
	    (rc = write_fd_file(od.tmp, r->m.initrd.file, stage_fd(&r->initrd), e)) != 0 ||
	    (rc = fileio_outdir_commit(&od, e)) != 0)
		goto fail;
	return 0;
fail:
	fileio_outdir_abort(&od);
	return rc;
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
	int rc;

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
		int exists;
		/* Refuse a full directory before downloading, not after. */
		if ((rc = fileio_outdir_check(cli.outdir, &exists, &e)) != 0)
			goto out;
	}
	if ((rc = fetch_run(&cli.opts, r, &e)) != 0)
		goto out;
	if (is_fetch && (rc = write_bundle(cli.outdir, r, &e)) != 0)
		goto out_staged;
	print_summary(&p, r, is_fetch ? "fetched" : "bundle");
out_staged:
	fetch_result_close(r);
out:
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
