/* test_netunits: fixture network states (built here from text addresses,
 * documentation ranges only) turned into networkd units, compared with
 * the exact expected text; which interfaces get no unit, and why;
 * resolv.conf parsing, including systemd-resolved's stub; and the DNS of
 * each link (linkdns): networkd's and resolved's state files, and which
 * servers are left out because their link is not carried. */
#include <arpa/inet.h>
#include <dirent.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include "nktest.h"
#include "linkdns.h"
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
set_perm(size_t l, const char *mac)
{
	memcpy(S.links[l].perm_mac, mac, 6);
	S.links[l].perm_mac_len = 6;
}

/* A bond with the kernel's defaults but mode (miimon 100 as ip and
 * ifenslave set it). */
static size_t
bond_add(int index, const char *name, const char *mac, uint8_t mode)
{
	size_t l = link_add(index, name, mac, 1500);

	snprintf(S.links[l].kind, sizeof(S.links[l].kind), "bond");
	S.links[l].has_info_data = 1;
	S.links[l].bond.mode = mode;
	S.links[l].bond.miimon_ms = 100;
	return l;
}

static size_t
bridge_add(int index, const char *name, const char *mac)
{
	size_t l = link_add(index, name, mac, 1500);

	snprintf(S.links[l].kind, sizeof(S.links[l].kind), "bridge");
	S.links[l].has_info_data = 1;
	S.links[l].bridge.forward_delay = 1500;
	S.links[l].bridge.hello_time = 200;
	S.links[l].bridge.max_age = 2000;
	S.links[l].bridge.priority = 32768;
	return l;
}

static size_t
vlan_add(int index, const char *name, const char *mac, int parent, uint16_t id)
{
	size_t l = link_add(index, name, mac, 1500);

	snprintf(S.links[l].kind, sizeof(S.links[l].kind), "vlan");
	S.links[l].has_info_data = 1;
	S.links[l].link = parent;
	S.links[l].vlan.id = id;
	S.links[l].vlan.protocol = 0x8100;
	S.links[l].vlan.flags = 0x1; /* reorder_hdr, the kernel's default */
	return l;
}

/* A NIC enslaved to master, with its permanent MAC. */
static size_t
port_add(int index, const char *name, const char *mac, const char *perm, int master)
{
	size_t l = link_add(index, name, mac, 1500);

	set_perm(l, perm);
	S.links[l].master = master;
	return l;
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

	assert_int_equal(netunits_render(&S, link, dns, NULL, out, sizeof(out), &len, &e), 0);
	assert_int_equal(len, strlen(out));
	return out;
}

#define HDR(name, idx) "# nixos-kexec handoff: " name " (index " #idx ") as it was before kexec\n"

static char outdev[NETUNITS_UNIT_MAX_BYTES];

static const char *
render_netdev(size_t link)
{
	struct nk_err e = { "" };
	size_t len = 99;

	assert_int_equal(netunits_render_netdev(&S, link, outdev, sizeof(outdev), &len, &e), 0);
	assert_int_equal(len, strlen(outdev));
	return outdev;
}

static void expect_skip(size_t l, const char *why);

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
	assert_int_equal(netunits_render(&S, l, NULL, NULL, out, sizeof(out), &len, &e), NK_E_INTERNAL);
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

/* A bridge's unit used to match the NIC whose MAC it had; now the bridge
 * is re-created, matched by name, and the NIC is its port. */
static void
t_bridge_port_and_bridge(void **st)
{
	size_t port, br;

	(void)st;
	port = link_add(2, "eth0", MAC1, 1500);
	S.links[port].master = 3;
	br = bridge_add(3, "br0", MAC1);
	addr_add(3, "192.0.2.10", 24, FOREVER, 0);
	assert_null(netunits_skip_reason(&S, port));
	assert_null(netunits_skip_reason(&S, br));
	assert_string_equal(render(port, NULL),
	    HDR("eth0", 2)
	    "[Match]\nMACAddress=52:54:00:12:34:56\n"
	    "\n[Network]\nBridge=br0\n");
	assert_string_equal(render(br, NULL),
	    HDR("br0", 3)
	    "[Match]\nName=br0\n"
	    "\n[Network]\nAddress=192.0.2.10/24\n");
	assert_string_equal(render_netdev(br),
	    HDR("br0", 3)
	    "[NetDev]\nName=br0\nKind=bridge\nMACAddress=52:54:00:12:34:56\n"
	    "\n[Bridge]\nSTP=no\n");
	assert_string_equal(netunits_caveat(&S, port), "its driver reports no permanent "
	    "MAC: matched by the MAC it had when enslaved");
}

/* A VLAN whose parent is not in the dump cannot be re-created. */
static void
t_skip_vlan_without_parent(void **st)
{
	size_t l;

	(void)st;
	link_add(2, "eth0", MAC1, 1500);
	addr_add(2, "192.0.2.10", 24, FOREVER, 0);
	l = vlan_add(9, "eth0.100", MAC1, 0, 100);
	addr_add(9, "198.51.100.5", 24, FOREVER, 0);
	expect_skip(l, "VLAN on an interface not in this network namespace");
	assert_null(netunits_skip_reason(&S, 0));
	S.links[l].link = 2;
	S.links[l].link_elsewhere = 1; /* IFLA_LINK_NETNSID */
	expect_skip(l, "not in this network namespace");
	S.links[l].link = 9; /* itself */
	S.links[l].link_elsewhere = 0;
	expect_skip(l, "not in this network namespace");
	S.links[l].link = 2;
	assert_null(netunits_skip_reason(&S, l));
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
	assert_int_equal(netunits_render(&S, l, NULL, NULL, out, 40, &len, &e), NK_E_SIZE);
	assert_int_equal(len, 0);
}

/* --- bonds, VLANs, bridges ------------------------------------------------- */

#define MAC3 "\x52\x54\x00\x12\x34\x57"
#define MAC4 "\x52\x54\x00\x12\x34\x58"
#define MAC5 "\x52\x54\x00\x12\x34\x59"

