/* test_netlink: the rtnetlink parser fed datagrams built here with the
 * kernel's own structs (nlmsghdr, ifinfomsg, ifaddrmsg, rtmsg, rtattr),
 * and the dump loop fed them through wrapped socket/sendto/recvfrom.
 * Threats: truncated, overlong and malformed messages, answers to other
 * requests, datagrams from processes other than the kernel, dumps the
 * kernel interrupts, more objects than the arrays hold. One case reads
 * this machine's real state (loopback must be there). */
#include <errno.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/socket.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "nktest.h"
#include "netlink.h"

#ifndef IFLA_PERM_ADDRESS
#define IFLA_PERM_ADDRESS 54
#endif

#define SEQ 7

/* --- building datagrams ----------------------------------------------- */

struct dgram {
	uint8_t b[16384];
	size_t len;
	size_t msg;      /* offset of the open message */
	size_t nest[4];  /* offsets of the open nested attributes */
	size_t depth;
};

static void
put(struct dgram *d, const void *p, size_t n)
{
	assert_true(d->len + n + 3 <= sizeof(d->b));
	memcpy(d->b + d->len, p, n);
	d->len += n;
	while (d->len % 4)
		d->b[d->len++] = 0;
}

static void
msg(struct dgram *d, uint16_t type, uint16_t flags, uint32_t seq)
{
	struct nlmsghdr h = { 0, type, flags, seq, 0 };

	d->msg = d->len;
	put(d, &h, sizeof(h));
}

static void
end(struct dgram *d)
{
	uint32_t n = (uint32_t)(d->len - d->msg);

	memcpy(d->b + d->msg, &n, 4);
}

static void
attr(struct dgram *d, uint16_t type, const void *p, size_t n)
{
	struct rtattr a = { (unsigned short)(RTA_LENGTH(n)), type };

	assert_true(d->len + RTA_SPACE(n) <= sizeof(d->b));
	memcpy(d->b + d->len, &a, sizeof(a));
	if (n > 0)
		memcpy(d->b + d->len + sizeof(a), p, n);
	d->len += sizeof(a) + n;
	while (d->len % 4)
		d->b[d->len++] = 0;
}

static void
attr_u32(struct dgram *d, uint16_t type, uint32_t v)
{
	attr(d, type, &v, 4);
}

static void
attr_str(struct dgram *d, uint16_t type, const char *s)
{
	attr(d, type, s, strlen(s) + 1);
}

static void
nest_begin(struct dgram *d, uint16_t type)
{
	assert_true(d->depth < 4);
	d->nest[d->depth++] = d->len;
	attr(d, type | NLA_F_NESTED, NULL, 0);
}

static void
nest_end(struct dgram *d)
{
	uint16_t n;

	assert_true(d->depth > 0);
	d->depth--;
	n = (uint16_t)(d->len - d->nest[d->depth]);
	memcpy(d->b + d->nest[d->depth], &n, 2);
}

static void
attr_u8(struct dgram *d, uint16_t type, uint8_t v)
{
	attr(d, type, &v, 1);
}

static void
attr_u16(struct dgram *d, uint16_t type, uint16_t v)
{
	attr(d, type, &v, 2);
}

static void
link_msg(struct dgram *d, int index, const char *name, const char *mac, uint32_t mtu)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_type = ARPHRD_ETHER,
		.ifi_index = index, .ifi_flags = IFF_UP | IFF_BROADCAST };

	msg(d, RTM_NEWLINK, NLM_F_MULTI, SEQ);
	put(d, &ifi, sizeof(ifi));
	attr_str(d, IFLA_IFNAME, name);
	if (mac != NULL)
		attr(d, IFLA_ADDRESS, mac, 6);
	attr_u32(d, IFLA_MTU, mtu);
	end(d);
}

static void
addr_msg(struct dgram *d, int index, int family, const char *a, int plen, uint32_t valid)
{
	struct ifaddrmsg ifa = { (uint8_t)family, (uint8_t)plen, 0, RT_SCOPE_UNIVERSE,
		(uint32_t)index };
	struct ifa_cacheinfo ci = { valid, valid, 100, 200 };
	uint8_t bin[16];

	assert_int_equal(inet_pton(family, a, bin), 1);
	msg(d, RTM_NEWADDR, NLM_F_MULTI, SEQ);
	put(d, &ifa, sizeof(ifa));
	attr(d, IFA_ADDRESS, bin, family == AF_INET ? 4 : 16);
	if (family == AF_INET)
		attr(d, IFA_LOCAL, bin, 4);
	attr_u32(d, IFA_FLAGS, valid == 0xffffffffu ? IFA_F_PERMANENT : 0);
	attr(d, IFA_CACHEINFO, &ci, sizeof(ci));
	end(d);
}

static void
route_msg(struct dgram *d, int family, const char *dst, int dlen, const char *gw, int oif,
    uint8_t table, uint8_t proto, uint8_t type)
{
	struct rtmsg rtm = { .rtm_family = (uint8_t)family, .rtm_dst_len = (uint8_t)dlen,
		.rtm_table = table, .rtm_protocol = proto,
		.rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK, .rtm_type = type };
	uint8_t bin[16];
	size_t n = family == AF_INET ? 4 : 16;

	msg(d, RTM_NEWROUTE, NLM_F_MULTI, SEQ);
	put(d, &rtm, sizeof(rtm));
	attr_u32(d, RTA_TABLE, table);
	if (dlen > 0) {
		assert_int_equal(inet_pton(family, dst, bin), 1);
		attr(d, RTA_DST, bin, n);
	}
	if (gw != NULL) {
		assert_int_equal(inet_pton(family, gw, bin), 1);
		attr(d, RTA_GATEWAY, bin, n);
	}
	attr_u32(d, RTA_PRIORITY, 100);
	attr_u32(d, RTA_OIF, (uint32_t)oif);
	end(d);
}

static void
done_msg(struct dgram *d, int32_t err)
{
	msg(d, NLMSG_DONE, NLM_F_MULTI, SEQ);
	put(d, &err, sizeof(err));
	end(d);
}

static struct net_state S;

static int
parse(const struct dgram *d, enum netlink_status *stp, struct nk_err *e)
{
	return netlink_parse(d->b, d->len, SEQ, &S, stp, e);
}

static int
setup(void **st)
{
	(void)st;
	memset(&S, 0, sizeof(S));
	return 0;
}

/* --- the parser ---------------------------------------------------------- */

static void
t_link_full(void **st)
{
	struct ifinfomsg ifi = { .ifi_type = ARPHRD_ETHER, .ifi_index = 3, .ifi_flags = IFF_UP };
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };

	(void)st;
	msg(&d, RTM_NEWLINK, NLM_F_MULTI, SEQ);
	put(&d, &ifi, sizeof(ifi));
	attr_str(&d, IFLA_IFNAME, "br0");
	attr(&d, IFLA_ADDRESS, "\x52\x54\x00\x12\x34\x56", 6);
	attr(&d, IFLA_PERM_ADDRESS, "\x52\x54\x00\x00\x00\x01", 6);
	attr_u32(&d, IFLA_MTU, 9000);
	attr_u32(&d, IFLA_MASTER, 5);
	attr(&d, 0x7777, "ignored", 7); /* unknown attributes are skipped */
	nest_begin(&d, IFLA_LINKINFO);
	attr_str(&d, IFLA_INFO_KIND, "bridge");
	nest_end(&d);
	end(&d);
	done_msg(&d, 0);
	assert_int_equal(parse(&d, &s, &e), 0);
	assert_int_equal(s, NETLINK_DONE);
	assert_int_equal(S.nlinks, 1);
	assert_int_equal(S.links[0].index, 3);
	assert_string_equal(S.links[0].name, "br0");
	assert_string_equal(S.links[0].kind, "bridge");
	assert_int_equal(S.links[0].mac_len, 6);
	assert_memory_equal(S.links[0].mac, "\x52\x54\x00\x12\x34\x56", 6);
	assert_memory_equal(S.links[0].perm_mac, "\x52\x54\x00\x00\x00\x01", 6);
	assert_int_equal(S.links[0].mtu, 9000);
	assert_int_equal(S.links[0].master, 5);
	assert_int_equal(S.links[0].type, ARPHRD_ETHER);
	assert_ptr_equal(netlink_link(&S, 3), &S.links[0]);
	assert_null(netlink_link(&S, 4));
}

