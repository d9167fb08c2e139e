#!/usr/bin/env bash
# Builds, or finds in the cache, the two Debian systems of the journey test,
# made with mmdebstrap from the apt sources this machine uses:
#
#   image.sh cloud    a fresh cloud VM's root file system (systemd, cloud-init,
#                     openssh-server, curl, Debian's kernel with a small
#                     MODULES=list initrd; no SSH host keys, no machine id):
#                     prints the path of a zstd-compressed tarball
#   image.sh second   the stand-in for NixOS (DESIGN.md, "Handoff"): a small
#                     systemd userspace with sshd, networkd and the NixOS
#                     module's stage-2 script (nix/handoff/stage2.sh) run by
#                     the same unit the module declares, and its fleet
#                     scripts (nix/handoff/report.sh, revert.sh,
#                     selftest.sh, nixos-kexec-confirm; curl, ping, awk)
#                     run by the units nixos-kexec-report-up,
#                     nixos-kexec-revert and nixos-kexec-selftest (second/),
#                     and the /etc/os-release fields nixos-anywhere checks
#                     (ID=nixos, VARIANT_ID=installer): prints the path
#                     of a zstd squashfs, which run.sh packs into the initrd
#   image.sh cloud-arm64, image.sh second-arm64
#                     the same two for arm64 (make journey-arm64):
#                     mmdebstrap --arch=arm64 with linux-image-arm64, the
#                     package scripts run by qemu-user-static (foreign.sh:
#                     a private binfmt_misc unless this machine has one)
#
# Both are cached under ${NK_CACHE:-${XDG_CACHE_HOME:-~/.cache}/nixos-kexec}/
# journey/, keyed by the package versions apt resolves today (mmdebstrap
# --simulate, about 5 s) and a hash of the recipe (the functions that build
# that kind and the files they copy in), so a security update or a recipe
# change rebuilds, and nothing else does; without the archive, the newest
# result of the same recipe is used. A result appears in the cache at once or not at all (written
# under a temporary name, then renamed). The cold path needs only Debian's
# archive.
#
# Needs root (mmdebstrap --mode=root keeps file owners, which mkfs.ext4 -d and
# mksquashfs copy). Environment: NK_JOURNEY_SUITE (default: this machine's
# codename), NK_JOURNEY_SOURCES (one-line apt sources, newline separated;
# default: this machine's entries for that suite), NK_JOURNEY_KEEP_IMAGES
# (cached results kept per kind, default 2).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
CACHE=${NK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nixos-kexec}/journey

