/* fetch: the verified download pipeline. */
#include "fetch.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "castore.h"
#include "fileio.h"
#include "par.h"
#include "sink.h"

static int
local_get(const char *path, struct sink *k, const struct event_sink *evs, struct nk_err *e)
{
	static uint8_t buf[FETCH_LOCAL_CHUNK_BYTES];
	struct event ev = { .type = EV_START, .file = k->name, .url = path, .total = k->max };
	ssize_t n;
	int fd, rc;

	event_emit(evs, &ev);
	if ((rc = fileio_open_regular(path, &fd, NULL, e)) != 0)
		return rc;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = nk_fail(e, NK_E_IO, "%s: %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if ((rc = sink_write(k, buf, (size_t)n)) != 0) {
			memcpy(e->msg, k->err.msg, sizeof(e->msg));
			break;
		}
	}
	close(fd);
	if (rc == 0) {
		ev = (struct event){ .type = EV_DONE, .file = k->name, .url = path,
			.done = sink_len(k), .total = k->max };
		event_emit(evs, &ev);
	}
	return rc;
}

/* Downloads one named file of source s into a fresh sink capped at max
 * (exact: max is the size the manifest promises), staged in dir (NULL: a
 * memfd). On success the sink's hash is still running: the caller
 * finishes it. */
static int
get_file(const struct fetch_opts *o, const struct source *s, const char *name,
    uint64_t max, int exact, const char *dir, struct sink *k, struct nk_err *e)
{
	char url[SOURCE_MAX_BYTES + MANIFEST_FILE_MAX_BYTES + 2];
	int rc;

	if ((rc = source_join(s, name, url, sizeof(url), e)) != 0)
		return rc;
	if ((rc = sink_open(k, name, max, dir, e)) != 0)
		return rc;
	if (exact)
		k->stage.want = max;
	rc = s->kind == SOURCE_HTTPS ? http_get(&o->http, url, k, e)
				     : local_get(url, k, &o->http.ev, e);
	if (rc != 0) {
		sink_close(k);
		stage_close(&k->stage);
		nk_err_prefix(e, name);
	}
	return rc;
}

/* Fetches a small file whole into buf. */
static int
get_small(const struct fetch_opts *o, const struct source *s, const char *name,
    uint8_t *buf, size_t cap, size_t *len, struct nk_err *e)
{
	struct sink k;
	int rc;

	if ((rc = get_file(o, s, name, cap, 0, NULL, &k, e)) != 0)
		return rc;
	sink_close(&k);
	rc = sink_read_all(&k, buf, cap, len, e);
	stage_close(&k.stage);
	return rc;
}

static void
emit_info(const struct fetch_opts *o, enum ev_type t, const char *file, const char *msg)
{
	struct event ev = { .type = t, .file = file, .msg = msg };

	event_emit(&o->http.ev, &ev);
}

int
fetch_check_manifest(const struct manifest *m, const char *arch, uint64_t min_version,
    uint64_t now, struct nk_err *e)
{
	if (strcmp(m->arch, arch) != 0)
		return nk_fail(e, NK_E_ARCH, "bundle is for %s, this machine is %s", m->arch, arch);
	if (m->version < min_version)
		return nk_fail(e, NK_E_VERSION, "bundle version %llu is below the floor %llu "
		    "(--min-version): refusing a rollback",
		    (unsigned long long)m->version, (unsigned long long)min_version);
	if (now >= m->expires)
		return nk_fail(e, NK_E_EXPIRED, "bundle expired at %llu, the clock says %llu; "
		    "publish a freshly signed bundle (or check this machine's clock)",
		    (unsigned long long)m->expires, (unsigned long long)now);
	if (m->issued > now + FETCH_CLOCK_SKEW_S)
		return nk_fail(e, NK_E_EXPIRED, "bundle issued at %llu, in the future of this "
		    "machine's clock (%llu): check the clock",
		    (unsigned long long)m->issued, (unsigned long long)now);
	return 0;
}

