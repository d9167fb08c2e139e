#!/usr/bin/env bash
# The lean bundle's store (issue 22, manifest format 2): `bundle --store`,
# fetched and verified like kernel and initrd (fetch -o, a tampered store
# refused), and boot's --store initrd|stage1|auto run to the end with the
# agent built with its system calls replaced (build/tests/nixos-kexec-fakesys,
# tests/integration/sys_fake.c: a faked /proc/meminfo; the "load" copies
# what the kernel would read; this machine's kernel is never touched).
# Over real HTTPS from the stub on loopback.
#
# Sizes: kernel 64 KiB, initrd a 4 KiB newc archive, store 24 MiB. With
# the store in the initrd B is 24.07 MiB: RAM staging needs 3.3 B + 64 =
# 143.5 MiB, disk 2.3 B + 64 = 119.4 MiB; without it (stage1) 64.2 and
# 64.2 MiB. MemAvailable 400: initrd; 100: only stage1 fits.
set -u
. "$(dirname "$0")/lib.sh"
it_fakesys store in/etc || exit

minisign -G -W -p "$T/pub" -s "$T/sec" >/dev/null
head -c 65536 /dev/urandom >"$T/bzImage"
echo "stage 1" >"$T/in/etc/stage1"
(cd "$T/in" && find etc | cpio -o -H newc --quiet) >"$T/initrd"
head -c $((24 << 20)) /dev/urandom >"$T/nix-store.squashfs"
it_case "store: bundle --store writes format 2 with a store line"
"$B/nixos-kexec" bundle --kernel "$T/bzImage" --initrd "$T/initrd" --store "$T/nix-store.squashfs" \
	--cmdline "console=ttyS0" --version 7 -o "$T/root/b" >"$T/log/bundle" 2>&1
if head -n 1 "$T/root/b/manifest" | grep -qx 'nixos-kexec-manifest 2' &&
	grep -qx "store nix-store.squashfs $((24 << 20)) sha256:$(sha256sum <"$T/nix-store.squashfs" | cut -c1-64)" \
		"$T/root/b/manifest"; then
	it_pass
else
	it_fail "$(cat "$T/root/b/manifest" "$T/log/bundle")"
fi
minisign -S -s "$T/sec" -m "$T/root/b/manifest" >/dev/null
cp -r "$T/root/b" "$T/root/bad"
printf 'X' | dd of="$T/root/bad/nix-store.squashfs" bs=1 seek=4096 conv=notrunc 2>/dev/null
it_start_stub "$T" "$T/root" || exit 1
ARGS=(-p "$T/pub" --cacert "$T/ca.pem" "${STATE[@]}")

served() { grep -c "GET /$1" "$STUB_LOG"; }
I=$(stat -c %s "$T/initrd")
# The loaded initrd after the verified one: newc entries "nixos-kexec" (dir)
# and "nixos-kexec/nix-store.squashfs", then the store's bytes.
store_member_ok() {
	local names
	names=$(tail -c +$((I + 1)) "$NK_FAKE_LOG.initrd" | cpio -t --quiet 2>/dev/null | tr '\n' ' ')
	[ "$names" = "nixos-kexec nixos-kexec/nix-store.squashfs " ] || { echo "entries: $names"; return 1; }
	# 124 = dir header + name padded; 144 = file header + name padded
	tail -c +$((I + 124 + 144 + 1)) "$NK_FAKE_LOG.initrd" | head -c $((24 << 20)) |
		cmp -s - "$T/nix-store.squashfs" || { echo "store bytes differ"; return 1; }
	cmp -s -n "$I" "$NK_FAKE_LOG.initrd" "$T/initrd" || { echo "initrd prefix differs"; return 1; }
}

