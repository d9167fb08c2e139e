#!/usr/bin/env bash
# The e2e runners' plumbing (tests/e2e/lib/runner.sh) without a VM: a
# runner made of throwaway scenarios, one per outcome, and the selection,
# result lines, counts, exit status and cleanup the real runners rely on.
# Also: both real runners are built on it and register the scenarios they
# document (their default sets, listed without running anything).
set -u
. "$(dirname "$0")/lib.sh"
IT_SUITE=e2e_harness
top=$(cd "$(dirname "$0")/../.." && pwd)
it_tmpdir || exit 1
T=$IT_TMP

# A runner in a file of its own, as a new one would be written; its
# scenario files in $T/scenarios.
mkdir -p "$T/scenarios" "$T/b"
cat >"$T/runner.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
B=$T/b
. "$top/tests/e2e/lib/runner.sh"
e2e_runner TOY toy .serial
e2e_scenarios pass fail skip must setup
e2e_scenarios --extra hang one two three heavy pipe a b c
e2e_weight heavy 2
e2e_scenario_files "$T/scenarios"
EOF
cat >>"$T/runner.sh" <<'EOF'
scenario_pass() { timing "VM 1.5 s"; echo "serial" >"$LOG"; echo "toy check: fine"; need "never" true; }
scenario_fail() { echo "serial of fail" >"$LOG"; need "first reason" false; need "second reason" false; need "met" true; }
scenario_skip() { echo "no such device here" >"$DIR/skip"; }
scenario_must() { must "stopped here" false; echo "after must" >"$DIR/after"; }
scenario_setup() { false; echo "after the failed step" >"$DIR/after"; }
# Starts a server and waits: the cleanup must stop it.
scenario_hang() {
	sleep 300 &
	E2E_BG_PIDS+=("$!")
	echo "$!" >"$WORK/hang.pid"
	sleep 300
}
# Each notes its start and end in $T/slots.log.
slot() { echo "$1 start $(date +%s.%N)" >>"$T/slots.log"; sleep "${2:-1}"; echo "$1 end $(date +%s.%N)" >>"$T/slots.log"; }
scenario_one() { slot one; }
scenario_two() { slot two 2; }
scenario_three() { slot three 0.2; }
scenario_heavy() { slot heavy; }
# Runs until OTHER has started (at most 20 s): overlaps are shown by what the
# runner did, not by sleeps that a loaded machine outlasts.
slot_until() {
	echo "$1 start $(date +%s.%N)" >>"$T/slots.log"
	for _ in $(seq 200); do grep -qs "^$2 start" "$T/slots.log" && break; sleep 0.1; done
	echo "$1 end $(date +%s.%N)" >>"$T/slots.log"
}
scenario_a() { slot_until a b; }
scenario_b() { slot_until b c; }
scenario_c() { slot c 0.2; }
# grep -q stops reading at its match; the writer dies of SIGPIPE.
scenario_pipe() { grep -q y <(yes y); echo "after" >"$DIR/after"; }
E2E_CHECK_RE=toy
main() {
	e2e_select "$@" || exit 64
	e2e_workdir
	echo "$WORK" >"$T/work.path"
	e2e_run_all
	e2e_summary
}
main "$@"
EOF
sed -i "s|\$T|$T|g" "$T/runner.sh"
cat >"$T/scenarios/extra.sh" <<'EOF'
e2e_scenarios from-file
scenario_from_file() { timing "from a file"; }
EOF

out=$(bash "$T/runner.sh" 2>&1)
rc=$?

it_case "a passing scenario: PASS with its timings and check lines"
if grep -qxE 'e2e: PASS pass \(VM 1\.5 s; total [0-9.]+ s\)' <<<"$out" &&
	grep -qx '  toy check: fine' <<<"$out"; then it_pass; else it_fail "$out"; fi

it_case "a failing scenario: FAIL with its first reason, the others listed, its logs shown"
if grep -qE '^e2e: FAIL fail: first reason \([0-9.]+ s\)$' <<<"$out" &&
	grep -qx '  - second reason' <<<"$out" && ! grep -q -- '- met' <<<"$out" &&
	grep -qF "serial log $T/b/toy/fail.serial, last lines:" <<<"$out" &&
	grep -qx '    | serial of fail' <<<"$out"; then it_pass; else it_fail "$out"; fi

