# shellcheck shell=bash
# Scenario bond of the journey test: a bond carried over (issue 14).
# Sourced by tests/e2e/journey/run.sh (lib.sh's helpers, lib/runner.sh's
# need/must/timing).

e2e_scenarios bond

# The first system's network becomes what a bare-metal provider sets up:
# bond0, active-backup over both NICs (ports matched by permanent MAC, the
# first one primary), miimon 100, the first NIC's MAC, DHCP_IP/24 and the
# default route via 10.0.2.2 on the bond; networkd units in place of
# cloud-init's (whose networkd renderer knows no bonds). The switch cuts
# the session that starts it, so it runs detached, a second later; with the
# same address and MAC the harness logs in again. networkd restarts rather
# than reconfigures: reconfigured, it may drop the NIC's old default route
# after the bond has the same one, and the kernel then deletes the bond's.
bond_first_script() {
	cat <<-EOS
	set -eu
	d=/etc/systemd/network
	nic() { for l in /sys/class/net/*; do [ "\$(cat "\$l/address")" = "\$1" ] && { echo "\${l##*/}"; return 0; }; done; return 1; }
	n0=\$(nic $VM_MAC)
	n1=\$(nic $VM_MAC2)
	printf '[NetDev]\nName=bond0\nKind=bond\nMACAddress=$VM_MAC\n\n[Bond]\nMode=active-backup\nMIIMonitorSec=100ms\n' >\$d/05-nk-bond0.netdev
	printf '[Match]\nPermanentMACAddress=$VM_MAC\n\n[Network]\nBond=bond0\nPrimarySlave=yes\n' >\$d/05-nk-bond0-port0.network
	printf '[Match]\nPermanentMACAddress=$VM_MAC2\n\n[Network]\nBond=bond0\n' >\$d/05-nk-bond0-port1.network
	printf '[Match]\nName=bond0\n\n[Network]\nAddress=$DHCP_IP/24\nGateway=10.0.2.2\n' >\$d/05-nk-bond0.network
	rm -f \$d/10-cloud-init-*.network
	systemd-run --no-block --collect --unit=nk-journey-bond sh -c "sleep 1; ip -4 addr flush dev \$n0; systemctl restart systemd-networkd"
	echo "JR ports: \$n0 \$n1"
	EOS
}

# What /proc/net/bonding/bond0, the addresses and networkd say, as JR lines.
BOND_SHOW='sed "s/^/JR bond: /" /proc/net/bonding/bond0; ip -br addr | sed "s/^/JR addr: /";
	ip -4 route | sed "s/^/JR route: /";
	networkctl list --no-pager --no-legend | sed "s/^/JR link: /"'

# The bond in a "JR bond: " dump (file F): MODE, both ports up.
bond_ok() {
	local f=$1
	grep -q "^JR bond: Bonding Mode: fault-tolerance (active-backup)" "$f" &&
		[ "$(grep -c "^JR bond: Slave Interface:" "$f")" -eq 2 ] &&
		[ "$(grep -c "^JR bond: MII Status: up" "$f")" -eq 3 ]
}
# The active port's permanent MAC in a dump.
bond_active_mac() {
	awk '/^JR bond: Currently Active Slave:/ { a = $NF }
		/^JR bond: Slave Interface:/ { s = $NF }
		/^JR bond: Permanent HW addr:/ { mac[s] = $NF }
		END { print mac[a] }' "$1"
}

