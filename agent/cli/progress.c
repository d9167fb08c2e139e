/* progress: human and machine output for events. */
#include "progress.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "json.h"
#include "url.h"

#define PROGRESS_BAR_WIDTH 24
#define PROGRESS_PLAIN_INTERVAL_S 5.0

void
progress_init(struct progress *p, int json)
{
	const char *term = getenv("TERM");

	memset(p, 0, sizeof(*p));
	/* A bar only where it can be redrawn: not on a dumb or unknown
	 * terminal such as an early-boot serial console. */
	p->mode = json ? PROGRESS_JSON : isatty(STDERR_FILENO) && term != NULL &&
	    *term != '\0' && strcmp(term, "dumb") != 0 ? PROGRESS_TTY : PROGRESS_PLAIN;
	p->out = json ? stdout : stderr;
}

void
progress_json_str(FILE *f, const char *s)
{
	char small[1024], *buf = small;
	size_t n = json_str(small, sizeof(small), s ? s : "");

	/* Events are short; a long one (a path, a URL) gets a buffer of its own. */
	if (n >= sizeof(small) && (buf = malloc(n + 1)) != NULL)
		json_str(buf, n + 1, s);
	fputs(buf != NULL ? buf : "\"\"", f);
	if (buf != small)
		free(buf);
}

static const char *
type_name(enum ev_type t)
{
	static const char *names[] = { "info", "start", "progress", "done", "retry",
		"resume", "restart", "mirror", "verified" };

	return (size_t)t < sizeof(names) / sizeof(names[0]) ? names[t] : "info";
}

static void
json_event(struct progress *p, const struct event *ev)
{
	FILE *f = p->out;

	fprintf(f, "{\"event\":\"%s\"", type_name(ev->type));
	if (ev->file) {
		fputs(",\"file\":", f);
		progress_json_str(f, ev->file);
	}
	if (ev->url) {
		fputs(",\"url\":", f);
		progress_json_str(f, ev->url);
	}
	if (ev->msg) {
		fputs(",\"message\":", f);
		progress_json_str(f, ev->msg);
	}
	if (ev->type == EV_PROGRESS || ev->type == EV_DONE || ev->type == EV_RESUME ||
	    ev->type == EV_START || ev->type == EV_RETRY)
		fprintf(f, ",\"bytes\":%" PRIu64 ",\"total\":%" PRIu64, ev->done, ev->total);
	if (ev->type == EV_PROGRESS || ev->type == EV_DONE)
		fprintf(f, ",\"seconds\":%.3f", ev->seconds);
	if (ev->type == EV_RETRY)
		fprintf(f, ",\"attempt\":%u", ev->attempt);
	fputs("}\n", f);
	fflush(f);
}

static void
human_size(uint64_t n, char *buf, size_t cap)
{
	if (n >= (1ULL << 30))
		snprintf(buf, cap, "%.2f GiB", (double)n / (1ULL << 30));
	else if (n >= (1ULL << 20))
		snprintf(buf, cap, "%.1f MiB", (double)n / (1ULL << 20));
	else if (n >= 1024)
		snprintf(buf, cap, "%.1f KiB", (double)n / 1024);
	else
		snprintf(buf, cap, "%" PRIu64 " B", n);
}

