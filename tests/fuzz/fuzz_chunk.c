/* fuzz_chunk: libFuzzer harness for the parallel download's schedule
 * (agent/fetch/chunk.c), driven by the input as a list of operations:
 * take, write, break, retire, hash. After each one: no byte is handed
 * out twice or written twice, nothing is written past a range's end,
 * every byte below chunk_contig was written, no work reaches further than
 * the window past the hash, and once no slot is left alive the run stops.
 * The run may start from a prefix already in (chunk_init's from): nothing
 * before it is handed out. At the end every slot still alive is driven
 * to completion. abort() on
 * any broken promise. Built by tests/fuzz/run.sh. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/fetch/chunk.c"

#define GRAIN 4096ULL
#define SIZE_MAX_BYTES (64ULL * 1024 * 1024)

static struct chunk_sched s;
static uint8_t seen[SIZE_MAX_BYTES / GRAIN + 1];
static int busy[CHUNK_SLOTS_MAX];
static uint64_t top, hashed, checked, base; /* base: the prefix already in */

static void
check(void)
{
	uint64_t c = chunk_contig(&s), b;
	unsigned i, j;

	if (c < checked || c > s.size)
		abort();
	for (b = checked / GRAIN; b < c / GRAIN; b++)
		if (!seen[b])
			abort();
	checked = c - c % GRAIN;
	if (top > hashed + s.window)
		abort();
	for (i = 0; i < s.nslots; i++) {
		if (s.slot[i].pos > s.slot[i].end || s.slot[i].end > s.next)
			abort();
		for (j = i + 1; j < s.nslots; j++)
			if (s.slot[i].pos < s.slot[j].end && s.slot[j].pos < s.slot[i].end)
				abort(); /* two slots own the same bytes */
	}
}

static void
take(unsigned i, unsigned flags)
{
	uint64_t f, t;

	if (busy[i])
		return;
	if (chunk_take(&s, i, flags, &f, &t) == CHUNK_WORK) {
		if (f >= t || t > s.size || f % GRAIN || f < base)
			abort();
		busy[i] = 1;
		if (t > top)
			top = t;
	}
}

static void
write_some(unsigned i, uint64_t n)
{
	uint64_t pos = chunk_pos(&s, i), b;

	if (!busy[i])
		return;
	if (n > chunk_room(&s, i))
		n = chunk_room(&s, i);
	for (b = pos / GRAIN; b < (pos + n) / GRAIN; b++) {
		if (seen[b])
			abort();
		seen[b] = 1;
	}
	chunk_wrote(&s, i, n);
	if (chunk_room(&s, i) == 0)
		busy[i] = 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t total, chunk, c, from, b;
	unsigned slots, i, k, rounds;
	size_t at = 4;

	if (size < 4)
		return 0;
	total = GRAIN * (1 + (((uint64_t)data[0] << 8 | data[1]) % (SIZE_MAX_BYTES / GRAIN)));
	chunk = CHUNK_SPLIT_ALIGN_BYTES * (1 + data[2] % 64);
	slots = 1 + data[3] % CHUNK_SLOTS_MAX;
	/* data[2]'s top two bits: a prefix already in (a stream that went
	 * parallel), 0 to 3 quarters of the file. */
	from = total / GRAIN * (data[2] >> 6) / 4 * GRAIN;
	chunk_init(&s, from, total, chunk, slots);
	memset(seen, 0, sizeof(seen));
	memset(busy, 0, sizeof(busy));
	for (b = 0; b < from / GRAIN; b++)
		seen[b] = 1;
	top = hashed = checked = base = from;
	for (; at + 1 < size; at += 2) {
		i = data[at] % slots;
		switch (data[at] / CHUNK_SLOTS_MAX % 5) {
		case 0: take(i, data[at + 1] & CHUNK_SPLIT_LOWEST); break;
		case 1: write_some(i, GRAIN * (1 + data[at + 1])); break;
		case 2: busy[i] = 0; break; /* the connection broke */
		case 3:
			if (chunk_alive(&s) > 1) {
				chunk_retire(&s, i);
				busy[i] = 0;
			}
			break;
		case 4:
			c = chunk_contig(&s);
			hashed += (c - hashed) * data[at + 1] / 255;
			chunk_hashed(&s, hashed);
			break;
		}
		check();
	}
	/* Whatever the history, the slots still alive finish the file. */
	for (rounds = 0; chunk_contig(&s) < s.size; rounds++) {
		if (rounds > 1000000)
			abort();
		for (k = 0; k < slots; k++) {
			take(k, CHUNK_SPLIT_LOWEST);
			write_some(k, 64 * GRAIN);
		}
		hashed = chunk_contig(&s);
		chunk_hashed(&s, hashed);
		check();
	}
	return 0;
}
