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

#include "retryafter.h"
#include "version.h"

#define HTTP_PROGRESS_INTERVAL_S 0.25

/* One attempt's state, shared with the libcurl callbacks. */
struct xfer {
	const struct http_opts *o;
	const char *url;
	CURL *c;
	struct sink *k;
	uint64_t range_from;      /* Range start sent, 0: none */
	int checked;              /* first body bytes seen and checked */
	int range_bad;            /* 206 for the wrong offset */
	struct http_head head;
	double t0, last_ev;
	const struct http_until *until; /* may end it early; NULL: never */
	int stopped;              /* until said stop */
};

double
http_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
now_s(void)
{
	return http_now();
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

void
http_head_reset(struct http_head *h)
{
	memset(h, 0, sizeof(*h));
	h->retry_after_s = -1;
}

size_t
http_head_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct http_head *h = arg;
	size_t len = size * n;
	size_t i, j;

	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		/* a new response (after a redirect) */
		http_head_reset(h);
	} else if (len > 12 && strncasecmp(buf, "Retry-After:", 12) == 0) {
		uint64_t s;
		if (retryafter_parse(buf + 12, len - 12, (uint64_t)time(NULL),
		    HTTP_RETRY_AFTER_MAX_S, &s) == 0)
			h->retry_after_s = (int64_t)s;
	} else if (len > 14 && strncasecmp(buf, "Content-Range:", 14) == 0) {
		h->has_range = crange_parse(buf + 14, len - 14, &h->range) == 0;
		h->range_malformed = !h->has_range;
	} else if (len > 9 && strncasecmp(buf, "Location:", 9) == 0) {
		/* Kept printable and bounded: it goes into a message. */
		for (i = 9; i < len && (buf[i] == ' ' || buf[i] == '\t'); i++)
			;
		for (j = 0; i < len && j + 1 < sizeof(h->location) && buf[i] > 0x20 &&
		    buf[i] < 0x7f; i++)
			h->location[j++] = buf[i];
		h->location[j] = '\0';
	}
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
		if (code == 206 && (!x->head.has_range ||
		    x->head.range.first != (int64_t)x->range_from)) {
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
	if (x->until != NULL && sink_len(x->k) < x->k->max &&
	    x->until->fn(x->until->ctx, t, sink_len(x->k))) {
		x->stopped = 1;
		return 0; /* CURLE_WRITE_ERROR: stopped on purpose, see attempt */
	}
	if (t - x->last_ev >= HTTP_PROGRESS_INTERVAL_S) {
		x->last_ev = t;
		ev = (struct event){ .type = EV_PROGRESS, .file = x->k->name,
			.done = sink_len(x->k), .total = x->k->max, .seconds = t - x->t0 };
		event_emit(&x->o->ev, &ev);
	}
	return len;
}

/* Where each libcurl failure comes from, decided once for every CURLcode
 * (issue 19.8): the command line (64), this machine (70, 74) or the
 * server and the network between (69, or 65 for a body over the
 * manifest's size). Codes of protocols the agent never speaks (FTP,
 * LDAP, TFTP, SSH, RTSP...) cannot come from an https transfer: internal.
 * Only the codes listed are not this machine's. */
