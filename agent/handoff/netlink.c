/* netlink: rtnetlink dumps of links, addresses and routes. Every header
 * and attribute is copied out with memcpy (datagrams from a fuzzer are
 * not aligned) and checked against what remains before it is read. */
#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#ifndef IFLA_PERM_ADDRESS
#define IFLA_PERM_ADDRESS 54
#endif
#ifndef NLM_F_DUMP_INTR
#define NLM_F_DUMP_INTR 0x10
#endif
#define NET_VLAN_ID_MAX 4095 /* 12 bits; 4095 itself is reserved */

#define NETLINK_DUMP_MAX_DATAGRAMS 65536 /* per dump: ~2 GiB at 32 KiB each */

#define ATTR_HDR_BYTES 4
#define ALIGN4(n) (((n) + 3) & ~(size_t)3)

/* One attribute inside [p, p + len); *off advances past it. 1: got one;
 * 0: none left; -1: malformed. Type flags (nested, byte order) are
 * stripped. Up to 3 trailing pad bytes are accepted. */
static int
attr_next(const uint8_t *p, size_t len, size_t *off, uint16_t *type, const uint8_t **data,
    size_t *dlen)
{
	uint16_t alen, atype;
	size_t rem;

	if (*off >= len || len - *off < ATTR_HDR_BYTES)
		return 0;
	rem = len - *off;
	memcpy(&alen, p + *off, 2);
	memcpy(&atype, p + *off + 2, 2);
	if (alen < ATTR_HDR_BYTES || alen > rem)
		return -1;
	*type = atype & NLA_TYPE_MASK;
	*data = p + *off + ATTR_HDR_BYTES;
	*dlen = alen - ATTR_HDR_BYTES;
	*off += ALIGN4((size_t)alen) > rem ? rem : ALIGN4((size_t)alen);
	return 1;
}

static int
get_u32(const uint8_t *d, size_t n, uint32_t *v)
{
	if (n != 4)
		return -1;
	memcpy(v, d, 4);
	return 0;
}

static int
get_u16(const uint8_t *d, size_t n, uint16_t *v)
{
	if (n != 2)
		return -1;
	memcpy(v, d, 2);
	return 0;
}

static int
get_u8(const uint8_t *d, size_t n, uint8_t *v)
{
	if (n != 1)
		return -1;
	*v = d[0];
	return 0;
}

/* An interface index: positive and an int. */
static int
get_index(const uint8_t *d, size_t n, int *v)
{
	uint32_t u;

	if (get_u32(d, n, &u) != 0 || u == 0 || u > INT32_MAX)
		return -1;
	*v = (int)u;
	return 0;
}

/* A NUL-terminated string of at most cap - 1 characters. */
static int
get_str(const uint8_t *d, size_t n, char *out, size_t cap)
{
	const uint8_t *nul = memchr(d, '\0', n);

	if (nul == NULL || (size_t)(nul - d) >= cap || nul == d)
		return -1;
	memcpy(out, d, (size_t)(nul - d) + 1);
	return 0;
}