it_case "a scenario that writes DIR/skip is skipped, not passed"
if grep -qx 'e2e: SKIP skip: no such device here' <<<"$out"; then it_pass; else it_fail "$out"; fi

it_case "must stops the scenario"
w=$(cat "$T/work.path" 2>/dev/null)
if grep -qE '^e2e: FAIL must: stopped here' <<<"$out" && [ ! -e "$w/must/after" ]; then
	it_pass; else it_fail "$out"; fi

it_case "a failed setup step fails the scenario and stops it (set -e)"
if grep -qE '^e2e: FAIL setup: setup step failed: false' <<<"$out" && [ ! -e "$w/setup/after" ]; then
	it_pass; else it_fail "$out"; fi

it_case "scenario files register themselves into the default set"
if grep -qE '^e2e: PASS from-file \(from a file; total' <<<"$out"; then it_pass; else it_fail "$out"; fi

it_case "the failed scenarios are named again at the end, before the counts"
if tail -n4 <<<"$out" | grep -qx 'e2e: failed: fail: first reason' &&
	tail -n4 <<<"$out" | grep -qx 'e2e: failed: must: stopped here' &&
	tail -n4 <<<"$out" | grep -qE '^e2e: failed: setup: setup step failed: false'; then
	it_pass; else it_fail "$(tail -n4 <<<"$out")"; fi

it_case "counts, exit status 1, the scratch directory removed"
if grep -qx 'e2e: total: 2 passed, 3 failed, 1 skipped' <<<"$out" && [ "$rc" -eq 1 ] &&
	[ -n "$w" ] && [ ! -e "$w" ]; then it_pass; else it_fail "rc $rc, work '$w': $out"; fi

it_case "selection by arguments, then by NK_<PREFIX>_SCENARIOS; exit 0 when all pass"
o1=$(bash "$T/runner.sh" pass 2>&1)
r1=$?
o2=$(NK_TOY_SCENARIOS="from-file pass" bash "$T/runner.sh" 2>&1)
r2=$?
if [ "$r1" -eq 0 ] && grep -qx 'e2e: total: 1 passed, 0 failed, 0 skipped' <<<"$o1" &&
	[ "$r2" -eq 0 ] && grep -qx 'e2e: total: 2 passed, 0 failed, 0 skipped' <<<"$o2" &&
	[ "$(grep -c '^e2e: PASS' <<<"$o2")" -eq 2 ]; then it_pass; else it_fail "$r1 $o1 / $r2 $o2"; fi

it_case "an unknown scenario: exit 64 before anything runs"
o=$(bash "$T/runner.sh" pass nosuch 2>&1)
r=$?
if [ "$r" -eq 64 ] && grep -q "unknown scenario 'nosuch'" <<<"$o" && ! grep -q "PASS" <<<"$o"; then
	it_pass; else it_fail "rc $r: $o"; fi

# Runs the runner with ARGS in the background and sends it TERM once the
# hang scenario's server runs (and scenario ALSO's directory exists, when
# given); passes when it exits 130, the server stopped, the scratch
# directory removed, no runner left.
term_case() {
	local also=$1 w="" hp r rp
	shift
	rm -f "$T/work.path"
	bash "$T/runner.sh" "$@" >"$T/hang.out" 2>&1 &
	rp=$!
	for _ in $(seq 100); do
		w=$(cat "$T/work.path" 2>/dev/null) && [ -s "$w/hang.pid" ] &&
			{ [ -z "$also" ] || [ -d "$w/$also" ]; } && break
		sleep 0.1
	done
	hp=$(cat "$w/hang.pid" 2>/dev/null)
	kill -TERM "$rp"
	wait "$rp"
	r=$?
	sleep 0.3
	if [ -n "$hp" ] && [ "$r" -eq 130 ] && ! kill -0 "$hp" 2>/dev/null && [ ! -e "$w" ] &&
		! pgrep -f "$T/runner.sh" >/dev/null; then
		it_pass
	else
		[ -z "$hp" ] || kill "$hp" 2>/dev/null
		it_fail "rc $r, server pid '$hp' $(kill -0 "$hp" 2>/dev/null && echo alive), work '$w'"
	fi
}
it_case "TERM while a scenario runs: its server is stopped, the scratch directory removed"
term_case "" hang

