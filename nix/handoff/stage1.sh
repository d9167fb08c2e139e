#!/bin/sh
# nixos-kexec handoff, stage 1: keeps what the agent handed over across
# switch-root and gives systemd the replaced system's machine id.
#
#   stage1.sh ROOT [ETC]
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
if [ -d /nixos-kexec/handoff ]; then
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