static void
t_addresses(void **st)
{
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };
	uint8_t want[16];

	(void)st;
	addr_msg(&d, 2, AF_INET, "192.0.2.10", 24, 0xffffffffu);
	addr_msg(&d, 2, AF_INET6, "2001:db8::10", 64, 3600);
	assert_int_equal(parse(&d, &s, &e), 0);
	assert_int_equal(s, NETLINK_MORE);
	assert_int_equal(S.naddrs, 2);
	inet_pton(AF_INET, "192.0.2.10", want);
	assert_memory_equal(S.addrs[0].addr, want, 4);
	assert_int_equal(S.addrs[0].prefixlen, 24);
	assert_true(S.addrs[0].flags & IFA_F_PERMANENT);
	assert_int_equal(S.addrs[0].valid_lft, 0xffffffffu);
	inet_pton(AF_INET6, "2001:db8::10", want);
	assert_memory_equal(S.addrs[1].addr, want, 16);
	assert_int_equal(S.addrs[1].family, AF_INET6);
	assert_int_equal(S.addrs[1].valid_lft, 3600);
	assert_false(S.addrs[1].flags & IFA_F_PERMANENT);
}

/* Point-to-point: IFA_LOCAL is ours, IFA_ADDRESS the peer's. */
static void
t_address_local_wins(void **st)
{
	struct ifaddrmsg ifa = { AF_INET, 32, 0, 0, 2 };
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };

	(void)st;
	msg(&d, RTM_NEWADDR, 0, SEQ);
	put(&d, &ifa, sizeof(ifa));
	attr(&d, IFA_ADDRESS, "\xc6\x33\x64\x01", 4);
	attr(&d, IFA_LOCAL, "\xcb\x00\x71\x0a", 4);
	end(&d);
	assert_int_equal(parse(&d, &s, &e), 0);
	assert_memory_equal(S.addrs[0].addr, "\xcb\x00\x71\x0a", 4);
	assert_int_equal(S.addrs[0].valid_lft, 0xffffffffu); /* no cacheinfo: forever */
}

static void
t_routes_filtered(void **st)
{
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };

	(void)st;
	route_msg(&d, AF_INET, NULL, 0, "192.0.2.1", 2, RT_TABLE_MAIN, RTPROT_BOOT, RTN_UNICAST);
	route_msg(&d, AF_INET6, "2001:db8:2::", 48, "fe80::1", 2, RT_TABLE_MAIN, RTPROT_STATIC,
	    RTN_UNICAST);
	route_msg(&d, AF_INET, "192.0.2.0", 24, NULL, 2, RT_TABLE_MAIN, RTPROT_KERNEL, RTN_UNICAST);
	route_msg(&d, AF_INET, "192.0.2.10", 32, NULL, 2, RT_TABLE_LOCAL, RTPROT_KERNEL, RTN_LOCAL);
	route_msg(&d, AF_INET, "198.51.100.0", 24, "192.0.2.1", 2, 100, RTPROT_BOOT, RTN_UNICAST);
	route_msg(&d, AF_INET, "203.0.113.0", 24, "192.0.2.1", 2, RT_TABLE_MAIN, 12 /* bird */,
	    RTN_UNICAST);
	route_msg(&d, AF_INET, "203.0.113.0", 24, NULL, 2, RT_TABLE_MAIN, RTPROT_BOOT,
	    RTN_BLACKHOLE);
	route_msg(&d, AF_INET6, "::", 0, "fe80::1", 2, RT_TABLE_MAIN, RTPROT_RA, RTN_UNICAST);
	assert_int_equal(parse(&d, &s, &e), 0);
	assert_int_equal(S.nroutes, 3);
	assert_int_equal(S.routes[0].family, AF_INET);
	assert_int_equal(S.routes[0].dst_len, 0);
	assert_int_equal(S.routes[0].gw_family, AF_INET);
	assert_memory_equal(S.routes[0].gw, "\xc0\x00\x02\x01", 4);
	assert_int_equal(S.routes[0].oif, 2);
	assert_int_equal(S.routes[0].metric, 100);
	assert_int_equal(S.routes[0].protocol, RTPROT_BOOT);
	assert_int_equal(S.routes[1].family, AF_INET6);
	assert_int_equal(S.routes[1].dst_len, 48);
	assert_int_equal(S.routes[2].protocol, RTPROT_RA); /* kept: it tells netunits "RA" */
}

static void
t_route_via_v6_gateway(void **st)
{
	struct rtmsg rtm = { .rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN,
		.rtm_protocol = RTPROT_STATIC, .rtm_type = RTN_UNICAST, .rtm_flags = RTNH_F_ONLINK };
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };
	uint8_t via[18] = { 0 };
	uint16_t fam = AF_INET6;

	(void)st;
	memcpy(via, &fam, 2);
	inet_pton(AF_INET6, "fe80::1", via + 2);
	msg(&d, RTM_NEWROUTE, 0, SEQ);
	put(&d, &rtm, sizeof(rtm));
	attr(&d, RTA_VIA, via, sizeof(via));
	attr_u32(&d, RTA_OIF, 2);
	attr(&d, RTA_PREFSRC, "\xcb\x00\x71\x0a", 4);
	end(&d);
	assert_int_equal(parse(&d, &s, &e), 0);
	assert_int_equal(S.nroutes, 1);
	assert_int_equal(S.routes[0].family, AF_INET);
	assert_int_equal(S.routes[0].gw_family, AF_INET6);
	assert_memory_equal(S.routes[0].gw, via + 2, 16);
	assert_int_equal(S.routes[0].has_prefsrc, 1);
	assert_true(S.routes[0].flags & RTNH_F_ONLINK);
}

static void
t_route_cloned_sourced_multipath(void **st)
{
	struct rtmsg rtm = { .rtm_family = AF_INET6, .rtm_table = RT_TABLE_MAIN,
		.rtm_protocol = RTPROT_BOOT, .rtm_type = RTN_UNICAST };
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };

	(void)st;
	rtm.rtm_flags = RTM_F_CLONED;
	msg(&d, RTM_NEWROUTE, 0, SEQ);
	put(&d, &rtm, sizeof(rtm));
	attr_u32(&d, RTA_OIF, 2);
	end(&d);
	rtm.rtm_flags = 0;
	rtm.rtm_src_len = 64; /* source-specific */
	msg(&d, RTM_NEWROUTE, 0, SEQ);
	put(&d, &rtm, sizeof(rtm));
	attr_u32(&d, RTA_OIF, 2);
	end(&d);
	rtm.rtm_src_len = 0;
	msg(&d, RTM_NEWROUTE, 0, SEQ);
	put(&d, &rtm, sizeof(rtm));
	attr(&d, RTA_MULTIPATH, "\0\0\0\0\0\0\0\0", 8);
	end(&d);
	msg(&d, RTM_NEWROUTE, 0, SEQ); /* no interface: nothing to match it to */
	put(&d, &rtm, sizeof(rtm));
	end(&d);
	assert_int_equal(parse(&d, &s, &e), 0);
	assert_int_equal(S.nroutes, 0);
	assert_int_equal(S.routes_multipath, 1);
}

static void
t_other_families_and_types_skipped(void **st)
{
	struct ifaddrmsg ifa = { AF_PACKET, 0, 0, 0, 2 };
	struct rtmsg rtm = { .rtm_family = 28 /* AF_MPLS */ };
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };

	(void)st;
	msg(&d, RTM_NEWADDR, 0, SEQ);
	put(&d, &ifa, sizeof(ifa));
	end(&d);
	msg(&d, RTM_NEWROUTE, 0, SEQ);
	put(&d, &rtm, sizeof(rtm));
	end(&d);
	msg(&d, RTM_NEWNEIGH, 0, SEQ);
	put(&d, "junkjunk", 8);
	end(&d);
	msg(&d, NLMSG_NOOP, 0, SEQ);
	end(&d);
	assert_int_equal(parse(&d, &s, &e), 0);
	assert_int_equal(S.naddrs + S.nroutes + S.nlinks, 0);
	assert_int_equal(s, NETLINK_MORE);
}

