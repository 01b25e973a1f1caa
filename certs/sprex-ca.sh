#!/usr/bin/env bash
# sprex-ca.sh: a DEVELOPMENT certificate authority for sprex (EC P-256, openssl CLI).
# For development and tests only; see certs/README.md for what production needs.
#
#   sprex-ca.sh DIR init                     CA key and certificate, CA database, first CRL
#   sprex-ca.sh DIR server NAME [SAN...]     server certificate (serverAuth); SANs like
#                                            DNS:host or IP:addr, default localhost,
#                                            127.0.0.1 and ::1
#   sprex-ca.sh DIR member NAME              member certificate (clientAuth, CN=NAME)
#   sprex-ca.sh DIR revoke NAME              revoke NAME's certificate, rewrite DIR/crl.pem
#   sprex-ca.sh DIR crl [--days N|--seconds N]  rewrite DIR/crl.pem
#   sprex-ca.sh DIR spki NAME|FILE           SHA-256 of the public key (SPKI), in hex
#   server and member take --days N (default 365); crl --days N (default 30).
#
# Keys are written 0600 and never belong in the repository (DIR gets a .gitignore).
set -euo pipefail
umask 077

prog=${0##*/}
CA_DAYS=3650
LEAF_DAYS=365
CRL_DAYS=30
NAME_RE='^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'

die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 1
}

usage() {
	sed -n '2,16s/^# \{0,1\}//p' "$0"
	exit "${1:-0}"
}

need_ca() {
	[[ -f $DIR/ca.key && -f $DIR/ca.pem && -f $DIR/ca.cnf ]] ||
		die "$DIR holds no CA (run: $prog $DIR init)"
}

check_name() {
	[[ $1 =~ $NAME_RE ]] ||
		die "invalid name '$1' (letters, digits, '.', '_', '-'; 1 to 63;" \
			"first a letter or digit)"
	case $1 in
	ca | crl) die "'$1' is reserved" ;;
	esac
}

