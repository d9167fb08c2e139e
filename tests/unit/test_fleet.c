/* Unit tests for agent/fleet/fleet.c: the run's state (floor checked and
 * raised, the last result written), boot's default state directory that
 * may be missing, the splay's bounds and its shift of the --timeout
 * deadline, reports that never fail a run, and the safety net's sentence.
 * Reports go to a closed port on 127.0.0.1 only. */
#include <errno.h>
#include <sys/stat.h>

#include "nktest.h"
#include "fleet.h"

static char dir[256];
/* faccessat is wrapped: this directory reads as not writable (EROFS), as
 * a read-only mount does even for root. */
static char ro_dir[256];

int __real_faccessat(int fd, const char *path, int mode, int flags);
int __wrap_faccessat(int fd, const char *path, int mode, int flags);

int
__wrap_faccessat(int fd, const char *path, int mode, int flags)
{
	if (ro_dir[0] != '\0' && strcmp(path, ro_dir) == 0 && (mode & W_OK)) {
		errno = EROFS;
		return -1;
	}
	return __real_faccessat(fd, path, mode, flags);
}
static char events[16][NK_ERR_MAX + 300];
static size_t nevents;

static void
on_event(void *ctx, const struct event *ev)
{
	(void)ctx;
	if (nevents < 16)
		snprintf(events[nevents++], sizeof(events[0]), "%s: %s", ev->file ? ev->file : "",
		    ev->msg ? ev->msg : "");
}

static const struct event_sink sink = { on_event, NULL };

static int
setup(void **st)
{
	(void)st;
	nkt_tmpdir(dir);
	ro_dir[0] = '\0';
	nevents = 0;
	memset(events, 0, sizeof(events));
	return 0;
}

static int
teardown(void **st)
{
	(void)st;
	nkt_rmtree(dir);
	return 0;
}

static const char *
event_with(const char *needle)
{
	size_t i;

	for (i = 0; i < nevents; i++)
		if (strstr(events[i], needle))
			return events[i];
	return NULL;
}

