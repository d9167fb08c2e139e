# What nix/module.nix declares for the two stage 1s and the /etc overlay,
# evaluated without nixpkgs (none on the project's machines): lib, pkgs and
# config are stubs just large enough for the attributes read here, and
# mkIf/mkMerge are kept as data so each branch can be looked at.
# tests/nixparse.sh prints this with `nix-instantiate --eval --strict --json`
# and compares it with what it expects; a renamed unit, a lost ordering or
# the machine id written where the overlay hides it shows as a difference.
# The option and unit names themselves are checked against nixpkgs in
# docs/nix.md ("What was verified").
let
  lib = import ./stub-lib.nix;
  pkgs = {
    runCommand = name: _: _: "/stub/${name}";
    runtimeShell = "/stub/sh";
  };
  has = re: s: builtins.length (builtins.split re s) > 1;
  eval =
    systemdInitrd: overlay: mutable:
    let
      config = {
        boot.initrd.systemd.enable = systemdInitrd;
        system.etc.overlay = {
          enable = overlay;
          inherit mutable;
        };
        services.resolved.enable = true;
        networking.resolvconf.enable = false;
        networking.nftables.enable = false;
      };
      m = import ../../nix/module.nix { inherit config lib pkgs; };
      parts = m.config.contents;
      common = builtins.head parts;
      active = builtins.filter (p: p ? _type && p._type == "if" && p.condition) parts;
      branch = builtins.head active;
      unit = branch.content.boot.initrd.systemd.services.nixos-kexec-handoff;
    in
    {
      branches = builtins.length active;
      stage2RequiresMountsFor = common.systemd.services.nixos-kexec-handoff.unitConfig.RequiresMountsFor;
    }
    // (
      if systemdInitrd then
        {
          inherit (unit) requiredBy before wantedBy;
          inherit (unit.unitConfig) RequiresMountsFor;
          machineIdInto =
            if has ''set -- "/sysroot" "/sysroot/[.]rw-etc/upper"'' unit.script then
              "upper"
            else if has ''set -- "/sysroot" "/sysroot/etc"'' unit.script then
              "etc"
            else if has ''set -- "/sysroot" ""'' unit.script then
              "none"
            else
              "?";
          neverFatal = has "booting without it" unit.script;
        }
      else
        {
          postMountCommands = has ''set -- "[$]targetRoot" "[$]targetRoot/etc"'' branch.content.boot.initrd.postMountCommands;
        }
    );
in
{
  scripted = eval false false true;
  systemd = eval true false true;
  overlay = eval true true true;
  immutable = eval true true false;
}
