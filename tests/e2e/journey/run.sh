#!/usr/bin/env bash
# The user's journey, end to end (issue 11): a fresh Debian cloud VM runs the
# README's one-liner, the agent kexecs it into a second system, and the
# harness logs in there as root, with the user's key, on the network it
# inherited, against the host key it recorded before.
#
#   NK_JOURNEY_SCENARIOS="journey-cloudinit journey-curlpipe journey-refused" \
#       B=build tests/e2e/journey/run.sh
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
#   revert             the same with --revert-after 30 and no one
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
#                      (fleet-ansible.sh)
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
#                      (nixos-anywhere.sh; issue 23)
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
# default 1024); NK_JOURNEY_KEEP=1 keeps the scratch directory; NK_CACHE
# (image.sh); NK_E2E_ACCEL=auto|kvm|tcg as for the e2e test.
# Output: one line per scenario, "e2e: PASS <name> (timings)" or
# "e2e: FAIL <name>: why" (serial and host logs kept in NK_JOURNEY_LOGS),
# "e2e: SKIP <name>: why". Exit status: 0 if nothing failed.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
B=$(cd "${B:-build}" && pwd)
# shellcheck source=tests/e2e/e2e-lib.sh
. "$HERE/../e2e-lib.sh"

read -r -a SCENARIOS <<<"${NK_JOURNEY_SCENARIOS:-journey-cloudinit journey-curlpipe journey-refused report revert fleet-ansible bond dhcp-fallback}"
LOGS=${NK_JOURNEY_LOGS:-$B/journey}
QEMU=${NK_QEMU:-qemu-system-x86_64}
BUSYBOX=${NK_BUSYBOX:-/bin/busybox}
VM_TIMEOUT=${NK_JOURNEY_TIMEOUT:-420}
# QEMU exits when the guest reboots, except in the revert scenario, where a
# reboot must bring back the first system.
NO_REBOOT=(-no-reboot)
# What the one-liners say before the test fills them in (see oneliners).
PH_URL=https://boot.example.org/nixos
PH_KEY=RWQ...your-public-key...
PH_SUM=BOOT_SH_SHA256
# The published tree as the VM sees it: the stub behind guestfwd on 443.
BASE_URL=https://$E2E_GUEST_SERVER/nixos
# The cloud VM's NIC and, in journey-cloudinit, its static address.
VM_MAC=52:54:00:12:34:56
STATIC_IP=10.0.2.20
# The bond scenario's second NIC, and slirp's first DHCP address (where
# hostfwd sends the harness when the VM starts with no fixed address).
VM_MAC2=52:54:00:12:34:57
DHCP_IP=10.0.2.15
ARCH=$(uname -m)
# A 256 MiB translation cache instead of QEMU's 1 GiB: TCG keeps translated
# code until its cache fills, and every write into a page that still holds
# translated code takes the slow path. After a kexec the new kernel writes
# where the old system ran code, so with 1 GiB the second boot crawled
# (purgatory 11-23 s, initramfs unpack 41-47 s, stage 1 to sshd 38 s,
# measured); with 256 MiB: 6-9 s, 4-5 s, 18-27 s; the first boot is no
# slower. "NK_JOURNEY_TCG_OPTS=" restores QEMU's default.
TCG_OPTS=${NK_JOURNEY_TCG_OPTS-,tb-size=256}

WORK=""
NPASS=0 NFAIL=0 NSKIP=0
TIMINGS=()
SCENARIO_PID=""

