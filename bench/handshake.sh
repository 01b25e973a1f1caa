#!/usr/bin/env bash
# bench/handshake.sh: full mutual-TLS handshakes per second against sprexd, and
# sprexd's resident memory per idle authenticated connection, with client and
# server on this machine; beside them the ceiling that `openssl speed` puts on
# the handshake's signatures and key exchanges. See bench/README.md.
#
#   bench/handshake.sh            builds what is missing in $BUILD, prints figures
#
# Environment (defaults in brackets):
#   BUILD        build folder, relative to the source tree or absolute [build]
#   NOBUILD=1    use the binaries already in $BUILD, do not run ninja
#   SPREXD       sprexd binary to measure [$BUILD/server/sprexd] (A/B a patched server)
#   HANDSHAKES   handshakes per measured run [2000]    RUNS    measured runs [3]
#   WARMUP       handshakes before measuring [200]
#   CONCURRENCY  handshakes in flight [2 x CPUs]       PROCS   client processes [CPUs - 1, >= 1]
#   IDLE         idle connections for the memory figure [1000]
#   SPEED_SECONDS  seconds per `openssl speed` test [3]
#   LOG_LEVEL    sprexd log_level [info, the production default]
#   KEEP=1       keep the scratch folder (certificates, database, logs)
#
# Exit status: 0 when it measured (whether or not the aims were met), 1 when
# something failed. Every process it starts is stopped on exit.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$SRC/$BUILD
NCPU=$(nproc)
HANDSHAKES=${HANDSHAKES:-2000}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-200}
CONCURRENCY=${CONCURRENCY:-$((2 * NCPU))}
PROCS=${PROCS:-$((NCPU > 1 ? NCPU - 1 : 1))}
IDLE=${IDLE:-1000}
SPEED_SECONDS=${SPEED_SECONDS:-3}
LOG_LEVEL=${LOG_LEVEL:-info}
# The aims of the issue: within 1.5x of the crypto ceiling, under 64 KiB.
AIM_RATIO=1.5
AIM_KIB=64

die() {
	printf 'handshake.sh: %s\n' "$*" >&2
	exit 1
}

# ------------------------------------------------------------------ build

if [[ ${NOBUILD:-0} != 1 ]]; then
	if [[ ! -f $BUILD/build.ninja ]]; then
		meson setup "$BUILD" "$SRC" -Dbuildtype=release -Dtests=false >/dev/null ||
			die "meson setup $BUILD failed"
	fi
	ninja -C "$BUILD" bench/handshake-load server/sprexd server/sprexctl >/dev/null ||
		die "build failed in $BUILD (ninja -C $BUILD bench/handshake-load)"
fi
LOAD=$BUILD/bench/handshake-load
SPREXD=${SPREXD:-$BUILD/server/sprexd}
SPREXCTL=$BUILD/server/sprexctl
for b in "$LOAD" "$SPREXD" "$SPREXCTL"; do
	[[ -x $b ]] || die "$b is missing (build it, or unset NOBUILD)"
done

# A sanitizer or debug build measures the instrumentation, not sprex.
buildtype=$(/usr/bin/python3 - "$BUILD" <<'EOF' 2>/dev/null || echo unknown
import json, sys
opts = {o["name"]: o["value"] for o in
        json.load(open(sys.argv[1] + "/meson-info/intro-buildoptions.json"))}
print(opts.get("buildtype", "?") + ("" if opts.get("b_sanitize", "none") == "none"
      else ", sanitize=" + opts["b_sanitize"]))
EOF
)

# --------------------------------------------------------- scratch, cleanup

W=$(mktemp -d "${TMPDIR:-/tmp}/sprex-bench.XXXXXX")
PIDS=()
FIFO_OPEN=0