it_case "NK_<PREFIX>_KEEP=1 keeps the scratch directory"
o=$(NK_TOY_KEEP=1 bash "$T/runner.sh" pass 2>&1)
w=$(sed -n 's/^e2e: kept //p' <<<"$o")
if [ -n "$w" ] && [ -d "$w/pass" ]; then it_pass; else it_fail "$o"; fi
[ -z "$w" ] || rm -rf "$w"

it_case "a writer killed by SIGPIPE (grep -q on a process substitution) is no failed step"
o=$(bash "$T/runner.sh" pipe 2>&1)
if grep -qE '^e2e: PASS pipe' <<<"$o"; then it_pass; else it_fail "$o"; fi

# Scenarios at once: NK_<P>_JOBS, a weight, NK_<P>_JOBS_FILE read again.
t_of() { awk -v l="$1" -v w="$2" '$1 == l && $2 == w { print $3; exit }' "$T/slots.log"; }
before() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
overlap() { before "$(t_of "$1" start)" "$(t_of "$2" end)" && before "$(t_of "$2" start)" "$(t_of "$1" end)"; }
it_case "by default one scenario at a time, in the selection's order"
rm -f "$T/slots.log"
o=$(bash "$T/runner.sh" one two 2>&1)
if ! overlap one two && before "$(t_of one end)" "$(t_of two start)" &&
	grep -qx 'e2e: total: 2 passed, 0 failed, 0 skipped' <<<"$o"; then
	it_pass; else it_fail "$(cat "$T/slots.log") $o"; fi

it_case "NK_<P>_JOBS=2: two at once, each result when it ends, all counted"
rm -f "$T/slots.log"
o=$(NK_TOY_JOBS=2 bash "$T/runner.sh" a b c 2>&1)
if overlap a b && overlap b c && ! overlap a c &&
	[ "$(grep '^e2e: PASS' <<<"$o" | head -n1 | cut -d' ' -f3)" = a ] &&
	grep -qx 'e2e: total: 3 passed, 0 failed, 0 skipped' <<<"$o"; then
	it_pass; else it_fail "$(cat "$T/slots.log") $o"; fi

it_case "a scenario of weight 2 waits for two free slots, and nothing starts beside it"
rm -f "$T/slots.log"
o=$(NK_TOY_JOBS=2 bash "$T/runner.sh" three heavy one 2>&1)
if before "$(t_of three end)" "$(t_of heavy start)" && ! overlap heavy one &&
	grep -qx 'e2e: total: 3 passed, 0 failed, 0 skipped' <<<"$o"; then
	it_pass; else it_fail "$(cat "$T/slots.log") $o"; fi

it_case "NK_<P>_JOBS_FILE is read again: raised from 1 to 2, the next one starts at once"
rm -f "$T/slots.log"
echo 1 >"$T/jobs"
NK_TOY_JOBS_FILE=$T/jobs bash "$T/runner.sh" a b c >"$T/jobs.out" 2>&1 &
rp=$!
for _ in $(seq 50); do grep -qs '^a start' "$T/slots.log" && break; sleep 0.1; done
sleep 0.6
raised=$(date +%s.%N)
echo 2 >"$T/jobs"
wait "$rp"
r=$?
if [ "$r" -eq 0 ] && overlap a b && before "$raised" "$(t_of b start)" &&
	grep -qx 'e2e: total: 3 passed, 0 failed, 0 skipped' "$T/jobs.out"; then
	it_pass; else it_fail "rc $r: $(cat "$T/slots.log" "$T/jobs.out")"; fi

it_case "TERM with two scenarios running: both stopped, the scratch directory removed"
NK_TOY_JOBS=2 term_case one hang one

# The real runners register what their headers document, in that order.
defaults() { # RUNNER: its default set (--list runs nothing)
	B=$T/b bash "$1" --list 2>&1 | sed -n 's/^default: //p'
}
it_case "tests/e2e/run.sh registers its documented default scenarios"
it_expect_eq "$(defaults "$top/tests/e2e/run.sh")" \
	"boot delay tampered lockdown fallback signal bond-dump"