cleanup() {
	if [ -n "$SCENARIO_PID" ]; then
		# Its children too: the scenario's shell defers its own trap while
		# a command substitution or foreground command runs.
		kill -TERM "$SCENARIO_PID" 2>/dev/null || true
		pkill -TERM -P "$SCENARIO_PID" 2>/dev/null || true
		wait "$SCENARIO_PID" 2>/dev/null || true
	fi
	e2e_cleanup
	if [ -n "$WORK" ]; then
		if [ "${NK_JOURNEY_KEEP:-0}" = 1 ]; then
			echo "e2e: kept $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf 'e2e: %s\n' "$*"; }
note() { printf 'journey: %s\n' "$*" >&2; }

REASONS=/dev/null
need() {
	local what=$1
	shift
	"$@" || printf '%s\n' "$what" >>"$REASONS"
}
lacks() { ! grep -aqF -- "$2" "$1"; }
# Records a failure and stops the scenario: for checks the rest depends on.
must() {
	local what=$1
	shift
	"$@" || { printf '%s\n' "$what" >>"$REASONS"; exit 1; }
}

# --- the one-liners, from their one source ---

# The text after "=== NAME ===" up to the next such line, trailing blank
# lines dropped.
oneliner() {
	awk -v want="=== $1 ===" '
		/^=== .* ===$/ { on = ($0 == want); next }
		on { buf[++n] = $0 }
		END {
			while (n > 0 && buf[n] ~ /^[ \t]*$/) n--
			for (i = 1; i <= n; i++) print buf[i]
		}' "$HERE/oneliners"
}

# Fills in the placeholders (NEEDS: which must be there: url, key, sum);
# fails if one is missing.
fill() {
	local text=$1 needs=$2
	case $needs in *url*) [[ $text == *"$PH_URL"* ]] || return 1 ;; esac
	case $needs in *key*) [[ $text == *"$PH_KEY"* ]] || return 1 ;; esac
	case $needs in *sum*) [[ $text == *"$PH_SUM"* ]] || return 1 ;; esac
	text=${text//"$PH_URL"/"$BASE_URL"}
	text=${text//"$PH_KEY"/"$PUBKEY"}
	text=${text//"$PH_SUM"/"$BOOTSH_SUM"}
	printf '%s\n' "$text"
}

# The README is to quote each one-liner verbatim; says which it does not.
readme_quotes() {
	local name line
	for name in cloud-init curl-pipe curl-pipe-pinned; do
		while IFS= read -r line; do
			[ -z "$line" ] || grep -qF -- "$line" "$ROOT/README.md" || {
				note "README.md does not quote the $name one-liner of tests/e2e/journey/oneliners"
				break
			}
		done < <(oneliner "$name")
	done
}

# --- timeline: every serial line and every line the harness reads over SSH
# is stamped with seconds since the VM started ("  12.34 text") ---

stamp() { # T0: stdin to stdout, CRs and terminal colours dropped
	perl -MTime::HiRes=time -e '$| = 1; my $t0 = shift;
		while (my $l = <STDIN>) {
			$l =~ s/\r//g; $l =~ s/\e\[[0-9;]*[A-Za-z]//g;
			printf "%8.2f %s", time - $t0, $l
		}' "$1"
}
# The text of stamped lines.
unstamp() { cut -c10- "$@"; }
now_rel() { awk -v a="$VM_T0" -v b="$(e2e_now)" 'BEGIN { printf "%.2f", b - a }'; }

# Time of the first line after time AFTER (default 0) matching ERE PAT.
t_of() {
	awk -v p="$2" -v a="${3:-0}" '{ t = $1 + 0; l = substr($0, 10) }
		t >= a + 0 && l ~ p { print $1; found = 1; exit }
		END { exit !found }' "$1"
}
# Time of the last line after AFTER matching PAT.
t_last() {
	awk -v p="$2" -v a="${3:-0}" '{ t = $1 + 0; l = substr($0, 10) }
		t >= a + 0 && l ~ p { last = $1; found = 1 }
		END { if (found) print last; exit !found }' "$1"
}
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

vm_alive() { [ -n "${VM_PID:-}" ] && kill -0 "$VM_PID" 2>/dev/null; }

# Waits for ERE PAT in LOG after time AFTER; prints its time. Fails when
# LIMIT seconds pass or the VM ends.
wait_for() {
	local logf=$1 pat=$2 after=$3 limit=$4 t0=$SECONDS t
	while :; do
		if t=$(t_of "$logf" "$pat" "$after"); then
			printf '%s\n' "$t"
			return 0
		fi
		vm_alive || { t_of "$logf" "$pat" "$after" && return 0; return 1; }
		[ $((SECONDS - t0)) -lt "$limit" ] || return 1
		sleep 0.5
	done
}

# --- the VM ---

kvm_usable() {
	{ [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; } &&
		[ -c /dev/kvm ] && [ -w /dev/kvm ]
}

free_port() {
	perl -MIO::Socket::INET -e '
		my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
			Listen => 1, ReuseAddr => 1) or die "listen: $!\n";
		print $s->sockport, "\n"'
}

# Boots the cloud VM from DIR/disk.qcow2 and DIR/seed.iso in the background;
# its console goes, stamped, to LOG. Sets VM_PID, VM_T0, SSH_PORT.
# GUEST_IP: the address hostfwd forwards to (empty: slirp's DHCP one).
# NICS: 1 (default) or 2 (VM_MAC and VM_MAC2 on the same user network).
start_vm() {
	local guest_ip=$1 nics=${2:-1} accel nic
	SSH_PORT=$(free_port)
	case ${NK_E2E_ACCEL:-auto} in
	kvm) accel=(-accel kvm -cpu host) ;;
	tcg) accel=(-accel "tcg$TCG_OPTS" -cpu max) ;;
	*) if kvm_usable; then accel=(-accel kvm -cpu host); else accel=(-accel "tcg$TCG_OPTS" -cpu max); fi ;;
	esac
	local net="user,id=n0,restrict=on,ipv6=off"
	net+=",hostfwd=tcp:127.0.0.1:$SSH_PORT-$guest_ip:22"
	net+=",guestfwd=tcp:$E2E_GUEST_SERVER:443-cmd:$BUSYBOX nc 127.0.0.1 $STUB_PORT"
	nic=(-netdev "$net" -device "virtio-net-pci,romfile=,netdev=n0,mac=$VM_MAC")
	if [ "$nics" = 2 ]; then
		# Each user netdev is a network of its own (DHCP, forwards); a
		# QEMU hub puts both NICs on this one, as two switch ports would.
		nic=(-netdev "$net" -netdev hubport,id=h0,hubid=0,netdev=n0
			-netdev hubport,id=h1,hubid=0 -device "virtio-net-pci,romfile=,netdev=h1,mac=$VM_MAC"
			-netdev hubport,id=h2,hubid=0 -device "virtio-net-pci,romfile=,netdev=h2,mac=$VM_MAC2")
	fi
	mkfifo "$DIR/console.fifo"
	VM_T0=$(e2e_now)
	stamp "$VM_T0" <"$DIR/console.fifo" >"$LOG" &
	E2E_BG_PIDS+=("$!")
	timeout -k 5 "$VM_TIMEOUT" "$QEMU" "${accel[@]}" -m "${NK_JOURNEY_MEM:-1024}" -smp 1 \
		-nodefaults -display none -serial stdio "${NO_REBOOT[@]}" -monitor none \
		-drive "file=$DIR/disk.qcow2,if=virtio,format=qcow2" \
		-drive "file=$DIR/seed.iso,if=virtio,format=raw,readonly=on" \
		"${nic[@]}" -device virtio-rng-pci \
		-kernel "$WORK/cloud/vmlinuz" -initrd "$WORK/cloud/initrd.img" \
		-append "root=/dev/vda rw console=ttyS0" \
		</dev/null >"$DIR/console.fifo" 2>"$DIR/qemu.err" &
	VM_PID=$!
	E2E_BG_PIDS+=("$VM_PID")
	note "VM pid $VM_PID, ssh on 127.0.0.1:$SSH_PORT, console $LOG"
}

