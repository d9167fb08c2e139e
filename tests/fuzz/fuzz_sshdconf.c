/* fuzz_sshdconf: libFuzzer harness for the sshd_config port parser and its
 * renderer (agent/handoff/sshdconf.c). The input is split at its first NUL
 * byte into two files parsed into one result, as the collector reads an
 * included file and sshd_config (match reset between them). Promises
 * checked with abort(): never more ports than the cap, every port 1..65535
 * and listed once, and the fragment either refused for size or bounded,
 * NUL-terminated and made of "Port N" lines after its comment.
 * tests/fuzz/run.sh links only the common sources, so the module under test
 * is included here directly. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/handoff/sshdconf.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sshd_ports p;
	const uint8_t *nul = memchr(data, '\0', size);
	size_t first = nul != NULL ? (size_t)(nul - data) : size, i, j, len;
	char out[256];
	const char *l;

	memset(&p, 0, sizeof(p));
	sshdconf_parse(data, first, &p);
	if (nul != NULL) {
		p.match = 0;
		sshdconf_parse(nul + 1, size - first - 1, &p);
	}
	if (p.nports > SSHDCONF_PORTS_MAX)
		abort();
	for (i = 0; i < p.nports; i++) {
		if (p.port[i] == 0)
			abort();
		for (j = 0; j < i; j++)
			if (p.port[j] == p.port[i])
				abort();
	}
	memset(out, 'x', sizeof(out));
	if (sshdconf_render(&p, out, sizeof(out), &len) == 0) {
		if (len >= sizeof(out) || out[len] != '\0')
			abort();
		if (len > 0) {
			l = strchr(out, '\n');
			if (out[0] != '#' || l == NULL)
				abort();
			for (l++; *l != '\0'; l = strchr(l, '\n') + 1)
				if (strncmp(l, "Port ", 5) != 0 || strchr(l, '\n') == NULL)
					abort();
		}
	}
	return 0;
}
