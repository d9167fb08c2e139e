/* Unit tests for agent/fetch/http.c. curl_easy_setopt is wrapped to record every
 * option the agent sets, so these fail if certificate or host checks could
 * be switched off, if a protocol other than https were allowed, or if a
 * safety option went missing. The transfers go to a closed port on
 * 127.0.0.1 only (connection refused): retries and backoff are observed
 * without any server. */
#include <curl/curl.h>

#include "http.h"
#include "curlrec.h"
#include "nktest.h"

static int
setup(void **st)
{
	(void)st;
	curlrec_reset();
	return 0;
}

/* Every value an option was ever given must satisfy ok(). */
static void
all_values(CURLoption opt, int (*ok)(long), const char *what)
{
	size_t i, n = 0;

	for (i = 0; i < nseen; i++)
		if (seen[i].opt == opt) {
			n++;
			if (!ok(seen[i].l))
				fail_msg("%s set to %ld", what, seen[i].l);
		}
	if (n == 0)
		fail_msg("%s never set", what);
}

static int is_one(long v) { return v == 1; }
static int is_two(long v) { return v == 2; }
static int is_tls12(long v) { return v == CURL_SSLVERSION_TLSv1_2; }
static int is_pos(long v) { return v > 0; }
static int bounded_redirs(long v) { return v >= 0 && v <= 10; }

/* One failed fetch to a closed loopback port, quickly retried. */
static int
get_closed(struct sink *k, struct nk_err *e, const char *cacert, const char *pin)
{
	struct http_opts o = { .cacert = cacert, .pin = pin, .backoff_ms = 1 };
	int rc;

	assert_int_equal(http_global_init(e), 0);
	assert_int_equal(sink_open(k, "f", 10, NULL, e), 0);
	rc = http_get(&o, "https://127.0.0.1:1/f", k, e);
	sink_close(k);
	stage_close(&k->stage);
	return rc;
}

static void
t_tls_checks_always_on(void **st)
{
	struct sink k;
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(get_closed(&k, &e, NULL, NULL), NK_E_NET);
	all_values(CURLOPT_SSL_VERIFYPEER, is_one, "CURLOPT_SSL_VERIFYPEER");
	all_values(CURLOPT_SSL_VERIFYHOST, is_two, "CURLOPT_SSL_VERIFYHOST");
	all_values(CURLOPT_SSLVERSION, is_tls12, "CURLOPT_SSLVERSION");
}

static void
t_https_only(void **st)
{
	struct sink k;
	struct nk_err e = { "" };

	(void)st;
	get_closed(&k, &e, NULL, NULL);
	assert_string_equal(curlrec_last_str(CURLOPT_PROTOCOLS_STR), "https");
	assert_string_equal(curlrec_last_str(CURLOPT_REDIR_PROTOCOLS_STR), "https");
	all_values(CURLOPT_MAXREDIRS, bounded_redirs, "CURLOPT_MAXREDIRS");
}

static void
t_timeouts_and_errors(void **st)
{
	struct sink k;
	struct nk_err e = { "" };

	(void)st;
	get_closed(&k, &e, NULL, NULL);
	all_values(CURLOPT_CONNECTTIMEOUT, is_pos, "CURLOPT_CONNECTTIMEOUT");
	all_values(CURLOPT_LOW_SPEED_LIMIT, is_pos, "CURLOPT_LOW_SPEED_LIMIT");
	all_values(CURLOPT_LOW_SPEED_TIME, is_pos, "CURLOPT_LOW_SPEED_TIME");
	all_values(CURLOPT_FAILONERROR, is_one, "CURLOPT_FAILONERROR");
}

static void
t_cacert_and_pin_passed(void **st)
{
	struct sink k;
	struct nk_err e = { "" };

	(void)st;
	get_closed(&k, &e, "/etc/ssl/certs/ca-certificates.crt", "sha256//AAAA");
	assert_string_equal(curlrec_last_str(CURLOPT_CAINFO), "/etc/ssl/certs/ca-certificates.crt");
	assert_string_equal(curlrec_last_str(CURLOPT_PINNEDPUBLICKEY), "sha256//AAAA");
}

static void
t_connect_refused_retried_then_gives_up(void **st)
{
	struct sink k;
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(get_closed(&k, &e, NULL, NULL), NK_E_NET);
	assert_int_equal(urls_set, HTTP_TRIES_WITHOUT_PROGRESS);
	assert_non_null(strstr(e.msg, "gave up after 5 attempts"));
	assert_int_equal(nk_exit_code(NK_E_NET), 69);
}

