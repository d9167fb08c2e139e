# shellcheck shell=bash
# shellcheck disable=SC2034 # STUB_PORT and STAGE1_LIMIT are lib.sh's
# Scenario small-1g of the journey test (issue 22): a 1 GiB cloud VM and a
# lean bundle whose store (the stand-in's root squashfs, padded with
# incompressible bytes) is over 400 MB. The curl-pipe one-liner with
# `--store auto`: the agent finds the RAM too small for the store in the
# initrd, chooses stage1 by itself and says so; the new system's stage 1
# (tests/e2e/journey/second/init running nix/handoff/stage1.sh --store)
# brings up the handed-over network, fetches the store with the static
# agent, checks it against boot.json's hash, mounts it as its root; then
# the usual checks of the second system.
# Sourced by tests/e2e/journey/run.sh (lib.sh's helpers, lib/runner.sh's
# need/must/timing).

e2e_scenarios small-1g
E2E_CHECK_RE+="|store"

# The store's size: the squashfs and random bytes after it (squashfs reads
# only what its superblock counts), 420 MiB in all (440 MB).
SMALL_STORE_BYTES=$((420 << 20))

# The lean stand-in: the journey's initrd without root.squashfs, plus the
# static agent (stage 1 fetches with it) and the run's CA where the agent
# looks for a CA bundle first (a real image has its CA bundle there); the
# store is the padded squashfs. Published beside a copy of the release tree
# (boot.sh, bin/, key) in DIR/www. Sets SMALL_STORE_SHA. With "inside"
# (small-min): no store artifact, the padded squashfs is the initrd's
# root.squashfs, as in a bundle of today's images. CMDLINE: more kernel
# arguments.
small_bundle() {
	local where=${1:-artifact} extra=${2:-} w=$DIR/www/nixos in=$DIR/lean initrd pad store=()
	mkdir -p "$w" "$in/etc/ssl/certs" "$in/bin"
	cp -al "$WORK/www/nixos/." "$w/"
	rm -rf "${w:?}/$ARCH"
	initrd=$WORK/www/nixos/$ARCH/$(e2e_manifest_file "$WORK/www/nixos/$ARCH" initrd)
	(cd "$in" && cpio -i -d -m --quiet -f 'root.squashfs' <"$initrd")
	cp "$STATIC_DIR/$ARCH/nixos-kexec" "$in/bin/nixos-kexec"
	cp "$WORK/ca/ca.pem" "$in/etc/ssl/certs/ca-certificates.crt"
	cp "$SECOND_SQUASHFS" "$DIR/nix-store.squashfs"
	pad=$((SMALL_STORE_BYTES - $(stat -c %s "$SECOND_SQUASHFS")))
	head -c "$pad" /dev/urandom >>"$DIR/nix-store.squashfs"
	if [ "$where" = inside ]; then
		mv "$DIR/nix-store.squashfs" "$in/root.squashfs"
	else
		store=(--store "$DIR/nix-store.squashfs")
	fi
	(cd "$in" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --reproducible --quiet) >"$DIR/lean.cpio"
	rm -rf "$in"
	"$B/nixos-kexec" bundle --kernel "$WORK/cloud/vmlinuz" --initrd "$DIR/lean.cpio" \
		${store[@]+"${store[@]}"} --cmdline "console=ttyS0 nk.second=$SECOND_NONCE${extra:+ $extra}" \
		--version 1 -o "$w/$ARCH" >"$DIR/bundle.log" 2>&1 || return 1
	"$B/nixos-kexec" sign -s "$WORK/key/nk.sec" "$w/$ARCH" >>"$DIR/bundle.log" 2>&1 || return 1
	SMALL_STORE_SHA=""
	[ "$where" = inside ] || SMALL_STORE_SHA=$(sha256sum "$DIR/nix-store.squashfs" | cut -c1-64)
	rm -f "$DIR/lean.cpio" "$DIR/nix-store.squashfs"
	echo "lean bundle: kernel $(stat -c %s "$WORK/cloud/vmlinuz"), initrd $(stat -c %s "$w/$ARCH/$(e2e_manifest_file "$w/$ARCH" initrd)"), store $SMALL_STORE_BYTES bytes (sha256 $SMALL_STORE_SHA)"
}

