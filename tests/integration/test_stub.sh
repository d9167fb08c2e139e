#!/bin/bash
# test_stub: the test server itself, checked with real curl against a CA
# made at run time. Every fault must have the effect the other tests rely
# on; every refusal must be a refusal. Finally nginx, the other server the
# integration tests use, must start and serve.
#   B=build bash tests/integration/test_stub.sh
# shellcheck disable=SC2015 # "check && it_pass || it_fail": it_pass never fails
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

it_tmpdir
T=$IT_TMP
R=$T/root
it_make_ca "$T/pki" || exit 1

# Test files: random bytes, so a wrong offset cannot compare equal.
mkdir -p "$R/sub" "$R/dir"
head -c 1000000 /dev/urandom >"$R/file.bin"
head -c 200000 /dev/urandom >"$R/slow.bin"
: >"$R/empty.bin"
for f in t c s d n r rx st h9 u; do cp "$R/file.bin" "$R/$f.bin"; done
cp "$R/file.bin" "$R/sub/nested.bin"
ln -s file.bin "$R/link.bin"
ln -s sub "$R/linkdir"
mkfifo "$R/fifo"
SIZE=1000000

it_start_stub "$T/pki" "$R" \
	--fault truncate:1000@t.bin \
	--fault corrupt:12345@c.bin \
	--fault status:503:2@s.bin \
	--fault drop:100000@d.bin \
	--fault norange@n.bin \
	--fault redirect:https://127.0.0.1:1/elsewhere/@r.bin \
	--fault redirect:http://127.0.0.1:1/exact@rx.bin \
	--fault throttle:100000@slow.bin \
	--fault stall:50000@st.bin \
	--fault http09@h9.bin \
	--fault unterminated@u.bin || exit 1
U=$STUB_URL
LOG=$STUB_LOG

c() { curl -sS --cacert "$T/pki/ca.pem" --max-time 20 "$@"; }
code() { c -o /dev/null -w '%{http_code}' "$@"; }
# header NAME FILE: the value of a response header saved with -D
header() { tr -d '\r' <"$2" | sed -n "s/^$1: //Ip" | tail -n1; }
slice() { tail -c +$(($2 + 1)) "$1" | head -c "$3"; } # FILE OFF LEN
# raw 'REQUEST': the response bytes to a request curl would not send
raw() {
	printf '%b' "$1" | openssl s_client -quiet -verify_return_error -CAfile "$T/pki/ca.pem" \
		-connect "127.0.0.1:$STUB_PORT" 2>/dev/null
}
status_of() { head -n1 | cut -d' ' -f2; } # the status of a raw response
O=$T/out
H=$T/hdr

# --- plain serving ------------------------------------------------------
it_case "stdout says where it listens"
it_expect_eq "$(cat "$T/pki/stub.1.out")" "listening on 127.0.0.1:$STUB_PORT"

it_case "GET returns the file"
c -o "$O" "$U/file.bin" && cmp -s "$O" "$R/file.bin" && it_pass || it_fail "body differs"

it_case "GET in a subdirectory"
c -o "$O" "$U/sub/nested.bin" && cmp -s "$O" "$R/file.bin" && it_pass || it_fail "body differs"

it_case "GET over HTTP/1.0"
c -0 -o "$O" "$U/file.bin" && cmp -s "$O" "$R/file.bin" && it_pass || it_fail "body differs"

it_case "GET of an empty file"
it_expect_eq "$(code "$U/empty.bin"),$(c "$U/empty.bin" | wc -c)" "200,0"

it_case "HEAD: status and length, no body"
raw 'HEAD /file.bin HTTP/1.1\r\nHost: x\r\n\r\n' >"$O"
it_expect_eq "$(head -n1 "$O" | tr -d '\r') $(header content-length "$O") $(tail -c 4 "$O" | od -An -c | tr -d ' ')" \
	"HTTP/1.1 200 OK $SIZE \r\n\r\n"

it_case "range A-B: 206, Content-Range, the bytes"
c -r 100-199 -o "$O" -D "$H" "$U/file.bin"
[ "$(header content-range "$H")" = "bytes 100-199/$SIZE" ] &&
	cmp -s "$O" <(slice "$R/file.bin" 100 100) && it_pass || it_fail "$(cat "$H")"

