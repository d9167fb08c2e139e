# Everything the flake builds from one NixOS image (see ./image.nix): the
# static agent, the bundle, the self-booting package, the tarball and the
# sign/publish apps. The image may be cross-compiled; what runs on the
# build machine then comes from pkgs.buildPackages, what runs on the target
# from pkgs.
{
  image, # lib.nixosSystem result built from ./image.nix
  version, # bundle version, an unsigned decimal number as a string
}:

let
  inherit (image) config pkgs;
  inherit (pkgs) lib;

  host = pkgs.stdenv.hostPlatform;
  system = host.system; # x86_64-linux, aarch64-linux
  arch = host.uname.processor; # uname -m: x86_64, aarch64

  # The agent for the target: static, so it runs on any Linux without Nix.
  agent = pkgs.pkgsStatic.callPackage ./agent.nix { };
  # kexec-tools' kexec, static, beside the agent: its fallback where
  # kexec_file_load is missing or refused (the agent looks for bin/kexec
  # next to itself, and bin/kexec-<uname -m> in the release layout).
  kexecStatic = pkgs.pkgsStatic.kexec-tools;
  # The agent on the build machine, to make and sign bundles.
  tool = pkgs.buildPackages.pkgsStatic.callPackage ./agent.nix { };

  kernel = "${config.system.build.kernel}/${config.system.boot.loader.kernelFile}";
  initrd = "${config.system.build.netbootRamdisk}/initrd";
  # A lean bundle (manifest format 2, issue 22): the initrd without the
  # store (stage 1, the static agent, ./store.nix's scripts), and the store
  # squashfs as an artifact of its own; netboot.nix's netbootRamdisk is
  # exactly these two, the second at /nix-store.squashfs.
  leanInitrd = "${config.system.build.initialRamdisk}/${config.system.boot.loader.initrdFile}";
  store = "${config.system.build.squashfsStore}";
  # What nixpkgs' own kexec script passes (system.build.kexecScript). The
  # system travels inside the initrd; naming it without its string context
  # (as nixpkgs' kexec module did) keeps the whole system out of the
  # runtime closure of the packages that carry this command line.
  toplevel = builtins.unsafeDiscardStringContext (toString config.system.build.toplevel);
  cmdline = "init=${toplevel}/init ${toString config.boot.kernelParams}";
  name = "nixos-${config.system.nixos.release}-${arch}";

  # Bundles carried with their agent are checked with a key made for that
  # build: expiry would only make an unpacked tarball stop working.
  carriedExpiresIn = 10 * 365 * 24 * 60 * 60;

  # Shell command writing a bundle directory to `out` (which must not exist).
  mkBundle =
    {
      out,
      expiresIn ? null,
      lean ? false,
    }:
    lib.escapeShellArgs (
      [
        "nixos-kexec"
        "bundle"
        "--kernel"
        kernel
        "--initrd"
        (if lean then leanInitrd else initrd)
      ]
      ++ lib.optionals lean [
        "--store"
        store
      ]
      ++ [
        "--cmdline"
        cmdline
        "--version"
        version
        "--arch"
        arch
        "--name"
        name
      ]
      ++ lib.optionals (expiresIn != null) [
        "--expires-in"
        (toString expiresIn)
      ]
    )
    + " -o ${out}";

  # The unsigned bundle, lean: kernel, the initrd without the store, the
  # store squashfs (nix-store.squashfs), manifest (format 2). The bundles
  # carried with an agent below stay format 1: booted from a directory,
  # they have no source stage 1 could fetch a store from.
  bundle = pkgs.runCommand "nixos-kexec-bundle-${system}" {
    nativeBuildInputs = [ tool ];
  } (mkBundle {
    out = "$out";
    lean = true;
  });

  # result/bin/nixos-kexec boots the bundle in result/share/nixos-kexec.
  nixos-kexec =
    pkgs.runCommand "nixos-kexec-${system}"
      {
        nativeBuildInputs = [ tool ];
        meta.mainProgram = "nixos-kexec";
      }
      ''
        mkdir -p $out/bin $out/share/nixos-kexec
        # A copy, not a symlink: run without arguments, the agent looks for
        # its bundle next to /proc/self/exe, which must be this directory.
        cp ${agent}/bin/nixos-kexec $out/bin/nixos-kexec
        cp ${kexecStatic}/bin/kexec $out/bin/kexec
        ${lib.optionalString (host == pkgs.stdenv.buildPlatform) ''
          $out/bin/kexec --version >/dev/null
        ''}
        ${mkBundle {
          out = "$out/share/nixos-kexec/bundle";
          expiresIn = carriedExpiresIn;
        }}
        # A key pair for this build only. The signature proves that the
        # bundle arrived intact, not who made it; the secret key is used
        # once here and never reaches $out.
        nixos-kexec keygen -W -p $out/share/nixos-kexec/bundle.pub -s build.key
        nixos-kexec sign -s build.key $out/share/nixos-kexec/bundle
        rm -f build.key
      '';

  # result/tarball/nixos-kexec-<system>.tar.gz, to unpack at / on a machine
  # without Nix: /nixos-kexec/bin/nixos-kexec, the static kexec beside it,
  # and its bundle.
  tarball = pkgs.runCommand "nixos-kexec-tarball-${system}" { } ''
    mkdir -p $out/tarball
    ln -s ${nixos-kexec} nixos-kexec
    tar --create --dereference --sort=name --owner=0 --group=0 --numeric-owner \
      --mtime=@1 --mode=u+w,go-w nixos-kexec \
      | gzip -n > $out/tarball/nixos-kexec-${system}.tar.gz
  '';

  # result/nixos-kexec-anywhere-<arch>.tar.gz (and its SHA256SUMS) for
  # `nixos-anywhere --kexec`: make release's tarball (tools/release.sh),
  # with the URL the bundle is published at and the key it is signed with
  # from configuration.nix (nixos-kexec.installer.anywhere.url, .publicKey). Without
  # them the build stops and says so; `nix run .#publish -- --url ...`
  # writes the same tarball beside the bundle.
  anywhereCfg = config.nixos-kexec.installer.anywhere;
  nixos-kexec-anywhere =
    pkgs.runCommand "nixos-kexec-anywhere-${system}" { nativeBuildInputs = [ release ]; }
      (
        if anywhereCfg.url == null || anywhereCfg.publicKey == null then
          ''
            echo "nixos-kexec-anywhere: set nixos-kexec.installer.anywhere.url (where nix run .#publish serves" >&2
            echo "the bundle) and nixos-kexec.installer.anywhere.publicKey (its minisign key) in configuration.nix" >&2
            exit 1
          ''
        else
          ''
            mkdir -p site/bin $out
            cp ${agent}/bin/nixos-kexec site/bin/nixos-kexec-${arch}
            cp ${kexecStatic}/bin/kexec site/bin/kexec-${arch}
            printf 'untrusted comment: nixos-kexec public key\n%s\n' \
              ${lib.escapeShellArg anywhereCfg.publicKey} > key.pub
            nixos-kexec-release --in-place --out site \
              --url ${lib.escapeShellArg anywhereCfg.url} --key key.pub
            cp site/nixos-kexec-anywhere-${arch}.tar.gz $out/
            (cd site && grep ' nixos-kexec-anywhere-${arch}.tar.gz$' SHA256SUMS) > $out/SHA256SUMS
          ''
      );

  # The apps run on the build machine.
  inherit (pkgs.buildPackages) writeShellApplication coreutils diffutils;

  # make release's own script (tools/release.sh), so that publish writes the
  # same SHA256SUMS and boot.sh as `make release` does.
  release = pkgs.buildPackages.writeShellApplication {
    name = "nixos-kexec-release";
    runtimeInputs = with pkgs.buildPackages; [
      coreutils
      findutils
      gnugrep
      gnused
      gawk
      gnutar
      gzip
    ];
    # POSIX sh, written for dash as well; shellcheck runs on it in the
    # project's own tests, not here.
    checkPhase = "";
    text = builtins.readFile ../tools/release.sh;
  };

  sign = writeShellApplication {
    name = "nixos-kexec-sign";
    runtimeInputs = [
      tool
      coreutils
    ];
    text = ''
      usage() {
        echo "usage: nix run .#sign -- -s SECRET_KEY [-o DIR] [--expires-in SECONDS] [--version N]"
        echo
        echo "Issues and signs a bundle of this flake's ${system} image: writes DIR"
        echo "(default ./nixos-kexec-bundle-${system}, must not exist) with a fresh"
        echo "manifest (issued now; expiry from --expires-in, else the agent's default)"
        echo "and manifest.minisig. SECRET_KEY is a minisign secret key kept outside"
        echo "the Nix store, e.g. from: nix run .#agent -- keygen -p kexec.pub -s kexec.key"
        echo "Version default: ${version} (the flake's last commit time)."
      }
      die() {
        echo "nixos-kexec-sign: $*" >&2
        exit 64
      }

      sec="" out="nixos-kexec-bundle-${system}" expires="" version="${version}"
      while [ $# -gt 0 ]; do
        case "$1" in
          -s) sec="''${2:?-s needs a file}"; shift 2 ;;
          -o) out="''${2:?-o needs a directory}"; shift 2 ;;
          --expires-in) expires="''${2:?--expires-in needs seconds}"; shift 2 ;;
          --version) version="''${2:?--version needs a number}"; shift 2 ;;
          -h | --help) usage; exit 0 ;;
          *) usage >&2; exit 64 ;;
        esac
      done
      [ -n "$sec" ] || { usage >&2; exit 64; }
      [ -f "$sec" ] || die "$sec: no such file"
      case "$(realpath -- "$sec")" in
        /nix/store/*) die "$sec is in the Nix store, which every user can read; keep secret keys outside it" ;;
      esac
      [ ! -e "$out" ] || die "$out exists; remove it or give -o NEWDIR"

      # Signing is issuing: the manifest gets today's date, so a bundle built
      # long ago can be signed and served without being already expired.
      set -- --kernel ${kernel} --initrd ${initrd} \
        --cmdline ${lib.escapeShellArg cmdline} \
        --version "$version" --arch ${arch} --name ${name}
      if [ -n "$expires" ]; then
        set -- "$@" --expires-in "$expires"
      fi
      nixos-kexec bundle "$@" -o "$out"
      if ! nixos-kexec sign -s "$sec" "$out"; then
        rm -rf -- "$out"
        exit 1
      fi
      echo "signed bundle: $out"
      echo "next: nix run .#publish -- -b $out -p PUBLIC_KEY"
    '';
  };

  publish = writeShellApplication {
    name = "nixos-kexec-publish";
    runtimeInputs = [
      tool
      coreutils
      diffutils
      sign
      release
    ];
    text = ''
      usage() {
        echo "usage: nix run .#publish -- -p PUBLIC_KEY (-b SIGNED_BUNDLE | -s SECRET_KEY)"
        echo "                            [-o DIR] [--url HTTPS_BASE_URL]"
        echo
        echo "Lays out DIR (default ./nixos-kexec-publish) for upload to any HTTPS"
        echo "server or object store: ${arch}/ (the signed ${system} bundle),"
        echo "bin/nixos-kexec-${arch} (the static agent), nixos-kexec.pub and README.txt"
        echo "(how to boot). Run it once per architecture with the same DIR and key."
        echo "-b takes a bundle signed by 'nix run .#sign'; -s signs one now."
      }
      die() {
        echo "nixos-kexec-publish: $*" >&2
        exit 64
      }

      pub="" bundle="" sec="" out="nixos-kexec-publish" url="https://HOST/PATH"
      while [ $# -gt 0 ]; do
        case "$1" in
          -p) pub="''${2:?-p needs a file}"; shift 2 ;;
          -b) bundle="''${2:?-b needs a directory}"; shift 2 ;;
          -s) sec="''${2:?-s needs a file}"; shift 2 ;;
          -o) out="''${2:?-o needs a directory}"; shift 2 ;;
          --url) url="''${2:?--url needs a URL}"; shift 2 ;;
          -h | --help) usage; exit 0 ;;
          *) usage >&2; exit 64 ;;
        esac
      done
      [ -n "$pub" ] || { usage >&2; exit 64; }
      [ -f "$pub" ] || die "$pub: no such file"
      if { [ -n "$bundle" ] && [ -n "$sec" ]; } || { [ -z "$bundle" ] && [ -z "$sec" ]; }; then
        die "give exactly one of -b SIGNED_BUNDLE and -s SECRET_KEY"
      fi
      case "$url" in
        https://*) url="''${url%/}" ;;
        *) die "--url must start with https:// (the agent fetches over HTTPS only)" ;;
      esac

      dest="$out/${arch}"
      [ ! -e "$dest" ] || die "$dest exists; remove it first"
      if [ -e "$out/nixos-kexec.pub" ] && ! cmp -s "$pub" "$out/nixos-kexec.pub"; then
        die "$out/nixos-kexec.pub is a different key; use another -o DIR"
      fi
      mkdir -p "$out"
      if [ -n "$sec" ]; then
        nixos-kexec-sign -s "$sec" -o "$dest"
      else
        [ -f "$bundle/manifest.minisig" ] || die "$bundle has no manifest.minisig; sign it first"
        cp -RL -- "$bundle" "$dest"
        chmod -R u+w "$dest"
      fi
      if ! nixos-kexec verify "$dest" -p "$pub"; then
        rm -rf -- "$dest"
        die "the bundle does not verify with $pub"
      fi
      cp -- "$pub" "$out/nixos-kexec.pub"
      install -D -m 0755 ${agent}/bin/nixos-kexec "$out/bin/nixos-kexec-${arch}"
      install -D -m 0755 ${kexecStatic}/bin/kexec "$out/bin/kexec-${arch}"

      key="$(tail -n 1 "$out/nixos-kexec.pub")"
      {
        echo "Upload this directory as it is to an HTTPS server or object store."
        echo "Nothing in it is secret."
        echo
        for a in "$out"/bin/nixos-kexec-*; do
          a="$(basename "$a")"
          printf '  %-16s %s\n' "''${a#nixos-kexec-}/" "a signed bundle: manifest, manifest.minisig, kernel, initrd"
        done
        printf '  %-16s %s\n' "bin/" "the agent and kexec-tools' kexec (its fallback), static, per architecture"
        printf '  %-16s %s\n' "nixos-kexec.pub" "the public key the bundles verify with"
        echo
        echo "To turn a running Linux machine into NixOS running from RAM, as root on it:"
        echo
        echo "  curl -fsSLo /tmp/nixos-kexec $url/bin/nixos-kexec-\$(uname -m)"
        echo "  chmod +x /tmp/nixos-kexec"
        echo "  /tmp/nixos-kexec boot $url/\$(uname -m)/ -P $key"
        echo
        echo "Give the target the key through a channel you trust (your provisioning,"
        echo "cloud-init user data), not from this server: whoever can change files"
        echo "here could change a key fetched from here, but not forge a signature."
        echo "The agent binary is not signed; compare it before running it:"
        echo
        (cd "$out/bin" && sha256sum nixos-kexec-* kexec-*) | while IFS= read -r line; do
          echo "  $line"
        done
      } > "$out/README.txt"
      # SHA256SUMS and boot.sh for every agent in bin/ (make release's script).
      if [ "$url" != "https://HOST/PATH" ]; then
        nixos-kexec-release --in-place --out "$out" --url "$url" --key "$out/nixos-kexec.pub"
      else
        echo "no --url: boot.sh and SHA256SUMS need the URL DIR is served at" >&2
      fi
      echo "ready to upload: $out (see $out/README.txt)"
    '';
  };
in
{
  inherit
    agent
    bundle
    nixos-kexec
    nixos-kexec-anywhere
    tarball
    ;
  apps = {
    # `nix run`: build, then boot the carried bundle (as root).
    boot = {
      type = "app";
      program = "${nixos-kexec}/bin/nixos-kexec";
      meta.description = "Boot this flake's NixOS image from RAM (run as root)";
    };
    sign = {
      type = "app";
      program = "${sign}/bin/nixos-kexec-sign";
      meta.description = "Issue and sign a bundle of the ${system} image with your minisign key";
    };
    publish = {
      type = "app";
      program = "${publish}/bin/nixos-kexec-publish";
      meta.description = "Lay out a signed ${system} bundle, the agent and the key for an HTTPS server";
    };
  };
}
