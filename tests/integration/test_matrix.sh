#!/usr/bin/env bash
# The bad-input matrix: the agent against the stub and against nginx over
# real HTTPS with a CA made for the run. Bundles are made with
# `nixos-kexec bundle` and signed with Debian's `minisign -Sm`. Each case
# is one line: expected exit status, a piece of the expected message, and
# the fetch arguments; every case also checks that the output directory
# holds nothing after a refusal (and the exact bundle after success).
set -u
. "$(dirname "$0")/lib.sh"
NK=${B:-build}/nixos-kexec
it_tmpdir; T=$IT_TMP
ROOT=$T/root
mkdir -p "$ROOT"
it_make_ca "$T" "IP:127.0.0.1,DNS:localhost" >/dev/null

# --- fixtures -------------------------------------------------------------
minisign -G -W -p "$T/pub" -s "$T/sec" >/dev/null
minisign -G -W -p "$T/other.pub" -s "$T/other.sec" >/dev/null
head -c 65536 /dev/urandom >"$T/bzImage"
# The arm64 Image magic at 0x38, so that bundle --arch aarch64 (the wrong-arch
# case here, or the good bundle under qemu-aarch64) takes it as a raw Image;
# an x86_64 bundle does not look inside its kernel.
printf 'ARM\144' | dd of="$T/bzImage" bs=1 seek=56 conv=notrunc status=none
head -c 1048576 /dev/urandom >"$T/initrd"

sign() { minisign -S -s "$T/sec" -m "$1/manifest" >/dev/null; }
mk() { # mk NAME [bundle options]: a signed bundle in ROOT/NAME
	local name=$1; shift
	"$NK" bundle --kernel "$T/bzImage" --initrd "$T/initrd" \
		--cmdline "console=ttyS0 panic=30" --version 100 "$@" -o "$ROOT/$name" >/dev/null
	sign "$ROOT/$name"
}
variant() { # variant NAME: a copy of the good bundle to spoil
	cp -r "$ROOT/good" "$ROOT/$1"
}
flip() { # flip FILE OFFSET: xor one byte with 1
	local f=$1 off=$2 b
	b=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$f" bs=1 seek="$off" conv=notrunc 2>/dev/null
}
edit_manifest() { # edit_manifest NAME SED-EXPR: change the manifest, re-sign it
	variant "$1"
	sed -i "$2" "$ROOT/$1/manifest"
	sign "$ROOT/$1"
}
raw_manifest() { # raw_manifest NAME: replace the manifest with stdin, re-sign it
	variant "$1"
	cat >"$ROOT/$1/manifest"
	sign "$ROOT/$1"
}

mk good
hdr=$(sed -n '1,6p' "$ROOT/good/manifest")
kline=$(grep '^kernel ' "$ROOT/good/manifest")
iline=$(grep '^initrd ' "$ROOT/good/manifest")
cline=$(grep '^cmdline ' "$ROOT/good/manifest")
now=$(date +%s)

