/* serve: one connection of the stub, from TLS handshake to close: read a
 * request head, answer it from the root directory with the planned faults,
 * and log one line to stderr. */
#ifndef NK_STUB_SERVE_H
#define NK_STUB_SERVE_H

#include <openssl/ssl.h>

#include "fault.h"

#define SERVE_CHUNK_BYTES (256 * 1024) /* file read and TLS write unit */
#define SERVE_READ_TIMEOUT_S 10        /* handshake and request head */
#define SERVE_WRITE_TIMEOUT_S 30       /* a client that stops reading */
#define SERVE_STALL_MAX_S 120          /* how long a stall fault holds */
#define SERVE_PATH_MAX_DEPTH 32        /* directories below the root */

struct serve_ctx {
	SSL_CTX *tls;
	int root_fd; /* O_DIRECTORY descriptor of --root */
	int collect_fd; /* --collect: POST bodies appended here; -1: POST refused */
	struct fault_set *faults;
};

/* Serves one request on the accepted socket fd and closes it. Meant to
 * run on its own thread; ctx is shared and read-only but for the fault
 * counters, which fault.c locks. */
void serve_conn(const struct serve_ctx *ctx, int fd);

/* Asks running connections to finish early (stall and throttle waits end,
 * the response is cut). Async-signal-safe. */
void serve_stop(void);

#endif
