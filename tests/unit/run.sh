#!/bin/sh
# Runs each cmocka unit test binary (under valgrind when VALGRIND=1) and
# prints the totals. cmocka prints per-test lines; we count binaries and
# cases from its summary lines.
set -u
pass=0 fail=0 cases=0 failed_cases=0 skipped=0
for t in "$@"; do
	if [ "${VALGRIND:-0}" = 1 ]; then
		out=$(valgrind -q --error-exitcode=99 --leak-check=full \
			--errors-for-leak-kinds=definite "$t" 2>&1)
	else
		out=$("$t" 2>&1)
	fi
	rc=$?
	n=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
	k=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | tail -n1)
	printf '%s\n' "$out" | grep '^\[  SKIPPED \] [a-z]' | sed 's/^/  skipped: /'
	skipped=$((skipped + ${k:-0}))
	cases=$((cases + ${n:-0}))
	failed_cases=$((failed_cases + ${f:-0}))
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		printf '%s\n' "$out"
		echo "FAIL: $t (exit $rc)"
	fi
done
mode=unit; [ "${VALGRIND:-0}" = 1 ] && mode="unit under valgrind"
echo "$mode: $cases cases passed, $failed_cases failed, $skipped skipped, in $pass/$((pass + fail)) programs"
[ $fail -eq 0 ]
