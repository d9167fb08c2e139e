/* test_netunits: fixture network states (built here from text addresses,
 * documentation ranges only) turned into networkd units, compared with
 * the exact expected text; which interfaces get no unit, and why; and
 * resolv.conf parsing, including systemd-resolved's stub. */
#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include "nktest.h"
#include "netunits.h"

#define FOREVER 0xffffffffu
#define MAC1 "\x52\x54\x00\x12\x34\x56"
#define MAC2 "\x52\x54\x00\xab\xcd\xef"

static struct net_state S;
static char out[NETUNITS_UNIT_MAX_BYTES];

static int
setup(void **st)
{
	(void)st;
	memset(&S, 0, sizeof(S));
	return 0;
}

static size_t
link_add(int index, const char *name, const char *mac, uint32_t mtu)
{
	struct net_link *l = &S.links[S.nlinks];

	memset(l, 0, sizeof(*l));
	l->index = index;
	snprintf(l->name, sizeof(l->name), "%s", name);
	if (mac != NULL) {
		memcpy(l->mac, mac, 6);
		l->mac_len = 6;
	}
	l->mtu = mtu;
	l->type = ARPHRD_ETHER;
	l->flags = IFF_UP | IFF_BROADCAST;
	return S.nlinks++;
}

static void
pton(const char *s, int *family, uint8_t *a)
{
	if (inet_pton(AF_INET, s, a) == 1)
		*family = AF_INET;
	else {
		assert_int_equal(inet_pton(AF_INET6, s, a), 1);
		*family = AF_INET6;
	}
}

/* valid: FOREVER for a static address, else the remaining lifetime. */
static struct net_addr *
addr_add(int index, const char *a, int plen, uint32_t valid, uint32_t flags)
{
	struct net_addr *ad = &S.addrs[S.naddrs++];

	memset(ad, 0, sizeof(*ad));
	ad->ifindex = index;
	pton(a, &ad->family, ad->addr);
	ad->prefixlen = (uint8_t)plen;
	ad->valid_lft = ad->preferred_lft = valid;
	ad->flags = flags | (valid == FOREVER ? IFA_F_PERMANENT : 0);
	ad->scope = RT_SCOPE_UNIVERSE;
	return ad;
}

static struct net_route *
route_add(int oif, const char *dst, int dlen, const char *gw, uint8_t proto, uint32_t metric)
{
	struct net_route *r = &S.routes[S.nroutes++];

	memset(r, 0, sizeof(*r));
	r->oif = oif;
	pton(dst, &r->family, r->dst);
	r->dst_len = (uint8_t)dlen;
	if (gw != NULL)
		pton(gw, &r->gw_family, r->gw);
	r->protocol = proto;
	r->metric = metric;
	r->scope = gw != NULL ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	return r;
}

static const char *
render(size_t link, const struct net_dns *dns)
{
	struct nk_err e = { "" };
	size_t len = 0;

	assert_int_equal(netunits_render(&S, link, dns, out, sizeof(out), &len, &e), 0);
	assert_int_equal(len, strlen(out));
	return out;
}

#define HDR(name, idx) "# nixos-kexec handoff: " name " (index " #idx ") as it was before kexec\n"

static void
t_static_v4(void **st)
{
	size_t l;

	(void)st;
	l = link_add(2, "eth0", MAC1, 1500);
	addr_add(2, "192.0.2.10", 24, FOREVER, 0);
	route_add(2, "0.0.0.0", 0, "192.0.2.1", NET_RTPROT_BOOT, 0);
	assert_string_equal(render(l, NULL),
	    HDR("eth0", 2)
	    "[Match]\nMACAddress=52:54:00:12:34:56\n"
	    "\n[Network]\nAddress=192.0.2.10/24\n"
	    "\n[Route]\nGateway=192.0.2.1\n");
}

