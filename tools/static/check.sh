#!/usr/bin/env bash
# make check-static: the static agents as users get them, checked on this
# machine: no program interpreter, at most 4 MiB; the TLS matrix of the
# trimmed OpenSSL (check-tls.sh) for both; and the fetch part of the
# integration suite (the bad-input matrix, CA discovery per distribution)
# with the static x86_64 agent natively and the aarch64 agent under
# qemu-aarch64-static. B is the build directory (default build).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=$(cd "${B:-build}" && pwd)
cd "$ROOT" || exit 1
fail=0
say() { printf 'check-static: %s\n' "$*"; }

for arch in x86_64 aarch64; do
	d=$B/static/$arch
	for f in nixos-kexec kexec; do
		if [ ! -x "$d/$f" ]; then
			say "FAIL $arch: no $d/$f (make static)"
			fail=1
		elif readelf -l "$d/$f" | grep -q INTERP; then
			say "FAIL $arch: $f names a program interpreter"
			fail=1
		elif [ "$(stat -c %s "$d/$f")" -gt 4194304 ]; then
			say "FAIL $arch: $f is over 4 MiB"
			fail=1
		else
			say "ok   $arch: $f static, $(stat -c %s "$d/$f") bytes"
		fi
	done
done
[ $fail = 0 ] || exit 1

# Each run gets a directory with the stub and an agent: the binary itself,
# or a wrapper that runs it under qemu-user.
suite() { # ARCH RUNNER...
	local arch=$1 dir=$B/static-check/$1 t out
	shift
	rm -rf "$dir" && mkdir -p "$dir" || return 1
	cp "$B/nixos-kexec-stub" "$dir/"
	if [ $# -gt 0 ]; then
		printf '#!/bin/sh\nexec %s %s "$@"\n' "$*" "$B/static/$arch/nixos-kexec" >"$dir/nixos-kexec"
		chmod 0755 "$dir/nixos-kexec"
	else
		cp "$B/static/$arch/nixos-kexec" "$dir/"
	fi
	"$dir/nixos-kexec" --version >/dev/null || { say "FAIL $arch: --version"; return 1; }
	tools/static/check-tls.sh "$B/static/$arch/nixos-kexec" "$@" 2>&1 | tail -n 1 | sed "s/^/  $arch: /"
	[ "${PIPESTATUS[0]}" = 0 ] || return 1
	for t in test_matrix test_castore; do
		out=$(B=$dir bash "tests/integration/$t.sh" 2>&1)
		rc=$?
		printf '%s\n' "$out" | grep -E '^(FAIL|SKIP) ' | sed "s/^/  $arch: /"
		printf '%s\n' "$out" | tail -n 1 | sed "s/^/  $arch: /"
		[ $rc = 0 ] || return 1
	done
}

suite x86_64 || fail=1
if command -v qemu-aarch64-static >/dev/null; then
	suite aarch64 qemu-aarch64-static || fail=1
else
	say "FAIL aarch64: qemu-aarch64-static not installed (tools/install-deps.sh static)"
	fail=1
fi
[ $fail = 0 ] && say "all passed" || say "failed"
exit $fail
