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

step "starting sprex-agent for member vendor-a (association and chain feeds into a Maildir)"
cat > "$work/agent-base.conf" <<CONF
server = localhost:$port
tls_cert = $work/pki/vendor-a.pem
tls_key = $work/pki/vendor-a.key
tls_ca = $work/pki/ca.pem
heartbeat = 2s
CONF
cp "$work/agent-base.conf" "$work/agent.conf"
cat >> "$work/agent.conf" <<CONF
status_file = $work/vendor-a.status

[subscription association]
feed = association
start = earliest
sink = maildir
path = $work/vendor-a.maildir

[subscription chain]
feed = chain
start = earliest
sink = maildir
path = $work/vendor-a.maildir
CONF
$AGENT -v --config "$work/agent.conf" 2>"$work/agent.log" &
pids+=($!)
wait_for "$work/agent.log" 'authenticated as member vendor-a'
wait_for "$work/agent.log" 'heartbeat' 2

step "a certificate from the right CA whose key is not registered"
$CA "$work/pki" member stranger >/dev/null
sed -e "s|vendor-a|stranger|g" "$work/agent-base.conf" > "$work/stranger.conf"
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
sed -e "s|vendor-a|monitor-c|g" "$work/agent-base.conf" > "$work/monitor.conf"
sleep 1   # a running sprexd applies registry changes within a second
$AGENT submit --config "$work/monitor.conf" --source monitor \
  "$root/tests/data/submit/monitor1.eml" 2>"$work/submit.log" | sed 's/^/  /'
$AGENT submit --config "$work/monitor.conf" --source monitor \
  "$root/tests/data/submit/monitor1.eml" 2>>"$work/submit.log" | sed 's/^/  again: /'

step "a report the redactor cannot vouch for (a zip attachment) goes to quarantine, sent to no one"
$SPREXCTL --db "$db" ingest --source monitor "$root/tests/data/reports/monitor-zip.eml" | sed 's/^/  /'
$SPREXCTL --db "$db" quarantine list | sed 's/^/  /'

step "who receives what: an ISP agent (ARF notices) and an enforcement agent (JSON Lines) join"
$CA "$work/pki" member enf-d >/dev/null
$SPREXCTL --db "$db" member add enf-d --role enforcement --cert "$work/pki/enf-d.pem"
sed -e "s|vendor-a|isp-b|g" "$work/agent-base.conf" > "$work/isp.conf"
cat >> "$work/isp.conf" <<CONF

[subscription notices]
feed = notices
start = earliest
sink = arf-maildir
path = $work/isp-b.maildir
reporter_org = Spam Mail Consultation Center (demo)
reporter_contact = abuse-desk@center.example
reporter_domain = center.example
CONF
sed -e "s|vendor-a|enf-d|g" "$work/agent-base.conf" > "$work/enf.conf"
cat >> "$work/enf.conf" <<CONF

[subscription violations]
feed = enforcement
start = earliest
sink = jsonl
path = $work/enf-d.jsonl
CONF
sleep 1   # registry changes reach sprexd within a second
$AGENT -v --config "$work/isp.conf" 2>"$work/isp.log" &
pids+=($!)
$AGENT -v --config "$work/enf.conf" 2>"$work/enf.log" &
pids+=($!)
wait_for "$work/isp.log" 'subscription notices (created|attached)'
wait_for "$work/enf.log" 'subscription violations (created|attached)'

# A small corpus: spam from isp-b's network (192.0.2.0/24) and from
# elsewhere, advertising (flagged) or not, as public reports with and
# without consent, monitor captures and chain mail.
mkdir -p "$work/in"
mkspam() { # FILE IP AD(1|0) [forwarded]
  local body="Everything must go, buy now at a discount: http://sale.example.net/$1"
  [ "$3" = 1 ] || body="Are we still on for lunch tomorrow?"
  local mail
  mail=$(printf 'Received: from bulk.example.net (bulk.example.net [%s])\r\n\tby mx.example.jp with SMTP id D%s for <user%s@example.jp>;\r\n\tSat, 28 Nov 2026 11:00:00 +0900\r\nFrom: promo@bulk.example.net\r\nTo: user%s@example.jp\r\nSubject: demo %s\r\nDate: Sat, 28 Nov 2026 11:00:00 +0900\r\nMessage-ID: <demo-%s@bulk.example.net>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n%s\r\n' \
    "$2" "$1" "$1" "$1" "$1" "$1" "$body")
  if [ -n "${4:-}" ]; then
    printf 'From: Reporter <reporter%s@example.jp>\r\nTo: report@center.example\r\nSubject: Fwd: spam\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nPlease look.\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n%s\r\n--b--\r\n' "$1" "$mail" > "$work/in/$1.eml"
  else
    printf '%s' "$mail" > "$work/in/$1.eml"
  fi
}
mkspam p1 192.0.2.10 1 fwd; mkspam p2 203.0.113.7 1 fwd; mkspam p3 192.0.2.11 1 fwd
mkspam m1 192.0.2.20 1; mkspam m2 198.51.100.5 0; mkspam c1 203.0.113.9 1
ing() { $SPREXCTL --db "$db" --config "$work/sprexd.conf" ingest "$@" | sed 's/^/  /'; }
ing --source public --consent association,isp,enforcement "$work/in/p1.eml"
ing --source public --consent association "$work/in/p2.eml"
ing --source public "$work/in/p3.eml"
ing --source monitor "$work/in/m1.eml" "$work/in/m2.eml"
ing --source chain "$work/in/c1.eml"
ready=$(sqlite3 "$db" "SELECT count(*) FROM reports WHERE state = 0" 2>/dev/null || echo 0)
for ((i = 0; i < 100; i++)); do   # deliveries are live; give them a moment
  n_v=$(ls "$work/vendor-a.maildir/new" 2>/dev/null | wc -l)
  n_i=$(ls "$work/isp-b.maildir/new" 2>/dev/null | wc -l)
  n_e=$(wc -l < "$work/enf-d.jsonl" 2>/dev/null || echo 0)
  [ "$n_i" -ge 2 ] && [ "$n_e" -ge 2 ] && [ "$n_v" -ge 5 ] && break
  sleep 0.1
