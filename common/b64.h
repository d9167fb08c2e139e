/* b64: standard base64 (with padding) through libsodium. */
#ifndef NK_B64_H
#define NK_B64_H

#include <stddef.h>
#include <stdint.h>

/* Encodes len bytes into out (NUL-terminated); -1 when cap is too small. */
int b64_encode(const uint8_t *in, size_t len, char *out, size_t cap);
/* Decodes exactly; -1 on bad input, trailing garbage, or more than cap
 * bytes. *outlen receives the decoded length. */
int b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *outlen);

#endif
