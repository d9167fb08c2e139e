/* Unit tests for agent/fetch/par.c without a server: transfers go to a
 * closed port on 127.0.0.1 (connection refused), so what is observed is
 * what par.c asks of libcurl and what it does with failures.
 * curl_easy_setopt is wrapped to record every option: each of the
 * parallel handles must be as hardened as a single transfer (https only,
 * TLS 1.2, peer and host verified), ask for exactly the ranges the
 * schedule hands out, and carry the --timeout deadline. The integration
 * test (test_parallel.sh) covers the server side. */
#include <stdarg.h>

#include <curl/curl.h>

#include "nktest.h"
#include "par.h"
#include "stage.h"

CURLcode __real_curl_easy_setopt(CURL *c, CURLoption opt, ...);

#define SEEN_MAX 4096
static struct {
	CURLoption opt;
	long l;
	char s[128];
} seen[SEEN_MAX];
static size_t nseen;

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
			if (opt == CURLOPT_URL || opt == CURLOPT_PROTOCOLS_STR || opt == CURLOPT_RANGE ||
			    opt == CURLOPT_REDIR_PROTOCOLS_STR)
				snprintf(seen[nseen].s, sizeof(seen[nseen].s), "%s", (char *)p);
			nseen++;
		}
		rc = __real_curl_easy_setopt(c, opt, p);
	} else {
		curl_off_t v = va_arg(ap, curl_off_t);
		nseen++;
		rc = __real_curl_easy_setopt(c, opt, v);
	}
	va_end(ap);
	return rc;
}

static size_t
count(CURLoption opt, long value)
{
	size_t i, n = 0;

	for (i = 0; i < nseen; i++)
		n += seen[i].opt == opt && seen[i].l == value;
	return n;
}

static size_t
count_all(CURLoption opt)
{
	size_t i, n = 0;

	for (i = 0; i < nseen; i++)
		n += seen[i].opt == opt;
	return n;
}

static int
saw_str(CURLoption opt, const char *s)
{
	size_t i;

	for (i = 0; i < nseen; i++)
		if (seen[i].opt == opt && strcmp(seen[i].s, s) == 0)
			return 1;
	return 0;
}

static int mirrors, retries;
static char mirror_url[128];

static void
on_event(void *ctx, const struct event *ev)
{
	(void)ctx;
	if (ev->type == EV_MIRROR) {
		mirrors++;
		snprintf(mirror_url, sizeof(mirror_url), "%s", ev->url ? ev->url : "");
	}
	if (ev->type == EV_RETRY)
		retries++;
}

static int
setup(void **st)
{
	(void)st;
	nseen = 0;
	mirrors = retries = 0;
	mirror_url[0] = '\0';
	memset(seen, 0, sizeof(seen));
	return 0;
}

/* size bytes over conns connections from urls (closed ports). */
static int
get(const char *const *urls, size_t nurls, uint64_t size, unsigned conns, uint64_t chunk,
    double deadline, struct nk_err *e)
{
	struct http_opts o = { .backoff_ms = 1, .deadline = deadline, .timeout_s = 9,
		.ev = { on_event, NULL } };
	struct par_opts p = { .name = "initrd", .urls = urls, .nurls = nurls, .size = size,
		.connections = conns, .chunk_bytes = chunk };
	struct par_result r;
	struct stage_file s;
	int rc;

	assert_int_equal(http_global_init(e), 0);
	assert_int_equal(stage_open(&s, "t", NULL, e), 0);
	rc = par_get(&o, &p, &s, &r, e);
	assert_int_equal(r.single, 0);
	stage_close(&s);
	return rc;
}