static void
t_static_v6(void **st)
{
	size_t l;

	(void)st;
	l = link_add(2, "eth0", MAC1, 1500);
	addr_add(2, "2001:db8:1::10", 64, FOREVER, 0);
	addr_add(2, "fe80::5054:ff:fe12:3456", 64, FOREVER, 0); /* the kernel's own */
	route_add(2, "::", 0, "fe80::1", NET_RTPROT_BOOT, 1024);
	route_add(2, "2001:db8:2::", 48, "2001:db8:1::1", NET_RTPROT_STATIC, 1024);
	assert_string_equal(render(l, NULL),
	    HDR("eth0", 2)
	    "[Match]\nMACAddress=52:54:00:12:34:56\n"
	    "\n[Network]\nAddress=2001:db8:1::10/64\n"
	    "\n[Route]\nGateway=fe80::1\n"
	    "\n[Route]\nDestination=2001:db8:2::/48\nGateway=2001:db8:1::1\n");
}

/* The cloud pattern: a /32 and a gateway outside it, reached on-link. */
static void
t_slash32_onlink_gateway(void **st)
{
	size_t l;

	(void)st;
	l = link_add(2, "ens3", MAC1, 1500);
	addr_add(2, "203.0.113.10", 32, FOREVER, 0);
	route_add(2, "198.51.100.1", 32, NULL, NET_RTPROT_BOOT, 0);
	route_add(2, "0.0.0.0", 0, "198.51.100.1", NET_RTPROT_BOOT, 0);
	assert_string_equal(render(l, NULL),
	    HDR("ens3", 2)
	    "[Match]\nMACAddress=52:54:00:12:34:56\n"
	    "\n[Network]\nAddress=203.0.113.10/32\n"
	    "\n[Route]\nDestination=198.51.100.1/32\nScope=link\n"
	    "\n[Route]\nGateway=198.51.100.1\nGatewayOnLink=yes\n");
}

static void
t_kernel_onlink_flag_kept(void **st)
{
	size_t l;
	struct net_route *r;

	(void)st;
	l = link_add(2, "eth0", MAC1, 0);
	addr_add(2, "192.0.2.10", 24, FOREVER, 0);
	r = route_add(2, "0.0.0.0", 0, "192.0.2.1", NET_RTPROT_BOOT, 0);
	r->flags = RTNH_F_ONLINK;
	assert_non_null(strstr(render(l, NULL), "Gateway=192.0.2.1\nGatewayOnLink=yes\n"));
}

static void
t_extra_route_metric_prefsrc(void **st)
{
	size_t l;
	struct net_route *r;

	(void)st;
	l = link_add(2, "eth0", MAC1, 1500);
	addr_add(2, "192.0.2.10", 24, FOREVER, 0);
	route_add(2, "0.0.0.0", 0, "192.0.2.1", NET_RTPROT_STATIC, 0);
	r = route_add(2, "198.51.100.0", 24, "192.0.2.254", NET_RTPROT_STATIC, 100);
	pton("192.0.2.10", &(int){ 0 }, r->prefsrc);
	r->has_prefsrc = 1;
	assert_string_equal(render(l, NULL),
	    HDR("eth0", 2)
	    "[Match]\nMACAddress=52:54:00:12:34:56\n"
	    "\n[Network]\nAddress=192.0.2.10/24\n"
	    "\n[Route]\nGateway=192.0.2.1\n"
	    "\n[Route]\nDestination=198.51.100.0/24\nGateway=192.0.2.254\n"
	    "PreferredSource=192.0.2.10\nMetric=100\n");
}

static void
t_mtu(void **st)
{
	size_t l;

	(void)st;
	l = link_add(7, "eth1", MAC2, 1400);
	addr_add(7, "198.51.100.7", 24, FOREVER, 0);
	assert_string_equal(render(l, NULL),
	    HDR("eth1", 7)
	    "[Match]\nMACAddress=52:54:00:ab:cd:ef\n"
	    "\n[Link]\nMTUBytes=1400\n"
	    "\n[Network]\nAddress=198.51.100.7/24\n");
}

/* A leased address and the server's routes come back by DHCP; a route
 * the operator added stays. */
static void
t_dhcp4(void **st)
{
	size_t l;

	(void)st;
	l = link_add(2, "eth0", MAC1, 1500);
	addr_add(2, "192.0.2.77", 24, 3600, 0);
	route_add(2, "0.0.0.0", 0, "192.0.2.1", NET_RTPROT_DHCP, 1024);
	route_add(2, "192.0.2.1", 32, NULL, NET_RTPROT_DHCP, 1024);
	route_add(2, "198.51.100.0", 24, "192.0.2.254", NET_RTPROT_STATIC, 0);
	assert_string_equal(render(l, NULL),
	    HDR("eth0", 2)
	    "[Match]\nMACAddress=52:54:00:12:34:56\n"
	    "\n[Network]\nDHCP=ipv4\n"
	    "\n[Route]\nDestination=198.51.100.0/24\nGateway=192.0.2.254\n");
}

