#!/bin/bash
# test_handoff_netns: `nixos-kexec handoff --dump` run inside a network
# namespace made here (veth pairs, documentation address ranges only), so
# the units come from the real kernel's rtnetlink answers: static IPv4 and
# IPv6, MTU 1400, an extra route with a metric, an IPv4 route via an IPv6
# gateway, a /32 behind an on-link gateway, a leased (finite lifetime)
# address. DNS and hostname come from /etc/netns/NS/, which `ip netns exec`
# binds over /etc. Namespaces and that directory are removed at exit. Where
# namespaces cannot be made (an unprivileged container), every case skips
# with the reason.
#   B=build bash tests/integration/test_handoff_netns.sh
# shellcheck disable=SC2015 # "check && it_pass || it_fail": it_pass never fails
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

it_tmpdir
T=$IT_TMP
NK=$B/nixos-kexec
NS=nkh-$$
PEER=nkhp-$$
D=$T/dump

in_ns() { ip netns exec "$NS" "$@"; }
# The handoff reads networkd's and resolved's per-link state by interface
# index under /run: this machine's files there describe its own links, not
# the namespace's, so an empty tmpfs hides them (in the mount namespace
# `ip netns exec` makes, a slave of this one: nothing propagates back).
in_ns_own_run() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	ip netns exec "$NS" sh -c 'for d in /run/systemd /run/NetworkManager; do
		[ ! -d "$d" ] || mount -t tmpfs nk-hide "$d" || exit 70; done; exec "$@"' sh "$@"
}

# A syntactically valid ed25519 public key: the length-prefixed type name
# and 32 bytes, base64'd (all the agent checks).
KEY="ssh-ed25519 $({ printf '\0\0\0\013ssh-ed25519\0\0\0\040'; printf 'handoff-netns-test-key-32-bytes!'; } | base64 -w0) test"

it_case "handoff command is registered"
if "$NK" handoff --help >/dev/null 2>&1; then
	it_pass
else
	it_fail "'$NK handoff --help' failed: cmd_handoff is not wired into agent/cli/main.c"
	it_summary
	exit
fi

skip_all() {
	it_skip_all "$1" "units match the interfaces" "leased address becomes DHCP" "resolv.conf" \
		"hostname" "authorized_keys" "boot.json nonce" "dump directory mode" \
		"non-empty directory refused" "junk --ssh-key refused" \
		"host-internal bridge stays behind"
}

it_case "network namespaces can be made"
if ! err=$(ip netns add "$NS" 2>&1); then
	it_skip "ip netns add is not permitted here (a container?): $err"
	skip_all "no network namespaces"
fi
it_on_exit "ip netns del $NS 2>/dev/null; ip netns del $PEER 2>/dev/null; rm -rf /etc/netns/$NS"
if ! err=$(ip netns add "$PEER" 2>&1 &&
	ip link add veth0 netns "$NS" type veth peer name veth0p netns "$PEER" 2>&1 &&
	ip link add veth1 netns "$NS" type veth peer name veth1p netns "$PEER" 2>&1 &&
	ip link add veth2 netns "$NS" type veth peer name veth2p netns "$PEER" 2>&1); then
	it_skip "veth pairs cannot be made here: $err"
	skip_all "no veth"
fi
it_pass

set -e
for i in 0 1 2; do ip -n "$PEER" link set "veth${i}p" up; done
# veth0: static IPv4 and IPv6, MTU 1400, defaults, an extra route.
ip -n "$NS" link set veth0 address 02:00:00:00:00:10 mtu 1400 up
ip -n "$NS" addr add 192.0.2.10/24 dev veth0
ip -n "$NS" addr add 2001:db8:1::10/64 dev veth0 nodad
ip -n "$NS" route add default via 192.0.2.1 dev veth0
ip -n "$NS" route add 198.51.100.0/24 via 192.0.2.254 dev veth0 metric 100
ip -n "$NS" -6 route add default via 2001:db8:1::1 dev veth0
# veth1: a /32 and a gateway outside it, reached on-link (the cloud pattern).
ip -n "$NS" link set veth1 address 02:00:00:00:00:11 up
ip -n "$NS" addr add 203.0.113.10/32 dev veth1
ip -n "$NS" route add 203.0.113.1/32 dev veth1 scope link
ip -n "$NS" route add default via 203.0.113.1 dev veth1 onlink metric 200
# veth2: a leased address, as a DHCP client leaves it.
ip -n "$NS" link set veth2 address 02:00:00:00:00:12 up
ip -n "$NS" addr add 198.51.100.50/24 dev veth2 valid_lft 3600 preferred_lft 3600
set +e
# RFC 8950: an IPv4 route through an IPv6 gateway (Linux 5.2 and later).
VIA=""
if ip -n "$NS" route add 203.0.113.128/25 via inet6 2001:db8:1::1 dev veth0 2>/dev/null; then
	VIA=$'\n[Route]\nDestination=203.0.113.128/25\nGateway=2001:db8:1::1\n'
fi
# docker0: a bridge whose only port is a veth, as Docker leaves it: it
# must stay behind (a bridge is re-created only with a port that is).
BR=""
if ip -n "$NS" link add docker0 type bridge 2>/dev/null &&
	ip link add veth3 netns "$NS" type veth peer name veth3p netns "$PEER" &&
	ip -n "$NS" link set veth3 master docker0 up && ip -n "$NS" link set docker0 up &&
	ip -n "$NS" addr add 172.17.0.1/16 dev docker0; then
	BR=1