static void
t_no_range_on_first_attempt(void **st)
{
	struct sink k;
	struct nk_err e = { "" };

	(void)st;
	get_closed(&k, &e, NULL, NULL);
	assert_null(curlrec_last_str(CURLOPT_RANGE));
}

/* Each libcurl failure class gets its own sentence: a refused redirect,
 * an HTTP/0.9 reply and an unknown scheme are three things. */
static const char *
say(int cc, const char *detail, const char *location, int *transient, int *code)
{
	static struct nk_err e;
	struct http_failure f = { .curl_code = cc, .detail = detail, .location = location,
		.peer = "127.0.0.1:8443", .connected = 1, .tls_done = 1,
		.connect_limit_s = 20, .stall_s = 30 };

	*code = http_classify(&f, transient, &e);
	return e.msg;
}

static void
t_classify_unsupported_protocol_three_ways(void **st)
{
	int t, c;

	(void)st;
	assert_non_null(strstr(say(CURLE_UNSUPPORTED_PROTOCOL, "Received HTTP/0.9 when not "
	    "allowed", NULL, &t, &c), "no HTTP status line"));
	assert_null(strstr(say(CURLE_UNSUPPORTED_PROTOCOL, "Received HTTP/0.9 when not allowed",
	    NULL, &t, &c), "redirect"));
	assert_int_equal(c, NK_E_HTTP);
	assert_non_null(strstr(say(CURLE_UNSUPPORTED_PROTOCOL, "", "http://mirror.test/b/",
	    &t, &c), "redirect to http://mirror.test/b/ refused"));
	assert_int_equal(c, NK_E_REDIRECT);
	assert_non_null(strstr(say(CURLE_UNSUPPORTED_PROTOCOL, "Protocol \"gopher\" not "
	    "supported", NULL, &t, &c), "unsupported protocol: Protocol \"gopher\""));
	assert_null(strstr(say(CURLE_UNSUPPORTED_PROTOCOL, "", "https://ok.test/", &t, &c),
	    "redirect"));
}

/* No libcurl code but the redirect ones may speak of a redirect, and the
 * classes listed here all say different things. */
static void
t_classify_one_sentence_per_class(void **st)
{
	static const int classes[] = {
		CURLE_UNSUPPORTED_PROTOCOL, CURLE_WEIRD_SERVER_REPLY, CURLE_TOO_MANY_REDIRECTS,
		CURLE_URL_MALFORMAT, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
		CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CONNECT_ERROR, CURLE_OPERATION_TIMEDOUT,
		CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT,
		CURLE_PROXY, CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_PARTIAL_FILE,
		CURLE_GOT_NOTHING, CURLE_HTTP2, CURLE_BAD_CONTENT_ENCODING, CURLE_RANGE_ERROR,
		CURLE_FILESIZE_EXCEEDED, CURLE_WRITE_ERROR, CURLE_OUT_OF_MEMORY,
	};
	char said[sizeof(classes) / sizeof(classes[0])][NK_ERR_MAX];
	size_t i, j;
	int t, c, cc;

	(void)st;
	for (cc = 1; cc < CURL_LAST; cc++) {
		const char *m = say(cc, "", NULL, &t, &c);

		assert_true(m[0] != '\0');
		assert_true(c < 0);
		if (cc != CURLE_TOO_MANY_REDIRECTS && strstr(m, "redirect") != NULL)
			fail_msg("CURLcode %d speaks of a redirect: %s", cc, m);
	}
	for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		snprintf(said[i], sizeof(said[i]), "%s", say(classes[i], "", NULL, &t, &c));
		for (j = 0; j < i; j++)
			if (strcmp(said[i], said[j]) == 0)
				fail_msg("codes %d and %d say the same: %s", classes[i], classes[j],
				    said[i]);
	}
}

/* Issue 19.8: every CURLcode's exit status says whose fault it is. The
 * lists are written by hand from libcurl's libcurl-errors(3), not copied
 * from http.c: the command line's codes exit 64, the server's (and the
 * network's) 69 or 65, every other one this machine's 70 or 74. */