# The lean bundle (SMALL_WHERE, SMALL_CMDLINE: small_bundle's arguments),
# the stub serving it (STUB-ARGS: its faults), and the cloud VM up to its
# first system's sshd, recorded.
small_first() {
	local t0
	[ -x "$STATIC_DIR/$ARCH/nixos-kexec" ] ||
		must "no static agent for the stand-in's stage 1 ($STATIC_DIR/$ARCH/nixos-kexec: make static)" false
	t0=$(e2e_now)
	small_bundle "${SMALL_WHERE:-artifact}" "${SMALL_CMDLINE:-}" || must "cannot make the lean bundle: $(tail -n 3 "$DIR/bundle.log" 2>/dev/null)" false
	timing "bundle with a $((SMALL_STORE_BYTES >> 20)) MiB store $(e2e_since "$t0") s"
	WWW=$DIR/www serve "$@"
	make_seed "#cloud-config" ""
	start_vm ""
	wait_first_sshd 300 ||
		must "the cloud VM's sshd did not start" false
	record_first 0
}

# The curl-pipe one-liner with --store auto; the agent must choose stage1.
small_oneliner() {
	local cmd
	cmd=$(curlpipe_with "--store auto") ||
		must "the curl-pipe one-liner does not end in '| sudo sh'" false
	run_oneliner "$cmd"
	must "the agent did not choose stage1 by itself for the $SMALL_STORE_BYTES-byte store" \
		grep -qF -- "--store auto: stage1: nix-store.squashfs ($SMALL_STORE_BYTES bytes) is left to the new system's stage 1" \
		"$DIR/oneliner.out"
}

scenario_small_1g() {
	local t_fetch t_ok mem
	mem=${NK_JOURNEY_MEM:-1024}
	must "small-1g runs the cloud VM with -m 1024 (NK_JOURNEY_MEM is $mem)" [ "$mem" = 1024 ]
	# The store's fetch in stage 1 on top of a journey's time.
	VM_TIMEOUT=$((VM_TIMEOUT + 240))
	small_first
	small_oneliner
	need "the agent does not say the RAM needs it" grep -qF "the RAM needs it" "$DIR/oneliner.out"
	echo "store check: the agent chose stage1: $(grep -o -- '--store auto: stage1: .*' "$DIR/oneliner.out" | head -n 1 | cut -c1-160)"
	need "the first system downloaded the store" lacks "$DIR/stub.log" "GET /nixos/$ARCH/nix-store.squashfs"
	# Stage 1 fetches over the slirp link: give it time under TCG.
	STAGE1_LIMIT=300
	check_second "$NONCE" "$T_START" ""
	t_fetch=$(t_of "$LOG" "nixos-kexec: stage 1 store: fetching nix-store.squashfs \\($SMALL_STORE_BYTES bytes\\) from $BASE_URL/$ARCH/") ||
		need "stage 1 did not say it fetches the store from $BASE_URL/$ARCH/" false
	t_ok=$(t_of "$LOG" "nixos-kexec: stage 1 store: nix-store.squashfs verified \\($SMALL_STORE_BYTES bytes, sha256 $SMALL_STORE_SHA, stage1\\)") ||
		need "stage 1 did not verify the store against sha256 $SMALL_STORE_SHA" false
	need "stage 1 did not mount the verified store as its root" \
		grep -aq "NK-JOURNEY stage1 store: /root.squashfs is the verified store" "$LOG"
	need "the store was not served to stage 1" grep -q "GET /nixos/$ARCH/nix-store.squashfs" "$DIR/stub.log"
	echo "store check: stage 1 fetched and verified the $SMALL_STORE_BYTES-byte store (sha256 $SMALL_STORE_SHA) in $(secs "${t_fetch:-0}" "${t_ok:-0}") s"
	timing "VM start to one-liner $T_START s"
	timing "kexec to stage 1 $(secs "$T_KEXEC" "$T_INIT") s"
	timing "store fetch and check in stage 1 $(secs "${t_fetch:-0}" "${t_ok:-0}") s"
	timing "kexec to sshd $(secs "$T_KEXEC" "$T_SSHD") s"
	timing "one-liner to root shell $(secs "$T_START" "$T_ROOT") s"
}

