/* Unit tests for agent/fetch/chunk.c, the schedule of a parallel
 * download. The threats: a byte fetched twice or never, a range written
 * past its end, the hash left further behind than the window allows, a
 * slow connection holding every other one idle, and a connection that
 * gives up taking its range with it. The random runs are seeded (the
 * seed is printed on failure) and check every byte at 4 KiB grain. */
#include "chunk.h"
#include "nktest.h"

#define MiB (1024ULL * 1024)
#define GRAIN 4096ULL

static unsigned flags; /* what the next take passes */

static enum chunk_take
take(struct chunk_sched *s, unsigned i, uint64_t *from, uint64_t *to)
{
	return chunk_take(s, i, flags, from, to);
}

/* Takes for slot i and checks it got exactly [want_from, want_to). */
static void
expect_work(struct chunk_sched *s, unsigned i, uint64_t want_from, uint64_t want_to)
{
	uint64_t f = 0, t = 0;

	assert_int_equal(take(s, i, &f, &t), CHUNK_WORK);
	assert_int_equal(f, want_from);
	assert_int_equal(t, want_to);
}

static void
expect_wait(struct chunk_sched *s, unsigned i)
{
	uint64_t f, t;

	assert_int_equal(take(s, i, &f, &t), CHUNK_WAIT);
}

static void
t_chunks_in_order(void **st)
{
	struct chunk_sched s;

	(void)st;
	chunk_init(&s, 0, 40 * MiB, 4 * MiB, 4);
	expect_work(&s, 0, 0, 4 * MiB);
	expect_work(&s, 1, 4 * MiB, 8 * MiB);
	expect_work(&s, 2, 8 * MiB, 12 * MiB);
	expect_work(&s, 3, 12 * MiB, 16 * MiB);
}

/* A stream brought [0, from) (fetch.c's first stream, stopped to go
 * parallel): nothing before it is handed out, chunks are sized from the
 * rest, the window and the contiguous prefix start there. */
static void
t_from_a_prefix(void **st)
{
	struct chunk_sched s;
	uint64_t from = 3 * MiB + 12345, f, t;

	(void)st;
	chunk_init(&s, from, 40 * MiB, 16 * MiB, 4);
	assert_int_equal(chunk_contig(&s), from);
	/* (40 MiB - from) / 4, rounded up to 64 KiB. */
	assert_int_equal(s.chunk, 9 * MiB + 256 * 1024);
	expect_work(&s, 0, from, from + s.chunk);
	expect_work(&s, 1, from + s.chunk, from + 2 * s.chunk);
	expect_work(&s, 2, from + 2 * s.chunk, from + 3 * s.chunk);
	expect_work(&s, 3, from + 3 * s.chunk, 40 * MiB);
	chunk_wrote(&s, 0, s.chunk);
	assert_int_equal(chunk_contig(&s), from + s.chunk);
	/* Every byte from there on was handed out once: nothing more. */
	chunk_wrote(&s, 1, s.chunk);
	chunk_wrote(&s, 2, s.chunk);
	chunk_wrote(&s, 3, 40 * MiB - from - 3 * s.chunk);
	assert_int_equal(chunk_contig(&s), 40 * MiB);
	assert_int_equal(take(&s, 0, &f, &t), CHUNK_DONE);
	/* All of it in already: done at once; past the end: clamped. */
	chunk_init(&s, 40 * MiB, 40 * MiB, 16 * MiB, 4);
	assert_int_equal(take(&s, 0, &f, &t), CHUNK_DONE);
	chunk_init(&s, 41 * MiB, 40 * MiB, 16 * MiB, 4);
	assert_int_equal(chunk_contig(&s), 40 * MiB);
	assert_int_equal(take(&s, 0, &f, &t), CHUNK_DONE);
}

static void
t_window_follows_the_hash(void **st)
{
	struct chunk_sched s;
	unsigned i;

	(void)st;
	chunk_init(&s, 0, 40 * MiB, 4 * MiB, 4);
	for (i = 0; i < 4; i++)
		expect_work(&s, i, i * 4 * MiB, (i + 1) * 4 * MiB);
	chunk_wrote(&s, 0, 4 * MiB);
	expect_wait(&s, 0); /* written, not hashed: 4 chunks out already */
	chunk_hashed(&s, 4 * MiB);
	expect_work(&s, 0, 16 * MiB, 20 * MiB);
}

