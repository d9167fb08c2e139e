#!/usr/bin/env bash
# End-to-end test (make e2e): a QEMU VM boots Debian's kernel with a busybox
# initramfs holding the agent; the agent fetches a signed bundle from the
# stub on this machine's loopback and kexecs into it.
#
# The first system carries the static agent and static kexec-tools of
# make static (build/static/x86_64/; NK_STATIC overrides the directory),
# as the one-liners deliver them: no library is copied into the VM.
#
# Scenarios (NK_E2E_SCENARIOS, default "boot delay tampered lockdown fallback"):
#   boot      fetch, verify, kexec: the second system prints this run's nonce
#             and the handed-over network units and key
#   delay     boot --delay 2: the agent answers (exit 0) first, then kexecs
#   tampered  the stub corrupts one initrd byte: exit 65, nothing loaded
#   lockdown  first kernel booted with lockdown=integrity: exit 77, says why
#   fallback  the agent runs under a seccomp filter that makes kexec_file_load
#             fail with EKEYREJECTED: it falls back to the static kexec
#             beside it (kexec_load), says so, and the second system boots
# and, for checking the harness itself:
#   probe     agent --version in the guest, and a TCP round trip through
#             guestfwd to a loopback server on the host
#   second    the second system's initrd booted directly: its marker works
#   kexec     a tiny static helper (guest/kexec-probe.c) kexecs into the
#             second system with the bare system calls: the VM side works
#   kexec-lockdown  the same under lockdown=integrity: both calls get EPERM
#
# Environment: B (build directory, default build), NK_E2E_LOGS (serial and
# host logs, default $B/e2e), NK_E2E_TIMEOUT (per VM, default 180 s),
# NK_E2E_CORRUPT_AT (tampered: initrd byte offset, default 1000),
# NK_E2E_KEEP=1 keeps the scratch directory; NK_CACHE (kernel.sh),
# NK_E2E_ACCEL and NK_E2E_MEM (qemu.sh).
# Exit status: 0 if nothing failed.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
B=$(cd "${B:-build}" && pwd)
# shellcheck source=tests/e2e/e2e-lib.sh
. "$HERE/e2e-lib.sh"

read -r -a SCENARIOS <<<"${NK_E2E_SCENARIOS:-boot delay tampered lockdown fallback}"
STATIC=${NK_STATIC:-$B/static/x86_64}
LOGS=${NK_E2E_LOGS:-$B/e2e}
WORK=""
NPASS=0 NFAIL=0 NSKIP=0
TIMINGS=()

