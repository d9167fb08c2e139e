#!/bin/sh
# Installs what tools/static/build.sh needs on Debian 12 (run as root):
#   * deb-src entries for every enabled `deb` entry of the machine's apt
#     sources (one-line *.list and deb822 *.sources), written to
#     /etc/apt/sources.list.d/nixos-kexec-deb-src.sources when absent;
#   * the arm64 foreign architecture (for musl-dev:arm64);
#   * the toolchains and build tools below.
# Idempotent: when everything is present it only checks, and exits in well
# under a second. Prints what it changes.
set -eu

PKGS="build-essential pkg-config dpkg-dev xz-utils file binutils make perl
autoconf automake libtool m4 musl-tools musl-dev musl-dev:arm64
gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu linux-libc-dev
linux-libc-dev-arm64-cross qemu-user-static"

SRCFILE=/etc/apt/sources.list.d/nixos-kexec-deb-src.sources

say() { echo "install-deps(static): $*" >&2; }

# Every enabled entry of the apt sources, one per line:
#   deb URI SUITE COMPONENTS SIGNED-BY TRUSTED    (COMPONENTS joined by ',')
#   deb-src URI SUITE
# Only the files apt reads: sources.list, sources.list.d/*.list, *.sources.
apt_entries() {
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '
		{ sub(/#.*/, "") }
		$1 != "deb" && $1 != "deb-src" { next }
		{
			type = $1; signed = "-"; trusted = "-"; i = 2
			if ($2 ~ /^\[/) {
				opts = ""
				for (; i <= NF; i++) { opts = opts " " $i; if ($i ~ /\]$/) { i++; break } }
				gsub(/[\[\]]/, "", opts)
				n = split(opts, o, " ")
				for (k = 1; k <= n; k++) {
					if (o[k] ~ /^signed-by=/) { signed = o[k]; sub(/^signed-by=/, "", signed) }
					if (o[k] == "trusted=yes") trusted = "yes"
				}
			}
			uri = $i; suite = $(i + 1); comps = ""
			for (k = i + 2; k <= NF; k++) comps = comps (comps == "" ? "" : ",") $k
			sub(/\/$/, "", uri)
			if (type == "deb") print "deb", uri, suite, (comps == "" ? "-" : comps), signed, trusted
			else print "deb-src", uri, suite
		}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
		function flush(   nt, nu, ns, a, b, c, t, u, s) {
			if (enabled != "no" && types != "") {
				nt = split(types, t, " "); nu = split(uris, u, " "); ns = split(suites, s, " ")
				for (a = 1; a <= nt; a++) for (b = 1; b <= nu; b++) for (c = 1; c <= ns; c++) {
					sub(/\/$/, "", u[b])
					if (t[a] == "deb") print "deb", u[b], s[c], (comps == "" ? "-" : comps), (signed == "" ? "-" : signed), (trusted == "" ? "-" : trusted)
					else if (t[a] == "deb-src") print "deb-src", u[b], s[c]
				}
			}
			types = uris = suites = comps = signed = trusted = enabled = ""
		}
		/^[ \t]*#/ { next }
		/^[ \t]*$/ { flush(); next }
		/^[ \t]/ { next }   # continuation line (an inline key): not needed
		{
			key = tolower($1); sub(/:$/, "", key)
			val = $0; sub(/^[^:]*:[ \t]*/, "", val)
			if (key == "types") types = val
			else if (key == "uris") uris = val
			else if (key == "suites") suites = val
			else if (key == "components") { comps = val; gsub(/[ \t]+/, ",", comps) }
			else if (key == "signed-by") signed = val
			else if (key == "trusted") trusted = val
			else if (key == "enabled") enabled = tolower(val)
		}
		END { flush() }' "$f"
	done
}

# deb entries without a deb-src entry for the same URI and suite
missing_src() {
	apt_entries | awk '
		$1 == "deb-src" { have[$2 " " $3] = 1; next }
		$1 == "deb" { deb[++n] = $0; key[n] = $2 " " $3 }
		END { for (i = 1; i <= n; i++) if (!(key[i] in have) && !(key[i] in done)) { print deb[i]; done[key[i]] = 1 } }'
}

missing_pkgs() {
	for p in $PKGS; do
		if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
			printf ' %s' "$p"
		fi
	done
}

have_arm64() { dpkg --print-foreign-architectures | grep -qx arm64; }
# the Sources indices are there (deb-src entries exist but apt-get update never ran)
have_src_index() { apt-cache showsrc --only-source zlib 2>/dev/null | grep -q '^Package: zlib'; }

need_src=$(missing_src)
need_pkgs=$(missing_pkgs)
need_arch=0; have_arm64 || need_arch=1
need_update=0
if [ -n "$need_src" ] || [ $need_arch = 1 ] || ! have_src_index; then need_update=1; fi

if [ -z "$need_src" ] && [ -z "$need_pkgs" ] && [ $need_update = 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	if [ -n "$need_src" ]; then say "missing deb-src entries for:$(printf '%s\n' "$need_src" | awk '{printf " %s %s", $2, $3}')"; fi
	if [ $need_arch = 1 ]; then say "missing foreign architecture arm64"; fi
	if [ -n "$need_pkgs" ]; then say "missing packages:$need_pkgs"; fi
	if [ $need_update = 1 ]; then say "apt source indices need an update"; fi
	say "run as root (or: sudo $0)"
	exit 1
fi

if [ -n "$need_src" ]; then
	# shellcheck disable=SC2094 # -s only asks whether the file is empty
	printf '%s\n' "$need_src" | while read -r _ uri suite comps signed trusted; do
		say "adding deb-src $uri $suite ($(echo "$comps" | tr , ' ')) to $SRCFILE"
		{
			if [ -s "$SRCFILE" ]; then echo; fi
			echo "# added by nixos-kexec tools/static/install-deps.sh"
			echo "Types: deb-src"
			echo "URIs: $uri"
			echo "Suites: $suite"
			if [ "$comps" != - ]; then echo "Components: $(echo "$comps" | tr , ' ')"; fi
			if [ "$signed" != - ]; then echo "Signed-By: $signed"; fi
			if [ "$trusted" != - ]; then echo "Trusted: $trusted"; fi
		} >>"$SRCFILE"
	done
fi

if [ $need_arch = 1 ]; then
	say "dpkg --add-architecture arm64"
	dpkg --add-architecture arm64
fi

export DEBIAN_FRONTEND=noninteractive
if [ $need_update = 1 ] || [ -n "$need_pkgs" ]; then
	say "apt-get update"
	apt-get update -qq
fi
need_pkgs=$(missing_pkgs)
if [ -n "$need_pkgs" ]; then
	say "installing:$need_pkgs"
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $need_pkgs >/dev/null
fi
say "done"