static void
t_own_range_resumed_where_it_stopped(void **st)
{
	struct chunk_sched s;

	(void)st;
	chunk_init(&s, 0, 40 * MiB, 4 * MiB, 2);
	expect_work(&s, 0, 0, 4 * MiB);
	chunk_wrote(&s, 0, 12345);
	expect_work(&s, 0, 12345, 4 * MiB);
	assert_int_equal(chunk_room(&s, 0), 4 * MiB - 12345);
}

static void
t_last_chunk_short(void **st)
{
	struct chunk_sched s;

	(void)st;
	chunk_init(&s, 0, 10 * MiB + 5, 4 * MiB, 2);
	expect_work(&s, 0, 0, 4 * MiB);
	expect_work(&s, 1, 4 * MiB, 8 * MiB);
	chunk_wrote(&s, 0, 4 * MiB);
	chunk_hashed(&s, 4 * MiB);
	expect_work(&s, 0, 8 * MiB, 10 * MiB + 5);
}

static void
t_small_file_one_chunk_per_slot(void **st)
{
	struct chunk_sched s;

	(void)st;
	/* 16 MiB over 8 connections: 2 MiB each, no one waits for a split */
	chunk_init(&s, 0, 16 * MiB, 16 * MiB, 8);
	for (unsigned i = 0; i < 8; i++)
		expect_work(&s, i, i * 2 * MiB, (i + 1) * 2 * MiB);
	/* a size that does not divide: rounded up to whole split units */
	chunk_init(&s, 0, 10 * MiB, 16 * MiB, 3);
	assert_int_equal(s.chunk % CHUNK_SPLIT_ALIGN_BYTES, 0);
	assert_true(s.chunk * 3 >= 10 * MiB);
}

static void
t_slow_lowest_range_split_when_the_hash_waits(void **st)
{
	struct chunk_sched s;

	(void)st;
	chunk_init(&s, 0, 40 * MiB, 4 * MiB, 4);
	for (unsigned i = 0; i < 4; i++)
		expect_work(&s, i, i * 4 * MiB, (i + 1) * 4 * MiB);
	chunk_wrote(&s, 0, 1 * MiB);
	for (unsigned i = 1; i < 4; i++)
		chunk_wrote(&s, i, 4 * MiB);
	chunk_hashed(&s, 1 * MiB);
	expect_wait(&s, 1); /* not yet: the caller did not say it waited long */
	/* slot 0 at 1 MiB holds the hash: slot 1 takes the top of its range */
	flags = CHUNK_SPLIT_LOWEST;
	expect_work(&s, 1, 2560 * 1024, 4 * MiB);
	flags = 0;
	assert_int_equal(chunk_room(&s, 0), 1536 * 1024);
	assert_int_equal(s.splits, 1);
}

static void
t_no_split_when_the_hash_is_behind(void **st)
{
	struct chunk_sched s;

	(void)st;
	chunk_init(&s, 0, 40 * MiB, 4 * MiB, 4);
	for (unsigned i = 0; i < 4; i++)
		expect_work(&s, i, i * 4 * MiB, (i + 1) * 4 * MiB);
	chunk_wrote(&s, 0, 2 * MiB);
	for (unsigned i = 1; i < 4; i++)
		chunk_wrote(&s, i, 4 * MiB);
	/* the hash is at 0, 2 MiB behind: splitting would not help it */
	flags = CHUNK_SPLIT_LOWEST;
	expect_wait(&s, 1);
	flags = 0;
	assert_int_equal(s.splits, 0);
}

static void
t_tail_splits_the_largest(void **st)
{
	struct chunk_sched s;

	(void)st;
	chunk_init(&s, 0, 8 * MiB, 4 * MiB, 2);
	expect_work(&s, 0, 0, 4 * MiB);
	expect_work(&s, 1, 4 * MiB, 8 * MiB);
	chunk_wrote(&s, 0, 4 * MiB);
	chunk_wrote(&s, 1, 1 * MiB);
	/* nothing new to hand out: half of slot 1's 3 MiB */
	expect_work(&s, 0, 6656 * 1024, 8 * MiB);
	assert_int_equal(chunk_room(&s, 1), 6656 * 1024 - 5 * MiB);
}

