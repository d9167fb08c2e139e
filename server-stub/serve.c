/* serve: the stub's work on one connection (one request, then close). */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "collect.h"
#include "http.h"

#define SERVE_HEAD_MAX_BYTES 4096 /* a response head the stub writes */
#define SERVE_EXTRA_MAX_BYTES (FAULT_URL_MAX_BYTES + HTTP_PATH_MAX_BYTES + 64)
#define SERVE_LOG_MAX_BYTES 2048  /* one log line */
#define SERVE_SLICE_MS 100        /* granularity of throttle and stall waits */
#define SERVE_THROTTLE_STEPS_PER_S 10 /* a throttled body goes out in bps/10 pieces */
#define SERVE_LINGER_MS 1000      /* wait for the client to close after a response */
#define SERVE_LINGER_MAX_BYTES (256 * 1024) /* unread input discarded meanwhile */

static atomic_int stopping;

void
serve_stop(void)
{
	atomic_store(&stopping, 1);
}

enum read_result {
	READ_OK,
	READ_TOOBIG, /* answer 400 */
	READ_GONE,   /* no request: just close */
};

enum body_end {
	BODY_DONE,
	BODY_DROPPED,
	BODY_STALLED,
	BODY_FAILED,
	BODY_UNTERMINATED,
	BODY_HUNG,
};

static const char *const body_end_names[] = {
	[BODY_DONE] = "done",
	[BODY_DROPPED] = "dropped",
	[BODY_STALLED] = "stalled",
	[BODY_FAILED] = "failed",
	[BODY_UNTERMINATED] = "unterminated",
	[BODY_HUNG] = "hung",
};

struct conn {
	const struct serve_ctx *ctx;
	int fd;
	SSL *ssl;
	uint8_t *buf; /* SERVE_CHUNK_BYTES: request head, then file pieces */
	struct http_req req;
	struct fault_plan plan;
	int status;
	uint64_t sent; /* body bytes written */
	int chunked;   /* body in chunks (the unterminated fault) */
	size_t got;    /* bytes read into buf: the head, perhaps a body's start */
	enum body_end end;
	struct nk_err err; /* why, for the log; empty when all went well */
};

