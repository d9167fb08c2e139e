/* retryafter: Retry-After values (pure, bounded). */
#include "retryafter.h"

#include <string.h>

#define RA_FIXDATE_BYTES 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

static int
digits(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 19)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static int
index_of(const char *s, const char *const *names, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (memcmp(s, names[i], 3) == 0)
			return i;
	return -1;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; m 1-12). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" to Unix seconds. */
static int
fixdate(const char *s, uint64_t *out)
{
	static const char *const wk[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
		"Aug", "Sep", "Oct", "Nov", "Dec" };
	static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	uint64_t d, y, hh, mm, ss;
	int m;
	int64_t t;

	if (index_of(s, wk, 7) < 0 || memcmp(s + 3, ", ", 2) != 0 || s[7] != ' ' ||
	    s[11] != ' ' || s[16] != ' ' || s[19] != ':' || s[22] != ':' ||
	    memcmp(s + 25, " GMT", 4) != 0)
		return -1;
	if ((m = index_of(s + 8, mon, 12)) < 0 || digits(s + 5, 2, &d) != 0 ||
	    digits(s + 12, 4, &y) != 0 || digits(s + 17, 2, &hh) != 0 ||
	    digits(s + 20, 2, &mm) != 0 || digits(s + 23, 2, &ss) != 0)
		return -1;
	if (d < 1 || d > mdays[m] || hh > 23 || mm > 59 || ss > 60 || y < 1970)
		return -1;
	t = days_from_civil((int64_t)y, (unsigned)m + 1, (unsigned)d) * 86400 +
	    (int64_t)(hh * 3600 + mm * 60 + ss);
	*out = (uint64_t)t;
	return 0;
}

int
retryafter_parse(const char *value, size_t len, uint64_t now, uint64_t max_s,
    uint64_t *seconds)
{
	const char *a = value, *b = value + len;
	uint64_t v, when;

	while (a < b && (*a == ' ' || *a == '\t'))
		a++;
	while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r' || b[-1] == '\n'))
		b--;
	if (b == a || b - a > RETRYAFTER_MAX_BYTES)
		return -1;
	if (*a >= '0' && *a <= '9') {
		/* An absurdly long number is still "a long time": the cap. */
		for (v = 0; a + v < b; v++)
			if (a[v] < '0' || a[v] > '9')
				return -1;
		if (digits(a, (size_t)(b - a), &v) != 0)
			v = UINT64_MAX;
	} else {
		if (b - a != RA_FIXDATE_BYTES || fixdate(a, &when) != 0)
			return -1;
		v = when > now ? when - now : 0;
	}
	*seconds = v < max_s ? v : max_s;
	return 0;
}
