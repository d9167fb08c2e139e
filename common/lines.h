/* lines: a text buffer, a line at a time, for the lenient parsers of the
 * files the agent reads from the machine it runs on (sshd_config,
 * resolv.conf, networkd's link state, authorized_keys, /etc/passwd). The
 * strict formats (manifest, minisign files) keep their own readers: they
 * refuse what these skip. */
#ifndef NK_LINES_H
#define NK_LINES_H

#include <stddef.h>

struct lines {
	const char *p; /* what is left */
	size_t left;
};

/* Reads at most cap bytes of buf's len (the rest is never looked at). */
void lines_init(struct lines *l, const void *buf, size_t len, size_t cap);

/* The next line in *line and *n: without its LF and a CR before it; the
 * last one need not end with an LF, and nothing after a final LF is a
 * line. 0 when no line is left. */
int lines_next(struct lines *l, const char **line, size_t *n);

/* A line the lenient parsers read: at most max bytes, no NUL. The others
 * are skipped whole (the first max bytes of a longer line could mean
 * something the whole line does not). */
int lines_readable(const char *line, size_t n, size_t max);

#endif