/* The provider pattern: active-backup over two NICs, a VLAN on top with a
 * static /29 and an on-link gateway. The bond gave eth2 eth1's MAC. */
static void
bond_vlan_fixture(void)
{
	size_t b;

	port_add(3, "eth1", MAC3, MAC3, 5);
	port_add(4, "eth2", MAC3, MAC4, 5);
	b = bond_add(5, "bond0", MAC3, 1);
	S.links[b].bond.primary = 3;
	vlan_add(6, "bond0.100", MAC3, 5, 100);
	addr_add(6, "198.51.100.10", 29, FOREVER, 0);
	addr_add(6, "fe80::5054:ff:fe12:3457", 64, FOREVER, 0);
	route_add(6, "0.0.0.0", 0, "198.51.100.1", NET_RTPROT_BOOT, 200)->flags = RTNH_F_ONLINK;
}

static void
t_bond_vlan_units(void **st)
{
	struct net_dns d;

	(void)st;
	dns_fixture(&d);
	bond_vlan_fixture();
	assert_string_equal(render(0, &d),
	    HDR("eth1", 3)
	    "[Match]\nPermanentMACAddress=52:54:00:12:34:57\n"
	    "\n[Network]\nBond=bond0\nPrimarySlave=yes\n");
	assert_string_equal(render(1, &d),
	    HDR("eth2", 4)
	    "[Match]\nPermanentMACAddress=52:54:00:12:34:58\n"
	    "\n[Network]\nBond=bond0\n");
	assert_string_equal(render_netdev(2),
	    HDR("bond0", 5)
	    "[NetDev]\nName=bond0\nKind=bond\nMACAddress=52:54:00:12:34:57\n"
	    "\n[Bond]\nMode=active-backup\nMIIMonitorSec=100ms\n");
	/* No DNS on bond0: the default route is on the VLAN. */
	assert_string_equal(render(2, &d),
	    HDR("bond0", 5)
	    "[Match]\nName=bond0\n"
	    "\n[Network]\nVLAN=bond0.100\n");
	assert_string_equal(render_netdev(3),
	    HDR("bond0.100", 6)
	    "[NetDev]\nName=bond0.100\nKind=vlan\nMACAddress=52:54:00:12:34:57\n"
	    "\n[VLAN]\nId=100\nProtocol=802.1q\n");
	assert_string_equal(render(3, &d),
	    HDR("bond0.100", 6)
	    "[Match]\nName=bond0.100\n"
	    "\n[Network]\nAddress=198.51.100.10/29\n"
	    "DNS=192.0.2.53\nDNS=2001:db8::53\nDomains=example.org corp.example.net\n"
	    "\n[Route]\nGateway=198.51.100.1\nGatewayOnLink=yes\nMetric=200\n");
	/* A NIC has no .netdev. */
	assert_string_equal(render_netdev(0), "");
	assert_null(netunits_caveat(&S, 0));
}

static void
t_bond_names(void **st)
{
	struct nk_err e = { "" };
	char name[NETUNITS_NAME_MAX_BYTES];

	(void)st;
	bond_vlan_fixture();
	assert_int_equal(netunits_netdev_name(&S, 3, name, sizeof(name), &e), 0);
	assert_string_equal(name, "bond0.100.netdev");
	assert_int_equal(netunits_name(&S, 3, name, sizeof(name), &e), 0);
	assert_string_equal(name, "bond0.100.network");
	assert_int_equal(netunits_netdev_name(&S, 2, name, 8, &e), NK_E_INTERNAL);
}

/* LACP and every bond setting networkd has a key for. */
static void
t_bond_lacp_settings(void **st)
{
	struct net_bond *b;
	size_t l;

	(void)st;
	port_add(3, "eno1", MAC3, MAC3, 5);
	l = bond_add(5, "bond0", MAC3, 4);
	S.links[l].mtu = 9000;
	addr_add(5, "192.0.2.10", 24, FOREVER, 0);
	b = &S.links[l].bond;
	b->xmit_hash_policy = 1;
	b->lacp_rate = 1;
	b->ad_select = 1;
	b->updelay_ms = 200;
	b->downdelay_ms = 400;
	b->min_links = 1;
	b->primary = 3; /* no meaning in 802.3ad: not written */
	assert_string_equal(render_netdev(l),
	    HDR("bond0", 5)
	    "[NetDev]\nName=bond0\nKind=bond\nMACAddress=52:54:00:12:34:57\nMTUBytes=9000\n"
	    "\n[Bond]\nMode=802.3ad\nTransmitHashPolicy=layer3+4\nLACPTransmitRate=fast\n"
	    "AdSelect=bandwidth\nMIIMonitorSec=100ms\nUpDelaySec=200ms\nDownDelaySec=400ms\n"
	    "MinLinks=1\n");
	assert_null(strstr(render(0, NULL), "PrimarySlave"));
	/* ARP monitoring instead of MII; the lacp keys only in 802.3ad. */
	b->mode = 1;
	b->miimon_ms = 0;
	b->min_links = 0;
	b->fail_over_mac = 1;
	b->arp_interval_ms = 1000;
	b->narp_targets = 2;
	memcpy(b->arp_targets[0], "\xc0\x00\x02\x01", 4);
	memcpy(b->arp_targets[1], "\xc0\x00\x02\x02", 4);
	b->arp_validate = 3;
	assert_string_equal(render_netdev(l),
	    HDR("bond0", 5)
	    "[NetDev]\nName=bond0\nKind=bond\nMACAddress=52:54:00:12:34:57\nMTUBytes=9000\n"
	    "\n[Bond]\nMode=active-backup\nFailOverMACPolicy=active\n"
	    "ARPIntervalSec=1000ms\nARPIPTargets=192.0.2.1 192.0.2.2\nARPValidate=all\n");
	assert_non_null(strstr(render(0, NULL), "PrimarySlave=yes\n"));
	b->mode = 2;
	b->xmit_hash_policy = 5;
	assert_non_null(strstr(render_netdev(l), "Mode=balance-xor\nTransmitHashPolicy=vlan+srcmac\n"));
}

