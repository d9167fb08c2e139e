#!/usr/bin/env bash
# CA store discovery, as a new user on another distribution meets it: no
# --cacert, SSL_CERT_FILE and SSL_CERT_DIR unset (this machine's
# environment sets both, which would hide the search), and /etc laid out
# like Debian, RHEL/Oracle/Amazon, Alpine or SUSE with the test CA where
# that distribution keeps its bundle. Each case runs the agent in its own
# mount namespace (unshare -m) with a made-up /etc (and /var/lib) bound
# over the real ones, so the machine's own store is out of sight.
set -u
. "$(dirname "$0")/lib.sh"
NK=$(cd "$(dirname "${B:-build}/nixos-kexec")" && pwd)/nixos-kexec
it_tmpdir; T=$IT_TMP

if ! unshare -m true 2>/dev/null; then
	it_case "castore"
	it_skip "unshare -m not permitted here (needs root): the layouts cannot be mounted"
	it_summary
	exit
fi

it_make_ca "$T" "IP:127.0.0.1" >/dev/null
minisign -G -W -p "$T/pub" -s "$T/sec" >/dev/null
head -c 4096 /dev/urandom >"$T/k"; head -c 8192 /dev/urandom >"$T/i"
# The arm64 Image magic at 0x38: under qemu-aarch64 the bundle is an
# aarch64 one, whose kernel must be a raw Image.
printf 'ARM\144' | dd of="$T/k" bs=1 seek=56 conv=notrunc status=none
mkdir -p "$T/root"
"$NK" bundle --kernel "$T/k" --initrd "$T/i" --cmdline x --version 1 -o "$T/root/b" >/dev/null
minisign -S -s "$T/sec" -m "$T/root/b/manifest" >/dev/null
it_start_stub "$T" "$T/root" || exit 1
URL=$STUB_URL/b/

# A fake /etc with what a process needs besides the CA store.
mketc() { # DIR
	mkdir -p "$1/etc" "$1/var-lib"
	cp /etc/passwd /etc/group /etc/hosts "$1/etc/" 2>/dev/null
	[ -e /etc/nsswitch.conf ] && cp /etc/nsswitch.conf "$1/etc/"
	return 0
}

# run_in LAYOUT-DIR [env...] -- agent args: in a namespace with LAYOUT/etc
# over /etc and LAYOUT/var-lib over /var/lib.
run_in() {
	local d=$1; shift
	unshare -m sh -c 'mount --make-rprivate / && mount --bind "$1/etc" /etc &&
		mount --bind "$1/var-lib" /var/lib && shift && exec "$@"' sh "$d" \
		env -u SSL_CERT_FILE -u SSL_CERT_DIR "$@"
}

# layout NAME PATH...: the test CA at each PATH (relative to the fake root;
# a PATH ending in / gets a hash link, as c_rehash makes).
layout() {
	local name=$1 p d; shift
	d=$T/$name
	mketc "$d"
	for p in "$@"; do
		case $p in
		*/)
			mkdir -p "$d/${p%/}"
			cp "$T/ca.pem" "$d/${p%/}/test-ca.pem"
			ln -s test-ca.pem "$d/${p%/}/$(openssl x509 -hash -noout -in "$T/ca.pem").0" ;;
		*)
			mkdir -p "$d/$(dirname "$p")"
			cp "$T/ca.pem" "$d/$p" ;;
		esac
	done
	LAYOUT=$d
}

# fetch_case NAME WANT-EXIT WANT-TEXT LAYOUT-PATHS...
fetch_case() {
	local name=$1 want=$2 text=$3 rc; shift 3
	it_case "$name"
	layout "$name" "$@"
	rm -rf "$T/out-$name"
	run_in "$LAYOUT" "$NK" fetch "$URL" -o "$T/out-$name" -p "$T/pub" >"$T/$name.log" 2>&1
	rc=$?
	if [ "$rc" != "$want" ]; then
		it_fail "exit $rc, want $want: $(tail -n2 "$T/$name.log" | tr '\n' ' ')"
	elif ! grep -qF -- "$text" "$T/$name.log"; then
		it_fail "no '$text' in: $(tail -n3 "$T/$name.log" | tr '\n' ' ')"
	elif [ "$want" = 0 ] && [ ! -s "$T/out-$name/manifest" ]; then
		it_fail "exit 0 but no bundle in the output directory"
	elif [ "$want" != 0 ] && [ -e "$T/out-$name" ]; then
		it_fail "refused, but the output directory exists"
	else
		it_pass
	fi
}