# The kernel's rule for what follows an archive (init/initramfs.c,
# unpack_to_rootfs): zeros are skipped, and a newc header is taken only at
# an offset that is a multiple of 4; elsewhere "070701" is read as the
# magic of a compressed archive ("invalid magic"), and the rest is lost.
# OFF: where the verified initrd (with its handoff) ends.
kernel_takes_store() {
	local off=$1 n
	n=$(((4 - off % 4) % 4))
	[ "$(tail -c +$((off + 1)) "$NK_FAKE_LOG.initrd" | head -c "$n" | tr -d '\0' | wc -c)" = 0 ] &&
		[ "$(tail -c +$((off + n + 1)) "$NK_FAKE_LOG.initrd" | head -c 6)" = 070701 ] ||
		{ echo "no newc header at a multiple of 4 after byte $off: $(tail -c +$((off + 1)) "$NK_FAKE_LOG.initrd" | head -c 8 | od -An -c | tr -s ' ')"; return 1; }
	tail -c +$((off + n + 1)) "$NK_FAKE_LOG.initrd" | cpio -t --quiet 2>/dev/null | grep -qx 'nixos-kexec/nix-store.squashfs' ||
		{ echo "the archive after byte $off has no nixos-kexec/nix-store.squashfs"; return 1; }
}

it_case "store: fetch -o keeps the verified store beside kernel and initrd"
run fetch 400 fetch "$STUB_URL/b/" "${ARGS[@]}" -o "$T/out"
expect 0 "store $((24 << 20)) bytes, verified" && { cmp -s "$T/out/nix-store.squashfs" "$T/nix-store.squashfs" && it_pass ||
	it_fail "the store differs or is missing"; }

it_case "store: a store whose bytes differ from the manifest is refused"
run fetch-bad 400 fetch "$STUB_URL/bad/" "${ARGS[@]}" -o "$T/out-bad"
expect 65 "nix-store.squashfs: sha256 mismatch" && { [ ! -e "$T/out-bad" ] && it_pass ||
	it_fail "an output directory was left"; }

it_case "store: boot --store initrd: the store is verified and appended to the initrd as a newc entry"
run initrd 400 boot "$STUB_URL/b/" "${ARGS[@]}" --exec none --no-handoff --store initrd
expect 0 "--store initrd: initrd: nix-store.squashfs" "at /nixos-kexec/nix-store.squashfs" &&
	{ why=$(store_member_ok) && why=$(kernel_takes_store "$I") && it_pass || it_fail "$why"; }

it_case "store: boot --store initrd after an initrd whose length is not a multiple of 4 (a gzip'd handoff's end): the store's archive starts where the kernel reads one"
# A gzip'd newc archive as the bundle's initrd, its length 1 mod 4 (as the
# verified initrd with its gzip'd handoff often is).
for i in $(seq 0 40); do
	head -c "$i" /dev/zero >"$T/in/etc/pad"
	(cd "$T/in" && find etc | cpio -o -H newc --quiet) | gzip -n -9 >"$T/initrd-odd"
	[ $(($(stat -c %s "$T/initrd-odd") % 4)) = 1 ] && break
done
rm -f "$T/in/etc/pad"
"$B/nixos-kexec" bundle --kernel "$T/bzImage" --initrd "$T/initrd-odd" --store "$T/nix-store.squashfs" \
	--cmdline "console=ttyS0" --version 7 -o "$T/root/odd" >"$T/log/bundle-odd" 2>&1 &&
	minisign -S -s "$T/sec" -m "$T/root/odd/manifest" >/dev/null
run initrd-odd 400 boot "$STUB_URL/odd/" "${ARGS[@]}" --exec none --no-handoff --store initrd
expect 0 "at /nixos-kexec/nix-store.squashfs" &&
	{ why=$(kernel_takes_store "$(stat -c %s "$T/initrd-odd")") && it_pass || it_fail "$why"; }

it_case "store: boot --store initrd with a tampered store: refused, nothing loaded"
run initrd-bad 400 boot "$STUB_URL/bad/" "${ARGS[@]}" --exec none --no-handoff --store initrd
expect 65 "nix-store.squashfs: sha256 mismatch" &&
	{ [ ! -e "$NK_FAKE_LOG" ] && it_pass || it_fail "loaded: $(cat "$NK_FAKE_LOG")"; }

it_case "store: boot --store auto with room: initrd"
run auto-room 400 boot "$STUB_URL/b/" "${ARGS[@]}" --exec none --no-handoff
expect 0 "--store auto: initrd" && { why=$(store_member_ok) && it_pass || it_fail "$why"; }

