#!/bin/sh
# nixos-kexec handoff, stage 1: keeps what the agent handed over across
# switch-root and gives systemd the replaced system's machine id.
#
#   stage1.sh ROOT [ETC]
#   stage1.sh --store OUT [PREFIX [FETCH-OPTION...]]   (below)
#
# ROOT: where the new root file system is mounted; ETC: the directory that
# becomes the new system's /etc (default ROOT/etc; nix/module.nix passes
# the /etc overlay's upper directory when there is one, and "" when /etc
# is an immutable overlay, which nothing can be written into).
#
# nix/module.nix runs this text in a subshell (`( set -- ROOT; ... )`), in
# the scripted initrd's postMountCommands (ash, ROOT=$targetRoot) or in a
# unit of the systemd initrd (bash, ROOT=/sysroot); the journey test's
# stand-in second system runs this file as it is (tests/e2e/journey). So:
# POSIX shell, coreutils and shell built-ins only, and never `exit`.
#
# The kernel unpacked the handoff at /nixos-kexec/handoff; the initramfs is
# emptied at switch-root, but /run is carried into the new root, so the tree
# is kept in /run/nixos-kexec/handoff for stage 2 (stage2.sh).
#
#   stage1.sh --store OUT [PREFIX [FETCH-OPTION...]]
#
# A lean bundle's store (issue 22), before the file systems are mounted:
# when boot.json has a "store", brings it to OUT (the squashfs the store, or
# the stand-in's root, is then loop-mounted from) with store.sh; in its
# "stage1" mode first the handed-over network with stage1-net.sh (unless
# NIXOS_KEXEC_NET=networkd: systemd's stage 1 runs networkd on the units,
# and NIXOS_KEXEC_WAIT_ONLINE, when set, is the command that waits for it),
# taken down again after the fetch. store.sh and stage1-net.sh are in
# NIXOS_KEXEC_SCRIPTS (default PREFIX/etc/nixos-kexec). A store that cannot
# be fetched or is not the one verified before the kexec: the reason on the
# console, then `reboot -f` (the old system is still on the disk). Status 0:
# OUT holds the verified store; 3: no store in this handoff; else refused.
# FETCH-OPTIONs go to `nixos-kexec fetch` (the CA: the agent's own default
# bundle paths, /etc/ssl/certs/ca-certificates.crt first, or --cacert).
if [ "${1-}" = --store ]; then
	nk_out=$2 nk_p=${3-}
	shift 2
	[ $# -eq 0 ] || shift
	nk_d=${NIXOS_KEXEC_SCRIPTS:-$nk_p/etc/nixos-kexec}
	nk_net=
	if [ -f "$nk_p/nixos-kexec/handoff/boot.json" ] &&
		grep -q '"store":{[^}]*"mode":"stage1"' "$nk_p/nixos-kexec/handoff/boot.json" &&
		[ "${NIXOS_KEXEC_NET-}" != networkd ]; then
		nk_net=1
		sh "$nk_d/stage1-net.sh" up "$nk_p" ||
			echo "nixos-kexec: stage 1 has no network of its own; the fetch will say why it fails"
	elif [ -n "${NIXOS_KEXEC_WAIT_ONLINE-}" ] && [ -f "$nk_p/nixos-kexec/handoff/boot.json" ] &&
		grep -q '"store":{[^}]*"mode":"stage1"' "$nk_p/nixos-kexec/handoff/boot.json"; then
		# networkd's: wait for it only when the store is to be fetched.
		# shellcheck disable=SC2086 # a command and its arguments
		$NIXOS_KEXEC_WAIT_ONLINE ||
			echo "nixos-kexec: stage 1's network is not online; the fetch will say why it fails"
	fi
	nk_rc=0
	sh "$nk_d/store.sh" "$nk_p" "$nk_out" "$@" || nk_rc=$?
	[ -z "$nk_net" ] || sh "$nk_d/stage1-net.sh" down "$nk_p"
	case $nk_rc in
	0 | 3) ;;
	*)
		echo "nixos-kexec: stage 1 cannot boot without its store: rebooting into the old system"
		reboot -f
		;;
	esac
	(exit "$nk_rc")
elif [ -d /nixos-kexec/handoff ]; then
	mkdir -p /run/nixos-kexec
	chmod 0755 /run/nixos-kexec
	rm -rf /run/nixos-kexec/handoff
	cp -R /nixos-kexec/handoff /run/nixos-kexec/handoff
	chmod -R go-rwx /run/nixos-kexec/handoff
	# systemd reads /etc/machine-id when it starts, so it goes in now.
	id=
	if [ -f /nixos-kexec/handoff/machine-id ]; then
		IFS= read -r id </nixos-kexec/handoff/machine-id || true
	fi
	case "$id" in
	*[!0-9a-f]*) echo "nixos-kexec: ignoring an invalid machine-id" ;;
	*)
		etc=$1/etc
		[ $# -lt 2 ] || etc=$2
		if [ ${#id} -eq 32 ] && [ -z "$etc" ]; then
			echo "nixos-kexec: /etc is read-only (an immutable /etc overlay): the machine-id is not carried"
		elif [ ${#id} -eq 32 ]; then
			mkdir -p "$etc"
			printf '%s\n' "$id" >"$etc/machine-id"
		fi
		;;
	esac
fi
