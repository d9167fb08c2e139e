# What nix/store.nix declares for the two stage 1s, evaluated without
# nixpkgs like module-units.nix (stub lib/pkgs/config, mkIf/mkMerge kept as
# data). tests/nixparse.sh compares the result with
# tests/nix/store-units.expected.json: where the store goes, which network
# each stage 1 uses, what the systemd unit is ordered against.
let
  lib = import ./stub-lib.nix;
  pkgs = {
    runCommand = name: _: _: "/stub/${name}";
    pkgsStatic.callPackage = _: _: "/stub/agent";
    cacert = "/stub/cacert";
    gnugrep = "/stub/grep";
    gnused = "/stub/sed";
  };
  has = re: s: builtins.length (builtins.split re s) > 1;
  eval =
    systemdInitrd:
    let
      config = {
        boot.initrd.systemd = {
          enable = systemdInitrd;
          package = "/stub/systemd";
        };
        nixos-kexec.store.enable = true;
      };
      m = import ../../nix/store.nix { inherit config lib pkgs; };
      parts = m.config.content.contents;
      branch = builtins.head (builtins.filter (p: p.condition) parts);
      c = branch.content;
      step = s: {
        out = has "set -- --store /nix-store.squashfs \"\"" s;
        # the first assignment: the step's own, before stage1.sh's text
        net = builtins.head (builtins.elemAt (builtins.split "NIXOS_KEXEC_NET=([a-z]+)\n" s) 1);
        waits = has "systemd-networkd-wait-online --any" s;
        agentOnPath = has "PATH=/stub/agent/bin:" s;
        stage1sh = has "nixos-kexec: stage 1 cannot boot without its store" s;
      };
    in
    {
      default = m.options.nixos-kexec.store.enable.default;
      branches = builtins.length (builtins.filter (p: p.condition) parts);
    }
    // (
      if systemdInitrd then
        let
          u = c.boot.initrd.systemd.services.nixos-kexec-store;
        in
        {
          inherit (u) requiredBy before after wantedBy;
          inherit (u.unitConfig) ConditionPathExists;
          network = c.boot.initrd.network.enable;
          unitsBefore = c.boot.initrd.systemd.services.nixos-kexec-initrd-network.before;
          step = step u.script;
        }
      else
        {
          extraFiles = builtins.attrNames c.boot.initrd.extraFiles;
          agentInExtraUtils = has "copy_bin_and_libs /stub/agent/bin/nixos-kexec" c.boot.initrd.extraUtilsCommands;
          step = step c.boot.initrd.postDeviceCommands;
        }
    );
in
{
  scripted = eval false;
  systemd = eval true;
}
