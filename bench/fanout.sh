#!/usr/bin/env bash
# bench/fanout.sh: fan-out of ~6 KB spam reports to M subscribers over mutual
# TLS, every delivery acked, through sprexd, mosquitto and nats-server
# (JetStream) side by side, with clients and broker on this machine. Prints
# acked deliveries per second, ingest-to-delivery latency p50/p99 at a steady
# rate, and the broker's memory (VmHWM, VmRSS). See bench/README.md.
#
#   bench/fanout.sh               builds what is missing in $BUILD, prints one table
#
# Environment (defaults in brackets):
#   BUILD        build folder, relative to the source tree or absolute [build]
#   NOBUILD=1    use the binaries already in $BUILD, do not run ninja
#   BROKERS      which brokers, in order ["sprex mosquitto nats"]
#   N            reports held by the broker for the throughput run [2000]
#   MS           subscriber counts ["1 10 50"]
#   RATE         publishes per second in the latency run [1000]
#   LAT_SECONDS  how long the latency run publishes [10] (the issue calls it
#                SECONDS; that name is bash's own clock, so it cannot be used)
#   DRAIN        seconds to wait for the last deliveries after publishing [10]
#   WINDOW       unacked deliveries per subscriber: mosquitto max_inflight_messages,
#                JetStream MaxAckPending, sprex Subscribe.window_count [100]
#   SPREX_RATE   sprex's latency rate [RATE when a 3 s Submit run at RATE keeps up,
#                else 0.8 x the rate it managed]
#   INSTALL=0    never apt-get the brokers and client libraries (default: when
#                missing and running as root)
#   MOCK=1       run the sprex column against bench/fanout-mock (an in-memory
#                stand-in for the subscription engine) instead of sprexd: checks
#                fanout-sprex and this script; its figures are not sprex's
#   KEEP=1       keep the scratch folder (certificates, databases, logs)
#
# Exit status: 0 when it measured (whatever the figures), 1 when something
# failed. A broker it cannot run is skipped with the reason, not failed.
# Every process it starts is stopped on exit or interrupt.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$SRC/$BUILD
NCPU=$(nproc)
BROKERS=${BROKERS:-"sprex mosquitto nats"}
N=${N:-2000}
MS=${MS:-"1 10 50"}
RATE=${RATE:-1000}
LAT_SECONDS=${LAT_SECONDS:-10}
DRAIN=${DRAIN:-10}
WINDOW=${WINDOW:-100}
SPREX_RATE=${SPREX_RATE:-}
HZ=$(getconf CLK_TCK)
# Other processes above this share of the machine make the figures low.
OTHER_WARN=10

die() {
	printf 'fanout.sh: %s\n' "$*" >&2
	exit 1
}
note() {
	printf 'fanout.sh: %s\n' "$*" >&2
}

MAXM=0
for m in $MS; do
	[[ $m =~ ^[1-9][0-9]*$ ]] || die "MS holds \"$m\", not a positive number"
	((m > MAXM)) && MAXM=$m
done
for v in N RATE LAT_SECONDS DRAIN WINDOW; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v=${!v} is not a positive number"
done

# --------------------------------------------------- brokers and libraries

declare -A SKIP=()
declare -A PKGS=([mosquitto]="mosquitto libmosquitto-dev" [nats]="nats-server libnats-dev")
declare -A BIN=([mosquitto]=mosquitto [nats]=nats-server)
declare -A PC=([mosquitto]=libmosquitto [nats]=libnats)
declare -A LOADGEN=([sprex]=fanout-sprex [mosquitto]=fanout-mqtt [nats]=fanout-nats)

have_broker() { # broker -> its server binary and client library are installed
	command -v "${BIN[$1]}" >/dev/null 2>&1 || return 1
	pkg-config --exists "${PC[$1]}" 2>/dev/null && return 0
	[[ $1 == nats && -f /usr/include/nats/nats.h ]]
}

installed_any=0
for b in $BROKERS; do
	case $b in
	sprex) continue ;;
	mosquitto | nats) ;;
	*) die "BROKERS holds \"$b\"; known: sprex mosquitto nats" ;;
	esac
	have_broker "$b" && continue
	if [[ $(id -u) == 0 && ${INSTALL:-1} != 0 ]]; then
		note "installing ${PKGS[$b]} (apt-get)"
		# shellcheck disable=SC2086 # the package list splits on purpose
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${PKGS[$b]} >/dev/null 2>&1; then
			apt-get update -qq >/dev/null 2>&1 || true
			# shellcheck disable=SC2086
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${PKGS[$b]} >/dev/null 2>&1 || true
		fi
		installed_any=1
	fi
	have_broker "$b" ||
		SKIP[$b]="not installed: apt-get install ${PKGS[$b]} (as root), then rerun"
