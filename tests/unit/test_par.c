/* Unit tests for agent/fetch/par.c without a server: transfers go to a
 * closed port on 127.0.0.1 (connection refused), so what is observed is
 * what par.c asks of libcurl and what it does with failures.
 * curl_easy_setopt is wrapped to record every option: each of the
 * parallel handles must be as hardened as a single transfer (https only,
 * TLS 1.2, peer and host verified), ask for exactly the ranges the
 * schedule hands out, and carry the --timeout deadline. The integration
 * test (test_parallel.sh) covers the server side. */
#include <curl/curl.h>

#include "curlrec.h"
#include "nktest.h"
#include "par.h"
#include "stage.h"

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
	curlrec_reset();
	mirrors = retries = 0;
	mirror_url[0] = '\0';
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
	n = curlrec_count(CURLOPT_URL);
	assert_true(n >= 4);
	assert_int_equal(curlrec_count_value(CURLOPT_SSL_VERIFYPEER, 1), curlrec_count(CURLOPT_SSL_VERIFYPEER));
	assert_int_equal(curlrec_count_value(CURLOPT_SSL_VERIFYHOST, 2), curlrec_count(CURLOPT_SSL_VERIFYHOST));
	assert_true(curlrec_count(CURLOPT_SSL_VERIFYPEER) >= 4);
	assert_int_equal(curlrec_count_value(CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2), curlrec_count(CURLOPT_SSLVERSION));
	assert_true(curlrec_saw_str(CURLOPT_PROTOCOLS_STR, "https"));
	assert_true(curlrec_saw_str(CURLOPT_REDIR_PROTOCOLS_STR, "https"));
	assert_int_equal(curlrec_count_value(CURLOPT_FOLLOWLOCATION, 1), curlrec_count(CURLOPT_FOLLOWLOCATION));
	assert_true(curlrec_count(CURLOPT_LOW_SPEED_TIME) >= 4);
}

static void
t_ranges_are_the_chunks(void **st)
{
	const char *u[] = { "https://127.0.0.1:1/initrd" };
	struct nk_err e = { "" };

	(void)st;
	get(u, 1, 4 << 20, 4, 1 << 20, 0, &e);
	assert_true(curlrec_saw_str(CURLOPT_RANGE, "0-1048575"));
	assert_true(curlrec_saw_str(CURLOPT_RANGE, "1048576-2097151"));
	assert_true(curlrec_saw_str(CURLOPT_RANGE, "2097152-3145727"));
	assert_true(curlrec_saw_str(CURLOPT_RANGE, "3145728-4194303"));
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
	assert_int_equal(curlrec_count(CURLOPT_RANGE), 2 * HTTP_TRIES_WITHOUT_PROGRESS);
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
	assert_true(curlrec_saw_str(CURLOPT_URL, "https://127.0.0.2:1/initrd"));
}

static void
t_deadline_passed(void **st)
{
	const char *u[] = { "https://127.0.0.1:1/initrd" };
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(get(u, 1, 4 << 20, 2, 1 << 20, http_now() - 1, &e), NK_E_NET);
	assert_non_null(strstr(e.msg, "--timeout 9 s"));
	assert_int_equal(curlrec_count(CURLOPT_URL), 0); /* nothing asked after it */
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
