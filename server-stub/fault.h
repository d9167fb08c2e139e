/* fault: the stub's fault specs (parsed from --fault) and, per request,
 * the plan of which faults shape the response. Counted faults (status,
 * drop, stall with a count) are shared by all connections under a mutex. */
#ifndef NK_STUB_FAULT_H
#define NK_STUB_FAULT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define FAULT_MAX 32              /* --fault options per run */
#define FAULT_SPEC_MAX_BYTES 2048 /* one --fault argument */
#define FAULT_URL_MAX_BYTES 1024  /* redirect target */
#define FAULT_NAME_MAX_BYTES 255  /* the @NAME selector */
#define FAULT_RETRY_AFTER_MAX_BYTES 64 /* retryafter's value */
#define FAULT_UNLIMITED UINT64_MAX

enum fault_kind {
	FAULT_TRUNCATE,
	FAULT_CORRUPT,
	FAULT_THROTTLE,
	FAULT_STATUS,
	FAULT_DROP,
	FAULT_NORANGE,
	FAULT_REDIRECT,
	FAULT_STALL,
	FAULT_HTTP09,       /* no status line: raw bytes, then close */
	FAULT_UNTERMINATED, /* chunked body without its last chunk */
	FAULT_TLSHANG,      /* accept TCP, never complete the TLS handshake */
	FAULT_RETRYAFTER,   /* a Retry-After header on status answers */
	FAULT_BADRANGE,     /* a 206 for other bytes than the Range asked */
	FAULT_FAILAFTER,    /* N answers as usual, then a status for good */
	FAULT_KINDS
};

struct fault {
	enum fault_kind kind;
	uint64_t arg;       /* N, OFF, BPS or CODE */
	uint64_t remaining; /* responses left (status, drop, stall) */
	char url[FAULT_URL_MAX_BYTES + 1];   /* redirect's URL, retryafter's value */
	char name[FAULT_NAME_MAX_BYTES + 1]; /* "" applies to every path */
};

struct fault_set {
	struct fault f[FAULT_MAX];
	size_t n;
	pthread_mutex_t lock;
};

/* What the faults do to one response. A flag bit per kind that applied. */
struct fault_plan {
	unsigned applied; /* 1u << enum fault_kind */
	int status;       /* answer with this status instead of the file; 0: no */
	const char *redirect; /* Location prefix (points into the set); NULL: no */
	uint64_t truncate;    /* the file ends here; FAULT_UNLIMITED: no */
	int norange;
	uint64_t corrupt_off; /* file offset to flip; FAULT_UNLIMITED: no */
	uint64_t throttle_bps; /* 0: no */
	uint64_t drop_after;  /* body bytes, then close; FAULT_UNLIMITED: no */
	uint64_t stall_after; /* body bytes, then hold; FAULT_UNLIMITED: no */
	int http09;           /* answer without a status line */
	int unterminated;     /* chunked body, never finished */
	const char *retry_after; /* Retry-After value for a status answer; NULL: none */
	uint64_t badrange;    /* a Range answer moved this many bytes on; 0: no */
};

/* Parses one spec ("truncate:1000@initrd"). Pure: no I/O, no allocation. */
int fault_parse(const char *spec, struct fault *out, struct nk_err *e);

/* Initialises an empty set (mutex included). The set lives as long as
 * the process: connection threads may use it until exit. */
int fault_set_init(struct fault_set *s, struct nk_err *e);

/* Parses spec and appends it; over FAULT_MAX is an error. */
int fault_set_add(struct fault_set *s, const char *spec, struct nk_err *e);

/* Plans the faults for a request of path (failafter, status, redirect,
 * http09, truncate, norange, corrupt, throttle, unterminated, badrange).
 * A status fault's count is used up here; so are an unterminated one's
 * and a failafter's answers as usual. */
void fault_plan_request(struct fault_set *s, const char *path, struct fault_plan *p);

/* Adds drop and stall for a GET response of body_len bytes. A counted
 * fault is used up only when it bites: when body_len is over its N. */
void fault_plan_body(struct fault_set *s, const char *path, uint64_t body_len,
    struct fault_plan *p);

/* Whether a fresh connection must hang before its TLS handshake
 * (tlshang); uses up one of the fault's count when it does. */
int fault_conn_hangs(struct fault_set *s);

/* The spec keyword of a kind ("truncate"). */
const char *fault_kind_name(enum fault_kind k);

#endif
