/* test_kimage: kernel formats by their bytes and the arm64 unpacking
 * (common/kimage.c). Vectors are made here: a "raw Image" is 4096 bytes of
 * a pattern with "ARM\x64" at 0x38 (the arm64 boot protocol's header); an
 * Image.gz is that compressed with zlib's gzip wrapper (deflateInit2,
 * windowBits 16 + 15, as gzip -9 would); a zboot image is the header of
 * the kernel's zboot-header.S ("MZ", "zimg", payload offset and size,
 * the compression name at 24) followed by such a gzip stream. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <zlib.h>

#include "kimage.h"
#include "nktest.h"

#define RAW_BYTES 4096
#define ZBOOT_PAYLOAD_OFF 0x200

static uint8_t raw[RAW_BYTES];

static void
make_raw(uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)((i * 2654435761u) >> 13);
	memcpy(b + 0x38, "ARM\x64", 4);
}

/* gzip of in into out (cap bytes); returns the length. */
static size_t
gz(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	z_stream z;

	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	deflateEnd(&z);
	return cap - z.avail_out;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* A zboot image around payload; returns its length. */
static size_t
zboot(uint8_t *out, size_t cap, const char *comp, const uint8_t *payload, size_t n)
{
	assert_true(ZBOOT_PAYLOAD_OFF + n <= cap);
	memset(out, 0, ZBOOT_PAYLOAD_OFF);
	memcpy(out, "MZ", 2);
	memcpy(out + 4, "zimg", 4);
	put32(out + 8, ZBOOT_PAYLOAD_OFF);
	put32(out + 12, (uint32_t)n);
	memcpy(out + 24, comp, strlen(comp));
	put32(out + 0x38, 0x818223cd); /* LINUX_PE_MAGIC, as the kernel writes it */
	memcpy(out + ZBOOT_PAYLOAD_OFF, payload, n);
	return ZBOOT_PAYLOAD_OFF + n;
}

/* Unpacks buf into a memfd; returns the plan/unpack code and the bytes. */
static int
unpack(const uint8_t *buf, size_t len, uint8_t *out, size_t cap, size_t *n, struct nk_err *e)
{
	struct kimage k;
	uint64_t got = 0;
	int unpack_needed, fd, rc;

	*n = 0;
	if ((rc = kimage_arm64_plan(buf, len, &k, &unpack_needed, e)) != 0)
		return rc;
	assert_int_equal(unpack_needed, 1);
	assert_true((fd = memfd_create("t", MFD_CLOEXEC)) >= 0);
	rc = kimage_arm64_unpack(buf, len, &k, fd, &got, e);
	if (rc == 0) {
		assert_true(got <= cap);
		assert_int_equal(pread(fd, out, (size_t)got, 0), (ssize_t)got);
		*n = (size_t)got;
	}
	close(fd);
	return rc;
}

static int
setup(void **st)
{
	(void)st;
	make_raw(raw, sizeof(raw));
	return 0;
}

/* --- parse --------------------------------------------------------------- */
static void
t_parse_raw(void **st)
{
	struct kimage k;

	(void)st;
	assert_int_equal(kimage_parse(raw, sizeof(raw), &k), 0);
	assert_int_equal(k.format, KIMAGE_ARM64);
	assert_int_equal(kimage_parse(raw, KIMAGE_HEAD_BYTES, &k), 0); /* the head is enough */
	assert_int_equal(k.format, KIMAGE_ARM64);
	assert_int_equal(kimage_parse(raw, KIMAGE_HEAD_BYTES - 1, &k), 0);
	assert_int_equal(k.format, KIMAGE_UNKNOWN);
}

static void
t_parse_efi_stub_image_is_raw(void **st)
{
	uint8_t b[RAW_BYTES];
	struct kimage k;

	(void)st;
	memcpy(b, raw, sizeof(b));
	memcpy(b, "MZ\x40\xfa", 4); /* an EFI-stub Image starts with "MZ" too */
	assert_int_equal(kimage_parse(b, sizeof(b), &k), 0);
	assert_int_equal(k.format, KIMAGE_ARM64);
}

static void
t_parse_zboot(void **st)
{
	uint8_t g[RAW_BYTES + 512], z[RAW_BYTES + 1024];
	size_t gl = gz(raw, sizeof(raw), g, sizeof(g)), zl = zboot(z, sizeof(z), "gzip", g, gl);
	struct kimage k;

	(void)st;
	assert_int_equal(kimage_parse(z, zl, &k), 0);
	assert_int_equal(k.format, KIMAGE_ZBOOT);
	assert_string_equal(k.comp, "gzip");
	assert_int_equal(k.payload_off, ZBOOT_PAYLOAD_OFF);
	assert_int_equal(k.payload_len, gl);
	assert_int_equal(kimage_parse(z, zl - 1, &k), KIMAGE_E_ZBOOT_RANGE); /* truncated */
	assert_int_equal(k.format, KIMAGE_ZBOOT);
	put32(z + 8, 0xffffffffu); /* offset past the end */
	assert_int_equal(kimage_parse(z, zl, &k), KIMAGE_E_ZBOOT_RANGE);
	put32(z + 8, ZBOOT_PAYLOAD_OFF);
	memset(z + 24, 'a', 0x38 - 24); /* no NUL before 0x38 */
	assert_int_equal(kimage_parse(z, zl, &k), KIMAGE_E_ZBOOT_COMP);
	memset(z + 24, 0, 0x38 - 24); /* empty name */
	assert_int_equal(kimage_parse(z, zl, &k), KIMAGE_E_ZBOOT_COMP);
	memcpy(z + 24, "gz\nip", 5);
	assert_int_equal(kimage_parse(z, zl, &k), KIMAGE_E_ZBOOT_COMP);
}

static void
t_parse_others(void **st)
{
	uint8_t b[0x300] = { 0 };
	struct kimage k;

	(void)st;
	assert_int_equal(kimage_parse((const uint8_t *)"\x1f\x8b\x08", 3, &k), 0);
	assert_int_equal(k.format, KIMAGE_GZIP);
	assert_int_equal(kimage_parse((const uint8_t *)"\x1f\x8b\x07", 3, &k), 0);
	assert_int_equal(k.format, KIMAGE_UNKNOWN);
	memcpy(b + 0x202, "HdrS", 4);
	assert_int_equal(kimage_parse(b, sizeof(b), &k), 0);
	assert_int_equal(k.format, KIMAGE_BZIMAGE);
	assert_int_equal(kimage_parse(b, 0x205, &k), 0);
	assert_int_equal(k.format, KIMAGE_UNKNOWN);
	assert_int_equal(kimage_parse(b, 0, &k), 0);
	assert_int_equal(k.format, KIMAGE_UNKNOWN);
}

/* --- arm64 plan and unpack ------------------------------------------------ */
static void
t_raw_passes_as_is(void **st)
{
	struct kimage k;
	struct nk_err e = { "" };
	int u = -1;

	(void)st;
	assert_int_equal(kimage_arm64_plan(raw, sizeof(raw), &k, &u, &e), 0);
	assert_int_equal(u, 0);
}

static void
t_gzip_unpacks(void **st)
{
	uint8_t g[RAW_BYTES + 512], out[RAW_BYTES];
	size_t gl = gz(raw, sizeof(raw), g, sizeof(g)), n;
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(unpack(g, gl, out, sizeof(out), &n, &e), 0);
	assert_int_equal(n, sizeof(raw));
	assert_memory_equal(out, raw, sizeof(raw));
}

static void
t_gzip_zero_padding_ok(void **st)
{
	uint8_t g[RAW_BYTES + 1024] = { 0 }, out[RAW_BYTES];
	size_t gl = gz(raw, sizeof(raw), g, sizeof(g)), n;
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(unpack(g, gl + 512, out, sizeof(out), &n, &e), 0);
	assert_int_equal(n, sizeof(raw));
}

static void
t_zboot_gzip_unpacks(void **st)
{
	uint8_t g[RAW_BYTES + 512], z[RAW_BYTES + 1024], out[RAW_BYTES];
	size_t gl = gz(raw, sizeof(raw), g, sizeof(g)), zl = zboot(z, sizeof(z), "gzip", g, gl), n;
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(unpack(z, zl, out, sizeof(out), &n, &e), 0);
	assert_int_equal(n, sizeof(raw));
	assert_memory_equal(out, raw, sizeof(raw));
}

#define REFUSE(name, needle, make) \
	static void name(void **st) { uint8_t b[RAW_BYTES + 1024] = { 0 }, g[RAW_BYTES + 512], \
		out[RAW_BYTES]; size_t len = 0, n; struct nk_err e = { "" }; (void)st; (void)g; \
		make; assert_int_not_equal(unpack(b, len, out, sizeof(out), &n, &e), 0); \
		if (!strstr(e.msg, needle)) fail_msg("'%s' lacks '%s'", e.msg, needle); }
/* a zstd zboot image: unpacking it is not offered */
REFUSE(t_zboot_zstd, "with a zstd payload", len = zboot(b, sizeof(b), "zstd", raw, 100))
REFUSE(t_zboot_range, "outside the file", len = zboot(b, sizeof(b), "gzip", raw, 100) - 1)
REFUSE(t_zboot_comp, "compression name", len = zboot(b, sizeof(b), "gzip", raw, 100); b[24] = 0)
REFUSE(t_junk, "arm64 loads only an uncompressed Image", memset(b, 0x5a, 200); len = 200)
REFUSE(t_empty, "not an arm64 kernel", len = 0)
REFUSE(t_bzimage, "x86 bzImage", memcpy(b + 0x202, "HdrS", 4); len = 0x300)
/* the gzip of 4096 bytes of pattern without the magic */
REFUSE(t_gzip_not_image, "not a raw arm64 Image", memcpy(g, raw, RAW_BYTES); memset(g + 0x38, 0, 4);
	len = gz(g, RAW_BYTES, b, sizeof(b)))
REFUSE(t_gzip_truncated, "truncated", len = gz(raw, RAW_BYTES, b, sizeof(b)) / 2)
REFUSE(t_gzip_trailing, "data follows the gzip stream", len = gz(raw, RAW_BYTES, b, sizeof(b));
	b[len] = 0x1f; len += 10)
REFUSE(t_gzip_corrupt, "corrupt", len = gz(raw, RAW_BYTES, b, sizeof(b)); b[len / 2] ^= 0xff;
	b[len / 2 + 1] ^= 0x55)

/* a zboot image whose gzip payload unpacks to something without the magic */
static void
t_zboot_gzip_of_junk(void **st)
{
	uint8_t j[RAW_BYTES], g[RAW_BYTES + 512], z[RAW_BYTES + 1024], out[RAW_BYTES];
	size_t gl, zl, n;
	struct nk_err e = { "" };

	(void)st;
	memcpy(j, raw, sizeof(j));
	j[0x38] = 'B';
	gl = gz(j, sizeof(j), g, sizeof(g));
	zl = zboot(z, sizeof(z), "gzip", g, gl);
	assert_int_equal(unpack(z, zl, out, sizeof(out), &n, &e), NK_E_USAGE);
	assert_non_null(strstr(e.msg, "not a raw arm64 Image"));
}

/* 257 MiB with the magic, over KIMAGE_ARM64_MAX_BYTES: one 1 MiB head and
 * 256 MiB of zeros, each MiB deflated after a Z_FULL_FLUSH so that every
 * zero MiB compresses to the same bytes (asserted) and the stream is made
 * by repetition, cheaply even under valgrind. The unpacking stops at the
 * cap, before the trailer, so no CRC is needed. Written to /dev/null. */
static void
t_unpack_bounded(void **st)
{
	const size_t mib = 1 << 20, reps = 256;
	uint8_t *in = calloc(1, mib), *a = malloc(mib), *z1 = malloc(mib), *z2 = malloc(mib), *g;
	size_t al, zl, zl2, gl, i;
	struct kimage k;
	struct nk_err e = { "" };
	uint64_t got;
	z_stream z;
	int u, fd;

	(void)st;
	assert_true(in && a && z1 && z2);
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 1, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
#define CHUNK(out, len) do { z.next_in = in; z.avail_in = (uInt)mib; z.next_out = (out); \
	z.avail_out = (uInt)mib; assert_int_equal(deflate(&z, Z_FULL_FLUSH), Z_OK); \
	assert_int_not_equal(z.avail_out, 0); (len) = mib - z.avail_out; } while (0)
	memcpy(in + 0x38, "ARM\x64", 4);
	CHUNK(a, al);
	memset(in, 0, mib);
	CHUNK(z1, zl);
	CHUNK(z2, zl2);
#undef CHUNK
	deflateEnd(&z);
	assert_int_equal(zl, zl2);
	assert_memory_equal(z1, z2, zl);
	assert_non_null(g = malloc(al + reps * zl));
	memcpy(g, a, al);
	for (i = 0, gl = al; i < reps; i++, gl += zl)
		memcpy(g + gl, z1, zl);
	assert_int_equal(kimage_arm64_plan(g, gl, &k, &u, &e), 0);
	assert_true((fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) >= 0);
	assert_int_equal(kimage_arm64_unpack(g, gl, &k, fd, &got, &e), NK_E_SIZE);
	assert_non_null(strstr(e.msg, "exceeds 256 MiB"));
	assert_true(got <= KIMAGE_ARM64_MAX_BYTES);
	assert_true(got > KIMAGE_ARM64_MAX_BYTES - 64 * 1024); /* it did get that far */
	close(fd);
	free(g);
	free(in);
	free(a);
	free(z1);
	free(z2);
}

int
main(void)
{
#define T(x) cmocka_unit_test_setup(x, setup)
	const struct CMUnitTest tests[] = {
		T(t_parse_raw), T(t_parse_efi_stub_image_is_raw), T(t_parse_zboot), T(t_parse_others),
		T(t_raw_passes_as_is), T(t_gzip_unpacks), T(t_gzip_zero_padding_ok),
		T(t_zboot_gzip_unpacks),
		T(t_zboot_zstd), T(t_zboot_range), T(t_zboot_comp), T(t_junk), T(t_empty),
		T(t_bzimage), T(t_gzip_not_image), T(t_gzip_truncated), T(t_gzip_trailing),
		T(t_gzip_corrupt), T(t_zboot_gzip_of_junk), T(t_unpack_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
