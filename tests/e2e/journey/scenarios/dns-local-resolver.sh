# shellcheck shell=bash
# Scenario dns-local-resolver of the journey test: the first system resolves
# through a local forwarder on 127.0.0.1 (unbound, as hosting panels set
# one up); the agent carries its upstream server, and the new system, which
# runs systemd-resolved as NixOS does, resolves names of the test zone
# (issue 20, item 4).
# Sourced by tests/e2e/journey/run.sh (lib.sh's helpers, lib/runner.sh's
# need/must/timing).

e2e_scenarios dns-local-resolver

DNS_STATIC_IP=10.0.2.21

# The first system's resolver becomes unbound on 127.0.0.1, forwarding
# everything to the test network's DNS server over TCP (the only way
# there; tcp-upstream), without DNSSEC validation (the test zone is not
# signed), and with unbound's built-in NXDOMAIN for RFC 6761's "test."
# turned off (the test zone is below it); /etc/resolv.conf names only
# 127.0.0.1. Then a lookup through it.
local_resolver_script() {
	cat <<-EOS
	set -eu
	cat >/etc/unbound/unbound.conf <<EOF
	# a local forwarder, as a hosting panel writes it
	server:
	    interface: 127.0.0.1
	    access-control: 127.0.0.0/8 allow
	    do-ip6: no
	    module-config: "iterator"
	    tcp-upstream: yes
	    local-zone: "test." nodefault
	forward-zone:
	    name: "."
	    forward-addr: $E2E_GUEST_SERVER
	EOF
	unbound-checkconf 2>&1 | sed "s/^/JR checkconf: /"
	systemctl start unbound.service
	printf "nameserver 127.0.0.1\n" >/etc/resolv.conf
	sed "s/^/JR resolv.conf: /" /etc/resolv.conf
	ss -Hlun "sport = :53" | sed "s/^/JR listen: /"
	i=0
	until a=\$(getent hosts $DNS_COLLECTOR); do
		i=\$((i + 1)); [ "\$i" -lt 20 ] || break; sleep 1
	done
	echo "JR first-answer=\$a"
	EOS
}

scenario_dns_local_resolver() {
	local cmd rc=0 dns_line t_up
	VM_TIMEOUT=$((VM_TIMEOUT + 180))
	COLLECT=$DIR/collect.jsonl
	serve --collect "$COLLECT"
	# No nameservers of the link's own (networkd's state would name them):
	# the first system knows only its forwarder.
	make_seed "#cloud-config" "$(static_netcfg "$DNS_STATIC_IP" | sed '/nameservers:/,+1d')"
	start_vm "$DNS_STATIC_IP"
	wait_first_sshd 300 ||
		must "the cloud VM's sshd did not start" false
	record_first 0
	local_resolver_script | first_root_sh "$DIR/resolver.ssh" || rc=$?
	cat "$DIR/resolver.ssh"
	must "cannot set up unbound in the first system (exit $rc)" \
		grep -q "^JR checkconf: .*no errors" "$DIR/resolver.ssh"
	must "the first system's resolv.conf does not name only 127.0.0.1" \
		[ "$(grep '^JR resolv.conf: nameserver' "$DIR/resolver.ssh")" = "JR resolv.conf: nameserver 127.0.0.1" ]
	need "unbound does not listen on 127.0.0.1:53" grep -q "^JR listen: .*127\.0\.0\.1:53 " "$DIR/resolver.ssh"
	must "$DNS_COLLECTOR does not resolve to $E2E_GUEST_SERVER through unbound in the first system" \
		grep -qE "^JR first-answer=$E2E_GUEST_SERVER +$DNS_COLLECTOR$" "$DIR/resolver.ssh"
	echo "dns check: the first system resolves $DNS_COLLECTOR through unbound on 127.0.0.1, upstream $E2E_GUEST_SERVER over TCP"
	# The collector by name: the agent resolves it in the first system, the
	# self-test and report.sh in the second.
	cmd=$(curlpipe_with "--report https://$DNS_COLLECTOR/collect --cacert $REPORT_CA") ||
		must "the curl-pipe one-liner does not end in '| sudo sh'" false
	run_oneliner "$cmd"
	need "the agent did not say it carries the forwarder's upstream server" \
		grep -qE "nixos-kexec: .*local forwarder; 1 upstream server from /etc/unbound/unbound.conf carried" "$DIR/oneliner.out"
	check_second "$NONCE" "$T_START" "$DNS_STATIC_IP"
	rc=0
	ssh_retry "$DIR/dns-second.ssh" 60 root \
		"echo \"JR collector=\$(getent hosts $DNS_COLLECTOR)\";
		 sed 's/^/JR dropin: /' /run/systemd/resolved.conf.d/50-nixos-kexec.conf;
		 echo \"JR resolv.conf=\$(readlink /etc/resolv.conf)\";
		 echo \"JR resolved=\$(systemctl is-active systemd-resolved.service)\";
		 resolvectl status --no-pager | sed 's/^/JR resolvectl: /'" || rc=$?
	cat "$DIR/dns-second.ssh"
	must "no second root login (ssh exit $rc)" [ "$rc" -eq 0 ]
	need "systemd-resolved does not run in the second system" grep -qx "JR resolved=active" "$DIR/dns-second.ssh"
	need "the second system's /etc/resolv.conf is not resolved's stub file" \
		grep -qx "JR resolv.conf=.*/run/systemd/resolve/stub-resolv.conf" "$DIR/dns-second.ssh"
	need "the resolved.conf.d drop-in does not name $E2E_GUEST_SERVER" \
		grep -qx "JR dropin: DNS=$E2E_GUEST_SERVER" "$DIR/dns-second.ssh"
	need "the handed-over 127.0.0.1 reached the second system" lacks "$DIR/dns-second.ssh" "127.0.0.1"
	need "$DNS_COLLECTOR does not resolve to $E2E_GUEST_SERVER in the second system" \
		grep -qE "^JR collector=$E2E_GUEST_SERVER +$DNS_COLLECTOR$" "$DIR/dns-second.ssh"
	dns_line=$(grep -a -m1 "$SELFTEST dns " "$LOG" | unstamp || true)
	need "the self-test does not say DNS works: ${dns_line:-no dns step}" \
		grep -aqE "$SELFTEST dns ok: $DNS_COLLECTOR resolve" "$LOG"
	# report.sh found the collector by name too. 'up' comes after the
	# self-test's posts, each 10-15 s under load (as in the report
	# scenario): a deadline, not a timing.
	local t0=$SECONDS
	while ! collected "$COLLECT" up "$NONCE" >/dev/null && [ $((SECONDS - t0)) -lt 240 ]; do
		sleep 1
	done
	t_up=$(now_rel)
	need "the collector ($DNS_COLLECTOR) has no 'start' from the first system's agent" \
		collected "$COLLECT" start "$NONCE"
	need "the collector ($DNS_COLLECTOR) has no 'up' from the second system" collected "$COLLECT" up "$NONCE"
	echo "dns check: second system: $dns_line; 'up' reached $DNS_COLLECTOR"
	timing "VM start to one-liner $T_START s"
	timing "kexec to sshd $(secs "$T_KEXEC" "$T_SSHD") s"
	timing "kexec to self-test result $(secs "$T_KEXEC" "$T_SELFTEST") s"
	timing "one-liner to root shell $(secs "$T_START" "$T_ROOT") s"
	timing "kexec to 'up' collected $(secs "$T_KEXEC" "$t_up") s"
}
