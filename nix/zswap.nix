# zswap in the RAM system (issue 22): on by default, configurable in
# ../configuration.nix (nixos-kexec.zswap.*).
#
# zswap compresses pages on their way to a swap device and keeps them in a
# RAM pool; it does nothing without swap, so here it pays off once a swap
# device exists (one the installer makes, or `swapon` on the old disk's
# swap partition), and costs nothing before. The kernel parameters are
# mm/zswap.c's module parameters (zswap.enabled, zswap.compressor,
# zswap.max_pool_percent; Documentation/admin-guide/mm/zswap.rst): a
# compressor the kernel lacks falls back to its built-in default, with a
# warning in the kernel log. Checked by `make nixparse` only: no Nix build
# runs on the project's machines.
{ config, lib, ... }:

let
  cfg = config.nixos-kexec.zswap;
in
{
  options.nixos-kexec.zswap = {
    enable = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Turn zswap on at boot (zswap.enabled=1 on the kernel command line).";
    };
    compressor = lib.mkOption {
      type = lib.types.str;
      default = "zstd";
      description = "zswap's compressor (zswap.compressor=).";
    };
    maxPoolPercent = lib.mkOption {
      type = lib.types.ints.between 1 100;
      default = 50;
      description = "The most of RAM zswap's pool may take, in percent (zswap.max_pool_percent=).";
    };
  };

  config = lib.mkIf cfg.enable {
    boot.kernelParams = [
      "zswap.enabled=1"
      "zswap.compressor=${cfg.compressor}"
      "zswap.max_pool_percent=${toString cfg.maxPoolPercent}"
    ];
  };
}
