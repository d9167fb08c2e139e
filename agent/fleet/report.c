/* report: milestone POSTs to a collector. */
#include "report.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "json.h"
#include "url.h"
#include "version.h"

int
report_nonce(char *out, size_t cap, struct nk_err *e)
{
	uint8_t b[REPORT_NONCE_BYTES];

	if (cap < 2 * sizeof(b) + 1)
		return nk_fail(e, NK_E_INTERNAL, "nonce buffer too small");
	if (sodium_init() < 0)
		return nk_fail(e, NK_E_INTERNAL, "libsodium failed to initialise");
	randombytes_buf(b, sizeof(b));
	sodium_bin2hex(out, cap, b, sizeof(b));
	return 0;
}

/* Appends to out at *n like snprintf, remembering an overflow. */
static void __attribute__((format(printf, 4, 5)))
put(char *out, size_t cap, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(out + (*n < cap ? *n : cap), *n < cap ? cap - *n : 0, fmt, ap);
	va_end(ap);
	*n += k > 0 ? (size_t)k : 0;
}

/* ,"key":"escaped value" (nothing when v is NULL), URLs in it redacted:
 * the report and last-result.json both leave the process. */
static void
put_str(char *out, size_t cap, size_t *n, const char *key, const char *text)
{
	char v[REPORT_BODY_MAX_BYTES];

	if (text == NULL)
		return;
	url_redact(text, v, sizeof(v));
	put(out, cap, n, ",\"%s\":", key);
	*n += json_str(out + (*n < cap ? *n : cap), *n < cap ? cap - *n : 0, v);
}

int
report_json(const struct report_ident *id, const struct report_msg *m, char *out,
    size_t cap, size_t *len, struct nk_err *e)
{
	size_t n = 0;

	put(out, cap, &n, "{\"event\":");
	n += json_str(out + (n < cap ? n : cap), n < cap ? cap - n : 0, m->event);
	put_str(out, cap, &n, "nonce", id->nonce);
	put(out, cap, &n, ",\"time\":%" PRIu64, m->time);
	put_str(out, cap, &n, "host", id->host);
	put_str(out, cap, &n, "command", id->command);
	put_str(out, cap, &n, "agent", NK_VERSION);
	put_str(out, cap, &n, "source", m->source);
	if (m->splay_s > 0)
		put(out, cap, &n, ",\"splay\":%" PRIu64, m->splay_s);
	if (m->bundle_name != NULL) {
		put(out, cap, &n, ",\"bundle\":{\"name\":");
		n += json_str(out + (n < cap ? n : cap), n < cap ? cap - n : 0, m->bundle_name);
		put(out, cap, &n, ",\"version\":%" PRIu64 "}", m->bundle_version);
	}
	put_str(out, cap, &n, "how", m->how);
	put_str(out, cap, &n, "mode", m->mode);
	if (m->mode != NULL)
		put(out, cap, &n, ",\"delay\":%" PRIu64, m->delay_s);
	if (m->revert_after_s > 0)
		put(out, cap, &n, ",\"revert_after\":%" PRIu64, m->revert_after_s);
	if (m->has_exit)
		put(out, cap, &n, ",\"exit\":%d", m->exit_status);
	put_str(out, cap, &n, "code", m->code);
	put_str(out, cap, &n, "message", m->message);
	put(out, cap, &n, "}");
	if (n >= cap) {
		if (cap > 0)
			out[0] = '\0';
		return nk_fail(e, NK_E_INTERNAL, "report: message over %zu bytes", cap);
	}
	*len = n;
	return 0;
}

static void
warn(const struct report *r, const char *msg)
{
	struct event ev = { .type = EV_INFO, .file = "report", .msg = msg };

	event_emit(&r->http.ev, &ev);
}

void
report_init(struct report *r, const char *url, const char *cacert,
    const struct report_ident *id, const struct event_sink *ev)
{
	struct nk_err e = { "" };
	char msg[NK_ERR_MAX + 64];

	memset(r, 0, sizeof(*r));
	r->id = *id;
	if (ev != NULL)
		r->http.ev = *ev;
	if (url == NULL || url[0] == '\0')
		return;
	if (url_https_check(url, &e) != 0 || http_global_init(&e) != 0 ||
	    castore_find("", cacert, &r->ca, &e) != 0) {
		snprintf(msg, sizeof(msg), "reporting is off: %s", e.msg);
		warn(r, msg);
		return;
	}
	r->http.cacert = r->ca.file[0] ? r->ca.file : NULL;
	r->http.capath = r->ca.dir[0] ? r->ca.dir : NULL;
	snprintf(r->url, sizeof(r->url), "%s", url);
}

/* A response body is not wanted: read and dropped. */
static size_t
discard(char *buf, size_t size, size_t n, void *arg)
{
	(void)buf;
	(void)arg;
	return size * n;
}

/* One POST; 0 or -1 with the reason in why. */
static int
post(const struct report *r, const char *body, size_t len, char *why, size_t cap)
{
	char cerr[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdr = NULL, *h;
	CURL *c;
	CURLcode cc = CURLE_FAILED_INIT;
	long status = 0;
	int bad = 0;

	if ((c = curl_easy_init()) == NULL) {
		snprintf(why, cap, "libcurl: out of memory");
		return -1;
	}
	if ((h = curl_slist_append(hdr, "Content-Type: application/json")) != NULL)
		hdr = h;
	/* The shared hardening first; then shorter limits, never weaker checks. */
	bad |= http_harden(c, &r->http, cerr) != 0;
	bad |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, REPORT_CONNECT_TIMEOUT_S) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_TIMEOUT, REPORT_TIMEOUT_S) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_URL, r->url) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_POSTFIELDS, body) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard) != CURLE_OK;
	if (bad)
		snprintf(why, cap, "libcurl refused a required safety option; not sent");
	else if ((cc = curl_easy_perform(c)) != CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (cc == CURLE_HTTP_RETURNED_ERROR)
			snprintf(why, cap, "HTTP %ld from the collector", status);
		else
			snprintf(why, cap, "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
	}
	curl_easy_cleanup(c);
	curl_slist_free_all(hdr);
	return bad || cc != CURLE_OK ? -1 : 0;
}

void
report_send(struct report *r, struct report_msg *m)
{
	struct nk_err e = { "" };
	char body[REPORT_BODY_MAX_BYTES], why[CURL_ERROR_SIZE + 64], msg[NK_ERR_MAX + 256];
	size_t len;

	if (r->url[0] == '\0')
		return;
	if (m->time == 0)
		m->time = (uint64_t)time(NULL);
	if (report_json(&r->id, m, body, sizeof(body), &len, &e) != 0) {
		warn(r, e.msg);
		return;
	}
	if (post(r, body, len, why, sizeof(why)) == 0) {
		r->failures = 0;
		r->sent++;
		return;
	}
	r->failures++;
	snprintf(msg, sizeof(msg), "'%s' not delivered to %s: %s; the run goes on", m->event,
	    r->url, why);
	if (r->failures >= REPORT_FAILURES_MAX)
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), " (no more reports: %u "
		    "failures in a row)", r->failures);
	warn(r, msg);
	if (r->failures >= REPORT_FAILURES_MAX)
		r->url[0] = '\0';
}