/* dhclient leaves a "proto boot" default: DHCP brings its own. */
static void
t_dhcp4_default_not_duplicated(void **st)
{
	size_t l;

	(void)st;
	l = link_add(2, "eth0", MAC1, 1500);
	addr_add(2, "192.0.2.77", 24, 86400, 0);
	route_add(2, "0.0.0.0", 0, "192.0.2.1", NET_RTPROT_BOOT, 0);
	assert_string_equal(render(l, NULL),
	    HDR("eth0", 2)
	    "[Match]\nMACAddress=52:54:00:12:34:56\n"
	    "\n[Network]\nDHCP=ipv4\n");
}

static void
t_slaac(void **st)
{
	size_t l;

	(void)st;
	l = link_add(2, "eth0", MAC1, 1500);
	addr_add(2, "192.0.2.10", 24, FOREVER, 0);
	addr_add(2, "2001:db8:1:0:5054:ff:fe12:3456", 64, 2592000, IFA_F_MANAGETEMPADDR);
	addr_add(2, "2001:db8:1:0:1234:5678:9abc:def0", 64, 86400, IFA_F_TEMPORARY);
	route_add(2, "::", 0, "fe80::1", NET_RTPROT_RA, 1024);
	route_add(2, "2001:db8:1::", 64, NULL, NET_RTPROT_RA, 256);
	assert_string_equal(render(l, NULL),
	    HDR("eth0", 2)
	    "[Match]\nMACAddress=52:54:00:12:34:56\n"
	    "\n[Network]\nIPv6AcceptRA=yes\nAddress=192.0.2.10/24\n");
}

static void
t_dhcp6_and_dhcp4(void **st)
{
	size_t l;

	(void)st;
	l = link_add(2, "eth0", MAC1, 1500);
	addr_add(2, "192.0.2.77", 24, 3600, 0);
	addr_add(2, "2001:db8:1::77", 128, 7200, 0);
	assert_string_equal(render(l, NULL),
	    HDR("eth0", 2)
	    "[Match]\nMACAddress=52:54:00:12:34:56\n"
	    "\n[Network]\nDHCP=yes\nIPv6AcceptRA=yes\n");
}

static void
t_dhcp6_only(void **st)
{
	size_t l;

	(void)st;
	l = link_add(2, "eth0", MAC1, 1500);
	addr_add(2, "2001:db8:1::77", 128, 7200, 0);
	assert_non_null(strstr(render(l, NULL), "[Network]\nDHCP=ipv6\nIPv6AcceptRA=yes\n"));
}

/* RFC 8950: an IPv4 default route through an IPv6 (link-local) router. */
static void
t_v4_default_via_v6(void **st)
{
	size_t l;

	(void)st;
	l = link_add(2, "eth0", MAC1, 1500);
	addr_add(2, "203.0.113.10", 32, FOREVER, 0);
	addr_add(2, "2001:db8:1::10", 64, FOREVER, 0);
	route_add(2, "0.0.0.0", 0, "fe80::1", NET_RTPROT_STATIC, 0);
	route_add(2, "198.51.100.0", 24, "2001:db8:9::1", NET_RTPROT_STATIC, 0);
	assert_string_equal(render(l, NULL),
	    HDR("eth0", 2)
	    "[Match]\nMACAddress=52:54:00:12:34:56\n"
	    "\n[Network]\nAddress=203.0.113.10/32\nAddress=2001:db8:1::10/64\n"
	    "\n[Route]\nDestination=0.0.0.0/0\nGateway=fe80::1\n"
	    "\n[Route]\nDestination=198.51.100.0/24\nGateway=2001:db8:9::1\nGatewayOnLink=yes\n");
}

static void
dns_fixture(struct net_dns *d)
{
	static const char conf[] =
	    "# written by hand\n"
	    "nameserver 192.0.2.53\n"
	    "nameserver 2001:db8::53\n"
	    "search example.org corp.example.net\n";

	memset(d, 0, sizeof(*d));
	netunits_parse_resolv((const uint8_t *)conf, sizeof(conf) - 1, d);
}