cleanup() {
	local rc=$? p i
	((FIFO_OPEN)) && exec 7>&-
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || continue
		for ((i = 0; i < 100; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "handshake.sh: scratch folder kept: $W" >&2
	else
		rm -rf "$W"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "handshake.sh: interrupted" >&2; exit 130' INT
trap 'echo "handshake.sh: terminated" >&2; exit 143' TERM

forget_pid() {
	local keep=() p
	for p in "${PIDS[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

# 1000 idle connections and their client need descriptors on both sides.
need_fd=$((IDLE + 256))
if (($(ulimit -n) < need_fd)); then
	ulimit -n "$need_fd" 2>/dev/null || ulimit -n "$(ulimit -H -n)" ||
		die "cannot raise the open-file limit to $need_fd"
fi

# ------------------------------------------------------ certificates, store

PKI=$W/pki
CA=$SRC/certs/sprex-ca.sh
{
	bash "$CA" "$PKI" init
	bash "$CA" "$PKI" server server
	bash "$CA" "$PKI" member bench
} 2>"$W/ca.log" || die "certs/sprex-ca.sh failed: $(tail -n 3 "$W/ca.log")"
DB=$W/sprex.db
"$SPREXCTL" --db "$DB" init >/dev/null
"$SPREXCTL" --db "$DB" member add bench --role vendor --cert "$PKI/bench.pem" >/dev/null

cat >"$W/sprexd.conf" <<EOF
listen = 127.0.0.1:0
tls_cert = $PKI/server.pem
tls_key = $PKI/server.key
tls_ca = $PKI/ca.pem
db = $DB
log_level = $LOG_LEVEL
# No heartbeat during a measurement: idle means idle.
heartbeat = 300s
handshake_timeout = 30s
shutdown_timeout = 5s
max_connections = $((IDLE + 1000))
EOF

SPID=
PORT=
start_server() {
	local log=$W/sprexd.$1.log i
	: >"$log" # exists before the sed below reads it
	"$SPREXD" -f --config "$W/sprexd.conf" 2>"$log" &
	SPID=$!
	PIDS+=("$SPID")
	for ((i = 0; i < 200; i++)); do
		PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n 1)
		[[ -n $PORT ]] && grep -q serving "$log" && return 0
		kill -0 "$SPID" 2>/dev/null || die "sprexd exited: $(tail -n 3 "$log")"
		sleep 0.05
	done
	die "sprexd did not say \"listening on 127.0.0.1:PORT\" and \"serving\" (log_level must be info or debug)"
}

stop_server() {
	kill -TERM "$SPID"
	wait "$SPID" || die "sprexd exited $? after SIGTERM: $(tail -n 3 "$W/sprexd.$1.log")"
	forget_pid "$SPID"
}

load() {
	"$LOAD" --connect "127.0.0.1:$PORT" --cert "$PKI/bench.pem" --key "$PKI/bench.key" \
		--ca "$PKI/ca.pem" "$@"
}

# key=value from a line of handshake-load's output.
field() {
	sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<" $2" | head -n 1
}

# user+system clock ticks of a process, and of the whole machine.
proc_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}
machine_ticks() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}
HZ=$(getconf CLK_TCK)

rss_kib() {
	awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"
}

# ------------------------------------------------------------ handshakes/s

start_server rate
if ((WARMUP > 0)); then
	out=$(load --handshakes "$WARMUP" --concurrency "$CONCURRENCY" --procs "$PROCS") ||
		die "warm-up failed: $out"
fi
negotiated=$(load --handshakes 1 --concurrency 1 --procs 1 | sed -n 's/^negotiated //p')

declare -a rates srv_us cli_us other_pct rate_lines=() speed_lines=()
for ((r = 1; r <= RUNS; r++)); do
	s0=$(proc_ticks "$SPID")
	m0=$(machine_ticks)
	out=$(load --handshakes "$HANDSHAKES" --concurrency "$CONCURRENCY" --procs "$PROCS") ||
		die "run $r failed: $out"
	s1=$(proc_ticks "$SPID")
	m1=$(machine_ticks)
	res=$(grep '^result ' <<<"$out")
	ok=$(field ok "$res")
	secs=$(field seconds "$res")
	rates[r]=$(field rate "$res")
	cli_us[r]=$(field client_cpu_us "$res")
	srv_us[r]=$(awk -v t=$((s1 - s0)) -v hz="$HZ" -v n="$ok" 'BEGIN { printf "%.0f", t / hz / n * 1e6 }')
	# CPU used by neither sprexd nor the load generator: a busy machine
	# makes the rate (not the per-handshake CPU) meaningless.
	other_pct[r]=$(awk -v m=$((m1 - m0)) -v s=$((s1 - s0)) -v hz="$HZ" -v c="${cli_us[r]}" \
		-v n="$ok" -v secs="$secs" -v ncpu="$NCPU" \
		'BEGIN { o = m / hz - s / hz - c * n / 1e6; if (o < 0) o = 0;
			 printf "%.0f", 100 * o / (secs * ncpu) }')
	rate_lines+=("$(printf '  run %d: %8.1f handshakes/s   sprexd CPU %4s us/handshake   client CPU %4s us/handshake   p50 %s ms  p99 %s ms   other load %s%%' \
		"$r" "${rates[r]}" "${srv_us[r]}" "${cli_us[r]}" "$(field p50_ms "$res")" \
		"$(field p99_ms "$res")" "${other_pct[r]}")")
done
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
RATE=$(median "${rates[@]}")
SRV_US=$(median "${srv_us[@]}")
CLI_US=$(median "${cli_us[@]}")
OTHER=$(median "${other_pct[@]}")
stop_server rate

# ------------------------------------------------- memory per idle connection

# A fresh server, so that heap left over from the rate runs does not absorb
# the idle connections; a few handshakes first so that OpenSSL's lazily
# initialised state is not counted as per-connection memory.
start_server idle
load --handshakes 50 --concurrency 1 --procs 1 >/dev/null || die "idle warm-up failed"
sleep 0.5
rss0=$(rss_kib "$SPID" VmRSS)
anon0=$(rss_kib "$SPID" RssAnon)
mkfifo "$W/idle.in"
load --idle "$IDLE" --concurrency "$CONCURRENCY" <"$W/idle.in" >"$W/idle.out" 2>"$W/idle.err" &
IPID=$!
PIDS+=("$IPID")
exec 7>"$W/idle.in"
FIFO_OPEN=1
for ((i = 0; i < 1200; i++)); do
	grep -q '^ready' "$W/idle.out" && break
	kill -0 "$IPID" 2>/dev/null || die "idle client exited: $(cat "$W/idle.err")"
	sleep 0.1
done
ready=$(grep '^ready' "$W/idle.out") || die "idle client not ready after 120 s"
[[ $(field failed "$ready") == 0 ]] || die "idle connections failed: $(cat "$W/idle.err")"
sleep 1 # let the last Welcomes' buffers be trimmed
rss1=$(rss_kib "$SPID" VmRSS)
anon1=$(rss_kib "$SPID" RssAnon)
fds=$(find "/proc/$SPID/fd" -mindepth 1 -maxdepth 1 | wc -l)
exec 7>&-
FIFO_OPEN=0
wait "$IPID" || die "idle client: $(cat "$W/idle.err")"
forget_pid "$IPID"
lost=$(sed -n 's/^closed lost=//p' "$W/idle.out")
[[ $lost == 0 ]] || die "$lost idle connections were closed during the measurement"
sleep 0.5
rss2=$(rss_kib "$SPID" VmRSS)
stop_server idle
KIB=$(awk -v a="$rss0" -v b="$rss1" -v n="$IDLE" 'BEGIN { printf "%.1f", (b - a) / n }')
KIB_ANON=$(awk -v a="$anon0" -v b="$anon1" -v n="$IDLE" 'BEGIN { printf "%.1f", (b - a) / n }')

# ------------------------------------------------- openssl speed ceiling
#
# What one handshake costs each side in public-key operations:
#   server: 1 sign   (its CertificateVerify, server key)
#           1 verify (the client's CertificateVerify, client key)
#           1 verify (the CA's signature on the client certificate, CA key;
#                     the trust anchor's own signature is not checked)
#           1 key-share generation + 1 shared-secret derivation (the group)
#   client: the mirror image (its own sign, the server's CertificateVerify and
#           the server certificate's CA signature, its key share, derive).
# `openssl speed ecdhx25519` (and ecdhp256) times EVP_PKEY_derive alone: its
# keys are generated before the clock starts (apps/speed.c,
# ECDH_EVP_derive_key_loop), so one speed "op" is the derive half of a key
# exchange. OpenSSL 3.0's speed cannot time key generation, so the keygen
# half comes from `handshake-load --keygen GROUP`, which generates keys as
# libssl does (EVP_PKEY_CTX_new_from_name + EVP_PKEY_keygen per key) and
# times them in CPU time, like speed. Both run on one core, single-threaded.
#
# Ceilings: sprexd serves every connection from one event loop, so it can
# never exceed one core: 1 / server_cost. Client and server share the
# machine: NCPU / (server_cost + client_cost). The ceiling is the lower one.

speed_name() { # kind (ecdsa|ecdh) curve -> openssl speed algorithm
	case $1:$2 in
	ecdsa:prime256v1 | ecdsa:P-256) echo ecdsap256 ;;
	ecdsa:secp384r1 | ecdsa:P-384) echo ecdsap384 ;;
	ecdsa:secp521r1 | ecdsa:P-521) echo ecdsap521 ;;
	ecdh:X25519) echo ecdhx25519 ;;
	ecdh:X448) echo ecdhx448 ;;
	ecdh:prime256v1) echo ecdhp256 ;;
	ecdh:secp384r1) echo ecdhp384 ;;
	ecdh:secp521r1) echo ecdhp521 ;;
	*) die "no openssl speed test for $1 on $2 (negotiated: $negotiated)" ;;
	esac
}
group=$(field group "$negotiated")
skey=$(field server_key "$negotiated")
ckey=$(field client_key "$negotiated")
[[ $skey == EC:* && $ckey == EC:* ]] || die "only ECDSA keys are accounted for (negotiated: $negotiated)"
cakey=$(openssl x509 -in "$PKI/ca.pem" -noout -text |
	sed -n 's/^ *ASN1 OID: *//p' | head -n 1)