static void
set_timeouts(int fd)
{
	struct timeval rt = { SERVE_READ_TIMEOUT_S, 0 };
	struct timeval wt = { SERVE_WRITE_TIMEOUT_S, 0 };

	/* Best effort: without them a silent client holds a slot longer. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof(rt));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wt, sizeof(wt));
}

/* Records why a TLS call failed and marks the connection failed. */
static int
tls_fail(struct conn *c, const char *what, int ret)
{
	int saved = errno, serr = SSL_get_error(c->ssl, ret);
	unsigned long ec = ERR_peek_last_error();
	char msg[256];

	if (ec != 0)
		ERR_error_string_n(ec, msg, sizeof(msg));
	else if (serr == SSL_ERROR_ZERO_RETURN || (serr == SSL_ERROR_SYSCALL && saved == 0))
		snprintf(msg, sizeof(msg), "peer closed the connection");
	else if (serr == SSL_ERROR_WANT_READ || serr == SSL_ERROR_WANT_WRITE ||
	    (serr == SSL_ERROR_SYSCALL && (saved == EAGAIN || saved == EWOULDBLOCK)))
		snprintf(msg, sizeof(msg), "timed out"); /* SO_RCVTIMEO, SO_SNDTIMEO */
	else if (serr == SSL_ERROR_SYSCALL)
		snprintf(msg, sizeof(msg), "%s", strerror(saved));
	else
		snprintf(msg, sizeof(msg), "TLS error %d", serr);
	ERR_clear_error();
	c->end = BODY_FAILED;
	return nk_fail(&c->err, -1, "tls %s: %s", what, msg);
}

static int
ssl_write_all(struct conn *c, const void *p, size_t n)
{
	const uint8_t *b = p;
	int w;

	while (n > 0) {
		w = SSL_write(c->ssl, b, n > INT_MAX ? INT_MAX : (int)n);
		if (w <= 0)
			return tls_fail(c, "write", w);
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads until the blank line that ends the request head. */
static enum read_result
read_head(struct conn *c, size_t *head_len)
{
	size_t got = 0, end;
	int r;

	while ((end = http_header_end(c->buf, got)) == 0) {
		if (got == HTTP_HEADER_MAX_BYTES) {
			nk_fail(&c->err, -1, "request head over %d bytes", HTTP_HEADER_MAX_BYTES);
			return READ_TOOBIG;
		}
		r = SSL_read(c->ssl, c->buf + got, (int)(HTTP_HEADER_MAX_BYTES - got));
		if (r <= 0) {
			tls_fail(c, "read", r);
			return READ_GONE;
		}
		got += (size_t)r;
	}
	*head_len = end;
	c->got = got;
	return READ_OK;
}

static int
is_head(const struct conn *c)
{
	return c->req.path[0] != '\0' && c->req.method == HTTP_HEAD;
}

/* Writes a response head; extra holds whole header lines (CRLF ended).
 * With c->chunked the length goes unannounced (Transfer-Encoding). */
static int
send_head(struct conn *c, int status, const char *extra, uint64_t length,
    const char *type)
{
	char head[SERVE_HEAD_MAX_BYTES], framing[64];
	int n;

	if (c->chunked)
		snprintf(framing, sizeof(framing), "Transfer-Encoding: chunked\r\n");
	else
		snprintf(framing, sizeof(framing), "Content-Length: %" PRIu64 "\r\n", length);
	n = snprintf(head, sizeof(head),
	    "HTTP/1.1 %d %s\r\n"
	    "Server: nixos-kexec-stub\r\n"
	    "Content-Type: %s\r\n"
	    "%s"
	    "%s"
	    "Connection: close\r\n"
	    "\r\n",
	    status, http_reason(status), type, framing, extra);
	if (n < 0 || (size_t)n >= sizeof(head)) {
		c->end = BODY_FAILED;
		return nk_fail(&c->err, -1, "response head too long");
	}
	c->status = status;
	return ssl_write_all(c, head, (size_t)n);
}

/* A status with a one-line text body ("404 Not Found"). */
static void
answer_simple(struct conn *c, int status, const char *extra)
{
	char body[64];
	int n;

	n = snprintf(body, sizeof(body), "%d %s\n", status, http_reason(status));
	if (send_head(c, status, extra, (uint64_t)n, "text/plain") != 0 || is_head(c))
		return;
	if (ssl_write_all(c, body, (size_t)n) == 0)
		c->sent = (uint64_t)n;
}

/* The status fault's answer, with its Retry-After (retryafter fault). */
static void
answer_status(struct conn *c)
{
	char extra[FAULT_URL_MAX_BYTES + 32] = "";

	if (c->plan.retry_after != NULL) {
		snprintf(extra, sizeof(extra), "Retry-After: %s\r\n", c->plan.retry_after);
		c->plan.applied |= 1u << FAULT_RETRYAFTER;
	}
	answer_simple(c, c->plan.status, extra);
}

/* A URL ending in '/' gets the request path appended; any other URL is
 * the Location as it stands. */
static void
answer_redirect(struct conn *c)
{
	char extra[SERVE_EXTRA_MAX_BYTES];
	const char *u = c->plan.redirect;
	size_t ul = strlen(u);

	if (ul > 0 && u[ul - 1] == '/')
		snprintf(extra, sizeof(extra), "Location: %s%s\r\n", u, c->req.path + 1);
	else
		snprintf(extra, sizeof(extra), "Location: %s\r\n", u);
	answer_simple(c, 302, extra);
}

/* HTTP/0.9 as a client sees it: bytes with no status line and no
 * headers, the end marked only by the close. */
static void
answer_http09(struct conn *c)
{
	static const char body[] = "nixos-kexec-stub: a reply without a status line\n";

	if (ssl_write_all(c, body, sizeof(body) - 1) == 0)
		c->sent = sizeof(body) - 1;
}

static int
errno_status(int err, const char *name, struct nk_err *e)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
		return nk_fail(e, 404, "%s: no such file", name);
	case ELOOP:
		return nk_fail(e, 404, "%s: symbolic links are not followed", name);
	case EACCES:
	case EPERM:
		return nk_fail(e, 403, "%s: %s", name, strerror(err));
	default:
		return nk_fail(e, 500, "%s: %s", name, strerror(err));
	}
}

/* Opens path below the root one component at a time, following no
 * symbolic link on the way. Returns 0 or the HTTP status to answer. */
static int
open_below(int root_fd, const char *path, int *fd_out, uint64_t *size_out,
    struct nk_err *e)
{
	char buf[HTTP_PATH_MAX_BYTES + 1];
	char *seg = buf, *slash;
	int dir = root_fd, fd = -1, depth = 0, status;
	struct stat st;

	snprintf(buf, sizeof(buf), "%s", path + 1);
	while ((slash = strchr(seg, '/')) != NULL) {
		*slash = '\0';
		if (++depth > SERVE_PATH_MAX_DEPTH) {
			status = nk_fail(e, 404, "more than %d directories deep", SERVE_PATH_MAX_DEPTH);
			goto out;
		}
		fd = openat(dir, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			status = errno_status(errno, seg, e);
			goto out;
		}
		if (dir != root_fd)
			close(dir);
		dir = fd;
		fd = -1;
		seg = slash + 1;
	}
	/* O_NONBLOCK: opening a FIFO must not hang the thread. */
	fd = openat(dir, seg, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		status = errno_status(errno, seg, e);
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		status = nk_fail(e, 404, "%s: not a regular file", seg);
		goto out;
	}
	*fd_out = fd;
	*size_out = (uint64_t)st.st_size;
	fd = -1;
	status = 0;
out:
	if (fd >= 0)
		close(fd);
	if (dir != root_fd)
		close(dir);
	return status;
}

static double
seconds_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Waits until sent bytes are due at bps since t0; -1 when stopping. */
static int
throttle_wait(const struct timespec *t0, uint64_t sent, uint64_t bps)
{
	double due = (double)sent / (double)bps, left;

	while ((left = due - seconds_since(t0)) > 0) {
		if (atomic_load(&stopping))
			return -1;
		sleep_ms(left * 1000 < SERVE_SLICE_MS ? (long)(left * 1000) + 1 : SERVE_SLICE_MS);
	}
	return 0;
}

/* Keeps the connection open without sending, until the peer closes or
 * sends anything, the server stops, or SERVE_STALL_MAX_S pass. */
static void
hold(struct conn *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN | POLLRDHUP };
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!atomic_load(&stopping) && seconds_since(&t0) < SERVE_STALL_MAX_S) {
		pfd.revents = 0;
		if (poll(&pfd, 1, SERVE_SLICE_MS) > 0)
			return;
	}
}