static void
t_dns_on_default_link_only(void **st)
{
	struct net_dns d;
	size_t a, b;

	(void)st;
	dns_fixture(&d);
	a = link_add(2, "eth0", MAC1, 1500);
	b = link_add(3, "eth1", MAC2, 1500);
	addr_add(2, "192.0.2.10", 24, FOREVER, 0);
	addr_add(3, "198.51.100.7", 24, FOREVER, 0);
	route_add(2, "0.0.0.0", 0, "192.0.2.1", NET_RTPROT_BOOT, 0);
	assert_string_equal(render(a, &d),
	    HDR("eth0", 2)
	    "[Match]\nMACAddress=52:54:00:12:34:56\n"
	    "\n[Network]\nAddress=192.0.2.10/24\n"
	    "DNS=192.0.2.53\nDNS=2001:db8::53\nDomains=example.org corp.example.net\n"
	    "\n[Route]\nGateway=192.0.2.1\n");
	assert_string_equal(render(b, &d),
	    HDR("eth1", 3)
	    "[Match]\nMACAddress=52:54:00:ab:cd:ef\n"
	    "\n[Network]\nAddress=198.51.100.7/24\n");
}

static void
t_dns_everywhere_without_default(void **st)
{
	struct net_dns d;
	size_t a, b;

	(void)st;
	dns_fixture(&d);
	a = link_add(2, "eth0", MAC1, 1500);
	b = link_add(3, "eth1", MAC2, 1500);
	addr_add(2, "192.0.2.10", 24, FOREVER, 0);
	addr_add(3, "198.51.100.7", 24, FOREVER, 0);
	assert_non_null(strstr(render(a, &d), "DNS=192.0.2.53\n"));
	assert_non_null(strstr(render(b, &d), "DNS=192.0.2.53\n"));
}

static void
t_dns_with_dhcp(void **st)
{
	struct net_dns d;
	size_t l;

	(void)st;
	dns_fixture(&d);
	l = link_add(2, "eth0", MAC1, 1500);
	addr_add(2, "192.0.2.77", 24, 3600, 0);
	assert_string_equal(render(l, &d),
	    HDR("eth0", 2)
	    "[Match]\nMACAddress=52:54:00:12:34:56\n"
	    "\n[Network]\nDHCP=ipv4\n"
	    "DNS=192.0.2.53\nDNS=2001:db8::53\nDomains=example.org corp.example.net\n");
}

static void
t_permanent_mac_matched(void **st)
{
	size_t l;

	(void)st;
	l = link_add(2, "eth0", MAC2, 1500); /* changed at run time */
	memcpy(S.links[l].perm_mac, MAC1, 6);
	S.links[l].perm_mac_len = 6;
	addr_add(2, "192.0.2.10", 24, FOREVER, 0);
	assert_string_equal(render(l, NULL),
	    HDR("eth0", 2)
	    "[Match]\nMACAddress=52:54:00:12:34:56\n"
	    "\n[Link]\nMACAddress=52:54:00:ab:cd:ef\n"
	    "\n[Network]\nAddress=192.0.2.10/24\n");
}

static void
t_ignored_addresses(void **st)
{
	size_t l;
	struct net_addr *a;

	(void)st;
	l = link_add(2, "eth0", MAC1, 1500);
	addr_add(2, "192.0.2.10", 24, FOREVER, 0);
	addr_add(2, "2001:db8:1::bad", 64, FOREVER, IFA_F_DADFAILED);
	addr_add(2, "fe80::1234", 64, FOREVER, 0);
	a = addr_add(2, "192.0.2.11", 32, FOREVER, 0);
	a->scope = RT_SCOPE_HOST;
	addr_add(3, "198.51.100.7", 24, FOREVER, 0); /* another interface */
	assert_string_equal(render(l, NULL),
	    HDR("eth0", 2)
	    "[Match]\nMACAddress=52:54:00:12:34:56\n"
	    "\n[Network]\nAddress=192.0.2.10/24\n");
}

