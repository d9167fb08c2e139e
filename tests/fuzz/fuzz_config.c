/* fuzz_config: libFuzzer harness for the config file parser. A parsed
 * file must hold at most CONFIG_ENTRIES_MAX entries with well-formed
 * names, values without control bytes or surrounding blanks, and line
 * numbers that rise; written back as "name value" lines it must parse to
 * the same entries. A refused input leaves no entries. abort() on any
 * broken promise. Built and run by tests/fuzz/run.sh. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/fleet/config.c"

static struct config a, b;
static char text[CONFIG_MAX_BYTES + 2 * CONFIG_ENTRIES_MAX];

static void
check_value(const char *v)
{
	size_t n = strlen(v), i;

	if (n == 0 || v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t')
		abort();
	for (i = 0; i < n; i++)
		if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nk_err e;
	size_t i, n = 0;
	unsigned last = 0;

	if (config_parse(data, size, &a, &e) != 0) {
		if (a.n != 0)
			abort();
		return 0;
	}
	if (a.n > CONFIG_ENTRIES_MAX)
		abort();
	for (i = 0; i < a.n; i++) {
		if (!config_name_ok(a.entries[i].name, strlen(a.entries[i].name)))
			abort();
		if (a.entries[i].value != NULL)
			check_value(a.entries[i].value);
		if (a.entries[i].line <= last)
			abort();
		last = a.entries[i].line;
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%s%s\n", a.entries[i].name,
		    a.entries[i].value ? " " : "", a.entries[i].value ? a.entries[i].value : "");
		if (n >= sizeof(text))
			abort();
	}
	if (n > size + 1) /* never longer than what it came from (one LF added) */
		abort();
	if (config_parse((const uint8_t *)text, n, &b, &e) != 0 || b.n != a.n)
		abort();
	for (i = 0; i < a.n; i++) {
		if (strcmp(a.entries[i].name, b.entries[i].name) != 0 ||
		    (a.entries[i].value == NULL) != (b.entries[i].value == NULL) ||
		    (a.entries[i].value && strcmp(a.entries[i].value, b.entries[i].value) != 0) ||
		    b.entries[i].line != i + 1)
			abort();
	}
	return 0;
}