export LC_ALL=C
log() { printf 'image.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The packages of each system. The cloud image has what a Debian cloud image
# has that the journey touches; libsodium23 lets a dynamically linked agent
# run there until the static one (build/static/) is the only one used;
# unbound, disabled, is the local forwarder dns-local-resolver turns on.
CLOUD_PKGS=(systemd systemd-sysv udev dbus openssh-server cloud-init
	ca-certificates curl iproute2 e2fsprogs linux-image-ARCH initramfs-tools
	zstd kmod sudo libcurl4 libsodium23 unbound)
# usr-is-merged: what stands for usrmerge once it has done its work.
# iputils-ping and mawk for the network self-test (nix/handoff/selftest.sh;
# the essential variant has no awk). systemd-resolved and libnss-resolve:
# NixOS turns resolved on with networkd (nixos/modules/system/boot/
# resolved.nix: the unit wanted by sysinit.target, /etc/resolv.conf the stub's
# file, "resolve [!UNAVAIL=return]" in nsswitch's hosts).
SECOND_PKGS=(systemd systemd-sysv udev dbus openssh-server iproute2 kmod usr-is-merged
	curl ca-certificates iputils-ping mawk systemd-resolved libnss-resolve)

# Files whose content goes into a result besides this script.
SECOND_FILES=("$HERE/second/nixos-kexec-handoff.service" "$ROOT/nix/handoff/stage2.sh"
	"$HERE/second/nixos-kexec-report-up.service" "$HERE/second/nixos-kexec-revert.service"
	"$ROOT/nix/handoff/report.sh" "$ROOT/nix/handoff/revert.sh" "$ROOT/nix/handoff/nixos-kexec-confirm"
	"$HERE/second/nixos-kexec-selftest.service" "$ROOT/nix/handoff/selftest.sh")
CLOUD_FILES=()

TMP=""
cleanup() { [ -z "$TMP" ] || rm -rf "$TMP"; }
trap cleanup EXIT

suite() {
	local s=${NK_JOURNEY_SUITE:-}
	if [ -z "$s" ]; then
		s=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
	fi
	[ -n "$s" ] || die "cannot tell this machine's Debian suite; set NK_JOURNEY_SUITE"
	printf '%s\n' "$s"
}

# One-line "deb URI SUITE COMPONENTS" entries for SUITE and its -updates and
# -security, from /etc/apt/sources.list, *.list and deb822 *.sources. Third
# party repositories (other suites) are left out.
sources() {
	local s=$1
	if [ -n "${NK_JOURNEY_SOURCES:-}" ]; then
		printf '%s\n' "$NK_JOURNEY_SOURCES"
		return
	fi
	{
		{ cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
			sed -e 's/#.*//' -e 's/\[[^]]*\]//' |
			awk '$1 == "deb" && NF >= 4 { print $2, $3, substr($0, index($0, $4)) }'
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] || continue
			# deb822: stanzas separated by blank lines; one line per suite.
			awk 'function flush() {
					if (types ~ /(^| )deb( |$)/ && enabled != "no")
						for (i = 1; i <= ns; i++) print uri, suites[i], comps
					types = uri = comps = enabled = ""; ns = 0
				}
				/^[ \t]*#/ { next }
				/^[ \t]*$/ { flush(); next }
				{ k = tolower($1); sub(/:$/, "", k); $1 = ""; v = substr($0, 2) }
				k == "types" { types = v }
				k == "uris" { split(v, u, " "); uri = u[1] }
				k == "suites" { ns = split(v, suites, " ") }
				k == "components" { comps = v }
				k == "enabled" { enabled = tolower(v) }
				END { flush() }' "$f"
		done
	} | awk -v s="$s" '$2 == s || $2 == s "-updates" || $2 == s "-security" ||
		$2 == s "/updates" { $1 = $1; print "deb " $0 }' | sort -u
}

# The recipe's hash: the functions that build this kind (as bash prints
# them, so comments elsewhere in this file do not count), the suite, the
# sources, the package list and the files copied in.
recipe_hash() {
	local kind=$1 f
	shift
	{
		printf '%s\n' "$kind" "$@"
		case $kind in
		cloud | cloud-arm64) declare -f build_cloud cloud_cfg ;;
		second | second-arm64) declare -f build_second ;;
		esac
		for f in $(recipe_files "$kind"); do
			printf '== %s\n' "${f#"$ROOT/"}"
			cat "$f"
		done
	} | sha256sum | cut -c1-16
}

recipe_files() {
	case $1 in
	cloud*) printf '%s\n' "${CLOUD_FILES[@]+"${CLOUD_FILES[@]}"}" ;;
	second*) printf '%s\n' "${SECOND_FILES[@]}" ;;
	esac
}

# Hash of the resolved package set: "Inst name (version" for every package
# apt would install (not the release label, which changes with point
# releases while the bytes do not). Fails when apt cannot resolve.
resolved_hash() {
	local out
	if ! out=$(mmdebstrap --simulate -v "$@" 2>&1); then
		printf '%s\n' "$out" | tail -n 20 >&2
		log "mmdebstrap --simulate failed (is Debian's archive reachable?)"
		return 1
	fi
	printf '%s\n' "$out" | sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1 \2/p' | sort |
		tee "$TMP/resolved" | sha256sum | cut -c1-16
	[ -s "$TMP/resolved" ] || die "mmdebstrap --simulate listed no packages"
}

# Keeps the newest N results of a kind; older ones go. KIND-<16>-<16>.EXT
# only: "cloud-*" would also match cloud-arm64's.
H16='????????????????'
prune() {
	local kind=$1 ext=$2 keep=${NK_JOURNEY_KEEP_IMAGES:-2} f
	ls -1t "$CACHE/$kind"-$H16-$H16."$ext" 2>/dev/null | tail -n +"$((keep + 1))" | while IFS= read -r f; do
		log "pruning old $f"
		rm -f "$f" "${f%."$ext"}.packages"
	done
}

