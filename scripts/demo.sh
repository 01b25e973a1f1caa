#!/usr/bin/env bash
# The whole path on this machine, unattended: install what is missing, build,
# make a development CA, initialise a database, start sprexd, register and run
# a member's sprex-agent, show what happened, stop everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/deps.sh
build=$root/build
if [ -d "$build" ]; then meson setup --reconfigure "$build" >/dev/null; else meson setup "$build" >/dev/null; fi
ninja -C "$build" >/dev/null

SPREXD=$build/server/sprexd
SPREXCTL=$build/server/sprexctl
AGENT=$build/client/sprex-agent
CA="bash $root/certs/sprex-ca.sh"

work=$(mktemp -d /tmp/sprex-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_for() { # FILE REGEX [COUNT]: until REGEX matches COUNT lines (default 1), 20 s at most
  local i
  for ((i = 0; i < 200; i++)); do
    (( $(grep -Ec "$2" "$1") >= ${3:-1} )) && return 0
    sleep 0.1
  done
  echo "demo: timed out waiting for /$2/ in $1" >&2
  cat "$1" >&2
  exit 1
}

step "development CA, server certificate and two member certificates in $work/pki"
$CA "$work/pki" init >/dev/null
$CA "$work/pki" server server >/dev/null
$CA "$work/pki" member vendor-a >/dev/null
$CA "$work/pki" member isp-b >/dev/null
ls "$work/pki" | grep -E '\.pem$|crl' | sed 's/^/  /'

step "sprexctl init and member registration (identity = SHA-256 of the key, not a name)"
db=$work/sprex.db
$SPREXCTL --db "$db" init
$SPREXCTL --db "$db" member add vendor-a --role vendor --cert "$work/pki/vendor-a.pem"
$SPREXCTL --db "$db" member add isp-b --role isp --cert "$work/pki/isp-b.pem" \
  --prefix 192.0.2.0/24 --prefix 2001:db8:b::/48
$SPREXCTL --db "$db" member list

step "starting sprexd (mutual TLS 1.3, ALPN sprex/1) on a port chosen at run time"
$CA "$work/pki" crl >/dev/null
cat > "$work/sprexd.conf" <<CONF
listen = 127.0.0.1:0
tls_cert = $work/pki/server.pem
tls_key = $work/pki/server.key
tls_ca = $work/pki/ca.pem
tls_crl = $work/pki/crl.pem
db = $db
heartbeat = 2s
CONF
$SPREXD --config "$work/sprexd.conf" -n
$SPREXD -f --config "$work/sprexd.conf" 2>"$work/sprexd.log" &
pids+=($!)
wait_for "$work/sprexd.log" 'listening on 127\.0\.0\.1:[0-9]+'
port=$(grep -Eo 'listening on 127\.0\.0\.1:[0-9]+' "$work/sprexd.log" | head -1 | sed 's/.*://')
echo "  sprexd pid ${pids[0]}, port $port"

step "starting sprex-agent for member vendor-a"
cat > "$work/agent.conf" <<CONF
server = localhost:$port
tls_cert = $work/pki/vendor-a.pem
tls_key = $work/pki/vendor-a.key
tls_ca = $work/pki/ca.pem
heartbeat = 2s
CONF
$AGENT -v --config "$work/agent.conf" 2>"$work/agent.log" &
pids+=($!)
wait_for "$work/agent.log" 'authenticated as member vendor-a'
wait_for "$work/agent.log" 'heartbeat' 2

step "a certificate from the right CA whose key is not registered"
$CA "$work/pki" member stranger >/dev/null
sed -e "s|vendor-a|stranger|g" "$work/agent.conf" > "$work/stranger.conf"
$AGENT --config "$work/stranger.conf" 2>"$work/stranger.log" &
spid=$!
pids+=($spid)
wait_for "$work/stranger.log" 'server refused'
kill -TERM "$spid"; wait "$spid" || true
grep -E 'server refused' "$work/stranger.log" | sed 's/^/  /'

step "the operator suspends vendor-a while it is connected"
$SPREXCTL --db "$db" member suspend vendor-a
wait_for "$work/agent.log" 'goaway suspended'
grep -E 'goaway' "$work/agent.log" | sed 's/^/  /'
$SPREXCTL --db "$db" member resume vendor-a
wait_for "$work/agent.log" 'authenticated as member vendor-a' 2

step "intake: a reporter's forwarded spam (Japanese, ISO-2022-JP) through sprexctl ingest"
sample=$root/tests/data/reports/report-attached.eml
grep -m3 -E '^(From|Reply-To|To):' "$sample" | sed 's/^/  original: /'
out=$($SPREXCTL --db "$db" --config "$work/sprexd.conf" ingest --source public \
  --consent association,isp "$sample")
echo "  $out"
rid=$(echo "$out" | grep -Eo 'r[a-z2-7]{25}' | head -1)
$SPREXCTL --db "$db" report show "$rid" | sed 's/^/  /'
echo "  the stored mail's address fields:"
$SPREXCTL --db "$db" report raw "$rid" | grep -E '^(From|To|Delivered-To):' | sed 's/^/    /'
if $SPREXCTL --db "$db" report raw "$rid" | grep -qi 'taro.yamada'; then
  echo "demo: the reporter's address survived redaction" >&2; exit 1
fi

step "intake over the wire: a monitor receiver submits a capture (sprex-agent submit)"
$CA "$work/pki" member monitor-c >/dev/null
$SPREXCTL --db "$db" member add monitor-c --role submitter --cert "$work/pki/monitor-c.pem"
sed -e "s|vendor-a|monitor-c|g" "$work/agent.conf" > "$work/monitor.conf"
sleep 1   # a running sprexd applies registry changes within a second
$AGENT submit --config "$work/monitor.conf" --source monitor \
  "$root/tests/data/submit/monitor1.eml" 2>"$work/submit.log" | sed 's/^/  /'
$AGENT submit --config "$work/monitor.conf" --source monitor \
  "$root/tests/data/submit/monitor1.eml" 2>>"$work/submit.log" | sed 's/^/  again: /'

step "a report the redactor cannot vouch for (a zip attachment) goes to quarantine, sent to no one"
$SPREXCTL --db "$db" ingest --source monitor "$root/tests/data/reports/monitor-zip.eml" | sed 's/^/  /'
$SPREXCTL --db "$db" quarantine list | sed 's/^/  /'

step "what the agent logged (state changes and heartbeats)"
sed 's/^/  /' "$work/agent.log"

step "what sprexd logged"
sed 's/^/  /' "$work/sprexd.log"

step "the published recipient list (sprexctl members --public)"
$SPREXCTL --db "$db" members --public

step "stopping: SIGTERM to the agent, then to sprexd (GoAway, drain, exit 0)"
kill -TERM "${pids[1]}"; wait "${pids[1]}"; echo "  sprex-agent exited $?"
kill -TERM "${pids[0]}"; wait "${pids[0]}"; echo "  sprexd exited $?"
pids=()
left=$(pgrep -f "$work" || true)
if [ -n "$left" ]; then echo "demo: processes left behind: $left" >&2; exit 1; fi
echo "  no process left behind"
