#!/usr/bin/env bash
# Runs a command where arm64 programs run, for the arm64 journey's images
# (image.sh cloud-arm64 / second-arm64: mmdebstrap's package scripts, and
# lib.sh's chroot into the arm64 root):
#
#   foreign.sh CMD [ARG...]
#
# When this machine already runs arm64 ELF files (qemu-user registered in
# binfmt_misc by binfmt-support or systemd-binfmt, or an arm64 host), CMD
# simply runs. Otherwise CMD runs as root in a user, mount and PID namespace
# of its own (the same IDs, mapped one to one) with a private binfmt_misc
# instance (Linux >= 6.7 gives each user namespace its own) in which
# qemu-user-static's interpreter is registered from its
# /usr/lib/binfmt.d/qemu-aarch64.conf (flag F: the interpreter is opened
# now, so it runs inside chroots). Nothing outside the namespaces changes:
# other users of this machine see no new binfmt entry. Device nodes cannot
# be made there (mknod needs the first user namespace); mmdebstrap then
# bind-mounts them, which it does by itself.
#
# Exit status: CMD's; 69 when arm64 programs cannot be made to run here.
set -euo pipefail

CONF=${NK_QEMU_BINFMT_CONF:-/usr/lib/binfmt.d/qemu-aarch64.conf}
die() { printf 'foreign.sh: %s\n' "$*" >&2; exit 69; }

[ $# -gt 0 ] || { echo "usage: foreign.sh CMD [ARG...]" >&2; exit 64; }

runs_arm64() {
	[ "$(uname -m)" = aarch64 ] && return 0
	grep -qsx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64
}

if [ "${NK_FOREIGN_INNER:-}" = 1 ]; then
	# Inside the namespaces: this PID namespace's /proc, the private
	# binfmt_misc, the interpreter.
	mount -t proc -o nosuid,nodev,noexec proc /proc || die "cannot mount /proc in the PID namespace"
	mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
		die "cannot mount a private binfmt_misc (Linux >= 6.7 needed; or register qemu-aarch64 with binfmt-support)"
	cat "$CONF" >/proc/sys/fs/binfmt_misc/register || die "cannot register $CONF"
	unset NK_FOREIGN_INNER
	# Not exec: as PID 1 of the namespace this shell reaps orphans.
	rc=0
	"$@" || rc=$?
	exit "$rc"
fi

runs_arm64 && exec "$@"
[ "$(id -u)" -eq 0 ] || die "needs root to run arm64 programs without binfmt_misc"
[ -r "$CONF" ] || die "no $CONF (install qemu-user-static: tools/install-deps.sh arm64)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nk-foreign.XXXXXX")
child=""
cleanup() {
	[ -z "$child" ] || kill "$child" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkfifo "$tmp/go"
# The namespaces are made first; the child waits until its IDs are mapped.
NK_FOREIGN_INNER=1 unshare --user --mount --pid --fork --propagation private \
	bash -c 'read -r _ <"$1" && shift && exec "$@"' _ "$tmp/go" "$0" "$@" &
child=$!
for _ in $(seq 50); do
	[ "$(readlink "/proc/$child/ns/user" 2>/dev/null)" != "$(readlink /proc/self/ns/user)" ] && break
	sleep 0.1
done
[ "$(readlink "/proc/$child/ns/user" 2>/dev/null)" != "$(readlink /proc/self/ns/user)" ] ||
	die "unshare made no user namespace"
printf '0 0 4294967295\n' >"/proc/$child/uid_map"
printf '0 0 4294967295\n' >"/proc/$child/gid_map"
echo go >"$tmp/go"
rc=0
wait "$child" || rc=$?
child=""
exit "$rc"
