#!/bin/sh
# make release: lays out what a web server publishes for the one-liners
# (the same names the Nix publish app uses):
#
#   OUT/bin/nixos-kexec-<arch>   the static agents (make static)
#   OUT/bin/kexec-<arch>         static kexec-tools, for the kexec_load fallback
#   OUT/SHA256SUMS               of all of them (and of boot.sh and the tarballs)
#   OUT/boot.sh                  with --url and --key: the curl-pipe script
#   OUT/nixos-kexec-anywhere-<arch>.tar.gz
#                                with --url and --key: nixos-anywhere's --kexec
#                                tarball (kexec/run, the agent, kexec, the key)
#
# usage: tools/release.sh [--static DIR] [--out DIR] [--url BASE --key PUBFILE]
#                         [--delay SECONDS] [--in-place]
#
# --in-place: OUT/bin/ is already laid out (the Nix publish app, one
# architecture a run, bundles beside it): only SHA256SUMS and boot.sh are
# (re)written there, for every agent in OUT/bin/.
#
# BASE is where OUT will be served, with the signed bundle for each arch
# under BASE/<arch>/ (for example from nix run .#publish). boot.sh is POSIX
# sh: it picks the agent for `uname -m`, downloads it and kexec-tools from
# BASE/bin/, checks both against the SHA-256 written into it, and runs
# `boot BASE/<arch>/ -P KEY --delay N` with the key written into it, plus
# any arguments given to it (sh -s -- --ssh-key "...").
#
# nixos-kexec-anywhere-<arch>.tar.gz is what `nixos-anywhere --kexec FILE`
# unpacks in $HOME/kexec and runs as `kexec/run --kexec-extra-flags FLAGS`
# (as root): kexec/run (POSIX sh, BASE and KEY written in) runs the agent
# beside it, `boot BASE/<arch>/ -P KEY --delay N [--append FLAGS]`, and prints
# nixos-anywhere's success line, "machine will boot into nixos", only when
# the agent has verified and loaded the bundle; otherwise it exits with the
# agent's status.
set -eu

static=build/static out=build/release url="" key="" delay=5 inplace=0
usage() { sed -n '/^# make release:/,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case $1 in
	--static) static=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--url) url=${2%/}; shift 2 ;;
	--key) key=$2; shift 2 ;;
	--delay) delay=$2; shift 2 ;;
	--in-place) inplace=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "release: unknown argument '$1'" >&2; usage >&2; exit 64 ;;
	esac
done
die() { echo "release: $*" >&2; exit 1; }
case $delay in '' | *[!0-9]*) die "--delay must be a number of seconds" ;; esac
if [ -n "$url$key" ]; then
	[ -n "$url" ] && [ -n "$key" ] || die "--url and --key go together (boot.sh needs both)"
	case $url in https://*) ;; *) die "--url must be https:// (the agent fetches nothing else)" ;; esac
	[ -f "$key" ] || die "--key $key: no such file"
	pub=$(grep -v '^untrusted comment:' "$key" | head -n1)
	case $pub in RW*) ;; *) die "--key $key: not a minisign public key" ;; esac
fi

if [ "$inplace" = 1 ]; then
	[ -d "$out/bin" ] || die "--in-place: no $out/bin"
	tmp=$out
else
	tmp=$out.tmp.$$
	rm -rf "$tmp"
	trap 'rm -rf "$tmp"' EXIT
	mkdir -p "$tmp/bin"
	for d in "$static"/*/; do
		arch=$(basename "$d")
		[ -f "$d/nixos-kexec" ] || continue
		[ -f "$d/kexec" ] || die "$d/kexec missing (make static builds both)"
		install -m 0755 "$d/nixos-kexec" "$tmp/bin/nixos-kexec-$arch"
		install -m 0755 "$d/kexec" "$tmp/bin/kexec-$arch"
	done
fi
cases=""
for f in "$tmp"/bin/nixos-kexec-*; do
	[ -f "$f" ] || continue
	arch=${f##*/nixos-kexec-}
	[ -f "$tmp/bin/kexec-$arch" ] || die "bin/kexec-$arch missing beside bin/nixos-kexec-$arch"
	a=$(sha256sum "$f" | cut -d' ' -f1)
	k=$(sha256sum "$tmp/bin/kexec-$arch" | cut -d' ' -f1)
	cases="$cases	$arch) agent_sum=$a kexec_sum=$k ;;
"
done
[ -n "$cases" ] || die "no static agents (run make static)"