done

# ------------------------------------------------------------------ build

if [[ ${NOBUILD:-0} != 1 ]]; then
	if [[ ! -f $BUILD/build.ninja ]]; then
		meson setup "$BUILD" "$SRC" -Dbuildtype=release -Dtests=false >/dev/null ||
			die "meson setup $BUILD failed"
	elif ((installed_any)); then
		# A library found only now: meson looks for it again.
		meson setup --reconfigure "$BUILD" "$SRC" >/dev/null || die "meson setup --reconfigure $BUILD failed"
	fi
	targets=(server/sprexd server/sprexctl bench/fanout-sprex)
	[[ ${MOCK:-0} == 1 ]] && targets+=(bench/fanout-mock)
	for b in mosquitto nats; do
		[[ -z ${SKIP[$b]:-} ]] || continue
		if ninja -C "$BUILD" -t targets all 2>/dev/null | grep -q "^bench/${LOADGEN[$b]}:"; then
			targets+=("bench/${LOADGEN[$b]}")
		else
			meson setup --reconfigure "$BUILD" "$SRC" >/dev/null 2>&1 || true
			if ninja -C "$BUILD" -t targets all 2>/dev/null | grep -q "^bench/${LOADGEN[$b]}:"; then
				targets+=("bench/${LOADGEN[$b]}")
			else
				SKIP[$b]="meson did not find ${PC[$b]} in $BUILD (bench/meson.build)"
			fi
		fi
	done
	ninja -C "$BUILD" "${targets[@]}" >/dev/null || die "build failed in $BUILD (ninja -C $BUILD ${targets[*]})"
fi
SPREXD=${SPREXD:-$BUILD/server/sprexd}
SPREXCTL=$BUILD/server/sprexctl
for b in $BROKERS; do
	[[ -z ${SKIP[$b]:-} && ! -x $BUILD/bench/${LOADGEN[$b]} ]] &&
		SKIP[$b]="$BUILD/bench/${LOADGEN[$b]} is missing (build it, or unset NOBUILD)"
done
if [[ " $BROKERS " == *" sprex "* && -z ${SKIP[sprex]:-} ]]; then
	for x in "$SPREXD" "$SPREXCTL"; do
		[[ -x $x ]] || SKIP[sprex]="$x is missing (build it, or unset NOBUILD)"
	done
fi

buildtype=$(/usr/bin/python3 - "$BUILD" <<'EOF' 2>/dev/null || echo unknown
import json, sys
opts = {o["name"]: o["value"] for o in
        json.load(open(sys.argv[1] + "/meson-info/intro-buildoptions.json"))}
print(opts.get("buildtype", "?") + ("" if opts.get("b_sanitize", "none") == "none"
      else ", sanitize=" + opts["b_sanitize"]))
EOF
)

# --------------------------------------------------------- scratch, cleanup

W=$(mktemp -d "${TMPDIR:-/tmp}/sprex-fanout.XXXXXX")
PIDS=()

stop_pid() {
	local p=$1 i
	kill -TERM "$p" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}