static void
t_small_range_not_split(void **st)
{
	struct chunk_sched s;

	(void)st;
	chunk_init(&s, 0, 8 * MiB, 4 * MiB, 2);
	expect_work(&s, 0, 0, 4 * MiB);
	expect_work(&s, 1, 4 * MiB, 8 * MiB);
	chunk_wrote(&s, 0, 4 * MiB);
	chunk_wrote(&s, 1, 4 * MiB - 2 * CHUNK_SPLIT_MIN_BYTES + 1);
	expect_wait(&s, 0);
}

static void
t_split_points_aligned(void **st)
{
	struct chunk_sched s;
	uint64_t f, t;

	(void)st;
	chunk_init(&s, 0, 8 * MiB, 4 * MiB, 2);
	expect_work(&s, 0, 0, 4 * MiB);
	expect_work(&s, 1, 4 * MiB, 8 * MiB);
	chunk_wrote(&s, 0, 4 * MiB);
	chunk_wrote(&s, 1, 777);
	assert_int_equal(take(&s, 0, &f, &t), CHUNK_WORK);
	assert_int_equal(f % CHUNK_SPLIT_ALIGN_BYTES, 0);
}

static void
t_retired_range_taken_first(void **st)
{
	struct chunk_sched s;

	(void)st;
	chunk_init(&s, 0, 40 * MiB, 4 * MiB, 3);
	expect_work(&s, 0, 0, 4 * MiB);
	expect_work(&s, 1, 4 * MiB, 8 * MiB);
	chunk_wrote(&s, 1, 1000);
	chunk_retire(&s, 1);
	assert_int_equal(chunk_alive(&s), 2);
	expect_work(&s, 2, 4 * MiB + 1000, 8 * MiB);
	expect_wait(&s, 1); /* retired: nothing more */
}

static void
t_retired_twice_one_orphan(void **st)
{
	struct chunk_sched s;

	(void)st;
	chunk_init(&s, 0, 40 * MiB, 4 * MiB, 2);
	expect_work(&s, 0, 0, 4 * MiB);
	chunk_retire(&s, 0);
	chunk_retire(&s, 0);
	assert_int_equal(s.norphans, 1);
	assert_int_equal(chunk_alive(&s), 1);
}

static void
t_done_when_every_byte_written(void **st)
{
	struct chunk_sched s;
	uint64_t f, t;

	(void)st;
	chunk_init(&s, 0, 5 * MiB, 4 * MiB, 2); /* 2.5 MiB each */
	expect_work(&s, 0, 0, 5 * MiB / 2);
	expect_work(&s, 1, 5 * MiB / 2, 5 * MiB);
	chunk_wrote(&s, 1, 5 * MiB / 2);
	chunk_wrote(&s, 0, 5 * MiB / 2 - CHUNK_SPLIT_MIN_BYTES);
	assert_int_equal(take(&s, 1, &f, &t), CHUNK_WAIT); /* too little left to split */
	chunk_wrote(&s, 0, CHUNK_SPLIT_MIN_BYTES);
	assert_int_equal(chunk_contig(&s), 5 * MiB);
	assert_int_equal(take(&s, 0, &f, &t), CHUNK_DONE);
}

static void
t_writes_capped_at_the_range(void **st)
{
	struct chunk_sched s;

	(void)st;
	chunk_init(&s, 0, 40 * MiB, 4 * MiB, 2);
	expect_work(&s, 0, 0, 4 * MiB);
	chunk_wrote(&s, 0, 5 * MiB);
	assert_int_equal(chunk_pos(&s, 0), 4 * MiB);
	assert_int_equal(chunk_room(&s, 0), 0);
}

static void
t_slots_clamped(void **st)
{
	struct chunk_sched s;

	(void)st;
	chunk_init(&s, 0, 40 * MiB, 1, 0);
	assert_int_equal(s.nslots, 1);
	assert_int_equal(s.chunk, CHUNK_SPLIT_ALIGN_BYTES);
	chunk_init(&s, 0, 40 * MiB, 4 * MiB, CHUNK_SLOTS_MAX + 5);
	assert_int_equal(s.nslots, CHUNK_SLOTS_MAX);
}

/* --- random runs: every byte exactly once, the window always kept ------ */

static uint64_t rng;

static uint64_t
rnd(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? rng % n : 0;
}

/* One run: slots write in 4 KiB multiples at random, break, give up and
 * let the hash follow; returns the steps it took. */
