/* Unit tests for agent/fetch/par.c without a server: transfers go to a
 * closed port on 127.0.0.1 (connection refused), so what is observed is
 * what par.c asks of libcurl and what it does with failures.
 * curl_easy_setopt is wrapped to record every option: each of the
 * parallel handles must be as hardened as a single transfer (https only,
 * TLS 1.2, peer and host verified), ask for exactly the ranges the
 * schedule hands out, and carry the --timeout deadline. The integration
 * test (test_parallel.sh) covers the server side. */
#include <curl/curl.h>
#include <unistd.h>

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

/* A stream brought [0, from) and measured one connection too slow
 * alone (fetch.c): the ranges start exactly at from and never ask for a
 * byte before it, the ramp goes on from the stream's decision (two at
 * once, each tried HTTP_TRIES_WITHOUT_PROGRESS times on a closed port),
 * and the prefix's hash is taken over (freed, also on failure). */
static void
t_from_a_prefix_with_its_ramp(void **st)
{
	const char *u[] = { "https://127.0.0.1:1/initrd" };
	struct http_opts o = { .backoff_ms = 1, .timeout_s = 9, .ev = { on_event, NULL } };
	struct par_opts p = { .name = "initrd", .urls = u, .nurls = 1, .size = 4 << 20,
		.connections = 16, .chunk_bytes = 1 << 20, .from = 1000000 };
	struct par_result r;
	struct stage_file s;
	struct sha256 h;
	struct ramp ramp;
	struct nk_err e = { "" };
	size_t i;

	(void)st;
	ramp_init(&ramp, 1, 16);
	assert_int_equal(ramp_sample(&ramp, 8e6), 1); /* 8 MB/s alone: trying 2 */
	assert_int_equal(ramp.n, 2);
	p.ramp = &ramp;
	assert_int_equal(http_global_init(&e), 0);
	assert_int_equal(stage_open(&s, "t", NULL, &e), 0);
	assert_int_equal(sha256_init(&h, &e), 0);
	p.hash = &h;
	alarm(20); /* a hang (see below) fails */
	assert_int_equal(par_get(&o, &p, &s, &r, &e), NK_E_NET);
	alarm(0);
	assert_null(h.ctx);
	assert_true(curlrec_saw_str(CURLOPT_RANGE, "1000000-1262143"));
	for (i = 0; i < nseen; i++)
		if (seen[i].opt == CURLOPT_RANGE)
			assert_true(strtoull(seen[i].s, NULL, 10) >= 1000000);
	/* Two connections (the ramp's), each giving up after its tries. */
	assert_int_equal(curlrec_count(CURLOPT_RANGE), 2 * HTTP_TRIES_WITHOUT_PROGRESS);
	stage_close(&s);
	/* A prefix without its hash: refused before anything is asked. */
	curlrec_reset();
	p.hash = NULL;
	assert_int_equal(par_get(&o, &p, NULL, &r, &e), NK_E_INTERNAL);
	assert_int_equal(curlrec_count(CURLOPT_URL), 0);
}

/* A measured count (2 in use after a near server's stream was sampled)
 * whose server then goes down: once the connections in use have given
 * up, the fetch fails; the slots
 * beyond the count take no new range, so waiting for them would hang
 * (it did, till --timeout). SIGALRM ends a hang as a failure. */
static void
t_measured_count_all_given_up_fails(void **st)
{
	const char *u[] = { "https://127.0.0.1:1/initrd" };
	struct http_opts o = { .backoff_ms = 1, .timeout_s = 9, .ev = { on_event, NULL } };
	struct par_opts p = { .name = "initrd", .urls = u, .nurls = 1, .size = 4 << 20,
		.connections = 16, .chunk_bytes = 1 << 20 };
	struct par_result r;
	struct stage_file s;
	struct ramp ramp;
	struct nk_err e = { "" };

	(void)st;
	ramp_init(&ramp, 1, 16);
	assert_int_equal(ramp_sample(&ramp, 8e6), 1); /* 2 in use, 14 beyond the count */
	p.ramp = &ramp;
	assert_int_equal(http_global_init(&e), 0);
	assert_int_equal(stage_open(&s, "t", NULL, &e), 0);
	alarm(20);
	assert_int_equal(par_get(&o, &p, &s, &r, &e), NK_E_NET);
	alarm(0);
	assert_non_null(strstr(e.msg, "cannot connect"));
	stage_close(&s);
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
		T(t_from_a_prefix_with_its_ramp),
		T(t_measured_count_all_given_up_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