static void
t_bridge_stp_settings(void **st)
{
	size_t br;

	(void)st;
	port_add(4, "eth3", MAC5, MAC5, 7);
	br = bridge_add(7, "br0", MAC5);
	S.links[br].bridge.stp_state = 1;
	S.links[br].bridge.priority = 4096;
	addr_add(7, "203.0.113.5", 24, FOREVER, 0);
	route_add(7, "198.18.0.0", 15, "203.0.113.1", NET_RTPROT_BOOT, 0);
	assert_string_equal(render_netdev(br),
	    HDR("br0", 7)
	    "[NetDev]\nName=br0\nKind=bridge\nMACAddress=52:54:00:12:34:59\n"
	    "\n[Bridge]\nSTP=yes\nForwardDelaySec=15000ms\nHelloTimeSec=2000ms\n"
	    "MaxAgeSec=20000ms\nPriority=4096\n");
	assert_string_equal(render(br, NULL),
	    HDR("br0", 7)
	    "[Match]\nName=br0\n"
	    "\n[Network]\nAddress=203.0.113.5/24\n"
	    "\n[Route]\nDestination=198.18.0.0/15\nGateway=203.0.113.1\n");
	assert_string_equal(render(0, NULL),
	    HDR("eth3", 4)
	    "[Match]\nPermanentMACAddress=52:54:00:12:34:59\n"
	    "\n[Network]\nBridge=br0\n");
	assert_null(netunits_caveat(&S, br));
	S.links[br].bridge.vlan_filtering = 1;
	assert_non_null(strstr(netunits_caveat(&S, br), "VLAN filtering"));
}

/* A bond as a bridge port, 802.1ad, and a port's MTU. */
static void
t_bond_in_bridge(void **st)
{
	size_t b, v;

	(void)st;
	port_add(3, "eth1", MAC3, MAC3, 5);
	S.links[0].mtu = 9000;
	b = bond_add(5, "bond0", MAC3, 0);
	S.links[b].master = 7;
	bridge_add(7, "br0", MAC3);
	addr_add(7, "203.0.113.5", 24, FOREVER, 0);
	v = vlan_add(8, "br0.7", MAC3, 7, 7);
	S.links[v].vlan.protocol = 0x88a8;
	S.links[v].vlan.flags = 0x2 | 0x4 | 0x8; /* gvrp, loose binding, mvrp; no reorder */
	addr_add(8, "198.51.100.1", 24, FOREVER, 0);
	assert_string_equal(render(0, NULL),
	    HDR("eth1", 3)
	    "[Match]\nPermanentMACAddress=52:54:00:12:34:57\n"
	    "\n[Link]\nMTUBytes=9000\n"
	    "\n[Network]\nBond=bond0\n");
	assert_string_equal(render(b, NULL),
	    HDR("bond0", 5)
	    "[Match]\nName=bond0\n"
	    "\n[Network]\nBridge=br0\n");
	assert_non_null(strstr(render_netdev(b), "Mode=balance-rr\nMIIMonitorSec=100ms\n"));
	assert_non_null(strstr(render(2, NULL), "[Network]\nVLAN=br0.7\nAddress=203.0.113.5/24\n"));
	assert_string_equal(render_netdev(v),
	    HDR("br0.7", 8)
	    "[NetDev]\nName=br0.7\nKind=vlan\nMACAddress=52:54:00:12:34:57\n"
	    "\n[VLAN]\nId=7\nProtocol=802.1ad\nGVRP=yes\nMVRP=yes\nLooseBinding=yes\n"
	    "ReorderHeader=no\n");
}

/* VLANs on a NIC that has nothing else: the NIC is kept for them; a VLAN
 * with nothing on it is not, and then neither is its NIC. */
static void
t_vlan_on_bare_nic(void **st)
{
	size_t nic, v;

	(void)st;
	nic = link_add(2, "eth0", MAC1, 1500);
	v = vlan_add(9, "eth0.10", MAC1, 2, 10);
	addr_add(9, "192.0.2.10", 24, FOREVER, 0);
	assert_string_equal(render(nic, NULL),
	    HDR("eth0", 2)
	    "[Match]\nMACAddress=52:54:00:12:34:56\n"
	    "\n[Network]\nVLAN=eth0.10\n");
	S.naddrs = 0;
	expect_skip(v, "nothing configured");
	expect_skip(nic, "nothing configured");
}

/* docker0, virbr0: bridges whose ports are veth or tap (or none) stay. */
static void
t_host_internal_bridges_stay(void **st)
{
	size_t br, veth, empty, tap;

	(void)st;
	br = bridge_add(3, "docker0", MAC2);
	addr_add(3, "172.17.0.1", 16, FOREVER, 0);
	veth = link_add(4, "veth1a2b", "\x02\x42\xac\x11\x00\x02", 1500);
	snprintf(S.links[veth].kind, sizeof(S.links[veth].kind), "veth");
	S.links[veth].master = 3;
	empty = bridge_add(5, "virbr0", "\x52\x54\x00\x00\x00\x09");
	addr_add(5, "192.168.122.1", 24, FOREVER, 0);
	tap = link_add(6, "vnet0", "\xfe\x54\x00\x00\x00\x0a", 1500);
	snprintf(S.links[tap].kind, sizeof(S.links[tap].kind), "tun");
	S.links[tap].master = 5;
	expect_skip(veth, "virtual port");
	expect_skip(br, "without a port that is carried");
	expect_skip(empty, "without a port that is carried");
	expect_skip(tap, "kind not re-created");
}

