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

#define RAMP_GAIN_MIN 0.5    /* share of one connection's rate an added one must add */
#define RAMP_ENOUGH_BPS 100e6 /* one connection this fast (bytes/s) is left alone */
#define RAMP_WHY_MAX 160

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

#endif