static size_t
addr_bytes(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

static int
bad(struct nk_err *e, const char *what)
{
	return nk_fail(e, NK_E_IO, "netlink: malformed %s in the kernel's answer", what);
}

const struct net_link *
netlink_link(const struct net_state *s, int index)
{
	size_t i;

	for (i = 0; i < s->nlinks; i++)
		if (s->links[i].index == index)
			return &s->links[i];
	return NULL;
}

/* IFLA_BOND_ARP_IP_TARGET: one IPv4 address per nested attribute; more
 * than the kernel's 16 are not kept. */
static int
parse_arp_targets(const uint8_t *p, size_t len, struct net_bond *b)
{
	const uint8_t *d;
	size_t off = 0, n;
	uint16_t t;
	int r;

	while ((r = attr_next(p, len, &off, &t, &d, &n)) == 1) {
		if (n != 4)
			return -1;
		if (b->narp_targets < NET_BOND_ARP_TARGETS_MAX)
			memcpy(b->arp_targets[b->narp_targets++], d, 4);
	}
	return r;
}

static int
parse_bond(const uint8_t *p, size_t len, struct net_bond *b, struct nk_err *e)
{
	const uint8_t *d;
	size_t off = 0, n;
	uint16_t t;
	int r, ok;

	while ((r = attr_next(p, len, &off, &t, &d, &n)) == 1) {
		switch (t) {
		case IFLA_BOND_MODE: ok = get_u8(d, n, &b->mode); break;
		case IFLA_BOND_MIIMON: ok = get_u32(d, n, &b->miimon_ms); break;
		case IFLA_BOND_UPDELAY: ok = get_u32(d, n, &b->updelay_ms); break;
		case IFLA_BOND_DOWNDELAY: ok = get_u32(d, n, &b->downdelay_ms); break;
		case IFLA_BOND_ARP_INTERVAL: ok = get_u32(d, n, &b->arp_interval_ms); break;
		case IFLA_BOND_ARP_VALIDATE: ok = get_u32(d, n, &b->arp_validate); break;
		case IFLA_BOND_ARP_IP_TARGET:
			b->narp_targets = 0;
			ok = parse_arp_targets(d, n, b);
			break;
		case IFLA_BOND_PRIMARY: ok = get_index(d, n, &b->primary); break;
		case IFLA_BOND_FAIL_OVER_MAC: ok = get_u8(d, n, &b->fail_over_mac); break;
		case IFLA_BOND_XMIT_HASH_POLICY: ok = get_u8(d, n, &b->xmit_hash_policy); break;
		case IFLA_BOND_MIN_LINKS: ok = get_u32(d, n, &b->min_links); break;
		case IFLA_BOND_AD_LACP_RATE: ok = get_u8(d, n, &b->lacp_rate); break;
		case IFLA_BOND_AD_SELECT: ok = get_u8(d, n, &b->ad_select); break;
		default: ok = 0; break;
		}
		if (ok != 0)
			return bad(e, "bond attribute");
	}
	return r < 0 ? bad(e, "bond attributes") : 0;
}

static int
parse_vlan(const uint8_t *p, size_t len, struct net_vlan *v, struct nk_err *e)
{
	struct ifla_vlan_flags f;
	const uint8_t *d;
	size_t off = 0, n;
	uint16_t t, be;
	int r;

	while ((r = attr_next(p, len, &off, &t, &d, &n)) == 1) {
		switch (t) {
		case IFLA_VLAN_ID:
			if (get_u16(d, n, &v->id) != 0 || v->id >= NET_VLAN_ID_MAX)
				return bad(e, "IFLA_VLAN_ID");
			break;
		case IFLA_VLAN_PROTOCOL:
			if (get_u16(d, n, &be) != 0)
				return bad(e, "IFLA_VLAN_PROTOCOL");
			v->protocol = ntohs(be);
			break;
		case IFLA_VLAN_FLAGS:
			if (n != sizeof(f))
				return bad(e, "IFLA_VLAN_FLAGS");
			memcpy(&f, d, sizeof(f));
			v->flags = f.flags;
			break;
		default:
			break;
		}
	}
	return r < 0 ? bad(e, "VLAN attributes") : 0;
}

static int
parse_bridge(const uint8_t *p, size_t len, struct net_bridge *b, struct nk_err *e)
{
	const uint8_t *d;
	size_t off = 0, n;
	uint16_t t;
	int r, ok;

	while ((r = attr_next(p, len, &off, &t, &d, &n)) == 1) {
		switch (t) {
		case IFLA_BR_STP_STATE: ok = get_u32(d, n, &b->stp_state); break;
		case IFLA_BR_FORWARD_DELAY: ok = get_u32(d, n, &b->forward_delay); break;
		case IFLA_BR_HELLO_TIME: ok = get_u32(d, n, &b->hello_time); break;
		case IFLA_BR_MAX_AGE: ok = get_u32(d, n, &b->max_age); break;
		case IFLA_BR_PRIORITY: ok = get_u16(d, n, &b->priority); break;
		case IFLA_BR_VLAN_FILTERING: ok = get_u8(d, n, &b->vlan_filtering); break;
		default: ok = 0; break;
		}
		if (ok != 0)
			return bad(e, "bridge attribute");
	}
	return r < 0 ? bad(e, "bridge attributes") : 0;
}

/* A bond port's IFLA_INFO_SLAVE_DATA: the MAC it had when enslaved (the
 * bond may have given it another since). */
static int
parse_bond_port(const uint8_t *p, size_t len, struct net_link *l, struct nk_err *e)
{
	const uint8_t *d;
	size_t off = 0, n;
	uint16_t t;
	int r;

	while ((r = attr_next(p, len, &off, &t, &d, &n)) == 1)
		if (t == IFLA_BOND_SLAVE_PERM_HWADDR) {
			if (n > sizeof(l->slave_perm_mac))
				return bad(e, "IFLA_BOND_SLAVE_PERM_HWADDR");
			memcpy(l->slave_perm_mac, d, n);
			l->slave_perm_mac_len = n;
		}
	return r < 0 ? bad(e, "bond port attributes") : 0;
}

/* The kind may come after its data: both are read first, then the data
 * is parsed for the kind it belongs to. */
static int
parse_linkinfo(const uint8_t *p, size_t len, struct net_link *l, struct nk_err *e)
{
	const uint8_t *d, *data = NULL, *sdata = NULL;
	size_t off = 0, n, dlen = 0, slen = 0;
	uint16_t t;
	int r;

	while ((r = attr_next(p, len, &off, &t, &d, &n)) == 1) {
		switch (t) {
		case IFLA_INFO_KIND:
			if (get_str(d, n, l->kind, sizeof(l->kind)) != 0)
				return bad(e, "IFLA_INFO_KIND");
			break;
		case IFLA_INFO_SLAVE_KIND:
			if (get_str(d, n, l->slave_kind, sizeof(l->slave_kind)) != 0)
				return bad(e, "IFLA_INFO_SLAVE_KIND");
			break;
		case IFLA_INFO_DATA:
			data = d;
			dlen = n;
			break;
		case IFLA_INFO_SLAVE_DATA:
			sdata = d;
			slen = n;
			break;
		default:
			break;
		}
	}
	if (r < 0)
		return bad(e, "IFLA_LINKINFO");
	if (data != NULL) {
		if (strcmp(l->kind, "bond") == 0)
			r = parse_bond(data, dlen, &l->bond, e);
		else if (strcmp(l->kind, "vlan") == 0)
			r = parse_vlan(data, dlen, &l->vlan, e);
		else if (strcmp(l->kind, "bridge") == 0)
			r = parse_bridge(data, dlen, &l->bridge, e);
		else
			r = 0;
		if (r != 0)
			return r;
		l->has_info_data = 1;
	}
	if (sdata != NULL && strcmp(l->slave_kind, "bond") == 0)
		return parse_bond_port(sdata, slen, l, e);
	return 0;
}

static int
parse_link(const uint8_t *p, size_t len, struct net_state *out, struct nk_err *e)
{
	struct ifinfomsg ifi;
	struct net_link l;
	const uint8_t *d;
	size_t off = NLMSG_ALIGN(sizeof(ifi)), n, i;
	uint16_t t;
	uint32_t v;
	int r, rc;

	if (len < sizeof(ifi))
		return bad(e, "RTM_NEWLINK (short)");
	memcpy(&ifi, p, sizeof(ifi));
	if (ifi.ifi_index <= 0)
		return bad(e, "RTM_NEWLINK (index)");
	memset(&l, 0, sizeof(l));
	l.index = ifi.ifi_index;
	l.type = ifi.ifi_type;
	l.flags = ifi.ifi_flags;
	while ((r = attr_next(p, len, &off, &t, &d, &n)) == 1) {
		switch (t) {
		case IFLA_IFNAME:
			if (get_str(d, n, l.name, sizeof(l.name)) != 0)
				return bad(e, "IFLA_IFNAME");
			break;
		case IFLA_ADDRESS:
			if (n > sizeof(l.mac))
				return bad(e, "IFLA_ADDRESS");
			memcpy(l.mac, d, n);
			l.mac_len = n;
			break;
		case IFLA_PERM_ADDRESS:
			if (n > sizeof(l.perm_mac))
				return bad(e, "IFLA_PERM_ADDRESS");
			memcpy(l.perm_mac, d, n);
			l.perm_mac_len = n;
			break;
		case IFLA_MTU:
			if (get_u32(d, n, &l.mtu) != 0)
				return bad(e, "IFLA_MTU");
			break;
		case IFLA_MASTER:
			if (get_u32(d, n, &v) != 0 || v > INT32_MAX)
				return bad(e, "IFLA_MASTER");
			l.master = (int)v;
			break;
		case IFLA_LINK:
			if (get_u32(d, n, &v) != 0 || v > INT32_MAX)
				return bad(e, "IFLA_LINK");
			l.link = (int)v;
			break;
		case IFLA_LINK_NETNSID:
			if (n != 4)
				return bad(e, "IFLA_LINK_NETNSID");
			l.link_elsewhere = 1;
			break;
		case IFLA_LINKINFO:
			if ((rc = parse_linkinfo(d, n, &l, e)) != 0)
				return rc;
			break;
		default:
			break;
		}
	}
	if (r < 0)
		return bad(e, "RTM_NEWLINK attribute");
	if (l.name[0] == '\0')
		return bad(e, "RTM_NEWLINK (no name)");
	for (i = 0; i < out->nlinks; i++)
		if (out->links[i].index == l.index) {
			out->links[i] = l; /* a newer copy of the same link */
			return 0;
		}
	if (out->nlinks >= NET_LINKS_MAX) {
		out->links_over++;
		return 0;
	}
	out->links[out->nlinks++] = l;
	return 0;
}

static int
parse_addr(const uint8_t *p, size_t len, struct net_state *out, struct nk_err *e)
{
	struct ifaddrmsg ifa;
	struct ifa_cacheinfo ci;
	struct net_addr a;
	const uint8_t *d, *local = NULL, *address = NULL;
	size_t off = NLMSG_ALIGN(sizeof(ifa)), n, alen;
	uint16_t t;
	uint32_t flags;
	int r, have_flags = 0;

	if (len < sizeof(ifa))
		return bad(e, "RTM_NEWADDR (short)");
	memcpy(&ifa, p, sizeof(ifa));
	alen = addr_bytes(ifa.ifa_family);
	if (alen == 0)
		return 0; /* not IP: nothing to carry */
	if (ifa.ifa_prefixlen > alen * 8 || ifa.ifa_index == 0 || ifa.ifa_index > INT32_MAX)
		return bad(e, "RTM_NEWADDR (prefix or index)");
	memset(&a, 0, sizeof(a));
	a.ifindex = (int)ifa.ifa_index;
	a.family = ifa.ifa_family;
	a.prefixlen = ifa.ifa_prefixlen;
	a.scope = ifa.ifa_scope;
	a.flags = ifa.ifa_flags;
	a.valid_lft = a.preferred_lft = 0xffffffffu;
	while ((r = attr_next(p, len, &off, &t, &d, &n)) == 1) {
		switch (t) {
		case IFA_ADDRESS:
		case IFA_LOCAL:
			if (n != alen)
				return bad(e, "IFA_ADDRESS");
			*(t == IFA_LOCAL ? &local : &address) = d;
			break;
		case IFA_FLAGS:
			if (get_u32(d, n, &flags) != 0)
				return bad(e, "IFA_FLAGS");
			have_flags = 1;
			break;
		case IFA_CACHEINFO:
			if (n != sizeof(ci))
				return bad(e, "IFA_CACHEINFO");
			memcpy(&ci, d, sizeof(ci));
			a.valid_lft = ci.ifa_valid;
			a.preferred_lft = ci.ifa_prefered;
			break;
		default:
			break;
		}
	}
	if (r < 0)
		return bad(e, "RTM_NEWADDR attribute");
	if (have_flags)
		a.flags = flags;
	/* IFA_LOCAL is this end; IFA_ADDRESS is the peer on point-to-point. */
	if (local == NULL && address == NULL)
		return bad(e, "RTM_NEWADDR (no address)");
	memcpy(a.addr, local != NULL ? local : address, alen);
	if (out->naddrs >= NET_ADDRS_MAX) {
		out->addrs_over++;
		return 0;
	}
	out->addrs[out->naddrs++] = a;
	return 0;
}

static int
keep_protocol(uint8_t p)
{
	return p == NET_RTPROT_UNSPEC || p == NET_RTPROT_BOOT || p == NET_RTPROT_STATIC ||
	    p == NET_RTPROT_RA || p == NET_RTPROT_DHCP;
}

static int
parse_route(const uint8_t *p, size_t len, struct net_state *out, struct nk_err *e)
{
	struct rtmsg rtm;
	struct net_route rt;
	const uint8_t *d;
	size_t off = NLMSG_ALIGN(sizeof(rtm)), n, alen;
	uint32_t table, v;
	uint16_t t, via_family;
	int r, multipath = 0;

	if (len < sizeof(rtm))
		return bad(e, "RTM_NEWROUTE (short)");
	memcpy(&rtm, p, sizeof(rtm));
	alen = addr_bytes(rtm.rtm_family);
	if (alen == 0)
		return 0; /* MPLS, bridge fdb...: not ours */
	if (rtm.rtm_dst_len > alen * 8 || rtm.rtm_src_len > alen * 8)
		return bad(e, "RTM_NEWROUTE (prefix)");
	memset(&rt, 0, sizeof(rt));
	rt.family = rtm.rtm_family;
	rt.dst_len = rtm.rtm_dst_len;
	rt.protocol = rtm.rtm_protocol;
	rt.scope = rtm.rtm_scope;
	rt.flags = rtm.rtm_flags;
	table = rtm.rtm_table;
	while ((r = attr_next(p, len, &off, &t, &d, &n)) == 1) {
		switch (t) {
		case RTA_DST:
			if (n != alen)
				return bad(e, "RTA_DST");
			memcpy(rt.dst, d, alen);
			break;
		case RTA_GATEWAY:
			if (n != alen || rt.gw_family != 0)
				return bad(e, "RTA_GATEWAY");
			memcpy(rt.gw, d, alen);
			rt.gw_family = rt.family;
			break;
		case RTA_VIA:
			/* struct rtvia: a 16-bit family, then the address. */
			if (n < 2 || rt.gw_family != 0)
				return bad(e, "RTA_VIA");
			memcpy(&via_family, d, 2);
			if (addr_bytes(via_family) == 0 || n != 2 + addr_bytes(via_family))
				return bad(e, "RTA_VIA");
			memcpy(rt.gw, d + 2, n - 2);
			rt.gw_family = via_family;
			break;
		case RTA_PREFSRC:
			if (n != alen)
				return bad(e, "RTA_PREFSRC");
			memcpy(rt.prefsrc, d, alen);
			rt.has_prefsrc = 1;
			break;
		case RTA_OIF:
			if (get_u32(d, n, &v) != 0 || v > INT32_MAX)
				return bad(e, "RTA_OIF");
			rt.oif = (int)v;
			break;
		case RTA_PRIORITY:
			if (get_u32(d, n, &rt.metric) != 0)
				return bad(e, "RTA_PRIORITY");
			break;
		case RTA_TABLE:
			if (get_u32(d, n, &table) != 0)
				return bad(e, "RTA_TABLE");
			break;
		case RTA_MULTIPATH:
			multipath = 1;
			break;
		default:
			break;
		}
	}
	if (r < 0)
		return bad(e, "RTM_NEWROUTE attribute");
	if (table != RT_TABLE_LOCAL && rtm.rtm_type == RTN_UNICAST &&
	    !(rtm.rtm_flags & RTM_F_CLONED) && rtm.rtm_src_len == 0 && !multipath && rt.oif != 0) {
		if (out->nreach >= NET_REACH_MAX) {
			out->reach_over++;
		} else {
			out->reach[out->nreach].family = rt.family;
			out->reach[out->nreach].oif = rt.oif;
			memcpy(out->reach[out->nreach].dst, rt.dst, sizeof(rt.dst));
			out->reach[out->nreach].dst_len = rt.dst_len;
			out->nreach++;
		}
	}
	/* Only what the kernel would not recreate and a NixOS system could:
	 * the main table's unicast routes, no cache clones, no source
	 * routing, no routing daemon's routes. */
	if (table != RT_TABLE_MAIN || rtm.rtm_type != RTN_UNICAST ||
	    (rtm.rtm_flags & RTM_F_CLONED) || rtm.rtm_src_len != 0 ||
	    !keep_protocol(rtm.rtm_protocol))
		return 0;
	if (multipath) {
		out->routes_multipath++;
		return 0;
	}
	if (rt.oif == 0)
		return 0;
	if (out->nroutes >= NET_ROUTES_MAX) {
		out->routes_over++;
		return 0;
	}
	out->routes[out->nroutes++] = rt;
	return 0;
}

int
netlink_parse(const uint8_t *buf, size_t len, uint32_t seq, struct net_state *out,
    enum netlink_status *status, struct nk_err *e)
{
	struct nlmsghdr h;
	size_t off = 0, step;
	int32_t err;
	int rc;

	*status = NETLINK_MORE;
	while (off < len) {
		if (len - off < sizeof(h))
			return bad(e, "message header (truncated)");
		memcpy(&h, buf + off, sizeof(h));
		if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len - off)
			return bad(e, "message length");
		if (h.nlmsg_seq != seq)
			return nk_fail(e, NK_E_IO, "netlink: answer to another request "
			    "(sequence %u, expected %u)", h.nlmsg_seq, seq);
		if (h.nlmsg_flags & NLM_F_DUMP_INTR) {
			*status = NETLINK_INTR;
			return 0;
		}
		switch (h.nlmsg_type) {
		case NLMSG_NOOP:
			rc = 0;
			break;
		case NLMSG_DONE:
			/* A dump that failed midway says so with a negative int. */
			if (h.nlmsg_len >= sizeof(h) + sizeof(err)) {
				memcpy(&err, buf + off + sizeof(h), sizeof(err));
				if (err == INT32_MIN)
					return bad(e, "NLMSG_DONE code");
				if (err < 0)
					return nk_fail(e, NK_E_IO, "netlink: dump failed: %s",
					    strerror(-err));
			}
			*status = NETLINK_DONE;
			return 0;
		case NLMSG_ERROR:
			if (h.nlmsg_len < sizeof(h) + sizeof(err))
				return bad(e, "NLMSG_ERROR");
			memcpy(&err, buf + off + sizeof(h), sizeof(err));
			if (err > 0 || err == INT32_MIN)
				return bad(e, "NLMSG_ERROR code");
			if (err < 0)
				return nk_fail(e, err == -EPERM || err == -EACCES ? NK_E_PERM : NK_E_IO,
				    "netlink: the kernel refused the dump: %s", strerror(-err));
			rc = 0; /* an acknowledgement */
			break;
		case RTM_NEWLINK:
			rc = parse_link(buf + off + sizeof(h), h.nlmsg_len - sizeof(h), out, e);
			break;
		case RTM_NEWADDR:
			rc = parse_addr(buf + off + sizeof(h), h.nlmsg_len - sizeof(h), out, e);
			break;
		case RTM_NEWROUTE:
			rc = parse_route(buf + off + sizeof(h), h.nlmsg_len - sizeof(h), out, e);
			break;
		default:
			rc = 0;
			break;
		}
		if (rc != 0)
			return rc;
		step = NLMSG_ALIGN((size_t)h.nlmsg_len);
		off += step > len - off ? len - off : step;
	}
	return 0;
}

