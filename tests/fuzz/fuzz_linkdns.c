/* fuzz_linkdns: libFuzzer harness for linkdns_parse_state (networkd's and
 * resolved's per-link state files) and linkdns_split. The input, up to
 * its first NUL, is eth0's state file; after it, tailscale0's; the whole
 * input is also read as resolv.conf for the global servers. The network
 * is fixed: eth0 carried with a default route, tailscale0 (a tun device,
 * not carried) with Tailscale's routes. Promises checked with abort():
 * no list holds more than its caps or a loopback server; after the split
 * the global list names no server that a link's state names, tailscale0's
 * list is empty, no global server is routed only through tailscale0, and
 * every drop names tailscale0 (the only link not carried) with a server
 * of a known family.
 * tests/fuzz/run.sh links only the common sources, so the agent modules
 * under test are included here directly. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/handoff/netlink.c"
#include "../../agent/handoff/netunits.c"
#include "../../agent/handoff/linkdns.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct net_state S;

static void
setup(void)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	static const uint8_t ts[4] = { 100, 100, 100, 100 }, cgnat[4] = { 100, 64, 0, 0 };
	static const uint8_t own[4] = { 192, 0, 2, 10 }, net[4] = { 192, 0, 2, 0 };

	memset(&S, 0, sizeof(S));
	S.links[0].index = 2;
	strcpy(S.links[0].name, "eth0");
	memcpy(S.links[0].mac, mac, 6);
	S.links[0].mac_len = 6;
	S.links[0].type = ARPHRD_ETHER;
	S.links[0].flags = IFF_UP;
	S.links[1].index = 5;
	strcpy(S.links[1].name, "tailscale0");
	strcpy(S.links[1].kind, "tun");
	S.links[1].type = ARPHRD_NONE;
	S.links[1].flags = IFF_UP;
	S.nlinks = 2;
	S.addrs[0].ifindex = 2;
	S.addrs[0].family = AF_INET;
	memcpy(S.addrs[0].addr, own, 4);
	S.addrs[0].prefixlen = 24;
	S.addrs[0].flags = IFA_F_PERMANENT;
	S.addrs[0].valid_lft = S.addrs[0].preferred_lft = 0xffffffffu;
	S.naddrs = 1;
	S.reach[0] = (struct net_reach){ AF_INET, 2, { 0 }, 0 };
	S.reach[1] = (struct net_reach){ AF_INET, 2, { 0 }, 24 };
	memcpy(S.reach[1].dst, net, 4);
	S.reach[2] = (struct net_reach){ AF_INET, 5, { 0 }, 32 };
	memcpy(S.reach[2].dst, ts, 4);
	S.reach[3] = (struct net_reach){ AF_INET, 5, { 0 }, 10 };
	memcpy(S.reach[3].dst, cgnat, 4);
	S.nreach = 4;
}

static void
check_list(const struct net_dns *d)
{
	size_t i;

	if (d->nservers > NETUNITS_DNS_MAX || d->ndomains > NETUNITS_DOMAINS_MAX)
		abort();
	for (i = 0; i < d->nservers; i++)
		if ((d->family[i] != AF_INET && d->family[i] != AF_INET6) ||
		    (d->family[i] == AF_INET && d->addr[i][0] == 127))
			abort();
	for (i = 0; i < d->ndomains; i++)
		if (memchr(d->domains[i], '\0', sizeof(d->domains[i])) == NULL ||
		    d->domains[i][0] == '~')
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct net_dns g, per[2], before[2];
	struct linkdns_split sp;
	const uint8_t *nul = memchr(data, '\0', size);
	size_t first = nul != NULL ? (size_t)(nul - data) : size, i, k;

	if (S.nlinks == 0)
		setup();
	memset(&g, 0, sizeof(g));
	memset(per, 0, sizeof(per));
	linkdns_parse_state(data, first, &per[0]);
	if (nul != NULL)
		linkdns_parse_state(nul + 1, size - first - 1, &per[1]);
	netunits_parse_resolv(data, size, &g);
	check_list(&per[0]);
	check_list(&per[1]);
	check_list(&g);
	memcpy(before, per, sizeof(per));
	linkdns_split(&S, &g, per, &sp);
	check_list(&g);
	if (per[1].nservers != 0 || per[1].ndomains != 0 ||
	    memcmp(&per[0], &before[0], sizeof(per[0])) != 0)
		abort();
	for (i = 0; i < g.nservers; i++) {
		for (k = 0; k < 2; k++)
			if (has_server(&before[k], g.family[i], g.addr[i]))
				abort();
		if (linkdns_uncarried_route(&S, g.family[i], g.addr[i]) >= 0)
			abort();
	}
	if (sp.ndrops > LINKDNS_DROPS_MAX)
		abort();
	for (i = 0; i < sp.ndrops; i++)
		if (sp.drop[i].link != 1 ||
		    (sp.drop[i].family != AF_INET && sp.drop[i].family != AF_INET6))
			abort();
	return 0;
}
