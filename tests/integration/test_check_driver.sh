#!/usr/bin/env bash
# make check's driver (tests/check.sh) with a stand-in make: the journey
# runs alongside the other layers, every layer runs even after one fails,
# each layer's output comes as one block, the table lists every layer, and
# TERM stops the background stream. No layer really runs.
set -u
. "$(dirname "$0")/lib.sh"
IT_SUITE=check_driver
top=$(cd "$(dirname "$0")/../.." && pwd)
it_tmpdir || exit 1
T=$IT_TMP

# The stand-in: the last argument is the layer; it notes start and end
# (seconds since the epoch, with nanoseconds) and prints two lines apart.
cat >"$T/make" <<'EOF'
#!/usr/bin/env bash
for l; do :; done
l=${l##*/}
case $l in .deps-*) l=prerequisites ;; esac
echo "$l start $(date +%s.%N)" >>"$FAKE_LOG"
echo "$l line 1"
case $l in
journey)
	# The slots the journey runner would read: 1, then 2 once the
	# foreground is done (noted with the time it changed).
	echo "journey jobs $(cat "$NK_JOURNEY_JOBS_FILE")" >>"$FAKE_LOG"
	for _ in $(seq 200); do [ "$(cat "$NK_JOURNEY_JOBS_FILE")" = 2 ] && break; sleep 0.05; done
	echo "journey jobs2 $(date +%s.%N) $(cat "$NK_JOURNEY_JOBS_FILE")" >>"$FAKE_LOG"
	sleep "${FAKE_JOURNEY:-1.5}" ;;
static | journey-images | check-san)
	# FAKE_BARRIER=1: each runs until what must run beside it has
	# started (at most 10 s), so "side by side" is shown by what the
	# driver did, not by sleeps a loaded machine outlasts.
	case $l in static) w=journey-images ;; journey-images) w=static ;; *) w=journey ;; esac
	if [ "${FAKE_BARRIER:-0}" = 1 ]; then
		for _ in $(seq 100); do grep -q "^$w start" "$FAKE_LOG" && break; sleep 0.1; done
	fi
	sleep 0.2 ;;
check-fuzz) sleep 0.2; echo "$l line 2"; echo "$l end $(date +%s.%N)" >>"$FAKE_LOG"; exit 2 ;;
*) sleep 0.2 ;;
esac
echo "$l line 2"
echo "$l end $(date +%s.%N)" >>"$FAKE_LOG"
EOF
chmod +x "$T/make"

t_of() { awk -v l="$1" -v w="$2" '$1 == l && $2 == w { print $3; exit }' "$3"; }
before() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
now_s() { date +%s.%N; }

FAKE_BARRIER=1 FAKE_LOG=$T/log1 MAKE=$T/make B=$T/b bash "$top/tests/check.sh" >"$T/out1" 2>&1
rc=$?

it_case "the journey runs alongside the foreground's layers (starts before check-san ends)"
js=$(t_of journey start "$T/log1")
te=$(t_of check-san end "$T/log1")
if [ -n "$js" ] && [ -n "$te" ] && before "$js" "$te"; then it_pass; else it_fail "journey $js, check-san end $te"; fi

it_case "the static build and the VM images side by side, the journey after both"
ss=$(t_of static start "$T/log1") se=$(t_of static end "$T/log1")
is=$(t_of journey-images start "$T/log1") ie=$(t_of journey-images end "$T/log1")
if [ -n "$ss" ] && [ -n "$is" ] && before "$is" "$se" && before "$ss" "$ie" &&
	before "$se" "$js" && before "$ie" "$js"; then
	it_pass; else it_fail "static $ss-$se, images $is-$ie, journey $js"; fi

it_case "the journey runs one scenario at a time, two once the foreground is done"
j1=$(t_of journey jobs "$T/log1")
j2=$(t_of journey jobs2 "$T/log1")
ae=$(t_of e2e-arm64 end "$T/log1")
if [ "$j1" = 1 ] && [ -n "$j2" ] && [ -n "$ae" ] && before "$ae" "$j2" &&
	grep -qE '^journey jobs2 [0-9.]+ 2$' "$T/log1"; then
	it_pass; else it_fail "jobs at start '$j1', raised at '$j2', foreground's end $ae"; fi

