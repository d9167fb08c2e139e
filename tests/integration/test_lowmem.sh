#!/usr/bin/env bash
# boot on a machine short of RAM (issue 22): where the verified bytes wait
# (--stage ram|disk|auto) and a memory check that is the measured peak of
# the chosen mode, never less. Runs the agent built with its system calls
# replaced (build/tests/nixos-kexec-fakesys, tests/integration/sys_fake.c):
# /proc/meminfo is a fixture and the "load" copies what the kernel would
# read and says from which descriptor; this machine's kernel is never
# touched. The bundle comes over real HTTPS from the stub on loopback.
#
# Bundle B = 64 KiB kernel + 32 MiB initrd = 32.06 MiB: RAM staging needs
# 3.3 B + 64 MiB = 169.8 MiB, disk staging 2.3 B + 64 MiB = 137.7 MiB; the
# old formula (2 B + 64 MiB = 128.1 MiB) passed both 150 and 130 MiB and
# staged in RAM, where the measured peak is 3.3 B.
set -u
. "$(dirname "$0")/lib.sh"
it_fakesys lowmem stage || exit

minisign -G -W -p "$T/pub" -s "$T/sec" >/dev/null
head -c 65536 /dev/urandom >"$T/bzImage"
head -c $((32 << 20)) /dev/urandom >"$T/initrd"
"$B/nixos-kexec" bundle --kernel "$T/bzImage" --initrd "$T/initrd" --cmdline "console=ttyS0" \
	--version 7 -o "$T/root/b" >/dev/null
minisign -S -s "$T/sec" -m "$T/root/b/manifest" >/dev/null
it_start_stub "$T" "$T/root" || exit 1
ARGS=("$STUB_URL/b/" -p "$T/pub" --cacert "$T/ca.pem" --exec none --no-handoff "${STATE[@]}")

loaded_from() { # what the fake load saw for the initrd: memfd, or the directory
	awk -F '\t' '$1 == "load" { sub(/^initrd=/, "", $3); print $3 }' "$NK_FAKE_LOG" 2>/dev/null
}
same_bytes() { # the "kernel" read exactly the verified artifacts
	cmp -s "$NK_FAKE_LOG.kernel" "$T/bzImage" && cmp -s "$NK_FAKE_LOG.initrd" "$T/initrd"
}

it_case "lowmem: 400 MiB available: auto stages in sealed RAM as before"
run ram 400 boot "${ARGS[@]}" --stage-dir "$T/stage"
expect 0 "staging in RAM: sealed memfds" "RAM staging peaks at 3.3 x B + 64.0 MiB margin = 169.8 MiB" &&
	case $(loaded_from) in
	"/memfd:initrd (deleted),ro") same_bytes && it_pass || it_fail "the loaded bytes differ" ;;
	*) it_fail "loaded from '$(loaded_from)', want a read-only memfd" ;;
	esac

it_case "lowmem: 150 MiB (RAM needs 169.8, disk 137.7): auto stages on disk and says so"
run disk 150 boot "${ARGS[@]}" --stage-dir "$T/stage"
expect 0 "MemAvailable 150.0 MiB: staging on disk (--stage auto)" \
	"disk staging at 2.3 x B + 64.0 MiB = 137.7 MiB" \
	"staging on disk: unlinked O_TMPFILE files in $T/stage" "loaded (kexec_loaded = 1)" &&
	case $(loaded_from) in
	"$T/stage/#"*" (deleted)",ro) same_bytes && it_pass || it_fail "the loaded bytes differ" ;;
	*) it_fail "loaded from '$(loaded_from)', want a read-only unlinked file in $T/stage" ;;
	esac

it_case "lowmem: disk staging leaves no file behind"
left=$(find "$T/stage" -mindepth 1 | wc -l)
it_expect_eq "$left" 0

it_case "lowmem: 130 MiB (the old formula's 128.1 passed): refused, both modes' numbers, nothing loaded"
run none 130 boot "${ARGS[@]}" --stage-dir "$T/stage"
expect 71 "not enough memory to stage and load this bundle" "= 169.8 MiB" "= 137.7 MiB" \
	"MemAvailable 130.0 MiB: neither fits" &&
	{ [ ! -e "$NK_FAKE_LOG" ] && it_pass || it_fail "something was loaded: $(cat "$NK_FAKE_LOG")"; }

it_case "lowmem: --stage ram at 150 MiB: refused, not staged on disk behind the user's back"
run forced-ram 150 boot "${ARGS[@]}" --stage ram --stage-dir "$T/stage"
expect 71 "neither fits (--stage ram)" && { [ ! -e "$NK_FAKE_LOG" ] && it_pass || it_fail "loaded"; }

it_case "lowmem: --stage disk with plenty of RAM: on disk"
run forced-disk 400 boot "${ARGS[@]}" --stage disk --stage-dir "$T/stage"
expect 0 "staging on disk (--stage disk)" &&
	case $(loaded_from) in
	"$T/stage/#"*) it_pass ;;
	*) it_fail "loaded from '$(loaded_from)'" ;;
	esac

it_case "lowmem: a tmpfs is never a staging disk (its pages are RAM)"
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
	run shm 150 boot "${ARGS[@]}" --stage-dir /dev/shm
	expect 71 "disk staging not possible: /dev/shm: tmpfs (its pages are RAM)" && it_pass
else
	it_skip "/dev/shm is not a tmpfs here"
fi

it_case "lowmem: --stage takes ram, disk or auto only"
run bad-stage 400 boot "${ARGS[@]}" --stage swap
expect 64 "--stage takes ram, disk or auto" && it_pass

it_case "lowmem: check reports both modes and the choice"
meminfo 150
"$NK" check "$STUB_URL/b/" -p "$T/pub" --cacert "$T/ca.pem" "${STATE[@]}" >"$T/log/check" 2>&1
RC=$? OUT=$T/log/check
expect 0 "RAM staging peaks at 3.3 x B" "disk staging at 2.3 x B" "staging on disk (--stage auto)" &&
	it_pass

it_case "$IT_SUITE: nothing written to this machine's state directory"
if [ "$had_state" = 0 ] && [ -e /var/lib/nixos-kexec ]; then
	it_fail "/var/lib/nixos-kexec was made"
else
	it_pass
fi

it_summary
