#!/bin/sh
# nixos-kexec safety net (boot --revert-after S): unless an operator runs
# nixos-kexec-confirm within S seconds of this script's start, the machine
# reboots. The new system lives in RAM and, as long as nobody wrote to a
# disk, a reboot brings the machine back in its old system: a machine whose
# new system cannot reach the network does not stay lost.
#
#   revert.sh     arms, waits, and reboots unless confirmed; with no
#                 revert_after (0 or absent) in boot.json it exits at once
#
# The image is an installer: once a disk was written (a block device open
# for writing, a file system on one mounted read-write, or a disk's write
# counter moved since arming), a reboot could leave neither system. Then it
# does not reboot: it says which on the console and posts 'revert-held'.
#
# Files in /run/nixos-kexec (NIXOS_KEXEC_RUN):
#   revert-deadline  the deadline, Unix seconds, while armed
#   revert-writes    each disk's write counter at arming
#   confirmed        what nixos-kexec-confirm leaves (also before arming)
#   reverting        the deadline passed: revert-deadline renamed, in one
#                    rename(2), before anything else is done; the confirm
#                    command renames revert-deadline to confirmed, so only
#                    one of the two can win
# It stops waiting once confirmed exists, and looks again right before the
# reboot.
#
# POSIX sh. nix/module.nix runs it as a service started early in stage 2
# (it must not depend on the network); the e2e stand-in second system runs
# the same file. Environment (tests):
#   NIXOS_KEXEC_HANDOFF  the handoff tree (default /run/nixos-kexec/handoff)
#   NIXOS_KEXEC_RUN      where the deadline and confirmation live
#                        (default /run/nixos-kexec)
#   NIXOS_KEXEC_REPORT   report.sh (default: beside this script)
#   NIXOS_KEXEC_REBOOT   a command to run instead of rebooting (tests only)
#   NIXOS_KEXEC_SYS, NIXOS_KEXEC_PROC
#                        where sysfs and procfs are (default /sys, /proc)
set -u

h=${NIXOS_KEXEC_HANDOFF:-/run/nixos-kexec/handoff}
run=${NIXOS_KEXEC_RUN:-/run/nixos-kexec}
report=${NIXOS_KEXEC_REPORT:-$(dirname "$0")/report.sh}
sys=${NIXOS_KEXEC_SYS:-/sys}
proc=${NIXOS_KEXEC_PROC:-/proc}
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
	cut -d. -f1 "$proc/uptime"
}

# Disks: block devices other than RAM-backed ones (loop devices hold the
# store image, zram is swap in RAM). Their names, one a line.
disks() {
	for d in "$sys"/block/*; do
		[ -e "$d/stat" ] || continue
		case ${d##*/} in loop* | ram* | zram*) continue ;; esac
		echo "${d##*/}"
	done
}

# A block device name (sda1 too) that belongs to a disk.
is_disk_dev() {
	case $1 in loop* | ram* | zram* | "") return 1 ;; esac
	[ -e "$sys/class/block/$1" ]
}

# "NAME WRITES" for each disk: the fifth field of its stat, the writes
# completed.
write_counters() {
	for n in $(disks); do
		read -r _ _ _ _ w _ <"$sys/block/$n/stat" 2>/dev/null || continue
		echo "$n $w"
	done
}

# disk_touched: true when a disk was or is being written; WHY says how.
disk_touched() {
	WHY=
	# A file system on a disk mounted read-write.
	while read -r src mnt _ opts _; do
		case $src in /dev/*) ;; *) continue ;; esac
		is_disk_dev "${src##*/}" || continue
		case ,$opts, in *,rw,*)
			WHY="$src is mounted read-write on $mnt"
			return 0
			;;
		esac
	done <"$proc/mounts"
	# A disk open for writing: the access mode, the low two bits of the
	# octal flags in fdinfo, is O_WRONLY or O_RDWR.
	for fd in "$proc"/[0-9]*/fd/*; do
		t=$(readlink "$fd" 2>/dev/null) || continue
		case $t in /dev/*) ;; *) continue ;; esac
		is_disk_dev "${t##*/}" || continue
		p=${fd%/fd/*}
		flags=$(sed -n 's/^flags:[[:space:]]*//p' "$p/fdinfo/${fd##*/}" 2>/dev/null)
		case $flags in *[123567]) ;; *) continue ;; esac
		comm=$(cat "$p/comm" 2>/dev/null)
		WHY="$t is open for writing by ${comm:-?} (pid ${p##*/})"
		return 0
	done
	# Writes since arming.
	if [ -f "$run/revert-writes" ]; then
		while read -r n w; do
			[ -n "$n" ] || continue
			old=$(sed -n "s/^$n //p" "$run/revert-writes" | head -n 1)
			if [ -z "$old" ]; then
				WHY="/dev/$n appeared and was written ($w writes) since the safety net was armed"
				return 0
			fi
			if [ "$w" != "$old" ]; then
				WHY="/dev/$n was written since the safety net was armed (write counter $old, now $w)"
				return 0
			fi
		done <<EOF
$(write_counters)
EOF
	fi
	return 1
}

# hold WHY: the disk was touched: no reboot, said and posted.
hold() {
	msg="not rebooting: $1; rebooting now could leave neither system bootable. Run 'nixos-kexec-confirm' to keep this system, or reboot by hand once you know what the disk holds"
	echo "$me: $msg"
	if [ -f "$report" ]; then
		NIXOS_KEXEC_REPORT_WAIT=2 sh "$report" revert-held "$1" || true
	fi
	exit 0
}

mkdir -p "$run"
# uptime_s is whole seconds, cut down: one more, so the reboot never comes
# before the full time (at most a second after it).
start=$(uptime_s)
end=$((start + 1 + after))
wall=$(($(date +%s) + after))
write_counters >"$run/revert-writes.tmp" && mv -f "$run/revert-writes.tmp" "$run/revert-writes"
printf '%s\n' "$wall" >"$run/revert-deadline.tmp" && mv -f "$run/revert-deadline.tmp" "$run/revert-deadline"
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

# The deadline becomes the marker in one rename: a confirm from now on
# finds no deadline to take and fails loudly; one that took it first wins.
if ! mv "$run/revert-deadline" "$run/reverting" 2>/dev/null; then
	echo "$me: confirmed at the deadline; the safety net is disarmed"
	exit 0
fi
if disk_touched; then
	hold "$WHY"
fi
echo "$me: not confirmed within $after s: rebooting into the previous system"
if [ -f "$report" ]; then
	NIXOS_KEXEC_REPORT_WAIT=2 sh "$report" revert || true
fi
sync
# Once more: a confirm before arming left only this file, and a disk may
# have been touched while the revert was posted.
if [ -e "$run/confirmed" ]; then
	echo "$me: confirmed after all; not rebooting"
	exit 0
fi
if disk_touched; then
	hold "$WHY"
fi
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
echo b >"$proc/sysrq-trigger"