static void
t_classify_every_code_by_origin(void **st)
{
	static const int usage[] = { CURLE_URL_MALFORMAT, CURLE_SSL_CACERT_BADFILE };
	static const int server[] = {
		CURLE_UNSUPPORTED_PROTOCOL, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_RESOLVE_HOST,
		CURLE_COULDNT_CONNECT, CURLE_WEIRD_SERVER_REPLY, CURLE_HTTP2, CURLE_PARTIAL_FILE,
		CURLE_HTTP_RETURNED_ERROR, CURLE_OPERATION_TIMEDOUT, CURLE_RANGE_ERROR,
		CURLE_SSL_CONNECT_ERROR, CURLE_BAD_DOWNLOAD_RESUME, CURLE_TOO_MANY_REDIRECTS,
		CURLE_GOT_NOTHING, CURLE_SEND_ERROR, CURLE_RECV_ERROR,
		CURLE_PEER_FAILED_VERIFICATION, CURLE_BAD_CONTENT_ENCODING, CURLE_FILESIZE_EXCEEDED,
		CURLE_USE_SSL_FAILED, CURLE_LOGIN_DENIED, CURLE_SSL_SHUTDOWN_FAILED, CURLE_AGAIN,
		CURLE_SSL_ISSUER_ERROR, CURLE_NO_CONNECTION_AVAILABLE, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
		CURLE_SSL_INVALIDCERTSTATUS, CURLE_HTTP2_STREAM, CURLE_HTTP3, CURLE_QUIC_CONNECT_ERROR,
		CURLE_PROXY, CURLE_SSL_CLIENTCERT,
#if LIBCURL_VERSION_NUM >= 0x080600
		CURLE_TOO_LARGE,
#endif
	};
	size_t i;
	int t, c, cc, x, want;

	(void)st;
	for (cc = 1; cc < CURL_LAST; cc++) {
		const char *m;

		if (cc == CURLE_OUT_OF_MEMORY)
			continue; /* either, by the phase: the next test */
		m = say(cc, "", NULL, &t, &c);
		x = nk_exit_code(c);
		want = 0;
		for (i = 0; i < sizeof(usage) / sizeof(usage[0]); i++)
			want = usage[i] == cc ? 64 : want;
		for (i = 0; i < sizeof(server) / sizeof(server[0]); i++)
			want = server[i] == cc ? 69 : want;
		if (want == 64 && x != 64)
			fail_msg("CURLcode %d is the command line's, exits %d: %s", cc, x, m);
		if (want == 69 && x != 69 && x != 65)
			fail_msg("CURLcode %d is the server's, exits %d: %s", cc, x, m);
		if (want == 0 && x != 70 && x != 74)
			fail_msg("CURLcode %d is this machine's, exits %d: %s", cc, x, m);
		if (want == 0 && t)
			fail_msg("CURLcode %d is this machine's, yet retried", cc);
	}
}

/* The issue's two cases, with libcurl 7.88's own words: a header line
 * that never ends, and a redirect whose Location cannot be parsed. */
static void
t_classify_server_faults_are_the_servers(void **st)
{
	struct http_failure f = { .curl_code = CURLE_OUT_OF_MEMORY,
		.detail = "Rejected 102401 bytes header (max is 102400)!", .peer = "127.0.0.1:8443",
		.connected = 1, .tls_done = 1, .status = 200 };
	struct nk_err e;
	int t;

	(void)st;
	assert_int_equal(nk_exit_code(http_classify(&f, &t, &e)), 69);
	assert_non_null(strstr(e.msg, "127.0.0.1:8443 sent a response header larger"));
	assert_null(strstr(e.msg, "out of memory"));
	f.detail = ""; /* libcurl 7.88 leaves it empty (curl(1) says "(27) Out of memory") */
	assert_int_equal(nk_exit_code(http_classify(&f, &t, &e)), 69);
	f.tls_done = f.connected = 0;
	assert_int_equal(nk_exit_code(http_classify(&f, &t, &e)), 70); /* before any reply */
	f = (struct http_failure){ .curl_code = CURLE_URL_MALFORMAT, .status = 302,
		.detail = "Port number was not a decimal number between 0 and 65535",
		.peer = "127.0.0.1:8443", .connected = 1, .tls_done = 1 };
	assert_int_equal(nk_exit_code(http_classify(&f, &t, &e)), 69);
	assert_non_null(strstr(e.msg, "127.0.0.1:8443 redirected (HTTP 302) to a Location "
	    "that is not a valid URL"));
	f.status = 0; /* our own SOURCE */
	assert_int_equal(nk_exit_code(http_classify(&f, &t, &e)), 64);
}

/* A timeout names its phase: no connection, a TLS handshake never
 * answered, a stall, or the whole run's --timeout (not retried). */
