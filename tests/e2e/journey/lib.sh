# shellcheck shell=bash
# shellcheck disable=SC2034 # the constants and T_* results are the scenarios'
# The journey's cloud VM, as a library: sourced by tests/e2e/journey/run.sh
# and by any runner whose scenarios boot the Debian cloud image (a journey
# of another size or another installer). It sources tests/e2e/lib/runner.sh
# (the plumbing); the caller sets B and calls e2e_runner first.
#
# What it holds: the one-liners from their one source; the stamped
# timeline of a VM's console and SSH sessions; the cloud VM (start_vm,
# make_seed); SSH from the harness (vm_ssh, ssh_bg, ssh_retry,
# record_first); the checks of the second system (check_second); the
# shared preparation (journey_prepare: images, disk, stand-in bundle,
# published tree; journey_check_host: what a journey needs here); the
# helpers the scenarios share (serve, run_oneliner, first_with_collector).

JOURNEY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$JOURNEY_DIR/../../.." && pwd)
# shellcheck source=tests/e2e/lib/runner.sh
. "$JOURNEY_DIR/../lib/runner.sh"

LOGS=${NK_JOURNEY_LOGS:-$B/journey}
# The guest's architecture: the host's, or NK_E2E_ARCH=aarch64 (make
# journey-arm64: arm64.sh sets QEMU, the console, the firmware, the images
# and the stand-in's busybox for it).
ARCH=${NK_E2E_ARCH:-$(uname -m)}
QEMU=${NK_QEMU:-qemu-system-x86_64}
CONSOLE=ttyS0
# Extra QEMU arguments of the cloud VM (arm64: its UEFI firmware).
VM_FIRMWARE=()
# image.sh's kinds are cloud$IMAGE_SUFFIX and second$IMAGE_SUFFIX.
IMAGE_SUFFIX=""
# How prepare_disk runs a program of the cloud image (chroot; arm64:
# through foreign.sh).
IMAGE_CHROOT=(chroot)
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
# The test network's DNS: dnsmasq on the host's loopback (dns_serve), its
# own zone only (no upstream, never the host's resolver), reached from
# every VM at $E2E_GUEST_SERVER:53 through a guestfwd, so over TCP only
# (restrict=on forwards nothing else). The cloud image's resolv.conf names
# it (image.sh); check_second resolves DNS_PROBE in every second system.
DNS_ZONE=nk-journey.test
DNS_PROBE=probe.$DNS_ZONE
DNS_PROBE_ADDR=198.51.100.53
DNS_COLLECTOR=collector.$DNS_ZONE
# A 256 MiB translation cache instead of QEMU's 1 GiB: TCG keeps translated
# code until its cache fills, and every write into a page that still holds
# translated code takes the slow path. After a kexec the new kernel writes
# where the old system ran code, so with 1 GiB the second boot crawled
# (purgatory 11-23 s, initramfs unpack 41-47 s, stage 1 to sshd 38 s,
# measured); with 256 MiB: 6-9 s, 4-5 s, 18-27 s; the first boot is no
# slower. "NK_JOURNEY_TCG_OPTS=" restores QEMU's default.
TCG_OPTS=${NK_JOURNEY_TCG_OPTS-,tb-size=256}


note() { printf 'journey: %s\n' "$*" >&2; }

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
		}' "$JOURNEY_DIR/oneliners"
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

# 0 when an SSH server answers on 127.0.0.1:PORT (its "SSH-" banner
# through the VM's hostfwd; QEMU accepts the connection itself, so only the
# banner tells that sshd is there).
sshd_answers() {
	local b
	b=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && head -c 4 <&3' _ "$1" 2>/dev/null) ||
		return 1
	[ "$b" = SSH- ]
}

