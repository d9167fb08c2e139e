#!/usr/bin/env bash
# Fleet reprovisioning (issue 12), the new system's side: the POSIX sh
# scripts under nix/handoff/ that the NixOS module and the e2e stand-in
# second system both run (report.sh, revert.sh, nixos-kexec-confirm),
# against a fake handoff tree and the stub as collector over HTTPS on
# loopback; and the Ansible playbook's syntax (examples/ansible/).
#
# revert.sh reboots a machine. Here it runs only (1) with NIXOS_KEXEC_REBOOT
# naming a fake command, (2) with fake systemctl and reboot first on PATH,
# (3) inside user, PID and mount namespaces (unshare), where reboot(2) ends
# only the namespace and /proc/sysrq-trigger is covered with /dev/null;
# (4) under timeout, well before revert.sh's last resorts. Without user
# namespaces the cases are skipped.
set -u
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
SCRIPTS=$TOP/nix/handoff
export LC_ALL=C
it_tmpdir; T=$IT_TMP
mkdir -p "$T/root" "$T/fake"
it_make_ca "$T" "IP:127.0.0.1,DNS:localhost" >/dev/null
COLLECT=$T/collect.jsonl
it_start_stub "$T" "$T/root" --collect "$COLLECT" || exit 1
U=$STUB_URL
NONCE=00112233445566778899aabbccddeeff

# handoff DIR REPORT-URL REVERT-AFTER [ca]: a handoff tree as stage 1 keeps it
handoff() {
	mkdir -p "$1"
	printf '{"format":1,"bundle":{"name":"nixos-fleet","version":100},"nonce":"%s","time":1,"time_utc":"x","source":"https://127.0.0.1/b/","source_host":"127.0.0.1","source_port":443,"report":%s,"revert_after":%s}\n' \
		"$NONCE" "$2" "$3" >"$1/boot.json"
	[ "${4:-}" = ca ] && cp "$T/ca.pem" "$1/report-ca.pem"
	return 0
}
lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
new_lines() { tail -n +$(($2 + 1)) "$1"; }

# A fake root for /etc/machine-id and the host keys.
FR=$T/fr
mkdir -p "$FR/etc/ssh"
echo 0123456789abcdef0123456789abcdef >"$FR/etc/machine-id"
have_keygen=0
if command -v ssh-keygen >/dev/null 2>&1; then
	ssh-keygen -q -t ed25519 -N '' -C test -f "$FR/etc/ssh/ssh_host_ed25519_key" && have_keygen=1
fi
export NIXOS_KEXEC_ROOT=$FR

# --- report.sh ------------------------------------------------------------------
it_case "report.sh up: nonce, host, machine-id, addresses, host keys, bundle, with report-ca.pem"
handoff "$T/h1" "\"$U/collect\"" 600 ca
before=$(lines "$COLLECT")
out=$(NIXOS_KEXEC_HANDOFF=$T/h1 sh "$SCRIPTS/report.sh" up 2>&1)
got=$(new_lines "$COLLECT" "$before")
host=$(cat /proc/sys/kernel/hostname)
want="{\"event\":\"up\",\"nonce\":\"$NONCE\",\"time\":"
if [ "$(printf '%s\n' "$got" | wc -l)" -ne 1 ] || [ "${got#"$want"}" = "$got" ]; then
	it_fail "collected: '$got' ($out)"
elif ! printf '%s' "$got" | grep -qF "\"host\":\"$host\",\"machine_id\":\"0123456789abcdef0123456789abcdef\",\"addresses\":["; then
	it_fail "identity: $got"
elif [ "$have_keygen" = 1 ] && ! printf '%s' "$got" | grep -q '"ssh_host_keys":\["ED25519 SHA256:[A-Za-z0-9+/]*"\]'; then
	it_fail "host keys: $got"
elif ! printf '%s' "$got" | grep -qF '"bundle":{"name":"nixos-fleet","version":100},"revert_after":600}'; then
	it_fail "bundle: $got"
elif ! printf '%s' "$out" | grep -qF "'up' delivered"; then
	it_fail "said: $out"
else
	it_pass
fi

