#!/bin/bash
# test_stage2: the new system's stage 2 (nix/handoff/stage2.sh, the script
# of the unit nixos-kexec-handoff) against a handoff tree under a fake root
# (NIXOS_KEXEC_ROOT): where the handed-over DNS goes with systemd-resolved
# (a resolved.conf.d drop-in) and without it (through resolvconf, which
# would otherwise rewrite /etc/resolv.conf after this unit; else the file
# itself), the old sshd's ports, and the units, keys and host name it
# installs. resolvconf is a
# stub that records what it was given. Every path written is under the
# fake root.
#   bash tests/integration/test_stage2.sh
# shellcheck disable=SC2015 # "check && it_pass || it_fail": it_pass never fails
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
STAGE2=$HERE/../../nix/handoff/stage2.sh
it_tmpdir
T=$IT_TMP

# root NAME: a fake root with a handoff tree: one unit, a key, resolv.conf
root() {
	local r=$T/$1
	mkdir -p "$r/run/nixos-kexec/handoff/network" "$r/run/nixos-kexec/handoff/ssh" "$r/proc/sys/kernel" "$r/etc"
	printf '[Match]\nName=eth0\n' >"$r/run/nixos-kexec/handoff/network/eth0.network"
	echo "ssh-ed25519 AAAA test" >"$r/run/nixos-kexec/handoff/ssh/authorized_keys"
	printf '# nixos-kexec handoff: DNS as it was before kexec\nnameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch example.org corp.example\n' \
		>"$r/run/nixos-kexec/handoff/resolv.conf"
	echo web-1 >"$r/run/nixos-kexec/handoff/hostname"
	: >"$r/proc/sys/kernel/hostname"
	echo "$r"
}
mkdir -p "$T/bin" "$T/nobin"
printf '#!/bin/sh\necho "$*" >"%s/resolvconf.args"\ncat >"%s/resolvconf.in"\n' "$T" "$T" >"$T/bin/resolvconf"
chmod +x "$T/bin/resolvconf"
# stage2 ROOT RESOLV_CONF PATH-DIR: as NixOS runs a unit's script (bash -e)
stage2() {
	env PATH="$3:/usr/bin:/bin" NIXOS_KEXEC_ROOT="$1" NIXOS_KEXEC_RESOLV_CONF="$2" bash -e "$STAGE2" 2>&1
}

it_case "with systemd-resolved: the servers and domains in a resolved.conf.d drop-in, no resolv.conf"
R=$(root resolved)
out=$(stage2 "$R" 0 "$T/nobin")
rc=$?
want=$(printf '# nixos-kexec handoff: the DNS servers as they were before kexec\n[Resolve]\nDNS=192.0.2.53 2001:db8::53\nDomains=example.org corp.example')
if [ "$rc" -ne 0 ]; then
	it_fail "exit $rc: $out"
elif [ -e "$R/etc/resolv.conf" ]; then
	it_fail "resolv.conf written with resolved on"
elif [ "$(stat -c %a "$R/run/systemd/resolved.conf.d/50-nixos-kexec.conf" 2>/dev/null)" != 644 ]; then
	it_fail "drop-in missing or not 0644: $(ls -la "$R/run/systemd/resolved.conf.d" 2>&1)"
else
	it_expect_eq "$(cat "$R/run/systemd/resolved.conf.d/50-nixos-kexec.conf")" "$want"
fi

it_case "without resolved, with resolvconf: handed to resolvconf -a nixos-kexec, /etc/resolv.conf left to it"
R=$(root openresolv)
out=$(stage2 "$R" 1 "$T/bin")
rc=$?
if [ "$rc" -ne 0 ]; then
	it_fail "exit $rc: $out"
elif [ -e "$R/etc/resolv.conf" ] || [ -e "$R/run/systemd/resolved.conf.d" ]; then
	it_fail "wrote resolv.conf or a resolved drop-in: $(find "$R/etc" "$R/run/systemd" 2>/dev/null)"
elif [ "$(cat "$T/resolvconf.args" 2>/dev/null)" != "-a nixos-kexec" ]; then
	it_fail "resolvconf was called with '$(cat "$T/resolvconf.args" 2>/dev/null)'"
else
	cmp -s "$T/resolvconf.in" "$R/run/nixos-kexec/handoff/resolv.conf" && it_pass || it_fail "resolvconf got other text"
