/* test_cpio: the newc writer and its gzip wrapper. Archives are checked
 * three ways: parsed here field by field (magic, 4-byte alignment of
 * every header and every file body, the trailer last), listed and
 * extracted by GNU cpio (contents and modes compared), and decompressed
 * by gzip. Refusals: names that could escape or confuse an unpacker,
 * oversized files, an archive over its cap, entries after the trailer. */
#include <sys/stat.h>
#include <zlib.h>

#include "nktest.h"
#include "cpio.h"
#include "fileio.h"

#define MTIME 1795527343u

struct entry {
	char name[CPIO_NAME_MAX_BYTES + 1];
	uint32_t mode;
	uint32_t nlink;
	uint32_t mtime;
	uint32_t uid, gid;
	const uint8_t *data;
	size_t len;
};

static uint32_t
hex8(const uint8_t *p)
{
	char s[9];

	memcpy(s, p, 8);
	s[8] = '\0';
	for (int i = 0; i < 8; i++)
		assert_true((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F'));
	return (uint32_t)strtoul(s, NULL, 16);
}

/* Walks a whole archive, checking the layout; returns the entry count. */
static size_t
walk(const uint8_t *buf, size_t len, struct entry *out, size_t max)
{
	size_t off = 0, n = 0, namesize, data;

	for (;;) {
		struct entry en;

		assert_int_equal(off % 4, 0);
		assert_true(off + CPIO_HEADER_BYTES <= len);
		assert_memory_equal(buf + off, "070701", 6);
		memset(&en, 0, sizeof(en));
		en.mode = hex8(buf + off + 14);
		en.uid = hex8(buf + off + 22);
		en.gid = hex8(buf + off + 30);
		en.nlink = hex8(buf + off + 38);
		en.mtime = hex8(buf + off + 46);
		en.len = hex8(buf + off + 54);
		namesize = hex8(buf + off + 94);
		assert_int_equal(hex8(buf + off + 102), 0); /* check: 0 in newc */
		assert_true(namesize >= 2 && namesize <= CPIO_NAME_MAX_BYTES + 1);
		assert_true(off + CPIO_HEADER_BYTES + namesize <= len);
		assert_int_equal(buf[off + CPIO_HEADER_BYTES + namesize - 1], '\0');
		memcpy(en.name, buf + off + CPIO_HEADER_BYTES, namesize);
		data = (off + CPIO_HEADER_BYTES + namesize + 3) & ~(size_t)3;
		assert_int_equal(data % 4, 0);
		for (size_t i = off + CPIO_HEADER_BYTES + namesize; i < data; i++)
			assert_int_equal(buf[i], 0);
		assert_true(data + en.len <= len);
		en.data = buf + data;
		off = (data + en.len + 3) & ~(size_t)3;
		for (size_t i = data + en.len; i < off; i++)
			assert_int_equal(buf[i], 0);
		if (strcmp(en.name, CPIO_TRAILER) == 0) {
			assert_int_equal(en.len, 0);
			assert_int_equal(off, len); /* nothing after the trailer */
			return n;
		}
		assert_true(n < max);
		out[n++] = en;
	}
}

static const uint8_t bin[] = { 0, 1, 2, 0xff, 0xfe, '\n', 0, 'x', 0x80 };

/* Directories first, then files of every length mod 4. */
static void
build(struct cpio *c)
{
	struct nk_err e = { "" };

	cpio_init(c, MTIME);
	assert_int_equal(cpio_add_dir(c, "nixos-kexec", 0755, &e), 0);
	assert_int_equal(cpio_add_dir(c, "nixos-kexec/handoff", 0755, &e), 0);
	assert_int_equal(cpio_add_dir(c, "nixos-kexec/handoff/ssh", 0700, &e), 0);
	assert_int_equal(cpio_add_file(c, "nixos-kexec/handoff/empty", 0644, NULL, 0, &e), 0);
	assert_int_equal(cpio_add_file(c, "nixos-kexec/handoff/a", 0644, "1", 1, &e), 0);
	assert_int_equal(cpio_add_file(c, "nixos-kexec/handoff/bb", 0640, "12", 2, &e), 0);
	assert_int_equal(cpio_add_file(c, "nixos-kexec/handoff/ccc", 0444, "123", 3, &e), 0);
	assert_int_equal(cpio_add_file(c, "nixos-kexec/handoff/dddd", 0755, "1234", 4, &e), 0);
	assert_int_equal(cpio_add_file(c, "nixos-kexec/handoff/ssh/ssh_host_ed25519_key", 0600,
	    bin, sizeof(bin), &e), 0);
	assert_int_equal(cpio_finish(c, &e), 0);
}

static void
t_layout(void **st)
{
	struct entry en[16];
	struct cpio c;
	size_t n;

	(void)st;
	build(&c);
	n = walk(c.buf, c.len, en, 16);
	assert_int_equal(n, 9);
	assert_string_equal(en[0].name, "nixos-kexec");
	assert_int_equal(en[0].mode, 040755);
	assert_int_equal(en[0].nlink, 2);
	assert_int_equal(en[2].mode, 040700);
	assert_string_equal(en[3].name, "nixos-kexec/handoff/empty");
	assert_int_equal(en[3].len, 0);
	assert_int_equal(en[4].mode, 0100644);
	assert_int_equal(en[4].nlink, 1);
	assert_int_equal(en[6].mode, 0100444);
	assert_int_equal(en[8].mode, 0100600);
	assert_int_equal(en[8].len, sizeof(bin));
	assert_memory_equal(en[8].data, bin, sizeof(bin));
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(en[i].mtime, MTIME);
		assert_int_equal(en[i].uid, 0);
		assert_int_equal(en[i].gid, 0);
	}
	cpio_free(&c);
	assert_null(c.buf);
}

static void
t_deterministic(void **st)
{
	struct cpio a, b;

	(void)st;
	build(&a);
	build(&b);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.buf, b.buf, a.len);
	cpio_free(&a);
	cpio_free(&b);
}

