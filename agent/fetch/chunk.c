/* chunk: the parallel download's schedule. */
#include "chunk.h"

#include <string.h>

void
chunk_init(struct chunk_sched *s, uint64_t from, uint64_t size, uint64_t chunk,
    unsigned slots)
{
	memset(s, 0, sizeof(*s));
	if (from > size)
		from = size;
	if (slots < 1)
		slots = 1;
	if (slots > CHUNK_SLOTS_MAX)
		slots = CHUNK_SLOTS_MAX;
	/* Every slot gets a chunk of its own at the start where it can. */
	if (chunk > (size - from) / slots)
		chunk = (size - from) / slots;
	chunk += (CHUNK_SPLIT_ALIGN_BYTES - chunk % CHUNK_SPLIT_ALIGN_BYTES) %
	    CHUNK_SPLIT_ALIGN_BYTES;
	if (chunk < CHUNK_SPLIT_ALIGN_BYTES)
		chunk = CHUNK_SPLIT_ALIGN_BYTES;
	s->size = size;
	s->next = s->hashed = from;
	s->chunk = chunk;
	s->nslots = slots;
	s->window = chunk * slots;
}

static int
open_range(const struct chunk_slot *sl)
{
	return sl->pos < sl->end;
}

uint64_t
chunk_contig(const struct chunk_sched *s)
{
	uint64_t c = s->next;
	unsigned i;

	for (i = 0; i < s->nslots; i++)
		if (open_range(&s->slot[i]) && s->slot[i].pos < c)
			c = s->slot[i].pos;
	for (i = 0; i < s->norphans; i++)
		if (s->orphan[i].pos < c)
			c = s->orphan[i].pos;
	return c;
}

/* The slot whose range an idle slot `me` should split, or -1. While
 * chunks remain, only the range the hash waits for (the lowest open
 * one) is worth it, and only when the hash does wait for it (not when
 * the hash itself is what holds the window); once every chunk is out,
 * the largest range. */
static int
victim(const struct chunk_sched *s, unsigned me, unsigned flags)
{
	uint64_t contig = chunk_contig(s), rem, best_rem = 0;
	unsigned j;
	int best = -1;

	if (s->next < s->size && (!(flags & CHUNK_SPLIT_LOWEST) ||
	    contig - s->hashed >= CHUNK_SPLIT_MIN_BYTES))
		return -1;
	for (j = 0; j < s->nslots; j++) {
		if (j == me || !open_range(&s->slot[j]))
			continue;
		rem = s->slot[j].end - s->slot[j].pos;
		if (s->next < s->size) {
			if (s->slot[j].pos == contig)
				return (int)j;
		} else if (rem > best_rem) {
			best_rem = rem;
			best = (int)j;
		}
	}
	return best;
}

/* Gives `me` the upper half of v's range; 0, or -1 when too small. */
static int
split(struct chunk_sched *s, unsigned me, unsigned v, uint64_t *from, uint64_t *to)
{
	struct chunk_slot *sv = &s->slot[v], *sm = &s->slot[me];
	uint64_t mid = sv->pos + (sv->end - sv->pos) / 2;

	mid -= mid % CHUNK_SPLIT_ALIGN_BYTES;
	if (mid < sv->pos + CHUNK_SPLIT_MIN_BYTES || sv->end < mid + CHUNK_SPLIT_MIN_BYTES)
		return -1;
	sm->pos = mid;
	sm->end = sv->end;
	sv->end = mid;
	s->splits++;
	*from = sm->pos;
	*to = sm->end;
	return 0;
}

enum chunk_take
chunk_take(struct chunk_sched *s, unsigned i, unsigned flags, uint64_t *from, uint64_t *to)
{
	struct chunk_slot *me = &s->slot[i];
	uint64_t len;
	unsigned j, low;
	int v;

	if (me->retired)
		return chunk_contig(s) == s->size ? CHUNK_DONE : CHUNK_WAIT;
	if (!open_range(me) && s->norphans > 0) {
		for (low = 0, j = 1; j < s->norphans; j++)
			if (s->orphan[j].pos < s->orphan[low].pos)
				low = j;
		me->pos = s->orphan[low].pos;
		me->end = s->orphan[low].end;
		s->orphan[low] = s->orphan[--s->norphans];
	}
	if (!open_range(me) && s->next < s->size) {
		len = s->size - s->next < s->chunk ? s->size - s->next : s->chunk;
		if (s->next + len <= s->hashed + s->window) {
			me->pos = s->next;
			me->end = s->next + len;
			s->next += len;
		}
	}
	if (open_range(me)) {
		*from = me->pos;
		*to = me->end;
		return CHUNK_WORK;
	}
	if ((v = victim(s, i, flags)) >= 0 && split(s, i, (unsigned)v, from, to) == 0)
		return CHUNK_WORK;
	return chunk_contig(s) == s->size ? CHUNK_DONE : CHUNK_WAIT;
}

uint64_t
chunk_room(const struct chunk_sched *s, unsigned i)
{
	return s->slot[i].end - s->slot[i].pos;
}

uint64_t
chunk_pos(const struct chunk_sched *s, unsigned i)
{
	return s->slot[i].pos;
}

void
chunk_wrote(struct chunk_sched *s, unsigned i, uint64_t n)
{
	struct chunk_slot *sl = &s->slot[i];

	sl->pos += n <= sl->end - sl->pos ? n : sl->end - sl->pos;
}

void
chunk_retire(struct chunk_sched *s, unsigned i)
{
	struct chunk_slot *sl = &s->slot[i];

	if (sl->retired)
		return;
	/* Each slot retires once: the orphans never outnumber the slots. */
	if (open_range(sl)) {
		s->orphan[s->norphans].pos = sl->pos;
		s->orphan[s->norphans].end = sl->end;
		s->norphans++;
	}
	sl->end = sl->pos;
	sl->retired = 1;
}

unsigned
chunk_alive(const struct chunk_sched *s)
{
	unsigned i, n = 0;

	for (i = 0; i < s->nslots; i++)
		n += !s->slot[i].retired;
	return n;
}

void
chunk_hashed(struct chunk_sched *s, uint64_t upto)
{
	if (upto > s->hashed)
		s->hashed = upto;
}