check_days() {
	if ! [[ $1 =~ ^[0-9]{1,5}$ ]] || ((10#$1 < 1 || 10#$1 > 36500)); then
		die "invalid number of days '$1' (1 to 36500)"
	fi
}

# openssl ca with the CA's configuration, which finds DIR through the
# environment ($SPREX_CA_DIR) so that the directory can be moved.
ossl_ca() {
	openssl ca -batch -config "$DIR/ca.cnf" "$@"
}

write_config() {
	cat >"$DIR/ca.cnf" <<'EOF'
# openssl ca configuration of a sprex development CA (written by sprex-ca.sh).
[ ca ]
default_ca = sprex_ca

[ sprex_ca ]
dir = $ENV::SPREX_CA_DIR
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/ca.pem
private_key = $dir/ca.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 365
default_crl_days = 30
policy = policy_cn
unique_subject = no
copy_extensions = none
preserve = no
email_in_dn = no

[ policy_cn ]
commonName = supplied

[ req ]
distinguished_name = req_dn
prompt = no

[ req_dn ]
CN = unused

[ v3_ca ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_member ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ crl_ext ]
authorityKeyIdentifier = keyid
EOF
}

new_key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-pkeyopt ec_param_enc:named_curve -out "$1" 2>/dev/null ||
		die "cannot make a key in $1"
	chmod 600 "$1"
}

# gen_crl DAYS [SECONDS]: a CRL whose nextUpdate is DAYS days (or, when
# given, SECONDS seconds) from now.
gen_crl() {
	local days=$1 period=(-crldays "$1")
	[[ -n ${2:-} ]] && period=(-crlsec "$2")
	ossl_ca -gencrl "${period[@]}" -crlexts crl_ext -out "$DIR/crl.pem.tmp" 2>"$DIR/.err" ||
		die "cannot write the CRL: $(tail -n 3 "$DIR/.err")"
	chmod 644 "$DIR/crl.pem.tmp"
	mv -f "$DIR/crl.pem.tmp" "$DIR/crl.pem"
}

cmd_init() {
	(($# == 0)) || die "init takes no arguments"
	if [[ -f $DIR/ca.key && -f $DIR/ca.pem ]]; then
		echo "$prog: $DIR already holds a CA; left as it is" >&2
		return 0
	fi
	if [[ -e $DIR/ca.key || -e $DIR/ca.pem ]]; then
		die "$DIR holds half a CA (ca.key or ca.pem); remove it first"
	fi
	printf '*\n' >"$DIR/.gitignore"   # nothing in here belongs in a repository
	mkdir -p "$DIR/newcerts"
	write_config
	: >"$DIR/index.txt"
	printf 'unique_subject = no\n' >"$DIR/index.txt.attr"
	openssl rand -hex 16 | tr 'a-f' 'A-F' | sed 's/^./1/' >"$DIR/serial"
	echo 1000 >"$DIR/crlnumber"
	new_key "$DIR/ca.key.tmp"
	openssl req -new -x509 -config "$DIR/ca.cnf" -extensions v3_ca \
		-key "$DIR/ca.key.tmp" -subj "/O=sprex development/CN=sprex development CA" \
		-days "$CA_DAYS" -sha256 -out "$DIR/ca.pem.tmp" 2>"$DIR/.err" ||
		die "cannot make the CA certificate: $(tail -n 3 "$DIR/.err")"
	chmod 644 "$DIR/ca.pem.tmp"
	mv -f "$DIR/ca.key.tmp" "$DIR/ca.key"
	mv -f "$DIR/ca.pem.tmp" "$DIR/ca.pem"
	gen_crl "$CRL_DAYS"
	echo "$prog: CA in $DIR (ca.pem, ca.key, crl.pem)" >&2
}

# Prints the status letter of the certificate in file $1 in the CA database
# (V valid, R revoked, E expired), or nothing when the CA did not issue it.
cert_status() {
	local serial
	serial=$(openssl x509 -in "$1" -noout -serial 2>/dev/null) || return 0
	serial=${serial#serial=}
	awk -F'\t' -v s="$serial" 'toupper($4) == toupper(s) { print $1 }' "$DIR/index.txt"
}

# issue KIND NAME EXTFILE: key and certificate DIR/NAME.key, DIR/NAME.pem.
issue() {
	local kind=$1 name=$2 ext=$3 days=$4
	local key=$DIR/$name.key pem=$DIR/$name.pem
	if [[ -f $pem ]]; then
		local st
		st=$(cert_status "$pem")
		local was
		was=$(openssl x509 -in "$pem" -noout -ext extendedKeyUsage 2>/dev/null |
			tail -n 1 | tr -d ' ')
		if [[ $st == V && -f $key ]]; then
			case $kind:$was in
			server:"TLSWebServerAuthentication" | member:"TLSWebClientAuthentication")
				echo "$prog: $pem exists; left as it is" >&2
				return 0
				;;
			esac
			die "$pem exists and is not a $kind certificate; pick another name"
		fi
		case $st in
		R) die "$pem is revoked; pick a new name, or delete $pem and $key to reissue" ;;
		E) die "$pem has expired; delete it and $key to reissue" ;;
		esac
		die "$pem exists but is not a valid certificate of this CA;" \
			"delete it and $key first"
	fi
	if [[ -e $key ]]; then
		die "$key exists without $pem; delete it first"
	fi
	TMPS+=("$key.tmp" "$pem.tmp" "$DIR/$name.csr")
	new_key "$key.tmp"
	openssl req -new -config "$DIR/ca.cnf" -key "$key.tmp" -subj "/CN=$name" \
		-out "$DIR/$name.csr" 2>"$DIR/.err" ||
		die "cannot make the request: $(tail -n 3 "$DIR/.err")"
	ossl_ca -in "$DIR/$name.csr" -out "$pem.tmp" -days "$days" -notext \
		-extfile "$ext" -extensions ext 2>"$DIR/.err" ||
		die "cannot issue the certificate: $(tail -n 3 "$DIR/.err")"
	rm -f "$DIR/$name.csr"
	chmod 644 "$pem.tmp"
	mv -f "$key.tmp" "$key"
	mv -f "$pem.tmp" "$pem"
	echo "$prog: $pem and $key" >&2
}

# Reads leading --days N from the arguments into $days; the rest stays in $rest.
parse_days() {
	days=$1
	shift
	rest=()
	while (($#)); do
		case $1 in
		--days)
			(($# >= 2)) || die "--days needs a number"
			check_days "$2"
			days=$((10#$2))
			shift 2
			;;
		--days=*)
			check_days "${1#--days=}"
			days=$((10#${1#--days=}))
			shift
			;;
		--) shift; rest+=("$@"); break ;;
		-*) die "unknown option '$1'" ;;
		*) rest+=("$1"); shift ;;
		esac
	done
}

cmd_server() {
	need_ca
	parse_days "$LEAF_DAYS" "$@"
	set -- "${rest[@]}"
	(($# >= 1)) || die "server needs a NAME"
	local name=$1
	shift
	check_name "$name"
	local sans=() s
	(($# > 0)) || set -- DNS:localhost IP:127.0.0.1 IP:::1
	for s in "$@"; do
		case $s in
		DNS:?* | IP:?*) sans+=("$s") ;;
		*:*) sans+=("IP:$s") ;;                       # a bare IPv6 address
		*[!0-9.]*) sans+=("DNS:$s") ;;
		*) sans+=("IP:$s") ;;                         # a bare IPv4 address
		esac
	done
	local san
	san=$(IFS=,; printf '%s' "${sans[*]}")
	local ext=$DIR/.ext.$$
	TMPS+=("$ext")
	cat >"$ext" <<EOF
[ ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
	issue server "$name" "$ext" "$days"
}

cmd_member() {
	need_ca
	parse_days "$LEAF_DAYS" "$@"
	set -- "${rest[@]}"
	(($# == 1)) || die "member needs exactly one NAME"
	check_name "$1"
	local ext=$DIR/.ext.$$
	TMPS+=("$ext")
	# CN is informational only: sprex knows a member by its key (SPKI).
	sed -n '/^\[ v3_member \]/,/^$/p' "$DIR/ca.cnf" | sed '1s/.*/[ ext ]/' >"$ext"
	issue member "$1" "$ext" "$days"
}

cmd_revoke() {
	need_ca
	(($# == 1)) || die "revoke needs exactly one NAME"
	check_name "$1"
	local pem=$DIR/$1.pem
	[[ -f $pem ]] || die "no certificate $pem"
	case $(cert_status "$pem") in
	R)
		echo "$prog: $pem is already revoked" >&2
		;;
	V | E)
		ossl_ca -revoke "$pem" -crl_reason cessationOfOperation 2>"$DIR/.err" ||
			die "cannot revoke: $(tail -n 3 "$DIR/.err")"
		echo "$prog: revoked $pem" >&2
		;;
	*) die "$pem was not issued by the CA in $DIR" ;;
	esac
	gen_crl "$CRL_DAYS"
}

cmd_crl() {
	need_ca
	# --seconds N: a CRL that expires N seconds from now, for testing that an
	# expired CRL refuses every handshake.
	if (($# == 2)) && [[ $1 == --seconds ]]; then
		[[ $2 =~ ^[0-9]{1,6}$ ]] || die "invalid number of seconds '$2'"
		gen_crl 0 "$2"
		echo "$prog: $DIR/crl.pem (next update in $2 seconds)" >&2
		return
	fi
	parse_days "$CRL_DAYS" "$@"
	((${#rest[@]} == 0)) || die "crl takes only --days N or --seconds N"
	gen_crl "$days"
	echo "$prog: $DIR/crl.pem (next update in $days days)" >&2
}

cmd_spki() {
	(($# == 1)) || die "spki needs exactly one NAME or certificate file"
	local pem=$1
	if ! [[ -f $pem && ($pem == */* || $pem == *.pem) ]]; then
		[[ $1 == ca ]] || check_name "$1"
		pem=$DIR/$1.pem
	fi
	[[ -f $pem ]] || die "no certificate $pem"
	local hex
	hex=$(openssl x509 -in "$pem" -noout -pubkey 2>/dev/null |
		openssl pkey -pubin -outform DER 2>/dev/null |
		openssl dgst -sha256 -r 2>/dev/null) || die "$pem: not a PEM certificate"
	hex=${hex%% *}
	[[ $hex =~ ^[0-9a-f]{64}$ ]] || die "$pem: not a PEM certificate"
	printf '%s\n' "$hex"
}

case ${1:-} in
-h | --help) usage 0 ;;
'') usage 64 >&2 ;;
esac
(($# >= 2)) || die "usage: $prog DIR COMMAND [ARGS] (see $prog --help)"
DIR=$1
cmd=$2
shift 2
[[ $DIR == -* ]] && die "DIR must not start with '-'"
command -v openssl >/dev/null || die "openssl is not installed"

case $cmd in
init)
	mkdir -p "$DIR" || die "cannot create $DIR"
	chmod 700 "$DIR"
	;;
server | member | revoke | crl | spki) [[ -d $DIR ]] || die "no directory $DIR" ;;
-h | --help) usage 0 ;;
*) die "unknown command '$cmd' (init, server, member, revoke, crl, spki)" ;;
esac
DIR=$(cd "$DIR" && pwd)
export SPREX_CA_DIR=$DIR

if [[ $cmd == spki ]]; then
	cmd_spki "$@"
	exit 0
fi

# One change at a time: the openssl ca database is not safe for parallel writers.
exec 9>>"$DIR/.lock"
flock 9
TMPS=("$DIR/.err")
trap 'rm -f "${TMPS[@]}"' EXIT
"cmd_$cmd" "$@"
