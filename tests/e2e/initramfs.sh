#!/usr/bin/env bash
# Builds the two initramfs images of the e2e test (gzip'd newc cpio):
#
#   initramfs.sh first -o OUT -k KERNEL_DIR -a AGENT [--ca PEM] [--pub KEY]
#                [--file SRC:DEST]...
#       The test system: busybox-static, the agent with every shared library
#       it needs (at the paths ldd reports, the dynamic loader included), the
#       kernel modules from kernel.sh with their load order, the CA
#       certificate (/etc/nk-ca.pem), the public key (/etc/nk.pub) and
#       guest/init-first as /init.
#
#   initramfs.sh second -o OUT
#       The "second system" that goes into the signed bundle: busybox-static
#       and guest/init-second, which prints the run's nonce marker.
#
# Host tools (cpio, gzip) make these test fixtures; the product's own cpio
# writer is for the handoff archive, not for this.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# The guest's busybox (NK_GUEST_BUSYBOX: another arch's, arm64.sh).
BUSYBOX=${NK_GUEST_BUSYBOX:-${NK_BUSYBOX:-/bin/busybox}}

log() { printf 'initramfs.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '2,15s/^# \{0,1\}//p' "$0" >&2; exit 64; }

STAGE=""
cleanup() { [ -z "$STAGE" ] || rm -rf "$STAGE"; }
trap cleanup EXIT

# Copies SRC to DEST inside the staging tree, following symlinks.
put() {
	local src=$1 dest=$2 mode=${3:-}
	[ -f "$src" ] || die "missing file: $src"
	mkdir -p "$STAGE/$(dirname "$dest")"
	cp -L "$src" "$STAGE/$dest"
	[ -z "$mode" ] || chmod "$mode" "$STAGE/$dest"
}

# The skeleton both systems share: directories, static busybox, /init.
skeleton() {
	local init=$1
	mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,etc,root}
	# A dynamic busybox would need its own libraries; refuse rather than
	# produce an image that dies with "not found" at PID 1.
	if LC_ALL=C ldd "$BUSYBOX" >/dev/null 2>&1; then
		die "$BUSYBOX is dynamically linked; install busybox-static"
	fi
	put "$BUSYBOX" bin/busybox 0755
	put "$HERE/guest/$init" init 0755
	# /dev/console lets the kernel give /init its stdio; only root may
	# mknod, and /init reopens the console from devtmpfs in any case.
	if [ "$(id -u)" -eq 0 ]; then
		mknod -m 600 "$STAGE/dev/console" c 5 1
	fi
}

# Copies a dynamically linked program's libraries to the paths ldd names.
# ldd prints "name => /path (addr)", "/path (addr)" for the loader, and
# "statically linked" / "not a dynamic executable" for static programs.
put_libraries() {
	local bin=$1 out line lib
	if ! out=$(LC_ALL=C ldd "$bin" 2>&1); then
		case $out in
		*"not a dynamic executable"* | *"statically linked"*) return 0 ;;
		*) die "ldd $bin: $out" ;;
		esac
	fi
	while IFS= read -r line; do
		case $line in
		*"not found"*) die "$bin needs a library the host lacks: $line" ;;
		*"=> /"*) lib=${line#*=> } ;;
		[[:space:]]/*) lib=${line#"${line%%[![:space:]]*}"} ;;
		*) continue ;; # linux-vdso.so.1, provided by the kernel
		esac
		lib=${lib%% (*}
		put "$lib" "${lib#/}"
	done <<<"$out"
}

pack() {
	local out=$1
	mkdir -p "$(dirname "$out")"
	# Sorted names, owner root and device-independent inode numbers keep the
	# image reproducible; gzip -n drops the timestamp.
	(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -n -6 >"$out.tmp"
	mv -f "$out.tmp" "$out"
	log "wrote $out ($(du -k "$out" | cut -f1) KiB)"
}

build_first() {
	local out="" kdir="" agent="" ca="" pub="" files=() f
	while [ $# -gt 0 ]; do
		case $1 in
		-o) out=$2; shift 2 ;;
		-k) kdir=$2; shift 2 ;;
		-a) agent=$2; shift 2 ;;
		--ca) ca=$2; shift 2 ;;
		--pub) pub=$2; shift 2 ;;
		--file) files+=("$2"); shift 2 ;;
		*) usage ;;
		esac
	done
	[ -n "$out" ] && [ -n "$kdir" ] && [ -n "$agent" ] || usage
	[ -s "$kdir/load-order" ] || die "$kdir is not a kernel.sh directory"

	skeleton init-first
	put "$agent" bin/nixos-kexec 0755
	put_libraries "$agent"
	mkdir -p "$STAGE/lib/modules/nk"
	while IFS= read -r f; do
		put "$kdir/modules/$f" "lib/modules/nk/$f"
	done <"$kdir/load-order"
	put "$kdir/load-order" etc/nk-modules.order
	[ -z "$ca" ] || put "$ca" etc/nk-ca.pem
	[ -z "$pub" ] || put "$pub" etc/nk.pub
	for f in "${files[@]+"${files[@]}"}"; do
		put "${f%%:*}" "${f#*:}"
	done
	pack "$out"
}

build_second() {
	local out=""
	while [ $# -gt 0 ]; do
		case $1 in
		-o) out=$2; shift 2 ;;
		*) usage ;;
		esac
	done
	[ -n "$out" ] || usage
	skeleton init-second
	pack "$out"
}

main() {
	[ $# -ge 1 ] || usage
	local what=$1
	shift
	STAGE=$(mktemp -d "${TMPDIR:-/tmp}/nk-initramfs.XXXXXX")
	case $what in
	first) build_first "$@" ;;
	second) build_second "$@" ;;
	*) usage ;;
	esac
}

main "$@"
