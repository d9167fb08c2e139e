#!/usr/bin/env bash
# nixos-kexec handoff, stage 2: installs the network units, host keys,
# authorized keys, DNS and host name that stage 1 kept in
# /run/nixos-kexec/handoff, before systemd-networkd and sshd start.
#
# nix/module.nix makes this file the script of the unit
# nixos-kexec-handoff.service (early, before sysinit.target; NixOS runs a
# unit's script with bash -e); the journey test's stand-in second system runs
# it the same way (tests/e2e/journey). Environment:
#   NIXOS_KEXEC_RESOLV_CONF=1   systemd-resolved is off (the module sets it):
#                               the handed-over resolv.conf goes through
#                               resolvconf where there is one (openresolv
#                               would rewrite /etc/resolv.conf after this
#                               unit otherwise), else to /etc/resolv.conf;
#                               0 (default): resolved is on, and its global
#                               servers come from a resolved.conf.d drop-in
#                               (the units' DNS= carry them per link)
#   NIXOS_KEXEC_ROOT            a prefix for every path written (tests)
r=${NIXOS_KEXEC_ROOT:-}
h=$r/run/nixos-kexec/handoff
shopt -s nullglob

# Network. systemd-networkd also reads $r/run/systemd/network, and processes
# all units in name order whatever their directory; the 10- prefix puts these
# before NixOS's 99-* DHCP fallback, which still covers any port they do not
# match. Bonds, bridges and VLANs come as a .netdev beside their .network.
# 0644: networkd (user systemd-network) silently skips a unit it
# cannot read, and the fallback would then hide the loss.
install -d -m 0755 $r/run/systemd/network
for f in "$h"/network/*.netdev "$h"/network/*.network; do
	install -m 0644 "$f" "$r/run/systemd/network/10-nixos-kexec-$(basename "$f")"
done

# Host keys, so that clients keep trusting the machine.
install -d -m 0755 "$r/etc/ssh"
for f in "$h"/ssh/ssh_host_*; do
	case "$f" in
	*.pub) install -m 0644 "$f" "$r/etc/ssh/" ;;
	*) install -m 0600 "$f" "$r/etc/ssh/" ;;
	esac
done

# The ports the old sshd listened on (besides 22), where sshd includes
# them: Debian's sshd_config includes /etc/ssh/sshd_config.d/*.conf, and
# the NixOS module adds the same Include (and opens the ports in the
# firewall).
for f in "$h"/ssh/sshd_config.d/*.conf; do
	install -D -m 0644 "$f" "$r/etc/ssh/sshd_config.d/$(basename "$f")"
done

# Keys for root, read through services.openssh.authorizedKeysFiles.
if [ -f "$h/ssh/authorized_keys" ]; then
	install -D -m 0644 "$h/ssh/authorized_keys" "$r/run/nixos-kexec/authorized_keys.d/root"
fi

# DNS as it was: through resolvconf or as /etc/resolv.conf without
# systemd-resolved, else as resolved's global servers.
if [ -f "$h/resolv.conf" ]; then
	if [ "${NIXOS_KEXEC_RESOLV_CONF:-0}" = 1 ]; then
		if ! { command -v resolvconf >/dev/null 2>&1 &&
			resolvconf -a nixos-kexec <"$h/resolv.conf"; }; then
			install -m 0644 "$h/resolv.conf" "$r/etc/resolv.conf"
		fi
	else
		servers=$(awk '$1 == "nameserver" { printf "%s%s", sep, $2; sep = " " }' "$h/resolv.conf")
		domains=$(awk '$1 == "search" || $1 == "domain" { $1 = ""; d = substr($0, 2) } END { print d }' "$h/resolv.conf")
		if [ -n "$servers" ] || [ -n "$domains" ]; then
			install -d -m 0755 "$r/run/systemd/resolved.conf.d"
			{
				echo "# nixos-kexec handoff: the DNS servers as they were before kexec"
				echo "[Resolve]"
				[ -z "$servers" ] || echo "DNS=$servers"
				[ -z "$domains" ] || echo "Domains=$domains"
			} >"$r/run/systemd/resolved.conf.d/.50-nixos-kexec.conf.tmp"
			chmod 0644 "$r/run/systemd/resolved.conf.d/.50-nixos-kexec.conf.tmp"
			mv -f "$r/run/systemd/resolved.conf.d/.50-nixos-kexec.conf.tmp" \
				"$r/run/systemd/resolved.conf.d/50-nixos-kexec.conf"
		fi
	fi
fi

# Host name, when it is a valid one.
if [ -f "$h/hostname" ]; then
	name=
	IFS= read -r name <"$h/hostname" || true
	case "$name" in
	"" | -* | *[!A-Za-z0-9.-]*) echo "ignoring an invalid host name" >&2 ;;
	*)
		if [ "${#name}" -le 64 ]; then
			printf '%s' "$name" >"$r/proc/sys/kernel/hostname"
		fi
		;;
	esac
fi