static void
t_same_link_twice_replaced(void **st)
{
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };

	(void)st;
	link_msg(&d, 2, "eth0", "\x52\x54\x00\x12\x34\x56", 1500);
	link_msg(&d, 2, "eth0", "\x52\x54\x00\x12\x34\x56", 1400);
	assert_int_equal(parse(&d, &s, &e), 0);
	assert_int_equal(S.nlinks, 1);
	assert_int_equal(S.links[0].mtu, 1400);
}

static void
t_caps_counted(void **st)
{
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram *d = calloc(1, sizeof(*d));
	char name[16];
	int i;

	(void)st;
	assert_non_null(d);
	for (i = 1; i <= NET_LINKS_MAX + 2; i++) {
		d->len = 0;
		snprintf(name, sizeof(name), "veth%d", i);
		link_msg(d, i, name, "\x52\x54\x00\x12\x34\x56", 1500);
		assert_int_equal(parse(d, &s, &e), 0);
	}
	assert_int_equal(S.nlinks, NET_LINKS_MAX);
	assert_int_equal(S.links_over, 2);
	for (i = 0; i < NET_ADDRS_MAX + 1; i++) {
		d->len = 0;
		addr_msg(d, 2, AF_INET, "192.0.2.1", 24, 0xffffffffu);
		assert_int_equal(parse(d, &s, &e), 0);
	}
	assert_int_equal(S.naddrs, NET_ADDRS_MAX);
	assert_int_equal(S.addrs_over, 1);
	for (i = 0; i < NET_ROUTES_MAX + 3; i++) {
		d->len = 0;
		route_msg(d, AF_INET, "198.51.100.0", 24, "192.0.2.1", 2, RT_TABLE_MAIN,
		    RTPROT_STATIC, RTN_UNICAST);
		assert_int_equal(parse(d, &s, &e), 0);
	}
	assert_int_equal(S.nroutes, NET_ROUTES_MAX);
	assert_int_equal(S.routes_over, 3);
	free(d);
}

static void
t_done_error_intr(void **st)
{
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };
	struct nlmsgerr ack = { 0, { 0 } };

	(void)st;
	msg(&d, NLMSG_ERROR, 0, SEQ); /* an acknowledgement (error 0) */
	put(&d, &ack, sizeof(ack));
	end(&d);
	done_msg(&d, 0);
	assert_int_equal(parse(&d, &s, &e), 0);
	assert_int_equal(s, NETLINK_DONE);

	d.len = 0;
	done_msg(&d, -EINTR); /* the dump itself failed */
	assert_int_equal(parse(&d, &s, &e), NK_E_IO);
	assert_non_null(strstr(e.msg, "dump failed"));

	d.len = 0;
	done_msg(&d, INT32_MIN); /* found by fuzz_netlink: -INT32_MIN overflows */
	assert_int_equal(parse(&d, &s, &e), NK_E_IO);
	assert_non_null(strstr(e.msg, "NLMSG_DONE"));

	d.len = 0;
	link_msg(&d, 2, "eth0", NULL, 1500);
	msg(&d, RTM_NEWLINK, NLM_F_MULTI | NLM_F_DUMP_INTR, SEQ);
	end(&d);
	assert_int_equal(parse(&d, &s, &e), 0);
	assert_int_equal(s, NETLINK_INTR);
}

static void
t_nlmsg_error_refusals(void **st)
{
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };
	struct nlmsgerr err = { -EPERM, { 0 } };

	(void)st;
	msg(&d, NLMSG_ERROR, 0, SEQ);
	put(&d, &err, sizeof(err));
	end(&d);
	assert_int_equal(parse(&d, &s, &e), NK_E_PERM);
	assert_non_null(strstr(e.msg, "not permitted"));
	d.len = 0;
	err.error = -EINVAL;
	msg(&d, NLMSG_ERROR, 0, SEQ);
	put(&d, &err, sizeof(err));
	end(&d);
	assert_int_equal(parse(&d, &s, &e), NK_E_IO);
	d.len = 0;
	err.error = INT32_MIN;
	msg(&d, NLMSG_ERROR, 0, SEQ);
	put(&d, &err, sizeof(err));
	end(&d);
	assert_int_equal(parse(&d, &s, &e), NK_E_IO);
	d.len = 0;
	err.error = 5; /* positive: not a netlink error code */
	msg(&d, NLMSG_ERROR, 0, SEQ);
	put(&d, &err, sizeof(err));
	end(&d);
	assert_int_equal(parse(&d, &s, &e), NK_E_IO);
	d.len = 0;
	msg(&d, NLMSG_ERROR, 0, SEQ); /* no error code at all */
	end(&d);
	assert_int_equal(parse(&d, &s, &e), NK_E_IO);
}

static void
t_wrong_sequence(void **st)
{
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };

	(void)st;
	link_msg(&d, 2, "eth0", NULL, 1500);
	assert_int_equal(netlink_parse(d.b, d.len, SEQ + 1, &S, &s, &e), NK_E_IO);
	assert_non_null(strstr(e.msg, "another request"));
}

/* A valid datagram, to be cut and corrupted. */
static void
sample(struct dgram *d)
{
	d->len = 0;
	link_msg(d, 2, "eth0", "\x52\x54\x00\x12\x34\x56", 1500);
	addr_msg(d, 2, AF_INET6, "2001:db8::10", 64, 3600);
	route_msg(d, AF_INET, NULL, 0, "192.0.2.1", 2, RT_TABLE_MAIN, RTPROT_BOOT, RTN_UNICAST);
	done_msg(d, 0);
}

static void
t_truncated_anywhere(void **st)
{
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d;
	size_t cut;
	int rc;

	(void)st;
	sample(&d);
	for (cut = 0; cut < d.len; cut++) {
		memset(&S, 0, sizeof(S));
		rc = netlink_parse(d.b, cut, SEQ, &S, &s, &e);
		/* A cut at a message boundary is a valid shorter datagram. */
		if (rc == 0)
			assert_int_not_equal(s, NETLINK_DONE);
		else
			assert_int_equal(rc, NK_E_IO);
	}
}

static void
t_corrupted_bytes_bounded(void **st)
{
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d, c;
	uint32_t x = 12345;
	size_t i, k;

	(void)st;
	sample(&d);
	/* Deterministic pseudo-random flips; ASan and valgrind catch reads
	 * outside the buffer; every answer must be 0 or NK_E_IO. */
	for (i = 0; i < 20000; i++) {
		c = d;
		for (k = 0; k < 1 + i % 4; k++) {
			x = x * 1103515245u + 12345u;
			c.b[(x >> 8) % c.len] = (uint8_t)(x >> 20);
		}
		memset(&S, 0, sizeof(S));
		int rc = netlink_parse(c.b, c.len, SEQ, &S, &s, &e);
		assert_true(rc == 0 || rc == NK_E_IO || rc == NK_E_PERM);
		assert_true(S.nlinks <= NET_LINKS_MAX && S.naddrs <= NET_ADDRS_MAX);
		for (k = 0; k < S.nlinks; k++)
			assert_true(strlen(S.links[k].name) < NET_IFNAME_MAX_BYTES);
	}
}

static void
refused(const struct dgram *d, const char *why)
{
	struct nk_err e = { "" };
	enum netlink_status s;

	memset(&S, 0, sizeof(S));
	assert_int_equal(netlink_parse(d->b, d->len, SEQ, &S, &s, &e), NK_E_IO);
	if (why != NULL && strstr(e.msg, why) == NULL)
		fail_msg("'%s' does not mention '%s'", e.msg, why);
}

static void
t_header_length_lies(void **st)
{
	struct dgram d;
	uint32_t n;

	(void)st;
	sample(&d);
	n = (uint32_t)d.len + 4; /* longer than the datagram */
	memcpy(d.b, &n, 4);
	refused(&d, "message length");
	sample(&d);
	n = 8; /* shorter than its own header */
	memcpy(d.b, &n, 4);
	refused(&d, "message length");
	sample(&d);
	d.len = 10; /* not even a header */
	refused(&d, "truncated");
}

