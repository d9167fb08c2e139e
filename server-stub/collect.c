/* collect: POST bodies appended as JSON lines. */
#include "collect.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t collect_lock = PTHREAD_MUTEX_INITIALIZER;

int
collect_open(const char *path, int *fd, struct nk_err *e)
{
	struct stat st;
	int f;

	f = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (f < 0)
		return nk_fail(e, NK_E_USAGE, "--collect %s: %s", path, strerror(errno));
	if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(f);
		return nk_fail(e, NK_E_USAGE, "--collect %s: not a regular file", path);
	}
	*fd = f;
	return 0;
}

int
collect_check(const uint8_t *body, size_t len, struct nk_err *e)
{
	size_t a = 0, b = len, i;

	if (len > COLLECT_BODY_MAX_BYTES)
		return nk_fail(e, -1, "body over %d bytes", COLLECT_BODY_MAX_BYTES);
	for (i = 0; i < len; i++)
		if (body[i] < 0x20 && body[i] != '\t')
			return nk_fail(e, -1, "control byte 0x%02x in the body", body[i]);
	while (a < b && (body[a] == ' ' || body[a] == '\t'))
		a++;
	while (b > a && (body[b - 1] == ' ' || body[b - 1] == '\t'))
		b--;
	if (b - a < 2 || body[a] != '{' || body[b - 1] != '}')
		return nk_fail(e, -1, "the body is not a JSON object");
	return 0;
}

int
collect_append(int fd, const uint8_t *body, size_t len, struct nk_err *e)
{
	uint8_t *line;
	ssize_t n;
	int rc = 0;

	if ((line = malloc(len + 1)) == NULL)
		return nk_fail(e, -1, "out of memory");
	memcpy(line, body, len);
	line[len] = '\n';
	pthread_mutex_lock(&collect_lock);
	do
		n = write(fd, line, len + 1);
	while (n < 0 && errno == EINTR);
	pthread_mutex_unlock(&collect_lock);
	if (n != (ssize_t)(len + 1))
		rc = nk_fail(e, -1, "appending to the collect file: %s",
		    n < 0 ? strerror(errno) : "short write");
	free(line);
	return rc;
}
