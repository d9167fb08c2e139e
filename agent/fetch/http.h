/* http: one hardened libcurl GET into a sink, with retries, backoff and
 * Range resume that continues the running hash. https only, TLS 1.2 at
 * least, certificate and host always verified. */
#ifndef NK_HTTP_H
#define NK_HTTP_H

#include "err.h"
#include "event.h"
#include "sink.h"

#define HTTP_CONNECT_TIMEOUT_S 20L     /* DNS, TCP and TLS handshake; never above the stall limit */
#define HTTP_CONNECT_HANGS_MAX 2U      /* connection-phase timeouts in a row before giving up */
#define HTTP_STALL_TIME_S 30L          /* below HTTP_STALL_BPS this long: give up */
#define HTTP_STALL_BPS 1024L
#define HTTP_RETRY_AFTER_MAX_S 300L    /* a 429/503's Retry-After is honoured up to this */
#define HTTP_MAX_REDIRECTS 5L
#define HTTP_TRIES_WITHOUT_PROGRESS 5U /* transient failures in a row */
#define HTTP_ATTEMPTS_MAX 200U         /* all attempts of one file */
#define HTTP_PROGRESS_MIN_BYTES (256U * 1024) /* what counts as progress */
#define HTTP_BACKOFF_FIRST_MS 500U
#define HTTP_BACKOFF_MAX_MS 8000U
#define HTTP_RESUME_PAUSE_MS 100U     /* after a failure that made progress */
#define HTTP_BUFFER_BYTES (512L * 1024)

struct http_opts {
	const char *cacert;     /* CA bundle file (castore), NULL: none */
	const char *capath;     /* hashed CA directory (castore), NULL: none */
	const char *pin;        /* "sha256//BASE64[;sha256//...]", NULL: none */
	long stall_time_s;      /* 0: HTTP_STALL_TIME_S */
	unsigned backoff_ms;    /* 0: HTTP_BACKOFF_FIRST_MS */
	double deadline;        /* http_now() when the whole run must end; 0: none */
	long timeout_s;         /* the --timeout behind deadline, for messages */
	struct event_sink ev;
};

/* What is known of a failed attempt, for http_classify. */
struct http_failure {
	int curl_code;          /* CURLcode */
	long status;            /* HTTP status of the last response; 0: none */
	const char *location;   /* Location of the last redirect; NULL: none */
	const char *detail;     /* libcurl's error text; may be "" */
	const char *peer;       /* "ADDR:PORT" when known; may be "" */
	int connected;          /* the TCP connection was made */
	int tls_done;           /* the TLS handshake completed */
	int deadline_passed;    /* the --timeout deadline ended it */
	long timeout_s;         /* --timeout, for the message */
	long connect_limit_s;   /* the connection-phase limit in force */
	long stall_s;           /* the stall limit in force */
};

/* Seconds on the monotonic clock (for http_opts.deadline). */
double http_now(void);

/* Applies every option that makes a transfer safe (https only, TLS 1.2
 * at least, peer and host verified, bounded redirects, stall limits, the
 * CA store and pin of o) to curl, a CURL easy handle, with cerr
 * (CURL_ERROR_SIZE bytes) as its error buffer; fails closed (-1). Other
 * transfers of the agent (reports) use it, so that there is one list. */
int http_harden(void *curl, const struct http_opts *o, char *cerr);

/* Initialises libcurl once per process. */
int http_global_init(struct nk_err *e);

/* Downloads url into k. Transient failures (connect, reset, timeout,
 * 408/429/5xx) are retried with backoff (at least the Retry-After of a
 * 429 or 503, up to HTTP_RETRY_AFTER_MAX_S); a broken transfer resumes with
 * Range from the bytes k holds; when k already holds all it can take (or
 * the server answers 416 at the end of its file), the bytes are left to
 * the caller's size and hash checks instead. A connection phase that
 * times out HTTP_CONNECT_HANGS_MAX times in a row, or o->deadline,
 * ends the retries. Codes: NK_E_NET, NK_E_TLS, NK_E_HTTP,
 * NK_E_MISSING (404/410), NK_E_REDIRECT, NK_E_SIZE (cap), NK_E_IO. */
int http_get(const struct http_opts *o, const char *url, struct sink *k, struct nk_err *e);

/* A failed attempt as one of our codes, one sentence per libcurl failure
 * class (a refused redirect, an HTTP/0.9 reply, a TLS handshake that
 * never completed, a stall, the deadline, ...), and whether to retry.
 * Pure: everything it needs is in f. */
int http_classify(const struct http_failure *f, int *transient, struct nk_err *e);

#endif
