/* netunits: networkd units from the captured state. The rules, in short
 * (docs/handoff.md has the why):
 *   - one .network unit per NIC that is up, has an Ethernet MAC and
 *     something configured, matched by its permanent MAC (the one the NIC
 *     has after a reboot);
 *   - bonds, bridges and VLANs re-created: a .netdev (kind, MAC, MTU and
 *     their settings) and a .network matched by name; their ports get a
 *     .network with Bond= or Bridge=, matched by PermanentMACAddress=
 *     (never by name, never by the MAC the bond gave them); a VLAN's
 *     parent gets VLAN=; a bond or bridge with no carried port (docker0,
 *     virbr0) stays behind;
 *   - loopback, macvlan/ipvlan, tunnels, WireGuard, tap, team, VRF, and
 *     interfaces with nothing configured get none (the caller notes why);
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

#include "lines.h"

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

void
netunits_dns_add_addr(struct net_dns *out, int family, const uint8_t *a)
{
	size_t i;

	if (family != AF_INET && family != AF_INET6)
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

void
netunits_dns_add(struct net_dns *out, const char *tok, size_t n)
{
	char s[INET6_ADDRSTRLEN + 1];
	uint8_t a[16];

	if (n >= sizeof(s))
		return;
	memcpy(s, tok, n);
	s[n] = '\0';
	s[strcspn(s, "%")] = '\0'; /* a zone index names an interface of the old system */
	if (inet_pton(AF_INET, s, a) == 1)
		netunits_dns_add_addr(out, AF_INET, a);
	else if (inet_pton(AF_INET6, s, a) == 1)
		netunits_dns_add_addr(out, AF_INET6, a);
}

