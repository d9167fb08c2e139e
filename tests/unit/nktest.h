/* nktest: small helpers shared by the unit tests (temporary directories,
 * files, and in-process bundles signed with a fresh key). */
#ifndef NK_TEST_H
#define NK_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "manifest.h"
#include "minisig.h"

/* Makes a fresh directory under $TMPDIR; path must hold 256 bytes. */
static inline void
nkt_tmpdir(char *path)
{
	const char *t = getenv("TMPDIR");

	snprintf(path, 256, "%s/nkt-XXXXXX", t ? t : "/tmp");
	assert_non_null(mkdtemp(path));
}

/* rm -r for a test directory (no symlink following beyond one level). */
static inline void
nkt_rmtree(const char *path)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
}

static inline void
nkt_write(const char *dir, const char *name, const void *buf, size_t len)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_non_null(f = fopen(p, "wb"));
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

#endif
