/* sink: cap, hash and stage bytes as they arrive. */
#include "sink.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int
sink_open(struct sink *k, const char *name, uint64_t max, const char *dir,
    struct nk_err *e)
{
	int rc;

	memset(k, 0, sizeof(*k));
	k->name = name;
	k->max = max;
	k->stage.fd = k->stage.ro_fd = -1;
	if ((rc = stage_open(&k->stage, name, dir, e)) != 0)
		return rc;
	if ((rc = sha256_init(&k->hash, e)) != 0) {
		stage_close(&k->stage);
		return rc;
	}
	return 0;
}

int
sink_write(struct sink *k, const void *buf, size_t n)
{
	int rc;

	if (n > k->max - k->stage.len) {
		k->overflow = 1;
		k->failed = 1;
		k->failed_code = NK_E_SIZE;
		return nk_fail(&k->err, NK_E_SIZE,
		    "larger than the %llu bytes expected; transfer stopped",
		    (unsigned long long)k->max);
	}
	if ((rc = sha256_update(&k->hash, buf, n, &k->err)) != 0 ||
	    (rc = stage_append(&k->stage, buf, n, &k->err)) != 0) {
		k->failed = 1;
		k->failed_code = rc;
		return rc;
	}
	return 0;
}

int
sink_reset(struct sink *k, struct nk_err *e)
{
	int rc;

	sha256_free(&k->hash);
	if ((rc = stage_reset(&k->stage, e)) != 0)
		return rc;
	k->overflow = k->failed = 0;
	return sha256_init(&k->hash, e);
}

uint64_t
sink_len(const struct sink *k)
{
	return k->stage.len;
}

int
sink_digest(struct sink *k, uint8_t out[SHA256_BYTES], struct nk_err *e)
{
	return sha256_final(&k->hash, out, e);
}

int
sink_read_all(const struct sink *k, uint8_t *buf, size_t cap, size_t *len,
    struct nk_err *e)
{
	size_t got = 0;
	ssize_t n;

	if (k->stage.len > cap)
		return nk_fail(e, NK_E_SIZE, "%s: %llu bytes, more than %zu", k->name,
		    (unsigned long long)k->stage.len, cap);
	while (got < k->stage.len) {
		n = pread(stage_fd(&k->stage), buf + got, k->stage.len - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return nk_fail(e, NK_E_IO, "%s: reading staged bytes: %s", k->name,
			    n < 0 ? strerror(errno) : "short read");
		got += (size_t)n;
	}
	*len = got;
	return 0;
}

void
sink_close(struct sink *k)
{
	sha256_free(&k->hash);
}
