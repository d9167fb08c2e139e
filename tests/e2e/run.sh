#!/usr/bin/env bash
# End-to-end test (make e2e): a QEMU VM boots Debian's kernel with a busybox
# initramfs holding the agent; the agent fetches a signed bundle from the
# stub on this machine's loopback and kexecs into it.
#
# The first system carries the static agent and static kexec-tools of
# make static (build/static/x86_64/; NK_STATIC overrides the directory),
# as the one-liners deliver them: no library is copied into the VM.
#
# Scenarios (NK_E2E_SCENARIOS, default "boot delay tampered lockdown fallback
# bond-dump"):
#   boot      fetch, verify, kexec: the second system prints this run's nonce
#             and the handed-over network units and key
#   delay     boot --delay 2: the agent answers (exit 0) first, then kexecs
#   tampered  the stub corrupts one initrd byte: exit 65, nothing loaded
#   lockdown  first kernel booted with lockdown=integrity: exit 77, says why
#   fallback  the agent runs under a seccomp filter that makes kexec_file_load
#             fail with EKEYREJECTED: it falls back to the static kexec
#             beside it (kexec_load), says so, and the second system boots
#   bond-dump a bond, two VLANs on it and a bridge built in the first system
#             (Debian's bonding, 8021q and bridge modules, four NICs):
#             handoff --dump gives .netdev/.network units of the same
#             topology; the guest's raw rtnetlink dumps are saved too
#             ($NK_E2E_LOGS/bond-dump.nldump/, the unit tests' fixtures)
# and, for checking the harness itself:
#   probe     agent --version in the guest, and a TCP round trip through
#             guestfwd to a loopback server on the host
#   second    the second system's initrd booted directly: its marker works
#   kexec     a tiny static helper (guest/kexec-probe.c) kexecs into the
#             second system with the bare system calls: the VM side works
#   kexec-lockdown  the same under lockdown=integrity: both calls get EPERM
#
# Usage: tests/e2e/run.sh [SCENARIO...] (default: NK_E2E_SCENARIOS, else
# the list above). The plumbing (selection, result lines, cleanup) is
# tests/e2e/lib/runner.sh's.
# Environment: B (build directory, default build), NK_E2E_LOGS (serial and
# host logs, default $B/e2e), NK_E2E_TIMEOUT (per VM, default 180 s),
# NK_E2E_CORRUPT_AT (tampered: initrd byte offset, default 1000),
# NK_E2E_KEEP=1 keeps the scratch directory; NK_CACHE (kernel.sh),
# NK_E2E_ACCEL and NK_E2E_MEM (qemu.sh).
# Exit status: 0 if nothing failed.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
B=$(cd "${B:-build}" && pwd)
# shellcheck source=tests/e2e/lib/runner.sh
. "$HERE/lib/runner.sh"

e2e_runner E2E e2e
e2e_scenarios boot delay tampered lockdown fallback signal bond-dump
e2e_scenarios --extra probe second kexec kexec-lockdown
STATIC=${NK_STATIC:-$B/static/x86_64}

# Checks every scenario makes of a finished VM. Returns 1 when the VM timed
# out, so the scenario skips checks that would only repeat that.
need_clean_end() {
	local log=$1
	if [ "$E2E_VM_RC" -eq 124 ]; then
		need "VM timed out after ${NK_E2E_TIMEOUT:-180} s" false
		return 1
	fi
	need "QEMU exit status $E2E_VM_RC, want 0" [ "$E2E_VM_RC" -eq 0 ]
	need "guest printed a FAIL line: $(grep -am1 '^NK-E2E FAIL' "$log" || true)" \
		lacks "$log" "NK-E2E FAIL"
	need "kernel panic" lacks "$log" "Kernel panic"
}

# The first system ended on its own after the agent returned.
need_agent_result() {
	local log=$1 want_exit=$2 got
	got=$(e2e_agent_exit "$log")
	need "agent exit $got, want $want_exit" [ "$got" = "$want_exit" ]
	got=$(e2e_kexec_loaded "$log")
	need "kexec_loaded=$got after the agent, want 0" [ "$got" = 0 ]
	need "first system did not finish" e2e_has "$log" "NK-E2E first-system done"
	need "second system booted although it must not" \
		lacks "$log" "NK-E2E second-system"
}

