/* fuzz_sshkey: libFuzzer harness for the authorized_keys line parser.
 * A parsed key must come out as "type base64[ comment]": one of the known
 * types, no control characters, no options left, and parsing the output
 * again gives the same output. abort() on any broken promise. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/handoff/sshkey.c"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[SSHKEY_LINE_MAX_BYTES + 1], again[SSHKEY_LINE_MAX_BYTES + 1];
	struct nk_err e;
	size_t i, n;
	int rc;

	rc = sshkey_parse((const char *)data, size, out, sizeof(out), &e);
	if (rc < 0 || rc == 0)
		return 0;
	if (rc != 1)
		abort();
	n = strlen(out);
	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 && out[i] != '\t')
			abort();
	if (known_type(out, strcspn(out, " ")) == NULL)
		abort();
	if (sshkey_parse(out, n, again, sizeof(again), &e) != 1 || strcmp(out, again) != 0)
		abort();
	return 0;
}
