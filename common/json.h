/* json: one escaping rule for every JSON string the project writes. */
#ifndef NK_JSON_H
#define NK_JSON_H

#include <stddef.h>

/* Writes s as a JSON string literal, quotes included ("null" for NULL):
 * '"' and '\\' escaped, control bytes and DEL as \u00XX, the rest as is.
 * Like snprintf: at most cap bytes with a NUL, returns the full length. */
size_t json_str(char *out, size_t cap, const char *s);

#endif
