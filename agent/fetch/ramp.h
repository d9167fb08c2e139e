/* ramp: how many connections a parallel download uses, found by measuring
 * them. It starts with few (one, where the server is near), and after each
 * sample of the aggregate rate doubles them while every added connection
 * raised the total by at least RAMP_GAIN_MIN of one connection's rate
 * (up to the maximum); when the last step did not, it goes back to the
 * count before it and stays there. A server that caps each connection
 * (nginx limit_rate, object stores, mirrors) gets many; a LAN where one
 * stream is already at the link's rate keeps one. A single connection at
 * RAMP_ENOUGH_BPS or more is not probed at all: there the client's CPU,
 * not a cap, is what bounds it, and a second connection would only cost
 * (docs/bench.md). Pure: no I/O, no clock; par.c takes the samples and
 * applies the count. */
#ifndef NK_RAMP_H
#define NK_RAMP_H

#include <stdint.h>

#define RAMP_GAIN_MIN 0.5    /* share of one connection's rate an added one must add */
#define RAMP_ENOUGH_BPS 100e6 /* one connection this fast (bytes/s) is left alone */
#define RAMP_WHY_MAX 160
#define RAMP_SETTLE_S 0.2    /* after a change of the count: not measured */
#define RAMP_SAMPLE_S 0.3    /* then the aggregate rate over this long */
#define RAMP_FIRST_S 0.1     /* the first (a warm connection): settle, and the
                              * least sample where it is fast enough alone */

struct ramp {
	unsigned n;              /* connections to use now */
	unsigned max;            /* at most */
	unsigned prev_n;         /* the count of the last sample; 0: none yet */
	double prev_rate;        /* the aggregate bytes/s measured with prev_n */
	int settled;             /* n is final */
	char why[RAMP_WHY_MAX];  /* the last decision, for the progress output */
};

/* Starts with start connections (1 or more), at most max (start or more). */
void ramp_init(struct ramp *r, unsigned start, unsigned max);

/* A single stream measured at rate is fast enough alone: the first
 * sample may end early with it. */
int ramp_enough(const struct ramp *r, double rate);

/* The aggregate rate (bytes/s) measured with r->n connections: 1 when it
 * changed r->n or settled (r->why says why), else 0. Settled: always 0. */
int ramp_sample(struct ramp *r, double rate);

/* When a sample of the rate is taken: it starts at `at` (RAMP_FIRST_S
 * after the start, RAMP_SETTLE_S after each change), lasts RAMP_SAMPLE_S,
 * and ends early, RAMP_FIRST_S in, where ramp_enough. Shared by the
 * parallel path (par.c) and the stream that starts a near download
 * (fetch.c), which must measure alike. */
struct ramp_clock {
	double at;               /* the next sample starts then */
	double t0;               /* it started then; 0: not started */
	uint64_t b0;             /* with this many bytes in */
};

/* Bytes in by now (seconds): 1 when a sample is complete (*rate, bytes/s;
 * the next starts RAMP_SETTLE_S later), else 0 and *end is when the
 * current one will be (so a caller knows how long it may wait). */
int ramp_clock_tick(struct ramp_clock *c, const struct ramp *r, double now, uint64_t bytes,
    double *rate, double *end);

#endif
