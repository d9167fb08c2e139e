#!/usr/bin/env bash
# Obtains the kernel the e2e VM boots: Debian's current amd64 kernel package,
# downloaded (never installed) and cut down to vmlinuz plus the few modules
# the VM needs (virtio PCI, virtio-net, virtio-rng; bonding, 802.1Q VLANs and
# the bridge for the bond-dump scenario) and their insmod order.
#
# The package name comes from linux-image-amd64's dependency, because it
# changes with every kernel ABI bump; pinning it would break on the next
# security update. The result is cached, keyed by package, version and
# module list:
#
#   ${NK_CACHE:-~/.cache/nixos-kexec}/kernel/<package>_<version>-<list hash>/
#       vmlinuz      the kernel image
#       release      its release string (6.1.0-56-amd64)
#       package      package=version it came from
#       modules/     the loadable modules, uncompressed
#       load-order   module file names, dependencies first (for busybox insmod)
#       builtin      wanted modules that this build has built in
#
# Prints that directory on stdout. Any failure, a download included, is an
# error: the e2e test cannot say anything without a kernel.
set -euo pipefail

META_PKG=${NK_KERNEL_META:-linux-image-amd64}
CACHE_ROOT=${NK_CACHE:-$HOME/.cache/nixos-kexec}/kernel
# Module names as the kernel spells them ('-' and '_' are equivalent).
WANTED=(${NK_KERNEL_MODULES:-failover net_failover virtio_ring virtio virtio_net
	virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_rng
	bonding 8021q bridge})

export LC_ALL=C
log() { printf 'kernel.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

TMP=""
cleanup() { [ -z "$TMP" ] || rm -rf "$TMP"; }
trap cleanup EXIT

# apt-get update only helps when the lists are missing or stale; it needs root.
refresh_lists() {
	[ "$(id -u)" -eq 0 ] || return 1
	log "refreshing apt lists"
	apt-get update -qq >&2
}

# Name of the versioned package linux-image-amd64 currently depends on.
# Empty output, not failure, when apt does not know the package.
current_package() {
	{ apt-cache depends "$META_PKG" 2>/dev/null || true; } |
		sed -n 's/^ *Depends: \(linux-image-[^ <>]*\)$/\1/p' | head -n1
}

candidate_version() {
	{ apt-cache policy "$1" 2>/dev/null || true; } |
		sed -n 's/^ *Candidate: //p' | head -n1
}

# Canonical module name of a path: basename without .ko[.xz|.zst|.gz], '-'->'_'.
modname() {
	local b=${1##*/}
	b=${b%.ko*}
	printf '%s\n' "${b//-/_}"
}

# Runs apt-get download in the current directory; as root apt warns that its
# sandbox user cannot write here, which is harmless, so don't ask for it.
download() {
	local spec=$1 opts=()
	[ "$(id -u)" -ne 0 ] || opts=(-o APT::Sandbox::User=root)
	apt-get download -q "${opts[@]}" "$spec" >&2
}

# Uncompresses a module in place if it is compressed; prints the .ko path.
# Decompressing keeps the appended module signature valid: it covers the
# uncompressed bytes, so lockdown=integrity still accepts the module.
decompress() {
	local f=$1
	case $f in
	*.ko) ;;
	*.ko.xz) xz -d "$f" ;;
	*.ko.gz) gzip -d "$f" ;;
	*.ko.zst)
		command -v zstd >/dev/null || die "$f is zstd-compressed; install zstd"
		zstd -q -d --rm "$f" ;;
	*) die "unexpected module file $f" ;;
	esac
	printf '%s\n' "${f%.ko*}.ko"
}

# The depends= field of a module's .modinfo section, comma separated.
# objcopy (binutils) reads it without kmod, which the host does not have;
# NK_OBJCOPY names another (aarch64-linux-gnu-objcopy: Debian's own objcopy
# cannot read arm64 modules).
module_depends() {
	"${NK_OBJCOPY:-objcopy}" -O binary --only-section=.modinfo "$1" /dev/stdout |
		tr '\0' '\n' | sed -n 's/^depends=//p' | head -n1
}

