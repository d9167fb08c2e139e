/* cmd_boot: `boot` (preflight, verified fetch into sealed memfds, load,
 * execute) and `check` (the preflight report on its own). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "cpio.h"
#include "fetch.h"
#include "fleet.h"
#include "handoff.h"
#include "kimage.h"
#include "kx.h"
#include "lock.h"
#include "opts.h"
#include "preflight.h"
#include "progress.h"
#include "sigguard.h"
#include "stage.h"
#include "sys.h"

#define BOOT_DELAY_MAX_S 3600
/* Room asked of a staging filesystem beyond the bundle: the handoff
 * archive appended to the initrd, and some to spare. */
#define BOOT_DISK_SLACK_BYTES (16ULL << 20)

static const char boot_help[] =
    "usage: nixos-kexec boot SOURCE (-P KEY | -p FILE)... [options]\n"
    "\n"
    "Check that this machine can kexec, fetch and verify the bundle into\n"
    "sealed RAM (memfd) or, when RAM is short, an unnamed file on a local\n"
    "disk, load it with kexec_file_load, and jump into it. Nothing on disk\n"
    "is changed. Any failure leaves nothing loaded.\n"
    "\n"
    FETCH_OPTIONS_HELP
    "  --stage MODE         where the verified bytes wait for the load: ram\n"
    "                       (sealed memfds; peaks near 3.3 x the bundle), disk\n"
    "                       (an unlinked O_TMPFILE file on a local disk, never\n"
    "                       tmpfs or a network filesystem; peaks near 2.3 x),\n"
    "                       auto (default: ram when MemAvailable allows, else disk)\n"
    "  --stage-dir DIR      the directory for disk staging (default: the first\n"
    "                       fit of /var/tmp, /var/lib, /tmp, /)\n"
    "  --store MODE         a lean bundle's Nix store (manifest format 2): initrd\n"
    "                       (fetched and verified now, appended to the initrd),\n"
    "                       stage1 (the new system's stage 1 fetches it and checks\n"
    "                       it against the verified manifest's hash, carried in\n"
    "                       boot.json), auto (default: initrd unless RAM needs stage1)\n"
    "  --exec MODE          systemd: 'systemctl kexec', a clean shutdown first\n"
    "                       (default when PID 1 is systemd); direct: sync, then\n"
    "                       reboot(LINUX_REBOOT_CMD_KEXEC) (default otherwise);\n"
    "                       none: leave it loaded and exit 0\n"
    "  --delay SECONDS      print the result, detach (output to the kernel log),\n"
    "                       and execute after SECONDS, so the SSH session or\n"
    "                       cloud-init run that started it gets its answer\n"
    "  --append ARGS        add ARGS to the signed kernel command line (your\n"
    "                       choice, not the signer's; it is logged)\n"
    "  --revert-after S     the safety net: the new system reboots (back into\n"
    "                       this one) S seconds (150 at least) after it starts,\n"
    "                       unless 'nixos-kexec-confirm' runs there first or a\n"
    "                       disk was written there; adds panic=10; carried in\n"
    "                       boot.json; the deadline is printed\n"
    "  (boot keeps its state in " STATE_DEFAULT_DIR " unless --state-dir says\n"
    "  otherwise; it goes on without when that cannot be made)\n"
    "\n"
    "handoff (what the new system inherits, appended to the verified initrd:\n"
    "network units, authorized keys, host keys, hostname, machine-id, boot.json):\n"
    "  --no-handoff         append nothing\n"
    HANDOFF_OPTIONS_HELP
    "\n"
    "Only one boot runs at a time (lock: $NIXOS_KEXEC_LOCK, default\n"
    LOCK_DEFAULT_PATH "); a second one exits 75.\n"
    "\n"
    "examples:\n"
    "  nixos-kexec boot https://example.org/nixos/ -P RWQ...\n"
    "  curl -fsSL https://example.org/nixos-kexec -o /root/nk && chmod +x /root/nk &&\n"
    "    /root/nk boot https://example.org/nixos/ -P RWQ... --delay 5\n";

static const char check_help[] =
    "usage: nixos-kexec check [SOURCE (-P KEY | -p FILE)...] [--json]\n"
    "                         [--config FILE | --no-config] [--state-dir DIR]\n"
    "\n"
    "The preflight report: can this machine kexec into a bundle? Root and\n"
    "CAP_SYS_BOOT, kexec system calls, kexec_load_disabled, lockdown, Secure\n"
    "Boot, container and virtualisation, arch, init system, and memory. With\n"
    "SOURCE, the verified manifest's sizes give the memory needed (and with\n"
    "--state-dir, its version is checked against the floor kept there).\n"
    "SOURCE and the keys may come from the config file (--config FILE, default\n"
    CONFIG_DEFAULT_PATH " when it exists).\n"
    "Exit 0 when boot could proceed, else the status boot would give.\n";