it_case "range A-: to the end"
c -r 999990- -o "$O" "$U/file.bin" && cmp -s "$O" <(tail -c 10 "$R/file.bin") &&
	it_pass || it_fail "body differs"

it_case "range -N: the last N bytes"
c -r -10 -o "$O" "$U/file.bin" && cmp -s "$O" <(tail -c 10 "$R/file.bin") &&
	it_pass || it_fail "body differs"

it_case "range B past the end is cut to the end"
c -r 999998-2000000 -o "$O" "$U/file.bin" && cmp -s "$O" <(tail -c 2 "$R/file.bin") &&
	it_pass || it_fail "body differs"

# --- refusals -----------------------------------------------------------
it_case "range past the end: 416 with bytes */SIZE"
c -r 1000000- -o /dev/null -D "$H" "$U/file.bin"
it_expect_eq "$(head -n1 "$H" | cut -d' ' -f2) $(header content-range "$H")" "416 bytes */$SIZE"

it_case "range on an empty file: 416"
it_expect_eq "$(code -r 0- "$U/empty.bin")" 416

it_case "malformed range: 400"
it_expect_eq "$(code -H 'Range: bytes=abc' "$U/file.bin")" 400

it_case "two ranges: 400"
it_expect_eq "$(code -r 0-1,5-6 "$U/file.bin")" 400

it_case "range ending before it starts: 400"
it_expect_eq "$(code -r 10-5 "$U/file.bin")" 400

it_case "missing file: 404"
it_expect_eq "$(code "$U/nothing.bin")" 404

it_case "directory with a slash: 404"
it_expect_eq "$(code "$U/sub/"),$(code "$U/")" "404,404"

it_case "directory without a slash: 404"
it_expect_eq "$(code "$U/sub")" 404

it_case "'..' escaping the root: 400"
it_expect_eq "$(code --path-as-is "$U/../../etc/passwd")" 400

it_case "'..' inside the root: 400"
it_expect_eq "$(code --path-as-is "$U/sub/../file.bin")" 400

it_case "'.' segment: 400"
it_expect_eq "$(code --path-as-is "$U/./file.bin")" 400

it_case "empty segment: 400"
it_expect_eq "$(code --path-as-is "$U//file.bin")" 400

it_case "percent-encoding: 400"
it_expect_eq "$(code "$U/file%2ebin")" 400

it_case "symbolic link to a file: 404"
it_expect_eq "$(code "$U/link.bin")" 404

it_case "symbolic link to a directory on the way: 404"
it_expect_eq "$(code "$U/linkdir/nested.bin")" 404

it_case "FIFO: 404 without hanging"
it_expect_eq "$(code "$U/fifo")" 404

it_case "POST: 405"
it_expect_eq "$(code -X POST "$U/file.bin")" 405

it_case "request with a body: 400"
it_expect_eq "$(code -X GET --data x "$U/file.bin")" 400

it_case "header block over 16 KiB: 400"
it_expect_eq "$(code -H "X-Big: $(printf '%*s' 17000 '' | tr ' ' a)" "$U/file.bin")" 400

it_case "bare LF line ends: 400"
it_expect_eq "$(raw 'GET /file.bin HTTP/1.1\nHost: x\n\n' | status_of)" 400

it_case "obsolete header folding: 400"
it_expect_eq "$(raw 'GET /file.bin HTTP/1.1\r\nHost: x\r\n y\r\n\r\n' | status_of)" 400

it_case "absolute-form target: 400"
it_expect_eq "$(raw 'GET https://x/file.bin HTTP/1.1\r\n\r\n' | status_of)" 400

it_case "HTTP/2.0 request line: 505"
it_expect_eq "$(raw 'GET /file.bin HTTP/2.0\r\n\r\n' | status_of)" 505

it_case "two spaces in the request line: 400"
it_expect_eq "$(raw 'GET  /file.bin HTTP/1.1\r\n\r\n' | status_of)" 400

