/* kimage: what kind of kernel image a file holds, read from its bytes
 * alone, and the unpacking arm64 needs. arm64's kexec_file_load (and the
 * static kexec-tools, built without zlib) load only the raw Image ("ARM\x64"
 * at 0x38); distributions also ship Image.gz and EFI zboot images (a PE
 * stub around a compressed Image), which `bundle --arch aarch64` unpacks
 * so the bundle carries the raw Image. */
#ifndef NK_KIMAGE_H
#define NK_KIMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define KIMAGE_ARM64_MAGIC_OFFSET 0x38
#define KIMAGE_HEAD_BYTES 64                       /* the arm64 Image header */
#define KIMAGE_ZBOOT_COMP_MAX_BYTES 31             /* "gzip", "zstd", ... */
#define KIMAGE_ARM64_MAX_BYTES (256ULL << 20)      /* an unpacked arm64 Image */

enum kimage_format {
	KIMAGE_UNKNOWN = 0,
	KIMAGE_ARM64,   /* raw arm64 Image */
	KIMAGE_GZIP,    /* a gzip stream (Image.gz, vmlinuz.gz) */
	KIMAGE_ZBOOT,   /* EFI zboot: "MZ", "zimg", payload offset and size */
	KIMAGE_BZIMAGE, /* x86 bzImage: "HdrS" at 0x202 */
};

/* Parse failures (besides KIMAGE_UNKNOWN, which is a successful answer). */
enum {
	KIMAGE_E_ZBOOT_RANGE = -1, /* payload offset/size outside the file */
	KIMAGE_E_ZBOOT_COMP = -2,  /* compression name not printable or unterminated */
};

struct kimage {
	enum kimage_format format;
	uint64_t payload_off; /* ZBOOT: the compressed payload within buf */
	uint64_t payload_len;
	char comp[KIMAGE_ZBOOT_COMP_MAX_BYTES + 1]; /* ZBOOT: compression name */
};

/* Pure and bounded: identifies buf (a whole file, or at least its first
 * KIMAGE_HEAD_BYTES for the arm64 magic test). 0 with out->format set
 * (KIMAGE_UNKNOWN when nothing matched), or a KIMAGE_E_ code. */
int kimage_parse(const uint8_t *buf, size_t len, struct kimage *out);

/* A short name of a format for messages ("raw arm64 Image", "gzip", ...). */
const char *kimage_name(enum kimage_format f);

/* Whether buf carries the raw arm64 Image magic at 0x38. */
int kimage_is_arm64(const uint8_t *buf, size_t len);

/* For an arm64 target: 0 and *unpack = 0 for a raw Image, *unpack = 1 for
 * a gzip stream or a zboot image with a gzip payload; anything else is
 * NK_E_USAGE with the reason in e. k is filled in every case. */
int kimage_arm64_plan(const uint8_t *buf, size_t len, struct kimage *k, int *unpack,
    struct nk_err *e);

/* Inflates the gzip stream of k (planned by kimage_arm64_plan on the same
 * buf) into out_fd, at most KIMAGE_ARM64_MAX_BYTES, and checks that the
 * result is a raw arm64 Image. *out_len is the bytes written. */
int kimage_arm64_unpack(const uint8_t *buf, size_t len, const struct kimage *k, int out_fd,
    uint64_t *out_len, struct nk_err *e);

#endif
