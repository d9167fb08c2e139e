/* http: request head and Range parsing for the stub (pure, bounded). */
#include "http.h"

#include <string.h>
#include <strings.h>

/* A line of the header block, without its CRLF. */
struct line {
	const uint8_t *p;
	size_t len;
};

static int
is_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != 0 && strchr("!#$&'*+-.^_`|~", c) != NULL;
}

/* RFC 3986 pchar without pct-encoded, plus '/'. */
static int
is_path_char(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != 0 && strchr("-._~!$&'()*+,;=:@/", c) != NULL;
}

static int
is_value_char(uint8_t c)
{
	return c == '\t' || (c >= 0x20 && c < 0x7f);
}

/* Takes the next CRLF-terminated line from buf at *pos. A bare CR or LF
 * inside a line is a syntax error. */
static int
next_line(const uint8_t *buf, size_t len, size_t *pos, struct line *out)
{
	size_t i;

	for (i = *pos; i < len; i++) {
		if (buf[i] == '\n')
			return HTTP_E_SYNTAX;
		if (buf[i] != '\r')
			continue;
		if (i + 1 >= len || buf[i + 1] != '\n')
			return HTTP_E_SYNTAX;
		out->p = buf + *pos;
		out->len = i - *pos;
		*pos = i + 2;
		return HTTP_OK;
	}
	return HTTP_E_SYNTAX;
}