/* A copy of an address's prefix route would fail with EEXIST. */
static void
t_prefix_route_copy_dropped(void **st)
{
	size_t l;

	(void)st;
	l = link_add(2, "eth0", MAC1, 1500);
	addr_add(2, "192.0.2.10", 24, FOREVER, 0);
	route_add(2, "192.0.2.0", 24, NULL, NET_RTPROT_BOOT, 0);
	route_add(3, "198.51.100.0", 24, NULL, NET_RTPROT_BOOT, 0); /* another interface */
	assert_string_equal(render(l, NULL),
	    HDR("eth0", 2)
	    "[Match]\nMACAddress=52:54:00:12:34:56\n"
	    "\n[Network]\nAddress=192.0.2.10/24\n");
}

static void
expect_skip(size_t l, const char *why)
{
	struct nk_err e = { "" };
	size_t len;
	const char *r = netunits_skip_reason(&S, l);

	assert_non_null(r);
	assert_non_null(strstr(r, why));
	assert_int_equal(netunits_render(&S, l, NULL, out, sizeof(out), &len, &e), NK_E_INTERNAL);
}

static void
t_skip_loopback(void **st)
{
	size_t l;

	(void)st;
	l = link_add(1, "lo", "\0\0\0\0\0\0", 65536);
	S.links[l].flags |= IFF_LOOPBACK;
	S.links[l].type = ARPHRD_LOOPBACK;
	addr_add(1, "127.0.0.1", 8, FOREVER, 0);
	expect_skip(l, "loopback");
}

static void
t_skip_no_mac(void **st)
{
	size_t l;

	(void)st;
	l = link_add(4, "wg0", NULL, 1420);
	addr_add(4, "198.51.100.9", 24, FOREVER, 0);
	expect_skip(l, "no Ethernet MAC");
	l = link_add(5, "zero", "\0\0\0\0\0\0", 1500);
	addr_add(5, "198.51.100.10", 24, FOREVER, 0);
	expect_skip(l, "no Ethernet MAC");
}

static void
t_skip_bridge_port_keep_bridge(void **st)
{
	size_t port, br;

	(void)st;
	port = link_add(2, "eth0", MAC1, 1500);
	S.links[port].master = 3;
	br = link_add(3, "br0", MAC1, 1500);
	snprintf(S.links[br].kind, sizeof(S.links[br].kind), "bridge");
	addr_add(3, "192.0.2.10", 24, FOREVER, 0);
	expect_skip(port, "bridge or bond port");
	assert_null(netunits_skip_reason(&S, br));
	assert_non_null(strstr(render(br, NULL), "MACAddress=52:54:00:12:34:56\n"));
}

static void
t_skip_vlan(void **st)
{
	size_t l;

	(void)st;
	link_add(2, "eth0", MAC1, 1500);
	addr_add(2, "192.0.2.10", 24, FOREVER, 0);
	l = link_add(9, "eth0.100", MAC1, 1500);
	snprintf(S.links[l].kind, sizeof(S.links[l].kind), "vlan");
	addr_add(9, "198.51.100.5", 24, FOREVER, 0);
	expect_skip(l, "VLAN");
	assert_null(netunits_skip_reason(&S, 0));
}

static void
t_skip_down(void **st)
{
	size_t l;

	(void)st;
	l = link_add(2, "eth1", MAC1, 1500);
	S.links[l].flags &= ~(unsigned)IFF_UP;
	addr_add(2, "192.0.2.10", 24, FOREVER, 0);
	expect_skip(l, "down");
}

static void
t_skip_not_ethernet_mac(void **st)
{
	size_t l;

	(void)st;
	l = link_add(2, "ib0", NULL, 2044);
	memset(S.links[l].mac, 0x80, 20); /* IPoIB: 20 bytes */
	S.links[l].mac_len = 20;
	addr_add(2, "192.0.2.10", 24, FOREVER, 0);
	expect_skip(l, "no Ethernet MAC");
}

static void
t_skip_nothing_configured(void **st)
{
	size_t l;

	(void)st;
	l = link_add(2, "eth9", MAC1, 1500);
	addr_add(2, "fe80::1", 64, FOREVER, 0);
	expect_skip(l, "nothing configured");
}

static void
t_skip_duplicate_mac(void **st)
{
	size_t a, b;

	(void)st;
	a = link_add(2, "eth0", MAC1, 1500);
	b = link_add(3, "macclone", MAC1, 1500);
	addr_add(2, "192.0.2.10", 24, FOREVER, 0);
	addr_add(3, "198.51.100.5", 24, FOREVER, 0);
	addr_add(3, "198.51.100.6", 24, FOREVER, 0);
	expect_skip(a, "same MAC");
	assert_null(netunits_skip_reason(&S, b));
}

