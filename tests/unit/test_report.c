/* Unit tests for agent/fleet/report.c. curl_easy_setopt is wrapped to
 * record what a report's POST sets: these fail if a report could go out
 * without peer or host verification, over anything but https, or without
 * its short timeouts, i.e. if report.c stopped using http_harden. POSTs go
 * to a closed port on 127.0.0.1 only (connection refused): the failures
 * are observed without a server, and never change anything but events. */
#include <curl/curl.h>

#include "curlrec.h"
#include "nktest.h"
#include "report.h"
#include "version.h"

static char dir[256], ca[300];
static char events[8][NK_ERR_MAX + 300];
static size_t nevents;

static void
on_event(void *ctx, const struct event *ev)
{
	(void)ctx;
	if (nevents < 8)
		snprintf(events[nevents++], sizeof(events[0]), "%s: %s", ev->file ? ev->file : "",
		    ev->msg ? ev->msg : "");
}

static const struct event_sink sink = { on_event, NULL };
static const struct report_ident ID = { "0123456789abcdef0123456789abcdef", "web-1", "boot" };

static int
setup(void **st)
{
	(void)st;
	curlrec_reset();
	nevents = 0;
	memset(events, 0, sizeof(events));
	return 0;
}

static long
last_long(CURLoption opt)
{
	long v = -12345;
	size_t i;

	for (i = 0; i < nseen; i++)
		if (seen[i].opt == opt)
			v = seen[i].l;
	return v;
}

/* --- the JSON ------------------------------------------------------------- */

/* Issue 19.2: the report (and last-result.json, the same JSON) never
 * carries a URL's userinfo or query, in the source or the message. */
static void
t_json_redacts(void **st)
{
	struct report_msg m = { .event = "result", .time = 1,
		.source = "https://u:s3cr3t@boot.example.org/nixos/",
		.message = "https://u:s3cr3t@b.example/x/manifest?X-Amz-Signature=s3cr3t: HTTP 403" };
	struct nk_err e = { "" };
	char out[REPORT_BODY_MAX_BYTES];
	size_t len = 0;

	(void)st;
	assert_int_equal(report_json(&ID, &m, out, sizeof(out), &len, &e), 0);
	assert_null(strstr(out, "s3cr3t"));
	assert_non_null(strstr(out, "\"source\":\"https://***@boot.example.org/nixos/\""));
	assert_non_null(strstr(out, "\"message\":\"https://***@b.example/x/manifest?***: HTTP 403\""));
}

static void
t_json_start(void **st)
{
	struct report_msg m = { .event = "start", .time = 1795527343,
		.source = "https://boot.example.org/nixos/", .splay_s = 7 };
	struct nk_err e = { "" };
	char out[REPORT_BODY_MAX_BYTES];
	size_t len = 0;

	(void)st;
	assert_int_equal(report_json(&ID, &m, out, sizeof(out), &len, &e), 0);
	assert_string_equal(out, "{\"event\":\"start\",\"nonce\":\"0123456789abcdef0123456789abcdef\","
	    "\"time\":1795527343,\"host\":\"web-1\",\"command\":\"boot\",\"agent\":\"" NK_VERSION
	    "\",\"source\":\"https://boot.example.org/nixos/\",\"splay\":7}");
	assert_int_equal(len, strlen(out));
}

static void
t_json_milestones(void **st)
{
	struct report_msg v = { .event = "verified", .time = 1, .bundle_name = "nixos-\"x\"",
		.bundle_version = 20261124001u };
	struct report_msg x = { .event = "executing", .time = 2, .mode = "systemd", .delay_s = 5,
		.revert_after_s = 600 };
	struct report_msg r = { .event = "result", .time = 3, .has_exit = 1, .exit_status = 65,
		.code = "version", .message = "line1\nline2" };
	struct nk_err e = { "" };
	char out[REPORT_BODY_MAX_BYTES];
	size_t len;

	(void)st;
	assert_int_equal(report_json(&ID, &v, out, sizeof(out), &len, &e), 0);
	assert_non_null(strstr(out, ",\"bundle\":{\"name\":\"nixos-\\\"x\\\"\",\"version\":20261124001}}"));
	assert_int_equal(report_json(&ID, &x, out, sizeof(out), &len, &e), 0);
	assert_non_null(strstr(out, ",\"mode\":\"systemd\",\"delay\":5,\"revert_after\":600}"));
	assert_int_equal(report_json(&ID, &r, out, sizeof(out), &len, &e), 0);
	assert_non_null(strstr(out, ",\"exit\":65,\"code\":\"version\",\"message\":\"line1\\u000aline2\"}"));
	assert_null(strchr(out, '\n')); /* one line, always */
}

static void
t_json_overflow(void **st)
{
	static char msg[REPORT_BODY_MAX_BYTES];
	struct report_msg r = { .event = "result", .time = 3, .has_exit = 1, .message = msg };
	struct nk_err e = { "" };
	char out[REPORT_BODY_MAX_BYTES];
	size_t len = 77;

	(void)st;
	memset(msg, 'a', sizeof(msg) - 1);
	assert_int_equal(report_json(&ID, &r, out, sizeof(out), &len, &e), NK_E_INTERNAL);
	assert_int_equal(len, 77);
	assert_int_equal(out[0], '\0');
	assert_int_equal(report_json(&ID, &r, out, 10, &len, &e), NK_E_INTERNAL);
}

