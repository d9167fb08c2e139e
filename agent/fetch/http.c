/* http: hardened libcurl transfers with resume. */
#include "http.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "version.h"

#define HTTP_PROGRESS_INTERVAL_S 0.25

/* One attempt's state, shared with the libcurl callbacks. */
struct xfer {
	const struct http_opts *o;
	const char *url;
	CURL *c;
	struct sink *k;
	uint64_t range_from;      /* Range start sent, 0: none */
	int64_t content_range;    /* start from Content-Range, -1: none */
	int checked;              /* first body bytes seen and checked */
	int range_bad;            /* 206 for the wrong offset */
	double t0, last_ev;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
http_global_init(struct nk_err *e)
{
	static int done;

	if (done)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return nk_fail(e, NK_E_INTERNAL, "libcurl initialisation failed");
	done = 1;
	return 0;
}

static size_t
on_header(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	unsigned long long a;

	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0)
		x->content_range = -1; /* a new response (after a redirect) */
	else if (len > 14 && strncasecmp(buf, "Content-Range:", 14) == 0 &&
	    sscanf(buf + 14, " bytes %llu-", &a) == 1)
		x->content_range = (int64_t)a;
	return len;
}

/* The first body bytes of the final response: is this the range we asked
 * for, the whole file again, or something to refuse? */
static int
check_response(struct xfer *x)
{
	CURL *c = x->c;
	long code = 0;
	curl_off_t clen = -1;
	struct event ev = { .type = EV_RESTART, .file = x->k->name, .url = x->url };

	x->checked = 1;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (x->range_from > 0) {
		if (code == 206 && x->content_range != (int64_t)x->range_from) {
			x->range_bad = 1;
			return -1;
		}
		if (code != 206) {
			/* The server ignored Range: drop what we have, hash anew. */
			if (sink_reset(x->k, &x->k->err) != 0) {
				x->k->failed = 1;
				x->k->failed_code = NK_E_IO;
				return -1;
			}
			x->range_from = 0;
			event_emit(&x->o->ev, &ev);
		}
	}
	curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
	if (clen > 0 && (uint64_t)clen > x->k->max - sink_len(x->k)) {
		x->k->overflow = x->k->failed = 1;
		x->k->failed_code = nk_fail(&x->k->err, NK_E_SIZE,
		    "server announces %" PRId64 " bytes, more than the %llu expected; "
		    "transfer stopped", (int64_t)clen,
		    (unsigned long long)(x->k->max - sink_len(x->k)));
		return -1;
	}
	return 0;
}

static size_t
on_body(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	double t;
	struct event ev;

	if (!x->checked && check_response(x) != 0)
		return 0;
	if (sink_write(x->k, buf, len) != 0)
		return 0; /* CURLE_WRITE_ERROR; the sink holds the reason */
	t = now_s();
	if (t - x->last_ev >= HTTP_PROGRESS_INTERVAL_S) {
		x->last_ev = t;
		ev = (struct event){ .type = EV_PROGRESS, .file = x->k->name,
			.done = sink_len(x->k), .total = x->k->max, .seconds = t - x->t0 };
		event_emit(&x->o->ev, &ev);
	}
	return len;
}

/* A libcurl result as one of our codes, and whether to try again. */
static int
classify(CURLcode cc, CURL *c, const struct xfer *x, const char *cerr, int *transient,
    struct nk_err *e)
{
	long code = 0;
	char *redir = NULL;
	const char *why = cerr[0] ? cerr : curl_easy_strerror(cc);

	*transient = 0;
	switch (cc) {
	case CURLE_WRITE_ERROR:
		if (x->range_bad) {
			*transient = 1;
			return nk_fail(e, NK_E_HTTP, "server answered Range %llu- with "
			    "another offset", (unsigned long long)x->range_from);
		}
		if (x->k->failed) {
			memcpy(e->msg, x->k->err.msg, sizeof(e->msg));
			return x->k->failed_code;
		}
		return nk_fail(e, NK_E_IO, "%s", why);
	case CURLE_HTTP_RETURNED_ERROR:
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		if (code == 404 || code == 410)
			return nk_fail(e, NK_E_MISSING, "HTTP %ld: not on the server", code);
		*transient = code == 408 || code == 429 || code >= 500;
		return nk_fail(e, NK_E_HTTP, "HTTP %ld from server", code);
	case CURLE_UNSUPPORTED_PROTOCOL:
		curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &redir);
		return nk_fail(e, NK_E_REDIRECT, "redirect to %s refused: only https is "
		    "followed", redir ? redir : "a non-https URL");
	case CURLE_TOO_MANY_REDIRECTS:
		return nk_fail(e, NK_E_REDIRECT, "more than %ld redirects", HTTP_MAX_REDIRECTS);
	case CURLE_PEER_FAILED_VERIFICATION:
		return nk_fail(e, NK_E_TLS, "TLS: server certificate not trusted (%s); "
		    "pass --cacert if the server uses a private CA", why);
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return nk_fail(e, NK_E_TLS, "TLS: server public key does not match --pin");
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
		return nk_fail(e, NK_E_TLS, "TLS: %s", why);
	case CURLE_OPERATION_TIMEDOUT:
		*transient = 1;
		return nk_fail(e, NK_E_NET, "timed out or stalled (%s)", why);
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		*transient = 1;
		return nk_fail(e, NK_E_NET, "%s", why);
	default:
		return nk_fail(e, NK_E_NET, "%s", why);
	}
}

