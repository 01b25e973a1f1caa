#!/usr/bin/env bash
# bench/ingest.sh: reports per second through the intake pipeline on one core
# (parse, unwrap, redact, leak check, analysis: sx_pipeline_run), through
# durable ingest into SQLite (sx_intake_submit, group commit, synchronous=FULL),
# and the store's own ceiling (pre-built 6 KB rows through sx_store_report_add),
# on a generated corpus of 3-10 KB Japanese and English spam reports. Prints
# the figures and what they make of the center's year (6 million reports).
# See bench/README.md.
#
#   bench/ingest.sh            builds what is missing in $BUILD, prints figures
#
# Environment (defaults in brackets):
#   BUILD        build folder, relative to the source tree or absolute [build]
#   NOBUILD=1    use the binaries already in $BUILD, do not run ninja
#   PURE         reports through the pure pipeline [20000]; 0 skips it
#   RUNS         passes over them (the median is the figure) [1]
#   STAGES       reports timed stage by stage (a replica of the pipeline) [2000]; 0 skips
#   DURABLE      reports through durable intake [20000]; 0 skips it
#   JOBS         pipeline threads for a second durable run, as sprexctl
#                ingest --jobs runs it [nproc]; 1 runs only the one-thread one
#   SUBMIT=1     also run durable intake on sprexd's Submit path (a submitter
#                member and a client message id per report: one more lookup each)
#   SQLITE       pre-built rows for the store ceiling [20000]; 0 skips it
#   ROW_SIZE     bytes per pre-built row [6144]
#   BATCH        reports per group commit [100]
#   VERIFY       sampled outputs checked against the generator's identifiers [1000]
#   MAX_QUARANTINE  percent quarantined or refused before the corpus is rejected [3]
#   SEED         corpus seed [20261128]
#   DBDIR        folder for the scratch folder (its databases are fsync'ed) [$TMPDIR or /tmp]
#   KEEP=1       keep the scratch folder (certificates, databases, outputs)
#   DUMP=1       write quarantined, refused and leaking reports to the scratch
#                folder (implies KEEP=1), for whoever fixes the pipeline
#
# Exit status: 0 when it measured and the corpus checks passed (whether or not
# the aims were met); 1 when something failed, or when a check failed: more
# than MAX_QUARANTINE % of the corpus quarantined or refused (the figures then
# measure a path real reports do not take), or an identifier left in a sampled
# ready report. The figures are printed in either case.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$SRC/$BUILD
PURE=${PURE:-20000}
RUNS=${RUNS:-1}
STAGES=${STAGES:-2000}
DURABLE=${DURABLE:-20000}
JOBS=${JOBS:-$(nproc)}
SUBMIT=${SUBMIT:-0}
SQLITE=${SQLITE:-20000}
ROW_SIZE=${ROW_SIZE:-6144}
BATCH=${BATCH:-100}
VERIFY=${VERIFY:-1000}
MAX_QUARANTINE=${MAX_QUARANTINE:-3}
SEED=${SEED:-20261128}
DBDIR=${DBDIR:-${TMPDIR:-/tmp}}
DUMP=${DUMP:-0}
[[ $DUMP == 1 ]] && KEEP=1
# The aims of the issue, and the center's year.
AIM_PURE=20000
AIM_DURABLE=10000
YEAR=6000000

die() {
	printf 'ingest.sh: %s\n' "$*" >&2
	exit 1
}

# ------------------------------------------------------------------ build

if [[ ${NOBUILD:-0} != 1 ]]; then
	if [[ ! -f $BUILD/build.ninja ]]; then
		meson setup "$BUILD" "$SRC" -Dbuildtype=release -Dtests=false >/dev/null ||
			die "meson setup $BUILD failed"
	fi
	ninja -C "$BUILD" bench/ingest-bench server/sprexctl >/dev/null ||
		die "build failed in $BUILD (ninja -C $BUILD bench/ingest-bench)"
fi
BENCH=$BUILD/bench/ingest-bench
SPREXCTL=$BUILD/server/sprexctl
for b in "$BENCH" "$SPREXCTL"; do
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

mkdir -p "$DBDIR"
W=$(mktemp -d "$DBDIR/sprex-ingest.XXXXXX")

