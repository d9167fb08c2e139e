#!/usr/bin/env bash
# The user's journey, end to end (issue 11): a fresh Debian cloud VM runs the
# README's one-liner, the agent kexecs it into a second system, and the
# harness logs in there as root, with the user's key, on the network it
# inherited, against the host key it recorded before.
#
#   B=build tests/e2e/journey/run.sh [SCENARIO...]   (or --list)
#   NK_JOURNEY_SCENARIOS="journey-cloudinit journey-curlpipe" B=build tests/e2e/journey/run.sh
#
# The scenarios are here and in scenarios/*.sh (one file each, registering
# itself); the cloud VM's helpers are lib.sh's, the plumbing (selection,
# result lines, cleanup) tests/e2e/lib/runner.sh's.
#
# Scenarios (all by default):
#   journey-cloudinit  the user data is the README's #cloud-config one-liner
#                      (validated with `cloud-init schema`); a static address
#                      (10.0.2.20, not slirp's DHCP one) that only the
#                      handed-over network unit brings back
#   journey-curlpipe   no user data; the harness logs in as the image's
#                      default user and runs the README's curl-pipe one-liner
#                      (boot.sh) with sudo; DHCP network
#   journey-refused    the server corrupts the bundle's initrd: cloud-init's
#                      runcmd ends with exit 65, nothing is loaded, and the
#                      first system stays reachable over SSH
#   report             the curl-pipe one-liner with `sh -s -- --report URL
#                      --cacert CA` (boot.sh passes them to the agent); the
#                      stub also collects (--collect): start, verified,
#                      loaded, executing from the agent and `up` from the
#                      second system (nix/handoff/report.sh), all with
#                      boot.json's nonce, `up` with the second system's
#                      host name and address (issue 12)
#   revert             the same with --revert-after 150 (the minimum) and no one
#                      confirming: revert.sh says so on the serial console,
#                      reboots, and QEMU (without -no-reboot) brings back the
#                      first system from its disk: a marker file written
#                      there before, the debian user, no nk.second
#   fleet-ansible      two cloud VMs at once are the inventory of the real
#                      ansible-playbook running examples/ansible/fleet.yml:
#                      a third, unreachable host stops the play within the
#                      failure budget before any agent runs; then both are
#                      booted (a batch each), come back, are checked and
#                      confirmed: the recap, each VM's nonce in its second
#                      system, the collector, the disarmed safety net
#                      (scenarios/fleet-ansible.sh)
#   bond               the VM has two NICs on one user network (a QEMU
#                      hub); the harness makes the first system's network
#                      an active-backup bond over both with 10.0.2.15/24 on
#                      it (networkd units, over SSH); after the curl-pipe
#                      one-liner the login works through the bond, the
#                      second system shows it with both ports
#                      (/proc/net/bonding, networkctl), the self-test found
#                      its gateway, and a login still works once the other
#                      port is made the active one (issue 14)
#   dhcp-fallback      the first system's address is made wrong just before
#                      the one-liner (192.0.2.15/24, gateway 192.0.2.1, on
#                      its NIC; the harness keeps its own path through
#                      10.0.2.15 on lo and a policy route, neither of which
#                      is handed over): the second system's self-test
#                      (nix/handoff/selftest.sh) sees the gateway and the
#                      source fail, falls back to DHCP, passes, and the
#                      login works at slirp's DHCP address; with --report,
#                      the collector gets the self-test's steps (issue 14)
#   nixos-anywhere     nixos-anywhere's kexec phase, its commands quoted,
#                      with make release's nixos-kexec-anywhere tarball
#                      uploaded: first a bundle signed with another key (the
#                      phase fails, run exits 65, the first system stays),
#                      then the success line, SSH gone, a root login with
#                      its key, os-release ID=nixos VARIANT_ID=installer
#                      (scenarios/nixos-anywhere.sh; issue 23)
#   dns-local-resolver the first system has a static address and resolves
#                      through unbound on 127.0.0.1 (its upstream the test
#                      network's DNS server, over TCP); the agent carries the
#                      upstream; the second system, running systemd-resolved
#                      as NixOS does, resolves the zone's names, its
#                      self-test says dns ok, report.sh reaches the collector
#                      by name (scenarios/dns-local-resolver.sh; issue 20)
#   journey-port       the first system's sshd listens on 2222 only (port 22
#                      silent); after the curl-pipe one-liner the root login
#                      is on 2222 (scenarios/port.sh; issue 20)
# Every login into a second system also resolves a name of the test
# network's zone (check_second): dnsmasq on the host's loopback, its own
# zone only, reached by every VM over TCP at 10.0.2.100:53 (lib.sh).
#   small-1g           the 1 GiB VM and a lean bundle with a 440 MB store:
#                      the curl-pipe one-liner with --store auto, the agent
#                      choosing stage1 and saying so, stage 1 fetching the
#                      store over the handed-over network and checking it,
#                      the usual checks; small-1g-refused (run by name
#                      only): a store whose bytes differ, stage 1 refuses
#                      and reboots into the first system
#                      (scenarios/small-1g.sh; issue 22); small-min (by
#                      name): any -m, store size and --store mode, what
#                      minram.sh bisects for the minimum-RAM table
#   journey-arm64      with NK_E2E_ARCH=aarch64 only (make journey-arm64):
#                      journey-curlpipe on an arm64 cloud VM booted through
#                      UEFI firmware, boot.sh picking the aarch64 agent
#                      (arm64.sh; issue 21)
#
# What runs: image.sh builds (or finds cached) a Debian cloud image and a
# stand-in for NixOS (NixOS cannot be built here) that applies the handoff
# with the NixOS module's own scripts, nix/handoff/stage{1,2}.sh. The cloud
# image becomes one raw ext4 disk per run (mkfs.ext4 -d), each scenario boots
# a qcow2 overlay of it with a NoCloud seed. The network is QEMU's user mode
# with restrict=on: the VM reaches only the stub on this machine's loopback
# (guestfwd 10.0.2.100:443), and the harness reaches the VM's sshd through
# hostfwd on 127.0.0.1.
#
# The VM gets what a user publishes: the static agent (NK_STATIC, default
# $B/static/<arch>/) laid out with boot.sh by `make release`'s
# tools/release.sh. Without a static build, or with NK_AGENT set (say, the
# dynamic $B/nixos-kexec: the image has its libraries) or
# NK_JOURNEY_BOOTSH=standin, boot.sh comes from mkbootsh.sh, a stand-in with
# the same contract.
#
# Environment: B (build directory with the host's nixos-kexec and
# nixos-kexec-stub, default build); NK_AGENT, NK_STATIC, NK_JOURNEY_BOOTSH
# (above); NK_JOURNEY_RELEASE_SH (default tools/release.sh);
# NK_JOURNEY_LOGS (default $B/journey);
# NK_JOURNEY_TIMEOUT (seconds per VM, default 420); NK_JOURNEY_MEM (MiB,
# default 1024); NK_JOURNEY_KEEP=1 keeps the scratch directory;
# NK_JOURNEY_JOBS (scenarios at once, default 1; fleet-ansible counts 2)
# or NK_JOURNEY_JOBS_FILE (the number in a file, read again: make check
# raises it to 2 when its other layers are done); NK_CACHE
# (image.sh); NK_E2E_ACCEL=auto|kvm|tcg as for the e2e test.
# Output: one line per scenario, "e2e: PASS <name> (timings)" or
# "e2e: FAIL <name>: why" (serial and host logs kept in NK_JOURNEY_LOGS),
# "e2e: SKIP <name>: why". Exit status: 0 if nothing failed.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
B=$(cd "${B:-build}" && pwd)
# shellcheck source=tests/e2e/journey/lib.sh
. "$HERE/lib.sh"