# NoCloud seed: meta-data (instance id, host name, the user's key, as a
# provider gives them), user data, and optionally a network config.
make_seed() {
	local userdata=$1 netcfg=$2
	mkdir -p "$DIR/seed"
	HOSTNAME_SET="jr-$(e2e_nonce 3)"
	cat >"$DIR/seed/meta-data" <<-EOF
	instance-id: $HOSTNAME_SET
	local-hostname: $HOSTNAME_SET
	public-keys:
	  - $(cat "$WORK/id.pub")
	EOF
	printf '%s\n' "$userdata" >"$DIR/seed/user-data"
	[ -z "$netcfg" ] || printf '%s\n' "$netcfg" >"$DIR/seed/network-config"
	genisoimage -quiet -output "$DIR/seed.iso" -volid cidata -joliet -rock "$DIR"/seed/*
	qemu-img create -q -f qcow2 -F raw -b "$WORK/disk.raw" "$DIR/disk.qcow2"
}

# The static network of journey-cloudinit (cloud-init's network config v2),
# at IP (default STATIC_IP).
static_netcfg() {
	cat <<-EOF
	version: 2
	ethernets:
	  nic0:
	    match:
	      macaddress: "$VM_MAC"
	    addresses: [${1:-$STATIC_IP}/24]
	    routes:
	      - to: 0.0.0.0/0
	        via: 10.0.2.2
	    nameservers:
	      addresses: [10.0.2.3]
	EOF
}

# --- SSH from the harness ---

SSH_OPTS=()
ssh_opts() {
	SSH_OPTS=(-i "$WORK/id" -p "$SSH_PORT" -o IdentitiesOnly=yes -o BatchMode=yes
		-o UserKnownHostsFile="$DIR/known_hosts" -o StrictHostKeyChecking=yes
		-o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=10 -o LogLevel=ERROR
		-o ServerAliveInterval=5 -o ServerAliveCountMax=3)
}
# USER CMD: one session; output (stdout and stderr) to stdout.
vm_ssh() {
	local user=$1
	shift
	ssh "${SSH_OPTS[@]}" "$user@127.0.0.1" "$@" 2>&1 </dev/null
}
# OUT USER CMD: a session in the background, its output stamped into OUT
# as it arrives. Sets BG_SSH (the ssh process).
ssh_bg() {
	local out=$1 user=$2
	shift 2
	ssh "${SSH_OPTS[@]}" "$user@127.0.0.1" "$@" </dev/null > >(stamp "$VM_T0" >"$out") 2>&1 &
	BG_SSH=$!
	E2E_BG_PIDS+=("$BG_SSH")
}
# Retries until a session runs (sshd may still be starting), at most LIMIT
# seconds; a changed host key is not retried. Output in OUT.
ssh_retry() {
	local out=$1 limit=$2 user=$3 t0=$SECONDS rc
	shift 3
	while :; do
		rc=0
		vm_ssh "$user" "$@" >"$out" || rc=$?
		[ "$rc" -ne 255 ] && return "$rc"
		grep -q "IDENTIFICATION HAS CHANGED\|Host key verification failed" "$out" && return 255
		vm_alive || return 255
		[ $((SECONDS - t0)) -lt "$limit" ] || return 255
		sleep 2
	done
}

# Records the host key the VM presents, before anything changes it.
record_host_key() {
	local t0=$SECONDS
	while [ $((SECONDS - t0)) -lt 40 ]; do
		ssh-keyscan -T 5 -t ed25519 -p "$SSH_PORT" 127.0.0.1 2>/dev/null >"$DIR/known_hosts" || true
		[ -s "$DIR/known_hosts" ] && return 0
		vm_alive || return 1
		sleep 2
	done
	return 1
}

# Cloud-init prints the host keys it made on the console (keys_to_console,
# late in its final stage); prints "matches", "differs" (from the key
# ssh-keyscan recorded) or "not printed".
host_key_on_console() {
	local keyb64
	keyb64=$(awk '{ print $3; exit }' "$DIR/known_hosts")
	awk '/-----BEGIN SSH HOST KEY KEYS-----/,/-----END SSH HOST KEY KEYS-----/' "$LOG" >"$DIR/console-keys"
	if [ ! -s "$DIR/console-keys" ]; then
		echo "not printed"
		return 0
	fi
	grep -qF -- "$keyb64" "$DIR/console-keys" && echo "matches" || echo "differs"
}

check_console_key() {
	local r
	r=$(host_key_on_console)
	echo "host key on the first system's console: $r"
	need "the host key cloud-init printed on the console is not the one ssh-keyscan recorded" \
		[ "$r" != differs ]
}

# What the first system is, read as its default user: host name, machine
# id, and root's authorized_keys, which must still carry the forced command
# the cloud image puts there (disable_root), so that the second system shows
# the handoff stripped it. With FOLLOW=1 the session then stays, streaming
# cloud-init's output log (where runcmd's output goes) stamped into
# DIR/first.ssh until the VM goes away. Sets FIRST_HOSTNAME,
# FIRST_MACHINE_ID and FOLLOW_SSH.
FIRST_HOSTNAME="" FIRST_MACHINE_ID="" FOLLOW_SSH=""
record_first() {
	local follow=$1 t0 cmd
	must "no SSH host key from the first system (ssh-keyscan through hostfwd)" record_host_key
	echo "recorded host key: $(cut -d' ' -f2- "$DIR/known_hosts")"
	ssh_opts
	cmd='echo "JR hostname=$(hostname)"; echo "JR machine-id=$(cat /etc/machine-id)";
		sudo -n cat /root/.ssh/authorized_keys | sed "s/^/JR root-ak: /"; echo "JR recorded"'
	[ "$follow" != 1 ] || cmd+='; exec sudo -n tail -n +1 -F /var/log/cloud-init-output.log'
	for _ in 1 2 3; do
		ssh_bg "$DIR/first.ssh" debian "$cmd"
		t0=$SECONDS
		while kill -0 "$BG_SSH" 2>/dev/null && ! grep -qs " JR recorded$" "$DIR/first.ssh" &&
			[ $((SECONDS - t0)) -lt 60 ]; do
			sleep 0.5
		done
		grep -q " JR recorded$" "$DIR/first.ssh" && break
		e2e_stop "$BG_SSH"
		vm_alive || break
		sleep 2
	done
	FOLLOW_SSH=$BG_SSH
	sed -n '/ JR /p' "$DIR/first.ssh"
	must "cannot log in to the first system as debian: $(tail -n1 "$DIR/first.ssh" | unstamp || true)" \
		grep -q " JR recorded$" "$DIR/first.ssh"
	FIRST_HOSTNAME=$(unstamp "$DIR/first.ssh" | sed -n 's/^JR hostname=//p')
	FIRST_MACHINE_ID=$(unstamp "$DIR/first.ssh" | sed -n 's/^JR machine-id=//p')
	need "first system's host name is '$FIRST_HOSTNAME', not the meta-data's $HOSTNAME_SET" \
		[ "$FIRST_HOSTNAME" = "$HOSTNAME_SET" ]
	need "first system has no machine id" [ "${#FIRST_MACHINE_ID}" -eq 32 ]
	need "root's authorized_keys lacks the cloud image's forced command (disable_root)" \
		grep -q " JR root-ak: .*command=.*Please login as the user" "$DIR/first.ssh"
	need "root's authorized_keys lacks the user's key" \
		grep -qF -- "$(cut -d' ' -f2 "$WORK/id.pub")" "$DIR/first.ssh"
}

# --- the second system ---

# check_second NONCE AFTER WANT_IP [UNIT_RE [LIMIT]]: after the kexec, the
# new kernel, its stage 1, sshd; then a root login with
# StrictHostKeyChecking=yes against the key recorded before, tried for
# LIMIT s (default 60); then the network self-test's result on the console.
# NONCE is the boot nonce the agent printed, AFTER the time the agent ran,
# WANT_IP an address that must be in effect (or empty); every link's
# networkd unit must match UNIT_RE (default: a handed-over one). Sets
# T_KEXEC (the old kernel hands over), T_KERNEL (the new one's banner),
# T_INIT (the stand-in's stage 1), T_SSHD, T_ROOT (logged in), T_SELFTEST
# (the self-test's result).
SELFTEST='nixos-kexec self-test:'
check_second() {
	local nonce=$1 after=$2 want_ip=$3 unit_re=${4:-'10-nixos-kexec-[^/]*\.network'} limit=${5:-60}
	local t rc=0
	# The first kernel's banner is line one; the second one's is the kexec.
	T_KERNEL=$(wait_for "$LOG" "Linux version" "$after" 240) ||
		must "no second kernel within 240 s of the agent's run (no kexec)" false
	T_KEXEC=$(t_last "$LOG" "kexec_core: Starting new kernel" "$after") || T_KEXEC=$T_KERNEL
	T_INIT=$(wait_for "$LOG" "NK-JOURNEY stage1 start" "$T_KERNEL" 180) ||
		must "the stand-in's stage 1 did not start" false
	t=$(wait_for "$LOG" "NK-JOURNEY stage1 (done|FAIL)" "$T_INIT" 60) ||
		must "the stand-in's stage 1 did not finish" false
	must "stage 1 failed: $(grep -a -m1 'NK-JOURNEY stage1 FAIL' "$LOG" || true)" \
		lacks "$LOG" "NK-JOURNEY stage1 FAIL"
	need "stage 1 found no handoff in the initrd" lacks "$LOG" "NK-JOURNEY stage1 handoff: none"
	T_SSHD=$(wait_for "$LOG" "Started (ssh|sshd)\.service" "$t" 180) ||
		must "sshd did not start in the second system" false
	ssh_retry "$DIR/second.ssh" "$limit" root \
		'echo "JR cmdline=$(cat /proc/cmdline)"; echo "JR hostname=$(hostname)";
		 echo "JR machine-id=$(cat /etc/machine-id)";
		 echo "JR boot.json=$(cat /run/nixos-kexec/handoff/boot.json)";
		 echo "JR handoff-unit=$(systemctl is-active nixos-kexec-handoff.service)";
		 for l in /sys/class/net/*; do [ -e "$l/ifindex" ] && [ "${l##*/}" != lo ] || continue;
		   networkctl status --no-pager "${l##*/}" | sed "s/^/JR net: /"; done' || rc=$?
	T_ROOT=$(now_rel)
	cat "$DIR/second.ssh"
	if grep -q "IDENTIFICATION HAS CHANGED\|Host key verification failed" "$DIR/second.ssh"; then
		must "the second system presents another host key (StrictHostKeyChecking=yes refused it)" false
	fi
	must "no root login into the second system (ssh exit $rc): $(tail -n1 "$DIR/second.ssh")" [ "$rc" -eq 0 ]
	echo "host key check: StrictHostKeyChecking=yes accepted the key recorded before the kexec"
	need "logged in, but not into the bundle's system (no nk.second=$SECOND_NONCE on /proc/cmdline)" \
		grep -q "^JR cmdline=.*nk\.second=$SECOND_NONCE" "$DIR/second.ssh"
	need "the agent printed no boot nonce" [ -n "$nonce" ]
	if grep -q "^JR boot.json=.*\"nonce\":\"$nonce\"" "$DIR/second.ssh"; then
		echo "nonce check: boot.json has the agent's nonce $nonce"
	else
		need "boot.json's nonce is not the agent's ($nonce): $(grep '^JR boot.json=' "$DIR/second.ssh" || true)" false
	fi
	local units
	units=$(sed -n 's|^JR net: *Network File: ||p' "$DIR/second.ssh" | grep -v '^n/a$' | tr '\n' ' ' || true)
	if [ -n "$units" ] && ! printf '%s' "$units" | tr ' ' '\n' | grep . |
		grep -qvE "^/run/systemd/network/$unit_re$"; then
		echo "network check: networkctl names the unit(s) ${units% }"
	else
		need "networkctl names units other than /run/systemd/network/$unit_re (Network File: ${units:-none})" false
	fi
	need "the network is not up: $(grep -m1 'JR net: *State:' "$DIR/second.ssh" || true)" \
		grep -qE "^JR net: *State: routable" "$DIR/second.ssh"
	if [ -n "$want_ip" ]; then
		need "the handed-over static address $want_ip is not in effect" \
			grep -qE "^JR net: .*(Address: *| )$want_ip( |$)" "$DIR/second.ssh"
	fi
	need "hostname $(sed -n 's/^JR hostname=//p' "$DIR/second.ssh"), want the first system's $FIRST_HOSTNAME" \
		grep -qx "JR hostname=$FIRST_HOSTNAME" "$DIR/second.ssh"
	need "machine-id differs from the first system's $FIRST_MACHINE_ID" \
		grep -qx "JR machine-id=$FIRST_MACHINE_ID" "$DIR/second.ssh"
	need "nixos-kexec-handoff.service not active" grep -qx "JR handoff-unit=active" "$DIR/second.ssh"
	if T_SELFTEST=$(wait_for "$LOG" "$SELFTEST result " "$T_KERNEL" 150); then
		need "the network self-test failed: $(grep -a -m1 "$SELFTEST result" "$LOG" | unstamp || true)" \
			grep -aq "$SELFTEST result ok" "$LOG"
		echo "self-test check: $(grep -a -m1 "$SELFTEST result" "$LOG" | unstamp)"
	else
		need "the network self-test printed no result on the console" false
	fi
}