cleanup() {
	local rc=$?
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "ingest.sh: scratch folder kept: $W" >&2
	else
		rm -rf "$W"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "ingest.sh: interrupted" >&2; exit 130' INT
trap 'echo "ingest.sh: terminated" >&2; exit 143' TERM

# On tmpfs an fsync costs nothing: the durable figure would not be durable.
FSTYPE=$(df --output=fstype "$W" 2>/dev/null | tail -n 1 || echo unknown)

# ------------------------------------------------------- members, databases
#
# Two ISPs with the prefixes ingest-bench's generator draws source addresses
# from (and its built-in table holds), so that every report's source goes
# through the LPM table as in production: isp-a 203.0.113.0/25 and
# 2001:db8:a::/48, isp-b 198.51.100.0/24 and 203.0.113.128/26; 192.0.2.0/24
# and the rest of 203.0.113.0/24 belong to no one.

PKI=$W/pki
CA=$SRC/certs/sprex-ca.sh
{
	bash "$CA" "$PKI" init
	bash "$CA" "$PKI" member isp-a
	bash "$CA" "$PKI" member isp-b
	bash "$CA" "$PKI" member vendor-x
	bash "$CA" "$PKI" member submit-x
} 2>"$W/ca.log" >/dev/null || die "certs/sprex-ca.sh failed: $(tail -n 3 "$W/ca.log")"

new_db() {
	local db=$1
	{
		"$SPREXCTL" --db "$db" init
		"$SPREXCTL" --db "$db" member add isp-a --role isp --cert "$PKI/isp-a.pem" \
			--prefix 203.0.113.0/25 --prefix 2001:db8:a::/48
		"$SPREXCTL" --db "$db" member add isp-b --role isp --cert "$PKI/isp-b.pem" \
			--prefix 198.51.100.0/24 --prefix 203.0.113.128/26
		"$SPREXCTL" --db "$db" member add vendor-x --role vendor --cert "$PKI/vendor-x.pem"
		"$SPREXCTL" --db "$db" member add submit-x --role submitter --cert "$PKI/submit-x.pem"
	} >"$W/sprexctl.log" 2>&1 || die "sprexctl failed: $(tail -n 3 "$W/sprexctl.log")"
}

# key=value from the "result" line of an ingest-bench output.
field() {
	sed -n "s/^result .*[ ]$1=\([^ ]*\).*/\1/p" "$2" | head -n 1
}

CHECK_FAILED=0
# Runs ingest-bench with its output on the terminal and in $W/NAME.out.
# Exit 3 is a failed corpus check: noted, the run's figures still count.
run() {
	local name=$1 rc=0
	shift
	local dump=()
	[[ $DUMP == 1 ]] && dump=(--dump "$W/dump-$name")
	"$BENCH" --seed "$SEED" --verify "$VERIFY" --max-quarantine "$MAX_QUARANTINE" \
		"${dump[@]}" "$@" >"$W/$name.out" 2>"$W/$name.err" || rc=$?
	sed 's/^/  /' "$W/$name.out"
	case $rc in
	0) ;;
	3) CHECK_FAILED=1 ;;
	*) die "ingest-bench $* failed (exit $rc): $(tail -n 3 "$W/$name.err")" ;;
	esac
	echo
}

cpu_model=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
[[ -n $cpu_model ]] || cpu_model=$(uname -m)
cat <<EOF
sprex ingest benchmark
  machine     $cpu_model, $(nproc) CPUs online, Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)
  sqlite      $(pkg-config --modversion sqlite3 2>/dev/null || echo '?')
  build       $BUILD ($buildtype)
  databases   $W ($FSTYPE)
EOF
[[ $buildtype == release* ]] ||
	echo "  WARNING     not a release build: BUILD=build-bench with -Dbuildtype=release measures sprex"
[[ $FSTYPE == tmpfs || $FSTYPE == ramfs ]] &&
	echo "  WARNING     the databases are on $FSTYPE, where fsync costs nothing; set DBDIR to a disk"
echo

PURE_RATE= PURE_US= PURE_SHARE= DUR_RATE= DUR_US= DURJ_RATE= DURJ_US= SUB_RATE= SQL_RATE= SQL_US=
if ((PURE > 0)); then
	new_db "$W/pure.db" # read for its ISP table only
	echo "1. Pure pipeline (one thread; the reports are in memory)"
	run pure --pure "$PURE" --runs "$RUNS" --stages "$STAGES" --db "$W/pure.db"
	PURE_RATE=$(field per_s "$W/pure.out")
	PURE_US=$(field cpu_us "$W/pure.out")
	PURE_SHARE=$(field cpu_share "$W/pure.out")
fi
if ((DURABLE > 0)); then
	new_db "$W/durable.db"
	echo "2. Durable intake (sx_intake_submit, group commit every $BATCH, synchronous=FULL)"
	run durable --durable "$DURABLE" --db "$W/durable.db" --batch "$BATCH"
	DUR_RATE=$(field per_s "$W/durable.out")
	DUR_US=$(field cpu_us "$W/durable.out")
	if ((JOBS > 1)); then
		new_db "$W/durablej.db"
		echo "2a. Durable intake with the pipeline on $JOBS threads (sprexctl ingest --jobs $JOBS)"
		run durablej --durable "$DURABLE" --db "$W/durablej.db" --batch "$BATCH" --jobs "$JOBS"
		DURJ_RATE=$(field per_s "$W/durablej.out")
		DURJ_US=$(field cpu_us "$W/durablej.out")
	fi
	if [[ $SUBMIT == 1 ]]; then
		new_db "$W/submit.db"
		echo "2b. Durable intake on sprexd's Submit path (idempotency lookup per report)"
		run submit --durable "$DURABLE" --db "$W/submit.db" --batch "$BATCH" \
			--submitter submit-x
		SUB_RATE=$(field per_s "$W/submit.out")
	fi
