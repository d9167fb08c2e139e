/* fuzz_url: libFuzzer harness for the report URL check and the host/port
 * extraction. An accepted URL has no byte outside the URL characters
 * (nothing that could leave a JSON string or a shell word), starts with
 * https://, and has a host; a host never exceeds its buffer and a port is
 * 1-65535; url_redact stays in its buffer, terminated, and is idempotent.
 * abort() on any broken promise. Built by tests/fuzz/run.sh. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "url.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[URL_MAX_BYTES + 64], host[URL_HOST_MAX_BYTES + 1], small[5];
	char r1[URL_MAX_BYTES + 64], r2[URL_MAX_BYTES + 64], tiny[9];
	struct nk_err e;
	unsigned port = 0;
	size_t i;

	if (size >= sizeof(s))
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (url_host_port(s, host, sizeof(host), &port) == 0) {
		if (port == 0 || port > 65535 || strlen(host) == 0 || strlen(host) > URL_HOST_MAX_BYTES)
			abort();
		if (strncasecmp(s, "https://", 8) != 0)
			abort();
	}
	if (url_host_port(s, small, sizeof(small), &port) == 0 && strlen(small) >= sizeof(small))
		abort();
	if (url_redact(s, r1, sizeof(r1)) != strlen(r1) || strlen(r1) >= sizeof(r1))
		abort();
	if (strlen(r1) < sizeof(r1) - 1) {
		url_redact(r1, r2, sizeof(r2));
		if (strcmp(r1, r2) != 0)
			abort();
	}
	if (url_redact(s, tiny, sizeof(tiny)) >= sizeof(tiny))
		abort();
	if (url_https_check(s, &e) == 0) {
		if (strncasecmp(s, "https://", 8) != 0 || strlen(s) > URL_MAX_BYTES)
			abort();
		for (i = 0; s[i]; i++)
			if (s[i] == '"' || s[i] == '\\' || s[i] == '`' || (unsigned char)s[i] <= 0x20 ||
			    (unsigned char)s[i] >= 0x7f)
				abort();
	}
	return 0;
}