# --- shared preparation: images, disk, stand-in bundle, published tree ---

# Dependency closure of the kernel modules NAMES from ROOTFS's modules.dep,
# in load order (dependencies first), as paths below /lib/modules/VERSION.
module_order() {
	local moddir=$1
	shift
	awk -v want="$*" '
		FNR == NR { builtin[canon($0)] = 1; next }
		function canon(p,   b) { b = p; sub(/.*\//, "", b); sub(/\.ko.*/, "", b); gsub(/-/, "_", b); return b }
		BEGIN { n = split(want, w, " ") }
		{ m = $1; sub(/:$/, "", m); name[canon(m)] = m; deps[m] = ""
		  for (i = NF; i >= 2; i--) deps[m] = deps[m] " " $i }
		function emit(m,   d, k, i) {
			if (m in done) return
			done[m] = 1
			k = split(deps[m], d, " ")
			for (i = 1; i <= k; i++) emit(d[i])
			print m
		}
		END {
			for (i = 1; i <= n; i++) {
				c = w[i]; gsub(/-/, "_", c)
				if (c in name) emit(name[c])
				else if (!(c in builtin)) print "missing:" c
			}
		}' "$moddir/modules.builtin" "$moddir/modules.dep"
}

# Both images at once: on a warm cache that is two apt resolutions in
# parallel; on a cold one two mmdebstrap runs, each mostly waiting.
prepare_images() {
	local t0 p1 p2 rc=0
	t0=$(e2e_now)
	"$HERE/image.sh" cloud >"$WORK/cloud.path" 2>"$LOGS/image-cloud.log" &
	p1=$!
	"$HERE/image.sh" second >"$WORK/second.path" 2>"$LOGS/image-second.log" &
	p2=$!
	wait "$p1" || rc=1
	wait "$p2" || rc=1
	TIMINGS+=("cloud image and stand-in squashfs (build or cache) $(e2e_since "$t0") s")
	[ "$rc" -eq 0 ] || return 1
	CLOUD_TAR=$(cat "$WORK/cloud.path")
	SECOND_SQUASHFS=$(cat "$WORK/second.path")
	[ -s "$CLOUD_TAR" ] && [ -s "$SECOND_SQUASHFS" ]
}

# The cloud image's root: restored, given this run's CA (as a server with a
# publicly trusted certificate would be), made an ext4 disk.
prepare_disk() {
	local t0 r=$WORK/rootfs
	t0=$(e2e_now)
	mkdir -p "$r" "$WORK/cloud"
	tar -I zstd -xpf "$CLOUD_TAR" -C "$r" --numeric-owner
	cp "$r"/boot/vmlinuz-* "$WORK/cloud/vmlinuz"
	cp "$r"/boot/initrd.img-* "$WORK/cloud/initrd.img"
	KVER=$(basename "$r"/boot/vmlinuz-*)
	KVER=${KVER#vmlinuz-}
	install -D -m 0644 "$WORK/ca/ca.pem" "$r/usr/local/share/ca-certificates/nk-journey.crt"
	chroot "$r" update-ca-certificates >/dev/null 2>&1
	# The one-liner's user data must be valid cloud-config, as the image's
	# own cloud-init sees it.
	cp "$WORK/user-data" "$r/tmp/nk-user-data"
	if ! chroot "$r" cloud-init schema -c /tmp/nk-user-data >"$LOGS/schema.log" 2>&1; then
		note "cloud-init schema rejected the one-liner's user data:"
		sed 's/^/  /' "$LOGS/schema.log" >&2
		return 1
	fi
	rm -f "$r/tmp/nk-user-data"
	note "cloud-init schema: $(tail -n1 "$LOGS/schema.log")"
	# When the agent is dynamically linked, the image must have its libraries.
	if ldd "$NK_AGENT" >/dev/null 2>&1; then
		cp "$NK_AGENT" "$r/tmp/nk-agent"
		if chroot "$r" ldd /tmp/nk-agent | grep -q "not found"; then
			note "the agent needs libraries the cloud image lacks:"
			chroot "$r" ldd /tmp/nk-agent | grep "not found" >&2
			return 1
		fi
		rm -f "$r/tmp/nk-agent"
	fi
	# The stand-in's kernel modules come from the same kernel package.
	local m moddir=$r/lib/modules/$KVER
	mkdir -p "$WORK/second-root/lib/modules/nk" "$WORK/second-root/etc"
	: >"$WORK/second-root/etc/nk-modules.order"
	for m in $(module_order "$moddir" loop squashfs overlay virtio_pci virtio_net virtio_rng bonding); do
		case $m in missing:*) note "kernel module ${m#missing:} not found"; return 1 ;; esac
		cp "$moddir/$m" "$WORK/second-root/lib/modules/nk/"
		case $m in
		*.ko.xz) xz -d "$WORK/second-root/lib/modules/nk/${m##*/}" ;;
		*.ko.zst) zstd -q -d --rm "$WORK/second-root/lib/modules/nk/${m##*/}" ;;
		esac
		m=${m##*/}
		m=${m%.ko*}
		# As systemd's modprobe.d does: no bond0 of the module's own.
		case $m in bonding) m+=".ko max_bonds=0" ;; *) m+=.ko ;; esac
		echo "$m" >>"$WORK/second-root/etc/nk-modules.order"
	done
	mkfs.ext4 -q -F -L root -d "$r" "$WORK/disk.raw" 2G >/dev/null
	rm -rf "$r"
	TIMINGS+=("disk (restore, CA, schema, mkfs) $(e2e_since "$t0") s")
}

