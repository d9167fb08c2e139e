# shellcheck shell=bash
# The e2e runners' plumbing: sourced, not run. A runner (tests/e2e/run.sh,
# tests/e2e/journey/run.sh, ...) sources this file, registers its scenarios
# (functions scenario_<name with _ for ->), and its main calls the pieces:
#
#   . "$HERE/../lib/runner.sh"          # also sources e2e-lib.sh and vm.sh
#   e2e_runner JOURNEY journey .serial.log  # NK_JOURNEY_SCENARIOS/_LOGS/_KEEP
#   e2e_scenarios journey-curlpipe report  # the default set, in order
#   e2e_scenarios --extra probe            # run only when named
#   e2e_scenario_files "$HERE/scenarios"   # DIR/*.sh, each registering its own
#   main() {
#       e2e_select "$@" || exit 64
#       ...dependency checks: e2e_skip_all / e2e_fail_all WHY...
#       e2e_workdir; e2e_run_prepare prepare "VARS..." && e2e_run_all
#       e2e_summary
#   }
#
# What a runner gets:
#   scenario selection: arguments, else NK_<P>_SCENARIOS, else the default
#     set; unknown names exit 64 before anything runs; --list lists them;
#   one result line per scenario: "e2e: PASS <name> (<timings>; total S s)",
#     "e2e: FAIL <name>: <first reason> (S s)" with the other reasons and
#     the last lines of its host and serial logs, "e2e: SKIP <name>: <why>";
#     a timing summary and "e2e: total: N passed, N failed, N skipped";
#   each scenario in its own background subshell with set -eE: DIR (its
#     scratch directory), LOG (its serial log in LOGS), REASONS (need/must
#     write there; a failed setup step is a reason too); its servers and
#     VMs (E2E_BG_PIDS) die with it; a scenario that cannot run here writes
#     why to DIR/skip and returns 0 (counted as skipped, not passed);
#   cleanup on exit, INT and TERM: the running scenarios and their
#     children, background servers and QEMU (by pid), the scratch directory
#     unless NK_<P>_KEEP=1;
#   scenarios at once: NK_<P>_JOBS (default 1), or the number in the file
#     NK_<P>_JOBS_FILE, read again whenever a scenario could start (make
#     check's driver raises it once its other layers are done, when a
#     core is free); a scenario that runs several VMs registers its weight
#     (e2e_weight fleet 2) and starts only when that many slots are free
#     (or nothing else runs); the selection's order is the start order, a
#     result line comes when its scenario ends.

# shellcheck source=tests/e2e/e2e-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../e2e-lib.sh"
# shellcheck source=tests/e2e/lib/vm.sh
. "$E2E_DIR/lib/vm.sh"

E2E_PREFIX="" E2E_SERIAL_SUFFIX=.log
E2E_DEFAULT=() E2E_KNOWN=() SCENARIOS=()
# The "<word> check:" lines of a passing scenario's host log that its
# result line repeats (an ERE; empty: none).
E2E_CHECK_RE=""
WORK="" LOGS=""
NPASS=0 NFAIL=0 NSKIP=0
TIMINGS=() FAILED=()
# The running scenarios: pid by name, start time by name.
declare -A E2E_RUNNING=() E2E_T0=() E2E_WEIGHTS=()

# e2e_runner PREFIX LOGNAME [SERIAL_SUFFIX]: the runner's environment
# prefix (NK_<PREFIX>_SCENARIOS, _LOGS, _KEEP), its log directory below
# $B (unless NK_<PREFIX>_LOGS), the serial logs' suffix (default .log).
# Installs the cleanup traps.
e2e_runner() {
	local v
	E2E_PREFIX=$1
	v=NK_${1}_LOGS
	LOGS=${!v:-$B/$2}
	E2E_SERIAL_SUFFIX=${3:-.log}
	trap e2e_runner_cleanup EXIT
	trap 'exit 130' INT TERM
}

