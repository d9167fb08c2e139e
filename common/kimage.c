/* kimage: kernel image formats by their magic numbers, and the gzip
 * unpacking an arm64 bundle needs. Layouts from the kernel's own sources:
 * Documentation/arch/arm64/booting.rst (the Image header),
 * drivers/firmware/efi/libstub/zboot-header.S (the zboot header) and
 * Documentation/arch/x86/boot.rst (bzImage "HdrS"). */
#include "kimage.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#define ZBOOT_COMP_OFFSET 24
#define ZBOOT_COMP_END 0x38
#define BZIMAGE_MAGIC_OFFSET 0x202
#define KIMAGE_CHUNK_BYTES (16 * 1024)

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

int
kimage_is_arm64(const uint8_t *buf, size_t len)
{
	return len >= KIMAGE_HEAD_BYTES &&
	    memcmp(buf + KIMAGE_ARM64_MAGIC_OFFSET, "ARM\x64", 4) == 0;
}

static int
parse_zboot(const uint8_t *buf, size_t len, struct kimage *out)
{
	size_t i;

	out->format = KIMAGE_ZBOOT;
	out->payload_off = le32(buf + 8);
	out->payload_len = le32(buf + 12);
	if (out->payload_len == 0 || out->payload_off > len ||
	    out->payload_len > len - out->payload_off)
		return KIMAGE_E_ZBOOT_RANGE;
	for (i = 0; ZBOOT_COMP_OFFSET + i < ZBOOT_COMP_END && i < KIMAGE_ZBOOT_COMP_MAX_BYTES;
	    i++) {
		uint8_t c = buf[ZBOOT_COMP_OFFSET + i];

		if (c == '\0')
			break;
		if (c <= 0x20 || c >= 0x7f)
			return KIMAGE_E_ZBOOT_COMP;
		out->comp[i] = (char)c;
	}
	if (i == 0 || buf[ZBOOT_COMP_OFFSET + i] != '\0')
		return KIMAGE_E_ZBOOT_COMP;
	out->comp[i] = '\0';
	return 0;
}

int
kimage_parse(const uint8_t *buf, size_t len, struct kimage *out)
{
	memset(out, 0, sizeof(*out));
	/* zboot first: its PE stub starts with "MZ" like an EFI-stub Image,
	 * but "zimg" and no ARM\x64 magic set it apart. */
	if (len >= KIMAGE_HEAD_BYTES && memcmp(buf, "MZ", 2) == 0 &&
	    memcmp(buf + 4, "zimg", 4) == 0)
		return parse_zboot(buf, len, out);
	if (kimage_is_arm64(buf, len))
		out->format = KIMAGE_ARM64;
	else if (len >= 3 && buf[0] == 0x1f && buf[1] == 0x8b && buf[2] == 8)
		out->format = KIMAGE_GZIP;
	else if (len >= BZIMAGE_MAGIC_OFFSET + 4 &&
	    memcmp(buf + BZIMAGE_MAGIC_OFFSET, "HdrS", 4) == 0)
		out->format = KIMAGE_BZIMAGE;
	return 0;
}

const char *
kimage_name(enum kimage_format f)
{
	switch (f) {
	case KIMAGE_ARM64: return "raw arm64 Image";
	case KIMAGE_GZIP: return "gzip-compressed image";
	case KIMAGE_ZBOOT: return "EFI zboot image";
	case KIMAGE_BZIMAGE: return "x86 bzImage";
	case KIMAGE_UNKNOWN: break;
	}
	return "image of unknown format";
}

int
kimage_arm64_plan(const uint8_t *buf, size_t len, struct kimage *k, int *unpack,
    struct nk_err *e)
{
	int rc = kimage_parse(buf, len, k);

