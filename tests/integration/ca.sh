# shellcheck shell=bash
# ca.sh: a test CA and a server certificate made with the openssl CLI, for
# the integration tests (through lib.sh), the e2e test and the benchmark.
#   it_make_ca DIR [SAN...]   DIR/{ca,server,other-ca}.{pem,key} (EC P-256)

# openssl ca lets us backdate notBefore by an hour, so a client whose
# clock lags (a VM) still accepts the certificates. Both CAs and the
# server certificate are valid for 30 days.
it__ca_conf() { # DIR SAN
	cat >"$1/ca.cnf" <<-EOF
	[ ca ]
	default_ca = it_ca
	[ it_ca ]
	dir = $1/ca-db
	database = \$dir/index.txt
	new_certs_dir = \$dir
	serial = \$dir/serial
	default_md = sha256
	policy = it_policy
	unique_subject = no
	copy_extensions = none
	[ it_policy ]
	commonName = supplied
	[ req ]
	distinguished_name = it_dn
	prompt = no
	[ it_dn ]
	CN = unused
	[ ca_ext ]
	basicConstraints = critical, CA:TRUE
	keyUsage = critical, keyCertSign, cRLSign
	subjectKeyIdentifier = hash
	[ server_ext ]
	basicConstraints = critical, CA:FALSE
	keyUsage = critical, digitalSignature
	extendedKeyUsage = serverAuth
	subjectAltName = $2
	authorityKeyIdentifier = keyid
	EOF
}

it__ca_sign() { # DIR CSR OUT CA-STEM EXT [-selfsign]
	local dir=$1 csr=$2 out=$3 stem=$4 ext=$5 db=$1/ca-db
	shift 5
	rm -rf "$db" && mkdir -p "$db" && : >"$db/index.txt" &&
		openssl rand -hex 16 >"$db/serial" &&
		openssl ca -batch -notext -config "$dir/ca.cnf" -extensions "$ext" \
			-startdate "$(date -u -d '1 hour ago' +%Y%m%d%H%M%SZ)" \
			-enddate "$(date -u -d '30 days' +%Y%m%d%H%M%SZ)" \
			-keyfile "$dir/$stem.key" "$@" -in "$csr" -out "$out"
}

it__make_ca_cert() { # DIR STEM CN: DIR/STEM.key, DIR/STEM.pem (self-signed CA)
	local dir=$1 stem=$2 cn=$3
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-config "$dir/ca.cnf" -subj "/CN=$cn" \
		-keyout "$dir/$stem.key" -out "$dir/$stem.csr" &&
		it__ca_sign "$dir" "$dir/$stem.csr" "$dir/$stem.pem" "$stem" ca_ext -selfsign
}

it_make_ca() { # DIR [SAN...]
	local dir=$1 san log
	shift
	san=$(IFS=,; echo "${*:-IP:127.0.0.1,DNS:localhost}")
	log=$dir/openssl.log
	mkdir -p "$dir" || return 1
	it__ca_conf "$dir" "$san"
	if ! {
		it__make_ca_cert "$dir" ca "nixos-kexec test CA" &&
			it__make_ca_cert "$dir" other-ca "unrelated test CA" &&
			openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
				-config "$dir/ca.cnf" -subj "/CN=nixos-kexec test server" \
				-keyout "$dir/server.key" -out "$dir/server.csr" &&
			it__ca_sign "$dir" "$dir/server.csr" "$dir/server.pem" ca server_ext \
				-cert "$dir/ca.pem"
	} >"$log" 2>&1; then
		cat "$log" >&2
		echo "it_make_ca: openssl failed (log above)" >&2
		return 1
	fi
	rm -rf "$dir"/*.csr "$dir/ca-db"
}

