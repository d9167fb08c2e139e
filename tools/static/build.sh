#!/usr/bin/env bash
# tools/static/build.sh ARCH...: a fully static nixos-kexec agent and a
# static kexec (kexec-tools), linked against musl, for each ARCH = x86_64 |
# aarch64 (all = both; several at the same time, each in a process of its
# own, as a build is mostly one configure script or compiler at a time):
#
#   $B/static/ARCH/nixos-kexec   the agent (stripped; B defaults to build)
#   $B/static/ARCH/kexec         kexec-tools' kexec (stripped)
#
# Every library comes from Debian 12's source packages (`apt-get source`,
# Debian's patches applied by dpkg-source): zlib, libsodium, openssl, curl
# and kexec-tools. Nothing is downloaded from anywhere else.
#
# The libraries are built once into a prefix cached under
#   ${XDG_CACHE_HOME:-$HOME/.cache}/nixos-kexec/static/
# keyed by the .dsc versions used, the SHA-256 of this script and the
# compiler (see tools/static/README.md). A cache entry is built in a
# temporary directory and renamed into place, so an interrupted build never
# leaves a broken entry. kexec is cached the same way. The agent itself is
# linked by the project's Makefile every time (make is incremental).
#
# Two runs for different architectures may go on at the same time (two
# for the same one take turns: a lock per architecture).
#
# Environment: B (output directory, default build, relative to the
# top of the tree), JOBS (make -j, default 2), KEEP=1 (keep the work directory),
# SRC_MISSING_TTL_MIN (minutes a source version that could not be fetched,
# e.g. a .dsc 404, is skipped before it is tried again, default 60),
# MAX_BYTES (size limit per stripped binary, default 4 MiB), PRUNE_DAYS
# (cache entries of ARCH unused this long are removed, default 30).
set -euo pipefail

# Nothing from a calling make or shell leaks into the library builds: a
# `make CC=clang static` must not reach OpenSSL's make through MAKEFLAGS.
unset MAKEFLAGS MAKEOVERRIDES MFLAGS MAKELEVEL CC CXX CPP CFLAGS CXXFLAGS CPPFLAGS \
	LDFLAGS LIBS AR RANLIB NM STRIP CROSS_COMPILE PKG_CONFIG PKG_CONFIG_PATH \
	PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SELF=$HERE/$(basename "${BASH_SOURCE[0]}")
JOBS=${JOBS:-2}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/nixos-kexec/static
MAX_BYTES=${MAX_BYTES:-4194304}
SRC_MISSING_TTL_MIN=${SRC_MISSING_TTL_MIN:-60}
LIB_PKGS="zlib libsodium openssl curl"

# Optimisation for everything we compile: small code, one section per
# function and object so the final link can drop what nobody references;
# the stack protector Debian builds its packages with.
OPT="-Os -ffunction-sections -fdata-sections -fstack-protector-strong"

# OpenSSL: a TLS 1.2/1.3 client (and the stub's server side, unused here)
# with the usual ECDHE/RSA/ECDSA, AES-GCM and ChaCha20-Poly1305 suites and
# SHA-2. Everything else is left out; the agent's integration suite is the
# proof that nothing it needs went with it.
OPENSSL_OPTS="no-shared no-tests no-engine no-afalgeng no-comp no-dso no-module
no-legacy no-ssl3 no-tls1 no-tls1_1 no-dtls no-srp no-ui-console no-cms no-ts
no-ct no-ocsp no-cmp no-des no-dsa no-idea no-rc2 no-rc4 no-rc5 no-md4 no-mdc2
no-whirlpool no-seed no-camellia no-aria no-bf no-cast no-sm2 no-sm3 no-sm4
no-siphash no-scrypt no-srtp no-gost no-rfc3779 no-ssl-trace no-ocb no-ec2m
no-psk no-nextprotoneg no-async no-autoload-config"