static void
t_skip_ports_of_what_is_not_carried(void **st)
{
	size_t p, team, b, lone;

	(void)st;
	p = port_add(2, "eth0", MAC1, MAC1, 3);
	team = link_add(3, "team0", MAC1, 1500);
	snprintf(S.links[team].kind, sizeof(S.links[team].kind), "team");
	addr_add(3, "192.0.2.10", 24, FOREVER, 0);
	expect_skip(p, "a port of a master that is not re-created");
	expect_skip(team, "kind not re-created");
	lone = port_add(4, "eth1", MAC2, MAC2, 99);
	expect_skip(lone, "a port of an interface not in the dump");
	/* A bond that is down takes its ports with it. */
	memset(&S, 0, sizeof(S));
	p = port_add(2, "eth0", MAC1, MAC1, 3);
	b = bond_add(3, "bond0", MAC1, 1);
	addr_add(3, "192.0.2.10", 24, FOREVER, 0);
	S.links[b].flags &= ~(unsigned)IFF_UP;
	expect_skip(b, "down");
	expect_skip(p, "a port of a bond or bridge that gets no unit");
	/* So does a VLAN on it. */
	vlan_add(4, "bond0.5", MAC1, 3, 5);
	addr_add(4, "198.51.100.5", 24, FOREVER, 0);
	expect_skip(2, "a VLAN on an interface that gets no unit");
}

static void
t_skip_virtual_not_describable(void **st)
{
	size_t b, v;

	(void)st;
	port_add(2, "eth0", MAC1, MAC1, 3);
	b = bond_add(3, "bond*", MAC1, 1); /* a glob in [Match] Name= */
	addr_add(3, "192.0.2.10", 24, FOREVER, 0);
	expect_skip(b, "a name networkd cannot give");
	snprintf(S.links[b].name, sizeof(S.links[b].name), "1234");
	expect_skip(b, "a name networkd cannot give");
	snprintf(S.links[b].name, sizeof(S.links[b].name), "bond0");
	assert_null(netunits_skip_reason(&S, b));
	S.links[b].bond.mode = 7;
	expect_skip(b, "a bond mode networkd does not know");
	S.links[b].bond.mode = 1;
	S.links[b].has_info_data = 0;
	expect_skip(b, "the kernel gave none of its settings");
	S.links[b].has_info_data = 1;
	v = vlan_add(4, "bond0.5", MAC1, 3, 5);
	addr_add(4, "198.51.100.5", 24, FOREVER, 0);
	S.links[v].vlan.protocol = 0x9100;
	expect_skip(v, "a VLAN protocol networkd does not know");
}

/* Only a forged dump has loops; they and chains deeper than
 * NETUNITS_STACK_MAX are refused, not followed. */
static void
t_skip_loops_and_deep_stacks(void **st)
{
	char name[16];
	size_t a, b, i;

	(void)st;
	a = bond_add(3, "bond0", MAC1, 1);
	b = bond_add(4, "bond1", MAC2, 1);
	S.links[a].master = 4;
	S.links[b].master = 3;
	addr_add(3, "192.0.2.10", 24, FOREVER, 0);
	expect_skip(a, "or in a loop");
	expect_skip(b, "or in a loop");
	memset(&S, 0, sizeof(S));
	link_add(2, "eth0", MAC1, 1500);
	for (i = 0; i <= NETUNITS_STACK_MAX; i++) {
		snprintf(name, sizeof(name), "v%zu", i);
		vlan_add((int)i + 3, name, MAC1, (int)i + 2, (uint16_t)(i + 1));
	}
	addr_add((int)NETUNITS_STACK_MAX + 3, "192.0.2.10", 24, FOREVER, 0);
	expect_skip(NETUNITS_STACK_MAX + 1, "levels deep");
	/* One level less is fine. */
	S.nlinks--;
	addr_add((int)NETUNITS_STACK_MAX + 2, "192.0.2.11", 24, FOREVER, 0);
	assert_null(netunits_skip_reason(&S, NETUNITS_STACK_MAX));
	assert_null(netunits_skip_reason(&S, 0));
}

static void
t_skip_stacked_and_foreign_kinds(void **st)
{
	static const char *const stacked[] = { "macvlan", "ipvlan", "macvtap" };
	static const char *const foreign[] = { "vxlan", "wireguard", "gretap", "vrf" };
	size_t i, l;

	(void)st;
	for (i = 0; i < 3; i++) {
		memset(&S, 0, sizeof(S));
		l = link_add(3, "x0", MAC2, 1500);
		snprintf(S.links[l].kind, sizeof(S.links[l].kind), "%s", stacked[i]);
		addr_add(3, "192.0.2.10", 24, FOREVER, 0);
		expect_skip(l, "macvlan, ipvlan: not re-created");
	}
	for (i = 0; i < 4; i++) {
		memset(&S, 0, sizeof(S));
		l = link_add(3, "x0", MAC2, 1500);
		snprintf(S.links[l].kind, sizeof(S.links[l].kind), "%s", foreign[i]);
		addr_add(3, "192.0.2.10", 24, FOREVER, 0);
		expect_skip(l, "only bonds, bridges and VLANs are");
	}
}

/* Without a permanent MAC a port is matched by the MAC it had when the
 * bond took it; with neither, by its current one, and two ports of one
 * bond then look alike: one of them gives way. */
static void
t_ports_without_permanent_mac(void **st)
{
	size_t a, b;

	(void)st;
	a = link_add(3, "eth1", MAC3, 1500);
	S.links[a].master = 5;
	memcpy(S.links[a].slave_perm_mac, MAC3, 6);
	S.links[a].slave_perm_mac_len = 6;
	b = link_add(4, "eth2", MAC3, 1500);
	S.links[b].master = 5;
	memcpy(S.links[b].slave_perm_mac, MAC4, 6);
	S.links[b].slave_perm_mac_len = 6;
	bond_add(5, "bond0", MAC3, 1);
	addr_add(5, "192.0.2.10", 24, FOREVER, 0);
	assert_non_null(strstr(render(b, NULL), "[Match]\nMACAddress=52:54:00:12:34:58\n"));
	assert_non_null(strstr(netunits_caveat(&S, b), "no permanent MAC"));
	S.links[b].slave_perm_mac_len = 0;
	expect_skip(b, "same MAC");
	assert_null(netunits_skip_reason(&S, a));
}

