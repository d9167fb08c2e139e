/* fuzz_stub_http: libFuzzer harness for the stub's request and Range
 * parsers, and the --collect body check. A parsed request must have a
 * path starting with '/' and no ".." segment, and a body only when it is
 * a POST; a parsed range must lie inside the representation; a body
 * accepted for the collect file must be one line.
 * abort() on any broken promise. Built and run by tests/fuzz/run.sh. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server-stub/collect.c"
#include "../../server-stub/http.c"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req req;
	struct http_range r;
	struct nk_err e;
	char value[HTTP_RANGE_MAX_BYTES + 1];
	size_t end = http_header_end(data, size);
	uint64_t rep = 1000;

	if (end > size)
		abort();
	if (end > 0 && http_parse_request(data, end, &req, &e) == 0) {
		if (req.path[0] != '/' || strstr(req.path, "/../") != NULL ||
		    strlen(req.path) > HTTP_PATH_MAX_BYTES)
			abort();
		/* a body only for a POST, and a POST always says how long */
		if ((req.method != HTTP_POST && req.content_length != 0) ||
		    (req.method == HTTP_POST && !req.has_length))
			abort();
	}
	/* The same bytes as a collected body: one line of JSON lines. */
	if (collect_check(data, size, &e) == 0 &&
	    (memchr(data, '\n', size) != NULL || memchr(data, '\r', size) != NULL ||
	    size > COLLECT_BODY_MAX_BYTES))
		abort();
	/* The same bytes as a Range value, against a few sizes. */
	if (size <= HTTP_RANGE_MAX_BYTES) {
		memcpy(value, data, size);
		value[size] = '\0';
		for (rep = 0; rep < 3000; rep += 999)
			if (http_parse_range(value, rep, &r, &e) == 0 &&
			    (r.first > r.last || r.last >= rep))
				abort();
	}
	return 0;
}