# curl: HTTP and HTTPS only, OpenSSL and zlib, no CA bundle or path compiled
# in (OpenSSL's defaults under /etc/ssl and SSL_CERT_FILE/SSL_CERT_DIR).
CURL_OPTS="--disable-shared --enable-static --disable-dependency-tracking
--enable-http --enable-proxy --enable-threaded-resolver --enable-ipv6
--disable-ftp --disable-file --disable-ldap --disable-ldaps --disable-rtsp
--disable-dict --disable-telnet --disable-tftp --disable-pop3 --disable-imap
--disable-smb --disable-smtp --disable-gopher --disable-mqtt --disable-manual
--disable-ntlm --disable-ntlm-wb --disable-doh --disable-mime --disable-netrc
--disable-cookies --disable-alt-svc --disable-hsts --disable-headers-api
--disable-libcurl-option --disable-tls-srp --disable-unix-sockets
--disable-websockets --disable-openssl-auto-load-config
--without-ca-bundle --without-ca-path --with-ca-fallback
--without-libpsl --without-libidn2 --without-brotli --without-zstd
--without-nghttp2 --without-ngtcp2 --without-nghttp3 --without-quiche
--without-msh3 --without-libssh2 --without-libssh --without-wolfssh
--without-librtmp --without-gssapi --without-libgsasl --without-hyper
--without-gnutls --without-nss --without-wolfssl --without-mbedtls
--without-bearssl --without-rustls"

usage() {
	echo "usage: $0 x86_64|aarch64|all..." >&2
	exit 64
}

