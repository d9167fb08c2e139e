/* netunits: networkd units from the captured state. The rules, in short
 * (docs/handoff.md has the why):
 *   - one unit per interface that is up and has an Ethernet MAC, matched
 *     by its permanent MAC (the one the NIC has after a reboot); loopback,
 *     bridge and bond ports, VLAN/macvlan/ipvlan children, and interfaces
 *     with nothing configured get none;
 *   - static addresses (IFA_F_PERMANENT, infinite lifetime) as they were;
 *   - a dynamic IPv4 address or a DHCP route: DHCP=ipv4; a dynamic IPv6
 *     address or an RA route: IPv6AcceptRA=yes, plus DHCP=ipv6 when the
 *     address is a /128 (DHCPv6 IA_NA; SLAAC gives /64s);
 *   - routes of the main table that no DHCP or RA will recreate, with
 *     GatewayOnLink=yes when the gateway is outside every prefix of the
 *     interface (or the kernel route said onlink);
 *   - MTU when it is not 1500; DNS and search domains on the interfaces
 *     that carry a default route. */
#include "netunits.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#define NET_MTU_DEFAULT 1500
#define NET_V6_METRIC_DEFAULT 1024
#define NET_LIFETIME_FOREVER 0xffffffffu
#define NET_MAC_ETHER_BYTES 6

struct text {
	char *p;
	size_t cap;
	size_t len;
	int over;
};

static void __attribute__((format(printf, 2, 3)))
put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->over)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->cap - t->len) {
		t->over = 1;
		return;
	}
	t->len += (size_t)n;
}