[[ -n $cakey ]] || die "the CA key is not an EC key"

declare -A SIGN VERIFY
for curve in "${skey#EC:}" "${ckey#EC:}" "$cakey"; do
	[[ -n ${SIGN[$curve]:-} ]] && continue
	alg=$(speed_name ecdsa "$curve")
	line=$(openssl speed -mr -seconds "$SPEED_SECONDS" "$alg" 2>/dev/null | grep '^+F4:') ||
		die "openssl speed $alg failed"
	SIGN[$curve]=$(cut -d: -f4 <<<"$line")
	VERIFY[$curve]=$(cut -d: -f5 <<<"$line")
	speed_lines+=("$(printf '  %-12s sign %9.0f/s   verify %9.0f/s' "$alg" "${SIGN[$curve]}" "${VERIFY[$curve]}")")
done
alg=$(speed_name ecdh "$group")
line=$(openssl speed -mr -seconds "$SPEED_SECONDS" "$alg" 2>/dev/null | grep '^+F5:') ||
	die "openssl speed $alg failed"
DERIVE=$(cut -d: -f4 <<<"$line")
KEYGEN=$("$LOAD" --keygen "$group" --seconds "$SPEED_SECONDS" | sed -n 's/.* per_s=//p')
[[ -n $KEYGEN ]] || die "handshake-load --keygen $group failed"
speed_lines+=("$(printf '  %-12s derive %7.0f/s   keygen %9.0f/s (handshake-load --keygen)' "$alg" "$DERIVE" "$KEYGEN")")

