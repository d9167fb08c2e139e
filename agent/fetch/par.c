/* par: parallel ranges on libcurl's multi interface. */
#include "par.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <curl/curl.h>

#include "chunk.h"
#include "follow.h"
#include "ramp.h"

#define PAR_PROGRESS_INTERVAL_S 0.25
#define PAR_EVENTS_MAX 32         /* epoll events taken at a time */

/* Why a write callback stopped a transfer. */
enum stop_why {
	STOP_NONE,
	STOP_CUT,       /* its range was split: the rest is another slot's */
	STOP_IGNORED,   /* 200 to a Range request: the server ignores Range */
	STOP_BADRANGE,  /* a 206 for other bytes than asked */
	STOP_SIZE,      /* the server's file has another length */
	STOP_IO,        /* staging failed */
};

struct par;

struct slot {
	struct par *p;
	unsigned i;
	CURL *c;
	int busy;                /* in the multi */
	int retired;
	size_t src;              /* the source it fetches from */
	unsigned tried;          /* sources it gave up on (bit per source) */
	double not_before;       /* backoff: no request before this */
	double idle_since;       /* waiting for work since; 0: not waiting */
	struct http_retry retry; /* its failures in a row */
	int resumed;             /* its range broke: the next request resumes it */
	uint64_t req_from, req_to; /* the Range asked: [from, to) */
	uint64_t at_start;       /* its position when the request started */
	int checked;             /* the response was checked at its first body byte */
	enum stop_why why;
	int why_code;
	struct nk_err why_err;
	struct http_head head;
	char cerr[CURL_ERROR_SIZE];
	char range[48];
};

struct par {
	const struct http_opts *o;
	const struct par_opts *po;
	struct stage_file *st;
	CURLM *m;
	int ep;                  /* epoll: the sockets libcurl asks to watch, and evfd */
	int evfd;                /* the hash thread's wake-ups */
	double timer_at;         /* when libcurl wants its timeout action; -1: never */
	struct chunk_sched s;
	struct follow f;
	struct slot slot[CHUNK_SLOTS_MAX];
	int dead[PAR_SOURCES_MAX];  /* sources refused or given up */
	uint64_t published;      /* contiguous bytes told to the hash */
	uint64_t written;        /* bytes in: po->from and what the slots wrote */
	unsigned failed;         /* failed attempts, all slots */
	int fatal;               /* the code that ends everything; 0: none */
	struct nk_err fatal_err;
	int single;              /* fall back to one stream */
	unsigned active;         /* slots that take new ranges: [0, active) */
	struct ramp ramp;        /* how active is found (from po->ramp) */
	int ramping;             /* still measuring */
	int handing;             /* settled on one: hand over at the next clean point */
	int handover;            /* handed over: [0, s.next) is in, nothing busy */
	struct ramp_clock clock; /* when it samples the rate of written */
	double t0, last_ev;
	struct par_result *r;
};

static void
emit(const struct par *p, const struct event *ev)
{
	event_emit(&p->o->ev, ev);
}

static void
emit_info(const struct par *p, const char *msg)
{
	struct event ev = { .type = EV_INFO, .file = p->po->name, .msg = msg };

	emit(p, &ev);
}

static void
set_fatal(struct par *p, int rc, const struct nk_err *e)
{
	if (p->fatal == 0) {
		p->fatal = rc;
		p->fatal_err = *e;
	}
}

/* Hashing moved: let a loop waiting in epoll_wait look again. */
static void
wake(void *ctx)
{
	struct par *p = ctx;
	uint64_t one = 1;

	if (write(p->evfd, &one, sizeof(one)) < 0) {
		/* the counter is full: a wake-up is pending anyway */
	}
}

/* libcurl's socket callback: watch what it asks for, in the epoll set.
 * (The socket interface, not curl_multi_perform: libcurl then touches
 * only the connections that have data, instead of polling each one on
 * every wake-up; that is most of the CPU a parallel fetch would spend in
 * libcurl.) */
