# What installing NixOS from the RAM system takes, and what users of other
# kexec images (nix-community/nixos-images' kexec-installer, which
# nixos-anywhere boots by default) expect to find there, as options. Set
# them in ../configuration.nix; the defaults match that installer, but for
# ZFS, which is off because it is the one big item.
#
# The sizes below are estimates, not measurements: what each item is
# expected to add to the initrd, which is a compressed squashfs of the
# whole system and stays in RAM as long as the system runs. Measure your
# own build before and after a change, e.g.
#   ls -l result/share/nixos-kexec/bundle/initrd
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.nixos-kexec.installer;
  # item DEFAULT DESCRIPTION: an on/off option; each description says its cost.
  item =
    default: description:
    lib.mkOption {
      type = lib.types.bool;
      inherit default description;
    };
in
{
  options.nixos-kexec.installer = {
    tools = item true ''
      nixos-install, nixos-enter and nixos-generate-config (NixOS's own
      system.tools.* options). About 1 MB while the image has Perl, which
      nixos-generate-config needs; about 15 MB more in a perlless image.
    '';
    disko = item true ''
      disko and disko-install: partition, format and mount from a
      declarative disk layout. Under 1 MB (it uses the image's Nix).
    '';
    facter = item true ''
      nixos-facter: the hardware report nixos-anywhere's
      --generate-hardware-config nixos-facter asks for. About 10 MB (a Go
      binary, hwinfo and a minimal systemd for systemd-detect-virt).
    '';
    rsync = item true ''
      rsync: nixos-anywhere copies --extra-files with it. About 1 MB.
    '';
    jq = item true ''
      jq: JSON on the command line; disko's and nixos-anywhere's scripts use
      it. Under 1 MB.
    '';
    anywhere = {
      url = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "https://boot.example.org/nixos";
        description = ''
          Where `nix run .#publish` serves this image (its --url, https):
          the bundle URL written into the flake's nixos-kexec-anywhere
          tarball (`nixos-anywhere --kexec`). The image itself does not use
          it.
        '';
      };
      publicKey = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "RWQ...";
        description = ''
          The minisign public key (the line after the comment in its .pub)
          the published bundle is signed with, written into the
          nixos-kexec-anywhere tarball.
        '';
      };
    };
    zfs = item false ''
      ZFS: the kernel module for the image's kernel and the zpool/zfs tools,
      to install onto ZFS or to rescue a ZFS machine. About 30 MB, the
      biggest item here, so off by default. The image's default kernel (the
      LTS one) is one ZFS supports; a newer boot.kernelPackages may not be.
    '';
  };

  config = lib.mkMerge [
    {
      # nixos-anywhere takes a system for its installer, and skips or ends
      # its kexec phase, only when /etc/os-release says VARIANT_ID=installer
      # (its get-facts.sh), as nixpkgs' installation-device profile sets it.
      system.nixos.variant_id = lib.mkDefault "installer";
      system.tools.nixos-install.enable = lib.mkDefault cfg.tools;
      system.tools.nixos-enter.enable = lib.mkDefault cfg.tools;
      system.tools.nixos-generate-config.enable = lib.mkDefault cfg.tools;
      environment.systemPackages =
        lib.optional cfg.disko pkgs.disko
        ++ lib.optional cfg.facter pkgs.nixos-facter
        ++ lib.optional cfg.rsync pkgs.rsync
        ++ lib.optional cfg.jq pkgs.jq;
    }
    (lib.mkIf cfg.zfs {
      boot.supportedFilesystems.zfs = true;
      # The ZFS module requires a host id. A fixed one, as nixos-images'
      # installer has: pools of the machine being replaced carry its own id
      # and are imported with `zpool import -f`.
      networking.hostId = lib.mkDefault "8425e349";
    })
  ];
}