# The lines of boot.sh and kexec/run that make DIR, a fresh directory only
# root can write where a program may run: /run and /tmp are noexec on many
# systems (Debian 12's /run is), so the first that lets one run wins.
# NAME: the script's name in its messages.
execdir() {
	sed "s/@NAME@/$1/g" <<'SNIPPET'
dir=""
for d in /var/tmp /root /tmp /run; do
	dir=$(mktemp -d "$d/nixos-kexec-boot.XXXXXX" 2>/dev/null) || { dir=""; continue; }
	printf '#!/bin/sh\n' >"$dir/probe" && chmod 0700 "$dir/probe" &&
		"$dir/probe" 2>/dev/null && break
	rm -rf "$dir"
	dir=""
done
[ -n "$dir" ] || { echo "@NAME@: no directory here lets a downloaded program run (all noexec)" >&2; exit 74; }
rm -f "$dir/probe"
# dash skips an EXIT trap when a signal kills it: each signal too.
trap 'rm -rf "$dir"' EXIT
trap 'rm -rf "$dir"; trap - EXIT; exit 129' HUP
trap 'rm -rf "$dir"; trap - EXIT; exit 130' INT
trap 'rm -rf "$dir"; trap - EXIT; exit 143' TERM
# keepdir: after the agent said 0. The detached agent kexecs after
# --delay and, should that fail, unloads with the static kexec in $dir:
# keep the directory until it can no longer need it (the machine has gone
# by then).
keepdir() {
	trap - EXIT HUP INT TERM
	(trap '' HUP; sleep $((delay + 300)); rm -rf "$dir") >/dev/null 2>&1 &
}
SNIPPET
}

# nixos-kexec-anywhere-ARCH.tar.gz in $tmp: kexec/run, kexec/nixos-kexec,
# kexec/kexec, kexec/nixos-kexec.pub; reproducible (sorted, owner 0, fixed
# times, gzip -n), so its SHA-256 in SHA256SUMS is the same on every run.
anywhere() {
	a=$1
	k=$tmp/.anywhere-$a/kexec
	mkdir -p "$k"
	install -m 0755 "$tmp/bin/nixos-kexec-$a" "$k/nixos-kexec"
	install -m 0755 "$tmp/bin/kexec-$a" "$k/kexec"
	printf 'untrusted comment: nixos-kexec public key\n%s\n' "$pub" >"$k/nixos-kexec.pub"
	chmod 0644 "$k/nixos-kexec.pub"
	cat >"$k/run" <<SCRIPT
#!/bin/sh
# nixos-kexec for nixos-anywhere: \`nixos-anywhere --kexec
# nixos-kexec-anywhere-$a.tar.gz ...\` unpacks this tree in \$HOME/kexec and
# runs, as root, \`setsid --wait \$HOME/kexec/kexec/run --kexec-extra-flags
# FLAGS\`, taking "machine will boot into nixos" in the output for success.
# This runs the agent beside it: boot the signed bundle at the URL written
# here, verified against the public key written here (nixos-kexec.pub), with
# FLAGS appended to the new kernel's command line (boot --append; they are
# not kexec-tools options). The success line comes only after the agent has
# verified and loaded the bundle; the agent then detaches and kexecs $delay s
# later. Otherwise this exits with the agent's status (65 bundle refused,
# 69 source unavailable, 77 not permitted, ...) and nothing is loaded.
set -eu
source_url='$url/$a/'
key='$pub'
delay='$delay'
arch='$a'
append=""
while [ \$# -gt 0 ]; do
	case \$1 in
	--kexec-extra-flags)
		[ \$# -ge 2 ] || { echo "run: --kexec-extra-flags needs a value" >&2; exit 64; }
		append=\$2
		shift 2
		;;
	*) echo "run: unknown argument '\$1' (run takes --kexec-extra-flags FLAGS)" >&2; exit 64 ;;
	esac
done
[ "\$(uname -m)" = "\$arch" ] ||
	{ echo "run: this tarball is for \$arch; this machine is \$(uname -m)" >&2; exit 64; }
[ "\$(id -u)" -eq 0 ] || { echo "run: run as root (nixos-anywhere runs it with sudo)" >&2; exit 77; }
here=\$(cd "\$(dirname "\$0")" && pwd)
# The agent and kexec run from a copy in a directory only root can write:
# the unpacked tree belongs to the user who logged in.
$(execdir run)
cp "\$here/nixos-kexec" "\$here/kexec" "\$dir/"
chmod 0700 "\$dir/nixos-kexec" "\$dir/kexec"
set -- boot "\$source_url" -P "\$key" --delay "\$delay"
[ -z "\$append" ] || set -- "\$@" --append "\$append"
rc=0
"\$dir/nixos-kexec" "\$@" || rc=\$?
if [ "\$rc" -ne 0 ]; then
	echo "run: nixos-kexec exited \$rc (above: why); nothing is loaded, this machine stays as it is" >&2
	exit "\$rc"
fi
keepdir
echo "machine will boot into nixos in \${delay}s..."
SCRIPT
	chmod 0755 "$k/run"
	sh -n "$k/run" || die "kexec/run does not parse"
	tar -C "$tmp/.anywhere-$a" --sort=name --owner=0 --group=0 --numeric-owner --mode=go-w \
		--mtime=@1 -cf - kexec | gzip -n -9 >"$tmp/nixos-kexec-anywhere-$a.tar.gz"
	rm -rf "$tmp/.anywhere-$a"
}

