/* crange: the Content-Range header of a 206 or a 416, parsed strictly
 * (RFC 9110, 14.4): "bytes FIRST-LAST/COMPLETE", the same with '*' for
 * an unknown COMPLETE, or '*' for FIRST-LAST (a 416's form). A parallel download trusts a
 * range only when it is exactly the one asked for, so this says exactly
 * what the server claims, or that the header is malformed. Pure: no I/O,
 * no allocation; fuzzed (tests/fuzz/fuzz_crange.c). */
#ifndef NK_CRANGE_H
#define NK_CRANGE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define CRANGE_MAX_BYTES 128   /* a longer header value is malformed */
#define CRANGE_NONE (-1)

struct crange {
	int64_t first, last;  /* inclusive; CRANGE_NONE in a 416's form */
	int64_t complete;     /* the whole file's length; CRANGE_NONE for '*' */
};

/* Parses the value after "Content-Range:" (blanks around it and a CRLF
 * after it are allowed). 0, or -1 when malformed: a sign, a number over
 * INT64_MAX, LAST before FIRST, LAST at or past COMPLETE, '*' for both. */
int crange_parse(const char *s, size_t len, struct crange *out);

/* What a server answered to "Range: bytes=FROM-(TO-1)". */
struct crange_answer {
	long status;          /* HTTP status */
	int has_range;        /* a Content-Range that parses, in range */
	int range_malformed;  /* a Content-Range that does not parse */
	struct crange range;
	int64_t clen;         /* Content-Length; -1: none */
};

/* Is a an exact answer for bytes [from, to) of a file of size bytes (the
 * signed manifest's)? 0, else NK_E_SIZE (the server's file has another
 * size) or NK_E_HTTP (any other answer), with a sentence that says what
 * the server did. A 200 is the caller's (a server that ignores Range).
 * Pure. */
int crange_check(const struct crange_answer *a, uint64_t from, uint64_t to, uint64_t size,
    struct nk_err *e);

#endif
