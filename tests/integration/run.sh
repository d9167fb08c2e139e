#!/usr/bin/env bash
# Runs every integration test script (tests/integration/test_*.sh) and
# prints the totals. Each script prints its own per-case lines and a
# summary "NAME: P passed, F failed, S skipped".
set -u
here=$(cd "$(dirname "$0")" && pwd)
export B=${B:-build}
pass=0 fail=0 skip=0 bad=0
for t in "$here"/test_*.sh; do
	out=$(bash "$t" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	line=$(printf '%s\n' "$out" | grep -E '^[a-z0-9_-]+: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' | tail -n1)
	if [ -z "$line" ]; then
		echo "FAIL: $t printed no summary (exit $rc)"
		bad=$((bad + 1))
		continue
	fi
	set -- $(printf '%s\n' "$line" | sed 's/.*: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped/\1 \2 \3/')
	pass=$((pass + $1)) fail=$((fail + $2)) skip=$((skip + $3))
	[ $rc -eq 0 ] || bad=$((bad + 1))
done
echo "integration: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ] && [ $bad -eq 0 ]