/* The tlshang fault: the TCP connection is up, but the TLS handshake
 * never gets an answer. What the client sends is read and dropped, until
 * it closes, the server stops, or SERVE_STALL_MAX_S pass. */
static void
hang(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };
	struct timespec t0;
	uint8_t drop[4096];
	ssize_t n;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!atomic_load(&stopping) && seconds_since(&t0) < SERVE_STALL_MAX_S) {
		pfd.revents = 0;
		if (poll(&pfd, 1, SERVE_SLICE_MS) <= 0)
			continue;
		n = recv(fd, drop, sizeof(drop), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return;
	}
}

static int
read_exact(int fd, uint8_t *buf, size_t n, uint64_t off, struct nk_err *e)
{
	ssize_t r;
	size_t got = 0;

	while (got < n) {
		r = pread(fd, buf + got, n - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return nk_fail(e, -1, "read: %s", strerror(errno));
		if (r == 0)
			return nk_fail(e, -1, "file shrank while being served");
		got += (size_t)r;
	}
	return 0;
}

static size_t
piece_size(const struct fault_plan *p, uint64_t left)
{
	uint64_t n = left < SERVE_CHUNK_BYTES ? left : SERVE_CHUNK_BYTES;
	uint64_t step;

	if (p->throttle_bps != 0) {
		step = p->throttle_bps / SERVE_THROTTLE_STEPS_PER_S;
		if (step == 0)
			step = 1;
		if (n > step)
			n = step;
	}
	return (size_t)n;
}

static void
corrupt(struct conn *c, size_t n, uint64_t off)
{
	uint64_t at = c->plan.corrupt_off;

	if (at >= off && at - off < n) {
		c->buf[at - off] ^= 0x01;
		c->plan.applied |= 1u << FAULT_CORRUPT;
	}
}

/* One piece of the body from c->buf, framed as a chunk when chunked. */
static int
write_piece(struct conn *c, size_t n)
{
	char size[32];
	int k;

	if (!c->chunked)
		return ssl_write_all(c, c->buf, n);
	k = snprintf(size, sizeof(size), "%zx\r\n", n);
	if (ssl_write_all(c, size, (size_t)k) != 0 || ssl_write_all(c, c->buf, n) != 0)
		return -1;
	return ssl_write_all(c, "\r\n", 2);
}

/* Sends len bytes of the file from first, shaped by the plan. */
static enum body_end
send_body(struct conn *c, int fd, uint64_t first, uint64_t len)
{
	const struct fault_plan *p = &c->plan;
	struct timespec t0;
	uint64_t stop = len;
	size_t n;
	int drop = 0;

	if (p->drop_after < stop) {
		stop = p->drop_after;
		drop = 1;
	}
	if (p->stall_after < stop) {
		stop = p->stall_after;
		drop = 0;
	}
	if (p->throttle_bps != 0)
		c->plan.applied |= 1u << FAULT_THROTTLE;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (c->sent < stop) {
		n = piece_size(p, stop - c->sent);
		if (p->throttle_bps != 0 && throttle_wait(&t0, c->sent, p->throttle_bps) != 0) {
			nk_fail(&c->err, -1, "server stopping");
			return BODY_FAILED;
		}
		if (read_exact(fd, c->buf, n, first + c->sent, &c->err) != 0)
			return BODY_FAILED;
		corrupt(c, n, first + c->sent);
		if (write_piece(c, n) != 0)
			return BODY_FAILED;
		c->sent += n;
	}
	/* Chunked: every byte went out, but never the last chunk ("0"). */
	if (c->chunked)
		return BODY_UNTERMINATED;
	if (c->sent == len)
		return BODY_DONE;
	if (drop)
		return BODY_DROPPED;
	hold(c);
	return BODY_STALLED;
}

/* A file response once truncate, norange and Range are applied. */
struct file_resp {
	int status;     /* 200 or 206 */
	uint64_t first; /* file offset of the body */
	uint64_t len;   /* body bytes */
	char extra[SERVE_EXTRA_MAX_BYTES]; /* Accept-Ranges, Content-Range */
};

/* Fills r for a file of size bytes. Returns 0, or the status already
 * answered (416, 400). */
static int
shape(struct conn *c, uint64_t size, struct file_resp *r)
{
	struct http_range range;
	int rc;

	if (c->plan.truncate < size) {
		size = c->plan.truncate;
		c->plan.applied |= 1u << FAULT_TRUNCATE;
	}
	r->status = 200;
	r->first = 0;
	r->len = size;
	if (c->req.has_range && c->plan.norange)
		c->plan.applied |= 1u << FAULT_NORANGE;
	if (!c->req.has_range || c->plan.norange) {
		snprintf(r->extra, sizeof(r->extra), "Accept-Ranges: %s\r\n",
		    c->plan.norange ? "none" : "bytes");
		return 0;
	}
	rc = http_parse_range(c->req.range, size, &range, &c->err);
	if (rc == HTTP_E_UNSATISFIABLE) {
		snprintf(r->extra, sizeof(r->extra), "Content-Range: bytes */%" PRIu64 "\r\n", size);
		answer_simple(c, 416, r->extra);
		return 416;
	}
	if (rc != HTTP_OK) {
		answer_simple(c, 400, "");
		return 400;
	}
	if (c->plan.badrange != 0) {
		/* Other bytes than asked, labelled truthfully: the client must
		 * notice that the label is not its request. */
		range.first = range.first + c->plan.badrange < size ?
		    range.first + c->plan.badrange : size - 1;
		range.last = range.last + c->plan.badrange < size ?
		    range.last + c->plan.badrange : size - 1;
		c->plan.applied |= 1u << FAULT_BADRANGE;
	}
	r->status = 206;
	r->first = range.first;
	r->len = range.last - range.first + 1;
	snprintf(r->extra, sizeof(r->extra),
	    "Accept-Ranges: bytes\r\nContent-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n",
	    range.first, range.last, size);
	return 0;
}

static void
answer_file(struct conn *c)
{
	struct file_resp r;
	uint64_t size = 0;
	int fd = -1, status;

	if (c->req.path[strlen(c->req.path) - 1] == '/') {
		answer_simple(c, nk_fail(&c->err, 404, "directories are not listed"), "");
		return;
	}
	if ((status = open_below(c->ctx->root_fd, c->req.path, &fd, &size, &c->err)) != 0) {
		answer_simple(c, status, "");
		return;
	}
	if (shape(c, size, &r) != 0)
		goto out;
	if (c->plan.unterminated && c->req.method == HTTP_GET) {
		c->chunked = 1;
		c->plan.applied |= 1u << FAULT_UNTERMINATED;
	}
	if (c->req.method == HTTP_GET)
		fault_plan_body(c->ctx->faults, c->req.path, r.len, &c->plan);
	if (send_head(c, r.status, r.extra, r.len, "application/octet-stream") != 0)
		goto out;
	if (c->req.method == HTTP_GET)
		c->end = send_body(c, fd, r.first, r.len);
out:
	close(fd);
}

/* --collect: the body of a POST appended to the collect file. */
static void
answer_post(struct conn *c, size_t head_len)
{
	uint64_t want = c->req.content_length;
	size_t have = c->got - head_len;
	int r;

	if (c->ctx->collect_fd < 0) {
		nk_fail(&c->err, -1, "POST without --collect");
		answer_simple(c, 405, "Allow: GET, HEAD\r\n");
		return;
	}
	if (want > COLLECT_BODY_MAX_BYTES || have > want) {
		nk_fail(&c->err, -1, "body of %llu bytes (%zu sent with the head)",
		    (unsigned long long)want, have);
		answer_simple(c, want > COLLECT_BODY_MAX_BYTES ? 413 : 400, "");
		return;
	}
	memmove(c->buf, c->buf + head_len, have);
	while (have < want) {
		r = SSL_read(c->ssl, c->buf + have, (int)(want - have));
		if (r <= 0) {
			tls_fail(c, "read", r);
			return;
		}
		have += (size_t)r;
	}
	if (collect_check(c->buf, have, &c->err) != 0) {
		answer_simple(c, 400, "");
		return;
	}
	if (collect_append(c->ctx->collect_fd, c->buf, have, &c->err) != 0) {
		answer_simple(c, 500, "");
		return;
	}
	answer_simple(c, 200, "");
}

static void
handle(struct conn *c)
{
	size_t head_len;
	int rc;

	switch (read_head(c, &head_len)) {
	case READ_GONE:
		return;
	case READ_TOOBIG:
		answer_simple(c, 400, "");
		return;
	case READ_OK:
		break;
	}
	rc = http_parse_request(c->buf, head_len, &c->req, &c->err);
	if (rc != HTTP_OK) {
		/* Without --collect there is no POST, with a length or without. */
		if (rc == HTTP_E_LENGTH && c->ctx->collect_fd < 0)
			rc = HTTP_E_METHOD;
		answer_simple(c, http_error_status(rc), rc == HTTP_E_METHOD ? "Allow: GET, HEAD\r\n" : "");
		return;
	}
	fault_plan_request(c->ctx->faults, c->req.path, &c->plan);
	if (c->plan.status != 0)
		answer_status(c);
	else if (c->plan.redirect != NULL)
		answer_redirect(c);
	else if (c->req.method == HTTP_POST)
		answer_post(c, head_len);
	else if (c->plan.http09)
		answer_http09(c);
	else
		answer_file(c);
}

static void
fault_list(unsigned applied, char *out, size_t size)
{
	size_t used = 0;
	int k, n;

	snprintf(out, size, "-");
	for (k = 0; k < FAULT_KINDS; k++) {
		if (!(applied & (1u << k)))
			continue;
		n = snprintf(out + used, size - used, "%s%s", used ? "," : "",
		    fault_kind_name((enum fault_kind)k));
		if (n < 0 || (size_t)n >= size - used)
			return;
		used += (size_t)n;
	}
}

/* One line per connection, written with a single write(2) so lines from
 * concurrent connections never interleave. */
static void
log_line(const struct conn *c)
{
	char line[SERVE_LOG_MAX_BYTES], faults[128];
	int have = c->req.path[0] != '\0';
	int n;

	fault_list(c->plan.applied, faults, sizeof(faults));
	n = snprintf(line, sizeof(line),
	    "stub: %s %s range=%s status=%d sent=%" PRIu64 " fault=%s end=%s%s%s%s\n",
	    have ? (c->req.method == HTTP_HEAD ? "HEAD" : c->req.method == HTTP_POST ? "POST" :
	    "GET") : "-",
	    have ? c->req.path : "-",
	    c->req.has_range ? c->req.range : "-",
	    c->status, c->sent, faults, body_end_names[c->end],
	    c->err.msg[0] ? " error=\"" : "", c->err.msg, c->err.msg[0] ? "\"" : "");
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* Nothing more to do: the log is best effort. */
	}
}

