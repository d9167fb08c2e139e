# The NixOS system that nixos-kexec boots, entirely from RAM.
#
# nixpkgs' netboot module does the heavy lifting: the system's closure goes
# into a squashfs inside the initrd, the root is a tmpfs, and the Nix store
# is an overlay of that squashfs and a tmpfs. The minimal profile keeps it
# small; the handoff module (./module.nix) lets the machine keep its network
# and SSH access. Users change the system in ../configuration.nix.
#
# This deliberately does not import netboot-minimal.nix: its
# installation-device profile adds a nixpkgs channel, the NixOS manual and
# passwordless root and nixos accounts, none of which a remote machine needs.
{
  config,
  lib,
  pkgs,
  modulesPath,
  ...
}:

{
  imports = [
    (modulesPath + "/installer/netboot/netboot.nix")
    (modulesPath + "/profiles/minimal.nix")
    ./module.nix
    ./installer.nix
    ./zswap.nix
    ./store.nix
  ];

  boot.kernelParams =
    # VGA console, then serial. The last console= becomes /dev/console, so
    # boot and systemd messages reach the serial port, which is what cloud
    # providers show; ttyAMA0 is the serial port of most ARM servers.
    [ "console=tty0" ]
    ++ lib.optional pkgs.stdenv.hostPlatform.isAarch64 "console=ttyAMA0,115200"
    ++ [
      "console=ttyS0,115200"
      # A boot that fails falls back to the OS on the disk: stage 1 panics
      # instead of opening a shell, and the kernel reboots 30 s after any
      # panic. kexec changed nothing on the disk or in the firmware.
      "boot.panic_on_fail"
      "panic=30"
    ];

  # Root logs in with a key only: from configuration.nix or handed over by
  # the agent.
  services.openssh = {
    enable = true;
    settings = {
      PermitRootLogin = "prohibit-password";
      PasswordAuthentication = false;
      KbdInteractiveAuthentication = false;
    };
  };

  # For installing from here: nixos-install --flake, nixos-anywhere, disko.
  nix.settings.experimental-features = [
    "nix-command"
    "flakes"
  ];

  # Nothing persists, so every boot is a first installation.
  system.stateVersion = lib.mkDefault config.system.nixos.release;
}
