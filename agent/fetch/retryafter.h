/* retryafter: the value of an HTTP Retry-After header (RFC 9110 10.2.3),
 * which a server that answers 429 or 503 sends to say when to come back,
 * so that a fleet started at once spreads out instead of hammering it.
 * Pure: bytes in, seconds out. */
#ifndef NK_RETRYAFTER_H
#define NK_RETRYAFTER_H

#include <stddef.h>
#include <stdint.h>

#define RETRYAFTER_MAX_BYTES 64   /* a longer value is not one of the two forms */

/* Parses value (len bytes, blanks and a CRLF around it allowed): either
 * delta-seconds ("120") or an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37
 * GMT", turned into seconds from now; 0 when it is past). The result is
 * capped at max_s. 0 and *seconds set, or -1 when it is neither form (the
 * header is then ignored). */
int retryafter_parse(const char *value, size_t len, uint64_t now, uint64_t max_s,
    uint64_t *seconds);

#endif