# The stand-in's initrd: busybox, stage 1 (second/init) running the
# module's stage1.sh, the modules, the squashfs; uncompressed (the squashfs
# is compressed already). The agent appends the handoff to it.
prepare_bundle() {
	local t0 s=$WORK/second-root
	t0=$(e2e_now)
	mkdir -p "$s"/{bin,dev,proc,sys,run,etc/nixos-kexec}
	cp "$BUSYBOX" "$s/bin/busybox"
	install -m 0755 "$HERE/second/init" "$s/init"
	install -m 0755 "$ROOT/nix/handoff/stage1.sh" "$s/etc/nixos-kexec/stage1.sh"
	mknod -m 600 "$s/dev/console" c 5 1
	cp "$SECOND_SQUASHFS" "$s/root.squashfs"
	(cd "$s" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --reproducible --quiet) >"$WORK/second.cpio"
	SECOND_NONCE=$(e2e_nonce)
	mkdir -p "$WORK/www/nixos"
	e2e_make_bundle "$WORK/cloud/vmlinuz" "$WORK/second.cpio" \
		"console=ttyS0 nk.second=$SECOND_NONCE" "$WORK/key/nk.sec" "$WORK/www/nixos/$ARCH" >/dev/null
	rm -rf "$s" "$WORK/second.cpio"
	TIMINGS+=("stand-in initrd and bundle $(e2e_since "$t0") s")
}