SCENARIO_PID=""
cleanup() {
	if [ -n "$SCENARIO_PID" ]; then
		kill -TERM "$SCENARIO_PID" 2>/dev/null || true
		wait "$SCENARIO_PID" 2>/dev/null || true
	fi
	e2e_cleanup
	if [ -n "$WORK" ]; then
		if [ "${NK_E2E_KEEP:-0}" = 1 ]; then
			echo "e2e: kept $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf 'e2e: %s\n' "$*"; }

# --- checks a scenario makes; each unmet one is recorded as a reason ---

REASONS=/dev/null
need() {
	local what=$1
	shift
	"$@" || printf '%s\n' "$what" >>"$REASONS"
}
lacks() { ! e2e_has "$@"; }

# Checks every scenario makes of a finished VM. Returns 1 when the VM timed
# out, so the scenario skips checks that would only repeat that.
need_clean_end() {
	local log=$1
	if [ "$E2E_VM_RC" -eq 124 ]; then
		need "VM timed out after ${NK_E2E_TIMEOUT:-180} s" false
		return 1
	fi
	need "QEMU exit status $E2E_VM_RC, want 0" [ "$E2E_VM_RC" -eq 0 ]
	need "guest printed a FAIL line: $(grep -am1 '^NK-E2E FAIL' "$log" || true)" \
		lacks "$log" "NK-E2E FAIL"
	need "kernel panic" lacks "$log" "Kernel panic"
}

# The first system ended on its own after the agent returned.
need_agent_result() {
	local log=$1 want_exit=$2 got
	got=$(e2e_agent_exit "$log")
	need "agent exit $got, want $want_exit" [ "$got" = "$want_exit" ]
	got=$(e2e_kexec_loaded "$log")
	need "kexec_loaded=$got after the agent, want 0" [ "$got" = 0 ]
	need "first system did not finish" e2e_has "$log" "NK-E2E first-system done"
	need "second system booted although it must not" \
		lacks "$log" "NK-E2E second-system"
}

# --- what all scenarios share ---

prepare_kernel() {
	local t0
	t0=$(e2e_now)
	KDIR=$("$HERE/kernel.sh" 2>"$LOGS/kernel.log") || {
		sed 's/^/  /' "$LOGS/kernel.log"
		return 1
	}
	TIMINGS+=("kernel (download+extract or cache) $(e2e_since "$t0") s")
	say "kernel $(cat "$KDIR/package") in $KDIR"
}

prepare_second() {
	local t0
	t0=$(e2e_now)
	SECOND="$WORK/second.cpio.gz"
	"$HERE/initramfs.sh" second -o "$SECOND" 2>>"$LOGS/initramfs.log" || return 1
	TIMINGS+=("second initrd $(e2e_since "$t0") s")
}

# Builds the first system's initramfs; extra arguments go to initramfs.sh.
build_first() {
	local out=$1 t0
	shift
	t0=$(e2e_now)
	"$HERE/initramfs.sh" first -o "$out" -k "$KDIR" -a "$STATIC/nixos-kexec" \
		--file "$STATIC/kexec:bin/kexec" "$@"
	echo "$(e2e_since "$t0")" >"$DIR/initramfs_secs"
}

# Host side of a bundle scenario, part 1: key, bundle (the same Debian
# kernel and the second initrd, this run's nonce on its command line),
# signature, CA. Sets NONCE.
bundle_prepare() {
	NONCE=$(e2e_nonce)
	e2e_make_key "$DIR/key"
	e2e_make_bundle "$KDIR/vmlinuz" "$SECOND" \
		"$E2E_BASE_CMDLINE nk.nonce=$NONCE" "$DIR/key/nk.sec" "$DIR/bundle"
	e2e_make_ca "$DIR/ca"
}

# Part 2: the stub (arguments go to it: --fault ...) and the first
# initramfs with this run's CA and public key. Sets PORT.
bundle_serve() {
	e2e_start_stub "$DIR/bundle" "$DIR/ca" "$DIR/stub.log" "$@"
	PORT=$E2E_STUB_PORT
	# An ed25519 public key made for the run (the SSH wire format by hand:
	# string "ssh-ed25519", string of 32 random bytes), for --ssh-key.
	SSHKEY="ssh-ed25519 $({ printf '\0\0\0\013ssh-ed25519\0\0\0\040'; head -c 32 /dev/urandom; } |
		base64 -w0) e2e-$NONCE"
	printf '%s\n' "$SSHKEY" >"$DIR/e2e.key"
	build_first "$DIR/first.cpio.gz" --ca "$DIR/ca/ca.pem" --pub "$DIR/key/nk.pub" \
		--file "$DIR/e2e.key:etc/nk-e2e.key"
}

# Boots the first system in agent "boot" mode against the stub; extra
# arguments are appended to its kernel command line.
boot_first() {
	local log=$1
	shift
	e2e_run_vm "$log" --quiet --kernel "$KDIR/vmlinuz" \
		--initrd "$DIR/first.cpio.gz" --fwd "$PORT" \
		--append "$E2E_BASE_CMDLINE nk.mode=boot nk.url=https://$E2E_GUEST_SERVER:$PORT/ $*"
	echo "$E2E_VM_SECS" >"$DIR/vm_secs"
}

# --- scenarios: each runs in its own subshell with set -e; DIR is its
# scratch directory, LOG its serial log; failures go to REASONS ---