# --- what all scenarios share ---

prepare_kernel() {
	local t0
	t0=$(e2e_now)
	KDIR=$("$HERE/kernel.sh" 2>"$LOGS/kernel.log")
	TIMINGS+=("kernel (download+extract or cache) $(e2e_since "$t0") s")
}

prepare_second() {
	local t0
	t0=$(e2e_now)
	SECOND="$WORK/second.cpio.gz"
	"$HERE/initramfs.sh" second -o "$SECOND" 2>>"$LOGS/initramfs.log"
	TIMINGS+=("second initrd $(e2e_since "$t0") s")
}

# Builds the first system's initramfs; extra arguments go to initramfs.sh.
build_first() {
	local out=$1 t0
	shift
	t0=$(e2e_now)
	"$HERE/initramfs.sh" first -o "$out" -k "$KDIR" -a "$STATIC/nixos-kexec" \
		--file "$STATIC/kexec:bin/kexec" "$@"
	timing "initramfs $(e2e_since "$t0") s"
}

# Host side of a bundle scenario, part 1: key, bundle (the same Debian
# kernel and the second initrd, this run's nonce on its command line),
# signature, CA. Sets NONCE.
bundle_prepare() {
	NONCE=$(e2e_nonce)
	e2e_make_key "$DIR/key"
	e2e_make_bundle "$KDIR/vmlinuz" "$SECOND" \
		"$E2E_BASE_CMDLINE nk.nonce=$NONCE" "$DIR/key/nk.sec" "$DIR/bundle"
	e2e_make_ca "$DIR/ca"
}

# Part 2: the stub (arguments go to it: --fault ...) and the first
# initramfs with this run's CA and public key. Sets PORT.
bundle_serve() {
	e2e_start_stub "$DIR/bundle" "$DIR/ca" "$DIR/stub.log" "$@"
	PORT=$E2E_STUB_PORT
	# An ed25519 public key made for the run (the SSH wire format by hand:
	# string "ssh-ed25519", string of 32 random bytes), for --ssh-key.
	SSHKEY="ssh-ed25519 $({ printf '\0\0\0\013ssh-ed25519\0\0\0\040'; head -c 32 /dev/urandom; } |
		base64 -w0) e2e-$NONCE"
	printf '%s\n' "$SSHKEY" >"$DIR/e2e.key"
	build_first "$DIR/first.cpio.gz" --ca "$DIR/ca/ca.pem" --pub "$DIR/key/nk.pub" \
		--file "$DIR/e2e.key:etc/nk-e2e.key"
}

# Boots the first system in agent "boot" mode against the stub; extra
# arguments are appended to its kernel command line.
boot_first() {
	local log=$1
	shift
	e2e_run_vm "$log" --quiet --kernel "$KDIR/vmlinuz" \
		--initrd "$DIR/first.cpio.gz" --fwd "$PORT" \
		--append "$E2E_BASE_CMDLINE nk.mode=boot nk.url=https://$E2E_GUEST_SERVER:$PORT/ $*"
	timing "VM $E2E_VM_SECS s"
}

# --- scenarios: each runs in its own subshell with set -e; DIR is its
# scratch directory, LOG its serial log; failures go to REASONS ---

