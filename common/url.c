/* url: https URL checks and host/port extraction (pure, bounded). */
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
