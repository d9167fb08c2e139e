# The NixOS system that nixos-kexec boots. It runs entirely from RAM: nothing
# is written to the machine's disks until you choose to install.
#
# Edit this file, then build again (`nix build`, `nix build .#tarball`,
# `nix run .#sign`, ...). Every setting is an ordinary NixOS option; look
# them up at https://search.nixos.org/options. What is already set (netboot
# image, sshd, consoles, panic=30, networkd) is in nix/image.nix.
#
# Keep it small: the whole system travels inside the initrd, and the initrd
# stays in RAM while the system runs (docs/nix.md, "Size and RAM").
{ pkgs, ... }:

{
  # SSH keys allowed to log in as root. When the agent boots this image it
  # also hands over the keys of the machine it replaces (root's, the sudo
  # user's and any given with --ssh-key), so this may stay empty; keys here
  # work in every case.
  users.users.root.openssh.authorizedKeys.keys = [
    # "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... you@laptop"
  ];

  # A root password for the provider's web or serial console, if you want
  # one. Make the hash with `mkpasswd -m yescrypt`. SSH never accepts
  # passwords; without this line root logs in with a key only.
  # users.users.root.hashedPassword = "$y$j9T$...";

  # Installing from here (nix/installer.nix). The defaults are what
  # nixos-anywhere and nix-community's kexec installer give you. Each MB is
  # an estimate of what the item adds to the initrd, which stays in RAM.
  nixos-kexec.installer = {
    tools = true; # nixos-install, nixos-enter, nixos-generate-config: ~1 MB
    disko = true; # declarative partitioning (disko, disko-install): <1 MB
    facter = true; # nixos-facter hardware report: ~10 MB
    rsync = true; # nixos-anywhere's --extra-files: ~1 MB
    jq = true; # <1 MB
    zfs = false; # ZFS module and tools: ~30 MB; sets a fixed networking.hostId
  };

  # zswap (nix/zswap.nix): on by default; it compresses pages on their way
  # to swap, so it helps once there is a swap device.
  # nixos-kexec.zswap = { enable = true; compressor = "zstd"; maxPoolPercent = 50; };

  # Packages in the RAM system. nix and the usual base tools are always
  # there; these are for partitioning and formatting by hand.
  environment.systemPackages = with pkgs; [
    parted
    gptfdisk
    dosfstools
    e2fsprogs
    # git
    # tmux
  ];

  # The host name when the agent hands over none.
  # networking.hostName = "rescue";

  # Bare metal whose network card needs firmware (bnx2x, some Intel, Realtek
  # and Qualcomm cards) comes up without network unless this is on. It adds
  # a few hundred MB to the image; cloud VMs do not need it.
  # hardware.enableRedistributableFirmware = true;

  # Anything else you want in the live system, for example:
  # time.timeZone = "UTC";
  # services.tailscale.enable = true;
  # zramSwap.enable = true;   # compressed swap in RAM, for small machines
}