scenario_probe() {
	local port nonce
	nonce=$(e2e_nonce)
	e2e_start_probe_server "NK-PROBE pong $nonce" "$DIR/probe.port"
	port=$E2E_PROBE_PORT
	build_first "$DIR/first.cpio.gz"
	e2e_run_vm "$LOG" --quiet --kernel "$KDIR/vmlinuz" \
		--initrd "$DIR/first.cpio.gz" --fwd "$port" \
		--append "$E2E_BASE_CMDLINE nk.mode=probe nk.port=$port"
	timing "VM $E2E_VM_SECS s"
	need_clean_end "$LOG" || return 0
	need "agent did not run (exit $(e2e_agent_exit "$LOG"))" \
		[ "$(e2e_agent_exit "$LOG")" = 0 ]
	need "agent printed no version" \
		e2e_has_re <(e2e_agent_output "$LOG") '^nixos-kexec [0-9]'
	need "no reply from the host's loopback server through guestfwd" \
		e2e_has "$LOG" "NK-E2E probe-reply: NK-PROBE pong $nonce"
	need "guest reached the host's server through 10.0.2.2 (restrict=on not effective)" \
		lacks "$LOG" "NK-E2E probe-isolated: no"
	need "first system did not finish" e2e_has "$LOG" "NK-E2E first-system done"
}

scenario_second() {
	local nonce
	nonce=$(e2e_nonce)
	e2e_run_vm "$LOG" --quiet --kernel "$KDIR/vmlinuz" --initrd "$SECOND" \
		--append "$E2E_BASE_CMDLINE nk.nonce=$nonce"
	timing "VM $E2E_VM_SECS s"
	need_clean_end "$LOG" || return 0
	need "no second-system marker" e2e_has "$LOG" "NK-E2E second-system nonce=$nonce"
}

scenario_boot() {
	bundle_prepare
	bundle_serve
	boot_first "$LOG"
	need_clean_end "$LOG" || return 0
	need "no second-system marker with this run's nonce (agent exit $(e2e_agent_exit "$LOG"))" \
		e2e_has "$LOG" "NK-E2E second-system nonce=$NONCE"
	# The handoff: the first system's network and the key given with
	# --ssh-key, as the second system's /init printed them.
	local unit="NK-E2E handoff /nixos-kexec/handoff/network/eth0.network"
	need "handoff: no unit matched by the VM's MAC" e2e_has "$LOG" "$unit: MACAddress=52:54:00:12:34:56"
	need "handoff: static address missing" e2e_has "$LOG" "$unit: Address=10.0.2.15/24"
	need "handoff: extra address missing" e2e_has "$LOG" "$unit: Address=192.0.2.10/24"
	need "handoff: MTU missing" e2e_has "$LOG" "$unit: MTUBytes=1400"
	need "handoff: default route missing" e2e_has "$LOG" "$unit: Gateway=10.0.2.2"
	need "handoff: the --ssh-key key did not arrive" \
		e2e_has "$LOG" "NK-E2E handoff /nixos-kexec/handoff/ssh/authorized_keys: $SSHKEY"
	local nonce
	nonce=$(sed -n 's/.*boot nonce \([0-9a-f]\{32\}\).*/\1/p' "$LOG" | head -n1)
	need "agent printed no boot nonce" [ -n "$nonce" ]
	need "boot.json lacks the nonce the agent printed" \
		e2e_has_re "$LOG" "NK-E2E handoff /nixos-kexec/handoff/boot.json: .*\"$nonce\""
}

# boot --delay: the agent prints its result and exits 0 while the first
# system is still up, then its detached child executes the kexec.
scenario_delay() {
	bundle_prepare
	bundle_serve
	boot_first "$LOG" nk.args=--delay,2 nk.wait=60
	need_clean_end "$LOG" || return 0
	need "agent exit $(e2e_agent_exit "$LOG"), want 0 before the kexec" \
		[ "$(e2e_agent_exit "$LOG")" = 0 ]
	need "kexec_loaded=$(e2e_kexec_loaded "$LOG") while waiting, want 1" \
		[ "$(e2e_kexec_loaded "$LOG")" = 1 ]
	need "agent did not announce the delayed execution" \
		e2e_has_re <(e2e_agent_output "$LOG") "executing in 2 s"
	need "no second-system marker after the delay" \
		e2e_has "$LOG" "NK-E2E second-system nonce=$NONCE"
}

