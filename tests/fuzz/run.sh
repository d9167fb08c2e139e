#!/bin/sh
# Builds every tests/fuzz/fuzz_*.c harness with libFuzzer, ASan and UBSan
# into build/fuzz/ and runs each for FUZZ_SECONDS (default 30), printing
# one line per harness. Exits non-zero if any harness fails to build,
# crashes, leaks, times out or trips a sanitizer.
#
# Per harness fuzz_NAME.c, all optional:
#   tests/fuzz/corpus/fuzz_NAME/   seed inputs (corpus/NAME/ is read too)
#   tests/fuzz/fuzz_NAME.dict      a libFuzzer dictionary
#   tests/fuzz/fuzz_NAME.flags     extra libFuzzer flags, one a line
# New inputs the fuzzer finds go to build/fuzz/corpus/fuzz_NAME/ (kept
# between runs), never into the seed directories; crash inputs to
# build/fuzz/fuzz_NAME-crash-*; the full output to build/fuzz/fuzz_NAME.log.
set -u
cd "$(dirname "$0")/../.." || exit 1

secs=${FUZZ_SECONDS:-30}
out=${FUZZ_OUT:-build/fuzz}
cc=${FUZZ_CC:-clang}
pkgs="libsodium openssl libcurl zlib"
cflags="-Iagent/cli -Iagent/fetch -Iagent/kexec -Iagent/handoff -Iagent/fleet -Iserver-stub -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"

libs=$(pkg-config --libs $pkgs) || { echo "fuzz: pkg-config failed for $pkgs" >&2; exit 1; }
incs=$(pkg-config --cflags $pkgs)
mkdir -p "$out" || exit 1

total=0 failed=0
for src in tests/fuzz/fuzz_*.c; do
	[ -e "$src" ] || { echo "fuzz: no tests/fuzz/fuzz_*.c harnesses" >&2; exit 1; }
	h=$(basename "$src" .c)
	name=${h#fuzz_}
	bin=$out/$h
	log=$out/$h.log
	total=$((total + 1))

	# shellcheck disable=SC2086
	if ! $cc $cflags -D_GNU_SOURCE -Icommon $incs -o "$bin" "$src" common/*.c \
		$libs >"$log" 2>&1; then
		echo "$h: BUILD FAILED (see $log)"
		tail -n 20 "$log"
		failed=$((failed + 1))
		continue
	fi

	work=$out/corpus/$h
	mkdir -p "$work"
	set --
	for d in "tests/fuzz/corpus/$h" "tests/fuzz/corpus/$name"; do
		[ -d "$d" ] && set -- "$@" "$d"
	done
	flags="-max_total_time=$secs -timeout=${FUZZ_TIMEOUT:-10} -print_final_stats=1"
	flags="$flags -artifact_prefix=$out/$h-"
	[ -f "tests/fuzz/$h.dict" ] && flags="$flags -dict=tests/fuzz/$h.dict"
	if [ -f "tests/fuzz/$h.flags" ]; then
		flags="$flags $(grep -v '^[[:space:]]*\(#\|$\)' "tests/fuzz/$h.flags" | tr '\n' ' ')"
	fi

	start=$(date +%s)
	# shellcheck disable=SC2086
	"$bin" $flags "$work" "$@" >>"$log" 2>&1
	rc=$?
	took=$(( $(date +%s) - start ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(sed -n 's/^#[0-9]*.* cov: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
	corp=$(ls "$work" | wc -l)
	if [ $rc -eq 0 ]; then
		echo "$h: ok, ${execs:-?} execs in ${took}s, cov ${cov:-?}, corpus $corp"
	else
		echo "$h: FAILED (exit $rc) after ${execs:-?} execs in ${took}s (see $log)"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|artifact_prefix|Test unit written)' \
			"$log" | head -n 10
		failed=$((failed + 1))
	fi
done
echo "fuzz: $((total - failed))/$total harnesses passed (${secs}s each)"
[ $failed -eq 0 ]
