#!/usr/bin/env bash
# nixos-kexec network self-test: once systemd-networkd has configured the
# network units the agent handed over, checks that they work; if they do
# not, switches the links concerned to DHCP/RA and checks again. A unit
# that looked right in the old system can still fail here (a driver that
# behaves differently, a provider that moved the machine, an address that
# was only ever set by hand), and without this nothing would notice.
#
#   selftest.sh     exit 0: the network works (as handed over, or after the
#                   fallback), or there was nothing to test; 1: it does not
#
# Steps, each printed on stdout (the unit sends it to the console) and, when
# boot.json names a report URL, posted to the collector as a 'selftest'
# event (report.sh selftest) once the self-test ends (a network that does
# not work cannot carry them before):
#   settle    wait until every link that uses a handed-over unit
#             (/run/systemd/network/10-nixos-kexec-*) is configured by
#             networkd, or already routable (a port: has a carrier), at
#             most SETTLE s (20, plus twice a handed-over bridge's STP
#             forward delay: such a bridge forwards nothing before)
#   gateway   each default gateway of those units answers ARP (IPv4) or ND
#             (IPv6): ping -c1 to make the kernel ask, then the neighbour
#             entry must be REACHABLE, STALE, DELAY or PROBE, so a gateway
#             that drops ICMP still counts
#   dns       name resolution on its own: the names among source_host and
#             the report URL's host resolve (getent hosts, what every
#             program uses), retried with the checks; if not, "DNS broken"
#             with the servers it tried (resolvectl dns, else
#             /etc/resolv.conf). Not a link's failure: DHCP would not fix
#             the servers that were handed over, and switching a static
#             link on a network without DHCP loses the machine
#   source    boot.json's source_host accepts a TCP connection on
#             source_port (a refusal counts too: the host answered);
#             skipped when its name does not resolve
#   check     all three, retried every 2 s for at most WAIT s (30)
#   fallback  for each link whose own check failed (its gateway did not
#             answer, or the source did not answer through it) and whose
#             unit has static addresses: a unit
#             addresses: a unit 09-nixos-kexec-fallback-<name>.network
#             09-nixos-kexec-fallback-<name>.network
#             (sorts before the handed-over one, so networkd takes it)
#             with the same [Match] and [Link], the same [Network] without
#             addresses and gateways, and DHCP=yes, IPv6AcceptRA=yes; then
#             networkctl reload and reconfigure
#   settle    until networkd has configured those links (DHCP done),
#   check     then the gateways DHCP/RA gave and the source, for at most
#             FALLBACK s (45) from the reconfiguration in all
#   result    pass, or fail: then the handed-over units are put back (a
#             slow switch port may still bring them up) and nothing more is
#             done; boot --revert-after's safety net (revert.sh) brings the
#             old system back
# At worst about 110 s (each bound can be overrun by one round of checks,
# up to 6 s); a --revert-after shorter than about 2 min can reboot before
# the fallback had its chance.
#
# Bash (for /dev/tcp). Needs ip (iproute2), ping (iputils), networkctl,
# timeout, awk. nix/module.nix runs it from the unit nixos-kexec-selftest,
# after systemd-networkd and the handoff unit, when boot.json exists; the e2e
# stand-in second system runs the same file (tests/e2e/journey/second/).
# Environment:
#   NIXOS_KEXEC_HANDOFF            the handoff tree (default /run/nixos-kexec/handoff)
#   NIXOS_KEXEC_REPORT             report.sh (default: beside this script)
#   NIXOS_KEXEC_SELFTEST_SETTLE    the bounds above, in seconds
#   NIXOS_KEXEC_SELFTEST_WAIT
#   NIXOS_KEXEC_SELFTEST_FALLBACK
#   NIXOS_KEXEC_UNITS, NIXOS_KEXEC_NETIF  networkd's unit and state
#                                  directories (tests)
set -u
shopt -s nullglob