static const struct {
	CURLcode cc;
	int code;       /* NK_E_* */
	int transient;  /* worth another attempt */
} curl_origin[] = {
	/* the command line: the SOURCE, --cacert */
	{ CURLE_URL_MALFORMAT, NK_E_SOURCE, 0 },
	{ CURLE_SSL_CACERT_BADFILE, NK_E_USAGE, 0 },
	/* the server, or the network on the way to it */
	{ CURLE_UNSUPPORTED_PROTOCOL, NK_E_HTTP, 0 },
	{ CURLE_COULDNT_RESOLVE_PROXY, NK_E_NET, 1 },
	{ CURLE_COULDNT_RESOLVE_HOST, NK_E_NET, 1 },
	{ CURLE_COULDNT_CONNECT, NK_E_NET, 1 },
	{ CURLE_WEIRD_SERVER_REPLY, NK_E_HTTP, 0 },
	{ CURLE_HTTP2, NK_E_NET, 1 },
	{ CURLE_PARTIAL_FILE, NK_E_NET, 1 },
	{ CURLE_HTTP_RETURNED_ERROR, NK_E_HTTP, 0 },
	{ CURLE_OPERATION_TIMEDOUT, NK_E_NET, 1 },
	{ CURLE_RANGE_ERROR, NK_E_HTTP, 0 },
	{ CURLE_SSL_CONNECT_ERROR, NK_E_TLS, 1 },
	{ CURLE_BAD_DOWNLOAD_RESUME, NK_E_HTTP, 0 },
	{ CURLE_TOO_MANY_REDIRECTS, NK_E_REDIRECT, 0 },
	{ CURLE_GOT_NOTHING, NK_E_NET, 1 },
	{ CURLE_SEND_ERROR, NK_E_NET, 1 },
	{ CURLE_RECV_ERROR, NK_E_NET, 1 },
	{ CURLE_PEER_FAILED_VERIFICATION, NK_E_TLS, 0 },
	{ CURLE_BAD_CONTENT_ENCODING, NK_E_HTTP, 0 },
	{ CURLE_FILESIZE_EXCEEDED, NK_E_SIZE, 0 },
	{ CURLE_USE_SSL_FAILED, NK_E_TLS, 0 },
	{ CURLE_LOGIN_DENIED, NK_E_HTTP, 0 },
	{ CURLE_SSL_SHUTDOWN_FAILED, NK_E_TLS, 0 },
	{ CURLE_AGAIN, NK_E_NET, 1 },
	{ CURLE_SSL_ISSUER_ERROR, NK_E_TLS, 0 },
	{ CURLE_NO_CONNECTION_AVAILABLE, NK_E_NET, 1 },
	{ CURLE_SSL_PINNEDPUBKEYNOTMATCH, NK_E_TLS, 0 },
	{ CURLE_SSL_INVALIDCERTSTATUS, NK_E_TLS, 0 },
	{ CURLE_HTTP2_STREAM, NK_E_NET, 1 },
	{ CURLE_HTTP3, NK_E_NET, 1 },
	{ CURLE_QUIC_CONNECT_ERROR, NK_E_NET, 1 },
	{ CURLE_PROXY, NK_E_NET, 1 },
	{ CURLE_SSL_CLIENTCERT, NK_E_TLS, 0 },
#if LIBCURL_VERSION_NUM >= 0x080600
	{ CURLE_TOO_LARGE, NK_E_HTTP, 0 },
#endif
	/* this machine: the disk (74); everything else, memory and libcurl's
	 * own state, is internal (70) */
	{ CURLE_WRITE_ERROR, NK_E_IO, 0 },
};

int
http_curl_origin(int curl_code, int *transient)
{
	size_t i;

	*transient = 0;
	for (i = 0; i < sizeof(curl_origin) / sizeof(curl_origin[0]); i++)
		if ((int)curl_origin[i].cc == curl_code) {
			*transient = curl_origin[i].transient;
			return curl_origin[i].code;
		}
	return NK_E_INTERNAL;
}

/* libcurl says "out of memory" when a response header outgrows its
 * 100 KiB buffer (a header line that never ends), and 7.88 leaves its
 * error text empty then: after the handshake, that is the server's doing
 * (memory running out exactly there is the unlikely reading). */
static int
header_too_large(const struct http_failure *f, const char *d)
{
	return (CURLcode)f->curl_code == CURLE_OUT_OF_MEMORY &&
	    (f->tls_done || strstr(d, "header") != NULL);
}