static int
on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct par *p = userp;
	struct epoll_event ev = { .data.fd = fd };

	(void)easy;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		(void)epoll_ctl(p->ep, EPOLL_CTL_DEL, fd, NULL);
		return 0;
	}
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
	if (epoll_ctl(p->ep, EPOLL_CTL_MOD, fd, &ev) != 0 &&
	    (errno != ENOENT || epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev) != 0))
		return -1;
	return 0;
}

static int
on_timer(CURLM *m, long timeout_ms, void *userp)
{
	struct par *p = userp;

	(void)m;
	p->timer_at = timeout_ms < 0 ? -1 : http_now() + (double)timeout_ms / 1000;
	return 0;
}

/* The first body bytes: exactly the range asked for, of a file of the
 * manifest's size? Else the reason, for the transfer's end. */
static int
check(struct slot *sl)
{
	struct crange_answer a = { .has_range = sl->head.has_range,
		.range_malformed = sl->head.range_malformed, .range = sl->head.range, .clen = -1 };
	curl_off_t clen = -1;

	sl->checked = 1;
	curl_easy_getinfo(sl->c, CURLINFO_RESPONSE_CODE, &a.status);
	if (a.status == 200) {
		sl->why = STOP_IGNORED;
		return -1;
	}
	curl_easy_getinfo(sl->c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
	a.clen = clen;
	if ((sl->why_code = crange_check(&a, sl->req_from, sl->req_to, sl->p->po->size,
	    &sl->why_err)) == 0)
		return 0;
	sl->why = sl->why_code == NK_E_SIZE ? STOP_SIZE : STOP_BADRANGE;
	return -1;
}

/* Tells the hash how far the contiguous prefix reaches. */
static void
publish(struct par *p)
{
	uint64_t c = chunk_contig(&p->s);

	if (c > p->published) {
		p->published = c;
		follow_publish(&p->f, c);
	}
}

static size_t
on_body(char *buf, size_t size, size_t n, void *arg)
{
	struct slot *sl = arg;
	struct par *p = sl->p;
	size_t len = size * n;
	uint64_t room, take;
	struct event ev;
	double t;

	if (!sl->checked && check(sl) != 0)
		return 0;
	room = chunk_room(&p->s, sl->i);
	take = len < room ? len : room;
	if (take > 0) {
		if ((sl->why_code = stage_write_at(p->st, buf, (size_t)take,
		    chunk_pos(&p->s, sl->i), &sl->why_err)) != 0) {
			sl->why = STOP_IO;
			return 0;
		}
		chunk_wrote(&p->s, sl->i, take);
		p->written += take;
		publish(p);
	}
	if (take < len) {
		/* Past the end of a range that was split: the rest is fetched
		 * by another connection. */
		sl->why = STOP_CUT;
		return 0;
	}
	t = http_now();
	if (t - p->last_ev >= PAR_PROGRESS_INTERVAL_S) {
		p->last_ev = t;
		ev = (struct event){ .type = EV_PROGRESS, .file = p->po->name,
			.done = p->written, .total = p->po->size, .seconds = t - p->t0 };
		emit(p, &ev);
	}
	return len;
}

static int
slot_init(struct par *p, struct slot *sl, struct nk_err *e)
{
	int bad = 0;

	if ((sl->c = curl_easy_init()) == NULL)
		return nk_fail(e, NK_E_NOMEM, "libcurl: out of memory");
	if (http_harden(sl->c, p->o, sl->cerr) != 0)
		return nk_fail(e, NK_E_INTERNAL, "libcurl refused a required safety option "
		    "(too old?); refusing to download");
	/* OpenSSL hands over one TLS record (16 KiB) per read: a bigger
	 * buffer per connection only costs memory. */
	bad |= curl_easy_setopt(sl->c, CURLOPT_BUFFERSIZE, PAR_BUFFER_BYTES) != CURLE_OK;
	bad |= curl_easy_setopt(sl->c, CURLOPT_HEADERFUNCTION, http_head_cb) != CURLE_OK;
	bad |= curl_easy_setopt(sl->c, CURLOPT_HEADERDATA, &sl->head) != CURLE_OK;
	bad |= curl_easy_setopt(sl->c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
	bad |= curl_easy_setopt(sl->c, CURLOPT_WRITEDATA, sl) != CURLE_OK;
	bad |= curl_easy_setopt(sl->c, CURLOPT_PRIVATE, sl) != CURLE_OK;
	if (bad)
		return nk_fail(e, NK_E_INTERNAL, "libcurl refused an option");
	return 0;
}

/* The first source at or after `from` (in order, wrapping) still usable
 * and not in `skip` (a bit per source); -1 when none is. */
static long
live_source(const struct par *p, size_t from, unsigned skip)
{
	size_t k, s;

	for (k = 0; k < p->po->nurls; k++) {
		s = (from + k) % p->po->nurls;
		if (!p->dead[s] && !(skip & (1u << s)))
			return (long)s;
	}
	return -1;
}

static void
emit_mirror(struct par *p, size_t to, const char *why)
{
	struct event ev = { .type = EV_MIRROR, .url = p->po->urls[to], .msg = why };

	emit(p, &ev);
}

/* Starts slot sl on [from, to) of its source. */
static int
start(struct par *p, struct slot *sl, uint64_t from, uint64_t to, struct nk_err *e)
{
	long left = http_ms_left(p->o), src;
	struct event ev;

	/* Its source refused: the next one, one it has not given up on first. */
	if ((src = live_source(p, sl->src, sl->tried)) < 0 &&
	    (src = live_source(p, sl->src, 0)) < 0)
		return nk_fail(e, NK_E_INTERNAL, "no source left");
	if ((size_t)src != sl->src) {
		sl->src = (size_t)src;
		sl->retry = (struct http_retry){ 0 };
	}
	if (sl->c == NULL) {
		int rc = slot_init(p, sl, e);
		if (rc != 0)
			return rc;
	}
	if (sl->resumed) {
		ev = (struct event){ .type = EV_RESUME, .file = p->po->name,
			.url = p->po->urls[sl->src], .done = from, .total = p->po->size };
		emit(p, &ev);
		sl->resumed = 0;
	}
	sl->req_from = from;
	sl->req_to = to;
	sl->at_start = from;
	sl->checked = 0;
	sl->why = STOP_NONE;
	sl->cerr[0] = '\0';
	http_head_reset(&sl->head);
	snprintf(sl->range, sizeof(sl->range), "%" PRIu64 "-%" PRIu64, from, to - 1);
	if (curl_easy_setopt(sl->c, CURLOPT_URL, p->po->urls[sl->src]) != CURLE_OK ||
	    curl_easy_setopt(sl->c, CURLOPT_RANGE, sl->range) != CURLE_OK ||
	    curl_easy_setopt(sl->c, CURLOPT_TIMEOUT_MS, left > 0 ? left : 0L) != CURLE_OK)
		return nk_fail(e, NK_E_INTERNAL, "libcurl refused an option");
	if (curl_multi_add_handle(p->m, sl->c) != CURLM_OK)
		return nk_fail(e, NK_E_NOMEM, "libcurl: cannot start a transfer");
	sl->busy = 1;
	return 0;
}

/* Source s cannot be used (rc, e say why): every slot on it moves on at
 * its next request; with none left, that is the end. */
static void
source_dead(struct par *p, size_t s, int rc, const struct nk_err *e)
{
	long next;

	if (p->dead[s])
		return;
	p->dead[s] = 1;
	if ((next = live_source(p, s, 0)) < 0)
		set_fatal(p, rc, e);
	else
		emit_mirror(p, (size_t)next, e->msg);
}

/* Slots of the count in use ([0, active)) that have not given up. */
static unsigned
in_use_alive(const struct par *p)
{
	unsigned i, n = 0;

	for (i = 0; i < p->active && i < p->s.nslots; i++)
		n += !p->slot[i].retired;
	return n;
}

/* Slot sl failed so often in a row on its source that another source is
 * worth trying, if there is one it has not given up on; else it gives its
 * range to the others. */
static void
slot_exhausted(struct par *p, struct slot *sl, int rc, const struct nk_err *e)
{
	long next;

	sl->tried |= 1u << sl->src;
	next = live_source(p, sl->src, sl->tried);
	if (next >= 0) {
		emit_mirror(p, (size_t)next, e->msg);
		sl->src = (size_t)next;
		sl->retry = (struct http_retry){ 0 };
		sl->not_before = 0;
		return;
	}
	sl->retired = 1;
	chunk_retire(&p->s, sl->i);
	/* No connection left, or none of the count in use: slots beyond it
	 * take no new range, so nothing would fetch the ones given up. */
	if (chunk_alive(&p->s) == 0 || in_use_alive(p) == 0)
		set_fatal(p, rc, e);
}

/* A transfer ended: was its range done, is it worth another try, or is
 * the source (or everything) finished? */
static void
done(struct par *p, struct slot *sl, CURLcode cc)
{
	struct http_outcome out = { 0 };
	struct nk_err e = { "" };
	struct event ev;
	char msg[NK_ERR_MAX];
	unsigned pause;
	long status = 0;
	int rc;

	curl_multi_remove_handle(p->m, sl->c);
	sl->busy = 0;
	if ((cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && sl->why == STOP_CUT)) &&
	    chunk_room(&p->s, sl->i) == 0) {
		sl->retry = (struct http_retry){ 0 };
		return;
	}
	if (cc == CURLE_WRITE_ERROR && sl->why == STOP_IGNORED) {
		p->single = 1;
		return;
	}
	if (cc == CURLE_WRITE_ERROR && sl->why == STOP_IO) {
		set_fatal(p, sl->why_code, &sl->why_err);
		return;
	}
	if (cc == CURLE_WRITE_ERROR && (sl->why == STOP_BADRANGE || sl->why == STOP_SIZE)) {
		source_dead(p, sl->src, sl->why_code, &sl->why_err);
		return;
	}
	if (cc == CURLE_HTTP_RETURNED_ERROR &&
	    curl_easy_getinfo(sl->c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
	    status == 416) {
		if (sl->head.has_range && sl->head.range.complete >= 0)
			rc = nk_fail(&e, NK_E_SIZE, "the server has no bytes %s (416): its file "
			    "is %" PRId64 " bytes, the signed manifest says %" PRIu64, sl->range,
			    sl->head.range.complete, p->po->size);
		else
			rc = nk_fail(&e, NK_E_SIZE, "the server has no bytes %s (416): its file "
			    "is shorter than the %" PRIu64 " bytes the signed manifest says",
			    sl->range, p->po->size);
		source_dead(p, sl->src, rc, &e);
		return;
	}
	if (cc == CURLE_OK) {
		/* A clean end short of the range: a body shorter than announced. */
		rc = nk_fail(&e, NK_E_NET, "the response ended at byte %" PRIu64 " of the "
		    "range %s", chunk_pos(&p->s, sl->i), sl->range);
		out.transient = 1;
	} else {
		rc = http_failed(sl->c, (int)cc, &sl->head, sl->cerr, p->o, &out, &e);
	}
	p->failed++;
	if (!out.transient) {
		source_dead(p, sl->src, rc, &e);
		return;
	}
	sl->resumed = chunk_room(&p->s, sl->i) > 0;
	snprintf(msg, sizeof(msg), "bytes %s: %s", sl->range, e.msg);
	ev = (struct event){ .type = EV_RETRY, .file = p->po->name, .url = p->po->urls[sl->src],
		.msg = msg, .attempt = p->failed, .done = p->written, .total = p->po->size };
	switch (http_retry_next(p->o, &sl->retry, p->failed,
	    chunk_pos(&p->s, sl->i) >= sl->at_start + HTTP_PROGRESS_MIN_BYTES, &out, &ev,
	    &pause, &e)) {
	case HTTP_RETRY_SPENT:
	case HTTP_RETRY_LATE:
		set_fatal(p, rc, &e);
		return;
	case HTTP_RETRY_STUCK:
		/* Not all of it spent: another source, or the other slots. */
		memcpy(e.msg, msg, sizeof(msg));
		slot_exhausted(p, sl, rc, &e);
		return;
	case HTTP_RETRY_AGAIN:
		break;
	}
	p->r->retries++;
	sl->not_before = http_now() + pause / 1000.0;
}

/* Every range handed out is in and no transfer runs: [0, s.next) is
 * the whole of what is staged. */
static int
handover_point(const struct par *p)
{
	unsigned i;

	for (i = 0; i < p->s.nslots; i++)
		if (p->slot[i].busy)
			return 0;
	return p->s.next > 0 && p->s.norphans == 0 && chunk_contig(&p->s) == p->s.next;
}

/* Hands work to every idle slot whose backoff is over; *wait_ms is
 * lowered to the nearest end of a backoff. */
static int
dispatch(struct par *p, int *wait_ms, struct nk_err *e)
{
	double now = http_now(), split_at;
	uint64_t from, to;
	unsigned i, flags;
	int rc, ms;

	chunk_hashed(&p->s, follow_hashed(&p->f));
	if (p->handing && handover_point(p)) {
		p->handover = 1;
		return 0;
	}
	for (i = 0; i < p->s.nslots && p->fatal == 0; i++) {
		struct slot *sl = &p->slot[i];

		if (sl->busy || sl->retired)
			continue;
		/* Beyond the count: only what it holds (a resume). */
		if (i >= p->active && chunk_room(&p->s, i) == 0)
			continue;
		if (now < sl->not_before) {
			ms = (int)((sl->not_before - now) * 1000) + 1;
			if (ms < *wait_ms)
				*wait_ms = ms;
			continue;
		}
		/* Behind a slow range for long: take half of it. */
		flags = sl->idle_since > 0 && now - sl->idle_since >= PAR_SPLIT_WAIT_S ?
		    CHUNK_SPLIT_LOWEST : 0;
		switch (chunk_take(&p->s, i, flags, &from, &to)) {
		case CHUNK_WORK:
			sl->idle_since = 0;
			if ((rc = start(p, sl, from, to, e)) != 0)
				return rc;
			break;
		case CHUNK_WAIT:
			if (sl->idle_since == 0)
				sl->idle_since = now;
			split_at = sl->idle_since + PAR_SPLIT_WAIT_S;
			if (!flags && (ms = (int)((split_at - now) * 1000) + 1) < *wait_ms)
				*wait_ms = ms;
			follow_want_wake(&p->f);
			break;
		case CHUNK_DONE:
			break;
		}
	}
	return 0;
}

/* Ends the transfers libcurl says are done; how many. */
static int
reap(struct par *p)
{
	CURLMsg *msg;
	struct slot *sl;
	int left, n = 0;

	while ((msg = curl_multi_info_read(p->m, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&sl);
		done(p, sl, msg->data.result);
		n++;
	}
	return n;
}

/* Waits up to wait_ms for a socket, a wake-up or libcurl's timer, and
 * lets libcurl act on what came. */
static int
wait_and_act(struct par *p, int wait_ms, struct nk_err *e)
{
	struct epoll_event ev[PAR_EVENTS_MAX];
	uint64_t drain;
	double now = http_now();
	int n, i, running, flags;

	if (p->timer_at >= 0) {
		int t = p->timer_at <= now ? 0 : (int)((p->timer_at - now) * 1000) + 1;
		if (t < wait_ms)
			wait_ms = t;
	}
	n = epoll_wait(p->ep, ev, PAR_EVENTS_MAX, wait_ms);
	if (n < 0 && errno != EINTR)
		return nk_fail(e, NK_E_INTERNAL, "epoll_wait: %s", strerror(errno));
	for (i = 0; i < n; i++) {
		if (ev[i].data.fd == p->evfd) {
			if (read(p->evfd, &drain, sizeof(drain)) < 0) {
				/* nothing pending: fine */
			}
			continue;
		}
		flags = (ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
		    (ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
		    (ev[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
		if (curl_multi_socket_action(p->m, ev[i].data.fd, flags, &running) != CURLM_OK)
			return nk_fail(e, NK_E_INTERNAL, "libcurl: the transfers failed");
	}
	if (p->timer_at >= 0 && http_now() >= p->timer_at) {
		p->timer_at = -1;
		if (curl_multi_socket_action(p->m, CURL_SOCKET_TIMEOUT, 0, &running) != CURLM_OK)
			return nk_fail(e, NK_E_INTERNAL, "libcurl: the transfers failed");
	}
	return 0;
}

/* Measures the aggregate rate and lets ramp.c change the count; *wait_ms
 * is lowered to the end of the sample. */
static void
ramp_tick(struct par *p, int *wait_ms)
{
	double now = http_now(), end, rate;
	int ms;

	if (!p->ramping)
		return;
	if (ramp_clock_tick(&p->clock, &p->ramp, now, p->written, &rate, &end)) {
		if (ramp_sample(&p->ramp, rate)) {
			p->active = p->ramp.n;
			emit_info(p, p->ramp.why);
		}
		p->ramping = !p->ramp.settled;
		p->handing = p->ramp.settled && p->active == 1;
		return;
	}
	if ((ms = (int)((end - now) * 1000) + 1) < *wait_ms)
		*wait_ms = ms;
}

static int
run(struct par *p, struct nk_err *e)
{
	int wait_ms, rc;

	for (;;) {
		if (p->fatal != 0 || p->single || p->handover)
			return 0;
		if (chunk_contig(&p->s) == p->po->size)
			return 0;
		if (http_ms_left(p->o) < 0) {
			struct nk_err d;
			rc = http_deadline_fail(p->o, &d);
			set_fatal(p, rc, &d);
			return 0;
		}
		wait_ms = PAR_POLL_MS;
		ramp_tick(p, &wait_ms);
		if ((rc = dispatch(p, &wait_ms, e)) != 0)
			return rc;
		if (p->handover)
			return 0;
		if (reap(p) > 0)
			continue; /* hand out the next range at once */
		if ((rc = wait_and_act(p, wait_ms, e)) != 0)
			return rc;
		reap(p);
	}
}

static void
cleanup(struct par *p)
{
	unsigned i;

	for (i = 0; i < CHUNK_SLOTS_MAX; i++) {
		if (p->slot[i].c == NULL)
			continue;
		if (p->slot[i].busy)
			curl_multi_remove_handle(p->m, p->slot[i].c);
		curl_easy_cleanup(p->slot[i].c);
		p->slot[i].c = NULL;
	}
	if (p->m != NULL)
		curl_multi_cleanup(p->m);
	p->m = NULL;
	if (p->ep >= 0)
		close(p->ep);
	if (p->evfd >= 0)
		close(p->evfd);
	p->ep = p->evfd = -1;
}

int
par_get(const struct http_opts *o, const struct par_opts *po, struct stage_file *st,
    struct par_result *r, struct nk_err *e)
{
	struct par *p;
	struct event ev;
	char msg[160];
	uint64_t chunk = po->chunk_bytes ? po->chunk_bytes : PAR_CHUNK_BYTES;
	unsigned i;
	int rc;

	memset(r, 0, sizeof(*r));
	if (po->nurls == 0 || po->nurls > PAR_SOURCES_MAX || po->from > po->size ||
	    (po->from > 0) != (po->hash != NULL)) {
		rc = nk_fail(e, NK_E_INTERNAL, "par_get: 1 to %d sources, and a prefix with "
		    "its hash", PAR_SOURCES_MAX);
		goto early;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		rc = nk_fail(e, NK_E_NOMEM, "out of memory");
		goto early;
	}
	p->ep = p->evfd = -1;
	p->timer_at = -1;
	p->o = o;
	p->po = po;
	p->st = st;
	p->r = r;
	chunk_init(&p->s, po->from, po->size, chunk, po->connections);
	p->written = po->from;
	for (i = 0; i < CHUNK_SLOTS_MAX; i++) {
		p->slot[i].p = p;
		p->slot[i].i = i;
	}
	if ((p->m = curl_multi_init()) == NULL) {
		rc = nk_fail(e, NK_E_NOMEM, "libcurl: out of memory");
		goto out;
	}
	/* One transfer per connection, also where HTTP/2 could multiplex
	 * them: the point is several TCP flows. */
	if ((p->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (p->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    epoll_ctl(p->ep, EPOLL_CTL_ADD, p->evfd,
	    &(struct epoll_event){ .events = EPOLLIN, .data.fd = p->evfd }) != 0) {
		rc = nk_fail(e, NK_E_NOMEM, "epoll: %s", strerror(errno));
		goto out;
	}
	if (curl_multi_setopt(p->m, CURLMOPT_PIPELINING, CURLPIPE_NOTHING) != CURLM_OK ||
	    curl_multi_setopt(p->m, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
	    curl_multi_setopt(p->m, CURLMOPT_SOCKETDATA, p) != CURLM_OK ||
	    curl_multi_setopt(p->m, CURLMOPT_TIMERFUNCTION, on_timer) != CURLM_OK ||
	    curl_multi_setopt(p->m, CURLMOPT_TIMERDATA, p) != CURLM_OK) {
		rc = nk_fail(e, NK_E_INTERNAL, "libcurl refused a multi option");
		goto out;
	}
	if ((rc = follow_start(&p->f, st->fd, po->from, po->hash, wake, p, e)) != 0)
		goto out;
	p->t0 = p->last_ev = http_now();
	ev = (struct event){ .type = EV_START, .file = po->name, .url = po->urls[0],
		.total = po->size };
	emit(p, &ev);
	p->active = p->s.nslots;
	if (po->ramp != NULL) {
		/* Measured already (one stream): go on from its decision. */
		p->ramp = *po->ramp;
		p->active = p->ramp.n < p->s.nslots ? p->ramp.n : p->s.nslots;
		p->ramping = !p->ramp.settled;
		p->clock.at = p->t0 + RAMP_SETTLE_S;
		ev = (struct event){ .type = EV_RESUME, .file = po->name, .url = po->urls[0],
			.done = po->from, .total = po->size };
		emit(p, &ev);
		snprintf(msg, sizeof(msg), "from byte %" PRIu64 ": %u connection%s, more while "
		    "each adds at least %.0f%% of one's rate (up to %u), ranges of %.3g MiB",
		    po->from, p->active, p->active == 1 ? "" : "s", RAMP_GAIN_MIN * 100,
		    p->s.nslots, (double)p->s.chunk / (1024 * 1024));
	} else {
		snprintf(msg, sizeof(msg), "%u connections, ranges of %.3g MiB", p->s.nslots,
		    (double)p->s.chunk / (1024 * 1024));
	}
	emit_info(p, msg);
	rc = run(p, e);
	follow_quiet(&p->f); /* its wake() writes to evfd */
	cleanup(p);
	if (rc == 0 && p->fatal != 0) {
		rc = p->fatal;
		*e = p->fatal_err;
	}
	if (rc == 0 && p->single) {
		r->single = 1;
		snprintf(msg, sizeof(msg), "the server ignores Range requests: fetching it as "
		    "one stream");
		emit_info(p, msg);
	}
	if (rc != 0 || r->single) {
		follow_stop(&p->f);
		goto out;
	}
	if (p->handover && chunk_contig(&p->s) < po->size) {
		r->handover = p->s.next;
		r->connections = 1;
		snprintf(msg, sizeof(msg), "1 connection is as fast as more: the rest as one "
		    "stream from byte %" PRIu64, r->handover);
		emit_info(p, msg);
		rc = follow_handover(&p->f, r->handover, &r->hash, e);
		goto out;
	}
	if ((rc = follow_finish(&p->f, po->size, r->digest, e)) != 0)
		goto out;
	r->splits = p->s.splits;
	r->connections = p->active;
	snprintf(msg, sizeof(msg), "%u connection%s: %u ranges split, %u retries",
	    p->active, p->active == 1 ? "" : "s", r->splits, r->retries);
	emit_info(p, msg);
	ev = (struct event){ .type = EV_DONE, .file = po->name, .url = po->urls[0],
		.done = po->size, .total = po->size, .seconds = http_now() - p->t0 };
	emit(p, &ev);
out:
	cleanup(p);
	free(p);
early:
	if (po->hash != NULL)
		sha256_free(po->hash); /* unless follow_start took it */
	return rc;
}