static void
t_every_handle_hardened(void **st)
{
	const char *u[] = { "https://127.0.0.1:1/initrd" };
	struct nk_err e = { "" };
	size_t n;

	(void)st;
	assert_int_equal(get(u, 1, 4 << 20, 4, 1 << 20, 0, &e), NK_E_NET);
	n = count_all(CURLOPT_URL);
	assert_true(n >= 4);
	assert_int_equal(count(CURLOPT_SSL_VERIFYPEER, 1), count_all(CURLOPT_SSL_VERIFYPEER));
	assert_int_equal(count(CURLOPT_SSL_VERIFYHOST, 2), count_all(CURLOPT_SSL_VERIFYHOST));
	assert_true(count_all(CURLOPT_SSL_VERIFYPEER) >= 4);
	assert_int_equal(count(CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2), count_all(CURLOPT_SSLVERSION));
	assert_true(saw_str(CURLOPT_PROTOCOLS_STR, "https"));
	assert_true(saw_str(CURLOPT_REDIR_PROTOCOLS_STR, "https"));
	assert_int_equal(count(CURLOPT_FOLLOWLOCATION, 1), count_all(CURLOPT_FOLLOWLOCATION));
	assert_true(count_all(CURLOPT_LOW_SPEED_TIME) >= 4);
}

static void
t_ranges_are_the_chunks(void **st)
{
	const char *u[] = { "https://127.0.0.1:1/initrd" };
	struct nk_err e = { "" };

	(void)st;
	get(u, 1, 4 << 20, 4, 1 << 20, 0, &e);
	assert_true(saw_str(CURLOPT_RANGE, "0-1048575"));
	assert_true(saw_str(CURLOPT_RANGE, "1048576-2097151"));
	assert_true(saw_str(CURLOPT_RANGE, "2097152-3145727"));
	assert_true(saw_str(CURLOPT_RANGE, "3145728-4194303"));
}

static void
t_refused_retried_then_given_up(void **st)
{
	const char *u[] = { "https://127.0.0.1:1/initrd" };
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(get(u, 1, 4 << 20, 2, 1 << 20, 0, &e), NK_E_NET);
	assert_non_null(strstr(e.msg, "cannot connect"));
	/* each of the 2 connections tries HTTP_TRIES_WITHOUT_PROGRESS times */
	assert_int_equal(count_all(CURLOPT_RANGE), 2 * HTTP_TRIES_WITHOUT_PROGRESS);
	assert_int_equal(retries, 2 * (HTTP_TRIES_WITHOUT_PROGRESS - 1));
}

static void
t_ranges_move_to_the_mirror(void **st)
{
	const char *u[] = { "https://127.0.0.1:1/initrd", "https://127.0.0.2:1/initrd" };
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(get(u, 2, 4 << 20, 2, 1 << 20, 0, &e), NK_E_NET);
	assert_true(mirrors >= 1);
	assert_string_equal(mirror_url, "https://127.0.0.2:1/initrd");
	assert_true(saw_str(CURLOPT_URL, "https://127.0.0.2:1/initrd"));
}

static void
t_deadline_passed(void **st)
{
	const char *u[] = { "https://127.0.0.1:1/initrd" };
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(get(u, 1, 4 << 20, 2, 1 << 20, http_now() - 1, &e), NK_E_NET);
	assert_non_null(strstr(e.msg, "--timeout 9 s"));
	assert_int_equal(count_all(CURLOPT_URL), 0); /* nothing asked after it */
}

static void
t_deadline_carried_to_each_transfer(void **st)
{
	const char *u[] = { "https://127.0.0.1:1/initrd" };
	struct nk_err e = { "" };
	size_t i, n = 0;

	(void)st;
	get(u, 1, 4 << 20, 2, 1 << 20, http_now() + 60, &e);
	for (i = 0; i < nseen; i++)
		if (seen[i].opt == CURLOPT_TIMEOUT_MS) {
			n++;
			assert_true(seen[i].l > 0 && seen[i].l <= 60000);
		}
	assert_true(n >= 2);
}

static void
t_bad_source_count(void **st)
{
	struct nk_err e = { "" };
	struct par_opts p = { .name = "x", .nurls = 0, .size = 1, .connections = 2 };
	struct http_opts o = { 0 };
	struct par_result r;

	(void)st;
	assert_int_equal(par_get(&o, &p, NULL, &r, &e), NK_E_INTERNAL);
}

int
main(void)
{
#define T(x) cmocka_unit_test_setup(x, setup)
	const struct CMUnitTest tests[] = {
		T(t_every_handle_hardened),
		T(t_ranges_are_the_chunks),
		T(t_refused_retried_then_given_up),
		T(t_ranges_move_to_the_mirror),
		T(t_deadline_passed),
		T(t_deadline_carried_to_each_transfer),
		T(t_bad_source_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