e2e_runner_cleanup() {
	local keepvar=NK_${E2E_PREFIX}_KEEP pid
	for pid in ${E2E_RUNNING[@]+"${E2E_RUNNING[@]}"}; do
		# Its children too: the scenario's shell defers its own trap while
		# a command substitution or foreground command runs.
		kill -TERM "$pid" 2>/dev/null || true
		pkill -TERM -P "$pid" 2>/dev/null || true
	done
	for pid in ${E2E_RUNNING[@]+"${E2E_RUNNING[@]}"}; do
		wait "$pid" 2>/dev/null || true
	done
	e2e_cleanup
	if [ -n "$WORK" ]; then
		if [ "${!keepvar:-0}" = 1 ]; then
			echo "e2e: kept $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
}

# A scratch directory for the run (WORK), removed by the cleanup.
e2e_workdir() {
	mkdir -p "$LOGS"
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/nk-${E2E_PREFIX,,}.XXXXXX")
}

# e2e_scenarios [--extra] NAME...: registers scenarios; without --extra
# they are part of the default set (in the order registered).
e2e_scenarios() {
	local extra=0
	[ "${1:-}" != --extra ] || { extra=1; shift; }
	E2E_KNOWN+=("$@")
	[ "$extra" = 1 ] || E2E_DEFAULT+=("$@")
}

# e2e_weight NAME N: scenario NAME takes N of the slots (it runs N VMs).
e2e_weight() { E2E_WEIGHTS[$1]=$2; }

