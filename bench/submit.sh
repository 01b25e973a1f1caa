#!/usr/bin/env bash
# bench/submit.sh: durable intake over the wire. Two submitter members send
# ingest-bench's generated corpus (3-10 KB Japanese and English reports, half
# monitor captures, half forwarded public reports) to a real sprexd over
# loopback mutual TLS with `sprex-agent submit`, each answer given only after
# the report is committed (synchronous=FULL). Prints reports per second for
# a window of 1 (each Submit waits for the answer of the one before) and for
# WINDOW Submits outstanding per submitter, and sprexd's CPU per report.
# See bench/README.md.
#
#   bench/submit.sh            builds what is missing in $BUILD, prints figures
#
# Environment (defaults in brackets):
#   BUILD        build folder, relative to the source tree or absolute [build]
#   NOBUILD=1    use the binaries already in $BUILD, do not run ninja
#   SPREXD       sprexd binary to measure [$BUILD/server/sprexd] (A/B another build)
#   SPREXCTL     sprexctl that makes its databases [$BUILD/server/sprexctl] (the same build)
#   REPORTS      reports per run [4000]
#   WINDOW       Submits outstanding per submitter in the second run [8]
#   INFLIGHT     sprexd's max_submits_inflight [16]; empty: not set (an older sprexd)
#   THREADS      UV_THREADPOOL_SIZE for sprexd (its pipeline threads) [nproc]
#   SEED         corpus seed [20261128]
#   KEEP=1       keep the scratch folder (certificates, database, logs)
#
# Exit status: 0 when it measured and every report was answered stored or
# quarantined; 1 when something failed. Every process it starts is stopped.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$SRC/$BUILD
REPORTS=${REPORTS:-4000}
WINDOW=${WINDOW:-8}
INFLIGHT=${INFLIGHT-16}
THREADS=${THREADS:-$(nproc)}
SEED=${SEED:-20261128}

die() {
	printf 'submit.sh: %s\n' "$*" >&2
	exit 1
}

if [[ ${NOBUILD:-0} != 1 ]]; then
	if [[ ! -f $BUILD/build.ninja ]]; then
		meson setup "$BUILD" "$SRC" -Dbuildtype=release -Dtests=false >/dev/null ||
			die "meson setup $BUILD failed"
	fi
	ninja -C "$BUILD" bench/ingest-bench server/sprexd server/sprexctl client/sprex-agent \
		>/dev/null || die "build failed in $BUILD"
fi
GEN=$BUILD/bench/ingest-bench
SPREXD=${SPREXD:-$BUILD/server/sprexd}
SPREXCTL=${SPREXCTL:-$BUILD/server/sprexctl}
AGENT=$BUILD/client/sprex-agent
for b in "$GEN" "$SPREXD" "$SPREXCTL" "$AGENT"; do
	[[ -x $b ]] || die "$b is missing (build it, or unset NOBUILD)"
done