static void
t_short_bodies(void **st)
{
	struct dgram d = { .len = 0 };

	(void)st;
	msg(&d, RTM_NEWLINK, 0, SEQ);
	put(&d, "abcd", 4);
	end(&d);
	refused(&d, "RTM_NEWLINK");
	d.len = 0;
	msg(&d, RTM_NEWADDR, 0, SEQ);
	put(&d, "abcd", 4);
	end(&d);
	refused(&d, "RTM_NEWADDR");
	d.len = 0;
	msg(&d, RTM_NEWROUTE, 0, SEQ);
	put(&d, "abcdefgh", 8);
	end(&d);
	refused(&d, "RTM_NEWROUTE");
}

static void
t_attribute_length_lies(void **st)
{
	struct ifinfomsg ifi = { .ifi_index = 2 };
	struct dgram d = { .len = 0 };
	struct rtattr a;

	(void)st;
	msg(&d, RTM_NEWLINK, 0, SEQ);
	put(&d, &ifi, sizeof(ifi));
	a.rta_len = 200; /* past the end of the message */
	a.rta_type = IFLA_IFNAME;
	put(&d, &a, sizeof(a));
	put(&d, "eth0", 4);
	end(&d);
	refused(&d, "attribute");
	d.len = 0;
	msg(&d, RTM_NEWLINK, 0, SEQ);
	put(&d, &ifi, sizeof(ifi));
	a.rta_len = 2; /* shorter than its own header */
	put(&d, &a, sizeof(a));
	end(&d);
	refused(&d, "attribute");
}

static void
link_with(struct dgram *d, int index, uint16_t type, const void *p, size_t n)
{
	struct ifinfomsg ifi = { .ifi_index = index };

	d->len = 0;
	msg(d, RTM_NEWLINK, 0, SEQ);
	put(d, &ifi, sizeof(ifi));
	if (type != IFLA_IFNAME)
		attr_str(d, IFLA_IFNAME, "eth0");
	attr(d, type, p, n);
	end(d);
}

static void
t_link_attribute_refusals(void **st)
{
	struct dgram d;
	uint8_t big[40] = { 0 };

	(void)st;
	link_with(&d, 2, IFLA_IFNAME, "eth0", 4); /* no NUL */
	refused(&d, "IFLA_IFNAME");
	link_with(&d, 2, IFLA_IFNAME, "0123456789abcdef", 17); /* 16 characters */
	refused(&d, "IFLA_IFNAME");
	link_with(&d, 2, IFLA_IFNAME, "", 1); /* empty */
	refused(&d, "IFLA_IFNAME");
	link_with(&d, 2, IFLA_ADDRESS, big, 33);
	refused(&d, "IFLA_ADDRESS");
	link_with(&d, 2, IFLA_PERM_ADDRESS, big, 33);
	refused(&d, "IFLA_PERM_ADDRESS");
	link_with(&d, 2, IFLA_MTU, "\x01\x02", 2);
	refused(&d, "IFLA_MTU");
	link_with(&d, 2, IFLA_MASTER, "\xff\xff\xff\xff", 4);
	refused(&d, "IFLA_MASTER");
	link_with(&d, 0, IFLA_MTU, "\0\0\0\0", 4);
	refused(&d, "index");
	link_with(&d, -3, IFLA_MTU, "\0\0\0\0", 4);
	refused(&d, "index");
	link_with(&d, 2, IFLA_LINKINFO, "\x02\0\x01\0", 4); /* nested length lies */
	refused(&d, "IFLA_LINKINFO");
	d.len = 0;
	{
		struct ifinfomsg ifi = { .ifi_index = 2 };
		msg(&d, RTM_NEWLINK, 0, SEQ);
		put(&d, &ifi, sizeof(ifi));
		attr_u32(&d, IFLA_MTU, 1500);
		end(&d);
	}
	refused(&d, "no name");
}

static void
addr_with(struct dgram *d, uint8_t family, uint8_t plen, uint32_t index, uint16_t type,
    const void *p, size_t n)
{
	struct ifaddrmsg ifa = { family, plen, 0, 0, index };

	d->len = 0;
	msg(d, RTM_NEWADDR, 0, SEQ);
	put(d, &ifa, sizeof(ifa));
	if (p != NULL)
		attr(d, type, p, n);
	end(d);
}

static void
t_addr_attribute_refusals(void **st)
{
	struct dgram d;
	uint8_t a16[16] = { 0x20, 0x01, 0x0d, 0xb8 };

	(void)st;
	addr_with(&d, AF_INET, 24, 2, IFA_ADDRESS, a16, 16); /* v6 bytes in a v4 message */
	refused(&d, "IFA_ADDRESS");
	addr_with(&d, AF_INET6, 64, 2, IFA_ADDRESS, a16, 4);
	refused(&d, "IFA_ADDRESS");
	addr_with(&d, AF_INET, 33, 2, IFA_ADDRESS, a16, 4);
	refused(&d, "prefix");
	addr_with(&d, AF_INET6, 129, 2, IFA_ADDRESS, a16, 16);
	refused(&d, "prefix");
	addr_with(&d, AF_INET, 24, 0, IFA_ADDRESS, a16, 4);
	refused(&d, "index");
	addr_with(&d, AF_INET, 24, 2, IFA_FLAGS, "\x01", 1);
	refused(&d, "IFA_FLAGS");
	addr_with(&d, AF_INET, 24, 2, IFA_CACHEINFO, a16, 8);
	refused(&d, "IFA_CACHEINFO");
	addr_with(&d, AF_INET, 24, 2, 0, NULL, 0);
	refused(&d, "no address");
}

static void
route_with(struct dgram *d, uint8_t family, uint8_t dlen, uint16_t type, const void *p,
    size_t n)
{
	struct rtmsg rtm = { .rtm_family = family, .rtm_dst_len = dlen,
		.rtm_table = RT_TABLE_MAIN, .rtm_type = RTN_UNICAST };

	d->len = 0;
	msg(d, RTM_NEWROUTE, 0, SEQ);
	put(d, &rtm, sizeof(rtm));
	attr(d, type, p, n);
	end(d);
}

static void
t_route_attribute_refusals(void **st)
{
	struct dgram d;
	uint8_t via[20] = { 0 };
	uint16_t fam;

	(void)st;
	route_with(&d, AF_INET, 33, RTA_OIF, "\x02\0\0\0", 4);
	refused(&d, "prefix");
	route_with(&d, AF_INET, 24, RTA_DST, via, 16);
	refused(&d, "RTA_DST");
	route_with(&d, AF_INET6, 0, RTA_GATEWAY, via, 4);
	refused(&d, "RTA_GATEWAY");
	route_with(&d, AF_INET, 0, RTA_PREFSRC, via, 3);
	refused(&d, "RTA_PREFSRC");
	route_with(&d, AF_INET, 0, RTA_OIF, "\x02\0", 2);
	refused(&d, "RTA_OIF");
	route_with(&d, AF_INET, 0, RTA_PRIORITY, "\x02\0\0\0\0", 5);
	refused(&d, "RTA_PRIORITY");
	route_with(&d, AF_INET, 0, RTA_TABLE, "\x02", 1);
	refused(&d, "RTA_TABLE");
	fam = 99;
	memcpy(via, &fam, 2);
	route_with(&d, AF_INET, 0, RTA_VIA, via, 18);
	refused(&d, "RTA_VIA");
	fam = AF_INET6;
	memcpy(via, &fam, 2);
	route_with(&d, AF_INET, 0, RTA_VIA, via, 6); /* v6 family, v4-sized address */
	refused(&d, "RTA_VIA");
	route_with(&d, AF_INET, 0, RTA_VIA, via, 1);
	refused(&d, "RTA_VIA");
	/* RTA_GATEWAY and RTA_VIA both: which one would the route use? */
	{
		struct rtmsg rtm = { .rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN,
			.rtm_type = RTN_UNICAST };
		d.len = 0;
		msg(&d, RTM_NEWROUTE, 0, SEQ);
		put(&d, &rtm, sizeof(rtm));
		attr(&d, RTA_GATEWAY, "\xc0\0\x02\x01", 4);
		attr(&d, RTA_VIA, via, 18);
		end(&d);
		refused(&d, "RTA_VIA");
	}
}

