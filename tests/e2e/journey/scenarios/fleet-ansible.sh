# shellcheck shell=bash
# Scenario fleet-ansible of the journey test (issue 12): the fleet playbook,
# examples/ansible/fleet.yml, run by the real ansible-playbook against two
# cloud VMs at once, as an operator runs it. Sourced by run.sh, whose
# helpers (lib.sh) it uses; they act on one VM through globals (DIR,
# LOG, VM_PID, VM_T0, SSH_PORT...), so fleet_use switches them between the
# two.
#
# Each VM has its own qcow2 overlay and seed, MAC, hostfwd port and serial
# log; both reach the one stub (bundle, release tree, collector) through
# guestfwd, under restrict=on. The harness records each VM's host key (and
# checks it against the one cloud-init printed on the console) into the
# known_hosts file Ansible uses with StrictHostKeyChecking=yes, and writes
# the inventory: 127.0.0.1 and the VM's port, the user's key, the release
# tree, the bundle's key, the collector and its CA. The playbook keeps its
# defaults: batches of 25% (one VM each), a failure budget of 10%,
# --revert-after 900.
#
# First, the failure budget, cheaply: a third host that nothing answers
# (a closed port on 127.0.0.1), all three in one batch; the play must stop
# with that host failed (Ansible leaves unreachable hosts out of
# max_fail_percentage; the playbook counts them) before the VMs get the
# agent. Then the real run. Checked: both hosts ok in the recap, none
# failed or unreachable; each VM in the stand-in second system, logged into
# as root against the host key recorded before, boot.json holding the nonce
# the agent printed there (each its own); the collector holding start,
# verified, loaded, executing, up and confirmed of both runs with those
# nonces, the first host confirmed before the second one's agent started
# (the batches); nixos-kexec-confirm said it confirmed that nonce, and the
# safety net is disarmed (revert.sh said so on the console, its unit ended
# cleanly, /run/nixos-kexec/confirmed exists and revert-deadline does not).
#
# Environment: NK_FLEET_PLAYBOOK_TIMEOUT (seconds for the playbook run,
# default 1200).

e2e_scenarios fleet-ansible
e2e_weight fleet-ansible 2 # two VMs at once

FLEET_NAMES=(fleet-1 fleet-2)
FLEET_MACS=(52:54:00:12:34:61 52:54:00:12:34:62)
# Per VM, indexed like FLEET_NAMES.
FV_DIR=() FV_LOG=() FV_PID=() FV_T0=() FV_PORT=() FV_SEED_HOST=() FV_HOST=() FV_MID=()

# Points lib.sh's per-VM globals at VM I.
# shellcheck disable=SC2034 # VM_MAC is start_vm's
fleet_use() {
	local i=$1
	DIR=${FV_DIR[i]} LOG=${FV_LOG[i]} VM_MAC=${FLEET_MACS[i]}
	VM_PID=${FV_PID[i]:-} VM_T0=${FV_T0[i]:-} SSH_PORT=${FV_PORT[i]:-}
	HOSTNAME_SET=${FV_SEED_HOST[i]:-}
	FIRST_HOSTNAME=${FV_HOST[i]:-} FIRST_MACHINE_ID=${FV_MID[i]:-}
	[ -z "$SSH_PORT" ] || ssh_opts
}
# Keeps what lib.sh's helpers set for VM I.
fleet_keep() {
	local i=$1
	FV_PID[i]=$VM_PID FV_T0[i]=$VM_T0 FV_PORT[i]=$SSH_PORT FV_SEED_HOST[i]=$HOSTNAME_SET
	FV_HOST[i]=$FIRST_HOSTNAME FV_MID[i]=$FIRST_MACHINE_ID
}

# The inventory: the VMs (and any extra lines, say a host that is not
# there), with what an operator fills in.
fleet_inventory() {
	local i
	echo "[fleet]"
	for i in "${!FLEET_NAMES[@]}"; do
		echo "${FLEET_NAMES[i]} ansible_host=127.0.0.1 ansible_port=${FV_PORT[i]}"
	done
	printf '%s\n' "$@"
	cat <<-EOF

	[fleet:vars]
	ansible_user=debian
	ansible_ssh_private_key_file=$WORK/id
	ansible_ssh_common_args='-o UserKnownHostsFile=$FLEET_DIR/known_hosts -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes'
	nixos_kexec_release=$WORK/www/nixos
	nixos_kexec_url=$BASE_URL
	nixos_kexec_pubkey_file=$WORK/key/nk.pub
	nixos_kexec_report=$REPORT_URL
	nixos_kexec_cacert=$WORK/ca/ca.pem
	EOF
}

