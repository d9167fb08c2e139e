/* report: milestones of a run POSTed as JSON to an operator's collector
 * (--report URL), so that the operator of a fleet learns which machines
 * verified, loaded and went into the new system without logging in to
 * each. https only, through the same hardening as every download
 * (http_harden: TLS 1.2+, peer and host verified, https-only redirects)
 * and the same CA store (--cacert, else castore); the bundle server's
 * --pin is not applied (the collector is another server). Short timeouts,
 * no retries, and never a change to the run's outcome: a failure is an
 * event for the caller to print, and after REPORT_FAILURES_MAX in a row
 * the run stops trying. */
#ifndef NK_REPORT_H
#define NK_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "castore.h"
#include "err.h"
#include "event.h"
#include "http.h"
#include "url.h"

#define REPORT_BODY_MAX_BYTES 4096
#define REPORT_CONNECT_TIMEOUT_S 5L  /* DNS, TCP and TLS */
#define REPORT_TIMEOUT_S 10L         /* the whole POST */
#define REPORT_FAILURES_MAX 2U       /* in a row; then the run stops reporting */
#define REPORT_NONCE_BYTES 16        /* printed as 32 hex digits, like the handoff's */
#define REPORT_HOST_MAX_BYTES 64

/* Who reports: the same in every message of a run. */
struct report_ident {
	char nonce[2 * REPORT_NONCE_BYTES + 1];
	char host[REPORT_HOST_MAX_BYTES + 1];   /* gethostname() */
	const char *command;                    /* "fetch", "boot", ... */
};

/* One milestone. Fields left 0/NULL are left out of the JSON. */
struct report_msg {
	const char *event;         /* start, verified, loaded, executing, result */
	uint64_t time;             /* Unix seconds */
	const char *source;        /* start: SOURCE */
	uint64_t splay_s;          /* start: the random delay waited */
	const char *bundle_name;   /* verified and later: the verified bundle */
	uint64_t bundle_version;
	const char *how;           /* loaded: which system call loaded it */
	const char *mode;          /* executing: systemd or direct */
	uint64_t delay_s;          /* executing: --delay */
	uint64_t revert_after_s;   /* loaded, executing: --revert-after */
	int has_exit;              /* result */
	int exit_status;
	const char *code;          /* result: nk_code_name() */
	const char *message;       /* result */
};

struct report {
	char url[URL_MAX_BYTES + 1];    /* "": reporting is off */
	struct http_opts http;          /* CA store; ev: where warnings go */
	struct castore ca;
	struct report_ident id;
	unsigned failures;              /* in a row */
	unsigned sent;                  /* accepted by the collector */
};

/* A fresh random nonce (32 lowercase hex digits) into out. */
int report_nonce(char *out, size_t cap, struct nk_err *e);

/* The JSON object for m ({"event":...,"nonce":...,...} and no newline)
 * into out; NK_E_INTERNAL when over cap. Pure. */
int report_json(const struct report_ident *id, const struct report_msg *m, char *out,
    size_t cap, size_t *len, struct nk_err *e);

/* Sets r up for url (NULL or "": off) with the CA file cacert (NULL:
 * castore's search). A CA store that cannot be found turns reporting off
 * with a warning event: never an error. ev receives warnings. */
void report_init(struct report *r, const char *url, const char *cacert,
    const struct report_ident *id, const struct event_sink *ev);

/* POSTs m (time filled in when 0). Never fails the caller. */
void report_send(struct report *r, struct report_msg *m);

#endif