	*unpack = 0;
	if (rc == KIMAGE_E_ZBOOT_RANGE)
		return nk_fail(e, NK_E_USAGE, "EFI zboot image whose payload (offset %llu, "
		    "%llu bytes) lies outside the file of %zu bytes: truncated or corrupt",
		    (unsigned long long)k->payload_off, (unsigned long long)k->payload_len, len);
	if (rc == KIMAGE_E_ZBOOT_COMP)
		return nk_fail(e, NK_E_USAGE, "EFI zboot image without a readable compression "
		    "name at offset 24: corrupt");
	switch (k->format) {
	case KIMAGE_ARM64:
		return 0;
	case KIMAGE_GZIP:
		*unpack = 1;
		return 0;
	case KIMAGE_ZBOOT:
		if (strcmp(k->comp, "gzip") != 0)
			return nk_fail(e, NK_E_USAGE, "EFI zboot image with a %s payload: only "
			    "gzip is unpacked here; give the raw Image (arch/arm64/boot/Image) "
			    "or build with CONFIG_KERNEL_GZIP", k->comp);
		*unpack = 1;
		return 0;
	case KIMAGE_BZIMAGE:
		return nk_fail(e, NK_E_USAGE, "an x86 bzImage, not an arm64 kernel: "
		    "wrong --kernel or --arch");
	case KIMAGE_UNKNOWN:
		break;
	}
	return nk_fail(e, NK_E_USAGE, "not an arm64 kernel: no raw Image magic "
	    "(\"ARM\\x64\" at 0x38), no gzip header, no EFI zboot header; arm64 loads "
	    "only an uncompressed Image");
}

static int
write_all(int fd, const uint8_t *p, size_t n, struct nk_err *e)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return nk_fail(e, NK_E_IO, "writing the unpacked Image: %s",
			    w < 0 ? strerror(errno) : "short write");
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Whether every byte is zero: the padding a zboot payload or a
 * block-aligned Image.gz may carry after the gzip stream. */
static int
all_zero(const uint8_t *p, size_t n)
{
	while (n > 0)
		if (p[--n] != 0)
			return 0;
	return 1;
}

int
kimage_arm64_unpack(const uint8_t *buf, size_t len, const struct kimage *k, int out_fd,
    uint64_t *out_len, struct nk_err *e)
{
	uint8_t chunk[KIMAGE_CHUNK_BYTES];
	uint8_t head[KIMAGE_HEAD_BYTES];
	const uint8_t *in = buf;
	size_t in_len = len, have, headn = 0;
	z_stream z;
	int zrc, rc = 0;

	*out_len = 0;
	if (k->format == KIMAGE_ZBOOT) {
		in = buf + k->payload_off;
		in_len = (size_t)k->payload_len;
	}
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) /* gzip wrapper only */
		return nk_fail(e, NK_E_NOMEM, "zlib: inflateInit2 failed");
	z.next_in = (Bytef *)(uintptr_t)in;
	do {
		/* avail_in is 32 bits: feed big payloads in slices. */
		if (z.avail_in == 0) {
			size_t used = (size_t)(z.next_in - in), left = in_len - used;

			if (left == 0) {
				rc = nk_fail(e, NK_E_USAGE, "the gzip stream is truncated "
				    "(%zu bytes read, no end)", in_len);
				goto out;
			}
			z.avail_in = left > (1u << 30) ? 1u << 30 : (uInt)left;
		}
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		zrc = inflate(&z, Z_NO_FLUSH);
		if (zrc != Z_OK && zrc != Z_STREAM_END) {
			rc = nk_fail(e, NK_E_USAGE, "the gzip stream is corrupt (zlib: %s)",
			    z.msg != NULL ? z.msg : "error");
			goto out;
		}
		have = sizeof(chunk) - z.avail_out;
		if (have > KIMAGE_ARM64_MAX_BYTES - *out_len) {
			rc = nk_fail(e, NK_E_SIZE, "the unpacked Image exceeds %llu MiB",
			    (unsigned long long)(KIMAGE_ARM64_MAX_BYTES >> 20));
			goto out;
		}
		if (headn < sizeof(head)) {
			size_t n = have < sizeof(head) - headn ? have : sizeof(head) - headn;

			memcpy(head + headn, chunk, n);
			headn += n;
		}
		if ((rc = write_all(out_fd, chunk, have, e)) != 0)
			goto out;
		*out_len += have;
	} while (zrc != Z_STREAM_END);
	if (!all_zero(z.next_in, in_len - (size_t)(z.next_in - in))) {
		rc = nk_fail(e, NK_E_USAGE, "data follows the gzip stream (%zu bytes): more "
		    "than one member, or not a kernel", in_len - (size_t)(z.next_in - in));
		goto out;
	}
	if (!kimage_is_arm64(head, headn))
		rc = nk_fail(e, NK_E_USAGE, "the gzip stream unpacks to %llu bytes that are "
		    "not a raw arm64 Image (no \"ARM\\x64\" at 0x38)",
		    (unsigned long long)*out_len);
out:
	inflateEnd(&z);
	return rc;
}
