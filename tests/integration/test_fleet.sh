#!/usr/bin/env bash
# Fleet reprovisioning (issue 12), the agent's side, over real HTTPS on
# loopback with a CA made for the run: the config file (file and line in
# every error, the command line winning option by option), the state
# directory (a floor that refuses a rollback by naming the state file; the
# last result), reports to the stub as collector (every milestone, with one
# nonce per run; a dead, hanging, failing or untrusted collector changes
# nothing), Retry-After on 429/503, the splay, the stub's --collect itself,
# and the load case: 50 agents at once against one nginx with --splay and
# --report to one collector, all verified, every milestone collected.
# `boot` is run only where it refuses before doing anything (a bad config
# file): it never reaches kexec here.
set -u
. "$(dirname "$0")/lib.sh"
NK=${B:-build}/nixos-kexec
export LC_ALL=C
it_tmpdir; T=$IT_TMP
ROOT=$T/root
mkdir -p "$ROOT" "$T/log" "$T/out"
it_make_ca "$T" "IP:127.0.0.1,DNS:localhost" >/dev/null
# This machine's own config file never takes part.
export NIXOS_KEXEC_CONFIG=$T/empty-default-config
: >"$NIXOS_KEXEC_CONFIG"

# --- fixtures -------------------------------------------------------------
minisign -G -W -p "$T/pub" -s "$T/sec" >/dev/null
head -c 65536 /dev/urandom >"$T/bzImage"
head -c 262144 /dev/urandom >"$T/initrd"
mk() { # mk NAME VERSION: a signed bundle in ROOT/NAME
	"$NK" bundle --kernel "$T/bzImage" --initrd "$T/initrd" --cmdline "console=ttyS0" \
		--version "$2" -o "$ROOT/$1" >/dev/null
	minisign -S -s "$T/sec" -m "$ROOT/$1/manifest" >/dev/null
}
mk v100 100
mk v99 99
mk v101 101
cp -r "$ROOT/v100" "$ROOT/bad"
printf 'X' | dd of="$ROOT/bad/initrd" bs=1 seek=1000 conv=notrunc 2>/dev/null

KEY=(-p "$T/pub")
CA=(--cacert "$T/ca.pem")
COLLECT=$T/collect.jsonl
it_start_stub "$T" "$ROOT" --collect "$COLLECT" || exit 1
U=$STUB_URL
SERVE_LOG=$STUB_LOG

# run NAME ARGS...: the agent, output in $T/log/NAME; RC, SECS, OUT set
run() {
	local name=$1 t0 t1
	shift
	t0=$(date +%s%N)
	"$NK" "$@" >"$T/log/$name" 2>&1
	RC=$?
	t1=$(date +%s%N)
	SECS=$(((t1 - t0) / 1000000000))
	OUT=$T/log/$name
}
expect() { # expect WANT_RC NEEDLE: the last run's status and a piece of its output
	if [ "$RC" -ne "$1" ]; then
		it_fail "exit $RC, want $1: $(tail -n 2 "$OUT" | tr '\n' ' ')"
		return 1
	fi
	if [ -n "$2" ] && ! grep -qF -- "$2" "$OUT"; then
		it_fail "output lacks '$2': $(tail -n 2 "$OUT" | tr '\n' ' ')"
		return 1
	fi
	return 0
}
lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
# new_lines FILE BEFORE: the lines appended since BEFORE lines
new_lines() { tail -n +$(($2 + 1)) "$1"; }
nonces() { sed -n 's/.*"nonce":"\([0-9a-f]*\)".*/\1/p' | sort -u; }

# --- config file ------------------------------------------------------------
CFG=$T/config
cat >"$CFG" <<EOF
# the fleet's settings
source $U/v100/
key-file $T/pub
cacert $T/ca.pem

# boot's own options: fetch passes over them
exec none
delay 5
revert-after 600
ssh-key ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq5ZSg0W8Wq0lP0Y0B8cFQm1cYk5Ffn2xK3v8vQ3x9Z ops@example.org
EOF