static void
t_trailing_pad_accepted(void **st)
{
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };
	uint32_t n;

	(void)st;
	link_msg(&d, 2, "eth0", NULL, 1500);
	/* Three stray bytes inside the message after the last attribute. */
	d.b[d.len] = d.b[d.len + 1] = d.b[d.len + 2] = 0;
	d.len += 3;
	n = (uint32_t)d.len;
	memcpy(d.b, &n, 4);
	assert_int_equal(parse(&d, &s, &e), 0);
	assert_int_equal(S.nlinks, 1);
}

/* --- IFLA_LINKINFO: bonds, VLANs, bridges, ports --------------------------- */

/* An RTM_NEWLINK with IFLA_LINKINFO open: the caller adds the kind's
 * attributes, then calls link_info_end. */
static void
link_info_begin(struct dgram *d, int index, const char *name, uint32_t master)
{
	struct ifinfomsg ifi = { .ifi_type = ARPHRD_ETHER, .ifi_index = index,
		.ifi_flags = IFF_UP };

	msg(d, RTM_NEWLINK, NLM_F_MULTI, SEQ);
	put(d, &ifi, sizeof(ifi));
	attr_str(d, IFLA_IFNAME, name);
	attr(d, IFLA_ADDRESS, "\x52\x54\x00\x12\x34\x57", 6);
	if (master != 0)
		attr_u32(d, IFLA_MASTER, master);
	nest_begin(d, IFLA_LINKINFO);
}

static void
link_info_end(struct dgram *d)
{
	nest_end(d);
	end(d);
}

static void
t_bond_settings(void **st)
{
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };
	const struct net_bond *b;

	(void)st;
	link_info_begin(&d, 4, "bond0", 0);
	attr_str(&d, IFLA_INFO_KIND, "bond");
	nest_begin(&d, IFLA_INFO_DATA);
	attr_u8(&d, IFLA_BOND_MODE, 4);
	attr_u32(&d, IFLA_BOND_ACTIVE_SLAVE, 2); /* state, not configuration: ignored */
	attr_u32(&d, IFLA_BOND_MIIMON, 100);
	attr_u32(&d, IFLA_BOND_UPDELAY, 200);
	attr_u32(&d, IFLA_BOND_DOWNDELAY, 300);
	attr_u32(&d, IFLA_BOND_ARP_INTERVAL, 1000);
	nest_begin(&d, IFLA_BOND_ARP_IP_TARGET);
	attr(&d, 0, "\xc6\x33\x64\x01", 4);
	attr(&d, 1, "\xc6\x33\x64\x02", 4);
	nest_end(&d);
	attr_u32(&d, IFLA_BOND_ARP_VALIDATE, 3);
	attr_u32(&d, IFLA_BOND_PRIMARY, 2);
	attr_u8(&d, IFLA_BOND_FAIL_OVER_MAC, 1);
	attr_u8(&d, IFLA_BOND_XMIT_HASH_POLICY, 1);
	attr_u32(&d, IFLA_BOND_MIN_LINKS, 2);
	attr_u8(&d, IFLA_BOND_AD_LACP_RATE, 1);
	attr_u8(&d, IFLA_BOND_AD_SELECT, 2);
	nest_end(&d);
	link_info_end(&d);
	assert_int_equal(parse(&d, &s, &e), 0);
	assert_int_equal(S.nlinks, 1);
	assert_string_equal(S.links[0].kind, "bond");
	assert_true(S.links[0].has_info_data);
	b = &S.links[0].bond;
	assert_int_equal(b->mode, 4);
	assert_int_equal(b->miimon_ms, 100);
	assert_int_equal(b->updelay_ms, 200);
	assert_int_equal(b->downdelay_ms, 300);
	assert_int_equal(b->arp_interval_ms, 1000);
	assert_int_equal(b->narp_targets, 2);
	assert_memory_equal(b->arp_targets[1], "\xc6\x33\x64\x02", 4);
	assert_int_equal(b->arp_validate, 3);
	assert_int_equal(b->primary, 2);
	assert_int_equal(b->fail_over_mac, 1);
	assert_int_equal(b->xmit_hash_policy, 1);
	assert_int_equal(b->min_links, 2);
	assert_int_equal(b->lacp_rate, 1);
	assert_int_equal(b->ad_select, 2);
}

/* The kernel writes the kind first; the parser does not rely on it. */
static void
t_data_before_kind(void **st)
{
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };

	(void)st;
	link_info_begin(&d, 5, "bond0.100", 0);
	nest_begin(&d, IFLA_INFO_DATA);
	attr_u16(&d, IFLA_VLAN_ID, 100);
	nest_end(&d);
	attr_str(&d, IFLA_INFO_KIND, "vlan");
	link_info_end(&d);
	assert_int_equal(parse(&d, &s, &e), 0);
	assert_int_equal(S.links[0].vlan.id, 100);
	assert_true(S.links[0].has_info_data);
}

static void
t_vlan_settings(void **st)
{
	struct ifla_vlan_flags f = { 0x1 | 0x2, 0xffffffffu };
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };

	(void)st;
	link_info_begin(&d, 5, "bond0.200", 0);
	attr_str(&d, IFLA_INFO_KIND, "vlan");
	nest_begin(&d, IFLA_INFO_DATA);
	attr_u16(&d, IFLA_VLAN_ID, 200);
	attr_u16(&d, IFLA_VLAN_PROTOCOL, htons(0x88a8));
	attr(&d, IFLA_VLAN_FLAGS, &f, sizeof(f));
	attr(&d, IFLA_VLAN_EGRESS_QOS, NULL, 0); /* not carried: skipped */
	nest_end(&d);
	nest_end(&d); /* the IFLA_LINKINFO; IFLA_LINK comes after it here */
	attr_u32(&d, IFLA_LINK, 4);
	end(&d);
	assert_int_equal(parse(&d, &s, &e), 0);
	assert_int_equal(S.links[0].vlan.id, 200);
	assert_int_equal(S.links[0].vlan.protocol, 0x88a8);
	assert_int_equal(S.links[0].vlan.flags, 0x3);
	assert_int_equal(S.links[0].link, 4);
	assert_false(S.links[0].link_elsewhere);
}

static void
t_bridge_settings(void **st)
{
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };
	const struct net_bridge *b;

	(void)st;
	link_info_begin(&d, 6, "br0", 0);
	attr_str(&d, IFLA_INFO_KIND, "bridge");
	nest_begin(&d, IFLA_INFO_DATA);
	attr_u32(&d, IFLA_BR_FORWARD_DELAY, 1500);
	attr_u32(&d, IFLA_BR_HELLO_TIME, 200);
	attr_u32(&d, IFLA_BR_MAX_AGE, 2000);
	attr_u32(&d, IFLA_BR_STP_STATE, 1);
	attr_u16(&d, IFLA_BR_PRIORITY, 4096);
	attr_u8(&d, IFLA_BR_VLAN_FILTERING, 1);
	nest_end(&d);
	link_info_end(&d);
	assert_int_equal(parse(&d, &s, &e), 0);
	b = &S.links[0].bridge;
	assert_int_equal(b->forward_delay, 1500);
	assert_int_equal(b->hello_time, 200);
	assert_int_equal(b->max_age, 2000);
	assert_int_equal(b->stp_state, 1);
	assert_int_equal(b->priority, 4096);
	assert_int_equal(b->vlan_filtering, 1);
}

/* A bond port: the MAC it had when enslaved comes in IFLA_INFO_SLAVE_DATA;
 * a bridge port's slave data is not read. */
