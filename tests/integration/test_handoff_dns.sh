#!/bin/bash
# test_handoff_dns: the DNS the handoff carries, per link, for the first
# systems of issue 20's table. `nixos-kexec handoff --dump --root R` runs in
# a network namespace made here (documentation ranges; Tailscale's fixed
# 100.100.100.100 only as a route and a resolv.conf line, no packet is
# sent): eth0 (a veth, carried, default route), tun0 (a VPN's tun device)
# and tailscale0 (a tun device with Tailscale's routes in its table 52),
# neither of which gets a unit. R holds the files of each row: resolv.conf,
# resolved's and networkd's /run state. Each row's carried result (the
# eth0 unit's DNS= lines, the handed-over resolv.conf) and the notes are
# asserted. Where namespaces or tun devices cannot be made, every case
# skips with the reason.
#   B=build bash tests/integration/test_handoff_dns.sh
# shellcheck disable=SC2015 # "check && it_pass || it_fail": it_pass never fails
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

it_tmpdir
T=$IT_TMP
NK=$B/nixos-kexec
NS=nkd-$$
PEER=nkdp-$$

KEY="ssh-ed25519 $({ printf '\0\0\0\013ssh-ed25519\0\0\0\040'; printf 'handoff-dns-test-key-32-bytes!!!'; } | base64 -w0) test"

ROWS=("networkd DNS=, no resolved" "resolved stub, upstream file missing, per-link state"
	"Tailscale's resolv.conf" "resolved with a VPN link's server" "routes of every table read")

it_case "network namespace with eth0, tun0 and tailscale0"
if ! err=$(ip netns add "$NS" 2>&1); then
	it_skip "ip netns add is not permitted here (a container?): $err"
	it_skip_all "no network namespaces" "${ROWS[@]}"
fi
it_on_exit "ip netns del $NS 2>/dev/null; ip netns del $PEER 2>/dev/null"
if ! err=$(ip netns add "$PEER" 2>&1 &&
	ip link add eth0 netns "$NS" type veth peer name eth0p netns "$PEER" 2>&1 &&
	ip -n "$NS" tuntap add dev tun0 mode tun 2>&1 &&
	ip -n "$NS" tuntap add dev tailscale0 mode tun 2>&1); then
	it_skip "veth pairs or tun devices cannot be made here: $err"
	it_skip_all "no veth or tun" "${ROWS[@]}"
fi
set -e
ip -n "$PEER" link set eth0p up
ip -n "$NS" link set eth0 address 02:00:00:00:00:20 up
ip -n "$NS" addr add 192.0.2.10/24 dev eth0
ip -n "$NS" route add default via 192.0.2.1 dev eth0
# A VPN (OpenVPN-style tun0) whose resolver sits in its own subnet.
ip -n "$NS" link set tun0 up
ip -n "$NS" addr add 198.51.100.2/24 dev tun0
# Tailscale: its address, and its routes in table 52 (main has none).
ip -n "$NS" link set tailscale0 up
ip -n "$NS" addr add 100.64.1.2/32 dev tailscale0
ip -n "$NS" route add 100.100.100.100/32 dev tailscale0 table 52
ip -n "$NS" route add 100.64.0.0/10 dev tailscale0 table 52
set +e
it_pass

idx() { ip netns exec "$NS" cat "/sys/class/net/$1/ifindex"; }
E=$(idx eth0) V=$(idx tun0) S=$(idx tailscale0)

# row NAME: a fresh root $T/NAME/root and dump $T/NAME/dump; run after the
# files are in place with `dump NAME`.
root() { mkdir -p "$T/$1/root/etc" "$T/$1/root/run"; echo "$T/$1/root"; }
dump() {
	ip netns exec "$NS" "$NK" handoff --dump "$T/$1/dump" --root "$T/$1/root" \
		--no-host-keys --ssh-key "$KEY" >"$T/$1/out" 2>"$T/$1/err"
}
dns_of() { grep -E '^(DNS|Domains)=' "$T/$1/dump/network/eth0.network" 2>&1 | tr '\n' ' '; }
ns_of() { grep -E '^(nameserver|search)' "$T/$1/dump/resolv.conf" 2>/dev/null | tr '\n' ' '; }
why() { echo "exit $rc; eth0: $(dns_of "$1"); resolv.conf: $(ns_of "$1"); notes: $(cat "$T/$1/err")"; }

it_case "${ROWS[0]}"
# The journey's own cloud image: networkd with DNS= in its .network, no
# resolved, no /etc/resolv.conf of use; networkd's state file names it.
R=$(root networkd)
mkdir -p "$R/run/systemd/netif/links"
printf '# This is private data. Do not parse.\nADMIN_STATE=configured\nOPER_STATE=routable\nNETWORK_FILE=/etc/systemd/network/10-eth0.network\nDNS=192.0.2.53 [2001:db8::53]:53%%%s#dns.example\nNTP=\nDOMAINS=example.org\nROUTE_DOMAINS=\nLLMNR=yes\nMDNS=no\n' \
	"$E" >"$R/run/systemd/netif/links/$E"
dump networkd
rc=$?
[ $rc -eq 0 ] && [ "$(dns_of networkd)" = "DNS=192.0.2.53 DNS=2001:db8::53 Domains=example.org " ] &&
	[ "$(ns_of networkd)" = "nameserver 192.0.2.53 nameserver 2001:db8::53 search example.org " ] &&
	grep -q "dns: eth0: 2 servers of its own" "$T/networkd/err" &&
	! grep -q "no usable nameserver" "$T/networkd/err" && it_pass || it_fail "$(why networkd)"

