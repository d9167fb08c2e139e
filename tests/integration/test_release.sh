#!/usr/bin/env bash
# make release's boot.sh, run the way the README's curl-pipe one-liner runs
# it, against the stub over HTTPS. The agents in this release are stand-in
# scripts that record their arguments: boot.sh's job is to pick, download,
# check and start the right file with the right arguments, and running the
# real agent's boot here would load a kernel on this machine (never done).
set -u
. "$(dirname "$0")/lib.sh"
it_tmpdir; T=$IT_TMP
it_make_ca "$T" "IP:127.0.0.1" >/dev/null
arch=$(uname -m)
mkdir -p "$T/static/$arch" "$T/static/other-arch"
for d in "$T/static/$arch" "$T/static/other-arch"; do
	printf '#!/bin/sh\necho "agent %s $*" >"%s/ran"\ndirname "$0" >"%s/agent-dir"\n' \
		"${d##*/}" "$T" "$T" >"$d/nixos-kexec"
	printf '#!/bin/sh\nexit 0\n' >"$d/kexec"
done
minisign -G -W -p "$T/pub" -s "$T/sec" >/dev/null
key=$(tail -n1 "$T/pub")
mkdir -p "$T/srv"
it_start_stub "$T" "$T/srv" || exit 1
BASE=$STUB_URL/rel

it_case "release-layout-and-sums"
if tools/release.sh --static "$T/static" --out "$T/srv/rel" --url "$BASE" --key "$T/pub" \
	>"$T/rel.log" 2>&1 && [ -x "$T/srv/rel/bin/nixos-kexec-$arch" ] &&
	[ -x "$T/srv/rel/bin/kexec-$arch" ] && [ -f "$T/srv/rel/bin/kexec-other-arch" ] &&
	(cd "$T/srv/rel" && sha256sum -c --quiet SHA256SUMS) &&
	grep -q ' boot.sh$' "$T/srv/rel/SHA256SUMS"; then
	it_pass
else
	it_fail "$(tail -n3 "$T/rel.log" | tr '\n' ' ')"
fi

# The one-liner, with the test CA for curl and root (the test runs as root).
pipe() { curl -fsSL --cacert "$T/ca.pem" "$BASE/boot.sh" | CURL_CA_BUNDLE=$T/ca.pem sh -s -- "$@"; }

it_case "curl-pipe: the agent for uname -m runs boot with the key, --delay and extra args"
rm -f "$T/ran"
pipe --ssh-key "ssh-ed25519 AAAA x" >"$T/pipe.log" 2>&1
it_expect_eq "$(cat "$T/ran" 2>/dev/null)" "agent $arch boot $BASE/$arch/ -P $key --delay 5 --ssh-key ssh-ed25519 AAAA x"

it_case "curl-pipe: after a 0 the static kexec stays for the detached agent's unload"
d=$(cat "$T/agent-dir" 2>/dev/null)
[ -n "$d" ] && [ -x "$d/kexec" ] && it_pass || it_fail "${d:-no agent dir}: kexec gone"
[ -n "$d" ] && rm -rf "$d"

it_case "curl-pipe: a tampered agent on the server is refused (65), never run"
rm -f "$T/ran"
printf '\n# changed\n' >>"$T/srv/rel/bin/nixos-kexec-$arch"
pipe >"$T/pipe2.log" 2>&1; rc=$?
[ $rc = 65 ] && [ ! -e "$T/ran" ] && grep -q "sha256 .* expected" "$T/pipe2.log" && it_pass ||
	it_fail "exit $rc, ran=$(cat "$T/ran" 2>/dev/null): $(tail -n1 "$T/pipe2.log")"

it_case "curl-pipe: a tampered kexec is refused (65) before the agent runs"
tools/release.sh --static "$T/static" --out "$T/srv/rel" --url "$BASE" --key "$T/pub" >/dev/null
rm -f "$T/ran"
printf '\n' >>"$T/srv/rel/bin/kexec-$arch"
pipe >"$T/pipe3.log" 2>&1; rc=$?
[ $rc = 65 ] && [ ! -e "$T/ran" ] && it_pass || it_fail "exit $rc: $(tail -n1 "$T/pipe3.log")"

# --- issue 19.9-11: the script itself -------------------------------------
tools/release.sh --static "$T/static" --out "$T/srv/rel" --url "$BASE" --key "$T/pub" >/dev/null
B_SH=$T/srv/rel/boot.sh
mkdir -p "$T/fake"
printf '#!/bin/sh\n: >"%s/uname-ran"\nexec /bin/uname "$@"\n' "$T" >"$T/fake/uname"
chmod 755 "$T/fake/uname"
it_case "boot.sh: cut short at any line, it runs nothing"
n=$(wc -l <"$B_SH") bad=""
for k in $(seq 1 $((n - 1))); do
	rm -f "$T/uname-ran"
	head -n "$k" "$B_SH" | PATH=$T/fake:$PATH sh >/dev/null 2>&1
	[ -e "$T/uname-ran" ] && bad="$bad $k"