done
sleep 0.5
echo
printf '  %-27s %-8s %-28s %-16s %-6s | %-8s %-6s %-5s\n' report source consent flags isp \
  vendor-a isp-b enf-d
while IFS='|' read -r id src consent flags isp; do
  v=-; i=-; e=-
  [ -e "$work/vendor-a.maildir/new/$id" ] && v=yes
  ls "$work/isp-b.maildir/new/" 2>/dev/null | grep -q "$id" && i=ARF
  grep -q "\"$id\"" "$work/enf-d.jsonl" 2>/dev/null && e=yes
  printf '  %-27s %-8s %-28s %-16s %-6s | %-8s %-6s %-5s\n' "$id" "$src" "${consent:--}" \
    "${flags:--}" "${isp:--}" "$v" "$i" "$e"
done < <(sqlite3 -separator '|' "$db" "SELECT r.id, CASE r.source WHEN 1 THEN 'public' WHEN 2 THEN 'monitor' ELSE 'chain' END, CASE WHEN r.source != 1 THEN '' ELSE trim((CASE WHEN r.consent & 1 THEN 'association ' ELSE '' END) || (CASE WHEN r.consent & 2 THEN 'isp ' ELSE '' END) || (CASE WHEN r.consent & 4 THEN 'enforcement' ELSE '' END)) END, trim((CASE WHEN r.flags & 1 THEN 'opt-in ' ELSE '' END) || (CASE WHEN r.flags & 2 THEN 'labeling ' ELSE '' END) || (CASE WHEN r.flags & 4 THEN 'spoofing' ELSE '' END)), coalesce(m.name, '') FROM reports r LEFT JOIN members m ON m.id = r.isp WHERE r.state = 0 ORDER BY r.seq")

step "the ISP answers a notice (sprex-agent action), and the operator sees it (sprexctl notices)"
notice=$(ls "$work/isp-b.maildir/new" | head -1)
notice_id=$(grep -m1 -Eo 'X-Sprex-Report-Id: r[a-z2-7]{25}|r[a-z2-7]{25}' "$work/isp-b.maildir/new/$notice" | grep -Eo 'r[a-z2-7]{25}' | head -1)
grep -m1 -E '^Content-Type: multipart/report' "$work/isp-b.maildir/new/$notice" | sed 's/^/  ARF: /'
$AGENT action --config "$work/isp.conf" "$notice_id" --taken warning --note "customer warned (demo)" \
  2>>"$work/isp.log" | sed 's/^/  /'
$SPREXCTL --db "$db" notices | sed 's/^/  /'

step "what the agent logged (state changes and heartbeats)"
sed 's/^/  /' "$work/agent.log"

step "what sprexd logged"
sed 's/^/  /' "$work/sprexd.log"

step "the published recipient list (sprexctl members --public)"
$SPREXCTL --db "$db" members --public

step "stopping: SIGTERM to the agents, then to sprexd (GoAway, drain, exit 0)"
for p in "${pids[@]:1}"; do
  kill -0 "$p" 2>/dev/null || continue
  kill -TERM "$p"; wait "$p"; echo "  sprex-agent $p exited $?"
done
kill -TERM "${pids[0]}"; wait "${pids[0]}"; echo "  sprexd exited $?"
pids=()
left=$(pgrep -f "$work" || true)
if [ -n "$left" ]; then echo "demo: processes left behind: $left" >&2; exit 1; fi
echo "  no process left behind"