variant kbyte; flip "$ROOT/kbyte/bzImage" 4000
variant ibyte; flip "$ROOT/ibyte/initrd" 1048575
variant itrunc; truncate -s 1048575 "$ROOT/itrunc/initrd"
variant iext; printf x >>"$ROOT/iext/initrd"
variant mbyte; flip "$ROOT/mbyte/manifest" 40
variant sigbyte; flip "$ROOT/sigbyte/manifest.minisig" "$(( $(sed -n 1p "$ROOT/good/manifest.minisig" | wc -c) + 20 ))"
variant tcbyte; sed -i '3s/timestamp/timestamq/' "$ROOT/tcbyte/manifest.minisig"
variant gsig; flip "$ROOT/gsig/manifest.minisig" "$(( $(sed -n 1,3p "$ROOT/good/manifest.minisig" | wc -c) + 10 ))"
variant nosig; rm "$ROOT/nosig/manifest.minisig"
variant legacy; minisign -S -l -s "$T/sec" -m "$ROOT/legacy/manifest" >/dev/null
swapped=$(sed "s/^kernel \(.*\) sha256:\(.*\)$/kernel \1 sha256:KH/; s/^initrd \(.*\) sha256:\(.*\)$/initrd \1 sha256:IH/" "$ROOT/good/manifest")
kh=$(sed -n 's/^kernel .* sha256://p' "$ROOT/good/manifest"); ih=$(sed -n 's/^initrd .* sha256://p' "$ROOT/good/manifest")
printf '%s\n' "$swapped" | sed "s/sha256:KH/sha256:$ih/; s/sha256:IH/sha256:$kh/" | raw_manifest swapped
edit_manifest unknown '$a extra 1'
edit_manifest repeated '2p'
edit_manifest missing '/^arch /d'
printf '%s\r\n%s\n%s\n%s\n' "$hdr" "$kline" "$iline" "$cline" | raw_manifest cr
printf '%s\n%s\n%s\n%s\0\n' "$hdr" "$kline" "$iline" "$cline" | raw_manifest nul
printf '%s\n%s\n%s\ncmdline %s\n' "$hdr" "$kline" "$iline" "$(head -c 5000 /dev/zero | tr '\0' a)" | raw_manifest longline
variant oversize; head -c 70000 /dev/zero | tr '\0' '#' >>"$ROOT/oversize/manifest"; sign "$ROOT/oversize"
mk expired --issued $((now - 1000)) --expires-in 10
# wrong arch: any arch but the agent's own (its uname -m, which is what it
# put in the good bundle; under qemu-user that is the emulated machine's)
own_arch=$(sed -n 's/^arch //p' "$ROOT/good/manifest")
case $own_arch in aarch64) other_arch=x86_64 ;; *) other_arch=aarch64 ;; esac
mk otherarch --arch "$other_arch"
printf '%s\n%s\n%s\n%s\n' "$hdr" "$(printf '%s\n' "$kline" | sed 's/^kernel bzImage/kernel sub\/bzImage/')" "$iline" "$cline" | raw_manifest slash
printf '%s\n%s\n%s\n%s\n' "$hdr" "$(printf '%s\n' "$kline" | sed 's/^kernel bzImage/kernel ../')" "$iline" "$cline" | raw_manifest dotdot

KEY=(-p "$T/pub")
CA=(--cacert "$T/ca.pem")

# --- the matrix -----------------------------------------------------------
# fetch_case NAME WANT NEEDLE ARGS...: one refusal or success, fully checked
fetch_case() {
	local name=$1 want=$2 needle=$3 out=$T/out/$1 log=$T/log/$1 rc
	shift 3
	mkdir -p "$T/out" "$T/log"
	it_case "$name"
	"$NK" fetch "$@" -o "$out" >"$log" 2>&1
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		it_fail "exit $rc, want $want: $(tail -n1 "$log")"; return
	fi
	if ! grep -qF -- "$needle" "$log"; then
		it_fail "message lacks '$needle': $(tail -n1 "$log")"; return
	fi
	if ls "$T/out" | grep -q "^$name.partial"; then
		it_fail "a partial directory was left behind"; return
	fi
	if [ "$want" -ne 0 ]; then
		[ -e "$out" ] && { it_fail "output exists after refusal"; return; }
	else
		for f in manifest manifest.minisig bzImage initrd; do
			cmp -s "$out/$f" "$ROOT/good/$f" || { it_fail "$f differs from the served bundle"; return; }
		done
		[ "$(ls "$out" | wc -l)" -eq 4 ] || { it_fail "extra files in output"; return; }
	fi
	it_pass
}

