/* linkdns: per-link DNS from systemd's state files, and which link owns
 * each server (linkdns.h has the rules). */
#include "linkdns.h"

#include <arpa/inet.h>
#include <string.h>

#include "lines.h"

#define LINKDNS_PORT_DNS "53"

static size_t
family_bytes(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

/* One server token of a state file, without its port, zone and name. */
static void
add_state_server(struct net_dns *out, const char *t, size_t n)
{
	const char *port = NULL, *end;
	size_t an, pn = 0;

	/* "#name" ends everything, "%ifindex" ends the address and port. */
	if ((end = memchr(t, '#', n)) != NULL)
		n = (size_t)(end - t);
	if ((end = memchr(t, '%', n)) != NULL)
		n = (size_t)(end - t);
	if (n > 0 && t[0] == '[') {
		if ((end = memchr(t, ']', n)) == NULL)
			return;
		an = (size_t)(end - t) - 1;
		if ((size_t)(end - t) + 1 < n) {
			if (end[1] != ':')
				return;
			port = end + 2;
			pn = n - (size_t)(end - t) - 2;
		}
		t++;
	} else if ((end = memchr(t, ':', n)) != NULL && memchr(end + 1, ':', n - (size_t)(end - t) - 1) == NULL) {
		/* One colon: IPv4 with a port (an IPv6 address has two or more). */
		an = (size_t)(end - t);
		port = end + 1;
		pn = n - an - 1;
	} else {
		an = n;
	}
	if (port != NULL && (pn != 2 || memcmp(port, LINKDNS_PORT_DNS, 2) != 0))
		return;
	netunits_dns_add(out, t, an);
}

/* Calls one of the adders for each space-separated token of v[0..n). */
static void
each_token(const char *v, size_t n, struct net_dns *out, int servers)
{
	size_t i = 0, start;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
		start = i;
		while (i < n && v[i] != ' ' && v[i] != '\t')
			i++;
		if (i == start)
			break;
		if (servers)
			add_state_server(out, v + start, i - start);
		else if (v[start] != '~')
			netunits_dns_add_domain(out, v + start, i - start);
	}
}

static int
key_is(const char *line, size_t n, const char *key, size_t *vat)
{
	size_t k = strlen(key);

	if (n < k || memcmp(line, key, k) != 0)
		return 0;
	*vat = k;
	return 1;
}

void
linkdns_parse_state(const uint8_t *buf, size_t len, struct net_dns *out)
{
	struct lines l;
	const char *p;
	size_t k, v;

	lines_init(&l, buf, len, LINKDNS_STATE_MAX_BYTES);
	while (lines_next(&l, &p, &k)) {
		if (!lines_readable(p, k, LINKDNS_LINE_MAX_BYTES))
			continue;
		if (key_is(p, k, "DNS=", &v) || key_is(p, k, "SERVERS=", &v))
			each_token(p + v, k - v, out, 1);
		else if (key_is(p, k, "DOMAINS=", &v))
			each_token(p + v, k - v, out, 0);
	}
}

/* Do the first bits bits of a and b agree? */
static int
same_prefix(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned i;

	for (i = 0; i < bits; i++)
		if (((a[i / 8] ^ b[i / 8]) >> (7 - i % 8)) & 1)
			return 0;
	return 1;
}

int
linkdns_uncarried_route(const struct net_state *s, int family, const uint8_t *addr)
{
	int best = -1, uncarried = -1, carried = 0, pos;
	size_t i;

	for (i = 0; i < s->nreach && i < NET_REACH_MAX; i++) {
		const struct net_reach *r = &s->reach[i];
		const struct net_link *l;

		if (r->family != family || r->dst_len > family_bytes(family) * 8 ||
		    (int)r->dst_len < best || !same_prefix(r->dst, addr, r->dst_len))
			continue;
		if ((int)r->dst_len > best) {
			best = r->dst_len;
			uncarried = -1;
			carried = 0;
		}
		l = netlink_link(s, r->oif);
		pos = l != NULL ? (int)(l - s->links) : -1;
		if (pos < 0 || netunits_skip_reason(s, (size_t)pos) == NULL)
			carried = 1; /* an unknown link: not known to be left behind */
		else if (uncarried < 0)
			uncarried = pos;
	}
	return carried ? -1 : uncarried;
}

static int
has_server(const struct net_dns *d, int family, const uint8_t *a)
{
	size_t i;

	for (i = 0; i < d->nservers; i++)
		if (d->family[i] == family && memcmp(d->addr[i], a, family_bytes(family)) == 0)
			return 1;
	return 0;
}

static void
remove_server(struct net_dns *d, size_t at)
{
	size_t rest = d->nservers - at - 1;

	memmove(&d->family[at], &d->family[at + 1], rest * sizeof(d->family[0]));
	memmove(d->addr[at], d->addr[at + 1], rest * sizeof(d->addr[0]));
	d->nservers--;
}

static void
record(struct linkdns_split *out, int link, int family, const uint8_t *a, int routed)
{
	struct linkdns_drop *d;

	if (out->ndrops >= LINKDNS_DROPS_MAX) {
		out->drops_over++;
		return;
	}
	d = &out->drop[out->ndrops++];
	d->link = link;
	d->family = family;
	memset(d->addr, 0, sizeof(d->addr));
	memcpy(d->addr, a, family_bytes(family));
	d->routed = routed;
}

/* Search domain dom of global: also one of a link that gets no unit? */
static int
uncarried_domain(const struct net_state *s, const struct net_dns *per, const char *dom)
{
	size_t i, j;

	for (i = 0; i < s->nlinks && i < NET_LINKS_MAX; i++) {
		if (netunits_skip_reason(s, i) == NULL)
			continue;
		for (j = 0; j < per[i].ndomains; j++)
			if (strcmp(per[i].domains[j], dom) == 0)
				return 1;
	}
	return 0;
}

void
linkdns_split(const struct net_state *s, struct net_dns *global, struct net_dns *per,
    struct linkdns_split *out)
{
	size_t i, j, n = s->nlinks < NET_LINKS_MAX ? s->nlinks : NET_LINKS_MAX, routed = 0;
	int owner, via, all_routed;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < global->nservers;) {
		owner = -1;
		for (j = 0; j < n && owner < 0; j++)
			if (has_server(&per[j], global->family[i], global->addr[i]))
				owner = (int)j;
		if (owner >= 0) {
			if (netunits_skip_reason(s, (size_t)owner) == NULL)
				out->owned++;
			remove_server(global, i);
			continue;
		}
		via = linkdns_uncarried_route(s, global->family[i], global->addr[i]);
		if (via >= 0) {
			record(out, via, global->family[i], global->addr[i], 1);
			remove_server(global, i);
			routed++;
			continue;
		}
		i++;
	}
	/* Every server of resolv.conf only reached through links left behind
	 * (a VPN client or Tailscale wrote it): its search list is theirs too. */
	all_routed = routed > 0 && global->nservers == 0 && out->owned == 0;
	for (i = 0; i < global->ndomains;) {
		if (all_routed || uncarried_domain(s, per, global->domains[i])) {
			memmove(global->domains[i], global->domains[i + 1],
			    (global->ndomains - i - 1) * sizeof(global->domains[0]));
			global->ndomains--;
			out->domains_dropped++;
			continue;
		}
		i++;
	}
	for (i = 0; i < n; i++) {
		if (netunits_skip_reason(s, i) == NULL)
			continue;
		for (j = 0; j < per[i].nservers; j++)
			record(out, (int)i, per[i].family[j], per[i].addr[j], 0);
		memset(&per[i], 0, sizeof(per[i]));
	}
}