scenario_tampered() {
	local initrd
	bundle_prepare
	initrd=$(e2e_manifest_file "$DIR/bundle" initrd)
	bundle_serve --fault "corrupt:${NK_E2E_CORRUPT_AT:-1000}@$initrd"
	boot_first "$LOG"
	need_clean_end "$LOG" || return 0
	need_agent_result "$LOG" 65
	# Exit 65 covers every rejection; make sure this one is the corruption.
	need "agent output does not blame the initrd's hash" \
		e2e_has_re <(e2e_agent_output "$LOG" | tr 'A-Z' 'a-z') "$initrd.*(sha-?256|hash)"
}

scenario_lockdown() {
	bundle_prepare
	bundle_serve
	boot_first "$LOG" lockdown=integrity
	need_clean_end "$LOG" || return 0
	# Proves the kernel really was locked down, not just that the agent failed.
	need "first kernel not in lockdown=integrity" \
		e2e_has "$LOG" "[integrity]"
	need_agent_result "$LOG" 77
	need "agent output does not mention lockdown" \
		e2e_has_re <(e2e_agent_output "$LOG" | tr 'A-Z' 'a-z') lockdown
}

# boot --delay, then SIGTERM to the detached agent while it waits (a
# shutdown, an operator's kill): it must unload before it dies.
scenario_signal() {
	bundle_prepare
	bundle_serve
	boot_first "$LOG" nk.args=--delay,30 nk.kill=TERM
	need_clean_end "$LOG" || return 0
	need "agent exit $(e2e_agent_exit "$LOG"), want 0 before the kill" \
		[ "$(e2e_agent_exit "$LOG")" = 0 ]
	need "kernel was not loaded while the agent waited" \
		e2e_has "$LOG" "NK-E2E kexec_loaded before kill: 1"
	need "the agent survived SIGTERM" e2e_has "$LOG" "NK-E2E agent alive after kill: no"
	need "kexec_loaded=$(e2e_kexec_loaded "$LOG") after SIGTERM, want 0 (unloaded)" \
		[ "$(e2e_kexec_loaded "$LOG")" = 0 ]
	need "the agent did not say it unloaded (kernel log)" \
		e2e_has_re "$LOG" "NK-E2E kmsg: .*interrupted by a signal before executing; unloading"
	need "second system booted although the run was interrupted" \
		lacks "$LOG" "NK-E2E second-system"
}

# kexec_file_load refused as CentOS 7 refuses an unsigned kernel: the agent
# must load with the static kexec-tools beside it, and say so.
scenario_fallback() {
	bundle_prepare
	e2e_start_stub "$DIR/bundle" "$DIR/ca" "$DIR/stub.log"
	PORT=$E2E_STUB_PORT
	cc -static -O2 -Wall -Wextra -o "$DIR/refuse-file-load" "$HERE/guest/refuse-file-load.c"
	build_first "$DIR/first.cpio.gz" --ca "$DIR/ca/ca.pem" --pub "$DIR/key/nk.pub" \
		--file "$DIR/refuse-file-load:bin/refuse-file-load"
	boot_first "$LOG" nk.wrap=refuse-file-load
	need_clean_end "$LOG" || return 0
	need "the seccomp filter was not installed" \
		e2e_has "$LOG" "NK-E2E refuse-file-load: kexec_file_load now fails with EKEYREJECTED"
	need "agent did not say it loaded with kexec_load because of EKEYREJECTED" \
		e2e_has_re <(e2e_agent_output "$LOG") \
		"loaded with kexec_load by /bin/kexec, because kexec_file_load said EKEYREJECTED"
	need "no second-system marker with this run's nonce (agent exit $(e2e_agent_exit "$LOG"))" \
		e2e_has "$LOG" "NK-E2E second-system nonce=$NONCE"
}

# Boots the first system in "kexec" mode: the harness's own kexec-probe
# loads and executes the kernel and second initrd packed into the first
# initramfs. Extra arguments go on the first kernel's command line.
kexec_probe_run() {
	NONCE=$(e2e_nonce)
	cc -static -O2 -Wall -Wextra -o "$DIR/kexec-probe" "$HERE/guest/kexec-probe.c"
	build_first "$DIR/first.cpio.gz" --file "$DIR/kexec-probe:bin/kexec-probe" \
		--file "$KDIR/vmlinuz:boot/next-kernel" --file "$SECOND:boot/next-initrd"
	e2e_run_vm "$LOG" --quiet --kernel "$KDIR/vmlinuz" --initrd "$DIR/first.cpio.gz" \
		--append "$E2E_BASE_CMDLINE nk.mode=kexec nk.next_nonce=$NONCE $*"
	timing "VM $E2E_VM_SECS s"
}

