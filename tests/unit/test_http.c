/* Unit tests for agent/fetch/http.c. curl_easy_setopt is wrapped to record every
 * option the agent sets, so these fail if certificate or host checks could
 * be switched off, if a protocol other than https were allowed, or if a
 * safety option went missing. The transfers go to a closed port on
 * 127.0.0.1 only (connection refused): retries and backoff are observed
 * without any server. */
#include <stdarg.h>

#include <curl/curl.h>

#include "http.h"
#include "nktest.h"

CURLcode __real_curl_easy_setopt(CURL *c, CURLoption opt, ...);

#define SEEN_MAX 256
static struct {
	CURLoption opt;
	long l;
	char s[256];
} seen[SEEN_MAX];
static size_t nseen;
static int urls_set;

CURLcode
__wrap_curl_easy_setopt(CURL *c, CURLoption opt, ...)
{
	va_list ap;
	CURLcode rc;

	va_start(ap, opt);
	if (nseen < SEEN_MAX)
		seen[nseen].opt = opt;
	if (opt < CURLOPTTYPE_OBJECTPOINT) {
		long v = va_arg(ap, long);
		if (nseen < SEEN_MAX)
			seen[nseen++].l = v;
		rc = __real_curl_easy_setopt(c, opt, v);
	} else if (opt < CURLOPTTYPE_OFF_T) {
		void *p = va_arg(ap, void *);
		if (nseen < SEEN_MAX) {
			if (opt == CURLOPT_URL || opt == CURLOPT_PROTOCOLS_STR ||
			    opt == CURLOPT_REDIR_PROTOCOLS_STR || opt == CURLOPT_CAINFO ||
			    opt == CURLOPT_PINNEDPUBLICKEY || opt == CURLOPT_RANGE)
				snprintf(seen[nseen].s, sizeof(seen[nseen].s), "%s", (char *)p);
			nseen++;
		}
		if (opt == CURLOPT_URL)
			urls_set++;
		rc = __real_curl_easy_setopt(c, opt, p);
	} else {
		curl_off_t v = va_arg(ap, curl_off_t);
		nseen++;
		rc = __real_curl_easy_setopt(c, opt, v);
	}
	va_end(ap);
	return rc;
}

static int
setup(void **st)
{
	(void)st;
	nseen = 0;
	urls_set = 0;
	memset(seen, 0, sizeof(seen));
	return 0;
}

/* Every value an option was ever given must satisfy ok(). */
static void
all_values(CURLoption opt, int (*ok)(long), const char *what)
{
	size_t i, n = 0;

	for (i = 0; i < nseen && i < SEEN_MAX; i++)
		if (seen[i].opt == opt) {
			n++;
			if (!ok(seen[i].l))
				fail_msg("%s set to %ld", what, seen[i].l);
		}
	if (n == 0)
		fail_msg("%s never set", what);
}

static const char *
last_str(CURLoption opt)
{
	size_t i;
	const char *s = NULL;

	for (i = 0; i < nseen && i < SEEN_MAX; i++)
		if (seen[i].opt == opt)
			s = seen[i].s;
	return s;
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
	assert_string_equal(last_str(CURLOPT_PROTOCOLS_STR), "https");
	assert_string_equal(last_str(CURLOPT_REDIR_PROTOCOLS_STR), "https");
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
	assert_string_equal(last_str(CURLOPT_CAINFO), "/etc/ssl/certs/ca-certificates.crt");
	assert_string_equal(last_str(CURLOPT_PINNEDPUBLICKEY), "sha256//AAAA");
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
	assert_null(last_str(CURLOPT_RANGE));
}

int
main(void)
{
#define T(x) cmocka_unit_test_setup(x, setup)
	const struct CMUnitTest tests[] = {
		T(t_tls_checks_always_on), T(t_https_only), T(t_timeouts_and_errors),
		T(t_cacert_and_pin_passed), T(t_connect_refused_retried_then_gives_up),
		T(t_no_range_on_first_attempt),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	curl_global_cleanup();
	return rc;
}
