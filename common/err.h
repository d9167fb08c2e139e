/* err: one error code per reason, a sentence for the person, and the
 * mapping from reasons to the sysexits(3) status DESIGN.md fixes. */
#ifndef NK_ERR_H
#define NK_ERR_H

#define NK_ERR_MAX 512

/* A caller-owned error buffer: library code fills msg, never prints. */
struct nk_err {
	char msg[NK_ERR_MAX];
};

/* Codes are 0 or negative; each class maps to one exit status. */
enum nk_code {
	NK_OK = 0,
	/* 64: usage or configuration */
	NK_E_USAGE = -1,
	NK_E_KEYFILE = -2,    /* key file unreadable or malformed */
	NK_E_PASSWORD = -3,   /* wrong password for a secret key */
	/* 65: bundle rejected */
	NK_E_MANIFEST = -10,  /* manifest syntax or field */
	NK_E_SIGFMT = -11,    /* signature file malformed */
	NK_E_KEYID = -12,     /* signed by a key we do not trust */
	NK_E_LEGACY = -13,    /* legacy Ed signature without --allow-legacy */
	NK_E_SIG = -14,       /* signature does not verify */
	NK_E_GLOBALSIG = -15, /* trusted comment signature does not verify */
	NK_E_SIZE = -16,      /* artifact or file size wrong or over a cap */
	NK_E_HASH = -17,      /* artifact hash mismatch */
	NK_E_VERSION = -18,   /* below the version floor */
	NK_E_EXPIRED = -19,   /* past expires, or issued in the future */
	NK_E_ARCH = -20,      /* built for another machine */
	NK_E_MISSING = -21,   /* a bundle file is absent (404, ENOENT) */
	/* 69: source unavailable (retry later) */
	NK_E_NET = -30,       /* connect, DNS, timeout, reset */
	NK_E_TLS = -31,       /* certificate, pin, handshake */
	NK_E_HTTP = -32,      /* HTTP status after retries */
	NK_E_REDIRECT = -33,  /* redirected to a non-https URL */
	NK_E_SOURCE = -34,    /* source URL refused (64: scheme, form) */
	/* 70: internal */
	NK_E_NOMEM = -40,
	NK_E_INTERNAL = -41,
	/* 74: local I/O */
	NK_E_IO = -50,
	/* 71: kernel refused */
	NK_E_KERNEL = -60,
	/* 75: lock held */
	NK_E_LOCKED = -70,
	/* 77: not permitted */
	NK_E_PERM = -80,
};

enum {
	NK_EXIT_OK = 0,
	NK_EXIT_USAGE = 64,
	NK_EXIT_REJECTED = 65,
	NK_EXIT_UNAVAILABLE = 69,
	NK_EXIT_INTERNAL = 70,
	NK_EXIT_KERNEL = 71,
	NK_EXIT_IO = 74,
	NK_EXIT_LOCKED = 75,
	NK_EXIT_PERM = 77,
};

/* Formats a message into e (may be NULL; e->msg may be an argument) and
 * returns code, so that a failing path reads: return nk_fail(e, NK_E_HASH, "...", ...); */
int nk_fail(struct nk_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes e->msg with "what: " (e.g. the artifact name). */
void nk_err_prefix(struct nk_err *e, const char *what);

/* The sysexits status for a code. */
int nk_exit_code(int code);

/* A short stable name for a code ("hash", "signature", ...) for --json. */
const char *nk_code_name(int code);

#endif
