# The nixos-kexec agent, built by this repository's Makefile.
#
# Called from pkgsStatic (nix/packages.nix) it gives the fully static binary
# that target machines run without Nix; from a plain package set it gives an
# ordinary dynamic build. Only the agent is built, not the test server stub.
{
  lib,
  stdenv,
  pkg-config,
  curlMinimal, # libcurl with OpenSSL, HTTP/2, zlib; none of curl's extras
  openssl,
  libsodium,
  zlib,
}:

let
  static = stdenv.hostPlatform.isStatic;

  # The version the agent prints, read from common/version.h.
  versionLine = lib.findFirst (lib.hasPrefix "#define NK_VERSION ") null (
    lib.splitString "\n" (builtins.readFile ../common/version.h)
  );
  version =
    if versionLine == null then
      "0"
    else
      lib.removeSuffix "\"" (lib.removePrefix "#define NK_VERSION \"" versionLine);
in
stdenv.mkDerivation {
  pname = "nixos-kexec";
  inherit version;

  # Only what the agent's Makefile target reads, so that editing the docs,
  # the tests or the Nix files does not rebuild it. Add here any file that
  # target comes to need.
  src = lib.fileset.toSource {
    root = ./..;
    fileset = lib.fileset.unions [
      ../Makefile
      ../agent
      ../common
      # A prerequisite of the $(B)/.deps-* stamps; make wants it present.
      ../tools/install-deps.sh
    ];
  };

  nativeBuildInputs = [ pkg-config ];
  buildInputs = [
    curlMinimal
    openssl
    libsodium
    zlib
  ];

  # $CC, $PKG_CONFIG and $READELF are set by the compiler, pkg-config and
  # binutils wrappers, with the cross prefix when there is one. For a static
  # build the Makefile takes `pkg-config --static` (private libraries too)
  # and LDFLAGS=-static.
  buildPhase = ''
    runHook preBuild
    # INSTALL_DEPS=0: Nix provides the libraries, apt must not be asked.
    # WERROR=: a newer compiler in nixpkgs warns about more; that must not
    # break a user's build (make and CI keep -Werror).
    make -j"$NIX_BUILD_CORES" B=build CC="$CC" INSTALL_DEPS=0 WERROR= \
      PKG_CONFIG="$PKG_CONFIG${lib.optionalString static " --static"}" \
      ${lib.optionalString static "LDFLAGS=-static"} \
      build/nixos-kexec
    runHook postBuild
  '';

  installPhase = ''
    runHook preInstall
    install -Dm755 build/nixos-kexec $out/bin/nixos-kexec
    runHook postInstall
  '';

  # The static build is copied to machines without Nix: it must not name a
  # dynamic loader. (stdenv skips this check when cross-compiling.)
  doInstallCheck = static;
  installCheckPhase = ''
    runHook preInstallCheck
    if $READELF -l $out/bin/nixos-kexec | grep -q INTERP; then
      echo "nixos-kexec: the binary is dynamically linked" >&2
      exit 1
    fi
    $out/bin/nixos-kexec --version
    runHook postInstallCheck
  '';

  meta = {
    description = "Boot a signed NixOS kernel and initrd from RAM on a running Linux machine";
    mainProgram = "nixos-kexec";
    platforms = lib.platforms.linux;
  };
}