done
rm -f "$T/uname-ran"
PATH=$T/fake:$PATH sh "$B_SH" --help >/dev/null 2>&1 # the whole script does run
[ -z "$bad" ] && [ -e "$T/uname-ran" ] && it_pass ||
	it_fail "ran after the first line(s)$bad of $n (or not at all whole)"

it_case "boot.sh: every download is bounded (connect, then speed)"
c=$(grep -c '^[[:space:]]*curl -' "$B_SH") b=$(grep -A1 '^[[:space:]]*curl -' "$B_SH" | tr -d '\\\n' |
	grep -o 'curl [^|]*--connect-timeout [0-9]* --speed-limit [0-9]*[[:space:]]*--speed-time [0-9]*' | wc -l)
[ "$c" -ge 1 ] && [ "$b" = "$c" ] && it_pass || it_fail "$b of $c curl calls bounded"

# A download that hangs (a stand-in curl that sleeps), then the signal a
# Ctrl-C, a kill or a closed terminal sends to the whole job.
printf '#!/bin/sh\nwhile [ $# -gt 1 ]; do [ "$1" = -o ] && dirname "$2" >"%s/curl-dir"; shift; done\nexec sleep 30\n' \
	"$T" >"$T/fake/curl"
chmod 755 "$T/fake/curl"
for sig in INT TERM HUP; do
	it_case "boot.sh: SIG$sig during a download leaves no /var/tmp/nixos-kexec-boot.*"
	rm -f "$T/curl-dir"
	set -m
	PATH=$T/fake:$PATH sh "$B_SH" >/dev/null 2>&1 &
	pid=$!
	set +m
	for _ in $(seq 1 50); do [ -s "$T/curl-dir" ] && break; sleep 0.1; done
	kill "-$sig" -- "-$pid" 2>/dev/null
	wait "$pid"; rc=$?
	d=$(cat "$T/curl-dir" 2>/dev/null)
	[ -n "$d" ] && [ ! -e "$d" ] && it_pass || { it_fail "exit $rc, ${d:-no download} left"; rm -rf "$d"; }
done
rm -f "$T/fake/curl"

it_case "curl-pipe: not root is exit 77, nothing downloaded"
tools/release.sh --static "$T/static" --out "$T/srv/rel" --url "$BASE" --key "$T/pub" >/dev/null
rm -f "$T/ran"
if command -v setpriv >/dev/null; then
	curl -fsSL --cacert "$T/ca.pem" "$BASE/boot.sh" |
		setpriv --reuid=65534 --regid=65534 --clear-groups sh >"$T/pipe4.log" 2>&1; rc=$?
	[ $rc = 77 ] && [ ! -e "$T/ran" ] && it_pass || it_fail "exit $rc: $(tail -n1 "$T/pipe4.log")"
else
	it_skip "setpriv not installed"
fi

it_case "release refuses an http:// URL and a key that is not minisign's"
tools/release.sh --static "$T/static" --out "$T/x" --url http://example.org --key "$T/pub" >/dev/null 2>&1; a=$?
tools/release.sh --static "$T/static" --out "$T/x" --url "$BASE" --key "$T/ca.pem" >/dev/null 2>&1; b=$?
[ $a != 0 ] && [ $b != 0 ] && [ ! -e "$T/x" ] && it_pass || it_fail "exits $a/$b"

it_case "--in-place (the Nix publish layout): sums and boot.sh added, the bundle kept"
mkdir -p "$T/site/bin" "$T/site/$arch"
cp "$T/static/$arch/nixos-kexec" "$T/site/bin/nixos-kexec-$arch"
cp "$T/static/$arch/kexec" "$T/site/bin/kexec-$arch"
echo manifest >"$T/site/$arch/manifest"
if tools/release.sh --in-place --out "$T/site" --url "$BASE" --key "$T/pub" >"$T/inplace.log" 2>&1 &&
	[ "$(cat "$T/site/$arch/manifest")" = manifest ] && [ -x "$T/site/boot.sh" ] &&
	grep -q " $arch/manifest\$" "$T/site/SHA256SUMS" && grep -q " bin/kexec-$arch\$" "$T/site/SHA256SUMS" &&
	(cd "$T/site" && sha256sum -c --quiet SHA256SUMS); then
	it_pass
else
	it_fail "$(tail -n2 "$T/inplace.log" | tr '\n' ' ')"
fi

it_stop_stub >/dev/null
it_summary