/* Steps 2-4: manifest and signature from source s, verified, then checked. */
static int
get_manifest(const struct fetch_opts *o, const struct source *s, const char *arch,
    uint64_t now, struct fetch_result *r, struct nk_err *e)
{
	struct minisig_sig sig;
	int rc;

	rc = get_small(o, s, "manifest", r->manifest, sizeof(r->manifest), &r->manifest_len, e);
	if (rc == NK_E_MISSING) /* no bundle here at all: the source is unusable */
		return nk_fail(e, NK_E_HTTP, "%s (no bundle at %s)", e->msg, s->base);
	if (rc != 0)
		return rc;
	rc = get_small(o, s, "manifest.minisig", r->sig, sizeof(r->sig), &r->sig_len, e);
	if (rc == NK_E_MISSING)
		return nk_fail(e, NK_E_MISSING, "manifest.minisig: not found: the bundle is "
		    "unsigned (sign it: nixos-kexec sign -s KEY DIR, or minisign -Sm manifest)");
	if (rc != 0)
		return rc;
	if ((rc = minisig_sig_parse(r->sig, r->sig_len, &sig, e)) != 0 ||
	    (rc = minisig_verify(o->keys, o->nkeys, &sig, r->manifest, r->manifest_len,
	    o->allow_legacy, e)) != 0) {
		nk_err_prefix(e, "manifest.minisig");
		return rc;
	}
	emit_info(o, EV_VERIFIED, "manifest", "signature verified");
	if ((rc = manifest_parse(r->manifest, r->manifest_len, &r->m, e)) != 0) {
		nk_err_prefix(e, "manifest");
		return rc;
	}
	if ((rc = fetch_check_manifest(&r->m, arch, o->min_version, now, e)) != 0) {
		nk_err_prefix(e, "manifest");
		return rc;
	}
	emit_info(o, EV_VERIFIED, "manifest", "arch, version and validity checked");
	return 0;
}

static unsigned
connections(const struct fetch_opts *o)
{
	if (o->connections == 0)
		return FETCH_CONNECTIONS_DEFAULT;
	return o->connections < FETCH_CONNECTIONS_MAX ? o->connections : FETCH_CONNECTIONS_MAX;
}

/* Several connections for a large artifact of an https source. */
static int
parallel_wanted(const struct fetch_opts *o, const struct source *s,
    const struct manifest_artifact *a)
{
	return s->kind == SOURCE_HTTPS && connections(o) > 1 &&
	    a->size >= FETCH_PARALLEL_MIN_BYTES;
}

/* How get_parallel ended. */
enum via {
	VIA_PAR,      /* every byte in *st, its digest in got */
	VIA_STREAM,   /* the server ignores Range: st is closed, fetch it whole */
	VIA_SINK,     /* one connection was as fast as more: all of it, or the
	               * rest, came as one stream into *k, whose hash is still
	               * running */
};

/* A near server's artifact starts as one stream (the cheap path: the
 * hash on the bytes as they arrive, a write per 512 KiB), measured as
 * par.c measures its connections; it stops where the ramp wants more
 * than one, and the parallel path goes on from there. A stream that is
 * fast enough alone (RAMP_ENOUGH_BPS) just runs to the end: a LAN pays
 * a clock read per piece of the body for the choice (docs/bench.md). */
struct probe {
	const struct fetch_opts *o;
	const char *file;
	struct ramp ramp;
	struct ramp_clock clock;
};

static int
probe_tick(void *ctx, double now, uint64_t bytes)
{
	struct probe *pb = ctx;
	double rate, end;

	if (pb->ramp.settled || !ramp_clock_tick(&pb->clock, &pb->ramp, now, bytes, &rate, &end))
		return 0;
	if (ramp_sample(&pb->ramp, rate))
		emit_info(pb->o, EV_INFO, pb->file, pb->ramp.why);
	return pb->ramp.n > 1;
}

/* The stream of a near download, into k: 0 with *stopped when the rest
 * is for the parallel path (st holds the prefix, *h its running hash),
 * else the whole artifact is in k (or rc says why not). */
static int
get_probed(const struct fetch_opts *o, const char *url, const struct manifest_artifact *a,
    struct probe *pb, struct sink *k, struct stage_file *st, struct sha256 *h, int *stopped,
    struct nk_err *e)
{
	struct http_until until = { probe_tick, pb };
	char msg[160];
	int rc;