/* Applies every option that makes a transfer safe. Fails closed. */
static int
harden(CURL *c, const struct http_opts *o, char *cerr)
{
	long stall = o->stall_time_s > 0 ? o->stall_time_s : HTTP_STALL_TIME_S;
	int bad = 0;

	bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https") != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_MAXREDIRS, HTTP_MAX_REDIRECTS) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, HTTP_CONNECT_TIMEOUT_S) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, HTTP_STALL_BPS) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_BUFFERSIZE, HTTP_BUFFER_BYTES) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_USERAGENT, "nixos-kexec/" NK_VERSION) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr) != CURLE_OK;
	/* Both always, NULL included: castore decided, and a libcurl built
	 * for one distribution must not add its own default path. */
	bad |= curl_easy_setopt(c, CURLOPT_CAINFO, o->cacert) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_CAPATH, o->capath) != CURLE_OK;
	if (o->pin != NULL)
		bad |= curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, o->pin) != CURLE_OK;
	return bad ? -1 : 0;
}

static int
attempt(const struct http_opts *o, const char *url, struct sink *k, int *transient,
    struct nk_err *e)
{
	char cerr[CURL_ERROR_SIZE] = "";
	char range[32];
	struct xfer x = { .o = o, .url = url, .k = k, .content_range = -1 };
	CURL *c;
	CURLcode cc;
	int rc;

	*transient = 0;
	if ((c = curl_easy_init()) == NULL)
		return nk_fail(e, NK_E_NOMEM, "libcurl: out of memory");
	if (harden(c, o, cerr) != 0) {
		rc = nk_fail(e, NK_E_INTERNAL, "libcurl refused a required safety option "
		    "(too old?); refusing to download");
		goto out;
	}
	x.c = c;
	x.range_from = sink_len(k);
	if (x.range_from > 0) {
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)x.range_from);
		curl_easy_setopt(c, CURLOPT_RANGE, range);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	x.t0 = x.last_ev = now_s();
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK && !x.checked && x.range_from > 0) {
		/* An empty 206/200 body after resuming: nothing was added. */
		long code = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		if (code != 206)
			(void)sink_reset(k, e);
	}
	rc = cc == CURLE_OK ? 0 : classify(cc, c, &x, cerr, transient, e);
out:
	curl_easy_cleanup(c);
	return rc;
}

/* Exponential backoff on failures in a row; after progress the link
 * works, so come back quickly. */
static unsigned
backoff_ms(unsigned first, unsigned tries)
{
	unsigned ms = first;

	if (tries == 0)
		return HTTP_RESUME_PAUSE_MS;
	while (--tries > 0 && ms < HTTP_BACKOFF_MAX_MS)
		ms *= 2;
	return ms < HTTP_BACKOFF_MAX_MS ? ms : HTTP_BACKOFF_MAX_MS;
}

int
http_get(const struct http_opts *o, const char *url, struct sink *k, struct nk_err *e)
{
	unsigned tries = 0, attempts = 0, backoff = o->backoff_ms ? o->backoff_ms : HTTP_BACKOFF_FIRST_MS;
	uint64_t before;
	int rc, transient;
	struct event ev;
	double t0 = now_s();

	ev = (struct event){ .type = EV_START, .file = k->name, .url = url, .total = k->max };
	event_emit(&o->ev, &ev);
	for (;;) {
		before = sink_len(k);
		if (before > 0) {
			ev = (struct event){ .type = EV_RESUME, .file = k->name, .url = url,
				.done = before, .total = k->max };
			event_emit(&o->ev, &ev);
		}
		rc = attempt(o, url, k, &transient, e);
		attempts++;
		if (rc == 0)
			break;
		if (!transient)
			return rc;
		/* Only real progress resets the count: a trickle is a failure. */
		tries = sink_len(k) >= before + HTTP_PROGRESS_MIN_BYTES ? 0 : tries + 1;
		if (tries >= HTTP_TRIES_WITHOUT_PROGRESS || attempts >= HTTP_ATTEMPTS_MAX) {
			char tmp[NK_ERR_MAX];
			snprintf(tmp, sizeof(tmp), "%s (gave up after %u attempts)", e->msg, attempts);
			memcpy(e->msg, tmp, sizeof(tmp));
			return rc;
		}
		ev = (struct event){ .type = EV_RETRY, .file = k->name, .url = url,
			.msg = e->msg, .attempt = attempts, .done = sink_len(k), .total = k->max };
		event_emit(&o->ev, &ev);
		sleep_ms(backoff_ms(backoff, tries));
	}
	ev = (struct event){ .type = EV_DONE, .file = k->name, .url = url,
		.done = sink_len(k), .total = k->max, .seconds = now_s() - t0 };
	event_emit(&o->ev, &ev);
	return 0;
}