static void
t_classify_timeouts_name_the_phase(void **st)
{
	struct http_failure f = { .curl_code = CURLE_OPERATION_TIMEDOUT, .detail = "",
		.peer = "127.0.0.1:8443", .connect_limit_s = 2, .stall_s = 2, .timeout_s = 60 };
	struct nk_err e;
	int t;

	(void)st;
	assert_int_equal(http_classify(&f, &t, &e), NK_E_NET);
	assert_non_null(strstr(e.msg, "no connection to 127.0.0.1:8443 within 2 s"));
	assert_true(t);
	f.connected = 1;
	http_classify(&f, &t, &e);
	assert_non_null(strstr(e.msg, "TLS handshake with 127.0.0.1:8443 did not complete "
	    "within 2 s"));
	assert_true(t);
	f.tls_done = 1;
	http_classify(&f, &t, &e);
	assert_non_null(strstr(e.msg, "stalled"));
	assert_true(t);
	f.deadline_passed = 1;
	assert_int_equal(http_classify(&f, &t, &e), NK_E_NET);
	assert_non_null(strstr(e.msg, "--timeout 60 s"));
	assert_false(t);
}

/* The connection phase (TLS handshake included) never outlasts the stall
 * limit: --stall-timeout 2 makes a silent handshake cost 2 s, not 20. */
static void
t_connect_limit_follows_stall_limit(void **st)
{
	struct http_opts o = { .stall_time_s = 2, .backoff_ms = 1 };
	struct sink k;
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(http_global_init(&e), 0);
	assert_int_equal(sink_open(&k, "f", 10, NULL, &e), 0);
	http_get(&o, "https://127.0.0.1:1/f", &k, &e);
	sink_close(&k);
	stage_close(&k.stage);
	for (size_t i = 0; i < nseen; i++)
		if (seen[i].opt == CURLOPT_CONNECTTIMEOUT && seen[i].l != 2)
			fail_msg("connect timeout %ld with a 2 s stall limit", seen[i].l);
}

/* All bytes held after an unclean end: verify them, ask nothing more
 * (a Range: SIZE- would only get a 416). */
static void
t_all_bytes_held_no_request(void **st)
{
	struct http_opts o = { .backoff_ms = 1 };
	struct sink k;
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(http_global_init(&e), 0);
	assert_int_equal(sink_open(&k, "f", 3, NULL, &e), 0);
	assert_int_equal(sink_write(&k, "abc", 3), 0);
	assert_int_equal(http_get(&o, "https://127.0.0.1:1/f", &k, &e), 0);
	assert_int_equal(urls_set, 0);
	assert_int_equal(sink_len(&k), 3);
	sink_close(&k);
	stage_close(&k.stage);
}

/* The deadline ends retries and backoff: no attempt after it. */
static void
t_deadline_ends_retries(void **st)
{
	struct http_opts o = { .backoff_ms = 5000, .timeout_s = 1 };
	struct sink k;
	struct nk_err e = { "" };
	double t0;

	(void)st;
	assert_int_equal(http_global_init(&e), 0);
	assert_int_equal(sink_open(&k, "f", 10, NULL, &e), 0);
	o.deadline = http_now() + 0.3;
	t0 = http_now();
	assert_int_equal(http_get(&o, "https://127.0.0.1:1/f", &k, &e), NK_E_NET);
	assert_true(http_now() - t0 < 2.0); /* not the 5 s backoff */
	assert_non_null(strstr(e.msg, "--timeout 1 s"));
	assert_int_equal(urls_set, 1);
	o.deadline = http_now() - 1; /* already past: not even one attempt */
	urls_set = 0;
	assert_int_equal(http_get(&o, "https://127.0.0.1:1/f", &k, &e), NK_E_NET);
	assert_int_equal(urls_set, 0);
	sink_close(&k);
	stage_close(&k.stage);
}

/* Issue 19.7: a Retry-After that reaches past the deadline is said as
 * the server's request, not as a run that took longer than --timeout;
 * one that fits is waited for. */