it_case "${ROWS[1]}"
# resolv.conf names resolved's stub; /run/systemd/resolve/resolv.conf is
# missing; resolved's per-link state (set over D-Bus) names the server.
R=$(root stub)
mkdir -p "$R/run/systemd/resolve/netif"
printf 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch example.org\n' \
	>"$R/run/systemd/resolve/stub-resolv.conf"
ln -s ../run/systemd/resolve/stub-resolv.conf "$R/etc/resolv.conf"
printf '# This is private data. Do not parse.\nLLMNR=yes\nMDNS=no\nSERVERS=192.0.2.53\nDOMAINS=example.org\n' \
	>"$R/run/systemd/resolve/netif/$E"
dump stub
rc=$?
[ $rc -eq 0 ] && [ "$(dns_of stub)" = "DNS=192.0.2.53 Domains=example.org " ] &&
	[ "$(ns_of stub)" = "nameserver 192.0.2.53 search example.org " ] &&
	grep -q "names systemd-resolved's stub, and .*; the links' own state names servers" \
		"$T/stub/err" && it_pass || it_fail "$(why stub)"

it_case "${ROWS[2]}"
# Tailscale writes /etc/resolv.conf itself (no resolved): its server is
# routed only through tailscale0 and must not land on eth0, nor its search
# domain.
R=$(root tailscale)
printf '# resolv.conf(5) file generated by tailscale\n# DO NOT EDIT THIS FILE BY HAND -- CHANGES WILL BE OVERWRITTEN\n\nnameserver 100.100.100.100\nsearch tail1234.ts.net\n' \
	>"$R/etc/resolv.conf"
dump tailscale
rc=$?
[ $rc -eq 0 ] && ! grep -qE '^(DNS|Domains)=' "$T/tailscale/dump/network/eth0.network" &&
	[ ! -e "$T/tailscale/dump/resolv.conf" ] &&
	grep -q "dns: 100.100.100.100 left out: reached only through tailscale0, which is not carried" \
		"$T/tailscale/err" && grep -q "dns: 1 search domain of links that are not carried left out" \
		"$T/tailscale/err" && grep -q "no usable nameserver" "$T/tailscale/err" &&
	it_pass || it_fail "$(why tailscale)"

it_case "${ROWS[3]}"
# resolved with a VPN's server and Tailscale's (both set over D-Bus on
# their links): its upstream file lists them ahead of eth0's; the per-link
# state says whose each is. Only eth0's, and resolved.conf's global one,
# are carried.
R=$(root vpn)
mkdir -p "$R/run/systemd/resolve/netif" "$R/run/systemd/netif/links"
printf 'nameserver 127.0.0.53\nsearch vpn.example tail1234.ts.net example.org\n' \
	>"$R/run/systemd/resolve/stub-resolv.conf"
ln -s ../run/systemd/resolve/stub-resolv.conf "$R/etc/resolv.conf"
printf '# This is /run/systemd/resolve/resolv.conf managed by man:systemd-resolved(8).\nnameserver 198.51.100.53\nnameserver 100.100.100.100\nnameserver 192.0.2.53\nnameserver 203.0.113.53\nsearch vpn.example tail1234.ts.net example.org\n' \
	>"$R/run/systemd/resolve/resolv.conf"
printf 'LLMNR=yes\nMDNS=no\nDEFAULT_ROUTE=yes\nSERVERS=198.51.100.53\nDOMAINS=vpn.example ~.\n' \
	>"$R/run/systemd/resolve/netif/$V"
printf 'LLMNR=no\nMDNS=no\nDEFAULT_ROUTE=no\nSERVERS=100.100.100.100\nDOMAINS=tail1234.ts.net\n' \
	>"$R/run/systemd/resolve/netif/$S"
printf 'ADMIN_STATE=configured\nDNS=192.0.2.53\nDOMAINS=example.org\n' \
	>"$R/run/systemd/netif/links/$E"
dump vpn
rc=$?
[ $rc -eq 0 ] &&
	[ "$(dns_of vpn)" = "DNS=192.0.2.53 DNS=203.0.113.53 Domains=example.org " ] &&
	[ "$(ns_of vpn)" = "nameserver 203.0.113.53 nameserver 192.0.2.53 search example.org " ] &&
	grep -q "dns: tun0 is not carried; its server 198.51.100.53 left out" "$T/vpn/err" &&
	grep -q "dns: tailscale0 is not carried; its server 100.100.100.100 left out" "$T/vpn/err" &&
	grep -q "dns: 2 search domains of links that are not carried left out" "$T/vpn/err" &&
	it_pass || it_fail "$(why vpn)"

it_case "${ROWS[4]}"
# The Tailscale row needs table 52's route: without it, only the main
# table's default via eth0 would match (the test above would then fail).
ip -n "$NS" route del 100.100.100.100/32 dev tailscale0 table 52
ip -n "$NS" route del 100.64.0.0/10 dev tailscale0 table 52
rm -rf "$T/tailscale/dump"
dump tailscale
rc=$?
[ $rc -eq 0 ] && grep -q '^DNS=100.100.100.100' "$T/tailscale/dump/network/eth0.network" &&
	it_pass || it_fail "$(why tailscale)"

it_summary
