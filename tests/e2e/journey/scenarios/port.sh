# shellcheck shell=bash
# Scenario journey-port of the journey test: the first system's sshd listens
# on 2222 only, as a fleet whose security groups allow only that port has
# it; the new system must listen there too (issue 20, item 8).
# Sourced by tests/e2e/journey/run.sh (lib.sh's helpers, lib/runner.sh's
# need/must/timing).

e2e_scenarios journey-port

PORT_SSHD=2222

# The cloud image's sshd on PORT_SSHD only, from the user data: write_files
# runs in cloud-init's first stage, before ssh.service starts (it waits
# for cloud-init's host keys), so sshd never listens on 22. Debian's
# sshd_config includes sshd_config.d/*.conf first and has no Port line of
# its own.
port_userdata() {
	cat <<-EOF
	#cloud-config
	write_files:
	  - path: /etc/ssh/sshd_config.d/10-port.conf
	    content: |
	      Port $PORT_SSHD
	EOF
}

# The command that prints "JR listen: PORT" for each TCP port sshd listens
# on in the system logged into (ss -p needs root: PREFIX sudo -n).
port_listen_cmd() {
	printf '%s ss -Hltnp | awk "/\\"sshd\\"/ { n = split(\\$4, a, \\":\\"); print \\"JR listen: \\" a[n] }" | sort -u' "$1"
}

no_sshd() { ! sshd_answers "$1"; }

scenario_journey_port() {
	local port22 rc=0
	serve
	make_seed "$(port_userdata)" ""
	# SSH_PORT (the harness's way in) to the guest's 2222; port22 to its 22,
	# which must stay silent.
	port22=$(e2e_free_port)
	# shellcheck disable=SC2034 # start_vm's
	SSH_GUEST_PORT=$PORT_SSHD EXTRA_FWD=("host:$port22::22")
	start_vm ""
	wait_first_sshd 300 ||
		must "the cloud VM's sshd did not start on $PORT_SSHD" false
	record_first 0
	ssh_retry "$DIR/first-port.ssh" 30 debian "$(port_listen_cmd "sudo -n"); sudo -n sshd -T | sed -n 's/^port /JR sshd-T port /p'" || rc=$?
	cat "$DIR/first-port.ssh"
	must "cannot read the first system's listening ports (ssh exit $rc)" [ "$rc" -eq 0 ]
	must "the first system's sshd does not listen on $PORT_SSHD" grep -qx "JR listen: $PORT_SSHD" "$DIR/first-port.ssh"
	need "the first system's sshd listens on 22 too" lacks_re "$DIR/first-port.ssh" "^JR listen: 22$"
	need "sshd -T in the first system does not say port $PORT_SSHD only" \
		[ "$(grep -c '^JR sshd-T port' "$DIR/first-port.ssh")" = 1 ]
	need "an SSH server answers on the first system's port 22" no_sshd "$port22"
	echo "port check: the first system's sshd listens on $PORT_SSHD only (ss; no SSH banner through a forward to 22)"
	run_oneliner "$CURLPIPE"
	need "the agent did not say it carries sshd's port $PORT_SSHD" \
		grep -qE "nixos-kexec: .*sshd also listens on port $PORT_SSHD" "$DIR/oneliner.out"
	# check_second logs in through SSH_PORT, that is on 2222.
	check_second "$NONCE" "$T_START" ""
	rc=0
	ssh_retry "$DIR/second-port.ssh" 30 root \
		"$(port_listen_cmd ""); sed 's/^/JR fragment: /' /etc/ssh/sshd_config.d/nixos-kexec.conf" || rc=$?
	cat "$DIR/second-port.ssh"
	must "no second root login on $PORT_SSHD (ssh exit $rc)" [ "$rc" -eq 0 ]
	need "the handed-over sshd fragment lacks Port $PORT_SSHD" \
		grep -qx "JR fragment: Port $PORT_SSHD" "$DIR/second-port.ssh"
	need "the second system's sshd does not listen on $PORT_SSHD" \
		grep -qx "JR listen: $PORT_SSHD" "$DIR/second-port.ssh"
	# NixOS keeps services.openssh.ports (22) and adds the carried ones.
	need "the second system's sshd does not listen on 22 (services.openssh.ports)" \
		grep -qx "JR listen: 22" "$DIR/second-port.ssh"
	need "no SSH banner on the second system's port 22" sshd_answers "$port22"
	echo "port check: logged in as root on $PORT_SSHD in the second system; its sshd listens on $(sed -n 's/^JR listen: //p' "$DIR/second-port.ssh" | tr '\n' ' ')(22 from services.openssh.ports, $PORT_SSHD handed over)"
	timing "VM start to one-liner $T_START s"
	timing "kexec to sshd $(secs "$T_KEXEC" "$T_SSHD") s"
	timing "one-liner to root shell on $PORT_SSHD $(secs "$T_START" "$T_ROOT") s"
}