static void
t_empty_archive_is_a_trailer(void **st)
{
	struct nk_err e = { "" };
	struct entry en[1];
	struct cpio c;

	(void)st;
	cpio_init(&c, 0);
	assert_int_equal(cpio_finish(&c, &e), 0);
	assert_int_equal(walk(c.buf, c.len, en, 1), 0);
	assert_int_equal(c.len, 124); /* 110 + 11 name bytes, padded to 4 */
	cpio_free(&c);
}

static void
write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int
have(const char *tool)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

static void
t_gnu_cpio_lists_and_extracts(void **st)
{
	static const char *const want =
	    "nixos-kexec\n"
	    "nixos-kexec/handoff\n"
	    "nixos-kexec/handoff/ssh\n"
	    "nixos-kexec/handoff/empty\n"
	    "nixos-kexec/handoff/a\n"
	    "nixos-kexec/handoff/bb\n"
	    "nixos-kexec/handoff/ccc\n"
	    "nixos-kexec/handoff/dddd\n"
	    "nixos-kexec/handoff/ssh/ssh_host_ed25519_key\n";
	struct { const char *name; const void *data; size_t len; mode_t mode; } files[] = {
		{ "empty", "", 0, 0644 }, { "a", "1", 1, 0644 }, { "bb", "12", 2, 0640 },
		{ "ccc", "123", 3, 0444 }, { "dddd", "1234", 4, 0755 },
		{ "ssh/ssh_host_ed25519_key", bin, sizeof(bin), 0600 },
	};
	struct nk_err e = { "" };
	char dir[256], path[512], cmd[1024], list[1024];
	uint8_t *gz = NULL, *got;
	size_t gzlen, n, len;
	struct stat sb;
	struct cpio c;
	FILE *p;

	(void)st;
	if (!have("cpio") || !have("gzip"))
		skip();
	nkt_tmpdir(dir);
	build(&c);
	assert_int_equal(cpio_gzip(c.buf, c.len, &gz, &gzlen, &e), 0);
	snprintf(path, sizeof(path), "%s/a.cpio.gz", dir);
	write_file(path, gz, gzlen);
	snprintf(cmd, sizeof(cmd), "gzip -dc '%s' | cpio -it --quiet", path);
	assert_non_null(p = popen(cmd, "r"));
	n = fread(list, 1, sizeof(list) - 1, p);
	list[n] = '\0';
	assert_int_equal(pclose(p), 0);
	assert_string_equal(list, want);
	snprintf(cmd, sizeof(cmd), "mkdir '%s/x' && cd '%s/x' && umask 077 && "
	    "gzip -dc ../a.cpio.gz | cpio -idm --quiet", dir, dir);
	assert_int_equal(system(cmd), 0);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct nk_err fe;

		snprintf(path, sizeof(path), "%s/x/nixos-kexec/handoff/%s", dir, files[i].name);
		assert_int_equal(lstat(path, &sb), 0);
		assert_true(S_ISREG(sb.st_mode));
		assert_int_equal(sb.st_mode & 07777, files[i].mode);
		assert_int_equal(sb.st_mtime, MTIME);
		if (files[i].mode & 0400) {
			assert_int_equal(fileio_read_capped(path, 4096, &got, &len, &fe), 0);
			assert_int_equal(len, files[i].len);
			assert_memory_equal(got, files[i].data, len);
			free(got);
		}
	}
	snprintf(path, sizeof(path), "%s/x/nixos-kexec/handoff/ssh", dir);
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0700);
	cpio_gz_free(gz, gzlen);
	cpio_free(&c);
	nkt_rmtree(dir);
}

