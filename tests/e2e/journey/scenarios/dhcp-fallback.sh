# shellcheck shell=bash
# Scenario dhcp-fallback of the journey test: a wrong address repaired by the
# network self-test (issue 14).
# Sourced by tests/e2e/journey/run.sh (lib.sh's helpers, lib/runner.sh's
# need/must/timing).

e2e_scenarios dhcp-fallback

# An address outside the user network, and its gateway: TEST-NET-1, which
# slirp neither routes nor answers ARP for.
WRONG_IP=192.0.2.15
WRONG_GW=192.0.2.1

# The first system's network becomes wrong for the network: WRONG_IP/24
# and a default route via WRONG_GW on its NIC, what the agent hands over.
# The harness keeps its own way in: DHCP_IP/32 on lo (loopback gets no
# unit) and a policy route to the user network through the NIC (other
# tables are not handed over), added before the NIC loses DHCP_IP, so the
# session survives. networkd stops first (it drops its lease then), so
# that nothing puts the lease back. The kernel flushes routes whose source
# address leaves the NIC, even one still on lo: the policy route goes in
# again once the NIC's addresses are gone.
wrong_first_script() {
	cat <<-EOS
	set -eu
	for l in /sys/class/net/*; do [ "\$(cat "\$l/address")" = "$VM_MAC" ] && n=\${l##*/}; done
	ip addr add $DHCP_IP/32 dev lo
	ip rule add to 10.0.2.0/24 lookup 100 priority 100
	ip route add 10.0.2.0/24 dev \$n src $DHCP_IP table 100
	systemctl stop systemd-networkd.socket systemd-networkd.service
	ip -4 addr flush dev \$n
	ip route replace 10.0.2.0/24 dev \$n src $DHCP_IP table 100
	ip addr add $WRONG_IP/24 dev \$n
	ip route add default via $WRONG_GW dev \$n
	ip -br -4 addr | sed "s/^/JR addr: /"
	ip -4 route | sed "s/^/JR route: /"
	EOS
}