it_case "two Range headers: 400"
it_expect_eq "$(raw 'GET /file.bin HTTP/1.1\r\nRange: bytes=0-1\r\nRange: bytes=0-1\r\n\r\n' | status_of)" 400

it_case "control byte in a header value: 400"
it_expect_eq "$(raw 'GET /file.bin HTTP/1.1\r\nX: a\001b\r\n\r\n' | status_of)" 400

it_case "more than 64 headers: 400"
many=$(for i in $(seq 65); do printf 'X-%d: y\\r\\n' "$i"; done)
it_expect_eq "$(raw "GET /file.bin HTTP/1.1\\r\\n$many\\r\\n" | status_of)" 400

# A client that sends half a request: others are still served, and the
# stub hangs up after its 10 s read timeout (checked near the end).
(printf 'GET /file.bin HTTP/1.1\r\n'; sleep 20) | openssl s_client -quiet -CAfile "$T/pki/ca.pem" \
	-connect "127.0.0.1:$STUB_PORT" >/dev/null 2>&1 &
slow_pid=$!
slow_t0=$EPOCHREALTIME
it_on_exit "kill $slow_pid 2>/dev/null"
sleep 0.3
it_case "a client that never finishes its request does not block others"
it_expect_eq "$(code "$U/empty.bin")" 200

it_case "curl refuses a server from another CA"
curl -sS --cacert "$T/pki/other-ca.pem" -o /dev/null "$U/file.bin" 2>/dev/null
it_expect_eq "$?" 60

it_case "curl refuses a name the certificate does not hold"
curl -sS --cacert "$T/pki/ca.pem" --resolve "wrong.test:$STUB_PORT:127.0.0.1" \
	-o /dev/null "https://wrong.test:$STUB_PORT/file.bin" 2>/dev/null
it_expect_eq "$?" 60

it_case "the certificate's DNS name localhost is accepted"
it_expect_eq "$(code "https://localhost:$STUB_PORT/empty.bin")" 200

it_case "server refuses TLS 1.1"
openssl s_client -connect "127.0.0.1:$STUB_PORT" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
	</dev/null >/dev/null 2>&1
rc=$?
sleep 0.2
[ $rc -ne 0 ] && grep -q 'unsupported protocol' "$LOG" && it_pass ||
	it_fail "s_client exit $rc; no 'unsupported protocol' in the log"

# --- faults -------------------------------------------------------------
it_case "truncate: N bytes, Content-Length N"
c -o "$O" -D "$H" "$U/t.bin"
[ "$(header content-length "$H")" = 1000 ] && cmp -s "$O" <(head -c 1000 "$R/t.bin") &&
	it_pass || it_fail "length $(wc -c <"$O")"

it_case "truncate: range past N is 416"
it_expect_eq "$(code -r 1000- "$U/t.bin")" 416

it_case "truncate@t.bin leaves other files whole"
it_expect_eq "$(c "$U/file.bin" | wc -c)" "$SIZE"