h=${NIXOS_KEXEC_HANDOFF:-/run/nixos-kexec/handoff}
report=${NIXOS_KEXEC_REPORT:-$(dirname "$0")/report.sh}
settle_s=${NIXOS_KEXEC_SELFTEST_SETTLE:-20}
wait_s=${NIXOS_KEXEC_SELFTEST_WAIT:-30}
fallback_s=${NIXOS_KEXEC_SELFTEST_FALLBACK:-45}
me="nixos-kexec self-test"
# Where stage 2 put the handed-over units, and networkd's record of which
# unit each link uses and how far it got (what networkctl reads).
units=${NIXOS_KEXEC_UNITS:-/run/systemd/network}
netif=${NIXOS_KEXEC_NETIF:-/run/systemd/netif/links}

# Seconds on the monotonic clock (a clock step must not stretch a bound).
uptime_s() {
	local u
	read -r u _ </proc/uptime
	echo "${u%%.*}"
}
T0=$(uptime_s)
elapsed() { echo $(($(uptime_s) - T0)); }

# step NAME RESULT DETAIL: one line on the console; kept for the collector.
STEPS=()
step() {
	echo "$me: $1 $2: $3"
	STEPS+=("$(date +%s)"$'\t'"$1"$'\t'"$2"$'\t'"$3")
}

# join ITEM...: the items separated by ", ".
join() {
	local out
	out=$(printf '%s, ' "$@")
	echo "${out%, }"
}

# Posts the steps, in order, when boot.json asks for reports. After a
# failure only the result: each post to an unreachable collector costs
# report.sh's timeouts.
post_steps() {
	local ok=$1 s t name result detail
	grep -q '"report":"https://' "$h/boot.json" 2>/dev/null || return 0
	[ -f "$report" ] || return 0
	for s in "${STEPS[@]}"; do
		IFS=$'\t' read -r t name result detail <<<"$s"
		[ "$ok" = 1 ] || [ "$name" = result ] || continue
		NIXOS_KEXEC_REPORT_TRIES=$([ "$ok" = 1 ] && echo 3 || echo 1) \
			sh "$report" selftest "$name" "$result" "$detail" "$t" >/dev/null 2>&1 || true
	done
}

# finish pass|fail: posts the steps and exits 0 or 1.
finish() {
	if [ "$1" = pass ]; then
		post_steps 1
		exit 0
	fi
	post_steps 0
	exit 1
}

json=$(cat "$h/boot.json" 2>/dev/null || true)
src_host=$(printf '%s\n' "$json" | sed -n 's/.*"source_host":"\([^"\\]*\)".*/\1/p' | head -n 1)
src_port=$(printf '%s\n' "$json" | sed -n 's/.*"source_port":\([0-9][0-9]*\).*/\1/p' | head -n 1)
case $src_host in
*[!A-Za-z0-9.:-]* | "") src_host= ;; # a host name or an IP literal, nothing else
esac
report_host=$(printf '%s\n' "$json" | sed -n 's/.*"report":"https:\/\/\([A-Za-z0-9.-]*\).*/\1/p' | head -n 1)

# The names to resolve: the source host and the collector's, when they are
# names (an IP literal tests nothing).
NAMES=()
for n in "$src_host" "$report_host"; do
	case $n in "" | *:* | *[!0-9.]*) ;; *) continue ;; esac
	case $n in "" | *:*) continue ;; esac
	case " ${NAMES[*]-} " in *" $n "*) continue ;; esac
	NAMES+=("$n")
done

# --- networkd's view ---------------------------------------------------------

# scan: which unit each link uses and how far networkd got with it, into
# LINK_UNIT[unit file name]=ifname, LINK_STATE[ifname]=ADMIN_STATE and
# LINK_OPER[ifname]=OPER_STATE. Shell built-ins only: it runs every second
# while the system boots, when each process started is slow (the e2e's TCG
# guest).
declare -A LINK_UNIT LINK_STATE LINK_OPER
scan() {
	local d f idx k v unit state oper name
	declare -A names=()
	LINK_UNIT=() LINK_STATE=() LINK_OPER=()
	for d in /sys/class/net/*/ifindex; do
		read -r idx <"$d" 2>/dev/null || continue
		name=${d%/ifindex}
		names[$idx]=${name##*/}
	done
	for f in "$netif"/*; do
		idx=${f##*/} unit='' state='' oper=''
		[ -n "${names[$idx]:-}" ] || continue
		while IFS='=' read -r k v; do
			case $k in
			NETWORK_FILE) unit=$v ;;
			ADMIN_STATE) state=$v ;;
			OPER_STATE) oper=$v ;;
			esac
		done <"$f" 2>/dev/null
		[[ $unit == "$units"/* ]] || continue
		# A unit that matches several links is tested on the first.
		[ -n "${LINK_UNIT[${unit##*/}]:-}" ] || LINK_UNIT[${unit##*/}]=${names[$idx]}
		LINK_STATE[${names[$idx]}]=${state:-unknown}
		LINK_OPER[${names[$idx]}]=${oper:-unknown}
	done
}

