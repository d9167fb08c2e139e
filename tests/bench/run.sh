#!/usr/bin/env bash
# make bench: the time from "run it" to "verified bundle in RAM", the CPU
# and the memory taken on the way, against what a user would otherwise run.
#
#   A   nixos-kexec fetch URL -o DIR     fetch, verify, stage (DIR on tmpfs)
#   A8  the same with --connections 8    the parallel path's cost on a LAN
#   B   curl, the four files into tmpfs  the practical limit
#   C   curl + minisign -Vm + sha256sum -c      the pipeline users run today
#   D   curl + minisign -Vm + openssl dgst -sha256   the same, hashed fast
#
# Random bundles (default 64 and 512 MiB; BENCH_LARGE=1 adds 1024) are
# signed and served by nginx over HTTPS on 127.0.0.1. Each size gets one
# untimed warm-up round, then BENCH_ROUNDS rounds of A A8 B C D; medians
# are reported, with CPU-s per GiB of each and the floor (B's CPU plus one
# SHA-256 pass at the `openssl speed` rate). A measurement, not a test: a
# missed target is printed, never an error; a functional failure (fetch
# refused, wrong bytes) is.
#
# Then a server near by that caps each connection (tests/bench/capped.sh:
# nginx limit_rate on loopback; agent vs curl vs aria2c; BENCH_CAPPED=0
# skips it, BENCH_CAPPED=only runs only it).
#
# WAN=1 adds the emulated long and lossy paths of tests/bench/wan.sh
# (root; agent vs curl vs aria2c; WAN_* knobs there); BENCH_LOOPBACK=0
# skips the loopback part.
#
# Environment: B (build dir), BENCH_ROUNDS (5), BENCH_LARGE (0),
# BENCH_SIZES_MIB (overrides the size list), BENCH_TMPFS (a tmpfs
# directory; default /dev/shm, else one is mounted if root),
# BENCH_OUT (default $B/bench/results.json), KEEP=1 (keep temp dirs).
set -u
# shellcheck disable=SC2034 # read by lib.sh
IT_SUITE=bench
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"

NK=$B/nixos-kexec
ROUNDS=${BENCH_ROUNDS:-5}
SIZES=${BENCH_SIZES_MIB:-"64 512$([ "${BENCH_LARGE:-0}" = 1 ] && echo " 1024")"}
OUT_JSON=${BENCH_OUT:-$B/bench/results.json}
KERNEL_MAX_MIB=16             # a bzImage is 10-15 MiB; the rest is initrd
TARGET_AB=1.05                # A/B at TARGET_AT_MIB
TARGET_AC=0.70                # A/C at TARGET_AT_MIB
TARGET_AD=0.80                # A/D at TARGET_AT_MIB (wall, vs curl + openssl dgst)
TARGET_AT_MIB=512
TARGET_RSS_MIB=16             # peak RSS of A, every size
MEM_SLACK_MIB=512             # free RAM kept beyond what the bench holds
SHMEM_SAMPLE_S=0.01           # /proc/meminfo sampling, diagnostic runs only
FILES="manifest manifest.minisig bzImage initrd"

die() {
	echo "bench: FAILED: $*" >&2
	exit 1
}

note() {
	echo "bench: $*" >&2
}

# --- small numeric helpers (awk: bash has no floating point) ------------