cleanup() {
	local rc=$? p
	for p in "${PIDS[@]}"; do
		stop_pid "$p"
	done
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "fanout.sh: scratch folder kept: $W" >&2
	else
		rm -rf "$W"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "fanout.sh: interrupted" >&2; exit 130' INT
trap 'echo "fanout.sh: terminated" >&2; exit 143' TERM

forget_pid() {
	local keep=() p
	for p in "${PIDS[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

need_fd=$((4 * MAXM + 256))
if (($(ulimit -n) < need_fd)); then
	ulimit -n "$need_fd" 2>/dev/null || ulimit -n "$(ulimit -H -n)" || true
fi

# ------------------------------------------------------------ certificates

# One CA; the brokers' server certificate names localhost and 127.0.0.1;
# sub1..subMAXM are member certificates (sprex: one vendor each; mosquitto
# and NATS clients all present sub1), pub is sprex's submitter.
PKI=$W/pki
CA=$SRC/certs/sprex-ca.sh
{
	bash "$CA" "$PKI" init
	bash "$CA" "$PKI" server server
	bash "$CA" "$PKI" member pub
	for ((i = 1; i <= MAXM; i++)); do
		bash "$CA" "$PKI" member "sub$i"
	done
} >"$W/ca.log" 2>&1 || die "certs/sprex-ca.sh failed: $(tail -n 3 "$W/ca.log")"

# ----------------------------------------------------------------- helpers

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # pid port log
	local i
	for ((i = 0; i < 200; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
		kill -0 "$1" 2>/dev/null || die "the broker exited: $(tail -n 3 "$3")"
		sleep 0.05
	done
	die "nothing listens on 127.0.0.1:$2 after 10 s: $(tail -n 3 "$3")"
}

proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# CPU seconds of this shell's finished children (and theirs): the `times`
# builtin, run in this shell (a $(...) subshell would report its own).
children_cpu() {
	times >"$W/times"
	CHILD_CPU=$(tail -n 1 "$W/times" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, a, "m");
		sub("s", "", a[2]); t += a[1] * 60 + a[2] } printf "%.3f\n", t }')
}
status_kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }

field() { # key line -> value of key=value in line
	sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<" $2" | head -n 1
}

BPID= # the broker being measured
MAX_OTHER=0

