# shellcheck shell=bash
# Shared host-side steps of the e2e test and the demo: sourced, not run.
# Callers set B (build directory) and WORK (a scratch directory they remove),
# and call e2e_cleanup from their EXIT trap.
#
# Every server these functions start listens on 127.0.0.1 only; the VM
# reaches it through QEMU's guestfwd (see qemu.sh).

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/integration/ca.sh
. "$E2E_DIR/../integration/ca.sh"
# What the guest sees the host's server as; the certificate names it.
E2E_GUEST_SERVER=10.0.2.100
E2E_BG_PIDS=()

e2e_now() { date +%s.%N; }
# Seconds since a timestamp from e2e_now, one decimal.
e2e_since() {
	awk -v a="$1" -v b="$(e2e_now)" 'BEGIN { printf "%.1f", b - a }'
}

# A random hex string of N bytes (default 8).
e2e_nonce() { od -An -N"${1:-8}" -tx1 /dev/urandom | tr -d ' \n'; }

# Kills the background servers this shell started, by pid.
e2e_cleanup() {
	local p
	for p in "${E2E_BG_PIDS[@]+"${E2E_BG_PIDS[@]}"}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${E2E_BG_PIDS[@]+"${E2E_BG_PIDS[@]}"}"; do
		wait "$p" 2>/dev/null || true
	done
	E2E_BG_PIDS=()
}

# Kills one background server and forgets it.
e2e_stop() {
	local pid=$1 p keep=()
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for p in "${E2E_BG_PIDS[@]+"${E2E_BG_PIDS[@]}"}"; do
		[ "$p" = "$pid" ] || keep+=("$p")
	done
	E2E_BG_PIDS=("${keep[@]+"${keep[@]}"}")
}

# Waits until FILE holds a port number written by background process PID;
# prints the port. Fails if PID dies first or 10 s pass.
e2e_wait_port() {
	local file=$1 pid=$2 i port
	for i in $(seq 100); do
		if [ -s "$file" ]; then
			port=$(tr -dc '0-9' <"$file")
			if [ -n "$port" ]; then
				printf '%s\n' "$port"
				return 0
			fi
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# Makes DIR/ca.pem, DIR/server.pem and DIR/server.key: a throwaway CA and a
# server certificate for IP:10.0.2.100 (it_make_ca, as the integration
# tests make theirs).
e2e_make_ca() {
	it_make_ca "$1" "IP:$E2E_GUEST_SERVER" >/dev/null
}

# Makes a minisign key pair without a password: DIR/nk.pub, DIR/nk.sec.
e2e_make_key() {
	local d=$1
	mkdir -p "$d"
	rm -f "$d/nk.pub" "$d/nk.sec"
	"$B/nixos-kexec" keygen -W -p "$d/nk.pub" -s "$d/nk.sec"
}

# Bundles KERNEL + INITRD with CMDLINE into OUT and signs it with SEC.
# The artifacts are named vmlinuz and initrd in the bundle, whatever the
# inputs are called (the bundle command names them after the input files),
# except that an arm64 kernel it had to unpack becomes Image. NK_E2E_ARCH,
# when set, is the bundle's --arch.
e2e_make_bundle() {
	local kernel=$1 initrd=$2 cmdline=$3 sec=$4 out=$5 tmp
	rm -rf "$out"
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/nk-bundle-in.XXXXXX")
	cp "$kernel" "$tmp/vmlinuz"
	cp "$initrd" "$tmp/initrd"
	"$B/nixos-kexec" bundle --kernel "$tmp/vmlinuz" --initrd "$tmp/initrd" \
		--cmdline "$cmdline" --version 1 ${NK_E2E_ARCH:+--arch "$NK_E2E_ARCH"} \
		-o "$out" || { rm -rf "$tmp"; return 1; }
	rm -rf "$tmp"
	"$B/nixos-kexec" sign -s "$sec" "$out"
}

# The file name the manifest in BUNDLE gives to artifact KEY (kernel, initrd).
e2e_manifest_file() {
	local name
	name=$(awk -v k="$2" '$1 == k { print $2; exit }' "$1/manifest")
	[ -n "$name" ] || { echo "e2e: no '$2' line in $1/manifest" >&2; return 1; }
	printf '%s\n' "$name"
}

# Starts the HTTPS stub on 127.0.0.1 serving ROOT with the certificate from
# e2e_make_ca in CADIR; extra arguments are passed on (--fault ...).
# Sets E2E_STUB_PID and E2E_STUB_PORT; its output goes to LOG, its port
# to LOG.port (beside the log: scenarios running at once share CADIR).
e2e_start_stub() {
	local root=$1 cadir=$2 logf=$3
	shift 3
	local pf="$logf.port"
	rm -f "$pf"
	"$B/nixos-kexec-stub" --root "$root" --cert "$cadir/server.pem" \
		--key "$cadir/server.key" --listen 127.0.0.1:0 --port-file "$pf" \
		"$@" >"$logf" 2>&1 &
	E2E_STUB_PID=$!
	E2E_BG_PIDS+=("$E2E_STUB_PID")
	if ! E2E_STUB_PORT=$(e2e_wait_port "$pf" "$E2E_STUB_PID"); then
		echo "e2e: the stub did not start; its output:" >&2
		sed 's/^/  stub: /' "$logf" >&2
		return 1
	fi
}

# Starts a plain TCP responder on 127.0.0.1: each connection gets one line,
# REPLY. The probe scenario uses it to show the guest reaches the host's
# loopback through guestfwd. Sets E2E_PROBE_PID and E2E_PROBE_PORT.
e2e_start_probe_server() {
	local reply=$1 pf=$2
	rm -f "$pf"
	# perl is essential in Debian (perl-base); python may be absent.
	perl -MIO::Socket::INET -e '
		my ($pf, $reply) = @ARGV;
		my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
			Listen => 8, ReuseAddr => 1, Proto => "tcp") or die "listen: $!\n";
		open(my $f, ">", "$pf.tmp") or die "$pf: $!\n";
		print $f $s->sockport, "\n"; close $f; rename("$pf.tmp", $pf);
		$SIG{PIPE} = "IGNORE";
		while (my $c = $s->accept) {
			my $line = <$c>;
			print $c "$reply\n";
			close $c;
		}' "$pf" "$reply" &
	E2E_PROBE_PID=$!
	E2E_BG_PIDS+=("$E2E_PROBE_PID")
	E2E_PROBE_PORT=$(e2e_wait_port "$pf" "$E2E_PROBE_PID")
}