static void
draw_bar(struct progress *p, const struct event *ev)
{
	char bar[PROGRESS_BAR_WIDTH + 1], done[32], total[32], rate[32];
	double frac = ev->total ? (double)ev->done / (double)ev->total : 0;
	double bps = ev->seconds > 0 ? (double)ev->done / ev->seconds : 0;
	int i, fill = (int)(frac * PROGRESS_BAR_WIDTH);

	for (i = 0; i < PROGRESS_BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[PROGRESS_BAR_WIDTH] = '\0';
	human_size(ev->done, done, sizeof(done));
	human_size(ev->total, total, sizeof(total));
	human_size((uint64_t)bps, rate, sizeof(rate));
	fprintf(p->out, "\r\033[K%-8s [%s] %3d%% %s / %s  %s/s", ev->file ? ev->file : "",
	    bar, (int)(frac * 100), done, total, rate);
	if (bps > 0 && ev->total > ev->done)
		fprintf(p->out, "  ETA %.0fs", (double)(ev->total - ev->done) / bps);
	fflush(p->out);
	p->bar_shown = 1;
}

static void
end_bar(struct progress *p)
{
	if (p->bar_shown)
		fputc('\n', p->out);
	p->bar_shown = 0;
}

static void
human_event(struct progress *p, const struct event *ev)
{
	char a[32], b[32];
	FILE *f = p->out;
	const char *file = ev->file ? ev->file : "";

	switch (ev->type) {
	case EV_PROGRESS:
		if (p->mode == PROGRESS_TTY)
			draw_bar(p, ev);
		else if (ev->seconds - p->last_plain >= PROGRESS_PLAIN_INTERVAL_S) {
			p->last_plain = ev->seconds;
			human_size(ev->done, a, sizeof(a));
			human_size(ev->total, b, sizeof(b));
			fprintf(f, "nixos-kexec: %s: %s of %s\n", file, a, b);
		}
		return;
	case EV_START:
		p->last_plain = 0;
		end_bar(p);
		fprintf(f, "nixos-kexec: %s: fetching %s\n", file, ev->url ? ev->url : "");
		break;
	case EV_DONE:
		end_bar(p);
		human_size(ev->done, a, sizeof(a));
		human_size(ev->seconds > 0 ? (uint64_t)((double)ev->done / ev->seconds) : 0,
		    b, sizeof(b));
		fprintf(f, "nixos-kexec: %s: %s in %.1f s (%s/s)\n", file, a, ev->seconds, b);
		break;
	case EV_RETRY:
		end_bar(p);
		fprintf(f, "nixos-kexec: %s: attempt %u failed: %s; retrying\n", file,
		    ev->attempt, ev->msg ? ev->msg : "");
		break;
	case EV_RESUME:
		end_bar(p);
		fprintf(f, "nixos-kexec: %s: resuming at byte %" PRIu64 "\n", file, ev->done);
		break;
	case EV_RESTART:
		end_bar(p);
		fprintf(f, "nixos-kexec: %s: server ignored the range request; "
		    "starting this file over\n", file);
		break;
	case EV_MIRROR:
		end_bar(p);
		fprintf(f, "nixos-kexec: trying %s (%s)\n", ev->url ? ev->url : "",
		    ev->msg ? ev->msg : "");
		break;
	case EV_VERIFIED:
	case EV_INFO:
		end_bar(p);
		fprintf(f, "nixos-kexec: %s%s%s\n", file, *file ? ": " : "", ev->msg ? ev->msg : "");
		break;
	}
	fflush(f);
}

void
progress_event(void *ctx, const struct event *ev)
{
	struct progress *p = ctx;
	struct event r = *ev;
	char url[URL_MAX_BYTES + 16], msg[NK_ERR_MAX + 256];

	/* Events reach logs others read (cloud-init, journald): URLs and
	 * messages without credentials. */
	if (ev->url != NULL)
		r.url = (url_redact(ev->url, url, sizeof(url)), url);
	if (ev->msg != NULL)
		r.msg = (url_redact(ev->msg, msg, sizeof(msg)), msg);
	if (p->mode == PROGRESS_JSON)
		json_event(p, &r);
	else
		human_event(p, &r);
}

void
progress_result(struct progress *p, int code, int exit_status, const char *text)
{
	char msg[NK_ERR_MAX + 256];

	url_redact(text, msg, sizeof(msg));
	if (p->mode == PROGRESS_JSON) {
		fprintf(p->out, "{\"event\":\"result\",\"status\":\"%s\",\"exit\":%d,\"code\":\"%s\","
		    "\"message\":", code == 0 ? "ok" : "error", exit_status, nk_code_name(code));
		progress_json_str(p->out, msg);
		fputs("}\n", p->out);
		fflush(p->out);
		if (code == 0)
			return;
	}
	end_bar(p);
	fprintf(stderr, "nixos-kexec: %s%s\n", code == 0 ? "" : "error: ", msg);
}