scenario_kexec() {
	kexec_probe_run
	need_clean_end "$LOG" || return 0
	need "kexec_load refused" e2e_has "$LOG" "NK-E2E kexec-probe kexec_load: ok"
	need "kexec_file_load refused" e2e_has "$LOG" "NK-E2E kexec-probe kexec_file_load: ok"
	need "kexec_loaded was not 1 after the load" e2e_has "$LOG" "NK-E2E kexec_loaded=1"
	need "no second-system marker" e2e_has "$LOG" "NK-E2E second-system nonce=$NONCE"
}

scenario_kexec_lockdown() {
	kexec_probe_run lockdown=integrity
	need_clean_end "$LOG" || return 0
	need "first kernel not in lockdown=integrity" e2e_has "$LOG" "[integrity]"
	need "kexec_load not refused with EPERM" \
		e2e_has "$LOG" "NK-E2E kexec-probe kexec_load: errno=1 "
	need "kexec_file_load not refused with EPERM" \
		e2e_has "$LOG" "NK-E2E kexec-probe kexec_file_load: errno=1 "
	need "kexec_loaded not 0" e2e_has "$LOG" "NK-E2E kexec_loaded=0"
	need "first system did not finish" e2e_has "$LOG" "NK-E2E first-system done"
	need "second system booted" lacks "$LOG" "NK-E2E second-system"
}

# --- bond-dump: bonds, VLANs and bridges carried as .netdev + .network ---

