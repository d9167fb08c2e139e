#!/bin/sh
# nixos-kexec safety net (boot --revert-after S): unless an operator runs
# nixos-kexec-confirm within S seconds of this script's start, the machine
# reboots. The new system lives in RAM and the disk and firmware were never
# touched, so a reboot brings the machine back in its old system: a
# machine whose new system cannot reach the network does not stay lost.
#
#   revert.sh     arms, waits, and reboots unless confirmed; with no
#                 revert_after (0 or absent) in boot.json it exits at once
#
# Before rebooting it posts 'revert' to the --report collector when the
# network allows (report.sh; a few quick attempts). It writes
#   /run/nixos-kexec/revert-deadline   the deadline, Unix seconds
# and stops waiting once /run/nixos-kexec/confirmed exists.
#
# POSIX sh. nix/module.nix runs it as a service started early in stage 2
# (it must not depend on the network); the e2e stand-in second system runs
# the same file. Environment (tests):
#   NIXOS_KEXEC_HANDOFF  the handoff tree (default /run/nixos-kexec/handoff)
#   NIXOS_KEXEC_RUN      where the deadline and confirmation live
#                        (default /run/nixos-kexec)
#   NIXOS_KEXEC_REPORT   report.sh (default: beside this script)
#   NIXOS_KEXEC_REBOOT   a command to run instead of rebooting (tests only)
set -u

h=${NIXOS_KEXEC_HANDOFF:-/run/nixos-kexec/handoff}
run=${NIXOS_KEXEC_RUN:-/run/nixos-kexec}
report=${NIXOS_KEXEC_REPORT:-$(dirname "$0")/report.sh}
me="nixos-kexec revert"

after=
if [ -f "$h/boot.json" ]; then
	after=$(sed -n 's/.*"revert_after":\([0-9][0-9]*\).*/\1/p' "$h/boot.json" | head -n 1)
fi
if [ -z "$after" ] || [ "$after" -eq 0 ]; then
	echo "$me: no safety net asked for (boot --revert-after)"
	exit 0
fi
if [ -e "$run/confirmed" ]; then
	echo "$me: already confirmed"
	exit 0
fi

uptime_s() {
	cut -d. -f1 /proc/uptime
}

mkdir -p "$run"
start=$(uptime_s)
end=$((start + after))
wall=$(($(date +%s) + after))
printf '%s\n' "$wall" >"$run/revert-deadline.tmp" && mv "$run/revert-deadline.tmp" "$run/revert-deadline"
echo "$me: safety net armed: this system reboots back into the previous one in $after s" \
	"(at $(date -u -d "@$wall" '+%Y-%m-%dT%H:%M:%SZ' 2>/dev/null || echo "$wall")) unless" \
	"'nixos-kexec-confirm' runs first"

# The monotonic uptime, not the wall clock: NTP may step the clock.
while :; do
	if [ -e "$run/confirmed" ]; then
		echo "$me: confirmed; the safety net is disarmed"
		rm -f "$run/revert-deadline"
		exit 0
	fi
	[ "$(uptime_s)" -lt "$end" ] || break
	sleep 1
done

echo "$me: not confirmed within $after s: rebooting into the previous system"
if [ -f "$report" ]; then
	NIXOS_KEXEC_REPORT_WAIT=2 sh "$report" revert || true
fi
sync
if [ -n "${NIXOS_KEXEC_REBOOT:-}" ]; then
	"$NIXOS_KEXEC_REBOOT"
	exit $?
fi
# A clean but quick reboot first (nothing in RAM is worth saving), then
# harder ways should anything hang.
systemctl reboot --force || reboot -f
sleep 60
systemctl reboot --force --force || reboot -ff
sleep 10
echo b >/proc/sysrq-trigger
