#!/bin/sh
# Parses every .nix file of the repository with `nix-instantiate --parse`.
# The flake cannot be built on the project's machines (no binary cache, no
# nixpkgs), so CI checks at least that each file is valid Nix. Prints one
# line per file and a total; exits non-zero if any file fails to parse.
set -u

cd "$(dirname "$0")/.." || exit 1

if ! command -v nix-instantiate >/dev/null 2>&1; then
	echo "nixparse: nix-instantiate not found; run tools/install-deps.sh test" \
		"(it installs Debian's nix-bin)" >&2
	exit 1
fi

# Tracked files, plus new ones not yet added; never build/.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	files=$(git ls-files --cached --others --exclude-standard -- '*.nix' | sort -u)
else
	files=$(find . -path ./build -prune -o -name '*.nix' -type f -print | sed 's|^\./||' | sort)
fi
files=$(printf '%s\n' "$files" | grep -v '^build/' | grep -v '^$')

if [ -z "$files" ]; then
	echo "nixparse: no .nix files found" >&2
	exit 1
fi

pass=0 fail=0
err=$(mktemp) || exit 1
trap 'rm -f "$err"' EXIT
for f in $files; do
	[ -f "$f" ] || continue # listed by git but deleted in the work tree
	if nix-instantiate --parse "$f" >/dev/null 2>"$err"; then
		echo "ok    $f"
		pass=$((pass + 1))
	else
		echo "FAIL  $f"
		grep -v "^warning:" "$err" | sed 's/^/      /'
		fail=$((fail + 1))
	fi
done

# Structure, not only syntax (issue 19.12/13): nix/module.nix evaluated
# with stub lib/pkgs/config (tests/nix/module-units.nix) for the scripted
# stage 1, the systemd one, and the systemd one under a mutable and an
# immutable /etc overlay; the handoff unit's rw-etc.service ordering, where
# the machine id goes, and the stage-2 unit's /etc mount dependency must be
# exactly tests/nix/module-units.expected.json. Likewise nix/store.nix
# (issue 22, tests/nix/store-units.nix): where stage 1 puts the store,
# which network each stage 1 uses, the unit's place before the store mount.
for units in tests/nix/module-units.nix tests/nix/store-units.nix; do
	want=$(cat "${units%.nix}.expected.json")
	if got=$(nix-instantiate --eval --strict --json "$units" 2>"$err") && [ "$got" = "$want" ]; then
		echo "ok    $units: units as expected"
		pass=$((pass + 1))
	else
		echo "FAIL  $units: the units differ from ${units%.nix}.expected.json"
		grep -v "^warning:" "$err" | sed 's/^/      /'
		echo "      got:  ${got:-}"
		echo "      want: $want"
		fail=$((fail + 1))
	fi
done

# `nix flake check` evaluates the module with the scripted stage 1, which
# nixpkgs 26.05 deprecates with an evaluation warning (issue 19.13). A
# warning fails the check only when warnings abort evaluation
# (abort-on-warn, NIX_ABORT_ON_WARN): nothing in the flake or CI may ask
# for that.
if grep -n "abort-on-warn\|ABORT_ON_WARN" flake.nix Makefile .ci/* tools/*.sh 2>/dev/null; then
	echo "FAIL  warnings made errors above: the scripted-initrd check would fail on its deprecation warning"
	fail=$((fail + 1))
else
	echo "ok    flake.nix, Makefile, .ci, tools: no abort-on-warn"
	pass=$((pass + 1))
fi

echo "nixparse: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
