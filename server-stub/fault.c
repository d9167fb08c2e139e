/* fault: parsing fault specs and planning them per request. */
#include "fault.h"

#include <string.h>

static const char *const kind_names[FAULT_KINDS] = {
	[FAULT_TRUNCATE] = "truncate",
	[FAULT_CORRUPT] = "corrupt",
	[FAULT_THROTTLE] = "throttle",
	[FAULT_STATUS] = "status",
	[FAULT_DROP] = "drop",
	[FAULT_NORANGE] = "norange",
	[FAULT_REDIRECT] = "redirect",
	[FAULT_STALL] = "stall",
	[FAULT_HTTP09] = "http09",
	[FAULT_UNTERMINATED] = "unterminated",
	[FAULT_TLSHANG] = "tlshang",
	[FAULT_RETRYAFTER] = "retryafter",
	[FAULT_BADRANGE] = "badrange",
	[FAULT_FAILAFTER] = "failafter",
};

const char *
fault_kind_name(enum fault_kind k)
{
	return (unsigned)k < FAULT_KINDS ? kind_names[k] : "?";
}

/* A whole decimal string, no sign, no overflow. */
static int
parse_num(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static int
name_ok(const char *n)
{
	size_t i;

	if (n[0] == '\0' || n[0] == '/')
		return 0;
	for (i = 0; n[i] != '\0'; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z') ||
		    (n[i] >= '0' && n[i] <= '9') || strchr("._-/", n[i]) != NULL))
			return 0;
	return 1;
}

static int
url_ok(const char *u)
{
	size_t i;

	if (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0)
		return 0;
	for (i = 0; u[i] != '\0'; i++)
		if (u[i] <= 0x20 || u[i] >= 0x7f)
			return 0;
	return 1;
}

/* Splits off "@NAME" (the last '@') into out->name. */
static int
take_name(char *spec, struct fault *out, struct nk_err *e)
{
	char *at = strrchr(spec, '@');

	if (at == NULL)
		return 0;
	*at = '\0';
	if (strlen(at + 1) > FAULT_NAME_MAX_BYTES || !name_ok(at + 1))
		return nk_fail(e, NK_E_USAGE,
		    "bad @NAME '%s': use letters, digits, '.', '_', '-', '/'", at + 1);
	strcpy(out->name, at + 1);
	return 0;
}

/* "N" or "N:TIMES" into arg and remaining; TIMES must be at least 1. */
static int
parse_count(const char *args, uint64_t times_default, struct fault *out)
{
	char buf[64];
	char *colon;

	if (strlen(args) >= sizeof(buf))
		return -1;
	strcpy(buf, args);
	out->remaining = times_default;
	if ((colon = strchr(buf, ':')) != NULL) {
		*colon = '\0';
		if (parse_num(colon + 1, &out->remaining) != 0 || out->remaining == 0)
			return -1;
	}
	return parse_num(buf, &out->arg);
}