# Where each distribution keeps its bundle (the agent's castore.h list).
fetch_case debian 0 "/etc/ssl/certs/ca-certificates.crt" etc/ssl/certs/ca-certificates.crt
fetch_case rhel-oracle-amazon 0 "/etc/pki/tls/certs/ca-bundle.crt" etc/pki/tls/certs/ca-bundle.crt
fetch_case rhel-ca-trust-extracted 0 "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem" \
	etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem
fetch_case suse 0 "/etc/ssl/ca-bundle.pem" etc/ssl/ca-bundle.pem
fetch_case suse-generated 0 "/var/lib/ca-certificates/ca-bundle.pem" var-lib/ca-certificates/ca-bundle.pem
fetch_case alpine-arch 0 "/etc/ssl/cert.pem" etc/ssl/cert.pem
fetch_case hashed-directory-only 0 "/etc/ssl/certs (hashed directory)" etc/ssl/certs/
# Debian's file wins over Alpine's when both exist (the order is fixed).
fetch_case order-debian-first 0 "ca-certificates.crt (well-known" \
	etc/ssl/certs/ca-certificates.crt etc/ssl/cert.pem
# No store at all: exit 69, every place named, and what to do.
fetch_case no-store 69 "tried /etc/ssl/certs/ca-certificates.crt, /etc/pki/tls/certs/ca-bundle.crt"
it_case "no-store-says-cacert"
grep -q -- "--cacert FILE" "$T/no-store.log" && grep -q "/etc/ssl/cert.pem" "$T/no-store.log" &&
	it_pass || it_fail "$(tail -n1 "$T/no-store.log")"
# A directory of PEM files without hash links is not a store OpenSSL can use.
fetch_case unhashed-directory 69 "no CA certificates found" etc/ssl/certs/x/

# --cacert wins over everything; SSL_CERT_FILE over the well-known paths.
it_case "cacert-beats-layout"
layout cacert etc/ssl/cert.pem
cp "$T/other-ca.pem" "$LAYOUT/etc/ssl/cert.pem" # the wrong CA where Alpine looks
run_in "$LAYOUT" "$NK" fetch "$URL" -o "$T/out-cacert" -p "$T/pub" --cacert "$T/ca.pem" \
	>"$T/cacert.log" 2>&1 && grep -q "(--cacert)" "$T/cacert.log" && it_pass ||
	it_fail "$(tail -n2 "$T/cacert.log" | tr '\n' ' ')"

it_case "SSL_CERT_FILE-missing: exit 69 naming it"
layout envmissing etc/ssl/certs/ca-certificates.crt
unshare -m sh -c 'mount --make-rprivate / && mount --bind "$1/etc" /etc && shift && exec "$@"' sh \
	"$LAYOUT" env -u SSL_CERT_DIR SSL_CERT_FILE=/nonexistent/ca.pem \
	"$NK" fetch "$URL" -o "$T/out-env" -p "$T/pub" >"$T/env.log" 2>&1
rc=$?
[ $rc = 69 ] && grep -q "SSL_CERT_FILE=/nonexistent/ca.pem" "$T/env.log" && it_pass ||
	it_fail "exit $rc: $(tail -n1 "$T/env.log")"

# A foreign openssl.cnf (here through OPENSSL_CONF, which is where the
# static build's OpenSSL would also read /etc/ssl/openssl.cnf) must not
# change the agent's TLS: this one would cap TLS at 1.1, below the agent's
# floor, so honouring it would fail every handshake.
it_case "foreign-openssl.cnf-ignored"
cat >"$T/foreign.cnf" <<'CNF'
openssl_conf = conf_init
[conf_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = sys_sect
[sys_sect]
MaxProtocol = TLSv1.1
CipherString = DEFAULT@SECLEVEL=5
CNF
env -u SSL_CERT_DIR OPENSSL_CONF="$T/foreign.cnf" "$NK" fetch "$URL" -o "$T/out-cnf" -p "$T/pub" \
	--cacert "$T/ca.pem" >"$T/cnf.log" 2>&1 && it_pass || it_fail "$(tail -n2 "$T/cnf.log" | tr '\n' ' ')"

it_stop_stub >/dev/null
it_summary