e2e_runner JOURNEY journey .serial.log
# NK_E2E_ARCH=aarch64 (make journey-arm64): the arm64 journey of arm64.sh
# instead of these.
case ${NK_E2E_ARCH:-x86_64} in
x86_64) e2e_scenarios journey-cloudinit journey-curlpipe journey-refused report revert ;;
aarch64) . "$HERE/arm64.sh" ;;
*) echo "journey: NK_E2E_ARCH must be x86_64 or aarch64" >&2; exit 64 ;;
esac
# The result lines repeat these "<word> check:" lines of a passing scenario.
E2E_CHECK_RE="host key|nonce|network|report|revert|ansible|self-test|bond|fallback|nixos-anywhere|arm64|dns|port"

# --- scenarios: each in its own subshell with set -e; DIR is its scratch
# directory, LOG its serial log; failures go to REASONS (lib/runner.sh) ---

scenario_journey_cloudinit() {
	local t_agent t_loaded
	serve
	make_seed "$USERDATA_CLOUDINIT" "$(static_netcfg)"
	start_vm "$STATIC_IP"
	wait_first_sshd 300 ||
		must "the cloud VM's sshd did not start" false
	record_first 1
	wait_for "$LOG" "running 'modules:final'" 0 300 >/dev/null ||
		must "cloud-init's final stage (runcmd) did not start" false
	# runcmd's output reaches cloud-init's output log, which the harness
	# follows: the agent's lines, stamped as they arrive.
	t_agent=$(wait_for "$DIR/first.ssh" "$AGENT_LINE" 0 120) ||
		must "runcmd started no agent: $(unstamp "$DIR/first.ssh" | grep -v '^JR' | tail -n 3 || true)" false
	t_loaded=$(wait_for "$DIR/first.ssh" "$LOADED_LINE|nixos-kexec: .*(error|refused|failed)" "$t_agent" 300) ||
		must "the agent did not finish: $(unstamp "$DIR/first.ssh" | tail -n 3 || true)" false
	must "the agent did not load the kernel: $(unstamp "$DIR/first.ssh" | grep "$AGENT_LINE" | tail -n 3 || true)" \
		grep -qE "$LOADED_LINE" "$DIR/first.ssh"
	# The next line, a moment later (the follower may not have it yet).
	wait_for "$DIR/first.ssh" "nixos-kexec: executing in" "$t_agent" 30 >/dev/null ||
		need "the agent did not announce the delayed kexec" false
	check_second "$(agent_nonce "$DIR/first.ssh")" "$t_loaded" "$STATIC_IP"
	check_console_key
	timing "VM start to runcmd $(secs 0 "$t_agent") s"
	timing "agent start to kernel loaded $(secs "$t_agent" "$t_loaded") s"
	timing "kexec to sshd $(secs "$T_KEXEC" "$T_SSHD") s"
	timing "one-liner to root shell $(secs "$t_agent" "$T_ROOT") s"
	kexec_detail "$t_loaded"
}

