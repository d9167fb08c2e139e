/* fuzz_source: libFuzzer harness for SOURCE parsing and name joining.
 * A parsed source is https or a directory, its base ends in '/', holds no
 * query or fragment when https, and joining any valid artifact name stays
 * under the base. abort() on any broken promise. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/fetch/source.c"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char arg[SOURCE_MAX_BYTES + 64], out[SOURCE_MAX_BYTES + 256];
	struct source s;
	struct nk_err e;
	size_t n;

	if (size >= sizeof(arg))
		return 0;
	memcpy(arg, data, size);
	arg[size] = '\0';
	if (source_parse(arg, &s, &e) != 0)
		return 0;
	n = strlen(s.base);
	if (n == 0 || s.base[n - 1] != '/')
		abort();
	if (s.kind == SOURCE_HTTPS && strpbrk(s.base, "?# ") != NULL)
		abort();
	if (source_join(&s, "initrd", out, sizeof(out), &e) == 0 &&
	    (strncmp(out, s.base, n) != 0 || strcmp(out + n, "initrd") != 0))
		abort();
	if (source_join(&s, "../x", out, sizeof(out), &e) == 0)
		abort();
	return 0;
}