static void
t_skip_out_of_range(void **st)
{
	(void)st;
	assert_non_null(netunits_skip_reason(&S, 0));
	assert_non_null(netunits_skip_reason(&S, (size_t)-1));
}

static void
t_names(void **st)
{
	struct nk_err e = { "" };
	char name[NETUNITS_NAME_MAX_BYTES];
	size_t a, b, c;

	(void)st;
	a = link_add(2, "eth0", MAC1, 1500);
	b = link_add(3, "we:rd/1", MAC2, 1500);
	c = link_add(4, "we_rd_1", "\x52\x54\x00\x00\x00\x01", 1500);
	addr_add(2, "192.0.2.10", 24, FOREVER, 0);
	addr_add(3, "198.51.100.5", 24, FOREVER, 0);
	addr_add(4, "203.0.113.5", 24, FOREVER, 0);
	assert_int_equal(netunits_name(&S, a, name, sizeof(name), &e), 0);
	assert_string_equal(name, "eth0.network");
	assert_int_equal(netunits_name(&S, b, name, sizeof(name), &e), 0);
	assert_string_equal(name, "we_rd_1.network");
	assert_int_equal(netunits_name(&S, c, name, sizeof(name), &e), 0);
	assert_string_equal(name, "we_rd_1-4.network");
	snprintf(S.links[a].name, sizeof(S.links[a].name), "..");
	assert_int_equal(netunits_name(&S, a, name, sizeof(name), &e), 0);
	assert_string_equal(name, "_..network");
	assert_int_equal(netunits_name(&S, a, name, 8, &e), NK_E_INTERNAL);
}

static void
t_render_too_small(void **st)
{
	struct nk_err e = { "" };
	size_t l, len = 99;

	(void)st;
	l = link_add(2, "eth0", MAC1, 1500);
	addr_add(2, "192.0.2.10", 24, FOREVER, 0);
	assert_int_equal(netunits_render(&S, l, NULL, out, 40, &len, &e), NK_E_SIZE);
	assert_int_equal(len, 0);
}

/* --- resolv.conf --- */

static void
parse(const char *text, struct net_dns *d)
{
	memset(d, 0, sizeof(*d));
	netunits_parse_resolv((const uint8_t *)text, strlen(text), d);
}

static void
t_resolv_basic(void **st)
{
	struct net_dns d;
	char txt[512], a[64];
	struct nk_err e = { "" };
	size_t len;

	(void)st;
	parse("; comment\n#comment\nnameserver 192.0.2.53\r\nnameserver\t2001:db8::53 \n"
	    "nameserver 192.0.2.53\noptions edns0 trust-ad\ndomain old.example\n"
	    "search example.org  corp.example.net\n", &d);
	assert_int_equal(d.nservers, 2);
	assert_string_equal(inet_ntop(d.family[0], d.addr[0], a, sizeof(a)), "192.0.2.53");
	assert_string_equal(inet_ntop(d.family[1], d.addr[1], a, sizeof(a)), "2001:db8::53");
	assert_int_equal(d.ndomains, 2);
	assert_string_equal(d.domains[0], "example.org");
	assert_string_equal(d.domains[1], "corp.example.net");
	assert_int_equal(d.stub, 0);
	assert_int_equal(netunits_render_resolv(&d, txt, sizeof(txt), &len, &e), 0);
	assert_string_equal(txt, "# nixos-kexec handoff: DNS as it was before kexec\n"
	    "nameserver 192.0.2.53\nnameserver 2001:db8::53\n"
	    "search example.org corp.example.net\n");
	assert_int_equal(len, strlen(txt));
	assert_int_equal(netunits_render_resolv(&d, txt, 20, &len, &e), NK_E_SIZE);
}

static void
t_resolv_stub(void **st)
{
	struct net_dns d;

	(void)st;
	parse("nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch example.org\n", &d);
	assert_int_equal(d.stub, 1);
	assert_int_equal(d.nservers, 0);
	assert_int_equal(d.local, 0);
	parse("nameserver 127.0.0.54\n", &d);
	assert_int_equal(d.stub, 1);
}

