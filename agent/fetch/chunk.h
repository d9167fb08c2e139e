/* chunk: which bytes of an artifact each connection of a parallel
 * download fetches next. Pure bookkeeping: no I/O, no allocation, no
 * clock; par.c asks, writes the bytes, and tells.
 *
 * The artifact is handed out in fixed-size chunks, in order, and never
 * further than `slots` chunks past what the hash has consumed: the hash
 * follows the contiguous prefix, so it is never more than that behind
 * the download, and at the end at most that much is left to hash.
 *
 * A slot (a connection) owns one range [pos, end) at a time. A broken
 * transfer resumes its own range from pos; a slot that gives up leaves
 * its range to the next free one. Once every chunk is handed out, a slot
 * with nothing to do takes the upper half of the largest range still
 * open: its owner stops where the new owner starts, so the last ranges
 * end together. Before that, a slot that has waited long (the caller
 * says so) takes the upper half of the range the hash waits for (the
 * lowest open one): a connection much slower than the others then holds
 * them up only so long. (Not at once: the owner's connection is closed
 * where it stops, and a fresh one costs round trips and a slow start.) */
#ifndef NK_CHUNK_H
#define NK_CHUNK_H

#include <stdint.h>

#define CHUNK_SLOTS_MAX 16                /* connections at most */
#define CHUNK_SPLIT_MIN_BYTES (512 * 1024) /* no half of a split is smaller */
#define CHUNK_SPLIT_ALIGN_BYTES (64 * 1024) /* split points are multiples of this */

/* What chunk_take has for a slot. */
/* chunk_take's flags */
#define CHUNK_SPLIT_LOWEST 1u  /* the window is full: split the range the hash waits for */

enum chunk_take {
	CHUNK_WORK,   /* fetch [*from, *to) */
	CHUNK_WAIT,   /* nothing now: ask again when something moved */
	CHUNK_DONE,   /* every byte has been written */
};

struct chunk_slot {
	uint64_t pos, end;  /* still to come: [pos, end); pos == end: none */
	int retired;        /* gave up: takes nothing more */
};

struct chunk_span {
	uint64_t pos, end;
};

struct chunk_sched {
	uint64_t size;      /* bytes of the artifact */
	uint64_t chunk;     /* bytes handed out at a time */
	uint64_t window;    /* slots * chunk: how far past `hashed` work may reach */
	uint64_t next;      /* first byte never handed out (from at the start) */
	uint64_t hashed;    /* the hash has consumed [0, hashed) */
	unsigned nslots;
	struct chunk_slot slot[CHUNK_SLOTS_MAX];
	struct chunk_span orphan[CHUNK_SLOTS_MAX]; /* ranges of retired slots */
	unsigned norphans;
	unsigned splits;    /* ranges split, for reports */
};

/* Plans bytes [from, size) (the ones before are in and hashed) in chunks
 * of at most chunk bytes over slots connections (1 to CHUNK_SLOTS_MAX;
 * clamped): no more than (size - from) / slots so that every slot starts
 * with a chunk of its own, rounded up to CHUNK_SPLIT_ALIGN_BYTES. */
void chunk_init(struct chunk_sched *s, uint64_t from, uint64_t size, uint64_t chunk,
    unsigned slots);

/* Work for slot i: its own unfinished range first (a resume), then a
 * retired slot's, then the next chunk if the window allows, then half
 * of another slot's range (see above; flags: CHUNK_SPLIT_LOWEST). */
enum chunk_take chunk_take(struct chunk_sched *s, unsigned i, unsigned flags, uint64_t *from,
    uint64_t *to);

/* Bytes slot i may still write at its pos (its range may have shrunk
 * since the request was made: a split). */
uint64_t chunk_room(const struct chunk_sched *s, unsigned i);

/* Slot i wrote n bytes (at most chunk_room) at its pos. */
void chunk_wrote(struct chunk_sched *s, unsigned i, uint64_t n);

/* Where slot i stands: the next byte it writes. */
uint64_t chunk_pos(const struct chunk_sched *s, unsigned i);

/* Slot i gives up for good: its unfinished range goes to the next slot
 * free. */
void chunk_retire(struct chunk_sched *s, unsigned i);

/* Slots that have not given up. */
unsigned chunk_alive(const struct chunk_sched *s);

/* Every byte of [0, chunk_contig) has been written. */
uint64_t chunk_contig(const struct chunk_sched *s);

/* The hash has consumed [0, upto) (upto never goes back). */
void chunk_hashed(struct chunk_sched *s, uint64_t upto);

#endif