scenario_probe() {
	local port nonce
	nonce=$(e2e_nonce)
	e2e_start_probe_server "NK-PROBE pong $nonce" "$DIR/probe.port"
	port=$E2E_PROBE_PORT
	build_first "$DIR/first.cpio.gz"
	e2e_run_vm "$LOG" --quiet --kernel "$KDIR/vmlinuz" \
		--initrd "$DIR/first.cpio.gz" --fwd "$port" \
		--append "$E2E_BASE_CMDLINE nk.mode=probe nk.port=$port"
	echo "$E2E_VM_SECS" >"$DIR/vm_secs"
	need_clean_end "$LOG" || return 0
	need "agent did not run (exit $(e2e_agent_exit "$LOG"))" \
		[ "$(e2e_agent_exit "$LOG")" = 0 ]
	need "agent printed no version" \
		e2e_has_re <(e2e_agent_output "$LOG") '^nixos-kexec [0-9]'
	need "no reply from the host's loopback server through guestfwd" \
		e2e_has "$LOG" "NK-E2E probe-reply: NK-PROBE pong $nonce"
	need "guest reached the host's server through 10.0.2.2 (restrict=on not effective)" \
		lacks "$LOG" "NK-E2E probe-isolated: no"
	need "first system did not finish" e2e_has "$LOG" "NK-E2E first-system done"
}

scenario_second() {
	local nonce
	nonce=$(e2e_nonce)
	e2e_run_vm "$LOG" --quiet --kernel "$KDIR/vmlinuz" --initrd "$SECOND" \
		--append "$E2E_BASE_CMDLINE nk.nonce=$nonce"
	echo "$E2E_VM_SECS" >"$DIR/vm_secs"
	need_clean_end "$LOG" || return 0
	need "no second-system marker" e2e_has "$LOG" "NK-E2E second-system nonce=$nonce"
}

scenario_boot() {
	bundle_prepare
	bundle_serve
	boot_first "$LOG"
	need_clean_end "$LOG" || return 0
	need "no second-system marker with this run's nonce (agent exit $(e2e_agent_exit "$LOG"))" \
		e2e_has "$LOG" "NK-E2E second-system nonce=$NONCE"
	# The handoff: the first system's network and the key given with
	# --ssh-key, as the second system's /init printed them.
	local unit="NK-E2E handoff /nixos-kexec/handoff/network/eth0.network"
	need "handoff: no unit matched by the VM's MAC" e2e_has "$LOG" "$unit: MACAddress=52:54:00:12:34:56"
	need "handoff: static address missing" e2e_has "$LOG" "$unit: Address=10.0.2.15/24"
	need "handoff: extra address missing" e2e_has "$LOG" "$unit: Address=192.0.2.10/24"
	need "handoff: MTU missing" e2e_has "$LOG" "$unit: MTUBytes=1400"
	need "handoff: default route missing" e2e_has "$LOG" "$unit: Gateway=10.0.2.2"
	need "handoff: the --ssh-key key did not arrive" \
		e2e_has "$LOG" "NK-E2E handoff /nixos-kexec/handoff/ssh/authorized_keys: $SSHKEY"
	local nonce
	nonce=$(sed -n 's/.*boot nonce \([0-9a-f]\{32\}\).*/\1/p' "$LOG" | head -n1)
	need "agent printed no boot nonce" [ -n "$nonce" ]
	need "boot.json lacks the nonce the agent printed" \
		e2e_has_re "$LOG" "NK-E2E handoff /nixos-kexec/handoff/boot.json: .*\"$nonce\""
}

# boot --delay: the agent prints its result and exits 0 while the first
# system is still up, then its detached child executes the kexec.
scenario_delay() {
	bundle_prepare
	bundle_serve
	boot_first "$LOG" nk.args=--delay,2 nk.wait=60
	need_clean_end "$LOG" || return 0
	need "agent exit $(e2e_agent_exit "$LOG"), want 0 before the kexec" \
		[ "$(e2e_agent_exit "$LOG")" = 0 ]
	need "kexec_loaded=$(e2e_kexec_loaded "$LOG") while waiting, want 1" \
		[ "$(e2e_kexec_loaded "$LOG")" = 1 ]
	need "agent did not announce the delayed execution" \
		e2e_has_re <(e2e_agent_output "$LOG") "executing in 2 s"
	need "no second-system marker after the delay" \
		e2e_has "$LOG" "NK-E2E second-system nonce=$NONCE"
}

scenario_tampered() {
	local initrd
	bundle_prepare
	initrd=$(e2e_manifest_file "$DIR/bundle" initrd)
	bundle_serve --fault "corrupt:${NK_E2E_CORRUPT_AT:-1000}@$initrd"
	boot_first "$LOG"
	need_clean_end "$LOG" || return 0
	need_agent_result "$LOG" 65
	# Exit 65 covers every rejection; make sure this one is the corruption.
	need "agent output does not blame the initrd's hash" \
		e2e_has_re <(e2e_agent_output "$LOG" | tr 'A-Z' 'a-z') "$initrd.*(sha-?256|hash)"
}

