/* fuzz_netlink: libFuzzer harness for the rtnetlink parser, and for the
 * unit writer fed whatever the parser accepted. The input is one dump
 * datagram; its first message's sequence number is the expected one (so
 * the fuzzer gets past that check). Promises checked with abort(): the
 * parser answers 0 or a refusal code, never holds more than its caps,
 * never a string without its NUL, never a prefix longer than its family;
 * every unit renders (or is refused for size) into a bounded buffer.
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
		    l->mac_len > sizeof(l->mac) || l->perm_mac_len > sizeof(l->perm_mac) ||
		    l->index <= 0)
			abort();
	}
	for (i = 0; i < s->naddrs; i++) {
		const struct net_addr *a = &s->addrs[i];

		if ((a->family != AF_INET && a->family != AF_INET6) ||
		    a->prefixlen > (a->family == AF_INET ? 32 : 128) || a->ifindex <= 0)
			abort();
	}
	for (i = 0; i < s->nroutes; i++) {
		const struct net_route *r = &s->routes[i];

		if ((r->family != AF_INET && r->family != AF_INET6) ||
		    r->dst_len > (r->family == AF_INET ? 32 : 128) || r->oif <= 0 ||
		    (r->gw_family != 0 && r->gw_family != AF_INET && r->gw_family != AF_INET6))
			abort();
	}
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
	uint32_t seq = 0;
	size_t i, len;
	int rc;

	if (size >= 12)
		memcpy(&seq, data + 8, 4);
	memset(&s, 0, sizeof(s));
	rc = netlink_parse(data, size, seq, &s, &st, &e);
	if (rc != 0 && rc != NK_E_IO && rc != NK_E_PERM)
		abort();
	if (rc == 0 && st != NETLINK_MORE && st != NETLINK_DONE && st != NETLINK_INTR)
		abort();
	check_state(&s);
	memset(&dns, 0, sizeof(dns));
	netunits_parse_resolv((const uint8_t *)resolv, sizeof(resolv) - 1, &dns);
	for (i = 0; i < s.nlinks; i++) {
		if (netunits_skip_reason(&s, i) != NULL)
			continue;
		if (netunits_name(&s, i, name, sizeof(name), &e) != 0)
			abort();
		rc = netunits_render(&s, i, &dns, unit, sizeof(unit), &len, &e);
		if (rc != 0 && rc != NK_E_SIZE)
			abort();
		if (rc == 0 && (len >= sizeof(unit) || strlen(unit) != len))
			abort();
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
