# shellcheck shell=bash
# shellcheck disable=SC2034 # STATIC, E2E_BOOT_EXTRA, ...: run.sh reads them
# The aarch64 side of the e2e test, sourced by run.sh when NK_E2E_ARCH=aarch64
# (make e2e-arm64). The same first and second systems as on x86_64, on
# QEMU's arm64 "virt" machine (cortex-a72: -cpu max emulates pointer
# authentication slowly) with Debian's arm64 kernel, the static aarch64
# agent and kexec of make static (build/static/aarch64/) and Debian's
# arm64 busybox-static. Debian's arm64 kernels lack CONFIG_KEXEC_FILE, so
# every boot here goes through the kexec_load fallback.
#
# Scenarios:
#   arm64-boot      direct kernel boot; the bundle is made from a gzip'd
#                   copy of the kernel, so bundle --arch aarch64 must unpack
#                   it; the second system prints the nonce and the handoff
#   arm64-boot-efi  the same through UEFI firmware (qemu-efi-aarch64, ACPI),
#                   the way Ampere-class clouds boot; raw Image bundle
#   arm64-tampered  one initrd byte corrupted by the stub: exit 65
#   arm64-lockdown  first kernel with lockdown=integrity: exit 77
#   arm64-check     `nixos-kexec check` on that kernel: no kexec_file_load
#                   (ENOSYS), kexec_load used for every boot, verdict ready
#
# Environment: NK_ARM64_EFI (firmware, default
# /usr/share/qemu-efi-aarch64/QEMU_EFI.fd), NK_CACHE (the busybox cache).

e2e_scenarios arm64-boot arm64-boot-efi arm64-tampered arm64-lockdown arm64-check
STATIC=${NK_STATIC:-$B/static/aarch64}
E2E_BASE_CMDLINE="console=ttyAMA0 panic=-1 loglevel=4"
ARM64_EFI=${NK_ARM64_EFI:-/usr/share/qemu-efi-aarch64/QEMU_EFI.fd}
# One stream: the 31 MiB arm64 Image over 16 ranges (the default at the
# ~100 ms round trip TCG makes) costs 35 s and retries through guestfwd's
# one-nc-per-connection; the ranges are tested on x86_64 and in integration.
E2E_BOOT_EXTRA="nk.args=--connections,1"
export NK_QEMU=${NK_QEMU:-qemu-system-aarch64}
export NK_KERNEL_META=linux-image-arm64:arm64
export NK_KERNEL_MODULES="failover net_failover virtio_ring virtio virtio_net
	virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_rng"
export NK_OBJCOPY=aarch64-linux-gnu-objcopy
export NK_E2E_ARCH

# Debian's arm64 busybox-static (lib/vm.sh, cached by version) as
# NK_GUEST_BUSYBOX, which initramfs.sh packs; the host's busybox still
# serves qemu.sh's guestfwd.
export NK_GUEST_BUSYBOX
NK_GUEST_BUSYBOX=$(e2e_arm64_busybox_path)

e2e_prepare_arch() {
	e2e_arm64_busybox_fetch "$NK_GUEST_BUSYBOX" || return 1
	TIMINGS+=("arm64 busybox $(e2e_arm64_busybox_ver)")
}

scenario_arm64_boot() {
	# The bundle gets Image.gz: bundle --arch aarch64 must hand the raw
	# Image on, since neither arm64's kexec_file_load nor the static kexec
	# loads a compressed one.
	gzip -n -1 -c "$KDIR/vmlinuz" >"$DIR/Image.gz"
	E2E_BUNDLE_KERNEL=$DIR/Image.gz
	scenario_boot
	need "firmware: want none (direct kernel boot)" e2e_has "$LOG" "NK-E2E firmware: none"
	need "bundle did not unpack the gzip'd kernel" \
		e2e_has "$LOGS/arm64-boot.host.log" "unpacked: arm64 loads only an uncompressed Image"
	need "bundle's kernel is not the raw Image" \
		cmp -s "$KDIR/vmlinuz" "$DIR/bundle/$(e2e_manifest_file "$DIR/bundle" kernel)"
	arm64_need_fallback
}

scenario_arm64_boot_efi() {
	export NK_E2E_BIOS=$ARM64_EFI
	[ -f "$ARM64_EFI" ] || need "no UEFI firmware $ARM64_EFI (tools/install-deps.sh arm64)" false
	scenario_boot
	need "firmware: want efi (/sys/firmware/efi in the first system)" \
		e2e_has "$LOG" "NK-E2E firmware: efi"
	arm64_need_fallback
}

scenario_arm64_check() {
	build_first "$DIR/first.cpio.gz"
	e2e_run_vm "$LOG" --quiet --kernel "$KDIR/vmlinuz" --initrd "$DIR/first.cpio.gz" \
		--append "$E2E_BASE_CMDLINE nk.mode=agent nk.args=check"
	timing "VM $E2E_VM_SECS s"
	need_clean_end "$LOG" || return 0
	need "check exit $(e2e_agent_exit "$LOG"), want 0" [ "$(e2e_agent_exit "$LOG")" = 0 ]
	need "check did not say kexec_file_load: no (ENOSYS)" \
		e2e_has_re <(e2e_agent_output "$LOG") "^kexec_file_load: +no \(ENOSYS\)"
	need "check did not say kexec_load is used for every boot" \
		e2e_has_re <(e2e_agent_output "$LOG") \
		"^kexec_load fallback: +used for every boot: this arm64 kernel has no kexec_file_load"
	need "check did not say arch aarch64" e2e_has_re <(e2e_agent_output "$LOG") "^arch: +aarch64$"
	need "check verdict not ready" e2e_has_re <(e2e_agent_output "$LOG") "^verdict: +ready to kexec"
}

scenario_arm64_tampered() { scenario_tampered; }
scenario_arm64_lockdown() { scenario_lockdown; }

# Debian's arm64 kernel has no kexec_file_load: the agent must have said
# that it loaded with kexec_load because of ENOSYS.
arm64_need_fallback() {
	need "agent did not load with kexec_load by /bin/kexec because of ENOSYS" \
		e2e_has_re <(e2e_agent_output "$LOG") \
		"loaded with kexec_load by /bin/kexec, because kexec_file_load said ENOSYS"
}