/* Closing a socket with unread input makes the kernel send a reset,
 * which can destroy the response before the client has read it (a 400
 * for a request whose rest was never read). So half-close, then discard
 * input until the client closes, for a bounded time and amount. */
static void
linger(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct timespec t0;
	uint8_t sink[4096];
	size_t total = 0;
	ssize_t n;
	int r;

	if (shutdown(fd, SHUT_WR) != 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (total < SERVE_LINGER_MAX_BYTES && seconds_since(&t0) * 1000 < SERVE_LINGER_MS) {
		if ((r = poll(&pfd, 1, SERVE_SLICE_MS)) < 0)
			return;
		if (r == 0)
			continue;
		n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return;
		total += (size_t)n;
	}
}

void
serve_conn(const struct serve_ctx *ctx, int fd)
{
	struct conn c;
	int r;

	memset(&c, 0, sizeof(c));
	c.ctx = ctx;
	c.fd = fd;
	c.end = BODY_DONE;
	set_timeouts(fd);
	if ((c.buf = malloc(SERVE_CHUNK_BYTES)) == NULL) {
		nk_fail(&c.err, -1, "out of memory");
		c.end = BODY_FAILED;
		goto out;
	}
	if ((c.ssl = SSL_new(ctx->tls)) == NULL || SSL_set_fd(c.ssl, fd) != 1) {
		nk_fail(&c.err, -1, "cannot set up TLS for the connection");
		c.end = BODY_FAILED;
		goto out;
	}
	if (fault_conn_hangs(ctx->faults)) {
		c.plan.applied |= 1u << FAULT_TLSHANG;
		c.end = BODY_HUNG;
		hang(fd);
		goto out;
	}
	if ((r = SSL_accept(c.ssl)) != 1) {
		tls_fail(&c, "handshake", r);
		goto out;
	}
	handle(&c);
	/* A clean end says so (close_notify); a cut one just closes. */
	if (c.end == BODY_DONE) {
		SSL_shutdown(c.ssl);
		linger(fd);
	}
out:
	log_line(&c);
	SSL_free(c.ssl);
	ERR_clear_error();
	close(fd);
	free(c.buf);
}
