#!/bin/sh
# Installs every Debian package the build, the tests, the e2e run, the demo
# and the benchmark need. Idempotent: does nothing when all are present.
# The one source of truth for dependencies: CI and make both call it.
set -eu

PKGS="build-essential pkg-config libcurl4-openssl-dev libssl-dev libsodium-dev
zlib1g-dev libcmocka-dev minisign nginx-light openssl curl ca-certificates
valgrind clang libclang-rt-14-dev cpio iproute2 qemu-system-x86 busybox-static
nix-bin dpkg-dev xz-utils time"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing" >&2
	echo "install-deps: run as root (or: sudo $0)" >&2
	exit 1
fi

echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
