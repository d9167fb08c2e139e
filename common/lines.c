/* lines: see lines.h. */
#include "lines.h"

#include <string.h>

void
lines_init(struct lines *l, const void *buf, size_t len, size_t cap)
{
	l->p = buf;
	l->left = len < cap ? len : cap;
}

int
lines_next(struct lines *l, const char **line, size_t *n)
{
	const char *nl;
	size_t k;

	if (l->left == 0)
		return 0;
	*line = l->p;
	nl = memchr(l->p, '\n', l->left);
	k = nl != NULL ? (size_t)(nl - l->p) : l->left;
	l->p += k;
	l->left -= k;
	if (nl != NULL) {
		l->p++;
		l->left--;
	}
	*n = k > 0 && (*line)[k - 1] == '\r' ? k - 1 : k;
	return 1;
}

int
lines_readable(const char *line, size_t n, size_t max)
{
	return n <= max && memchr(line, '\0', n) == NULL;
}