# small-1g-refused (not in `make e2e`: a second 1 GiB VM with a fetch of
# the store; run it by name): the same, but the stub flips one bit of the
# store (at 200 MB) whenever it serves it. The first system never fetches
# the store (stage1 mode), so it loads and kexecs; stage 1 refuses the
# store, says so on the console and reboots; QEMU (without -no-reboot)
# brings the first system back from its disk: a marker written there
# before, the first system's host name, no nk.second.
e2e_scenarios --extra small-1g-refused

scenario_small_1g_refused() {
	local t_kernel t_refused
	NO_REBOOT=()
	VM_TIMEOUT=$((VM_TIMEOUT + 300))
	small_first --fault "corrupt:200000000@nix-store.squashfs"
	first_marker
	small_oneliner
	t_kernel=$(wait_for "$LOG" "Linux version" "$T_START" 240) ||
		must "no second kernel (no kexec)" false
	t_refused=$(wait_for "$LOG" "stage 1 cannot boot without its store: rebooting into the old system" "$t_kernel" 400) ||
		must "stage 1 did not refuse the changed store (serial)" false
	need "stage 1 did not say the store's sha256 is wrong" \
		grep -aqE "nix-store\.squashfs: sha256 mismatch" "$LOG"
	need "stage 1 mounted a store although it refused it" \
		lacks "$LOG" "NK-JOURNEY stage1 store: /root.squashfs is the verified store"
	back_to_first refusal "$t_refused"
	echo "store check: stage 1 refused the changed store at $t_refused s and rebooted; the first system is back (marker $MARK)"
	timing "second kernel to refusal $(secs "$t_kernel" "$t_refused") s"
	timing "refusal to first system's sshd $(secs "$t_refused" "$T_BACK") s"
}

# small-min (run by name; tests/e2e/journey/minram.sh runs it at each -m
# to find the smallest that passes, issue 22's table): the cloud VM with
# -m NK_JOURNEY_MEM, a store of NK_SMALL_STORE_MB megabytes (10^6 bytes),
# NK_SMALL_MODE: stage1 or initrd (the agent's --store), or inside (no
# store artifact: the store is in the initrd, as in today's images). Passes
# when the root login into the second system passes check_second. The
# bundle's kernel has panic=-1, so a new system that runs out of memory
# while unpacking its initrd ends the VM at once instead of waiting out
# the deadlines.
e2e_scenarios --extra small-min

scenario_small_min() {
	local mode=${NK_SMALL_MODE:-stage1} mb=${NK_SMALL_STORE_MB:-400} args=""
	case $mode in
	stage1 | initrd) args="--store $mode" ;;
	inside) SMALL_WHERE=inside ;;
	*) must "NK_SMALL_MODE=$mode: want stage1, initrd or inside" false ;;
	esac
	[[ $mb =~ ^[1-9][0-9]*$ ]] || must "NK_SMALL_STORE_MB=$mb: want a number" false
	SMALL_STORE_BYTES=$((mb * 1000000))
	SMALL_CMDLINE=panic=-1
	VM_TIMEOUT=$((VM_TIMEOUT + 240))
	echo "small-min: -m ${NK_JOURNEY_MEM:-1024}, store $SMALL_STORE_BYTES bytes, mode $mode"
	small_first
	if [ -n "$args" ]; then
		run_oneliner "$(curlpipe_with "$args")"
	else
		run_oneliner "$CURLPIPE"
	fi
	STAGE1_LIMIT=300
	check_second "$NONCE" "$T_START" ""
	timing "-m ${NK_JOURNEY_MEM:-1024} store $mb MB $mode"
	timing "one-liner to root shell $(secs "$T_START" "$T_ROOT") s"
}
