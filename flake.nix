{
  description = "nixos-kexec: boot NixOS from RAM on any running Linux machine, from a signed bundle";

  # A release branch: its binary cache has almost everything the image needs.
  # `nix flake update` moves it along the branch; change the name to move to
  # the next release.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      other = {
        x86_64-linux = "aarch64-linux";
        aarch64-linux = "x86_64-linux";
      };

      # The bundle version: the time of the flake's last commit,
      # YYYYMMDDHHMMSS, so a later commit gives a higher version (targets
      # refuse to go back to a lower one).
      version = self.lastModifiedDate or "19700101000000";

      # The image that runs on `host`, built on `build` (cross-compiled when
      # they differ).
      mkImage =
        host: build:
        lib.nixosSystem {
          modules = [
            ./nix/image.nix
            ./configuration.nix
            {
              nixpkgs = {
                hostPlatform = host;
              }
              // lib.optionalAttrs (build != host) { buildPlatform = build; };
            }
          ];
        };

      # What the flake builds on `system`: for its own architecture, and
      # cross-compiled for the other one.
      forSystem = system: {
        native = import ./nix/packages.nix {
          image = self.nixosConfigurations.${system};
          inherit version;
        };
        cross = import ./nix/packages.nix {
          image = self.nixosConfigurations."${other.${system}}-from-${system}";
          inherit version;
        };
      };
      built = lib.genAttrs systems forSystem;
    in
    {
      # x86_64-linux, aarch64-linux: built natively.
      # aarch64-linux-from-x86_64-linux, x86_64-linux-from-aarch64-linux:
      # the same systems, cross-compiled on the other architecture.
      nixosConfigurations = lib.listToAttrs (
        lib.concatMap (host: [
          (lib.nameValuePair host (mkImage host host))
          (lib.nameValuePair "${host}-from-${other.${host}}" (mkImage host other.${host}))
        ]) systems
      );

      # What makes an image take over the agent's handoff (network, SSH
      # keys, host name, machine id); already part of the image above.
      nixosModules.default = ./nix/module.nix;

      packages = lib.genAttrs systems (
        system:
        let
          inherit (built.${system}) native cross;
          o = other.${system};
        in
        {
          inherit (native)
            agent
            bundle
            nixos-kexec
            nixos-kexec-anywhere
            tarball
            ;
          default = native.nixos-kexec;
          # Built here, for the other architecture.
          "agent-${o}" = cross.agent;
          "bundle-${o}" = cross.bundle;
          "nixos-kexec-${o}" = cross.nixos-kexec;
          "tarball-${o}" = cross.tarball;
          "nixos-kexec-anywhere-${o}" = cross.nixos-kexec-anywhere;
        }
      );

      apps = lib.genAttrs systems (
        system:
        let
          inherit (built.${system}) native cross;
          o = other.${system};
        in
        {
          default = native.apps.boot;
          inherit (native.apps) sign publish;
          "sign-${o}" = cross.apps.sign;
          "publish-${o}" = cross.apps.publish;
        }
      );

      # `nix flake check` builds none of the images: each check below only
      # records a derivation path, which forces the whole configuration to
      # evaluate (options, assertions, dependency graph).
      checks = lib.genAttrs systems (
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
          evaluates =
            name: drv:
            pkgs.runCommand "evaluates-${name}" {
              evaluated = builtins.unsafeDiscardStringContext drv.drvPath;
            } ''echo "$evaluated" > $out'';
          # The handoff module alone, in a bare system, with either stage 1
          # (the scripted one evaluates with nixpkgs' deprecation warning,
          # which is only printed: nothing here makes warnings errors), and
          # with the systemd one under the /etc overlay.
          moduleWith =
            systemdInitrd: etcOverlay:
            (lib.nixosSystem {
              modules = [
                self.nixosModules.default
                {
                  nixpkgs.hostPlatform = system;
                  boot.initrd.systemd.enable = systemdInitrd;
                  system.etc.overlay.enable = etcOverlay;
                  boot.loader.grub.enable = false;
                  fileSystems."/" = {
                    device = "none";
                    fsType = "tmpfs";
                  };
                  system.stateVersion = lib.trivial.release;
                }
              ];
            }).config.system.build.toplevel;
          p = self.packages.${system};
          o = other.${system};
        in
        {
          nixos-kexec = evaluates "nixos-kexec" p.nixos-kexec;
          tarball = evaluates "tarball" p.tarball;
          nixos-kexec-anywhere = evaluates "nixos-kexec-anywhere" p.nixos-kexec-anywhere;
          "tarball-${o}" = evaluates "tarball-${o}" p."tarball-${o}";
          module-scripted-initrd = evaluates "module-scripted-initrd" (moduleWith false false);
          module-systemd-initrd = evaluates "module-systemd-initrd" (moduleWith true false);
          module-etc-overlay = evaluates "module-etc-overlay" (moduleWith true true);
        }
      );
    };
}
