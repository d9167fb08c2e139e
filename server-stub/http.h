/* http: the stub's HTTP/1.x request and Range parsers. Pure functions:
 * bytes in, struct out, no I/O, no allocation. Anything the stub does not
 * expect is refused, so a client bug shows up as a 400, not a guess. A
 * POST (for --collect) must announce its body with Content-Length. */
#ifndef NK_STUB_HTTP_H
#define NK_STUB_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define HTTP_HEADER_MAX_BYTES (16 * 1024) /* request line + headers + blank line */
#define HTTP_HEADER_MAX_COUNT 64          /* header lines per request */
#define HTTP_PATH_MAX_BYTES 1024          /* request path, query excluded */
#define HTTP_RANGE_MAX_BYTES 128          /* value of the Range header */

/* Parse results, one per reason; http_error_status maps them to a status. */
enum http_code {
	HTTP_OK = 0,
	HTTP_E_SYNTAX = -1,   /* malformed request line or header: 400 */
	HTTP_E_PATH = -2,     /* path refused ('..', '%', odd bytes): 400 */
	HTTP_E_METHOD = -3,   /* a method other than GET or HEAD: 405 */
	HTTP_E_VERSION = -4,  /* not HTTP/1.0 or HTTP/1.1: 505 */
	HTTP_E_TOOBIG = -5,   /* header block, path or a header over a cap: 400 */
	HTTP_E_BODY = -6,     /* GET/HEAD with a body: 400 */
	HTTP_E_INCOMPLETE = -7, /* no blank line yet: read more */
	HTTP_E_RANGE = -8,    /* Range syntax the stub does not accept: 400 */
	HTTP_E_UNSATISFIABLE = -9, /* range outside the file: 416 */
	HTTP_E_LENGTH = -10,  /* POST without Content-Length: 411 */
};

enum http_method {
	HTTP_GET,
	HTTP_HEAD,
	HTTP_POST,
};

struct http_req {
	enum http_method method;
	char path[HTTP_PATH_MAX_BYTES + 1]; /* starts with '/', query dropped */
	int has_range;
	char range[HTTP_RANGE_MAX_BYTES + 1];
	int has_length;
	uint64_t content_length; /* POST: the body's bytes (after the head) */
};

/* An inclusive byte range [first, last] of a representation. */
struct http_range {
	uint64_t first;
	uint64_t last;
};

/* Returns the length of the header block (through the first empty line)
 * when buf holds one, or 0 when more bytes are needed. A bare LF ends a
 * line here so that the request is not waited on; http_parse_request
 * then refuses it. */
size_t http_header_end(const uint8_t *buf, size_t len);

/* Parses one request head (request line, headers, blank line; exactly len
 * bytes as given by http_header_end). Refuses '%', '.' and '..' segments,
 * empty segments, bytes outside RFC 3986 pchar, duplicate Range or
 * Content-Length, obsolete line folding, chunked bodies, a GET or HEAD
 * with a body, and a POST without Content-Length. */
int http_parse_request(const uint8_t *buf, size_t len, struct http_req *out,
    struct nk_err *e);

/* Resolves a Range value ("bytes=A-B", "bytes=A-", "bytes=-N") against a
 * representation of size bytes. Multiple ranges and other units are
 * refused (HTTP_E_RANGE); a range starting at or past the end, or a
 * suffix of 0, is HTTP_E_UNSATISFIABLE. */
int http_parse_range(const char *value, uint64_t size, struct http_range *out,
    struct nk_err *e);

/* The status a parse code is answered with (e.g. 400 for HTTP_E_SYNTAX). */
int http_error_status(int code);

/* The reason phrase for a status ("Not Found"), "Status" if unknown. */
const char *http_reason(int status);

#endif