static int
parse_args(char *args, struct fault *out, struct nk_err *e)
{
	const char *kw = kind_names[out->kind];

	switch (out->kind) {
	case FAULT_TRUNCATE:
	case FAULT_CORRUPT:
		if (args == NULL || parse_num(args, &out->arg) != 0)
			return nk_fail(e, NK_E_USAGE, "%s needs a byte count: %s:N", kw, kw);
		return 0;
	case FAULT_THROTTLE:
		if (args == NULL || parse_num(args, &out->arg) != 0 || out->arg == 0)
			return nk_fail(e, NK_E_USAGE, "throttle needs bytes per second >= 1: throttle:BPS");
		return 0;
	case FAULT_STATUS:
		if (args == NULL || parse_count(args, 1, out) != 0 || out->arg < 200 || out->arg > 599)
			return nk_fail(e, NK_E_USAGE, "status needs a code 200-599 and a count >= 1: status:CODE[:N]");
		return 0;
	case FAULT_DROP:
		if (args == NULL || parse_count(args, 1, out) != 0)
			return nk_fail(e, NK_E_USAGE, "drop needs a byte count: drop:N[:TIMES]");
		return 0;
	case FAULT_STALL:
		if (args == NULL || parse_count(args, FAULT_UNLIMITED, out) != 0)
			return nk_fail(e, NK_E_USAGE, "stall needs a byte count: stall:N[:TIMES]");
		return 0;
	case FAULT_BADRANGE:
		if (args == NULL || parse_num(args, &out->arg) != 0 || out->arg == 0)
			return nk_fail(e, NK_E_USAGE, "badrange needs a byte count >= 1: badrange:N");
		return 0;
	case FAULT_FAILAFTER:
		/* "N:CODE": remaining counts the answers as usual, arg is CODE */
		if (args == NULL || strchr(args, ':') == NULL || parse_count(args, 1, out) != 0 ||
		    out->arg == 0 || out->remaining < 200 || out->remaining > 599)
			return nk_fail(e, NK_E_USAGE, "failafter needs a count >= 1 and a code "
			    "200-599: failafter:N:CODE");
		{
			uint64_t code = out->remaining;
			out->remaining = out->arg;
			out->arg = code;
		}
		return 0;
	case FAULT_NORANGE:
	case FAULT_HTTP09:
		if (args != NULL)
			return nk_fail(e, NK_E_USAGE, "%s takes no argument", kw);
		return 0;
	case FAULT_UNTERMINATED:
	case FAULT_TLSHANG:
		if (args != NULL && (parse_num(args, &out->remaining) != 0 || out->remaining == 0))
			return nk_fail(e, NK_E_USAGE, "%s takes a count >= 1: %s[:TIMES]", kw, kw);
		if (out->kind == FAULT_TLSHANG && out->name[0] != '\0')
			return nk_fail(e, NK_E_USAGE, "tlshang applies to connections, before "
			    "any path is known: no @NAME");
		return 0;
	case FAULT_RETRYAFTER:
		if (args == NULL || args[0] == '\0' || strlen(args) > FAULT_RETRY_AFTER_MAX_BYTES ||
		    strspn(args, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    " ,:-") != strlen(args))
			return nk_fail(e, NK_E_USAGE, "retryafter needs a value of digits, letters, "
			    "spaces, ',', ':', '-': retryafter:5 or retryafter:Wed, 21 Oct 2015 "
			    "07:28:00 GMT");
		strcpy(out->url, args);
		return 0;
	case FAULT_REDIRECT:
		if (args == NULL || strlen(args) > FAULT_URL_MAX_BYTES || !url_ok(args))
			return nk_fail(e, NK_E_USAGE,
			    "redirect needs an http:// or https:// URL without spaces: redirect:URL");
		strcpy(out->url, args);
		return 0;
	default:
		return nk_fail(e, NK_E_INTERNAL, "unknown fault kind");
	}
}

int
fault_parse(const char *spec, struct fault *out, struct nk_err *e)
{
	char buf[FAULT_SPEC_MAX_BYTES + 1];
	char *colon, *args = NULL;
	int k, rc;

	memset(out, 0, sizeof(*out));
	if (strlen(spec) > FAULT_SPEC_MAX_BYTES)
		return nk_fail(e, NK_E_USAGE, "fault spec longer than %d bytes", FAULT_SPEC_MAX_BYTES);
	strcpy(buf, spec);
	if ((rc = take_name(buf, out, e)) != 0)
		return rc;
	if ((colon = strchr(buf, ':')) != NULL) {
		*colon = '\0';
		args = colon + 1;
	}
	for (k = 0; k < FAULT_KINDS; k++)
		if (strcmp(buf, kind_names[k]) == 0)
			break;
	if (k == FAULT_KINDS)
		return nk_fail(e, NK_E_USAGE, "unknown fault '%s'", buf);
	out->kind = (enum fault_kind)k;
	out->remaining = FAULT_UNLIMITED;
	if ((rc = parse_args(args, out, e)) != 0)
		return rc;
	return 0;
}

int
fault_set_init(struct fault_set *s, struct nk_err *e)
{
	memset(s, 0, sizeof(*s));
	if (pthread_mutex_init(&s->lock, NULL) != 0)
		return nk_fail(e, NK_E_INTERNAL, "cannot create a mutex");
	return 0;
}