it_case "store: boot --store auto at 100 MiB: stage1, says why, the store not fetched, hash and key in the handoff"
before=$(served bad/nix-store.squashfs; served b/nix-store.squashfs)
# A mirror with credentials (on a port nothing listens on): boot.json lists
# it redacted after the source.
DEAD=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(LocalAddr => "127.0.0.1",
	LocalPort => 0, Listen => 1)->sockport, "\n"')
run auto-small 100 boot "$STUB_URL/b/" "${ARGS[@]}" --exec none --no-host-keys --stage-dir "$T" \
	--mirror "https://fleet:s3cr3t@127.0.0.1:$DEAD/b/"
after=$(served bad/nix-store.squashfs; served b/nix-store.squashfs)
expect 0 "--store auto: stage1: nix-store.squashfs ($((24 << 20)) bytes) is left to the new system's stage 1" \
	"the RAM needs it" && {
	if [ "$before" != "$after" ]; then
		it_fail "the store was downloaded"
	elif ! tail -c +$((I + 1)) "$NK_FAKE_LOG.initrd" | gzip -dc 2>/dev/null |
		cpio -i --quiet --to-stdout nixos-kexec/handoff/boot.json 2>/dev/null >"$T/boot.json"; then
		it_fail "no boot.json in the handoff"
	elif ! grep -qF "\"store\":{\"name\":\"nix-store.squashfs\",\"size\":$((24 << 20)),\"sha256\":\"$(sha256sum <"$T/nix-store.squashfs" | cut -c1-64)\",\"mode\":\"stage1\"" "$T/boot.json"; then
		it_fail "boot.json: $(cat "$T/boot.json")"
	elif ! grep -qF "\"sources\":[\"$STUB_URL/b/\",\"https://***@127.0.0.1:$DEAD/b/\"]" "$T/boot.json" ||
		grep -q s3cr3t "$T/boot.json"; then
		it_fail "boot.json's sources: $(cat "$T/boot.json")"
	elif ! tail -c +$((I + 1)) "$NK_FAKE_LOG.initrd" | gzip -dc 2>/dev/null |
		cpio -i --quiet --to-stdout nixos-kexec/handoff/bundle-keys 2>/dev/null |
		grep -qxF "$(tail -n 1 "$T/pub")"; then
		it_fail "bundle-keys does not carry the trusted key"
	else
		it_pass
	fi
}

# --- stage 1 (nix/handoff/store.sh) with the handoff boot made above --------
STORE_SH=$(dirname "$0")/../../nix/handoff/store.sh
SR=$T/stage1
mkdir -p "$SR"
tail -c +$((I + 1)) "$NK_FAKE_LOG.initrd" | gzip -dc 2>/dev/null | (cd "$SR" && cpio -i -d --quiet 2>/dev/null)
BIN=$(realpath "$B")
stage1() { # NAME: store.sh on SR's handoff, the agent on PATH; RC, OUT set
	rm -f "$SR/store"
	PATH=$BIN:$PATH sh "$STORE_SH" "$SR" "$SR/store" --cacert "$T/ca.pem" >"$T/log/$1" 2>&1
	RC=$?
	OUT=$T/log/$1
}
set_sources() { # boot.json's "sources" becomes [LIST]
	sed -i 's|"sources":\[[^]]*\]|"sources":['"$1"']|' "$SR/nixos-kexec/handoff/boot.json"
}
it_case "store: stage 1 (stage1 mode) fetches the store with the agent and checks the carried hash, skipping the redacted mirror"
stage1 s1-good
expect 0 "nix-store.squashfs verified ($((24 << 20)) bytes" \
	"skipping https://***@127.0.0.1:$DEAD/b/: its credentials were not handed over" && {
	cmp -s "$SR/store" "$T/nix-store.squashfs" && [ ! -e "$SR/store.bundle" ] && it_pass ||
		it_fail "the store differs, or the bundle directory was left"; }

it_case "store: stage 1 moves on to the next of boot.json's sources when the first does not answer"
set_sources "\"https://127.0.0.1:$DEAD/b/\",\"$STUB_URL/b/\""
stage1 s1-mirror
expect 0 "(mirrors: $STUB_URL/b/)" "nix-store.squashfs verified" && {
	cmp -s "$SR/store" "$T/nix-store.squashfs" && it_pass || it_fail "the store differs"; }

