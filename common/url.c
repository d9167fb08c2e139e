/* url: https URL checks, host/port extraction and credential redaction
 * (pure, bounded). */
#include "url.h"

#include <string.h>
#include <strings.h>

#define URL_SCHEME "https://"
#define URL_SCHEME_LEN 8

static int
url_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != 0 && strchr("-._~:/?#[]@!$&'()*+,;=%", c) != NULL;
}

int
url_host_port(const char *url, char *host, size_t cap, unsigned *port)
{
	const char *a, *end, *at, *h, *hend, *p;
	size_t n;
	unsigned long v = 0;

	if (cap == 0 || strncasecmp(url, URL_SCHEME, URL_SCHEME_LEN) != 0)
		return -1;
	a = url + URL_SCHEME_LEN;
	end = a + strcspn(a, "/?#");
	/* userinfo ends at the last '@' of the authority */
	for (at = NULL, h = a; h < end; h++)
		if (*h == '@')
			at = h;
	h = at != NULL ? at + 1 : a;
	if (*h == '[') {
		hend = memchr(h, ']', (size_t)(end - h));
		if (hend == NULL)
			return -1;
		p = hend + 1;
		h++;
	} else {
		hend = memchr(h, ':', (size_t)(end - h));
		if (hend == NULL)
			hend = end;
		p = hend;
	}
	n = (size_t)(hend - h);
	if (n == 0 || n >= cap || n > URL_HOST_MAX_BYTES)
		return -1;
	if (p == end) {
		v = URL_HTTPS_PORT;
	} else {
		if (*p != ':' || p + 1 == end || end - p > 6)
			return -1;
		for (p++; p < end; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			v = v * 10 + (unsigned long)(*p - '0');
		}
		if (v == 0 || v > 65535)
			return -1;
	}
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (unsigned)v;
	return 0;
}

int
url_https_check(const char *url, struct nk_err *e)
{
	char host[URL_HOST_MAX_BYTES + 1];
	unsigned port;
	size_t i, n = strnlen(url, URL_MAX_BYTES + 1);

	if (n > URL_MAX_BYTES)
		return nk_fail(e, NK_E_USAGE, "URL longer than %d bytes", URL_MAX_BYTES);
	for (i = 0; i < n; i++)
		if (!url_char((unsigned char)url[i]))
			return nk_fail(e, NK_E_USAGE, "byte 0x%02x at %zu is not a URL character "
			    "(write it %%-encoded)", (unsigned char)url[i], i);
	if (strncasecmp(url, URL_SCHEME, URL_SCHEME_LEN) != 0)
		return nk_fail(e, NK_E_USAGE, "%s: only https:// is accepted (reports are "
		    "never sent without TLS)", url);
	if (url_host_port(url, host, sizeof(host), &port) != 0)
		return nk_fail(e, NK_E_USAGE, "%s: no valid host and port", url);
	return 0;
}

/* Appends len bytes of s to out (cap) at *n, truncating; keeps out
 * terminated. */
static void
put(char *out, size_t cap, size_t *n, const char *s, size_t len)
{
	if (*n + 1 >= cap)
		return;
	if (len > cap - 1 - *n)
		len = cap - 1 - *n;
	memcpy(out + *n, s, len);
	*n += len;
	out[*n] = '\0';
}

static int
scheme_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '+' || c == '-' || c == '.';
}

/* One URL: text[0..len) starts after "://". */
static void
redact_one(const char *u, size_t len, char *out, size_t cap, size_t *n)
{
	size_t auth = 0, at = len, i, tail;

	while (auth < len && u[auth] != '/' && u[auth] != '?' && u[auth] != '#')
		auth++;
	for (i = 0; i < auth; i++)
		if (u[i] == '@')
			at = i;
	if (at != len) {
		put(out, cap, n, URL_REDACTED "@", sizeof(URL_REDACTED));
		i = at + 1;
	} else {
		i = 0;
	}
	for (tail = auth; tail < len && u[tail] != '?' && u[tail] != '#'; tail++)
		;
	put(out, cap, n, u + i, tail - i);
	if (tail < len) {
		put(out, cap, n, u + tail, 1);
		put(out, cap, n, URL_REDACTED, sizeof(URL_REDACTED) - 1);
	}
}

size_t
url_redact(const char *text, char *out, size_t cap)
{
	size_t n = 0, i = 0, start = 0, end;

	if (cap == 0)
		return 0;
	out[0] = '\0';
	while (text[i] != '\0') {
		if (text[i] != ':' || text[i + 1] != '/' || text[i + 2] != '/' || i == 0 ||
		    !scheme_char((unsigned char)text[i - 1])) {
			i++;
			continue;
		}
		put(out, cap, &n, text + start, i + 3 - start);
		for (end = i += 3; url_char((unsigned char)text[end]); end++)
			;
		/* Sentence punctuation after a URL is not part of it. */
		while (end > i && strchr(".,;:!)'", text[end - 1]) != NULL)
			end--;
		redact_one(text + i, end - i, out, cap, &n);
		start = i = end;
	}
	put(out, cap, &n, text + start, strlen(text + start));
	return n;
}
