/* linkem: a link emulator for `make bench WAN=1`, since this kernel has no
 * netem. It bridges two interfaces of the namespace it runs in (the middle
 * one of three: client - middle - server, a veth pair on each side) in
 * user space, with AF_PACKET sockets, and on the way applies per
 * direction, in this order:
 *
 *   random loss   each frame but ARP is dropped with probability --loss
 *   rate limit    frames leave one after another at --rate-mbit (frame
 *                 bytes); a frame that would wait longer than the queue
 *                 (--queue-bytes at that rate) is dropped (tail drop)
 *   delay         each frame is held --delay-ms after it left the queue
 *
 * so a round trip is twice the delay plus the queueing. The senders'
 * veths are set to gso_max_segs 1 by the bench, so each frame is one TCP
 * segment and a loss hits one segment, as on a real path; checksums and
 * the rest travel in the virtio-net header (PACKET_VNET_HDR). The loss is
 * a fixed-seed xorshift, the same sequence every run.
 *
 * SIGUSR1 appends one JSON line of counters to --stats (cumulative, per
 * direction: frames and bytes seen, dropped at random, dropped by the
 * full queue, sent); SIGTERM or SIGINT ends it. Built by
 * tests/bench/run.sh; needs CAP_NET_RAW in its namespace.
 *
 *   linkem --a IFACE --b IFACE --rate-mbit N --delay-ms MS --loss PCT
 *          [--queue-bytes N] [--seed N] --stats FILE */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINKEM_FRAME_MAX_BYTES 2048   /* vnet header + an MTU 1500 frame, with room */
#define LINKEM_SLOTS 32768            /* frames held per direction (queue + delay line) */
#define LINKEM_BATCH 64               /* frames per recvmmsg/sendmmsg */
#define LINKEM_EARLY_NS 20000         /* frames due this soon leave with the batch */

struct frame {
	uint64_t due_ns;                  /* when it leaves the emulator */
	uint32_t len;                     /* bytes in data, vnet header included */
	uint8_t data[LINKEM_FRAME_MAX_BYTES];
};

struct dir {
	const char *name;                 /* "ab" or "ba" */
	int in, out;                      /* sockets: read from in, send on out */
	struct frame *q;                  /* LINKEM_SLOTS, a ring */
	unsigned head, tail;              /* frames [tail, head) are held */
	uint64_t free_ns;                 /* when the rate limiter is free again */
	uint64_t seen, seen_bytes, lost, qdrop, full, sent;
};

static volatile sig_atomic_t stop, dump;
static double rate_bps, loss;
static uint64_t delay_ns, queue_bytes, rng;

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		dump = 1;
	else
		stop = 1;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: uniform in [0, 1) */
static double
uniform(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (double)((rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void
die(const char *what)
{
	fprintf(stderr, "linkem: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int
open_if(const char *ifname)
{
	struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	int fd, one = 1, big = 8 << 20;

	if ((a.sll_ifindex = (int)if_nametoindex(ifname)) == 0)
		die(ifname);
	if ((fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL))) < 0)
		die("socket(AF_PACKET)");
	if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) != 0)
		die("PACKET_VNET_HDR");
	if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) != 0)
		die("PACKET_IGNORE_OUTGOING");
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		die("bind");
	return fd;
}

/* ARP goes through untouched by loss: the emulated path loses data. */
static int
is_arp(const struct frame *f)
{
	size_t at = sizeof(struct virtio_net_hdr) + 12;

	return f->len >= at + 2 && f->data[at] == 0x08 && f->data[at + 1] == 0x06;
}

