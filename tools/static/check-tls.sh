#!/usr/bin/env bash
# The TLS matrix for the trimmed OpenSSL of tools/static/build.sh: the agent
# fetches a bundle from `openssl s_server -WWW` on loopback, one TLS version,
# cipher suite, group and key type (ECDSA P-256, RSA 2048) at a time; TLS 1.1
# must be refused. Debian's openssl CLI is the server.
#   tools/static/check-tls.sh build/static/x86_64/nixos-kexec
#   tools/static/check-tls.sh build/static/aarch64/nixos-kexec qemu-aarch64-static
set -u
[ $# -ge 1 ] || { echo "usage: $0 AGENT [RUNNER]" >&2; exit 64; }
AG=$(readlink -f "$1")
RUN=("${@:2}") # the runner and its arguments, if any
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck disable=SC2034 # read by lib.sh
IT_SUITE=check-tls

# shellcheck source=tests/integration/lib.sh
. "$ROOT/tests/integration/lib.sh"
it_tmpdir; T=$IT_TMP
it_make_ca "$T" "IP:127.0.0.1,DNS:localhost" >/dev/null
# an RSA server certificate from the same CA
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/rsa.key" -subj /CN=127.0.0.1 -out "$T/rsa.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$T/rsa.ext"
openssl x509 -req -in "$T/rsa.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 -extfile "$T/rsa.ext" -out "$T/rsa.pem" 2>/dev/null
minisign -G -W -p "$T/pub" -s "$T/sec" >/dev/null
mkdir -p "$T/www"; head -c 65536 /dev/urandom >"$T/bzImage"; head -c 1048576 /dev/urandom >"$T/initrd"
# The arm64 Image magic at 0x38: under qemu-aarch64 the bundle is an
# aarch64 one, whose kernel must be a raw Image.
printf 'ARM\144' | dd of="$T/bzImage" bs=1 seek=56 conv=notrunc status=none
arch=$("${RUN[@]}" "$AG" bundle --kernel "$T/bzImage" --initrd "$T/initrd" --cmdline x --version 1 -o "$T/www/b" >/dev/null && sed -n 's/^arch //p' "$T/www/b/manifest")
minisign -S -s "$T/sec" -m "$T/www/b/manifest" >/dev/null
n=0
tcase() { # NAME KEYTYPE s_server-args...
	local name=$1 kt=$2 port rc
	shift 2
	n=$((n + 1)); port=$((20000 + RANDOM % 20000))
	it_case "$name"
	(cd "$T/www" && exec openssl s_server -quiet -WWW -accept "127.0.0.1:$port" -cert "$T/$kt.pem" -key "$T/$kt.key" "$@") >"$T/s$n.log" 2>&1 &
	local spid=$!
	for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
	env -u SSL_CERT_FILE -u SSL_CERT_DIR "${RUN[@]}" "$AG" fetch "https://127.0.0.1:$port/b/" -p "$T/pub" --cacert "$T/ca.pem" -o "$T/o$n" >"$T/c$n.log" 2>&1
	rc=$?
	kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
	if [ $rc -eq 0 ] && cmp -s "$T/o$n/initrd" "$T/initrd"; then it_pass; else it_fail "exit $rc: $(tail -n1 "$T/c$n.log")"; fi
}
for c in ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE-ECDSA-CHACHA20-POLY1305; do
	tcase "TLS 1.2 $c" server -tls1_2 -cipher "$c"
done
for c in ECDHE-RSA-AES128-GCM-SHA256 ECDHE-RSA-AES256-GCM-SHA384 ECDHE-RSA-CHACHA20-POLY1305 DHE-RSA-AES128-GCM-SHA256 AES128-GCM-SHA256; do
	tcase "TLS 1.2 $c (RSA)" rsa -tls1_2 -cipher "$c"
done
for s in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256; do
	tcase "TLS 1.3 $s" server -tls1_3 -ciphersuites "$s"
done
for g in X25519 P-256 P-384 P-521; do
	tcase "TLS 1.3 group $g (RSA, RSA-PSS)" rsa -tls1_3 -groups "$g"
done
tcase "TLS 1.2 group X25519 (ECDSA)" server -tls1_2 -groups X25519
it_case "TLS 1.1 only: refused"
port=$((20000 + RANDOM % 20000))
(cd "$T/www" && exec openssl s_server -quiet -WWW -accept "127.0.0.1:$port" -cert "$T/server.pem" -key "$T/server.key" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0') >"$T/s11.log" 2>&1 &
spid=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
env -u SSL_CERT_FILE -u SSL_CERT_DIR "${RUN[@]}" "$AG" fetch "https://127.0.0.1:$port/b/" -p "$T/pub" --cacert "$T/ca.pem" -o "$T/o11" >"$T/c11.log" 2>&1
rc=$?; kill "$spid"; wait "$spid" 2>/dev/null
if [ $rc -ne 0 ]; then it_pass; else it_fail "TLS 1.1 accepted"; fi
echo "(agent arch: $arch)" >&2
it_summary
