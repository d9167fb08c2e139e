#!/bin/bash
# test_networkd_units: systemd-networkd reads the .netdev and .network
# units the agent writes for a bond, two VLANs on it and a bridge (the
# e2e VM's topology: tests/unit/fixtures/netlink/bond-vlan-bridge/expected,
# which test_netunits renders byte for byte from the recorded dumps) and
# has nothing to say about them: no unknown key, no bad value, no VLAN=,
# Bond= or Bridge= naming a netdev it does not have. networkd runs in a
# network and mount namespace made here, with a tmpfs over /run (so it
# reaches neither the host's D-Bus nor its interfaces); a unit written
# wrong on purpose shows that its complaints are seen. Where networkd is
# not installed or namespaces cannot be made, every case skips with the
# reason. This machine's kernel has no bonding: networkd fails to create
# bond0 (and so the VLANs on it); the bridge it does create, and its MAC
# is checked.
#   B=build bash tests/integration/test_networkd_units.sh
# shellcheck disable=SC2015 # "check && it_pass || it_fail": it_pass never fails
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

it_tmpdir
T=$IT_TMP
UNITS=$(cd "$(dirname "$0")/../unit/fixtures/netlink/bond-vlan-bridge/expected" && pwd)
NETWORKD_RUN_S=3 # long enough to load every unit and create the bridge

CASES=("networkd reads every handed-over unit without a complaint"
	"every .netdev is loaded with its kind"
	"a unit with a mistake is complained about"
	"the bridge is created with the MAC it had")

skip_all() { it_skip_all "$1" "${CASES[@]}"; }

it_case "systemd-networkd is installed"
ND=""
for p in /lib/systemd/systemd-networkd /usr/lib/systemd/systemd-networkd; do
	[ -x "$p" ] && ND=$p && break
done
if [ -z "$ND" ]; then
	it_skip "no systemd-networkd on this machine"
	skip_all "no systemd-networkd"
fi
if ! id systemd-network >/dev/null 2>&1; then
	it_skip "no systemd-network user for networkd to run as"
	skip_all "no systemd-network user"
fi
it_pass

mkdir -p "$T/units"
cp "$UNITS"/* "$T/units/"
# The control: an unknown key, and a VLAN= for a netdev that does not exist.
printf '[Match]\nName=zz-bad0\n\n[Network]\nBogusKey=1\nVLAN=zz-nowhere\n' \
	>"$T/units/zz-bad.network"

# Inside the namespaces: /run is a fresh tmpfs holding only our units.
cat >"$T/inner.sh" <<EOF
set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/systemd/network /run/systemd/netif
cp "$T/units"/* /run/systemd/network/
chmod 0644 /run/systemd/network/*
chown systemd-network: /run/systemd/netif
ip link set lo up
SYSTEMD_LOG_LEVEL=debug SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_COLOR=0 \\
	timeout -s TERM $NETWORKD_RUN_S "$ND" >"$T/networkd.log" 2>&1 || true
ip -o link show >"$T/links"
EOF

it_case "a network and mount namespace can be made"
if ! err=$(unshare -m -n --propagation private bash "$T/inner.sh" 2>&1); then
	it_skip "unshare -m -n is not permitted here (a container?): $err"
	skip_all "no namespaces"
fi
it_pass

# networkd prefixes what it says about a file with the file's path.
complaints=$(grep -a '^/run/systemd/network/' "$T/networkd.log" || true)
ours=$(printf '%s\n' "$complaints" | grep -v '/zz-bad\.network' | grep -v '^$' || true)

it_case "${CASES[0]}"
if [ -n "$ours" ]; then
	it_fail "networkd complained: $ours"
elif ! grep -aq 'Enumeration completed' "$T/networkd.log"; then
	it_fail "networkd did not start; its log: $(tail -n 5 "$T/networkd.log")"
else
	it_pass
fi

it_case "${CASES[1]}"
missing=""
for f in "$UNITS"/*.netdev; do
	name=$(sed -n 's/^Name=//p' "$f")
	kind=$(sed -n 's/^Kind=//p' "$f")
	grep -aqF "$name: loaded \"$kind\"" "$T/networkd.log" || missing+=" $name ($kind)"
done
[ -z "$missing" ] && it_pass || it_fail "not loaded:$missing"

it_case "${CASES[2]}"
printf '%s\n' "$complaints" | grep -q 'zz-bad.network:.*BogusKey' &&
	printf '%s\n' "$complaints" | grep -q 'zz-bad.network:.*zz-nowhere' && it_pass ||
	it_fail "the mistakes went unnoticed; complaints seen: ${complaints:-none}"

it_case "${CASES[3]}"
want=$(sed -n 's/^MACAddress=//p' "$UNITS/br0.netdev")
grep -q "br0: .* link/ether $want " "$T/links" && it_pass ||
	it_fail "no br0 with $want: $(cat "$T/links")"

it_summary