# Runs a load generator in the background (so that a signal reaches the trap
# at once), waits, and measures the CPU that neither it nor the broker used.
# Output in $W/run.out; returns the generator's exit status.
run_load() {
	local secs_cap=$1 rc=0 pid m0 b0 c0 m1 b1 c1 t0 t1 other
	shift
	children_cpu
	m0=$(machine_ticks) b0=$(proc_ticks "$BPID") c0=$CHILD_CPU t0=$(date +%s.%N)
	timeout "$secs_cap" "$@" >"$W/run.out" 2>"$W/run.err" &
	pid=$!
	PIDS+=("$pid")
	wait "$pid" || rc=$?
	forget_pid "$pid"
	children_cpu
	m1=$(machine_ticks) b1=$(proc_ticks "$BPID") c1=$CHILD_CPU t1=$(date +%s.%N)
	other=$(awk -v m=$((m1 - m0)) -v b=$((b1 - b0)) -v c="$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')" \
		-v hz="$HZ" -v secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" -v ncpu="$NCPU" \
		'BEGIN { o = m / hz - b / hz - c; if (o < 0) o = 0; printf "%.0f", 100 * o / (secs * ncpu) }')
	((other > MAX_OTHER)) && MAX_OTHER=$other
	LAST_OTHER=$other
	cat "$W/run.err" >>"$W/loadgen.log"
	return "$rc"
}

# Results, one row per broker and M.
ROWS=()
add_row() { # broker m tp_rate lat_rate p50 p99 lost hwm rss other note
	ROWS+=("$*")
}

CAP_TP=300
CAP_LAT=$((LAT_SECONDS + DRAIN + 120))

# One broker, one M: throughput then latency on the same fresh broker, then
# its memory. The generator's CONN arguments come in "$@".
measure() { # broker m loadgen-args...
	local broker=$1 m=$2 tp lat tp_rate=- p50=- p99=- lost=- lrate=- o1 o2 hwm rss
	shift 2
	if run_load "$CAP_TP" "$@" --throughput --count "$N" --subs "$m" --tag "tp$m"; then
		tp=$(grep '^result ' "$W/run.out")
		tp_rate=$(field rate "$tp")
	else
		grep -q '^subscribe_error' "$W/run.out" && return 3
		note "$broker M=$m throughput failed: $(tail -n 2 "$W/run.err")"
	fi
	o1=$LAST_OTHER
	cat "$W/run.out" >>"$W/results.log"
	if run_load "$CAP_LAT" "$@" --latency --rate "$LRATE" --seconds "$LAT_SECONDS" \
		--drain "$DRAIN" --subs "$m" --tag "lat$m"; then
		lat=$(grep '^result ' "$W/run.out")
		p50=$(field p50_ms "$lat") p99=$(field p99_ms "$lat") lost=$(field lost "$lat")
		lrate=$(field send_rate "$lat")
	else
		note "$broker M=$m latency failed: $(tail -n 2 "$W/run.err")"
	fi
	o2=$LAST_OTHER
	cat "$W/run.out" >>"$W/results.log"
	hwm=$(status_kib "$BPID" VmHWM) rss=$(status_kib "$BPID" VmRSS)
	add_row "$broker" "$m" "$tp_rate" "$lrate" "$p50" "$p99" "$lost" "$hwm" "$rss" \
		"$((o1 > o2 ? o1 : o2))"
	return 0
}

# ------------------------------------------------------------------- sprex

run_sprex() {
	local db=$W/sprex.db log rc i m line
	"$SPREXCTL" --db "$db" init >/dev/null
	"$SPREXCTL" --db "$db" member add pub --role submitter --cert "$PKI/pub.pem" >/dev/null
	for ((i = 1; i <= MAXM; i++)); do
		"$SPREXCTL" --db "$db" member add "sub$i" --role vendor --cert "$PKI/sub$i.pem" >/dev/null
	done
	cat >"$W/sprexd.conf" <<EOF
listen = 127.0.0.1:0
tls_cert = $PKI/server.pem
tls_key = $PKI/server.key
tls_ca = $PKI/ca.pem
db = $db
log_level = info
heartbeat = 30s
handshake_timeout = 30s
shutdown_timeout = 5s
max_connections = $((MAXM + 100))
EOF
	local n=0
	start_sprexd() {
		n=$((n + 1))
		log=$W/sprexd.$n.log
		: >"$log"
		if [[ ${MOCK:-0} == 1 ]]; then
			# The mock holds the N reports from the start (no ingest).
			"$BUILD/bench/fanout-mock" --cert "$PKI/server.pem" --key "$PKI/server.key" \
				--ca "$PKI/ca.pem" --preload "$N" >"$log" 2>&1 &
		else
			"$SPREXD" -f --config "$W/sprexd.conf" 2>"$log" &
		fi
		BPID=$!
		PIDS+=("$BPID")
		for ((i = 0; i < 200; i++)); do
			SPORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n 1)
			[[ -n $SPORT ]] && { [[ ${MOCK:-0} == 1 ]] || grep -q serving "$log"; } && return 0
			kill -0 "$BPID" 2>/dev/null || die "sprexd exited: $(tail -n 3 "$log")"
			sleep 0.05
		done
		die "sprexd did not say \"listening on 127.0.0.1:PORT\" and \"serving\""
	}
	stop_broker() {
		stop_pid "$BPID"
		forget_pid "$BPID"
	}
	conn() {
		echo --connect "127.0.0.1:$SPORT" --ca "$PKI/ca.pem" --sub-certs "$PKI/sub%d" \
			--pub-cert "$PKI/pub.pem" --pub-key "$PKI/pub.key" --window "$WINDOW"
	}
	local G=$BUILD/bench/fanout-sprex

	[[ ${MOCK:-0} == 1 ]] && note "MOCK=1: the sprex column is bench/fanout-mock, not sprexd"
	start_sprexd
	# Does this sprexd serve subscriptions at all?
	rc=0
	# shellcheck disable=SC2046 # conn's words split on purpose
	run_load 60 "$G" $(conn) --probe || rc=$?
	if ((rc == 3)); then
		SKIP[sprex]="sprexd answered Subscribe with Error ($(sed -n 's/^subscribe_error //p' "$W/run.out")): the subscription engine is not in this build"
		stop_broker
		return 0
	elif ((rc != 0)); then
		SKIP[sprex]="the Subscribe probe failed: $(tail -n 1 "$W/run.err")"
		stop_broker
		return 0
	fi

	# N reports, seqs 1..N, before anything else is stored: every throughput
	# subscriber (start earliest) counts its first N deliveries.
	[[ ${MOCK:-0} == 1 ]] || sprex_ingest "$db"
	run_sprex_measure
}

