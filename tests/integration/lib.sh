# shellcheck shell=bash
# lib.sh: shared helpers for the integration tests, the e2e test and the
# benchmark. Source it from bash:  . "$(dirname "$0")/lib.sh"
#
#   it_tmpdir                  IT_TMP=new temp dir (removed at exit unless KEEP=1)
#   it_make_ca DIR [SAN...]    DIR/{ca,server,other-ca}.{pem,key} (EC P-256)
#   it_start_stub DIR ROOT [stub args...]
#                              STUB_PID, STUB_PORT, STUB_URL, STUB_LOG
#   it_stop_stub [PID]         SIGTERM, wait; returns the stub's exit status
#   it_start_nginx DIR ROOT    NGINX_PID, NGINX_PORT, NGINX_URL, NGINX_LOG
#   it_stop_nginx [PID]
#   it_on_exit CMD             run CMD (eval'd) at exit, before the cleanup
#   it_case NAME / it_pass / it_fail MSG / it_skip REASON / it_expect_eq GOT WANT
#   it_summary                 "SUITE: P passed, F failed, S skipped"; 1 if F > 0
#
# Servers listen on 127.0.0.1 only. Every process started here is killed
# and every temp dir removed by the EXIT trap this file installs; a test
# that needs its own exit work uses it_on_exit instead of trap.
#
# Variables read: B (build dir, default build), KEEP=1 (keep temp dirs),
# NGINX (default /usr/sbin/nginx), IT_SUITE (default: script name).
# shellcheck disable=SC2034 # STUB_* and NGINX_* are for the caller

B=${B:-build}
IT_SUITE=${IT_SUITE:-$(basename "$0" .sh)}
IT_START_TIMEOUT_S=10 # for a server's port file or first answer
IT_STOP_TIMEOUT_S=5   # SIGTERM, then SIGKILL

IT_PIDS=()
IT_DIRS=()
IT_EXIT_CMDS=()
IT_PASSED=0
IT_FAILED=0
IT_SKIPPED=0
IT_CASE=
IT_CASE_OPEN=0
IT_SEQ=0

it__log() {
	printf '%s: %s\n' "$IT_SUITE" "$*" >&2
}

# --- cleanup ------------------------------------------------------------

it__kill() { # PID: SIGTERM, wait up to IT_STOP_TIMEOUT_S, then SIGKILL
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return; }
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < IT_STOP_TIMEOUT_S * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

it__forget_pid() {
	local keep=() p
	for p in "${IT_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	IT_PIDS=("${keep[@]}")
}

it__cleanup() {
	local rc=$? c p d
	for c in "${IT_EXIT_CMDS[@]}"; do
		eval "$c" || true
	done
	for p in "${IT_PIDS[@]}"; do
		it__kill "$p"
	done
	for d in "${IT_DIRS[@]}"; do
		if [ "${KEEP:-0}" = 1 ]; then
			it__log "kept $d"
		else
			rm -rf -- "$d"
		fi
	done
	return "$rc"
}

trap it__cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

it_on_exit() {
	IT_EXIT_CMDS+=("$*")
}

it_tmpdir() {
	IT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/nk-it.XXXXXX") || return 1
	IT_DIRS+=("$IT_TMP")
}

# --- certificates: tests/integration/ca.sh (the e2e test uses it too) ---

# shellcheck source=tests/integration/ca.sh
. "$(dirname "${BASH_SOURCE[0]}")/ca.sh"

# --- the stub -----------------------------------------------------------

