#!/bin/bash
# test_selftest_netns: the new system's network self-test
# (nix/handoff/selftest.sh) run for real inside a network namespace made
# here, in seconds instead of a VM boot: real veth links, real ARP for the
# gateways (a peer namespace answers, or does not), real TCP to the source,
# real name resolution (getent; /etc/netns/NS/hosts and resolv.conf, which
# `ip netns exec` binds over /etc). Only networkd is stood in for: its unit
# directory and per-link state files are written here
# (NIXOS_KEXEC_UNITS/NIXOS_KEXEC_NETIF), and networkctl and resolvectl are
# stubs that log what they were asked. Documentation address ranges only;
# the namespaces and /etc/netns/NS are removed at exit. Where namespaces
# cannot be made, every case skips with the reason.
#   B=build bash tests/integration/test_selftest_netns.sh
# shellcheck disable=SC2015 # "check && it_pass || it_fail": it_pass never fails
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
SELFTEST=$HERE/../../nix/handoff/selftest.sh

it_tmpdir
T=$IT_TMP
NS=nkst-$$
GW=nkstg-$$
CASES=("DNS broken, every gateway answers: 'DNS broken' with the servers tried, no link switched"
	"resolvectl's servers are the ones named"
	"the names resolve, gateway and source answer: dns ok, result ok"
	"a dead gateway on one link, DNS broken too: only that link falls back"
	"the source unreachable through a link whose gateway answers: that link falls back, no other"
	"no name to resolve: dns skip")

skip_all() { it_skip_all "$1" "${CASES[@]}"; }
command -v ping >/dev/null 2>&1 || skip_all "no ping (iputils-ping): the self-test needs it"

it_case "network namespaces and veth pairs can be made"
if ! err=$(ip netns add "$NS" 2>&1); then
	it_skip "ip netns add is not permitted here (a container?): $err"
	skip_all "no network namespaces"
fi
it_on_exit "ip netns del $NS 2>/dev/null; ip netns del $GW 2>/dev/null; rm -rf /etc/netns/$NS"
if ! err=$(ip netns add "$GW" 2>&1 &&
	ip link add veth0 netns "$NS" type veth peer name veth0p netns "$GW" 2>&1 &&
	ip link add veth1 netns "$NS" type veth peer name veth1p netns "$GW" 2>&1); then
	it_skip "veth pairs cannot be made here: $err"
	skip_all "no veth"
fi
it_pass

set -e
ip -n "$NS" link set lo up
ip -n "$GW" link set lo up
for i in 0 1; do
	ip -n "$GW" link set "veth${i}p" up
	ip -n "$NS" link set "veth$i" up
done
# veth0: 192.0.2.10/24, its gateway 192.0.2.1 answers.
ip -n "$NS" addr add 192.0.2.10/24 dev veth0
ip -n "$GW" addr add 192.0.2.1/24 dev veth0p
ip -n "$NS" route add default via 192.0.2.1 dev veth0 metric 100
# veth1: 198.51.100.10/24, its gateway 198.51.100.1 only where a case adds it.
ip -n "$NS" addr add 198.51.100.10/24 dev veth1
ip -n "$NS" route add default via 198.51.100.1 dev veth1 metric 200
[ -d /etc/netns ] || it_on_exit "rmdir /etc/netns 2>/dev/null"
mkdir -p "/etc/netns/$NS"
# The handed-over server, unreachable: on veth0's subnet, nobody there.
printf 'nameserver 192.0.2.53\noptions timeout:1 attempts:1\n' >"/etc/netns/$NS/resolv.conf"
printf '127.0.0.1 localhost\n192.0.2.1 source.nk-test.example collect.nk-test.example\n' >"/etc/netns/$NS/hosts"
set +e

# networkd, stood in for: units and per-link state, and two stub commands.
U=$T/units NETIF=$T/netif
mkdir -p "$U" "$NETIF" "$T/bin" "$T/h"
cat >"$T/bin/networkctl" <<EOF
#!/bin/sh
echo "\$*" >>"$T/networkctl.log"
EOF
cat >"$T/bin/resolvectl" <<EOF
#!/bin/sh
[ -f "$T/resolvectl.out" ] || exit 1
cat "$T/resolvectl.out"
EOF
chmod +x "$T/bin/"*

# unit LINK ADDRESS GATEWAY: a handed-over static unit, and networkd's state
# for it (configured, routable).
unit() {
	local idx
	printf '[Match]\nName=%s\n\n[Network]\nAddress=%s\nGateway=%s\n' "$1" "$2" "$3" \
		>"$U/10-nixos-kexec-$1.network"
	idx=$(ip netns exec "$NS" cat "/sys/class/net/$1/ifindex")
	printf 'ADMIN_STATE=configured\nOPER_STATE=routable\nNETWORK_FILE=%s\n' \
		"$U/10-nixos-kexec-$1.network" >"$NETIF/$idx"
}