fi
[ -d /etc/netns ] || it_on_exit "rmdir /etc/netns 2>/dev/null"
mkdir -p "/etc/netns/$NS"
printf 'nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch example.org\n' \
	>"/etc/netns/$NS/resolv.conf"
printf 'handoff-test\n' >"/etc/netns/$NS/hostname"

idx() { in_ns cat "/sys/class/net/$1/ifindex"; }
I0=$(idx veth0) I1=$(idx veth1) I2=$(idx veth2)

in_ns_own_run "$NK" handoff --dump "$D" --no-host-keys --ssh-key "$KEY" >"$T/out" 2>"$T/err"
rc=$?

it_case "units match the interfaces"
want0="# nixos-kexec handoff: veth0 (index $I0) as it was before kexec
[Match]
MACAddress=02:00:00:00:00:10

[Link]
MTUBytes=1400

[Network]
Address=192.0.2.10/24
Address=2001:db8:1::10/64
DNS=192.0.2.53
DNS=2001:db8::53
Domains=example.org

[Route]
Gateway=192.0.2.1

[Route]
Destination=198.51.100.0/24
Gateway=192.0.2.254
Metric=100
${VIA}
[Route]
Gateway=2001:db8:1::1"
want1="# nixos-kexec handoff: veth1 (index $I1) as it was before kexec
[Match]
MACAddress=02:00:00:00:00:11

[Network]
Address=203.0.113.10/32
DNS=192.0.2.53
DNS=2001:db8::53
Domains=example.org

[Route]
Gateway=203.0.113.1
GatewayOnLink=yes
Metric=200

[Route]
Destination=203.0.113.1/32
Scope=link"
if [ $rc -ne 0 ]; then
	it_fail "handoff exited $rc: $(cat "$T/err")"
elif [ "$(ls "$D/network")" != "veth0.network
veth1.network
veth2.network" ]; then
	it_fail "units: $(ls "$D/network" | tr '\n' ' ')"
elif [ "$(cat "$D/network/veth0.network")" != "$want0" ]; then
	it_fail "veth0: $(diff <(echo "$want0") "$D/network/veth0.network")"
elif [ "$(cat "$D/network/veth1.network")" != "$want1" ]; then
	it_fail "veth1: $(diff <(echo "$want1") "$D/network/veth1.network")"
else
	it_pass
fi

it_case "leased address becomes DHCP"
want2="# nixos-kexec handoff: veth2 (index $I2) as it was before kexec
[Match]
MACAddress=02:00:00:00:00:12

[Network]
DHCP=ipv4
DNS=192.0.2.53
DNS=2001:db8::53
Domains=example.org"
got=$(cat "$D/network/veth2.network" 2>&1)
[ "$got" = "$want2" ] && it_pass || it_fail "$(diff <(echo "$want2") <(echo "$got"))"

it_case "resolv.conf"
it_expect_eq "$(cat "$D/resolv.conf" 2>&1)" "# nixos-kexec handoff: DNS as it was before kexec
nameserver 192.0.2.53
nameserver 2001:db8::53
search example.org"

it_case "hostname"
it_expect_eq "$(cat "$D/hostname" 2>&1)" "handoff-test"

it_case "authorized_keys"
if grep -qxF "$KEY" "$D/ssh/authorized_keys" 2>/dev/null &&
	[ "$(stat -c %a "$D/ssh/authorized_keys")" = 600 ] &&
	! ls "$D/ssh" | grep -q ssh_host_; then
	it_pass
else
	it_fail "$(ls -l "$D/ssh" 2>&1; cat "$D/ssh/authorized_keys" 2>&1)"
fi

it_case "boot.json nonce"
nonce=$(sed -n 's/^nonce \([0-9a-f]\{32\}\)$/\1/p' "$T/out")
if [ -n "$nonce" ] && grep -q "\"nonce\":\"$nonce\"" "$D/boot.json" &&
	grep -q '"bundle":null' "$D/boot.json"; then
	it_pass
else
	it_fail "stdout: $(cat "$T/out"); boot.json: $(cat "$D/boot.json" 2>&1)"
fi

it_case "dump directory mode"
it_expect_eq "$(stat -c %a "$D" 2>&1)" 700

it_case "non-empty directory refused"
before=$(ls -R "$D")
in_ns "$NK" handoff --dump "$D" --no-host-keys >/dev/null 2>"$T/err2"
rc=$?
[ $rc -eq 64 ] && [ "$(ls -R "$D")" = "$before" ] && ! ls "$T" | grep -q partial &&
	it_pass || it_fail "exit $rc: $(cat "$T/err2")"

it_case "junk --ssh-key refused"
in_ns "$NK" handoff --dump "$T/d2" --ssh-key 'ssh-ed25519 not-a-key' >/dev/null 2>"$T/err3"
rc=$?
[ $rc -eq 64 ] && [ ! -e "$T/d2" ] && it_pass || it_fail "exit $rc: $(cat "$T/err3")"

it_case "host-internal bridge stays behind"
if [ -z "$BR" ]; then
	it_skip "no bridge in this kernel"
elif grep -q 'docker0 (bridge): no unit: a bond or bridge without a port' "$T/err" &&
	grep -q 'veth3 (veth): no unit: a virtual port' "$T/err" &&
	[ ! -e "$D/network/docker0.network" ] && [ ! -e "$D/network/docker0.netdev" ]; then
	it_pass
else
	it_fail "notes: $(cat "$T/err"); units: $(ls "$D/network" | tr '\n' ' ')"
fi

it_summary