struct boot_args {
	enum kx_exec exec;
	int exec_set;
	uint64_t delay;
	const char *append;
	uint64_t revert_after;
	enum preflight_stage stage;
	const char *stage_dir;
	enum boot_store { BOOT_STORE_AUTO, BOOT_STORE_INITRD, BOOT_STORE_STAGE1 } store;
	struct handoff_cli hc;
};

static int
apply_store(void *ctx, const char *arg, struct nk_err *e)
{
	struct boot_args *b = ctx;

	if (strcmp(arg, "initrd") == 0)
		b->store = BOOT_STORE_INITRD;
	else if (strcmp(arg, "stage1") == 0)
		b->store = BOOT_STORE_STAGE1;
	else if (strcmp(arg, "auto") == 0)
		b->store = BOOT_STORE_AUTO;
	else
		return nk_fail(e, NK_E_USAGE, "--store takes initrd, stage1 or auto");
	return 0;
}

static int
apply_stage(void *ctx, const char *arg, struct nk_err *e)
{
	struct boot_args *b = ctx;

	if (preflight_stage_parse(arg, &b->stage) != 0)
		return nk_fail(e, NK_E_USAGE, "--stage takes ram, disk or auto");
	return 0;
}

static int
apply_stage_dir(void *ctx, const char *arg, struct nk_err *e)
{
	struct boot_args *b = ctx;

	if (arg[0] != '/')
		return nk_fail(e, NK_E_USAGE, "--stage-dir takes an absolute path");
	b->stage_dir = arg;
	return 0;
}

static int
apply_exec(void *ctx, const char *arg, struct nk_err *e)
{
	struct boot_args *b = ctx;

	if (kx_exec_parse(arg, &b->exec) != 0)
		return nk_fail(e, NK_E_USAGE, "--exec takes systemd, direct or none");
	b->exec_set = 1;
	return 0;
}

static int
apply_delay(void *ctx, const char *arg, struct nk_err *e)
{
	struct boot_args *b = ctx;

	if (opts_u64(arg, &b->delay) != 0 || b->delay > BOOT_DELAY_MAX_S)
		return nk_fail(e, NK_E_USAGE, "--delay takes 0 to %d seconds", BOOT_DELAY_MAX_S);
	return 0;
}