static void
t_port_slave_info(void **st)
{
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };

	(void)st;
	link_info_begin(&d, 3, "eth2", 4);
	attr_str(&d, IFLA_INFO_SLAVE_KIND, "bond");
	nest_begin(&d, IFLA_INFO_SLAVE_DATA);
	attr_u8(&d, IFLA_BOND_SLAVE_STATE, 1);
	attr(&d, IFLA_BOND_SLAVE_PERM_HWADDR, "\x52\x54\x00\x12\x34\x58", 6);
	nest_end(&d);
	link_info_end(&d);
	link_info_begin(&d, 7, "eth3", 6);
	attr_str(&d, IFLA_INFO_SLAVE_KIND, "bridge");
	nest_begin(&d, IFLA_INFO_SLAVE_DATA);
	attr(&d, IFLA_BOND_SLAVE_PERM_HWADDR, "\x02", 1); /* a bridge's own attribute 4 */
	nest_end(&d);
	link_info_end(&d);
	assert_int_equal(parse(&d, &s, &e), 0);
	assert_int_equal(S.nlinks, 2);
	assert_string_equal(S.links[0].kind, "");
	assert_string_equal(S.links[0].slave_kind, "bond");
	assert_int_equal(S.links[0].master, 4);
	assert_int_equal(S.links[0].slave_perm_mac_len, 6);
	assert_memory_equal(S.links[0].slave_perm_mac, "\x52\x54\x00\x12\x34\x58", 6);
	assert_false(S.links[0].has_info_data);
	assert_string_equal(S.links[1].slave_kind, "bridge");
	assert_int_equal(S.links[1].slave_perm_mac_len, 0);
}

static void
t_link_in_other_namespace(void **st)
{
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };

	(void)st;
	link_info_begin(&d, 9, "vlan9", 0);
	attr_str(&d, IFLA_INFO_KIND, "vlan");
	nest_end(&d);
	attr_u32(&d, IFLA_LINK, 2);
	attr_u32(&d, IFLA_LINK_NETNSID, 0);
	end(&d);
	assert_int_equal(parse(&d, &s, &e), 0);
	assert_true(S.links[0].link_elsewhere);
	assert_false(S.links[0].has_info_data);
}

/* The kernel sends at most 16 targets; more are not kept. */
static void
t_arp_targets_capped(void **st)
{
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };
	uint8_t a[4] = { 192, 0, 2, 0 };
	int i;

	(void)st;
	link_info_begin(&d, 4, "bond0", 0);
	attr_str(&d, IFLA_INFO_KIND, "bond");
	nest_begin(&d, IFLA_INFO_DATA);
	nest_begin(&d, IFLA_BOND_ARP_IP_TARGET);
	for (i = 0; i < NET_BOND_ARP_TARGETS_MAX + 4; i++) {
		a[3] = (uint8_t)i;
		attr(&d, (uint16_t)i, a, 4);
	}
	nest_end(&d);
	nest_end(&d);
	link_info_end(&d);
	assert_int_equal(parse(&d, &s, &e), 0);
	assert_int_equal(S.links[0].bond.narp_targets, NET_BOND_ARP_TARGETS_MAX);
	assert_int_equal(S.links[0].bond.arp_targets[15][3], 15);
}

/* Data of a kind the parser does not read is skipped whole. */
static void
t_other_kind_data_skipped(void **st)
{
	struct nk_err e = { "" };
	enum netlink_status s;
	struct dgram d = { .len = 0 };

	(void)st;
	link_info_begin(&d, 8, "veth0", 0);
	attr_str(&d, IFLA_INFO_KIND, "veth");
	nest_begin(&d, IFLA_INFO_DATA);
	attr(&d, 1, "\x01\x02\x03", 3);
	nest_end(&d);
	link_info_end(&d);
	assert_int_equal(parse(&d, &s, &e), 0);
	assert_string_equal(S.links[0].kind, "veth");
}

/* One attribute of a kind's data, wrongly sized or out of range. */
static void
kind_attr(struct dgram *d, const char *kind, int slave, uint16_t type, const void *p, size_t n)
{
	d->len = 0;
	d->depth = 0;
	link_info_begin(d, 4, "x0", 0);
	attr_str(d, slave ? IFLA_INFO_SLAVE_KIND : IFLA_INFO_KIND, kind);
	nest_begin(d, slave ? IFLA_INFO_SLAVE_DATA : IFLA_INFO_DATA);
	attr(d, type, p, n);
	nest_end(d);
	link_info_end(d);
}

static void
t_linkinfo_refusals(void **st)
{
	struct dgram d = { .len = 0 };
	uint8_t big[40] = { 0 };

	(void)st;
	kind_attr(&d, "bond", 0, IFLA_BOND_MODE, "\x01\0\0\0", 4);
	refused(&d, "bond attribute");
	kind_attr(&d, "bond", 0, IFLA_BOND_MIIMON, "\x64\0", 2);
	refused(&d, "bond attribute");
	kind_attr(&d, "bond", 0, IFLA_BOND_PRIMARY, "\0\0\0\0", 4); /* no index 0 */
	refused(&d, "bond attribute");
	kind_attr(&d, "bond", 0, IFLA_BOND_PRIMARY, "\xff\xff\xff\xff", 4);
	refused(&d, "bond attribute");
	kind_attr(&d, "bond", 0, IFLA_BOND_AD_LACP_RATE, "\x01\0", 2);
	refused(&d, "bond attribute");
	kind_attr(&d, "bond", 0, IFLA_BOND_ARP_IP_TARGET, "\x07\0\0\0\xc0\0\x02", 7);
	refused(&d, "bond attribute"); /* a target of 3 bytes */
	kind_attr(&d, "bond", 0, IFLA_BOND_ARP_IP_TARGET, "\x09\0\0\0", 4);
	refused(&d, "bond attribute"); /* nested length lies */
	kind_attr(&d, "vlan", 0, IFLA_VLAN_ID, "\xff\x0f", 2); /* 4095 */
	refused(&d, "IFLA_VLAN_ID");
	kind_attr(&d, "vlan", 0, IFLA_VLAN_ID, "\x64\0\0\0", 4);
	refused(&d, "IFLA_VLAN_ID");
	kind_attr(&d, "vlan", 0, IFLA_VLAN_PROTOCOL, "\x81\0\0\0", 4);
	refused(&d, "IFLA_VLAN_PROTOCOL");
	kind_attr(&d, "vlan", 0, IFLA_VLAN_FLAGS, "\x01\0\0\0", 4);
	refused(&d, "IFLA_VLAN_FLAGS");
	kind_attr(&d, "bridge", 0, IFLA_BR_STP_STATE, "\x01", 1);
	refused(&d, "bridge attribute");
	kind_attr(&d, "bridge", 0, IFLA_BR_PRIORITY, "\0\x10\0\0", 4);
	refused(&d, "bridge attribute");
	kind_attr(&d, "bridge", 0, IFLA_BR_VLAN_FILTERING, "\x01\0\0\0", 4);
	refused(&d, "bridge attribute");
	kind_attr(&d, "bond", 1, IFLA_BOND_SLAVE_PERM_HWADDR, big, 33);
	refused(&d, "IFLA_BOND_SLAVE_PERM_HWADDR");
	link_with(&d, 2, IFLA_LINK, "\x02\0", 2);
	refused(&d, "IFLA_LINK");
	link_with(&d, 2, IFLA_LINK, "\xff\xff\xff\xff", 4);
	refused(&d, "IFLA_LINK");
	link_with(&d, 2, IFLA_LINK_NETNSID, "\0", 1);
	refused(&d, "IFLA_LINK_NETNSID");
	link_with(&d, 2, IFLA_LINKINFO, "\x08\0\x04\0bond", 8); /* slave kind, no NUL */
	refused(&d, "IFLA_INFO_SLAVE_KIND");
	link_with(&d, 2, IFLA_LINKINFO, "\x09\0\x02\0\0\0\0\0", 8); /* data length lies */
	refused(&d, "IFLA_LINKINFO");
	/* A bond's data whose own attribute's length lies. */
	d.len = 0;
	link_info_begin(&d, 4, "bond0", 0);
	attr_str(&d, IFLA_INFO_KIND, "bond");
	attr(&d, IFLA_INFO_DATA, "\x09\0\x01\0\x01\0\0\0", 8);
	link_info_end(&d);
	refused(&d, "bond attributes");
}

/* --- recorded from a VM: tests/unit/fixtures/netlink/bond-vlan-bridge --- */

#define GUEST_DIR "tests/unit/fixtures/netlink/bond-vlan-bridge"

/* Parses every datagram of the recorded link, address and route dumps,
 * in the order netlink_dump() reads them. */