it_case "report.sh: busybox sh runs it the same way"
if [ -x /bin/busybox ]; then
	before=$(lines "$COLLECT")
	NIXOS_KEXEC_HANDOFF=$T/h1 /bin/busybox sh "$SCRIPTS/report.sh" up >/dev/null 2>&1
	new_lines "$COLLECT" "$before" | grep -q "\"event\":\"up\",\"nonce\":\"$NONCE\"" &&
		it_pass || it_fail "nothing collected"
else
	it_skip "no /bin/busybox"
fi

it_case "report.sh: the collector's certificate is checked (no report-ca.pem: the system's CAs)"
handoff "$T/h2" "\"$U/collect\"" 0
before=$(lines "$COLLECT")
out=$(NIXOS_KEXEC_HANDOFF=$T/h2 NIXOS_KEXEC_REPORT_TRIES=1 sh "$SCRIPTS/report.sh" up 2>&1)
rc=$?
if [ "$rc" -ne 0 ] || [ "$(lines "$COLLECT")" -ne "$before" ]; then
	it_fail "exit $rc, $(($(lines "$COLLECT") - before)) collected"
else
	printf '%s' "$out" | grep -q "not delivered" && it_pass || it_fail "said: $out"
fi

it_case "report.sh: a dead collector: retried, then exit 0"
handoff "$T/h3" '"https://127.0.0.1:1/c"' 0 ca
out=$(NIXOS_KEXEC_HANDOFF=$T/h3 NIXOS_KEXEC_REPORT_TRIES=2 NIXOS_KEXEC_REPORT_WAIT=0 \
	sh "$SCRIPTS/report.sh" up 2>&1)
rc=$?
[ "$rc" -eq 0 ] && printf '%s' "$out" | grep -q "not delivered to https://127.0.0.1:1/c after 2 attempt" &&
	it_pass || it_fail "exit $rc: $out"

it_case "report.sh: no report URL, no boot.json, an http URL: nothing sent, exit 0"
handoff "$T/h4" null 0
handoff "$T/h5" "\"http://127.0.0.1:$STUB_PORT/collect\"" 0
before=$(lines "$COLLECT")
NIXOS_KEXEC_HANDOFF=$T/h4 sh "$SCRIPTS/report.sh" up >/dev/null 2>&1
r1=$?
NIXOS_KEXEC_HANDOFF=$T/nonexistent sh "$SCRIPTS/report.sh" up >/dev/null 2>&1
r2=$?
NIXOS_KEXEC_HANDOFF=$T/h5 sh "$SCRIPTS/report.sh" up >/dev/null 2>&1
r3=$?
it_expect_eq "$r1 $r2 $r3 $(($(lines "$COLLECT") - before))" "0 0 0 0"

it_case "report.sh: a bad event name is a usage error"
sh "$SCRIPTS/report.sh" down >/dev/null 2>&1
it_expect_eq "$?" 64

# --- revert.sh and nixos-kexec-confirm --------------------------------------------
# The fakes: any real reboot attempt leaves REAL, the test's reboot REBOOTED.
for c in systemctl reboot; do
	printf '#!/bin/sh\necho "$0 $*" >>%s/REAL\nexit 1\n' "$T" >"$T/fake/$c"
done
printf '#!/bin/sh\necho rebooted >>%s/REBOOTED\n' "$T" >"$T/fake/fake-reboot"
chmod +x "$T/fake/"*
sandbox=0
if unshare --user --map-root-user --pid --fork --mount --kill-child true 2>/dev/null; then
	sandbox=1