int
http_classify(const struct http_failure *f, int *transient, struct nk_err *e)
{
	const char *d = f->detail != NULL && f->detail[0] ? f->detail :
	    curl_easy_strerror((CURLcode)f->curl_code);
	const char *peer = f->peer != NULL && f->peer[0] ? f->peer : "the server";
	long code = f->status;
	int origin = http_curl_origin(f->curl_code, transient);

	if (f->deadline_passed) {
		*transient = 0;
		return nk_fail(e, NK_E_NET, "gave up: the run took longer than its --timeout "
		    "%ld s (raise it for a slow link)", f->timeout_s);
	}
	if (header_too_large(f, d)) {
		*transient = 0;
		return nk_fail(e, NK_E_HTTP, "%s sent a response header larger than libcurl "
		    "accepts (100 KiB: a header line that never ends); refused", peer);
	}
	switch ((CURLcode)f->curl_code) {
	case CURLE_HTTP_RETURNED_ERROR:
		if (code == 404 || code == 410)
			return nk_fail(e, NK_E_MISSING, "HTTP %ld: not on the server", code);
		*transient = code == 408 || code == 429 || code >= 500;
		return nk_fail(e, origin, "HTTP %ld from server", code);
	case CURLE_UNSUPPORTED_PROTOCOL:
		if (f->location != NULL && f->location[0] != '\0' &&
		    strncasecmp(f->location, "https://", 8) != 0)
			return nk_fail(e, NK_E_REDIRECT, "redirect to %s refused: only https is "
			    "followed", f->location);
		if (strstr(d, "HTTP/0.9") != NULL)
			return nk_fail(e, origin, "%s sent bytes with no HTTP status line (an "
			    "HTTP/0.9 reply, or no web server at that port); refused", peer);
		return nk_fail(e, origin, "unsupported protocol: %s", d);
	case CURLE_WEIRD_SERVER_REPLY:
		return nk_fail(e, origin, "%s's reply is not valid HTTP (%s)", peer, d);
	case CURLE_TOO_MANY_REDIRECTS:
		return nk_fail(e, origin, "more than %ld redirects", HTTP_MAX_REDIRECTS);
	case CURLE_URL_MALFORMAT:
		/* After a redirect, the URL is the server's Location, not ours. */
		if ((f->location != NULL && f->location[0] != '\0') ||
		    (code >= 300 && code < 400))
			return nk_fail(e, NK_E_REDIRECT, "%s redirected (HTTP %ld) to a Location "
			    "that is not a valid URL (%s); refused", peer, code, d);
		return nk_fail(e, origin, "malformed URL (%s)", d);
	case CURLE_PEER_FAILED_VERIFICATION:
		return nk_fail(e, origin, "TLS: server certificate not trusted (%s); "
		    "pass --cacert if the server uses a private CA", d);
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return nk_fail(e, origin, "TLS: server public key does not match --pin");
	case CURLE_SSL_CACERT_BADFILE:
		return nk_fail(e, origin, "TLS: the CA certificates given (--cacert, or the "
		    "system's store) cannot be used (%s)", d);
	case CURLE_SSL_CONNECT_ERROR:
		return nk_fail(e, origin, "TLS handshake with %s failed: %s", peer, d);
	case CURLE_OPERATION_TIMEDOUT:
		/* libcurl stamps the connect time only once TLS is up too; its
		 * words tell a handshake that never finished. */
		if (!f->tls_done && (f->connected || strstr(d, "SSL connection") != NULL))
			return nk_fail(e, origin, "the TLS handshake with %s did not complete "
			    "within %ld s: the server took the connection but does not answer "
			    "it", peer, f->connect_limit_s);
		if (!f->tls_done)
			return nk_fail(e, origin, "no connection to %s within %ld s (%s)", peer,
			    f->connect_limit_s, d);
		return nk_fail(e, origin, "stalled: below %ld bytes/s for %ld s "
		    "(--stall-timeout)", HTTP_STALL_BPS, f->stall_s);
	case CURLE_COULDNT_RESOLVE_PROXY:
		return nk_fail(e, origin, "cannot resolve the proxy's name (https_proxy): %s", d);
	case CURLE_COULDNT_RESOLVE_HOST:
		return nk_fail(e, origin, "cannot resolve the server's name (%s): check DNS on "
		    "this machine", d);
	case CURLE_COULDNT_CONNECT:
		return nk_fail(e, origin, "cannot connect: %s", d);
	case CURLE_PROXY:
		return nk_fail(e, origin, "the proxy failed or refused: %s", d);
	case CURLE_SEND_ERROR:
		return nk_fail(e, origin, "connection broken while sending: %s", d);
	case CURLE_RECV_ERROR:
		return nk_fail(e, origin, "connection broken while receiving: %s", d);
	case CURLE_PARTIAL_FILE:
		return nk_fail(e, origin, "the response ended early: %s", d);
	case CURLE_GOT_NOTHING:
		return nk_fail(e, origin, "%s closed the connection without answering", peer);
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_HTTP3:
	case CURLE_QUIC_CONNECT_ERROR:
		return nk_fail(e, origin, "HTTP/2 or HTTP/3 error: %s", d);
	case CURLE_BAD_CONTENT_ENCODING:
		return nk_fail(e, origin, "the server's Content-Encoding cannot be decoded: %s", d);
	case CURLE_RANGE_ERROR:
		return nk_fail(e, origin, "the server refused the byte range asked for: %s", d);
	case CURLE_FILESIZE_EXCEEDED:
		return nk_fail(e, origin, "larger than allowed: %s", d);
	case CURLE_WRITE_ERROR:
		return nk_fail(e, origin, "storing the received bytes failed: %s", d);
	case CURLE_OUT_OF_MEMORY:
		return nk_fail(e, NK_E_NOMEM, "libcurl: out of memory");
	default:
		if (origin == NK_E_INTERNAL)
			return nk_fail(e, origin, "libcurl on this machine: %s (error %d)", d,
			    f->curl_code);
		return nk_fail(e, origin, "%s: %s (libcurl error %d)", peer, d, f->curl_code);
	}
}

