/* progress: prints fetch and boot events. A bar on a TTY; one plain line
 * per event otherwise; one JSON object per line with --json. */
#ifndef NK_PROGRESS_H
#define NK_PROGRESS_H

#include <stdio.h>

#include "event.h"

enum progress_mode {
	PROGRESS_PLAIN,
	PROGRESS_TTY,
	PROGRESS_JSON,
};

struct progress {
	enum progress_mode mode;
	FILE *out;
	int bar_shown;   /* a bar line is on screen, unterminated */
	double last_plain;
};

/* json: --json given. Otherwise a bar when stderr is a terminal. */
void progress_init(struct progress *p, int json);
/* An event_fn: pass &p as ctx. */
void progress_event(void *ctx, const struct event *ev);
/* The final line: ok, or the failure with its exit status and code name. */
void progress_result(struct progress *p, int code, int exit_status, const char *msg);
/* Writes s as a JSON string literal (quotes included). */
void progress_json_str(FILE *f, const char *s);

#endif
