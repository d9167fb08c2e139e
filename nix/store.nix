# A lean bundle's store in the new system's stage 1 (issue 22; imported by
# ./image.nix beside ./module.nix and ./zswap.nix).
#
# A lean bundle (`nix build .#bundle`, ./packages.nix) carries the Nix
# store squashfs as its own artifact instead of inside the initrd. The
# agent either appends it to the initrd (`boot --store initrd`) or leaves it
# to stage 1 (`--store stage1`, or `auto` on a small machine), which then
# brings up the handed-over network, fetches the store with the static
# agent from boot.json's sources and checks it against the hash carried
# from the manifest verified before the kexec (handoff/stage1.sh --store,
# handoff/store.sh; docs/handoff.md). Either way the verified store ends up
# at /nix-store.squashfs in the initramfs, where netboot.nix's
# fileSystems."/nix/.ro-store" (device "../nix-store.squashfs") mounts it
# as in a netboot image; a store that cannot be fetched or verified is said
# on the console and the machine reboots into the old system (still on the
# disk). Without a store in boot.json nothing happens (status 3).
#
# Scripted stage 1: postDeviceCommands (before the file systems are
# mounted), the network by handoff/stage1-net.sh with busybox's ip and
# udhcpc from extra-utils, the scripts and the CA bundle as extraFiles.
# systemd stage 1: systemd-networkd in the initrd on the handed-over units
# (copied into the initrd's /etc/systemd/network, not /run, which stage 2
# inherits), waited for with systemd-networkd-wait-online only when the
# store is to be fetched; one unit before the /nix/.ro-store mount.
#
# Option names checked against nixpkgs' sources (docs/nix.md, "What was
# verified"); evaluated by nothing here: `make nixparse` parses it.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.nixos-kexec.store;
  systemdInitrd = config.boot.initrd.systemd.enable;
  agent = pkgs.pkgsStatic.callPackage ./agent.nix { };
  ca = "${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt";
  # Where netboot.nix's /nix/.ro-store mount finds the store.
  out = "/nix-store.squashfs";

  # handoff/stage1.sh --store, as module.nix runs handoff/stage1.sh: its
  # text in a subshell. SCRIPTS: where store.sh and stage1-net.sh are;
  # CACERT: the CA bundle in this initrd; NET: "ip" (stage1-net.sh) or
  # "networkd"; WAIT: what waits for networkd; BIN: prepended to PATH (the
  # agent).
  storeStep =
    {
      scripts,
      cacert,
      net,
      wait ? "",
      bin ? "",
    }:
    ''
      (
        set -- --store ${out} "" --cacert ${cacert}
        ${lib.optionalString (bin != "") "PATH=${bin}:$PATH; export PATH"}
        NIXOS_KEXEC_SCRIPTS=${scripts}
        NIXOS_KEXEC_NET=${net}
        NIXOS_KEXEC_WAIT_ONLINE=${lib.escapeShellArg wait}
        ${builtins.readFile ./handoff/stage1.sh}
      ) || echo "nixos-kexec: no store from the handoff (above)"
    '';

  scriptsDir = pkgs.runCommand "nixos-kexec-stage1-store" { } ''
    mkdir -p $out
    cp ${./handoff/store.sh} $out/store.sh
    cp ${./handoff/stage1-net.sh} $out/stage1-net.sh
    chmod 0755 $out/store.sh $out/stage1-net.sh
  '';
in
{
  options.nixos-kexec.store = {
    enable = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = ''
        Let stage 1 bring a lean bundle's Nix store (boot.json's "store"):
        the one appended to the initrd, or fetched over the handed-over
        network with the static agent and checked against the hash carried
        from the verified manifest; refused, the machine reboots.
      '';
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      (lib.mkIf (!systemdInitrd) {
        boot.initrd.extraUtilsCommands = ''
          copy_bin_and_libs ${agent}/bin/nixos-kexec
        '';
        boot.initrd.extraFiles = {
          "/etc/nixos-kexec/store.sh".source = "${scriptsDir}/store.sh";
          "/etc/nixos-kexec/stage1-net.sh".source = "${scriptsDir}/stage1-net.sh";
          "/etc/ssl/certs/ca-bundle.crt".source = ca;
        };
        boot.initrd.postDeviceCommands = storeStep {
          scripts = "/etc/nixos-kexec";
          cacert = "/etc/ssl/certs/ca-bundle.crt";
          net = "ip";
        };
      })

      (lib.mkIf systemdInitrd {
        # networkd in the initrd (nixos/modules/system/boot/networkd.nix,
        # stage1Config): boot.initrd.network.enable turns on
        # boot.initrd.systemd.network.enable; flushBeforeStage2 sets
        # KeepConfiguration=no on the units NixOS declares.
        boot.initrd.network.enable = true;
        boot.initrd.network.flushBeforeStage2 = lib.mkDefault true;
        # store.sh's and stage1.sh's tools besides bash and coreutils.
        boot.initrd.systemd.initrdBin = [
          pkgs.gnugrep
          pkgs.gnused
        ];
        boot.initrd.systemd.storePaths = [
          "${agent}/bin/nixos-kexec"
          scriptsDir
          ca
          "${config.boot.initrd.systemd.package}/lib/systemd/systemd-networkd-wait-online"
        ];
        boot.initrd.systemd.services.nixos-kexec-initrd-network = {
          description = "Give stage 1's networkd the network nixos-kexec handed over";
          wantedBy = [ "initrd.target" ];
          before = [ "systemd-networkd.service" ];
          unitConfig = {
            DefaultDependencies = false;
            ConditionPathIsDirectory = "/nixos-kexec/handoff/network";
          };
          serviceConfig.Type = "oneshot";
          script = ''
            mkdir -p /etc/systemd/network
            cp /nixos-kexec/handoff/network/* /etc/systemd/network/
          '';
        };
        boot.initrd.systemd.services.nixos-kexec-store = {
          description = "Bring the Nix store of a lean nixos-kexec bundle";
          wantedBy = [ "initrd.target" ];
          requiredBy = [ "sysroot-nix-.ro\\x2dstore.mount" ];
          before = [ "sysroot-nix-.ro\\x2dstore.mount" ];
          after = [
            "systemd-networkd.service"
            "nixos-kexec-initrd-network.service"
          ];
          unitConfig = {
            DefaultDependencies = false;
            ConditionPathExists = "/nixos-kexec/handoff/boot.json";
          };
          serviceConfig = {
            Type = "oneshot";
            StandardOutput = "journal+console";
            StandardError = "journal+console";
          };
          script = storeStep {
            scripts = "${scriptsDir}";
            cacert = ca;
            bin = "${agent}/bin";
            net = "networkd";
            wait = "${config.boot.initrd.systemd.package}/lib/systemd/systemd-networkd-wait-online --any --timeout=90";
          };
        };
      })
    ]
  );
}
