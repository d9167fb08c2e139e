#!/usr/bin/env bash
# make release's boot.sh, run the way the README's curl-pipe one-liner runs
# it, against the stub over HTTPS. The agents in this release are stand-in
# scripts that record their arguments: boot.sh's job is to pick, download,
# check and start the right file with the right arguments, and running the
# real agent's boot here would load a kernel on this machine (never done).
#
# nixos-kexec-anywhere-<arch>.tar.gz, unpacked and run the way
# nixos-anywhere's kexec phase runs it: its argument handling and its
# success line with a stand-in agent, its failure path with the real
# agent's refusals (a bundle signed with another key, a source where nothing
# answers), which end before anything is loaded. Its success with the real
# agent is the journey's nixos-anywhere scenario, in a VM.
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

# --- nixos-anywhere's tarball ---

ANY=nixos-kexec-anywhere
SUCCESS='machine will boot into nixos'
# A stand-in agent that writes each argument on a line of its own and exits
# with $T/agent-rc (0 when absent), saying why on stderr as the agent would.
mkdir -p "$T/astatic/$arch"
cat >"$T/astatic/$arch/nixos-kexec" <<EOF
#!/bin/sh
for a in "\$@"; do printf '[%s]\n' "\$a"; done >"$T/args"
rc=\$(cat "$T/agent-rc" 2>/dev/null || echo 0)
[ "\$rc" = 0 ] || echo "nixos-kexec: refused: stand-in says no (\$rc)" >&2
exit "\$rc"
EOF
printf '#!/bin/sh\nexit 0\n' >"$T/astatic/$arch/kexec"
chmod +x "$T/astatic/$arch/nixos-kexec" "$T/astatic/$arch/kexec"
cp -r "$T/static/other-arch" "$T/astatic/"

# nixos-anywhere's kexec phase on this machine, as root (maybeSudo empty):
# HOME=H, the tarball "uploaded" to H/kexec/kexec-tarball.tar.gz, then the
# remote script of src/nixos-anywhere.sh (runKexec), the decompressor
# chosen from the .tar.gz suffix. FLAGS is what `printf '%q'` makes of
# --kexec-extra-flags. Output in H/out, status in H/rc (0 only when the
# success line was seen).
anywhere_phase() {
	local tarball=$1 h=$2 flags=$3
	rm -rf "$h"
	mkdir -p "$h/kexec"
	cat "$tarball" >"$h/kexec/kexec-tarball.tar.gz"
	cat >"$h/kexec/nixos-anywhere-kexec.sh" <<EOF
{
  set -eu
  cd "\$HOME/kexec"
  cat "\$HOME/kexec/kexec-tarball.tar.gz" | tar -xv --gzip
  TMPDIR="\$HOME/kexec" setsid --wait "\$HOME/kexec/kexec/run" --kexec-extra-flags $flags
} 2>&1 | tee "\$HOME/kexec/nixos-anywhere.log" || true
if ! grep -q '$SUCCESS' "\$HOME/kexec/nixos-anywhere.log"; then
  echo 'Kexec may have failed - check output above'
  exit 1
fi
EOF
	HOME=$h bash "$h/kexec/nixos-anywhere-kexec.sh" >"$h/out" 2>&1
	echo $? >"$h/rc"
}
args() { tr '\n' ' ' <"$T/args" 2>/dev/null | sed 's/ $//'; }

it_case "anywhere tarball: per arch, in SHA256SUMS, kexec/{run,nixos-kexec,kexec,nixos-kexec.pub}, URL and key in run"
tools/release.sh --static "$T/astatic" --out "$T/srv/any" --url "$STUB_URL/any" --key "$T/pub" \
	>"$T/any.log" 2>&1
rc=$?
tb=$T/srv/any/$ANY-$arch.tar.gz
list=$(tar -tzf "$tb" 2>/dev/null | sort | tr '\n' ' ')
mkdir -p "$T/any-x"
tar -C "$T/any-x" -xzf "$tb" 2>/dev/null
if [ $rc = 0 ] && [ "$list" = "kexec/ kexec/kexec kexec/nixos-kexec kexec/nixos-kexec.pub kexec/run " ] &&
	[ -f "$T/srv/any/$ANY-other-arch.tar.gz" ] &&
	grep -q " $ANY-$arch.tar.gz\$" "$T/srv/any/SHA256SUMS" &&
	grep -q " $ANY-other-arch.tar.gz\$" "$T/srv/any/SHA256SUMS" &&
	(cd "$T/srv/any" && sha256sum -c --quiet SHA256SUMS) &&
	cmp -s "$T/any-x/kexec/nixos-kexec" "$T/srv/any/bin/nixos-kexec-$arch" &&
	cmp -s "$T/any-x/kexec/kexec" "$T/srv/any/bin/kexec-$arch" &&
	[ "$(tail -n1 "$T/any-x/kexec/nixos-kexec.pub")" = "$key" ] &&
	grep -qxF "source_url='$STUB_URL/any/$arch/'" "$T/any-x/kexec/run" &&
	grep -qxF "key='$key'" "$T/any-x/kexec/run" && head -n1 "$T/any-x/kexec/run" | grep -qx '#!/bin/sh'; then
	it_pass
