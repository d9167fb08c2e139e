/* netlink: the machine's network state (links, addresses, routes) read
 * with rtnetlink dumps over a NETLINK_ROUTE socket, never by running or
 * parsing another program. The parser is pure and bounded, separate from
 * the socket I/O, so tests and the fuzzer feed it recorded messages. */
#ifndef NK_NETLINK_H
#define NK_NETLINK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define NET_LINKS_MAX 64
#define NET_ADDRS_MAX 256
#define NET_ROUTES_MAX 256
#define NET_REACH_MAX 256           /* routes of every table, for where DNS servers are */
#define NET_IFNAME_MAX_BYTES 16   /* IFNAMSIZ, with its NUL */
#define NET_KIND_MAX_BYTES 16     /* IFLA_INFO_KIND ("veth", "vlan"), with NUL */
#define NET_HWADDR_MAX_BYTES 32   /* MAX_ADDR_LEN */
#define NETLINK_RECV_MAX_BYTES (64 * 1024) /* the kernel sends at most 32 KiB a datagram */
#define NETLINK_DUMP_TRIES 3      /* a dump interrupted by a change is restarted */
#define NETLINK_FOREIGN_MAX 1024   /* datagrams from other processes ignored, per receive */
#define NETLINK_TIMEOUT_S 5       /* per receive */
#define NET_BOND_ARP_TARGETS_MAX 16 /* BOND_MAX_ARP_TARGETS */

/* Route protocols (RTPROT_*) the parser keeps; others (kernel prefix
 * routes, redirects, routing daemons) are counted and dropped. */
#define NET_RTPROT_UNSPEC 0
#define NET_RTPROT_BOOT 3
#define NET_RTPROT_STATIC 4
#define NET_RTPROT_RA 9
#define NET_RTPROT_DHCP 16

/* A bond's settings (IFLA_INFO_DATA of kind "bond"), in the kernel's
 * units and enumerations (BOND_MODE_*, BOND_XMIT_POLICY_*, ...). */
struct net_bond {
	uint8_t mode;                    /* 0 balance-rr ... 6 balance-alb */
	uint32_t miimon_ms;
	uint32_t updelay_ms;
	uint32_t downdelay_ms;
	uint32_t arp_interval_ms;
	uint32_t arp_validate;           /* 0 none, 1 active, 2 backup, 3 all, 4-6 filter */
	uint8_t arp_targets[NET_BOND_ARP_TARGETS_MAX][4]; /* IPv4, network order */
	size_t narp_targets;
	int primary;                     /* ifindex of the primary port, 0: none */
	uint8_t fail_over_mac;           /* 0 none, 1 active, 2 follow */
	uint8_t xmit_hash_policy;        /* 0 layer2 ... 5 vlan+srcmac */
	uint32_t min_links;
	uint8_t lacp_rate;               /* 0 slow, 1 fast */
	uint8_t ad_select;               /* 0 stable, 1 bandwidth, 2 count */
};

/* A VLAN's settings (kind "vlan"); its parent is net_link.link. */
struct net_vlan {
	uint16_t id;
	uint16_t protocol;               /* host order: 0x8100 802.1Q, 0x88a8 802.1ad */
	uint32_t flags;                  /* VLAN_FLAG_* */
};

/* A bridge's settings (kind "bridge"); times in clock_t (1/100 s). */
struct net_bridge {
	uint32_t stp_state;              /* 0 off, 1 kernel STP, 2 user STP */
	uint32_t forward_delay;
	uint32_t hello_time;
	uint32_t max_age;
	uint16_t priority;
	uint8_t vlan_filtering;
};

