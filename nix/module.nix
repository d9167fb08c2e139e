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
# Stage 1 keeps the tree in /run/nixos-kexec/handoff (the initramfs is
# emptied at switch-root; /run is carried into the new root) and writes the
# machine id into the new root before systemd reads it. Early in stage 2 one
# unit installs the rest, before systemd-networkd and sshd start.
#
# Without a handoff nothing changes: NixOS's 99-ethernet-default-dhcp.network
# runs DHCP on every Ethernet port, sshd generates host keys, and only the
# keys of users.users.root.openssh.authorizedKeys let root in.
{ config, lib, ... }:

let
  handoff = "/nixos-kexec/handoff"; # as unpacked from the initrd
  run = "/run/nixos-kexec"; # where it survives switch-root

  # Stage 1, in the scripted initrd's ash or the systemd initrd's bash; only
  # coreutils and shell built-ins, which both provide. `root` is where the
  # new root file system is mounted.
  stage1 = root: ''
    if [ -d ${handoff} ]; then
      mkdir -p ${run}
      chmod 0755 ${run}
      rm -rf ${run}/handoff
      cp -R ${handoff} ${run}/handoff
      chmod -R go-rwx ${run}/handoff
      # systemd reads /etc/machine-id when it starts, so it goes in now.
      id=
      if [ -f ${handoff}/machine-id ]; then
        IFS= read -r id < ${handoff}/machine-id || true
      fi
      case "$id" in
        *[!0-9a-f]*) echo "nixos-kexec: ignoring an invalid machine-id" ;;
        *)
          if [ ''${#id} -eq 32 ]; then
            mkdir -p ${root}/etc
            printf '%s\n' "$id" > ${root}/etc/machine-id
          fi
          ;;
      esac
    fi
  '';
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
        };
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
        };
        script = ''
          h=${run}/handoff
          shopt -s nullglob

          # Network. systemd-networkd also reads /run/systemd/network, and
          # processes all units in name order whatever their directory; the
          # 10- prefix puts these before NixOS's 99-* DHCP fallback, which
          # still covers any port they do not match.
          install -d -m 0755 /run/systemd/network
          for f in "$h"/network/*.network; do
            install -m 0644 "$f" "/run/systemd/network/10-nixos-kexec-$(basename "$f")"
          done

          # Host keys, so that clients keep trusting the machine.
          install -d -m 0755 /etc/ssh
          for f in "$h"/ssh/ssh_host_*; do
            case "$f" in
              *.pub) install -m 0644 "$f" /etc/ssh/ ;;
              *) install -m 0600 "$f" /etc/ssh/ ;;
            esac
          done

          # Keys for root, read through services.openssh.authorizedKeysFiles.
          if [ -f "$h/ssh/authorized_keys" ]; then
            install -D -m 0644 "$h/ssh/authorized_keys" ${run}/authorized_keys.d/root
          fi

          ${lib.optionalString (!config.services.resolved.enable) ''
            # DNS as it was: only without systemd-resolved (with it, the
            # units' DNS= and Domains= already carry the servers).
            if [ -f "$h/resolv.conf" ]; then
              install -m 0644 "$h/resolv.conf" /etc/resolv.conf
            fi
          ''}
          # Host name, when it is a valid one.
          if [ -f "$h/hostname" ]; then
            name=
            IFS= read -r name < "$h/hostname" || true
            case "$name" in
              "" | -* | *[!A-Za-z0-9.-]*) echo "ignoring an invalid host name" >&2 ;;
              *)
                if [ "''${#name}" -le 64 ]; then
                  printf '%s' "$name" > /proc/sys/kernel/hostname
                fi
                ;;
            esac
          fi
        '';
      };
    }

    # The scripted stage 1; it runs postMountCommands with the new root
    # mounted at $targetRoot, before it moves /run there.
    (lib.mkIf (!config.boot.initrd.systemd.enable) {
      boot.initrd.postMountCommands = stage1 "$targetRoot";
    })

    # The systemd stage 1 (the default since NixOS 26.05), which refuses
    # postMountCommands. Its /run is bind-mounted into /sysroot/run.
    (lib.mkIf config.boot.initrd.systemd.enable {
      boot.initrd.systemd.services.nixos-kexec-handoff = {
        description = "Keep the nixos-kexec handoff across switch-root";
        wantedBy = [ "initrd.target" ];
        before = [
          "initrd.target"
          "initrd-switch-root.target"
        ];
        unitConfig = {
          DefaultDependencies = false;
          RequiresMountsFor = "/sysroot";
          ConditionPathIsDirectory = handoff;
        };
        serviceConfig.Type = "oneshot";
        script = stage1 "/sysroot";
      };
    })
  ];
}
