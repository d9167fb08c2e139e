/* state: the version floor and last result kept in a state directory. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

int
state_parse_version(const uint8_t *buf, size_t len, uint64_t *out, struct nk_err *e)
{
	uint64_t v = 0;
	size_t i;

	if (len < 2 || buf[len - 1] != '\n')
		return nk_fail(e, NK_E_IO, "not a version number and a newline");
	if (len - 1 > 20 || (buf[0] == '0' && len - 1 > 1))
		return nk_fail(e, NK_E_IO, "not a version number (too long, or a leading zero)");
	for (i = 0; i + 1 < len; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return nk_fail(e, NK_E_IO, "not a version number (byte 0x%02x)", buf[i]);
		if (v > (UINT64_MAX - (uint64_t)(buf[i] - '0')) / 10)
			return nk_fail(e, NK_E_IO, "version number over 2^64 - 1");
		v = v * 10 + (uint64_t)(buf[i] - '0');
	}
	*out = v;
	return 0;
}

/* Reads the version file: 0 with *have 0 when there is none. */
static int
read_floor(const char *path, int *have, uint64_t *floor, struct nk_err *e)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t len;
	int rc;

	*have = 0;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return nk_fail(e, NK_E_IO, "state file %s: %s", path, strerror(errno));
	}
	if ((rc = fileio_read_capped(path, STATE_VERSION_MAX_BYTES, &buf, &len, e)) != 0) {
		rc = nk_fail(e, NK_E_IO, "state file %s cannot be read, so the version floor "
		    "cannot be enforced: %s", path, e->msg);
		goto out;
	}
	if ((rc = state_parse_version(buf, len, floor, e)) != 0) {
		rc = nk_fail(e, NK_E_IO, "state file %s: %s; write the highest version this "
		    "machine may not go below, or remove the file", path, e->msg);
		goto out;
	}
	*have = 1;
out:
	free(buf);
	return rc;
}

static int
join(char *out, size_t cap, const char *dir, const char *name, struct nk_err *e)
{
	if ((size_t)snprintf(out, cap, "%s/%s", dir, name) >= cap)
		return nk_fail(e, NK_E_USAGE, "--state-dir %s: path too long", dir);
	return 0;
}

int
state_open(struct state *s, const char *dir, struct nk_err *e)
{
	struct stat st;
	int rc;

	memset(s, 0, sizeof(*s));
	if (dir[0] == '\0')
		return nk_fail(e, NK_E_USAGE, "--state-dir: empty path");
	if ((size_t)snprintf(s->dir, sizeof(s->dir), "%s", dir) >= sizeof(s->dir) ||
	    (rc = join(s->version_path, sizeof(s->version_path), dir, STATE_VERSION_FILE, e)) != 0 ||
	    (rc = join(s->result_path, sizeof(s->result_path), dir, STATE_RESULT_FILE, e)) != 0)
		return nk_fail(e, NK_E_USAGE, "--state-dir %s: path too long", dir);
	if (mkdir(dir, STATE_DIR_MODE) != 0 && errno != EEXIST) {
		s->dir_unusable = 1;
		return nk_fail(e, NK_E_IO, "state directory %s: %s", dir, strerror(errno));
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		s->dir_unusable = 1;
		return nk_fail(e, NK_E_IO, "state directory %s: not a directory", dir);
	}
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) != 0)
		s->write_errno = errno ? errno : EACCES;
	if ((rc = read_floor(s->version_path, &s->have_floor, &s->floor, e)) != 0)
		return rc;
	s->open = 1;
	return 0;
}

int
state_check(const struct state *s, uint64_t version, struct nk_err *e)
{
	if (!s->open || !s->have_floor || version >= s->floor)
		return 0;
	return nk_fail(e, NK_E_VERSION, "bundle version %llu is below %llu, the highest version "
	    "this machine verified before (state file %s): refusing a rollback; to allow it, "
	    "lower the number in that file or remove it", (unsigned long long)version,
	    (unsigned long long)s->floor, s->version_path);
}

int
state_record(struct state *s, uint64_t version, struct nk_err *e)
{
	char line[STATE_VERSION_MAX_BYTES];
	uint64_t now_floor = 0;
	int fd, have = 0, rc, n;

	if (!s->open || s->write_errno != 0)
		return 0;
	if ((fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return nk_fail(e, NK_E_IO, "state directory %s: %s", s->dir, strerror(errno));
	while ((rc = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
		;
	if (rc != 0) {
		rc = nk_fail(e, NK_E_IO, "state directory %s: flock: %s", s->dir, strerror(errno));
		goto out;
	}
	/* Another run may have raised it since state_open. */
	if ((rc = read_floor(s->version_path, &have, &now_floor, e)) != 0)
		goto out;
	if (have && now_floor >= version) {
		s->have_floor = 1;
		s->floor = now_floor;
		goto out;
	}
	n = snprintf(line, sizeof(line), "%llu\n", (unsigned long long)version);
	if ((rc = fileio_write_atomic(s->version_path, line, (size_t)n, 0644, e)) != 0)
		goto out;
	s->have_floor = 1;
	s->floor = version;
out:
	close(fd); /* and the lock with it */
	return rc;
}

int
state_write_result(const struct state *s, const char *json, size_t len, struct nk_err *e)
{
	if (!s->open || s->write_errno != 0)
		return 0;
	if (len > STATE_RESULT_MAX_BYTES)
		return nk_fail(e, NK_E_INTERNAL, "last result over %d bytes", STATE_RESULT_MAX_BYTES);
	return fileio_write_atomic(s->result_path, json, len, 0644, e);
}
