# shellcheck shell=bash
# wan.sh: the WAN part of `make bench WAN=1`, sourced by tests/bench/run.sh
# (it uses run.sh's helpers: die, note, median, div, fmt, json_str,
# json_list, random_file, sub_s, ...). Needs root (network namespaces).
#
# The path users fetch over (a VM in one region, the bundle in another)
# is emulated on this machine: three network namespaces, a client and a
# server joined through a middle one by two veth pairs,
#
#   client 198.51.100.1 [c0]--[mc] middle: linkem [ms]--[s0] 198.51.100.2 server
#
# with documentation addresses (RFC 5737) that exist only inside them.
# linkem (tests/bench/linkem.c, built here) bridges mc and ms in user
# space and applies per direction random loss, a rate limit with a queue
# of one round trip at that rate (tail drop), and a delay. The senders'
# veths have gso_max_segs 1 so that each frame is one segment and a loss
# hits one. nginx serves the bundle in the server namespace; each
# namespace runs reno or bbr (net.ipv4.tcp_congestion_control).
#
# Profiles (rate, round trip, loss each way):
#   clean   200 Mbit/s, 20 ms, 0 %
#   lossy   1 Gbit/s,   80 ms, 0.5 %
# Contenders, alternating in each round:
#   agent   nixos-kexec fetch URL -o DIR (its default connections)
#   curl    curl, the four files one after another (one connection)
#   aria2c  aria2c -x8 -s8 -i LIST -d DIR (the four files)
#
# Environment: WAN_ROUNDS (3), WAN_SIZE (MiB, 512), WAN_PROFILES ("clean
# lossy"), WAN_CC ("reno bbr"), WAN_CONTENDERS ("agent curl aria2c"),
# WAN_AGENT_ARGS (extra agent options, e.g. "--connections 16"),
# WAN_OUT ($B/bench/wan.json). A full run takes one to two hours: curl
# over lossy reno is loss-bound near 0.35 MB/s (25 min for 512 MiB);
# WAN_SIZE=128 WAN_ROUNDS=1 is a 15-minute look.

WAN_NET=198.51.100
WAN_CLI_IP=$WAN_NET.1
WAN_SRV_IP=$WAN_NET.2
WAN_TCP_PAYLOAD=1448 # MSS with TCP timestamps at MTU 1500
WAN_FRAME_BYTES=1514 # its Ethernet frame, what linkem's rate counts
declare -A WAN_RATE_MBIT=([clean]=200 [lossy]=1000)
declare -A WAN_RTT_MS=([clean]=20 [lossy]=80)
declare -A WAN_LOSS_PCT=([clean]=0 [lossy]=0.5)
WAN_TARGET_ARIA=1.00   # agent / aria2c, every profile and congestion control
WAN_TARGET_RENO=6      # curl / agent on lossy reno, at least
WAN_TARGET_RSS_MIB=16

wan_ns() { ip netns exec "$WAN_NS-$1" "${@:2}"; }

wan_check() {
	[ "$(id -u)" = 0 ] || die "WAN=1 needs root (network namespaces)"
	command -v aria2c >/dev/null || die "aria2c missing; run tools/install-deps.sh test (as root)"
	command -v ip >/dev/null || die "ip missing (iproute2)"
	WAN_ROUNDS=${WAN_ROUNDS:-3}
	WAN_SIZE=${WAN_SIZE:-512}
	WAN_PROFILES=${WAN_PROFILES:-clean lossy}
	WAN_CC=${WAN_CC:-reno bbr}
	WAN_CONTENDERS=${WAN_CONTENDERS:-agent curl aria2c}
	WAN_OUT=${WAN_OUT:-$B/bench/wan.json}
	[[ $WAN_ROUNDS =~ ^[1-9][0-9]*$ ]] || die "WAN_ROUNDS=$WAN_ROUNDS: want a positive number"
	[[ $WAN_SIZE =~ ^[1-9][0-9]*$ ]] && [ "$WAN_SIZE" -ge 32 ] || die "WAN_SIZE=$WAN_SIZE: want MiB >= 32"
	local p c
	for p in $WAN_PROFILES; do
		[ -n "${WAN_RATE_MBIT[$p]:-}" ] || die "WAN_PROFILES: unknown profile '$p' (clean, lossy)"
	done
	for c in $WAN_CC; do
		grep -qw "$c" /proc/sys/net/ipv4/tcp_available_congestion_control ||
			die "WAN_CC: '$c' is not available here ($(cat /proc/sys/net/ipv4/tcp_available_congestion_control))"
	done
	for c in $WAN_CONTENDERS; do
		case $c in agent | curl | aria2c) ;; *) die "WAN_CONTENDERS: unknown '$c'" ;; esac
	done
}