scenario_journey_curlpipe() {
	local t_start t_answer t_agent t_loaded rc=0
	serve
	make_seed "#cloud-config" ""
	start_vm ""
	wait_first_sshd 300 ||
		must "the cloud VM's sshd did not start" false
	record_first 0
	echo "running as debian: $CURLPIPE"
	t_start=$(now_rel)
	ssh_bg "$DIR/oneliner.out" debian "$CURLPIPE"
	wait "$BG_SSH" || rc=$?
	t_answer=$(now_rel)
	sleep 0.2 # the stamp process writes the last lines
	unstamp "$DIR/oneliner.out"
	must "the one-liner exited $rc: $(tail -n 2 "$DIR/oneliner.out" | unstamp || true)" [ "$rc" -eq 0 ]
	t_agent=$(t_of "$DIR/oneliner.out" "$AGENT_LINE") ||
		must "the one-liner started no agent" false
	t_loaded=$(t_of "$DIR/oneliner.out" "$LOADED_LINE") ||
		must "the one-liner's output does not say the kernel was loaded" false
	need "the agent did not announce the delayed kexec" grep -q "nixos-kexec: executing in" "$DIR/oneliner.out"
	echo "the SSH session got its answer at $t_answer s"
	check_second "$(agent_nonce "$DIR/oneliner.out")" "$t_start" ""
	need "the SSH session got its answer only after the kexec (at $t_answer s, kexec at $T_KEXEC s)" \
		awk -v a="$t_answer" -v k="$T_KEXEC" 'BEGIN { exit !(a < k) }'
	timing "VM start to one-liner $t_start s"
	timing "agent start to kernel loaded $(secs "$t_agent" "$t_loaded") s"
	timing "kexec to sshd $(secs "$T_KEXEC" "$T_SSHD") s"
	timing "one-liner to root shell $(secs "$t_start" "$T_ROOT") s"
	kexec_detail "$t_answer"
}