scenario_bond() {
	local t_bond t_switch other rc=0
	serve
	make_seed "#cloud-config" "$(static_netcfg "$DHCP_IP")"
	start_vm "$DHCP_IP" 2
	wait_first_sshd 300 ||
		must "the cloud VM's sshd did not start" false
	record_first 0
	bond_first_script | first_root_sh "$DIR/bond-setup.ssh" || rc=$?
	cat "$DIR/bond-setup.ssh"
	must "cannot set up the bond in the first system (exit $rc)" grep -q "^JR ports: " "$DIR/bond-setup.ssh"
	sleep 3
	ssh_retry "$DIR/bond-first.ssh" 60 debian "$BOND_SHOW" ||
		must "no login into the first system over its bond: $(tail -n1 "$DIR/bond-first.ssh")" false
	t_bond=$(now_rel)
	cat "$DIR/bond-first.ssh"
	must "the first system has no active-backup bond over two ports that are up" bond_ok "$DIR/bond-first.ssh"
	need "the first system's bond0 has not $DHCP_IP/24" \
		grep -qE "^JR addr: bond0 +UP +$DHCP_IP/24" "$DIR/bond-first.ssh"
	must "the first system has no default route via 10.0.2.2 on bond0" \
		grep -qE "^JR route: default via 10\.0\.2\.2 dev bond0" "$DIR/bond-first.ssh"
	need "the first system's active port is not the primary ($VM_MAC)" \
		[ "$(bond_active_mac "$DIR/bond-first.ssh")" = "$VM_MAC" ]
	echo "bond check: first system: bond0 $DHCP_IP/24, active-backup over two ports, logged in through it"
	run_oneliner "$CURLPIPE"
	check_second "$NONCE" "$T_START" "$DHCP_IP"
	# The bond as handed over and rebuilt by networkd.
	rc=0
	ssh_retry "$DIR/bond-second.ssh" 30 root "$BOND_SHOW;
		sed 's/^/JR netdev: /' /run/systemd/network/10-nixos-kexec-bond0.netdev;
		sed 's/^/JR unit: /' /run/systemd/network/10-nixos-kexec-bond0.network" || rc=$?
	cat "$DIR/bond-second.ssh"
	must "no second login into the second system (ssh exit $rc)" [ "$rc" -eq 0 ]
	need "the second system has no active-backup bond over two ports that are up" bond_ok "$DIR/bond-second.ssh"
	need "bond0.netdev was not handed over as an active-backup bond" \
		grep -qx "JR netdev: Mode=active-backup" "$DIR/bond-second.ssh"
	need "bond0.netdev lacks the bond's MAC $VM_MAC" \
		grep -qx "JR netdev: MACAddress=$VM_MAC" "$DIR/bond-second.ssh"
	# "configuring" until IPv6 router solicitation times out (12 s) on a
	# network without router advertisements, as here.
	need "networkd does not show bond0 routable with its unit" \
		grep -qE "^JR link: +[0-9]+ bond0 +bond +routable +configur(ed|ing)" "$DIR/bond-second.ssh"
	need "networkd does not show two ports enslaved and configured" \
		[ "$(grep -cE "^JR link: +[0-9]+ [^ ]+ +ether +enslaved +configured" "$DIR/bond-second.ssh")" -eq 2 ]
	need "the second system's bond0 has not $DHCP_IP/24" \
		grep -qE "^JR addr: bond0 +UP +$DHCP_IP/24" "$DIR/bond-second.ssh"
	need "bond0.network was not handed over with the gateway 10.0.2.2" \
		grep -qx "JR unit: Gateway=10.0.2.2" "$DIR/bond-second.ssh"
	need "the second system has no default route via 10.0.2.2 on bond0" \
		grep -qE "^JR route: default via 10\.0\.2\.2 dev bond0" "$DIR/bond-second.ssh"
	need "the primary port ($VM_MAC) is not the active one" \
		[ "$(bond_active_mac "$DIR/bond-second.ssh")" = "$VM_MAC" ]
	need "the self-test did not find the gateway through the bond" \
		grep -aqE "$SELFTEST gateway ok: 10\.0\.2\.2 on bond0 answers" "$LOG"
	# The other port carries the traffic too: made the active one, a new
	# login goes through it.
	other=$(awk '/^JR bond: Slave Interface:/ { s = $NF }
		/^JR bond: Permanent HW addr:/ && $NF == "'"$VM_MAC2"'" { print s }' "$DIR/bond-second.ssh")
	need "no port with the permanent MAC $VM_MAC2 in the bond" [ -n "$other" ]
	if [ -n "$other" ]; then
		vm_ssh root "echo $other >/sys/class/net/bond0/bonding/active_slave" >"$DIR/switch.ssh" || true
		t_switch=$(now_rel)
		rc=0
		ssh_retry "$DIR/bond-switched.ssh" 30 root "$BOND_SHOW" || rc=$?
		cat "$DIR/bond-switched.ssh"
		need "no login after making $other the active port (ssh exit $rc)" [ "$rc" -eq 0 ]
		need "after the switch the active port is not $other ($VM_MAC2)" \
			[ "$(bond_active_mac "$DIR/bond-switched.ssh")" = "$VM_MAC2" ]
		echo "bond check: second system: bond0 $DHCP_IP/24 over two ports; logged in through $VM_MAC, then through $other ($VM_MAC2)"
		timing "port switch to login $(secs "$t_switch" "$(now_rel)") s"
	fi
	timing "VM start to bond up $(secs 0 "$t_bond") s"
	timing "kexec to sshd $(secs "$T_KEXEC" "$T_SSHD") s"
	timing "kexec to self-test result $(secs "$T_KEXEC" "$T_SELFTEST") s"
	timing "one-liner to root shell $(secs "$T_START" "$T_ROOT") s"
}