struct net_link {
	int index;
	char name[NET_IFNAME_MAX_BYTES];
	char kind[NET_KIND_MAX_BYTES];   /* "" for physical devices */
	uint8_t mac[NET_HWADDR_MAX_BYTES];      /* IFLA_ADDRESS */
	size_t mac_len;
	uint8_t perm_mac[NET_HWADDR_MAX_BYTES]; /* IFLA_PERM_ADDRESS, if the driver has one */
	size_t perm_mac_len;
	uint32_t mtu;                    /* 0: not reported */
	uint32_t flags;                  /* IFF_* */
	uint16_t type;                   /* ARPHRD_* */
	int master;                      /* IFLA_MASTER: enslaved to this index, or 0 */
	int link;                        /* IFLA_LINK: the lower device (a VLAN's parent), or 0 */
	int link_elsewhere;              /* IFLA_LINK_NETNSID: link is in another namespace */
	char slave_kind[NET_KIND_MAX_BYTES]; /* IFLA_INFO_SLAVE_KIND: "bond", "bridge", or "" */
	uint8_t slave_perm_mac[NET_HWADDR_MAX_BYTES]; /* a bond port's MAC when enslaved */
	size_t slave_perm_mac_len;
	int has_info_data;               /* IFLA_INFO_DATA was there for the kind below */
	struct net_bond bond;            /* kind "bond" */
	struct net_vlan vlan;            /* kind "vlan" */
	struct net_bridge bridge;        /* kind "bridge" */
};

struct net_addr {
	int ifindex;
	int family;                      /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t prefixlen;
	uint8_t scope;                   /* RT_SCOPE_* */
	uint32_t flags;                  /* IFA_F_* (IFA_FLAGS when present) */
	uint32_t valid_lft;              /* seconds; 0xffffffff: forever */
	uint32_t preferred_lft;
};

struct net_route {
	int family;                      /* of the destination */
	int oif;                         /* RTA_OIF, 0 if absent */
	uint8_t dst[16];
	uint8_t dst_len;
	int gw_family;                   /* 0: no gateway; differs from family for RTA_VIA */
	uint8_t gw[16];
	int has_prefsrc;
	uint8_t prefsrc[16];
	uint32_t metric;                 /* RTA_PRIORITY */
	uint8_t protocol;                /* RTPROT_* */
	uint8_t scope;
	uint32_t flags;                  /* rtm_flags (RTNH_F_ONLINK) */
};

/* Which link a destination is sent through: the unicast routes of every
 * table but local (policy tables too: Tailscale's 52, wg-quick's), kernel
 * prefix routes included. Only the DNS collection reads them (is a server
 * reached through a link that is not carried?); units come from routes[]. */
struct net_reach {
	int family;
	int oif;
	uint8_t dst[16];
	uint8_t dst_len;
};

/* What one dump saw. Counters say what was left out, so the caller can
 * tell the operator instead of silently carrying less. */
struct net_state {
	struct net_link links[NET_LINKS_MAX];
	size_t nlinks;
	struct net_addr addrs[NET_ADDRS_MAX];
	size_t naddrs;
	struct net_route routes[NET_ROUTES_MAX];
	size_t nroutes;
	struct net_reach reach[NET_REACH_MAX];
	size_t nreach;
	size_t links_over, addrs_over, routes_over; /* dropped: the arrays were full */
	size_t routes_multipath;                    /* dropped: ECMP routes */
	size_t reach_over;                          /* reach[] was full */
};

enum netlink_status {
	NETLINK_MORE = 0,   /* the dump continues in the next datagram */
	NETLINK_DONE = 1,   /* NLMSG_DONE seen */
	NETLINK_INTR = 2,   /* NLM_F_DUMP_INTR: state changed during the dump */
};

/* Parses one datagram of a dump reply (any mix of RTM_NEWLINK,
 * RTM_NEWADDR, RTM_NEWROUTE, NLMSG_DONE, NLMSG_ERROR) into out,
 * appending. seq: the request's sequence number; other numbers are
 * refused. Main-table unicast routes of the kept protocols only in
 * routes[]; the unicast routes of every table but local in reach[]. Links
 * carry their IFLA_LINKINFO: kind, and for bonds, VLANs and bridges their
 * settings; for bond ports the MAC they had when enslaved.
 * Malformed, truncated or overlong messages: NK_E_IO, out may hold the
 * entries parsed before. */
int netlink_parse(const uint8_t *buf, size_t len, uint32_t seq, struct net_state *out,
    enum netlink_status *status, struct nk_err *e);

/* Dumps links, addresses and routes of the current network namespace. */
int netlink_dump(struct net_state *out, struct nk_err *e);

/* The link with this index, or NULL. */
const struct net_link *netlink_link(const struct net_state *s, int index);

#endif
