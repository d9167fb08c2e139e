/* fuzz_kimage: libFuzzer harness for the kernel format parser and the
 * arm64 unpacking. A zboot answer's payload lies inside the input; a
 * compression name is printable and NUL-terminated in its buffer; a plan
 * that says "as is" is a raw Image; an unpack that succeeds wrote at most
 * KIMAGE_ARM64_MAX_BYTES (to /dev/null). abort() on any broken promise.
 * Seeds (corpus/fuzz_kimage): a 256-byte raw Image header, its gzip
 * (Python gzip.compress, level 9, mtime 0) and that in a zboot header.
 * Built by tests/fuzz/run.sh. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/kimage.h"

static int devnull = -1;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kimage k;
	struct nk_err e;
	uint64_t n = 0;
	int rc, unpack = -1;
	size_t i;

	rc = kimage_parse(data, size, &k);
	if (rc != 0 && rc != KIMAGE_E_ZBOOT_RANGE && rc != KIMAGE_E_ZBOOT_COMP)
		abort();
	if (rc == 0 && k.format == KIMAGE_ZBOOT) {
		if (k.payload_off > size || k.payload_len > size - k.payload_off ||
		    k.payload_len == 0)
			abort();
		if (strnlen(k.comp, sizeof(k.comp)) == sizeof(k.comp) || k.comp[0] == '\0')
			abort();
		for (i = 0; k.comp[i]; i++)
			if ((unsigned char)k.comp[i] <= 0x20 || (unsigned char)k.comp[i] >= 0x7f)
				abort();
	}
	rc = kimage_arm64_plan(data, size, &k, &unpack, &e);
	if (rc == 0 && unpack == 0 && !kimage_is_arm64(data, size))
		abort();
	if (rc != 0 && unpack != 0)
		abort();
	if (rc == 0 && unpack == 1) {
		if (devnull < 0 && (devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
			abort();
		if (kimage_arm64_unpack(data, size, &k, devnull, &n, &e) == 0 &&
		    (n < KIMAGE_HEAD_BYTES || n > KIMAGE_ARM64_MAX_BYTES))
			abort();
	}
	return 0;
}
