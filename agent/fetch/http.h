/* http: one hardened libcurl GET into a sink, with retries, backoff and
 * Range resume that continues the running hash. https only, TLS 1.2 at
 * least, certificate and host always verified. */
#ifndef NK_HTTP_H
#define NK_HTTP_H

#include "err.h"
#include "event.h"
#include "sink.h"

#define HTTP_CONNECT_TIMEOUT_S 20L
#define HTTP_STALL_TIME_S 30L          /* below HTTP_STALL_BPS this long: give up */
#define HTTP_STALL_BPS 1024L
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
	struct event_sink ev;
};

/* Initialises libcurl once per process. */
int http_global_init(struct nk_err *e);

/* Downloads url into k. Transient failures (connect, reset, timeout,
 * 408/429/5xx) are retried with backoff; a broken transfer resumes with
 * Range from the bytes k holds. Codes: NK_E_NET, NK_E_TLS, NK_E_HTTP,
 * NK_E_MISSING (404/410), NK_E_REDIRECT, NK_E_SIZE (cap), NK_E_IO. */
int http_get(const struct http_opts *o, const char *url, struct sink *k, struct nk_err *e);

#endif