void
netunits_dns_add_domain(struct net_dns *out, const char *d, size_t n)
{
	size_t i;

	if (!domain_ok(d, n))
		return;
	for (i = 0; i < out->ndomains; i++)
		if (strlen(out->domains[i]) == n && memcmp(out->domains[i], d, n) == 0)
			return;
	if (out->ndomains >= NETUNITS_DOMAINS_MAX) {
		out->over++;
		return;
	}
	memcpy(out->domains[out->ndomains], d, n);
	out->domains[out->ndomains][n] = '\0';
	out->ndomains++;
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
		netunits_dns_add(out, tok[1], tl[1]);
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

static void parse_forwarder_line(const char *line, size_t n, struct net_dns *out, char *rf,
    size_t cap);

/* Each line of buf (CR LF too; lines too long or holding a NUL are
 * skipped) to parse_line, or with resolv_file to parse_forwarder_line. */
static void
each_line(const uint8_t *buf, size_t len, struct net_dns *out, char *resolv_file, size_t cap)
{
	struct lines l;
	const char *p;
	size_t n;

	lines_init(&l, buf, len, NETUNITS_RESOLV_MAX_BYTES);
	while (lines_next(&l, &p, &n)) {
		if (!lines_readable(p, n, NETUNITS_LINE_MAX_BYTES))
			continue;
		if (resolv_file != NULL)
			parse_forwarder_line(p, n, out, resolv_file, cap);
		else
			parse_line(p, n, out);
	}
}

void
netunits_parse_resolv(const uint8_t *buf, size_t len, struct net_dns *out)
{
	each_line(buf, len, out, NULL, 0);
}

/* One forwarder line, without its line end. */
static void
parse_forwarder_line(const char *line, size_t n, struct net_dns *out, char *rf, size_t cap)
{
	const char *v;
	size_t i = 0, vn, k, rn;
	int dnsmasq;

	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	line += i;
	n -= i;
	if (n > 7 && memcmp(line, "server=", 7) == 0) {
		dnsmasq = 1;
		v = line + 7;
		vn = n - 7;
	} else if (n > 13 && memcmp(line, "forward-addr:", 13) == 0) {
		dnsmasq = 0;
		v = line + 13;
		vn = n - 13;
		while (vn > 0 && (*v == ' ' || *v == '\t'))
			v++, vn--;
	} else if (n > 12 && memcmp(line, "resolv-file=", 12) == 0) {
		vn = n - 12;
		while (vn > 0 && (line[12 + vn - 1] == ' ' || line[12 + vn - 1] == '\t'))
			vn--;
		if (cap > 0)
			rf[0] = '\0';
		if (vn > 0 && vn < cap && line[12] == '/') {
			memcpy(rf, line + 12, vn);
			rf[vn] = '\0';
		}
		return;
	} else {
		return;
	}
	/* The address ends at a space, tab or comment (unbound). */
	for (k = 0; k < vn && v[k] != ' ' && v[k] != '\t'; k++)
		;
	vn = k;
	if (vn == 0 || v[0] == '/')
		return; /* dnsmasq: a server for some domains only, or none */
	for (k = 0; k < vn; k++) {
		if (dnsmasq && v[k] == '@')
			break; /* dnsmasq: the source address or interface */
		if (dnsmasq ? v[k] == '#' : v[k] == '@') {
			rn = vn - k - 1;
			if (rn < 2 || memcmp(v + k + 1, "53", 2) != 0 ||
			    (rn > 2 && (dnsmasq || v[k + 3] != '#')))
				return; /* another port: DNS= would send it to 53 */
			break;
		}
		if (!dnsmasq && v[k] == '#')
			break; /* unbound: the TLS name */
	}
	netunits_dns_add(out, v, k);
}

void
netunits_parse_forwarder(const uint8_t *buf, size_t len, struct net_dns *out,
    char *resolv_file, size_t cap)
{
	if (cap > 0)
		resolv_file[0] = '\0';
	each_line(buf, len, out, resolv_file, cap);
}

void
netunits_merge_dns(struct net_dns *out, const struct net_dns *in)
{
	size_t i;

	for (i = 0; i < in->nservers; i++)
		netunits_dns_add_addr(out, in->family[i], in->addr[i]);
	for (i = 0; i < in->ndomains; i++)
		netunits_dns_add_domain(out, in->domains[i], strlen(in->domains[i]));
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

/* A port's MAC: the permanent one (*perm = 1: PermanentMACAddress=), else
 * the one it had when the bond took it, else the current one. A bond gives
 * all its ports one MAC, so the current one rarely tells them apart. */
static const uint8_t *
port_mac(const struct net_link *l, size_t *n, int *perm)
{
	*perm = mac_ok(l->perm_mac, l->perm_mac_len);
	if (*perm) {
		*n = l->perm_mac_len;
		return l->perm_mac;
	}
	if (mac_ok(l->slave_perm_mac, l->slave_perm_mac_len)) {
		*n = l->slave_perm_mac_len;
		return l->slave_perm_mac;
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

static int
kind_is(const struct net_link *l, const char *k)
{
	return strcmp(l->kind, k) == 0;
}

/* Re-created in the new system as a .netdev, matched by name. */
static int
virtual_carried(const struct net_link *l)
{
	return kind_is(l, "bond") || kind_is(l, "bridge") || kind_is(l, "vlan");
}

static int
is_master(const struct net_link *l)
{
	return kind_is(l, "bond") || kind_is(l, "bridge");
}

static const char *const bond_modes[] = { "balance-rr", "active-backup", "balance-xor",
	"broadcast", "802.3ad", "balance-tlb", "balance-alb" };
static const char *const bond_hashes[] = { "layer2", "layer3+4", "layer2+3", "encap2+3",
	"encap3+4", "vlan+srcmac" };
static const char *const bond_ad_selects[] = { "stable", "bandwidth", "count" };
static const char *const bond_fail_over_macs[] = { "none", "active", "follow" };
static const char *const bond_arp_validates[] = { "none", "active", "backup", "all" };

#define NAMEOF(table, i) ((size_t)(i) < sizeof(table) / sizeof((table)[0]) ? (table)[i] : NULL)

#define BOND_MODE_ACTIVE_BACKUP 1
#define BOND_MODE_XOR 2
#define BOND_MODE_8023AD 4
#define BOND_MODE_TLB 5
#define BOND_MODE_ALB 6
#define NET_VLAN_8021Q 0x8100
#define NET_VLAN_8021AD 0x88a8
#define NET_VLAN_FLAG_REORDER_HDR 0x1
#define NET_VLAN_FLAG_GVRP 0x2
#define NET_VLAN_FLAG_LOOSE_BINDING 0x4
#define NET_VLAN_FLAG_MVRP 0x8
#define NET_CLOCK_T_MS 10 /* bridge times are in USER_HZ (100) ticks */

/* What networkd takes as a netdev name, and what stays one word in a unit
 * (no glob characters either: [Match] Name= takes patterns). */
static int
name_ok(const char *n)
{
	size_t i;
	int digits = 1;

	if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
		return 0;
	for (i = 0; n[i] != '\0'; i++) {
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z') ||
		    (n[i] >= '0' && n[i] <= '9') || n[i] == '-' || n[i] == '_' || n[i] == '.'))
			return 0;
		if (n[i] < '0' || n[i] > '9')
			digits = 0;
	}
	return i > 0 && !digits;
}

static const char R_STACKED[] = "stacked on another interface (macvlan, ipvlan: not re-created)";
static const char R_KIND[] = "a virtual interface of a kind not re-created (tunnels, WireGuard, "
    "tap, team, VRF...; only bonds, bridges and VLANs are)";
static const char R_PORT_KIND[] = "a virtual port (veth, tap...) of a bridge or bond: not re-created";
static const char R_MASTER_KIND[] = "a port of a master that is not re-created (team, VRF, "
    "Open vSwitch...)";
static const char R_MASTER_SKIPPED[] = "a port of a bond or bridge that gets no unit";
static const char R_PARENT_SKIPPED[] = "a VLAN on an interface that gets no unit";
static const char R_NO_PORT[] = "a bond or bridge without a port that is carried (docker0, "
    "virbr0 and the like stay behind)";
static const char R_NOTHING[] = "nothing configured";
static const char R_DUPMAC[] = "same MAC as another interface with more addresses";
#define STR_(x) #x
#define STR(x) STR_(x)
static const char R_DEPTH[] = "bonds, bridges and VLANs stacked more than "
    STR(NETUNITS_STACK_MAX) " levels deep, or in a loop";

/* What becomes of each link, decided for all at once because a port
 * follows its master, a master needs a port, and a VLAN's parent is
 * needed for the VLAN. */
struct verdict {
	const char *why;  /* NULL: carried */
	int master;       /* position of the master in s->links, or -1 */
	int parent;       /* a VLAN's parent's position, or -1 */
	size_t naddrs;    /* configured addresses */
	size_t nroutes;
};

struct verdicts {
	struct verdict v[NET_LINKS_MAX];
	size_t n;
};

static int
position(const struct net_state *s, size_t n, int index)
{
	size_t i;

	if (index <= 0)
		return -1;
	for (i = 0; i < n; i++)
		if (s->links[i].index == index)
			return (int)i;
	return -1;
}

/* Why link i gets no unit, judged on its own and its neighbours'
 * existence only (not on whether they get units). */
static const char *
own_reason(const struct net_state *s, size_t i, const struct verdict *v)
{
	static const char *const stacked[] = { "macvlan", "macvtap", "ipvlan", "ipvtap" };
	static const char *const foreign[] = { "vxlan", "geneve", "gretap", "ip6gretap",
		"erspan", "ip6erspan", "wireguard", "tun", "team", "vrf", "openvswitch",
		"macsec", "hsr", "bareudp", "ipip", "gre", "sit", "ip6tnl", "ip6gre", "vti",
		"vti6", "xfrm" };
	const struct net_link *l = &s->links[i], *m;
	size_t k;

	if ((l->flags & IFF_LOOPBACK) || l->type == ARPHRD_LOOPBACK)
		return "loopback";
	for (k = 0; k < sizeof(stacked) / sizeof(stacked[0]); k++)
		if (kind_is(l, stacked[k]))
			return R_STACKED;
	for (k = 0; k < sizeof(foreign) / sizeof(foreign[0]); k++)
		if (kind_is(l, foreign[k]))
			return R_KIND;
	if (!mac_ok(l->mac, l->mac_len))
		return "no Ethernet MAC address";
	if (!(l->flags & IFF_UP))
		return "down";
	if (virtual_carried(l)) {
		if (!name_ok(l->name))
			return "a name networkd cannot give to a device it creates";
		if (!l->has_info_data)
			return "the kernel gave none of its settings";
		if (kind_is(l, "bond") && NAMEOF(bond_modes, l->bond.mode) == NULL)
			return "a bond mode networkd does not know";
		if (kind_is(l, "vlan") && l->vlan.protocol != NET_VLAN_8021Q &&
		    l->vlan.protocol != NET_VLAN_8021AD)
			return "a VLAN protocol networkd does not know";
		if (kind_is(l, "vlan") && (l->link_elsewhere || v->parent < 0 ||
		    v->parent == (int)i))
			return "a VLAN on an interface not in this network namespace";
	}
	if (l->master != 0) {
		if (v->master < 0 || v->master == (int)i)
			return "a port of an interface not in the dump";
		m = &s->links[v->master];
		if (!is_master(m))
			return R_MASTER_KIND;
		if (l->kind[0] != '\0' && !virtual_carried(l))
			return R_PORT_KIND;
	}
	return NULL;
}

/* Levels of masters and VLAN parents above each link; a chain longer
 * than NETUNITS_STACK_MAX (or a loop, which only a forged dump has) is
 * refused rather than followed. */
static void
check_depth(struct verdicts *V)
{
	int level[NET_LINKS_MAX], up, lm, lp;
	size_t i, pass;

	for (i = 0; i < V->n; i++)
		level[i] = -1;
	for (pass = 0; pass <= NETUNITS_STACK_MAX; pass++)
		for (i = 0; i < V->n; i++) {
			if (level[i] >= 0)
				continue;
			lm = V->v[i].master >= 0 ? level[V->v[i].master] : 0;
			lp = V->v[i].parent >= 0 ? level[V->v[i].parent] : 0;
			if (lm < 0 || lp < 0)
				continue;
			up = V->v[i].master >= 0 || V->v[i].parent >= 0;
			level[i] = up ? 1 + (lm > lp ? lm : lp) : 0;
		}
	for (i = 0; i < V->n; i++)
		if (V->v[i].why == NULL && (level[i] < 0 || level[i] > NETUNITS_STACK_MAX))
			V->v[i].why = R_DEPTH;
}

/* Two units for one MAC would fight over one NIC: the interface with more
 * addresses keeps it (ties: the lower index). Virtual devices are matched
 * by name and take no part. */
static int
loses_mac(const struct net_state *s, const struct verdicts *V, size_t i)
{
	const struct net_link *l = &s->links[i], *o;
	const uint8_t *m, *om;
	size_t n, on, j;
	int perm;

	if (virtual_carried(l))
		return 0;
	m = V->v[i].master >= 0 ? port_mac(l, &n, &perm) : match_mac(l, &n);
	for (j = 0; j < V->n; j++) {
		o = &s->links[j];
		if (j == i || V->v[j].why != NULL || virtual_carried(o))
			continue;
		om = V->v[j].master >= 0 ? port_mac(o, &on, &perm) : match_mac(o, &on);
		if (on != n || memcmp(om, m, n) != 0)
			continue;
		if (V->v[j].naddrs > V->v[i].naddrs ||
		    (V->v[j].naddrs == V->v[i].naddrs && o->index < l->index))
			return 1;
	}
	return 0;
}

static void
classify(const struct net_state *s, struct verdicts *V)
{
	size_t i, ports[NET_LINKS_MAX], vlans[NET_LINKS_MAX];
	struct verdict *v;
	int p, changed;

	V->n = s->nlinks < NET_LINKS_MAX ? s->nlinks : NET_LINKS_MAX;
	for (i = 0; i < V->n; i++) {
		v = &V->v[i];
		memset(v, 0, sizeof(*v));
		v->master = position(s, V->n, s->links[i].master);
		v->parent = kind_is(&s->links[i], "vlan") ? position(s, V->n, s->links[i].link) : -1;
	}
	for (i = 0; i < s->naddrs && i < NET_ADDRS_MAX; i++)
		if (addr_counts(&s->addrs[i]) && (p = position(s, V->n, s->addrs[i].ifindex)) >= 0)
			V->v[p].naddrs++;
	for (i = 0; i < s->nroutes && i < NET_ROUTES_MAX; i++)
		if ((p = position(s, V->n, s->routes[i].oif)) >= 0)
			V->v[p].nroutes++;
	for (i = 0; i < V->n; i++)
		V->v[i].why = own_reason(s, i, &V->v[i]);
	check_depth(V);
	/* Decisions only ever take links away, so this ends within n rounds. */
	do {
		changed = 0;
		memset(ports, 0, sizeof(ports));
		memset(vlans, 0, sizeof(vlans));
		for (i = 0; i < V->n; i++) {
			if (V->v[i].why != NULL)
				continue;
			if (V->v[i].master >= 0)
				ports[V->v[i].master]++;
			if (V->v[i].parent >= 0)
				vlans[V->v[i].parent]++;
		}
		for (i = 0; i < V->n; i++) {
			v = &V->v[i];
			if (v->why != NULL)
				continue;
			if (v->master >= 0 && V->v[v->master].why != NULL)
				v->why = R_MASTER_SKIPPED;
			else if (v->parent >= 0 && V->v[v->parent].why != NULL)
				v->why = R_PARENT_SKIPPED;
			else if (is_master(&s->links[i]) && ports[i] == 0)
				v->why = R_NO_PORT;
			else if (v->master < 0 && !is_master(&s->links[i]) && v->naddrs == 0 &&
			    v->nroutes == 0 && vlans[i] == 0)
				v->why = R_NOTHING;
			else if (loses_mac(s, V, i))
				v->why = R_DUPMAC;
			changed |= v->why != NULL;
		}
	} while (changed);
}

const char *
netunits_skip_reason(const struct net_state *s, size_t link)
{
	struct verdicts V;

	classify(s, &V);
	if (link >= V.n)
		return "no such interface";
	return V.v[link].why;
}

const char *
netunits_caveat(const struct net_state *s, size_t link)
{
	struct verdicts V;
	const struct net_link *l;
	int perm;
	size_t n;

	classify(s, &V);
	if (link >= V.n || V.v[link].why != NULL)
		return NULL;
	l = &s->links[link];
	if (kind_is(l, "bridge") && l->bridge.vlan_filtering)
		return "its VLAN filtering is not carried: the new bridge forwards every VLAN";
	if (kind_is(l, "bond") && l->bond.arp_interval_ms != 0 &&
	    NAMEOF(bond_arp_validates, l->bond.arp_validate) == NULL)
		return "its ARP validation filter is not carried";
	if (kind_is(l, "bond") && NAMEOF(bond_hashes, l->bond.xmit_hash_policy) == NULL)
		return "its transmit hash policy is unknown here; the new bond uses layer2";
	if (V.v[link].master >= 0 && !virtual_carried(l)) {
		port_mac(l, &n, &perm);
		if (!perm)
			return "its driver reports no permanent MAC: matched by the MAC it had "
			    "when enslaved";
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

static int
unit_name(const struct net_state *s, const struct verdicts *V, size_t link, const char *ext,
    char *out, size_t cap, struct nk_err *e)
{
	char mine[NET_IFNAME_MAX_BYTES], other[NET_IFNAME_MAX_BYTES];
	size_t j;
	int clash = 0, n;

	if (link >= V->n)
		return nk_fail(e, NK_E_INTERNAL, "netunits: no interface %zu", link);
	sanitize(s->links[link].name, mine, sizeof(mine));
	/* Two names that sanitize alike: the later one adds its index. */
	for (j = 0; j < link && !clash; j++) {
		if (V->v[j].why != NULL)
			continue;
		sanitize(s->links[j].name, other, sizeof(other));
		clash = strcmp(mine, other) == 0;
	}
	if (clash)
		n = snprintf(out, cap, "%s-%d.%s", mine, s->links[link].index, ext);
	else
		n = snprintf(out, cap, "%s.%s", mine, ext);
	if (n < 0 || (size_t)n >= cap)
		return nk_fail(e, NK_E_INTERNAL, "netunits: name over %zu bytes", cap);
	return 0;
}

int
netunits_name(const struct net_state *s, size_t link, char *out, size_t cap,
    struct nk_err *e)
{
	struct verdicts V;

	classify(s, &V);
	return unit_name(s, &V, link, "network", out, cap, e);
}

int
netunits_netdev_name(const struct net_state *s, size_t link, char *out, size_t cap,
    struct nk_err *e)
{
	struct verdicts V;

	classify(s, &V);
	return unit_name(s, &V, link, "netdev", out, cap, e);
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

/* Does any interface that holds addresses (not a port) get a default? */
static int
any_default(const struct net_state *s, const struct verdicts *V)
{
	struct plan p;
	size_t i;

	for (i = 0; i < V->n; i++) {
		if (V->v[i].why != NULL || V->v[i].master >= 0)
			continue;
		plan_link(s, &s->links[i], &p);
		if (p.has_default)
			return 1;
	}
	return 0;
}

static void
header(struct text *t, const struct net_link *l)
{
	put(t, "# nixos-kexec handoff: %s (index %d) as it was before kexec\n", l->name, l->index);
}

/* [Match] and [Link] of a NIC that holds addresses: its permanent MAC,
 * and the MAC it had if that was changed at run time. */
static void
render_nic_match(struct text *t, const struct net_link *l)
{
	char mac[NET_HWADDR_MAX_BYTES * 3 + 1];
	const uint8_t *m;
	size_t n;

	m = match_mac(l, &n);
	netunits_mac(m, n, mac, sizeof(mac));
	put(t, "[Match]\nMACAddress=%s\n", mac);
	if (m != l->mac && (l->mac_len != n || memcmp(l->mac, m, n) != 0)) {
		/* The MAC was changed at run time: keep the one the network knows. */
		netunits_mac(l->mac, l->mac_len, mac, sizeof(mac));
		put(t, "\n[Link]\nMACAddress=%s\n", mac);
		if (l->mtu != 0 && l->mtu != NET_MTU_DEFAULT)
			put(t, "MTUBytes=%u\n", l->mtu);
	} else if (l->mtu != 0 && l->mtu != NET_MTU_DEFAULT) {
		put(t, "\n[Link]\nMTUBytes=%u\n", l->mtu);
	}
}

/* [Match] and [Link] of a NIC that is a port: never its current MAC (a
 * bond changes it) and never a MAC to restore. */
static void
render_port_match(struct text *t, const struct net_link *l)
{
	char mac[NET_HWADDR_MAX_BYTES * 3 + 1];
	const uint8_t *m;
	size_t n;
	int perm;

	m = port_mac(l, &n, &perm);
	netunits_mac(m, n, mac, sizeof(mac));
	put(t, "[Match]\n%s=%s\n", perm ? "PermanentMACAddress" : "MACAddress", mac);
	if (l->mtu != 0 && l->mtu != NET_MTU_DEFAULT)
		put(t, "\n[Link]\nMTUBytes=%u\n", l->mtu);
}

static void
render_addressing(struct text *t, const struct net_state *s, const struct verdicts *V,
    const struct net_link *l, const struct net_dns *dns, const struct net_dns *own)
{
	char a[INET6_ADDRSTRLEN];
	struct net_dns both;
	struct plan p;
	size_t i;

	plan_link(s, l, &p);
	if (p.dhcp4 || p.dhcp6)
		put(t, "DHCP=%s\n", p.dhcp4 && p.dhcp6 ? "yes" : p.dhcp4 ? "ipv4" : "ipv6");
	if (p.ra || p.dhcp6)
		put(t, "IPv6AcceptRA=yes\n");
	for (i = 0; i < s->naddrs; i++) {
		const struct net_addr *ad = &s->addrs[i];

		if (ad->ifindex != l->index || !addr_counts(ad) || !addr_static(ad))
			continue;
		ntop(ad->family, ad->addr, a, sizeof(a));
		put(t, "Address=%s/%u\n", a, ad->prefixlen);
	}
	/* The link's own servers first, then the global ones where they go. */
	memset(&both, 0, sizeof(both));
	if (own != NULL)
		netunits_merge_dns(&both, own);
	if (dns != NULL && (p.has_default || !any_default(s, V)))
		netunits_merge_dns(&both, dns);
	for (i = 0; i < both.nservers; i++) {
		ntop(both.family[i], both.addr[i], a, sizeof(a));
		put(t, "DNS=%s\n", a);
	}
	if (both.ndomains > 0) {
		put(t, "Domains=");
		for (i = 0; i < both.ndomains; i++)
			put(t, i ? " %s" : "%s", both.domains[i]);
		put(t, "\n");
	}
	for (i = 0; i < s->nroutes; i++)
		if (route_emitted(s, l, &p, &s->routes[i]))
			render_route(t, s, l, &s->routes[i]);
}

int
netunits_render(const struct net_state *s, size_t link, const struct net_dns *dns,
    const struct net_dns *own, char *out, size_t cap, size_t *len, struct nk_err *e)
{
	struct text t = { out, cap, 0, 0 };
	const struct net_link *l, *m = NULL;
	struct verdicts V;
	size_t j;

	*len = 0;
	if (cap > 0)
		out[0] = '\0';
	classify(s, &V);
	if (link >= V.n || V.v[link].why != NULL)
		return nk_fail(e, NK_E_INTERNAL, "netunits: %s gets no unit: %s",
		    link < V.n ? s->links[link].name : "?",
		    link < V.n ? V.v[link].why : "no such interface");
	l = &s->links[link];
	if (V.v[link].master >= 0)
		m = &s->links[V.v[link].master];
	header(&t, l);
	if (virtual_carried(l))
		put(&t, "[Match]\nName=%s\n", l->name); /* the MTU is in the .netdev */
	else if (m != NULL)
		render_port_match(&t, l);
	else
		render_nic_match(&t, l);
	put(&t, "\n[Network]\n");
	if (m != NULL) {
		put(&t, "%s=%s\n", kind_is(m, "bond") ? "Bond" : "Bridge", m->name);
		if (kind_is(m, "bond") && m->bond.primary == l->index &&
		    (m->bond.mode == BOND_MODE_ACTIVE_BACKUP || m->bond.mode == BOND_MODE_TLB ||
		    m->bond.mode == BOND_MODE_ALB))
			put(&t, "PrimarySlave=yes\n");
	}
	for (j = 0; j < V.n; j++)
		if (V.v[j].why == NULL && V.v[j].parent == (int)link)
			put(&t, "VLAN=%s\n", s->links[j].name);
	/* A port's addresses, if any, were never reachable: its master had them. */
	if (m == NULL)
		render_addressing(&t, s, &V, l, dns, own);
	if (t.over)
		return nk_fail(e, NK_E_SIZE, "unit for %s over %zu bytes", l->name, cap);
	*len = t.len;
	return 0;
}

static void
render_bond(struct text *t, const struct net_bond *b)
{
	char a[INET_ADDRSTRLEN];
	const char *name;
	size_t i;

	put(t, "\n[Bond]\nMode=%s\n", bond_modes[b->mode]);
	if ((b->mode == BOND_MODE_XOR || b->mode == BOND_MODE_8023AD || b->mode == BOND_MODE_TLB) &&
	    (name = NAMEOF(bond_hashes, b->xmit_hash_policy)) != NULL)
		put(t, "TransmitHashPolicy=%s\n", name);
	if (b->mode == BOND_MODE_8023AD) {
		put(t, "LACPTransmitRate=%s\n", b->lacp_rate ? "fast" : "slow");
		if ((name = NAMEOF(bond_ad_selects, b->ad_select)) != NULL && b->ad_select != 0)
			put(t, "AdSelect=%s\n", name);
	}
	if (b->mode == BOND_MODE_ACTIVE_BACKUP && b->fail_over_mac != 0 &&
	    (name = NAMEOF(bond_fail_over_macs, b->fail_over_mac)) != NULL)
		put(t, "FailOverMACPolicy=%s\n", name);
	if (b->miimon_ms != 0) {
		put(t, "MIIMonitorSec=%ums\n", b->miimon_ms);
		if (b->updelay_ms != 0)
			put(t, "UpDelaySec=%ums\n", b->updelay_ms);
		if (b->downdelay_ms != 0)
			put(t, "DownDelaySec=%ums\n", b->downdelay_ms);
	}
	if (b->min_links != 0)
		put(t, "MinLinks=%u\n", b->min_links);
	if (b->arp_interval_ms != 0) {
		put(t, "ARPIntervalSec=%ums\n", b->arp_interval_ms);
		if (b->narp_targets > 0) {
			put(t, "ARPIPTargets=");
			for (i = 0; i < b->narp_targets && i < NET_BOND_ARP_TARGETS_MAX; i++) {
				ntop(AF_INET, b->arp_targets[i], a, sizeof(a));
				put(t, i ? " %s" : "%s", a);
			}
			put(t, "\n");
		}
		if (b->arp_validate != 0 &&
		    (name = NAMEOF(bond_arp_validates, b->arp_validate)) != NULL)
			put(t, "ARPValidate=%s\n", name);
	}
}

static void
render_vlan(struct text *t, const struct net_vlan *v)
{
	put(t, "\n[VLAN]\nId=%u\nProtocol=%s\n", v->id,
	    v->protocol == NET_VLAN_8021AD ? "802.1ad" : "802.1q");
	if (v->flags & NET_VLAN_FLAG_GVRP)
		put(t, "GVRP=yes\n");
	if (v->flags & NET_VLAN_FLAG_MVRP)
		put(t, "MVRP=yes\n");
	if (v->flags & NET_VLAN_FLAG_LOOSE_BINDING)
		put(t, "LooseBinding=yes\n");
	if (!(v->flags & NET_VLAN_FLAG_REORDER_HDR))
		put(t, "ReorderHeader=no\n");
}

static void
render_bridge(struct text *t, const struct net_bridge *b)
{
	put(t, "\n[Bridge]\nSTP=%s\n", b->stp_state != 0 ? "yes" : "no");
	/* The STP timers and priority matter only with STP on. */
	if (b->stp_state == 0)
		return;
	if (b->forward_delay != 0)
		put(t, "ForwardDelaySec=%ums\n", b->forward_delay * NET_CLOCK_T_MS);
	if (b->hello_time != 0)
		put(t, "HelloTimeSec=%ums\n", b->hello_time * NET_CLOCK_T_MS);
	if (b->max_age != 0)
		put(t, "MaxAgeSec=%ums\n", b->max_age * NET_CLOCK_T_MS);
	put(t, "Priority=%u\n", b->priority);
}

int
netunits_render_netdev(const struct net_state *s, size_t link, char *out, size_t cap,
    size_t *len, struct nk_err *e)
{
	struct text t = { out, cap, 0, 0 };
	char mac[NET_HWADDR_MAX_BYTES * 3 + 1];
	const struct net_link *l;
	struct verdicts V;

	*len = 0;
	if (cap > 0)
		out[0] = '\0';
	classify(s, &V);
	if (link >= V.n || V.v[link].why != NULL)
		return nk_fail(e, NK_E_INTERNAL, "netunits: %s gets no unit: %s",
		    link < V.n ? s->links[link].name : "?",
		    link < V.n ? V.v[link].why : "no such interface");
	l = &s->links[link];
	if (!virtual_carried(l))
		return 0;
	header(&t, l);
	/* The MAC as it was: networkd would otherwise make one up from the
	 * machine-id, and the network (a provider's MAC filter, DHCP
	 * reservations, neighbours' ARP caches) knows the old one. */
	netunits_mac(l->mac, l->mac_len, mac, sizeof(mac));
	put(&t, "[NetDev]\nName=%s\nKind=%s\nMACAddress=%s\n", l->name, l->kind, mac);
	if (l->mtu != 0 && l->mtu != NET_MTU_DEFAULT)
		put(&t, "MTUBytes=%u\n", l->mtu);
	if (kind_is(l, "bond"))
		render_bond(&t, &l->bond);
	else if (kind_is(l, "vlan"))
		render_vlan(&t, &l->vlan);
	else
		render_bridge(&t, &l->bridge);
	if (t.over)
		return nk_fail(e, NK_E_SIZE, "netdev for %s over %zu bytes", l->name, cap);
	*len = t.len;
	return 0;
}
