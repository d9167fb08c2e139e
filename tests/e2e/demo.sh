#!/usr/bin/env bash
# make demo: the whole story in a VM, told step by step for a newcomer.
# The same run as the e2e "boot" scenario, but it explains each step and
# streams the VM's serial console live, so the agent's own progress (fetch,
# verification, staging, kexec) is visible, and ends with the line that only
# the second kernel can print.
#
# Keeps its key, bundle and serial log in $B/demo/ (B defaults to build).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
B=$(cd "${B:-build}" && pwd)
# shellcheck source=tests/e2e/e2e-lib.sh
. "$HERE/e2e-lib.sh"

DEMO="$B/demo"
WORK=""
cleanup() {
	e2e_cleanup
	[ -z "$WORK" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

STEP=0
step() {
	STEP=$((STEP + 1))
	printf '\n\033[1m== %d. %s\033[0m\n' "$STEP" "$1"
	shift
	local line
	for line in "$@"; do printf '   %s\n' "$line"; done
}
note() { printf '   %s\n' "$*"; }
die() { printf '\ndemo: %s\n' "$*" >&2; exit 1; }

main() {
	mkdir -p "$DEMO"
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/nk-demo.XXXXXX")
	cat <<'EOF'
nixos-kexec demo
================
A "target machine" (a QEMU VM running a stock Debian kernel from a tiny
busybox initramfs) will download a signed boot bundle over HTTPS from a
server on this host, verify every byte, and kexec into the kernel inside
the bundle, without touching any disk. Everything stays on this machine:
the VM reaches the host's loopback only, through QEMU's user-mode network.
EOF

	step "Get a kernel" \
		"Debian's current kernel package, downloaded but not installed, plays" \
		"both the target's running kernel and the kernel we boot into." \
		"(The first run downloads about 70 MB from Debian; later runs use the cache.)"
	KDIR=$("$HERE/kernel.sh" 2>"$WORK/kernel.log") ||
		die "could not obtain the Debian kernel: $(cat "$WORK/kernel.log")"
	note "$(cat "$KDIR/package") -> $KDIR"

	step "A signing key" \
		"Whoever builds bundles holds the secret key; targets trust only the" \
		"public key (minisign format)."
	if [ ! -s "$DEMO/demo.pub" ] || [ ! -s "$DEMO/demo.sec" ]; then
		note "\$ nixos-kexec keygen -W -p $DEMO/demo.pub -s $DEMO/demo.sec"
		rm -f "$DEMO/demo.pub" "$DEMO/demo.sec"
		"$B/nixos-kexec" keygen -W -p "$DEMO/demo.pub" -s "$DEMO/demo.sec"
	else
		note "reusing $DEMO/demo.pub"
	fi
	sed 's/^/   | /' "$DEMO/demo.pub"

	step "The system to boot" \
		"Normally a NixOS kernel and initrd. Here a tiny initrd stands in: its" \
		"/init prints a marker with a nonce made for this run, found only on" \
		"the bundle's kernel command line, then powers off."
	local nonce cmdline
	nonce=$(e2e_nonce)
	cmdline="$E2E_BASE_CMDLINE nk.nonce=$nonce"
	"$HERE/initramfs.sh" second -o "$WORK/second.cpio.gz" 2>"$WORK/initramfs.log" ||
		die "initramfs.sh second failed: $(cat "$WORK/initramfs.log")"
	note "nonce: $nonce"

	step "Bundle and sign it" \
		"The manifest names each file with its size and SHA-256; the" \
		"signature covers the manifest."
	note "\$ nixos-kexec bundle --kernel vmlinuz --initrd second.cpio.gz --cmdline '...' --version 1 -o $DEMO/bundle"
	note "\$ nixos-kexec sign -s $DEMO/demo.sec $DEMO/bundle"
	e2e_make_bundle "$KDIR/vmlinuz" "$WORK/second.cpio.gz" "$cmdline" \
		"$DEMO/demo.sec" "$DEMO/bundle"
	sed 's/^/   | /' "$DEMO/bundle/manifest"

	step "Serve it over HTTPS" \
		"A throwaway CA and a certificate for 10.0.2.100, the address under" \
		"which the VM sees this host's server; nixos-kexec-stub listens on" \
		"127.0.0.1 only."
	e2e_make_ca "$WORK/ca"
	e2e_start_stub "$DEMO/bundle" "$WORK/ca" "$WORK/stub.log" || die "the stub did not start"
	local url="https://$E2E_GUEST_SERVER:$E2E_STUB_PORT/"
	note "serving $DEMO/bundle on 127.0.0.1:$E2E_STUB_PORT, seen by the VM as $url"

	step "Boot the target machine" \
		"Its initramfs holds the agent, the public key and the CA certificate." \
		"Its /init brings up the network and runs:" \
		"  nixos-kexec boot $url -p /etc/nk.pub --cacert /etc/nk-ca.pem --exec direct" \
		"The serial console follows (Ctrl-C stops the demo)."
	"$HERE/initramfs.sh" first -o "$WORK/first.cpio.gz" -k "$KDIR" -a "$B/nixos-kexec" \
		--ca "$WORK/ca/ca.pem" --pub "$DEMO/demo.pub" 2>"$WORK/initramfs.log" ||
		die "initramfs.sh first failed: $(cat "$WORK/initramfs.log")"
	printf '\n'
	e2e_run_vm "$DEMO/serial.log" --kernel "$KDIR/vmlinuz" --initrd "$WORK/first.cpio.gz" \
		--fwd "$E2E_STUB_PORT" \
		--append "$E2E_BASE_CMDLINE nk.mode=boot nk.url=$url" 2>/dev/null

	step "Result"
	local marker
	marker=$(grep -a "^NK-E2E second-system nonce=$nonce" "$DEMO/serial.log" || true)
	if [ -n "$marker" ] && [ "$E2E_VM_RC" -eq 0 ] && ! grep -aq 'Kernel panic' "$DEMO/serial.log"; then
		note "The second kernel started from the verified bundle and printed:"
		note "  $marker"
		note "VM time ${E2E_VM_SECS} s; serial log: $DEMO/serial.log"
		return 0
	fi
	note "The second system did not come up (QEMU exit $E2E_VM_RC, agent exit $(e2e_agent_exit "$DEMO/serial.log"))."
	note "Serial log: $DEMO/serial.log"
	return 1
}

main "$@"