static char *
slurp(const char *name)
{
	static char buf[8192];
	char p[512];
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if ((f = fopen(p, "rb")) == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static struct manifest
bundle(uint64_t version)
{
	struct manifest m;

	memset(&m, 0, sizeof(m));
	snprintf(m.name, sizeof(m.name), "nixos-test");
	m.version = version;
	return m;
}

static void
fetch_opts_fixture(struct fetch_opts *fo)
{
	memset(fo, 0, sizeof(*fo));
	fo->sources[0] = "https://boot.example.org/nixos/";
	fo->nsources = 1;
}

static void
t_floor_across_runs(void **st)
{
	struct fleet_opts o = { .state_dir = dir };
	struct fetch_opts fo;
	struct fleet f;
	struct manifest m100 = bundle(100), m99 = bundle(99);
	struct nk_err e = { "" };
	char want[400];

	(void)st;
	fetch_opts_fixture(&fo);
	assert_int_equal(fleet_begin(&f, &o, "fetch", &fo, &sink, &e), 0);
	assert_non_null(event_with("state: no version verified here yet"));
	assert_int_equal(strlen(fleet_nonce(&f)), 32);
	assert_int_equal(fleet_check_manifest(&f, &m100, &e), 0);
	fleet_verified(&f, &m100);
	assert_string_equal(slurp("version"), "100\n");
	fleet_end(&f, 0, NULL);
	assert_non_null(strstr(slurp("last-result.json"), "\"event\":\"result\""));
	assert_non_null(strstr(slurp("last-result.json"), "\"exit\":0,\"code\":\"ok\","
	    "\"message\":\"verified nixos-test version 100\"}\n"));

	/* the next run refuses 99, naming the state file */
	assert_int_equal(fleet_begin(&f, &o, "fetch", &fo, &sink, &e), 0);
	assert_non_null(event_with("state: version floor 100"));
	assert_int_equal(fleet_check_manifest(&f, &m99, &e), NK_E_VERSION);
	snprintf(want, sizeof(want), "state file %s/version", dir);
	assert_non_null(strstr(e.msg, want));
	fleet_end(&f, NK_E_VERSION, e.msg);
	assert_non_null(strstr(slurp("last-result.json"), "\"exit\":65,\"code\":\"version\""));
	assert_string_equal(slurp("version"), "100\n");
}

static void
t_not_verified_not_recorded(void **st)
{
	struct fleet_opts o = { .state_dir = dir };
	struct fetch_opts fo;
	struct fleet f;
	struct manifest m = bundle(300);
	struct nk_err e = { "" };

	(void)st;
	fetch_opts_fixture(&fo);
	assert_int_equal(fleet_begin(&f, &o, "fetch", &fo, &sink, &e), 0);
	assert_int_equal(fleet_check_manifest(&f, &m, &e), 0); /* the manifest alone */
	fleet_end(&f, NK_E_HASH, "initrd: sha256 mismatch");
	assert_null(slurp("version"));
	assert_non_null(strstr(slurp("last-result.json"), "\"exit\":65,\"code\":\"hash\""));
	assert_null(strstr(slurp("last-result.json"), "bundle"));
}

static void
t_default_dir_missing_goes_on(void **st)
{
	struct fleet_opts o = { .state_default = 1 };
	struct fetch_opts fo;
	struct fleet f;
	struct manifest m = bundle(5);
	struct nk_err e = { "" };
	char sub[300];

	(void)st;
	snprintf(sub, sizeof(sub), "%s/no/such/parent", dir);
	o.state_dir = sub;
	fetch_opts_fixture(&fo);
	assert_int_equal(fleet_begin(&f, &o, "boot", &fo, &sink, &e), 0);
	assert_non_null(event_with("no version floor is kept between runs"));
	fleet_verified(&f, &m);
	fleet_end(&f, 0, NULL);
	/* the same directory named by --state-dir is an error */
	o.state_default = 0;
	assert_int_equal(fleet_begin(&f, &o, "boot", &fo, &sink, &e), NK_E_IO);
	assert_non_null(strstr(e.msg, sub));
}

static void
t_default_dir_corrupt_refuses(void **st)
{
	struct fleet_opts o = { .state_dir = dir, .state_default = 1 };
	struct fetch_opts fo;
	struct fleet f;
	struct nk_err e = { "" };

	(void)st;
	nkt_write(dir, "version", "garbage\n", 8);
	fetch_opts_fixture(&fo);
	assert_int_equal(fleet_begin(&f, &o, "boot", &fo, &sink, &e), NK_E_IO);
	assert_non_null(strstr(e.msg, "version"));
}

/* Issue 19.7: a named --state-dir that is there but cannot be written is
 * the same 74 as one that cannot be made, before anything is fetched;
 * boot's default goes on in both cases, enforcing the floor it can read;
 * check, which only reads the floor, takes it. */
static void
t_read_only_dir(void **st)
{
	struct fleet_opts o = { .state_dir = dir };
	struct fetch_opts fo;
	struct fleet f;
	struct manifest m99 = bundle(99), m200 = bundle(200);
	struct nk_err e = { "" };
	char sub[300];

	(void)st;
	nkt_write(dir, "version", "100\n", 4);
	snprintf(ro_dir, sizeof(ro_dir), "%s", dir);
	fetch_opts_fixture(&fo);
	assert_int_equal(fleet_begin(&f, &o, "fetch", &fo, &sink, &e), NK_E_IO);
	assert_int_equal(nk_exit_code(NK_E_IO), 74);
	assert_non_null(strstr(e.msg, "cannot be written (Read-only file system)"));
	assert_non_null(strstr(e.msg, dir));
	/* one that cannot be made: the same code */
	snprintf(sub, sizeof(sub), "%s/no/such/parent", dir);
	o.state_dir = sub;
	assert_int_equal(fleet_begin(&f, &o, "fetch", &fo, &sink, &e), NK_E_IO);

	o = (struct fleet_opts){ .state_dir = dir, .state_default = 1 };
	nevents = 0;
	assert_int_equal(fleet_begin(&f, &o, "boot", &fo, &sink, &e), 0);
	assert_non_null(event_with("version floor 100 is enforced but not raised"));
	assert_int_equal(fleet_check_manifest(&f, &m99, &e), NK_E_VERSION);
	assert_int_equal(fleet_check_manifest(&f, &m200, &e), 0);
	fleet_verified(&f, &m200);
	assert_null(event_with("version floor now"));
	assert_null(event_with("not raised:"));
	fleet_end(&f, 0, NULL);
	assert_string_equal(slurp("version"), "100\n");
	assert_null(slurp("last-result.json"));

	o = (struct fleet_opts){ .state_dir = dir, .state_reads_only = 1 };
	nevents = 0;
	assert_int_equal(fleet_begin(&f, &o, "check", &fo, &sink, &e), 0);
	assert_null(event_with("cannot be written"));
	assert_int_equal(fleet_check_manifest(&f, &m99, &e), NK_E_VERSION);
	fleet_end(&f, 0, NULL);
}

static void
t_no_state_writes_nothing(void **st)
{
	struct fleet_opts o = { 0 };
	struct fetch_opts fo;
	struct fleet f;
	struct manifest m = bundle(5);
	struct nk_err e = { "" };

	(void)st;
	fetch_opts_fixture(&fo);
	assert_int_equal(fleet_begin(&f, &o, "fetch", &fo, &sink, &e), 0);
	assert_int_equal(fleet_check_manifest(&f, &m, &e), 0);
	fleet_verified(&f, &m);
	fleet_end(&f, 0, NULL);
	assert_int_equal(nevents, 0);
	assert_null(slurp("version"));
}

static void
t_executing_is_the_last_result(void **st)
{
	struct fleet_opts o = { .state_dir = dir };
	struct fetch_opts fo;
	struct fleet f;
	struct manifest m = bundle(7);
	struct report_msg x = { .event = "executing", .mode = "direct" };
	struct nk_err e = { "" };

	(void)st;
	fetch_opts_fixture(&fo);
	assert_int_equal(fleet_begin(&f, &o, "boot", &fo, &sink, &e), 0);
	fleet_verified(&f, &m);
	fleet_report(&f, &x);
	assert_non_null(strstr(slurp("last-result.json"), "{\"event\":\"executing\""));
	assert_non_null(strstr(slurp("last-result.json"), "\"bundle\":{\"name\":\"nixos-test\","
	    "\"version\":7},\"mode\":\"direct\""));
}

static void
t_dead_collector_changes_nothing(void **st)
{
	struct fleet_opts o = { .state_dir = dir, .report = "https://127.0.0.1:1/collect" };
	struct fetch_opts fo;
	struct fleet f;
	struct manifest m = bundle(8);
	struct nk_err e = { "" };

	(void)st;
	fetch_opts_fixture(&fo);
	assert_int_equal(fleet_begin(&f, &o, "fetch", &fo, &sink, &e), 0);
	assert_non_null(event_with("report: 'start' not delivered"));
	assert_int_equal(fleet_check_manifest(&f, &m, &e), 0);
	fleet_verified(&f, &m);
	assert_non_null(event_with("no more reports"));
	fleet_end(&f, 0, NULL);
	assert_string_equal(slurp("version"), "8\n");
	assert_non_null(strstr(slurp("last-result.json"), "\"exit\":0"));
}

static void
t_splay_bounds(void **st)
{
	int seen[4] = { 0 };
	uint64_t v;
	int i;

	(void)st;
	assert_int_equal(fleet_splay_pick(0), 0);
	for (i = 0; i < 2000; i++) {
		v = fleet_splay_pick(3);
		assert_true(v <= 3);
		seen[v]++;
	}
	for (i = 0; i < 4; i++)
		assert_true(seen[i] > 0); /* both ends reached */
	for (i = 0; i < 200; i++)
		assert_true(fleet_splay_pick(UINT64_MAX) <= FLEET_SPLAY_MAX_S);
}

static void
t_splay_moves_deadline(void **st)
{
	struct fleet_opts o = { .splay_s = 1 };
	struct fetch_opts fo;
	struct fleet f;
	struct nk_err e = { "" };

	(void)st;
	fetch_opts_fixture(&fo);
	fo.http.deadline = 1000.0;
	assert_int_equal(fleet_begin(&f, &o, "fetch", &fo, &sink, &e), 0);
	assert_true(f.splay_waited <= 1);
	/* issue 19.4: fleet_begin only picks; boot takes its lock and runs
	 * its preflight before fleet_splay waits */
	assert_true(fo.http.deadline == 1000.0);
	assert_null(event_with("splay: waiting "));
	fleet_splay(&f, &fo);
	assert_true(fo.http.deadline == 1000.0 + (double)f.splay_waited);
	assert_non_null(event_with("splay: waiting "));
	assert_non_null(event_with("before the first request (random, at most 1)"));
}

static void
t_revert_describe(void **st)
{
	char out[FLEET_DESCRIBE_MAX_BYTES];

	(void)st;
	/* 1795527343 + 5 + 600 = 1795527948: 2026-11-24T13:45:48Z */
	fleet_revert_describe(1795527343u, 5, 600, out, sizeof(out));
	assert_string_equal(out, "safety net: unless 'nixos-kexec-confirm' runs in the new system "
	    "within 600 s of its start, it reboots back into this one (deadline "
	    "2026-11-24T13:45:48Z plus the new system's boot time)");
}

/* The kernel command line: panic=N only with a safety net, between the
 * signed line and --append (the kernel reads left to right: the operator's
 * own panic= still wins); too long is refused, not cut. */
static void
t_cmdline_panic(void **st)
{
	char out[64];

	(void)st;
	assert_int_equal(fleet_cmdline("console=ttyS0 panic=-1", 0, NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "console=ttyS0 panic=-1");
	assert_int_equal(fleet_cmdline("console=ttyS0 panic=-1", 600, NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "console=ttyS0 panic=-1 panic=10");
	assert_int_equal(fleet_cmdline("a", 150, "panic=60 quiet", out, sizeof(out)), 0);
	assert_string_equal(out, "a panic=10 panic=60 quiet");
	assert_int_equal(fleet_cmdline("a", 0, "b", out, sizeof(out)), 0);
	assert_string_equal(out, "a b");
	/* "0123456789" + " panic=10" is 19 bytes: 19 fit in 20, not in 19. */
	assert_int_equal(fleet_cmdline("0123456789", 150, NULL, out, 20), 0);
	assert_int_equal(fleet_cmdline("0123456789", 150, NULL, out, 19), -1);
	assert_int_equal(fleet_cmdline("0123456789", 150, "x", out, 21), -1);
}

/* The minimum covers the self-test's worst case (about 110 s). */
static void
t_revert_min_above_selftest(void **st)
{
	(void)st;
	assert_true(FLEET_REVERT_MIN_S > 110);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(t_floor_across_runs), T(t_not_verified_not_recorded),
		T(t_default_dir_missing_goes_on), T(t_default_dir_corrupt_refuses),
		T(t_no_state_writes_nothing), T(t_read_only_dir), T(t_executing_is_the_last_result),
		T(t_dead_collector_changes_nothing), T(t_splay_bounds), T(t_splay_moves_deadline),
		T(t_revert_describe), T(t_cmdline_panic), T(t_revert_min_above_selftest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