size_t
http_header_end(const uint8_t *buf, size_t len)
{
	size_t i;

	/* Ends with bare LFs count too, so that such a request is answered
	 * (the parser refuses it) instead of waiting for a CRLF never sent. */
	for (i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* Checks path segments: no '.', '..' or empty segment (a trailing '/' is
 * allowed and means a directory). */
static int
check_segments(const char *path, struct nk_err *e)
{
	const char *seg = path + 1, *end;
	size_t n;

	while (*seg != '\0') {
		end = strchr(seg, '/');
		n = end != NULL ? (size_t)(end - seg) : strlen(seg);
		if (n == 0)
			return nk_fail(e, HTTP_E_PATH, "empty path segment");
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return nk_fail(e, HTTP_E_PATH, "'.' or '..' in the path");
		if (end == NULL)
			break;
		seg = end + 1;
	}
	return HTTP_OK;
}

/* Copies the path of an origin-form target and drops its query. */
static int
parse_target(const uint8_t *t, size_t len, struct http_req *out, struct nk_err *e)
{
	size_t i, plen = len;

	if (len == 0 || t[0] != '/')
		return nk_fail(e, HTTP_E_PATH, "request target must start with '/'");
	for (i = 0; i < len; i++) {
		if (t[i] == '%')
			return nk_fail(e, HTTP_E_PATH, "percent-encoding is not supported");
		if (t[i] == '?' && plen == len) {
			plen = i;
			continue;
		}
		if (!is_path_char(t[i]) && t[i] != '?')
			return nk_fail(e, HTTP_E_PATH, "byte 0x%02x not allowed in the path", t[i]);
	}
	if (plen > HTTP_PATH_MAX_BYTES)
		return nk_fail(e, HTTP_E_TOOBIG, "path longer than %d bytes", HTTP_PATH_MAX_BYTES);
	memcpy(out->path, t, plen);
	out->path[plen] = '\0';
	return check_segments(out->path, e);
}

static int
parse_method(const uint8_t *m, size_t len, struct http_req *out, struct nk_err *e)
{
	size_t i;

	if (len == 0)
		return nk_fail(e, HTTP_E_SYNTAX, "empty method");
	for (i = 0; i < len; i++)
		if (!is_tchar(m[i]))
			return nk_fail(e, HTTP_E_SYNTAX, "malformed method");
	if (len == 3 && memcmp(m, "GET", 3) == 0)
		out->method = HTTP_GET;
	else if (len == 4 && memcmp(m, "HEAD", 4) == 0)
		out->method = HTTP_HEAD;
	else if (len == 4 && memcmp(m, "POST", 4) == 0)
		out->method = HTTP_POST;
	else
		return nk_fail(e, HTTP_E_METHOD, "method %.*s not allowed", (int)len, (const char *)m);
	return HTTP_OK;
}

static int
parse_version(const uint8_t *v, size_t len, struct nk_err *e)
{
	if (len == 8 && (memcmp(v, "HTTP/1.1", 8) == 0 || memcmp(v, "HTTP/1.0", 8) == 0))
		return HTTP_OK;
	if (len >= 5 && memcmp(v, "HTTP/", 5) == 0)
		return nk_fail(e, HTTP_E_VERSION, "only HTTP/1.0 and HTTP/1.1 are served");
	return nk_fail(e, HTTP_E_SYNTAX, "malformed HTTP version");
}

/* "METHOD SP target SP HTTP/1.x", single spaces. */
static int
parse_request_line(const struct line *l, struct http_req *out, struct nk_err *e)
{
	const uint8_t *sp1, *sp2, *end = l->p + l->len;
	int rc;

	sp1 = memchr(l->p, ' ', l->len);
	if (sp1 == NULL)
		return nk_fail(e, HTTP_E_SYNTAX, "malformed request line");
	sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
	if (sp2 == NULL || memchr(sp2 + 1, ' ', (size_t)(end - sp2 - 1)) != NULL)
		return nk_fail(e, HTTP_E_SYNTAX, "malformed request line");
	if ((rc = parse_method(l->p, (size_t)(sp1 - l->p), out, e)) != HTTP_OK)
		return rc;
	if ((rc = parse_version(sp2 + 1, (size_t)(end - sp2 - 1), e)) != HTTP_OK)
		return rc;
	return parse_target(sp1 + 1, (size_t)(sp2 - sp1 - 1), out, e);
}

static int
name_is(const uint8_t *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp((const char *)name, want, len) == 0;
}

/* Content-Length: digits only, once; a body only for POST. */
static int
parse_length(const uint8_t *val, size_t vlen, struct http_req *out, struct nk_err *e)
{
	uint64_t v = 0;
	size_t i;

	if (out->has_length)
		return nk_fail(e, HTTP_E_SYNTAX, "more than one Content-Length header");
	if (vlen == 0 || vlen > 19)
		return nk_fail(e, HTTP_E_SYNTAX, "malformed Content-Length");
	for (i = 0; i < vlen; i++) {
		if (val[i] < '0' || val[i] > '9')
			return nk_fail(e, HTTP_E_SYNTAX, "malformed Content-Length");
		v = v * 10 + (uint64_t)(val[i] - '0');
	}
	if (v != 0 && out->method != HTTP_POST)
		return nk_fail(e, HTTP_E_BODY, "a request body is not accepted");
	out->content_length = v;
	out->has_length = 1;
	return HTTP_OK;
}

/* Acts on the few headers the stub cares about; ignores the rest. */
static int
use_header(const uint8_t *name, size_t nlen, const uint8_t *val, size_t vlen,
    struct http_req *out, struct nk_err *e)
{
	if (name_is(name, nlen, "range")) {
		if (out->has_range)
			return nk_fail(e, HTTP_E_SYNTAX, "more than one Range header");
		if (vlen > HTTP_RANGE_MAX_BYTES)
			return nk_fail(e, HTTP_E_TOOBIG, "Range longer than %d bytes",
			    HTTP_RANGE_MAX_BYTES);
		memcpy(out->range, val, vlen);
		out->range[vlen] = '\0';
		out->has_range = 1;
	} else if (name_is(name, nlen, "transfer-encoding")) {
		return nk_fail(e, HTTP_E_BODY, "a request body is not accepted");
	} else if (name_is(name, nlen, "content-length")) {
		return parse_length(val, vlen, out, e);
	}
	return HTTP_OK;
}

/* "name: OWS value OWS"; no obsolete folding, no control bytes. */
static int
parse_header(const struct line *l, struct http_req *out, struct nk_err *e)
{
	const uint8_t *colon, *v, *vend;
	size_t i, nlen;

	colon = memchr(l->p, ':', l->len);
	if (colon == NULL || colon == l->p)
		return nk_fail(e, HTTP_E_SYNTAX, "malformed header line");
	nlen = (size_t)(colon - l->p);
	for (i = 0; i < nlen; i++)
		if (!is_tchar(l->p[i]))
			return nk_fail(e, HTTP_E_SYNTAX, "malformed header name");
	v = colon + 1;
	vend = l->p + l->len;
	for (i = 0; v + i < vend; i++)
		if (!is_value_char(v[i]))
			return nk_fail(e, HTTP_E_SYNTAX, "control byte in a header value");
	while (v < vend && (*v == ' ' || *v == '\t'))
		v++;
	while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
		vend--;
	return use_header(l->p, nlen, v, (size_t)(vend - v), out, e);
}

int
http_parse_request(const uint8_t *buf, size_t len, struct http_req *out,
    struct nk_err *e)
{
	struct line l;
	size_t pos = 0, count = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > HTTP_HEADER_MAX_BYTES)
		return nk_fail(e, HTTP_E_TOOBIG, "request head over %d bytes", HTTP_HEADER_MAX_BYTES);
	if ((rc = next_line(buf, len, &pos, &l)) != HTTP_OK)
		return nk_fail(e, rc, "malformed request line");
	if ((rc = parse_request_line(&l, out, e)) != HTTP_OK)
		return rc;
	for (;;) {
		if ((rc = next_line(buf, len, &pos, &l)) != HTTP_OK)
			return nk_fail(e, rc, "malformed header block");
		if (l.len == 0)
			break;
		if (l.p[0] == ' ' || l.p[0] == '\t')
			return nk_fail(e, HTTP_E_SYNTAX, "obsolete header folding");
		if (++count > HTTP_HEADER_MAX_COUNT)
			return nk_fail(e, HTTP_E_TOOBIG, "more than %d headers", HTTP_HEADER_MAX_COUNT);
		if ((rc = parse_header(&l, out, e)) != HTTP_OK)
			return rc;
	}
	if (pos != len)
		return nk_fail(e, HTTP_E_SYNTAX, "bytes after the header block");
	if (out->method == HTTP_POST && !out->has_length)
		return nk_fail(e, HTTP_E_LENGTH, "a POST needs Content-Length");
	return HTTP_OK;
}

/* At least one decimal digit, no sign, no overflow. */
static int
parse_u64(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*out = v;
	return 0;
}

static int
range_suffix(const char *s, uint64_t size, struct http_range *out, struct nk_err *e)
{
	uint64_t n;

	if (parse_u64(&s, &n) != 0 || *s != '\0')
		return nk_fail(e, HTTP_E_RANGE, "malformed suffix range");
	if (n == 0 || size == 0)
		return nk_fail(e, HTTP_E_UNSATISFIABLE, "empty suffix range");
	out->first = n < size ? size - n : 0;
	out->last = size - 1;
	return HTTP_OK;
}

int
http_parse_range(const char *value, uint64_t size, struct http_range *out,
    struct nk_err *e)
{
	const char *s = value;
	uint64_t first, last = UINT64_MAX;

	if (strncasecmp(s, "bytes=", 6) != 0)
		return nk_fail(e, HTTP_E_RANGE, "only byte ranges are served");
	s += 6;
	if (strchr(s, ',') != NULL)
		return nk_fail(e, HTTP_E_RANGE, "multiple ranges are not served");
	if (*s == '-')
		return range_suffix(s + 1, size, out, e);
	if (parse_u64(&s, &first) != 0 || *s++ != '-')
		return nk_fail(e, HTTP_E_RANGE, "malformed byte range");
	if (*s != '\0' && (parse_u64(&s, &last) != 0 || *s != '\0'))
		return nk_fail(e, HTTP_E_RANGE, "malformed byte range");
	if (last < first)
		return nk_fail(e, HTTP_E_RANGE, "byte range ends before it starts");
	if (first >= size)
		return nk_fail(e, HTTP_E_UNSATISFIABLE, "range starts at or past the end");
	out->first = first;
	out->last = last < size - 1 ? last : size - 1;
	return HTTP_OK;
}

int
http_error_status(int code)
{
	switch (code) {
	case HTTP_E_METHOD:
		return 405;
	case HTTP_E_VERSION:
		return 505;
	case HTTP_E_UNSATISFIABLE:
		return 416;
	case HTTP_E_LENGTH:
		return 411;
	default:
		return 400;
	}
}

static const struct {
	int status;
	const char *reason;
} reasons[] = {
	{ 200, "OK" },
	{ 206, "Partial Content" },
	{ 301, "Moved Permanently" },
	{ 302, "Found" },
	{ 307, "Temporary Redirect" },
	{ 308, "Permanent Redirect" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 408, "Request Timeout" },
	{ 410, "Gone" },
	{ 411, "Length Required" },
	{ 413, "Content Too Large" },
	{ 416, "Range Not Satisfiable" },
	{ 429, "Too Many Requests" },
	{ 500, "Internal Server Error" },
	{ 502, "Bad Gateway" },
	{ 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" },
	{ 505, "HTTP Version Not Supported" },
};

const char *
http_reason(int status)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "Status";
}