fi
if ((SQLITE > 0)); then
	new_db "$W/sqlite.db"
	echo "3. The store alone (pre-built rows through sx_store_report_add)"
	run sqlite --sqlite-only "$SQLITE" --db "$W/sqlite.db" --batch "$BATCH" \
		--row-size "$ROW_SIZE"
	SQL_RATE=$(field per_s "$W/sqlite.out")
	SQL_US=$(field cpu_us "$W/sqlite.out")
fi

# ------------------------------------------------------------------ report

verdict() { # ok-condition -> word
	if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "MISSED"; fi
}
year() { # rate -> "N min" for the center's year at that rate
	awk -v r="$1" -v y="$YEAR" 'BEGIN {
		if (r <= 0) { print "?"; exit }
		s = y / r
		if (s < 5400) printf "%.0f min", s / 60; else printf "%.1f h", s / 3600 }'
}

echo "Summary ($YEAR reports a year; the issue's aim is about 10 minutes for them)"
if [[ -n $PURE_RATE ]]; then
	printf '  pure pipeline   %8s reports/s on one core (%s us CPU each); aim >= %d: %s; the year: %s on one core\n' \
		"$PURE_RATE" "$PURE_US" "$AIM_PURE" "$(verdict "$PURE_RATE >= $AIM_PURE")" "$(year "$PURE_RATE")"
	printf '                  %s reports/s per core from CPU time; cores the year needs for 10 minutes: %s\n' \
		"$(awk -v us="$PURE_US" 'BEGIN { printf "%.0f", 1e6 / us }')" \
		"$(awk -v us="$PURE_US" -v y="$YEAR" 'BEGIN { printf "%.0f", y * us / 1e6 / 600 + 0.5 }')"
	if awk -v s="$PURE_SHARE" 'BEGIN { exit !(s < 0.9) }'; then
		printf '  WARNING         the pipeline thread got %.0f %% of a core (other processes): the\n' \
			"$(awk -v s="$PURE_SHARE" 'BEGIN { print 100 * s }')"
		echo "                  rates are low by that much; compare the CPU time per report"
	fi
fi
if [[ -n $DUR_RATE ]]; then
	printf '  durable intake  %8s reports/s (%s us CPU each, batch %d); aim >= %d: %s; the year: %s\n' \
		"$DUR_RATE" "$DUR_US" "$BATCH" "$AIM_DURABLE" "$(verdict "$DUR_RATE >= $AIM_DURABLE")" "$(year "$DUR_RATE")"
	if [[ -n $PURE_US ]]; then
		printf '                  the pure pipeline alone takes %s us of it (the rest: JSON, insert, commit)\n' \
			"$PURE_US"
	fi
fi
if [[ -n $DURJ_RATE ]]; then
	printf '  durable, %2d jobs %7s reports/s (%s us CPU each over all threads); aim >= %d: %s; the year: %s\n' \
		"$JOBS" "$DURJ_RATE" "$DURJ_US" "$AIM_DURABLE" "$(verdict "$DURJ_RATE >= $AIM_DURABLE")" "$(year "$DURJ_RATE")"
fi
if [[ -n $SUB_RATE ]]; then
	printf '  Submit path     %8s reports/s (durable, with the idempotency lookup)\n' "$SUB_RATE"
fi
if [[ -n $SQL_RATE ]]; then
	printf '  store ceiling   %8s rows/s of %d bytes (%s us CPU each, batch %d); the year: %s\n' \
		"$SQL_RATE" "$ROW_SIZE" "$SQL_US" "$BATCH" "$(year "$SQL_RATE")"
	if [[ -n $DUR_RATE ]]; then
		printf '                  durable intake reaches %s of it: the %s is the limit\n' \
			"$(awk -v a="$DUR_RATE" -v b="$SQL_RATE" 'BEGIN { printf "%.3f", a / b }')" \
			"$(awk -v a="$DUR_RATE" -v b="$SQL_RATE" 'BEGIN { print (a < b / 2 ? "pipeline" : "store") }')"
	fi
fi
if ((CHECK_FAILED)); then
	echo
	echo "FAILED: a check on the corpus failed (see FAIL above): the quarantine share or a leak."
	[[ $DUMP == 1 ]] || echo "        DUMP=1 writes the reports concerned to the scratch folder."
fi
echo
echo "pure_per_s=${PURE_RATE:-} pure_cpu_us=${PURE_US:-} durable_per_s=${DUR_RATE:-} durable_jobs_per_s=${DURJ_RATE:-} jobs=$JOBS submit_per_s=${SUB_RATE:-} sqlite_per_s=${SQL_RATE:-} batch=$BATCH checks=$((CHECK_FAILED ? 0 : 1))"
exit $((CHECK_FAILED ? 1 : 0))