scenario_lockdown() {
	bundle_prepare
	bundle_serve
	boot_first "$LOG" lockdown=integrity
	need_clean_end "$LOG" || return 0
	# Proves the kernel really was locked down, not just that the agent failed.
	need "first kernel not in lockdown=integrity" \
		e2e_has "$LOG" "[integrity]"
	need_agent_result "$LOG" 77
	need "agent output does not mention lockdown" \
		e2e_has_re <(e2e_agent_output "$LOG" | tr 'A-Z' 'a-z') lockdown
}

# kexec_file_load refused as CentOS 7 refuses an unsigned kernel: the agent
# must load with the static kexec-tools beside it, and say so.
scenario_fallback() {
	bundle_prepare
	e2e_start_stub "$DIR/bundle" "$DIR/ca" "$DIR/stub.log"
	PORT=$E2E_STUB_PORT
	cc -static -O2 -Wall -Wextra -o "$DIR/refuse-file-load" "$HERE/guest/refuse-file-load.c"
	build_first "$DIR/first.cpio.gz" --ca "$DIR/ca/ca.pem" --pub "$DIR/key/nk.pub" \
		--file "$DIR/refuse-file-load:bin/refuse-file-load"
	boot_first "$LOG" nk.wrap=refuse-file-load
	need_clean_end "$LOG" || return 0
	need "the seccomp filter was not installed" \
		e2e_has "$LOG" "NK-E2E refuse-file-load: kexec_file_load now fails with EKEYREJECTED"
	need "agent did not say it loaded with kexec_load because of EKEYREJECTED" \
		e2e_has_re <(e2e_agent_output "$LOG") \
		"loaded with kexec_load by /bin/kexec, because kexec_file_load said EKEYREJECTED"
	need "no second-system marker with this run's nonce (agent exit $(e2e_agent_exit "$LOG"))" \
		e2e_has "$LOG" "NK-E2E second-system nonce=$NONCE"
}

# Boots the first system in "kexec" mode: the harness's own kexec-probe
# loads and executes the kernel and second initrd packed into the first
# initramfs. Extra arguments go on the first kernel's command line.
kexec_probe_run() {
	NONCE=$(e2e_nonce)
	cc -static -O2 -Wall -Wextra -o "$DIR/kexec-probe" "$HERE/guest/kexec-probe.c"
	build_first "$DIR/first.cpio.gz" --file "$DIR/kexec-probe:bin/kexec-probe" \
		--file "$KDIR/vmlinuz:boot/next-kernel" --file "$SECOND:boot/next-initrd"
	e2e_run_vm "$LOG" --quiet --kernel "$KDIR/vmlinuz" --initrd "$DIR/first.cpio.gz" \
		--append "$E2E_BASE_CMDLINE nk.mode=kexec nk.next_nonce=$NONCE $*"
	echo "$E2E_VM_SECS" >"$DIR/vm_secs"
}

scenario_kexec() {
	kexec_probe_run
	need_clean_end "$LOG" || return 0
	need "kexec_load refused" e2e_has "$LOG" "NK-E2E kexec-probe kexec_load: ok"
	need "kexec_file_load refused" e2e_has "$LOG" "NK-E2E kexec-probe kexec_file_load: ok"
	need "kexec_loaded was not 1 after the load" e2e_has "$LOG" "NK-E2E kexec_loaded=1"
	need "no second-system marker" e2e_has "$LOG" "NK-E2E second-system nonce=$NONCE"
}

scenario_kexec_lockdown() {
	kexec_probe_run lockdown=integrity
	need_clean_end "$LOG" || return 0
	need "first kernel not in lockdown=integrity" e2e_has "$LOG" "[integrity]"
	need "kexec_load not refused with EPERM" \
		e2e_has "$LOG" "NK-E2E kexec-probe kexec_load: errno=1 "
	need "kexec_file_load not refused with EPERM" \
		e2e_has "$LOG" "NK-E2E kexec-probe kexec_file_load: errno=1 "
	need "kexec_loaded not 0" e2e_has "$LOG" "NK-E2E kexec_loaded=0"
	need "first system did not finish" e2e_has "$LOG" "NK-E2E first-system done"
	need "second system booted" lacks "$LOG" "NK-E2E second-system"
}