static long
stall_limit(const struct http_opts *o)
{
	return o->stall_time_s > 0 ? o->stall_time_s : HTTP_STALL_TIME_S;
}

/* DNS, TCP and the TLS handshake together: a server that takes the
 * connection but never answers the handshake is a stall like any other. */
static long
connect_limit(const struct http_opts *o)
{
	return stall_limit(o) < HTTP_CONNECT_TIMEOUT_S ? stall_limit(o) : HTTP_CONNECT_TIMEOUT_S;
}

int
http_failed(void *curl, int curl_code, const struct http_head *h, const char *cerr,
    const struct http_opts *o, struct http_outcome *out, struct nk_err *e)
{
	CURL *c = curl;
	CURLcode cc = (CURLcode)curl_code;
	struct http_failure f = { .curl_code = curl_code, .detail = cerr,
		.location = h->location, .timeout_s = o->timeout_s,
		.connect_limit_s = connect_limit(o), .stall_s = stall_limit(o) };
	curl_off_t t_conn = 0, t_tls = 0;
	char peer[80] = "", *ip = NULL;
	long port = 0;
	int rc;

	out->transient = out->hung = 0;
	out->wait_s = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &f.status);
	curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &t_conn);
	curl_easy_getinfo(c, CURLINFO_APPCONNECT_TIME_T, &t_tls);
	if (curl_easy_getinfo(c, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip != NULL &&
	    ip[0] != '\0' && curl_easy_getinfo(c, CURLINFO_PRIMARY_PORT, &port) == CURLE_OK)
		snprintf(peer, sizeof(peer), strchr(ip, ':') ? "[%s]:%ld" : "%s:%ld", ip, port);
	f.peer = peer;
	f.connected = t_conn > 0;
	f.tls_done = t_tls > 0;
	f.deadline_passed = cc == CURLE_OPERATION_TIMEDOUT && o->deadline > 0 &&
	    now_s() >= o->deadline - 0.05;
	rc = http_classify(&f, &out->transient, e);
	out->hung = cc == CURLE_OPERATION_TIMEDOUT && t_tls == 0;
	if (out->transient && h->retry_after_s >= 0 &&
	    (f.status == 429 || f.status == 503))
		out->wait_s = (long)h->retry_after_s;
	return rc;
}

/* A libcurl result as one of our codes, and whether to try again. The
 * sink's own failures (cap, staging) and a wrong Range answer come first;
 * everything else goes to http_failed. */