it_start_stub "$T" "$ROOT"
U=https://127.0.0.1:$STUB_PORT
fetch_case good                0  "verified"                   "$U/good/" "${KEY[@]}" "${CA[@]}"
fetch_case good-manifest-url   0  "verified"                   "$U/good/manifest" "${KEY[@]}" "${CA[@]}"
fetch_case kernel-byte         65 "bzImage: sha256 mismatch: expected" "$U/kbyte/" "${KEY[@]}" "${CA[@]}"
fetch_case initrd-last-byte    65 "initrd: sha256 mismatch: expected" "$U/ibyte/" "${KEY[@]}" "${CA[@]}"
fetch_case initrd-truncated    65 "initrd: size mismatch: expected 1048576 bytes, got 1048575" "$U/itrunc/" "${KEY[@]}" "${CA[@]}"
fetch_case initrd-extended     65 "more than the 1048576 expected" "$U/iext/" "${KEY[@]}" "${CA[@]}"
fetch_case swapped-hashes      65 "sha256 mismatch"            "$U/swapped/" "${KEY[@]}" "${CA[@]}"
fetch_case manifest-byte       65 "manifest.minisig: "         "$U/mbyte/" "${KEY[@]}" "${CA[@]}"
fetch_case signature-byte      65 "manifest.minisig: "         "$U/sigbyte/" "${KEY[@]}" "${CA[@]}"
fetch_case trusted-comment     65 "manifest.minisig: "         "$U/tcbyte/" "${KEY[@]}" "${CA[@]}"
fetch_case global-signature    65 "manifest.minisig: "         "$U/gsig/" "${KEY[@]}" "${CA[@]}"
fetch_case wrong-key           65 "manifest.minisig: "         "$U/good/" -p "$T/other.pub" "${CA[@]}"
fetch_case key-rotation        0  "verified"                   "$U/good/" -p "$T/other.pub" "${KEY[@]}" "${CA[@]}"
fetch_case legacy-ed           65 "--allow-legacy"             "$U/legacy/" "${KEY[@]}" "${CA[@]}"
fetch_case missing-signature   65 "unsigned"                   "$U/nosig/" "${KEY[@]}" "${CA[@]}"
fetch_case unknown-key         65 "manifest: "                 "$U/unknown/" "${KEY[@]}" "${CA[@]}"
fetch_case repeated-key        65 "manifest: "                 "$U/repeated/" "${KEY[@]}" "${CA[@]}"
fetch_case missing-key         65 "manifest: "                 "$U/missing/" "${KEY[@]}" "${CA[@]}"
fetch_case manifest-cr         65 "manifest: "                 "$U/cr/" "${KEY[@]}" "${CA[@]}"
fetch_case manifest-nul        65 "manifest: "                 "$U/nul/" "${KEY[@]}" "${CA[@]}"
fetch_case manifest-long-line  65 "manifest: "                 "$U/longline/" "${KEY[@]}" "${CA[@]}"
fetch_case manifest-oversize   65 "manifest: "                 "$U/oversize/" "${KEY[@]}" "${CA[@]}"
fetch_case expired             65 "expired"                    "$U/expired/" "${KEY[@]}" "${CA[@]}"
fetch_case rollback            65 "below the floor 101"        "$U/good/" --min-version 101 "${KEY[@]}" "${CA[@]}"
fetch_case wrong-arch          65 "bundle is for $other_arch"  "$U/otherarch/" "${KEY[@]}" "${CA[@]}"
fetch_case name-with-slash     65 "manifest: "                 "$U/slash/" "${KEY[@]}" "${CA[@]}"
fetch_case name-dotdot         65 "manifest: "                 "$U/dotdot/" "${KEY[@]}" "${CA[@]}"
fetch_case http-source         64 "only https://"              "http://127.0.0.1:$STUB_PORT/good/" "${KEY[@]}"
fetch_case wrong-ca            69 "certificate"                "$U/good/" "${KEY[@]}" --cacert "$T/other-ca.pem"
fetch_case no-ca               69 "certificate"                "$U/good/" "${KEY[@]}"
pin=$(openssl x509 -in "$T/server.pem" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
fetch_case pin-match           0  "verified"                   "$U/good/" "${KEY[@]}" "${CA[@]}" --pin "sha256//$pin"
fetch_case pin-mismatch        69 "--pin"                      "$U/good/" "${KEY[@]}" "${CA[@]}" --pin "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
fetch_case not-found           69 "HTTP 404"                   "$U/nothing-here/" "${KEY[@]}" "${CA[@]}"
fetch_case mirror-after-refused 0 "verified"                   "https://127.0.0.1:1/good/" --mirror "$U/good/" "${KEY[@]}" "${CA[@]}"
it_case "output-dir-with-trailing-slash"
"$NK" fetch "$U/good/" "${KEY[@]}" "${CA[@]}" -o "$T/out/slash/" >"$T/log/slash" 2>&1 &&
	cmp -s "$T/out/slash/initrd" "$ROOT/good/initrd" && ! ls "$T/out" | grep -q partial &&
	it_pass || it_fail "$(tail -n1 "$T/log/slash")"
it_case "output-dir-not-empty-refused-before-download"
mkdir -p "$T/out/full" && touch "$T/out/full/keep"
"$NK" fetch "$U/good/" "${KEY[@]}" "${CA[@]}" -o "$T/out/full" >"$T/log/full" 2>&1; rc=$?
[ $rc -eq 64 ] && [ -e "$T/out/full/keep" ] && ! grep -q fetching "$T/log/full" &&
	it_pass || it_fail "exit $rc: $(tail -n1 "$T/log/full")"
it_stop_stub

# fault_case NAME WANT NEEDLE FAULT...: a fresh stub with faults, good bundle
fault_case() {
	local name=$1 want=$2 needle=$3
	shift 3
	local faults=()
	for f in "$@"; do faults+=(--fault "$f"); done
	it_start_stub "$T" "$ROOT" "${faults[@]}"
	fetch_case "$name" "$want" "$needle" "https://127.0.0.1:$STUB_PORT/good/" "${KEY[@]}" "${CA[@]}" --stall-timeout 2
	it_stop_stub
}
fault_case server-503-twice      0  "retrying"          "status:503:2@initrd"
fault_case server-503-always     69 "HTTP 503"          "status:503:1000@initrd"
fault_case server-429-then-ok    0  "retrying"          "status:429:1@manifest"
fault_case initrd-404            65 "initrd: HTTP 404"  "status:404:1000@initrd"
fault_case connection-drops      0  "resuming at byte"  "drop:300000:3@initrd"
fault_case drops-no-range        0  "starting this file over" "drop:300000:2@initrd" "norange@initrd"
fault_case served-truncated      65 "initrd: size mismatch" "truncate:1000@initrd"
fault_case served-corrupt        65 "initrd: sha256 mismatch" "corrupt:777@initrd"
fault_case too-slow              69 "stalled"           "stall:100000@initrd"
fault_case redirect-to-http      69 "only https is followed" "redirect:http://127.0.0.1:1/@initrd"

# redirect within https is followed
it_start_stub "$T" "$ROOT"
real=$STUB_PORT; realpid=$STUB_PID; STUB_PID=
it_start_stub "$T" "$ROOT" --fault "redirect:https://127.0.0.1:$real/good/initrd@initrd"
fetch_case redirect-https-ok     0  "verified" "https://127.0.0.1:$STUB_PORT/good/" "${KEY[@]}" "${CA[@]}"
it_stop_stub
kill "$realpid" 2>/dev/null

# nginx: a real web server, as a user would publish a bundle
if it_start_nginx "$T" "$ROOT"; then
	N=https://127.0.0.1:$NGINX_PORT
	fetch_case nginx-good        0  "verified" "$N/good/" "${KEY[@]}" "${CA[@]}"
	fetch_case nginx-rollback    65 "below the floor" "$N/good/" --min-version 1000 "${KEY[@]}" "${CA[@]}"
	# Any byte of any file changed on the server: 65, nothing left behind.
	# (The "untrusted comment" text of manifest.minisig is, by minisign's
	# design, not signed; its prefix is checked, its words are not.)
	for f in manifest manifest.minisig bzImage initrd; do
		size=$(stat -c %s "$ROOT/good/$f")
		start=0
		[ "$f" = manifest.minisig ] && start=$(sed -n 1p "$ROOT/good/manifest.minisig" | wc -c)
		for off in $start $(( (start + size) / 2 )) $((size - 2)); do
			rm -rf "$ROOT/nx"; variant nx; flip "$ROOT/nx/$f" "$off"
			fetch_case "nginx-$f-byte-$off" 65 "" "$N/nx/" "${KEY[@]}" "${CA[@]}"
		done
	done
else
	it_case nginx; it_fail "nginx did not start"
fi

it_summary