	if ((rc = sink_open(k, a->file, a->size, o->stage_dir, e)) != 0)
		return rc;
	k->stage.want = a->size;
	snprintf(msg, sizeof(msg), "one stream first, measured: more connections if it is "
	    "under %.0f MB/s, while each adds at least %.0f%% of one's rate (up to %u)",
	    RAMP_ENOUGH_BPS / 1e6, RAMP_GAIN_MIN * 100, pb->ramp.max);
	emit_info(o, EV_INFO, a->file, msg);
	pb->clock.at = http_now() + RAMP_FIRST_S;
	rc = http_get_until(&o->http, url, k, &until, stopped, e);
	if (rc == 0 && *stopped)
		rc = sink_detach(k, st, h, e);
	else if (rc != 0)
		sink_close(k);
	if (rc != 0) {
		stage_close(&k->stage);
		nk_err_prefix(e, a->file);
	}
	return rc;
}

/* Artifact a over several connections into *st, from the https sources
 * starting at `at` (the others are mirrors its ranges may move to). */
static int
get_parallel(const struct fetch_opts *o, const struct source *srcs, size_t at,
    const struct manifest_artifact *a, struct stage_file *st, uint8_t got[SHA256_BYTES],
    struct sink *k, enum via *via, struct nk_err *e)
{
	static char urls[FETCH_SOURCES_MAX][SOURCE_MAX_BYTES + MANIFEST_FILE_MAX_BYTES + 2];
	const char *up[FETCH_SOURCES_MAX];
	struct par_opts po = { .name = a->file, .urls = up, .size = a->size,
		.connections = connections(o), .chunk_bytes = o->chunk_bytes };
	struct par_result pr;
	struct probe pb = { .o = o, .file = a->file };
	struct sha256 prefix = { 0 };
	const struct source *s;
	size_t i;
	int rc, stopped = 0;

	*via = VIA_PAR;
	for (i = 0; i < o->nsources; i++) {
		s = &srcs[(at + i) % o->nsources];
		if (s->kind != SOURCE_HTTPS)
			continue;
		if ((rc = source_join(s, a->file, urls[po.nurls], sizeof(urls[0]), e)) != 0)
			return rc;
		up[po.nurls] = urls[po.nurls];
		po.nurls++;
	}
	if (o->connections_from == 1) {
		ramp_init(&pb.ramp, 1, po.connections);
		rc = get_probed(o, up[0], a, &pb, k, st, &prefix, &stopped, e);
		if (rc != 0 || !stopped) {
			*via = VIA_SINK;
			return rc;
		}
		po.from = st->len;
		po.hash = &prefix;
		po.ramp = &pb.ramp;
	} else {
		if ((rc = stage_open(st, a->file, o->stage_dir, e)) != 0)
			return rc;
		st->want = a->size;
	}
	rc = par_get(&o->http, &po, st, &pr, e);
	if (rc != 0 || pr.single) {
		stage_close(st);
		if (rc != 0)
			nk_err_prefix(e, a->file);
		*via = pr.single ? VIA_STREAM : VIA_PAR;
		return rc;
	}
	if (pr.handover == 0) {
		memcpy(got, pr.digest, SHA256_BYTES);
		return 0;
	}
	*via = VIA_SINK;
	if ((rc = sink_adopt(k, a->file, a->size, st, &pr.hash, e)) != 0) {
		sha256_free(&pr.hash);
		stage_close(st);
		return rc;
	}
	if ((rc = http_get(&o->http, up[0], k, e)) != 0) {
		sink_close(k);
		stage_close(&k->stage);
		nk_err_prefix(e, a->file);
	}
	return rc;
}

/* Step 5: one artifact from the source at `at`, exact size and hash, then
 * sealed. *all_tried: the parallel path failed with every source. */
static int
get_artifact(const struct fetch_opts *o, const struct source *srcs, size_t at,
    const struct manifest_artifact *a, const uint8_t *tail, size_t tail_len,
    struct stage_file *out, int *all_tried, struct nk_err *e)
{
	uint8_t got[SHA256_BYTES];
	char hex_want[SHA256_HEX_BYTES], hex_got[SHA256_HEX_BYTES];
	struct stage_file st = { .fd = -1, .ro_fd = -1 };
	struct sink k;
	enum via via = VIA_STREAM;
	int rc;

