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

#endif
