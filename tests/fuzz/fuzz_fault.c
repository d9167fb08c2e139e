/* fuzz_fault: libFuzzer harness for the stub's --fault parser. A parsed
 * spec must name a known kind, keep its URL and NAME within their bounds
 * and in their alphabets, give tlshang no NAME, and plan without
 * crashing for a path that matches it. abort() on any broken promise.
 * Built and run by tests/fuzz/run.sh. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server-stub/fault.c"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fault_set set;
	char spec[FAULT_SPEC_MAX_BYTES + 2], path[FAULT_NAME_MAX_BYTES + 2];
	struct fault f;
	struct fault_plan p;
	struct nk_err e;

	if (size > FAULT_SPEC_MAX_BYTES + 1)
		return 0;
	memcpy(spec, data, size);
	spec[size] = '\0'; /* a NUL inside ends the spec early, as in argv */
	if (fault_parse(spec, &f, &e) != 0)
		return 0;
	if ((unsigned)f.kind >= FAULT_KINDS || strlen(f.name) > FAULT_NAME_MAX_BYTES ||
	    strlen(f.url) > FAULT_URL_MAX_BYTES)
		abort();
	if (f.name[0] != '\0' && !name_ok(f.name))
		abort();
	if (f.kind == FAULT_TLSHANG && f.name[0] != '\0')
		abort();
	if (f.kind == FAULT_REDIRECT && !url_ok(f.url))
		abort();
	if (f.remaining == 0)
		abort();
	/* The fault, alone in a set, planned for a request it applies to. */
	memset(&set, 0, sizeof(set));
	if (fault_set_init(&set, &e) != 0)
		abort();
	set.f[0] = f;
	set.n = 1;
	path[0] = '/';
	memcpy(path + 1, f.name, strlen(f.name) + 1);
	fault_plan_request(&set, path, &p);
	fault_plan_body(&set, path, 1u << 20, &p);
	(void)fault_conn_hangs(&set);
	if (f.kind == FAULT_HTTP09 && !p.http09)
		abort();
	pthread_mutex_destroy(&set.lock);
	return 0;
}
