/* curlrec: records every curl_easy_setopt the code under test makes, for
 * unit tests that must fail when a safety option goes missing or takes
 * another value. A test program includes it once and is linked with
 * -Wl,--wrap=curl_easy_setopt (tests/unit/wraps.mk); the real call still
 * happens, so the transfers behave as they would.
 *
 * Each call is one entry: its option, its long value, and for the string
 * options a test looks at (curlrec_keeps), its text. Past CURLREC_MAX
 * calls nothing more is recorded and the lookups fail the test, so a
 * count is never silently short. */
#ifndef NK_CURLREC_H
#define NK_CURLREC_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <curl/curl.h>

#include "nktest.h"

#define CURLREC_MAX 4096

CURLcode __real_curl_easy_setopt(CURL *c, CURLoption opt, ...);
CURLcode __wrap_curl_easy_setopt(CURL *c, CURLoption opt, ...);

static struct {
	CURLoption opt;
	long l;
	char s[256];
} seen[CURLREC_MAX];
static size_t nseen;
static int curlrec_full;   /* a call was not recorded */
static int urls_set;       /* CURLOPT_URL calls */

static inline int
curlrec_keeps(CURLoption opt)
{
	return opt == CURLOPT_URL || opt == CURLOPT_PROTOCOLS_STR ||
	    opt == CURLOPT_REDIR_PROTOCOLS_STR || opt == CURLOPT_CAINFO ||
	    opt == CURLOPT_PINNEDPUBLICKEY || opt == CURLOPT_RANGE || opt == CURLOPT_POSTFIELDS;
}

CURLcode
__wrap_curl_easy_setopt(CURL *c, CURLoption opt, ...)
{
	va_list ap;
	CURLcode rc;
	int keep = nseen < CURLREC_MAX;

	curlrec_full |= !keep;
	if (keep)
		seen[nseen].opt = opt;
	if (opt == CURLOPT_URL)
		urls_set++;
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT) {
		long v = va_arg(ap, long);
		if (keep)
			seen[nseen].l = v;
		rc = __real_curl_easy_setopt(c, opt, v);
	} else if (opt < CURLOPTTYPE_OFF_T) {
		void *p = va_arg(ap, void *);
		if (keep && curlrec_keeps(opt))
			snprintf(seen[nseen].s, sizeof(seen[nseen].s), "%s",
			    p != NULL ? (char *)p : "(null)");
		rc = __real_curl_easy_setopt(c, opt, p);
	} else {
		curl_off_t v = va_arg(ap, curl_off_t);
		rc = __real_curl_easy_setopt(c, opt, v);
	}
	va_end(ap);
	if (keep)
		nseen++;
	return rc;
}

static inline void
curlrec_reset(void)
{
	memset(seen, 0, sizeof(seen));
	nseen = 0;
	curlrec_full = 0;
	urls_set = 0;
}

static inline void
curlrec_complete(void)
{
	if (curlrec_full)
		fail_msg("more than %d curl_easy_setopt calls: raise CURLREC_MAX", CURLREC_MAX);
}

/* Calls that set opt. */
static inline size_t
curlrec_count(CURLoption opt)
{
	size_t i, n = 0;

	curlrec_complete();
	for (i = 0; i < nseen; i++)
		n += seen[i].opt == opt;
	return n;
}

/* Calls that set opt to value. */
static inline size_t
curlrec_count_value(CURLoption opt, long value)
{
	size_t i, n = 0;

	curlrec_complete();
	for (i = 0; i < nseen; i++)
		n += seen[i].opt == opt && seen[i].l == value;
	return n;
}

/* The text opt was last set to; NULL: never. */
static inline const char *
curlrec_last_str(CURLoption opt)
{
	const char *s = NULL;
	size_t i;

	curlrec_complete();
	for (i = 0; i < nseen; i++)
		if (seen[i].opt == opt)
			s = seen[i].s;
	return s;
}

/* opt was set to the text s at least once. */
static inline int
curlrec_saw_str(CURLoption opt, const char *s)
{
	size_t i;

	curlrec_complete();
	for (i = 0; i < nseen; i++)
		if (seen[i].opt == opt && strcmp(seen[i].s, s) == 0)
			return 1;
	return 0;
}

#endif
