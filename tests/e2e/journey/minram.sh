#!/usr/bin/env bash
# The smallest memory at which the journey passes (issue 22; the table in
# docs/bench.md): for each store size and each way of carrying the store,
# the journey's small-min scenario is run at -m sizes from a ladder, by
# bisection, on a QEMU cloud VM (TCG). Outside make check: about 4 minutes
# per run, three or four runs per cell.
#
#   B=build tests/e2e/journey/minram.sh [OPTIONS]
#     --sizes "100 400"             store sizes, MB (10^6 bytes)
#     --modes "inside initrd stage1" inside: the store in the initrd (a
#                                   bundle as today's images are); initrd,
#                                   stage1: the agent's --store
#     --ladder "384 512 ... 1536"   the -m values tried (MiB, ascending)
#     --jobs N                      cells at once (default 2: one VM each)
#     --out DIR                     results (default $B/minram)
#
# A cell assumes that what passes at -m M passes at every larger -m, and
# bisects the ladder: the smallest -m that passed, or "> top" when even
# the top failed, or "<= bottom". Each run's result line and reason go to
# DIR/runs (one line per run), its logs to DIR/logs/<cell>-<m>/; the table
# is printed at the end (markdown) and kept in DIR/table.md.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
B=${B:-build}
SIZES="100 400" MODES="inside initrd stage1" LADDER="384 512 640 768 896 1024 1152 1280 1536"
JOBS=2 OUT=""

die() { echo "minram: $*" >&2; exit 64; }
while [ $# -gt 0 ]; do
	case $1 in
	--sizes) SIZES=$2; shift 2 ;;
	--modes) MODES=$2; shift 2 ;;
	--ladder) LADDER=$2; shift 2 ;;
	--jobs) JOBS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (--help)" ;;
	esac
done
OUT=${OUT:-$B/minram}
for m in $MODES; do
	case $m in inside | initrd | stage1) ;; *) die "mode '$m': want inside, initrd or stage1" ;; esac
done
for v in $SIZES $LADDER $JOBS; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "'$v' is not a positive number"
done
read -r -a RUNGS <<<"$LADDER"
mkdir -p "$OUT/logs" "$OUT/cells"
: >"$OUT/runs"

# One run: PASS or FAIL (and why) for SIZE MODE MEM, appended to DIR/runs.
run() {
	local size=$1 mode=$2 mem=$3 logs=$OUT/logs/$1-$2-$3 out rc=0 t0=$SECONDS line
	out=$(NK_JOURNEY_MEM=$mem NK_SMALL_STORE_MB=$size NK_SMALL_MODE=$mode \
		NK_JOURNEY_LOGS=$logs B=$B "$HERE/run.sh" small-min 2>&1) || rc=$?
	printf '%s\n' "$out" >"$logs.out"
	line=$(grep -m1 -E '^e2e: (PASS|FAIL|SKIP) small-min' <<<"$out" || echo "e2e: FAIL small-min: no result line (exit $rc)")
	printf '%s MB %s -m %s: %s [%s s]\n' "$size" "$mode" "$mem" "${line#e2e: }" $((SECONDS - t0)) >>"$OUT/runs"
	[[ $line == "e2e: PASS"* ]]
}

# Bisects the ladder for SIZE MODE; writes the smallest passing -m (or
# "> top") to DIR/cells/SIZE-MODE.
cell() {
	local size=$1 mode=$2 lo=0 hi=$((${#RUNGS[@]} - 1)) best="" mid
	# Invariant: every rung below lo failed (or is untried at the bottom),
	# best is the smallest rung that passed so far.
	while [ "$lo" -le "$hi" ]; do
		mid=$(((lo + hi) / 2))
		if run "$size" "$mode" "${RUNGS[mid]}"; then
			best=${RUNGS[mid]}
			hi=$((mid - 1))
		else
			lo=$((mid + 1))
		fi
	done
	if [ -z "$best" ]; then
		echo "> ${RUNGS[-1]}" >"$OUT/cells/$size-$mode"
	elif [ "$best" = "${RUNGS[0]}" ]; then
		echo "<= $best" >"$OUT/cells/$size-$mode"
	else
		echo "$best" >"$OUT/cells/$size-$mode"
	fi
}

pids=()
for size in $SIZES; do
	for mode in $MODES; do
		while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 2; done
		cell "$size" "$mode" &
		pids+=("$!")
		sleep 20 # the runs' preparation (disk image, bundle) apart
	done
done
for p in "${pids[@]}"; do wait "$p" || true; done

{
	echo "| store | $(for m in $MODES; do printf '%s | ' "$m"; done)"
	echo "|---|$(for _ in $MODES; do printf -- '---|'; done)"
	for size in $SIZES; do
		printf '| %s MB |' "$size"
		for mode in $MODES; do printf ' %s MiB |' "$(cat "$OUT/cells/$size-$mode" 2>/dev/null || echo "?")"; done
		echo
	done
} >"$OUT/table.md"
cat "$OUT/runs"
echo
cat "$OUT/table.md"