# "a,b-c" -> "a b_c": depends= lists as canonical names, one word each.
split_commas() {
	local s=${1//,/ }
	printf '%s\n' "${s//-/_}"
}

# Every module list gets its own entry (the default one too, since it
# grows), so an entry never lacks a module the caller asked for.
cache_key() {
	printf '%s_%s-%s\n' "$1" "$2" "$(printf '%s' "${WANTED[*]}" | sha256sum | cut -c1-12)"
}

main() {
	local pkg ver key dest
	pkg=$(current_package)
	if [ -z "$pkg" ]; then
		refresh_lists || true
		pkg=$(current_package)
	fi
	[ -n "$pkg" ] || die "apt-cache does not know $META_PKG (run apt-get update)"
	ver=$(candidate_version "$pkg")
	[ -n "$ver" ] && [ "$ver" != "(none)" ] || die "no candidate version for $pkg"
	key=$(cache_key "$pkg" "$ver")
	dest="$CACHE_ROOT/$key"
	if [ -s "$dest/load-order" ] && [ -s "$dest/vmlinuz" ]; then
		log "cached: $key"
		printf '%s\n' "$dest"
		return 0
	fi

	mkdir -p "$CACHE_ROOT"
	TMP=$(mktemp -d "$CACHE_ROOT/.tmp.XXXXXX")
	local t0=$SECONDS
	log "downloading $pkg=$ver"
	if ! (cd "$TMP" && download "$pkg=$ver"); then
		# A security update may have replaced the version the lists name.
		refresh_lists || die "apt-get download $pkg=$ver failed"
		ver=$(candidate_version "$pkg")
		key=$(cache_key "$pkg" "$ver")
		dest="$CACHE_ROOT/$key"
		(cd "$TMP" && download "$pkg=$ver") || die "apt-get download $pkg=$ver failed"
	fi
	local deb
	deb=$(ls "$TMP"/*.deb 2>/dev/null | head -n1)
	[ -n "$deb" ] || die "apt-get download left no .deb"
	log "downloaded $(du -m "$deb" | cut -f1) MB in $((SECONDS - t0)) s"

	extract "$deb" "$TMP/out"
	rm -f "$deb"
	printf '%s=%s\n' "$pkg" "$ver" >"$TMP/out/package"
	# The finished directory appears at once or not at all, so a cache hit
	# never sees half an extraction; a parallel run that won keeps its copy.
	if ! mv -T "$TMP/out" "$dest" 2>/dev/null; then
		[ -s "$dest/load-order" ] || die "cannot move result to $dest"
	fi
	log "ready in $((SECONDS - t0)) s: $dest"
	printf '%s\n' "$dest"
}

# Extracts vmlinuz and the wanted modules (plus whatever they depend on)
# from DEB into OUT and writes OUT/load-order.
extract() {
	local deb=$1 out=$2 raw=$TMP/raw
	mkdir -p "$out/modules" "$raw"
	dpkg-deb --fsys-tarfile "$deb" | tar -t >"$TMP/members"

	local kernel builtin_list
	kernel=$(grep -m1 '^\./boot/vmlinuz-' "$TMP/members") || die "no boot/vmlinuz-* in $deb"
	builtin_list=$(grep -m1 '^\./lib/modules/[^/]*/modules\.builtin$' "$TMP/members") ||
		die "no modules.builtin in $deb"

	# Module name -> archive member.
	declare -A member=()
	local m
	while IFS= read -r m; do
		case $m in ./lib/modules/*.ko | ./lib/modules/*.ko.*) member[$(modname "$m")]=$m ;; esac
	done <"$TMP/members"

	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$raw" "$kernel" "$builtin_list"
	cp "$raw/$kernel" "$out/vmlinuz"
	printf '%s\n' "${kernel#./boot/vmlinuz-}" >"$out/release"
	declare -A builtin=()
	while IFS= read -r m; do builtin[$(modname "$m")]=1; done <"$raw/$builtin_list"

	# Breadth-first over dependencies: one tar pass per level, usually one
	# in all because the wanted list is already closed under depends=.
	declare -A seen=() deps=() file=()
	local queue=() next n batch d
	for n in "${WANTED[@]}"; do queue+=("${n//-/_}"); done
	: >"$out/builtin"
	while [ ${#queue[@]} -gt 0 ]; do
		batch=()
		for n in "${queue[@]}"; do
			[ -z "${seen[$n]:-}" ] || continue
			seen[$n]=1
			if [ -n "${builtin[$n]:-}" ]; then
				printf '%s\n' "$n" >>"$out/builtin"
			elif [ -n "${member[$n]:-}" ]; then
				batch+=("$n")
			else
				die "module $n is neither built in nor shipped in $deb"
			fi
		done
		next=()
		if [ ${#batch[@]} -gt 0 ]; then
			local paths=()
			for n in "${batch[@]}"; do paths+=("${member[$n]}"); done
			dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$raw" "${paths[@]}"
			for n in "${batch[@]}"; do
				local ko
				ko=$(decompress "$raw/${member[$n]}")
				file[$n]=${ko##*/}
				mv "$ko" "$out/modules/${file[$n]}"
				deps[$n]=$(module_depends "$out/modules/${file[$n]}")
				for d in $(split_commas "${deps[$n]}"); do next+=("$d"); done
			done
		fi
		queue=("${next[@]+"${next[@]}"}")
	done

	# Depth-first post-order gives dependencies before their users.
	declare -A state=()
	local order=()
	visit() {
		local v=$1 d
		case ${state[$v]:-} in
		done) return 0 ;;
		active) die "module dependency cycle through $v" ;;
		esac
		state[$v]=active
		for d in $(split_commas "${deps[$v]:-}"); do
			[ -n "${builtin[$d]:-}" ] || visit "$d"
		done
		state[$v]=done
		order+=("${file[$v]}")
	}
	# Visiting in sorted order makes the result reproducible.
	for n in $(printf '%s\n' "${!file[@]}" | sort); do visit "$n"; done
	printf '%s\n' "${order[@]}" >"$out/load-order"
	log "kernel $(cat "$out/release"); modules: ${order[*]}"
	[ ! -s "$out/builtin" ] || log "built in: $(tr '\n' ' ' <"$out/builtin")"
}

main "$@"
