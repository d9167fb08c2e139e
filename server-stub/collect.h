/* collect: the stub as a report collector (--collect FILE): each POST's
 * body, one JSON object, is appended to FILE as one line, so a test or
 * the demo reads what the agents and the new systems reported (JSON
 * lines). Bodies from concurrent connections never interleave. */
#ifndef NK_STUB_COLLECT_H
#define NK_STUB_COLLECT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define COLLECT_BODY_MAX_BYTES (64 * 1024)

/* Opens (creates, mode 0644) FILE for appending; a symbolic link is
 * refused. */
int collect_open(const char *path, int *fd, struct nk_err *e);

/* Whether body can be one line of a JSON-lines file: at most
 * COLLECT_BODY_MAX_BYTES, an object ('{' ... '}', blanks around allowed),
 * no control byte (a JSON writer escapes them). Not a JSON validator: the
 * reader of the file is. Pure. */
int collect_check(const uint8_t *body, size_t len, struct nk_err *e);

/* Appends body and a newline to fd in one write(2), under a lock. */
int collect_append(int fd, const uint8_t *body, size_t len, struct nk_err *e);

#endif