/* --- the socket: three small functions over socket, sendto, recvfrom --- */

static int
nl_open(int *fd_out, struct nk_err *e)
{
	struct timeval tv = { NETLINK_TIMEOUT_S, 0 };
	int fd;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return nk_fail(e, errno == EPERM || errno == EACCES ? NK_E_PERM : NK_E_IO,
		    "netlink: socket: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
		int err = errno;
		close(fd);
		return nk_fail(e, NK_E_IO, "netlink: setsockopt: %s", strerror(err));
	}
	*fd_out = fd;
	return 0;
}

static int
nl_request(int fd, uint16_t type, uint32_t seq, struct nk_err *e)
{
	struct {
		struct nlmsghdr h;
		union {
			struct ifinfomsg ifi; /* RTM_GETLINK */
			struct ifaddrmsg ifa; /* RTM_GETADDR */
			struct rtmsg rtm;     /* RTM_GETROUTE */
		} u;
	} req;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	size_t body = type == RTM_GETLINK ? sizeof(req.u.ifi) :
	    type == RTM_GETADDR ? sizeof(req.u.ifa) : sizeof(req.u.rtm);
	ssize_t n;

	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = (uint32_t)NLMSG_LENGTH(body);
	req.h.nlmsg_type = type;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = seq;
	/* Family AF_UNSPEC in every body: IPv4 and IPv6 in one dump. */
	do
		n = sendto(fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&kernel,
		    sizeof(kernel));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return nk_fail(e, NK_E_IO, "netlink: send: %s", strerror(errno));
	if ((size_t)n != req.h.nlmsg_len)
		return nk_fail(e, NK_E_IO, "netlink: short send");
	return 0;
}

