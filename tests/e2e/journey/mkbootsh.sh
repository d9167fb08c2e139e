#!/bin/sh
# Stand-in for the boot.sh that `make release` is to write (DESIGN.md,
# "Release layout"), used by the journey test until that lands:
#
#   mkbootsh.sh --url BASE --pub KEYFILE --bin DIR [--delay N] >boot.sh
#
# BASE is where the release is published (boot.sh, bin/, <arch>/ bundles);
# DIR holds the agents as nixos-kexec-<uname -m>. The script written is
# POSIX sh: it picks the agent for `uname -m`, downloads it from BASE/bin/,
# checks it against the SHA-256 written into it, and runs
# `boot BASE/<arch>/ -P KEY --delay N` with the public key written into it.
# Run as root (`curl -fsSL BASE/boot.sh | sudo sh`); exits with the agent's
# status (DESIGN.md, exit codes), 64 when it cannot even start the agent.
set -eu

url="" pub="" bin="" delay=5
while [ $# -gt 0 ]; do
	case $1 in
	--url) url=$2; shift 2 ;;
	--pub) pub=$2; shift 2 ;;
	--bin) bin=$2; shift 2 ;;
	--delay) delay=$2; shift 2 ;;
	*) echo "usage: mkbootsh.sh --url BASE --pub KEYFILE --bin DIR [--delay N]" >&2; exit 64 ;;
	esac
done
[ -n "$url" ] && [ -f "$pub" ] && [ -d "$bin" ] || { echo "mkbootsh.sh: --url, --pub, --bin needed" >&2; exit 64; }
key=$(grep -v '^untrusted comment:' "$pub" | head -n1)
case $key in RW*) ;; *) echo "mkbootsh.sh: $pub is not a minisign public key" >&2; exit 64 ;; esac

sums=""
for f in "$bin"/nixos-kexec-*; do
	[ -f "$f" ] || continue
	sums="$sums	${f##*/nixos-kexec-}) sum=$(sha256sum "$f" | cut -d' ' -f1) ;;
"
done
[ -n "$sums" ] || { echo "mkbootsh.sh: no nixos-kexec-<arch> in $bin" >&2; exit 64; }

cat <<EOF
#!/bin/sh
# nixos-kexec boot.sh: downloads the agent for this machine, checks it,
# and boots the signed bundle published beside it. Run as root:
#   curl -fsSL $url/boot.sh | sudo sh
set -eu
base='$url'
key='$key'
delay='$delay'
arch=\$(uname -m)
case \$arch in
$sums	*) echo "boot.sh: no agent for \$arch" >&2; exit 64 ;;
esac
[ "\$(id -u)" -eq 0 ] || { echo "boot.sh: run as root (sudo sh)" >&2; exit 77; }
# Not /run or /tmp: often mounted noexec (Debian 12's /run is).
dir=\$(mktemp -d /var/tmp/nixos-kexec.XXXXXX)
trap 'rm -rf "\$dir"' EXIT
curl -fsSL --proto =https --tlsv1.2 -o "\$dir/nixos-kexec" "\$base/bin/nixos-kexec-\$arch" ||
	{ echo "boot.sh: cannot download \$base/bin/nixos-kexec-\$arch" >&2; exit 69; }
got=\$(sha256sum "\$dir/nixos-kexec" | cut -d' ' -f1)
[ "\$got" = "\$sum" ] ||
	{ echo "boot.sh: nixos-kexec-\$arch: sha256 \$got, expected \$sum" >&2; exit 65; }
chmod 0700 "\$dir/nixos-kexec"
rc=0
"\$dir/nixos-kexec" boot "\$base/\$arch/" -P "\$key" --delay "\$delay" </dev/null || rc=\$?
exit "\$rc"
EOF
