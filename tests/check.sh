#!/usr/bin/env bash
# make check's driver: every layer, in two streams on the two cores, then a
# table of each layer's wall time.
#
#   MAKE=make B=build tests/check.sh
#
# The journey (one or two TCG VMs at a time, about half of the whole time)
# runs in the background; the CPU layers and the busybox e2e scenarios run
# one after the other in the foreground meanwhile. A new layer (say another
# e2e runner's make target) goes into whichever list ends sooner:
# BACKGROUND or FOREGROUND below.
#
# The order is set by what is slow on a cold machine: the packages first
# (prerequisites); then the static build (the first foreground layer, at
# full priority) and the journey's VM images (the first background layer)
# side by side, as each is mostly one process; the journey starts when
# both are there. While the foreground runs, the journey runs one scenario
# at a time; once the foreground is done and a core is free, two
# (NK_CHECK_JOURNEY_JOBS; the runner reads NK_JOURNEY_JOBS_FILE).
#
# Each layer's output goes to $B/check/<layer>.log and is printed as one
# block when the layer ends (the background layers' at the end), so the
# streams never interleave; while the journey runs, the foreground layers
# after the static build run at nice 10 (NK_CHECK_FG_NICE), as its VMs
# have boot deadlines and they do not. NK_CHECK_SERIAL=1 runs everything
# in the foreground, one layer after the other (the old order; for
# comparing timings). No two layers build the same thing at once: the
# packages and the build come first, the static build before any layer
# that needs it.
# Exit status: 0 if every layer passed; 130 on INT or TERM, which stop
# both streams at once (each layer runs in a process group of its own).
set -euo pipefail

MAKE=${MAKE:-make}
B=${B:-build}
OUT=$B/check
FOREGROUND=(static test check-san check-valgrind check-fuzz nixparse check-static e2e-busybox e2e-arm64)
BACKGROUND=(journey-images journey)
# The background layers that need the static build wait for its result.
NEEDS_STATIC=" journey "
BG_PID="" FG_PID=""
LAYERS=() RESULTS=() WALLS=()

cleanup() {
	# Each stream's process group (make, the runners; the runners' traps
	# stop their VMs and servers).
	local p
	for p in "$FG_PID" "$BG_PID"; do
		[ -z "$p" ] || kill -TERM -- "-$p" 2>/dev/null || true
	done
	for p in "$FG_PID" "$BG_PID"; do
		[ -z "$p" ] || wait "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
mins() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 60 }'; }

# layer NAME [TARGET...]: makes TARGETs (default: NAME) into NAME's log;
# leaves the exit status, start and end in $OUT/NAME.result. LAYER_NICE
# (set for the foreground stream while the journey runs) lowers its
# priority: the journey's TCG VMs have boot deadlines, the CPU layers
# only take longer.
layer() {
	local name=$1 t0 rc=0
	shift
	[ $# -gt 0 ] || set -- "$name"
	t0=$(now)
	nice -n "${LAYER_NICE:-0}" $MAKE --no-print-directory B="$B" "$@" >"$OUT/$name.log" 2>&1 || rc=$?
	echo "$rc $t0 $(now)" >"$OUT/$name.result"
	return "$rc"
}

# layer's arguments, in the foreground stream: in a process group of its
# own (stopped as one by cleanup), waited for with wait, as bash runs a
# trap only after a foreground command ends: INT or TERM would otherwise
# wait for the whole layer. No layer reads the terminal (a process group
# that is not the terminal's would be stopped by it).
fg_layer() {
	set -m
	layer "$@" </dev/null &
	FG_PID=$!
	set +m
	wait "$FG_PID" || true
	FG_PID=""
}

# Records layer NAME's result and wall time and prints its output block;
# fails if the layer failed.
report() {
	local name=$1 rc t0 t1 res=PASS
	read -r rc t0 t1 <"$OUT/$name.result"
	[ "$rc" -eq 0 ] || res="FAIL (exit $rc)"
	LAYERS+=("$name") RESULTS+=("$res") WALLS+=("$(mins "$t0" "$t1")")
	echo "==== make check: $name: $res, $(mins "$t0" "$t1") min ===="
	cat "$OUT/$name.log"
	echo "==== end of $name ===="
	[ "$rc" -eq 0 ]
}

main() {
	local t_all l i fail=0 fg=("${FOREGROUND[@]}") bg=("${BACKGROUND[@]}")
	mkdir -p "$OUT"
	rm -f "$OUT"/*.result
	t_all=$(now)
	fg_layer prerequisites all test-deps "$B/.deps-journey" "$B/.deps-arm64"
	report prerequisites || return 1
	echo 1 >"$OUT/journey.jobs"
	NK_JOURNEY_JOBS_FILE=$(cd "$OUT" && pwd)/journey.jobs
	export NK_JOURNEY_JOBS_FILE
	if [ "${NK_CHECK_SERIAL:-0}" = 1 ]; then
		fg+=("${bg[@]}")
		bg=()
	fi
	if [ ${#bg[@]} -gt 0 ]; then
		# A process group of its own (set -m), to be stopped as one.
		set -m
		(for l in "${bg[@]}"; do
			if [[ $NEEDS_STATIC == *" $l "* ]]; then
				until [ -e "$OUT/static.result" ]; do sleep 0.2; done
			fi
			layer "$l" || true
		done) </dev/null &
		BG_PID=$!
		set +m
		echo "make check: ${bg[*]} run(s) alongside (shown at the end; logs in $OUT/)"
	fi
	for l in "${fg[@]}"; do
		LAYER_NICE=$([ -n "$BG_PID" ] && [ "$l" != static ] && echo "${NK_CHECK_FG_NICE:-10}" || echo 0) \
			fg_layer "$l"
		report "$l" || fail=1
	done
	# A core is free now: the journey may run two scenarios at once.
	echo "${NK_CHECK_JOURNEY_JOBS:-2}" >"$OUT/journey.jobs"
	if [ -n "$BG_PID" ]; then
		wait "$BG_PID" || true
		BG_PID=""
		for l in "${bg[@]}"; do report "$l" || fail=1; done
	fi
	echo "make check: wall time per layer ($([ ${#bg[@]} -gt 0 ] && echo "${bg[*]} alongside the others" || echo "one after the other"))"
	for i in "${!LAYERS[@]}"; do
		printf '  %-15s %6s min  %s\n' "${LAYERS[i]}" "${WALLS[i]}" "${RESULTS[i]}"
	done
	printf '  %-15s %6s min\n' total "$(mins "$t_all" "$(now)")"
	[ "$fail" -eq 0 ]
}

main "$@"