# The published tree (release layout, DESIGN.md): boot.sh, bin/,
# SHA256SUMS, the public key, the bundle in <arch>/. Made by the project's
# own `make release` tool (tools/release.sh) from the static build when the
# VM's agent is that build; otherwise by mkbootsh.sh, a stand-in with the
# same contract.
prepare_www() {
	local w=$WORK/www/nixos
	mkdir -p "$WORK/www"
	if [ "$BOOTSH_FROM" = release ]; then
		"$RELEASE_SH" --static "$STATIC_DIR" --out "$w" --url "$BASE_URL" \
			--key "$WORK/key/nk.pub" --delay 5 >&2
	else
		mkdir -p "$w/bin"
		cp "$NK_AGENT" "$w/bin/nixos-kexec-$ARCH"
		"$HERE/mkbootsh.sh" --url "$BASE_URL" --pub "$WORK/key/nk.pub" --bin "$w/bin" \
			--delay 5 >"$w/boot.sh"
		(cd "$w" && sha256sum bin/* boot.sh >SHA256SUMS)
	fi
	cp "$WORK/key/nk.pub" "$w/nixos-kexec.pub"
	BOOTSH_SUM=$(sha256sum "$w/boot.sh" | cut -d' ' -f1)
}

prepare() {
	ssh-keygen -q -t ed25519 -N "" -C "journey-user" -f "$WORK/id"
	e2e_make_key "$WORK/key" >/dev/null
	e2e_make_ca "$WORK/ca"
	PUBKEY=$(sed -n '/^untrusted comment:/d; p; q' "$WORK/key/nk.pub")
	prepare_www
	USERDATA_CLOUDINIT=$(fill "$(oneliner cloud-init)" url,key) || {
		note "tests/e2e/journey/oneliners: the cloud-init one-liner lacks $PH_URL or $PH_KEY"
		return 1
	}
	CURLPIPE=$(fill "$(oneliner curl-pipe)" url) || {
		note "tests/e2e/journey/oneliners: the curl-pipe one-liner lacks $PH_URL"
		return 1
	}
	CURLPIPE_PINNED=$(fill "$(oneliner curl-pipe-pinned)" url,sum) || {
		note "tests/e2e/journey/oneliners: the curl-pipe-pinned one-liner lacks $PH_URL or $PH_SUM"
		return 1
	}
	printf '%s\n' "$USERDATA_CLOUDINIT" >"$WORK/user-data"
	prepare_images || { note "image.sh failed (see $LOGS/image-*.log)"; return 1; }
	prepare_disk
	prepare_bundle
}

# Runs prepare with set -e in force and takes over the variables it set;
# PREPARED=1 when it succeeded. Never call this (or anything leading to a
# subshell that relies on set -e) from a condition: bash turns -e off for
# everything run there, subshells included, background ones too.
PREPARED_VARS="CLOUD_TAR SECOND_SQUASHFS KVER PUBKEY USERDATA_CLOUDINIT CURLPIPE
	CURLPIPE_PINNED SECOND_NONCE BOOTSH_SUM TIMINGS"
run_prepare() {
	local rc=0
	(
		set -eE
		trap 'echo "journey: prepare failed at: $BASH_COMMAND" >&2' ERR
		prepare
		# shellcheck disable=SC2086
		declare -p $PREPARED_VARS | sed 's/^declare -/declare -g -/' >"$WORK/prepared.vars"
	) 2>"$LOGS/prepare.log" &
	SCENARIO_PID=$!
	wait "$SCENARIO_PID" || rc=$?
	SCENARIO_PID=""
	PREPARED=0
	if [ "$rc" -eq 0 ]; then
		# shellcheck disable=SC1091
		. "$WORK/prepared.vars"
		PREPARED=1
	fi
}

# --- scenarios: each in its own subshell with set -e; DIR is its scratch
# directory, LOG its serial log; failures go to REASONS ---

# The boot nonce the agent printed in a log.
agent_nonce() { sed -n 's/.*boot nonce \([0-9a-f]\{32\}\).*/\1/p; T; q' "$1"; }

serve() {
	e2e_start_stub "$WORK/www" "$WORK/ca" "$DIR/stub.log" "$@"
	STUB_PORT=$E2E_STUB_PORT
}

timing() { printf '%s\n' "$*" >>"$DIR/timings"; }
# Where the time between the agent's answer and sshd went (the summary).
kexec_detail() {
	printf '%s\n' "agent answer to kexec (delay, shutdown) $(secs "$1" "$T_KEXEC") s; kexec to new kernel (purgatory) $(secs "$T_KEXEC" "$T_KERNEL") s; kernel to stage 1 (initramfs) $(secs "$T_KERNEL" "$T_INIT") s; stage 1 to sshd $(secs "$T_INIT" "$T_SSHD") s" >"$DIR/detail"
}

# The agent's lines in a stamped log: the first one, the "loaded" one.
AGENT_LINE='nixos-kexec: '
LOADED_LINE='loaded \(kexec_loaded = 1\)'

scenario_journey_cloudinit() {
	local t_agent t_loaded
	serve
	make_seed "$USERDATA_CLOUDINIT" "$(static_netcfg)"
	start_vm "$STATIC_IP"
	wait_for "$LOG" "Started (ssh|sshd)\.service" 0 300 >/dev/null ||
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
	need "the agent did not announce the delayed kexec" grep -q "nixos-kexec: executing in" "$DIR/first.ssh"
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
	wait_for "$LOG" "Started (ssh|sshd)\.service" 0 300 >/dev/null ||
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
	wait_for "$LOG" "Started (ssh|sshd)\.service" 0 300 >/dev/null ||
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

# The fleet options the report and revert scenarios add to the curl-pipe
# one-liner (boot.sh passes its arguments on to the agent); the CA is the
# one the cloud image trusts, handed over as report-ca.pem.
REPORT_URL=https://$E2E_GUEST_SERVER/collect
REPORT_CA=/usr/local/share/ca-certificates/nk-journey.crt
# CURLPIPE with "sh -s -- ARGS".
curlpipe_with() {
	local args=$1
	[[ $CURLPIPE == *"| sudo sh" ]] || return 1
	printf '%s -s -- %s\n' "$CURLPIPE" "$args"
}

# Runs CMD as debian in the first system; sets T_START and NONCE.
run_oneliner() {
	local cmd=$1 rc=0
	echo "running as debian: $cmd"
	T_START=$(now_rel)
	ssh_bg "$DIR/oneliner.out" debian "$cmd"
	wait "$BG_SSH" || rc=$?
	echo "the SSH session got its answer at $(now_rel) s"
	sleep 0.2
	unstamp "$DIR/oneliner.out"
	must "the one-liner exited $rc: $(tail -n 2 "$DIR/oneliner.out" | unstamp || true)" [ "$rc" -eq 0 ]
	must "the one-liner's output does not say the kernel was loaded" grep -qE "$LOADED_LINE" "$DIR/oneliner.out"
	NONCE=$(agent_nonce "$DIR/oneliner.out")
	must "the agent printed no boot nonce" [ -n "$NONCE" ]
}

# The collected line of EVENT with NONCE (JSON lines in COLLECT).
collected() { grep -E "^\\{\"event\":\"$2\",\"nonce\":\"$3\"" "$1"; }

# The stub with a collector (COLLECT), and a cloud VM without user data up
# to its first system's sshd, its host key recorded: how the scenarios
# that report start.
first_with_collector() {
	COLLECT=$DIR/collect.jsonl
	serve --collect "$COLLECT"
	make_seed "#cloud-config" ""
	start_vm ""
	wait_for "$LOG" "Started (ssh|sshd)\.service" 0 300 >/dev/null ||
		must "the cloud VM's sshd did not start" false
	record_first 0
}

scenario_report() {
	local cmd ev t_up addr host
	first_with_collector
	cmd=$(curlpipe_with "--report $REPORT_URL --cacert $REPORT_CA") ||
		must "the curl-pipe one-liner does not end in '| sudo sh'" false
	run_oneliner "$cmd"
	check_second "$NONCE" "$T_START" ""
	# report.sh up runs after network-online and sshd; give it its retries.
	local t0=$SECONDS
	while ! collected "$COLLECT" up "$NONCE" >/dev/null && [ $((SECONDS - t0)) -lt 90 ]; do
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
	local cmd mark t_armed t_revert t_back t_sshd rc=0
	NO_REBOOT=()
	VM_TIMEOUT=$((VM_TIMEOUT + 240))
	first_with_collector
	# A marker only the first system's disk has.
	mark=$(e2e_nonce 8)
	ssh_retry "$DIR/mark.ssh" 30 debian "echo $mark | sudo -n tee /var/lib/nk-journey-marker && sync" ||
		must "cannot write the marker into the first system: $(tail -n1 "$DIR/mark.ssh")" false
	cmd=$(curlpipe_with "--report $REPORT_URL --cacert $REPORT_CA --revert-after 30") ||
		must "the curl-pipe one-liner does not end in '| sudo sh'" false
	run_oneliner "$cmd"
	T_KERNEL=$(wait_for "$LOG" "Linux version" "$T_START" 240) ||
		must "no second kernel (no kexec)" false
	t_armed=$(wait_for "$LOG" "nixos-kexec revert: safety net armed" "$T_KERNEL" 240) ||
		must "revert.sh did not arm the safety net in the second system (serial)" false
	# No one confirms.
	t_revert=$(wait_for "$LOG" "nixos-kexec revert: not confirmed within 30 s" "$t_armed" 90) ||
		must "revert.sh did not give up after 30 s (serial)" false
	t_back=$(wait_for "$LOG" "Linux version" "$t_revert" 120) ||
		must "no kernel booted after the revert (did QEMU reboot?)" false
	t_sshd=$(wait_for "$LOG" "Started (ssh|sshd)\.service" "$t_back" 300) ||
		must "sshd did not start after the revert" false
	ssh_retry "$DIR/back.ssh" 60 debian \
		'echo "JR cmdline=$(cat /proc/cmdline)"; echo "JR hostname=$(hostname)";
		 echo "JR marker=$(cat /var/lib/nk-journey-marker)";
		 echo "JR kexec_loaded=$(cat /sys/kernel/kexec_loaded)"' || rc=$?
	cat "$DIR/back.ssh"
	must "no login as debian after the revert (ssh exit $rc): $(tail -n1 "$DIR/back.ssh")" [ "$rc" -eq 0 ]
	need "after the revert the marker on the first system's disk is not $mark" \
		grep -qx "JR marker=$mark" "$DIR/back.ssh"
	need "after the revert the kernel command line is the bundle's (nk.second)" \
		lacks "$DIR/back.ssh" "nk.second="
	need "after the revert the host name is not the first system's $FIRST_HOSTNAME" \
		grep -qx "JR hostname=$FIRST_HOSTNAME" "$DIR/back.ssh"
	need "the collector has no 'revert' with the nonce $NONCE" collected "$COLLECT" revert "$NONCE"
	need "the collector has 'confirmed' although no one confirmed" \
		lacks "$COLLECT" '"event":"confirmed"'
	echo "revert check: armed at $t_armed s, gave up at $t_revert s, first system back (marker $mark) at $(now_rel) s"
	timing "kexec to armed $(secs "$T_KERNEL" "$t_armed") s"
	timing "armed to reboot $(secs "$t_armed" "$t_revert") s"
	timing "reboot to first system's sshd $(secs "$t_revert" "$t_sshd") s"
}

# --- issue 14: a bond carried over; a wrong address repaired by the
# network self-test ---

# Runs the POSIX sh script on stdin as root in the first system (as the
# debian user with sudo), once (it changes things); output in OUT. The
# script goes base64 encoded on the command line: no quoting reaches it.
first_root_sh() {
	local out=$1 b64
	b64=$(base64 -w0)
	vm_ssh debian "echo $b64 | base64 -d | sudo -n sh" >"$out"
}
lacks_re() { ! grep -aqE -- "$2" "$1"; }

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
	wait_for "$LOG" "Started (ssh|sshd)\.service" 0 300 >/dev/null ||
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

# shellcheck source=tests/e2e/journey/fleet-ansible.sh
. "$HERE/fleet-ansible.sh"
# shellcheck source=tests/e2e/journey/nixos-anywhere.sh
. "$HERE/nixos-anywhere.sh"

# --- driver ---

run_scenario() {
	local name=$1 rc t0 secs
	DIR="$WORK/$name" LOG="$LOGS/$name.serial.log" REASONS="$WORK/$name/reasons"
	mkdir -p "$DIR"
	: >"$REASONS"
	rm -f "$LOG" "$LOGS/$name.host.log"
	t0=$(e2e_now)
	(
		set -eE
		trap e2e_cleanup EXIT
		trap 'exit 130' INT TERM
		trap 'echo "setup step failed: $BASH_COMMAND" >>"$REASONS"' ERR
		"scenario_${name//-/_}"
	) >"$LOGS/$name.host.log" 2>&1 &
	SCENARIO_PID=$!
	rc=0
	wait "$SCENARIO_PID" || rc=$?
	SCENARIO_PID=""
	secs=$(e2e_since "$t0")
	# A scenario that cannot run here writes why to DIR/skip.
	if [ "$rc" -eq 0 ] && [ -s "$DIR/skip" ] && [ ! -s "$REASONS" ]; then
		NSKIP=$((NSKIP + 1))
		say "SKIP $name: $(head -n1 "$DIR/skip")"
		return 0
	fi
	[ "$rc" -eq 0 ] || [ -s "$REASONS" ] || echo "scenario exited $rc" >>"$REASONS"
	local times
	times=""
	[ ! -s "$DIR/timings" ] || times=$(paste -sd';' "$DIR/timings" | sed 's/;/, /g')
	TIMINGS+=("$name: ${times:+$times, }total $secs s")
	[ ! -s "$DIR/detail" ] || TIMINGS+=("  $(cat "$DIR/detail")")
	if [ -s "$REASONS" ]; then
		NFAIL=$((NFAIL + 1))
		say "FAIL $name: $(head -n1 "$REASONS") ($secs s)"
		sed '1d; s/^/  - /' "$REASONS"
		show_logs "$name"
	else
		NPASS=$((NPASS + 1))
		say "PASS $name (${times:+$times; }total $secs s)"
		grep -E "^(host key|nonce|network|report|revert|ansible|self-test|bond|fallback) check:" "$LOGS/$name.host.log" | sed 's/^/  /' || true
	fi
}

show_logs() {
	local name=$1
	if [ -s "$LOGS/$name.host.log" ]; then
		echo "  host log $LOGS/$name.host.log, last lines:"
		tail -n 10 "$LOGS/$name.host.log" | sed 's/^/    | /'
	fi
	if [ -s "$LOGS/$name.serial.log" ]; then
		echo "  serial log $LOGS/$name.serial.log, last lines:"
		tail -n 15 "$LOGS/$name.serial.log" | sed 's/^/    | /'
	fi
}

skip_all() {
	local s
	for s in "${SCENARIOS[@]}"; do
		NSKIP=$((NSKIP + 1))
		say "SKIP $s: $1"
	done
}

fail_all() {
	local s
	for s in "${SCENARIOS[@]}"; do
		NFAIL=$((NFAIL + 1))
		say "FAIL $s: $1"
	done
}

summary() {
	local t
	say "timings:"
	for t in "${TIMINGS[@]+"${TIMINGS[@]}"}"; do echo "  $t"; done
	say "total: $NPASS passed, $NFAIL failed, $NSKIP skipped"
}

# Tools the journey needs (tests/e2e/journey/packages installs them).
missing_tools() {
	local t miss=()
	for t in mmdebstrap genisoimage mksquashfs qemu-img mkfs.ext4 ssh ssh-keyscan \
		ssh-keygen cpio zstd openssl perl; do
		command -v "$t" >/dev/null || miss+=("$t")
	done
	[ -x "$BUSYBOX" ] || miss+=("$BUSYBOX")
	local usage
	usage=$(mkfs.ext4 2>&1 || true)
	[[ $usage == *"-d root-directory"* ]] || miss+=("mkfs.ext4 with -d (e2fsprogs >= 1.43)")
	printf '%s\n' "${miss[*]+"${miss[*]}"}"
}

main() {
	local s miss
	for s in "${SCENARIOS[@]}"; do
		declare -F "scenario_${s//-/_}" >/dev/null || { echo "e2e: unknown scenario '$s'" >&2; exit 64; }
	done
	# The agent the VM runs and where boot.sh comes from: the static build
	# and `make release`'s tool when both are there (what users get), else
	# the stand-ins. NK_JOURNEY_BOOTSH=standin forces mkbootsh.sh.
	STATIC_DIR=${NK_STATIC:-$B/static}
	RELEASE_SH=${NK_JOURNEY_RELEASE_SH:-$ROOT/tools/release.sh}
	BOOTSH_FROM=standin
	if [ -z "${NK_AGENT:-}" ]; then
		if [ -x "$STATIC_DIR/$ARCH/nixos-kexec" ]; then
			NK_AGENT=$STATIC_DIR/$ARCH/nixos-kexec
			if [ -x "$RELEASE_SH" ] && [ -f "$STATIC_DIR/$ARCH/kexec" ] &&
				[ "${NK_JOURNEY_BOOTSH:-}" != standin ]; then
				BOOTSH_FROM=release
			fi
		else
			NK_AGENT=$B/nixos-kexec
		fi
	fi
	if ! command -v "$QEMU" >/dev/null; then
		skip_all "$QEMU not installed (tests/e2e/journey/packages)"
	elif [ "$(id -u)" -ne 0 ]; then
		skip_all "needs root (mmdebstrap --mode=root; file owners for mkfs.ext4 -d)"
	elif [ "$ARCH" != x86_64 ]; then
		skip_all "the journey's images are amd64; this machine is $ARCH"
	else
		miss=$(missing_tools)
		mkdir -p "$LOGS"
		if [ -n "$miss" ]; then
			fail_all "missing: $miss (install tests/e2e/journey/packages)"
		elif [ ! -x "$NK_AGENT" ] || [ ! -x "$B/nixos-kexec" ] || [ ! -x "$B/nixos-kexec-stub" ]; then
			fail_all "no agent or stub: build them first (make B=$B all), NK_AGENT=$NK_AGENT"
		else
			note "agent for the VM: $NK_AGENT ($(file -b "$NK_AGENT" 2>/dev/null | cut -d, -f1-2 || echo "?")); boot.sh: $([ "$BOOTSH_FROM" = release ] && echo "tools/release.sh" || echo "stand-in mkbootsh.sh")"
			readme_quotes
			WORK=$(mktemp -d "${TMPDIR:-/tmp}/nk-journey.XXXXXX")
			run_prepare
			if [ "$PREPARED" != 1 ]; then
				sed 's/^/  /' "$LOGS/prepare.log" | tail -n 20
				fail_all "could not prepare the images (see $LOGS/prepare.log, $LOGS/image-*.log)"
			else
				for s in "${SCENARIOS[@]}"; do run_scenario "$s"; done
			fi
		fi
	fi
	summary
	[ "$NFAIL" -eq 0 ]
}

main "$@"
