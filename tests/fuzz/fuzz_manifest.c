/* fuzz_manifest: libFuzzer harness for the manifest parser and writer.
 * Any input that parses must write back, the text must parse to the same
 * struct, and writing is idempotent; since the parser accepts exactly one
 * spelling per value (keys in any order), the text is as long as the
 * input. A refused input must leave the struct zeroed. abort() on any
 * broken promise. Built and run by tests/fuzz/run.sh. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

static int
all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[MANIFEST_WRITE_MAX_BYTES], out2[MANIFEST_WRITE_MAX_BYTES];
	struct manifest m, m2;
	struct nk_err e;
	size_t n = 0, n2 = 0;

	memset(&m, 0xa5, sizeof(m));
	if (manifest_parse(data, size, &m, &e) != 0) {
		if (!all_zero(&m, sizeof(m)))
			abort();
		return 0;
	}
	if (manifest_write(&m, out, sizeof(out), &n, &e) != 0)
		abort();
	if (n != size)
		abort();
	if (manifest_parse((const uint8_t *)out, n, &m2, &e) != 0)
		abort();
	if (memcmp(&m, &m2, sizeof(m)) != 0)
		abort();
	if (manifest_write(&m2, out2, sizeof(out2), &n2, &e) != 0)
		abort();
	if (n2 != n || memcmp(out, out2, n) != 0)
		abort();
	return 0;
}
