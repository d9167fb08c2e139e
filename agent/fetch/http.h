/* http: one hardened libcurl GET into a sink, with retries, backoff and
 * Range resume that continues the running hash. https only, TLS 1.2 at
 * least, certificate and host always verified. */
#ifndef NK_HTTP_H
#define NK_HTTP_H

#include <stdint.h>

#include "crange.h"
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
#define HTTP_LOCATION_MAX_BYTES 512   /* a Location kept for messages */

struct http_opts {
	const char *cacert;     /* CA bundle file (castore), NULL: none */
	const char *capath;     /* hashed CA directory (castore), NULL: none */
	const char *pin;        /* "sha256//BASE64[;sha256//...]", NULL: none */
	long stall_time_s;      /* 0: HTTP_STALL_TIME_S */
	unsigned backoff_ms;    /* 0: HTTP_BACKOFF_FIRST_MS */
	double deadline;        /* http_now() when the whole run must end; 0: none */
	long timeout_s;         /* the --timeout behind deadline, for messages */
	struct event_sink ev;
	void *share;            /* http_share_open's connections and TLS sessions; NULL: none */
	double *rtt_s;          /* where http_get notes the TCP handshake time of a new
	                         * connection (one round trip); NULL: nowhere */
};

/* What the headers of the final response said (http_head_cb keeps it;
 * a redirect's headers are forgotten at the next status line). */
struct http_head {
	struct crange range;    /* Content-Range, when has_range */
	int has_range;          /* a Content-Range that parses */
	int range_malformed;    /* a Content-Range that does not */
	int64_t retry_after_s;  /* Retry-After, capped; -1: none */
	char location[HTTP_LOCATION_MAX_BYTES]; /* printable, "" when none */
};

/* What to do after a failed transfer (http_failed). */
struct http_outcome {
	int transient;          /* worth another attempt */
	int hung;               /* timed out before the TLS handshake completed */
	long wait_s;            /* a 429/503's Retry-After (capped); 0: none */
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

/* Gives o a share of connections, TLS sessions and DNS answers, so that
 * every transfer made with o (http_harden sets it) reuses a connection
 * the server kept open (manifest, signature and artifacts on one) and
 * resumes the TLS session of an earlier one. Used from one thread only. */
int http_share_open(struct http_opts *o, struct nk_err *e);
/* Closes the share and the connections it holds (idempotent). */
void http_share_close(struct http_opts *o);

/* CURLOPT_HEADERFUNCTION for a struct http_head (CURLOPT_HEADERDATA). */
size_t http_head_cb(char *buf, size_t size, size_t n, void *head);
/* Empties h before a request. */
void http_head_reset(struct http_head *h);

/* A failed transfer of the easy handle curl (curl_code its CURLcode, h
 * its headers, cerr its error buffer) as one of our codes with its
 * sentence (http_classify), and what to do next. */
int http_failed(void *curl, int curl_code, const struct http_head *h, const char *cerr,
    const struct http_opts *o, struct http_outcome *out, struct nk_err *e);

/* The pause before the next attempt after tries failures in a row (0:
 * after a failure that made progress). */
unsigned http_backoff(const struct http_opts *o, unsigned tries);
/* The retry rule of one stream of requests: http_get's, and each range
 * of a parallel fetch (par.c). */
struct http_retry {
	unsigned tries;         /* transient failures in a row without progress */
	unsigned hangs;         /* connection-phase timeouts in a row */
};

enum http_retry_verdict {
	HTTP_RETRY_AGAIN,       /* try again after *pause_ms */
	HTTP_RETRY_STUCK,       /* this stream: HTTP_TRIES_WITHOUT_PROGRESS failures
	                         * in a row without progress, or HTTP_CONNECT_HANGS_MAX
	                         * hangs in a row */
	HTTP_RETRY_SPENT,       /* HTTP_ATTEMPTS_MAX failed attempts in all */
	HTTP_RETRY_LATE,        /* the server's Retry-After reaches past the
	                         * --timeout deadline: not worth waiting for */
};

/* After a transient failure (out, e its sentence) of a stream that has
 * failed `failed` times (this one included), `progress` telling whether
 * it moved HTTP_PROGRESS_MIN_BYTES: counts it in r and says what comes
 * next. AGAIN: emits *retry, and *pause_ms is the backoff, raised to a
 * 429/503's Retry-After (said in an EV_INFO for retry->file). STUCK or
 * SPENT: e->msg says after how many attempts it gave up. LATE: e->msg
 * says the server asked for a wait the --timeout leaves no room for. */
enum http_retry_verdict http_retry_next(const struct http_opts *o, struct http_retry *r,
    unsigned failed, int progress, const struct http_outcome *out,
    const struct event *retry, unsigned *pause_ms, struct nk_err *e);
/* Milliseconds left before o->deadline (at least 1); 0: no deadline;
 * -1: passed. */
long http_ms_left(const struct http_opts *o);
/* The --timeout failure, as http_classify says it. */
int http_deadline_fail(const struct http_opts *o, struct nk_err *e);

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

/* What may end a download early (fetch.c: a stream that measures its
 * rate to decide on more connections): fn is called after each piece of
 * the body with the time (http_now) and the bytes the sink holds; nonzero
 * stops the transfer there. */
struct http_until {
	int (*fn)(void *ctx, double now, uint64_t bytes);
	void *ctx;
};

/* As http_get, but until (NULL: never) may end it between two pieces of
 * the body: then 0 with *stopped set, the sink holding what came, no
 * EV_DONE. */
int http_get_until(const struct http_opts *o, const char *url, struct sink *k,
    const struct http_until *until, int *stopped, struct nk_err *e);

/* A failed attempt as one of our codes, one sentence per libcurl failure
 * class (a refused redirect, an HTTP/0.9 reply, a TLS handshake that
 * never completed, a stall, the deadline, ...), and whether to retry.
 * Pure: everything it needs is in f. */
int http_classify(const struct http_failure *f, int *transient, struct nk_err *e);

/* Where a CURLcode comes from, as the NK_E_* code http_classify gives
 * it (before its finer cases: a 404, a refused redirect, a header that
 * never ends): NK_E_SOURCE/NK_E_USAGE for the command line, NK_E_IO or
 * NK_E_INTERNAL for this machine, a 69 or 65 class for the server. Sets
 * *transient when another attempt may succeed. */
int http_curl_origin(int curl_code, int *transient);

#endif
