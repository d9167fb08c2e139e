# The part of nixpkgs' lib that nix/module.nix and nix/store.nix use, as
# stubs: mkIf and mkMerge are kept as data, so that module-units.nix and
# store-units.nix can look inside what a module declares without nixpkgs.
{
  mkIf = condition: content: {
    _type = "if";
    inherit condition content;
  };
  mkMerge = contents: {
    _type = "merge";
    inherit contents;
  };
  mkDefault = x: x;
  mkBefore = x: x;
  mkOption = o: o;
  types.bool = "bool";
  optional = c: x: if c then [ x ] else [ ];
  optionalString = c: s: if c then s else "";
  escapeShellArg = s: "'${s}'";
  makeBinPath = _: "/stub/bin";
}
