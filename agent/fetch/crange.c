/* crange: a strict Content-Range parser. */
#include "crange.h"

#include <strings.h>

static int
blank(char c)
{
	return c == ' ' || c == '\t';
}

/* A decimal number of at most 18 digits (below INT64_MAX) at s[*i]. */
static int
number(const char *s, size_t len, size_t *i, int64_t *out)
{
	int64_t v = 0;
	size_t digits = 0;

	while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
		if (++digits > 18)
			return -1;
		v = v * 10 + (s[*i] - '0');
		(*i)++;
	}
	if (digits == 0)
		return -1;
	*out = v;
	return 0;
}

int
crange_parse(const char *s, size_t len, struct crange *out)
{
	struct crange r = { CRANGE_NONE, CRANGE_NONE, CRANGE_NONE };
	size_t i = 0;

	while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == '\n' || blank(s[len - 1])))
		len--;
	while (i < len && blank(s[i]))
		i++;
	if (len - i > CRANGE_MAX_BYTES || len - i < 6 || strncasecmp(s + i, "bytes", 5) != 0 ||
	    !blank(s[i + 5]))
		return -1;
	for (i += 6; i < len && blank(s[i]); i++)
		;
	if (i < len && s[i] == '*') {
		i++;
	} else {
		if (number(s, len, &i, &r.first) != 0 || i >= len || s[i++] != '-' ||
		    number(s, len, &i, &r.last) != 0 || r.last < r.first)
			return -1;
	}
	if (i >= len || s[i++] != '/')
		return -1;
	if (i < len && s[i] == '*') {
		i++;
		if (r.first == CRANGE_NONE) /* unknown range of an unknown length */
			return -1;
	} else if (number(s, len, &i, &r.complete) != 0 ||
	    (r.last != CRANGE_NONE && r.last >= r.complete)) {
		return -1;
	}
	if (i != len)
		return -1;
	*out = r;
	return 0;
}
