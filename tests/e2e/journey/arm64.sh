# shellcheck shell=bash
# shellcheck disable=SC2034 # QEMU, CONSOLE, ...: lib.sh reads them
# The arm64 journey (make journey-arm64), sourced by run.sh when
# NK_E2E_ARCH=aarch64 instead of the amd64 scenarios: an arm64 Debian cloud
# VM, the way Ampere-class clouds (Oracle A1, Graviton, Hetzner CAX) boot
# one, goes from the curl-pipe one-liner to a root login into the arm64
# stand-in.
#
#   journey-arm64   QEMU's arm64 virt machine (cortex-a72, 1 vCPU, TCG;
#                   lib/vm.sh) with UEFI firmware (qemu-efi-aarch64's
#                   QEMU_EFI.fd): the firmware starts the cloud image's
#                   kernel through its EFI stub (QEMU hands it over with
#                   -kernel/-initrd), and the kernel runs on ACPI with EFI
#                   runtime services, as on those clouds. No GRUB: it is
#                   not on the path a kexec takes, and an EFI system
#                   partition with grub-efi-arm64 installed under
#                   qemu-user would only add build time. Images from
#                   image.sh cloud-arm64 and second-arm64 (linux-image-arm64;
#                   the stand-in as for amd64). The one-liner is
#                   journey-curlpipe's, run the same way and checked the same
#                   way (host key, nonce, network, self-test: check_second);
#                   also: the first system is aarch64 and booted through
#                   UEFI, boot.sh (make release's, offering both agents)
#                   fetched the aarch64 agent and kexec, the agent loaded
#                   with kexec_load because Debian's arm64 kernel has no
#                   kexec_file_load (ENOSYS), the second system is aarch64.
#
# Environment: NK_ARM64_EFI (firmware, default
# /usr/share/qemu-efi-aarch64/QEMU_EFI.fd); NK_JOURNEY_TIMEOUT (default 900
# here: seconds per VM); the rest as for run.sh.

e2e_scenarios journey-arm64
QEMU=${NK_QEMU:-qemu-system-aarch64}
CONSOLE=ttyAMA0
ARM64_EFI=${NK_ARM64_EFI:-/usr/share/qemu-efi-aarch64/QEMU_EFI.fd}
VM_FIRMWARE=(-bios "$ARM64_EFI")
IMAGE_SUFFIX=-arm64
IMAGE_CHROOT=("$JOURNEY_DIR/foreign.sh" chroot)
BUSYBOX=${NK_GUEST_BUSYBOX:-$(e2e_arm64_busybox_path)}
VM_TIMEOUT=${NK_JOURNEY_TIMEOUT:-900}

journey_prepare_arch() {
	[ -f "$ARM64_EFI" ] || { note "no UEFI firmware $ARM64_EFI (tools/install-deps.sh arm64)"; return 1; }
	[ -x "$BUSYBOX" ] || e2e_arm64_busybox_fetch "$BUSYBOX"
}

scenario_journey_arm64() {
	# journey-curlpipe, and what makes it the arm64 one.
	scenario_journey_curlpipe
	need "the first system's kernel did not start through UEFI (no 'efi: EFI v' on the console)" \
		grep -aq "efi: EFI v" "$LOG"
	need "the first system is not arm64 (no 'CPU: All CPU(s) started at EL' on the console)" \
		grep -aqE "CPU: All CPU\(s\) started at EL" "$LOG"
	need "boot.sh did not fetch the aarch64 agent (stub log)" grep -q "/nixos/bin/nixos-kexec-aarch64" "$DIR/stub.log"
	need "boot.sh did not fetch the aarch64 kexec (stub log)" grep -q "/nixos/bin/kexec-aarch64" "$DIR/stub.log"
	need "boot.sh fetched an agent of another architecture" \
		lacks_re "$DIR/stub.log" "/nixos/bin/(nixos-kexec|kexec)-(x86_64|i686)"
	need "the agent did not load with kexec_load because kexec_file_load said ENOSYS" \
		grep -q "loaded with kexec_load by .*, because kexec_file_load said ENOSYS" "$DIR/oneliner.out"
	local rc=0
	ssh_retry "$DIR/arch.ssh" 30 root \
		'echo "JR uname-m=$(uname -m)"; [ -d /sys/firmware/efi ] && echo "JR efi=yes" || echo "JR efi=no"' || rc=$?
	cat "$DIR/arch.ssh"
	need "no second root session (ssh exit $rc)" [ "$rc" -eq 0 ]
	need "the second system is not aarch64" grep -qx "JR uname-m=aarch64" "$DIR/arch.ssh"
	echo "arm64 check: UEFI first boot, boot.sh took nixos-kexec-aarch64, kexec_load (ENOSYS), second system $(sed -n 's/^JR //p' "$DIR/arch.ssh" | tr '\n' ' ')"
}
