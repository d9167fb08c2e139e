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

echo "nixparse: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