it_case "store: stage 1 with only redacted sources refuses (nothing it could fetch from)"
set_sources "\"https://***@127.0.0.1:$DEAD/b/\",\"$STUB_URL/b/?***\""
stage1 s1-redacted
expect 1 "boot.json names no source to fetch the store from" "rebooting into the old system" &&
	{ [ ! -e "$SR/store" ] && it_pass || it_fail "a store was left"; }

it_case "store: stage 1 refuses a served store whose bytes differ from the manifest"
set_sources "\"$STUB_URL/bad/\""
stage1 s1-bad
expect 1 "fetching the bundle from $STUB_URL/bad/ failed" "rebooting into the old system" &&
	{ [ ! -e "$SR/store" ] && it_pass || it_fail "a store was left"; }

it_case "store: stage 1 refuses a validly signed newer store that is not the one verified before the kexec"
mkdir -p "$T/o" && head -c $((24 << 20)) /dev/urandom >"$T/o/nix-store.squashfs"
"$B/nixos-kexec" bundle --kernel "$T/bzImage" --initrd "$T/initrd" --store "$T/o/nix-store.squashfs" \
	--cmdline "console=ttyS0" --version 8 -o "$T/root/b8" >/dev/null
minisign -S -s "$T/sec" -m "$T/root/b8/manifest" >/dev/null
set_sources "\"$STUB_URL/b8/\""
stage1 s1-other
expect 1 "lists 'store nix-store.squashfs $((24 << 20)) sha256:$(sha256sum <"$T/o/nix-store.squashfs" | cut -c1-64)', the manifest verified before the kexec says 'store nix-store.squashfs $((24 << 20)) sha256:$(sha256sum <"$T/nix-store.squashfs" | cut -c1-64)'" &&
	{ [ ! -e "$SR/store" ] && it_pass || it_fail "a store was left"; }

it_case "store: stage 1 refuses a bundle signed by a key boot did not trust"
minisign -G -W -p "$T/pub2" -s "$T/sec2" >/dev/null
cp -r "$T/root/b" "$T/root/b-other-key"
minisign -S -s "$T/sec2" -m "$T/root/b-other-key/manifest" >/dev/null
set_sources "\"$STUB_URL/b-other-key/\""
stage1 s1-key
expect 1 "rebooting into the old system" && it_pass

# --- stage1.sh --store: network, fetch, refusal and reboot ----------------
# The handoff of the boot above with a crafted network: a static NIC (MAC
# 52:54:00:00:00:01) and a DHCP one (52:54:00:00:00:02), a bond port
# (left to stage 2) and a unit whose NIC is not there. `ip`, `udhcpc` and
# `reboot` are stubs on PATH that log their arguments (nothing of this
# machine's network is touched); sys/class/net is PREFIX's. The fetch is
# real, over HTTPS on loopback.
STAGE1_SH=$(dirname "$0")/../../nix/handoff/stage1.sh
NET=$SR/nixos-kexec/handoff/network
rm -rf "$NET" && mkdir -p "$NET" "$SR/sys/class/net/ens3" "$SR/sys/class/net/ens4" "$T/stubs"
echo 52:54:00:00:00:01 >"$SR/sys/class/net/ens3/address"
echo 52:54:00:00:00:02 >"$SR/sys/class/net/ens4/address"
printf '[Match]\nMACAddress=52:54:00:00:00:01\n\n[Link]\nMTUBytes=9000\n\n[Network]\nAddress=192.0.2.10/24\nDNS=192.0.2.53\n\n[Route]\nGateway=192.0.2.1\nGatewayOnLink=yes\n\n[Route]\nDestination=198.51.100.0/24\nGateway=192.0.2.254\nMetric=50\n' \
	>"$NET/10-nixos-kexec-ens3.network"