scenario_journey_refused() {
	local initrd t_agent t_end rc=0
	initrd=$(e2e_manifest_file "$WORK/www/nixos/$ARCH" initrd)
	serve --fault "corrupt:1000@$initrd"
	make_seed "$USERDATA_CLOUDINIT" "$(static_netcfg)"
	start_vm "$STATIC_IP"
	wait_first_sshd 300 ||
		must "the cloud VM's sshd did not start" false
	record_first 1
	t_agent=$(wait_for "$DIR/first.ssh" "$AGENT_LINE" 0 300) ||
		must "runcmd started no agent: $(unstamp "$DIR/first.ssh" | grep -v '^JR' | tail -n 3 || true)" false
	wait_for "$DIR/first.ssh" "Cloud-init v\. .* finished at" "$t_agent" 300 >/dev/null ||
		must "cloud-init's final stage did not finish" false
	t_end=$(t_last "$DIR/first.ssh" "$AGENT_LINE" "$t_agent")
	e2e_stop "$FOLLOW_SSH"
	sed -n "/$AGENT_LINE/p" "$DIR/first.ssh"
	check_console_key
	# The first system is still there, and says what happened.
	ssh_retry "$DIR/after.ssh" 30 debian \
		'echo "JR kexec_loaded=$(cat /sys/kernel/kexec_loaded)";
		 cloud-init status --long | sed "s/^/JR status: /";
		 sudo -n grep -h -A2 "scripts/runcmd" /var/log/cloud-init.log | sed "s/^/JR log: /"' || rc=$?
	cat "$DIR/after.ssh"
	must "the first system is not reachable over SSH after the refusal (ssh exit $rc)" [ "$rc" -eq 0 ]
	need "kexec_loaded is not 0 after the refusal" grep -qx "JR kexec_loaded=0" "$DIR/after.ssh"
	need "cloud-init's log does not show runcmd ending with exit 65" \
		grep -qE "^JR log: .*(Exit code: 65|runcmd.*\[65\])" "$DIR/after.ssh"
	need "cloud-init does not report the failure (status)" grep -qE "^JR status: status: error" "$DIR/after.ssh"
	need "the agent's output does not blame the initrd's hash" \
		grep -aqiE "$AGENT_LINE.*$initrd.*(sha-?256|hash)" "$DIR/first.ssh"
	need "a second kernel booted although the bundle was refused" \
		[ "$(grep -ac 'Linux version' "$LOG" || true)" -le 1 ]
	# The pinned curl-pipe one-liner: a boot.sh that is not the pinned one
	# never runs; the pinned one runs, and boot.sh passes on the agent's
	# refusal of the tampered bundle.
	local wrong=${CURLPIPE_PINNED//"$BOOTSH_SUM"/"$(printf '%064d' 0)"}
	rc=0
	ssh_retry "$DIR/pinned.ssh" 30 debian \
		"{ $wrong; } 2>&1 | sed 's/^/JR wrong: /'; echo \"JR wrong-rc=\${PIPESTATUS[0]}\"; rm -f boot.sh;
		 { $CURLPIPE_PINNED; } 2>&1 | sed 's/^/JR pinned: /'; echo \"JR pinned-rc=\${PIPESTATUS[0]}\";
		 echo \"JR kexec_loaded=\$(cat /sys/kernel/kexec_loaded)\"" || rc=$?
	cat "$DIR/pinned.ssh"
	need "the pinned one-liner's session failed (ssh exit $rc)" [ "$rc" -eq 0 ]
	need "the pinned one-liner ran a boot.sh whose hash is not the pinned one" \
		grep -qE "^JR wrong-rc=[1-9]" "$DIR/pinned.ssh"
	need "with a wrong pin, the agent ran anyway" lacks "$DIR/pinned.ssh" "JR wrong: nixos-kexec:"
	need "the pinned one-liner did not end with the agent's 65" grep -qx "JR pinned-rc=65" "$DIR/pinned.ssh"
	need "the pinned one-liner's agent does not blame the initrd's hash" \
		grep -qiE "^JR pinned: nixos-kexec: .*$initrd.*(sha-?256|hash)" "$DIR/pinned.ssh"
	need "kexec_loaded is not 0 after the pinned one-liner" grep -qx "JR kexec_loaded=0" "$DIR/pinned.ssh"
	timing "VM start to runcmd $(secs 0 "$t_agent") s"
	timing "agent start to refusal $(secs "$t_agent" "$t_end") s"
}

scenario_report() {
	local cmd ev t_up addr host
	VM_TIMEOUT=$((VM_TIMEOUT + 180))
	first_with_collector
	cmd=$(curlpipe_with "--report $REPORT_URL --cacert $REPORT_CA") ||
		must "the curl-pipe one-liner does not end in '| sudo sh'" false
	run_oneliner "$cmd"
	check_second "$NONCE" "$T_START" ""
	# report.sh up runs after network-online, sshd and the self-test, which
	# posts each of its steps first: under TCG on a loaded machine each post
	# (a curl with a TLS handshake) took 10-15 s, so 'up' can come minutes
	# after the login. A deadline, not a timing: the timing is printed.
	local t0=$SECONDS
	while ! collected "$COLLECT" up "$NONCE" >/dev/null && [ $((SECONDS - t0)) -lt 240 ]; do
		sleep 1
	done
	t_up=$(now_rel)
	echo "collected:"
	sed 's/^/  /' "$COLLECT" || true
	for ev in start verified loaded executing; do
		need "the collector has no '$ev' with the nonce $NONCE from the agent" \
			collected "$COLLECT" "$ev" "$NONCE"
	done
	must "the collector has no 'up' with the nonce $NONCE from the second system" \
		collected "$COLLECT" up "$NONCE"
	need "boot.json in the second system has not the nonce $NONCE" \
		grep -q "^JR boot.json=.*\"nonce\":\"$NONCE\"" "$DIR/second.ssh"
	host=$(sed -n 's/^JR hostname=//p' "$DIR/second.ssh")
	need "'up' does not name the second system's host $host" \
		grep -q "\"host\":\"$host\"" <(collected "$COLLECT" up "$NONCE")
	addr=$(sed -n 's/^JR net: *Address: *\([0-9][0-9.]*\).*/\1/p' "$DIR/second.ssh" | head -n 1)
	need "no IPv4 address of the second system in networkctl's output" [ -n "$addr" ]
	need "'up' does not list the second system's address $addr" \
		grep -q "\"addresses\":\\[[^]]*[ \"]$addr/" <(collected "$COLLECT" up "$NONCE")
	need "'up' lists no SSH host key" \
		grep -q '"ssh_host_keys":\["ED25519 SHA256:' <(collected "$COLLECT" up "$NONCE")
	echo "report check: start, verified, loaded, executing and up ($host, $addr) with nonce $NONCE"
	timing "VM start to one-liner $T_START s"
	timing "kexec to sshd $(secs "$T_KEXEC" "$T_SSHD") s"
	timing "kexec to 'up' collected $(secs "$T_KEXEC" "$t_up") s"
}

scenario_revert() {
	local cmd t_armed t_revert
	NO_REBOOT=()
	VM_TIMEOUT=$((VM_TIMEOUT + 360))
	first_with_collector
	first_marker
	cmd=$(curlpipe_with "--report $REPORT_URL --cacert $REPORT_CA --revert-after 150") ||
		must "the curl-pipe one-liner does not end in '| sudo sh'" false
	run_oneliner "$cmd"
	T_KERNEL=$(wait_for "$LOG" "Linux version" "$T_START" 240) ||
		must "no second kernel (no kexec)" false
	t_armed=$(wait_for "$LOG" "nixos-kexec revert: safety net armed" "$T_KERNEL" 240) ||
		must "revert.sh did not arm the safety net in the second system (serial)" false
	# No one confirms.
	t_revert=$(wait_for "$LOG" "nixos-kexec revert: not confirmed within 150 s" "$t_armed" 210) ||
		must "revert.sh did not give up after 150 s (serial)" false
	back_to_first revert "$t_revert"
	need "the collector has no 'revert' with the nonce $NONCE" collected "$COLLECT" revert "$NONCE"
	need "the collector has 'confirmed' although no one confirmed" \
		lacks "$COLLECT" '"event":"confirmed"'
	echo "revert check: armed at $t_armed s, gave up at $t_revert s, first system back (marker $MARK) at $(now_rel) s"
	timing "kexec to armed $(secs "$T_KERNEL" "$t_armed") s"
	timing "armed to reboot $(secs "$t_armed" "$t_revert") s"
	timing "reboot to first system's sshd $(secs "$t_revert" "$T_BACK") s"
}

# Scenarios in files of their own (fleet-ansible, bond, dhcp-fallback, ...).
[ "${NK_E2E_ARCH:-x86_64}" != x86_64 ] || e2e_scenario_files "$HERE/scenarios"

main() {
	e2e_select "$@" || exit 64
	journey_run
	e2e_summary
}

main "$@"