sprex_ingest() {
	local db=$1 G=$BUILD/bench/fanout-sprex t0 t1 stored
	mkdir -p "$W/corpus/new" "$W/corpus/cur"
	"$G" --write-mail "$W/corpus/new" --count "$N" >/dev/null
	t0=$(date +%s.%N)
	"$SPREXCTL" --db "$db" ingest --source monitor --maildir "$W/corpus" >"$W/ingest.out" 2>&1 ||
		die "sprexctl ingest failed: $(tail -n 3 "$W/ingest.out")"
	t1=$(date +%s.%N)
	stored=$(grep -c ': stored ' "$W/ingest.out" || true)
	((stored == N)) || die "sprexctl ingest stored $stored of $N reports: $(grep -v ': stored ' "$W/ingest.out" | head -n 3)"
	SPREX_INGEST=$(awk -v n="$N" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
}

# The rate Submit sustains here sets the latency run's; then each M on a
# fresh sprexd over the same database.
run_sprex_measure() {
	local m rc line G=$BUILD/bench/fanout-sprex
	if [[ -z $SPREX_RATE ]]; then
		# shellcheck disable=SC2046
		run_load 60 "$G" $(conn) --publish-only --rate "$RATE" --seconds 3 --tag rate ||
			die "sprex Submit run failed: $(tail -n 2 "$W/run.err")"
		line=$(grep '^publisher ' "$W/run.out")
		SPREX_SUBMIT=$(field send_rate "$line")
		# Kept up with RATE: RATE. Fell behind: 80 % of what it managed, so
		# that the latency run measures delivery, not a growing intake queue.
		SPREX_RATE=$(awk -v r="$SPREX_SUBMIT" -v cap="$RATE" 'BEGIN {
			v = r >= 0.95 * cap ? cap : int(0.8 * r); if (v < 1) v = 1; print v }')
	fi
	stop_broker

	LRATE=$SPREX_RATE
	local label=sprex
	[[ ${MOCK:-0} == 1 ]] && label=sprex-mock
	for m in $MS; do
		start_sprexd
		rc=0
		# shellcheck disable=SC2046
		measure "$label" "$m" "$G" $(conn) || rc=$?
		stop_broker
		if ((rc == 3)); then
			SKIP[sprex]="sprexd answered Subscribe with Error: $(sed -n 's/^subscribe_error //p' "$W/run.out")"
			return 0
		fi
	done
}

# --------------------------------------------------------------- mosquitto

run_mosquitto() {
	local m port dir log G=$BUILD/bench/fanout-mqtt
	LRATE=$RATE
	for m in $MS; do
		port=$(free_port)
		dir=$W/mosquitto.$m
		log=$dir.log
		mkdir -p "$dir"
		# QoS 1 state of offline persistent sessions is kept without limit;
		# persistence writes $dir/mosquitto.db (autosave_interval, default
		# 30 min, and at exit): the queue itself lives in memory.
		cat >"$dir.conf" <<EOF
per_listener_settings false
listener $port 127.0.0.1
cafile $PKI/ca.pem
certfile $PKI/server.pem
keyfile $PKI/server.key
require_certificate true
use_identity_as_username true
tls_version tlsv1.3
allow_anonymous false
persistence true
persistence_location $dir/
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages $WINDOW
log_dest stderr
log_type error
log_type warning
EOF
		# Run as root, mosquitto would switch to its own user and lose
		# access to the scratch keys.
		[[ $(id -u) == 0 ]] && echo "user root" >>"$dir.conf"
		mosquitto -c "$dir.conf" 2>"$log" &
		BPID=$!
		PIDS+=("$BPID")
		wait_port "$BPID" "$port" "$log"
		measure mosquitto "$m" "$G" --port "$port" --ca "$PKI/ca.pem" \
			--cert "$PKI/sub1.pem" --key "$PKI/sub1.key" --inflight "$WINDOW" || true
		stop_pid "$BPID"
		forget_pid "$BPID"
	done
}

# -------------------------------------------------------------------- nats

run_nats() {
	local m port dir log G=$BUILD/bench/fanout-nats
	LRATE=$RATE
	for m in $MS; do
		port=$(free_port)
		dir=$W/nats.$m
		log=$dir.log
		mkdir -p "$dir"
		cat >"$dir.conf" <<EOF
listen: 127.0.0.1:$port
tls {
  cert_file: "$PKI/server.pem"
  key_file: "$PKI/server.key"
  ca_file: "$PKI/ca.pem"
  verify: true
  timeout: 5
}
jetstream {
  store_dir: "$dir"
  max_memory_store: 256MB
  max_file_store: 16GB
}
EOF
		nats-server -c "$dir.conf" >"$log" 2>&1 &
		BPID=$!
		PIDS+=("$BPID")
		wait_port "$BPID" "$port" "$log"
		measure nats "$m" "$G" --port "$port" --ca "$PKI/ca.pem" \
			--cert "$PKI/sub1.pem" --key "$PKI/sub1.key" --window "$WINDOW" || true
		stop_pid "$BPID"
		forget_pid "$BPID"
	done
}

# ------------------------------------------------------------------ report

cpu_model=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
[[ -n $cpu_model ]] || cpu_model=$(uname -m)
FSTYPE=$(df --output=fstype "$W" 2>/dev/null | tail -n 1 || echo unknown)
version_of() {
	case $1 in
	sprex)
		if [[ ${MOCK:-0} == 1 ]]; then
			echo "fanout-mock (MOCK=1: not sprexd, its figures are not sprex's)"
		else
			"$SPREXD" --version 2>/dev/null | head -n 1 || echo "sprexd ?"
		fi
		;;
	mosquitto) { mosquitto -h 2>&1 || true; } | head -n 1 ;; # -h exits 3
	nats) nats-server --version 2>/dev/null | head -n 1 || echo "nats-server ?" ;;
	esac
}

