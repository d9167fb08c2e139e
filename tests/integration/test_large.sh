#!/usr/bin/env bash
# A 512 MiB initrd fetched from the stub, which drops the connection ten
# times mid-transfer; the agent must resume each time with Range, continue
# the running hash, and end with exactly the signed bytes.
set -u
. "$(dirname "$0")/lib.sh"
NK=$B/nixos-kexec
SIZE_MIB=${NK_LARGE_MIB:-512}
DROPS=10
it_tmpdir; T=$IT_TMP
it_make_ca "$T" >/dev/null

mkdir -p "$T/root"
minisign -G -W -p "$T/pub" -s "$T/sec" >/dev/null
head -c 1048576 /dev/urandom >"$T/bzImage"
# Random bytes made fast: AES-CTR keystream of a random key (openssl enc).
openssl enc -aes-128-ctr -K "$(openssl rand -hex 16)" -iv 0 -nosalt -in /dev/zero 2>/dev/null |
	head -c $((SIZE_MIB * 1048576)) >"$T/initrd"
"$NK" bundle --kernel "$T/bzImage" --initrd "$T/initrd" --cmdline "console=ttyS0" \
	--version 1 -o "$T/root/b" >/dev/null
minisign -S -s "$T/sec" -m "$T/root/b/manifest" >/dev/null
rm -f "$T/initrd"

# Drop every response to the initrd after 40 MiB of body, ten times.
it_start_stub "$T" "$T/root" --fault "drop:$((40 * 1048576)):$DROPS@initrd"
it_case "fetch-${SIZE_MIB}MiB-interrupted-${DROPS}-times"
start=$(date +%s.%N)
# One stream (--connections 1): the parallel path has its own test.
"$NK" fetch "$STUB_URL/b/" -p "$T/pub" --cacert "$T/ca.pem" -o "$T/out" --connections 1 >"$T/log" 2>&1
rc=$?
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" "BEGIN{print b - a}")
resumes=$(grep -c 'resuming at byte' "$T/log")
if [ $rc -ne 0 ]; then
	it_fail "exit $rc: $(tail -n1 "$T/log")"
elif [ "$resumes" -ne $DROPS ]; then
	it_fail "resumed $resumes times, want $DROPS"
elif ! cmp -s "$T/out/initrd" "$T/root/b/initrd"; then
	it_fail "the fetched initrd differs from the served one"
elif [ "$(sha256sum <"$T/out/initrd" | cut -d' ' -f1)" != "$(sed -n 's/^initrd initrd [0-9]* sha256://p' "$T/root/b/manifest")" ]; then
	it_fail "hash differs from the manifest"
else
	it_pass
	echo "     ($SIZE_MIB MiB, $resumes resumes, $(printf '%.1f' "$secs") s)"
fi
ranges=$(grep -c 'bytes=' "$STUB_LOG" || true)
it_case "stub-saw-${DROPS}-range-requests"
it_expect_eq "$ranges" "$DROPS"
it_summary
