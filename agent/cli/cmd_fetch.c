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
#include "fleet.h"
#include "opts.h"
#include "progress.h"
#include "sigguard.h"

static const char fetch_help[] =
    "usage: nixos-kexec fetch SOURCE -o DIR (-P KEY | -p FILE)... [options]\n"
    "\n"
    "Download a signed bundle, verify it, and write it to DIR. DIR ends up\n"
    "holding exactly the verified bundle (manifest, manifest.minisig, kernel,\n"
    "initrd), or nothing at all: the artifacts are staged as unnamed files in a\n"
    "hidden DIR.partial-XXXXXX beside it and named only after every check.\n"
    "SIGTERM, SIGINT, SIGHUP or SIGPIPE remove it too (exit 128+N); one left by\n"
    "a run killed outright (SIGKILL, power cut) is removed by the next run for\n"
    "the same DIR.\n"
    "\n"
    "SOURCE  https:// URL of the bundle directory or of its manifest,\n"
    "        a local directory, or file:///path. http:// is refused.\n"
    "\n"
    FETCH_OPTIONS_HELP
    "  -o DIR               where to put the verified bundle: must not exist, or\n"
    "                       be an empty directory that a rename can replace (not\n"
    "                       '.', not a mount point); checked before any download,\n"
    "                       and the free space on its filesystem once the\n"
    "                       manifest gives the sizes\n"
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
    "  --state-dir DIR      refuse a version below the floor kept in DIR (exit\n"
    "                       65), raise it after verifying, keep the last result\n"
    "  --report URL         POST the milestones as JSON to URL (see fetch --help)\n"
    "  --json               one JSON object per event on stdout\n";

/* Fills the output's temporary directory with the verified bundle. The
 * artifacts were staged there as unnamed files while downloading: they
 * are linked, not copied. */
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
	if ((rc = stage_link(&r->initrd, path, e)) != 0 || !r->m.has_store)
		return rc;
	snprintf(path, sizeof(path), "%s/%s", od->tmp, r->m.store.file);
	return stage_link(&r->store, path, e);
}

static void
info(struct progress *p, const char *msg)
{
	struct event ev = { .type = EV_INFO, .msg = msg };

	progress_event(p, &ev);
}

/* What begin found of earlier runs: removed leftovers, kept look-alikes. */
static void
report_sweep(struct progress *p, const struct fileio_outdir *od)
{
	char msg[NK_ERR_MAX + 160];

	if (od->swept > 0) {
		snprintf(msg, sizeof(msg), "removed %u stale %s" FILEIO_PARTIAL_SUFFIX "* "
		    "director%s of earlier runs (killed or cut off)", od->swept, od->dir,
		    od->swept == 1 ? "y" : "ies");
		info(p, msg);
	}
	if (od->nkept > 0) {
		snprintf(msg, sizeof(msg), "left %u director%s named like this program's "
		    "partial downloads but not surely its own: %s; remove by hand what is "
		    "a leftover", od->nkept, od->nkept == 1 ? "y" : "ies", od->kept);
		info(p, msg);
	}
}

/* Once the manifest is verified, the sizes are known: is there room for
 * them on the output filesystem? Refused now, not after the download. */
static int
check_room(void *ctx, const struct manifest *m, const uint8_t **tail, size_t *tail_len,
    struct nk_err *e)
{
	const struct fileio_outdir *od = ctx;
	char mount[PATH_MAX];
	uint64_t avail, need = m->kernel.size + m->initrd.size + (m->has_store ? m->store.size : 0);
	struct nk_err fe;

	(void)tail;
	(void)tail_len;
	if (fileio_fs_of(od->tmp, mount, sizeof(mount), &avail, &fe) != 0)
		return 0; /* unknown: the writes themselves will tell */
	if (avail >= need)
		return 0;
	return nk_fail(e, NK_E_IO, "%s: the output filesystem (mounted at %s) has %.1f MiB "
	    "free; the bundle needs %.1f MiB (kernel %llu + initrd %llu + store %llu bytes): "
	    "make room there or give -o on another filesystem", od->dir, mount,
	    (double)avail / 1048576.0, (double)need / 1048576.0,
	    (unsigned long long)m->kernel.size, (unsigned long long)m->initrd.size,
	    (unsigned long long)(m->has_store ? m->store.size : 0));
}