it_case "a failing layer fails the check, and the layers after it still run"
if [ "$rc" -eq 1 ] && grep -qE '^  check-fuzz +[0-9.]+ min  FAIL \(exit 2\)$' "$T/out1" &&
	grep -q "^check-static start" "$T/log1" && grep -q "^e2e-busybox start" "$T/log1"; then
	it_pass; else it_fail "rc $rc: $(cat "$T/out1")"; fi

it_case "each layer's output is one block between its markers"
bad=$(awk '/^==== make check: / { split($4, a, ":"); cur = a[1]; next }
	/^==== end of / { cur = ""; next }
	/ line [12]$/ { if ($1 != cur) print "line of " $1 " in the block of " cur }' "$T/out1")
if [ -z "$bad" ] && [ "$(grep -c '^journey line' "$T/out1")" -eq 2 ]; then it_pass; else it_fail "$bad"; fi

it_case "the table lists every layer and the total"
n=0
for l in prerequisites static test check-san check-valgrind check-fuzz nixparse check-static e2e-busybox e2e-arm64 journey-images journey total; do
	grep -qE "^  $l +[0-9.]+ min" "$T/out1" && n=$((n + 1))
done
it_expect_eq "$n" 13

it_case "NK_CHECK_SERIAL=1: the journey after the others; all passing: exit 0"
sed -i 's/exit 2 ;;/;;/' "$T/make"
NK_CHECK_SERIAL=1 FAKE_LOG=$T/log2 MAKE=$T/make B=$T/b bash "$top/tests/check.sh" >"$T/out2" 2>&1
rc=$?
js=$(t_of journey start "$T/log2")
be=$(t_of e2e-busybox end "$T/log2")
if [ "$rc" -eq 0 ] && [ -n "$js" ] && [ -n "$be" ] && before "$be" "$js"; then
	it_pass; else it_fail "rc $rc, journey $js, e2e-busybox end $be"; fi

it_case "TERM stops the background stream"
FAKE_JOURNEY=60 FAKE_LOG=$T/log3 MAKE=$T/make B=$T/b bash "$top/tests/check.sh" >"$T/out3" 2>&1 &
cp=$!
for _ in $(seq 50); do grep -qs "^journey start" "$T/log3" && break; sleep 0.1; done
sleep 0.3
kill -TERM "$cp"
wait "$cp"
rc=$?
for _ in $(seq 50); do pgrep -f "$T/make" >/dev/null || break; sleep 0.1; done
if [ "$rc" -eq 130 ] && ! pgrep -f "$T/make" >/dev/null; then
	it_pass
else
	it_fail "rc $rc, left running: $(pgrep -af "$T/make" || true)"
	for p in $(pgrep -f "$T/make"); do kill "$p" 2>/dev/null; done
fi

it_case "TERM during a foreground layer: stops at once, that layer's make stopped too"
sed -i 's/^\*) sleep 0.2 ;;$/*) sleep "${FAKE_FG:-0.2}" ;;/' "$T/make"
NK_CHECK_SERIAL=1 FAKE_FG=60 FAKE_LOG=$T/log4 MAKE=$T/make B=$T/b bash "$top/tests/check.sh" >"$T/out4" 2>&1 &
cp=$!
for _ in $(seq 100); do grep -qs "^prerequisites start" "$T/log4" && break; sleep 0.1; done
t0=$(now_s)
kill -TERM "$cp"
wait "$cp"
rc=$?
took=$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }')
for _ in $(seq 50); do pgrep -f "$T/make" >/dev/null || break; sleep 0.1; done
if [ "$rc" -eq 130 ] && before "$took" 10 && ! pgrep -f "$T/make" >/dev/null &&
	! grep -q "^prerequisites end" "$T/log4"; then
	it_pass
else
	it_fail "rc $rc after $took s, left running: $(pgrep -af "$T/make" || true)"
	for p in $(pgrep -f "$T/make"); do kill "$p" 2>/dev/null; done
fi

it_summary