fi
# fakesys DIR: a /sys and /proc for revert.sh's disk checks (DIR/sys,
# DIR/proc): one disk vda (10 writes), a loop and a zram device, nothing
# mounted from a disk, no process; the real uptime.
fakesys() {
	mkdir -p "$1/sys/block/vda" "$1/sys/block/loop0" "$1/sys/block/zram0" "$1/sys/class/block" "$1/proc"
	echo "100 0 800 50 10 0 80 5 0 60 55 0 0 0 0 0 0" >"$1/sys/block/vda/stat"
	echo "7 0 56 3 0 0 0 0 0 3 3 0 0 0 0 0 0" >"$1/sys/block/loop0/stat"
	echo "0 0 0 0 4 0 32 1 0 1 1 0 0 0 0 0 0" >"$1/sys/block/zram0/stat"
	for b in vda vda1 loop0 zram0; do mkdir -p "$1/sys/class/block/$b"; done
	printf '%s\n' "overlay / overlay rw,relatime 0 0" "/dev/loop0 /nix/.ro-store squashfs ro,relatime 0 0" \
		"tmpfs /run tmpfs rw,nosuid,nodev 0 0" >"$1/proc/mounts"
	ln -sf /proc/uptime "$1/proc/uptime"
	: >"$1/proc/sysrq-trigger"
}
fakesys "$T/fs"
# jail [VAR=VALUE...] CMD...: in the sandbox, with the fakes first on PATH
# and the fake /sys and /proc (the real ones have this machine's disks)
jail() {
	unshare --user --map-root-user --pid --fork --mount --kill-child \
		sh -c 'mount --bind /dev/null /proc/sysrq-trigger 2>/dev/null; exec "$@"' jail \
		timeout 30 env PATH="$T/fake:$PATH" NIXOS_KEXEC_REBOOT="$T/fake/fake-reboot" \
		NIXOS_KEXEC_SYS="$T/fs/sys" NIXOS_KEXEC_PROC="$T/fs/proc" "$@"
}

it_case "revert.sh: revert_after 0 (or none): exits at once, never reboots"
if [ "$sandbox" = 0 ]; then
	it_skip "no user namespaces (unshare -Ur): revert.sh is not run without one"
else
	handoff "$T/r0" null 0
	out=$(jail NIXOS_KEXEC_HANDOFF="$T/r0" NIXOS_KEXEC_RUN="$T/run0" sh "$SCRIPTS/revert.sh" 2>&1)
	if [ -e "$T/REBOOTED" ] || [ -e "$T/REAL" ] || [ -e "$T/run0/revert-deadline" ]; then
		it_fail "acted: $out"
	else
		printf '%s' "$out" | grep -q "no safety net asked for" && it_pass || it_fail "said: $out"
	fi
fi

it_case "revert.sh: not confirmed in time: posts 'revert', then reboots"
if [ "$sandbox" = 0 ]; then
	it_skip "no user namespaces (unshare -Ur)"
else
	handoff "$T/r1" "\"$U/collect\"" 2 ca
	before=$(lines "$COLLECT")
	t0=$(date +%s)
	out=$(jail NIXOS_KEXEC_HANDOFF="$T/r1" NIXOS_KEXEC_RUN="$T/run1" sh "$SCRIPTS/revert.sh" 2>&1)
	took=$(($(date +%s) - t0))
	if [ -e "$T/REAL" ]; then
		it_fail "a real reboot was attempted: $(cat "$T/REAL")"
	elif [ ! -e "$T/REBOOTED" ]; then
		it_fail "no reboot: $out"
	elif [ "$took" -lt 2 ]; then
		it_fail "rebooted after $took s, before the deadline"
	elif ! new_lines "$COLLECT" "$before" | grep -q "\"event\":\"revert\",\"nonce\":\"$NONCE\".*\"revert_after\":2}"; then
		it_fail "no revert report: $(new_lines "$COLLECT" "$before")"
	elif ! printf '%s' "$out" | grep -q "safety net armed: this system reboots back into the previous one in 2 s"; then
		it_fail "said: $out"
	else
		it_pass
	fi
	rm -f "$T/REBOOTED"
fi

it_case "nixos-kexec-confirm within the time: disarmed, 'confirmed' posted, no reboot"
if [ "$sandbox" = 0 ]; then
	it_skip "no user namespaces (unshare -Ur)"