/* Everything fetch and verify check once the manifest is verified: the
 * state's version floor, then (fetch) room for the bundle. */
struct manifest_checks {
	struct fleet *fl;
	const struct fileio_outdir *od; /* NULL: verify */
};

static int
on_manifest(void *ctx, const struct manifest *m, const uint8_t **tail, size_t *tail_len,
    struct nk_err *e)
{
	struct manifest_checks *mc = ctx;
	int rc;

	if ((rc = fleet_check_manifest(mc->fl, m, e)) != 0)
		return rc;
	return mc->od != NULL ? check_room((void *)mc->od, m, tail, tail_len, e) : 0;
}

/* fileio_outdir_begin with signals held until the new directory is
 * guarded: a signal in between would leave it behind. */
static int
begin_output(struct fileio_outdir *od, const char *dir, struct nk_err *e)
{
	char tmp[NK_ERR_MAX];
	int rc, sig;

	sigguard_install();
	sigguard_hold();
	rc = fileio_outdir_begin(od, dir, e);
	if (rc == 0)
		sigguard_arm(od->tmp);
	if ((sig = sigguard_release()) != 0) {
		if (rc == 0)
			fileio_outdir_abort(od);
		sigguard_die(sig);
	}
	if (rc == NK_E_USAGE && strncmp(e->msg, "-o", 2) != 0) {
		snprintf(tmp, sizeof(tmp), "-o %s", e->msg);
		memcpy(e->msg, tmp, sizeof(tmp));
	}
	return rc;
}

/* Names the staged files and renames the directory into place, with
 * signals held: a signal meanwhile aborts instead of committing, and is
 * acted on once the directory is gone. */
static int
commit_output(struct fileio_outdir *od, const struct fetch_result *r, struct nk_err *e)
{
	int rc;

	sigguard_hold();
	if ((rc = write_bundle(od, r, e)) == 0 && !sigguard_pending())
		rc = fileio_outdir_commit(od, e);
	else if (rc == 0)
		rc = nk_fail(e, NK_E_INTERNAL, "interrupted by a signal");
	if (rc == 0)
		sigguard_arm(NULL);
	return rc;
}

static void
print_summary(struct progress *p, const struct fetch_result *r, const char *what)
{
	char msg[NK_ERR_MAX], store[64] = "";

	if (r->m.has_store)
		snprintf(store, sizeof(store), ", store %" PRIu64 " bytes", r->m.store.size);
	snprintf(msg, sizeof(msg), "%s %s version %" PRIu64 " (%s): kernel %" PRIu64
	    " bytes, initrd %" PRIu64 " bytes%s, verified", what, r->m.name, r->m.version,
	    r->m.arch, r->m.kernel.size, r->m.initrd.size, store);
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
	struct fleet fl;
	struct manifest_checks mck = { &fl, NULL };
	int rc, sig, have_od = 0;

	memset(&fl, 0, sizeof(fl));
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
		/* Refuse a DIR that can never be put in place before
		 * downloading, not after; stage the artifacts in its hidden
		 * sibling, where they are linked. */
		if ((rc = begin_output(&od, cli.outdir, &e)) != 0)
			goto out;
		have_od = 1;
		report_sweep(&p, &od);
		cli.opts.stage_dir = od.tmp;
		mck.od = &od;
	}
	cli.opts.on_manifest = on_manifest;
	cli.opts.on_manifest_ctx = &mck;
	if ((rc = fleet_begin(&fl, &cli.fleet, cmd, &cli.opts, &cli.opts.http.ev, &e)) != 0)
		goto out;
	fleet_splay(&fl, &cli.opts);
	if ((rc = fetch_run(&cli.opts, r, &e)) != 0)
		goto out;
	fleet_verified(&fl, &r->m);
	if (is_fetch && (rc = commit_output(&od, r, &e)) != 0)
		goto out_staged;
	print_summary(&p, r, is_fetch ? "fetched" : "bundle");
out_staged:
	fetch_result_close(r);
out:
	if (have_od && rc != 0) {
		fileio_outdir_abort(&od);
		sigguard_arm(NULL);
	}
	if (have_od && (sig = sigguard_release()) != 0)
		sigguard_die(sig); /* after the cleanup above; nothing more to say */
	free(r);
	fleet_end(&fl, rc, rc != 0 ? e.msg : NULL);
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