static unsigned
simulate(uint64_t seed, uint64_t size, uint64_t chunk, unsigned slots)
{
	struct chunk_sched s;
	uint8_t *seen = calloc(size / GRAIN + 1, 1);
	int busy[CHUNK_SLOTS_MAX] = { 0 };
	uint64_t f, t, n, pos, b, contig, hashed = 0, top = 0, checked = 0;
	unsigned step, i, alive;

	assert_non_null(seen);
	rng = seed * 2654435761ULL + 1;
	chunk_init(&s, 0, size, chunk, slots);
	for (step = 0; step < 1000000; step++) {
		i = (unsigned)rnd(slots);
		flags = rnd(2) ? CHUNK_SPLIT_LOWEST : 0;
		if (!busy[i]) {
			switch (take(&s, i, &f, &t)) {
			case CHUNK_WORK:
				if (f >= t || t > size || f % GRAIN)
					fail_msg("seed %llu: bad range %llu-%llu",
					    (unsigned long long)seed, (unsigned long long)f,
					    (unsigned long long)t);
				busy[i] = 1;
				if (t > top)
					top = t;
				break;
			case CHUNK_DONE:
				goto done;
			case CHUNK_WAIT:
				break;
			}
		} else {
			n = GRAIN * (1 + rnd(seed % 2 ? 4 : 64));
			if (n > chunk_room(&s, i))
				n = chunk_room(&s, i); /* what par.c's write callback does */
			pos = chunk_pos(&s, i);
			for (b = pos / GRAIN; b < (pos + n + GRAIN - 1) / GRAIN && b <= size / GRAIN; b++) {
				if (seen[b])
					fail_msg("seed %llu: byte %llu written twice",
					    (unsigned long long)seed, (unsigned long long)(b * GRAIN));
				seen[b] = 1;
			}
			chunk_wrote(&s, i, n);
			if (chunk_room(&s, i) == 0 || rnd(50) == 0)
				busy[i] = 0; /* done, or the connection broke */
			alive = chunk_alive(&s);
			if (alive > 1 && rnd(400) == 0) {
				chunk_retire(&s, i);
				busy[i] = 0;
			}
		}
		contig = chunk_contig(&s);
		if (contig < checked)
			fail_msg("seed %llu: contig went back", (unsigned long long)seed);
		for (b = checked / GRAIN; b < contig / GRAIN; b++)
			if (!seen[b])
				fail_msg("seed %llu: byte %llu below contig %llu never written",
				    (unsigned long long)seed, (unsigned long long)(b * GRAIN),
				    (unsigned long long)contig);
		checked = contig - contig % GRAIN;
		if (rnd(3) == 0 && hashed < contig)
			hashed += rnd(contig - hashed + 1);
		chunk_hashed(&s, hashed);
		if (top > hashed + s.window)
			fail_msg("seed %llu: work up to %llu with the hash at %llu (window %llu)",
			    (unsigned long long)seed, (unsigned long long)top,
			    (unsigned long long)hashed, (unsigned long long)s.window);
	}
	fail_msg("seed %llu: not done after %u steps", (unsigned long long)seed, step);
done:
	flags = 0;
	for (b = 0; b < size / GRAIN; b++)
		assert_true(seen[b]);
	free(seen);
	return step;
}

static void
t_random_runs_every_byte_once(void **st)
{
	uint64_t seed;

	(void)st;
	for (seed = 1; seed <= 200; seed++)
		simulate(seed, (8 + seed % 40) * MiB + (seed % 3) * GRAIN, (1 + seed % 4) * MiB,
		    1 + (unsigned)(seed % CHUNK_SLOTS_MAX));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_chunks_in_order),
		cmocka_unit_test(t_window_follows_the_hash),
		cmocka_unit_test(t_own_range_resumed_where_it_stopped),
		cmocka_unit_test(t_last_chunk_short),
		cmocka_unit_test(t_small_file_one_chunk_per_slot),
		cmocka_unit_test(t_slow_lowest_range_split_when_the_hash_waits),
		cmocka_unit_test(t_no_split_when_the_hash_is_behind),
		cmocka_unit_test(t_tail_splits_the_largest),
		cmocka_unit_test(t_small_range_not_split),
		cmocka_unit_test(t_split_points_aligned),
		cmocka_unit_test(t_retired_range_taken_first),
		cmocka_unit_test(t_retired_twice_one_orphan),
		cmocka_unit_test(t_done_when_every_byte_written),
		cmocka_unit_test(t_writes_capped_at_the_range),
		cmocka_unit_test(t_slots_clamped),
		cmocka_unit_test(t_random_runs_every_byte_once),
		cmocka_unit_test(t_from_a_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