else
	it_fail "exit $rc, members: $list; $(tail -n2 "$T/any.log" | tr '\n' ' ')"
fi

it_case "anywhere tarball: the same bytes from a second run (its SHA-256 can be published)"
sum1=$(sha256sum <"$tb")
tools/release.sh --static "$T/astatic" --out "$T/srv/any" --url "$STUB_URL/any" --key "$T/pub" >/dev/null 2>&1
it_expect_eq "$(sha256sum <"$tb")" "$sum1"

it_case "anywhere run: shellcheck -s sh finds nothing (POSIX sh)"
if command -v shellcheck >/dev/null; then
	if out=$(shellcheck -s sh "$T/any-x/kexec/run" 2>&1); then
		it_pass
	else
		it_fail "$(printf '%s' "$out" | head -n5 | tr '\n' ' ')"
	fi
else
	it_skip "shellcheck not installed"
fi

it_case "anywhere run: as nixos-anywhere runs it, --kexec-extra-flags '': boot SOURCE -P KEY --delay 5, then the success line"
rm -f "$T/agent-rc" "$T/args"
anywhere_phase "$tb" "$T/h1" "''"
if [ "$(cat "$T/h1/rc")" = 0 ] && grep -q "^$SUCCESS" "$T/h1/out" &&
	[ "$(args)" = "[boot] [$STUB_URL/any/$arch/] [-P] [$key] [--delay] [5]" ]; then
	it_pass
else
	it_fail "phase exit $(cat "$T/h1/rc"), agent args: $(args); $(tail -n2 "$T/h1/out" | tr '\n' ' ')"
fi

it_case "anywhere run: --kexec-extra-flags 'console=ttyS1 nk.x=\"a b\"' reaches the agent as one --append"
rm -f "$T/args"
anywhere_phase "$tb" "$T/h2" "$(printf '%q' 'console=ttyS1 nk.x="a b"')"
it_expect_eq "$(args)" "[boot] [$STUB_URL/any/$arch/] [-P] [$key] [--delay] [5] [--append] [console=ttyS1 nk.x=\"a b\"]"

it_case "anywhere run: the agent refuses (65): run exits 65 with its reason, no success line, the phase fails"
echo 65 >"$T/agent-rc"
mkdir -p "$T/h3x"
tar -C "$T/h3x" -xzf "$tb"
"$T/h3x/kexec/run" --kexec-extra-flags '' >"$T/h3x/out" 2>&1
rc=$?
anywhere_phase "$tb" "$T/h3" "''"
if [ $rc = 65 ] && ! grep -q "$SUCCESS" "$T/h3x/out" "$T/h3/out" &&
	grep -q "^nixos-kexec: refused: stand-in says no" "$T/h3x/out" &&
	grep -q "^run: nixos-kexec exited 65" "$T/h3x/out" && [ "$(cat "$T/h3/rc")" = 1 ] &&
	grep -q "Kexec may have failed" "$T/h3/out"; then
	it_pass
else
	it_fail "run exit $rc, phase exit $(cat "$T/h3/rc"): $(tr '\n' ' ' <"$T/h3x/out")"
fi
rm -f "$T/agent-rc"

it_case "anywhere run: an unknown argument or a missing value is 64, the agent never runs"
rm -f "$T/args"
"$T/h3x/kexec/run" --kexec-extra-flag x >"$T/u1" 2>&1
a=$?
"$T/h3x/kexec/run" --kexec-extra-flags >"$T/u2" 2>&1
b=$?
if [ $a = 64 ] && [ $b = 64 ] && [ ! -e "$T/args" ] && ! grep -q "$SUCCESS" "$T/u1" "$T/u2"; then
	it_pass
else
	it_fail "exits $a/$b, agent ran: $(args)"
fi

it_case "anywhere run: not root is 77, the agent never runs"
rm -f "$T/args"
if command -v setpriv >/dev/null; then
	chmod 0711 "$T"
	chmod -R a+rX "$T/h3x"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$T/h3x/kexec/run" --kexec-extra-flags '' >"$T/u3" 2>&1
	rc=$?
	if [ $rc = 77 ] && [ ! -e "$T/args" ]; then it_pass; else it_fail "exit $rc: $(tail -n1 "$T/u3")"; fi
