/* source: where a bundle lives. An https URL of the bundle directory or of
 * its manifest, a local directory, or file://. Artifact names resolve
 * relative to the manifest, so they can never leave the bundle's origin. */
#ifndef NK_SOURCE_H
#define NK_SOURCE_H

#include <stddef.h>

#include "err.h"

#define SOURCE_MAX_BYTES 2048

enum source_kind {
	SOURCE_HTTPS,
	SOURCE_DIR,
};

struct source {
	enum source_kind kind;
	char base[SOURCE_MAX_BYTES + 1]; /* ends in '/' */
};

/* Parses a SOURCE argument. http:// and every other scheme are refused
 * (NK_E_SOURCE); so are query strings and fragments. */
int source_parse(const char *arg, struct source *out, struct nk_err *e);

/* Joins base and a validated file name into out. */
int source_join(const struct source *s, const char *name, char *out, size_t cap,
    struct nk_err *e);

#endif