printf '[Match]\nMACAddress=52:54:00:00:00:02\n\n[Network]\nDHCP=ipv4\n' >"$NET/10-nixos-kexec-ens4.network"
printf '[Match]\nPermanentMACAddress=52:54:00:00:00:03\n\n[Network]\nBond=bond0\n' >"$NET/10-nixos-kexec-ens5.network"
printf '[Match]\nMACAddress=52:54:00:00:00:09\n\n[Network]\nAddress=192.0.2.99/24\n' >"$NET/10-nixos-kexec-gone.network"
for c in ip udhcpc reboot wait-online; do
	printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$c" "$T/stubs.log" >"$T/stubs/$c"
	chmod +x "$T/stubs/$c"
done
mkdir -p "$SR/etc/nixos-kexec"
cp "$(dirname "$0")/../../nix/handoff/store.sh" "$(dirname "$0")/../../nix/handoff/stage1-net.sh" "$SR/etc/nixos-kexec/"
stage1_store() { # NAME: stage1.sh --store with PREFIX SR; RC, OUT set
	rm -f "$SR/store" "$T/stubs.log"
	: >"$T/stubs.log"
	PATH=$T/stubs:$BIN:$PATH sh "$STAGE1_SH" --store "$SR/store" "$SR" --cacert "$T/ca.pem" >"$T/log/$1" 2>&1
	RC=$?
	OUT=$T/log/$1
}
logged() { grep -qxF -- "$1" "$T/stubs.log" || { it_fail "not run: '$1' (ran: $(tr '\n' ';' <"$T/stubs.log"))"; return 1; }; }
set_sources "\"$STUB_URL/b/\""

it_case "stage1.sh --store: brings up the handed-over NICs (address, MTU, routes, DNS, DHCP), fetches, verifies, takes the network down, no reboot"
stage1_store s1sh-good
expect 0 "nix-store.squashfs verified" "bond, bridge, VLAN or port is not made in stage 1" "no NIC with MAC 52:54:00:00:00:09" &&
	logged "ip link set dev ens3 mtu 9000" && logged "ip addr add 192.0.2.10/24 dev ens3" &&
	logged "ip -4 route add default via 192.0.2.1 dev ens3 onlink" &&
	logged "ip -4 route add 198.51.100.0/24 via 192.0.2.254 dev ens3 metric 50" &&
	logged "udhcpc -i ens4 -n -q -t 5 -T 2 -s $(realpath "$SR/etc/nixos-kexec/stage1-net.sh")" &&
	logged "ip addr flush dev ens3" && logged "ip link set dev ens4 down" && {
	if ! cmp -s "$SR/store" "$T/nix-store.squashfs"; then
		it_fail "the store differs"
	elif grep -q "^reboot" "$T/stubs.log"; then
		it_fail "reboot was run"
	elif ! grep -qx "nameserver 192.0.2.53" "$SR/etc/resolv.conf"; then
		it_fail "resolv.conf: $(cat "$SR/etc/resolv.conf" 2>&1)"
	else
		it_pass
	fi
}

it_case "stage1.sh --store: a served store whose bytes differ is refused, said on the console, reboot -f run"
set_sources "\"$STUB_URL/bad/\""
stage1_store s1sh-bad
if [ "$RC" -eq 0 ]; then
	it_fail "status 0"
else
	RC=1 expect 1 "nix-store.squashfs: sha256 mismatch" "cannot boot without its store: rebooting into the old system" &&
		logged "reboot -f" && { [ ! -e "$SR/store" ] && it_pass || it_fail "a store was left"; }
fi

it_case "stage1.sh --store: a validly signed other store refused by the carried hash, reboot -f run"
set_sources "\"$STUB_URL/b8/\""
stage1_store s1sh-other
RC=$((RC == 0 ? 0 : 1))
expect 1 "the manifest verified before the kexec says" "rebooting into the old system" && logged "reboot -f" && it_pass

it_case "stage1.sh --store: NIXOS_KEXEC_NET=networkd leaves the network to networkd (no ip run), waits with NIXOS_KEXEC_WAIT_ONLINE"
set_sources "\"$STUB_URL/b/\""
NIXOS_KEXEC_NET=networkd NIXOS_KEXEC_WAIT_ONLINE="wait-online --any --timeout=90" stage1_store s1sh-networkd
expect 0 "nix-store.squashfs verified" && {
	[ "$(cat "$T/stubs.log")" = "wait-online --any --timeout=90" ] && it_pass || it_fail "ran: $(cat "$T/stubs.log")"; }

