#!/usr/bin/env bash
# minisign interoperability both ways, at the command line a user types:
# keys and signatures from Debian's minisign are accepted by the agent;
# keys and signatures from the agent pass `minisign -V`.
set -u
. "$(dirname "$0")/lib.sh"
NK=$B/nixos-kexec
it_tmpdir; T=$IT_TMP
head -c 100000 /dev/urandom >"$T/k"; head -c 200000 /dev/urandom >"$T/i"
mkb() { "$NK" bundle --kernel "$T/k" --initrd "$T/i" --cmdline x --version 1 -o "$1" >/dev/null; }

it_case "agent-keygen-W-then-sign: minisign -V accepts"
mkb "$T/b1"
"$NK" keygen -W -p "$T/a.pub" -s "$T/a.sec" >/dev/null 2>&1 &&
	"$NK" sign -s "$T/a.sec" "$T/b1" >/dev/null 2>&1 &&
	minisign -V -q -p "$T/a.pub" -m "$T/b1/manifest" && it_pass || it_fail "minisign -V refused"

it_case "agent-signature-is-prehashed-ED"
sig=$(sed -n 2p "$T/b1/manifest.minisig" | base64 -d 2>/dev/null | head -c 2)
it_expect_eq "$sig" "ED"

it_case "minisign-keys-and-signature: agent verify accepts"
mkb "$T/b2"
minisign -G -W -p "$T/m.pub" -s "$T/m.sec" >/dev/null &&
	minisign -S -s "$T/m.sec" -m "$T/b2/manifest" >/dev/null &&
	"$NK" verify "$T/b2" -p "$T/m.pub" >"$T/log" 2>&1 && it_pass || it_fail "$(tail -n1 "$T/log")"

it_case "minisign-key-as--P-string"
"$NK" verify "$T/b2" -P "$(tail -n1 "$T/m.pub")" >"$T/log" 2>&1 && it_pass || it_fail "$(tail -n1 "$T/log")"

it_case "agent-sign-with-minisign-made-key: minisign -V accepts"
mkb "$T/b3"
"$NK" sign -s "$T/m.sec" "$T/b3" >/dev/null 2>&1 &&
	minisign -V -q -p "$T/m.pub" -m "$T/b3/manifest" && it_pass || it_fail "minisign -V refused"

it_case "minisign-signs-agent-made-key: agent verify accepts"
mkb "$T/b4"
minisign -S -s "$T/a.sec" -m "$T/b4/manifest" >/dev/null 2>&1 &&
	"$NK" verify "$T/b4" -p "$T/a.pub" >"$T/log" 2>&1 && it_pass || it_fail "$(tail -n1 "$T/log")"

it_case "legacy-Ed-from-minisign--l: refused, then accepted with --allow-legacy"
mkb "$T/b5"
minisign -S -l -s "$T/m.sec" -m "$T/b5/manifest" >/dev/null
"$NK" verify "$T/b5" -p "$T/m.pub" >"$T/log" 2>&1; rc1=$?
"$NK" verify "$T/b5" -p "$T/m.pub" --allow-legacy >/dev/null 2>&1; rc2=$?
it_expect_eq "$rc1/$rc2" "65/0"

it_case "encrypted-agent-key (password on stdin): minisign -V accepts"
mkb "$T/b6"
printf 'pw-for-test\npw-for-test\n' | "$NK" keygen -p "$T/e.pub" -s "$T/e.sec" >/dev/null 2>&1 &&
	printf 'pw-for-test\n' | "$NK" sign -s "$T/e.sec" "$T/b6" >/dev/null 2>&1 &&
	minisign -V -q -p "$T/e.pub" -m "$T/b6/manifest" && it_pass || it_fail "encrypted key round trip failed"

it_case "encrypted-agent-key-wrong-password: exit 64, no signature written"
mkb "$T/b7"
printf 'wrong\n' | "$NK" sign -s "$T/e.sec" "$T/b7" >"$T/log" 2>&1; rc=$?
[ $rc -eq 64 ] && [ ! -e "$T/b7/manifest.minisig" ] && grep -qi password "$T/log" && it_pass ||
	it_fail "exit $rc: $(tail -n1 "$T/log")"

it_case "keygen-refuses-to-overwrite"
"$NK" keygen -W -p "$T/a.pub" -s "$T/a.sec" >"$T/log" 2>&1; rc=$?
[ $rc -eq 64 ] && it_pass || it_fail "exit $rc"
it_summary