static size_t
parse_recorded(const char *dir)
{
	static const char *const kinds[] = { "link", "addr", "route" };
	static uint8_t buf[NETLINK_RECV_MAX_BYTES];
	struct nk_err e = { "" };
	enum netlink_status s = NETLINK_MORE;
	char path[256];
	size_t k, i, n, files = 0;
	uint32_t seq;
	FILE *f;

	for (k = 0; k < 3; k++) {
		for (i = 0;; i++) {
			snprintf(path, sizeof(path), "%s/%s-%zu", dir, kinds[k], i);
			if ((f = fopen(path, "rb")) == NULL)
				break;
			n = fread(buf, 1, sizeof(buf), f);
			fclose(f);
			assert_true(n >= 16);
			memcpy(&seq, buf + 8, 4);
			assert_int_equal(seq, k + 1); /* as netlink_dump numbers them */
			if (netlink_parse(buf, n, seq, &S, &s, &e) != 0)
				fail_msg("%s: %s", path, e.msg);
			files++;
		}
		assert_int_equal(s, NETLINK_DONE);
	}
	return files;
}

static const struct net_link *
named(const char *name)
{
	size_t i;

	for (i = 0; i < S.nlinks; i++)
		if (strcmp(S.links[i].name, name) == 0)
			return &S.links[i];
	fail_msg("no link %s in the recorded dump", name);
	return NULL;
}

/* Debian's kernel in the e2e VM (scenario bond-dump): an active-backup
 * bond over eth1 and eth2, 802.1Q and 802.1ad VLANs on it, a bridge over
 * eth3, and docker0, a bridge without ports. */
static void
t_recorded_guest_topology(void **st)
{
	const struct net_link *bond, *eth1, *eth2, *v100, *v200, *br, *eth3;

	(void)st;
	assert_true(parse_recorded(GUEST_DIR) >= 3);
	bond = named("bond0");
	eth1 = named("eth1");
	eth2 = named("eth2");
	v100 = named("bond0.100");
	v200 = named("bond0.200");
	br = named("br0");
	eth3 = named("eth3");
	assert_string_equal(bond->kind, "bond");
	assert_true(bond->has_info_data);
	assert_int_equal(bond->bond.mode, 1);
	assert_int_equal(bond->bond.miimon_ms, 100);
	assert_int_equal(bond->bond.primary, eth1->index);
	assert_memory_equal(bond->mac, "\x52\x54\x00\x12\x34\x57", 6);
	/* The bond gave eth2 eth1's MAC; the permanent one is still eth2's. */
	assert_int_equal(eth2->master, bond->index);
	assert_string_equal(eth2->slave_kind, "bond");
	assert_memory_equal(eth2->mac, "\x52\x54\x00\x12\x34\x57", 6);
	assert_memory_equal(eth2->perm_mac, "\x52\x54\x00\x12\x34\x58", 6);
	assert_memory_equal(eth2->slave_perm_mac, "\x52\x54\x00\x12\x34\x58", 6);
	assert_int_equal(eth1->master, bond->index);
	assert_string_equal(v100->kind, "vlan");
	assert_int_equal(v100->link, bond->index);
	assert_int_equal(v100->vlan.id, 100);
	assert_int_equal(v100->vlan.protocol, 0x8100);
	assert_int_equal(v200->vlan.id, 200);
	assert_int_equal(v200->vlan.protocol, 0x88a8);
	assert_string_equal(br->kind, "bridge");
	assert_int_equal(br->bridge.stp_state, 0);
	assert_int_equal(eth3->master, br->index);
	assert_string_equal(eth3->slave_kind, "bridge");
	assert_string_equal(named("docker0")->kind, "bridge");
	assert_true(S.naddrs >= 5);
	assert_true(S.nroutes >= 3);
}

/* Every recorded datagram cut anywhere: refused or a shorter valid one,
 * never a read outside it (ASan and valgrind watch). */
static void
t_recorded_truncated_anywhere(void **st)
{
	static uint8_t buf[NETLINK_RECV_MAX_BYTES];
	struct nk_err e = { "" };
	enum netlink_status s;
	size_t n, cut;
	uint32_t seq;
	FILE *f;
	int rc;

	(void)st;
	assert_non_null(f = fopen(GUEST_DIR "/link-0", "rb"));
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	memcpy(&seq, buf + 8, 4);
	for (cut = 0; cut < n; cut += 1 + cut / 64) {
		memset(&S, 0, sizeof(S));
		rc = netlink_parse(buf, cut, seq, &S, &s, &e);
		assert_true(rc == 0 || rc == NK_E_IO);
	}
}

/* --- the dump loop, through wrapped socket calls -------------------------- */

int __real_socket(int domain, int type, int protocol);
ssize_t __real_sendto(int fd, const void *buf, size_t len, int flags,
    const struct sockaddr *to, socklen_t tolen);
ssize_t __real_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
    socklen_t *fromlen);

#define SCRIPT_MAX 16

static struct {
	int real;                 /* pass through to the kernel */
	int sockets;              /* opened */
	uint16_t sent_type[8];
	uint16_t sent_flags[8];
	uint32_t last_seq;
	size_t nsent;
	struct dgram *q[SCRIPT_MAX];
	uint32_t from_pid[SCRIPT_MAX];
	int fail_errno[SCRIPT_MAX];
	size_t claim_len[SCRIPT_MAX]; /* a MSG_TRUNC length larger than the buffer */
	size_t nq, at;
	int repeat;               /* serve the first datagram forever */
} W;

int
__wrap_socket(int domain, int type, int protocol)
{
	if (W.real)
		return __real_socket(domain, type, protocol);
	assert_int_equal(domain, AF_NETLINK);
	assert_int_equal(protocol, NETLINK_ROUTE);
	assert_true(type & SOCK_CLOEXEC);
	W.sockets++;
	return __real_socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

ssize_t
__wrap_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
    socklen_t tolen)
{
	struct nlmsghdr h;
	const struct sockaddr_nl *nl = (const struct sockaddr_nl *)to;

	if (W.real)
		return __real_sendto(fd, buf, len, flags, to, tolen);
	assert_true(len >= sizeof(h));
	assert_int_equal(tolen, sizeof(*nl));
	assert_int_equal(nl->nl_family, AF_NETLINK);
	assert_int_equal(nl->nl_pid, 0);
	memcpy(&h, buf, sizeof(h));
	assert_int_equal(h.nlmsg_len, len);
	assert_true(W.nsent < 8);
	W.sent_type[W.nsent] = h.nlmsg_type;
	W.sent_flags[W.nsent++] = h.nlmsg_flags;
	W.last_seq = h.nlmsg_seq;
	return (ssize_t)len;
}

ssize_t
__wrap_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
    socklen_t *fromlen)
{
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	struct dgram *d;
	size_t off;
	size_t i;

	if (W.real)
		return __real_recvfrom(fd, buf, len, flags, from, fromlen);
	assert_true(flags & MSG_TRUNC);
	if (W.at >= W.nq && !W.repeat) {
		errno = EAGAIN; /* what SO_RCVTIMEO gives */
		return -1;
	}
	i = W.repeat ? 0 : W.at;
	W.at++;
	if (W.fail_errno[i]) {
		errno = W.fail_errno[i];
		return -1;
	}
	d = W.q[i];
	/* Answers carry the sequence number of the request just sent. */
	for (off = 0; off + sizeof(struct nlmsghdr) <= d->len;) {
		uint32_t n;

		memcpy(d->b + off + 8, &W.last_seq, 4);
		memcpy(&n, d->b + off, 4);
		off += NLMSG_ALIGN(n);
	}
	assert_true(d->len <= len);
	memcpy(buf, d->b, d->len);
	nl.nl_pid = W.from_pid[i];
	assert_true(*fromlen >= sizeof(nl));
	memcpy(from, &nl, sizeof(nl));
	*fromlen = sizeof(nl);
	return (ssize_t)(W.claim_len[i] ? W.claim_len[i] : d->len);
}

static struct dgram *
script(void)
{
	struct dgram *d = calloc(1, sizeof(*d));

	assert_non_null(d);
	assert_true(W.nq < SCRIPT_MAX);
	W.q[W.nq++] = d;
	return d;
}