static size_t
alen(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

static void
ntop(int family, const uint8_t *a, char *out, size_t cap)
{
	if (inet_ntop(family, a, out, (socklen_t)cap) == NULL)
		snprintf(out, cap, "?");
}

static int
all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* Is x inside addr/prefixlen (same family)? */
static int
in_prefix(int family, const uint8_t *addr, unsigned prefixlen, const uint8_t *x)
{
	unsigned full = prefixlen / 8, rest = prefixlen % 8;
	uint8_t mask;

	if (prefixlen > alen(family) * 8)
		return 0;
	if (memcmp(addr, x, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return (addr[full] & mask) == (x[full] & mask);
}

static int
v6_linklocal(const uint8_t *a)
{
	return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

static int
v4_linklocal(const uint8_t *a)
{
	return a[0] == 169 && a[1] == 254;
}

/* --- resolv.conf --------------------------------------------------------- */

static int
domain_ok(const char *d, size_t n)
{
	size_t i;

	if (n == 0 || n >= NETUNITS_DOMAIN_MAX_BYTES || (n == 1 && d[0] == '.'))
		return 0;
	for (i = 0; i < n; i++)
		if (!((d[i] >= 'a' && d[i] <= 'z') || (d[i] >= 'A' && d[i] <= 'Z') ||
		    (d[i] >= '0' && d[i] <= '9') || d[i] == '.' || d[i] == '-' || d[i] == '_'))
			return 0;
	return 1;
}

static void
add_server(struct net_dns *out, const char *tok, size_t n)
{
	char s[INET6_ADDRSTRLEN + 1];
	uint8_t a[16];
	int family;
	size_t i;

	if (n >= sizeof(s))
		return;
	memcpy(s, tok, n);
	s[n] = '\0';
	s[strcspn(s, "%")] = '\0'; /* a zone index names an interface of the old system */
	if (inet_pton(AF_INET, s, a) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, s, a) == 1)
		family = AF_INET6;
	else
		return;
	if (family == AF_INET && a[0] == 127) {
		if (a[1] == 0 && a[2] == 0 && (a[3] == 53 || a[3] == 54))
			out->stub = 1;
		else
			out->local++;
		return;
	}
	if (family == AF_INET6 && (v6_linklocal(a) || (all_zero(a, 15) && a[15] == 1))) {
		out->local++;
		return;
	}
	for (i = 0; i < out->nservers; i++)
		if (out->family[i] == family && memcmp(out->addr[i], a, alen(family)) == 0)
			return;
	if (out->nservers >= NETUNITS_DNS_MAX) {
		out->over++;
		return;
	}
	out->family[out->nservers] = family;
	memcpy(out->addr[out->nservers], a, alen(family));
	out->nservers++;
}

/* Splits line[0..n) into at most max tokens at spaces and tabs. */
static size_t
tokens(const char *line, size_t n, const char **tok, size_t *tlen, size_t max)
{
	size_t i = 0, k = 0, start;

	while (i < n && k < max) {
		while (i < n && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i >= n)
			break;
		start = i;
		while (i < n && line[i] != ' ' && line[i] != '\t')
			i++;
		tok[k] = line + start;
		tlen[k++] = i - start;
	}
	return k;
}

static void
parse_line(const char *line, size_t n, struct net_dns *out)
{
	const char *tok[NETUNITS_DOMAINS_MAX + 2];
	size_t tl[NETUNITS_DOMAINS_MAX + 2], k, i;

	if (n == 0 || line[0] == '#' || line[0] == ';')
		return;
	k = tokens(line, n, tok, tl, sizeof(tok) / sizeof(tok[0]));
	if (k >= 2 && tl[0] == 10 && memcmp(tok[0], "nameserver", 10) == 0) {
		add_server(out, tok[1], tl[1]);
		return;
	}
	if (k >= 1 && ((tl[0] == 6 && memcmp(tok[0], "search", 6) == 0) ||
	    (tl[0] == 6 && memcmp(tok[0], "domain", 6) == 0))) {
		out->ndomains = 0;
		for (i = 1; i < k; i++) {
			if (!domain_ok(tok[i], tl[i]))
				continue;
			if (out->ndomains >= NETUNITS_DOMAINS_MAX) {
				out->over++;
				break;
			}
			memcpy(out->domains[out->ndomains], tok[i], tl[i]);
			out->domains[out->ndomains][tl[i]] = '\0';
			out->ndomains++;
		}
	}
}

void
netunits_parse_resolv(const uint8_t *buf, size_t len, struct net_dns *out)
{
	const char *p = (const char *)buf, *nl;
	size_t n;

	if (len > NETUNITS_RESOLV_MAX_BYTES)
		len = NETUNITS_RESOLV_MAX_BYTES;
	while (len > 0) {
		nl = memchr(p, '\n', len);
		n = nl != NULL ? (size_t)(nl - p) : len;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n <= NETUNITS_LINE_MAX_BYTES && memchr(p, '\0', n) == NULL)
			parse_line(p, n, out);
		if (nl == NULL)
			break;
		len -= (size_t)(nl - p) + 1;
		p = nl + 1;
	}
}

int
netunits_render_resolv(const struct net_dns *dns, char *out, size_t cap, size_t *len,
    struct nk_err *e)
{
	struct text t = { out, cap, 0, 0 };
	char a[INET6_ADDRSTRLEN];
	size_t i;

	*len = 0;
	if (cap > 0)
		out[0] = '\0';
	if (dns->nservers == 0 && dns->ndomains == 0)
		return 0;
	put(&t, "# nixos-kexec handoff: DNS as it was before kexec\n");
	for (i = 0; i < dns->nservers; i++) {
		ntop(dns->family[i], dns->addr[i], a, sizeof(a));
		put(&t, "nameserver %s\n", a);
	}
	if (dns->ndomains > 0) {
		put(&t, "search");
		for (i = 0; i < dns->ndomains; i++)
			put(&t, " %s", dns->domains[i]);
		put(&t, "\n");
	}
	if (t.over)
		return nk_fail(e, NK_E_SIZE, "resolv.conf over %zu bytes", cap);
	*len = t.len;
	return 0;
}

/* --- which links ---------------------------------------------------------- */

void
netunits_mac(const uint8_t *mac, size_t n, char *out, size_t cap)
{
	size_t i, at = 0;

	if (cap == 0)
		return;
	out[0] = '\0';
	for (i = 0; i < n && at + 3 <= cap; i++)
		at += (size_t)snprintf(out + at, cap - at, i ? ":%02x" : "%02x", mac[i]);
}

/* Ethernet only: what [Match] MACAddress= takes on every networkd. */
static int
mac_ok(const uint8_t *m, size_t n)
{
	return n == NET_MAC_ETHER_BYTES && !all_zero(m, n);
}

/* The MAC the NIC will have after kexec: the permanent one if the driver
 * reports it, else the current one (virtual devices, older kernels). */
static const uint8_t *
match_mac(const struct net_link *l, size_t *n)
{
	if (mac_ok(l->perm_mac, l->perm_mac_len)) {
		*n = l->perm_mac_len;
		return l->perm_mac;
	}
	*n = l->mac_len;
	return l->mac;
}

/* Addresses the kernel or a protocol makes by itself are not "configured". */
static int
addr_counts(const struct net_addr *a)
{
	if (a->flags & (IFA_F_TEMPORARY | IFA_F_DADFAILED))
		return 0;
	if (a->scope == RT_SCOPE_HOST)
		return 0;
	if (a->family == AF_INET6 && v6_linklocal(a->addr))
		return 0;
	return 1;
}

static int
addr_static(const struct net_addr *a)
{
	return (a->flags & IFA_F_PERMANENT) && a->valid_lft == NET_LIFETIME_FOREVER;
}

static size_t
link_addrs(const struct net_state *s, const struct net_link *l)
{
	size_t i, n = 0;

	for (i = 0; i < s->naddrs; i++)
		if (s->addrs[i].ifindex == l->index && addr_counts(&s->addrs[i]))
			n++;
	return n;
}

static size_t
link_routes(const struct net_state *s, const struct net_link *l)
{
	size_t i, n = 0;

	for (i = 0; i < s->nroutes; i++)
		if (s->routes[i].oif == l->index)
			n++;
	return n;
}

static const char *
basic_reason(const struct net_state *s, const struct net_link *l)
{
	static const char *const stacked[] = { "vlan", "macvlan", "macvtap", "ipvlan",
		"ipvtap" };
	size_t i;

	if ((l->flags & IFF_LOOPBACK) || l->type == ARPHRD_LOOPBACK)
		return "loopback";
	if (!mac_ok(l->mac, l->mac_len))
		return "no Ethernet MAC address";
	if (!(l->flags & IFF_UP))
		return "down";
	if (l->master != 0)
		return "a bridge or bond port (its master carries the addresses)";
	for (i = 0; i < sizeof(stacked) / sizeof(stacked[0]); i++)
		if (strcmp(l->kind, stacked[i]) == 0)
			return "stacked on another interface (VLAN, macvlan, ipvlan: not re-created)";
	if (link_addrs(s, l) == 0 && link_routes(s, l) == 0)
		return "nothing configured";
	return NULL;
}

const char *
netunits_skip_reason(const struct net_state *s, size_t link)
{
	const struct net_link *l, *o;
	const uint8_t *m, *om;
	size_t n, on, j, score, oscore;
	const char *why;

	if (link >= s->nlinks)
		return "no such interface";
	l = &s->links[link];
	if ((why = basic_reason(s, l)) != NULL)
		return why;
	/* Two units for one MAC would fight over one NIC: the interface with
	 * more addresses keeps it (ties: the lower index). */
	m = match_mac(l, &n);
	score = link_addrs(s, l);
	for (j = 0; j < s->nlinks; j++) {
		o = &s->links[j];
		if (j == link || basic_reason(s, o) != NULL)
			continue;
		om = match_mac(o, &on);
		if (on != n || memcmp(om, m, n) != 0)
			continue;
		oscore = link_addrs(s, o);
		if (oscore > score || (oscore == score && o->index < l->index))
			return "same MAC as another interface with more addresses";
	}
	return NULL;
}

/* Interface names may hold almost anything; file names here do not. */
static void
sanitize(const char *name, char *out, size_t cap)
{
	size_t i;

	for (i = 0; name[i] != '\0' && i < cap - 1; i++) {
		char c = name[i];

		out[i] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.') ? c : '_';
	}
	out[i] = '\0';
	if (out[0] == '.')
		out[0] = '_';
}

int
netunits_name(const struct net_state *s, size_t link, char *out, size_t cap,
    struct nk_err *e)
{
	char mine[NET_IFNAME_MAX_BYTES], other[NET_IFNAME_MAX_BYTES];
	size_t j;
	int clash = 0, n;

	if (link >= s->nlinks)
		return nk_fail(e, NK_E_INTERNAL, "netunits: no interface %zu", link);
	sanitize(s->links[link].name, mine, sizeof(mine));
	/* Two names that sanitize alike: the later one adds its index. */
	for (j = 0; j < link && !clash; j++) {
		if (netunits_skip_reason(s, j) != NULL)
			continue;
		sanitize(s->links[j].name, other, sizeof(other));
		clash = strcmp(mine, other) == 0;
	}
	if (clash)
		n = snprintf(out, cap, "%s-%d.network", mine, s->links[link].index);
	else
		n = snprintf(out, cap, "%s.network", mine);
	if (n < 0 || (size_t)n >= cap)
		return nk_fail(e, NK_E_INTERNAL, "netunits: name over %zu bytes", cap);
	return 0;
}

/* --- one unit ------------------------------------------------------------ */

struct plan {
	int dhcp4;
	int dhcp6;
	int ra;
	int has_default;
};

static int
route_emitted(const struct net_state *s, const struct net_link *l, const struct plan *p,
    const struct net_route *r)
{
	size_t i;

	if (r->oif != l->index)
		return 0;
	if (r->protocol == NET_RTPROT_RA)
		return 0; /* the router advertises it again */
	if (r->family == AF_INET && p->dhcp4 && (r->protocol == NET_RTPROT_DHCP || r->dst_len == 0))
		return 0; /* the DHCP server hands it out again */
	if (r->family == AF_INET6 && (p->ra || p->dhcp6) && r->protocol == NET_RTPROT_DHCP)
		return 0;
	if (r->family == AF_INET6 && r->gw_family == 0 && v6_linklocal(r->dst))
		return 0;
	/* A copy of an address's own prefix route would clash with the one
	 * the kernel adds for the address (same key: EEXIST). */
	if (r->gw_family == 0)
		for (i = 0; i < s->naddrs; i++) {
			const struct net_addr *a = &s->addrs[i];

			if (a->ifindex == l->index && a->family == r->family &&
			    a->prefixlen == r->dst_len &&
			    in_prefix(a->family, a->addr, a->prefixlen, r->dst) &&
			    addr_counts(a) && addr_static(a))
				return 0;
		}
	return 1;
}

static void
plan_link(const struct net_state *s, const struct net_link *l, struct plan *p)
{
	size_t i;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < s->naddrs; i++) {
		const struct net_addr *a = &s->addrs[i];

		if (a->ifindex != l->index || !addr_counts(a) || addr_static(a))
			continue;
		if (a->family == AF_INET && !v4_linklocal(a->addr))
			p->dhcp4 = 1;
		else if (a->family == AF_INET6 && a->prefixlen == 128)
			p->dhcp6 = 1;
		else if (a->family == AF_INET6)
			p->ra = 1;
	}
	for (i = 0; i < s->nroutes; i++) {
		const struct net_route *r = &s->routes[i];

		if (r->oif != l->index)
			continue;
		if (r->family == AF_INET && r->protocol == NET_RTPROT_DHCP)
			p->dhcp4 = 1;
		if (r->family == AF_INET6 && r->protocol == NET_RTPROT_RA)
			p->ra = 1;
	}
	p->has_default = p->dhcp4 || p->ra;
	for (i = 0; i < s->nroutes && !p->has_default; i++)
		if (s->routes[i].dst_len == 0 && route_emitted(s, l, p, &s->routes[i]))
			p->has_default = 1;
}

/* Is gw on-link through one of l's prefixes of its family? */
static int
gw_in_prefixes(const struct net_state *s, const struct net_link *l, int family,
    const uint8_t *gw)
{
	size_t i;

	for (i = 0; i < s->naddrs; i++) {
		const struct net_addr *a = &s->addrs[i];

		if (a->ifindex == l->index && a->family == family &&
		    in_prefix(family, a->addr, a->prefixlen, gw))
			return 1;
	}
	return 0;
}

static void
render_route(struct text *t, const struct net_state *s, const struct net_link *l,
    const struct net_route *r)
{
	char a[INET6_ADDRSTRLEN];
	int onlink;

	put(t, "\n[Route]\n");
	/* networkd takes the family from Gateway= when Destination= is
	 * absent, so a default route through a gateway of its own family
	 * needs none; a default via an IPv6 gateway for IPv4 (RFC 8950) does. */
	if (r->dst_len != 0 || r->gw_family != r->family) {
		ntop(r->family, r->dst, a, sizeof(a));
		put(t, "Destination=%s/%u\n", a, r->dst_len);
	}
	if (r->gw_family != 0) {
		ntop(r->gw_family, r->gw, a, sizeof(a));
		put(t, "Gateway=%s\n", a);
		onlink = (r->flags & RTNH_F_ONLINK) ||
		    (!(r->gw_family == AF_INET6 && v6_linklocal(r->gw)) &&
		    !gw_in_prefixes(s, l, r->gw_family, r->gw));
		if (onlink)
			put(t, "GatewayOnLink=yes\n");
	}
	if (r->has_prefsrc) {
		ntop(r->family, r->prefsrc, a, sizeof(a));
		put(t, "PreferredSource=%s\n", a);
	}
	if (r->metric != 0 && !(r->family == AF_INET6 && r->metric == NET_V6_METRIC_DEFAULT))
		put(t, "Metric=%u\n", r->metric);
	if (r->family == AF_INET && r->scope == RT_SCOPE_LINK)
		put(t, "Scope=link\n");
	else if (r->family == AF_INET && r->scope == RT_SCOPE_HOST)
		put(t, "Scope=host\n");
}

static int
any_default(const struct net_state *s)
{
	struct plan p;
	size_t i;

	for (i = 0; i < s->nlinks; i++) {
		if (netunits_skip_reason(s, i) != NULL)
			continue;
		plan_link(s, &s->links[i], &p);
		if (p.has_default)
			return 1;
	}
	return 0;
}

int
netunits_render(const struct net_state *s, size_t link, const struct net_dns *dns,
    char *out, size_t cap, size_t *len, struct nk_err *e)
{
	struct text t = { out, cap, 0, 0 };
	const struct net_link *l;
	const uint8_t *m;
	char mac[NET_HWADDR_MAX_BYTES * 3 + 1], a[INET6_ADDRSTRLEN];
	const char *why;
	struct plan p;
	size_t i, n;

	*len = 0;
	if (cap > 0)
		out[0] = '\0';
	if ((why = netunits_skip_reason(s, link)) != NULL)
		return nk_fail(e, NK_E_INTERNAL, "netunits: %s gets no unit: %s",
		    link < s->nlinks ? s->links[link].name : "?", why);
	l = &s->links[link];
	plan_link(s, l, &p);
	m = match_mac(l, &n);
	netunits_mac(m, n, mac, sizeof(mac));
	put(&t, "# nixos-kexec handoff: %s (index %d) as it was before kexec\n", l->name, l->index);
	put(&t, "[Match]\nMACAddress=%s\n", mac);
	if (m != l->mac && (l->mac_len != n || memcmp(l->mac, m, n) != 0)) {
		/* The MAC was changed at run time: keep the one the network knows. */
		netunits_mac(l->mac, l->mac_len, mac, sizeof(mac));
		put(&t, "\n[Link]\nMACAddress=%s\n", mac);
		if (l->mtu != 0 && l->mtu != NET_MTU_DEFAULT)
			put(&t, "MTUBytes=%u\n", l->mtu);
	} else if (l->mtu != 0 && l->mtu != NET_MTU_DEFAULT) {
		put(&t, "\n[Link]\nMTUBytes=%u\n", l->mtu);
	}
	put(&t, "\n[Network]\n");
	if (p.dhcp4 || p.dhcp6)
		put(&t, "DHCP=%s\n", p.dhcp4 && p.dhcp6 ? "yes" : p.dhcp4 ? "ipv4" : "ipv6");
	if (p.ra || p.dhcp6)
		put(&t, "IPv6AcceptRA=yes\n");
	for (i = 0; i < s->naddrs; i++) {
		const struct net_addr *ad = &s->addrs[i];

		if (ad->ifindex != l->index || !addr_counts(ad) || !addr_static(ad))
			continue;
		ntop(ad->family, ad->addr, a, sizeof(a));
		put(&t, "Address=%s/%u\n", a, ad->prefixlen);
	}
	if (dns != NULL && (p.has_default || !any_default(s))) {
		for (i = 0; i < dns->nservers; i++) {
			ntop(dns->family[i], dns->addr[i], a, sizeof(a));
			put(&t, "DNS=%s\n", a);
		}
		if (dns->ndomains > 0) {
			put(&t, "Domains=");
			for (i = 0; i < dns->ndomains; i++)
				put(&t, i ? " %s" : "%s", dns->domains[i]);
			put(&t, "\n");
		}
	}
	for (i = 0; i < s->nroutes; i++)
		if (route_emitted(s, l, &p, &s->routes[i]))
			render_route(&t, s, l, &s->routes[i]);
	if (t.over)
		return nk_fail(e, NK_E_SIZE, "unit for %s over %zu bytes", l->name, cap);
	*len = t.len;
	return 0;
}
