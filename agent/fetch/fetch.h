/* fetch: the verified download, in the order DESIGN.md fixes: manifest and
 * signature under hard caps, signature verified before the manifest is
 * parsed, then arch, version floor and validity window, then each artifact
 * streamed into a memfd while hashed, size and hash checked, and sealed.
 * Any failure releases everything: nothing staged survives it. */
#ifndef NK_FETCH_H
#define NK_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "http.h"
#include "manifest.h"
#include "minisig.h"
#include "source.h"
#include "stage.h"

#define FETCH_SOURCES_MAX 9      /* SOURCE and up to 8 mirrors */
#define FETCH_KEYS_MAX 8         /* trusted keys at once (rotation) */
#define FETCH_CLOCK_SKEW_S 300   /* "issued" may be this far in the future */
#define FETCH_LOCAL_CHUNK_BYTES (256 * 1024)
#define FETCH_CONNECTIONS_DEFAULT 16U   /* --connections (docs/bench.md: why 16) */
#define FETCH_PARALLEL_MIN_RTT_S 0.002  /* nearer servers: measured, from one stream */
#define FETCH_CONNECTIONS_MAX 16U       /* CHUNK_SLOTS_MAX */
#define FETCH_PARALLEL_MIN_BYTES (8ULL * 1024 * 1024) /* smaller: one stream */

struct fetch_opts {
	const char *sources[FETCH_SOURCES_MAX]; /* SOURCE, then mirrors in order */
	size_t nsources;
	const struct minisig_pubkey *keys;
	size_t nkeys;
	int allow_legacy;
	uint64_t min_version;
	const char *arch;  /* expected; NULL: this machine's uname -m */
	uint64_t now;      /* Unix seconds; 0: the clock */
	struct http_opts http;
	/* Called once the manifest is verified and checked, before any
	 * artifact is fetched (boot: is there RAM for it? the handoff). It may
	 * set *tail: bytes appended to the initrd after its hash was verified
	 * and before it is sealed; they must outlive fetch_run. */
	int (*on_manifest)(void *ctx, const struct manifest *m, const uint8_t **tail,
	    size_t *tail_len, struct nk_err *e);
	void *on_manifest_ctx;
	int manifest_only;             /* stop after the manifest (check) */
	/* Leave a format 2 manifest's store unfetched (boot --store stage1:
	 * the new system's stage 1 fetches it). Read again after
	 * on_manifest, like stage_dir. */
	int skip_store;
	/* NULL: artifacts are staged in sealed memfds (boot). A directory:
	 * in unnamed files there, for fetch -o to link into place, or for
	 * boot --stage disk. Read again after on_manifest, which may set it
	 * in the caller's struct. */
	const char *stage_dir;
	/* An https artifact of FETCH_PARALLEL_MIN_BYTES or more comes over
	 * this many connections at once (par.c); 1: one stream; 0: the
	 * default, FETCH_CONNECTIONS_DEFAULT where the round trip to the
	 * server (measured on the manifest's connection) is at least
	 * FETCH_PARALLEL_MIN_RTT_S, else measured: one plain stream first
	 * (http_get_until), stopped where it is too slow alone, then more
	 * connections from there while each raises the rate (par.c, ramp.h), up to
	 * FETCH_CONNECTIONS_MAX: on a LAN one flow fills the link and stays
	 * alone, a server that caps each connection gets many. */
	unsigned connections;
	unsigned connections_from;     /* fetch_run sets it: 1, a near server: one stream
	                                * first, measured (ramp.h); 0: none */
	uint64_t chunk_bytes;          /* par.c's range size; 0: PAR_CHUNK_BYTES */
};

struct fetch_result {
	struct manifest m;
	uint8_t manifest[MANIFEST_MAX_BYTES];
	size_t manifest_len;
	uint8_t sig[MINISIG_FILE_MAX_BYTES];
	size_t sig_len;
	struct stage_file kernel; /* sealed, read-only */
	struct stage_file initrd; /* sealed, read-only */
	struct stage_file store;  /* sealed, read-only; fd -1 when none or skipped */
	char origin[SOURCE_MAX_BYTES + 1]; /* the source that served the manifest */
};

/* Runs the whole verified fetch into r (caller-owned, may be large: put it
 * on the heap). On failure r holds nothing open. */
int fetch_run(const struct fetch_opts *o, struct fetch_result *r, struct nk_err *e);

/* Closes the staged files. */
void fetch_result_close(struct fetch_result *r);

/* Checks a verified manifest against the machine, the floor and the clock. */
int fetch_check_manifest(const struct manifest *m, const char *arch, uint64_t min_version,
    uint64_t now, struct nk_err *e);

#endif