/* A frame arrived: lose it, drop it at the full queue, or schedule it. */
static void
admit(struct dir *d, struct frame *f, uint64_t now)
{
	uint64_t bytes = f->len - sizeof(struct virtio_net_hdr), start;

	d->seen++;
	d->seen_bytes += bytes;
	if (!is_arp(f) && loss > 0 && uniform() < loss) {
		d->lost++;
		return;
	}
	start = d->free_ns > now ? d->free_ns : now;
	if ((double)(start - now) * rate_bps / 8e9 + (double)bytes > (double)queue_bytes) {
		d->qdrop++;
		return;
	}
	if (d->head - d->tail >= LINKEM_SLOTS) { /* f is the spare */
		d->full++;
		return;
	}
	d->free_ns = start + (uint64_t)((double)bytes * 8e9 / rate_bps);
	f->due_ns = d->free_ns + delay_ns;
	if (f != &d->q[d->head % LINKEM_SLOTS])
		d->q[d->head % LINKEM_SLOTS] = *f;
	d->head++;
}

/* Reads what is waiting on d->in straight into the ring's free slots
 * (with the ring full, into a spare frame that admit then drops). */
static void
receive(struct dir *d)
{
	static struct frame spare;
	struct mmsghdr m[LINKEM_BATCH];
	struct iovec iov[LINKEM_BATCH];
	struct frame *f[LINKEM_BATCH];
	unsigned i, want, room;
	uint64_t now;
	int got;

	for (;;) {
		room = LINKEM_SLOTS - (d->head - d->tail);
		want = room == 0 ? 1 : room < LINKEM_BATCH ? room : LINKEM_BATCH;
		for (i = 0; i < want; i++) {
			f[i] = room == 0 ? &spare : &d->q[(d->head + i) % LINKEM_SLOTS];
			iov[i].iov_base = f[i]->data;
			iov[i].iov_len = sizeof(f[i]->data);
			memset(&m[i], 0, sizeof(m[i]));
			m[i].msg_hdr.msg_iov = &iov[i];
			m[i].msg_hdr.msg_iovlen = 1;
		}
		got = recvmmsg(d->in, m, want, MSG_DONTWAIT, NULL);
		if (got <= 0) {
			if (got < 0 && errno != EAGAIN && errno != EINTR)
				die("recvmmsg");
			return;
		}
		now = now_ns();
		/* Frame i sits in slot head + i at most: admit moves it down to
		 * head when earlier ones were dropped, never over a later one. */
		for (i = 0; i < (unsigned)got; i++) {
			f[i]->len = m[i].msg_len;
			if (m[i].msg_hdr.msg_flags & MSG_TRUNC)
				continue;
			admit(d, f[i], now);
		}
		if ((unsigned)got < want)
			return;
	}
}

/* Sends every frame whose time has come; returns ns until the next. */
static uint64_t
transmit(struct dir *d)
{
	struct mmsghdr m[LINKEM_BATCH];
	struct iovec iov[LINKEM_BATCH];
	uint64_t now = now_ns();
	unsigned n, i;
	int sent;

	while (d->tail != d->head) {
		for (n = 0; n < LINKEM_BATCH && d->tail + n != d->head; n++) {
			struct frame *f = &d->q[(d->tail + n) % LINKEM_SLOTS];
			if (f->due_ns > now + LINKEM_EARLY_NS)
				break;
			iov[n].iov_base = f->data;
			iov[n].iov_len = f->len;
			memset(&m[n], 0, sizeof(m[n]));
			m[n].msg_hdr.msg_iov = &iov[n];
			m[n].msg_hdr.msg_iovlen = 1;
		}
		if (n == 0)
			return d->q[d->tail % LINKEM_SLOTS].due_ns - now;
		sent = sendmmsg(d->out, m, n, 0);
		if (sent < 0) {
			if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR)
				return 50000; /* the veth is busy: try again soon */
			die("sendmmsg");
		}
		for (i = 0; i < (unsigned)sent; i++)
			d->sent++;
		d->tail += (unsigned)sent;
	}
	return UINT64_MAX;
}