it_case "corrupt: one byte differs, at OFF, by the low bit"
c -o "$O" "$U/c.bin"
# cmp -l: 1-based offset, then the two bytes in octal
d=$(cmp -l "$O" "$R/c.bin")
read -r at x y <<<"$d"
[ "$(printf '%s\n' "$d" | wc -l)" = 1 ] && [ "$at" = 12346 ] &&
	[ $((8#${x:-0} ^ 8#${y:-0})) = 1 ] && it_pass || it_fail "cmp -l: $d"

it_case "corrupt: a range covering OFF carries the flipped byte"
c -r 12000-12999 -o "$O" "$U/c.bin"
d=$(cmp -l "$O" <(slice "$R/c.bin" 12000 1000))
it_expect_eq "$(printf '%s\n' "$d" | awk '{print $1}' | tr '\n' ' ')" "346 "

it_case "corrupt: a range not covering OFF is clean"
c -r 0-999 -o "$O" "$U/c.bin" && cmp -s "$O" <(head -c 1000 "$R/c.bin") &&
	it_pass || it_fail "body differs"

it_case "status:503:2: 503, 503, then the file"
a=$(code "$U/s.bin")
b=$(code "$U/s.bin")
c -o "$O" "$U/s.bin" && cmp -s "$O" "$R/s.bin" && it_expect_eq "$a,$b" "503,503" ||
	it_fail "third request did not return the file ($a,$b)"

it_case "drop: first GET breaks after N bytes, the next one is whole"
c -o "$O" "$U/d.bin" 2>/dev/null
rc=$?
n=$(wc -c <"$O")
c -o "$T/out2" "$U/d.bin" && cmp -s "$T/out2" "$R/d.bin" &&
	[ $rc -ne 0 ] && [ "$n" = 100000 ] && it_pass || it_fail "first curl exit $rc with $n bytes"

it_case "norange: a Range request gets 200 and the whole file"
c -r 0-99 -o "$O" -D "$H" "$U/n.bin"
[ "$(head -n1 "$H" | cut -d' ' -f2)" = 200 ] && [ "$(header accept-ranges "$H")" = none ] &&
	cmp -s "$O" "$R/n.bin" && it_pass || it_fail "$(head -n1 "$H")"

it_case "redirect to a URL ending in /: the request path is appended"
c -o /dev/null -D "$H" "$U/r.bin"
it_expect_eq "$(head -n1 "$H" | cut -d' ' -f2) $(header location "$H")" \
	"302 https://127.0.0.1:1/elsewhere/r.bin"

it_case "redirect to any other URL: Location is exactly it"
c -o /dev/null -D "$H" "$U/sub/rx.bin"
it_expect_eq "$(header location "$H")" "http://127.0.0.1:1/exact"

it_case "throttle:100000: 200 KB take at least 1.5 s"
t0=$EPOCHREALTIME
c -o "$O" "$U/slow.bin"
t1=$EPOCHREALTIME
cmp -s "$O" "$R/slow.bin" && awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a >= 1.5) }' &&
	it_pass || it_fail "took $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s"

it_case "stall: N bytes, then silence until the client's speed limit"
t0=$EPOCHREALTIME
c --speed-limit 1000 --speed-time 2 -o "$O" "$U/st.bin" 2>/dev/null
rc=$?
t1=$EPOCHREALTIME
it_expect_eq "$rc $(wc -c <"$O") $(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a < 10) }')" \
	"28 50000 1"

it_case "http09: bytes with no status line, which curl refuses"
c -o "$O" "$U/h9.bin" 2>/dev/null
rc=$?
c --http0.9 -o "$O" "$U/h9.bin" 2>/dev/null
it_expect_eq "$rc $(head -c 16 "$O")" "1 nixos-kexec-stub"

it_case "unterminated: every byte in chunks, no last chunk, curl reports it"
c -o "$O" -D "$H" "$U/u.bin" 2>/dev/null
rc=$?
[ "$rc" != 0 ] && cmp -s "$O" "$R/u.bin" && [ "$(header transfer-encoding "$H")" = chunked ] &&
	it_pass || it_fail "curl exit $rc, $(wc -c <"$O") bytes"

it_case "unterminated: a range is sent the same way"
c -r 999000- -o "$O" "$U/u.bin" 2>/dev/null
cmp -s "$O" <(slice "$R/u.bin" 999000 1000) && it_pass || it_fail "$(wc -c <"$O") bytes"

it_case "unterminated: a range at the end is 416"
it_expect_eq "$(code -r "$SIZE-" "$U/u.bin")" 416

it_case "32 concurrent GETs all complete"
pids=()
for i in $(seq 1 32); do
	c -o "$T/par.$i" "$U/file.bin" &
	pids+=($!)
done
bad=0
for i in $(seq 1 32); do
	wait "${pids[$((i - 1))]}" && cmp -s "$T/par.$i" "$R/file.bin" || bad=$((bad + 1))
done
it_expect_eq "$bad" 0

it_case "the half-sent request is cut off by the read timeout"
wait_s=$(awk -v a="$slow_t0" -v b="$EPOCHREALTIME" 'BEGIN { w = 11 - (b - a); print (w > 0 ? w : 0) }')
sleep "$wait_s"
grep -q 'error="tls read: timed out"' "$LOG" && it_pass || it_fail "no read timeout in $LOG"

it_case "the log has a line per request, with the fault"
grep -q '^stub: GET /t.bin range=- status=200 sent=1000 fault=truncate end=done$' "$LOG" &&
	grep -q '^stub: GET /d.bin .*fault=drop end=dropped' "$LOG" &&
	it_pass || it_fail "see $LOG"

it_case "SIGTERM: the stub exits 0"
it_stop_stub "$STUB_PID"
it_expect_eq "$?" 0

it_case "tlshang:1: the first connection gets no TLS answer, the second is served"
it_start_stub "$T/pki" "$R" --fault tlshang:1 || exit 1
t0=$EPOCHREALTIME
c --connect-timeout 1 -o /dev/null "$STUB_URL/empty.bin" 2>/dev/null
rc=$?
it_expect_eq "$rc $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print (b - a < 5) }') $(code "$STUB_URL/empty.bin")" \
	"28 1 200"
it_case "tlshang: logged as hung"
sleep 0.3
grep -q 'fault=tlshang end=hung' "$STUB_LOG" && it_pass || it_fail "see $STUB_LOG"
it_stop_stub "$STUB_PID"

# --- configuration errors -----------------------------------------------
stub_rc() { "$B/nixos-kexec-stub" "$@" >/dev/null 2>"$T/err"; echo $?; }
P=(--root "$R" --cert "$T/pki/server.pem" --key "$T/pki/server.key" --port-file "$T/never")
for spec in truncate truncate: truncate:x truncate:-1 truncate:1k bogus:1 \
	corrupt:99999999999999999999 throttle:0 status:99 status:503:0 status:503:1:1 \
	drop:1:0 stall:x norange:1 redirect:ftp://127.0.0.1/ 'redirect:https://a b/' \
	truncate:1@ truncate:1@/abs 'truncate:1@a b' http09:1 unterminated:0 unterminated:x \
	tlshang:0 tlshang@manifest; do
	it_case "bad fault '$spec': exit 64"
	it_expect_eq "$(stub_rc "${P[@]}" --fault "$spec")" 64
done

it_case "more than 32 faults: exit 64"
many=()
for i in $(seq 1 33); do many+=(--fault norange); done
it_expect_eq "$(stub_rc "${P[@]}" "${many[@]}")" 64

it_case "missing --root: exit 64"
it_expect_eq "$(stub_rc --cert "$T/pki/server.pem" --key "$T/pki/server.key")" 64

it_case "root that is not a directory: exit 64"
it_expect_eq "$(stub_rc "${P[@]}" --root "$R/file.bin")" 64

it_case "key that does not match the certificate: exit 64"
it_expect_eq "$(stub_rc "${P[@]}" --key "$T/pki/ca.key")" 64

it_case "unreadable certificate: exit 64"
it_expect_eq "$(stub_rc "${P[@]}" --cert "$T/nothing.pem")" 64

it_case "bad --listen: exit 64"
it_expect_eq "$(stub_rc "${P[@]}" --listen localhost)" 64

it_case "no port file was written by the failures"
[ ! -e "$T/never" ] && it_pass || it_fail "$T/never exists"

it_case "--help documents every fault"
h=$("$B/nixos-kexec-stub" --help)
miss=
for k in truncate corrupt throttle status drop stall norange redirect http09 unterminated tlshang; do
	printf '%s\n' "$h" | grep -q "^  $k" || miss="$miss $k"
done
it_expect_eq "${miss:-none}" none

# --- nginx --------------------------------------------------------------
it_case "nginx serves a file over TLS with the test CA"
if [ ! -x "${NGINX:-/usr/sbin/nginx}" ]; then
	it_skip "nginx is not installed"
elif it_start_nginx "$T/pki" "$R"; then
	c -o "$O" "$NGINX_URL/file.bin" && cmp -s "$O" "$R/file.bin" && it_pass || it_fail "body differs"
	it_case "nginx answers a range with 206"
	c -r 100-199 -o "$O" "$NGINX_URL/file.bin" && cmp -s "$O" <(slice "$R/file.bin" 100 100) &&
		it_pass || it_fail "body differs"
	it_stop_nginx "$NGINX_PID"
else
	it_fail "nginx did not start"
fi

it_summary