static int
apply_append(void *ctx, const char *arg, struct nk_err *e)
{
	struct boot_args *b = ctx;
	const char *c;

	for (c = arg; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			return nk_fail(e, NK_E_USAGE, "--append: printable ASCII only");
	b->append = arg;
	return 0;
}

static int
apply_revert_after(void *ctx, const char *arg, struct nk_err *e)
{
	struct boot_args *b = ctx;

	if (opts_u64(arg, &b->revert_after) != 0 || b->revert_after < FLEET_REVERT_MIN_S ||
	    b->revert_after > FLEET_REVERT_MAX_S)
		return nk_fail(e, NK_E_USAGE, "--revert-after takes %u to %u seconds (time to "
		    "log in to the new system and confirm)", FLEET_REVERT_MIN_S, FLEET_REVERT_MAX_S);
	return 0;
}

static int
apply_ssh_key(void *ctx, const char *arg, struct nk_err *e)
{
	return handoff_cli_ssh_key(&((struct boot_args *)ctx)->hc, arg, e);
}

static int
apply_ssh_key_file(void *ctx, const char *arg, struct nk_err *e)
{
	return handoff_cli_ssh_key_file(&((struct boot_args *)ctx)->hc, arg, e);
}

static int
apply_no_host_keys(void *ctx, const char *arg, struct nk_err *e)
{
	(void)arg;
	(void)e;
	((struct boot_args *)ctx)->hc.no_host_keys = 1;
	return 0;
}

static int
apply_no_handoff(void *ctx, const char *arg, struct nk_err *e)
{
	(void)arg;
	(void)e;
	((struct boot_args *)ctx)->hc.no_handoff = 1;
	return 0;
}

const struct opts_extra cmd_boot_options[] = {
	{ "exec", 1, apply_exec, 0 },
	{ "delay", 1, apply_delay, 0 },
	{ "append", 1, apply_append, 0 },
	{ "revert-after", 1, apply_revert_after, 0 },
	{ "stage", 1, apply_stage, 0 },
	{ "stage-dir", 1, apply_stage_dir, 0 },
	{ "store", 1, apply_store, 0 },
	{ "no-handoff", 0, apply_no_handoff, 0 },
	{ "ssh-key", 1, apply_ssh_key, 1 },
	{ "ssh-key-file", 1, apply_ssh_key_file, 1 },
	{ "no-host-keys", 0, apply_no_host_keys, 0 },
	{ NULL, 0, NULL, 0 },
};

static void
info(struct progress *p, const char *file, const char *msg)
{
	struct event ev = { .type = EV_INFO, .file = file, .msg = msg };

	progress_event(p, &ev);
}

/* What boot does once the manifest is verified: the memory check, then
 * the handoff archive for the initrd's tail. */
struct manifest_ctx {
	const struct preflight *pf;
	struct progress *p;
	const struct boot_args *b;
	const struct fetch_cli *cli;
	struct fleet *fl;
	const char *source;
	const char **stage_dir; /* the fetch options' own: set for disk staging */
	int *skip_store;        /* the fetch options' own: set for --store stage1 */
	char disk_dir[PATH_MAX];
	int store_in_initrd;    /* the store is fetched and goes into the initrd */
	struct handoff h;
	uint8_t *gz;
	size_t gz_len;
};

static int
make_handoff(struct manifest_ctx *c, const struct manifest *m, struct nk_err *e)
{
	struct handoff_opts o;
	char msg[NK_ERR_MAX];
	size_t i;
	int rc;

	handoff_cli_to_opts(&c->b->hc, &o);
	o.bundle_name = m->name;
	o.bundle_version = m->version;
	o.source = c->source;
	o.sources = c->cli->opts.sources;
	o.nsources = c->cli->opts.nsources;
	o.nonce = fleet_nonce(c->fl);
	o.report = c->cli->fleet.report;
	o.report_cacert = c->cli->fleet.report != NULL ? c->cli->opts.http.cacert : NULL;
	o.revert_after = c->b->revert_after;
	if (m->has_store) {
		o.store = &m->store;
		o.store_mode = c->store_in_initrd ? "initrd" : "stage1";
		o.keys = c->cli->keys;
		o.nkeys = c->cli->opts.nkeys;
	}
	if ((rc = handoff_collect(&o, &c->h, e)) != 0 ||
	    (rc = handoff_archive(&c->h, &c->gz, &c->gz_len, e)) != 0) {
		nk_err_prefix(e, "handoff");
		return rc;
	}
	for (i = 0; i < c->h.nnotes; i++)
		info(c->p, "handoff", c->h.notes[i]);
	snprintf(msg, sizeof(msg), "%zu network unit(s), %zu authorized key(s), %s; "
	    "%zu bytes appended to the verified initrd; boot nonce %s", c->h.nunits,
	    c->h.nkeys, c->b->hc.no_host_keys ? "no host keys" : "host keys",
	    c->gz_len, c->h.nonce);
	info(c->p, "handoff", msg);
	return 0;
}

/* Where the bundle waits: the disk directory that would serve (the one
 * of --stage-dir, or the first of the defaults that fits), then the
 * preflight's choice with both modes' numbers in formula. */
static int
plan_stage(const struct preflight *pf, enum preflight_stage want, const char *user_dir,
    uint64_t kernel, uint64_t initrd, char *dir, size_t dcap, enum preflight_stage *chosen,
    char *formula, size_t cap, struct nk_err *e)
{
	const char *defaults[] = STAGE_DISK_DIRS, *one[] = { user_dir, NULL };
	char why[NK_ERR_MAX / 2];
	struct nk_err de;
	int have;

	have = stage_disk_dir(user_dir ? one : defaults, kernel + initrd + BOOT_DISK_SLACK_BYTES,
	    dir, dcap, why, sizeof(why), &de) == 0;
	return preflight_memory(pf, want, kernel, initrd, have ? dir : NULL, why, chosen,
	    formula, cap, e);
}

/* The initrd the kernel gets with --store initrd: the verified initrd
 * (and handoff) + the store as HANDOFF_STORE_PATH in a newc archive. */
static uint64_t
store_initrd_bytes(const struct manifest *m)
{
	return m->initrd.size + m->store.size + 2 * CPIO_HEADER_BYTES + 512;
}

/* Where the bytes wait, and for a lean bundle where its store goes: the
 * initrd when the load of kernel + initrd + store fits (--store initrd
 * or auto), else (auto, stage1) the new system's stage 1, said why. */
static int
plan_store(struct manifest_ctx *c, const struct manifest *m, enum preflight_stage *chosen,
    char *formula, size_t cap, struct nk_err *e)
{
	const struct boot_args *b = c->b;
	char msg[NK_ERR_MAX + 128], why[NK_ERR_MAX];
	struct nk_err se = { "" };
	int rc;

	c->store_in_initrd = 0;
	if (m->has_store && b->store != BOOT_STORE_STAGE1) {
		rc = plan_stage(c->pf, b->stage, b->stage_dir, m->kernel.size, store_initrd_bytes(m),
		    c->disk_dir, sizeof(c->disk_dir), chosen, why, sizeof(why), &se);
		if (rc == 0 || b->store == BOOT_STORE_INITRD) {
			snprintf(formula, cap, "%s", why);
			if (rc != 0)
				return nk_fail(e, rc, "--store initrd: %s", se.msg);
			c->store_in_initrd = 1;
			snprintf(msg, sizeof(msg), "--store %s: initrd: %s (%" PRIu64 " bytes) is "
			    "fetched and verified now and appended to the initrd as /%s",
			    b->store == BOOT_STORE_AUTO ? "auto" : "initrd", m->store.file,
			    m->store.size, HANDOFF_STORE_PATH);
			info(c->p, "store", msg);
			return 0;
		}
	}
	rc = plan_stage(c->pf, b->stage, b->stage_dir, m->kernel.size, m->initrd.size,
	    c->disk_dir, sizeof(c->disk_dir), chosen, formula, cap, e);
	if (rc != 0 || !m->has_store)
		return rc;
	if (b->hc.no_handoff)
		return nk_fail(e, NK_E_USAGE, "the store would be left to the new system's stage 1 "
		    "(--store %s), which needs the handoff (boot.json carries the hash to check it "
		    "against): drop --no-handoff%s%.*s", b->store == BOOT_STORE_AUTO ? "auto" :
		    "stage1", b->store == BOOT_STORE_AUTO ? "; with the store in the initrd: " :
		    ", or use --store initrd", b->store == BOOT_STORE_AUTO ? 200 : 0, se.msg);
	*c->skip_store = 1;
	snprintf(msg, sizeof(msg), "--store %s: stage1: %s (%" PRIu64 " bytes) is left to the "
	    "new system's stage 1, which fetches it from the same source and checks it against "
	    "the verified manifest's sha256 (in boot.json)%s%.*s",
	    b->store == BOOT_STORE_AUTO ? "auto" : "stage1", m->store.file, m->store.size,
	    b->store == BOOT_STORE_AUTO ? "; the RAM needs it: with the store in the initrd, " :
	    "", b->store == BOOT_STORE_AUTO ? 300 : 0, se.msg);
	info(c->p, "store", msg);
	return 0;
}

static int
on_manifest(void *ctx, const struct manifest *m, const uint8_t **tail, size_t *tail_len,
    struct nk_err *e)
{
	struct manifest_ctx *c = ctx;
	char formula[NK_ERR_MAX], msg[NK_ERR_MAX + 64];
	enum preflight_stage chosen;
	int rc;

	if ((rc = fleet_check_manifest(c->fl, m, e)) != 0)
		return rc;
	if ((rc = plan_store(c, m, &chosen, formula, sizeof(formula), e)) != 0)
		return rc;
	snprintf(msg, sizeof(msg), "memory: %s", formula);
	info(c->p, NULL, msg);
	if (chosen == PREFLIGHT_STAGE_DISK) {
		*c->stage_dir = c->disk_dir;
		snprintf(msg, sizeof(msg), "staging on disk: unlinked O_TMPFILE files in %s "
		    "(page cache the kernel can reclaim during the load; not sealed: see "
		    "docs/security.md)", c->disk_dir);
	} else {
		snprintf(msg, sizeof(msg), "staging in RAM: sealed memfds");
	}
	info(c->p, "stage", msg);
	if (c->b->hc.no_handoff) {
		info(c->p, "handoff", "skipped (--no-handoff)");
		return 0;
	}
	if ((rc = make_handoff(c, m, e)) != 0)
		return rc;
	*tail = c->gz;
	*tail_len = c->gz_len;
	return 0;
}

/* --store initrd: a new staged initrd (where the bytes wait now: memfd or
 * the disk directory) of the verified initrd with its handoff, zeros to a
 * multiple of 4, then the verified store as one newc entry at
 * HANDOFF_STORE_PATH; sealed, and it replaces r's initrd. The kernel
 * unpacks the concatenation: it skips zeros between archives and takes a
 * newc header only at an offset that is a multiple of 4 (init/initramfs.c,
 * unpack_to_rootfs); the gzip'd handoff ends anywhere. */
static int
store_into_initrd(struct fetch_result *r, const char *dir, struct progress *p,
    struct nk_err *e)
{
	static const uint8_t zeros[4];
	struct stage_file st = { .fd = -1, .ro_fd = -1 };
	struct cpio head, tail;
	char msg[256];
	int rc;

	cpio_init(&head, 0);
	cpio_init(&tail, 0);
	if ((rc = stage_open(&st, "initrd+store", dir, e)) != 0)
		goto out;
	if ((rc = stage_append_fd(&st, stage_fd(&r->initrd), r->initrd.len, e)) != 0 ||
	    (rc = stage_append(&st, zeros, cpio_pad_bytes(r->initrd.len), e)) != 0 ||
	    (rc = cpio_add_dir(&head, "nixos-kexec", 0755, e)) != 0 ||
	    (rc = cpio_add_file_header(&head, HANDOFF_STORE_PATH, 0444, r->store.len, e)) != 0 ||
	    (rc = stage_append(&st, head.buf, head.len, e)) != 0 ||
	    (rc = stage_append_fd(&st, stage_fd(&r->store), r->store.len, e)) != 0 ||
	    (rc = stage_append(&st, zeros, cpio_pad_bytes(r->store.len), e)) != 0 ||
	    (rc = cpio_finish(&tail, e)) != 0 ||
	    (rc = stage_append(&st, tail.buf, tail.len, e)) != 0 ||
	    (rc = stage_seal(&st, e)) != 0)
		goto out;
	snprintf(msg, sizeof(msg), "initrd %llu bytes + store %llu bytes at /%s: %llu bytes "
	    "to load", (unsigned long long)r->initrd.len, (unsigned long long)r->store.len,
	    HANDOFF_STORE_PATH, (unsigned long long)st.len);
	info(p, "store", msg);
	stage_close(&r->initrd);
	stage_close(&r->store);
	r->initrd = st;
	st.fd = st.ro_fd = -1;
out:
	if (rc != 0)
		nk_err_prefix(e, "store into the initrd");
	stage_close(&st);
	cpio_free(&head);
	cpio_free(&tail);
	return rc;
}

/* After --delay: a new session, output to the kernel log, then execute. */
static int
detach_and_exec(enum kx_exec mode, uint64_t delay, const struct preflight *pf,
    struct fleet *fl)
{
	struct report_msg rm = { .event = "executing" };
	struct nk_err e = { "" };
	unsigned left;
	pid_t pid;
	int fd;

	fflush(NULL);
	if ((pid = fork()) < 0)
		return -1;
	if (pid > 0)
		return 0;
	setsid();
	fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		dup2(fd, STDIN_FILENO);
	/* Signals are still held (sigguard): one during the wait (a shutdown's
	 * SIGTERM, an operator's kill) ends it, and the kernel is unloaded
	 * before this process dies of it: nothing stays loaded behind us. */
	for (left = (unsigned)delay; left > 0 && !sigguard_pending();)
		left = sleep(left);
	if (sigguard_pending()) {
		dprintf(STDERR_FILENO, "nixos-kexec: interrupted by a signal before executing; "
		    "unloading\n");
		fleet_end(fl, NK_E_INTERNAL, "interrupted by a signal before executing; unloaded");
		kx_unload(pf);
		sigguard_die(sigguard_release());
	}
	rm.mode = mode == KX_EXEC_SYSTEMD ? "systemd" : "direct";
	rm.delay_s = delay;
	fleet_report(fl, &rm);
	if (kx_exec(mode, &e) != 0) {
		dprintf(STDERR_FILENO, "nixos-kexec: %s; unloading\n", e.msg);
		fleet_end(fl, NK_E_KERNEL, e.msg);
		kx_unload(pf);
		_exit(nk_exit_code(NK_E_KERNEL));
	}
	_exit(0);
}

static int
build_cmdline(const struct manifest *m, const char *append, uint64_t revert_after, char *out,
    size_t cap, struct progress *p, struct nk_err *e)
{
	char msg[KX_CMDLINE_MAX_BYTES + 64];

	if (fleet_cmdline(m->cmdline, revert_after, append, out, cap) != 0)
		return nk_fail(e, NK_E_USAGE, "command line longer than %zu bytes", cap - 1);
	snprintf(msg, sizeof(msg), "command line (signed): %s", m->cmdline);
	info(p, NULL, msg);
	if (revert_after > 0) {
		snprintf(msg, sizeof(msg), "command line (appended for --revert-after, so that a "
		    "failing stage 1 reboots too): panic=%u", FLEET_REVERT_PANIC_S);
		info(p, NULL, msg);
	}
	if (append) {
		snprintf(msg, sizeof(msg), "command line (appended by --append): %s", append);
		info(p, NULL, msg);
	}
	return 0;
}

/* The staged kernel's format from its first bytes, for kx's arm64 rule. */
static enum kimage_format
kernel_format(int fd)
{
	uint8_t head[KIMAGE_HEAD_BYTES];
	struct kimage k;
	ssize_t n = pread(fd, head, sizeof(head), 0);

	if (n <= 0)
		return KIMAGE_UNKNOWN;
	(void)kimage_parse(head, (size_t)n, &k); /* a zboot range error still says zboot */
	return k.format;
}

int
cmd_boot(int argc, char **argv)
{
	struct boot_args b = { .exec = KX_EXEC_DIRECT };
	struct fetch_cli cli;
	struct fetch_result *r = NULL;
	struct preflight pf;
	struct progress p;
	struct manifest_ctx *mc = NULL;
	struct nk_err e = { "" };
	char cmdline[KX_CMDLINE_MAX_BYTES], msg[NK_ERR_MAX + 64], how[KX_HOW_BYTES];
	struct kx_image img;
	struct fleet fl;
	struct report_msg rm;
	const char *okmsg = NULL; /* the result reported on success */
	int rc, lockfd = -1, loaded = 0, sig;

	memset(&fl, 0, sizeof(fl));
	sigguard_install();
	rc = fetch_cli_parse(argc, argv, boot_help, cmd_boot_options, &b, &cli, &e);
	if (rc != 0)
		return rc > 0 ? 0 : cmd_usage("boot", "%s", e.msg);
	if (cli.outdir != NULL)
		return cmd_usage("boot", "-o is not an option of boot (see fetch)");
	if (cli.fleet.state_dir == NULL) {
		cli.fleet.state_dir = STATE_DEFAULT_DIR;
		cli.fleet.state_default = 1;
	}
	progress_init(&p, cli.json);
	cli.opts.http.ev = (struct event_sink){ progress_event, &p };
	if ((rc = fleet_begin(&fl, &cli.fleet, "boot", &cli.opts, &cli.opts.http.ev, &e)) != 0)
		goto out;
	if ((rc = lock_take(NULL, &lockfd, &e)) != 0)
		goto out;
	preflight_gather(sys_root(), &pf);
	if ((rc = preflight_verdict(&pf, &e)) != 0)
		goto out;
	info(&p, NULL, "preflight: root, kexec available, no lockdown");
	/* The splay only once the lock is held and the machine can kexec. */
	fleet_splay(&fl, &cli.opts);
	if (!b.exec_set)
		b.exec = kx_default_exec(&pf);
	if ((r = calloc(1, sizeof(*r))) == NULL || (mc = calloc(1, sizeof(*mc))) == NULL) {
		rc = nk_fail(&e, NK_E_NOMEM, "out of memory");
		goto out;
	}
	/* r->origin names the source that served the manifest (a mirror,
	 * perhaps); fetch_run fills it before calling on_manifest. */
	*mc = (struct manifest_ctx){ .pf = &pf, .p = &p, .b = &b, .cli = &cli, .fl = &fl,
		.source = r->origin, .stage_dir = &cli.opts.stage_dir,
		.skip_store = &cli.opts.skip_store };
	cli.opts.on_manifest = on_manifest;
	cli.opts.on_manifest_ctx = mc;
	rc = fetch_run(&cli.opts, r, &e);
	handoff_archive_free(mc->gz, mc->gz_len); /* staged in the initrd now, or refused */
	mc->gz = NULL;
	if (rc != 0)
		goto out;
	fleet_verified(&fl, &r->m);
	if (mc->store_in_initrd && (rc = store_into_initrd(r, cli.opts.stage_dir, &p, &e)) != 0)
		goto out_staged;
	if ((rc = build_cmdline(&r->m, b.append, b.revert_after, cmdline, sizeof(cmdline), &p, &e)) != 0)
		goto out_staged;
	img = (struct kx_image){ stage_fd(&r->kernel), stage_fd(&r->initrd), r->m.kernel.size,
		r->initrd.len, cmdline, KIMAGE_UNKNOWN };
	img.kernel_format = kernel_format(img.kernel_fd);
	/* From the load to the point of no return, a signal (SIGHUP from a
	 * dropped SSH session, SIGTERM) is held, and acted on at the end:
	 * after the kernel was unloaded, unless it was handed on already. */
	sigguard_hold();
	if ((rc = kx_load(&img, &pf, sys_root(), how, &e)) != 0)
		goto out_staged;
	loaded = 1;
	info(&p, "kexec", how);
	snprintf(msg, sizeof(msg), "%s version %" PRIu64 " loaded (kexec_loaded = 1)",
	    r->m.name, r->m.version);
	info(&p, "kexec", msg);
	rm = (struct report_msg){ .event = "loaded", .how = how, .revert_after_s = b.revert_after };
	fleet_report(&fl, &rm);
	if (b.revert_after > 0) {
		fleet_revert_describe((uint64_t)time(NULL), b.delay, b.revert_after, msg,
		    sizeof(msg));
		info(&p, "revert", msg);
	}
	fetch_result_close(r); /* the kernel holds its own copy now */
	if (b.exec == KX_EXEC_NONE) {
		progress_result(&p, 0, 0, "loaded; run 'systemctl kexec' (or 'kexec -e') to "
		    "boot it, or 'kexec -u' to unload");
		okmsg = "loaded, not executed (--exec none)";
		goto out;
	}
	if (sigguard_pending()) {
		rc = nk_fail(&e, NK_E_INTERNAL, "interrupted by a signal before executing; "
		    "unloaded");
		goto out;
	}
	if (b.delay > 0) {
		snprintf(msg, sizeof(msg), "executing in %" PRIu64 " s (%s), detached; "
		    "follow it in the kernel log", b.delay,
		    b.exec == KX_EXEC_SYSTEMD ? "systemctl kexec" : "direct");
		progress_result(&p, 0, 0, msg);
		if (detach_and_exec(b.exec, b.delay, &pf, &fl) != 0) {
			rc = nk_fail(&e, NK_E_INTERNAL, "fork: %s", strerror(errno));
			goto out;
		}
		loaded = 0; /* the child owns it now */
		okmsg = msg;
		goto out;
	}
	info(&p, "kexec", b.exec == KX_EXEC_SYSTEMD ? "executing: systemctl kexec"
						     : "executing: sync, reboot(KEXEC)");
	rm = (struct report_msg){ .event = "executing", .mode = b.exec == KX_EXEC_SYSTEMD ?
		"systemd" : "direct" };
	fleet_report(&fl, &rm);
	rc = kx_exec(b.exec, &e);
	if (rc == 0)
		loaded = 0; /* systemd has the kexec job: its shutdown's SIGTERM must not unload */
	okmsg = "executing: systemctl kexec"; /* direct never returns when it works */
	goto out;
out_staged:
	fetch_result_close(r);
out:
	if (rc != 0 && loaded) {
		kx_unload(&pf);
		loaded = 0;
	}
	if (mc != NULL)
		handoff_free(&mc->h);
	free(mc);
	free(r);
	lock_release(NULL, lockfd);
	fleet_end(&fl, rc, rc != 0 ? e.msg : okmsg);
	if (rc != 0)
		progress_result(&p, rc, nk_exit_code(rc), e.msg);
	if ((sig = sigguard_release()) != 0) {
		if (loaded) /* --exec none, or a signal after the result was made */
			kx_unload(&pf);
		sigguard_die(sig);
	}
	return nk_exit_code(rc);
}

static const char *
tri_word(enum tri t, const char *yes, const char *no)
{
	return t == TRI_YES ? yes : t == TRI_NO ? no : "unknown";
}

static void
check_print(const struct preflight *pf, const char *mem, int json, int rc, const char *why)
{
	const char *kf = tri_word(pf->kexec_file, "yes", "no (ENOSYS)");
	const char *sb = tri_word(pf->secure_boot, "on", "off");
	const char *dis = tri_word(pf->load_disabled, "1 (disabled)", "0");
	const char *cap = tri_word(pf->cap_sys_boot, "yes", "no");
	const char *fallback = kx_fallback_plan(pf);

	if (json) {
		printf("{\"event\":\"check\",\"root\":%s,\"cap_sys_boot\":\"%s\","
		    "\"kexec_file_load\":\"%s\",\"kexec_tools\":", pf->root ? "true" : "false",
		    cap, kf);
		progress_json_str(stdout, pf->kexec_tools);
		fputs(",\"kexec_passed_over\":", stdout);
		progress_json_str(stdout, pf->kexec_skipped);
		fputs(",\"kexec_load_fallback\":", stdout);
		progress_json_str(stdout, fallback);
		printf(",\"kexec_load_disabled\":\"%s\",\"lockdown\":", dis);
		progress_json_str(stdout, pf->lockdown[0] ? pf->lockdown : "unknown");
		printf(",\"secure_boot\":\"%s\",\"container\":", sb);
		progress_json_str(stdout, pf->container);
		fputs(",\"virtualisation\":", stdout);
		progress_json_str(stdout, pf->virt);
		fputs(",\"arch\":", stdout);
		progress_json_str(stdout, pf->arch);
		fputs(",\"init\":", stdout);
		progress_json_str(stdout, pf->init);
		printf(",\"mem_total\":%" PRIu64 ",\"mem_available\":%" PRIu64 ",\"memory\":",
		    pf->mem_total, pf->mem_available);
		progress_json_str(stdout, mem);
		printf(",\"verdict\":\"%s\",\"exit\":%d,\"reason\":", rc ? "no" : "yes",
		    nk_exit_code(rc));
		progress_json_str(stdout, why);
		fputs("}\n", stdout);
		return;
	}
	printf("root:                %s\n", pf->root ? "yes" : "no");
	printf("CAP_SYS_BOOT:        %s\n", cap);
	printf("kexec_file_load:     %s\n", kf);
	printf("kexec-tools:         %s\n", pf->kexec_tools[0] ? pf->kexec_tools : "not found");
	if (pf->kexec_skipped[0])
		printf("kexec passed over:   %s (the agent runs only a kexec owned by root "
		    "or by its own owner, writable by no one else, in a directory likewise, "
		    "and every directory above it too, or sticky; no symbolic link on the "
		    "way)\n", pf->kexec_skipped);
	printf("kexec_load fallback: %s\n", fallback);
	printf("kexec_load_disabled: %s\n", dis);
	printf("lockdown:            %s\n", pf->lockdown[0] ? pf->lockdown : "unknown (no securityfs)");
	printf("Secure Boot:         %s\n", pf->secure_boot == TRI_UNKNOWN ?
	    "unknown (no EFI variable)" : sb);
	printf("container:           %s\n", pf->container[0] ? pf->container : "none found");
	printf("virtualisation:      %s\n", pf->virt[0] ? pf->virt : "none found");
	printf("arch:                %s\n", pf->arch);
	printf("init:                %s\n", pf->init[0] ? pf->init : "unknown");
	printf("memory:              %s\n", mem);
	printf("verdict:             %s%s%s\n", rc ? "cannot kexec: " : "ready to kexec",
	    rc ? why : "", "");
}

static int
check_floor(void *ctx, const struct manifest *m, const uint8_t **tail, size_t *tail_len,
    struct nk_err *e)
{
	(void)tail;
	(void)tail_len;
	return fleet_check_manifest(ctx, m, e);
}

int
cmd_check(int argc, char **argv)
{
	struct fetch_cli cli;
	struct fetch_result *r = NULL;
	struct preflight pf;
	struct nk_err e = { "" }, fe = { "" };
	char mem[NK_ERR_MAX], dir[PATH_MAX];
	enum preflight_stage chosen;
	struct fleet fl;
	struct fleet_opts fo;
	int rc, json, have_source;

	rc = fetch_cli_parse(argc, argv, check_help, NULL, NULL, &cli, &e);
	if (rc != 0)
		return rc > 0 ? 0 : cmd_usage("check", "%s", e.msg);
	json = cli.json;
	have_source = cli.opts.nsources > 0;
	/* The floor of --state-dir applies; check reports nothing and
	 * writes no result. */
	fo = (struct fleet_opts){ .state_dir = cli.fleet.state_dir, .state_reads_only = 1 };
	if (have_source && (rc = fleet_begin(&fl, &fo, "check", &cli.opts, NULL, &e)) != 0)
		return cmd_die(rc, e.msg);
	preflight_gather(sys_root(), &pf);
	rc = preflight_verdict(&pf, &e);
	snprintf(mem, sizeof(mem), "MemTotal %.1f MiB, MemAvailable %.1f MiB",
	    (double)pf.mem_total / (1 << 20), (double)pf.mem_available / (1 << 20));
	if (have_source) {
		int frc;

		cli.opts.manifest_only = 1;
		cli.opts.on_manifest = check_floor;
		cli.opts.on_manifest_ctx = &fl;
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return cmd_die(NK_E_NOMEM, "out of memory");
		frc = fetch_run(&cli.opts, r, &fe);
		if (frc == 0)
			frc = plan_stage(&pf, PREFLIGHT_STAGE_AUTO, NULL, r->m.kernel.size,
			    r->m.initrd.size, dir, sizeof(dir), &chosen, mem, sizeof(mem), &fe);
		else
			snprintf(mem, sizeof(mem), "unknown: %s", fe.msg);
		free(r);
		if (rc == 0 && frc != 0) {
			rc = frc;
			memcpy(e.msg, fe.msg, sizeof(e.msg));
		}
	}
	check_print(&pf, mem, json, rc, e.msg);
	return nk_exit_code(rc);
}
