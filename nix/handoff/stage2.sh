#!/usr/bin/env bash
# nixos-kexec handoff, stage 2: installs the network units, host keys,
# authorized keys, DNS and host name that stage 1 kept in
# /run/nixos-kexec/handoff, before systemd-networkd and sshd start.
#
# nix/module.nix makes this file the script of the unit
# nixos-kexec-handoff.service (early, before sysinit.target; NixOS runs a
# unit's script with bash -e); the journey test's stand-in second system runs
# it the same way (tests/e2e/journey). Environment:
#   NIXOS_KEXEC_RESOLV_CONF=1   also install the handed-over resolv.conf (set
#                               by the module when systemd-resolved is off;
#                               with it, the units' DNS= already carry it)
h=/run/nixos-kexec/handoff
shopt -s nullglob

# Network. systemd-networkd also reads /run/systemd/network, and processes
# all units in name order whatever their directory; the 10- prefix puts these
# before NixOS's 99-* DHCP fallback, which still covers any port they do not
# match. Bonds, bridges and VLANs come as a .netdev beside their .network.
# 0644: networkd (user systemd-network) silently skips a unit it
# cannot read, and the fallback would then hide the loss.
install -d -m 0755 /run/systemd/network
for f in "$h"/network/*.netdev "$h"/network/*.network; do
	install -m 0644 "$f" "/run/systemd/network/10-nixos-kexec-$(basename "$f")"
done

# Host keys, so that clients keep trusting the machine.
install -d -m 0755 /etc/ssh
for f in "$h"/ssh/ssh_host_*; do
	case "$f" in
	*.pub) install -m 0644 "$f" /etc/ssh/ ;;
	*) install -m 0600 "$f" /etc/ssh/ ;;
	esac
done

# Keys for root, read through services.openssh.authorizedKeysFiles.
if [ -f "$h/ssh/authorized_keys" ]; then
	install -D -m 0644 "$h/ssh/authorized_keys" /run/nixos-kexec/authorized_keys.d/root
fi

# DNS as it was, only without systemd-resolved.
if [ "${NIXOS_KEXEC_RESOLV_CONF:-0}" = 1 ] && [ -f "$h/resolv.conf" ]; then
	install -m 0644 "$h/resolv.conf" /etc/resolv.conf
fi

# Host name, when it is a valid one.
if [ -f "$h/hostname" ]; then
	name=
	IFS= read -r name <"$h/hostname" || true
	case "$name" in
	"" | -* | *[!A-Za-z0-9.-]*) echo "ignoring an invalid host name" >&2 ;;
	*)
		if [ "${#name}" -le 64 ]; then
			printf '%s' "$name" >/proc/sys/kernel/hostname
		fi
		;;
	esac
fi