static void
t_resolv_local_resolvers_left_out(void **st)
{
	struct net_dns d;

	(void)st;
	parse("nameserver 127.0.0.1\nnameserver ::1\nnameserver fe80::1%eth0\n"
	    "nameserver 2001:db8::53%eth0\n", &d);
	assert_int_equal(d.stub, 0);
	assert_int_equal(d.local, 3);
	assert_int_equal(d.nservers, 1); /* the zone index is dropped */
}

static void
t_resolv_junk_ignored(void **st)
{
	static const char nul_line[] = "nameserver 192.0.2.1\0x\nnameserver 192.0.2.2\n";
	char longline[NETUNITS_LINE_MAX_BYTES + 64];
	struct net_dns d;

	(void)st;
	parse("nameserver\nnameserver not-an-ip\nnameserver 192.0.2.300\nnameservers 192.0.2.1\n"
	    "search bad/domain . ok.example\n  nameserver 192.0.2.9\n", &d);
	assert_int_equal(d.nservers, 1); /* the indented line still counts, as in glibc */
	assert_int_equal(d.ndomains, 1);
	assert_string_equal(d.domains[0], "ok.example");
	memset(&d, 0, sizeof(d));
	netunits_parse_resolv((const uint8_t *)nul_line, sizeof(nul_line) - 1, &d);
	assert_int_equal(d.nservers, 1);
	memset(longline, ' ', sizeof(longline));
	memcpy(longline, "nameserver 192.0.2.1", 20);
	longline[sizeof(longline) - 1] = '\0';
	parse(longline, &d);
	assert_int_equal(d.nservers, 0);
}

static void
t_resolv_caps(void **st)
{
	char text[2048] = "", line[64];
	struct net_dns d;
	int i;

	(void)st;
	for (i = 1; i <= NETUNITS_DNS_MAX + 3; i++) {
		snprintf(line, sizeof(line), "nameserver 192.0.2.%d\n", i);
		strcat(text, line);
	}
	strcat(text, "search");
	for (i = 0; i < NETUNITS_DOMAINS_MAX + 2; i++) {
		snprintf(line, sizeof(line), " d%d.example", i);
		strcat(text, line);
	}
	parse(text, &d);
	assert_int_equal(d.nservers, NETUNITS_DNS_MAX);
	assert_int_equal(d.ndomains, NETUNITS_DOMAINS_MAX);
	assert_true(d.over >= 3);
}

static void
t_resolv_empty_renders_nothing(void **st)
{
	struct net_dns d;
	struct nk_err e = { "" };
	char txt[64];
	size_t len = 9;

	(void)st;
	parse("", &d);
	assert_int_equal(netunits_render_resolv(&d, txt, sizeof(txt), &len, &e), 0);
	assert_int_equal(len, 0);
	assert_string_equal(txt, "");
}

#define T(f) cmocka_unit_test_setup(f, setup)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(t_static_v4),
		T(t_static_v6),
		T(t_slash32_onlink_gateway),
		T(t_kernel_onlink_flag_kept),
		T(t_extra_route_metric_prefsrc),
		T(t_mtu),
		T(t_dhcp4),
		T(t_dhcp4_default_not_duplicated),
		T(t_slaac),
		T(t_dhcp6_and_dhcp4),
		T(t_dhcp6_only),
		T(t_v4_default_via_v6),
		T(t_dns_on_default_link_only),
		T(t_dns_everywhere_without_default),
		T(t_dns_with_dhcp),
		T(t_permanent_mac_matched),
		T(t_ignored_addresses),
		T(t_prefix_route_copy_dropped),
		T(t_skip_loopback),
		T(t_skip_no_mac),
		T(t_skip_bridge_port_keep_bridge),
		T(t_skip_vlan),
		T(t_skip_down),
		T(t_skip_not_ethernet_mac),
		T(t_skip_nothing_configured),
		T(t_skip_duplicate_mac),
		T(t_skip_out_of_range),
		T(t_names),
		T(t_render_too_small),
		T(t_resolv_basic),
		T(t_resolv_stub),
		T(t_resolv_local_resolvers_left_out),
		T(t_resolv_junk_ignored),
		T(t_resolv_caps),
		T(t_resolv_empty_renders_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