static void
t_retry_after_past_deadline(void **st)
{
	struct http_opts o = { .backoff_ms = 1, .timeout_s = 9 };
	struct http_outcome out = { .transient = 1, .wait_s = 60 };
	struct http_retry r = { 0 };
	struct event ev = { .type = EV_RETRY, .file = "f" };
	struct nk_err e;
	unsigned pause = 0;

	(void)st;
	o.deadline = http_now() + 5;
	snprintf(e.msg, sizeof(e.msg), "HTTP 503 from server");
	assert_int_equal(http_retry_next(&o, &r, 1, 0, &out, &ev, &pause, &e), HTTP_RETRY_LATE);
	assert_null(strstr(e.msg, "took longer"));
	assert_non_null(strstr(e.msg, "come back in 60 s (Retry-After), past the --timeout 9 s"));
	assert_non_null(strstr(e.msg, "the last attempt: HTTP 503 from server"));
	out.wait_s = 2; /* fits in the 5 s left: waited for */
	assert_int_equal(http_retry_next(&o, &r, 2, 0, &out, &ev, &pause, &e), HTTP_RETRY_AGAIN);
	assert_int_equal(pause, 2000);
	o.deadline = 0; /* no deadline: any (capped) wait is waited for */
	out.wait_s = 300;
	assert_int_equal(http_retry_next(&o, &r, 3, 0, &out, &ev, &pause, &e), HTTP_RETRY_AGAIN);
	assert_int_equal(pause, 300000);
}

/* One share of connections and TLS sessions for every transfer of a run,
 * set on each handle; none unless asked for. */
static void
t_share_set_on_every_transfer(void **st)
{
	struct http_opts o = { .backoff_ms = 1 };
	struct sink k;
	struct nk_err e = { "" };
	size_t i, shares = 0, urls = 0;

	(void)st;
	assert_int_equal(http_global_init(&e), 0);
	assert_int_equal(http_share_open(&o, &e), 0);
	assert_non_null(o.share);
	assert_int_equal(sink_open(&k, "f", 10, NULL, &e), 0);
	http_get(&o, "https://127.0.0.1:1/f", &k, &e);
	sink_close(&k);
	stage_close(&k.stage);
	for (i = 0; i < nseen; i++) {
		shares += seen[i].opt == CURLOPT_SHARE;
		urls += seen[i].opt == CURLOPT_URL;
	}
	assert_int_equal(shares, urls);
	http_share_close(&o);
	assert_null(o.share);
	http_share_close(&o); /* idempotent */
	curlrec_reset();
	get_closed(&k, &e, NULL, NULL);
	for (i = 0; i < nseen; i++)
		assert_int_not_equal(seen[i].opt, CURLOPT_SHARE);
}

/* The header callback keeps what the final response said: a redirect's
 * headers are forgotten, a Content-Range is parsed strictly. */
static void
t_head_of_the_final_response(void **st)
{
	struct http_head h;
	static const char *lines[] = {
		"HTTP/1.1 302 Found\r\n", "Location: https://mirror.test/b/initrd\r\n",
		"Retry-After: 7\r\n", "Content-Range: bytes 0-1/2\r\n",
		"HTTP/1.1 206 Partial Content\r\n", "Content-Range: bytes 100-199/1000\r\n",
	};
	size_t i;

	(void)st;
	http_head_reset(&h);
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		assert_int_equal(http_head_cb((char *)lines[i], 1, strlen(lines[i]), &h),
		    strlen(lines[i]));
	assert_string_equal(h.location, "");
	assert_int_equal(h.retry_after_s, -1);
	assert_true(h.has_range);
	assert_int_equal(h.range.first, 100);
	assert_int_equal(h.range.last, 199);
	assert_int_equal(h.range.complete, 1000);
	http_head_cb((char *)"Content-Range: bytes 5-1/10\r\n", 1,
	    strlen("Content-Range: bytes 5-1/10\r\n"), &h);
	assert_false(h.has_range);
	assert_true(h.range_malformed);
}

int
main(void)
{
#define T(x) cmocka_unit_test_setup(x, setup)
	const struct CMUnitTest tests[] = {
		T(t_tls_checks_always_on), T(t_https_only), T(t_timeouts_and_errors),
		T(t_cacert_and_pin_passed), T(t_connect_refused_retried_then_gives_up),
		T(t_no_range_on_first_attempt),
		T(t_classify_unsupported_protocol_three_ways), T(t_classify_one_sentence_per_class),
		T(t_classify_every_code_by_origin), T(t_classify_server_faults_are_the_servers),
		T(t_classify_timeouts_name_the_phase), T(t_connect_limit_follows_stall_limit),
		T(t_all_bytes_held_no_request), T(t_deadline_ends_retries),
		T(t_retry_after_past_deadline),
		T(t_share_set_on_every_transfer), T(t_head_of_the_final_response),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	curl_global_cleanup();
	return rc;
}
