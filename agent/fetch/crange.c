/* crange: a strict Content-Range parser. */
#include "crange.h"

#include <inttypes.h>
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

int
crange_check(const struct crange_answer *a, uint64_t from, uint64_t to, uint64_t size,
    struct nk_err *e)
{
	const struct crange *cr = &a->range;

	if (a->status == 206 && a->has_range && cr->complete != CRANGE_NONE &&
	    (uint64_t)cr->complete != size)
		return nk_fail(e, NK_E_SIZE, "the server's file is %" PRId64 " bytes, the signed "
		    "manifest says %" PRIu64 " (Content-Range)", cr->complete, size);
	if (a->status == 206 && a->has_range && (uint64_t)cr->first == from &&
	    (uint64_t)cr->last == to - 1 && (a->clen < 0 || (uint64_t)a->clen == to - from))
		return 0;
	if (a->status == 206 && a->has_range && cr->first == CRANGE_NONE)
		return nk_fail(e, NK_E_HTTP, "asked for bytes %" PRIu64 "-%" PRIu64 ", the server "
		    "answered 206 with Content-Range bytes */%" PRId64 ", which names no bytes "
		    "(a 416's form); refused", from, to - 1, cr->complete);
	if (a->status == 206 && a->has_range && (uint64_t)cr->first == from &&
	    (uint64_t)cr->last == to - 1)
		return nk_fail(e, NK_E_HTTP, "asked for bytes %" PRIu64 "-%" PRIu64 " (%" PRIu64
		    " bytes), the server's Content-Range names them but its Content-Length of %"
		    PRId64 " bytes disagrees; refused", from, to - 1, to - from, a->clen);
	if (a->status == 206 && a->has_range)
		return nk_fail(e, NK_E_HTTP, "asked for bytes %" PRIu64 "-%" PRIu64 ", the server "
		    "answered with bytes %" PRId64 "-%" PRId64 "; a server that mixes up ranges "
		    "is refused", from, to - 1, cr->first, cr->last);
	return nk_fail(e, NK_E_HTTP, "asked for bytes %" PRIu64 "-%" PRIu64 ", the server "
	    "answered HTTP %ld %s; refused", from, to - 1, a->status, a->range_malformed ?
	    "with a malformed Content-Range" : a->status == 206 ? "without Content-Range" :
	    "instead of 206");
}
