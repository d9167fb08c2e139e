# shellcheck shell=bash
# How every e2e VM is started: the accelerator and the user-mode network
# (always restrict=on). Sourced by qemu.sh and, through runner.sh, by the
# runners; no side effects.

E2E_GUEST_SERVER=${E2E_GUEST_SERVER:-10.0.2.100}

# KVM only where a real kvm_intel/kvm_amd module drives /dev/kvm: a nested
# or paravirtual kvm (kvm_pvm, say) exposes /dev/kvm but cannot run a stock
# kernel (-cpu host aborts, other models hang), so TCG is the safe default.
e2e_kvm_usable() {
	{ [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; } &&
		[ -c /dev/kvm ] && [ -w /dev/kvm ]
}

# e2e_accel [TCG_OPTS]: sets E2E_ACCEL (QEMU arguments) from NK_E2E_ACCEL
# (auto, kvm or tcg; default auto). TCG_OPTS is appended to "tcg"
# (",tb-size=256", say). Fails on another value. NK_E2E_ARCH=aarch64: the
# arm64 virt machine under TCG.
# shellcheck disable=SC2034 # E2E_ACCEL is the caller's
e2e_accel() {
	local tcg=(-accel "tcg${1:-}" -cpu max)
	# An arm64 guest (NK_E2E_ARCH=aarch64) on this x86_64 host is always
	# emulated, on the virt machine; -cpu max would also emulate pointer
	# authentication, which is slow.
	if [ "${NK_E2E_ARCH:-x86_64}" = aarch64 ]; then
		E2E_ACCEL=(-M virt -accel "tcg${1:-}" -cpu cortex-a72)
		return 0
	fi
	case ${NK_E2E_ACCEL:-auto} in
	kvm) E2E_ACCEL=(-accel kvm -cpu host) ;;
	tcg) E2E_ACCEL=("${tcg[@]}") ;;
	auto)
		if e2e_kvm_usable; then E2E_ACCEL=(-accel kvm -cpu host)
		else E2E_ACCEL=("${tcg[@]}"); fi ;;
	*) echo "e2e: NK_E2E_ACCEL must be auto, kvm or tcg" >&2; return 1 ;;
	esac
}

# e2e_netdev ID [FWD]...: prints a -netdev value for QEMU's user-mode
# network with restrict=on (the guest reaches nothing but what FWD opens)
# and no IPv6. Each FWD is one of
#   guest:GPORT:HPORT  connections to $E2E_GUEST_SERVER:GPORT go, one
#                      busybox nc per connection, to 127.0.0.1:HPORT
#   host:HPORT:GIP:GPORT  127.0.0.1:HPORT on the host to GIP:GPORT (GIP
#                      empty: the guest's DHCP address)
# NK_BUSYBOX is the host's busybox (default /bin/busybox).
e2e_netdev() {
	local net="user,id=$1,restrict=on,ipv6=off" f a b c
	shift
	for f in "$@"; do
		IFS=: read -r _ a b c <<<"$f"
		case $f in
		guest:*)
			case $a$b in *[!0-9]* | "") echo "e2e: bad forward $f" >&2; return 1 ;; esac
			# The cmd: form spawns a fresh nc per connection; the socket
			# form would serve only the first one.
			net+=",guestfwd=tcp:$E2E_GUEST_SERVER:$a-cmd:${NK_BUSYBOX:-/bin/busybox} nc 127.0.0.1 $b" ;;
		host:*)
			net+=",hostfwd=tcp:127.0.0.1:$a-$b:$c" ;;
		*) echo "e2e: bad forward $f" >&2; return 1 ;;
		esac
	done
	printf '%s\n' "$net"
}

# A free TCP port on 127.0.0.1 (for hostfwd).
e2e_free_port() {
	perl -MIO::Socket::INET -e '
		my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
			Listen => 1, ReuseAddr => 1) or die "listen: $!\n";
		print $s->sockport, "\n"'
}

# Debian's arm64 busybox-static for arm64 guests (the e2e's initramfs, the
# arm64 journey's stand-in initrd): downloaded (never installed: it would
# replace the host's) and cached by version under NK_CACHE.
# e2e_arm64_busybox_path prints where the candidate version is (or goes);
# e2e_arm64_busybox_fetch PATH downloads it there unless it is there.
E2E_ARM64_BUSYBOX_PKG=busybox-static:arm64
e2e_arm64_busybox_ver() {
	apt-cache policy "$E2E_ARM64_BUSYBOX_PKG" 2>/dev/null | sed -n 's/^ *Candidate: //p' | head -n1
}
e2e_arm64_busybox_path() {
	local ver
	ver=$(e2e_arm64_busybox_ver)
	printf '%s\n' "${NK_CACHE:-$HOME/.cache/nixos-kexec}/busybox/arm64_${ver//[:~]/_}/busybox"
}
e2e_arm64_busybox_fetch() {
	local pkg=$E2E_ARM64_BUSYBOX_PKG ver dir=${1%/busybox} tmp opts=()
	ver=$(e2e_arm64_busybox_ver)
	[ -n "$ver" ] && [ "$ver" != "(none)" ] || {
		echo "e2e: apt knows no $pkg (dpkg --add-architecture arm64: tools/install-deps.sh static)" >&2
		return 1
	}
	[ ! -x "$dir/busybox" ] || return 0
	mkdir -p "${dir%/*}"
	tmp=$(mktemp -d "${dir%/*}/.tmp.XXXXXX")
	[ "$(id -u)" -ne 0 ] || opts=(-o APT::Sandbox::User=root)
	if ! (cd "$tmp" && apt-get download -q "${opts[@]}" "$pkg=$ver" >&2 &&
		dpkg-deb --fsys-tarfile ./*.deb | tar -x ./bin/busybox); then
		rm -rf "$tmp"
		echo "e2e: could not download $pkg=$ver" >&2
		return 1
	fi
	mkdir -p "$tmp/out" && mv "$tmp/bin/busybox" "$tmp/out/busybox"
	mv -T "$tmp/out" "$dir" 2>/dev/null || [ -x "$dir/busybox" ]
	rm -rf "$tmp"
}
