/* fleet: state, splay, reports and the last result around a run. */
#include "fleet.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "http.h"

static void
info(const struct fleet *f, const char *file, const char *msg)
{
	struct event ev = { .type = EV_INFO, .file = file, .msg = msg };

	event_emit(&f->ev, &ev);
}

uint64_t
fleet_splay_pick(uint64_t max_s)
{
	if (max_s == 0 || sodium_init() < 0)
		return 0;
	if (max_s > FLEET_SPLAY_MAX_S)
		max_s = FLEET_SPLAY_MAX_S;
	return randombytes_uniform((uint32_t)max_s + 1);
}

static void
sleep_s(uint64_t s)
{
	struct timespec ts = { (time_t)s, 0 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int
open_state(struct fleet *f, const struct fleet_opts *o, struct nk_err *e)
{
	char msg[NK_ERR_MAX + 128];
	int rc;

	if (o->state_dir == NULL)
		return 0;
	if ((rc = state_open(&f->state, o->state_dir, e)) != 0) {
		if (!(o->state_default && f->state.dir_unusable))
			return rc;
		/* boot's default place is missing or read-only: a rescue
		 * system, say. Go on, and say what is not kept. */
		snprintf(msg, sizeof(msg), "%s; no version floor is kept between runs (give "
		    "--state-dir)", e->msg);
		info(f, "state", msg);
		e->msg[0] = '\0';
		return 0;
	}
	if (f->state.write_errno != 0 && !o->state_default && !o->state_reads_only) {
		/* Named, yet unusable: the same 74 as one that cannot be made,
		 * before anything is fetched. A floor that is never raised
		 * lets the next run go back. */
		rc = nk_fail(e, NK_E_IO, "state directory %s cannot be written (%s): the version "
		    "floor could not be raised after this run; make it writable or give another "
		    "--state-dir", f->state.dir, strerror(f->state.write_errno));
		f->state.open = 0;
		return rc;
	}
	if (f->state.write_errno != 0 && !o->state_reads_only) {
		if (f->state.have_floor)
			snprintf(msg, sizeof(msg), "state directory %s cannot be written (%s): its "
			    "version floor %" PRIu64 " is enforced but not raised, and no last result "
			    "is kept (give --state-dir)", f->state.dir,
			    strerror(f->state.write_errno), f->state.floor);
		else
			snprintf(msg, sizeof(msg), "state directory %s cannot be written (%s); no "
			    "version floor is kept between runs (give --state-dir)", f->state.dir,
			    strerror(f->state.write_errno));
		info(f, "state", msg);
		return 0;
	}
	if (f->state.have_floor)
		snprintf(msg, sizeof(msg), "version floor %" PRIu64 " (%s)", f->state.floor,
		    f->state.version_path);
	else
		snprintf(msg, sizeof(msg), "no version verified here yet (%s)", f->state.dir);
	info(f, "state", msg);
	return 0;
}

/* A report is bounded on its own (REPORT_TIMEOUT_S) and is not the
 * run's: the --timeout deadline moves by the time it took. */
static void
send(struct fleet *f, struct report_msg *m)
{
	double t0 = http_now();

	if (f->report.url[0] == '\0')
		return;
	report_send(&f->report, m);
	if (f->deadline != NULL && *f->deadline > 0)
		*f->deadline += http_now() - t0;
}

int
fleet_begin(struct fleet *f, const struct fleet_opts *o, const char *command,
    struct fetch_opts *fo, const struct event_sink *ev, struct nk_err *e)
{
	struct report_ident id = { .command = command };
	struct report_msg m = { .event = "start" };
	int rc;

	memset(f, 0, sizeof(*f));
	f->command = command;
	f->source = fo->nsources > 0 ? fo->sources[0] : NULL;
	if (ev != NULL)
		f->ev = *ev;
	if ((rc = report_nonce(id.nonce, sizeof(id.nonce), e)) != 0)
		return rc;
	if (gethostname(id.host, sizeof(id.host) - 1) != 0)
		id.host[0] = '\0';
	report_init(&f->report, o->report, fo->http.cacert, &id, &f->ev);
	if ((rc = open_state(f, o, e)) != 0)
		return rc;
	f->splay_max = o->splay_s;
	if (o->splay_s > 0)
		f->splay_waited = fleet_splay_pick(o->splay_s);
	m.source = f->source;
	m.splay_s = f->splay_waited;
	f->deadline = &fo->http.deadline;
	send(f, &m);
	return 0;
}

void
fleet_splay(struct fleet *f, struct fetch_opts *fo)
{
	char msg[128];

	if (f->splay_max == 0)
		return;
	snprintf(msg, sizeof(msg), "waiting %" PRIu64 " s before the first request "
	    "(random, at most %" PRIu64 ")", f->splay_waited, f->splay_max);
	info(f, "splay", msg);
	sleep_s(f->splay_waited);
	if (fo->http.deadline > 0)
		fo->http.deadline += (double)f->splay_waited;
}

const char *
fleet_nonce(const struct fleet *f)
{
	return f->report.id.nonce;
}

int
fleet_check_manifest(struct fleet *f, const struct manifest *m, struct nk_err *e)
{
	return state_check(&f->state, m->version, e);
}

/* The last result: the run's last milestone, as the collector saw it. */
static void
write_last(struct fleet *f, const struct report_msg *m)
{
	struct nk_err e = { "" };
	char json[REPORT_BODY_MAX_BYTES + 1], msg[NK_ERR_MAX + 64];
	size_t len;

	if (!f->state.open)
		return;
	if (report_json(&f->report.id, m, json, sizeof(json) - 1, &len, &e) == 0) {
		json[len++] = '\n';
		if (state_write_result(&f->state, json, len, &e) == 0)
			return;
	}
	snprintf(msg, sizeof(msg), "the last result was not written: %s", e.msg);
	info(f, "state", msg);
}

void
fleet_verified(struct fleet *f, const struct manifest *m)
{
	struct nk_err e = { "" };
	struct report_msg rm = { .event = "verified" };
	char msg[NK_ERR_MAX + 64];

	f->verified = 1;
	snprintf(f->name, sizeof(f->name), "%s", m->name);
	f->version = m->version;
	if (f->state.open && f->state.write_errno == 0) {
		if (state_record(&f->state, m->version, &e) != 0) {
			snprintf(msg, sizeof(msg), "the version floor was not raised: %s", e.msg);
			info(f, "state", msg);
		} else {
			snprintf(msg, sizeof(msg), "version floor now %" PRIu64 " (%s)",
			    f->state.floor, f->state.version_path);
			info(f, "state", msg);
		}
	}
	fleet_report(f, &rm);
}

void
fleet_report(struct fleet *f, struct report_msg *m)
{
	if (f->verified && m->bundle_name == NULL) {
		m->bundle_name = f->name;
		m->bundle_version = f->version;
	}
	if (m->time == 0)
		m->time = (uint64_t)time(NULL);
	send(f, m);
	if (strcmp(m->event, "executing") == 0)
		write_last(f, m);
}

void
fleet_end(struct fleet *f, int code, const char *msg)
{
	struct report_msg m = { .event = "result", .has_exit = 1 };
	char ok[MANIFEST_NAME_MAX_BYTES + 64];

	m.exit_status = nk_exit_code(code);
	m.code = nk_code_name(code);
	if (msg == NULL || (code == 0 && msg[0] == '\0')) {
		if (f->verified)
			snprintf(ok, sizeof(ok), "verified %s version %" PRIu64, f->name, f->version);
		else
			snprintf(ok, sizeof(ok), "done");
		msg = ok;
	}
	m.message = msg;
	fleet_report(f, &m);
	write_last(f, &m);
}

void
fleet_revert_describe(uint64_t now, uint64_t delay_s, uint64_t after_s, char *out,
    size_t cap)
{
	char iso[32];
	struct tm tm;
	time_t t = (time_t)(now + delay_s + after_s);

	if (gmtime_r(&t, &tm) == NULL || strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(iso, sizeof(iso), "unknown");
	snprintf(out, cap, "safety net: unless 'nixos-kexec-confirm' runs in the new system "
	    "within %" PRIu64 " s of its start, it reboots back into this one (deadline "
	    "%s plus the new system's boot time)", after_s, iso);
}

int
fleet_cmdline(const char *signed_cmdline, uint64_t after_s, const char *append, char *out,
    size_t cap)
{
	char panic[32] = "";
	int n;

	if (after_s > 0)
		snprintf(panic, sizeof(panic), " panic=%u", FLEET_REVERT_PANIC_S);
	n = snprintf(out, cap, "%s%s%s%s", signed_cmdline, panic, append ? " " : "",
	    append ? append : "");
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}
