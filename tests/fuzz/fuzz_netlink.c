/* fuzz_netlink: libFuzzer harness for the rtnetlink parser, and for the
 * unit writer fed whatever the parser accepted. The input is one dump
 * datagram, or several dumps back to back (link, address and route dumps
 * as netlink_dump() reads them: each ends with its NLMSG_DONE); each
 * dump's first message's sequence number is the expected one (so the
 * fuzzer gets past that check). Promises checked with abort(): the parser
 * answers 0 or a refusal code, never holds more than its caps, never a
 * string without its NUL, never a prefix longer than its family, never a
 * bond, VLAN or bridge setting outside its range; every .network and
 * .netdev renders (or is refused for size) into a bounded buffer, only
 * for links that get a unit, and a .netdev only for bonds, bridges and
 * VLANs.
 * tests/fuzz/run.sh links only the common sources, so the agent modules under
 * test are included here directly. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/handoff/netlink.c"
#include "../../agent/handoff/netunits.c"

static void
check_state(const struct net_state *s)
{
	size_t i;

	if (s->nlinks > NET_LINKS_MAX || s->naddrs > NET_ADDRS_MAX || s->nroutes > NET_ROUTES_MAX)
		abort();
	for (i = 0; i < s->nlinks; i++) {
		const struct net_link *l = &s->links[i];

		if (memchr(l->name, '\0', sizeof(l->name)) == NULL || l->name[0] == '\0' ||
		    memchr(l->kind, '\0', sizeof(l->kind)) == NULL ||
		    memchr(l->slave_kind, '\0', sizeof(l->slave_kind)) == NULL ||
		    l->mac_len > sizeof(l->mac) || l->perm_mac_len > sizeof(l->perm_mac) ||
		    l->slave_perm_mac_len > sizeof(l->slave_perm_mac) ||
		    l->bond.narp_targets > NET_BOND_ARP_TARGETS_MAX || l->vlan.id > 4094 ||
		    l->bond.primary < 0 || l->master < 0 || l->link < 0 || l->index <= 0)
			abort();
	}
	for (i = 0; i < s->naddrs; i++) {
		const struct net_addr *a = &s->addrs[i];

		if ((a->family != AF_INET && a->family != AF_INET6) ||
		    a->prefixlen > (a->family == AF_INET ? 32 : 128) || a->ifindex <= 0)
			abort();
	}
	if (s->nreach > NET_REACH_MAX)
		abort();
	for (i = 0; i < s->nreach; i++)
		if ((s->reach[i].family != AF_INET && s->reach[i].family != AF_INET6) ||
		    s->reach[i].dst_len > (s->reach[i].family == AF_INET ? 32 : 128) ||
		    s->reach[i].oif <= 0)
			abort();
	for (i = 0; i < s->nroutes; i++) {
		const struct net_route *r = &s->routes[i];

		if ((r->family != AF_INET && r->family != AF_INET6) ||
		    r->dst_len > (r->family == AF_INET ? 32 : 128) || r->oif <= 0 ||
		    (r->gw_family != 0 && r->gw_family != AF_INET && r->gw_family != AF_INET6))
			abort();
	}
}

/* Where the dump starting at p ends: just past its first NLMSG_DONE, or
 * at the end (a malformed header is left for the parser to refuse). */
static size_t
dump_end(const uint8_t *p, size_t len)
{
	struct nlmsghdr h;
	size_t off = 0, step;

	while (len - off >= sizeof(h)) {
		memcpy(&h, p + off, sizeof(h));
		if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len - off)
			return len;
		step = NLMSG_ALIGN((size_t)h.nlmsg_len);
		off += step > len - off ? len - off : step;
		if (h.nlmsg_type == NLMSG_DONE)
			return off;
	}
	return len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct net_state s;
	static char unit[NETUNITS_UNIT_MAX_BYTES];
	static const char resolv[] = "nameserver 192.0.2.53\nsearch example.org\n";
	struct net_dns dns;
	struct nk_err e;
	enum netlink_status st;
	char name[NETUNITS_NAME_MAX_BYTES];
	uint32_t seq;
	size_t i, len, off, end;
	int rc;

	memset(&s, 0, sizeof(s));
	for (off = 0, rc = 0; off < size && rc == 0; off += end) {
		end = dump_end(data + off, size - off);
		seq = 0;
		if (end >= 12)
			memcpy(&seq, data + off + 8, 4);
		rc = netlink_parse(data + off, end, seq, &s, &st, &e);
		if (rc != 0 && rc != NK_E_IO && rc != NK_E_PERM)
			abort();
		if (rc == 0 && st != NETLINK_MORE && st != NETLINK_DONE && st != NETLINK_INTR)
			abort();
	}
	check_state(&s);
	memset(&dns, 0, sizeof(dns));
	netunits_parse_resolv((const uint8_t *)resolv, sizeof(resolv) - 1, &dns);
	for (i = 0; i < s.nlinks; i++) {
		if (netunits_skip_reason(&s, i) != NULL) {
			if (netunits_render(&s, i, &dns, NULL, unit, sizeof(unit), &len, &e) !=
			    NK_E_INTERNAL || netunits_render_netdev(&s, i, unit, sizeof(unit),
			    &len, &e) != NK_E_INTERNAL || netunits_caveat(&s, i) != NULL)
				abort();
			continue;
		}
		if (netunits_name(&s, i, name, sizeof(name), &e) != 0 ||
		    netunits_netdev_name(&s, i, name, sizeof(name), &e) != 0)
			abort();
		rc = netunits_render(&s, i, &dns, NULL, unit, sizeof(unit), &len, &e);
		if (rc != 0 && rc != NK_E_SIZE)
			abort();
		if (rc == 0 && (len >= sizeof(unit) || strlen(unit) != len))
			abort();
		rc = netunits_render_netdev(&s, i, unit, sizeof(unit), &len, &e);
		if (rc != 0 && rc != NK_E_SIZE)
			abort();
		if (rc == 0 && (len >= sizeof(unit) || strlen(unit) != len))
			abort();
		/* Only the kinds networkd is asked to create get a .netdev. */
		if (rc == 0 && len > 0 && strcmp(s.links[i].kind, "bond") != 0 &&
		    strcmp(s.links[i].kind, "vlan") != 0 && strcmp(s.links[i].kind, "bridge") != 0)
			abort();
		(void)netunits_caveat(&s, i);
	}
	/* The resolv.conf parser takes the same bytes as text. */
	memset(&dns, 0, sizeof(dns));
	netunits_parse_resolv(data, size, &dns);
	if (dns.nservers > NETUNITS_DNS_MAX || dns.ndomains > NETUNITS_DOMAINS_MAX)
		abort();
	for (i = 0; i < dns.ndomains; i++)
		if (memchr(dns.domains[i], '\0', sizeof(dns.domains[i])) == NULL)
			abort();
	return 0;
}
