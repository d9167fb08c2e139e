# capped: a server near by that caps each connection (nginx limit_rate on
# loopback, as object stores, CDNs and mirrors do), sourced by run.sh.
# The default agent measures how many connections help (agent/fetch/ramp.h)
# and is timed against curl (one connection) and aria2c -x8 -s8; the count
# it chose is read from its progress output.
#
# Knobs: BENCH_CAPPED (1; 0 skips, only: nothing else on loopback), CAPPED_MIB (128), CAPPED_ROUNDS (3),
# CAPPED_RATE (8m: nginx limit_rate), CAPPED_OUT ($B/bench/capped.json).
# shellcheck shell=bash

CAPPED_TARGET_CURL=0.35   # agent / curl
CAPPED_MIB=${CAPPED_MIB:-128}
CAPPED_ROUNDS=${CAPPED_ROUNDS:-3}
CAPPED_RATE=${CAPPED_RATE:-8m}
CAPPED_OUT=${CAPPED_OUT:-$B/bench/capped.json}

# One sample of one contender: SEC CPU RSS (and CONNS for the agent) set,
# the output checked byte for byte.
capped_run() { # CONTENDER
	local c=$1 out=$D/capped t0 t1 rc f
	rm -rf "$out" "$out".partial-*
	CONNS=null
	case $c in
	agent)
		t0=$EPOCHREALTIME
		/usr/bin/time -f '%U %S %M' -o "$W/capped.time" "$NK" fetch "$URL/c$CAPPED_MIB/" \
			-p "$T/pub" --cacert "$T/ca.pem" -o "$out" >"$W/capped.log" 2>&1
		rc=$?
		t1=$EPOCHREALTIME
		CONNS=$(sed -n 's/^nixos-kexec: initrd: \([0-9]*\) connections*: [0-9]* ranges split.*/\1/p' \
			"$W/capped.log" | tail -n1)
		[ -n "$CONNS" ] || CONNS=1
		;;
	curl)
		mkdir -p "$out"
		set -- -sS --fail --cacert "$T/ca.pem"
		for f in $FILES; do set -- "$@" -o "$out/$f" "$URL/c$CAPPED_MIB/$f"; done
		t0=$EPOCHREALTIME
		/usr/bin/time -f '%U %S %M' -o "$W/capped.time" curl "$@" >"$W/capped.log" 2>&1
		rc=$?
		t1=$EPOCHREALTIME
		;;
	aria2c)
		mkdir -p "$out"
		for f in $FILES; do echo "$URL/c$CAPPED_MIB/$f"; done >"$W/aria2.list"
		t0=$EPOCHREALTIME
		/usr/bin/time -f '%U %S %M' -o "$W/capped.time" aria2c -x8 -s8 -q \
			--ca-certificate="$T/ca.pem" -d "$out" -i "$W/aria2.list" \
			--allow-overwrite=true --auto-file-renaming=false >"$W/capped.log" 2>&1
		rc=$?
		t1=$EPOCHREALTIME
		rm -f "$out"/*.aria2
		;;
	esac
	[ "$rc" = 0 ] || die "capped $c exited $rc: $(tail -n2 "$W/capped.log")"
	same_bytes "capped $c" "$out" "c$CAPPED_MIB"
	rm -rf "$out"
	SEC=$(sub_s "$t0" "$t1")
	time_of "$W/capped.time"
}

capped_bench() {
	local c r n cons=(agent curl) ma mc mr rss=0 x=
	local -A S C R N
	if command -v aria2c >/dev/null; then
		cons+=(aria2c)
	else
		note "capped: aria2c missing (tools/install-deps.sh test): not timed"
	fi
	make_bundle "$CAPPED_MIB"
	mv "$ROOT/s$CAPPED_MIB" "$ROOT/c$CAPPED_MIB"
	IT_NGINX_LIMIT_RATE=$CAPPED_RATE it_start_nginx "$T" "$ROOT" >/dev/null ||
		die "nginx (limit_rate $CAPPED_RATE) did not start"
	URL=$NGINX_URL
	note "capped: $CAPPED_MIB MiB from nginx with limit_rate $CAPPED_RATE on 127.0.0.1; $CAPPED_ROUNDS rounds of: ${cons[*]}"
	cpu_snapshot
	snap0=$SNAP
	for ((r = 1; r <= CAPPED_ROUNDS; r++)); do
		for c in "${cons[@]}"; do
			capped_run "$c"
			S[$c]+=" $SEC"
			C[$c]+=" $CPU"
			R[$c]+=" $RSS"
			[ "$c" = agent ] && N[$c]+=" $CONNS" && n=$CONNS
			x+=" $c $(fmt "$SEC" %.2f) s"
		done
		note "capped round $r/$CAPPED_ROUNDS:$x (the agent ended with $n connections)"
		x=
	done
	cpu_snapshot
	foreign "$snap0" "$SNAP"
	it_stop_nginx
	rm -rf "${ROOT:?}/c$CAPPED_MIB"
	# shellcheck disable=SC2086 # the sample lists split on purpose
	{
		ma=$(median ${S[agent]}) mc=$(median ${S[curl]})
		mr=$(median ${S[aria2c]:-})
		rss=$(max ${R[agent]})
	}
	echo
	echo "capped loopback: $CAPPED_MIB MiB, nginx limit_rate $CAPPED_RATE per connection, medians of $CAPPED_ROUNDS rounds; other processes used $FOREIGN_PCT% of the machine"
	printf '%9s | %9s | %9s | %10s | %10s | %11s | %9s\n' "agent s" "curl s" "aria2c s" agent/curl \
		agent/ari "connections" "RSS agent"
	printf '%9s | %9s | %9s | %10s | %10s | %11s | %9s\n' "$(fmt "$ma" %.2f)" "$(fmt "$mc" %.2f)" \
		"$(fmt "$mr" %.2f)" "$(fmt "$(div "$ma" "$mc")" %.3f)" "$(fmt "$(div "$ma" "$mr")" %.2f)" \
		"$(echo "${N[agent]# }" | tr ' ' ,)" "$(kib_to_mib "$rss") MiB"
	TARGETS_JSON=
	target "capped: agent <= $CAPPED_TARGET_CURL x curl's time" "$(div "$ma" "$mc")" "$CAPPED_TARGET_CURL" ""
	target "capped: peak RSS of the agent <= $TARGET_RSS_MIB MiB" "$(kib_to_mib "$rss")" "$TARGET_RSS_MIB" " MiB"
	mkdir -p "$(dirname "$CAPPED_OUT")"
	# shellcheck disable=SC2086 # the sample lists split on purpose
	{
		printf '{"schema":"nixos-kexec-bench-capped/1","date":%s,"source":%s,"mib":%d,"rounds":%d,' \
			"$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" "$(json_str "$SRC")" "$CAPPED_MIB" "$CAPPED_ROUNDS"
		printf '"limit_rate":%s,"other_cpu_pct":%s,' "$(json_str "$CAPPED_RATE")" "$FOREIGN_PCT"
		printf '"median_s":{"agent":%s,"curl":%s,"aria2c":%s},' "$ma" "$mc" "$mr"
		printf '"samples_s":{"agent":%s,"curl":%s,"aria2c":%s},' "$(json_list ${S[agent]})" \
			"$(json_list ${S[curl]})" "$(json_list ${S[aria2c]:-})"
		printf '"cpu_s":{"agent":%s,"curl":%s,"aria2c":%s},' "$(json_list ${C[agent]})" \
			"$(json_list ${C[curl]})" "$(json_list ${C[aria2c]:-})"
		printf '"rss_kib":{"agent":%s,"curl":%s,"aria2c":%s},' "$(json_list ${R[agent]})" \
			"$(json_list ${R[curl]})" "$(json_list ${R[aria2c]:-})"
		printf '"agent_connections":%s,"targets":[%s]}\n' "$(json_list ${N[agent]})" "$TARGETS_JSON"
	} >"$CAPPED_OUT" || die "writing $CAPPED_OUT"
	echo "results: $CAPPED_OUT"
}