# mmdebstrap for the kind's architecture (ARCH_OPT, set by main): a
# function, so that build_cloud and build_second, whose text is part of the
# amd64 recipes' hashes, stay as they were.
ARCH_OPT=()
mmdebstrap() { command mmdebstrap "${ARCH_OPT[@]}" "$@"; }

# --- the cloud image ---

# The image's own cloud-init configuration, as an image builder ships it in
# /etc/cloud/cloud.cfg.d (the user data stays the user's one-liner):
# NoCloud only; C.UTF-8 (no locales package); ed25519 host keys only
# (generating the default three costs ~18 s under TCG); /etc/hosts names the
# host, or sudo stalls resolving it.
cloud_cfg() {
	cat <<'EOF'
# nixos-kexec journey test image
datasource_list: [NoCloud, None]
locale: C.UTF-8
ssh_genkeytypes: [ed25519]
manage_etc_hosts: true
EOF
}

build_cloud() {
	local out=$1 suite=$2
	shift 2
	local srcs=("$@") inc
	inc=$(IFS=,; printf '%s' "${CLOUD_PKGS[*]}")
	# The initrd is made when the kernel package is configured: its
	# configuration goes in first. MODULES=dep cannot work in a chroot.
	local setup='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/usr/share/initramfs-tools/modules.d" &&
		echo MODULES=list >"$1/etc/initramfs-tools/conf.d/nk-journey.conf" &&
		printf "%s\n" virtio_pci virtio_blk ext4 >"$1/usr/share/initramfs-tools/modules.d/nk-journey"'
	cloud_cfg >"$TMP/99-nk-journey.cfg"
	local custom='set -e
		cp "'"$TMP"'/99-nk-journey.cfg" "$1/etc/cloud/cloud.cfg.d/99-nk-journey.cfg"
		rm -f "$1"/etc/ssh/ssh_host_*
		printf "uninitialized\n" >"$1/etc/machine-id"
		rm -f "$1/var/lib/dbus/machine-id"
		printf "localhost\n" >"$1/etc/hostname"
		printf "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n" >"$1/etc/hosts"
		# The test network'"'"'s DNS server is the harness'"'"'s dnsmasq
		# behind the guestfwd at E2E_GUEST_SERVER (journey/lib.sh,
		# serve): TCP only (QEMU user networking with restrict=on forwards
		# nothing else), so use-vc makes glibc ask over TCP.
		printf "nameserver 10.0.2.100\noptions use-vc\n" >"$1/etc/resolv.conf"
		printf "/dev/vda / ext4 defaults 0 1\n" >"$1/etc/fstab"
		chroot "$1" systemctl enable systemd-networkd.service
		chroot "$1" systemctl disable unbound.service
		rm -f "$1/etc/unbound/unbound.conf.d/root-auto-trust-anchor-file.conf"
		rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb'
	log "building the cloud image ($suite; ${CLOUD_PKGS[*]})"
	mmdebstrap --mode=root --variant=apt --include="$inc" \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--setup-hook="$setup" --customize-hook="$custom" \
		"$suite" - "${srcs[@]}" | zstd -q -T0 -3 -o "$out"
	[ "${PIPESTATUS[0]}" -eq 0 ] || die "mmdebstrap failed"
}

# --- the stand-in second system ---

