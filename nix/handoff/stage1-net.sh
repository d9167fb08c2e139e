#!/bin/sh
# nixos-kexec handoff, stage 1: the handed-over network for the one thing
# stage 1 needs it for, fetching a lean bundle's store (store.sh), in an
# initramfs without systemd-networkd (NixOS's scripted stage 1, the
# journey test's stand-in). NixOS's systemd stage 1 runs networkd on the
# same units instead (nix/module.nix).
#
#   stage1-net.sh up|down PREFIX
#
# up: for each PREFIX/nixos-kexec/handoff/network/*.network matched by
# [Match] MACAddress= (a NIC as the old system had it): its [Link]
# MACAddress= and MTUBytes=, its Address= lines, DHCP=yes|ipv4 (busybox
# udhcpc, one lease, no daemon), its [Route] sections (Destination=,
# Gateway=, GatewayOnLink=, Metric=), with `ip`; the DNS= servers and the
# handoff's resolv.conf become PREFIX/etc/resolv.conf. Bonds, bridges,
# VLANs and their ports (units matched by Name= or PermanentMACAddress=, or
# with Bond=/Bridge=/VLAN=) are not made here: said, and left to stage 2.
# Every link it touched is listed in PREFIX/run/nixos-kexec/stage1-links.
# down: flushes the addresses and routes of those links and sets them down,
# so that stage 2's networkd starts from a clean link. NICs are found by
# their MAC in PREFIX/sys/class/net. POSIX shell, busybox or iproute2 `ip`.
# Exit 0; 1 when up configured no link at all.
set -u
me="nixos-kexec: stage 1 network"
cmd=${1-} prefix=${2-}
h=$prefix/nixos-kexec/handoff
state=$prefix/run/nixos-kexec/stage1-links

# NIC whose MAC is $1 (lower case), from sysfs.
nic_of() {
	for a in "$prefix"/sys/class/net/*/address; do
		[ -f "$a" ] || continue
		m=$(tr 'A-F' 'a-f' <"$a")
		if [ "$m" = "$1" ]; then
			n=${a%/address}
			echo "${n##*/}"
			return 0
		fi
	done
	return 1
}

# One route: the collected [Route] fields.
route_add() {
	[ -n "$r_gw$r_dst" ] || return 0
	set -- "${r_dst:-default}"
	[ -z "$r_gw" ] || set -- "$@" via "$r_gw"
	set -- "$@" dev "$dev"
	[ -z "$r_metric" ] || set -- "$@" metric "$r_metric"
	[ "$r_onlink" != yes ] || set -- "$@" onlink
	case $r_dst$r_gw in *:*) fam=-6 ;; *) fam=-4 ;; esac
	ip "$fam" route add "$@" || echo "$me: $dev: route $* not added" >&2
}

# One unit: configure its NIC.
unit_up() {
	u=$1
	mac=$(sed -n 's/^MACAddress=//p' "$u" | head -n 1 | tr 'A-F' 'a-f')
	if grep -qE '^(Name|PermanentMACAddress)=|^(Bond|Bridge|VLAN)=' "$u" || [ -z "$mac" ]; then
		echo "$me: ${u##*/}: a bond, bridge, VLAN or port is not made in stage 1; left to stage 2" >&2
		return 0
	fi
	if ! dev=$(nic_of "$mac"); then
		echo "$me: ${u##*/}: no NIC with MAC $mac" >&2
		return 0
	fi
	echo "$dev" >>"$state"
	sect='' r_dst='' r_gw='' r_onlink='' r_metric='' dhcp=''
	while IFS= read -r line; do
		case $line in
		'[Route]')
			[ "$sect" != route ] || route_add
			sect=route r_dst='' r_gw='' r_onlink='' r_metric=''
			continue
			;;
		'['*) [ "$sect" != route ] || route_add; sect=$line; continue ;;
		esac
		k=${line%%=*} v=${line#*=}
		case $sect:$k in
		'[Link]:MACAddress') ip link set dev "$dev" address "$v" ;;
		'[Link]:MTUBytes') ip link set dev "$dev" mtu "$v" ;;
		'[Network]:Address')
			ip link set dev "$dev" up
			ip addr add "$v" dev "$dev" || echo "$me: $dev: address $v not added" >&2
			;;
		'[Network]:DHCP') dhcp=$v ;;
		'[Network]:DNS') echo "nameserver $v" >>"$resolv.new" ;;
		route:Destination) r_dst=$v ;;
		route:Gateway) r_gw=$v ;;
		route:GatewayOnLink) r_onlink=$v ;;
		route:Metric) r_metric=$v ;;
		esac
	done <"$u"
	[ "$sect" != route ] || route_add
	ip link set dev "$dev" up
	case $dhcp in
	yes | ipv4)
		# The lease is applied by this very script (udhcpc -s), below.
		udhcpc -i "$dev" -n -q -t 5 -T 2 -s "$self" >/dev/null 2>&1 ||
			echo "$me: $dev: no DHCP lease" >&2
		;;
	esac
	ups=$((ups + 1))
	echo "$me: $dev up ($(ip -o addr show dev "$dev" 2>/dev/null | awk '{ printf "%s ", $4 }'))" >&2
}

case $cmd in
up)
	self=$(command -v "$0" 2>/dev/null || echo "$0")
	case $self in /*) ;; *) self=$(pwd)/$self ;; esac
	resolv=$prefix/etc/resolv.conf
	mkdir -p "${state%/*}" "$prefix/etc"
	: >"$state"
	: >"$resolv.new"
	ups=0
	for u in "$h"/network/*.network; do
		[ -f "$u" ] && unit_up "$u"
	done
	[ ! -f "$h/resolv.conf" ] || cat "$h/resolv.conf" >>"$resolv.new"
	if [ -s "$resolv.new" ]; then
		mv -f "$resolv.new" "$resolv"
	else
		rm -f "$resolv.new"
	fi
	[ "$ups" -gt 0 ] || { echo "$me: no handed-over NIC configured" >&2; exit 1; }
	;;
down)
	[ -f "$state" ] || exit 0
	while IFS= read -r dev; do
		ip route flush dev "$dev" 2>/dev/null
		ip addr flush dev "$dev" 2>/dev/null
		ip link set dev "$dev" down 2>/dev/null
	done <"$state"
	rm -f "$state"
	;;
# udhcpc's calls (-s): apply a lease ($interface, $ip, $mask, $router).
bound | renew)
	ip addr add "${ip:?}/${mask:-24}" dev "${interface:?}"
	for r in ${router-}; do
		ip route add default via "$r" dev "$interface" && break
	done
	for s in ${dns-}; do
		echo "nameserver $s" >>/etc/resolv.conf
	done
	;;
deconfig | leasefail | nak) ;;
*) echo "usage: stage1-net.sh up|down PREFIX" >&2; exit 64 ;;
esac
exit 0