it_case "config: SOURCE, key and CA from --config FILE; boot's options passed over"
run cfg-ok fetch --config "$CFG" -o "$T/out/cfg-ok"
expect 0 "fetched" && { [ -f "$T/out/cfg-ok/manifest" ] && it_pass || it_fail "no bundle written"; }

it_case "config: the default file (\$NIXOS_KEXEC_CONFIG) when no --config"
NIXOS_KEXEC_CONFIG=$CFG run cfg-default fetch -o "$T/out/cfg-default"
expect 0 "fetched" && it_pass

it_case "config: \$NIXOS_KEXEC_CONFIG naming a missing file is an error (64), like --config"
NIXOS_KEXEC_CONFIG=$T/no-such-config run cfg-env-missing fetch "$U/v100/" "${KEY[@]}" "${CA[@]}" \
	--min-version 1 -o "$T/out/cfg-env-missing"
expect 64 "$T/no-such-config (from \$NIXOS_KEXEC_CONFIG) does not exist" && it_pass

it_case "config: --no-config ignores a broken default file"
printf 'garbage=1\n' >"$T/broken"
NIXOS_KEXEC_CONFIG=$T/broken run cfg-none fetch --no-config "$U/v100/" "${KEY[@]}" "${CA[@]}" \
	-o "$T/out/cfg-none"
expect 0 "fetched" && it_pass

# cfg_error NAME LINE-TEXT WANT: a config whose line 4 is LINE-TEXT fails
# with 64 and a message naming the file and line 4
cfg_error() {
	local name=$1 f=$T/cfg-$1
	it_case "config: error names file and line: $name"
	printf 'source %s/v100/\nkey-file %s\n# comment\n%s\n' "$U" "$T/pub" "$2" >"$f"
	run "cfg-$name" fetch --config "$f" -o "$T/out/cfg-$name"
	expect 64 "$f: line 4: " && expect 64 "$3" &&
		{ [ ! -e "$T/out/cfg-$name" ] && it_pass || it_fail "output written"; }
}
cfg_error value "min-version seven" "--min-version: 'seven' is not a number"
cfg_error unknown "frobnicate 1" "unknown option 'frobnicate'"
cfg_error dashes "--cacert $T/ca.pem" "write the option's name without the dashes"
cfg_error equals "cacert=$T/ca.pem" "not 'name=value'"
cfg_error flag-value "json yes" "'json' takes no value"
cfg_error repeated "source $U/v101/" "'source' was given on line 1 already"
cfg_error report-http "report http://127.0.0.1:1/c" "only https://"
cfg_error keyfile "key-file $T/nonexistent.pub" "-p "

it_case "config: a CRLF file is refused at its first line"
printf 'source %s/v100/\r\n' "$U" >"$T/cfg-crlf"
run cfg-crlf fetch --config "$T/cfg-crlf" "${KEY[@]}" -o "$T/out/cfg-crlf"
expect 64 "$T/cfg-crlf: line 1: carriage return" && it_pass

it_case "config: boot refuses a broken file before anything else"
run cfg-boot boot --config "$T/cfg-value"
expect 64 "$T/cfg-value: line 4: --min-version" && it_pass

it_case "config: the command line's --min-version wins over the file's"
printf 'source %s/v100/\nkey-file %s\ncacert %s\nmin-version 200\n' "$U" "$T/pub" "$T/ca.pem" >"$T/cfg-floor"
run cfg-floor fetch --config "$T/cfg-floor" -o "$T/out/cfg-floor"
if expect 65 "below the floor 200"; then
	run cfg-floor2 fetch --config "$T/cfg-floor" --min-version 1 -o "$T/out/cfg-floor2"
	expect 0 "fetched" && it_pass
fi