else
	it_skip "setpriv not installed"
fi

# The real agent's refusals: a bundle signed with another key, and a source
# where nothing answers; nothing it is given could load. Its lock, state
# and CA are in $T (the config file it reads from $NIXOS_KEXEC_CONFIG).
NK=$B/nixos-kexec
mkdir -p "$T/rstatic/$arch" "$T/state" "$T/srv/real"
cp "$NK" "$T/rstatic/$arch/nixos-kexec"
printf '#!/bin/sh\nexit 1\n' >"$T/rstatic/$arch/kexec"
chmod +x "$T/rstatic/$arch/kexec"
printf 'cacert %s\nstate-dir %s\n' "$T/ca.pem" "$T/state" >"$T/nk.cfg"
head -c 4096 /dev/urandom >"$T/k"
head -c 4096 /dev/urandom >"$T/i"
"$NK" bundle --kernel "$T/k" --initrd "$T/i" --cmdline x --version 1 -o "$T/srv/real/$arch" >/dev/null
minisign -G -W -p "$T/other.pub" -s "$T/other.sec" >/dev/null
"$NK" sign -s "$T/other.sec" "$T/srv/real/$arch" >/dev/null
export NIXOS_KEXEC_CONFIG=$T/nk.cfg NIXOS_KEXEC_LOCK=$T/nk.lock
# Where the preflight stops every boot (a container, say), the agent's
# status is that refusal's, which run must pass on just the same.
"$NK" check >"$T/check.out" 2>&1
check_rc=$?

# real_run NAME URL: a release with the real agent for URL, its run run as
# nixos-anywhere runs it, and the agent alone with the same arguments. Sets
# RR_RC (run's status), RR_DIRECT (the agent's), RR_OUT (run's output).
real_run() {
	local name=$1 url=$2
	tools/release.sh --static "$T/rstatic" --out "$T/rel-$name" --url "$url" --key "$T/pub" >/dev/null 2>&1
	mkdir -p "$T/x-$name"
	tar -C "$T/x-$name" -xzf "$T/rel-$name/$ANY-$arch.tar.gz"
	RR_OUT=$T/x-$name/out
	RR_RC=0
	"$T/x-$name/kexec/run" --kexec-extra-flags '' >"$RR_OUT" 2>&1 || RR_RC=$?
	RR_DIRECT=0
	"$NK" boot "$url/$arch/" -P "$key" --delay 5 >"$T/x-$name/direct" 2>&1 || RR_DIRECT=$?
	anywhere_phase "$T/rel-$name/$ANY-$arch.tar.gz" "$T/h-$name" "''"
}
# real_case NAME WANT PATTERN, two cases: run passed on the agent's refusal
# (its status, its reason, no success line, the phase failed); and, where
# the preflight lets the agent fetch, that status is WANT and the reason
# matches PATTERN.
real_case() {
	local name=$1 want=$2 pat=$3
	if [ "$RR_RC" = 0 ] || [ "$RR_RC" != "$RR_DIRECT" ] || grep -q "$SUCCESS" "$RR_OUT" ||
		! grep -q "^run: nixos-kexec exited $RR_RC" "$RR_OUT" || ! grep -q "^nixos-kexec: " "$RR_OUT" ||
		[ "$(cat "$T/h-$name/rc")" = 0 ]; then
		it_fail "run exit $RR_RC, agent alone $RR_DIRECT: $(tr '\n' ' ' <"$RR_OUT" | tail -c 300)"
	else
		it_pass
	fi
	it_case "  ... and that refusal is the agent's $want ($pat)"
	if [ $check_rc != 0 ]; then
		it_skip "the agent's preflight refuses boot on this machine first (exit $RR_RC: $(grep '^nixos-kexec: ' "$RR_OUT" | tail -n1 | cut -c14-90)...), so this runs only outside a container (the journey's nixos-anywhere scenario checks a bad signature in a VM)"
	elif [ "$RR_RC" = "$want" ] && grep -qi "$pat" "$RR_OUT"; then
		it_pass
	else
		it_fail "run exit $RR_RC (want $want, '$pat'): $(tr '\n' ' ' <"$RR_OUT" | tail -c 300)"
	fi
}

it_case "anywhere run, real agent, a bundle signed with another key: its status and reason passed on, no success line"
real_run real "$STUB_URL/real"
real_case real 65 "signature\|signed by key id"

it_case "anywhere run, real agent, a source where nothing answers: its status and reason passed on, no success line"
closed=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1)->sockport')
real_run closed "https://127.0.0.1:$closed/nixos"
real_case closed 69 "connect\|refused\|unavailable"
unset NIXOS_KEXEC_CONFIG NIXOS_KEXEC_LOCK

it_stop_stub >/dev/null
it_summary
