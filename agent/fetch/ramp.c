/* ramp: the number of connections, from the rates they reach. */
#include "ramp.h"

#include <stdio.h>

static double
mbps(double rate)
{
	return rate / 1e6;
}

static unsigned
twice(const struct ramp *r)
{
	return r->n * 2 < r->max ? r->n * 2 : r->max;
}

void
ramp_init(struct ramp *r, unsigned start, unsigned max)
{
	r->n = start > 0 ? start : 1;
	r->max = max > r->n ? max : r->n;
	r->prev_n = 0;
	r->prev_rate = 0;
	r->settled = r->n == r->max;
	snprintf(r->why, sizeof(r->why), "%u connection%s", r->n, r->n == 1 ? "" : "s");
}

int
ramp_enough(const struct ramp *r, double rate)
{
	return !r->settled && r->prev_n == 0 && r->n == 1 && rate >= RAMP_ENOUGH_BPS;
}

int
ramp_sample(struct ramp *r, double rate)
{
	double per, share;
	unsigned added;

	if (r->settled)
		return 0;
	if (rate < 0)
		rate = 0;
	if (ramp_enough(r, rate)) {
		snprintf(r->why, sizeof(r->why), "1 connection: %.1f MB/s, fast enough alone "
		    "(%.0f MB/s or more)", mbps(rate), mbps(RAMP_ENOUGH_BPS));
		r->settled = 1;
		return 1;
	}
	if (r->prev_n == 0) {
		snprintf(r->why, sizeof(r->why), "%u connection%s: %.1f MB/s; trying %u",
		    r->n, r->n == 1 ? "" : "s", mbps(rate), twice(r));
	} else {
		added = r->n - r->prev_n;
		per = r->prev_rate / r->prev_n;
		/* Nothing measured before: anything now is a gain. */
		share = per > 0 ? (rate - r->prev_rate) / added / per : rate > 0 ? 1 : 0;
		if (share < RAMP_GAIN_MIN) {
			snprintf(r->why, sizeof(r->why), "%u connection%s: %u more added %.0f%% of "
			    "one connection's rate each (%.1f -> %.1f MB/s; %.0f%% needed)",
			    r->prev_n, r->prev_n == 1 ? "" : "s", added, share * 100,
			    mbps(r->prev_rate), mbps(rate), RAMP_GAIN_MIN * 100);
			r->n = r->prev_n;
			r->settled = 1;
			return 1;
		}
		if (r->n == r->max) {
			snprintf(r->why, sizeof(r->why), "%u connections: %u more added %.0f%% of "
			    "one connection's rate each (%.1f -> %.1f MB/s); the most",
			    r->n, added, share * 100, mbps(r->prev_rate), mbps(rate));
			r->settled = 1;
			return 1;
		}
		snprintf(r->why, sizeof(r->why), "%u connections: %u more added %.0f%% of one "
		    "connection's rate each (%.1f -> %.1f MB/s); trying %u", r->n, added,
		    share * 100, mbps(r->prev_rate), mbps(rate), twice(r));
	}
	r->prev_n = r->n;
	r->prev_rate = rate;
	r->n = twice(r);
	return 1;
}

int
ramp_clock_tick(struct ramp_clock *c, const struct ramp *r, double now, uint64_t bytes,
    double *rate, double *end)
{
	if (c->t0 == 0) {
		if (now < c->at) {
			*end = c->at + RAMP_SAMPLE_S;
			return 0;
		}
		c->t0 = now;
		c->b0 = bytes;
	}
	*end = c->t0 + RAMP_SAMPLE_S;
	*rate = now > c->t0 ? (double)(bytes - c->b0) / (now - c->t0) : 0;
	if (now < *end && (now - c->t0 < RAMP_FIRST_S || !ramp_enough(r, *rate)))
		return 0;
	c->t0 = 0;
	c->at = now + RAMP_SETTLE_S;
	return 1;
}
