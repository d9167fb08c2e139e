/* fleet: what a run does for an operator of many machines, around the one
 * verified fetch (fetch.c): the version floor kept in a state directory,
 * a random delay before the first request (--splay), milestones POSTed to
 * a collector (--report), and the last result written for later. The
 * command layer calls, in order:
 *
 *   fleet_begin           state opened, splay picked, 'start' reported
 *   fleet_splay           the splay waited: after boot's lock and preflight,
 *                         so a machine that cannot kexec says so at once
 *   fleet_check_manifest  from the fetch's on_manifest: the state's floor
 *   fleet_verified        every byte verified: floor raised, 'verified'
 *   fleet_report          boot's 'loaded' and 'executing'
 *   fleet_end             'result' reported and written as the last result
 *
 * Library code: it prints nothing; notes and warnings go to the event
 * sink. Only a state that cannot be read fails a run: reports never do.
 */
#ifndef NK_FLEET_H
#define NK_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "event.h"
#include "fetch.h"
#include "manifest.h"
#include "report.h"
#include "state.h"

#define FLEET_SPLAY_MAX_S 3600U            /* --splay */
/* --revert-after: at least the new system's network self-test at its worst
 * (about 110 s: settle, check, fallback to DHCP/RA, check again; selftest.sh)
 * plus its boot and a login, so the safety net never fires while the
 * self-test is still repairing the network. */
#define FLEET_REVERT_MIN_S 150U
/* With --revert-after, boot appends panic=N: a new system whose stage 1
 * panics reboots (back into the old one) after N s instead of hanging. */
#define FLEET_REVERT_PANIC_S 10U
#define FLEET_REVERT_MAX_S (7U * 24 * 3600)
#define FLEET_DESCRIBE_MAX_BYTES 320

/* The fleet options of the command line and config file (opts.c). */
struct fleet_opts {
	const char *state_dir;   /* NULL: none */
	int state_default;       /* state_dir is boot's default: when it cannot be
				  * made or written (no /var/lib, read-only), go
				  * on without (a floor in it is still enforced) */
	int state_reads_only;    /* check: the floor is read, never written, so a
				  * read-only state_dir is no error */
	const char *report;      /* NULL: none */
	uint64_t splay_s;        /* 0: none */
};

struct fleet {
	const char *command;
	struct event_sink ev;
	struct state state;
	struct report report;
	const char *source;
	uint64_t splay_waited;
	uint64_t splay_max;
	double *deadline;       /* the run's --timeout deadline (fetch_opts) */
	int verified;
	char name[MANIFEST_NAME_MAX_BYTES + 1];
	uint64_t version;
};

/* Opens the state (o->state_dir), waits the splay (printed as an event)
 * and reports 'start' for command with fo's source and CA file; moves fo's
 * --timeout deadline by the time waited. report_url: o->report, or NULL
 * for a command that does not report (check). f is zeroed here; call
 * fleet_end whatever happens next. */
int fleet_begin(struct fleet *f, const struct fleet_opts *o, const char *command,
    struct fetch_opts *fo, const struct event_sink *ev, struct nk_err *e);

/* Waits the splay fleet_begin picked (nothing without --splay) and moves
 * fo's --timeout deadline by as much: the wait is not the transfer's. */
void fleet_splay(struct fleet *f, struct fetch_opts *fo);

/* The nonce of this run (32 hex digits): the handoff's boot nonce too. */
const char *fleet_nonce(const struct fleet *f);

/* Refuses m when its version is below the state's floor (NK_E_VERSION,
 * naming the state file). */
int fleet_check_manifest(struct fleet *f, const struct manifest *m, struct nk_err *e);

/* Every byte of m's bundle was verified: raise the floor (a failure to
 * write it is a warning event) and report 'verified'. */
void fleet_verified(struct fleet *f, const struct manifest *m);

/* Reports m (the verified bundle filled in). An 'executing' milestone is
 * also written as the last result: after it, this process may be gone. */
void fleet_report(struct fleet *f, struct report_msg *m);

/* Reports 'result' (exit status and code name of code; msg, or for
 * success NULL: "verified NAME version V") and writes it as the last
 * result. */
void fleet_end(struct fleet *f, int code, const char *msg);

/* A uniformly random number of seconds in [0, max_s]. */
uint64_t fleet_splay_pick(uint64_t max_s);

/* The sentence boot prints about the safety net, from now, --delay and
 * --revert-after (all seconds). Pure. */
void fleet_revert_describe(uint64_t now, uint64_t delay_s, uint64_t after_s, char *out,
    size_t cap);

/* The kernel command line boot passes: the signed one, then panic=N when
 * after_s > 0 (the safety net also covers a stage-1 panic), then the
 * operator's --append (NULL: none), which the kernel reads last, so it
 * wins. Pure. 0, or -1 when it does not fit in cap bytes. */
int fleet_cmdline(const char *signed_cmdline, uint64_t after_s, const char *append, char *out,
    size_t cap);

#endif