static void
t_gzip_round_trip(void **st)
{
	struct nk_err e = { "" };
	uint8_t *gz = NULL, out[4096];
	size_t gzlen;
	uLongf olen = sizeof(out);
	z_stream zs;
	struct cpio c;

	(void)st;
	build(&c);
	assert_int_equal(cpio_gzip(c.buf, c.len, &gz, &gzlen, &e), 0);
	assert_true(gzlen > 18);
	assert_int_equal(gz[0], 0x1f); /* what the kernel's unpacker looks for */
	assert_int_equal(gz[1], 0x8b);
	assert_int_equal(gz[2], 8);    /* deflate */
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = gz;
	zs.avail_in = (uInt)gzlen;
	zs.next_out = out;
	zs.avail_out = sizeof(out);
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	assert_int_equal(zs.avail_in, 0); /* one member, nothing after it */
	olen = zs.total_out;
	inflateEnd(&zs);
	assert_int_equal(olen, c.len);
	assert_memory_equal(out, c.buf, c.len);
	cpio_gz_free(gz, gzlen);
	cpio_free(&c);
}

static void
t_gzip_empty(void **st)
{
	struct nk_err e = { "" };
	uint8_t *gz = NULL;
	size_t gzlen;

	(void)st;
	assert_int_equal(cpio_gzip((const uint8_t *)"", 0, &gz, &gzlen, &e), 0);
	assert_true(gzlen >= 20);
	cpio_gz_free(gz, gzlen);
}

static void
t_gzip_over_cap(void **st)
{
	struct nk_err e = { "" };
	uint8_t *gz = (uint8_t *)"x";
	size_t gzlen = 1;

	(void)st;
	assert_int_equal(cpio_gzip((const uint8_t *)"", (size_t)CPIO_ARCHIVE_MAX_BYTES + 1, &gz,
	    &gzlen, &e), NK_E_SIZE);
	assert_null(gz);
	assert_int_equal(gzlen, 0);
}

static void
refused_name(const char *name)
{
	struct nk_err e = { "" };
	struct cpio c;

	cpio_init(&c, 0);
	assert_int_not_equal(cpio_add_file(&c, name, 0644, "x", 1, &e), 0);
	assert_int_not_equal(cpio_add_dir(&c, name, 0755, &e), 0);
	assert_int_equal(c.len, 0); /* nothing half-written */
	cpio_free(&c);
}