die() {
	echo "build.sh: $*" >&2
	exit 1
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- the steps --------------------------------------------------------------

# step NAME CMD...: runs CMD in a subshell, output to LOGDIR/NAME.log; prints
# the duration (one whole line at the end: builds of several architectures
# share stderr), or the end of the log on failure.
step() {
	local name=$1 t0 log base rc
	shift
	base=${name%% [0-9]*}
	log=$LOGDIR/${base// /-}.log
	t0=$(now)
	# not `if ("$@")`: errexit is off inside a condition, so a failing
	# command in the middle of a step would go unnoticed
	set +e
	(
		set -e
		"$@"
	) >"$log" 2>&1
	rc=$?
	set -e
	if [ $rc -eq 0 ]; then
		printf '[%s] %-34s%7s s\n' "$ARCH" "$name" "$(since "$t0")" >&2
	else
		printf '[%s] %-34s FAILED after %s s\n' "$ARCH" "$name" "$(since "$t0")" >&2
		echo "----- last lines of $log" >&2
		tail -n 40 "$log" >&2
		echo "-----" >&2
		exit 1
	fi
}

note() { printf '[%s] %s\n' "$ARCH" "$*" >&2; }

# --- sources ------------------------------------------------------------------

# versions PKG: the source versions apt knows, newest first
versions() {
	local v out=() i j t
	while read -r v; do out+=("$v"); done < <(apt-cache showsrc --only-source "$1" 2>/dev/null |
		awk '/^Version:/ { print $2 }' | sort -u)
	for ((i = 1; i < ${#out[@]}; i++)); do # insertion sort, dpkg's order
		for ((j = i; j > 0; j--)); do
			if dpkg --compare-versions "${out[j]}" gt "${out[j - 1]}"; then
				t=${out[j]} out[j]=${out[j - 1]} out[j - 1]=$t
			else
				break
			fi
		done
	done
	printf '%s\n' "${out[@]}"
}

# download PKG VERSION DIR: apt-get source --download-only into DIR, retried;
# 0 on success, 2 when the pool has no such file (404), 1 otherwise
download() {
	local pkg=$1 ver=$2 dir=$3 attempt out
	for attempt in 1 2 3; do
		rm -rf "${dir:?}"/*
		if out=$(cd "$dir" && apt-get source --download-only -q "$pkg=$ver" 2>&1); then
			return 0
		fi
		printf '%s\n' "$out" >>"$LOGDIR/sources.log"
		if printf '%s\n' "$out" | grep -q ' 404 '; then
			# the index may be ahead of the pool: one more try a bit later
			[ "$attempt" -ge 2 ] && return 2
		fi
		[ "$attempt" -lt 3 ] && sleep $((attempt * 3))
	done
	return 1
}

# source PKG: sets SRC_VER[PKG] and SRC_DSC[PKG], newest version first,
# from the cache when there, else downloaded; falls back to an older
# version when the newest cannot be fetched (the .dsc 404 trap).
declare -A SRC_VER SRC_DSC
source_pkg() {
	local pkg=$1 v d tmp miss rc tried=""
	local vs
	vs=$(versions "$pkg")
	[ -n "$vs" ] || die "apt knows no source package $pkg: run tools/static/install-deps.sh as root"
	mkdir -p "$CACHE/src/$pkg" "$CACHE/src/.missing" "$CACHE/tmp"
	for v in $vs; do
		d=$CACHE/src/$pkg/${v//:/%}
		if [ -f "$d/.ok" ]; then
			SRC_VER[$pkg]=$v SRC_DSC[$pkg]=$(ls "$d"/*.dsc)
			[ -z "$tried" ] || note "$pkg: using $v (not fetchable:$tried)"
			return 0
		fi
		miss=$CACHE/src/.missing/${pkg}_${v//:/%}
		if [ -n "$(find "$miss" -mmin -"$SRC_MISSING_TTL_MIN" 2>/dev/null)" ]; then
			tried="$tried $v"
			continue
		fi
		tmp=$(mktemp -d "$CACHE/tmp/src-$pkg.XXXXXX")
		TMPS+=("$tmp")
		rc=0
		download "$pkg" "$v" "$tmp" || rc=$?
		if [ $rc -eq 0 ]; then
			touch "$tmp/.ok"
			mv -T "$tmp" "$d" 2>/dev/null || rm -rf "$tmp" # a concurrent run won
			rm -f "$miss"
			SRC_VER[$pkg]=$v SRC_DSC[$pkg]=$(ls "$d"/*.dsc)
			[ -z "$tried" ] || note "$pkg: using $v (not fetchable:$tried)"
			return 0
		fi
		rm -rf "$tmp"
		touch "$miss" # not tried again for SRC_MISSING_TTL_MIN minutes
		note "$pkg $v: download failed ($([ $rc -eq 2 ] && echo '404: index ahead of pool' || echo 'network')); trying an older version"
		tried="$tried $v"
	done
	die "$pkg: no source version could be fetched (tried:$tried); see $LOGDIR/sources.log"
}

# unpack PKG: dpkg-source -x (applies Debian's patches) into WORK/PKG
unpack() {
	dpkg-source -x "${SRC_DSC[$1]}" "$WORK/$1"
}

# --- toolchains ---------------------------------------------------------------

setup_arch() {
	case $ARCH in
	x86_64)
		GCC=x86_64-linux-gnu-gcc GCC_EXTRA="" DEB_ARCH=amd64
		TOOL=x86_64-linux-gnu- HOST="" OSSL_TARGET=linux-x86_64
		SPECS=/usr/lib/x86_64-linux-musl/musl-gcc.specs
		KHDR_LINUX=/usr/include/linux KHDR_ASM=/usr/include/x86_64-linux-gnu/asm
		KHDR_GENERIC=/usr/include/asm-generic KHDR_PKG=linux-libc-dev:amd64
		;;
	aarch64)
		# without -mno-outline-atomics libgcc wants glibc's __getauxval
		GCC=aarch64-linux-gnu-gcc GCC_EXTRA="-mno-outline-atomics" DEB_ARCH=arm64
		TOOL=aarch64-linux-gnu- HOST="--host=aarch64-linux-musl" OSSL_TARGET=linux-aarch64
		SPECS=/usr/lib/aarch64-linux-musl/musl-gcc.specs
		KHDR_LINUX=/usr/aarch64-linux-gnu/include/linux KHDR_ASM=/usr/aarch64-linux-gnu/include/asm
		KHDR_GENERIC=/usr/aarch64-linux-gnu/include/asm-generic KHDR_PKG=linux-libc-dev-arm64-cross
		;;
	*) usage ;;
	esac
	local t
	for t in "$GCC" "${TOOL}ar" "${TOOL}ranlib" "${TOOL}strip" "${TOOL}nm"; do
		command -v "$t" >/dev/null || die "$t missing: run tools/static/install-deps.sh as root"
	done
	[ -f "$SPECS" ] || die "$SPECS missing: run tools/static/install-deps.sh as root"
	export AR=${TOOL}ar RANLIB=${TOOL}ranlib NM=${TOOL}nm STRIP=${TOOL}strip
	# what goes into the cache keys besides the versions and the recipe
	COMPILER_ID="$($GCC --version | head -n1) $GCC_EXTRA; musl-dev:$DEB_ARCH $(dpkg-query -W -f='${Version}' "musl-dev:$DEB_ARCH"); $KHDR_PKG $(dpkg-query -W -f='${Version}' "$KHDR_PKG"); binutils $(${TOOL}ld --version | head -n1)"
}

# write_cc DIR: DIR/bin/cc, the musl compiler driver for ARCH
write_cc() {
	mkdir -p "$1/bin"
	cat >"$1/bin/cc" <<-EOF
	#!/bin/sh
	# musl C compiler for $ARCH (written by tools/static/build.sh)
	exec $GCC $GCC_EXTRA "\$@" -specs $SPECS
	EOF
	chmod 755 "$1/bin/cc"
}

# kernel_headers DIR: musl-gcc uses -nostdinc, so <linux/*.h> and <asm/*.h>
# come from links in DIR/include to the kernel headers for ARCH
kernel_headers() {
	mkdir -p "$1/include"
	ln -sfn "$KHDR_LINUX" "$1/include/linux"
	ln -sfn "$KHDR_ASM" "$1/include/asm"
	ln -sfn "$KHDR_GENERIC" "$1/include/asm-generic"
}

# --- the libraries ----------------------------------------------------------------

build_zlib() {
	cd "$WORK/zlib"
	CC=$P/bin/cc CFLAGS="$OPT" ./configure --static --prefix="$P"
	make -j"$JOBS" libz.a
	make install
}

build_libsodium() {
	cd "$WORK/libsodium"
	# the orig is a git snapshot without configure; autogen.sh would fetch
	# config.guess from savannah, autoreconf takes the system's
	autoreconf -fi
	# not --enable-minimal: the agent uses scrypt for encrypted secret keys
	# shellcheck disable=SC2086 # HOST is empty or one word
	./configure $HOST --prefix="$P" --disable-shared --enable-static --with-pic \
		--disable-dependency-tracking CC="$P/bin/cc" CFLAGS="$OPT"
	make -j"$JOBS"
	make install
}

build_openssl() {
	cd "$WORK/openssl"
	# shellcheck disable=SC2086
	CC=$P/bin/cc CFLAGS="$OPT -Wa,--noexecstack" CPPFLAGS="-I$P/include" ./Configure "$OSSL_TARGET" \
		--prefix="$P" --libdir=lib --openssldir=/etc/ssl $OPENSSL_OPTS
	# the built-in module and engine directories (unused: no-module,
	# no-engine) name the final prefix, not the temporary one
	make -j"$JOBS" build_libs ENGINESDIR="$FINAL/lib/engines-3" MODULESDIR="$FINAL/lib/ossl-modules"
	make install_dev ENGINESDIR="$FINAL/lib/engines-3" MODULESDIR="$FINAL/lib/ossl-modules"
}

build_curl() {
	cd "$WORK/curl"
	# Debian builds its OpenSSL flavour without the last two patches of the
	# series (libcurl-gnutls, libcurl-nss): debian/rules pops them
	patch -R -p1 <debian/patches/99_nss.patch
	patch -R -p1 <debian/patches/90_gnutls.patch
	autoreconf -fi # as debian/rules (./buildconf) does
	# shellcheck disable=SC2086
	./configure $HOST --prefix="$P" $CURL_OPTS --with-openssl="$P" --with-zlib="$P" \
		CC="$P/bin/cc" CFLAGS="$OPT" CPPFLAGS="-I$P/include" \
		LDFLAGS="-L$P/lib" PKG_CONFIG="pkg-config --static" PKG_CONFIG_LIBDIR="$P/lib/pkgconfig" PKG_CONFIG_PATH=
	make -j"$JOBS" -C lib
	make -C lib install
	make -C include install
	make install-pkgconfigDATA install-binSCRIPTS
}

# deps: the prefix with zlib, libsodium, OpenSSL and libcurl, cached
deps() {
	local key hash final tmp t0
	key="recipe=$RECIPE_HASH arch=$ARCH"
	for p in $LIB_PKGS; do key="$key $p=${SRC_VER[$p]}"; done
	key="$key compiler=$COMPILER_ID"
	hash=$(printf '%s' "$key" | sha256sum | cut -c1-16)
	final=$CACHE/prefix/$ARCH-$hash
	FINAL=$final
	if [ -f "$final/KEY" ]; then
		note "libraries: cached $final"
		touch "$final/KEY" # in use: see prune
		P=$final
		return
	fi
	mkdir -p "$CACHE/prefix" "$CACHE/tmp"
	tmp=$(mktemp -d "$CACHE/tmp/prefix-$ARCH-$hash.XXXXXX")
	TMPS+=("$tmp")
	P=$tmp
	t0=$(now)
	note "libraries: building $ARCH-$hash (cold)"
	write_cc "$P"
	kernel_headers "$P"
	for p in $LIB_PKGS; do
		step "unpack $p ${SRC_VER[$p]}" unpack "$p"
		step "build $p" "build_$p"
	done
	# relocate from the temporary directory to the final one, drop what a
	# static link does not use, then rename into place (atomic)
	rm -rf "$P/share" "$P/lib"/*.la
	sed -i "s#$tmp#$final#g" "$P"/lib/pkgconfig/*.pc "$P/bin/curl-config"
	printf '%s\n' "$key" >"$P/KEY"
	if ! mv -T "$tmp" "$final" 2>/dev/null; then
		[ -f "$final/KEY" ] || die "cannot move $tmp to $final"
		rm -rf "$tmp" # a concurrent build finished first
	fi
	P=$final
	note "libraries: done in $(since "$t0") s: $(du -sh "$P" | cut -f1) in $P"
}

# --- kexec-tools ------------------------------------------------------------------

build_kexec_tools() {
	cd "$WORK/kexec-tools"
	autoreconf -fi # as debian/rules (dh_autoreconf) does
	# shellcheck disable=SC2086
	./configure $HOST --without-zlib --without-lzma --without-xen \
		CC="$P/bin/cc" BUILD_CC=gcc CFLAGS="$OPT" CPPFLAGS="-I$P/include" \
		LDFLAGS="-static -Wl,--gc-sections"
	make -j"$JOBS" build/sbin/kexec
	"$STRIP" -o "$1/kexec" build/sbin/kexec
}

kexec_tools() {
	local key hash final tmp
	key="recipe=$RECIPE_HASH arch=$ARCH kexec-tools=${SRC_VER[kexec-tools]} compiler=$COMPILER_ID"
	hash=$(printf '%s' "$key" | sha256sum | cut -c1-16)
	final=$CACHE/kexec/$ARCH-$hash
	if [ -f "$final/KEY" ]; then
		note "kexec: cached $final"
		touch "$final/KEY"
	else
		mkdir -p "$CACHE/kexec" "$CACHE/tmp"
		tmp=$(mktemp -d "$CACHE/tmp/kexec-$ARCH-$hash.XXXXXX")
		TMPS+=("$tmp")
		step "unpack kexec-tools ${SRC_VER[kexec-tools]}" unpack kexec-tools
		step "build kexec-tools" build_kexec_tools "$tmp"
		printf '%s\n' "$key" >"$tmp/KEY"
		if ! mv -T "$tmp" "$final" 2>/dev/null; then
			[ -f "$final/KEY" ] || die "cannot move $tmp to $final"
			rm -rf "$tmp"
		fi
	fi
	cp "$final/kexec" "$OUT/.kexec.tmp"
	mv -f "$OUT/.kexec.tmp" "$OUT/kexec"
}

# --- the agent --------------------------------------------------------------------

agent() {
	local b=$OUT
	# objects compiled against another prefix (or other flags) must go
	if [ "$(cat "$OUT/.prefix" 2>/dev/null)" != "$P" ]; then
		rm -rf "${OUT:?}/obj" "$OUT/nixos-kexec"
		printf '%s\n' "$P" >"$OUT/.prefix"
	fi
	cd "$ROOT"
	env -u PKG_CONFIG_PATH -u PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR="$P/lib/pkgconfig" \
		make -j"$JOBS" B="$b" CC="$P/bin/cc" PKG_CONFIG="pkg-config --static" \
		CFLAGS="$OPT" LDFLAGS="-static -Wl,--gc-sections -s" "$b/nixos-kexec"
}

# --- checks ---------------------------------------------------------------------

verify() { # FILE: static, no interpreter, for ARCH, under MAX_BYTES
	local f=$1 desc size want
	[ -f "$f" ] || die "$f was not built"
	desc=$(file -b "$f")
	if readelf -l "$f" | grep -q INTERP; then die "$f has a program interpreter (INTERP): not static"; fi
	case $desc in *"statically linked"*) ;; *) die "$f: file says: $desc" ;; esac
	case $ARCH in x86_64) want=x86-64 ;; aarch64) want=aarch64 ;; esac
	case $desc in *"$want"*) ;; *) die "$f is not for $ARCH: $desc" ;; esac
	case $desc in *"not stripped"*) die "$f is not stripped" ;; esac
	size=$(stat -c %s "$f")
	[ "$size" -le "$MAX_BYTES" ] || die "$f is $size bytes, above the limit of $MAX_BYTES"
}

# --- one architecture -------------------------------------------------------------

build_arch() {
	ARCH=$1
	local t0 lock
	t0=$(now)
	B=${B:-build}
	case $B in /*) OUT=$B/static/$ARCH ;; *) OUT=$ROOT/$B/static/$ARCH ;; esac
	mkdir -p "$CACHE/log/$ARCH" "$CACHE/tmp" "$OUT"
	LOGDIR=$CACHE/log/$ARCH
	RECIPE_HASH=$(sha256sum "$SELF" | cut -c1-16)

	# one build per architecture at a time; the other one may run alongside
	lock=$CACHE/lock.$ARCH
	exec 9>"$lock"
	if ! flock -n 9; then
		note "waiting for another build of $ARCH ($lock)"
		flock 9
	fi
	rm -f "$LOGDIR"/*.log

	# one apt at a time when both architectures start together
	step "install-deps" flock "$CACHE/lock.install-deps" "$HERE/install-deps.sh"
	setup_arch

	# under the lock nothing else builds ARCH: its temporary directories
	# are left from a build that was killed
	find "$CACHE/tmp" -mindepth 1 -maxdepth 1 \( -name "*-$ARCH-*" -o -name "*-$ARCH.*" \) \
		-exec rm -rf {} +
	find "$CACHE/tmp" -mindepth 1 -maxdepth 1 -name 'src-*' -mmin +120 -exec rm -rf {} +

	TMPS=()
	trap 'cleanup' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	WORK=$(mktemp -d "$CACHE/tmp/work-$ARCH.XXXXXX")
	TMPS+=("$WORK")

	local t1 p
	t1=$(now)
	for p in $LIB_PKGS kexec-tools; do source_pkg "$p"; done
	note "sources ($(since "$t1") s): $(for p in $LIB_PKGS kexec-tools; do printf '%s=%s ' "$p" "${SRC_VER[$p]}"; done)"

	deps
	kexec_tools
	step "make agent" agent
	prune

	verify "$OUT/nixos-kexec"
	verify "$OUT/kexec"
	note "done in $(since "$t0") s"
	sizes "$OUT"
}

sizes() { # DIR: the size of each output
	local f
	for f in "$1/nixos-kexec" "$1/kexec"; do
		printf '%-44s %9s bytes (%s)\n' "${f#"$ROOT"/}" "$(stat -c %s "$f")" \
			"$(awk -v s="$(stat -c %s "$f")" 'BEGIN { printf "%.2f MiB", s / 1048576 }')" >&2
	done
}

# prune: cache entries of ARCH not used for PRUNE_DAYS (default 30) go
prune() {
	find "$CACHE/prefix" "$CACHE/kexec" -mindepth 2 -maxdepth 2 -path "*/$ARCH-*/KEY" \
		-mtime +"${PRUNE_DAYS:-30}" 2>/dev/null | while read -r k; do
		note "pruning unused cache entry ${k%/KEY}"
		rm -rf "${k%/KEY}"
	done
}

cleanup() {
	local rc=$? t
	for t in "${TMPS[@]}"; do
		if [ "${KEEP:-0}" = 1 ]; then
			echo "build.sh: kept $t" >&2
		else
			rm -rf -- "$t"
		fi
	done
	return $rc
}

[ $# -ge 1 ] || usage
archs=()
for a in "$@"; do
	case $a in
	x86_64 | aarch64) archs+=("$a") ;;
	all) archs+=(x86_64 aarch64) ;;
	*) usage ;;
	esac
done
if [ ${#archs[@]} -eq 1 ]; then
	build_arch "${archs[0]}"
else
	t0=$(now)
	pids=() rc=0
	for a in "${archs[@]}"; do
		"$SELF" "$a" &
		pids+=("$!")
	done
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	[ "$rc" -eq 0 ] || die "the static build of one architecture failed (above)"
	echo "static builds (${archs[*]}) done in $(since "$t0") s:" >&2
	B=${B:-build}
	for a in "${archs[@]}"; do
		case $B in /*) sizes "$B/static/$a" ;; *) sizes "$ROOT/$B/static/$a" ;; esac
	done
fi