read -r T_SRV T_CLI CEIL_SRV CEIL_MACH CEIL RATIO EFF <<<"$(awk \
	-v ss="${SIGN[${skey#EC:}]}" -v sv="${VERIFY[${skey#EC:}]}" \
	-v cs="${SIGN[${ckey#EC:}]}" -v cv="${VERIFY[${ckey#EC:}]}" \
	-v av="${VERIFY[$cakey]}" -v d="$DERIVE" -v k="$KEYGEN" -v ncpu="$NCPU" \
	-v rate="$RATE" -v srv="$SRV_US" 'BEGIN {
		ts = 1 / ss + 1 / cv + 1 / av + 1 / k + 1 / d
		tc = 1 / cs + 1 / sv + 1 / av + 1 / k + 1 / d
		c1 = 1 / ts; c2 = ncpu / (ts + tc); c = c1 < c2 ? c1 : c2
		printf "%.1f %.1f %.0f %.0f %.0f %.3f %.0f\n", ts * 1e6, tc * 1e6, c1, c2, c,
			rate / c, 100 * ts * 1e6 / srv }')"

# What OpenSSL alone spends per handshake in this process, with sprex's own
# contexts: the part of sprexd's CPU that sockets, libuv and sessions do not explain.
inproc() {
	"$LOAD" --inproc 2000 --server-cert "$PKI/server.pem" --server-key "$PKI/server.key" \
		--cert "$PKI/bench.pem" --key "$PKI/bench.key" --ca "$PKI/ca.pem" "$@" |
		grep '^inproc '
}
IP=$(inproc) || die "in-process handshakes failed"
IPB=$(inproc --prebuilt-chain) || die "in-process handshakes (prebuilt chain) failed"

# ------------------------------------------------------------------ report

cpu_model=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
[[ -n $cpu_model ]] || cpu_model=$(uname -m)
verdict() { # ok-condition -> word
	if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "MISSED"; fi
}

cat <<EOF
sprex handshake benchmark
  machine     $cpu_model, $NCPU CPUs online, Linux $(uname -r)
  openssl     $(openssl version)
  build       $BUILD ($buildtype); sprexd $SPREXD
  negotiated  $negotiated

Handshakes: $RUNS runs of $HANDSHAKES (after $WARMUP warm-up), each a new TCP connection, full
TLS 1.3 handshake with client certificate, Hello -> Welcome, close; $CONCURRENCY in flight,
$PROCS client process(es); sprexd log_level $LOG_LEVEL.
$(printf '%s\n' "${rate_lines[@]}")
  median      $RATE handshakes/s; sprexd $SRV_US us and client $CLI_US us of CPU per handshake
EOF
if ((OTHER > 10)); then
	echo "  WARNING     other processes used ${OTHER}% of the machine during the runs: the rate is low"
	echo "              by that much, and contention inflates the CPU per handshake too; rerun"
	echo "              on a quiet machine"
fi
cat <<EOF

Ceiling from openssl speed (CPU time, one core):
$(printf '%s\n' "${speed_lines[@]}")
  per handshake  server ${T_SRV} us = 1 sign + 2 verify + keygen + derive; client ${T_CLI} us (mirror)
  ceiling        min(one sprexd loop 1/${T_SRV}us = ${CEIL_SRV}/s,
                     $NCPU CPUs shared by both sides $NCPU/(${T_SRV}+${T_CLI})us = ${CEIL_MACH}/s) = ${CEIL}/s
  measured       $RATE/s = $RATIO of the ceiling; aim: within ${AIM_RATIO}x (>= $(awk -v a=$AIM_RATIO 'BEGIN { printf "%.3f", 1 / a }')): $(verdict "$RATIO * $AIM_RATIO >= 1")
  sprexd CPU     $SRV_US us per handshake, of which the public-key operations are ${T_SRV} us (${EFF}%)
  OpenSSL alone  $(field server_us "$IP") us server, $(field client_us "$IP") us client per handshake (in-process
                 over memory, sprex's contexts, no sockets); with the chain built once:
                 $(field server_us "$IPB") us server (handshake-load --inproc --prebuilt-chain)

Idle connections: $IDLE, authenticated (Hello -> Welcome) and idle; sprexd held $fds descriptors.
  sprexd VmRSS   $rss0 KiB before, $rss1 KiB with them open ($rss2 KiB after they closed)
  per connection $KIB KiB resident ($KIB_ANON KiB anonymous); aim < $AIM_KIB KiB: $(verdict "$KIB < $AIM_KIB")

handshakes_per_s=$RATE ceiling_per_s=$CEIL ratio=$RATIO sprexd_cpu_us=$SRV_US kib_per_idle_conn=$KIB
EOF