static int
classify(CURLcode cc, CURL *c, const struct xfer *x, const char *cerr,
    struct http_outcome *out, struct nk_err *e)
{
	out->transient = out->hung = 0;
	out->wait_s = 0;
	if (cc == CURLE_WRITE_ERROR && x->range_bad) {
		out->transient = 1;
		return nk_fail(e, NK_E_HTTP, "server answered Range %llu- with another offset",
		    (unsigned long long)x->range_from);
	}
	if (cc == CURLE_WRITE_ERROR && x->k->failed) {
		memcpy(e->msg, x->k->err.msg, sizeof(e->msg));
		return x->k->failed_code;
	}
	return http_failed(c, (int)cc, &x->head, cerr, x->o, out, e);
}

/* Applies every option that makes a transfer safe. Fails closed. */
static int
harden(CURL *c, const struct http_opts *o, char *cerr)
{
	long stall = stall_limit(o);
	int bad = 0;

	bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https") != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_MAXREDIRS, HTTP_MAX_REDIRECTS) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, connect_limit(o)) != CURLE_OK;
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
	if (o->share != NULL)
		bad |= curl_easy_setopt(c, CURLOPT_SHARE, o->share) != CURLE_OK;
	return bad ? -1 : 0;
}

int
http_harden(void *curl, const struct http_opts *o, char *cerr)
{
	return harden(curl, o, cerr);
}

int
http_share_open(struct http_opts *o, struct nk_err *e)
{
	CURLSH *sh = curl_share_init();
	int bad = 0;

	if (sh == NULL)
		return nk_fail(e, NK_E_NOMEM, "libcurl: out of memory");
	/* Connections: manifest, signature and artifacts over one where the
	 * server keeps it open; TLS sessions: a new connection to the same
	 * server (a parallel range, a reconnect) resumes instead of a full
	 * handshake. All transfers run in one thread: no lock callbacks. */
	bad |= curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK;
	bad |= curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK;
	bad |= curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK;
	if (bad) {
		curl_share_cleanup(sh);
		return nk_fail(e, NK_E_INTERNAL, "libcurl cannot share connections (too old?)");
	}
	o->share = sh;
	return 0;
}

void
http_share_close(struct http_opts *o)
{
	if (o->share != NULL)
		curl_share_cleanup(o->share);
	o->share = NULL;
}

long
http_ms_left(const struct http_opts *o)
{
	double left;

	if (o->deadline <= 0)
		return 0;
	left = o->deadline - now_s();
	if (left <= 0)
		return -1;
	return left * 1000 < 1 ? 1 : (long)(left * 1000);
}

int
http_deadline_fail(const struct http_opts *o, struct nk_err *e)
{
	struct http_failure f = { .deadline_passed = 1, .timeout_s = o->timeout_s };
	int transient;

	return http_classify(&f, &transient, e);
}

/* A new connection's TCP handshake: one round trip to the server. */
static void
note_rtt(const struct http_opts *o, CURL *c)
{
	curl_off_t conn = 0, dns = 0;
	long n = 0;

	if (o->rtt_s != NULL && curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &n) == CURLE_OK &&
	    n > 0 && curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &conn) == CURLE_OK &&
	    conn > 0 && curl_easy_getinfo(c, CURLINFO_NAMELOOKUP_TIME_T, &dns) == CURLE_OK &&
	    conn >= dns)
		*o->rtt_s = (double)(conn - dns) / 1e6;
}

/* One request. *hung: it timed out before the TLS handshake completed;
 * *complete: the server answered 416 exactly at the end of what k holds;
 * *wait_s: a 429 or 503 came with Retry-After (capped), else 0. */