fi

it_case "without resolved or resolvconf: /etc/resolv.conf itself"
R=$(root plain)
out=$(stage2 "$R" 1 "$T/nobin")
rc=$?
[ "$rc" -eq 0 ] && cmp -s "$R/etc/resolv.conf" "$R/run/nixos-kexec/handoff/resolv.conf" &&
	[ ! -e "$R/run/systemd/resolved.conf.d" ] && it_pass || it_fail "exit $rc: $out"

it_case "the unit, the root keys and the host name, in the fake root only"
R=$(root rest)
stage2 "$R" 0 "$T/nobin" >/dev/null
if [ "$(stat -c %a "$R/run/systemd/network/10-nixos-kexec-eth0.network" 2>/dev/null)" != 644 ]; then
	it_fail "unit: $(ls -la "$R/run/systemd/network" 2>&1)"
elif ! grep -q "ssh-ed25519 AAAA test" "$R/run/nixos-kexec/authorized_keys.d/root"; then
	it_fail "keys"
else
	it_expect_eq "$(cat "$R/proc/sys/kernel/hostname")" web-1
fi

it_case "the old sshd's ports: the fragment where sshd includes it (/etc/ssh/sshd_config.d), 0644"
R=$(root sshd)
mkdir -p "$R/run/nixos-kexec/handoff/ssh/sshd_config.d"
printf '# nixos-kexec handoff: the ports sshd listened on before kexec\nPort 2222\n' \
	>"$R/run/nixos-kexec/handoff/ssh/sshd_config.d/nixos-kexec.conf"
stage2 "$R" 0 "$T/nobin" >/dev/null
if [ "$(stat -c %a "$R/etc/ssh/sshd_config.d/nixos-kexec.conf" 2>/dev/null)" != 644 ]; then
	it_fail "$(ls -laR "$R/etc/ssh" 2>&1)"
else
	grep -qx "Port 2222" "$R/etc/ssh/sshd_config.d/nixos-kexec.conf" && it_pass || it_fail "content"
fi

# Stage 1 (nix/handoff/stage1.sh): where the machine id goes. Its fixed
# paths (/nixos-kexec/handoff, /run/nixos-kexec) are moved under $T in a
# copy; the text is otherwise the one NixOS runs (bash -e, as a unit).
STAGE1=$HERE/../../nix/handoff/stage1.sh
stage1() { # stage1 NAME ARGS...: a handoff with a machine id; runs stage1.sh ARGS
	local d=$T/s1-$1
	shift
	mkdir -p "$d/initrd/handoff" "$d/root/etc"
	echo 0123456789abcdef0123456789abcdef >"$d/initrd/handoff/machine-id"
	sed -e "s|/run/nixos-kexec|$d/run|g" -e "s|/nixos-kexec/handoff|$d/initrd/handoff|g" \
		"$STAGE1" >"$d/stage1.sh"
	bash -e "$d/stage1.sh" "$@" 2>&1
}
ID=0123456789abcdef0123456789abcdef

it_case "stage 1: ROOT only (the scripted initrd, the journey's stand-in): ROOT/etc/machine-id"
stage1 plain "$T/s1-plain/root" >/dev/null
it_expect_eq "$(cat "$T/s1-plain/root/etc/machine-id" 2>&1)" "$ID"

it_case "stage 1: a mutable /etc overlay: the machine id in its upper directory, not under the overlay"
stage1 upper "$T/s1-upper/root" "$T/s1-upper/root/.rw-etc/upper" >/dev/null
if [ -e "$T/s1-upper/root/etc/machine-id" ]; then
	it_fail "written into ROOT/etc, which the overlay hides"
else
	it_expect_eq "$(cat "$T/s1-upper/root/.rw-etc/upper/machine-id" 2>&1)" "$ID"
fi

it_case "stage 1: an immutable /etc overlay (ETC empty): no machine id written, said, exit 0"
out=$(stage1 ro "$T/s1-ro/root" "")
rc=$?
if [ "$rc" -ne 0 ] || [ -n "$(find "$T/s1-ro/root" -name machine-id)" ]; then
	it_fail "exit $rc, $(find "$T/s1-ro/root" -name machine-id)"
else
	case $out in
	*"the machine-id is not carried"*) it_pass ;;
	*) it_fail "not said: $out" ;;
	esac
fi

it_summary