it_case "config: a SOURCE on the command line replaces the file's source and mirrors"
printf 'source %s/bad/\nmirror %s/bad/\nkey-file %s\ncacert %s\n' "$U" "$U" "$T/pub" "$T/ca.pem" >"$T/cfg-src"
before=$(lines "$SERVE_LOG")
run cfg-src fetch --config "$T/cfg-src" "$U/v100/" -o "$T/out/cfg-src"
if expect 0 "fetched"; then
	if new_lines "$SERVE_LOG" "$before" | grep -q ' /bad/'; then
		it_fail "the file's source or mirror was still used"
	else
		it_pass
	fi
fi

it_case "config: keys on the command line replace the file's (-P and -p as one)"
minisign -G -W -p "$T/other.pub" -s "$T/other.sec" >/dev/null
run cfg-keys fetch --config "$CFG" -p "$T/other.pub" -o "$T/out/cfg-keys"
expect 65 "key" && it_pass

it_case "config: check takes SOURCE and keys from the file"
run cfg-check check --config "$CFG"
expect "$RC" " + initrd " && it_pass

# --- state ------------------------------------------------------------------
D=$T/state
it_case "state: fetch of version 100 records the floor"
run st100 fetch "$U/v100/" "${KEY[@]}" "${CA[@]}" --state-dir "$D" -o "$T/out/st100"
if expect 0 "version floor now 100"; then
	if [ "$(cat "$D/version")" != 100 ]; then
		it_fail "version file holds '$(cat "$D/version")'"
	elif ! grep -q '"event":"result".*"exit":0,"code":"ok"' "$D/last-result.json"; then
		it_fail "last result: $(cat "$D/last-result.json")"
	else
		it_pass
	fi
fi

it_case "state: then version 99 from another bundle exits 65 naming the state"
run st99 fetch "$U/v99/" "${KEY[@]}" "${CA[@]}" --state-dir "$D" -o "$T/out/st99"
if expect 65 "state file $D/version"; then
	if [ -e "$T/out/st99" ]; then
		it_fail "output written"
	elif ! grep -q '"exit":65,"code":"version"' "$D/last-result.json"; then
		it_fail "last result: $(cat "$D/last-result.json")"
	elif [ "$(cat "$D/version")" != 100 ]; then
		it_fail "floor changed"
	else
		it_pass
	fi
fi

it_case "state: verify and check refuse below the floor too"
run st-verify verify "$ROOT/v99" "${KEY[@]}" --state-dir "$D"
if expect 65 "state file $D/version"; then
	run st-check check "$U/v99/" "${KEY[@]}" "${CA[@]}" --state-dir "$D"
	expect "$RC" "state file $D/version" && it_pass
fi

it_case "state: version 101 raises the floor"
run st101 fetch "$U/v101/" "${KEY[@]}" "${CA[@]}" --state-dir "$D" -o "$T/out/st101"
expect 0 "version floor now 101" && { [ "$(cat "$D/version")" = 101 ] && it_pass || it_fail "floor not raised"; }

it_case "state: a failed verification does not raise the floor"
D2=$T/state2
run st-bad fetch "$U/bad/" "${KEY[@]}" "${CA[@]}" --state-dir "$D2" -o "$T/out/st-bad"
expect 65 "sha256 mismatch" && { [ ! -e "$D2/version" ] && it_pass || it_fail "floor written"; }

it_case "state: a corrupt version file stops the run (74), naming it"
mkdir -p "$T/state3" && printf 'one hundred\n' >"$T/state3/version"
run st-corrupt fetch "$U/v100/" "${KEY[@]}" "${CA[@]}" --state-dir "$T/state3" -o "$T/out/st-corrupt"
expect 74 "state file $T/state3/version" && it_pass

