/* json: string literals for the JSON the agent writes (events, boot.json). */
#include "json.h"

#include <stdio.h>

size_t
json_str(char *out, size_t cap, const char *s)
{
	size_t n = 0;
	int k;

	if (s == NULL)
		return (size_t)snprintf(out, cap, "null");
	n += (size_t)snprintf(out + n, cap > n ? cap - n : 0, "\"");
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			k = snprintf(out + n, cap > n ? cap - n : 0, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			k = snprintf(out + n, cap > n ? cap - n : 0, "\\u%04x", c);
		else
			k = snprintf(out + n, cap > n ? cap - n : 0, "%c", c);
		n += (size_t)k;
	}
	n += (size_t)snprintf(out + n, cap > n ? cap - n : 0, "\"");
	return n;
}
