#!/usr/bin/env bash
# The README quotes the one-liners the journey test runs, verbatim: every
# line of every one-liner in tests/e2e/journey/oneliners is a line of
# README.md, and README.md shows no other boot.sh one-liner.
set -u
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
src=$top/tests/e2e/journey/oneliners
readme=$top/README.md

# NAME<TAB>LINE for each line of each one-liner (comments before the first
# "=== NAME ===" are the file's own; "#cloud-config" is part of one).
pairs=$(awk '/^=== .* ===$/ { name = $2; next }
	name != "" && $0 != "" { print name "\t" $0 }' "$src")
for name in $(printf '%s\n' "$pairs" | cut -f1 | sort -u); do
	it_case "README quotes the $name one-liner"
	missing=$(printf '%s\n' "$pairs" | awk -F'\t' -v n="$name" '$1 == n { sub(/^[^\t]*\t/, ""); print }' |
		while IFS= read -r line; do grep -qxF -- "$line" "$readme" || printf '%s\n' "$line"; done)
	[ -z "$missing" ] && it_pass || it_fail "README.md lacks: $missing"
done
it_case "README shows no boot.sh one-liner the test does not run"
extra=$(grep -E '^curl .*boot\.sh' "$readme" | while IFS= read -r l; do
	grep -qxF -- "$l" "$src" || printf '%s\n' "$l"; done)
[ -z "$extra" ] && it_pass || it_fail "not in oneliners: $extra"
it_summary
