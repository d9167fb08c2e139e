/* event: what fetch and boot report while they work. The library side
 * emits events through a callback; only the command layer prints them
 * (progress.c: a bar on a TTY, one line per event otherwise, or JSON). */
#ifndef NK_EVENT_H
#define NK_EVENT_H

#include <stddef.h>
#include <stdint.h>

enum ev_type {
	EV_INFO,      /* a step: msg */
	EV_START,     /* a download begins: file, url, total (0 = unknown) */
	EV_PROGRESS,  /* bytes so far: file, done, total */
	EV_DONE,      /* a download finished: file, done, seconds */
	EV_RETRY,     /* transient failure, will retry: file, attempt, msg */
	EV_RESUME,    /* resuming from byte done: file, done */
	EV_RESTART,   /* server ignored Range; starting over: file */
	EV_MIRROR,    /* trying the next source: url, msg */
	EV_VERIFIED,  /* a check passed: file (or NULL), msg */
};

struct event {
	enum ev_type type;
	const char *file;
	const char *url;
	const char *msg;
	uint64_t done;
	uint64_t total;
	double seconds;
	unsigned attempt;
};

typedef void (*event_fn)(void *ctx, const struct event *ev);

struct event_sink {
	event_fn fn;
	void *ctx;
};

/* Emits ev through s when s and s->fn are set. */
static inline void
event_emit(const struct event_sink *s, const struct event *ev)
{
	if (s != NULL && s->fn != NULL)
		s->fn(s->ctx, ev);
}

#endif
