/* fuzz_retryafter: libFuzzer harness for the Retry-After parser. Any
 * input, at any clock: a parsed value is at most the cap, and a value
 * that parses still parses, to the same seconds, with blanks and a CRLF
 * around it. abort() on any broken promise. Built by tests/fuzz/run.sh. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/fetch/retryafter.c"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[RETRYAFTER_MAX_BYTES + 8];
	uint64_t now = 784111777, s, s2;

	if (size >= 8) {
		memcpy(&now, data, 8); /* the clock is input too */
		data += 8;
		size -= 8;
	}
	if (retryafter_parse((const char *)data, size, now, 300, &s) != 0)
		return 0;
	if (s > 300)
		abort();
	if (size > RETRYAFTER_MAX_BYTES)
		return 0;
	buf[0] = ' ';
	memcpy(buf + 1, data, size);
	memcpy(buf + 1 + size, "\r\n", 2);
	if (retryafter_parse(buf, size + 3, now, 300, &s2) != 0 || s2 != s)
		abort();
	return 0;
}
