/* fuzz_crange: libFuzzer harness for the Content-Range parser. Whatever
 * parses is consistent (FIRST <= LAST < COMPLETE where known, nothing
 * negative but the "unknown" marker), parses to the same with blanks and
 * a CRLF around it, and never reads past len. abort() on any broken
 * promise. Built by tests/fuzz/run.sh. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/fetch/crange.c"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[CRANGE_MAX_BYTES + 16];
	char *exact;
	struct crange r, r2;

	/* An exact-size copy: ASan sees a read past len. */
	if ((exact = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(exact, data, size);
	if (crange_parse(exact, size, &r) != 0) {
		free(exact);
		return 0;
	}
	free(exact);
	if (r.first < CRANGE_NONE || r.last < CRANGE_NONE || r.complete < CRANGE_NONE)
		abort();
	if ((r.first == CRANGE_NONE) != (r.last == CRANGE_NONE))
		abort();
	if (r.first != CRANGE_NONE && r.last < r.first)
		abort();
	if (r.first != CRANGE_NONE && r.complete != CRANGE_NONE && r.last >= r.complete)
		abort();
	if (r.first == CRANGE_NONE && r.complete == CRANGE_NONE)
		abort();
	if (size + 4 > sizeof(buf))
		return 0;
	buf[0] = ' ';
	memcpy(buf + 1, data, size);
	memcpy(buf + 1 + size, " \r\n", 3);
	if (crange_parse(buf, size + 4, &r2) != 0 || memcmp(&r, &r2, sizeof(r)) != 0)
		abort();
	return 0;
}