# Sources every DIR/*.sh (in name order): scenarios in files of their own,
# each registering itself with e2e_scenarios.
e2e_scenario_files() {
	local f
	for f in "$1"/*.sh; do
		[ -e "$f" ] || continue
		# shellcheck disable=SC1090
		. "$f"
	done
}

# Sets SCENARIOS from the arguments, else NK_<P>_SCENARIOS, else the
# default set; fails (saying why) on a name no scenario has. --list prints
# the default set and the others, and exits.
e2e_select() {
	local v=NK_${E2E_PREFIX}_SCENARIOS s extra=()
	if [ "${1:-}" = --list ]; then
		for s in "${E2E_KNOWN[@]}"; do
			[[ " ${E2E_DEFAULT[*]} " == *" $s "* ]] || extra+=("$s")
		done
		echo "default: ${E2E_DEFAULT[*]}"
		echo "extra: ${extra[*]+"${extra[*]}"}"
		exit 0
	fi
	if [ $# -gt 0 ]; then
		SCENARIOS=("$@")
	elif [ -n "${!v:-}" ]; then
		read -r -a SCENARIOS <<<"${!v}"
	else
		SCENARIOS=("${E2E_DEFAULT[@]}")
	fi
	for s in "${SCENARIOS[@]}"; do
		if ! declare -F "scenario_${s//-/_}" >/dev/null; then
			echo "e2e: unknown scenario '$s' (known: ${E2E_KNOWN[*]})" >&2
			return 1
		fi
	done
}

say() { printf 'e2e: %s\n' "$*"; }

# --- checks a scenario makes; each unmet one is recorded as a reason ---

REASONS=/dev/null
need() {
	local what=$1
	shift
	"$@" || printf '%s\n' "$what" >>"$REASONS"
}
# Records a failure and stops the scenario: for checks the rest depends on.
must() {
	local what=$1
	shift
	"$@" || { printf '%s\n' "$what" >>"$REASONS"; exit 1; }
}
lacks() { ! grep -aqF -- "$2" "$1"; }
lacks_re() { ! grep -aqE -- "$2" "$1"; }
# A figure for the scenario's result line and the timing summary.
timing() { printf '%s\n' "$*" >>"$DIR/timings"; }
# Seconds from A to B (both in seconds), one decimal.
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# --- running scenarios ---

# Starts scenario NAME in the background: DIR, LOG and REASONS are its
# own; E2E_RUNNING[NAME] is its pid.
e2e_start_scenario() {
	local name=$1
	DIR="$WORK/$name" LOG="$LOGS/$name$E2E_SERIAL_SUFFIX" REASONS="$WORK/$name/reasons"
	mkdir -p "$DIR"
	: >"$REASONS"
	rm -f "$LOG" "$LOGS/$name.host.log"
	E2E_T0[$name]=$(e2e_now)
	# A subshell with set -e of its own (a function called from a condition
	# would run with -e silently off) and its own cleanup of the servers it
	# started; in the background so that our INT/TERM trap runs at once.
	(
		set -eE
		trap e2e_cleanup EXIT
		trap 'exit 130' INT TERM
		# Not for 141: a writer whose reader had what it wanted (grep -q
		# on a process substitution) is killed by SIGPIPE, in a subshell
		# that inherits this trap; a real failure is never that.
		trap '[ $? -eq 141 ] || echo "setup step failed: $BASH_COMMAND" >>"$REASONS"' ERR
		"scenario_${name//-/_}"
	) >"$LOGS/$name.host.log" 2>&1 &
	E2E_RUNNING[$name]=$!
}

# Waits for scenario NAME to end and prints its result line.
e2e_finish_scenario() {
	local name=$1 rc=0 sec times
	wait "${E2E_RUNNING[$name]}" || rc=$?
	unset "E2E_RUNNING[$name]"
	DIR="$WORK/$name" REASONS="$WORK/$name/reasons"
	sec=$(e2e_since "${E2E_T0[$name]}")
	if [ "$rc" -eq 0 ] && [ -s "$DIR/skip" ] && [ ! -s "$REASONS" ]; then
		NSKIP=$((NSKIP + 1))
		say "SKIP $name: $(head -n1 "$DIR/skip")"
		return 0
	fi
	[ "$rc" -eq 0 ] || [ -s "$REASONS" ] || echo "scenario exited $rc" >>"$REASONS"
	times=""
	[ ! -s "$DIR/timings" ] || times=$(paste -sd';' "$DIR/timings" | sed 's/;/, /g')
	TIMINGS+=("$name: ${times:+$times, }total $sec s")
	[ ! -s "$DIR/detail" ] || TIMINGS+=("  $(cat "$DIR/detail")")
	if [ -s "$REASONS" ]; then
		NFAIL=$((NFAIL + 1))
		FAILED+=("$name: $(head -n1 "$REASONS")")
		say "FAIL $name: $(head -n1 "$REASONS") ($sec s)"
		sed '1d; s/^/  - /' "$REASONS"
		e2e_show_logs "$name"
	else
		NPASS=$((NPASS + 1))
		say "PASS $name (${times:+$times; }total $sec s)"
		[ -z "$E2E_CHECK_RE" ] ||
			grep -E "^($E2E_CHECK_RE) check:" "$LOGS/$name.host.log" | sed 's/^/  /' || true
	fi
}

# How many scenarios may run at once now (above: NK_<P>_JOBS[_FILE]).
e2e_slots() {
	local v=NK_${E2E_PREFIX}_JOBS f=NK_${E2E_PREFIX}_JOBS_FILE n
	n=${!v:-1}
	if [ -n "${!f:-}" ] && [ -s "${!f}" ]; then
		n=$(head -n1 "${!f}" 2>/dev/null) || n=1
	fi
	[[ $n =~ ^[1-9][0-9]*$ ]] || n=1
	echo "$n"
}

# Every selected scenario, in order, as many at once as there are slots.
e2e_run_all() {
	local queue=("${SCENARIOS[@]}") s used w
	while [ ${#queue[@]} -gt 0 ] || [ ${#E2E_RUNNING[@]} -gt 0 ]; do
		if [ ${#queue[@]} -gt 0 ]; then
			used=0
			for s in "${!E2E_RUNNING[@]}"; do used=$((used + ${E2E_WEIGHTS[$s]:-1})); done
			w=${E2E_WEIGHTS[${queue[0]}]:-1}
			if [ ${#E2E_RUNNING[@]} -eq 0 ] || [ $((used + w)) -le "$(e2e_slots)" ]; then
				e2e_start_scenario "${queue[0]}"
				queue=("${queue[@]:1}")
				continue
			fi
		fi
		for s in "${!E2E_RUNNING[@]}"; do
			kill -0 "${E2E_RUNNING[$s]}" 2>/dev/null || e2e_finish_scenario "$s"
		done
		sleep 0.5
	done
}

e2e_show_logs() {
	local name=$1
	if [ -s "$LOGS/$name.host.log" ]; then
		echo "  host log $LOGS/$name.host.log, last lines:"
		tail -n 10 "$LOGS/$name.host.log" | awk '{ print "    | " $0 }'
	fi
	if [ -s "$LOGS/$name$E2E_SERIAL_SUFFIX" ]; then
		echo "  serial log $LOGS/$name$E2E_SERIAL_SUFFIX, last lines:"
		# awk ends the last line too (a console's last line often has no
		# newline yet): the next result line starts a line of its own.
		tail -n 15 "$LOGS/$name$E2E_SERIAL_SUFFIX" | awk '{ print "    | " $0 }'
	fi
}

# Every selected scenario skipped (WHY): for a runner that cannot run here
# at all (no emulator, not root, another architecture).
e2e_skip_all() { e2e__all SKIP NSKIP "$1"; }
# Every selected scenario failed (WHY): something the runner needs and
# tools/install-deps.sh installs is missing, or its preparation failed.
e2e_fail_all() { e2e__all FAIL NFAIL "$1"; }
e2e__all() {
	local s
	for s in "${SCENARIOS[@]}"; do
		printf -v "$2" '%d' $((${!2} + 1))
		say "$1 $s: $3"
	done
}

# Prints the timings and the counts; fails if a scenario failed.
e2e_summary() {
	local t
	say "timings:"
	for t in "${TIMINGS[@]+"${TIMINGS[@]}"}"; do echo "  $t"; done
	# Once more at the very end: a CI log is often read from its tail.
	for t in "${FAILED[@]+"${FAILED[@]}"}"; do say "failed: $t"; done
	say "total: $NPASS passed, $NFAIL failed, $NSKIP skipped"
	[ "$NFAIL" -eq 0 ]
}

# The commands of the arguments that are not installed, space-separated
# (empty: all there).
e2e_missing_tools() {
	local t miss=()
	for t in "$@"; do
		command -v "$t" >/dev/null || miss+=("$t")
	done
	printf '%s\n' "${miss[*]+"${miss[*]}"}"
}

# e2e_run_prepare FN "VARS": runs FN (the runner's shared preparation) with
# set -e in force, its stderr in LOGS/prepare.log, and takes over the
# variables VARS it set (TIMINGS is always taken over); PREPARED=1 when it
# succeeded. Never call this (or anything leading to a subshell that
# relies on set -e) from a condition: bash turns -e off for everything run
# there, subshells included, background ones too.
e2e_run_prepare() {
	local fn=$1 vars="$2 TIMINGS" rc=0
	(
		set -eE
		trap 'echo "e2e: preparation failed at: $BASH_COMMAND" >&2' ERR
		"$fn"
		# shellcheck disable=SC2086
		declare -p $vars | sed 's/^declare -/declare -g -/' >"$WORK/prepared.vars"
	) 2>"$LOGS/prepare.log" &
	E2E_RUNNING[prepare]=$!
	wait "${E2E_RUNNING[prepare]}" || rc=$?
	unset "E2E_RUNNING[prepare]"
	# shellcheck disable=SC2034 # the runner's
	PREPARED=0
	if [ "$rc" -eq 0 ]; then
		# shellcheck disable=SC1091
		. "$WORK/prepared.vars"
		# shellcheck disable=SC2034
		PREPARED=1
	fi
}