build_second() {
	local out=$1 suite=$2
	shift 2
	local srcs=("$@") inc dir="$TMP/rootfs"
	inc=$(IFS=,; printf '%s' "${SECOND_PKGS[*]}")
	cp "$HERE/second/nixos-kexec-handoff.service" "$ROOT/nix/handoff/stage2.sh" "$TMP/"
	cp "$HERE/second/nixos-kexec-report-up.service" "$HERE/second/nixos-kexec-revert.service" \
		"$ROOT/nix/handoff/report.sh" "$ROOT/nix/handoff/revert.sh" \
		"$ROOT/nix/handoff/nixos-kexec-confirm" "$HERE/second/nixos-kexec-selftest.service" \
		"$ROOT/nix/handoff/selftest.sh" "$TMP/"
	# What NixOS's configuration would make of the module: sshd also reads
	# the handed-over keys from /run (services.openssh.authorizedKeysFiles)
	# and has the three host key paths (services.openssh.hostKeys); networkd
	# with the 99-ethernet-default-dhcp fallback (networking.useDHCP); the
	# handoff unit (systemd.services.nixos-kexec-handoff) running the
	# module's stage-2 script with bash -e, as NixOS runs a unit's script.
	local custom='set -e
		rm -f "$1"/etc/ssh/ssh_host_*
		printf "uninitialized\n" >"$1/etc/machine-id"
		rm -f "$1/var/lib/dbus/machine-id"
		printf "nixos\n" >"$1/etc/hostname"
		# What nixos-anywhere checks after the kexec (as NixOS writes it
		# with system.nixos.variant_id = "installer").
		rm -f "$1/etc/os-release"
		printf "NAME=NixOS\nID=nixos\nVARIANT_ID=installer\nPRETTY_NAME=\"stand-in for NixOS (journey test)\"\n" \
			>"$1/etc/os-release"
		printf "127.0.0.1 localhost\n::1 localhost\n" >"$1/etc/hosts"
		ln -sfn ../run/systemd/resolve/stub-resolv.conf "$1/etc/resolv.conf"
		grep -q "^hosts:.*resolve" "$1/etc/nsswitch.conf" ||
			sed -i "s/^hosts:\(.*\) dns/hosts:\1 resolve [!UNAVAIL=return] dns/" "$1/etc/nsswitch.conf"
		mkdir -p "$1/etc/ssh/sshd_config.d"
		# services.openssh.ports (default [22]) as Port lines; the
		# handed-over ports come from nixos-kexec.conf beside this file.
		cat >"$1/etc/ssh/sshd_config.d/nixos.conf" <<EOF
Port 22
AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/authorized_keys.d/%u /run/nixos-kexec/authorized_keys.d/%u
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
HostKey /etc/ssh/ssh_host_rsa_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
EOF
		# NixOS generates missing host keys before sshd starts; only the
		# ed25519 one here (each type costs seconds under TCG).
		mkdir -p "$1/etc/systemd/system/ssh.service.d"
		cat >"$1/etc/systemd/system/ssh.service.d/keygen.conf" <<EOF
[Service]
ExecStartPre=
ExecStartPre=/bin/sh -c "test -f /etc/ssh/ssh_host_ed25519_key || ssh-keygen -q -t ed25519 -N \"\" -f /etc/ssh/ssh_host_ed25519_key"
ExecStartPre=/usr/sbin/sshd -t
EOF
		mkdir -p "$1/etc/systemd/network"
		printf "[Match]\nType=ether\nKind=!*\n\n[Network]\nDHCP=yes\n" \
			>"$1/etc/systemd/network/99-ethernet-default-dhcp.network"
		install -D -m 0755 "'"$TMP"'/stage2.sh" "$1/usr/lib/nixos-kexec/stage2.sh"
		install -m 0644 "'"$TMP"'/nixos-kexec-handoff.service" "$1/etc/systemd/system/"
		# The fleet scripts (the nixos-kexec-handoff package of the module):
		# report.sh, revert.sh and selftest.sh side by side, the confirm
		# command on PATH.
		install -D -m 0755 "'"$TMP"'/report.sh" "$1/usr/lib/nixos-kexec/report.sh"
		install -D -m 0755 "'"$TMP"'/revert.sh" "$1/usr/lib/nixos-kexec/revert.sh"
		install -D -m 0755 "'"$TMP"'/selftest.sh" "$1/usr/lib/nixos-kexec/selftest.sh"
		install -D -m 0755 "'"$TMP"'/nixos-kexec-confirm" "$1/usr/lib/nixos-kexec/nixos-kexec-confirm"
		mkdir -p "$1/usr/local/bin"
		printf "#!/bin/sh\nexec /usr/lib/nixos-kexec/nixos-kexec-confirm \"\$@\"\n" \
			>"$1/usr/local/bin/nixos-kexec-confirm"
		chmod 0755 "$1/usr/local/bin/nixos-kexec-confirm"
		install -m 0644 "'"$TMP"'/nixos-kexec-report-up.service" "'"$TMP"'/nixos-kexec-revert.service" \
			"'"$TMP"'/nixos-kexec-selftest.service" "$1/etc/systemd/system/"
		chroot "$1" systemctl enable systemd-networkd.service systemd-resolved.service nixos-kexec-handoff.service \
			nixos-kexec-report-up.service nixos-kexec-revert.service nixos-kexec-selftest.service
		chroot "$1" systemctl mask systemd-networkd-wait-online.service
		# Without the hardware database (20 MB) udev still names devices.
		rm -f "$1/usr/lib/udev/hwdb.bin" "$1/etc/udev/hwdb.bin"
		# usrmerge (and with it perl, 30 MB) only converts the tree at
		# installation; usr-is-merged stands for it afterwards.
		chroot "$1" dpkg --purge usrmerge libfile-find-rule-perl libnumber-compare-perl \
			libtext-glob-perl perl perl-modules-5.36 libperl5.36
		rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb'
	log "building the stand-in second system ($suite; ${SECOND_PKGS[*]})"
	mmdebstrap --mode=root --variant=essential --include="$inc" \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/lib/udev/hwdb.d/*' \
		--dpkgopt='path-exclude=/lib/udev/hwdb.d/*' \
		--customize-hook="$custom" \
		"$suite" "$dir" "${srcs[@]}" >&2
	mksquashfs "$dir" "$out" -comp zstd -no-xattrs -noappend -quiet -no-progress >&2
}

main() {
	local kind=${1:-} base
	case $kind in
	cloud | second) DEB_ARCH=amd64 ;;
	cloud-arm64 | second-arm64) DEB_ARCH=arm64 ;;
	*) echo "usage: image.sh cloud|second|cloud-arm64|second-arm64" >&2; exit 64 ;;
	esac
	base=${kind%-arm64}
	[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap --mode=root)"
	command -v mmdebstrap >/dev/null || die "mmdebstrap not installed (tests/e2e/journey/packages)"
	if [ "$DEB_ARCH" != amd64 ]; then
		# The package scripts are arm64 programs: run where they can run.
		if [ "${NK_IMAGE_FOREIGN:-}" != 1 ]; then
			NK_IMAGE_FOREIGN=1 exec "$HERE/foreign.sh" "$0" "$@"
		fi
		ARCH_OPT=(--architectures="$DEB_ARCH")
	fi
	CLOUD_PKGS=("${CLOUD_PKGS[@]/linux-image-ARCH/linux-image-$DEB_ARCH}")
	local suite srcs=() line pkgs ext variant
	suite=$(suite)
	while IFS= read -r line; do [ -z "$line" ] || srcs+=("$line"); done < <(sources "$suite")
	[ ${#srcs[@]} -gt 0 ] || die "no apt source for $suite in /etc/apt (set NK_JOURNEY_SOURCES)"
	case $base in
	cloud) pkgs=$(IFS=,; printf '%s' "${CLOUD_PKGS[*]}") ext=tar.zst variant=apt ;;
	second) pkgs=$(IFS=,; printf '%s' "${SECOND_PKGS[*]}") ext=squashfs variant=essential ;;
	esac

	mkdir -p "$CACHE"
	TMP=$(mktemp -d "$CACHE/.tmp.XXXXXX")
	local t0=$SECONDS rk vk key out
	rk=$(recipe_hash "$kind" "$suite" "${srcs[@]}" "$pkgs")
	if ! vk=$(resolved_hash --variant="$variant" --include="$pkgs" "$suite" /dev/null "${srcs[@]}"); then
		# Without the archive, the newest result of this very recipe is
		# better than nothing; a cold cache has nothing to offer.
		out=$(ls -1t "$CACHE/$kind"-$H16-"$rk.$ext" 2>/dev/null | sed -n 1p)
		[ -n "$out" ] || die "cannot resolve the packages and nothing is cached for this recipe"
		log "using $out, built from package versions not checked today"
		printf '%s\n' "$out"
		return 0
	fi
	key="$kind-$vk-$rk"
	out="$CACHE/$key.$ext"
	if [ -s "$out" ]; then
		log "cached: $out (key in $((SECONDS - t0)) s)"
		printf '%s\n' "$out"
		return 0
	fi
	log "not cached: $key"
	"build_$base" "$TMP/result.$ext" "$suite" "${srcs[@]}"
	cp "$TMP/resolved" "$CACHE/$key.packages.tmp"
	mv -f "$CACHE/$key.packages.tmp" "$CACHE/$key.packages"
	mv -f "$TMP/result.$ext" "$out"
	prune "$kind" "$ext"
	log "built $out ($(du -m "$out" | cut -f1) MB) in $((SECONDS - t0)) s"
	printf '%s\n' "$out"
}

main "$@"
