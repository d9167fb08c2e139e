/* linkdns: which link each DNS server of the old system belongs to.
 * networkd's and resolved's per-link state files name the servers learnt
 * on each link; the routes of every table say which link the others are
 * reached through. Servers of links that get no unit (a VPN, an overlay:
 * tailscale0, wg0, tun0) are dropped: in the new system they answer
 * nothing, and servers that answer nothing keep resolved from its fallback
 * servers. Pure: no I/O, no allocation; docs/handoff.md has the why. */
#ifndef NK_LINKDNS_H
#define NK_LINKDNS_H

#include <stddef.h>
#include <stdint.h>

#include "netlink.h"
#include "netunits.h"

#define LINKDNS_STATE_MAX_BYTES (64 * 1024) /* one state file */
#define LINKDNS_LINE_MAX_BYTES 4096         /* a state line; longer ones are ignored */
#define LINKDNS_DROPS_MAX 32                /* dropped servers listed one by one */

/* Adds the servers and search domains of one per-link state file to out:
 * networkd's /run/systemd/netif/links/<ifindex> (DNS=, DOMAINS=) or
 * resolved's /run/systemd/resolve/netif/<ifindex> (SERVERS=, DOMAINS=).
 * A server is written as systemd's in_addr_full_to_string does: ADDR,
 * ADDR4:PORT or [ADDR6]:PORT, then %IFINDEX and #SERVER-NAME; one with a
 * port other than 53 is left out (the new unit's DNS= would ask on 53),
 * and so are route-only domains ("~example.com"). Other lines are
 * ignored. */
void linkdns_parse_state(const uint8_t *buf, size_t len, struct net_dns *out);

/* Position in s->links of the link a packet to addr leaves through, by
 * the most specific routes of s->reach, when every one of them goes
 * through a link that gets no unit (netunits_skip_reason); -1 when one
 * goes through a carried link or no route matches. */
int linkdns_uncarried_route(const struct net_state *s, int family, const uint8_t *addr);

struct linkdns_drop {
	int link;          /* position in s->links */
	int family;
	uint8_t addr[16];
	int routed;        /* 0: the link's own state named it; 1: only routed through it */
};

struct linkdns_split {
	struct linkdns_drop drop[LINKDNS_DROPS_MAX];
	size_t ndrops;
	size_t drops_over;       /* dropped, not listed */
	size_t domains_dropped;  /* global search domains of links not carried */
	size_t owned;            /* global servers that a carried link's state names */
};

/* Splits the DNS by link. per[i] holds what s->links[i]'s state files
 * name. A global server (resolv.conf and its upstreams) that a link's
 * state names leaves global: it is that link's. One only routed through
 * a link that gets no unit is dropped; when that leaves no global server
 * (and no link's state named one), the global search domains go too: the
 * VPN client that wrote resolv.conf wrote them. The per-link servers of
 * links that get no unit are dropped and per[i] cleared, and their search
 * domains leave global too. What was dropped is listed in out. */
void linkdns_split(const struct net_state *s, struct net_dns *global, struct net_dns *per,
    struct linkdns_split *out);

#endif
