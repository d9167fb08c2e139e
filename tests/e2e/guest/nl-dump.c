/*
 * nl-dump: a test helper of the e2e harness, not product code.
 *
 * Asks the kernel for the same three rtnetlink dumps the agent's
 * netlink_dump() asks for (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, family
 * AF_UNSPEC, sequence numbers 1, 2, 3 on one socket) and prints every
 * datagram the kernel answers, byte for byte, in hex on the console, so the
 * host can keep them as fixtures for the unit tests and seeds for the
 * fuzzer. Built static on the host by tests/e2e/run.sh (scenario bond-dump).
 *
 * Output, one datagram NAME (link-0, link-1, addr-0, route-0, ...) at a time:
 *   NK-E2E nldump NAME OFFSET HEX        up to 48 bytes from OFFSET
 *   NK-E2E nldump-end NAME LENGTH FNV    LENGTH bytes, FNV-1a 32 of them
 * Offsets and the checksum let the host notice a line a kernel message
 * broke on the serial console.
 *
 * Exit status: 0 done, 71 the kernel refused or did not answer.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define DGRAM_MAX_BYTES (64 * 1024)
#define LINE_BYTES 48
#define DATAGRAMS_MAX 1024 /* per dump */

static uint8_t buf[DGRAM_MAX_BYTES];

static int
refused(const char *what)
{
	printf("NK-E2E nl-dump %s: %s\n", what, strerror(errno));
	return 71;
}

static void
print_datagram(const char *name, const uint8_t *p, size_t n)
{
	uint32_t fnv = 2166136261u;
	size_t off, i;

	for (i = 0; i < n; i++)
		fnv = (fnv ^ p[i]) * 16777619u;
	for (off = 0; off < n; off += LINE_BYTES) {
		printf("NK-E2E nldump %s %zu ", name, off);
		for (i = off; i < n && i < off + LINE_BYTES; i++)
			printf("%02x", p[i]);
		printf("\n");
	}
	printf("NK-E2E nldump-end %s %zu %08x\n", name, n, fnv);
	fflush(stdout);
}

/* One dump: the request, then datagrams until NLMSG_DONE or an error. */
static int
dump(int fd, uint16_t type, uint32_t seq, const char *what)
{
	struct {
		struct nlmsghdr h;
		union {
			struct ifinfomsg ifi;
			struct ifaddrmsg ifa;
			struct rtmsg rtm;
		} u;
	} req;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	size_t body = type == RTM_GETLINK ? sizeof(req.u.ifi) :
	    type == RTM_GETADDR ? sizeof(req.u.ifa) : sizeof(req.u.rtm);
	char name[32];
	int k;

	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = (uint32_t)NLMSG_LENGTH(body);
	req.h.nlmsg_type = type;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = seq;
	if (sendto(fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&kernel,
	    sizeof(kernel)) != (ssize_t)req.h.nlmsg_len)
		return refused("send");
	for (k = 0; k < DATAGRAMS_MAX; k++) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr h;
		size_t off;

		if (n < 0)
			return refused("receive");
		snprintf(name, sizeof(name), "%s-%d", what, k);
		print_datagram(name, buf, (size_t)n);
		for (off = 0; off + sizeof(h) <= (size_t)n; off += NLMSG_ALIGN(h.nlmsg_len)) {
			memcpy(&h, buf + off, sizeof(h));
			if (h.nlmsg_len < sizeof(h))
				break;
			if (h.nlmsg_type == NLMSG_DONE || h.nlmsg_type == NLMSG_ERROR)
				return 0;
		}
	}
	printf("NK-E2E nl-dump %s: more than %d datagrams\n", what, DATAGRAMS_MAX);
	return 71;
}

int
main(void)
{
	struct timeval tv = { 5, 0 };
	int fd, rc;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return refused("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
		return refused("setsockopt");
	if ((rc = dump(fd, RTM_GETLINK, 1, "link")) != 0 ||
	    (rc = dump(fd, RTM_GETADDR, 2, "addr")) != 0 ||
	    (rc = dump(fd, RTM_GETROUTE, 3, "route")) != 0)
		return rc;
	close(fd);
	printf("NK-E2E nl-dump: done\n");
	return 0;
}