it__wait_file() { # FILE PID: until FILE is non-empty, PID died, or timeout
	local i
	for ((i = 0; i < IT_START_TIMEOUT_S * 20; i++)); do
		[ -s "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

it_start_stub() { # DIR ROOT [stub args...]
	local dir=$1 root=$2 n pf
	shift 2
	IT_SEQ=$((IT_SEQ + 1))
	n=$IT_SEQ
	pf=$dir/stub.$n.port
	STUB_LOG=$dir/stub.$n.log
	rm -f "$pf"
	"$B/nixos-kexec-stub" --root "$root" --cert "$dir/server.pem" --key "$dir/server.key" \
		--listen 127.0.0.1:0 --port-file "$pf" "$@" >"$dir/stub.$n.out" 2>"$STUB_LOG" &
	STUB_PID=$!
	IT_PIDS+=("$STUB_PID")
	if ! it__wait_file "$pf" "$STUB_PID"; then
		it__log "stub did not start; its log:"
		cat "$STUB_LOG" >&2
		it__kill "$STUB_PID"
		it__forget_pid "$STUB_PID"
		return 1
	fi
	STUB_PORT=$(cat "$pf")
	STUB_URL=https://127.0.0.1:$STUB_PORT
}

it_stop_stub() { # [PID]; returns the stub's exit status (it__kill's wait)
	local pid=${1:-$STUB_PID} rc
	it__kill "$pid"
	rc=$?
	it__forget_pid "$pid"
	return "$rc"
}

# --- nginx --------------------------------------------------------------

it__nginx_conf() { # DIR ROOT PORT (IT_NGINX_LIMIT_RATE: nginx limit_rate per connection)
	local ng=$1/nginx m
	cat <<-EOF
	daemon off;
	worker_processes 1;
	pid $ng/nginx.pid;
	error_log $ng/error.log warn;
	$([ "$(id -u)" = 0 ] && echo "user root;")
	events { worker_connections 256; }
	http {
	    access_log $ng/access.log;
	    client_body_temp_path $ng/tmp/body;
	EOF
	for m in proxy fastcgi uwsgi scgi; do
		"${NGINX:-/usr/sbin/nginx}" -V 2>&1 | grep -q -- "--without-http_${m}_module" ||
			echo "    ${m}_temp_path $ng/tmp/$m;"
	done
	cat <<-EOF
	    default_type application/octet-stream;
	    sendfile on;
	    server {
	        listen 127.0.0.1:$3 ssl;
	        ssl_certificate $1/server.pem;
	        ssl_certificate_key $1/server.key;
	        ssl_protocols TLSv1.2 TLSv1.3;
	        root $2;
	        location / {${IT_NGINX_LIMIT_RATE:+ limit_rate $IT_NGINX_LIMIT_RATE;} }
	    }
	}
	EOF
}

it__nginx_up() { # DIR PORT PID: until it answers over TLS, dies, or timeout
	local i code
	for ((i = 0; i < IT_START_TIMEOUT_S * 10; i++)); do
		kill -0 "$3" 2>/dev/null || return 1
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
			--cacert "$1/ca.pem" "https://127.0.0.1:$2/") || true
		[ "$code" != 000 ] && [ -n "$code" ] && return 0
		sleep 0.1
	done
	return 1
}

# Picks a random high port and lets nginx's own bind be the test; on
# "Address already in use" tries another.
it_start_nginx() { # DIR ROOT
	local dir=$1 root ng=$1/nginx port try
	root=$(cd "$2" && pwd) || return 1
	mkdir -p "$ng/tmp" || return 1
	NGINX_LOG=$ng/error.log
	for try in 1 2 3 4 5 6 7 8; do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		it__nginx_conf "$dir" "$root" "$port" >"$ng/nginx.conf"
		: >"$NGINX_LOG"
		"${NGINX:-/usr/sbin/nginx}" -p "$ng" -e "$NGINX_LOG" -c "$ng/nginx.conf" \
			>"$ng/stdout" 2>&1 &
		NGINX_PID=$!
		IT_PIDS+=("$NGINX_PID")
		if it__nginx_up "$dir" "$port" "$NGINX_PID"; then
			NGINX_PORT=$port
			NGINX_URL=https://127.0.0.1:$port
			return 0
		fi
		it__kill "$NGINX_PID"
		it__forget_pid "$NGINX_PID"
		grep -q 'Address already in use' "$NGINX_LOG" "$ng/stdout" || break
	done
	it__log "nginx did not start (attempt $try); its logs:"
	cat "$NGINX_LOG" "$ng/stdout" >&2
	return 1
}

it_stop_nginx() { # [PID]
	local pid=${1:-$NGINX_PID}
	it__kill "$pid"
	it__forget_pid "$pid"
}

# --- test cases ---------------------------------------------------------

it__close_case() { # a case left without a verdict counts as failed
	if [ "$IT_CASE_OPEN" = 1 ]; then
		IT_CASE_OPEN=0
		IT_FAILED=$((IT_FAILED + 1))
		printf 'FAIL %s: no verdict\n' "$IT_CASE"
	fi
}

it_case() {
	it__close_case
	IT_CASE=$*
	IT_CASE_OPEN=1
}

it_pass() {
	IT_CASE_OPEN=0
	IT_PASSED=$((IT_PASSED + 1))
	printf 'ok   %s\n' "$IT_CASE"
}

it_fail() {
	IT_CASE_OPEN=0
	IT_FAILED=$((IT_FAILED + 1))
	printf 'FAIL %s: %s\n' "$IT_CASE" "$*"
}

it_skip() {
	IT_CASE_OPEN=0
	IT_SKIPPED=$((IT_SKIPPED + 1))
	printf 'skip %s: %s\n' "$IT_CASE" "$*"
}

it_expect_eq() { # GOT WANT: passes or fails the current case
	if [ "$1" = "$2" ]; then
		it_pass
	else
		it_fail "got '$1', want '$2'"
	fi
}

it_summary() {
	it__close_case
	printf '%s: %d passed, %d failed, %d skipped\n' \
		"$IT_SUITE" "$IT_PASSED" "$IT_FAILED" "$IT_SKIPPED"
	[ "$IT_FAILED" -eq 0 ]
}

# it_fakesys SUITE [EXTRA-DIR...]: the setup of the tests that run the agent
# built with its system calls replaced (build/tests/nixos-kexec-fakesys,
# tests/integration/sys_fake.c; this machine's kernel is never touched):
# sets NK, T (a fresh temporary directory with root/, log/, the extra
# directories and a fake /proc and /sys under fake/), a CA for 127.0.0.1,
# an empty default config, a private lock and state directory (STATE,
# never this machine's /var/lib/nixos-kexec; had_state says whether that
# existed before), a process with every capability under sshd, and the
# functions meminfo MIB (what /proc/meminfo says is available), run NAME
# MIB ARGS... (the agent with that much available; sets RC and OUT) and
# expect WANT_RC NEEDLE... (the last run's status and pieces of its output). Returns 1,
# having failed a case and printed the summary, when the agent or cpio is
# missing.
it_fakesys() {
	local suite=$1 d
	shift
	NK=$B/tests/nixos-kexec-fakesys
	export LC_ALL=C
	it_tmpdir; T=$IT_TMP
	if [ ! -x "$NK" ] || ! command -v cpio >/dev/null; then
		it_case "$suite: the fake-syscall agent and cpio exist"
		it_fail "$NK or cpio missing (make $NK)"
		it_summary
		return 1
	fi
	mkdir -p "$T/root" "$T/log" "$T/fake/proc/self" "$T/fake/proc/1" "$T/fake/sys/kernel"
	for d; do mkdir -p "$T/$d"; done
	it_make_ca "$T" "IP:127.0.0.1,DNS:localhost" >/dev/null
	export NIXOS_KEXEC_CONFIG=$T/empty-default-config NIXOS_KEXEC_LOCK=$T/lock
	: >"$NIXOS_KEXEC_CONFIG"
	export NK_FAKE_ROOT=$T/fake NK_FAKE_LOG=$T/loads
	STATE=(--state-dir "$T/state")
	[ -e /var/lib/nixos-kexec ] && had_state=1 || had_state=0
	printf 'Name:\tnixos-kexec\nCapEff:\t000001ffffffffff\n' >"$T/fake/proc/self/status"
	echo sshd >"$T/fake/proc/1/comm"
	echo 1 >"$T/fake/sys/kernel/kexec_loaded"
	meminfo() { # MiB available
		printf 'MemTotal:        1048576 kB\nMemAvailable:    %d kB\n' $(($1 * 1024)) \
			>"$T/fake/proc/meminfo"
	}
	run() { # run NAME MiB ARGS...: the agent with MemAvailable = MiB; RC, OUT set
		local name=$1
		meminfo "$2"
		shift 2
		rm -f "$NK_FAKE_LOG" "$NK_FAKE_LOG".*
		"$NK" "$@" >"$T/log/$name" 2>&1
		RC=$?
		OUT=$T/log/$name
	}
	expect() { # WANT_RC NEEDLE...: the last run's status and pieces of its output
		local want=$1 n
		shift
		if [ "$RC" -ne "$want" ]; then
			it_fail "exit $RC, want $want: $(tail -n 2 "$OUT" | tr '\n' ' ')"
			return 1
		fi
		for n in "$@"; do
			if ! grep -qF -- "$n" "$OUT"; then
				it_fail "output lacks '$n': $(tail -n 3 "$OUT" | tr '\n' ' ')"
				return 1
			fi
		done
	}
}

# it_skip_all REASON CASE...: every CASE skipped for REASON, the summary,
# and the script ends: for a suite whose whole setup is missing here.
it_skip_all() {
	local reason=$1 c
	shift
	for c; do
		it_case "$c"
		it_skip "$reason"
	done
	it_summary
	exit
}