# ready MODE UNIT IFNAME: networkd is done with the link (configured, or
# it gave up). With MODE early also once the link is routable, or, for a
# unit without addresses (a bond's port, a VLAN's parent), has a carrier:
# networkd calls a link configured only once IPv6 router solicitation has
# timed out (12 s) on a network without router advertisements, while the
# addresses the checks need are there much sooner. Not after the fallback:
# the old static addresses can make a link routable before DHCP is done.
declare -A L3
ready() {
	case ${LINK_STATE[$3]} in configured | failed | unmanaged | linger) return 0 ;; esac
	[ "$1" = early ] || return 1
	case ${LINK_OPER[$3]} in
	routable) return 0 ;;
	enslaved | carrier | degraded) [ -z "${L3[$2]:-}" ] ;;
	*) return 1 ;;
	esac
}

# settle MODE BOUND UNIT...: waits until each unit (a file name under
# $units) is in use by a link and every such link is ready. Prints
# "settle ok|fail" with what is missing.
settle() {
	local mode=$1 bound=$2 end w name pending=() ok=()
	shift 2
	for w in "$@"; do
		if grep -qE '^(Address|Gateway|DHCP|IPv6AcceptRA)=' "$units/$w" 2>/dev/null; then
			L3[$w]=1
		fi
	done
	end=$(($(elapsed) + bound))
	while :; do
		scan
		pending=() ok=()
		for w in "$@"; do
			name=${LINK_UNIT[$w]:-}
			if [ -z "$name" ]; then
				pending+=("$w matches no link")
			elif ! ready "$mode" "$w" "$name"; then
				pending+=("$name ${LINK_OPER[$name]}/${LINK_STATE[$name]} with $w")
			else
				ok+=("$name ${LINK_OPER[$name]}/${LINK_STATE[$name]} with $w")
			fi
		done
		[ ${#pending[@]} -eq 0 ] && break
		[ "$(elapsed)" -lt "$end" ] || break
		sleep 1
	done
	if [ ${#pending[@]} -eq 0 ]; then
		step settle ok "$(join "${ok[@]}") ($(elapsed) s)"
	else
		step settle fail "not ready after $bound s: $(join "${pending[@]}")"
	fi
}

# --- what the units say ------------------------------------------------------

# The default gateways of a .network unit, one a line: [Network] Gateway=,
# and [Route] sections whose Destination= is absent or a /0.
unit_gateways() {
	awk -F= '
		function flush() { if (sec == "[Route]" && gw != "" && (dst == "" || dst ~ /\/0$/)) print gw; gw = dst = "" }
		/^\[/ { flush(); sec = $0; next }
		sec == "[Network]" && $1 == "Gateway" && $2 !~ /^_/ { print $2 }
		sec == "[Route]" && $1 == "Gateway" && $2 !~ /^_/ { gw = $2 }
		sec == "[Route]" && $1 == "Destination" { dst = $2 }
		END { flush() }' "$1"
}

unit_has_address() {
	grep -q '^Address=' "$1"
}

# The default gateways the kernel has on IFNAME (from DHCP or RA).
kernel_gateways() {
	{
		ip -4 route show default dev "$1" 2>/dev/null
		ip -6 route show default dev "$1" 2>/dev/null
	} | awk '{ for (i = 1; i < NF; i++) if ($i == "via") print $(i + 1) }' | sort -u
}

# --- the checks --------------------------------------------------------------

# gateway_answers IFNAME GW: sets WHY to the neighbour state.
gateway_answers() {
	local dev=$1 gw=$2 fam=-4 state
	case $gw in *:*) fam=-6 ;; esac
	# Makes the kernel resolve the gateway; the echo reply itself may
	# never come (ICMP filtered), the ARP/ND answer is what counts.
	ping "$fam" -c 1 -W 1 -I "$dev" "$gw" >/dev/null 2>&1
	state=$(ip "$fam" neigh show to "$gw" dev "$dev" 2>/dev/null | awk 'NR == 1 { print $NF }')
	WHY=${state:-no neighbour entry}
	case $state in REACHABLE | STALE | DELAY | PROBE | PERMANENT | NOARP) return 0 ;; esac
	return 1
}

# dns_servers: the servers the resolver uses, "a, b", or "none found".
dns_servers() {
	local out
	if out=$(timeout 5 resolvectl dns 2>/dev/null) && [ -n "$out" ]; then
		out=$(printf '%s\n' "$out" | sed 's/^[^:]*://' | tr ' ' '\n' | awk 'NF && !seen[$0]++' | paste -sd, - | sed 's/,/, /g')
	else
		out=$(awk '$1 == "nameserver" && !seen[$2]++ { print $2 }' /etc/resolv.conf 2>/dev/null | paste -sd, - | sed 's/,/, /g')
	fi
	echo "${out:-none found}"
}

# names_resolve: every name in NAMES resolves; sets WHY (the ones that do
# not) and SRC_RESOLVES (0 when the source host is among them).
names_resolve() {
	local n bad=()
	SRC_RESOLVES=1
	for n in "${NAMES[@]}"; do
		if ! timeout 10 getent hosts "$n" >/dev/null 2>&1; then
			bad+=("$n")
			[ "$n" != "$src_host" ] || SRC_RESOLVES=0
		fi
	done
	WHY=$(join "${bad[@]+"${bad[@]}"}")
	[ ${#bad[@]} -eq 0 ]
}

# source_answers: sets WHY.
source_answers() {
	local out rc
	# shellcheck disable=SC2016 # expanded by the inner bash
	out=$(timeout 5 "${BASH:-bash}" -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$src_host" "$src_port" 2>&1)
	rc=$?
	out=$(printf '%s' "$out" | tail -n 1 | sed 's/^.*: //')
	if [ "$rc" -eq 0 ]; then
		WHY="accepts TCP"
		return 0
	fi
	case $out in
	*refused*)
		WHY="refused the connection, so it was reached"
		return 0
		;;
	esac
	[ "$rc" -ne 124 ] || out="no answer in 5 s"
	WHY="no TCP connection: ${out:-exit $rc}"
	return 1
}

# check BOUND LABEL: the gateways in GW_DEV/GW_ADDR and the source, every
# 2 s until all answer or BOUND s pass; prints each one's last result.
# Sets FAILED_DEVS (links of gateways that did not answer) and SOURCE_OK.
check() {
	local bound=$1 label=$2 end i all gw_why=() src_why="" dns_why=""
	end=$(($(elapsed) + bound))
	while :; do
		all=1
		FAILED_DEVS=()
		DNS_OK=1 SRC_RESOLVES=1
		if [ ${#NAMES[@]} -gt 0 ] && ! names_resolve; then
			DNS_OK=0 dns_why=$WHY
			all=0
		fi
		for i in "${!GW_ADDR[@]}"; do
			if gateway_answers "${GW_DEV[$i]}" "${GW_ADDR[$i]}"; then
				gw_why[i]="ok:$WHY"
			else
				gw_why[i]="fail:$WHY"
				FAILED_DEVS+=("${GW_DEV[$i]}")
				all=0
			fi
		done
		SOURCE_OK=1
		if [ "$SRC_RESOLVES" = 0 ]; then
			src_why="skip:"
		elif [ -n "$src_host" ] && [ -n "$src_port" ]; then
			if source_answers; then
				src_why="ok:$WHY"
			else
				src_why="fail:$WHY"
				SOURCE_OK=0
				all=0
			fi
		fi
		[ "$all" = 1 ] && break
		[ "$(elapsed)" -lt "$end" ] || break
		sleep 2
	done
	for i in "${!GW_ADDR[@]}"; do
		case ${gw_why[$i]} in
		ok:*) step gateway ok "${GW_ADDR[$i]} on ${GW_DEV[$i]} answers (${gw_why[$i]#ok:})" ;;
		*) step gateway fail "${GW_ADDR[$i]} on ${GW_DEV[$i]}: no ARP/ND answer within $bound s (${gw_why[$i]#fail:})" ;;
		esac
	done
	if [ ${#GW_ADDR[@]} -eq 0 ]; then
		step gateway skip "no default gateway $label"
	fi
	if [ ${#NAMES[@]} -eq 0 ]; then
		step dns skip "no name to resolve (the source and the collector are addresses, or none)"
	elif [ "$DNS_OK" = 1 ]; then
		step dns ok "$(join "${NAMES[@]}") resolve"
	else
		step dns fail "DNS broken: $dns_why does not resolve within $bound s (servers tried: $(dns_servers))"
	fi
	if [ -z "$src_host" ] || [ -z "$src_port" ]; then
		step source skip "boot.json names no source host (a local bundle)"
	else
		case $src_why in
		skip:*) step source skip "$src_host:$src_port not checked: its name does not resolve" ;;
		ok:*) step source ok "$src_host:$src_port ${src_why#ok:}" ;;
		*) step source fail "$src_host:$src_port: ${src_why#fail:} (for $bound s)" ;;
		esac
	fi
	[ "$all" = 1 ]
}

# --- the fallback ------------------------------------------------------------

# fallback_unit UNIT: the unit with DHCP/RA instead of static addressing.
fallback_unit() {
	awk -v note="# nixos-kexec self-test: DHCP/RA instead of ${1##*/}, whose network did not work" '
		BEGIN { print note }
		/^[ \t]*(#|$)/ { next }
		/^\[/ {
			sec = $0
			if (sec == "[Match]" || sec == "[Link]" || sec == "[Network]")
				printf "%s%s\n", (n++ ? "\n" : ""), sec
			if (sec == "[Network]") { print "DHCP=yes"; print "IPv6AcceptRA=yes"; net = 1 }
			next
		}
		sec == "[Match]" || sec == "[Link]" { print; next }
		sec == "[Network]" && $0 !~ /^(Address|Gateway|DHCP|IPv6AcceptRA)=/ { print }
		END { if (!net) { print ""; print "[Network]"; print "DHCP=yes"; print "IPv6AcceptRA=yes" } }' "$1"
}

reconfigure() {
	networkctl reload >/dev/null 2>&1 || true
	[ $# -eq 0 ] || networkctl reconfigure "$@" >/dev/null 2>&1 || true
}

# =============================================================================

mapfile -t HANDED < <(cd "$units" 2>/dev/null && ls -1 10-nixos-kexec-*.network 2>/dev/null)
if [ ${#HANDED[@]} -eq 0 ]; then
	step result ok "no network unit was handed over; nothing to test"
	finish pass
fi

# A bridge with STP forwards nothing for twice its forward delay.
extra=0
for f in "$units"/10-nixos-kexec-*.netdev; do
	grep -q '^STP=yes' "$f" || continue
	fd=$(sed -n 's/^ForwardDelaySec=\([0-9]*\)ms$/\1/p' "$f" | head -n 1)
	fd=$(((${fd:-15000} + 999) / 1000))
	[ $((2 * fd)) -le "$extra" ] || extra=$((2 * fd))
done

settle early $((settle_s + extra)) "${HANDED[@]}"

# Gateways per link, from the units as handed over.
GW_DEV=() GW_ADDR=()
STATIC=() # links whose unit has static addresses: the fallback's candidates
scan
for u in "${HANDED[@]}"; do
	dev=${LINK_UNIT[$u]:-}
	[ -n "$dev" ] || continue
	unit_has_address "$units/$u" && STATIC+=("$dev:$u")
	while IFS= read -r gw; do
		[ -n "$gw" ] || continue
		GW_DEV+=("$dev")
		GW_ADDR+=("$gw")
	done < <(unit_gateways "$units/$u")
done

if [ ${#GW_ADDR[@]} -eq 0 ] && [ -z "$src_host" ] && [ ${#NAMES[@]} -eq 0 ]; then
	step result ok "nothing to check: no default gateway in the handed-over units, no source host"
	finish pass
fi
if check "$wait_s" "in the handed-over units"; then
	step result ok "the handed-over network works ($(elapsed) s)"
	finish pass
fi

# Which links fall back: only those whose own check failed. Those whose
# gateway did not answer; when the source did not, the link the kernel
# routes it through. A name that does not resolve is no link's failure.
affected=("${FAILED_DEVS[@]+"${FAILED_DEVS[@]}"}")
if [ "$SOURCE_OK" = 0 ] && [ ${#affected[@]} -eq 0 ]; then
	addr=$src_host # an IP literal, or a name that resolved (else SOURCE_OK is 1)
	case $src_host in *:*) ;; *[!0-9.]*) addr=$(getent hosts "$src_host" 2>/dev/null | awk 'NR == 1 { print $1 }') ;; esac
	dev=$(ip route get "$addr" 2>/dev/null |
		awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')
	[ -z "$dev" ] || affected=("$dev")
fi
if [ ${#affected[@]} -eq 0 ] && [ "$SOURCE_OK" = 1 ]; then
	# Every link's own checks passed: only DNS failed.
	step result ok "the handed-over network works, but DNS is broken: no link switched to DHCP/RA ($(elapsed) s)"
	finish pass
fi
switch=() switched_units=() fallback_units=()
for s in "${STATIC[@]+"${STATIC[@]}"}"; do
	dev=${s%%:*} u=${s#*:}
	case " ${affected[*]} " in *" $dev "*) ;; *) continue ;; esac
	fb=09-nixos-kexec-fallback-${u#10-nixos-kexec-}
	# 0644 and renamed into place, as stage 2 installs units: networkd
	# skips a unit it cannot read and must never see half of one.
	if ! { fallback_unit "$units/$u" >"$units/.$fb.tmp" && chmod 0644 "$units/.$fb.tmp" &&
		mv -f "$units/.$fb.tmp" "$units/$fb"; }; then
		rm -f "$units/.$fb.tmp"
		continue
	fi
	switch+=("$dev")
	switched_units+=("$u")
	fallback_units+=("$fb")
done
if [ ${#switch[@]} -eq 0 ]; then
	step fallback skip "no link with static addresses to switch to DHCP/RA (${affected[*]:-none found})"
	step result fail "the network does not work; leaving it to the safety net (boot --revert-after)"
	finish fail
fi
step fallback ok "$(join "${switch[@]}"): DHCP/RA ($(join "${fallback_units[@]}")) instead of $(join "${switched_units[@]}")"
reconfigure "${switch[@]}"
t_fb=$(elapsed)

want=()
for fb in "${fallback_units[@]}"; do want+=("$fb"); done
settle strict "$fallback_s" "${want[@]}"

# Now the gateways DHCP and RA gave.
GW_DEV=() GW_ADDR=()
for dev in "${switch[@]}"; do
	while IFS= read -r gw; do
		[ -n "$gw" ] || continue
		GW_DEV+=("$dev")
		GW_ADDR+=("$gw")
	done < <(kernel_gateways "$dev")
done
left=$((fallback_s - ($(elapsed) - t_fb)))
[ "$left" -ge 5 ] || left=5
if check "$left" "from DHCP/RA on ${switch[*]}"; then
	step result ok "the network works after the fallback to DHCP/RA on ${switch[*]} ($(elapsed) s)"
	finish pass
fi
if [ ${#FAILED_DEVS[@]} -eq 0 ] && [ "$SOURCE_OK" = 1 ]; then
	step result ok "the network works after the fallback to DHCP/RA on ${switch[*]}, but DNS is broken ($(elapsed) s)"
	finish pass
fi

# Nothing works. The handed-over units go back: they may still come up (a
# switch port slow to forward), and DHCP/RA did not help.
for fb in "${fallback_units[@]}"; do rm -f "$units/$fb"; done
reconfigure "${switch[@]}"
step result fail "the network works neither as handed over nor with DHCP/RA on ${switch[*]}; the handed-over units are back; leaving it to the safety net (boot --revert-after) ($(elapsed) s)"
finish fail
