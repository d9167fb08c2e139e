/* netunits: the network state netlink saw, and the DNS of resolv.conf,
 * turned into systemd-networkd units for the new system: one .network per
 * interface, matched by MAC (or by name for the bonds, bridges and VLANs
 * it re-creates with a .netdev). Pure: no I/O, no allocation; the policy of
 * what is carried and how lives here and in docs/handoff.md. */
#ifndef NK_NETUNITS_H
#define NK_NETUNITS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "netlink.h"

#define NETUNITS_DNS_MAX 8                 /* nameservers carried */
#define NETUNITS_DOMAINS_MAX 8             /* search domains carried */
#define NETUNITS_DOMAIN_MAX_BYTES 254      /* 253 characters and a NUL */
#define NETUNITS_RESOLV_MAX_BYTES (64 * 1024)
#define NETUNITS_LINE_MAX_BYTES 1024       /* a resolv.conf line; longer ones are ignored */
#define NETUNITS_UNIT_MAX_BYTES (64 * 1024)
#define NETUNITS_NAME_MAX_BYTES 48         /* "<ifname>[-<index>].network" */
#define NETUNITS_STACK_MAX 8               /* levels of bonds, bridges and VLANs on each other */

struct net_dns {
	int family[NETUNITS_DNS_MAX];
	uint8_t addr[NETUNITS_DNS_MAX][16];
	size_t nservers;
	char domains[NETUNITS_DOMAINS_MAX][NETUNITS_DOMAIN_MAX_BYTES];
	size_t ndomains;
	int stub;      /* a nameserver was systemd-resolved's stub (127.0.0.53 or .54) */
	size_t local;  /* other loopback or link-local nameservers, left out */
	size_t over;   /* nameservers or domains beyond the caps, left out */
};

/* Adds the nameservers (deduplicated) and the search list (the last
 * search or domain line wins, as in glibc) of resolv.conf text to out.
 * Lines it does not understand are ignored, as the resolver does. */
void netunits_parse_resolv(const uint8_t *buf, size_t len, struct net_dns *out);

/* One nameserver, as a resolv.conf line's (text, no port; a %zone is
 * cut) or as an address, added to out: deduplicated, loopback and
 * link-local ones counted in local and left out, beyond the cap counted
 * in over. */
void netunits_dns_add(struct net_dns *out, const char *tok, size_t n);
void netunits_dns_add_addr(struct net_dns *out, int family, const uint8_t *addr);

/* One search domain added to out (deduplicated; not a domain: ignored). */
void netunits_dns_add_domain(struct net_dns *out, const char *d, size_t n);

/* in's servers and domains added to out's, by the rules above. */
void netunits_merge_dns(struct net_dns *out, const struct net_dns *in);

/* The upstream servers of a local forwarder (the machine's resolv.conf
 * names 127.0.0.1), from its configuration text, added to out as
 * nameservers are: dnsmasq's server=ADDR (with #53 or no port; not
 * server=/domain/ADDR, which serves only that domain) and unbound's
 * forward-addr: ADDR (with @53 or no port). dnsmasq's resolv-file=PATH
 * (the last one) is copied to resolv_file, "" when none or longer than cap,
 * for the caller to read with netunits_parse_resolv. Pure. */
void netunits_parse_forwarder(const uint8_t *buf, size_t len, struct net_dns *out,
    char *resolv_file, size_t cap);

/* Why link (a position in s->links) gets no unit, or NULL if it gets one.
 * Decided for the whole state at once: a port follows its master, a bond
 * or bridge needs a carried port, a VLAN's parent is kept for the VLAN. */
const char *netunits_skip_reason(const struct net_state *s, size_t link);

/* What a carried link loses on the way (a bridge's VLAN filtering, a port
 * matched without a permanent MAC), or NULL. */
const char *netunits_caveat(const struct net_state *s, size_t link);

/* The unit's file name, e.g. "eth0.network" (the NixOS module installs
 * it as /run/systemd/network/10-nixos-kexec-eth0.network); names that
 * sanitize alike get "-<index>". */
int netunits_name(const struct net_state *s, size_t link, char *out, size_t cap,
    struct nk_err *e);

/* The same name ending in ".netdev", for links netunits_render_netdev
 * writes one for. */
int netunits_netdev_name(const struct net_state *s, size_t link, char *out, size_t cap,
    struct nk_err *e);

/* The .network text for link. A NIC is matched by its permanent MAC; a
 * port (Bond=, Bridge=) by PermanentMACAddress=; a bond, bridge or VLAN by
 * its name. Ports hold no addresses. own (NULL: none) is the link's own
 * DNS (learnt on it: networkd's or resolved's state), first in its unit;
 * the global dns goes to the units of links that carry a default route
 * (static, DHCP or RA), or to every unit if none does. */
int netunits_render(const struct net_state *s, size_t link, const struct net_dns *dns,
    const struct net_dns *own, char *out, size_t cap, size_t *len, struct nk_err *e);

/* The .netdev text for a bond, bridge or VLAN link (kind, name, MAC, MTU
 * and its settings); *len is 0 for a NIC, which has none. */
int netunits_render_netdev(const struct net_state *s, size_t link, char *out, size_t cap,
    size_t *len, struct nk_err *e);

/* resolv.conf text for the new system (nameservers and search list);
 * *len is 0 when dns holds nothing. */
int netunits_render_resolv(const struct net_dns *dns, char *out, size_t cap, size_t *len,
    struct nk_err *e);

/* "aa:bb:..." of n bytes into out (3 * n bytes). */
void netunits_mac(const uint8_t *mac, size_t n, char *out, size_t cap);

#endif