static void
t_caveats(void **st)
{
	size_t b;

	(void)st;
	port_add(3, "eth1", MAC3, MAC3, 5);
	b = bond_add(5, "bond0", MAC3, 1);
	addr_add(5, "192.0.2.10", 24, FOREVER, 0);
	assert_null(netunits_caveat(&S, b));
	S.links[b].bond.arp_interval_ms = 100;
	S.links[b].bond.arp_validate = 4; /* filter */
	assert_non_null(strstr(netunits_caveat(&S, b), "ARP validation"));
	assert_null(strstr(render_netdev(b), "ARPValidate"));
	S.links[b].bond.arp_validate = 0;
	S.links[b].bond.xmit_hash_policy = 9;
	assert_non_null(strstr(netunits_caveat(&S, b), "transmit hash"));
	assert_null(netunits_caveat(&S, 99));
}

static void
t_render_netdev_refusals(void **st)
{
	struct nk_err e = { "" };
	size_t len = 99;

	(void)st;
	bond_vlan_fixture();
	assert_int_equal(netunits_render_netdev(&S, 2, outdev, 40, &len, &e), NK_E_SIZE);
	assert_int_equal(len, 0);
	S.links[2].flags &= ~(unsigned)IFF_UP;
	assert_int_equal(netunits_render_netdev(&S, 2, outdev, sizeof(outdev), &len, &e),
	    NK_E_INTERNAL);
	assert_int_equal(netunits_render_netdev(&S, 77, outdev, sizeof(outdev), &len, &e),
	    NK_E_INTERNAL);
}

/* --- the e2e VM's recorded dumps (tests/unit/fixtures/netlink) ----------- */

#define GUEST_DIR "tests/unit/fixtures/netlink/bond-vlan-bridge"

static void
read_file(const char *path, uint8_t *buf, size_t cap, size_t *n)
{
	FILE *f = fopen(path, "rb");

	if (f == NULL)
		fail_msg("%s: cannot open (run from the top directory)", path);
	*n = fread(buf, 1, cap, f);
	assert_true(*n < cap);
	fclose(f);
}

/* The units the agent writes for the VM's topology, byte for byte as in
 * expected/, and no other: the e2e scenario checks the live agent the
 * same way, and tests/integration/test_networkd_units.sh has networkd
 * read expected/. */