static int
attempt(const struct http_opts *o, const char *url, struct sink *k,
    const struct http_until *until, struct http_outcome *out, int *complete,
    int *stopped, struct nk_err *e)
{
	char cerr[CURL_ERROR_SIZE] = "";
	char range[32];
	struct xfer x = { .o = o, .url = url, .k = k, .until = until };
	CURL *c;
	CURLcode cc;
	long left = http_ms_left(o), status = 0;
	int rc;

	*out = (struct http_outcome){ 0 };
	*complete = 0;
	http_head_reset(&x.head);
	if (left < 0)
		return http_deadline_fail(o, e);
	if ((c = curl_easy_init()) == NULL)
		return nk_fail(e, NK_E_NOMEM, "libcurl: out of memory");
	if (harden(c, o, cerr) != 0) {
		rc = nk_fail(e, NK_E_INTERNAL, "libcurl refused a required safety option "
		    "(too old?); refusing to download");
		goto out;
	}
	if (left > 0 && curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, left) != CURLE_OK) {
		rc = nk_fail(e, NK_E_INTERNAL, "libcurl refused CURLOPT_TIMEOUT_MS");
		goto out;
	}
	x.c = c;
	x.range_from = sink_len(k);
	if (x.range_from > 0) {
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)x.range_from);
		curl_easy_setopt(c, CURLOPT_RANGE, range);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_head_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &x.head);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	x.t0 = x.last_ev = now_s();
	cc = curl_easy_perform(c);
	note_rtt(o, c);
	if (cc == CURLE_WRITE_ERROR && x.stopped) {
		*stopped = 1;
		rc = 0;
		goto out;
	}
	if (cc == CURLE_OK && !x.checked && x.range_from > 0) {
		/* An empty 206/200 body after resuming: nothing was added. */
		long code = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		if (code != 206)
			(void)sink_reset(k, e);
	}
	if (cc == CURLE_HTTP_RETURNED_ERROR && x.range_from > 0 &&
	    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 416 &&
	    (!x.head.has_range || x.head.range.first != CRANGE_NONE ||
	    (uint64_t)x.head.range.complete == x.range_from)) {
		/* Nothing at or past range_from: the file ends where our bytes
		 * do. Whether they are the right ones the caller's checks say. */
		*complete = 1;
		rc = 0;
		goto out;
	}
	rc = cc == CURLE_OK ? 0 : classify(cc, c, &x, cerr, out, e);
out:
	curl_easy_cleanup(c);
	return rc;
}

/* Exponential backoff on failures in a row; after progress the link
 * works, so come back quickly. */
unsigned
http_backoff(const struct http_opts *o, unsigned tries)
{
	unsigned ms = o->backoff_ms ? o->backoff_ms : HTTP_BACKOFF_FIRST_MS;

	if (tries == 0)
		return HTTP_RESUME_PAUSE_MS;
	while (--tries > 0 && ms < HTTP_BACKOFF_MAX_MS)
		ms *= 2;
	return ms < HTTP_BACKOFF_MAX_MS ? ms : HTTP_BACKOFF_MAX_MS;
}

static void
emit_info(const struct http_opts *o, const char *file, const char *msg)
{
	struct event ev = { .type = EV_INFO, .file = file, .msg = msg };

	event_emit(&o->ev, &ev);
}