sub_s() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.4f", a / b; else print "null" }'; }
fmt() { [ "$1" = null ] && echo - || awk -v a="$1" -v f="$2" 'BEGIN { printf f, a }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
kib_to_mib() { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1024 }'; }

median() { # VALUES... (none: null)
	[ $# -gt 0 ] || { echo null; return; }
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { if (NR == 0) print "null"; else if (NR % 2) print v[(NR + 1) / 2];
		      else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

max() { printf '%s\n' "$@" | sort -g | tail -n1; }

json_list() { # VALUES... -> [v1,v2,...]
	local IFS=,
	echo "[$*]"
}

json_str() { # STRING -> "escaped"
	printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr -d '\000-\037')"
}

# --- environment ------------------------------------------------------

check_tools() {
	local t
	[ -x "$NK" ] || die "$NK not built (make B=$B all)"
	for t in curl minisign openssl sha256sum nginx:"${NGINX:-/usr/sbin/nginx}" time:/usr/bin/time; do
		command -v "${t#*:}" >/dev/null 2>&1 ||
			die "${t%%:*} missing; run tools/install-deps.sh test (as root)"
	done
	[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS=$ROUNDS: want a positive number"
	[ "$ROUNDS" -ge 5 ] || note "only $ROUNDS rounds: medians of fewer than 5 are noisy"
	for t in $SIZES; do
		if ! [[ $t =~ ^[1-9][0-9]*$ ]] || [ "$t" -lt 4 ]; then
			die "size '$t' MiB: want a number >= 4"
		fi
	done
}

# Everything the bench holds lives on one tmpfs, so no run touches a disk:
# the served bundles, A's output and B's and C's downloads.
pick_tmpfs() { # NEED_MIB -> FS
	local need=$1 d=${BENCH_TMPFS:-/dev/shm}
	if [ "$(stat -f -c %T "$d" 2>/dev/null)" = tmpfs ] && [ -w "$d" ]; then
		FS=$d
	elif [ -n "${BENCH_TMPFS:-}" ]; then
		die "BENCH_TMPFS=$d is not a writable tmpfs directory"
	elif [ "$(id -u)" = 0 ]; then
		FS=$(mktemp -d /tmp/nk-bench-tmpfs.XXXXXX) || die "mktemp"
		note "/dev/shm is not a tmpfs: mounting a ${need} MiB tmpfs on $FS (unmounted at exit)"
		mount -t tmpfs -o "size=${need}m,mode=0700" nk-bench "$FS" || die "mount tmpfs on $FS"
		# Lazy: nginx still holds its logs open when exit hooks run.
		it_on_exit "umount -l '$FS'; rmdir '$FS'"
	else
		die "no tmpfs: /dev/shm is not one; set BENCH_TMPFS=DIR or run as root"
	fi
	local avail_mib
	avail_mib=$(($(df -k --output=avail "$FS" | tail -n1) / 1024))
	[ "$avail_mib" -ge "$need" ] ||
		die "$FS has $avail_mib MiB free, the bench needs $need MiB (try smaller BENCH_SIZES_MIB)"
}

check_memory() { # NEED_MIB
	local avail_mib
	avail_mib=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
	[ "$avail_mib" -ge $(($1 + MEM_SLACK_MIB)) ] ||
		die "MemAvailable is $avail_mib MiB, the bench needs $(($1 + MEM_SLACK_MIB)) MiB"
}

cpu_flags() { # the ones that decide SHA-256 and AES-GCM speed
	local f out=
	for f in sha_ni aes vaes vpclmulqdq avx2 avx512f; do
		grep -qw "$f" /proc/cpuinfo && out="$out $f"
	done
	echo "${out# }"
}

has_flag() { grep -qw "$1" /proc/cpuinfo && echo true || echo false; }

# Percent of all CPUs idle over a second: on 2 cores, anything else
# running (a build, a VM) moves the figures more than the agent does.
idle_pct() {
	local a b
	a=$(head -n1 /proc/stat)
	sleep 1
	b=$(head -n1 /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN { n = split(a, x); split(b, y); t = 0
		for (i = 2; i <= n; i++) t += y[i] - x[i]
		printf "%.0f", (t > 0 ? 100 * (y[5] - x[5] + y[6] - x[6]) / t : 0) }'
}

# Idle before and after the runs; cpu_snapshot covers the rounds.
warn_busy() { # WHEN IDLE_PCT
	[ "$2" -ge 90 ] ||
		note "WARNING: the machine is only $2% idle $1 the runs (something else is busy): figures are noisy"
}

# CPU time others used while we measured: all CPUs' busy time minus what
# our own finished children and nginx's worker used. It counts kernel
# threads too (a few ms); a busy neighbour shows as seconds.
HZ=$(getconf CLK_TCK)
cpu_snapshot() { # -> SNAP="busy_s ours_s wall_s"
	local p nj=0 busy
	times >"$W/times" # a builtin in this shell: children's rusage
	for p in $(pgrep -P "$NGINX_PID"); do
		nj=$((nj + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
	done
	busy=$(awk 'NR == 1 { print $2 + $3 + $4 + $7 + $8 }' /proc/stat)
	SNAP=$(awk -v nj="$nj" -v busy="$busy" -v hz="$HZ" -v now="$EPOCHREALTIME" '
		function s(t) { split(t, a, /[ms]/); return a[1] * 60 + a[2] }
		NR == 2 { printf "%.3f %.3f %.6f", busy / hz, s($1) + s($2) + nj / hz, now }' "$W/times")
}

foreign() { # SNAP_BEFORE SNAP_AFTER -> FOREIGN_S FOREIGN_PCT (of all CPUs)
	read -r FOREIGN_S FOREIGN_PCT < <(awk -v a="$1" -v b="$2" -v n="$(nproc)" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		f = (y[1] - x[1]) - (y[2] - x[2]); if (f < 0) f = 0
		printf "%.2f %.1f\n", f, 100 * f / ((y[3] - x[3]) * n) }')
}

# --- the bundles --------------------------------------------------------

random_file() { # OUT MIB: AES-CTR keystream, far faster than /dev/urandom
	openssl enc -aes-128-ctr -K "$(openssl rand -hex 16)" -iv 0 -nosalt -in /dev/zero \
		2>/dev/null | head -c $(($2 * 1048576)) >"$1"
	[ "$(stat -c %s "$1")" = $(($2 * 1048576)) ] || die "making $2 MiB of random data"
}

make_bundle() { # MIB: $ROOT/s<MIB>/, kernel up to KERNEL_MAX_MIB, initrd the rest
	local mib=$1 k g=$W/gen
	k=$((mib / 4 < KERNEL_MAX_MIB ? mib / 4 : KERNEL_MAX_MIB))
	mkdir -p "$g"
	random_file "$g/bzImage" "$k"
	random_file "$g/initrd" $((mib - k))
	"$NK" bundle --kernel "$g/bzImage" --initrd "$g/initrd" --cmdline "console=ttyS0" \
		--version 1 --name "bench-$mib" -o "$ROOT/s$mib" >"$W/bundle.log" 2>&1 ||
		die "nixos-kexec bundle: $(tail -n1 "$W/bundle.log")"
	minisign -S -s "$T/sec" -m "$ROOT/s$mib/manifest" >"$W/sign.log" 2>&1 ||
		die "minisign -S: $(tail -n1 "$W/sign.log")"
	rm -rf "$g"
	for f in $FILES; do
		[ -f "$ROOT/s$mib/$f" ] || die "bundle s$mib lacks $f"
	done
}

# --- the three contenders ------------------------------------------------

# Every output file must be byte for byte the served one.
same_bytes() { # WHAT DIR BUNDLE (a directory in $ROOT: s64, w512, ...)
	local f n
	n=$(find "$2" -mindepth 1 | wc -l)
	[ "$n" = 4 ] || die "$1: $2 holds $n entries, want the 4 bundle files"
	for f in $FILES; do
		cmp -s "$2/$f" "$ROOT/$3/$f" || die "$1: $f differs from the served bytes"
	done
}

# /usr/bin/time -f '%U %S %M' -o FILE: CPU (user + system) and peak RSS.
# (-o puts "Command exited..." first when it failed: the last line.)
time_of() { # FILE -> CPU RSS
	local u s
	read -r u s RSS < <(tail -n1 "$1")
	CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
}

# CPU of this shell's finished children so far, in seconds: bash's times,
# run in this shell (in a $(...) it would see the subshell's children).
children_cpu() { # -> CHILDREN_CPU
	times >"$W/times.now"
	CHILDREN_CPU=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/)
		printf "%.3f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$W/times.now")
}

# Prefixes each line with the time it arrived. bash reads pipes a byte at
# a time, but fetch prints a few lines a second: the cost is noise.
stamp() {
	local l
	while IFS= read -r l; do
		printf '%s %s\n' "$EPOCHREALTIME" "$l"
	done
}

run_a() { # MIB [AGENT ARGS...] -> SEC CPU RSS PH_MANIFEST PH_ARTIFACTS PH_WRITE
	local mib=$1 out=$D/a t0 t1 rc tm tv
	shift
	rm -rf "$out" "$out".partial-*
	t0=$EPOCHREALTIME
	/usr/bin/time -f '%U %S %M' -o "$W/time" "$NK" fetch "$URL/s$mib/" -p "$T/pub" \
		--cacert "$T/ca.pem" -o "$out" --json "$@" 2>"$W/a.err" | stamp >"$W/a.events"
	rc=${PIPESTATUS[0]}
	t1=$EPOCHREALTIME
	[ "$rc" = 0 ] || die "A: nixos-kexec fetch exited $rc: $(cut -d' ' -f2- "$W/a.events" | cat "$W/a.err" - | tail -n1)"
	same_bytes A "$out" "s$mib"
	# Phases: up to the manifest checked; artifacts downloaded, hashed and
	# staged (O_TMPFILE beside DIR, or memfds); then from the last artifact
	# verified to exit: naming the staged files in DIR (a link, or a copy
	# out of memfds), freeing, exiting.
	tm=$(awk '/"event":"verified","file":"manifest","message":"arch/ { print $1 }' "$W/a.events")
	tv=$(awk '/"event":"verified"/ { t = $1 } END { print t }' "$W/a.events")
	if [ -z "$tm" ] || [ -z "$tv" ]; then
		die "A: no verified events in fetch --json output"
	fi
	SEC=$(sub_s "$t0" "$t1")
	time_of "$W/time"
	PH_MANIFEST=$(sub_s "$t0" "$tm")
	PH_ARTIFACTS=$(sub_s "$tm" "$tv")
	PH_WRITE=$(sub_s "$tv" "$t1")
	# The connections the initrd ended with: par.c's last count, else one
	# (one stream fast enough alone, or handed back to one).
	CONNS=$(sed -n 's/.*"file":"initrd","message":"\([0-9]*\) connections*: [0-9]* ranges split.*/\1/p' \
		"$W/a.events" | tail -n1)
	[ -n "$CONNS" ] || CONNS=1
	rm -rf "$out"
}

# One curl process, the four files in A's order over one connection (curl
# keeps it, as A does).
curl_args() { # MIB DIR -> CURL_ARGS
	local f
	CURL_ARGS=(-sS --fail --cacert "$T/ca.pem")
	for f in $FILES; do
		CURL_ARGS+=(-o "$2/$f" "$URL/s$1/$f")
	done
}

run_b() { # MIB -> SEC CPU RSS
	local mib=$1 out=$D/b t0 t1 rc
	rm -rf "$out" && mkdir "$out"
	curl_args "$mib" "$out"
	t0=$EPOCHREALTIME
	/usr/bin/time -f '%U %S %M' -o "$W/time" curl "${CURL_ARGS[@]}" 2>"$W/b.err"
	rc=$?
	t1=$EPOCHREALTIME
	[ "$rc" = 0 ] || die "B: curl exited $rc: $(tail -n1 "$W/b.err")"
	same_bytes B "$out" "s$mib"
	SEC=$(sub_s "$t0" "$t1")
	time_of "$W/time"
	rm -rf "$out"
}

# What an operator does today, by hand: download, check the signature,
# then every artifact's hash from the signed manifest.
user_pipeline() { # DIR (CURL_ARGS set)
	curl "${CURL_ARGS[@]}" &&
		cd "$1" &&
		minisign -Vm manifest -p "$T/pub" -q &&
		awk '$1 == "kernel" || $1 == "initrd" { sub(/^sha256:/, "", $4); print $4 "  " $2 }' \
			manifest | sha256sum -c --strict --quiet
}

# The same, with OpenSSL's SHA-256 (SHA-NI where the CPU has it) instead
# of coreutils' sha256sum.
user_pipeline_openssl() { # DIR (CURL_ARGS set)
	curl "${CURL_ARGS[@]}" &&
		cd "$1" &&
		minisign -Vm manifest -p "$T/pub" -q &&
		awk '$1 == "kernel" || $1 == "initrd" { sub(/^sha256:/, "", $4); print $4, $2 }' manifest |
		while read -r h f; do
			[ "$(openssl dgst -sha256 -r "$f" | cut -d' ' -f1)" = "$h" ] || exit 1
		done
}

run_pipeline() { # NAME FUNCTION MIB -> SEC CPU
	local out=$D/$1 t0 t1 rc c0 c1
	rm -rf "$out" && mkdir "$out"
	curl_args "$3" "$out"
	children_cpu
	c0=$CHILDREN_CPU
	t0=$EPOCHREALTIME
	("$2" "$out") >"$W/$1.err" 2>&1
	rc=$?
	t1=$EPOCHREALTIME
	children_cpu
	c1=$CHILDREN_CPU
	[ "$rc" = 0 ] || die "$1: the $2 pipeline failed ($rc): $(tail -n1 "$W/$1.err")"
	SEC=$(sub_s "$t0" "$t1")
	CPU=$(sub_s "$c0" "$c1")
	rm -rf "$out"
}

run_c() { run_pipeline C user_pipeline "$1"; }
run_d() { run_pipeline D user_pipeline_openssl "$1"; }

# --- diagnostics (untimed) ------------------------------------------------

shmem_kib() { awk '/^Shmem:/ { print $2 }' /proc/meminfo; }

# Peak tmpfs+memfd pages added while CMD runs: 1x the bundle when staged
# bytes are linked into place, 2x while a staged copy and its written-out
# copy coexist (memfd staging); curl holds only its output.
shmem_peak() { # CMD... -> PEAK_MIB
	local base sp
	base=$(shmem_kib)
	(while :; do shmem_kib; sleep "$SHMEM_SAMPLE_S"; done) >"$W/shmem" &
	sp=$!
	IT_PIDS+=("$sp")
	"$@"
	kill "$sp" 2>/dev/null
	wait "$sp" 2>/dev/null
	PEAK_MIB=$(awk -v b="$base" '$1 > m { m = $1 } END { printf "%.0f", (m - b) / 1024 }' "$W/shmem")
}

rate_of() { # BYTES CMD...: MB/s, the median of three runs
	local i t0 t1 r=()
	for i in 1 2 3; do
		t0=$EPOCHREALTIME
		"${@:2}" || die "calibration: $2 failed"
		t1=$EPOCHREALTIME
		r+=("$(awk -v b="$1" -v s="$(sub_s "$t0" "$t1")" 'BEGIN { printf "%.0f", b / s / 1e6 }')")
	done
	median "${r[@]}"
}

hash_file() { sha256sum "$1" >/dev/null; }
copy_to_tmpfs() { dd if="$1" of="$W/calib" bs=256k status=none && rm -f "$W/calib"; }

calibrate() { # single-core throughputs that bound each contender
	local f bytes
	# shellcheck disable=SC2086 # a list
	f=$ROOT/s$(printf '%s\n' $SIZES | sort -n | head -n1)/initrd
	bytes=$(stat -c %s "$f")
	CAL_SHA_OPENSSL=$(openssl speed -seconds 1 -bytes 16384 -evp sha256 2>/dev/null |
		awk '$1 == "sha256" { sub(/k$/, "", $2); printf "%.0f", $2 / 1000 }')
	CAL_AESGCM=$(openssl speed -seconds 1 -bytes 16384 -evp aes-256-gcm 2>/dev/null |
		awk '$1 == "AES-256-GCM" { sub(/k$/, "", $2); printf "%.0f", $2 / 1000 }')
	CAL_SHA256SUM=$(rate_of "$bytes" hash_file "$f")
	CAL_TMPFS=$(rate_of "$bytes" copy_to_tmpfs "$f")
}

# --- main -----------------------------------------------------------------

# The setup both parts share: a tmpfs, the CA, the key, the bundles.
setup() {
	local extra=0
	total=0
	big=0
	if [ "$LOOPBACK" = 1 ]; then
		for s in $SIZES; do
			total=$((total + s))
			[ "$s" -gt "$big" ] && big=$s
		done
	fi
	# The WAN bundle, and one output of it at a time.
	[ "${WAN:-0}" = 1 ] && extra=$((2 * ${WAN_SIZE:-512}))
	# Served bundles, plus the largest twice: A's staged copy and, where it
	# stages in memfds (no O_TMPFILE), the copy it writes out.
	pick_tmpfs $((total + 2 * big + extra + 64))
	check_memory $((total + 2 * big + extra))

	TMPDIR=$FS it_tmpdir || die "mktemp in $FS"
	T=$IT_TMP
	ROOT=$T/root
	D=$T/dl
	W=$T/work
	mkdir -p "$ROOT" "$D" "$W" "$(dirname "$OUT_JSON")" || die "mkdir"
	note "making the test CA, a signing key and bundles in $T"
	it_make_ca "$T" >/dev/null || die "test CA"
	minisign -G -W -p "$T/pub" -s "$T/sec" >/dev/null 2>&1 || die "minisign -G"
	SRC=$(cd "$(dirname "$0")/../.." && git describe --always --dirty 2>/dev/null || echo unknown)
}

# One round of every loopback contender for size s, into the sample lists.
loopback_round() { # MIB ROUND
	local s=$1 a a8 b c
	run_a "$s"
	SA[$s]+=" $SEC"
	CA_[$s]+=" $CPU"
	RA[$s]+=" $RSS"
	PM[$s]+=" $PH_MANIFEST"
	PA[$s]+=" $PH_ARTIFACTS"
	PW[$s]+=" $PH_WRITE"
	NA[$s]+=" $CONNS"
	a=$SEC
	run_a "$s" --connections 8
	SA8[$s]+=" $SEC"
	CA8[$s]+=" $CPU"
	RA8[$s]+=" $RSS"
	a8=$SEC
	run_b "$s"
	SB[$s]+=" $SEC"
	CB[$s]+=" $CPU"
	RB[$s]+=" $RSS"
	b=$SEC
	run_c "$s"
	SC[$s]+=" $SEC"
	CC_[$s]+=" $CPU"
	c=$SEC
	run_d "$s"
	SD[$s]+=" $SEC"
	CD[$s]+=" $CPU"
	note "$s MiB round $2/$ROUNDS: A $(fmt "$a" %.3f) s, A8 $(fmt "$a8" %.3f) s, B $(fmt "$b" %.3f) s, C $(fmt "$c" %.3f) s, D $(fmt "$SEC" %.3f) s"
}

# shellcheck disable=SC2086 # the sample lists split on purpose
stats() { # MIB: medians, ratios, peaks of one size
	local s=$1
	MA=$(median ${SA[$s]})
	MA8=$(median ${SA8[$s]})
	MB=$(median ${SB[$s]})
	MC=$(median ${SC[$s]})
	MD=$(median ${SD[$s]})
	AB=$(div "$MA" "$MB")
	AC=$(div "$MA" "$MC")
	AD=$(div "$MA" "$MD")
	RSSA=$(max ${RA[$s]})
	RSSA8=$(max ${RA8[$s]})
	RSSB=$(max ${RB[$s]})
	MPM=$(median ${PM[$s]})
	MPA=$(median ${PA[$s]})
	MPW=$(median ${PW[$s]})
	# CPU-s per GiB of payload; the floor: B's CPU and one SHA-256 pass
	# of the bundle at the OpenSSL single-core rate.
	local gib
	gib=$(awk -v m="$s" 'BEGIN { print m / 1024 }')
	GA=$(div "$(median ${CA_[$s]})" "$gib")
	GA8=$(div "$(median ${CA8[$s]})" "$gib")
	GB=$(div "$(median ${CB[$s]})" "$gib")
	GC=$(div "$(median ${CC_[$s]})" "$gib")
	GD=$(div "$(median ${CD[$s]})" "$gib")
	GF=$(awk -v b="$GB" -v r="$CAL_SHA_OPENSSL" 'BEGIN { printf "%.4f", b + 1073741824 / (r * 1e6) }')
}

loopback_bench() {
	local s r
	for s in $SIZES; do
		make_bundle "$s"
	done
	it_start_nginx "$T" "$ROOT" >/dev/null || die "nginx did not start"
	URL=$NGINX_URL

	# What A and B negotiate: both use this machine's libcurl and OpenSSL with
	# default options, so curl -v tells for both.
	hs=$(curl -sS -v --cacert "$T/ca.pem" -o /dev/null "$URL/s$big/manifest" 2>&1)
	TLS=$(printf '%s\n' "$hs" | sed -n 's/^\* SSL connection using //p' | head -n1)
	HTTPV=$(curl -sS --cacert "$T/ca.pem" -o /dev/null -w '%{http_version}' "$URL/s$big/manifest")
	note "nginx at $URL: HTTP/$HTTPV, $TLS; $ROUNDS rounds per size after one warm-up"

	calibrate
	IDLE_BEFORE=$(idle_pct)
	warn_busy before "$IDLE_BEFORE"

	for s in $SIZES; do
		note "$s MiB: warm-up round"
		run_a "$s"
		run_a "$s" --connections 8
		run_b "$s"
		run_c "$s"
		run_d "$s"
		cpu_snapshot
		snap0=$SNAP
		for ((r = 1; r <= ROUNDS; r++)); do
			loopback_round "$s" "$r"
		done
		cpu_snapshot
		foreign "$snap0" "$SNAP"
		FS_S[$s]=$FOREIGN_S
		FS_P[$s]=$FOREIGN_PCT
		awk -v p="$FOREIGN_PCT" 'BEGIN { exit !(p > 5) }' &&
			note "WARNING: other processes used $FOREIGN_S CPU-s ($FOREIGN_PCT% of the machine) during the $s MiB rounds: figures are noisy"
		shmem_peak run_a "$s"
		TPA[$s]=$PEAK_MIB
		shmem_peak run_b "$s"
		TPB[$s]=$PEAK_MIB
	done

	IDLE_AFTER=$(idle_pct)
	warn_busy after "$IDLE_AFTER"
	loopback_report
	it_stop_nginx
}

loopback_report() {
	local s sep small ga gb gc mra mrb mrc bytes tab tac tad gaf rss_all
	CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	OSSL=$(openssl version | head -n1)
	CURLV=$(curl --version | head -n1)
	NGINXV=$("${NGINX:-/usr/sbin/nginx}" -v 2>&1 | sed 's/^nginx version: //')
	VIRT="vm $(systemd-detect-virt --vm 2>/dev/null || echo unknown), container $(systemd-detect-virt --container 2>/dev/null || echo unknown)"
	# Free page reporting hands freed guest pages back to the host: a fresh
	# tmpfs page then costs a host fault, so allocation-heavy runs vary.
	BALLOON=false
	compgen -G '/sys/bus/virtio/drivers/virtio_balloon/virtio*' >/dev/null && BALLOON=true
	MEMT=$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)

	echo
	echo "nixos-kexec bench, $(date -u +%Y-%m-%dT%H:%M:%SZ), source $SRC"
	echo "machine: $CPU_MODEL, $(nproc) cores, ${MEMT} GiB, Linux $(uname -r), $VIRT$( [ "$BALLOON" = true ] && echo ", virtio-balloon"); flags: $(cpu_flags)"
	echo "idle before the runs: $IDLE_BEFORE%, after: $IDLE_AFTER%; CPU used by other processes during the rounds:$(
		for s in $SIZES; do printf ' %s MiB %s s (%s%%)' "$s" "${FS_S[$s]}" "${FS_P[$s]}"; done)"
	echo "$OSSL; $CURLV; nginx $NGINXV (1 worker) HTTP/$HTTPV $TLS on 127.0.0.1; tmpfs $FS"
	echo "single core: sha256 $CAL_SHA_OPENSSL MB/s (OpenSSL), $CAL_SHA256SUM MB/s (sha256sum);" \
		"aes-256-gcm $CAL_AESGCM MB/s; tmpfs copy $CAL_TMPFS MB/s"
	echo "medians of $ROUNDS rounds (A A8 B C D alternating, one warm-up round untimed)"
	echo
	printf '%7s | %7s | %7s | %7s | %7s | %7s | %5s | %5s | %5s | %9s | %9s | %9s\n' size "A s" "A8 s" \
		"B s" "C s" "D s" A/B A/C A/D "RSS A" "RSS A8" "RSS curl"
	for s in $SIZES; do
		stats "$s"
		printf '%4sMiB | %7.3f | %7.3f | %7.3f | %7.3f | %7.3f | %5.2f | %5.2f | %5.2f | %5.1f MiB | %5.1f MiB | %5.1f MiB\n' \
			"$s" "$MA" "$MA8" "$MB" "$MC" "$MD" "$AB" "$AC" "$AD" "$(kib_to_mib "$RSSA")" \
			"$(kib_to_mib "$RSSA8")" "$(kib_to_mib "$RSSB")"
	done
	echo
	echo "CPU-s per GiB (user + system, medians; floor: B + one SHA-256 pass at $CAL_SHA_OPENSSL MB/s):"
	printf '%7s | %6s | %6s | %6s | %6s | %6s | %6s\n' size A A8 B C D floor
	for s in $SIZES; do
		stats "$s"
		printf '%4sMiB | %6.2f | %6.2f | %6.2f | %6.2f | %6.2f | %6.2f\n' "$s" "$GA" "$GA8" "$GB" "$GC" "$GD" "$GF"
	done
	echo
	echo "A's phases (medians, s) and tmpfs+memfd pages held at the peak:"
	printf '%7s | %8s | %9s | %9s | %11s | %10s\n' size manifest artifacts write-out "tmpfs A" "tmpfs curl"
	for s in $SIZES; do
		stats "$s"
		printf '%4sMiB | %8.3f | %9.3f | %9.3f | %7s MiB | %6s MiB\n' \
			"$s" "$MPM" "$MPA" "$MPW" "${TPA[$s]}" "${TPB[$s]}"
	done
	echo "  (artifacts: download, hash, stage, until the last is verified; write-out: naming them in DIR, exit)"
	for s in $SIZES; do
		echo "A's connections for the initrd at $s MiB, each round:${NA[$s]}"
	done

	# Growth from the smallest size: the time ratio, and the marginal rate
	# (extra bytes over extra seconds), which fixed costs do not blur.
	# shellcheck disable=SC2086 # a list
	small=$(printf '%s\n' $SIZES | sort -n | head -n1)
	stats "$small"
	GA0=$MA GB0=$MB GC0=$MC
	growth_json=
	echo
	for s in $SIZES; do
		[ "$s" = "$small" ] && continue
		stats "$s"
		ga=$(div "$MA" "$GA0") gb=$(div "$MB" "$GB0") gc=$(div "$MC" "$GC0")
		mra=$(awk -v d=$((s - small)) -v t="$(sub_s "$GA0" "$MA")" 'BEGIN { printf "%.0f", d / t }')
		mrb=$(awk -v d=$((s - small)) -v t="$(sub_s "$GB0" "$MB")" 'BEGIN { printf "%.0f", d / t }')
		mrc=$(awk -v d=$((s - small)) -v t="$(sub_s "$GC0" "$MC")" 'BEGIN { printf "%.0f", d / t }')
		echo "growth ${small}->${s} MiB (x$(div "$s" "$small" | awk '{ printf "%g", $1 }') bytes):" \
			"A x$(fmt "$ga" %.2f), B x$(fmt "$gb" %.2f), C x$(fmt "$gc" %.2f);" \
			"marginal MiB/s: A $mra, B $mrb, C $mrc"
		growth_json+="${growth_json:+,}{\"from_mib\":$small,\"to_mib\":$s,\"time_ratio\":{\"A\":$ga,\"B\":$gb,\"C\":$gc},\"marginal_mib_per_s\":{\"A\":$mra,\"B\":$mrb,\"C\":$mrc}}"
	done

	# Where A's extra time goes at the largest size, from its phases and the
	# single-core calibration: the write-out, and the SHA-256 done beside the
	# receive path; C's extra is mostly sha256sum's second pass.
	stats "$big"
	bytes=$((big * 1048576))
	awk -v s="$big" -v a="$MA" -v b="$MB" -v c="$MC" -v w="$MPW" -v n="$bytes" \
		-v ho="$CAL_SHA_OPENSSL" -v hs="$CAL_SHA256SUM" 'BEGIN {
		h = n / ho / 1e6; g = n / hs / 1e6
		printf "at %d MiB, A - B = %.3f s: write-out %.3f s + SHA-256 CPU ~%.3f s (at %d MB/s) + rest, noise %.3f s\n",
			s, a - b, w, h, ho, a - b - w - h
		printf "           C - B = %.3f s: sha256sum pass ~%.3f s (at %d MB/s) + minisign, rest, noise %.3f s\n",
			c - b, g, hs, c - b - g }'

	TARGETS_JSON=
	tab=null tac=null tad=null gaf=null
	if [ -n "${SA[$TARGET_AT_MIB]:-}" ]; then
		stats "$TARGET_AT_MIB"
		tab=$AB tac=$AC tad=$AD
		gaf=$(div "$GA" "$GF")
	fi
	rss_all=0
	for s in $SIZES; do
		stats "$s"
		[ "$RSSA" -gt "$rss_all" ] && rss_all=$RSSA
		[ "$RSSA8" -gt "$rss_all" ] && rss_all=$RSSA8
	done
	echo
	target "A/B <= $TARGET_AB at $TARGET_AT_MIB MiB" "$tab" "$TARGET_AB" ""
	target "A/C <= $TARGET_AC at $TARGET_AT_MIB MiB" "$tac" "$TARGET_AC" ""
	target "A/D <= $TARGET_AD at $TARGET_AT_MIB MiB (wall vs curl + minisign + openssl dgst)" "$tad" "$TARGET_AD" ""
	target "A's CPU-s per GiB / the floor <= 1.00 at $TARGET_AT_MIB MiB" "$gaf" 1.00 ""
	target "peak RSS of A and A8 <= $TARGET_RSS_MIB MiB at every size" "$(kib_to_mib "$rss_all")" "$TARGET_RSS_MIB" " MiB"
	loopback_json
}

# Targets. A miss is a finding, not a failure.
target() { # NAME VALUE LIMIT UNIT -> line, and TARGETS_JSON
	local verdict=missed met=false
	if [ "$2" = null ]; then
		verdict="not measured (no $TARGET_AT_MIB MiB size)"
		met=null
	elif le "$2" "$3"; then
		verdict=met
		met=true
	fi
	echo "$1: $( [ "$2" = null ] || fmt "$2" "%.2f$4") $verdict"
	TARGETS_JSON+="${TARGETS_JSON:+,}{\"target\":$(json_str "$1"),\"value\":$2,\"limit\":$3,\"met\":$met}"
}

# --- JSON -------------------------------------------------------------------

loopback_json() {
	local s sep
	{
		printf '{"schema":"nixos-kexec-bench/2","date":%s,"source":%s,"rounds":%d,"warmup_rounds":1,' \
			"$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" "$(json_str "$SRC")" "$ROUNDS"
		printf '"machine":{"cpu":%s,"nproc":%d,"mem_gib":%s,"kernel":%s,"virt":%s,"virtio_balloon":%s,"idle_pct_before":%s,"idle_pct_after":%s,' \
			"$(json_str "$CPU_MODEL")" "$(nproc)" "$MEMT" "$(json_str "$(uname -r)")" "$(json_str "$VIRT")" \
			"$BALLOON" "$IDLE_BEFORE" "$IDLE_AFTER"
		printf '"sha_ni":%s,"aes_ni":%s,"vaes":%s,"avx2":%s,"flags":%s,' \
			"$(has_flag sha_ni)" "$(has_flag aes)" "$(has_flag vaes)" "$(has_flag avx2)" "$(json_str "$(cpu_flags)")"
		printf '"openssl":%s,"curl":%s,"nginx":%s,"agent":%s},' "$(json_str "$OSSL")" "$(json_str "$CURLV")" \
			"$(json_str "$NGINXV")" "$(json_str "$("$NK" --version 2>&1 | head -n1)")"
		printf '"setup":{"server":"nginx, 1 worker, config in a temp dir","listen":"127.0.0.1",'
		printf '"http_version":%s,"tls":%s,"tmpfs":%s,"kernel_max_mib":%d,' \
			"$(json_str "$HTTPV")" "$(json_str "$TLS")" "$(json_str "$FS")" "$KERNEL_MAX_MIB"
		printf '"A":%s,"A8":%s,"B":%s,"C":%s,"D":%s,"floor":%s},' \
			"$(json_str "nixos-kexec fetch URL -p pub --cacert ca.pem -o TMPFS/a --json")" \
			"$(json_str "A with --connections 8")" \
			"$(json_str "curl -sS --fail --cacert ca.pem -o F URL/F (4 files, 1 process, 1 connection)")" \
			"$(json_str "B, then minisign -Vm manifest -p pub, then sha256sum -c of the manifest's hashes")" \
			"$(json_str "B, then minisign -Vm manifest -p pub, then openssl dgst -sha256 of each artifact")" \
			"$(json_str "B's CPU plus one SHA-256 pass at the openssl speed rate")"
		printf '"calibration_mb_per_s":{"sha256_openssl":%s,"sha256sum":%s,"aes_256_gcm":%s,"tmpfs_copy":%s},' \
			"${CAL_SHA_OPENSSL:-null}" "${CAL_SHA256SUM:-null}" "${CAL_AESGCM:-null}" "${CAL_TMPFS:-null}"
		printf '"sizes":['
		sep=
		for s in $SIZES; do
			stats "$s"
			# shellcheck disable=SC2086
			printf '%s{"mib":%d,"bytes":%d,"median_s":{"A":%s,"A8":%s,"B":%s,"C":%s,"D":%s},"ratio":{"A_B":%s,"A_C":%s,"A_D":%s},' \
				"$sep" "$s" $((s * 1048576)) "$MA" "$MA8" "$MB" "$MC" "$MD" "$AB" "$AC" "$AD"
			# shellcheck disable=SC2086
			printf '"samples_s":{"A":%s,"A8":%s,"B":%s,"C":%s,"D":%s},' \
				"$(json_list ${SA[$s]})" "$(json_list ${SA8[$s]})" "$(json_list ${SB[$s]})" \
				"$(json_list ${SC[$s]})" "$(json_list ${SD[$s]})"
			printf '"cpu_s_per_gib":{"A":%s,"A8":%s,"B":%s,"C":%s,"D":%s,"floor":%s},' \
				"$GA" "$GA8" "$GB" "$GC" "$GD" "$GF"
			# shellcheck disable=SC2086
			printf '"cpu_samples_s":{"A":%s,"A8":%s,"B":%s,"C":%s,"D":%s},' \
				"$(json_list ${CA_[$s]})" "$(json_list ${CA8[$s]})" "$(json_list ${CB[$s]})" \
				"$(json_list ${CC_[$s]})" "$(json_list ${CD[$s]})"
			# shellcheck disable=SC2086
			printf '"rss_kib":{"A_peak":%s,"A":%s,"A8_peak":%s,"A8":%s,"curl_peak":%s,"curl":%s},' \
				"$RSSA" "$(json_list ${RA[$s]})" "$RSSA8" "$(json_list ${RA8[$s]})" "$RSSB" "$(json_list ${RB[$s]})"
			# shellcheck disable=SC2086
			printf '"a_phases_median_s":{"manifest":%s,"artifacts":%s,"write_out":%s},' "$MPM" "$MPA" "$MPW"
			# shellcheck disable=SC2086
			printf '"a_phases_s":{"manifest":%s,"artifacts":%s,"write_out":%s},' \
				"$(json_list ${PM[$s]})" "$(json_list ${PA[$s]})" "$(json_list ${PW[$s]})"
			printf '"tmpfs_peak_mib":{"A":%s,"B":%s},' "${TPA[$s]}" "${TPB[$s]}"
			# shellcheck disable=SC2086
			printf '"a_connections":%s,' "$(json_list ${NA[$s]})"
			printf '"other_cpu_during_rounds":{"cpu_s":%s,"pct_of_machine":%s}}' "${FS_S[$s]}" "${FS_P[$s]}"
			sep=,
		done
		printf '],"growth":[%s],"targets":[%s]}\n' "$growth_json" "$TARGETS_JSON"
	} >"$OUT_JSON.tmp" || die "writing $OUT_JSON.tmp"
	mv "$OUT_JSON.tmp" "$OUT_JSON" || die "writing $OUT_JSON"
	echo
	echo "results: $OUT_JSON"
}

LOOPBACK=${BENCH_LOOPBACK:-1}
[ "$LOOPBACK" = 1 ] || [ "${WAN:-0}" = 1 ] || die "BENCH_LOOPBACK=0 without WAN=1: nothing to do"
check_tools
declare -A SA SA8 SB SC SD CA_ CA8 CB CC_ CD RA RA8 RB PM PA PW TPA TPB FS_S FS_P NA
setup
[ "$LOOPBACK" = 1 ] && [ "${BENCH_CAPPED:-1}" != only ] && loopback_bench
if [ "$LOOPBACK" = 1 ] && [ "${BENCH_CAPPED:-1}" != 0 ]; then
	# shellcheck source=tests/bench/capped.sh
	. "$(dirname "$0")/capped.sh"
	capped_bench
fi
if [ "${WAN:-0}" = 1 ]; then
	# shellcheck source=tests/bench/wan.sh
	. "$(dirname "$0")/wan.sh"
	wan_bench
fi