W=$(mktemp -d "${TMPDIR:-/tmp}/sprex-submit.XXXXXX")
SPID=
cleanup() {
	local rc=$? i
	if [[ -n $SPID ]] && kill -TERM "$SPID" 2>/dev/null; then
		for ((i = 0; i < 100; i++)); do
			kill -0 "$SPID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$SPID" 2>/dev/null || true
		wait "$SPID" 2>/dev/null || true
	fi
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "submit.sh: scratch folder kept: $W" >&2
	else
		rm -rf "$W"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "submit.sh: interrupted" >&2; exit 130' INT
trap 'echo "submit.sh: terminated" >&2; exit 143' TERM

# ------------------------------------------------------------------ corpus

"$GEN" --seed "$SEED" --corpus-only "$REPORTS" --dump "$W/corpus" >"$W/corpus.out" ||
	die "ingest-bench --corpus-only failed: $(tail -n 3 "$W/corpus.out")"
: >"$W/monitor.list"
: >"$W/public.list"
for why in "$W"/corpus/*.why; do
	src=$(sed -n 's/^source //p' "$why")
	echo "${why%.why}.eml" >>"$W/$src.list"
done
NMON=$(wc -l <"$W/monitor.list")
NPUB=$(wc -l <"$W/public.list")

# ------------------------------------------------------ certificates, store

PKI=$W/pki
CA=$SRC/certs/sprex-ca.sh
{
	bash "$CA" "$PKI" init
	bash "$CA" "$PKI" server server
	bash "$CA" "$PKI" member capture
	bash "$CA" "$PKI" member gateway
} 2>"$W/ca.log" >/dev/null || die "certs/sprex-ca.sh failed: $(tail -n 3 "$W/ca.log")"

rate_line=
run() { # window -> prints a line, sets rate_line
	local window=$1 db=$W/sprex.$1.db log=$W/sprexd.$1.log i port t0 t1 s0 s1
	"$SPREXCTL" --db "$db" init >/dev/null
	"$SPREXCTL" --db "$db" member add capture --role submitter --cert "$PKI/capture.pem" >/dev/null
	"$SPREXCTL" --db "$db" member add gateway --role submitter --cert "$PKI/gateway.pem" >/dev/null
	cat >"$W/sprexd.conf" <<EOF
listen = 127.0.0.1:0
tls_cert = $PKI/server.pem
tls_key = $PKI/server.key
tls_ca = $PKI/ca.pem
db = $db
log_level = warning
EOF
	[[ -z $INFLIGHT ]] || echo "max_submits_inflight = $INFLIGHT" >>"$W/sprexd.conf"
	: >"$log"
	UV_THREADPOOL_SIZE=$THREADS "$SPREXD" -f -v --config "$W/sprexd.conf" 2>"$log" &
	SPID=$!
	for ((i = 0; i < 200; i++)); do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n 1)
		[[ -n $port ]] && break
		kill -0 "$SPID" 2>/dev/null || die "sprexd exited: $(tail -n 3 "$log")"
		sleep 0.05
	done
	[[ -n $port ]] || die "sprexd did not say where it listens"
	for m in capture gateway; do
		cat >"$W/$m.conf" <<EOF
server = localhost:$port
tls_cert = $PKI/$m.pem
tls_key = $PKI/$m.key
tls_ca = $PKI/ca.pem
EOF
	done
	s0=$(awk '{ print $14 + $15 }' "/proc/$SPID/stat")
	t0=$(date +%s.%N)
	xargs -a "$W/monitor.list" "$AGENT" submit --config "$W/capture.conf" --source monitor \
		--window "$window" >"$W/out.$window.monitor" 2>&1 &
	local a1=$!
	xargs -a "$W/public.list" "$AGENT" submit --config "$W/gateway.conf" --source public \
		--consent association,isp,enforcement --window "$window" \
		>"$W/out.$window.public" 2>&1 &
	local a2=$!
	wait "$a1" || die "the monitor submitter failed: $(tail -n 3 "$W/out.$window.monitor")"
	wait "$a2" || die "the public submitter failed: $(tail -n 3 "$W/out.$window.public")"
	t1=$(date +%s.%N)
	s1=$(awk '{ print $14 + $15 }' "/proc/$SPID/stat")
	kill -TERM "$SPID"
	wait "$SPID" || die "sprexd exited $? after SIGTERM: $(tail -n 3 "$log")"
	SPID=
	local answered
	answered=$(cat "$W/out.$window.monitor" "$W/out.$window.public" |
		grep -cE ': (stored|quarantined) r[a-z2-7]{25} seq [0-9]+' || true)
	((answered == REPORTS)) ||
		die "window $window: $answered of $REPORTS reports answered stored or quarantined"
	local hz
	hz=$(getconf CLK_TCK)
	rate_line=$(awk -v n="$REPORTS" -v t0="$t0" -v t1="$t1" -v s="$((s1 - s0))" -v hz="$hz" \
		-v w="$window" 'BEGIN {
		wall = t1 - t0
		printf "window %2d   %6.0f reports/s   (wall %.2f s; sprexd CPU %.0f us per report)",
			w, n / wall, wall, s / hz / n * 1e6 }')
	echo "  $rate_line"
}

cpu_model=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
cat <<EOF
sprex submit benchmark: durable intake over the wire
  machine     ${cpu_model:-$(uname -m)}, $(nproc) CPUs online, load average $(cut -d' ' -f1-3 /proc/loadavg)
  corpus      $REPORTS reports ($NMON monitor captures, $NPUB public reports), seed $SEED
  sprexd      $SPREXD: max_submits_inflight ${INFLIGHT:-(not set)}, UV_THREADPOOL_SIZE $THREADS, synchronous=FULL
  clients     two sprex-agent submit processes (one per source), on the same machine
EOF
run 1
one=$rate_line
if ((WINDOW > 1)); then
	run "$WINDOW"
fi
echo "result one=$(sed 's/^window *1 *\([0-9]*\).*/\1/' <<<"$one") windowed=$(sed 's/^window *[0-9]* *\([0-9]*\).*/\1/' <<<"$rate_line") window=$WINDOW"
