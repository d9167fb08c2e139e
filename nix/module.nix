# nixosModules.default: makes a NixOS image take over what the nixos-kexec
# agent hands it (DESIGN.md, "Handoff"). The agent appends a cpio archive to
# the initrd; the kernel unpacks it beside the image's own files:
#
#   /nixos-kexec/handoff/network/*.network   systemd-networkd units
#   /nixos-kexec/handoff/ssh/authorized_keys keys allowed to log in as root
#   /nixos-kexec/handoff/ssh/ssh_host_*      the replaced system's host keys
#   /nixos-kexec/handoff/hostname            identity
#   /nixos-kexec/handoff/machine-id
#   /nixos-kexec/handoff/boot.json           what was booted, from where
#
# Stage 1 (handoff/stage1.sh) keeps the tree in /run/nixos-kexec/handoff (the
# initramfs is emptied at switch-root; /run is carried into the new root) and
# writes the machine id into the new root before systemd reads it. Early in
# stage 2 one unit (handoff/stage2.sh) installs the rest, before
# systemd-networkd and sshd start.
#
# Once systemd-networkd has configured the handed-over units,
# `nixos-kexec-selftest` (handoff/selftest.sh) checks that their default
# gateways answer ARP/ND and that the bundle's source host accepts TCP; if
# not within 30 s it switches the links concerned to DHCP/RA and checks
# again (docs/handoff.md, "The network self-test").
#
# The fleet side (docs/fleet.md, issue 12): `nixos-kexec-report-up` posts
# `up` to the agent's --report collector (handoff/report.sh) once the network
# is online and the self-test is done; `nixos-kexec-revert`
# (handoff/revert.sh) reboots back into the old system after boot
# --revert-after S unless `nixos-kexec-confirm` runs first. All three do
# nothing without a boot.json; the last two nothing without these options.
#
# Without a handoff nothing changes: NixOS's 99-ethernet-default-dhcp.network
# runs DHCP on every Ethernet port, sshd generates host keys, and only the
# keys of users.users.root.openssh.authorizedKeys let root in.
{ config, lib, pkgs, ... }:

let
  handoff = "/nixos-kexec/handoff"; # as unpacked from the initrd
  run = "/run/nixos-kexec"; # where it survives switch-root

  # The handoff scripts are files of their own, so that the e2e journey
  # test's stand-in second system runs the very text NixOS runs
  # (tests/e2e/journey). Stage 1 runs in the scripted initrd's ash or the
  # systemd initrd's bash; `root` is where the new root file system is
  # mounted, the script's $1; `etc` the directory that becomes the new
  # system's /etc ($2; "" when none can be written). A subshell, so it
  # neither sees nor changes stage 1's own positional parameters and
  # variables; a failure is said, never fatal (see the systemd unit).
  stage1 = root: etc: ''
    (
      set -- "${root}" "${etc}"
      ${builtins.readFile ./handoff/stage1.sh}
    ) || echo "nixos-kexec: the stage 1 handoff failed; booting without it"
  '';

  # With `system.etc.overlay.enable` (systemd stage 1 only), /sysroot/etc is
  # an overlay mounted before initrd-fs.target (nixpkgs
  # nixos/modules/system/etc/etc-activation.nix): a file written into the
  # plain /sysroot/etc directory is hidden under it. A mutable overlay's
  # upper directory, /sysroot/.rw-etc/upper (made by rw-etc.service, which
  # the overlay's mount unit requires and follows), is what shows as /etc;
  # an immutable one has none, and its /etc cannot be written.
  etcOverlay = config.system.etc.overlay;
  stage1Etc =
    if !etcOverlay.enable then
      "/sysroot/etc"
    else if etcOverlay.mutable then
      "/sysroot/.rw-etc/upper"
    else
      "";

  # report.sh, revert.sh, selftest.sh and nixos-kexec-confirm side by side
  # (the others find report.sh beside themselves), with the tools they run
  # on PATH; the confirm command also in bin/. The e2e stand-in installs the
  # same files in /usr/lib/nixos-kexec.
  fleet = pkgs.runCommand "nixos-kexec-handoff" { } ''
    d=$out/libexec/nixos-kexec
    mkdir -p $d $out/bin
    for f in ${./handoff/report.sh}:report.sh ${./handoff/revert.sh}:revert.sh \
      ${./handoff/selftest.sh}:selftest.sh \
      ${./handoff/nixos-kexec-confirm}:nixos-kexec-confirm; do
      {
        echo '#!${pkgs.runtimeShell}'
        echo 'PATH=${fleetPath}''${PATH:+:$PATH}; export PATH'
        tail -n +2 "''${f%%:*}"
      } >$d/''${f#*:}
      chmod 0755 $d/''${f#*:}
    done
    # Not a symbolic link: the script looks for report.sh beside $0.
    printf '#!%s\nexec %s "$@"\n' ${pkgs.runtimeShell} $d/nixos-kexec-confirm \
      >$out/bin/nixos-kexec-confirm
    chmod 0755 $out/bin/nixos-kexec-confirm
  '';
  fleetPath = lib.makeBinPath [
    pkgs.bash # sh, for revert.sh and the confirm command running report.sh
    pkgs.curl
    pkgs.coreutils # also timeout, for selftest.sh's TCP check
    pkgs.gawk
    pkgs.getent # selftest.sh resolves names the way programs do (pkgs/top-level/all-packages.nix: inherit (unixtools) getent)
    pkgs.gnugrep
    pkgs.gnused
    pkgs.iproute2
    pkgs.iputils # ping, which makes the kernel ask for a gateway's MAC
    pkgs.openssh
    pkgs.systemd # networkctl
  ];
in
{
  config = lib.mkMerge [
    {
      networking.useNetworkd = true;
      systemd.network.enable = true;
      # The fallback when no unit was handed over for a port.
      networking.useDHCP = lib.mkDefault true;

      # Keep all three key types a replaced system may have had, so clients
      # keep trusting whichever one they recorded.
      services.openssh.hostKeys = lib.mkDefault [
        {
          type = "ed25519";
          path = "/etc/ssh/ssh_host_ed25519_key";
        }
        {
          type = "ecdsa";
          path = "/etc/ssh/ssh_host_ecdsa_key";
        }
        {
          type = "rsa";
          bits = 4096;
          path = "/etc/ssh/ssh_host_rsa_key";
        }
      ];
      # The ports the old sshd listened on besides 22 (stage2.sh installs
      # the handed-over fragment there): first in extraConfig, so that no
      # Match block from elsewhere comes before it. sshd ignores a pattern
      # that matches nothing. services.openssh.extraConfig:
      # nixos/modules/services/networking/ssh/sshd.nix.
      services.openssh.extraConfig = lib.mkBefore ''
        Include /etc/ssh/sshd_config.d/*.conf
      '';
      # And through the firewall (on by default), which opens only
      # services.openssh.ports itself. extraCommands exists for the
      # iptables backend only (nixos/modules/services/networking/firewall-iptables.nix;
      # the nftables one refuses it), hence the condition.
      networking.firewall.extraCommands = lib.mkIf (!config.networking.nftables.enable) ''
        for p in $(sed -n 's/^Port \([0-9][0-9]*\)$/\1/p' /etc/ssh/sshd_config.d/nixos-kexec.conf 2>/dev/null); do
          ip46tables -A nixos-fw -p tcp --dport "$p" -j nixos-fw-accept
        done
      '';

      # Handed-over keys are read from /run, not written into /root, so they
      # work whatever services.openssh.authorizedKeysInHomedir says.
      services.openssh.authorizedKeysFiles = [ "${run}/authorized_keys.d/%u" ];

      systemd.services.nixos-kexec-handoff = {
        description = "Apply the network, SSH keys and host name handed over by nixos-kexec";
        wantedBy = [ "sysinit.target" ];
        wants = [ "network-pre.target" ];
        before = [
          "sysinit.target"
          "network-pre.target"
          "systemd-networkd.service"
          "systemd-resolved.service" # reads the resolved.conf.d drop-in
          "firewall.service" # opens the handed-over sshd ports
          "resolvconf.service"
          "sshd-keygen.service"
          "sshd.service"
          "sshd.socket"
          "shutdown.target"
        ];
        conflicts = [ "shutdown.target" ];
        unitConfig = {
          # Runs before sysinit.target; /etc and /run exist already (stage 1
          # and activation made them).
          DefaultDependencies = false;
          ConditionPathIsDirectory = "${run}/handoff";
          # What it installs in /etc (ssh/, resolv.conf) goes into whatever
          # is mounted there: with `system.etc.overlay.enable` that is the
          # overlay the systemd stage 1 mounted, carried into stage 2 as
          # etc.mount; after it, never under it.
          RequiresMountsFor = "/etc";
        };
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
        };
        # NixOS runs a unit's script with bash -e, as the stand-in does.
        environment.NIXOS_KEXEC_RESOLV_CONF = if config.services.resolved.enable then "0" else "1";
        # Without resolved, the handed-over servers go through resolvconf
        # (openresolv), which owns /etc/resolv.conf there
        # (nixos/modules/config/resolvconf.nix: networking.resolvconf.enable
        # and .package); `path` adds bin/ and sbin/.
        path = lib.optional (!config.services.resolved.enable && config.networking.resolvconf.enable)
          config.networking.resolvconf.package;
        script = builtins.readFile ./handoff/stage2.sh;
      };

      environment.systemPackages = [ fleet ];
      # At every login (console or SSH), while the safety net is armed: the
      # time left and how to keep this system.
      environment.loginShellInit = ''
        ${fleet}/bin/nixos-kexec-confirm --status
      '';

      # Mirrored by tests/e2e/journey/second/nixos-kexec-selftest.service.
      # Not after network-online.target: a handed-over network that does
      # not work may never get there, and that is what it is for. Its
      # steps go to the console, and to the collector when there is one.
      systemd.services.nixos-kexec-selftest = {
        description = "nixos-kexec network self-test: check the handed-over network, else fall back to DHCP/RA";
        wantedBy = [ "multi-user.target" ];
        after = [
          "systemd-networkd.service"
          "nixos-kexec-handoff.service"
        ];
        unitConfig.ConditionPathExists = "${run}/handoff/boot.json";
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "${fleet}/libexec/nixos-kexec/selftest.sh";
          # Its own bounds add up to about 110 s; this is the backstop.
          TimeoutStartSec = "5min";
          StandardOutput = "journal+console";
          StandardError = "journal+console";
        };
      };

      # Mirrored by tests/e2e/journey/second/nixos-kexec-report-up.service.
      # After the self-test, so that `up` names the addresses in effect.
      systemd.services.nixos-kexec-report-up = {
        description = "Report to the nixos-kexec collector that this system is up";
        wantedBy = [ "multi-user.target" ];
        wants = [ "network-online.target" ];
        after = [
          "network-online.target"
          "nixos-kexec-handoff.service"
          "nixos-kexec-selftest.service"
          "sshd.service"
        ];
        unitConfig.ConditionPathExists = "${run}/handoff/boot.json";
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "${fleet}/libexec/nixos-kexec/report.sh up";
        };
      };

      # Mirrored by tests/e2e/journey/second/nixos-kexec-revert.service. It
      # must not wait for the network: a system without one is what it is for.
      # Pulled in from sysinit.target (and emergency.target, which does not
      # reach it), not multi-user.target: a boot that ends in rescue or
      # emergency mode, or an isolate, must still revert. Needs only /proc
      # and /run, so no default dependencies.
      systemd.services.nixos-kexec-revert = {
        description = "nixos-kexec safety net: reboot into the previous system unless confirmed";
        wantedBy = [
          "sysinit.target"
          "emergency.target"
        ];
        after = [ "nixos-kexec-handoff.service" ];
        before = [ "shutdown.target" ];
        conflicts = [ "shutdown.target" ];
        unitConfig = {
          ConditionPathExists = "${run}/handoff/boot.json";
          DefaultDependencies = false;
          IgnoreOnIsolate = true;
        };
        serviceConfig = {
          Type = "simple";
          ExecStart = "${fleet}/libexec/nixos-kexec/revert.sh";
          StandardOutput = "journal+console";
          StandardError = "journal+console";
        };
      };
    }

    # The scripted stage 1; it runs postMountCommands with the new root
    # mounted at $targetRoot, before it moves /run there.
    (lib.mkIf (!config.boot.initrd.systemd.enable) {
      boot.initrd.postMountCommands = stage1 "$targetRoot" "$targetRoot/etc";
    })

    # The systemd stage 1 (the default since NixOS 26.05), which refuses
    # postMountCommands. Its /run is bind-mounted into /sysroot/run.
    (lib.mkIf config.boot.initrd.systemd.enable {
      boot.initrd.systemd.services.nixos-kexec-handoff = {
        description = "Keep the nixos-kexec handoff across switch-root";
        wantedBy = [ "initrd.target" ];
        # Before rw-etc.service and pulled in by it: the machine id is in
        # the overlay's upper directory before /etc is mounted over
        # /sysroot/etc (stage1Etc above). Without the overlay rw-etc.service
        # does not exist and these two entries do nothing. Required by it,
        # so a failure here would stop /etc from being mounted: stage1
        # says a failure and never fails the unit.
        requiredBy = [ "rw-etc.service" ];
        before = [
          "initrd.target"
          "initrd-switch-root.target"
          "rw-etc.service"
        ];
        unitConfig = {
          DefaultDependencies = false;
          RequiresMountsFor = "/sysroot";
          ConditionPathIsDirectory = handoff;
        };
        serviceConfig.Type = "oneshot";
        script = stage1 "/sysroot" stage1Etc;
      };
    })
  ];
}