# INVENTORY OUT [ARGS]: runs the playbook, its output stamped (seconds
# since the run started) into OUT; returns its exit status.
fleet_playbook() {
	local inv=$1 out=$2 t0
	shift 2
	t0=$(e2e_now)
	(cd "$FLEET_DIR" && LC_ALL=C.UTF-8 ANSIBLE_CONFIG=$FLEET_DIR/ansible.cfg \
		ANSIBLE_HOME=$FLEET_DIR/ansible ANSIBLE_LOCAL_TEMP=$FLEET_DIR/ansible/tmp \
		timeout -k 10 "${NK_FLEET_PLAYBOOK_TIMEOUT:-1200}" \
		ansible-playbook -v -i "$inv" "$ROOT/examples/ansible/fleet.yml" "$@" </dev/null 2>&1) |
		stamp "$t0" >"$out"
}

# The recap line of HOST in a playbook's output.
recap() { unstamp "$1" | sed -n "/^PLAY RECAP/,\$ s/^$2  *: //p"; }

# Ansible's SSH connection masters (ControlPersist) outlive the run; they
# are ours: end them.
fleet_masters_exit() {
	local s
	for s in "$FLEET_DIR"/ansible/cp/*; do
		if [ -S "$s" ]; then ssh -o ControlPath="$s" -O exit fleet >/dev/null 2>&1 || true; fi
	done
}

scenario_fleet_ansible() {
	local i n rc t0 t_vms t_play dead out line ev nonce host up
	local nonces=()
	FLEET_DIR=$DIR
	if ! command -v ansible-playbook >/dev/null; then
		echo "ansible-playbook not installed (Debian: ansible-core; tools/install-deps.sh test)" >"$FLEET_DIR/skip"
		return 0
	fi
	# Two VMs share the two cores; the playbook boots them one after the
	# other.
	VM_TIMEOUT=$((VM_TIMEOUT + 900))
	COLLECT=$FLEET_DIR/collect.jsonl
	serve --collect "$COLLECT"
	t0=$(e2e_now)
	for i in "${!FLEET_NAMES[@]}"; do
		FV_DIR[i]=$FLEET_DIR/${FLEET_NAMES[i]}
		# The first VM's console is the scenario's serial log (run.sh shows it).
		FV_LOG[i]=$LOG
		[ "$i" -eq 0 ] || FV_LOG[i]=$LOGS/fleet-ansible.${FLEET_NAMES[i]}.serial.log
		mkdir -p "${FV_DIR[i]}"
		fleet_use "$i"
		make_seed "#cloud-config" ""
		start_vm ""
		fleet_keep "$i"
	done
	must "both VMs got the same SSH port ${FV_PORT[0]}" [ "${FV_PORT[0]}" != "${FV_PORT[1]}" ]
	for i in "${!FLEET_NAMES[@]}"; do
		fleet_use "$i"
		wait_first_sshd 420 ||
			must "${FLEET_NAMES[i]}: the cloud VM's sshd did not start" false
		echo "${FLEET_NAMES[i]}:"
		record_first 0
		fleet_keep "$i"
	done
	t_vms=$(e2e_since "$t0")
	cat "${FV_DIR[@]/%//known_hosts}" >"$FLEET_DIR/known_hosts"
	must "no host keys recorded for Ansible" [ "$(grep -c . "$FLEET_DIR/known_hosts")" -eq 2 ]
	mkdir -p "$FLEET_DIR/ansible/tmp"
	cat >"$FLEET_DIR/ansible.cfg" <<-EOF
	[defaults]
	host_key_checking = True
	nocolor = True
	retry_files_enabled = False
	[ssh_connection]
	control_path_dir = $FLEET_DIR/ansible/cp
	EOF

	# The failure budget: a host nothing answers, in one batch with the
	# two VMs, stops the play before the agent reaches them.
	dead=$(e2e_free_port)
	fleet_inventory "fleet-dead ansible_host=127.0.0.1 ansible_port=$dead" >"$FLEET_DIR/budget.ini"
	rc=0
	out=$LOGS/fleet-ansible.budget.log
	fleet_playbook budget.ini "$out" -e nixos_kexec_batch=3 || rc=$?
	echo "the budget run (fleet-dead: a closed port $dead; all three in one batch) exited $rc ($out):"
	unstamp "$out" | grep -E "^(TASK|fatal|PLAY RECAP|NO MORE)|  *: ok=" || true
	need "the budget run exited 0 although fleet-dead cannot be reached" [ "$rc" -ne 0 ]
	need "the budget run did not count fleet-dead as failed: $(recap "$out" fleet-dead)" \
		grep -qE "failed=[1-9]" <(recap "$out" fleet-dead)
	n=0
	[ ! -f "$COLLECT" ] || n=$(wc -l <"$COLLECT")
	need "the budget run did not stop the play: the collector heard $n report(s)" [ "$n" -eq 0 ]
	for i in "${!FLEET_NAMES[@]}"; do
		fleet_use "$i"
		ssh_retry "$DIR/budget.ssh" 30 debian \
			'echo "JR agent=$(sudo -n ls /var/lib/nixos-kexec/agent 2>/dev/null | tr "\n" " ")"' ||
			must "no login to ${FLEET_NAMES[i]} after the budget run: $(tail -n1 "$DIR/budget.ssh")" false
		need "the budget run did not stop the play: ${FLEET_NAMES[i]} got the agent: $(cat "$DIR/budget.ssh")" \
			grep -qx "JR agent=" "$DIR/budget.ssh"
	done
	echo "ansible check: one host of three unreachable (33% > 10%): the play stopped, no agent copied"

	# The real run: both VMs, the playbook's defaults.
	t_play=$(e2e_now)
	fleet_inventory >"$FLEET_DIR/inventory.ini"
	echo "inventory:"
	sed 's/^/  /' "$FLEET_DIR/inventory.ini"
	rc=0
	out=$LOGS/fleet-ansible.ansible.log
	fleet_playbook inventory.ini "$out" || rc=$?
	fleet_masters_exit
	fleet_timing "both VMs to sshd $t_vms s"
	fleet_timing "playbook $(e2e_since "$t_play") s"
	echo "ansible-playbook exited $rc ($out); its output, the results' details left out:"
	unstamp "$out" | sed -E 's/^((changed|ok|skipping|fatal): \[[^]]*\]) => \{".*/\1 => .../' || true
	must "ansible-playbook exited $rc: $(unstamp "$out" | grep -E '^fatal' | tail -n 1 || true)" [ "$rc" -eq 0 ]
	for i in "${!FLEET_NAMES[@]}"; do
		host=${FLEET_NAMES[i]}
		line=$(recap "$out" "$host")
		need "the recap of $host is not all ok: ${line:-no recap line}" \
			grep -qE "^ok=[1-9][0-9]* .*unreachable=0 +failed=0 " <<<"$line"
		# What the agent printed there (ansible-playbook -v shows the boot
		# task's output).
		nonce=$(unstamp "$out" |
			sed -n "s/^changed: \[$host\] => .*boot nonce \([0-9a-f]\{32\}\).*/\1/p" | head -n 1)
		must "the agent printed no boot nonce on $host" [ -n "$nonce" ]
		nonces[i]=$nonce
		need "nixos-kexec-confirm on $host did not confirm boot $nonce" \
			grep -qE "^changed: \[$host\] => .*confirmed boot $nonce: this system stays" \
			<(unstamp "$out")
	done
	must "both hosts printed the same boot nonce ${nonces[0]}" [ "${nonces[0]}" != "${nonces[1]}" ]
	echo "ansible check: recap ok for both, nonces ${nonces[0]} (${FLEET_NAMES[0]}) and ${nonces[1]} (${FLEET_NAMES[1]})"

	local after
	for i in "${!FLEET_NAMES[@]}"; do
		fleet_use "$i"
		host=${FLEET_NAMES[i]}
		nonce=${nonces[i]}
		echo "--- $host (serial log $LOG)"
		after=$(awk -v a="$VM_T0" -v b="$t_play" 'BEGIN { printf "%.2f", b - a }')
		check_second "$nonce" "$after" ""
		check_console_key
		fleet_timing "$host kexec to sshd $(secs "$T_KEXEC" "$T_SSHD") s"
		ssh_retry "$DIR/confirm.ssh" 30 root \
			'echo "JR confirmed=$(test -e /run/nixos-kexec/confirmed && echo yes || echo no)";
			 echo "JR deadline=$(test -e /run/nixos-kexec/revert-deadline && echo yes || echo no)";
			 echo "JR revert=$(systemctl show -P ActiveState nixos-kexec-revert.service),$(systemctl show -P Result nixos-kexec-revert.service)"' ||
			must "$host: no root login for the safety net's state" false
		cat "$DIR/confirm.ssh"
		need "$host: revert.sh did not arm the safety net (serial)" \
			grep -aq "nixos-kexec revert: safety net armed" "$LOG"
		need "$host: revert.sh did not say it was disarmed (serial)" \
			grep -aq "nixos-kexec revert: confirmed; the safety net is disarmed" "$LOG"
		need "$host: no /run/nixos-kexec/confirmed" grep -qx "JR confirmed=yes" "$DIR/confirm.ssh"
		need "$host: /run/nixos-kexec/revert-deadline is still there" grep -qx "JR deadline=no" "$DIR/confirm.ssh"
		need "$host: the revert unit did not end cleanly: $(grep '^JR revert=' "$DIR/confirm.ssh" || true)" \
			grep -qx "JR revert=inactive,success" "$DIR/confirm.ssh"
		echo "revert check: $host confirmed, the safety net disarmed"
	done

	# report.sh up runs after network-online and sshd, with retries: it may
	# come after the confirmation.
	t0=$SECONDS
	while ! { collected "$COLLECT" up "${nonces[0]}" && collected "$COLLECT" up "${nonces[1]}"; } >/dev/null &&
		[ $((SECONDS - t0)) -lt 90 ]; do
		sleep 1
	done
	echo "collected:"
	sed 's/^/  /' "$COLLECT"
	for i in "${!FLEET_NAMES[@]}"; do
		host=${FLEET_NAMES[i]}
		nonce=${nonces[i]}
		for ev in start verified loaded executing up confirmed; do
			need "the collector has no '$ev' from $host (nonce $nonce)" collected "$COLLECT" "$ev" "$nonce"
		done
		up=$(collected "$COLLECT" up "$nonce" || true)
		need "$host's 'up' does not name its host ${FV_HOST[i]}" grep -q "\"host\":\"${FV_HOST[i]}\"" <<<"$up"
		echo "report check: $host's start, verified, loaded, executing, up, confirmed with nonce $nonce"
		fleet_timing "$host start to up $(fleet_span "$nonce" start up) s, to confirmed $(fleet_span "$nonce" start confirmed) s"
	done
	# Batches of 25%: one host at a time.
	local c1 s2
	c1=$(grep -n "\"event\":\"confirmed\",\"nonce\":\"${nonces[0]}\"" "$COLLECT" | cut -d: -f1 | head -n 1)
	s2=$(grep -n "\"event\":\"start\",\"nonce\":\"${nonces[1]}\"" "$COLLECT" | cut -d: -f1 | head -n 1)
	need "not in batches: ${FLEET_NAMES[1]}'s agent started (line ${s2:-none}) before ${FLEET_NAMES[0]} was confirmed (line ${c1:-none})" \
		awk -v c="${c1:-0}" -v s="${s2:-0}" 'BEGIN { exit !(c > 0 && s > c) }'
	echo "ansible check: batches: ${FLEET_NAMES[1]}'s agent started after ${FLEET_NAMES[0]} was confirmed"
}

fleet_timing() { printf '%s\n' "$*" >>"$FLEET_DIR/timings"; }

# Seconds between the collected events A and B of NONCE (their own times).
fleet_span() {
	local a b
	a=$(collected "$COLLECT" "$2" "$1" | sed -n 's/.*"time":\([0-9]*\).*/\1/p' | head -n 1) || a=""
	b=$(collected "$COLLECT" "$3" "$1" | sed -n 's/.*"time":\([0-9]*\).*/\1/p' | head -n 1) || b=""
	if [ -n "$a" ] && [ -n "$b" ]; then echo $((b - a)); else echo "?"; fi
}
