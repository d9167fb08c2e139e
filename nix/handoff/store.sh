#!/bin/sh
# nixos-kexec handoff, stage 1: brings a lean bundle's Nix store (manifest
# format 2, docs/bundle.md) into the new system's root tmpfs, verified
# against the size and sha256 that boot.json carries from the manifest the
# agent verified before the kexec.
#
#   store.sh PREFIX OUT [FETCH-OPTION...]
#
#   PREFIX  "" in stage 1 (the initramfs root), a directory in tests: the
#           handoff is PREFIX/nixos-kexec/handoff
#   OUT     where the verified store goes (a file in the root tmpfs)
#   FETCH-OPTION...  passed to `nixos-kexec fetch` (e.g. --cacert FILE)
#
# boot.json's "store" says where the store is: "initrd" (boot appended it;
# it is PREFIX + its "path") or "stage1" (fetched here with the static agent
# from boot.json's sources (the one that served the manifest, then the
# mirrors; redacted ones skipped), the manifest verified again with the keys in
# bundle-keys: `nixos-kexec fetch` on PATH). Either way its size and sha256
# must be the carried ones. Exit 0: OUT holds the verified store; 3: this
# handoff has no store (nothing done); 1: refused, the reason on stderr (the
# caller reboots: the old system is still on the disk). POSIX shell and
# coreutils/busybox only.
set -u
me="nixos-kexec: stage 1 store"
prefix=$1 out=$2
shift 2
h=$prefix/nixos-kexec/handoff
refuse() {
	echo "$me: $*; rebooting into the old system" >&2
	exit 1
}
[ -f "$h/boot.json" ] || exit 3
json=$(cat "$h/boot.json")
case $json in *'"store":{'*) ;; *) exit 3 ;; esac
store=${json#*\"store\":\{}
store=${store%%\}*}
field() { # the value of "KEY": in the store object, quotes removed
	printf '%s\n' "$store" | tr ',' '\n' | sed -n "s/^\"$1\":\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p"
}
name=$(field name) size=$(field size) sha=$(field sha256) mode=$(field mode) path=$(field path)
case $name in '' | *[!A-Za-z0-9._-]*) refuse "boot.json names no valid store file" ;; esac
case $size in '' | *[!0-9]*) refuse "boot.json carries no store size" ;; esac
case $sha in *[!0-9a-f]*) refuse "boot.json carries no store sha256" ;; esac
[ ${#sha} -eq 64 ] || refuse "boot.json carries no store sha256"

case $mode in
initrd)
	f=$prefix$path
	[ -f "$f" ] || refuse "the store is not in the initrd at $path"
	;;
stage1)
	# boot.json's "sources": the source that served the manifest, then
	# the mirrors, https only, credentials redacted. A redacted one ("***"
	# in it) cannot be fetched; `nixos-kexec fetch` moves on from one
	# source that fails to the next.
	# (An agent before "sources" wrote "source" alone.)
	rest=${json#*\"sources\":\[}
	[ "$rest" != "$json" ] ||
		rest=$(printf '%s\n' "$json" | sed -n 's/.*"source":\("[^"]*"\).*/\1/p')
	n=0 src='' mirrors=''
	while :; do
		case $rest in \"*) ;; *) break ;; esac
		rest=${rest#\"}
		u=${rest%%\"*}
		rest=${rest#*\"}
		rest=${rest#,}
		case $u in
		*'***'*) echo "$me: skipping $u: its credentials were not handed over" >&2 ;;
		https://*)
			if [ $n -eq 0 ]; then
				src=$u
			else
				mirrors="$mirrors $u"
			fi
			n=$((n + 1))
			;;
		esac
	done
	[ -n "$src" ] || refuse "boot.json names no source to fetch the store from"
	[ -s "$h/bundle-keys" ] || refuse "no bundle-keys in the handoff to verify the manifest with"
	command -v nixos-kexec >/dev/null || refuse "no nixos-kexec in this initrd to fetch the store"
	set -- "$@" --no-config
	while IFS= read -r k; do
		[ -n "$k" ] && set -- "$@" -P "$k"
	done <"$h/bundle-keys"
	d=$out.bundle
	rm -rf "$d"
	for u in $mirrors; do
		set -- "$@" --mirror "$u"
	done
	echo "$me: fetching $name ($size bytes) from $src${mirrors:+ (mirrors:$mirrors)}"
	# TERM=dumb: lines, not a progress bar redrawn on a serial console.
	TERM=dumb nixos-kexec fetch "$src" -o "$d" "$@" >&2 ||
		refuse "fetching the bundle from $src${mirrors:+ and its mirrors} failed (above)"
	f=$d/$name
	[ -f "$f" ] || refuse "the bundle at $src has no $name"
	# The agent checked the store's bytes against the manifest it just
	# verified with bundle-keys: that manifest's store line must be the
	# carried one (one full read less of the store; under emulation 37 s
	# for 420 MiB, measured in the journey).
	line=$(grep '^store ' "$d/manifest")
	[ "$line" = "store $name $size sha256:$sha" ] ||
		refuse "the bundle at $src lists '$line', the manifest verified before the kexec says 'store $name $size sha256:$sha'"
	;;
*) refuse "boot.json's store mode '$mode' is neither initrd nor stage1" ;;
esac
if [ "$mode" = initrd ]; then
	got=$(wc -c <"$f" | tr -d ' ')
	[ "$got" = "$size" ] ||
		refuse "$name is $got bytes, the manifest verified before the kexec says $size"
	got=$(sha256sum "$f" | cut -c1-64)
	[ "$got" = "$sha" ] ||
		refuse "$name has sha256 $got, the manifest verified before the kexec says $sha"
fi
mv -f "$f" "$out" || refuse "cannot move $name to $out"
[ "$mode" = stage1 ] && rm -rf "$d"
echo "$me: $name verified ($size bytes, sha256 $sha, $mode): $out"
exit 0