static void t_name_empty(void **st) { (void)st; refused_name(""); }
static void t_name_absolute(void **st) { (void)st; refused_name("/etc/passwd"); }
static void t_name_dotdot(void **st) { (void)st; refused_name("a/../../etc"); }
static void t_name_dotdot_alone(void **st) { (void)st; refused_name(".."); }
static void t_name_dot(void **st) { (void)st; refused_name("./a"); }
static void t_name_double_slash(void **st) { (void)st; refused_name("a//b"); }
static void t_name_trailing_slash(void **st) { (void)st; refused_name("a/"); }
static void t_name_space(void **st) { (void)st; refused_name("a b"); }
static void t_name_newline(void **st) { (void)st; refused_name("a\nb"); }
static void t_name_high_byte(void **st) { (void)st; refused_name("caf\xc3\xa9"); }
static void t_name_trailer(void **st) { (void)st; refused_name(CPIO_TRAILER); }

static void
t_name_too_long(void **st)
{
	char name[CPIO_NAME_MAX_BYTES + 2];
	struct nk_err e = { "" };
	struct cpio c;

	(void)st;
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	refused_name(name);
	name[CPIO_NAME_MAX_BYTES] = '\0'; /* exactly the cap: fine */
	cpio_init(&c, 0);
	assert_int_equal(cpio_add_file(&c, name, 0644, "x", 1, &e), 0);
	cpio_free(&c);
}

static void
t_file_over_cap(void **st)
{
	struct nk_err e = { "" };
	struct cpio c;
	uint8_t *big = calloc(1, (size_t)CPIO_FILE_MAX_BYTES + 1);

	(void)st;
	assert_non_null(big);
	cpio_init(&c, 0);
	assert_int_equal(cpio_add_file(&c, "big", 0644, big, (size_t)CPIO_FILE_MAX_BYTES + 1, &e),
	    NK_E_SIZE);
	assert_int_equal(c.len, 0);
	assert_int_equal(cpio_add_file(&c, "big", 0644, big, CPIO_FILE_MAX_BYTES, &e), 0);
	cpio_free(&c);
	free(big);
}

static void
t_archive_over_cap(void **st)
{
	struct nk_err e = { "" };
	struct entry en[64];
	struct cpio c;
	size_t before;
	int i, rc = 0;

	(void)st;
	cpio_init(&c, 0);
	c.max = 1024;
	for (i = 0; i < 64 && rc == 0; i++) {
		before = c.len;
		rc = cpio_add_file(&c, "f", 0644, "0123456789abcdef", 16, &e);
	}
	assert_int_equal(rc, NK_E_SIZE);
	assert_int_equal(c.len, before); /* the refused entry left no bytes */
	assert_true(c.len <= 1024);
	/* The trailer does not fit either: the archive stays unfinished. */
	if (cpio_finish(&c, &e) == 0)
		assert_true(walk(c.buf, c.len, en, 64) > 0);
	cpio_free(&c);
}

static void
t_nothing_after_trailer(void **st)
{
	struct nk_err e = { "" };
	struct cpio c;

	(void)st;
	cpio_init(&c, 0);
	assert_int_equal(cpio_finish(&c, &e), 0);
	assert_int_equal(cpio_add_file(&c, "late", 0644, "x", 1, &e), NK_E_INTERNAL);
	assert_int_equal(cpio_add_dir(&c, "late", 0755, &e), NK_E_INTERNAL);
	assert_int_equal(cpio_finish(&c, &e), NK_E_INTERNAL);
	cpio_free(&c);
}

static void
t_mode_type_bits_ignored(void **st)
{
	struct nk_err e = { "" };
	struct entry en[2];
	struct cpio c;

	(void)st;
	cpio_init(&c, 0);
	/* A caller cannot smuggle a device or symlink type through mode. */
	assert_int_equal(cpio_add_file(&c, "f", 0120777, "x", 1, &e), 0);
	assert_int_equal(cpio_add_dir(&c, "d", 0060644, &e), 0);
	assert_int_equal(cpio_finish(&c, &e), 0);
	assert_int_equal(walk(c.buf, c.len, en, 2), 2);
	assert_int_equal(en[0].mode, 0100777);
	assert_int_equal(en[1].mode, 040644);
	cpio_free(&c);
}