else
	handoff "$T/r2" "\"$U/collect\"" 4 ca
	before=$(lines "$COLLECT")
	(jail NIXOS_KEXEC_HANDOFF="$T/r2" NIXOS_KEXEC_RUN="$T/run2" sh "$SCRIPTS/revert.sh" \
		>"$T/revert2.log" 2>&1) &
	rpid=$!
	for _ in $(seq 1 40); do
		[ -e "$T/run2/revert-deadline" ] && break
		sleep 0.1
	done
	cout=$(NIXOS_KEXEC_HANDOFF=$T/r2 NIXOS_KEXEC_RUN=$T/run2 sh "$SCRIPTS/nixos-kexec-confirm" 2>&1)
	crc=$?
	wait "$rpid"
	sleep 0.2
	if [ -e "$T/REBOOTED" ] || [ -e "$T/REAL" ]; then
		it_fail "rebooted: $(cat "$T/revert2.log")"
	elif [ "$crc" -ne 0 ] || ! printf '%s' "$cout" | grep -q "confirmed boot $NONCE"; then
		it_fail "confirm exit $crc: $cout"
	elif ! grep -q "confirmed; the safety net is disarmed" "$T/revert2.log"; then
		it_fail "revert.sh said: $(cat "$T/revert2.log")"
	elif ! new_lines "$COLLECT" "$before" | grep -q "\"event\":\"confirmed\",\"nonce\":\"$NONCE\""; then
		it_fail "no confirmed report"
	else
		it_pass
	fi
fi

it_case "nixos-kexec-confirm with no safety net armed: says so, exit 0"
handoff "$T/r3" null 0
out=$(NIXOS_KEXEC_HANDOFF=$T/r3 NIXOS_KEXEC_RUN=$T/run3 sh "$SCRIPTS/nixos-kexec-confirm" 2>&1)
rc=$?
[ "$rc" -eq 0 ] && printf '%s' "$out" | grep -q "no safety net is armed (boot nonce $NONCE)" &&
	[ ! -e "$T/run3/confirmed" ] && it_pass || it_fail "exit $rc: $out"