	*all_tried = 0;
	if (parallel_wanted(o, &srcs[at], a)) {
		rc = get_parallel(o, srcs, at, a, &st, got, &k, &via, e);
		if (rc != 0) {
			/* The one-stream rest used only this source. */
			*all_tried = via != VIA_SINK;
			return rc;
		}
	}
	if (via == VIA_STREAM &&
	    (rc = get_file(o, &srcs[at], a->file, a->size, 1, o->stage_dir, &k, e)) != 0)
		return rc;
	if (via != VIA_PAR) {
		rc = sink_digest(&k, got, e); /* hashed as the bytes arrived */
		st = k.stage;
		if (rc != 0)
			goto fail;
		if (sink_len(&k) != a->size) {
			rc = nk_fail(e, NK_E_SIZE, "%s: size mismatch: expected %llu bytes, got %llu",
			    a->file, (unsigned long long)a->size, (unsigned long long)sink_len(&k));
			goto fail;
		}
	}
	if (!sha256_equal(got, a->sha256)) {
		sha256_hex(a->sha256, hex_want);
		sha256_hex(got, hex_got);
		rc = nk_fail(e, NK_E_HASH, "%s: sha256 mismatch: expected %s, got %s",
		    a->file, hex_want, hex_got);
		goto fail;
	}
	if (tail_len > 0 && (rc = stage_append(&st, tail, tail_len, e)) != 0)
		goto fail;
	if ((rc = stage_seal(&st, e)) != 0)
		goto fail;
	emit_info(o, EV_VERIFIED, a->file, st.memfd ? "size and sha256 match; sealed in RAM" :
	    "size and sha256 match; written back, read-only");
	*out = st;
	return 0;
fail:
	if (via != VIA_PAR)
		sink_close(&k);
	stage_close(&st);
	return rc;
}

static int
machine_arch(char *buf, size_t cap, struct nk_err *e)
{
	struct utsname u;

	if (uname(&u) != 0)
		return nk_fail(e, NK_E_INTERNAL, "uname: %s", strerror(errno));
	snprintf(buf, cap, "%s", u.machine);
	return 0;
}

static void
emit_mirror(const struct fetch_opts *o, const char *next, const char *why)
{
	struct event ev = { .type = EV_MIRROR, .url = next, .msg = why };

	event_emit(&o->http.ev, &ev);
}

/* The default number of connections, from the round trip to the server
 * that served the manifest (-1: not measured, a local source): far, the
 * most at once; near, measured from one stream up. */
static void
choose_connections(struct fetch_opts *lo, double rtt)
{
	char msg[160];
	struct event ev = { .type = EV_INFO, .msg = msg };
	int near = rtt >= 0 && rtt < FETCH_PARALLEL_MIN_RTT_S;

	lo->connections = FETCH_CONNECTIONS_DEFAULT;
	lo->connections_from = near ? 1 : 0;
	if (rtt < 0)
		return;
	if (near)
		snprintf(msg, sizeof(msg), "round trip %.1f ms: large artifacts as one "
		    "stream first, more connections while they add (up to %u)", rtt * 1000,
		    lo->connections);
	else
		snprintf(msg, sizeof(msg), "round trip %.1f ms: large artifacts over %u "
		    "connections", rtt * 1000, lo->connections);
	event_emit(&lo->http.ev, &ev);
}

void
fetch_result_close(struct fetch_result *r)
{
	stage_close(&r->kernel);
	stage_close(&r->initrd);
	stage_close(&r->store);
}

/* Each artifact from the source that served the manifest first, then from
 * the others in order; every copy is verified the same way. */