# Issue 19.7: a named state directory that cannot be written is the same
# 74 as one that cannot be made, before any download. A read-only bind
# mount in a private mount namespace (root ignores mode bits); chmod as
# another user.
it_case "state: a read-only --state-dir stops the run (74) before any download, like one that cannot be made"
D4=$T/state4
mkdir -p "$D4" && printf '100\n' >"$D4/version"
if [ "$(id -u)" -eq 0 ]; then
	ro_run() { unshare -m sh -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"' sh "$D4" "$NK" "$@"; }
else
	chmod 0555 "$D4"
	ro_run() { "$NK" "$@"; }
fi
if ! ro_run --version >/dev/null 2>&1; then
	it_skip "no read-only mount here (unshare -m / mount --bind refused)"
else
	ro_run fetch "$U/v101/" "${KEY[@]}" "${CA[@]}" --state-dir "$D4" -o "$T/out/st-ro" \
		>"$T/log/st-ro" 2>&1
	RC=$? OUT=$T/log/st-ro
	if expect 74 "state directory $D4 cannot be written"; then
		run st-nodir fetch "$U/v101/" "${KEY[@]}" "${CA[@]}" --state-dir "$T/no/such/dir" \
			-o "$T/out/st-nodir"
		if ! expect 74 "state directory $T/no/such/dir"; then
			:
		elif [ -e "$T/out/st-ro" ] || [ "$(cat "$D4/version")" != 100 ]; then
			it_fail "fetched or floor changed"
		else
			it_pass
		fi
	fi
fi
chmod 0755 "$D4"

# --- reports ----------------------------------------------------------------
it_case "report: start, verified and result of one run, one nonce"
before=$(lines "$COLLECT")
run rep-ok fetch "$U/v100/" "${KEY[@]}" "${CA[@]}" --report "$U/collect" -o "$T/out/rep-ok"
if expect 0 "fetched"; then
	got=$(new_lines "$COLLECT" "$before")
	n=$(printf '%s\n' "$got" | nonces | wc -l)
	ev=$(printf '%s\n' "$got" | sed -n 's/^{"event":"\([a-z]*\)".*/\1/p' | tr '\n' ' ')
	if [ "$n" -ne 1 ]; then
		it_fail "$n nonces in: $got"
	elif [ "$ev" != "start verified result " ]; then
		it_fail "events: $ev"
	elif ! printf '%s\n' "$got" | grep -q '"event":"verified".*"bundle":{"name":"nixos-[^"]*","version":100}'; then
		it_fail "verified lacks the bundle: $got"
	elif ! printf '%s\n' "$got" | grep -q "\"event\":\"start\".*\"source\":\"$U/v100/\""; then
		it_fail "start lacks the source: $got"
	elif ! printf '%s\n' "$got" | grep -q '"event":"result".*"exit":0,"code":"ok"'; then
		it_fail "result: $got"
	else
		it_pass
	fi
fi

it_case "report: a refused bundle reports start and result (exit 65, code), no verified"
before=$(lines "$COLLECT")
run rep-bad fetch "$U/bad/" "${KEY[@]}" "${CA[@]}" --report "$U/collect" -o "$T/out/rep-bad"
if expect 65 "sha256 mismatch"; then
	got=$(new_lines "$COLLECT" "$before")
	ev=$(printf '%s\n' "$got" | sed -n 's/^{"event":"\([a-z]*\)".*/\1/p' | tr '\n' ' ')
	if [ "$ev" != "start result " ]; then
		it_fail "events: $ev"
	elif ! printf '%s\n' "$got" | grep -q '"exit":65,"code":"hash","message":"initrd: sha256 mismatch'; then
		it_fail "result: $got"
	else
		it_pass
	fi
fi

# Issue 19.2: a SOURCE and a --report URL with credentials; the requests
# use them, nothing that leaves the process or is stored carries them.
UC=${U/https:\/\//https://fleet:s3cr3t@}
for c in ok:v100:0 missing:nothere:69; do
	IFS=: read -r name dir want <<<"$c"
	it_case "redaction: $name run: no credential in reports, last-result.json or output"
	before=$(lines "$COLLECT")
	rm -rf "$T/state-red-$name"
	run "red-$name" fetch "$UC/$dir/" "${KEY[@]}" "${CA[@]}" --json \
		--report "${UC}/collect" --state-dir "$T/state-red-$name" -o "$T/out/red-$name"
	if expect "$want" ""; then
		got=$(new_lines "$COLLECT" "$before")
		if [ "$(printf '%s\n' "$got" | grep -c .)" -lt 2 ]; then
			it_fail "collected: $got"
		elif grep -q s3cr3t "$OUT" "$T/state-red-$name/last-result.json" <<<"$got" ||
			printf '%s\n' "$got" | grep -q s3cr3t; then
			it_fail "leaked: $(grep -h s3cr3t "$OUT" "$T/state-red-$name/last-result.json"; printf '%s\n' "$got" | grep s3cr3t)"
		elif ! printf '%s\n' "$got" | grep -qF "\"source\":\"${U/https:\/\//https://***@}/$dir/\""; then
			it_fail "source not redacted as https://***@...: $got"
		else
			it_pass
		fi
	fi
done

# Issue 19.4: the splay comes after boot's lock and preflight. As nobody
# (not root: the preflight's first refusal), boot --splay 300 must end at
# once with 77 instead of sleeping first.
it_case "splay: boot that cannot kexec says so before the splay, not after"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	S=$T/splay; mkdir -p "$S/state" && chmod o+x "$T" && chmod 755 "$S" && chmod 777 "$S/state"
	cp "$T/pub" "$T/ca.pem" "$S/" && chmod 644 "$S/pub" "$S/ca.pem"
	t0=$(date +%s)
	timeout 60 setpriv --reuid=65534 --regid=65534 --clear-groups "$NK" boot "$U/v100/" \
		--no-config -p "$S/pub" --cacert "$S/ca.pem" --splay 300 --state-dir "$S/state" \
		--exec none >"$T/log/splay-first" 2>&1
	rc=$? secs=$(($(date +%s) - t0))
	[ "$rc" = 77 ] && [ "$secs" -lt 20 ] && ! grep -q "splay: waiting" "$T/log/splay-first" &&
		it_pass || it_fail "exit $rc after $secs s: $(tail -n 2 "$T/log/splay-first" | tr '\n' ' ')"
else
	it_skip "needs root and setpriv to run the agent as nobody"
fi

it_case "report: a dead collector (closed port) does not change the outcome"
run rep-dead fetch "$U/v100/" "${KEY[@]}" "${CA[@]}" --report "https://127.0.0.1:1/c" \
	--state-dir "$T/state-dead" -o "$T/out/rep-dead"
if expect 0 "not delivered to https://127.0.0.1:1/c"; then
	grep -q "no more reports" "$OUT" && [ "$(cat "$T/state-dead/version")" = 100 ] &&
		it_pass || it_fail "did not give up, or the floor was not recorded"
fi

it_case "report: a collector that never answers TLS costs at most two short timeouts"
it_start_stub "$T" "$ROOT" --fault tlshang || exit 1
HANG=$STUB_URL
run rep-hang fetch "$U/v100/" "${KEY[@]}" "${CA[@]}" --report "$HANG/c" -o "$T/out/rep-hang"
if expect 0 "fetched"; then
	[ "$SECS" -le 25 ] && it_pass || it_fail "took $SECS s"
fi
# Issue 19.3: the reports' time is not the run's: the 'start' report to a
# collector that never answers TLS costs its own 5 s connect limit; with
# --timeout 4 and a download well under a second, the run still ends in 0.
it_case "report: a collector that never answers does not spend the run's --timeout"
run rep-hang-t fetch "$U/v100/" "${KEY[@]}" "${CA[@]}" --report "$HANG/c" --timeout 4 \
	-o "$T/out/rep-hang-t"
expect 0 "fetched" && it_pass
it_stop_stub

it_case "report: a collector answering 500 does not change the outcome"
it_start_stub "$T" "$ROOT" --collect "$T/collect500" --fault status:500:1000 || exit 1
run rep-500 fetch "$ROOT/v100" "${KEY[@]}" "${CA[@]}" --report "$STUB_URL/c" -o "$T/out/rep-500"
expect 0 "HTTP 500 from the collector" && { [ ! -s "$T/collect500" ] && it_pass || it_fail "collected"; }
it_stop_stub

it_case "report: the collector's certificate is verified against the CA options"
before=$(lines "$COLLECT")
run rep-ca fetch "$ROOT/v100" "${KEY[@]}" --cacert "$T/other-ca.pem" --report "$U/collect" \
	-o "$T/out/rep-ca"
if expect 0 "not delivered"; then
	[ "$(lines "$COLLECT")" -eq "$before" ] && it_pass || it_fail "a report got through"
fi

it_case "report: http:// is refused (64)"
run rep-http fetch "$U/v100/" "${KEY[@]}" "${CA[@]}" --report "http://127.0.0.1:$STUB_PORT/c" \
	-o "$T/out/rep-http"
expect 64 "only https://" && it_pass

it_case "report: warnings are JSON events with --json"
run rep-json fetch "$ROOT/v100" "${KEY[@]}" --report "https://127.0.0.1:1/c" --json \
	-o "$T/out/rep-json"
expect 0 '{"event":"info","file":"report","message":"'"'"'start'"'"' not delivered' && it_pass

# --- Retry-After --------------------------------------------------------------
it_case "retry-after: a 503 with Retry-After: 3 is waited for"
it_start_stub "$T" "$ROOT" --fault status:503:1@manifest --fault retryafter:3 || exit 1
run ra-503 fetch "$STUB_URL/v100/" "${KEY[@]}" "${CA[@]}" -o "$T/out/ra-503"
if expect 0 "come back in 3 s (Retry-After)"; then
	[ "$SECS" -ge 3 ] && it_pass || it_fail "retried after $SECS s"
fi
it_stop_stub

it_case "retry-after: a 429 with an HTTP date is waited for"
when=$(date -u -d "@$(($(date +%s) + 3))" '+%a, %d %b %Y %H:%M:%S GMT')
it_start_stub "$T" "$ROOT" --fault status:429:1@manifest --fault "retryafter:$when" || exit 1
run ra-429 fetch "$STUB_URL/v100/" "${KEY[@]}" "${CA[@]}" -o "$T/out/ra-429"
if expect 0 "(Retry-After)"; then
	[ "$SECS" -ge 2 ] && it_pass || it_fail "retried after $SECS s"
fi
it_stop_stub

it_case "retry-after: without the header, the usual short backoff"
it_start_stub "$T" "$ROOT" --fault status:503:1@manifest || exit 1
run ra-none fetch "$STUB_URL/v100/" "${KEY[@]}" "${CA[@]}" -o "$T/out/ra-none"
if expect 0 "fetched"; then
	if grep -q "Retry-After" "$OUT"; then
		it_fail "a Retry-After wait without the header"
	else
		[ "$SECS" -le 2 ] && it_pass || it_fail "took $SECS s"
	fi
fi
it_stop_stub

it_case "retry-after: a huge value is capped (the run's --timeout ends it, not a day's wait)"
it_start_stub "$T" "$ROOT" --fault status:503:1@manifest --fault retryafter:86400 || exit 1
run ra-cap fetch "$STUB_URL/v100/" "${KEY[@]}" "${CA[@]}" --timeout 5 -o "$T/out/ra-cap"
if expect 69 "come back in 300 s (Retry-After), past the --timeout 5 s"; then
	if grep -q "took longer than" "$OUT"; then
		it_fail "called a run that took longer than its --timeout"
	else
		[ "$SECS" -le 6 ] && it_pass || it_fail "took $SECS s"
	fi
fi
it_stop_stub

# --- splay ------------------------------------------------------------------
it_case "splay: a random wait before the first request, printed and reported"
before=$(lines "$COLLECT")
run splay fetch "$ROOT/v100" "${KEY[@]}" "${CA[@]}" --splay 2 --report "$U/collect" -o "$T/out/splay"
if expect 0 "splay: waiting "; then
	w=$(sed -n 's/.*splay: waiting \([0-9]*\) s before the first request (random, at most 2).*/\1/p' "$OUT")
	if [ -z "$w" ] || [ "$w" -gt 2 ]; then
		it_fail "wait '$w'"
	elif [ "$w" -gt 0 ] && ! new_lines "$COLLECT" "$before" | grep -q "\"splay\":$w"; then
		it_fail "start lacks splay $w"
	else
		it_pass
	fi
fi

# --- the stub as collector ----------------------------------------------------
post() { # post URL DATA [curl args]: prints the status
	local url=$1 data=$2
	shift 2
	curl -s -o /dev/null -w '%{http_code}' --cacert "$T/ca.pem" -H 'Content-Type: application/json' \
		--data-binary "$data" "$@" "$url"
}
it_case "stub --collect: a JSON object is appended as one line"
before=$(lines "$COLLECT")
it_expect_eq "$(post "$U/c" '{"event":"up","x":1}')/$(new_lines "$COLLECT" "$before")" \
	'200/{"event":"up","x":1}'
it_case "stub --collect: not an object, a newline inside, too big, chunked, no length: refused"
before=$(lines "$COLLECT")
big=$(head -c 70000 /dev/zero | tr '\0' a)
got="$(post "$U/c" 'hello') $(post "$U/c" $'{"a":\n1}') $(post "$U/c" "{\"a\":\"$big\"}")"
got="$got $(post "$U/c" '{"a":1}' -H 'Transfer-Encoding: chunked')"
got="$got $(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/ca.pem" -X POST "$U/c")"
if [ "$got" = "400 400 413 400 411" ] && [ "$(lines "$COLLECT")" -eq "$before" ]; then
	it_pass
else
	it_fail "statuses $got, $(($(lines "$COLLECT") - before)) lines added"
fi
it_case "stub without --collect: POST is 405"
it_start_stub "$T" "$ROOT" || exit 1
it_expect_eq "$(post "$STUB_URL/c" '{"a":1}')" 405
it_stop_stub

# --- load: 50 agents at once ----------------------------------------------------
AGENTS=50
it_case "load: $AGENTS agents at once against nginx, --splay 5, --report to one collector"
if ! it_start_nginx "$T" "$ROOT"; then
	it_fail "nginx did not start"
else
	LOADC=$T/load.jsonl
	it_start_stub "$T" "$ROOT" --collect "$LOADC" || exit 1
	pids=()
	mkdir -p "$T/load"
	for i in $(seq 1 "$AGENTS"); do
		"$NK" fetch "$NGINX_URL/v100/" "${KEY[@]}" "${CA[@]}" --splay 5 --report "$STUB_URL/collect" \
			--state-dir "$T/load/s$i" -o "$T/load/o$i" >"$T/load-$i.log" 2>&1 &
		pids+=($!)
	done
	bad=0
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || bad=$((bad + 1))
	done
	n=$(nonces <"$LOADC" | wc -l)
	full=$(sed -n 's/^{"event":"\([a-z]*\)","nonce":"\([0-9a-f]*\)".*/\2 \1/p' "$LOADC" | sort -u |
		awk '{ seen[$1] = seen[$1] " " $2 } END { for (k in seen) if (seen[k] ~ /start/ &&
			seen[k] ~ /verified/ && seen[k] ~ /result/) c++; print c + 0 }')
	ok=$(grep -c '"event":"result".*"exit":0,' "$LOADC")
	splays=$(cat "$T"/load-*.log | grep -c 'splay: waiting')
	gets=$(grep -c '"GET /v100/' "$T/nginx/access.log")
	if [ "$bad" -ne 0 ]; then
		it_fail "$bad agents failed: $(grep -h error "$T"/load-*.log | sort | uniq -c | head -n 3)"
	elif [ "$n" -ne "$AGENTS" ] || [ "$full" -ne "$AGENTS" ] || [ "$ok" -ne "$AGENTS" ]; then
		it_fail "collector: $n nonces, $full with start+verified+result, $ok results ok"
	elif [ "$splays" -ne "$AGENTS" ]; then
		it_fail "$splays splay lines"
	elif [ "$gets" -lt $((AGENTS * 4)) ]; then
		it_fail "nginx served $gets GETs"
	else
		it_pass
	fi
	it_stop_stub
	it_stop_nginx
fi

it_summary
