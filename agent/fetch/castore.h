/* castore: which CA certificates to trust when the operator names none.
 * One static agent runs on every distribution, and each keeps its bundle in
 * its own place; libcurl and OpenSSL know only the place they were built
 * for. So the agent looks for itself, in a fixed order, and says where. */
#ifndef NK_CASTORE_H
#define NK_CASTORE_H

#include <limits.h>

#include "err.h"

/* The bundle files tried, in order, first readable wins. */
#define CASTORE_FILES { \
	"/etc/ssl/certs/ca-certificates.crt",                  /* Debian, Ubuntu, Gentoo */ \
	"/etc/pki/tls/certs/ca-bundle.crt",                    /* RHEL, Oracle, Amazon, Fedora */ \
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",   /* the same, ca-trust extracted */ \
	"/etc/ssl/ca-bundle.pem",                              /* SUSE */ \
	"/var/lib/ca-certificates/ca-bundle.pem",              /* SUSE, generated */ \
	"/etc/ssl/cert.pem",                                   /* Alpine, Arch, Void */ \
	NULL }

/* Then the OpenSSL hashed directories (a directory holding <hash>.0). */
#define CASTORE_DIRS { "/etc/ssl/certs", "/etc/pki/tls/certs", NULL }

#define CASTORE_DIR_SCAN_MAX 4096 /* directory entries looked at for a hash link */

struct castore {
	char file[PATH_MAX]; /* "" or a bundle file (CURLOPT_CAINFO) */
	char dir[PATH_MAX];  /* "" or a hashed directory (CURLOPT_CAPATH) */
	const char *from;    /* "--cacert", "SSL_CERT_FILE", "well-known path", ... */
};

/* Fills out: --cacert (cacert, if not NULL) wins; then SSL_CERT_FILE and
 * SSL_CERT_DIR as OpenSSL reads them; then CASTORE_FILES, then CASTORE_DIRS.
 * root prefixes the well-known paths (tests; "" for the machine). A named
 * file or directory that cannot be read, or no store at all, is NK_E_TLS
 * with the places tried and what to do. */
int castore_find(const char *root, const char *cacert, struct castore *out,
    struct nk_err *e);

#endif