# Waits up to LIMIT seconds for the freshly booted cloud VM's sshd: its
# "Started ssh.service" line on the console, or its banner on SSH_PORT.
# systemd's status line alone is not enough: on a loaded machine it was
# seen missing from the console while sshd ran. Only for a VM's first
# boot: after a kexec or a reboot the port answered before, so those wait
# for the console line after their own time (wait_for).
wait_first_sshd() {
	local limit=$1 t0=$SECONDS
	while :; do
		t_of "$LOG" "Started (ssh|sshd)\.service" 0 >/dev/null && return 0
		sshd_answers "$SSH_PORT" && { note "sshd answers on $SSH_PORT (no console line)"; return 0; }
		vm_alive || return 1
		[ $((SECONDS - t0)) -lt "$limit" ] || return 1
		sleep 1
	done
}

# Waits up to LIMIT s for the sshd of a system that took over after time
# AFTER (the old one is gone by then): its "Started ssh.service" line on the
# console, or its banner on SSH_PORT; prints the time. The console line was
# seen missing in the arm64 stand-in (systemd printed "Starting" only).
wait_sshd_after() {
	local after=$1 limit=$2 t0=$SECONDS t
	while :; do
		if t=$(t_of "$LOG" "Started (ssh|sshd)\.service" "$after"); then
			printf '%s\n' "$t"
			return 0
		fi
		if sshd_answers "$SSH_PORT"; then
			note "sshd answers on $SSH_PORT (no console line)"
			now_rel
			return 0
		fi
		vm_alive || return 1
		[ $((SECONDS - t0)) -lt "$limit" ] || return 1
		sleep 1
	done
}

# --- the VM ---

