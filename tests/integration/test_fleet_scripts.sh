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
# jail [VAR=VALUE...] CMD...: in the sandbox, with the fakes first on PATH
jail() {
	unshare --user --map-root-user --pid --fork --mount --kill-child \
		sh -c 'mount --bind /dev/null /proc/sysrq-trigger 2>/dev/null; exec "$@"' jail \
		timeout 30 env PATH="$T/fake:$PATH" NIXOS_KEXEC_REBOOT="$T/fake/fake-reboot" "$@"
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

it_summary
