/* url: credential redaction for every URL that leaves the process, and
 * the few things the agent checks in a URL it did not fetch a bundle
 * from: a --report URL (https only, and safe to copy into boot.json and
 * into a shell script's argument), and the host and port of a source (for
 * boot.json, so that the new system can test its network against them).
 * Pure: no I/O, no allocation. */
#ifndef NK_URL_H
#define NK_URL_H

#include <stddef.h>

#include "err.h"

#define URL_MAX_BYTES 1024
#define URL_HOST_MAX_BYTES 255
#define URL_HTTPS_PORT 443

/* 0 when url is https://HOST[:PORT][/...], at most URL_MAX_BYTES, of
 * URL characters only (RFC 3986: no blank, quote, backslash, control or
 * non-ASCII byte); else NK_E_USAGE naming what is wrong. */
int url_https_check(const char *url, struct nk_err *e);

/* The host (IPv6 without its brackets; userinfo dropped) and port
 * (URL_HTTPS_PORT when none is written) of an https:// URL. -1 for
 * anything else, or a host over cap - 1 bytes, or a port outside 1-65535. */
int url_host_port(const char *url, char *host, size_t cap, unsigned *port);

/* What replaces a URL's userinfo, query and fragment in url_redact. */
#define URL_REDACTED "***"

/* Copies text (a URL, or a sentence holding URLs) into out, cap bytes,
 * always terminated (truncated when needed), with the userinfo of every
 * SCHEME://URL in it replaced by "***" and its query and fragment by
 * "?***" / "#***": where credentials and presigned signatures live. For
 * everything that leaves the process or is stored; the requests
 * themselves use the URL as given. Idempotent. Returns strlen(out). */
size_t url_redact(const char *text, char *out, size_t cap);

#endif