static int
nl_recv(int fd, uint8_t *buf, size_t cap, size_t *len, struct nk_err *e)
{
	struct sockaddr_nl from;
	socklen_t fl;
	ssize_t n;
	int foreign = 0;

	for (;;) {
		fl = sizeof(from);
		memset(&from, 0, sizeof(from));
		/* MSG_TRUNC: the real length, so a datagram larger than buf is
		 * refused rather than parsed cut. */
		n = recvfrom(fd, buf, cap, MSG_TRUNC, (struct sockaddr *)&from, &fl);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return nk_fail(e, NK_E_IO, "netlink: receive: %s", errno == EAGAIN ||
			    errno == EWOULDBLOCK ? "no answer from the kernel" : strerror(errno));
		if ((size_t)n > cap)
			return nk_fail(e, NK_E_IO, "netlink: a %zd-byte datagram, more than the "
			    "%zu-byte buffer", n, cap);
		/* Any local process may send to our port; only the kernel counts. */
		if (fl < sizeof(from) || from.nl_family != AF_NETLINK || from.nl_pid != 0) {
			if (++foreign > NETLINK_FOREIGN_MAX)
				return nk_fail(e, NK_E_IO, "netlink: flooded by another process");
			continue;
		}
		*len = (size_t)n;
		return 0;
	}
}

