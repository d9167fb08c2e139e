/* par: one artifact over several connections at once. A single TCP flow
 * across a long or lossy path stays far below the link (its window grows
 * one segment per round trip and halves at every loss); N flows get
 * about N times as far. libcurl's multi interface drives one easy handle
 * per connection, all in this thread; chunk.c says which bytes each
 * fetches, each range is written at its offset into the staging file,
 * and follow.c hashes the contiguous prefix as it grows.
 *
 * Every guarantee of a single stream holds per range: https only and the
 * hardening of http_harden on each handle, a 206 must be exactly the
 * range asked for (else the source is refused: NK_E_HTTP), the server's
 * file must have the manifest's size (else NK_E_SIZE), nothing is
 * written past a range's end, a broken range resumes where it stopped,
 * transient failures are retried with backoff and Retry-After, the stall
 * and connect limits and the --timeout deadline apply. A range that keeps
 * failing on one source moves to the next (mirrors of the same signed
 * bundle: the hash decides); a server that ignores Range (200) ends the
 * parallel attempt and the caller fetches the artifact as one stream.
 *
 * With po->ramp (a stream measured too slow alone, fetch.c), the count
 * is measured instead of fixed, going on from that decision:
 * ramp.c decides from the aggregate rate, sampled RAMP_SAMPLE_S after each
 * change (RAMP_SETTLE_S left out for the new connections to get going);
 * each decision is an EV_INFO. Connections beyond the count finish the
 * range they hold and take no more. Where one connection is as fast as
 * more, the parallel path (a write per TLS record, the hash reading the
 * file back) costs CPU a single stream does not: once every range handed
 * out is in, par_get hands the prefix and its running hash back
 * (r->handover) for the caller to go on with one stream. */
#ifndef NK_PAR_H
#define NK_PAR_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "http.h"
#include "ramp.h"
#include "sha256.h"
#include "stage.h"

#define PAR_CHUNK_BYTES (16ULL * 1024 * 1024) /* handed out at a time (docs/bench.md) */
#define PAR_SPLIT_WAIT_S 2.0            /* idle this long behind a slow range: split it */
#define PAR_SOURCES_MAX 16
#define PAR_POLL_MS 250                /* the longest the loop waits without a reason */
#define PAR_BUFFER_BYTES (64L * 1024)  /* libcurl's receive buffer per connection */

struct par_opts {
	const char *name;           /* the artifact, for events and messages */
	const char *const *urls;    /* its URL at each source, in order of preference */
	size_t nurls;               /* 1 to PAR_SOURCES_MAX */
	uint64_t size;              /* exactly this many bytes (the signed manifest's) */
	unsigned connections;       /* 2 to CHUNK_SLOTS_MAX: at most */
	uint64_t chunk_bytes;       /* 0: PAR_CHUNK_BYTES */
	uint64_t from;              /* [0, from) is staged already (a stream that
	                             * measured itself too slow alone, fetch.c): */
	struct sha256 *hash;        /* hashed into this, still running; taken over */
	const struct ramp *ramp;    /* and measured so: the count goes on from it,
	                             * adding while they raise the rate; NULL: all
	                             * connections from the start */
};

struct par_result {
	uint8_t digest[SHA256_BYTES]; /* of the staged bytes, when complete */
	int single;                 /* a server ignored Range: nothing kept, use one stream */
	unsigned splits;            /* ranges split to keep every connection busy */
	unsigned retries;           /* failed attempts that were retried */
	unsigned connections;       /* the count in use at the end */
	uint64_t handover;          /* > 0: only [0, handover) is staged, hashed into
	                             * hash (running): one connection is as fast as
	                             * more, the rest comes as one stream (sink_adopt) */
	struct sha256 hash;
};

/* Fetches p->size bytes into st (empty, from stage_open) and hashes
 * them. 0 with r->single set: fetch it as one stream instead (st holds
 * garbage: reset it); 0 with r->handover: continue from there (above).
 * Codes as http_get's. */
int par_get(const struct http_opts *o, const struct par_opts *p, struct stage_file *st,
    struct par_result *r, struct nk_err *e);

#endif