# --- driver ---

# Runs one scenario and prints its result line.
run_scenario() {
	local name=$1 rc t0 secs vm init
	DIR="$WORK/$name" LOG="$LOGS/$name.log" REASONS="$WORK/$name/reasons"
	mkdir -p "$DIR"
	: >"$REASONS"
	rm -f "$LOG"
	t0=$(e2e_now)
	# A subshell with set -e of its own (a function called from a condition
	# would run with -e silently off) and its own cleanup of the servers it
	# started; in the background so that our INT/TERM trap runs at once.
	(
		set -eE
		trap e2e_cleanup EXIT
		trap 'exit 130' INT TERM
		trap 'echo "setup step failed: $BASH_COMMAND" >>"$REASONS"' ERR
		"scenario_${name//-/_}"
	) >"$LOGS/$name.host.log" 2>&1 &
	SCENARIO_PID=$!
	rc=0
	wait "$SCENARIO_PID" || rc=$?
	SCENARIO_PID=""
	secs=$(e2e_since "$t0")
	[ "$rc" -eq 0 ] || [ -s "$REASONS" ] || echo "scenario exited $rc" >>"$REASONS"
	vm=$(cat "$DIR/vm_secs" 2>/dev/null || echo -)
	init=$(cat "$DIR/initramfs_secs" 2>/dev/null || echo -)
	TIMINGS+=("$name: initramfs $init s, VM $vm s, total $secs s")
	if [ -s "$REASONS" ]; then
		NFAIL=$((NFAIL + 1))
		say "FAIL $name ($secs s)"
		sed 's/^/  - /' "$REASONS"
		show_logs "$name"
	else
		NPASS=$((NPASS + 1))
		say "PASS $name (VM $vm s, total $secs s)"
	fi
}

show_logs() {
	local name=$1
	if [ -s "$LOGS/$name.host.log" ]; then
		echo "  host log $LOGS/$name.host.log, last lines:"
		tail -n 8 "$LOGS/$name.host.log" | sed 's/^/    | /'
	fi
	if [ -s "$LOGS/$name.log" ]; then
		echo "  serial log $LOGS/$name.log, last lines:"
		tail -n 15 "$LOGS/$name.log" | sed 's/^/    | /'
	fi
}

fail_all() {
	local why=$1 s
	for s in "${SCENARIOS[@]}"; do
		NFAIL=$((NFAIL + 1))
		say "FAIL $s: $why"
	done
}

summary() {
	local t
	say "timings:"
	for t in "${TIMINGS[@]+"${TIMINGS[@]}"}"; do echo "  $t"; done
	say "total: $NPASS passed, $NFAIL failed, $NSKIP skipped"
}

main() {
	local s
	for s in "${SCENARIOS[@]}"; do
		declare -F "scenario_${s//-/_}" >/dev/null || { echo "e2e: unknown scenario '$s'" >&2; exit 64; }
	done
	# The one reason to skip: no emulator at all. Everything else the test
	# needs is installed by tools/install-deps.sh test, so its absence is a failure.
	if ! command -v "${NK_QEMU:-qemu-system-x86_64}" >/dev/null; then
		for s in "${SCENARIOS[@]}"; do
			NSKIP=$((NSKIP + 1))
			say "SKIP $s: qemu-system-x86_64 not installed (tools/install-deps.sh test)"
		done
		summary
		return 0
	fi
	mkdir -p "$LOGS"
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/nk-e2e.XXXXXX")
	if [ ! -x "$STATIC/nixos-kexec" ] || [ ! -x "$STATIC/kexec" ]; then
		fail_all "no static agent and kexec in $STATIC (make static)"
	elif ! prepare_kernel; then
		fail_all "could not obtain the Debian kernel (see $LOGS/kernel.log)"
	elif ! prepare_second; then
		fail_all "could not build the second initrd (see $LOGS/initramfs.log)"
	else
		for s in "${SCENARIOS[@]}"; do run_scenario "$s"; done
	fi
	summary
	[ "$NFAIL" -eq 0 ]
}

main "$@"
