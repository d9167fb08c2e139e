#!/usr/bin/env bash
# Runs one e2e VM and saves its serial console to a file.
#
#   qemu.sh --kernel F --initrd F --append CMDLINE --log FILE
#           [--fwd PORT | --fwd GUESTPORT:HOSTPORT]... [--timeout SECONDS]
#           [--nics N] [--quiet]
#
# The guest's only way out is --fwd: connections to 10.0.2.100:GUESTPORT are
# handed, one busybox nc per connection, to 127.0.0.1:HOSTPORT on the host.
# restrict=on cuts the guest off from everything else, the host's own
# services included.
#
# --nics N (1-4, default 1): NICs 2..N (eth1.., MACs 52:54:00:12:34:57..)
# each on a user network of its own, restrict=on and no forwarding at all.
#
# The console is streamed to stdout as it arrives unless --quiet.
# Exit status: QEMU's (0 when the guest powered off or, with -no-reboot,
# rebooted or panicked; the caller reads the log to tell these apart), or
# 124 when the timeout (default 180 s) cut the whole process group.
#
# Environment: NK_E2E_ACCEL=auto|kvm|tcg (default auto), NK_E2E_MEM (MiB,
# default 512), NK_BUSYBOX (host busybox for guestfwd, default /bin/busybox).
set -euo pipefail

QEMU=${NK_QEMU:-qemu-system-x86_64}
BUSYBOX=${NK_BUSYBOX:-/bin/busybox}

log() { printf 'qemu.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 64; }
usage() { sed -n '2,20s/^# \{0,1\}//p' "$0" >&2; exit 64; }

# shellcheck source=tests/e2e/lib/vm.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/vm.sh"

QPID="" TPID=""
cleanup() {
	# TERM to timeout is forwarded to its whole process group, QEMU included.
	# The nc processes guestfwd spawns are not in it (slirp runs them in a
	# session of their own); each ends when its connection closes, i.e. once
	# QEMU is gone and the host server has answered or been stopped.
	[ -z "$QPID" ] || kill -TERM "$QPID" 2>/dev/null || true
	[ -z "$TPID" ] || kill -TERM "$TPID" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

main() {
	local kernel="" initrd="" append="" logf="" timeout=180 quiet=0 fwds=() f nics=1
	while [ $# -gt 0 ]; do
		case $1 in
		--kernel) kernel=$2; shift 2 ;;
		--initrd) initrd=$2; shift 2 ;;
		--append) append=$2; shift 2 ;;
		--log) logf=$2; shift 2 ;;
		--fwd) fwds+=("$2"); shift 2 ;;
		--timeout) timeout=$2; shift 2 ;;
		--quiet) quiet=1; shift ;;
		--nics) nics=$2; shift 2 ;;
		*) usage ;;
		esac
	done
	[ -n "$kernel" ] && [ -n "$initrd" ] && [ -n "$logf" ] || usage
	[ -f "$kernel" ] || die "no kernel $kernel"
	[ -f "$initrd" ] || die "no initrd $initrd"
	command -v "$QEMU" >/dev/null || die "$QEMU not found"
	[ ${#fwds[@]} -eq 0 ] || [ -x "$BUSYBOX" ] || die "$BUSYBOX not found (busybox-static)"

	local g netdev fw=()
	for f in "${fwds[@]+"${fwds[@]}"}"; do
		g=${f%%:*}
		fw+=("guest:$g:${f#*:}")
	done
	netdev=$(e2e_netdev n0 "${fw[@]+"${fw[@]}"}") || die "bad --fwd"
	local E2E_ACCEL
	e2e_accel || exit 64
	local args=(
		"${E2E_ACCEL[@]}" -m "${NK_E2E_MEM:-512}"
		-nodefaults -display none -serial stdio -no-reboot -monitor none
		-netdev "$netdev" -device virtio-net-pci,romfile=,netdev=n0
		-device virtio-rng-pci
		-kernel "$kernel" -initrd "$initrd" -append "$append"
	)
	case $nics in [1-4]) ;; *) die "--nics takes 1 to 4" ;; esac
	local i
	for ((i = 1; i < nics; i++)); do
		args+=(-netdev "$(e2e_netdev "n$i")"
			-device "virtio-net-pci,romfile=,netdev=n$i,mac=52:54:00:12:34:$(printf %02x $((0x56 + i)))")
	done
	mkdir -p "$(dirname "$logf")"
	: >"$logf"
	log "${E2E_ACCEL[*]}, timeout ${timeout}s, log $logf"

	local t0 rc=0
	t0=$(date +%s.%N)
	# timeout puts itself and QEMU in a new process group and, on expiry,
	# signals the whole group; -k follows up with KILL if TERM is ignored.
	# stdin is /dev/null so QEMU neither reads a terminal nor gets SIGTTIN.
	timeout -k 5 "$timeout" "$QEMU" "${args[@]}" </dev/null >"$logf" 2>&1 &
	QPID=$!
	if [ "$quiet" -eq 0 ]; then
		tail -n +1 -f --pid="$QPID" "$logf" &
		TPID=$!
	fi
	wait "$QPID" || rc=$?
	QPID=""
	if [ -n "$TPID" ]; then
		wait "$TPID" || true
		TPID=""
	fi
	case $rc in 124 | 137) rc=124 ;; esac
	log "exit $rc after $(elapsed "$t0") s"
	return "$rc"
}

elapsed() {
	local now
	now=$(date +%s.%N)
	awk -v a="$1" -v b="$now" 'BEGIN { printf "%.1f", b - a }'
}

main "$@"