# Kernel cmdline both systems start from (E2E-NOTES: console and result).
E2E_BASE_CMDLINE="console=ttyS0 panic=-1 loglevel=4"

# --- reading a serial log (CRs already stripped by e2e_run_vm) ---

e2e_has() { grep -aqF -- "$2" "$1"; }
e2e_has_re() { grep -aqE -- "$2" "$1"; }

# The agent's exit code as /init reported it, or "none".
e2e_agent_exit() {
	local v
	v=$(sed -n 's/^NK-E2E agent-exit=\([0-9]*\).*/\1/p' "$1" | tail -n1)
	printf '%s\n' "${v:-none}"
}

e2e_kexec_loaded() {
	local v
	v=$(sed -n 's/^NK-E2E kexec_loaded=\(.*\)$/\1/p' "$1" | tail -n1)
	printf '%s\n' "${v:-none}"
}

# What the agent printed: the lines between /init's agent-run and
# agent-exit markers, kernel messages ("[    1.234] ...") left out.
e2e_agent_output() {
	awk '/^NK-E2E agent-run:/ { on = 1; next }
	     /^NK-E2E agent-exit=/ { on = 0 }
	     on && !/^\[ *[0-9]+\.[0-9]+\]/' "$1"
}

# Runs qemu.sh with LOG and the other arguments; strips the serial
# console's CRs from LOG afterwards. Sets E2E_VM_RC and E2E_VM_SECS.
e2e_run_vm() {
	local logf=$1 t0
	shift
	t0=$(e2e_now)
	E2E_VM_RC=0
	# In the background so a TERM reaches our trap at once (bash defers
	# traps until a foreground child ends); e2e_cleanup then stops qemu.sh,
	# which stops QEMU's whole process group.
	"$E2E_DIR/qemu.sh" --log "$logf" --timeout "${NK_E2E_TIMEOUT:-180}" "$@" &
	local qpid=$!
	E2E_BG_PIDS+=("$qpid")
	wait "$qpid" || E2E_VM_RC=$?
	e2e_stop "$qpid"
	E2E_VM_SECS=$(e2e_since "$t0")
	sed -i 's/\r$//' "$logf"
}