static void
t_recorded_guest_units(void **st)
{
	static const char *const kinds[] = { "link", "addr", "route" };
	static uint8_t buf[NETLINK_RECV_MAX_BYTES];
	static char want[NETUNITS_UNIT_MAX_BYTES];
	struct nk_err e = { "" };
	enum netlink_status ns;
	char path[256], name[NETUNITS_NAME_MAX_BYTES];
	size_t k, i, n, units = 0, expected = 0;
	uint32_t seq;
	struct dirent *de;
	DIR *dir;
	FILE *f;
	int netdev;

	(void)st;
	for (k = 0; k < 3; k++)
		for (i = 0;; i++) {
			snprintf(path, sizeof(path), GUEST_DIR "/%s-%zu", kinds[k], i);
			if ((f = fopen(path, "rb")) == NULL)
				break;
			fclose(f);
			read_file(path, buf, sizeof(buf), &n);
			memcpy(&seq, buf + 8, 4);
			if (netlink_parse(buf, n, seq, &S, &ns, &e) != 0)
				fail_msg("%s: %s", path, e.msg);
		}
	for (i = 0; i < S.nlinks; i++) {
		if (netunits_skip_reason(&S, i) != NULL)
			continue;
		for (netdev = 0; netdev < 2; netdev++) {
			if (netdev && render_netdev(i)[0] == '\0')
				continue;
			if (netdev)
				assert_int_equal(netunits_netdev_name(&S, i, name, sizeof(name), &e), 0);
			else
				assert_int_equal(netunits_name(&S, i, name, sizeof(name), &e), 0);
			snprintf(path, sizeof(path), GUEST_DIR "/expected/%s", name);
			read_file(path, (uint8_t *)want, sizeof(want), &n);
			want[n] = '\0';
			if (strcmp(netdev ? outdev : render(i, NULL), want) != 0)
				fail_msg("%s differs:\n%s", path, netdev ? outdev : out);
			units++;
		}
	}
	assert_non_null(dir = opendir(GUEST_DIR "/expected"));
	while ((de = readdir(dir)) != NULL)
		expected += de->d_name[0] != '.';
	closedir(dir);
	assert_int_equal(units, expected);
	assert_int_equal(units, 12);
	/* docker0 stays behind. */
	for (i = 0; i < S.nlinks; i++)
		if (strcmp(S.links[i].name, "docker0") == 0)
			assert_non_null(strstr(netunits_skip_reason(&S, i), "without a port"));
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

/* --- a local forwarder's upstreams (dnsmasq, unbound) --- */

static void
fwd(const char *text, struct net_dns *d, char *rf, size_t cap)
{
	memset(d, 0, sizeof(*d));
	netunits_parse_forwarder((const uint8_t *)text, strlen(text), d, rf, cap);
}

static void
t_forwarder_dnsmasq(void **st)
{
	struct net_dns d;
	char rf[64], a[64];

	(void)st;
	fwd("# dnsmasq.conf\nno-resolv\nserver=192.0.2.53\nserver=/corp.example/198.51.100.1\n"
	    "server=2001:db8::53#53\nserver=192.0.2.54#5353\nserver=192.0.2.55@eth0\n"
	    "server=127.0.0.1\nserver=\nresolv-file=/run/dnsmasq/resolv.conf\n", &d, rf, sizeof(rf));
	/* the domain-only server, the port 5353 one and the loopback one are not taken */
	assert_int_equal(d.nservers, 3);
	assert_string_equal(inet_ntop(AF_INET, d.addr[0], a, sizeof(a)), "192.0.2.53");
	assert_string_equal(inet_ntop(AF_INET6, d.addr[1], a, sizeof(a)), "2001:db8::53");
	assert_string_equal(inet_ntop(AF_INET, d.addr[2], a, sizeof(a)), "192.0.2.55");
	assert_int_equal(d.local, 1);
	assert_string_equal(rf, "/run/dnsmasq/resolv.conf");
}

static void
t_forwarder_unbound(void **st)
{
	struct net_dns d;
	char rf[64] = "x", a[64];

	(void)st;
	fwd("server:\n  verbosity: 1\nforward-zone:\n  name: \".\"\n  forward-addr: 192.0.2.53\n"
	    "\tforward-addr: 192.0.2.54@53#dns.example\n  forward-addr: 192.0.2.56@853#dns.example\n"
	    "  forward-addr:2001:db8::54 # a comment\n  # forward-addr: 192.0.2.99\n", &d, rf, sizeof(rf));
	assert_int_equal(d.nservers, 3); /* not the one on 853 (DNS over TLS), not the comment */
	assert_string_equal(inet_ntop(AF_INET, d.addr[0], a, sizeof(a)), "192.0.2.53");
	assert_string_equal(inet_ntop(AF_INET, d.addr[1], a, sizeof(a)), "192.0.2.54");
	assert_string_equal(inet_ntop(AF_INET6, d.addr[2], a, sizeof(a)), "2001:db8::54");
	assert_string_equal(rf, "");
}

static void
t_forwarder_bounds(void **st)
{
	struct net_dns d;
	char rf[8], text[4096] = "", line[64];
	int i;

	(void)st;
	/* a resolv-file path longer than the buffer, or relative, is not taken */
	fwd("resolv-file=/run/much/too/long\n", &d, rf, sizeof(rf));
	assert_string_equal(rf, "");
	fwd("resolv-file=relative\n", &d, rf, sizeof(rf));
	assert_string_equal(rf, "");
	for (i = 0; i < NETUNITS_DNS_MAX + 3; i++) {
		snprintf(line, sizeof(line), "server=192.0.2.%d\n", i + 1);
		strcat(text, line);
	}
	fwd(text, &d, rf, sizeof(rf));
	assert_int_equal(d.nservers, NETUNITS_DNS_MAX);
	assert_int_equal(d.over, 3);
	fwd("server=192.0.2.1#", &d, rf, sizeof(rf)); /* an empty port: not 53 */
	assert_int_equal(d.nservers, 0);
	fwd("forward-addr:", &d, rf, sizeof(rf));
	assert_int_equal(d.nservers, 0);
}

/* --- per-link DNS (linkdns) ---------------------------------------------- */

static void
state(const char *text, struct net_dns *d)
{
	memset(d, 0, sizeof(*d));
	linkdns_parse_state((const uint8_t *)text, strlen(text), d);
}

static const char *
server(const struct net_dns *d, size_t i)
{
	static char a[INET6_ADDRSTRLEN];

	assert_true(i < d->nservers);
	return inet_ntop(d->family[i], d->addr[i], a, sizeof(a));
}

/* networkd's /run/systemd/netif/links/N as networkd-state-file.c writes
 * it (in_addr_full_to_string: port, %ifindex, #name). */
static void
t_linkdns_networkd_state(void **st)
{
	struct net_dns d;

	(void)st;
	state("# This is private data. Do not parse.\nADMIN_STATE=configured\n"
	    "OPER_STATE=routable\nNETWORK_FILE=/etc/systemd/network/10-eth0.network\n"
	    "DNS=192.0.2.53 [2001:db8::53]:53%2#dns.example 198.51.100.1:853#dot.example "
	    "198.51.100.2:53 2001:db8::54%2 192.0.2.55#name\r\n"
	    "NTP=\nDOMAINS=example.org corp.example\nROUTE_DOMAINS=route.example\n"
	    "LLMNR=yes\nMDNS=no\n", &d);
	assert_int_equal(d.nservers, 5);
	assert_string_equal(server(&d, 0), "192.0.2.53");
	assert_string_equal(server(&d, 1), "2001:db8::53");
	assert_string_equal(server(&d, 2), "198.51.100.2");
	assert_string_equal(server(&d, 3), "2001:db8::54");
	assert_string_equal(server(&d, 4), "192.0.2.55");
	assert_int_equal(d.ndomains, 2);
	assert_string_equal(d.domains[0], "example.org");
	assert_string_equal(d.domains[1], "corp.example");
}

/* resolved's /run/systemd/resolve/netif/N (link_save_user): what was set
 * over D-Bus, e.g. by Tailscale; "~" marks a route-only domain. */
static void
t_linkdns_resolved_state(void **st)
{
	struct net_dns d;

	(void)st;
	state("# This is private data. Do not parse.\nLLMNR=yes\nMDNS=no\nDEFAULT_ROUTE=no\n"
	    "SERVERS=100.100.100.100 fd7a:115c:a1e0::53\nDOMAINS=tail1234.ts.net ~. ~corp\n", &d);
	assert_int_equal(d.nservers, 2);
	assert_string_equal(server(&d, 0), "100.100.100.100");
	assert_string_equal(server(&d, 1), "fd7a:115c:a1e0::53");
	assert_int_equal(d.ndomains, 1);
	assert_string_equal(d.domains[0], "tail1234.ts.net");
}

static void
t_linkdns_state_junk(void **st)
{
	static const char nul_line[] = "DNS=192.0.2.1\0x\nDNS=192.0.2.2\n";
	char longline[LINKDNS_LINE_MAX_BYTES + 64];
	struct net_dns d;

	(void)st;
	state("XDNS=192.0.2.1\n DNS=192.0.2.2\nDNS =192.0.2.3\ndns=192.0.2.4\n"
	    "DNS=[2001:db8::1 [2001:db8::2]x [2001:db8::3]:5353 192.0.2.5:5353 192.0.2.6:\n"
	    "DNS=192.0.2.300 not-an-ip 127.0.0.53 127.0.0.1 ::1 fe80::1%2 [fe80::2]:53%2\n"
	    "DNS=\nSERVERS=\nDOMAINS=bad/domain . ~\n", &d);
	assert_int_equal(d.nservers, 0);
	assert_int_equal(d.ndomains, 0);
	assert_int_equal(d.stub, 1);
	assert_int_equal(d.local, 4);
	memset(&d, 0, sizeof(d));
	linkdns_parse_state((const uint8_t *)nul_line, sizeof(nul_line) - 1, &d);
	assert_int_equal(d.nservers, 1);
	assert_string_equal(server(&d, 0), "192.0.2.2");
	memset(longline, ' ', sizeof(longline));
	memcpy(longline, "DNS=192.0.2.1", 13);
	longline[sizeof(longline) - 1] = '\0';
	state(longline, &d);
	assert_int_equal(d.nservers, 0);
}

static void
t_linkdns_state_caps(void **st)
{
	char text[2048] = "DNS=", one[32];
	struct net_dns d;
	int i;

	(void)st;
	for (i = 1; i <= NETUNITS_DNS_MAX + 2; i++) {
		snprintf(one, sizeof(one), " 192.0.2.%d 192.0.2.%d", i, i);
		strcat(text, one);
	}
	strcat(text, "\nDOMAINS=");
	for (i = 0; i < NETUNITS_DOMAINS_MAX + 2; i++) {
		snprintf(one, sizeof(one), " d%d.example d%d.example", i, i);
		strcat(text, one);
	}
	state(text, &d);
	assert_int_equal(d.nservers, NETUNITS_DNS_MAX);
	assert_int_equal(d.ndomains, NETUNITS_DOMAINS_MAX);
	assert_int_equal(d.over, 8); /* each mention past the caps */
}

static void
reach_add(int oif, const char *dst, int dlen)
{
	struct net_reach *r = &S.reach[S.nreach++];

	memset(r, 0, sizeof(*r));
	r->oif = oif;
	pton(dst, &r->family, r->dst);
	r->dst_len = (uint8_t)dlen;
}

/* eth0 (index 2, carried, default route) and tailscale0 (index 5, a tun
 * device: not carried) with Tailscale's table 52 routes. */
static void
tailscale_state(void)
{
	size_t t;

	link_add(2, "eth0", MAC1, 1500);
	addr_add(2, "192.0.2.10", 24, FOREVER, 0);
	route_add(2, "0.0.0.0", 0, "192.0.2.1", RTPROT_BOOT, 0);
	t = link_add(5, "tailscale0", NULL, 1280);
	snprintf(S.links[t].kind, sizeof(S.links[t].kind), "tun");
	S.links[t].type = ARPHRD_NONE;
	addr_add(5, "100.64.1.2", 32, FOREVER, 0);
	reach_add(2, "0.0.0.0", 0);
	reach_add(2, "192.0.2.0", 24);
	reach_add(5, "100.100.100.100", 32);
	reach_add(5, "100.64.0.0", 10);
	reach_add(5, "fd7a:115c:a1e0::", 48);
}

static int
addr_of(const char *text, uint8_t *a)
{
	int family;

	pton(text, &family, a);
	return family;
}

static void
t_linkdns_route_owner(void **st)
{
	uint8_t a[16];

	(void)st;
	tailscale_state();
	assert_non_null(netunits_skip_reason(&S, 1));
	assert_null(netunits_skip_reason(&S, 0));
	assert_int_equal(linkdns_uncarried_route(&S, addr_of("100.100.100.100", a), a), 1);
	assert_int_equal(linkdns_uncarried_route(&S, addr_of("100.100.0.1", a), a), 1);
	assert_int_equal(linkdns_uncarried_route(&S, addr_of("fd7a:115c:a1e0::53", a), a), 1);
	assert_int_equal(linkdns_uncarried_route(&S, addr_of("192.0.2.53", a), a), -1);
	assert_int_equal(linkdns_uncarried_route(&S, addr_of("198.51.100.1", a), a), -1);
	/* No IPv6 route outside Tailscale's: not known to be left behind. */
	assert_int_equal(linkdns_uncarried_route(&S, addr_of("2001:db8::53", a), a), -1);
	/* Equally specific routes through both: the carried one counts. */
	reach_add(2, "100.100.100.100", 32);
	assert_int_equal(linkdns_uncarried_route(&S, addr_of("100.100.100.100", a), a), -1);
	/* A full-tunnel VPN: the only default goes through the tun device. */
	memset(&S, 0, sizeof(S));
	tailscale_state();
	S.reach[0].oif = 5;
	assert_int_equal(linkdns_uncarried_route(&S, addr_of("198.51.100.1", a), a), 1);
	/* A route through an interface netlink did not list: kept. */
	reach_add(9, "198.51.100.0", 24);
	assert_int_equal(linkdns_uncarried_route(&S, addr_of("198.51.100.1", a), a), -1);
}

/* Tailscale writes /etc/resolv.conf itself: 100.100.100.100 is only
 * routed through tailscale0 and is dropped; nothing lands on eth0. */
static void
t_linkdns_split_tailscale_resolv(void **st)
{
	struct net_dns g, per[2];
	struct linkdns_split sp;

	(void)st;
	tailscale_state();
	memset(per, 0, sizeof(per));
	parse("# resolv.conf(5) file generated by tailscale\nnameserver 100.100.100.100\n"
	    "search tail1234.ts.net\n", &g);
	linkdns_split(&S, &g, per, &sp);
	assert_int_equal(g.nservers, 0);
	assert_int_equal(sp.ndrops, 1);
	assert_int_equal(sp.drop[0].link, 1);
	assert_int_equal(sp.drop[0].routed, 1);
	assert_int_equal(sp.drop[0].family, AF_INET);
	assert_memory_equal(sp.drop[0].addr, "\x64\x64\x64\x64", 4);
	/* Tailscale wrote the search list with the server: it goes too. */
	assert_int_equal(g.ndomains, 0);
	assert_int_equal(sp.domains_dropped, 1);
	assert_string_equal(render(0, &g), HDR("eth0", 2) "[Match]\nMACAddress=52:54:00:12:34:56\n\n"
	    "[Network]\nAddress=192.0.2.10/24\n\n[Route]\nGateway=192.0.2.1\n");
	/* With a server of its own left, resolv.conf's search list stays. */
	memset(per, 0, sizeof(per));
	parse("nameserver 100.100.100.100\nnameserver 192.0.2.53\nsearch example.org\n", &g);
	linkdns_split(&S, &g, per, &sp);
	assert_int_equal(g.nservers, 1);
	assert_string_equal(server(&g, 0), "192.0.2.53");
	assert_int_equal(g.ndomains, 1);
	assert_int_equal(sp.domains_dropped, 0);
}

/* resolved with a VPN link's server: its upstream file lists both; the
 * per-link state says which is whose. The VPN's goes, with its domain;
 * eth0's moves into eth0's own list. */
static void
t_linkdns_split_resolved_vpn(void **st)
{
	struct net_dns g, per[2];
	struct linkdns_split sp;
	struct nk_err e = { "" };
	size_t len;

	(void)st;
	tailscale_state();
	parse("nameserver 100.100.100.100\nnameserver 192.0.2.53\nnameserver 198.51.100.53\n"
	    "search tail1234.ts.net example.org\n", &g);
	state("SERVERS=100.100.100.100\nDOMAINS=tail1234.ts.net\n", &per[1]);
	state("DNS=192.0.2.53\nDOMAINS=example.org\n", &per[0]);
	linkdns_split(&S, &g, per, &sp);
	assert_int_equal(g.nservers, 1); /* global: 198.51.100.53 (resolved.conf's DNS=) */
	assert_string_equal(server(&g, 0), "198.51.100.53");
	assert_int_equal(g.ndomains, 1);
	assert_string_equal(g.domains[0], "example.org");
	assert_int_equal(sp.domains_dropped, 1);
	assert_int_equal(sp.owned, 1);
	assert_int_equal(sp.ndrops, 1);
	assert_int_equal(sp.drop[0].link, 1);
	assert_int_equal(sp.drop[0].routed, 0);
	assert_int_equal(per[1].nservers, 0);
	assert_int_equal(per[1].ndomains, 0);
	assert_int_equal(per[0].nservers, 1);
	/* eth0's unit: its own server first, then the global one. */
	assert_int_equal(netunits_render(&S, 0, &g, &per[0], out, sizeof(out), &len, &e), 0);
	assert_string_equal(out, HDR("eth0", 2) "[Match]\nMACAddress=52:54:00:12:34:56\n\n"
	    "[Network]\nAddress=192.0.2.10/24\nDNS=192.0.2.53\nDNS=198.51.100.53\n"
	    "Domains=example.org\n\n[Route]\nGateway=192.0.2.1\n");
}

/* A link's own servers go into its unit even without a default route;
 * the global ones only where they always went. */
static void
t_linkdns_own_servers_on_their_link(void **st)
{
	struct net_dns g, own;
	struct nk_err e = { "" };
	size_t len;

	(void)st;
	link_add(2, "eth0", MAC1, 1500);
	addr_add(2, "192.0.2.10", 24, FOREVER, 0);
	route_add(2, "0.0.0.0", 0, "192.0.2.1", RTPROT_BOOT, 0);
	link_add(3, "eth1", MAC2, 1500);
	addr_add(3, "198.51.100.10", 24, FOREVER, 0);
	parse("nameserver 192.0.2.53\n", &g);
	state("DNS=198.51.100.53\nDOMAINS=internal.example\n", &own);
	assert_int_equal(netunits_render(&S, 1, &g, &own, out, sizeof(out), &len, &e), 0);
	assert_string_equal(out, HDR("eth1", 3) "[Match]\nMACAddress=52:54:00:ab:cd:ef\n\n"
	    "[Network]\nAddress=198.51.100.10/24\nDNS=198.51.100.53\n"
	    "Domains=internal.example\n");
	assert_string_equal(render(0, &g), HDR("eth0", 2) "[Match]\nMACAddress=52:54:00:12:34:56\n\n"
	    "[Network]\nAddress=192.0.2.10/24\nDNS=192.0.2.53\n\n[Route]\nGateway=192.0.2.1\n");
}

#define T(f) cmocka_unit_test_setup(f, setup)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(t_static_v4),
		T(t_forwarder_dnsmasq),
		T(t_forwarder_unbound),
		T(t_forwarder_bounds),
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
		T(t_bridge_port_and_bridge),
		T(t_skip_vlan_without_parent),
		T(t_skip_down),
		T(t_skip_not_ethernet_mac),
		T(t_skip_nothing_configured),
		T(t_skip_duplicate_mac),
		T(t_skip_out_of_range),
		T(t_names),
		T(t_render_too_small),
		T(t_bond_vlan_units),
		T(t_bond_names),
		T(t_bond_lacp_settings),
		T(t_bridge_stp_settings),
		T(t_bond_in_bridge),
		T(t_vlan_on_bare_nic),
		T(t_host_internal_bridges_stay),
		T(t_skip_ports_of_what_is_not_carried),
		T(t_skip_virtual_not_describable),
		T(t_skip_loops_and_deep_stacks),
		T(t_skip_stacked_and_foreign_kinds),
		T(t_ports_without_permanent_mac),
		T(t_caveats),
		T(t_render_netdev_refusals),
		T(t_recorded_guest_units),
		T(t_resolv_basic),
		T(t_resolv_stub),
		T(t_resolv_local_resolvers_left_out),
		T(t_resolv_junk_ignored),
		T(t_resolv_caps),
		T(t_resolv_empty_renders_nothing),
		T(t_linkdns_networkd_state),
		T(t_linkdns_resolved_state),
		T(t_linkdns_state_junk),
		T(t_linkdns_state_caps),
		T(t_linkdns_route_owner),
		T(t_linkdns_split_tailscale_resolv),
		T(t_linkdns_split_resolved_vpn),
		T(t_linkdns_own_servers_on_their_link),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