static void
t_nonce(void **st)
{
	char a[33], b[33];
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(report_nonce(a, sizeof(a), &e), 0);
	assert_int_equal(report_nonce(b, sizeof(b), &e), 0);
	assert_int_equal(strlen(a), 32);
	assert_int_equal(strspn(a, "0123456789abcdef"), 32);
	assert_string_not_equal(a, b);
	assert_int_equal(report_nonce(a, 32, &e), NK_E_INTERNAL);
}

/* --- sending -------------------------------------------------------------- */

static void
t_off_without_url(void **st)
{
	struct report r;
	struct report_msg m = { .event = "start" };

	(void)st;
	report_init(&r, NULL, NULL, &ID, &sink);
	report_send(&r, &m);
	report_init(&r, "", NULL, &ID, &sink);
	report_send(&r, &m);
	assert_int_equal(curlrec_count(CURLOPT_URL), 0);
	assert_int_equal(nevents, 0);
}

static void
t_bad_url_is_a_warning(void **st)
{
	struct report r;
	struct report_msg m = { .event = "start" };

	(void)st;
	report_init(&r, "http://127.0.0.1:1/r", ca, &ID, &sink);
	report_send(&r, &m);
	assert_int_equal(curlrec_count(CURLOPT_URL), 0);
	assert_int_equal(nevents, 1);
	assert_non_null(strstr(events[0], "report: reporting is off: "));
}

static void
t_missing_ca_is_a_warning(void **st)
{
	struct report r;
	struct report_msg m = { .event = "start" };

	(void)st;
	report_init(&r, "https://127.0.0.1:1/r", "/nonexistent/ca.pem", &ID, &sink);
	report_send(&r, &m);
	assert_int_equal(nevents, 1);
	assert_non_null(strstr(events[0], "'start' not delivered"));
}

static int is_one(long v) { return v == 1; }

static void
t_post_is_hardened(void **st)
{
	struct report r;
	struct report_msg m = { .event = "start", .source = "https://s/" };
	size_t i;

	(void)st;
	report_init(&r, "https://127.0.0.1:1/collect", ca, &ID, &sink);
	report_send(&r, &m);
	assert_string_equal(curlrec_last_str(CURLOPT_URL), "https://127.0.0.1:1/collect");
	assert_string_equal(curlrec_last_str(CURLOPT_PROTOCOLS_STR), "https");
	assert_string_equal(curlrec_last_str(CURLOPT_REDIR_PROTOCOLS_STR), "https");
	assert_string_equal(curlrec_last_str(CURLOPT_CAINFO), ca);
	assert_int_equal(last_long(CURLOPT_SSL_VERIFYPEER), 1);
	assert_int_equal(last_long(CURLOPT_SSL_VERIFYHOST), 2);
	assert_int_equal(last_long(CURLOPT_SSLVERSION), CURL_SSLVERSION_TLSv1_2);
	assert_true(last_long(CURLOPT_CONNECTTIMEOUT) > 0 &&
	    last_long(CURLOPT_CONNECTTIMEOUT) <= REPORT_CONNECT_TIMEOUT_S);
	assert_true(last_long(CURLOPT_TIMEOUT) > 0 && last_long(CURLOPT_TIMEOUT) <= REPORT_TIMEOUT_S);
	assert_int_equal(curlrec_count(CURLOPT_PINNEDPUBLICKEY), 0); /* the bundle server's, not this */
	for (i = 0; i < nseen; i++)
		if (seen[i].opt == CURLOPT_SSL_VERIFYPEER && !is_one(seen[i].l))
			fail_msg("VERIFYPEER set to %ld", seen[i].l);
	assert_non_null(strstr(curlrec_last_str(CURLOPT_POSTFIELDS), "{\"event\":\"start\""));
	/* refused: a warning, the run goes on */
	assert_int_equal(nevents, 1);
	assert_non_null(strstr(events[0], "'start' not delivered to https://127.0.0.1:1/collect"));
	assert_non_null(strstr(events[0], "the run goes on"));
	assert_int_equal(r.sent, 0);
}

static void
t_gives_up_after_failures(void **st)
{
	struct report r;
	struct report_msg m = { .event = "start" };

	(void)st;
	report_init(&r, "https://127.0.0.1:1/collect", ca, &ID, &sink);
	report_send(&r, &m);
	m.event = "verified";
	report_send(&r, &m);
	assert_int_equal(curlrec_count(CURLOPT_URL), REPORT_FAILURES_MAX);
	assert_non_null(strstr(events[REPORT_FAILURES_MAX - 1], "no more reports"));
	m.event = "result";
	report_send(&r, &m);
	assert_int_equal(curlrec_count(CURLOPT_URL), REPORT_FAILURES_MAX);
	assert_int_equal(nevents, REPORT_FAILURES_MAX);
}

static int
group_setup(void **st)
{
	(void)st;
	nkt_tmpdir(dir);
	nkt_write(dir, "ca.pem", "not really a CA\n", 16);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	return 0;
}

static int
group_teardown(void **st)
{
	(void)st;
	nkt_rmtree(dir);
	return 0;
}

#define T(f) cmocka_unit_test_setup(f, setup)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(t_json_start), T(t_json_redacts), T(t_json_milestones), T(t_json_overflow), T(t_nonce),
		T(t_off_without_url), T(t_bad_url_is_a_warning), T(t_missing_ca_is_a_warning),
		T(t_post_is_hardened), T(t_gives_up_after_failures),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