# --- the confirm/revert race (issue 20, item 6) and a touched disk (item 5) ------
# A report.sh stand-in that takes a while, like a post to a slow collector:
# it says when it starts, and runs a hook (the test's move) in that window.
cat >"$T/fake/slow-report" <<EOF
#!/bin/sh
echo "\$*" >>"$T/slow-report.log"
[ -z "\${SLOW_HOOK:-}" ] || sh -c "\$SLOW_HOOK"
sleep 2
EOF
chmod +x "$T/fake/slow-report"
# until FILE exists, at most 10 s
await() {
	for _ in $(seq 1 100); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

it_case "nixos-kexec-confirm before the timer is armed: remembered, revert.sh stands down"
if [ "$sandbox" = 0 ]; then
	it_skip "no user namespaces (unshare -Ur)"
else
	handoff "$T/c1" null 2
	cout=$(NIXOS_KEXEC_HANDOFF=$T/c1 NIXOS_KEXEC_RUN=$T/runc1 sh "$SCRIPTS/nixos-kexec-confirm" 2>&1)
	crc=$?
	out=$(jail NIXOS_KEXEC_HANDOFF="$T/c1" NIXOS_KEXEC_RUN="$T/runc1" sh "$SCRIPTS/revert.sh" 2>&1)
	if [ -e "$T/REBOOTED" ] || [ -e "$T/REAL" ]; then
		it_fail "rebooted (confirm said: $cout; revert said: $out)"
	elif [ "$crc" -ne 0 ] || ! printf '%s' "$cout" | grep -q "confirmed boot $NONCE"; then
		it_fail "confirm exit $crc: $cout"
	else
		printf '%s' "$out" | grep -q "already confirmed" && it_pass || it_fail "revert said: $out"
	fi
	rm -f "$T/REBOOTED"
fi

it_case "confirm while the revert is being posted: fails loudly (exit 1, 'too late'), and the reboot happens"
if [ "$sandbox" = 0 ]; then
	it_skip "no user namespaces (unshare -Ur)"
else
	handoff "$T/c2" null 1
	rm -f "$T/slow-report.log"
	(jail NIXOS_KEXEC_HANDOFF="$T/c2" NIXOS_KEXEC_RUN="$T/runc2" NIXOS_KEXEC_REPORT="$T/fake/slow-report" \
		sh "$SCRIPTS/revert.sh" >"$T/revertc2.log" 2>&1) &
	rpid=$!
	await "$T/slow-report.log"
	cout=$(NIXOS_KEXEC_HANDOFF=$T/c2 NIXOS_KEXEC_RUN=$T/runc2 sh "$SCRIPTS/nixos-kexec-confirm" 2>&1)
	crc=$?
	wait "$rpid"
	if [ ! -e "$T/REBOOTED" ]; then
		it_fail "no reboot: $(cat "$T/revertc2.log")"
	elif [ "$crc" -ne 1 ] || ! printf '%s' "$cout" | grep -q "too late"; then
		it_fail "confirm exit $crc during the revert: $cout"
	elif [ ! -e "$T/runc2/reverting" ] || [ -e "$T/runc2/revert-deadline" ]; then
		it_fail "no reverting marker: $(ls "$T/runc2")"
	else
		it_pass
	fi
	rm -f "$T/REBOOTED"
fi

it_case "revert.sh: 'confirmed' appearing while the revert is posted is honoured: no reboot"
if [ "$sandbox" = 0 ]; then
	it_skip "no user namespaces (unshare -Ur)"
else
	handoff "$T/c3" null 1
	rm -f "$T/slow-report.log"
	out=$(jail NIXOS_KEXEC_HANDOFF="$T/c3" NIXOS_KEXEC_RUN="$T/runc3" NIXOS_KEXEC_REPORT="$T/fake/slow-report" \
		SLOW_HOOK=": >'$T/runc3/confirmed'" sh "$SCRIPTS/revert.sh" 2>&1)
	if [ -e "$T/REBOOTED" ] || [ -e "$T/REAL" ]; then
		it_fail "rebooted: $out"
	else
		printf '%s' "$out" | grep -q "confirmed after all; not rebooting" && it_pass || it_fail "said: $out"
	fi
	rm -f "$T/REBOOTED"
fi

it_case "nixos-kexec-confirm --status: the time left and how to confirm, nothing when not armed"
mkdir -p "$T/runs"
echo $(($(date +%s) + 100)) >"$T/runs/revert-deadline"
o1=$(NIXOS_KEXEC_RUN=$T/runs sh "$SCRIPTS/nixos-kexec-confirm" --status 2>&1)
o2=$(NIXOS_KEXEC_RUN=$T/nothing sh "$SCRIPTS/nixos-kexec-confirm" --status 2>&1)
if ! printf '%s' "$o1" | grep -Eq "reboots back into the previous one in (99|100) s unless you run 'nixos-kexec-confirm'"; then
	it_fail "armed: $o1"
else
	it_expect_eq "${o2:-nothing}" nothing
fi

# held CASE-DIR SETUP-HOOK WANT: revert.sh (revert_after 1) with a fake /sys
# and /proc that SETUP-HOOK changes (before arming: in DIR; after: in
# SLOW_HOOK's time is too late, so the hook runs in the background after
# the deadline file appears); must not reboot, must say WANT, must post
# revert-held with it.
held() {
	local d=$T/$1 out
	rm -rf "$d"
	fakesys "$d"
	handoff "$d/h" "\"$U/collect\"" 1 ca
	before=$(lines "$COLLECT")
	(await "$d/run/revert-deadline" && sh -c "$2") &
	hpid=$!
	out=$(jail NIXOS_KEXEC_HANDOFF="$d/h" NIXOS_KEXEC_RUN="$d/run" NIXOS_KEXEC_SYS="$d/sys" \
		NIXOS_KEXEC_PROC="$d/proc" sh "$SCRIPTS/revert.sh" 2>&1)
	wait "$hpid"
	if [ -e "$T/REBOOTED" ] || [ -e "$T/REAL" ]; then
		it_fail "rebooted: $out"
	elif ! printf '%s' "$out" | grep -qF "not rebooting: $3"; then
		it_fail "said: $out"
	elif ! new_lines "$COLLECT" "$before" | grep -qF "\"event\":\"revert-held\",\"nonce\":\"$NONCE\""; then
		it_fail "no revert-held report: $(new_lines "$COLLECT" "$before")"
	elif ! new_lines "$COLLECT" "$before" | grep -qF "\"detail\":\"$3"; then
		it_fail "report detail: $(new_lines "$COLLECT" "$before")"
	else
		it_pass
	fi
	rm -f "$T/REBOOTED"
}

it_case "revert.sh: a disk's write counter moved since arming: no reboot, said, posted"
if [ "$sandbox" = 0 ]; then
	it_skip "no user namespaces (unshare -Ur)"
else
	held d1 "echo '100 0 800 50 2600 0 80 5 0 60 55 0 0 0 0 0 0' >'$T/d1/sys/block/vda/stat'" \
		"/dev/vda was written since the safety net was armed (write counter 10, now 2600)"
fi

it_case "revert.sh: a file system on a disk mounted read-write: no reboot"
if [ "$sandbox" = 0 ]; then
	it_skip "no user namespaces (unshare -Ur)"
else
	held d2 "echo '/dev/vda1 /mnt ext4 rw,relatime 0 0' >>'$T/d2/proc/mounts'" "/dev/vda1 is mounted read-write on /mnt"
fi

it_case "revert.sh: a disk open for writing (fdinfo flags O_RDWR): no reboot"
if [ "$sandbox" = 0 ]; then
	it_skip "no user namespaces (unshare -Ur)"
else
	held d3 "mkdir -p '$T/d3/proc/4242/fd' '$T/d3/proc/4242/fdinfo' && echo sgdisk >'$T/d3/proc/4242/comm' &&
		printf 'pos:\t0\nflags:\t0100002\n' >'$T/d3/proc/4242/fdinfo/3' && ln -s /dev/vda '$T/d3/proc/4242/fd/3'" \
		"/dev/vda is open for writing by sgdisk (pid 4242)"
fi

it_case "revert.sh: a disk open read-only, writes to loop and zram, a ro mount: still reboots"
if [ "$sandbox" = 0 ]; then
	it_skip "no user namespaces (unshare -Ur)"
else
	d=$T/d4
	fakesys "$d"
	handoff "$d/h" null 1
	mkdir -p "$d/proc/77/fd" "$d/proc/77/fdinfo"
	printf 'pos:\t0\nflags:\t0100000\n' >"$d/proc/77/fdinfo/3"
	ln -s /dev/vda "$d/proc/77/fd/3"
	echo "/dev/vda1 /mnt ext4 ro,relatime 0 0" >>"$d/proc/mounts"
	(await "$d/run/revert-deadline" && echo "7 0 56 3 900 0 0 0 0 3 3 0 0 0 0 0 0" >"$d/sys/block/loop0/stat" &&
		echo "0 0 0 0 9999 0 32 1 0 1 1 0 0 0 0 0 0" >"$d/sys/block/zram0/stat") &
	hpid=$!
	out=$(jail NIXOS_KEXEC_HANDOFF="$d/h" NIXOS_KEXEC_RUN="$d/run" NIXOS_KEXEC_SYS="$d/sys" \
		NIXOS_KEXEC_PROC="$d/proc" sh "$SCRIPTS/revert.sh" 2>&1)
	wait "$hpid"
	[ -e "$T/REBOOTED" ] && it_pass || it_fail "no reboot: $out"
	rm -f "$T/REBOOTED"
fi

it_case "the scripts are POSIX sh (sh -n under dash and busybox)"
bad=
for f in report.sh revert.sh nixos-kexec-confirm; do
	sh -n "$SCRIPTS/$f" || bad="$bad $f"
	if [ -x /bin/busybox ]; then /bin/busybox sh -n "$SCRIPTS/$f" || bad="$bad $f(busybox)"; fi
done
it_expect_eq "${bad:-none}" none

# --- the playbook -------------------------------------------------------------------
it_case "examples/ansible: ansible-playbook --syntax-check"
if command -v ansible-playbook >/dev/null 2>&1; then
	out=$(cd "$TOP/examples/ansible" && LC_ALL=C.UTF-8 ANSIBLE_LOCAL_TEMP=$T/ansible ANSIBLE_HOME=$T/ansible \
		ansible-playbook --syntax-check -i inventory.example.ini fleet.yml 2>&1)
	rc=$?
	[ "$rc" -eq 0 ] && it_pass || it_fail "exit $rc: $(printf '%s' "$out" | tail -n 5)"
else
	it_skip "ansible-playbook not installed (Debian: ansible-core)"
fi

# ansible_play ARGS...: fleet.yml with an inventory of one machine that is
# never reached: ssh is a stand-in (ansible_ssh_executable) that records
# its arguments, asks the real ssh -G which user they make it log in as,
# and answers as nixos-kexec-confirm would. Output in AOUT, status in ARC.
ansible_play() {
	AOUT=$(cd "$TOP/examples/ansible" && LC_ALL=C.UTF-8 ANSIBLE_LOCAL_TEMP=$T/ansible ANSIBLE_HOME=$T/ansible \
		ANSIBLE_HOST_KEY_CHECKING=False ansible-playbook -i "$T/pb/inventory.yml" fleet.yml \
		-e nixos_kexec_url=https://boot.invalid/nixos -e nixos_kexec_pubkey_file=/dev/null \
		-e ansible_ssh_executable="$T/pb/ssh" -e ansible_ssh_retries=0 "$@" 2>&1)
	ARC=$?
}
have_ansible=0
if command -v ansible-playbook >/dev/null 2>&1; then
	have_ansible=1
	mkdir -p "$T/pb"
	cat >"$T/pb/ssh" <<EOF
#!/bin/bash
printf '%s\n' "\$@" >"$T/pb/ssh.args"
# The last argument is the remote command; the rest is what ssh would use.
user=\$(ssh -G "\${@:1:\$((\$# - 1))}" 2>/dev/null | sed -n 's/^user //p')
echo "\$user" >"$T/pb/ssh.user"
echo "nixos-kexec-confirm: confirmed boot $NONCE: this system stays"
EOF
	chmod +x "$T/pb/ssh"
fi
# inventory EXTRA-ARGS-YAML: one machine, the old system's user debian
inventory() {
	printf 'fleet:\n  hosts:\n    m1:\n      ansible_host: 192.0.2.7\n  vars:\n      ansible_user: debian\n      nixos_kexec_extra_args: %s\n' \
		"$1" >"$T/pb/inventory.yml"
}

it_case "playbook: -e ansible_user=debian does not beat root for the new system (ssh -G says root)"
if [ "$have_ansible" = 0 ]; then
	it_skip "ansible-playbook not installed (Debian: ansible-core)"
else
	inventory '[]'
	rm -f "$T/pb/ssh.user"
	ansible_play --start-at-task "Keep it (disarm the safety net)" -e nixos_kexec_nonce=$NONCE -e ansible_user=debian
	if [ ! -f "$T/pb/ssh.user" ]; then
		it_fail "ssh was not run (exit $ARC): $(printf '%s' "$AOUT" | tail -n 5)"
	else
		it_expect_eq "$(cat "$T/pb/ssh.user") exit $ARC" "root exit 0"
	fi
fi

it_case "playbook: nixos_kexec_extra_args as text (how ansible-core 2.19 keeps INI's []): a list"
if [ "$have_ansible" = 0 ]; then
	it_skip "ansible-playbook not installed (Debian: ansible-core)"
else
	# ansible-core 2.14 (Debian 12) still converts INI values; a YAML
	# inventory's quoted string is what 2.19 hands the play for INI's [].
	inventory "'[]'"
	ansible_play --tags settings -e nixos_kexec_revert_after=900
	a1=$ARC o1=$AOUT
	inventory "'[\"--splay\", \"60\"]'"
	ansible_play --tags settings -e nixos_kexec_revert_after=900
	a2=$ARC o2=$AOUT
	inventory "'--splay 60'"
	ansible_play --tags settings
	if [ "$a1" -ne 0 ] || ! printf '%s' "$o1" | grep -q '"agent options: --revert-after 900"'; then
		it_fail "[]: exit $a1: $(printf '%s' "$o1" | grep -E 'msg|ERROR' | head -n 3)"
	elif [ "$a2" -ne 0 ] || ! printf '%s' "$o2" | grep -q '"agent options: --revert-after 900 --splay 60"'; then
		it_fail "[\"--splay\", \"60\"]: exit $a2: $(printf '%s' "$o2" | grep -E 'msg|ERROR' | head -n 3)"
	elif [ "$ARC" -eq 0 ] || ! printf '%s' "$AOUT" | grep -q "must be a list of strings"; then
		it_fail "'--splay 60' accepted: exit $ARC"
	else
		it_pass
	fi
fi

it_summary