static void
t_file_null_data(void **st)
{
	struct nk_err e = { "" };
	struct cpio c;

	(void)st;
	cpio_init(&c, 0);
	assert_int_equal(cpio_add_file(&c, "f", 0644, NULL, 3, &e), NK_E_INTERNAL);
	cpio_free(&c);
}

/* A header for bytes written outside the buffer (boot --store initrd):
 * the header + data + padding + a lone trailer is one valid archive
 * (walked here as the kernel would), nothing can follow the header in
 * the same buffer, and newc's 32-bit size field is respected. */
static void
t_file_header_only(void **st)
{
	static uint8_t all[4096];
	static const uint8_t data[5] = "store";
	struct nk_err e = { "" };
	struct entry en[4];
	struct cpio c, t;
	size_t n = 0;

	(void)st;
	cpio_init(&c, MTIME);
	cpio_init(&t, MTIME);
	assert_int_equal(cpio_add_file_header(&c, "nixos-kexec/s", 0444, sizeof(data), &e), 0);
	assert_int_equal(c.len % 4, 0);
	assert_int_equal(cpio_add_dir(&c, "x", 0755, &e), NK_E_INTERNAL);
	memcpy(all, c.buf, c.len);
	n = c.len;
	memcpy(all + n, data, sizeof(data));
	n += sizeof(data);
	assert_int_equal(cpio_pad_bytes(sizeof(data)), 3);
	memset(all + n, 0, cpio_pad_bytes(sizeof(data)));
	n += cpio_pad_bytes(sizeof(data));
	assert_int_equal(cpio_finish(&t, &e), 0);
	memcpy(all + n, t.buf, t.len);
	n += t.len;
	assert_int_equal(walk(all, n, en, 4), 1);
	assert_string_equal(en[0].name, "nixos-kexec/s");
	assert_int_equal(en[0].mode, 0100444);
	assert_int_equal(en[0].len, sizeof(data));
	assert_memory_equal(en[0].data, data, sizeof(data));
	assert_int_equal(cpio_pad_bytes(8), 0);
	cpio_free(&c);
	cpio_free(&t);
	cpio_init(&c, 0);
	assert_int_equal(cpio_add_file_header(&c, "big", 0444, 0x100000000ULL, &e), NK_E_SIZE);
	assert_int_equal(cpio_add_file_header(&c, "empty", 0444, 0, &e), NK_E_INTERNAL);
	assert_int_equal(cpio_add_file_header(&c, "max", 0444, 0xffffffffULL, &e), 0);
	assert_non_null(memmem(c.buf, c.len, "FFFFFFFF", 8));
	cpio_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_layout),
		cmocka_unit_test(t_file_header_only),
		cmocka_unit_test(t_deterministic),
		cmocka_unit_test(t_empty_archive_is_a_trailer),
		cmocka_unit_test(t_gnu_cpio_lists_and_extracts),
		cmocka_unit_test(t_gzip_round_trip),
		cmocka_unit_test(t_gzip_empty),
		cmocka_unit_test(t_gzip_over_cap),
		cmocka_unit_test(t_name_empty),
		cmocka_unit_test(t_name_absolute),
		cmocka_unit_test(t_name_dotdot),
		cmocka_unit_test(t_name_dotdot_alone),
		cmocka_unit_test(t_name_dot),
		cmocka_unit_test(t_name_double_slash),
		cmocka_unit_test(t_name_trailing_slash),
		cmocka_unit_test(t_name_space),
		cmocka_unit_test(t_name_newline),
		cmocka_unit_test(t_name_high_byte),
		cmocka_unit_test(t_name_trailer),
		cmocka_unit_test(t_name_too_long),
		cmocka_unit_test(t_file_over_cap),
		cmocka_unit_test(t_archive_over_cap),
		cmocka_unit_test(t_nothing_after_trailer),
		cmocka_unit_test(t_mode_type_bits_ignored),
		cmocka_unit_test(t_file_null_data),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