# Boots the cloud VM from DIR/disk.qcow2 and DIR/seed.iso in the background;
# its console goes, stamped, to LOG. Sets VM_PID, VM_T0, SSH_PORT (to the
# guest's SSH_GUEST_PORT, default 22); EXTRA_FWD: more e2e_netdev forwards.
# GUEST_IP: the address hostfwd forwards to (empty: slirp's DHCP one).
# NICS: 1 (default) or 2 (VM_MAC and VM_MAC2 on the same user network).
start_vm() {
	local guest_ip=$1 nics=${2:-1} net nic E2E_ACCEL
	SSH_PORT=$(e2e_free_port)
	e2e_accel "$TCG_OPTS"
	net=$(e2e_netdev n0 "host:$SSH_PORT:$guest_ip:${SSH_GUEST_PORT:-22}" "guest:443:$STUB_PORT" \
		${DNS_PORT:+"guest:53:$DNS_PORT"} ${EXTRA_FWD[@]+"${EXTRA_FWD[@]}"})
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
	timeout -k 5 "$VM_TIMEOUT" "$QEMU" "${E2E_ACCEL[@]}" -m "${NK_JOURNEY_MEM:-1024}" -smp 1 \
		-nodefaults -display none -serial stdio "${NO_REBOOT[@]}" -monitor none "${VM_FIRMWARE[@]}" \
		-drive "file=$DIR/disk.qcow2,if=virtio,format=qcow2" \
		-drive "file=$DIR/seed.iso,if=virtio,format=raw,readonly=on" \
		"${nic[@]}" -device virtio-rng-pci \
		-kernel "$WORK/cloud/vmlinuz" -initrd "$WORK/cloud/initrd.img" \
		-append "root=/dev/vda rw console=$CONSOLE" \
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
	      addresses: [$E2E_GUEST_SERVER]
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

# Writes a marker only the first system's disk keeps (MARK), before a
# scenario that expects that system back (revert, a refused store).
first_marker() {
	MARK=$(e2e_nonce 8)
	ssh_retry "$DIR/mark.ssh" 30 debian "echo $MARK | sudo -n tee /var/lib/nk-journey-marker && sync" ||
		must "cannot write the marker into the first system: $(tail -n1 "$DIR/mark.ssh")" false
}

# back_to_first WHAT T: after WHAT (at T) QEMU, without -no-reboot, brought
# the first system back from its disk: a kernel booted, its sshd, a login as
# debian, first_marker's MARK, its host name, no nk.second. T_BACK: the
# time its sshd was up.
back_to_first() {
	local what=$1 t=$2 t_back rc=0
	t_back=$(wait_for "$LOG" "Linux version" "$t" 120) ||
		must "no kernel booted after the $what (did QEMU reboot?)" false
	T_BACK=$(wait_sshd_after "$t_back" 300) ||
		must "sshd did not start after the $what" false
	# shellcheck disable=SC2016 # expanded in the VM
	ssh_retry "$DIR/back.ssh" 60 debian \
		'echo "JR cmdline=$(cat /proc/cmdline)"; echo "JR hostname=$(hostname)";
		 echo "JR marker=$(cat /var/lib/nk-journey-marker)"' || rc=$?
	cat "$DIR/back.ssh"
	must "no login as debian after the $what (ssh exit $rc): $(tail -n1 "$DIR/back.ssh")" [ "$rc" -eq 0 ]
	need "after the $what the marker on the first system's disk is not $MARK" \
		grep -qx "JR marker=$MARK" "$DIR/back.ssh"
	need "after the $what the kernel command line is the bundle's (nk.second)" \
		lacks "$DIR/back.ssh" "nk.second="
	need "after the $what the host name is not the first system's $FIRST_HOSTNAME" \
		grep -qx "JR hostname=$FIRST_HOSTNAME" "$DIR/back.ssh"
}

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
	t=$(wait_for "$LOG" "NK-JOURNEY stage1 (done|FAIL)" "$T_INIT" "${STAGE1_LIMIT:-60}") ||
		must "the stand-in's stage 1 did not finish" false
	must "stage 1 failed: $(grep -a -m1 'NK-JOURNEY stage1 FAIL' "$LOG" || true)" \
		lacks "$LOG" "NK-JOURNEY stage1 FAIL"
	need "stage 1 found no handoff in the initrd" lacks "$LOG" "NK-JOURNEY stage1 handoff: none"
	T_SSHD=$(wait_sshd_after "$t" 180) ||
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
	# Name resolution as every program does it (NSS: resolved's module,
	# else its stub), while the self-test runs.
	local dns_ssh
	ssh_bg "$DIR/dns.ssh" root 'SECONDS=0 i=0
		until a=$(timeout 10 getent hosts '"$DNS_PROBE"'); do
			i=$((i + 1)); [ "$SECONDS" -lt '"${NK_JOURNEY_DNS_WAIT:-90}"' ] || break; sleep 1; done
		echo "JR dns-answer=$a"; echo "JR dns-after=$SECONDS s, $i failed tries"
		echo "JR dns-servers=$(resolvectl dns 2>&1 | tr "\n" " ")"'
	dns_ssh=$BG_SSH
	if T_SELFTEST=$(wait_for "$LOG" "$SELFTEST result " "$T_KERNEL" 150); then
		need "the network self-test failed: $(grep -a -m1 "$SELFTEST result" "$LOG" | unstamp || true)" \
			grep -aq "$SELFTEST result ok" "$LOG"
		echo "self-test check: $(grep -a -m1 "$SELFTEST result" "$LOG" | unstamp)"
	else
		need "the network self-test printed no result on the console" false
	fi
	wait "$dns_ssh" || true
	sleep 0.2
	unstamp "$DIR/dns.ssh"
	if unstamp "$DIR/dns.ssh" | grep -qE "^JR dns-answer=$DNS_PROBE_ADDR +$DNS_PROBE\$"; then
		echo "dns check: $DNS_PROBE is $DNS_PROBE_ADDR in the second system ($(unstamp "$DIR/dns.ssh" | sed -n 's/^JR dns-after=//p'))"
	else
		need "$DNS_PROBE does not resolve to $DNS_PROBE_ADDR in the second system: $(unstamp "$DIR/dns.ssh" | grep "^JR dns-" | tr '\n' ' ' || true)" false
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
	"$JOURNEY_DIR/image.sh" "cloud$IMAGE_SUFFIX" >"$WORK/cloud.path" 2>"$LOGS/image-cloud.log" &
	p1=$!
	"$JOURNEY_DIR/image.sh" "second$IMAGE_SUFFIX" >"$WORK/second.path" 2>"$LOGS/image-second.log" &
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
	"${IMAGE_CHROOT[@]}" "$r" update-ca-certificates >/dev/null 2>&1
	# The one-liner's user data must be valid cloud-config, as the image's
	# own cloud-init sees it.
	cp "$WORK/user-data" "$r/tmp/nk-user-data"
	if ! "${IMAGE_CHROOT[@]}" "$r" cloud-init schema -c /tmp/nk-user-data >"$LOGS/schema.log" 2>&1; then
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
	install -m 0755 "$JOURNEY_DIR/second/init" "$s/init"
	install -m 0755 "$ROOT/nix/handoff/stage1.sh" "$ROOT/nix/handoff/store.sh" \
		"$ROOT/nix/handoff/stage1-net.sh" "$s/etc/nixos-kexec/"
	mknod -m 600 "$s/dev/console" c 5 1
	cp "$SECOND_SQUASHFS" "$s/root.squashfs"
	(cd "$s" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --reproducible --quiet) >"$WORK/second.cpio"
	SECOND_NONCE=$(e2e_nonce)
	mkdir -p "$WORK/www/nixos"
	e2e_make_bundle "$WORK/cloud/vmlinuz" "$WORK/second.cpio" \
		"console=$CONSOLE nk.second=$SECOND_NONCE" "$WORK/key/nk.sec" "$WORK/www/nixos/$ARCH" >/dev/null
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
		"$JOURNEY_DIR/mkbootsh.sh" --url "$BASE_URL" --pub "$WORK/key/nk.pub" --bin "$w/bin" \
			--delay 5 >"$w/boot.sh"
		(cd "$w" && sha256sum bin/* boot.sh >SHA256SUMS)
	fi
	cp "$WORK/key/nk.pub" "$w/nixos-kexec.pub"
	BOOTSH_SUM=$(sha256sum "$w/boot.sh" | cut -d' ' -f1)
}

# The shared preparation of a journey run (through e2e_run_prepare, with
# JOURNEY_VARS): keys, CA, published tree, the one-liners, images, disk,
# bundle.
JOURNEY_VARS="CLOUD_TAR SECOND_SQUASHFS KVER PUBKEY USERDATA_CLOUDINIT CURLPIPE
	CURLPIPE_PINNED SECOND_NONCE BOOTSH_SUM"
journey_prepare() {
	ssh-keygen -q -t ed25519 -N "" -C "journey-user" -f "$WORK/id"
	e2e_make_key "$WORK/key" >/dev/null
	# The collector also by name, for the DNS scenarios.
	it_make_ca "$WORK/ca" "IP:$E2E_GUEST_SERVER" "DNS:$DNS_COLLECTOR" >/dev/null
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

agent_nonce() { sed -n 's/.*boot nonce \([0-9a-f]\{32\}\).*/\1/p; T; q' "$1"; }

# The stub serving WWW (default WORK/www) with STUB-ARGS (its faults), and
# the test network's DNS server beside it: every VM needs both.
serve() {
	e2e_start_stub "${WWW:-$WORK/www}" "$WORK/ca" "$DIR/stub.log" "$@"
	STUB_PORT=$E2E_STUB_PORT
	dns_serve
}

# The test network's DNS server (above: DNS_ZONE): dnsmasq on 127.0.0.1,
# TCP and UDP, answering for its zone only, every query logged in
# DIR/dns.log. Sets DNS_PORT.
dns_serve() {
	local t0=$SECONDS
	DNS_PORT=$(e2e_free_port)
	dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
		--listen-address=127.0.0.1 --bind-interfaces --port="$DNS_PORT" --pid-file= \
		--log-queries --log-facility="$DIR/dns.log" --local="/$DNS_ZONE/" \
		--host-record="$DNS_PROBE,$DNS_PROBE_ADDR" \
		--host-record="$DNS_COLLECTOR,$E2E_GUEST_SERVER" 2>>"$DIR/dns.log" &
	E2E_BG_PIDS+=("$!")
	until grep -qs "using only locally-known addresses for $DNS_ZONE" "$DIR/dns.log"; do
		kill -0 "$!" 2>/dev/null && [ $((SECONDS - t0)) -lt 10 ] ||
			must "dnsmasq did not start: $(tail -n 2 "$DIR/dns.log" || true)" false
		sleep 0.2
	done
}

# Where the time between the agent's answer and sshd went (the summary).
kexec_detail() {
	printf '%s\n' "agent answer to kexec (delay, shutdown) $(secs "$1" "$T_KEXEC") s; kexec to new kernel (purgatory) $(secs "$T_KEXEC" "$T_KERNEL") s; kernel to stage 1 (initramfs) $(secs "$T_KERNEL" "$T_INIT") s; stage 1 to sshd $(secs "$T_INIT" "$T_SSHD") s" >"$DIR/detail"
}

# The agent's lines in a stamped log: the first one, the "loaded" one.
AGENT_LINE='nixos-kexec: '
LOADED_LINE='loaded \(kexec_loaded = 1\)'

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
	wait_first_sshd 300 ||
		must "the cloud VM's sshd did not start" false
	record_first 0
}

# Runs the POSIX sh script on stdin as root in the first system (as the
# debian user with sudo), once (it changes things); output in OUT. The
# script goes base64 encoded on the command line: no quoting reaches it.
first_root_sh() {
	local out=$1 b64
	b64=$(base64 -w0)
	vm_ssh debian "echo $b64 | base64 -d | sudo -n sh" >"$out"
}

# Tools the journey needs (tests/e2e/journey/packages installs them).
journey_missing_tools() {
	local miss usage
	miss=$(e2e_missing_tools mmdebstrap genisoimage mksquashfs qemu-img mkfs.ext4 ssh \
		ssh-keyscan ssh-keygen cpio zstd openssl perl dnsmasq)
	[ -x "$BUSYBOX" ] || miss+=" $BUSYBOX"
	usage=$(mkfs.ext4 2>&1 || true)
	[[ $usage == *"-d root-directory"* ]] || miss+=" mkfs.ext4 with -d (e2fsprogs >= 1.43)"
	printf '%s\n' "${miss# }"
}

# What an architecture's runner fetches before the tools are checked
# (arm64.sh: the arm64 busybox).
journey_prepare_arch() { :; }

# A journey runner's main, after e2e_select: picks the agent the VM runs
# and where boot.sh comes from, checks this machine (skipping or failing
# every scenario when it cannot run one), prepares and runs the scenarios.
# The static build and `make release`'s tool when both are there (what
# users get), else the stand-ins; NK_JOURNEY_BOOTSH=standin forces
# mkbootsh.sh.
journey_run() {
	local miss
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
		e2e_skip_all "$QEMU not installed (tests/e2e/journey/packages)"
		return 0
	elif [ "$(id -u)" -ne 0 ]; then
		e2e_skip_all "needs root (mmdebstrap --mode=root; file owners for mkfs.ext4 -d)"
		return 0
	elif [ "$(uname -m)" != x86_64 ]; then
		e2e_skip_all "the journey's images are built on amd64; this machine is $(uname -m)"
		return 0
	fi
	mkdir -p "$LOGS"
	journey_prepare_arch || { e2e_fail_all "could not prepare for $ARCH (see above)"; return 0; }
	miss=$(journey_missing_tools)
	if [ -n "$miss" ]; then
		e2e_fail_all "missing: $miss (install tests/e2e/journey/packages)"
	elif [ ! -x "$NK_AGENT" ] || [ ! -x "$B/nixos-kexec" ] || [ ! -x "$B/nixos-kexec-stub" ]; then
		e2e_fail_all "no agent or stub: build them first (make B=$B all), NK_AGENT=$NK_AGENT"
	else
		note "agent for the VM: $NK_AGENT ($(file -b "$NK_AGENT" 2>/dev/null | cut -d, -f1-2 || echo "?")); boot.sh: $([ "$BOOTSH_FROM" = release ] && echo "tools/release.sh" || echo "stand-in mkbootsh.sh")"
		readme_quotes
		e2e_workdir
		e2e_run_prepare journey_prepare "$JOURNEY_VARS"
		if [ "$PREPARED" != 1 ]; then
			sed 's/^/  /' "$LOGS/prepare.log" | tail -n 20
			e2e_fail_all "could not prepare the images (see $LOGS/prepare.log, $LOGS/image-*.log)"
		else
			e2e_run_all
		fi
	fi
}