scenario_dhcp_fallback() {
	local cmd rc=0 t_fail t_fb t_pass t_res ev
	first_with_collector
	wrong_first_script | first_root_sh "$DIR/wrong.ssh" || rc=$?
	cat "$DIR/wrong.ssh"
	must "cannot make the first system's address wrong (exit $rc)" \
		grep -qE "^JR addr: [^ ]+ +UP +$WRONG_IP/24" "$DIR/wrong.ssh"
	need "the first system's NIC still has a 10.0.2.x address" \
		lacks_re "$DIR/wrong.ssh" "^JR addr: [^ ]+ +UP .*10\.0\.2\."
	need "the first system has no default route via $WRONG_GW" \
		grep -q "^JR route: default via $WRONG_GW" "$DIR/wrong.ssh"
	cmd=$(curlpipe_with "--report $REPORT_URL --cacert $REPORT_CA") ||
		must "the curl-pipe one-liner does not end in '| sudo sh'" false
	run_oneliner "$cmd"
	# The login works only once the self-test has fallen back to DHCP.
	check_second "$NONCE" "$T_START" "$DHCP_IP" '09-nixos-kexec-fallback-[^/]*\.network' 180
	rc=0
	ssh_retry "$DIR/fallback.ssh" 30 root \
		'sed "s/^/JR handed: /" /run/systemd/network/10-nixos-kexec-*.network;
		 ip -br -4 addr | sed "s/^/JR addr: /"; ip -4 route | sed "s/^/JR route: /";
		 ip -4 -o addr show dynamic | sed "s/^/JR dynamic: /"' || rc=$?
	cat "$DIR/fallback.ssh"
	must "no second login into the second system (ssh exit $rc)" [ "$rc" -eq 0 ]
	# Without the fallback there was nothing to log in to: the unit handed
	# over holds the wrong address, and the self-test saw it fail.
	need "the handed-over unit does not hold the wrong address $WRONG_IP/24" \
		grep -q "^JR handed: Address=$WRONG_IP/24" "$DIR/fallback.ssh"
	need "the handed-over unit holds a 10.0.2.x address" lacks "$DIR/fallback.ssh" "JR handed: Address=10.0.2."
	t_fail=$(t_of "$LOG" "$SELFTEST gateway fail: $WRONG_GW on ") ||
		need "the console does not show the self-test's gateway check failing for $WRONG_GW" false
	need "the console does not show the self-test's source check failing" \
		grep -aqE "$SELFTEST source fail: $E2E_GUEST_SERVER:443" "$LOG"
	t_fb=$(t_of "$LOG" "$SELFTEST fallback ok: .*DHCP/RA" "${t_fail:-0}") ||
		need "the console does not show the fallback to DHCP/RA after the failed check" false
	t_pass=$(t_of "$LOG" "$SELFTEST source ok: $E2E_GUEST_SERVER:443" "${t_fb:-0}") ||
		need "the console does not show the source reached after the fallback" false
	t_res=$(t_of "$LOG" "$SELFTEST result ok: .*after the fallback" "${t_fb:-0}") ||
		need "the console does not show the self-test passing after the fallback" false
	# The address now is DHCP's, the wrong one gone.
	need "$DHCP_IP is not a DHCP address (no finite lifetime)" \
		grep -qE "^JR dynamic: .* inet $DHCP_IP/24 .*dynamic" "$DIR/fallback.ssh"
	need "networkctl does not say $DHCP_IP came from DHCP" \
		grep -qE "^JR net: .*$DHCP_IP \(DHCP4" "$DIR/second.ssh"
	need "the wrong address $WRONG_IP is still there" lacks_re "$DIR/fallback.ssh" "^JR addr: .*$WRONG_IP/"
	need "a route via $WRONG_GW is still there" lacks_re "$DIR/fallback.ssh" "^JR route: .*via $WRONG_GW "
	# The collector: the self-test's steps, then 'up' at the DHCP address.
	local t0=$SECONDS
	while ! collected "$COLLECT" up "$NONCE" >/dev/null && [ $((SECONDS - t0)) -lt 90 ]; do
		sleep 1
	done
	echo "collected:"
	sed 's/^/  /' "$COLLECT" || true
	for ev in 'gateway","result":"fail' 'source","result":"fail' 'fallback","result":"ok' \
		'source","result":"ok' 'result","result":"ok'; do
		need "the collector has no self-test step $ev with the nonce $NONCE" \
			grep -q "\"step\":{\"name\":\"$ev\"" <(collected "$COLLECT" selftest "$NONCE")
	done
	need "the collector has no 'up' with the nonce $NONCE" collected "$COLLECT" up "$NONCE"
	need "'up' does not list the DHCP address $DHCP_IP" \
		grep -q "\"addresses\":\\[[^]]*[ \"]$DHCP_IP/" <(collected "$COLLECT" up "$NONCE")
	need "'up' lists the wrong address $WRONG_IP" lacks <(collected "$COLLECT" up "$NONCE") "$WRONG_IP"
	echo "fallback check: handed over $WRONG_IP/24 via $WRONG_GW; self-test failed at ${t_fail:-?} s, fell back at ${t_fb:-?} s, reached the source at ${t_pass:-?} s, passed at ${t_res:-?} s; logged in at $DHCP_IP (DHCP); $(collected "$COLLECT" selftest "$NONCE" | wc -l) steps collected"
	timing "VM start to one-liner $T_START s"
	timing "kexec to sshd $(secs "$T_KEXEC" "$T_SSHD") s"
	timing "kexec to self-test result $(secs "$T_KEXEC" "$T_SELFTEST") s"
	[ -z "${t_fb:-}" ] || [ -z "${t_res:-}" ] || timing "fallback to pass $(secs "$t_fb" "$t_res") s"
	timing "kexec to root shell $(secs "$T_KEXEC" "$T_ROOT") s"
}