enum http_retry_verdict
http_retry_next(const struct http_opts *o, struct http_retry *r, unsigned failed,
    int progress, const struct http_outcome *out, const struct event *retry,
    unsigned *pause_ms, struct nk_err *e)
{
	char tmp[NK_ERR_MAX];
	enum http_retry_verdict v = HTTP_RETRY_AGAIN;
	long left;

	/* Only real progress resets the count: a trickle is a failure. */
	r->tries = progress ? 0 : r->tries + 1;
	r->hangs = out->hung ? r->hangs + 1 : 0;
	if (failed >= HTTP_ATTEMPTS_MAX)
		v = HTTP_RETRY_SPENT;
	else if (r->tries >= HTTP_TRIES_WITHOUT_PROGRESS || r->hangs >= HTTP_CONNECT_HANGS_MAX)
		v = HTTP_RETRY_STUCK;
	if (v != HTTP_RETRY_AGAIN) {
		snprintf(tmp, sizeof(tmp), "%s (gave up after %u attempts)", e->msg, failed);
		memcpy(e->msg, tmp, sizeof(tmp));
		return v;
	}
	left = http_ms_left(o);
	if (out->wait_s > 0 && left != 0 && (left < 0 || out->wait_s * 1000 >= left)) {
		/* Waiting would only end in the deadline: say what the server asked. */
		snprintf(tmp, sizeof(tmp), "the server asks to come back in %ld s (Retry-After), "
		    "past the --timeout %ld s (%ld s left): not waiting; the last attempt: %s", out->wait_s, o->timeout_s, left < 0 ? 0 : left / 1000, e->msg);
		memcpy(e->msg, tmp, sizeof(tmp));
		return HTTP_RETRY_LATE;
	}
	event_emit(&o->ev, retry);
	*pause_ms = http_backoff(o, r->tries);
	if (out->wait_s > 0 && (unsigned long)out->wait_s * 1000 > *pause_ms) {
		*pause_ms = (unsigned)out->wait_s * 1000;
		snprintf(tmp, sizeof(tmp), "the server asks to come back in %ld s "
		    "(Retry-After); waiting", out->wait_s);
		emit_info(o, retry->file, tmp);
	}
	return v;
}

int
http_get(const struct http_opts *o, const char *url, struct sink *k, struct nk_err *e)
{
	int stopped;

	return http_get_until(o, url, k, NULL, &stopped, e);
}

int
http_get_until(const struct http_opts *o, const char *url, struct sink *k,
    const struct http_until *until, int *stopped, struct nk_err *e)
{
	struct http_retry retry = { 0 };
	unsigned attempts = 0, pause;
	uint64_t before;
	int rc, complete;
	struct http_outcome out;
	struct event ev;
	double t0 = now_s();
	long left;
	char tmp[NK_ERR_MAX];

	ev = (struct event){ .type = EV_START, .file = k->name, .url = url, .total = k->max };
	event_emit(&o->ev, &ev);
	for (;;) {
		before = sink_len(k);
		if (before > 0 && before == k->max) {
			/* Every byte it may have has arrived, though the response
			 * did not end cleanly: asking for more could only get a 416. */
			snprintf(tmp, sizeof(tmp), "all %llu bytes held; checking them instead of "
			    "asking for more", (unsigned long long)before);
			emit_info(o, k->name, tmp);
			break;
		}
		if (before > 0) {
			ev = (struct event){ .type = EV_RESUME, .file = k->name, .url = url,
				.done = before, .total = k->max };
			event_emit(&o->ev, &ev);
		}
		*stopped = 0;
		rc = attempt(o, url, k, until, &out, &complete, stopped, e);
		attempts++;
		if (rc == 0 && *stopped)
			return 0; /* not done: no EV_DONE */
		if (rc == 0 && complete) {
			snprintf(tmp, sizeof(tmp), "the server has nothing past byte %llu; "
			    "checking what arrived", (unsigned long long)before);
			emit_info(o, k->name, tmp);
		}
		if (rc == 0)
			break;
		if (!out.transient)
			return rc;
		ev = (struct event){ .type = EV_RETRY, .file = k->name, .url = url,
			.msg = e->msg, .attempt = attempts, .done = sink_len(k), .total = k->max };
		if (http_retry_next(o, &retry, attempts,
		    sink_len(k) >= before + HTTP_PROGRESS_MIN_BYTES, &out, &ev, &pause, e) !=
		    HTTP_RETRY_AGAIN)
			return rc;
		if ((left = http_ms_left(o)) < 0 || (left > 0 && (unsigned long)left <= pause)) {
			/* No time for another attempt: say so, and what went wrong. */
			memcpy(tmp, e->msg, sizeof(tmp));
			rc = http_deadline_fail(o, e);
			nk_fail(e, rc, "%s; the last attempt: %s", e->msg, tmp);
			return rc;
		}
		sleep_ms(pause);
	}
	ev = (struct event){ .type = EV_DONE, .file = k->name, .url = url,
		.done = sink_len(k), .total = k->max, .seconds = now_s() - t0 };
	event_emit(&o->ev, &ev);
	return 0;
}
