/* Unit tests for agent/fetch/ramp.c, the number of connections found by
 * measuring them. The threats: a LAN where one stream fills the link
 * made to pay for many, a per-connection cap (nginx limit_rate) left at
 * one stream, a count that goes past the maximum or below the start, a
 * decision that keeps changing after it settled, a stalled sample taken
 * for a link at its rate. Rates are bytes/s as par.c measures them. */
#include "ramp.h"
#include "nktest.h"

#include <string.h>

#define MB 1e6

/* A link of `link` bytes/s, each connection capped at `cap` (0: none):
 * what n connections reach together. */
static double
rate_of(unsigned n, double cap, double link)
{
	double r = cap > 0 ? n * cap : link;

	return r < link ? r : link;
}

/* Samples until it settles (at most 10 steps): the final count. */
static unsigned
settle(struct ramp *r, double cap, double link)
{
	unsigned steps;

	for (steps = 0; steps < 10 && !r->settled; steps++)
		ramp_sample(r, rate_of(r->n, cap, link));
	assert_true(r->settled);
	return r->n;
}

static void
t_capped_connections_ramp_to_the_most(void **st)
{
	struct ramp r;

	(void)st;
	ramp_init(&r, 1, 16);
	assert_int_equal(settle(&r, 8 * MB, 10000 * MB), 16);
	assert_non_null(strstr(r.why, "16 connections"));
	assert_non_null(strstr(r.why, "the most"));
}

static void
t_doubles_while_each_adds(void **st)
{
	struct ramp r;

	(void)st;
	ramp_init(&r, 1, 16);
	assert_int_equal(ramp_sample(&r, 8 * MB), 1);
	assert_int_equal(r.n, 2);
	assert_non_null(strstr(r.why, "trying 2"));
	assert_int_equal(ramp_sample(&r, 16 * MB), 1);
	assert_int_equal(r.n, 4);
	assert_int_equal(ramp_sample(&r, 32 * MB), 1);
	assert_int_equal(r.n, 8);
	assert_false(r.settled);
}

static void
t_one_stream_at_the_link_stays_one(void **st)
{
	struct ramp r;

	(void)st;
	ramp_init(&r, 1, 16);
	assert_int_equal(settle(&r, 0, 60 * MB), 1);
	assert_non_null(strstr(r.why, "1 connection:"));
	assert_int_equal(ramp_sample(&r, 1 * MB), 0); /* settled: no more changes */
	assert_int_equal(r.n, 1);
}

static void
t_a_fast_stream_is_not_probed(void **st)
{
	struct ramp r;

	(void)st;
	/* 450 MB/s on one connection (a LAN, loopback): settled at once,
	 * no second connection is tried. */
	ramp_init(&r, 1, 16);
	assert_int_equal(ramp_sample(&r, 450 * MB), 1);
	assert_true(r.settled);
	assert_int_equal(r.n, 1);
	assert_non_null(strstr(r.why, "fast enough alone"));
	/* Just below: probed. */
	ramp_init(&r, 1, 16);
	ramp_sample(&r, RAMP_ENOUGH_BPS - 1);
	assert_false(r.settled);
	assert_int_equal(r.n, 2);
	/* Started with more than one (not a single stream): probed. */
	ramp_init(&r, 2, 16);
	ramp_sample(&r, 450 * MB);
	assert_false(r.settled);
	assert_int_equal(r.n, 4);
}

static void
t_a_small_gain_is_not_enough(void **st)
{
	struct ramp r;

	(void)st;
	ramp_init(&r, 1, 16);
	ramp_sample(&r, 40 * MB);
	/* A second connection adds 30 % of one connection's rate: back to
	 * one. */
	assert_int_equal(ramp_sample(&r, 52 * MB), 1);
	assert_int_equal(r.n, 1);
	assert_true(r.settled);
	assert_non_null(strstr(r.why, "30%"));
}

static void
t_stops_where_the_link_fills(void **st)
{
	struct ramp r;

	(void)st;
	/* 8 MB/s each on a 40 MB/s link: 4 add fully, 8 add only 25 %. */
	ramp_init(&r, 1, 16);
	assert_int_equal(settle(&r, 8 * MB, 40 * MB), 4);
}

static void
t_exactly_the_threshold_adds(void **st)
{
	struct ramp r;

	(void)st;
	ramp_init(&r, 2, 16);
	ramp_sample(&r, 10 * MB); /* 5 MB/s each */
	/* two more adding 2.5 MB/s each: RAMP_GAIN_MIN of one's rate */
	ramp_sample(&r, 10 * MB + 2 * 5 * MB * RAMP_GAIN_MIN);
	assert_false(r.settled);
	assert_int_equal(r.n, 8);
}

static void
t_never_past_the_most(void **st)
{
	struct ramp r;

	(void)st;
	ramp_init(&r, 3, 5);
	ramp_sample(&r, 3 * MB);
	assert_int_equal(r.n, 5);
	ramp_sample(&r, 5 * MB);
	assert_true(r.settled);
	assert_int_equal(r.n, 5);
}