if [ -n "$url" ]; then
	cat >"$tmp/boot.sh" <<SCRIPT
#!/bin/sh
# nixos-kexec boot.sh: downloads the agent for this machine, checks it
# against the SHA-256 written here, and boots the signed bundle published
# beside it, verified against the public key written here. As root:
#   curl -fsSL $url/boot.sh | sudo sh
#   curl -fsSL $url/boot.sh | sudo sh -s -- --ssh-key "ssh-ed25519 AAAA..."
# Exits with the agent's status (0 loaded and about to kexec, 65 refused,
# 69 unavailable, ...); 64 when this machine has no agent here.
# Everything runs in main, called on the last line: a download cut short
# runs nothing.
set -eu
main() {
base='$url'
key='$pub'
delay='$delay'
arch=\$(uname -m)
case \$arch in
$cases	*) echo "boot.sh: no nixos-kexec for \$arch at \$base/bin/" >&2; exit 64 ;;
esac
[ "\$(id -u)" -eq 0 ] || { echo "boot.sh: run as root (| sudo sh)" >&2; exit 77; }
command -v curl >/dev/null || { echo "boot.sh: curl is needed" >&2; exit 69; }
# A directory where a downloaded program may run.
$(execdir boot.sh)
get() { # NAME SHA256 -> \$dir/\$1 (fetched as NAME-\$arch)
	# Bounded: a server that sends half and holds the connection ends
	# the run (below 1 KiB/s for 30 s), it does not hang cloud-init.
	curl -fsSL --proto =https --tlsv1.2 --connect-timeout 20 --speed-limit 1024 \
		--speed-time 30 -o "\$dir/\$1" "\$base/bin/\$1-\$arch" ||
		{ echo "boot.sh: cannot download \$base/bin/\$1-\$arch" >&2; exit 69; }
	got=\$(sha256sum "\$dir/\$1" | cut -d' ' -f1)
	[ "\$got" = "\$2" ] ||
		{ echo "boot.sh: \$1-\$arch: sha256 \$got, expected \$2; refusing to run it" >&2; exit 65; }
	chmod 0700 "\$dir/\$1"
}
get nixos-kexec "\$agent_sum"
get kexec "\$kexec_sum"
rc=0
"\$dir/nixos-kexec" boot "\$base/\$arch/" -P "\$key" --delay "\$delay" "\$@" || rc=\$?
[ "\$rc" != 0 ] || keepdir
exit "\$rc"
}
main "\$@"
SCRIPT
	chmod 0755 "$tmp/boot.sh"
	sh -n "$tmp/boot.sh" || die "boot.sh does not parse"
	for f in "$tmp"/bin/nixos-kexec-*; do
		anywhere "${f##*/nixos-kexec-}"
	done
fi
(cd "$tmp" && find . -type f ! -name SHA256SUMS | sed 's#^\./##' | sort | xargs sha256sum >SHA256SUMS)
if [ "$inplace" = 0 ]; then
	rm -rf "$out"
	mv "$tmp" "$out"
	trap - EXIT
fi
echo "release: $out"
(cd "$out" && ls -l bin/* boot.sh nixos-kexec-anywhere-*.tar.gz 2>/dev/null | awk '{ printf "  %-28s %9d bytes\n", $NF, $5 }')
if [ -f "$out/boot.sh" ]; then
	echo "release: boot.sh sha256 $(sha256sum "$out/boot.sh" | cut -d' ' -f1)"
else
	echo "release: no boot.sh and no nixos-anywhere tarball (give RELEASE_URL= and RELEASE_KEY= for them)"
fi
