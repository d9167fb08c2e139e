/* b64: base64 through libsodium (constant-time codec). */
#include "b64.h"

#include <sodium.h>

int
b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	if (cap < sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL))
		return -1;
	sodium_bin2base64(out, cap, in, len, sodium_base64_VARIANT_ORIGINAL);
	return 0;
}

int
b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	const char *end = NULL;

	if (sodium_base642bin(out, cap, in, len, NULL, outlen, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0)
		return -1;
	if (end != in + len)
		return -1;
	return 0;
}