static void
t_never_below_the_start(void **st)
{
	struct ramp r;

	(void)st;
	ramp_init(&r, 4, 16);
	ramp_sample(&r, 100 * MB);
	ramp_sample(&r, 90 * MB); /* worse with 8 */
	assert_true(r.settled);
	assert_int_equal(r.n, 4);
}

static void
t_start_at_the_most_is_settled(void **st)
{
	struct ramp r;

	(void)st;
	ramp_init(&r, 16, 16);
	assert_true(r.settled);
	assert_int_equal(ramp_sample(&r, 1 * MB), 0);
	assert_int_equal(r.n, 16);
	ramp_init(&r, 0, 0); /* nonsense in: one connection, settled */
	assert_int_equal(r.n, 1);
	assert_true(r.settled);
}

static void
t_stalled_samples(void **st)
{
	struct ramp r;

	(void)st;
	/* Nothing came with one: a second that brings bytes is a gain. */
	ramp_init(&r, 1, 16);
	ramp_sample(&r, 0);
	ramp_sample(&r, 1 * MB);
	assert_false(r.settled);
	assert_int_equal(r.n, 4);
	/* Nothing with either: stop adding, keep one. */
	ramp_init(&r, 1, 16);
	ramp_sample(&r, 0);
	ramp_sample(&r, -5);
	assert_true(r.settled);
	assert_int_equal(r.n, 1);
}

/* The sample clock (par.c's connections and fetch.c's first stream use
 * the same one): nothing before `at`; a slow stream measured over the
 * whole RAMP_SAMPLE_S; a fast one ends RAMP_FIRST_S in; the next sample
 * waits RAMP_SETTLE_S. */
static void
t_the_clock_samples_as_said(void **st)
{
	struct ramp r;
	struct ramp_clock c = { .at = 10.0 };
	double rate = -1, end = 0;

	(void)st;
	ramp_init(&r, 1, 16);
	assert_int_equal(ramp_clock_tick(&c, &r, 9.95, 0, &rate, &end), 0);
	assert_true(end > 10.0 + RAMP_SAMPLE_S - 1e-9 && end < 10.0 + RAMP_SAMPLE_S + 1e-9);
	/* Starts at the first tick after `at`, with the bytes then. */
	assert_int_equal(ramp_clock_tick(&c, &r, 10.0, 1000000, &rate, &end), 0);
	/* 8 MB/s: not enough alone; not over before RAMP_SAMPLE_S. */
	assert_int_equal(ramp_clock_tick(&c, &r, 10.0 + RAMP_FIRST_S + 0.01,
	    1000000 + (uint64_t)(8e6 * (RAMP_FIRST_S + 0.01)), &rate, &end), 0);
	assert_int_equal(ramp_clock_tick(&c, &r, 10.0 + RAMP_SAMPLE_S,
	    1000000 + (uint64_t)(8e6 * RAMP_SAMPLE_S), &rate, &end), 1);
	assert_true(rate > 7.99e6 && rate < 8.01e6);
	/* The next waits for the new connections to get going. */
	assert_int_equal(ramp_clock_tick(&c, &r, 10.0 + RAMP_SAMPLE_S + RAMP_SETTLE_S - 0.01,
	    50000000, &rate, &end), 0);
	assert_true(c.t0 == 0);
	/* Fast alone: over RAMP_FIRST_S in, not RAMP_SAMPLE_S. */
	c = (struct ramp_clock){ .at = 1.0 };
	assert_int_equal(ramp_clock_tick(&c, &r, 1.0, 0, &rate, &end), 0);
	assert_int_equal(ramp_clock_tick(&c, &r, 1.0 + RAMP_FIRST_S / 2, 20000000, &rate, &end), 0);
	assert_int_equal(ramp_clock_tick(&c, &r, 1.0 + RAMP_FIRST_S, 40000000, &rate, &end), 1);
	assert_true(rate >= RAMP_ENOUGH_BPS);
	assert_int_equal(ramp_sample(&r, rate), 1);
	assert_true(r.settled);
	assert_int_equal(r.n, 1);
	/* Once more than one runs, no early end: the whole sample. */
	ramp_init(&r, 2, 16);
	c = (struct ramp_clock){ .at = 1.0 };
	assert_int_equal(ramp_clock_tick(&c, &r, 1.0, 0, &rate, &end), 0);
	assert_int_equal(ramp_clock_tick(&c, &r, 1.0 + RAMP_FIRST_S, 400000000, &rate, &end), 0);
	assert_int_equal(ramp_clock_tick(&c, &r, 1.0 + RAMP_SAMPLE_S, 900000000, &rate, &end), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_capped_connections_ramp_to_the_most),
		cmocka_unit_test(t_doubles_while_each_adds),
		cmocka_unit_test(t_one_stream_at_the_link_stays_one),
		cmocka_unit_test(t_a_fast_stream_is_not_probed),
		cmocka_unit_test(t_a_small_gain_is_not_enough),
		cmocka_unit_test(t_stops_where_the_link_fills),
		cmocka_unit_test(t_exactly_the_threshold_adds),
		cmocka_unit_test(t_never_past_the_most),
		cmocka_unit_test(t_never_below_the_start),
		cmocka_unit_test(t_start_at_the_most_is_settled),
		cmocka_unit_test(t_stalled_samples),
		cmocka_unit_test(t_the_clock_samples_as_said),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
