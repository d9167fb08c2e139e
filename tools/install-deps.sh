#!/bin/sh
# Installs the Debian packages a part of the project needs, by group:
#
#   build    compile the agent and the test server (make, make install)
#   test     everything make check needs beyond build: unit, integration,
#            sanitizers, valgrind, fuzzing, Nix parsing, QEMU e2e, bench
#   static   the musl toolchains and Debian source packages of make static
#            (tools/static/install-deps.sh)
#   journey  the cloud-VM journey test (tests/e2e/journey/packages)
#   arm64    the aarch64 e2e scenarios (make e2e-arm64): qemu-system-aarch64,
#            its UEFI firmware, binutils that read arm64 kernel modules; for
#            make journey-arm64 qemu-user-static (the arm64 images' package
#            scripts) and arch-test (mmdebstrap's check that they can run)
#   all      every group (what CI installs)
#
# Idempotent: a group whose packages are all present costs one dpkg-query.
# The one source of truth for dependencies: CI and make both call it.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")

BUILD="build-essential pkg-config libcurl4-openssl-dev libssl-dev libsodium-dev
zlib1g-dev"
ARM64="qemu-system-arm qemu-efi-aarch64 binutils-aarch64-linux-gnu qemu-user-static arch-test"
TEST="libcmocka-dev minisign nginx-light openssl curl ca-certificates
valgrind clang libclang-rt-14-dev cpio iproute2 qemu-system-x86 busybox-static
nix-bin dpkg-dev xz-utils time ansible-core aria2 iputils-ping"

install_list() { # group packages...
	group=$1
	shift
	missing=""
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
			missing="$missing $p"
		fi
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: $group: missing packages:$missing" >&2
		echo "install-deps: run as root (or: sudo $0 $group)" >&2
		exit 1
	fi
	echo "install-deps: $group: installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

[ $# -gt 0 ] || set -- build test
for g in "$@"; do
	# The package lists are words on purpose (SC2086, SC2046).
	# shellcheck disable=SC2086,SC2046
	case $g in
	build) install_list build $BUILD ;;
	test) install_list test $BUILD $TEST ;;
	static) "$top/tools/static/install-deps.sh" ;;
	journey)
		install_list journey $(grep -v '^[[:space:]]*\(#\|$\)' "$top/tests/e2e/journey/packages") ;;
	arm64) install_list arm64 $ARM64 ;;
	all) "$0" build test static journey arm64 ;;
	-h | --help)
		sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0 ;;
	*)
		echo "install-deps: unknown group '$g' (build, test, static, journey, arm64, all)" >&2
		exit 64 ;;
	esac
done