static int
dump_one(int fd, uint16_t type, uint32_t seq, uint8_t *buf, struct net_state *out,
    enum netlink_status *st, struct nk_err *e)
{
	size_t len = 0, i;
	int rc;

	if ((rc = nl_request(fd, type, seq, e)) != 0)
		return rc;
	for (i = 0; i < NETLINK_DUMP_MAX_DATAGRAMS; i++) {
		if ((rc = nl_recv(fd, buf, NETLINK_RECV_MAX_BYTES, &len, e)) != 0)
			return rc;
		if ((rc = netlink_parse(buf, len, seq, out, st, e)) != 0)
			return rc;
		if (*st != NETLINK_MORE)
			return 0;
	}
	return nk_fail(e, NK_E_IO, "netlink: dump longer than %d datagrams",
	    NETLINK_DUMP_MAX_DATAGRAMS);
}

int
netlink_dump(struct net_state *out, struct nk_err *e)
{
	static const uint16_t types[] = { RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE };
	enum netlink_status st = NETLINK_MORE;
	uint8_t *buf;
	uint32_t seq = 1;
	size_t i;
	int fd = -1, rc = 0, try;

	if ((buf = malloc(NETLINK_RECV_MAX_BYTES)) == NULL)
		return nk_fail(e, NK_E_NOMEM, "netlink: out of memory");
	for (try = 0; try < NETLINK_DUMP_TRIES; try++) {
		memset(out, 0, sizeof(*out));
		/* A fresh socket per try: no datagram of an interrupted dump
		 * can be read as part of the next one. */
		if ((rc = nl_open(&fd, e)) != 0)
			goto out;
		for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
			if ((rc = dump_one(fd, types[i], seq++, buf, out, &st, e)) != 0)
				goto out;
			if (st == NETLINK_INTR)
				break;
		}
		close(fd);
		fd = -1;
		if (st == NETLINK_DONE)
			goto out;
	}
	rc = nk_fail(e, NK_E_IO, "netlink: the network changed during %d dumps in a row; "
	    "try again", NETLINK_DUMP_TRIES);
out:
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	free(buf);
	return rc;
}