static int
get_artifacts(const struct fetch_opts *o, const struct source *srcs, size_t first,
    const uint8_t *tail, size_t tail_len, struct fetch_result *r, struct nk_err *e)
{
	const struct manifest_artifact *a[3] = { &r->m.kernel, &r->m.initrd, &r->m.store };
	struct stage_file *out[3] = { &r->kernel, &r->initrd, &r->store };
	size_t i, j, at, n = r->m.has_store && !o->skip_store ? 3 : 2;
	int rc = 0, all_tried, https_done;

	for (i = 0; i < n; i++) {
		https_done = 0;
		for (j = 0; j < o->nsources; j++) {
			at = (first + j) % o->nsources;
			/* The parallel path moved its ranges through every https
			 * source already; a local mirror it never used is next. */
			if (https_done && srcs[at].kind == SOURCE_HTTPS)
				continue;
			if (j > 0)
				emit_mirror(o, srcs[at].base, e->msg);
			if ((rc = get_artifact(o, srcs, at, a[i], i == 1 ? tail : NULL,
			    i == 1 ? tail_len : 0, out[i], &all_tried, e)) == 0)
				break;
			if (all_tried)
				https_done = 1;
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* For an https source, the CA store to check servers with, into lo's http
 * options (castore: the same order on every distribution), and said. */
static int
find_ca(struct fetch_opts *lo, struct castore *ca, struct nk_err *e)
{
	char msg[PATH_MAX + 64];
	struct event ev = { .type = EV_INFO, .msg = msg };
	int rc;

	if ((rc = castore_find("", lo->http.cacert, ca, e)) != 0)
		return rc;
	lo->http.cacert = ca->file[0] ? ca->file : NULL;
	lo->http.capath = ca->dir[0] ? ca->dir : NULL;
	snprintf(msg, sizeof(msg), "CA certificates: %s (%s)", ca->file[0] ? ca->file : ca->dir,
	    ca->from);
	event_emit(&lo->http.ev, &ev);
	return 0;
}

int
fetch_run(const struct fetch_opts *oin, struct fetch_result *r, struct nk_err *e)
{
	struct fetch_opts lo = *oin; /* with the CA store found */
	const struct fetch_opts *o = &lo;
	struct castore ca;
	int https = 0;
	struct source srcs[FETCH_SOURCES_MAX];
	char arch[MANIFEST_ARCH_MAX_BYTES + 1];
	const uint8_t *tail = NULL;
	size_t tail_len = 0;
	double rtt = -1;
	uint64_t now = o->now ? o->now : (uint64_t)time(NULL);
	size_t i;
	int rc = NK_E_USAGE;

	r->kernel.fd = r->kernel.ro_fd = r->initrd.fd = r->initrd.ro_fd = -1;
	r->store.fd = r->store.ro_fd = -1;
	if (o->nsources == 0 || o->nsources > FETCH_SOURCES_MAX)
		return nk_fail(e, NK_E_USAGE, "between 1 and %d sources", FETCH_SOURCES_MAX);
	if (o->nkeys == 0)
		return nk_fail(e, NK_E_USAGE, "no trusted public key (-P KEY or -p FILE)");
	if (o->arch != NULL)
		snprintf(arch, sizeof(arch), "%s", o->arch);
	else if ((rc = machine_arch(arch, sizeof(arch), e)) != 0)
		return rc;
	for (i = 0; i < o->nsources; i++) {
		if ((rc = source_parse(o->sources[i], &srcs[i], e)) != 0)
			return rc;
		https |= srcs[i].kind == SOURCE_HTTPS;
	}
	if ((rc = http_global_init(e)) != 0)
		return rc;
	if (https && (rc = find_ca(&lo, &ca, e)) != 0)
		return rc;
	if (https && (rc = http_share_open(&lo.http, e)) != 0)
		return rc;
	lo.http.rtt_s = &rtt;
	for (i = 0; i < o->nsources; i++) {
		if (i > 0)
			emit_mirror(o, srcs[i].base, e->msg);
		if ((rc = get_manifest(o, &srcs[i], arch, now, r, e)) == 0)
			break;
	}
	if (rc != 0)
		goto out;
	snprintf(r->origin, sizeof(r->origin), "%s", srcs[i].base);
	if (lo.connections == 0)
		choose_connections(&lo, rtt);
	if (o->on_manifest != NULL &&
	    (rc = o->on_manifest(o->on_manifest_ctx, &r->m, &tail, &tail_len, e)) != 0)
		goto out;
	/* boot --stage auto decides where the bytes wait once the sizes are
	 * known: on_manifest may have set the caller's stage_dir. */
	lo.stage_dir = oin->stage_dir;
	lo.skip_store = oin->skip_store;
	if (o->manifest_only)
		goto out;
	if ((rc = get_artifacts(o, srcs, i, tail, tail_len, r, e)) != 0)
		fetch_result_close(r);
out:
	http_share_close(&lo.http);
	return rc;
}