it_case "tests/e2e/journey/run.sh registers its scenarios, files included"
it_expect_eq "$(defaults "$top/tests/e2e/journey/run.sh")" \
	"journey-cloudinit journey-curlpipe journey-refused report revert bond dhcp-fallback dns-local-resolver fleet-ansible nixos-anywhere journey-port small-1g"
it_case "NK_E2E_ARCH=aarch64: the journey runner registers journey-arm64 only"
it_expect_eq "$(NK_E2E_ARCH=aarch64 defaults "$top/tests/e2e/journey/run.sh")" "journey-arm64"

# foreign.sh (the arm64 images' package scripts): an arm64 program runs
# under it, and this machine's binfmt_misc is as it was after. The program:
# a 132-byte aarch64 ELF that exits 42 (mov x0, #42; mov x8, #93; svc #0).
it_case "foreign.sh runs an arm64 program; this machine's binfmt_misc is unchanged"
printf '%s' 'f0VMRgIBAQAAAAAAAAAAAAIAtwABAAAAeABAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAEAAOAABAAAAAAAAAAEAAAAFAAAAAAAAAAAAAAAAAEAAAAAAAAAAQAAAAAAAhAAAAAAAAACEAAAAAAAAAAAQAAAAAAAAQAWA0qgLgNIBAADU' |
	base64 -d >"$T/exit42" && chmod +x "$T/exit42"
if [ "$(id -u)" -ne 0 ]; then
	it_skip "needs root (a user namespace with all IDs mapped)"
elif [ ! -r /usr/lib/binfmt.d/qemu-aarch64.conf ]; then
	it_skip "no qemu-user-static (tools/install-deps.sh arm64)"
else
	before=$(ls /proc/sys/fs/binfmt_misc 2>/dev/null | tr '\n' ' ')
	r=0
	"$top/tests/e2e/journey/foreign.sh" "$T/exit42" >"$T/foreign.out" 2>&1 || r=$?
	after=$(ls /proc/sys/fs/binfmt_misc 2>/dev/null | tr '\n' ' ')
	if [ "$r" -eq 69 ] && grep -q "Linux >= 6.7" "$T/foreign.out"; then
		it_skip "this kernel gives no private binfmt_misc: $(cat "$T/foreign.out")"
	elif [ "$r" -eq 42 ] && [ "$before" = "$after" ]; then
		it_pass
	else
		it_fail "exit $r (want 42), binfmt_misc before '$before' after '$after': $(cat "$T/foreign.out")"
	fi
fi

# Every VM's user network is restricted, whichever runner starts it.
it_case "e2e_netdev: restrict=on, guestfwd to loopback, hostfwd from loopback"
got=$(bash -c '. "$1/tests/e2e/lib/vm.sh"; NK_BUSYBOX=/bin/bb e2e_netdev n0 host:2222::22 guest:443:8443' _ "$top")
it_expect_eq "$got" \
	"user,id=n0,restrict=on,ipv6=off,hostfwd=tcp:127.0.0.1:2222-:22,guestfwd=tcp:10.0.2.100:443-cmd:/bin/bb nc 127.0.0.1 8443"
it_case "e2e_netdev refuses a forward it does not know"
if bash -c '. "$1/tests/e2e/lib/vm.sh"; e2e_netdev n0 guest:x:1' _ "$top" >/dev/null 2>&1; then
	it_fail "accepted guest:x:1"; else it_pass; fi
it_case "qemu.sh and the journey's cloud VM build their network with e2e_netdev only"
hand=$(grep -l 'user,id=' "$top"/tests/e2e/*.sh "$top"/tests/e2e/journey/*.sh "$top"/tests/e2e/journey/scenarios/*.sh 2>/dev/null)
if [ -z "$hand" ] &&
	grep -q 'e2e_netdev' "$top/tests/e2e/qemu.sh" && grep -q 'e2e_netdev' "$top/tests/e2e/journey/lib.sh"; then
	it_pass; else it_fail "a user netdev built by hand in: $hand"; fi

it_summary