# The three namespaces, the veths and the emulator's binary.
wan_topology() {
	local n
	WAN_NS=nkb$$
	for n in cli mid srv; do
		ip netns add "$WAN_NS-$n" || die "ip netns add $WAN_NS-$n"
		it_on_exit "ip netns del '$WAN_NS-$n' 2>/dev/null"
		wan_ns "$n" ip link set lo up
		wan_ns "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	done
	ip link add c0 netns "$WAN_NS-cli" type veth peer name mc netns "$WAN_NS-mid" &&
		ip link add s0 netns "$WAN_NS-srv" type veth peer name ms netns "$WAN_NS-mid" ||
		die "ip link add veth"
	wan_ns cli ip addr add "$WAN_CLI_IP/24" dev c0
	wan_ns srv ip addr add "$WAN_SRV_IP/24" dev s0
	# One segment per frame: a loss hits one segment, as on a real path.
	wan_ns cli ip link set c0 gso_max_segs 1 up &&
		wan_ns srv ip link set s0 gso_max_segs 1 up &&
		wan_ns mid ip link set mc gso_max_segs 1 promisc on up &&
		wan_ns mid ip link set ms gso_max_segs 1 promisc on up ||
		die "ip link set gso_max_segs 1 (this kernel or iproute2 cannot)"
	[ "$(wan_ns cli ip -d link show c0 | grep -o 'gso_max_segs [0-9]*')" = "gso_max_segs 1" ] ||
		die "gso_max_segs 1 did not stick on c0"
	LINKEM=$B/bench/linkem
	${CC:-cc} -O2 -Wall -Wextra -o "$LINKEM" tests/bench/linkem.c 2>"$W/linkem.build" ||
		die "building linkem: $(tail -n1 "$W/linkem.build")"
}

wan_linkem_start() { # PROFILE
	local p=$1
	WAN_STATS=$W/linkem-$p.jsonl
	: >"$WAN_STATS"
	# Not through wan_ns: $! must be linkem itself (ip netns exec execs it).
	ip netns exec "$WAN_NS-mid" "$LINKEM" --a mc --b ms --rate-mbit "${WAN_RATE_MBIT[$p]}" \
		--delay-ms "$(awk -v r="${WAN_RTT_MS[$p]}" 'BEGIN { print r / 2 }')" \
		--loss "${WAN_LOSS_PCT[$p]}" --seed 15 --stats "$WAN_STATS" 2>"$W/linkem-$p.log" &
	LINKEM_PID=$!
	IT_PIDS+=("$LINKEM_PID")
	sleep 0.3
	kill -0 "$LINKEM_PID" 2>/dev/null || die "linkem did not start: $(cat "$W/linkem-$p.log")"
}

wan_linkem_stop() {
	it__kill "$LINKEM_PID"
	it__forget_pid "$LINKEM_PID"
}

# linkem's counters now, as "t up(seen bytes lost qdrop full sent) down(...)".
wan_counters() {
	local n
	n=$(wc -l <"$WAN_STATS")
	kill -USR1 "$LINKEM_PID"
	for _ in $(seq 100); do
		[ "$(wc -l <"$WAN_STATS")" -gt "$n" ] && break
		sleep 0.02
	done
	tail -n1 "$WAN_STATS" | sed 's/[^0-9.]\+/ /g; s/^ //'
}

wan_cpu_of() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; } # ticks

wan_server() {
	local ng=$T/wan/nginx
	it_make_ca "$T/wan" "IP:$WAN_SRV_IP" >/dev/null || die "WAN CA"
	mkdir -p "$ng/tmp"
	it__nginx_conf "$T/wan" "$ROOT" 443 | sed "s/listen 127\.0\.0\.1:/listen $WAN_SRV_IP:/" >"$ng/nginx.conf"
	ip netns exec "$WAN_NS-srv" "${NGINX:-/usr/sbin/nginx}" -p "$ng" -e "$ng/error.log" -c "$ng/nginx.conf" \
		>"$ng/stdout" 2>&1 &
	WAN_NGINX_PID=$!
	IT_PIDS+=("$WAN_NGINX_PID")
	WAN_URL=https://$WAN_SRV_IP
}

wan_set_cc() { # CC: the sender (server) decides; the client too, for its requests
	wan_ns srv sysctl -qw net.ipv4.tcp_congestion_control="$1" &&
		wan_ns cli sysctl -qw net.ipv4.tcp_congestion_control="$1" ||
		die "net.ipv4.tcp_congestion_control=$1 refused in a namespace"
}

