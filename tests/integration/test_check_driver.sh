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
journey) sleep "${FAKE_JOURNEY:-1.5}" ;;
check-fuzz) sleep 0.2; echo "$l line 2"; echo "$l end $(date +%s.%N)" >>"$FAKE_LOG"; exit 2 ;;
*) sleep 0.2 ;;
esac
echo "$l line 2"
echo "$l end $(date +%s.%N)" >>"$FAKE_LOG"
EOF
chmod +x "$T/make"

t_of() { awk -v l="$1" -v w="$2" '$1 == l && $2 == w { print $3; exit }' "$3"; }
before() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

FAKE_LOG=$T/log1 MAKE=$T/make B=$T/b bash "$top/tests/check.sh" >"$T/out1" 2>&1
rc=$?

it_case "the journey starts before the first foreground layer ends"
js=$(t_of journey start "$T/log1")
te=$(t_of test end "$T/log1")
if [ -n "$js" ] && [ -n "$te" ] && before "$js" "$te"; then it_pass; else it_fail "journey $js, test end $te"; fi

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
for l in prerequisites test check-san check-valgrind check-fuzz nixparse check-static e2e-busybox e2e-arm64 journey total; do
	grep -qE "^  $l +[0-9.]+ min" "$T/out1" && n=$((n + 1))
done
it_expect_eq "$n" 11

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
sleep 0.5
if [ "$rc" -eq 130 ] && ! pgrep -f "$T/make" >/dev/null; then
	it_pass
else
	it_fail "rc $rc, left running: $(pgrep -af "$T/make" || true)"
	for p in $(pgrep -f "$T/make"); do kill "$p" 2>/dev/null; done
fi

it_summary