static int
wsetup(void **st)
{
	(void)st;
	memset(&W, 0, sizeof(W));
	memset(&S, 0, sizeof(S));
	return 0;
}

static int
wteardown(void **st)
{
	(void)st;
	for (size_t i = 0; i < W.nq; i++)
		free(W.q[i]);
	memset(&W, 0, sizeof(W));
	return 0;
}

/* A complete dump: links over two datagrams, then addresses, then routes. */
static void
script_good(void)
{
	struct dgram *d;

	d = script();
	link_msg(d, 1, "lo", NULL, 65536);
	d = script();
	link_msg(d, 2, "eth0", "\x52\x54\x00\x12\x34\x56", 1500);
	done_msg(d, 0);
	d = script();
	addr_msg(d, 2, AF_INET, "192.0.2.10", 24, 0xffffffffu);
	done_msg(d, 0);
	d = script();
	route_msg(d, AF_INET, NULL, 0, "192.0.2.1", 2, RT_TABLE_MAIN, RTPROT_BOOT, RTN_UNICAST);
	done_msg(d, 0);
}

static void
t_dump_scripted(void **st)
{
	struct nk_err e = { "" };

	(void)st;
	script_good();
	assert_int_equal(netlink_dump(&S, &e), 0);
	assert_int_equal(W.sockets, 1);
	assert_int_equal(W.nsent, 3);
	assert_int_equal(W.sent_type[0], RTM_GETLINK);
	assert_int_equal(W.sent_type[1], RTM_GETADDR);
	assert_int_equal(W.sent_type[2], RTM_GETROUTE);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(W.sent_flags[i], NLM_F_REQUEST | NLM_F_DUMP);
	assert_int_equal(S.nlinks, 2);
	assert_int_equal(S.naddrs, 1);
	assert_int_equal(S.nroutes, 1);
}

static void
t_dump_ignores_other_senders(void **st)
{
	struct nk_err e = { "" };
	struct dgram *d;

	(void)st;
	d = script(); /* a local process posing as the kernel */
	link_msg(d, 66, "evil0", "\x02\0\0\0\0\x01", 1500);
	done_msg(d, 0);
	W.from_pid[0] = 4242;
	script_good();
	assert_int_equal(netlink_dump(&S, &e), 0);
	assert_null(netlink_link(&S, 66));
	assert_int_equal(S.nlinks, 2);
}

static void
t_dump_flood_from_others_bounded(void **st)
{
	struct nk_err e = { "" };
	struct dgram *d;
	size_t i;

	(void)st;
	d = script();
	link_msg(d, 66, "evil0", NULL, 1500);
	/* The same fake datagram, over and over. */
	for (i = 0; i < SCRIPT_MAX; i++)
		W.from_pid[i] = 4242;
	W.repeat = 1;
	assert_int_equal(netlink_dump(&S, &e), NK_E_IO);
	assert_non_null(strstr(e.msg, "flooded"));
	assert_int_equal(W.at, NETLINK_FOREIGN_MAX + 1);
}

static void
t_dump_retries_when_interrupted(void **st)
{
	struct nk_err e = { "" };
	struct dgram *d;

	(void)st;
	d = script();
	link_msg(d, 9, "gone0", NULL, 1500);
	msg(d, NLMSG_DONE, NLM_F_MULTI | NLM_F_DUMP_INTR, 0);
	put(d, "\0\0\0\0", 4);
	end(d);
	script_good();
	assert_int_equal(netlink_dump(&S, &e), 0);
	assert_int_equal(W.sockets, 2); /* a fresh socket for the second try */
	assert_null(netlink_link(&S, 9)); /* nothing of the first try survives */
	assert_int_equal(S.nlinks, 2);
}

static void
t_dump_gives_up_after_tries(void **st)
{
	struct nk_err e = { "" };
	struct dgram *d;
	int i;

	(void)st;
	for (i = 0; i < NETLINK_DUMP_TRIES; i++) {
		d = script();
		msg(d, RTM_NEWLINK, NLM_F_MULTI | NLM_F_DUMP_INTR, 0);
		end(d);
	}
	assert_int_equal(netlink_dump(&S, &e), NK_E_IO);
	assert_non_null(strstr(e.msg, "changed"));
	assert_int_equal(S.nlinks, 0);
}

static void
t_dump_timeout(void **st)
{
	struct nk_err e = { "" };
	struct dgram *d;

	(void)st;
	d = script();
	link_msg(d, 2, "eth0", NULL, 1500); /* and then silence */
	assert_int_equal(netlink_dump(&S, &e), NK_E_IO);
	assert_non_null(strstr(e.msg, "no answer"));
	assert_int_equal(S.nlinks, 0); /* nothing half-filled is returned */
}

static void
t_dump_oversized_datagram(void **st)
{
	struct nk_err e = { "" };
	struct dgram *d;

	(void)st;
	d = script();
	link_msg(d, 2, "eth0", NULL, 1500);
	W.claim_len[0] = NETLINK_RECV_MAX_BYTES + 1;
	assert_int_equal(netlink_dump(&S, &e), NK_E_IO);
	assert_non_null(strstr(e.msg, "datagram"));
}

static void
t_dump_receive_error(void **st)
{
	struct nk_err e = { "" };

	(void)st;
	script();
	W.fail_errno[0] = ENOBUFS;
	assert_int_equal(netlink_dump(&S, &e), NK_E_IO);
	assert_non_null(strstr(e.msg, "receive"));
}

static void
t_dump_kernel_refuses(void **st)
{
	struct nk_err e = { "" };
	struct nlmsgerr err = { -EACCES, { 0 } };
	struct dgram *d;

	(void)st;
	d = script();
	msg(d, NLMSG_ERROR, 0, 0);
	put(d, &err, sizeof(err));
	end(d);
	assert_int_equal(netlink_dump(&S, &e), NK_E_PERM);
}

/* This machine's own kernel: loopback is always there. */
static void
t_dump_live(void **st)
{
	struct nk_err e = { "" };
	const struct net_link *lo = NULL;
	size_t i;

	(void)st;
	W.real = 1;
	assert_int_equal(netlink_dump(&S, &e), 0);
	for (i = 0; i < S.nlinks; i++)
		if (S.links[i].flags & IFF_LOOPBACK)
			lo = &S.links[i];
	assert_non_null(lo);
	assert_string_equal(lo->name, "lo");
	assert_int_equal(lo->type, ARPHRD_LOOPBACK);
}

#define T(f) cmocka_unit_test_setup(f, setup)
#define TW(f) cmocka_unit_test_setup_teardown(f, wsetup, wteardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(t_link_full),
		T(t_addresses),
		T(t_address_local_wins),
		T(t_routes_filtered),
		T(t_route_via_v6_gateway),
		T(t_route_cloned_sourced_multipath),
		T(t_other_families_and_types_skipped),
		T(t_same_link_twice_replaced),
		T(t_caps_counted),
		T(t_done_error_intr),
		T(t_nlmsg_error_refusals),
		T(t_wrong_sequence),
		T(t_truncated_anywhere),
		T(t_corrupted_bytes_bounded),
		T(t_header_length_lies),
		T(t_short_bodies),
		T(t_attribute_length_lies),
		T(t_link_attribute_refusals),
		T(t_addr_attribute_refusals),
		T(t_route_attribute_refusals),
		T(t_trailing_pad_accepted),
		T(t_bond_settings),
		T(t_data_before_kind),
		T(t_vlan_settings),
		T(t_bridge_settings),
		T(t_port_slave_info),
		T(t_link_in_other_namespace),
		T(t_arp_targets_capped),
		T(t_other_kind_data_skipped),
		T(t_linkinfo_refusals),
		T(t_recorded_guest_topology),
		T(t_recorded_truncated_anywhere),
		TW(t_dump_scripted),
		TW(t_dump_ignores_other_senders),
		TW(t_dump_flood_from_others_bounded),
		TW(t_dump_retries_when_interrupted),
		TW(t_dump_gives_up_after_tries),
		TW(t_dump_timeout),
		TW(t_dump_oversized_datagram),
		TW(t_dump_receive_error),
		TW(t_dump_kernel_refuses),
		TW(t_dump_live),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