# One sample of one contender: SEC CPU RSS set, output checked.
wan_run() { # CONTENDER
	local c=$1 out=$D/wan t0 t1 rc f
	rm -rf "$out" "$out".partial-*
	case $c in
	agent)
		t0=$EPOCHREALTIME
		# shellcheck disable=SC2086 # WAN_AGENT_ARGS splits on purpose
		/usr/bin/time -f '%U %S %M' -o "$W/wan.time" ip netns exec "$WAN_NS-cli" \
			"$NK" fetch "$WAN_URL/w$WAN_SIZE/" -p "$T/pub" --cacert "$T/wan/ca.pem" -o "$out" \
			${WAN_AGENT_ARGS:-} >"$W/wan.log" 2>&1
		rc=$?
		t1=$EPOCHREALTIME
		;;
	curl)
		mkdir -p "$out"
		set -- -sS --fail --cacert "$T/wan/ca.pem"
		for f in $FILES; do set -- "$@" -o "$out/$f" "$WAN_URL/w$WAN_SIZE/$f"; done
		t0=$EPOCHREALTIME
		/usr/bin/time -f '%U %S %M' -o "$W/wan.time" ip netns exec "$WAN_NS-cli" curl "$@" \
			>"$W/wan.log" 2>&1
		rc=$?
		t1=$EPOCHREALTIME
		;;
	aria2c)
		mkdir -p "$out"
		for f in $FILES; do echo "$WAN_URL/w$WAN_SIZE/$f"; done >"$W/aria2.list"
		t0=$EPOCHREALTIME
		/usr/bin/time -f '%U %S %M' -o "$W/wan.time" ip netns exec "$WAN_NS-cli" aria2c -x8 -s8 \
			-q --ca-certificate="$T/wan/ca.pem" -d "$out" -i "$W/aria2.list" \
			--allow-overwrite=true --auto-file-renaming=false >"$W/wan.log" 2>&1
		rc=$?
		t1=$EPOCHREALTIME
		rm -f "$out"/*.aria2
		;;
	esac
	[ "$rc" = 0 ] || die "WAN $c exited $rc: $(tail -n2 "$W/wan.log")"
	same_bytes "WAN $c" "$out" "w$WAN_SIZE"
	rm -rf "$out"
	SEC=$(sub_s "$t0" "$t1")
	read -r u s RSS < <(tail -n1 "$W/wan.time")
	CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
}

# Emulator counters between two wan_counters snapshots, as JSON.
wan_emu_json() { # BEFORE AFTER
	awk -v a="$1" -v b="$2" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		# fields: t, up: seen bytes lost qdrop full sent (2-7), down (8-13)
		for (d = 0; d < 2; d++) {
			o = 1 + 6 * d
			seen = y[o + 1] - x[o + 1]; lost = y[o + 3] - x[o + 3]
			qd = y[o + 4] - x[o + 4]; full = y[o + 5] - x[o + 5]
			printf "%s\"%s\":{\"frames\":%d,\"random_loss\":%d,\"queue_drop\":%d,\"ring_full\":%d,\"loss_pct\":%.3f}",
				d ? "," : "", d ? "down" : "up", seen, lost, qd, full, seen ? 100 * lost / seen : 0
		}
	}'
}

wan_bench() {
	local p cc r c i k before after mb bytes lk0 lk1 ceiling f
	local -A S CPUS RSSS
	declare -gA CEIL
	wan_check
	note "WAN: ${WAN_SIZE} MiB bundle; profiles: $WAN_PROFILES; congestion control: $WAN_CC; $WAN_ROUNDS rounds of: $WAN_CONTENDERS"
	rm -rf "$ROOT/s$WAN_SIZE"
	make_bundle "$WAN_SIZE" && mv "$ROOT/s$WAN_SIZE" "$ROOT/w$WAN_SIZE" || die "WAN bundle"
	wan_topology
	wan_server
	# nginx answers in its own namespace (the link is not up yet).
	for _ in $(seq 50); do
		wan_ns srv curl -s -o /dev/null --max-time 2 --cacert "$T/wan/ca.pem" \
			"$WAN_URL/w$WAN_SIZE/manifest" && break
		sleep 0.1
	done
	bytes=0
	for f in $FILES; do bytes=$((bytes + $(stat -c %s "$ROOT/w$WAN_SIZE/$f"))); done
	SAMPLES_JSON=
	for p in $WAN_PROFILES; do
		wan_linkem_start "$p"
		ceiling=$(awk -v r="${WAN_RATE_MBIT[$p]}" -v m="$WAN_TCP_PAYLOAD" -v f="$WAN_FRAME_BYTES" \
			'BEGIN { printf "%.0f", r * 1e6 / 8 * m / f }')
		for ((r = 1; r <= WAN_ROUNDS; r++)); do
			# shellcheck disable=SC2206 # lists
			local ccs=($WAN_CC) cons=($WAN_CONTENDERS)
			for ((k = 0; k < ${#ccs[@]}; k++)); do
				cc=${ccs[$(((k + r - 1) % ${#ccs[@]}))]}
				wan_set_cc "$cc"
				for ((i = 0; i < ${#cons[@]}; i++)); do
					c=${cons[$(((i + r - 1) % ${#cons[@]}))]}
					before=$(wan_counters)
					lk0=$(wan_cpu_of "$LINKEM_PID")
					wan_run "$c"
					lk1=$(wan_cpu_of "$LINKEM_PID")
					after=$(wan_counters)
					mb=$(awk -v b="$bytes" -v s="$SEC" 'BEGIN { printf "%.2f", b / s / 1e6 }')
					S[$p.$cc.$c]+=" $SEC"
					CPUS[$p.$cc.$c]+=" $CPU"
					RSSS[$p.$cc.$c]+=" $RSS"
					note "WAN $p $cc round $r/$WAN_ROUNDS: $c $(fmt "$SEC" %.1f) s ($mb MB/s, $(awk -v m="$mb" -v c="$ceiling" 'BEGIN { printf "%.0f", 100 * m * 1e6 / c }') % of the TCP ceiling)"
					SAMPLES_JSON+="${SAMPLES_JSON:+,}{\"profile\":\"$p\",\"cc\":\"$cc\",\"round\":$r,\"contender\":\"$c\",\"seconds\":$SEC,\"cpu_s\":$CPU,\"rss_kib\":$RSS,\"mb_per_s\":$mb,\"emulator_cpu_s\":$(awk -v a="$lk0" -v b="$lk1" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz }'),\"emulator\":{$(wan_emu_json "$before" "$after")}}"
				done
			done
		done
		wan_linkem_stop
		CEIL[$p]=$ceiling
	done
	wan_report "$bytes"
}

div_null() { if [ "$1" = null ] || [ "$2" = null ]; then echo null; else div "$1" "$2"; fi; }

# Percent of the profile's TCP ceiling a median time reached (bytes, CEIL).
wan_pct() { # SECONDS
	[ "$1" = null ] && echo null && return
	awk -v b="$bytes" -v s="$1" -v c="${CEIL[$p]}" 'BEGIN { printf "%.0f", 100 * b / s / c }'
}
wan_pct_text() { local v; v=$(wan_pct "$1"); [ "$v" = null ] && echo - || echo "$v%"; }

# A target line, and its entry in targets (wan_report's).
wan_verdict() { # NAME VALUE MET(1 or empty)
	local met=false
	[ "$2" != null ] && [ "$3" = 1 ] && met=true
	echo "$1: $([ "$2" = null ] && echo "not measured" || fmt "$2" %.2f) $([ "$met" = true ] && echo met || echo missed)"
	targets+="${targets:+,}{\"target\":$(json_str "$1"),\"value\":$2,\"met\":$met}"
}

wan_report() { # BYTES
	local bytes=$1 p cc ma mc mr ac ca rssmax=0 x x1
	local summary= targets=
	echo
	echo "WAN (emulated: linkem between network namespaces), ${WAN_SIZE} MiB bundle, medians of $WAN_ROUNDS rounds"
	echo "TCP ceiling: the rate times $WAN_TCP_PAYLOAD/$WAN_FRAME_BYTES (payload per frame)"
	printf '%-7s %-4s | %8s | %8s | %8s | %8s | %8s | %7s %7s %7s | %9s\n' profile cc "agent s" "curl s" \
		"aria2c s" agent/ari curl/agt "agent%" "curl%" "aria2c%" "RSS agent"
	for p in $WAN_PROFILES; do
		for cc in $WAN_CC; do
			# shellcheck disable=SC2086
			{
				ma=$(median ${S[$p.$cc.agent]:-}) mc=$(median ${S[$p.$cc.curl]:-}) mr=$(median ${S[$p.$cc.aria2c]:-})
			}
			ac=$(div_null "$ma" "$mr") ca=$(div_null "$mc" "$ma")
			x=0
			for x1 in ${RSSS[$p.$cc.agent]:-}; do [ "$x1" -gt "$x" ] && x=$x1; done
			[ "$x" -gt "$rssmax" ] && rssmax=$x
			printf '%-7s %-4s | %8s | %8s | %8s | %8s | %8s | %7s %7s %7s | %5s MiB\n' "$p" "$cc" \
				"$(fmt "$ma" %.1f)" "$(fmt "$mc" %.1f)" "$(fmt "$mr" %.1f)" "$(fmt "$ac" %.2f)" \
				"$(fmt "$ca" %.2f)" "$(wan_pct_text "$ma")" "$(wan_pct_text "$mc")" "$(wan_pct_text "$mr")" "$(kib_to_mib "$x")"
			summary+="${summary:+,}{\"profile\":\"$p\",\"cc\":\"$cc\",\"median_s\":{\"agent\":$ma,\"curl\":$mc,\"aria2c\":$mr},\"agent_over_aria2c\":$ac,\"curl_over_agent\":$ca,\"pct_of_tcp_ceiling\":{\"agent\":$(wan_pct "$ma"),\"curl\":$(wan_pct "$mc"),\"aria2c\":$(wan_pct "$mr")},\"agent_rss_kib_peak\":$x}"
		done
	done
	echo
	for p in $WAN_PROFILES; do
		for cc in $WAN_CC; do
			# shellcheck disable=SC2086
			ma=$(median ${S[$p.$cc.agent]:-}) mc=$(median ${S[$p.$cc.curl]:-}) mr=$(median ${S[$p.$cc.aria2c]:-})
			ac=$(div_null "$ma" "$mr") ca=$(div_null "$mc" "$ma")
			wan_verdict "$p $cc: agent <= $WAN_TARGET_ARIA x aria2c's time" "$ac" \
				"$([ "$ac" != null ] && le "$ac" "$WAN_TARGET_ARIA" && echo 1)"
			if [ "$p" = lossy ] && [ "$cc" = reno ]; then
				wan_verdict "lossy reno: agent >= $WAN_TARGET_RENO x faster than curl" "$ca" \
					"$([ "$ca" != null ] && le "$WAN_TARGET_RENO" "$ca" && echo 1)"
			fi
		done
	done
	wan_verdict "peak RSS of the agent <= $WAN_TARGET_RSS_MIB MiB (WAN)" "$(kib_to_mib "$rssmax")" \
		"$(le "$(kib_to_mib "$rssmax")" "$WAN_TARGET_RSS_MIB" && echo 1)"
	{
		printf '{"schema":"nixos-kexec-bench-wan/1","date":%s,"source":%s,"rounds":%d,"bundle_mib":%d,"bundle_bytes":%d,' \
			"$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" "$(json_str "$SRC")" "$WAN_ROUNDS" "$WAN_SIZE" "$bytes"
		printf '"setup":{"emulator":"tests/bench/linkem.c (AF_PACKET bridge in a middle namespace)","addresses":"%s/24",' "$WAN_NET.0"
		printf '"gso_max_segs":1,"queue":"one round trip at the rate, tail drop","tcp_rmem":%s,"tcp_wmem":%s,' \
			"$(json_str "$(wan_ns srv sysctl -n net.ipv4.tcp_rmem | tr "\t" " ")")" "$(json_str "$(wan_ns srv sysctl -n net.ipv4.tcp_wmem | tr "\t" " ")")"
		printf '"agent":%s,"curl":%s,"aria2c":%s,' \
			"$(json_str "nixos-kexec fetch URL -p pub --cacert ca.pem -o DIR ${WAN_AGENT_ARGS:-}")" \
			"$(json_str "curl -sS --fail --cacert ca.pem -o F URL/F ... (4 files, 1 process)")" \
			"$(json_str "aria2c -x8 -s8 -q --ca-certificate=ca.pem -d DIR -i LIST (4 files)")"
		printf '"aria2c_version":%s,"profiles":{' "$(json_str "$(aria2c --version | head -n1)")"
		local sep=
		for p in $WAN_PROFILES; do
			printf '%s"%s":{"rate_mbit":%s,"rtt_ms":%s,"loss_pct_each_way":%s,"tcp_ceiling_bytes_per_s":%s}' \
				"$sep" "$p" "${WAN_RATE_MBIT[$p]}" "${WAN_RTT_MS[$p]}" "${WAN_LOSS_PCT[$p]}" "${CEIL[$p]}"
			sep=,
		done
		printf '}},"summary":[%s],"targets":[%s],"samples":[%s]}\n' "$summary" "$targets" "$SAMPLES_JSON"
	} >"$WAN_OUT.tmp" && mv "$WAN_OUT.tmp" "$WAN_OUT" || die "writing $WAN_OUT"
	echo
	echo "WAN results: $WAN_OUT"
}