static void
dump_stats(const char *path, const struct dir *d)
{
	FILE *f = fopen(path, "ae");
	int k;

	if (f == NULL)
		return;
	fprintf(f, "{\"t\":%.6f", (double)now_ns() / 1e9);
	for (k = 0; k < 2; k++)
		fprintf(f, ",\"%s\":{\"seen\":%llu,\"bytes\":%llu,\"lost\":%llu,\"queue_drop\":%llu,"
		    "\"ring_full\":%llu,\"sent\":%llu}", d[k].name, (unsigned long long)d[k].seen,
		    (unsigned long long)d[k].seen_bytes, (unsigned long long)d[k].lost,
		    (unsigned long long)d[k].qdrop, (unsigned long long)d[k].full,
		    (unsigned long long)d[k].sent);
	fprintf(f, "}\n");
	fclose(f);
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "a", required_argument, NULL, 'a' }, { "b", required_argument, NULL, 'b' },
		{ "rate-mbit", required_argument, NULL, 'r' }, { "delay-ms", required_argument, NULL, 'd' },
		{ "loss", required_argument, NULL, 'l' }, { "queue-bytes", required_argument, NULL, 'q' },
		{ "seed", required_argument, NULL, 's' }, { "stats", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ia = NULL, *ib = NULL, *stats = NULL;
	struct dir d[2] = { { .name = "ab" }, { .name = "ba" } };
	struct sigaction sa = { .sa_handler = on_signal };
	struct pollfd p[2];
	struct timespec ts;
	sigset_t none;
	uint64_t wait, w;
	double delay_ms = -1, mbit = 0;
	int c, k;

	rng = 88172645463325252ULL;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'a': ia = optarg; break;
		case 'b': ib = optarg; break;
		case 'r': mbit = atof(optarg); break;
		case 'd': delay_ms = atof(optarg); break;
		case 'l': loss = atof(optarg) / 100.0; break;
		case 'q': queue_bytes = strtoull(optarg, NULL, 10); break;
		case 's': rng = strtoull(optarg, NULL, 10) * 2654435761ULL + 1; break;
		case 'o': stats = optarg; break;
		default: return 64;
		}
	}
	if (ia == NULL || ib == NULL || stats == NULL || mbit <= 0 || delay_ms < 0 ||
	    loss < 0 || loss >= 1) {
		fprintf(stderr, "usage: linkem --a IFACE --b IFACE --rate-mbit N --delay-ms MS "
		    "--loss PCT [--queue-bytes N] [--seed N] --stats FILE\n");
		return 64;
	}
	rate_bps = mbit * 1e6;
	delay_ns = (uint64_t)(delay_ms * 1e6);
	if (queue_bytes == 0) /* one round trip's worth at the rate (a BDP) */
		queue_bytes = (uint64_t)(rate_bps / 8 * 2 * delay_ms / 1000);
	if (queue_bytes < 64 * 1514)
		queue_bytes = 64 * 1514;
	(void)prctl(PR_SET_TIMERSLACK, 1UL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&none);
	d[0].in = d[1].out = open_if(ia);
	d[1].in = d[0].out = open_if(ib);
	for (k = 0; k < 2; k++)
		if ((d[k].q = calloc(LINKEM_SLOTS, sizeof(struct frame))) == NULL)
			die("calloc");
	fprintf(stderr, "linkem: %s <-> %s: %.0f Mbit/s, %.1f ms each way, %.3f %% loss, "
	    "queue %llu bytes\n", ia, ib, mbit, delay_ms, loss * 100,
	    (unsigned long long)queue_bytes);
	while (!stop) {
		if (dump) {
			dump = 0;
			dump_stats(stats, d);
		}
		wait = UINT64_MAX;
		for (k = 0; k < 2; k++) {
			w = transmit(&d[k]);
			if (w < wait)
				wait = w;
		}
		for (k = 0; k < 2; k++) {
			p[k].fd = d[k].in;
			p[k].events = POLLIN;
			p[k].revents = 0;
		}
		if (wait == UINT64_MAX)
			wait = 100000000ULL;
		ts.tv_sec = (time_t)(wait / 1000000000ULL);
		ts.tv_nsec = (long)(wait % 1000000000ULL);
		if (ppoll(p, 2, &ts, &none) < 0 && errno != EINTR)
			die("ppoll");
		for (k = 0; k < 2; k++)
			if (p[k].revents & POLLIN)
				receive(&d[k]);
	}
	dump_stats(stats, d);
	return 0;
}