# run SOURCE-HOST [REPORT-URL]: the self-test with short bounds; its output
# in OUT, its exit status in RC.
run() {
	rm -f "$T/networkctl.log" "$U"/09-*
	printf '{"format":1,"nonce":"00","source":"x","source_host":"%s","source_port":443,"report":%s,"revert_after":0}\n' \
		"$1" "${2:-null}" >"$T/h/boot.json"
	OUT=$(ip netns exec "$NS" env PATH="$T/bin:$PATH" NIXOS_KEXEC_HANDOFF="$T/h" \
		NIXOS_KEXEC_UNITS="$U" NIXOS_KEXEC_NETIF="$NETIF" NIXOS_KEXEC_REPORT=/nonexistent \
		NIXOS_KEXEC_SELFTEST_SETTLE=2 NIXOS_KEXEC_SELFTEST_WAIT=3 NIXOS_KEXEC_SELFTEST_FALLBACK=3 \
		timeout 120 bash "$SELFTEST" 2>&1)
	RC=$?
}
has() { printf '%s\n' "$OUT" | grep -qF -- "$1"; }

unit veth0 192.0.2.10/24 192.0.2.1

it_case "${CASES[0]}"
run source.nk-test.invalid
if [ "$RC" -ne 0 ]; then
	it_fail "exit $RC: $OUT"
elif ! has "dns fail: DNS broken: source.nk-test.invalid does not resolve" || ! has "(servers tried: 192.0.2.53)"; then
	it_fail "no DNS verdict: $OUT"
elif has "fallback" || ls "$U"/09-* >/dev/null 2>&1 || grep -q reconfigure "$T/networkctl.log" 2>/dev/null; then
	it_fail "a link was switched: $OUT"
elif ! has "source skip: source.nk-test.invalid:443 not checked: its name does not resolve" ||
	! has "gateway ok: 192.0.2.1 on veth0 answers"; then
	it_fail "steps: $OUT"
else
	has "result ok: the handed-over network works, but DNS is broken" && it_pass || it_fail "result: $OUT"
fi

it_case "${CASES[1]}"
printf 'Global: 2001:db8::53\nLink 2 (veth0): 192.0.2.53 192.0.2.54\nLink 1 (lo):\n' >"$T/resolvectl.out"
run source.nk-test.invalid
rm -f "$T/resolvectl.out"
has "(servers tried: 2001:db8::53, 192.0.2.53, 192.0.2.54)" && it_pass || it_fail "exit $RC: $OUT"

it_case "${CASES[2]}"
run source.nk-test.example '"https://collect.nk-test.example/c"'
if [ "$RC" -ne 0 ]; then
	it_fail "exit $RC: $OUT"
elif ! has "dns ok: source.nk-test.example, collect.nk-test.example resolve"; then
	it_fail "dns: $OUT"
elif ! has "source ok: source.nk-test.example:443 refused the connection, so it was reached"; then
	it_fail "source: $OUT"
else
	has "result ok: the handed-over network works" && it_pass || it_fail "result: $OUT"
fi

unit veth1 198.51.100.10/24 198.51.100.1

it_case "${CASES[3]}"
run source.nk-test.invalid
if ! has "gateway fail: 198.51.100.1 on veth1" || ! has "fallback ok: veth1: DHCP/RA (09-nixos-kexec-fallback-veth1.network) instead of 10-nixos-kexec-veth1.network"; then
	it_fail "exit $RC: $OUT"
elif has "fallback ok: veth0" || grep -q "reconfigure.*veth0" "$T/networkctl.log"; then
	it_fail "veth0 switched too: $OUT"
elif ! grep -qx "reconfigure veth1" "$T/networkctl.log"; then
	it_fail "networkctl was asked: $(cat "$T/networkctl.log" 2>/dev/null)"
elif ls "$U"/09-* >/dev/null 2>&1; then
	it_fail "the fallback unit stayed after the fallback failed too: $(ls "$U")"
else
	[ "$RC" -eq 1 ] && has "result fail:" && it_pass || it_fail "exit $RC: $OUT"
fi

it_case "${CASES[4]}"
ip -n "$GW" addr add 198.51.100.1/24 dev veth1p
run 203.0.113.5
if ! has "source fail: 203.0.113.5:443" || ! has "gateway ok: 198.51.100.1 on veth1 answers"; then
	it_fail "exit $RC: $OUT"
elif ! has "fallback ok: veth0: DHCP/RA" || has "fallback ok: veth0, veth1"; then
	it_fail "fallback: $OUT"
else
	grep -qx "reconfigure veth0" "$T/networkctl.log" && it_pass ||
		it_fail "networkctl was asked: $(cat "$T/networkctl.log" 2>/dev/null)"
fi

it_case "${CASES[5]}"
run 192.0.2.1
[ "$RC" -eq 0 ] && has "dns skip: no name to resolve" && has "result ok" && it_pass || it_fail "exit $RC: $OUT"

it_summary