it_case "stage1.sh --store: no store in the handoff: status 3, no network, no reboot"
mkdir -p "$T/nostore2/nixos-kexec/handoff" "$T/nostore2/etc/nixos-kexec"
cp "$SR/etc/nixos-kexec/"* "$T/nostore2/etc/nixos-kexec/"
echo '{"format":1,"revert_after":0}' >"$T/nostore2/nixos-kexec/handoff/boot.json"
: >"$T/stubs.log"
PATH=$T/stubs:$PATH sh "$STAGE1_SH" --store "$T/nostore2/store" "$T/nostore2" >"$T/log/s1sh-none" 2>&1
RC=$? OUT=$T/log/s1sh-none
expect 3 && { [ ! -s "$T/stubs.log" ] && [ ! -e "$T/nostore2/store" ] && it_pass || it_fail "ran: $(cat "$T/stubs.log")"; }

it_case "store: stage 1 (initrd mode) takes the appended store when its bytes match, refuses one changed"
IR=$T/stage1-initrd
mkdir -p "$IR/nixos-kexec/handoff"
cp "$T/nix-store.squashfs" "$IR/nixos-kexec/nix-store.squashfs"
printf '{"format":1,"revert_after":0,"store":{"name":"nix-store.squashfs","size":%d,"sha256":"%s","mode":"initrd","path":"/nixos-kexec/nix-store.squashfs"}}\n' \
	$((24 << 20)) "$(sha256sum <"$T/nix-store.squashfs" | cut -c1-64)" >"$IR/nixos-kexec/handoff/boot.json"
sh "$STORE_SH" "$IR" "$IR/store" >"$T/log/s1-initrd" 2>&1
RC=$? OUT=$T/log/s1-initrd
if expect 0 "verified" && cmp -s "$IR/store" "$T/nix-store.squashfs"; then
	cp "$T/nix-store.squashfs" "$IR/nixos-kexec/nix-store.squashfs"
	printf 'X' | dd of="$IR/nixos-kexec/nix-store.squashfs" bs=1 seek=99 conv=notrunc 2>/dev/null
	rm -f "$IR/store"
	sh "$STORE_SH" "$IR" "$IR/store" >"$T/log/s1-initrd-bad" 2>&1
	RC=$? OUT=$T/log/s1-initrd-bad
	expect 1 "the manifest verified before the kexec says" && { [ ! -e "$IR/store" ] && it_pass ||
		it_fail "a store was left"; }
fi

it_case "store: stage 1 without a store in the handoff does nothing (exit 3)"
mkdir -p "$T/nostore/nixos-kexec/handoff"
echo '{"format":1,"revert_after":0}' >"$T/nostore/nixos-kexec/handoff/boot.json"
sh "$STORE_SH" "$T/nostore" "$T/nostore/store" >"$T/log/s1-none" 2>&1
RC=$? OUT=$T/log/s1-none
expect 3 && { [ ! -e "$T/nostore/store" ] && it_pass || it_fail "made a store"; }

it_case "store: --store initrd at 100 MiB: refused with the numbers, not quietly stage1"
run initrd-small 100 boot "$STUB_URL/b/" "${ARGS[@]}" --exec none --no-handoff --store initrd
expect 71 "--store initrd: not enough memory" && it_pass

it_case "store: --store stage1 with --no-handoff: refused (stage 1 would have no hash), nothing loaded"
run s1-nohandoff 400 boot "$STUB_URL/b/" "${ARGS[@]}" --exec none --no-handoff --store stage1
expect 64 "needs the handoff" && { [ ! -e "$NK_FAKE_LOG" ] && it_pass || it_fail "loaded"; }

it_case "store: --store takes initrd, stage1 or auto only"
run bad-store 400 boot "$STUB_URL/b/" "${ARGS[@]}" --store disk
expect 64 "--store takes initrd, stage1 or auto" && it_pass

it_case "$IT_SUITE: nothing written to this machine's state directory"
if [ "$had_state" = 0 ] && [ -e /var/lib/nixos-kexec ]; then
	it_fail "/var/lib/nixos-kexec was made"
else
	it_pass
fi

it_summary