int
fault_set_add(struct fault_set *s, const char *spec, struct nk_err *e)
{
	int rc;

	if (s->n >= FAULT_MAX)
		return nk_fail(e, NK_E_USAGE, "more than %d faults", FAULT_MAX);
	if ((rc = fault_parse(spec, &s->f[s->n], e)) != 0) {
		nk_err_prefix(e, spec);
		return rc;
	}
	s->n++;
	return 0;
}

/* A fault without a name applies everywhere; "@NAME" matches a path equal
 * to "/NAME" or ending in "/NAME". */
static int
matches(const struct fault *f, const char *path)
{
	size_t pl = strlen(path), nl = strlen(f->name);

	if (nl == 0)
		return 1;
	return pl > nl && path[pl - nl - 1] == '/' && strcmp(path + pl - nl, f->name) == 0;
}

/* The first matching fault of a kind with uses left, or NULL. Caller
 * holds the lock when it will touch remaining. */
static struct fault *
find(struct fault_set *s, enum fault_kind k, const char *path)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->f[i].kind == k && s->f[i].remaining > 0 && matches(&s->f[i], path))
			return &s->f[i];
	return NULL;
}

static void
use(struct fault *f)
{
	if (f->remaining != FAULT_UNLIMITED)
		f->remaining--;
}

void
fault_plan_request(struct fault_set *s, const char *path, struct fault_plan *p)
{
	struct fault *f;
	size_t i;

	memset(p, 0, sizeof(*p));
	p->truncate = p->corrupt_off = p->drop_after = p->stall_after = FAULT_UNLIMITED;
	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->n; i++) {
		f = &s->f[i];
		if (f->kind != FAULT_FAILAFTER || !matches(f, path))
			continue;
		if (f->remaining > 0) {
			f->remaining--; /* one more answer as usual */
			break;
		}
		p->status = (int)f->arg;
		p->applied |= 1u << FAULT_FAILAFTER;
		goto out;
	}
	if ((f = find(s, FAULT_STATUS, path)) != NULL) {
		use(f);
		p->status = (int)f->arg;
		p->applied |= 1u << FAULT_STATUS;
		if ((f = find(s, FAULT_RETRYAFTER, path)) != NULL)
			p->retry_after = f->url;
		goto out;
	}
	if ((f = find(s, FAULT_REDIRECT, path)) != NULL) {
		p->redirect = f->url;
		p->applied |= 1u << FAULT_REDIRECT;
		goto out;
	}
	if ((f = find(s, FAULT_HTTP09, path)) != NULL) {
		p->http09 = 1;
		p->applied |= 1u << FAULT_HTTP09;
		goto out;
	}
	if ((f = find(s, FAULT_UNTERMINATED, path)) != NULL) {
		use(f);
		p->unterminated = 1;
	}
	if ((f = find(s, FAULT_TRUNCATE, path)) != NULL)
		p->truncate = f->arg;
	if ((f = find(s, FAULT_NORANGE, path)) != NULL)
		p->norange = 1;
	if ((f = find(s, FAULT_CORRUPT, path)) != NULL)
		p->corrupt_off = f->arg;
	if ((f = find(s, FAULT_THROTTLE, path)) != NULL)
		p->throttle_bps = f->arg;
	if ((f = find(s, FAULT_BADRANGE, path)) != NULL)
		p->badrange = f->arg;
out:
	pthread_mutex_unlock(&s->lock);
}

int
fault_conn_hangs(struct fault_set *s)
{
	struct fault *f;
	int hang = 0;

	pthread_mutex_lock(&s->lock);
	if ((f = find(s, FAULT_TLSHANG, "/")) != NULL) {
		use(f);
		hang = 1;
	}
	pthread_mutex_unlock(&s->lock);
	return hang;
}

void
fault_plan_body(struct fault_set *s, const char *path, uint64_t body_len,
    struct fault_plan *p)
{
	struct fault *f;

	pthread_mutex_lock(&s->lock);
	if ((f = find(s, FAULT_DROP, path)) != NULL && body_len > f->arg) {
		use(f);
		p->drop_after = f->arg;
		p->applied |= 1u << FAULT_DROP;
	}
	if ((f = find(s, FAULT_STALL, path)) != NULL && body_len > f->arg) {
		use(f);
		p->stall_after = f->arg;
		p->applied |= 1u << FAULT_STALL;
	}
	pthread_mutex_unlock(&s->lock);
}