# Writes the "NK-E2E nldump NAME OFFSET HEX" lines of LOG as one file per
# datagram into DIR, checking each against its nldump-end line (length
# and FNV-1a 32), so a line broken by a kernel message is an error.
bond_dump_datagrams() {
	local log=$1 dir=$2
	rm -rf "$dir"
	mkdir -p "$dir"
	perl -e '
		my ($log, $dir) = @ARGV;
		my (%bytes, %end);
		open(my $f, "<", $log) or die "$log: $!\n";
		while (<$f>) {
			if (/^NK-E2E nldump ([a-z]+-\d+) (\d+) ([0-9a-f]+)$/) {
				substr($bytes{$1}, $2, length($3) / 2) = pack("H*", $3)
					if length($bytes{$1} //= "") >= $2;
			} elsif (/^NK-E2E nldump-end ([a-z]+-\d+) (\d+) ([0-9a-f]{8})$/) {
				$end{$1} = [$2, $3];
			}
		}
		die "no datagrams\n" unless %end;
		for my $n (sort keys %end) {
			my $b = $bytes{$n} // "";
			my $h = 2166136261;
			$h = (($h ^ $_) * 16777619) % 4294967296 for unpack("C*", $b);
			die "$n: " . length($b) . " bytes, want $end{$n}[0]\n"
				if length($b) != $end{$n}[0];
			die "$n: checksum differs\n" if sprintf("%08x", $h) ne $end{$n}[1];
			open(my $o, ">", "$dir/$n") or die "$dir/$n: $!\n";
			print $o $b;
			close $o;
		}' "$log" "$dir"
}

# Writes the units the guest printed ("NK-E2E unit PATH: LINE") into DIR.
bond_dump_units() {
	local log=$1 dir=$2
	rm -rf "$dir"
	mkdir -p "$dir"
	perl -e '
		my ($log, $dir) = @ARGV;
		open(my $f, "<", $log) or die "$log: $!\n";
		while (<$f>) {
			next unless m{^NK-E2E unit /run/nk-dump/network/([A-Za-z0-9._-]+): (.*)$};
			open(my $o, ">>", "$dir/$1") or die "$dir/$1: $!\n";
			print $o "$2\n";
			close $o;
		}' "$log" "$dir"
}

scenario_bond_dump() {
	local u="NK-E2E unit /run/nk-dump/network" units=$LOGS/bond-dump.units
	local want got p
	cc -static -O2 -Wall -Wextra -o "$DIR/nl-dump" "$HERE/guest/nl-dump.c"
	build_first "$DIR/first.cpio.gz" --file "$DIR/nl-dump:bin/nl-dump" \
		--file "$HERE/guest/bond-topology:bin/bond-topology"
	want="nk.mode=agent nk.hook=bond-topology nk.args=handoff,--dump,/run/nk-dump"
	e2e_run_vm "$LOG" --quiet --nics 4 --kernel "$KDIR/vmlinuz" \
		--initrd "$DIR/first.cpio.gz" --append "$E2E_BASE_CMDLINE $want"
	timing "VM $E2E_VM_SECS s"
	need_clean_end "$LOG" || return 0
	need "the topology was not built" e2e_has "$LOG" "NK-E2E bond-topology up: eth1 active"
	need "agent exit $(e2e_agent_exit "$LOG"), want 0" [ "$(e2e_agent_exit "$LOG")" = 0 ]
	need "raw rtnetlink dumps incomplete (see $LOGS/bond-dump.nldump.err)" \
		bond_dump_datagrams "$LOG" "$LOGS/bond-dump.nldump" 2>"$LOGS/bond-dump.nldump.err"
	bond_dump_units "$LOG" "$units"
	# The same topology, and nothing else: docker0 has no port, so no unit.
	want="bond0.100.netdev bond0.100.network bond0.200.netdev bond0.200.network"
	want+=" bond0.netdev bond0.network br0.netdev br0.network eth0.network eth1.network"
	want+=" eth2.network eth3.network"
	got=$(cd "$units" && ls | LC_ALL=C sort | tr '\n' ' ')
	need "unit files: got '${got% }', want '$want'" [ "${got% }" = "$want" ]
	need "docker0 not noted as left behind" e2e_has_re <(e2e_agent_output "$LOG") \
		"docker0 \(bridge\): no unit: a bond or bridge without a port"
	# bond0: active-backup, miimon, the MAC it had; ports by permanent MAC.
	need "bond0.netdev: kind" e2e_has "$LOG" "$u/bond0.netdev: Kind=bond"
	need "bond0.netdev: MAC" e2e_has "$LOG" "$u/bond0.netdev: MACAddress=52:54:00:12:34:57"
	need "bond0.netdev: mode" e2e_has "$LOG" "$u/bond0.netdev: Mode=active-backup"
	need "bond0.netdev: miimon" e2e_has "$LOG" "$u/bond0.netdev: MIIMonitorSec=100ms"
	need "eth1 not matched by its permanent MAC" \
		e2e_has "$LOG" "$u/eth1.network: PermanentMACAddress=52:54:00:12:34:57"
	need "eth1 not in bond0" e2e_has "$LOG" "$u/eth1.network: Bond=bond0"
	need "eth1 not the primary" e2e_has "$LOG" "$u/eth1.network: PrimarySlave=yes"
	need "eth2 not matched by its permanent MAC (the bond gave it eth1's)" \
		e2e_has "$LOG" "$u/eth2.network: PermanentMACAddress=52:54:00:12:34:58"
	need "eth2 not in bond0" e2e_has "$LOG" "$u/eth2.network: Bond=bond0"
	need "eth2 is marked primary" lacks "$LOG" "$u/eth2.network: PrimarySlave=yes"
	for p in eth1 eth2 eth3; do
		need "$p matched by name" lacks "$LOG" "$u/$p.network: Name="
	done
	need "bond0 without its VLANs" e2e_has "$LOG" "$u/bond0.network: VLAN=bond0.100"
	need "bond0 without VLAN 200" e2e_has "$LOG" "$u/bond0.network: VLAN=bond0.200"
	need "bond0 not matched by name" e2e_has "$LOG" "$u/bond0.network: Name=bond0"
	# The VLANs: id and protocol; the address and on-link gateway on top.
	need "bond0.100: id" e2e_has "$LOG" "$u/bond0.100.netdev: Id=100"
	need "bond0.100: protocol" e2e_has "$LOG" "$u/bond0.100.netdev: Protocol=802.1q"
	need "bond0.100: kind" e2e_has "$LOG" "$u/bond0.100.netdev: Kind=vlan"
	need "bond0.100: address" e2e_has "$LOG" "$u/bond0.100.network: Address=198.51.100.10/29"
	need "bond0.100: gateway" e2e_has "$LOG" "$u/bond0.100.network: Gateway=198.51.100.1"
	need "bond0.100: gateway not on-link" e2e_has "$LOG" "$u/bond0.100.network: GatewayOnLink=yes"
	need "bond0.100: metric" e2e_has "$LOG" "$u/bond0.100.network: Metric=200"
	need "bond0.200: 802.1ad" e2e_has "$LOG" "$u/bond0.200.netdev: Protocol=802.1ad"
	need "bond0.200: id" e2e_has "$LOG" "$u/bond0.200.netdev: Id=200"
	need "bond0.200: address" e2e_has "$LOG" "$u/bond0.200.network: Address=2001:db8:200::10/64"
	# br0 over eth3, STP off, its address and route.
	need "br0: kind" e2e_has "$LOG" "$u/br0.netdev: Kind=bridge"
	need "br0: MAC" e2e_has "$LOG" "$u/br0.netdev: MACAddress=52:54:00:12:34:59"
	need "br0: STP" e2e_has "$LOG" "$u/br0.netdev: STP=no"
	need "eth3 not a port of br0" e2e_has "$LOG" "$u/eth3.network: Bridge=br0"
	need "eth3 not matched by its permanent MAC" \
		e2e_has "$LOG" "$u/eth3.network: PermanentMACAddress=52:54:00:12:34:59"
	need "br0: address" e2e_has "$LOG" "$u/br0.network: Address=203.0.113.5/24"
	need "br0: route" e2e_has "$LOG" "$u/br0.network: Destination=198.18.0.0/15"
	# eth0 as before.
	need "eth0: MAC" e2e_has "$LOG" "$u/eth0.network: MACAddress=52:54:00:12:34:56"
	need "eth0: address" e2e_has "$LOG" "$u/eth0.network: Address=10.0.2.15/24"
	# The unit tests' fixtures come from one such run; say when they differ.
	if ! diff -r "$HERE/../unit/fixtures/netlink/bond-vlan-bridge/expected" "$units" \
		>"$LOGS/bond-dump.units.diff" 2>&1; then
		echo "bond-dump: units differ from tests/unit/fixtures/netlink/bond-vlan-bridge/expected" \
			"(see $LOGS/bond-dump.units.diff)"
	fi
}

prepare() {
	prepare_kernel
	prepare_second
}

main() {
	e2e_select "$@" || exit 64
	# The one reason to skip: no emulator at all. Everything else the test
	# needs is installed by tools/install-deps.sh test, so its absence is a failure.
	if ! command -v "${NK_QEMU:-qemu-system-x86_64}" >/dev/null; then
		e2e_skip_all "qemu-system-x86_64 not installed (tools/install-deps.sh test)"
	elif [ ! -x "$STATIC/nixos-kexec" ] || [ ! -x "$STATIC/kexec" ]; then
		e2e_fail_all "no static agent and kexec in $STATIC (make static)"
	else
		e2e_workdir
		e2e_run_prepare prepare "KDIR SECOND"
		if [ "$PREPARED" = 1 ]; then
			say "kernel $(cat "$KDIR/package") in $KDIR"
			e2e_run_all
		else
			tail -n 20 "$LOGS/prepare.log" "$LOGS/kernel.log" 2>/dev/null | sed 's/^/  /'
			e2e_fail_all "could not obtain the Debian kernel or build the second initrd (see $LOGS/prepare.log, kernel.log, initramfs.log)"
		fi
	fi
	e2e_summary
}

main "$@"