cat <<EOF
sprex fan-out benchmark
  machine     $cpu_model, $NCPU CPUs online, Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)
  openssl     $(openssl version)
  build       $BUILD ($buildtype)
  scratch     $W ($FSTYPE)
  workload    ~6 KB spam mail; throughput: N=$N held by the broker, then M subscribers drain
              them, every delivery acked; latency: RATE=$RATE/s for ${LAT_SECONDS} s to M attached
              subscribers, send time in the mail; window $WINDOW unacked per subscriber; M in: $MS
EOF
[[ $buildtype == release* ]] ||
	echo "  WARNING     not a release build: sprex figures measure $buildtype"
echo

SPREX_INGEST='' SPREX_SUBMIT=''
for b in $BROKERS; do
	if [[ -n ${SKIP[$b]:-} ]]; then
		continue
	fi
	echo "  running $b ($(version_of "$b")) ..." >&2
	"run_$b"
done

printf '%-10s %4s %14s %9s %9s %9s %8s %10s %10s %7s\n' broker M "acked deliv/s" "lat rate" \
	"p50 ms" "p99 ms" lost "VmHWM MiB" "VmRSS MiB" "other%"
for r in "${ROWS[@]}"; do
	read -r b m tp lr p50 p99 lost hwm rss other <<<"$r"
	printf '%-10s %4s %14s %9s %9s %9s %8s %10s %10s %7s\n' "$b" "$m" "$tp" "$lr/s" "$p50" "$p99" \
		"$lost" "$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')" \
		"$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" "$other"
done
echo
for b in $BROKERS; do
	echo "  $b: $(version_of "$b")${SKIP[$b]:+: SKIPPED: ${SKIP[$b]}}"
done
if [[ -n $SPREX_INGEST ]]; then
	echo "  sprex intake: sprexctl ingest stored $N reports at $SPREX_INGEST/s (one process, group commits)"
fi
if [[ -n $SPREX_SUBMIT ]]; then
	echo "  sprex Submit: one submitter session sustained ${SPREX_SUBMIT}/s of the ${RATE}/s asked for (3 s run),"
	echo "                so sprex's latency run publishes at ${SPREX_RATE}/s"
fi
cat <<EOF

  acked deliv/s  deliveries per second over all M subscribers, from the first subscriber's
                 connect until each holds all N (sprex: Ack ranges; MQTT: PUBACK; NATS: +ACK)
  lat rate       publishes per second in the latency run; p50/p99: receive minus send over
                 every delivery (CLOCK_MONOTONIC, one clock for this machine); lost: deliveries
                 missing ${DRAIN} s after the last publish
  VmHWM/VmRSS    the broker process after both runs (a fresh broker for each M)
  other%         share of the machine used by processes other than the broker and the
                 load generator during the runs
EOF
if ((MAX_OTHER > OTHER_WARN)); then
	echo
	echo "  WARNING     other processes used up to ${MAX_OTHER}% of the machine during a run: rates are low"
	echo "              and latencies high by that much; rerun on a quiet machine"
fi
echo
for r in "${ROWS[@]}"; do
	read -r b m tp lr p50 p99 lost hwm rss other <<<"$r"
	echo "fanout broker=$b m=$m deliveries_per_s=$tp lat_rate=$lr p50_ms=$p50 p99_ms=$p99 lost=$lost vmhwm_kib=$hwm vmrss_kib=$rss other_pct=$other"
done
