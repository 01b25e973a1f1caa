"""ISP notices in the formats abuse desks use, end to end: sprexd delivers
on the notices feed, sprex-agent writes ARF (RFC 5965) and XARF v4, parsed
here by independent code (Python's email package, json); the daily digest;
sprexctl notices --summary/--overdue; sprexctl stats over a corpus with
known counts in every format, the SVG rendered to PNG; the public member
list."""
import csv
import email
import email.policy
import email.utils
import base64
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
import unittest
import uuid
import xml.etree.ElementTree as ET

from corpus import SpamWorld, spam, wait_until
from harness import SLOW, SPREX_AGENT, World, run

ISP_NET = "203.0.113.0/24"


def maildir_files(path):
    d = os.path.join(path, "new")
    return sorted(os.path.join(d, n) for n in os.listdir(d)) if os.path.isdir(d) else []


class Base(SpamWorld):
    heartbeat = "1s"

    def ingest(self, count=1, source="monitor", ip="203.0.113.9", consent=None):
        return super().ingest(count, source, ip, consent)

    def sub(self, name, sink, **kw):
        s = "\n[subscription %s]\nfeed = notices\nstart = earliest\nsink = %s\n" % (name, sink)
        for k, v in kw.items():
            s += "%s = %s\n" % (k, v)
        return s

    def stored(self, rid):
        db = sqlite3.connect(self.db)
        try:
            return db.execute("SELECT mail, sha256 FROM reports WHERE id = ?",
                              (rid,)).fetchone()
        finally:
            db.close()

    def pending(self):
        db = sqlite3.connect(self.db)
        try:
            return db.execute("SELECT count(*) FROM sub_pending").fetchone()[0]
        finally:
            db.close()

    def agent_conf(self, name):
        return os.path.join(self.dir, "agent-%s.conf" % name)


class Notices(Base):

    # ------------------------------------------------------------ ARF

    def check_arf(self, raw, rid, conf_path):
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertEqual(msg.get_content_type(), "multipart/report")
        self.assertEqual(msg.get_param("report-type"), "feedback-report")
        self.assertTrue(msg["From"] and msg["Date"] and msg["Subject"])
        self.assertIsNotNone(email.utils.parsedate_to_datetime(str(msg["Date"])))
        parts = list(msg.iter_parts())
        self.assertEqual([p.get_content_type() for p in parts],
                         ["text/plain", "message/feedback-report", "message/rfc822"])
        text = parts[0].get_content()
        fr = parts[1].get_payload()[0]
        # RFC 5965 §3.1 required fields, and ours
        self.assertEqual(fr["Feedback-Type"], "abuse")
        self.assertTrue(fr["User-Agent"].startswith("sprex-agent/"))
        self.assertEqual(fr["Version"], "1")
        self.assertEqual(fr["Source-IP"], "203.0.113.9")
        arrival = email.utils.parsedate_to_datetime(fr["Arrival-Date"])
        self.assertEqual(arrival.utcoffset().total_seconds(), 0)
        self.assertEqual(fr["X-Sprex-Report-Id"], rid)
        mail, sha = self.stored(rid)
        self.assertEqual(fr["X-Sprex-Sha256"], sha)
        self.assertEqual(hashlib.sha256(mail).hexdigest(), sha)
        self.assertEqual(fr["X-Sprex-Evidence-Source"], "monitor")
        flags = fr.get_all("X-Sprex-Flag")
        self.assertTrue(any(f.startswith("opt-in; article=\"Art. 3") for f in flags), flags)
        self.assertTrue(fr.get_all("X-Sprex-Redaction"))
        # the monitor's trap address never leaves the exchange
        self.assertNotRegex(raw, rb"trap\d+@monitor")
        # the original: the de-personalized mail with its full headers
        orig = parts[2].get_payload()[0]
        self.assertTrue(orig["Subject"].startswith("Big sale"))
        self.assertIn("bulk", orig["Received"])
        self.assertIn(mail, raw)   # byte for byte
        # the human-readable part stands on its own
        self.assertIn("203.0.113.9", text)
        self.assertIn(arrival.strftime("%Y-%m-%dT%H:%M:%SZ"), text)
        self.assertIn("monitor (spam trap)", text)
        self.assertIn("Art. 3(1)", text)
        self.assertIn(sha, text)
        self.assertIn("sprex-agent action --config %s %s --taken ACTION" % (conf_path, rid),
                      text)
        self.assertIn("What we ask", text)
        return text

    def test_arf_maildir_parses_and_is_answered(self):
        self.add_member("isp-a", "isp", ISP_NET)
        self.start_server()
        md = os.path.join(self.dir, "arf")
        ids = self.ingest(2)
        self.start_agent("isp-a", self.sub("n", "arf-maildir", path=md,
                                           reporter_contact="abuse-reports@center.example",
                                           notice_to="abuse@isp-a.example"))
        wait_until(lambda: len(maildir_files(md)) == 2, what="2 ARF notices")
        for path in maildir_files(md):
            rid = os.path.basename(path)
            self.assertIn(rid, ids)
            with open(path, "rb") as f:
                raw = f.read()
            self.check_arf(raw, rid, self.agent_conf("isp-a"))
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            self.assertEqual(str(msg["To"]), "abuse@isp-a.example")
        wait_until(lambda: self.pending() == 0, what="acks")
        # answer the way the notice says
        r = run([SPREX_AGENT, "--config", self.agent_conf("isp-a"), "action", ids[0],
                 "--taken", "warning"], check=True)
        self.assertIn("warning recorded", r.stdout)
        out = self.ctl("notices", "--summary").stdout
        self.assertRegex(out, r"isp-a\s+2\s+2\s+1\s+\d+d \d\d:\d\d:\d\d\s+warning=1")
        # overdue: nothing yet; one notice sent 5 days ago without action is
        self.assertNotIn(ids[1], self.ctl("notices", "--overdue", "3").stdout)
        db = sqlite3.connect(self.db)
        db.execute("UPDATE notices SET sent_ms = sent_ms - 5 * 86400000")
        db.commit()
        db.close()
        out = self.ctl("notices", "--overdue", "3").stdout
        self.assertIn(ids[1], out)
        self.assertNotIn(ids[0], out)   # it has an action
        self.assertEqual(self.ctl("notices", "--overdue", "0", check=False).returncode, 64)

    def test_arf_exec_feeds_a_command(self):
        self.add_member("isp-a", "isp", ISP_NET)
        self.start_server()
        out = os.path.join(self.dir, "tickets")
        os.mkdir(out)
        ids = self.ingest(1)
        # written aside and renamed, so the file appears whole
        cmd = "cat > %s/.$SPREX_REPORT_ID && mv %s/.$SPREX_REPORT_ID %s/$SPREX_REPORT_ID.eml" % (
            out, out, out)
        self.start_agent("isp-a", self.sub("n", "arf-exec", command=cmd))
        path = os.path.join(out, ids[0] + ".eml")
        wait_until(lambda: os.path.exists(path) and self.pending() == 0, what="ticket")
        with open(path, "rb") as f:
            self.check_arf(f.read(), ids[0], self.agent_conf("isp-a"))

    # ------------------------------------------------------------ XARF

    def test_xarf_jsonl_required_fields(self):
        self.add_member("isp-a", "isp", ISP_NET)
        self.start_server()
        path = os.path.join(self.dir, "xarf.jsonl")
        ids = self.ingest(2)
        self.start_agent("isp-a", self.sub("x", "xarf-jsonl", path=path,
                                           reporter_org="Center",
                                           reporter_contact="abuse-reports@center.example",
                                           reporter_domain="center.example"))
        wait_until(lambda: os.path.exists(path) and
                   len(open(path).read().splitlines()) == 2 and self.pending() == 0,
                   what="2 XARF lines")
        rows = [json.loads(line) for line in open(path)]
        self.assertEqual(sorted(r["sprex_report_id"] for r in rows), sorted(ids))
        for r in rows:
            # xarf-core.json "required", with the types the schema gives
            for k in ("xarf_version", "report_id", "timestamp", "reporter", "sender",
                      "source_identifier", "category", "type"):
                self.assertIn(k, r)
            self.assertRegex(r["xarf_version"], r"^4\.[0-9]+\.[0-9]+$")
            self.assertEqual(uuid.UUID(r["report_id"]).version, 4)
            self.assertRegex(r["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            for who in ("reporter", "sender"):
                self.assertEqual(set(r[who]), {"org", "contact", "domain"})
            self.assertEqual(r["reporter"]["org"], "Center")
            self.assertEqual(r["source_identifier"], "203.0.113.9")
            self.assertEqual((r["category"], r["type"]), ("messaging", "spam"))
            # messaging-spam.json: protocol required; smtp needs smtp_from, port
            self.assertIn(r["protocol"], ("smtp", "other"))
            if r["protocol"] == "smtp":
                self.assertIn("smtp_from", r)
                self.assertIn("source_port", r)
            self.assertEqual(r["evidence_source"], "spamtrap")
            self.assertLessEqual(len(r["description"]), 1000)
            for tag in r["tags"]:
                self.assertRegex(tag, r"^[a-z0-9][a-z0-9_+-]*:[a-z0-9][a-z0-9_+\-.]*$")
            ev = r["evidence"][0]
            self.assertEqual(set(ev) - {"description", "hash", "size"},
                             {"content_type", "payload"})
            mail, sha = self.stored(r["sprex_report_id"])
            self.assertEqual(base64.b64decode(ev["payload"]), mail)
            self.assertEqual(ev["hash"], "sha256:" + sha)
            x = r["sprex"]
            self.assertEqual(x["report_id"], r["sprex_report_id"])
            self.assertEqual(x["sha256"], sha)
            self.assertEqual(x["evidence_source"], "monitor")
            self.assertTrue(any(f["flag"] == "opt-in" and f["article"].startswith("Art. 3")
                                and f["evidence"] for f in x["flags"]))
            self.assertTrue(x["manifest"])
            self.assertTrue(all("count" in m and "kind" in m for m in x["manifest"]))
            self.assertIn("sprex-agent action --config %s %s" %
                          (self.agent_conf("isp-a"), x["report_id"]), x["answer"]["command"])
            self.assertIn("warning", x["answer"]["actions"])
            self.assertTrue(x["requested_action"])

    # ------------------------------------------------------------ digest

    def test_digest_one_ip_one_day(self):
        self.add_member("isp-a", "isp", ISP_NET)
        self.start_server()
        md = os.path.join(self.dir, "digest")
        nine = self.ingest(3, ip="203.0.113.9")
        ten = self.ingest(1, ip="203.0.113.10")
        self.start_agent("isp-a", self.sub("d", "arf-maildir", path=md, digest="daily"))
        state = md + ".digest"
        wait_until(lambda: os.path.exists(state) and
                   len(open(state).read().splitlines()) == 4 and self.pending() == 0,
                   what="4 reports recorded and acked")
        self.assertEqual(maildir_files(md), [])   # the day is not over
        r = run([SPREX_AGENT, "--config", self.agent_conf("isp-a"), "digest", "flush", "--all"],
                check=True)
        self.assertIn("d: 2 digest notices sent", r.stdout)
        files = maildir_files(md)
        self.assertEqual(len(files), 2)
        seen = {}
        for path in files:
            msg = email.message_from_bytes(open(path, "rb").read(), policy=email.policy.default)
            self.assertEqual(msg.get_content_type(), "multipart/report")
            parts = list(msg.iter_parts())
            self.assertEqual([p.get_content_type() for p in parts],
                             ["text/plain", "message/feedback-report", "text/rfc822-headers"])
            fr = parts[1].get_payload()[0]
            self.assertEqual(fr["Feedback-Type"], "abuse")
            seen[fr["Source-IP"]] = (int(fr["Incidents"]), sorted(fr.get_all("X-Sprex-Report-Id")),
                                     parts[0].get_content())
        self.assertEqual(seen["203.0.113.9"][:2], (3, sorted(nine)))
        self.assertEqual(seen["203.0.113.10"][:2], (1, sorted(ten)))
        self.assertIn("Reports:          3", seen["203.0.113.9"][2])
        self.assertEqual(open(state).read(), "")
        # nothing left: a second flush sends nothing
        r = run([SPREX_AGENT, "--config", self.agent_conf("isp-a"), "digest", "flush", "--all"],
                check=True)
        self.assertIn("d: 0 digest notices sent", r.stdout)


# ---------------------------------------------------------------- statistics

# The corpus: (month, source, flags bits, categories bits, quarantined) per
# report, and the notices and actions; the expected figures follow from it
# by hand, not by the code under test.
CORPUS = [
    ("2026-09", 2, 1, 1, 0), ("2026-09", 2, 1 | 4, 1, 0), ("2026-09", 1, 0, 2, 0),
    ("2026-10", 2, 1, 1, 0), ("2026-10", 2, 2, 4, 0), ("2026-10", 3, 0, 8, 0),
    ("2026-10", 1, 4, 16, 1),
    ("2026-11", 1, 0, 1, 0),
]
MONTH_MS = {"2026-09": 1788220800000, "2026-10": 1790812800000, "2026-11": 1793491200000}
EXPECTED = {
    "2026-09": {"reports.public": 1, "reports.monitor": 2, "reports.chain": 0,
                "violations.opt-in": 2, "violations.labeling": 0, "violations.spoofing": 1,
                "categories.japanese": 2, "categories.foreign": 1, "categories.garbled": 0,
                "categories.virus": 0, "categories.insufficient": 0, "quarantined": 0,
                "notices.sent": 2, "notices.isps": 1,
                "actions.investigating": 0, "actions.warning": 1, "actions.suspension": 0,
                "actions.termination": 0, "actions.not-our-customer": 0,
                "actions.insufficient-evidence": 0},
    "2026-10": {"reports.public": 1, "reports.monitor": 2, "reports.chain": 1,
                "violations.opt-in": 1, "violations.labeling": 1, "violations.spoofing": 1,
                "categories.japanese": 1, "categories.foreign": 0, "categories.garbled": 1,
                "categories.virus": 1, "categories.insufficient": 1, "quarantined": 1,
                "notices.sent": 2, "notices.isps": 2,
                "actions.investigating": 1, "actions.warning": 0, "actions.suspension": 1,
                "actions.termination": 0, "actions.not-our-customer": 1,
                "actions.insufficient-evidence": 0},
    "2026-11": {"reports.public": 1, "reports.monitor": 0, "reports.chain": 0,
                "violations.opt-in": 0, "violations.labeling": 0, "violations.spoofing": 0,
                "categories.japanese": 1, "categories.foreign": 0, "categories.garbled": 0,
                "categories.virus": 0, "categories.insufficient": 0, "quarantined": 0,
                "notices.sent": 0, "notices.isps": 0,
                "actions.investigating": 0, "actions.warning": 0, "actions.suspension": 0,
                "actions.termination": 0, "actions.not-our-customer": 0,
                "actions.insufficient-evidence": 0},
}


class Stats(Base):
    def make_corpus(self):
        self.add_member("isp-a", "isp", ISP_NET)
        self.add_member("isp-b", "isp", "198.51.100.0/24")
        ids = self.ingest(len(CORPUS), source="monitor")
        db = sqlite3.connect(self.db)
        seqs = []
        for rid, (month, src, flags, cats, quar) in zip(ids, CORPUS):
            db.execute("UPDATE reports SET received_ms = ?, source = ?, consent = 0, flags = ?, "
                       "categories = ?, state = ?, reason = ? WHERE id = ?",
                       (MONTH_MS[month] + 3600000, src, flags, cats, quar,
                        "test" if quar else None, rid))
            seqs.append(db.execute("SELECT seq FROM reports WHERE id = ?", (rid,)).fetchone()[0])
        isp = dict(db.execute("SELECT name, id FROM members"))
        a, b = isp["isp-a"], isp["isp-b"]
        notices = [(seqs[0], a, "2026-09"), (seqs[1], a, "2026-09"),
                   (seqs[3], a, "2026-10"), (seqs[4], b, "2026-10")]
        for seq, m, month in notices:
            db.execute("INSERT INTO notices (seq, isp, sent_ms) VALUES (?, ?, ?)",
                       (seq, m, MONTH_MS[month] + 7200000))
        actions = [(seqs[0], a, 2, "2026-09"), (seqs[3], a, 1, "2026-10"),
                   (seqs[3], a, 3, "2026-10"), (seqs[4], b, 5, "2026-10")]
        for seq, m, act, month in actions:
            db.execute("INSERT INTO notice_actions (seq, isp, action, time_ms) VALUES (?,?,?,?)",
                       (seq, m, act, MONTH_MS[month] + 10800000))
            db.execute("UPDATE notices SET actions = actions + 1 WHERE seq = ? AND isp = ?",
                       (seq, m))
        db.commit()
        db.close()

    def test_stats_every_format(self):
        self.make_corpus()
        # json
        j = json.loads(self.ctl("stats", "--format", "json").stdout)
        self.assertTrue(j["deliveries_known"])   # from the audit log: none here
        self.assertEqual([m["month"] for m in j["months"]], list(EXPECTED))
        for m in j["months"]:
            fig = dict(m["figures"])
            self.assertEqual(fig.pop("deliveries.association"), 0)
            self.assertEqual(fig.pop("deliveries.enforcement"), 0)
            self.assertEqual(fig, EXPECTED[m["month"]], m["month"])
        # csv
        rows = list(csv.DictReader(io.StringIO(self.ctl("stats", "--format", "csv").stdout)))
        self.assertEqual([r["month"] for r in rows], list(EXPECTED))
        for r in rows:
            for k, v in EXPECTED[r["month"]].items():
                self.assertEqual(int(r[k]), v, (r["month"], k))
            self.assertEqual(r["deliveries.association"], "0")
        # text: figures as rows, months as columns
        text = self.ctl("stats").stdout.splitlines()
        head = text[0].split()
        self.assertEqual(head, ["FIGURE"] + list(EXPECTED))
        table = {line.split()[0]: line.split()[1:] for line in text[1:] if line.strip() and
                 not line.startswith("-")}
        for month_i, month in enumerate(EXPECTED):
            for k, v in EXPECTED[month].items():
                self.assertEqual(int(table[k][month_i]), v, (month, k))
        # range: one month
        j = json.loads(self.ctl("stats", "--from", "2026-10", "--to", "2026-10",
                                "--format", "json").stdout)
        self.assertEqual(len(j["months"]), 1)
        self.assertEqual(j["months"][0]["figures"]["reports.monitor"], 2)
        # empty months in a range are zeros
        j = json.loads(self.ctl("stats", "--from", "2026-08", "--format", "json").stdout)
        self.assertEqual(j["months"][0]["month"], "2026-08")
        self.assertEqual(j["months"][0]["figures"]["reports.public"], 0)
        for bad in (["--from", "2026-13"], ["--from", "2026-11", "--to", "2026-10"],
                    ["--format", "xml"]):
            self.assertEqual(self.ctl("stats", *bad, check=False).returncode, 64, bad)
        # svg: well-formed, every point carries its value, no script
        svg = self.ctl("stats", "--format", "svg").stdout
        root = ET.fromstring(svg)
        ns = "{http://www.w3.org/2000/svg}"
        self.assertEqual(root.tag, ns + "svg")
        self.assertEqual(root.findall(".//" + ns + "script"), [])
        self.assertNotIn("javascript", svg.lower())
        titles = {t.text for t in root.iter(ns + "title")}
        for month, fig in EXPECTED.items():
            for k in ("reports.monitor", "violations.opt-in", "notices.sent",
                      "actions.warning", "quarantined"):
                self.assertIn("%s %s: %d" % (month, k, fig[k]), titles)
        texts = [t.text for t in root.iter(ns + "text")]
        self.assertIn("Reports received, by source", texts)
        self.assertIn("month (UTC)", texts)
        self.render_png(svg)

    def render_png(self, svg):
        path = os.path.join(self.dir, "stats.svg")
        png = os.path.join(self.dir, "stats.png")
        with open(path, "w") as f:
            f.write(svg)
        if shutil.which("rsvg-convert"):
            subprocess.run(["rsvg-convert", "-o", png, path], check=True, capture_output=True,
                           timeout=60 * SLOW)
        else:
            try:
                import cairosvg
            except ImportError:
                self.skipTest("no SVG converter (librsvg2-bin, see scripts/deps.sh)")
            cairosvg.svg2png(url=path, write_to=png)
        with open(png, "rb") as f:
            data = f.read()
        self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        self.assertEqual(width, 960)
        self.assertGreater(height, 1000)
        keep = os.environ.get("SPREX_STATS_PNG")
        if keep:
            shutil.copy(png, keep)

    def test_notice_summary_median(self):
        self.make_corpus()
        out = self.ctl("notices", "--summary").stdout.splitlines()
        self.assertEqual(out[0].split()[:4], ["ISP", "SENT", "ACKED", "WITH-ACTION"])
        a = next(line for line in out if line.startswith("isp-a"))
        # isp-a: 3 notices, 2 with actions, first action 1 h after sending each
        self.assertRegex(a, r"^isp-a\s+3\s+3\s+2\s+0d 01:00:00\s+"
                            r"investigating=1,warning=1,suspension=1$")
        b = next(line for line in out if line.startswith("isp-b"))
        self.assertRegex(b, r"^isp-b\s+1\s+1\s+1\s+0d 01:00:00\s+not-our-customer=1$")
        only = self.ctl("notices", "--summary", "--isp", "isp-b").stdout
        self.assertNotIn("isp-a", only)


class PublicList(World):
    def test_members_public_json(self):
        self.add_member("vendor1", "vendor")
        self.add_member("isp1", "isp", "192.0.2.0/24")
        self.add_member("gateway1", "submitter")
        self.add_member("auditor1", "auditor")
        self.ctl("member", "remove", "auditor1")
        j = json.loads(self.ctl("members", "--public", "--format", "json").stdout)
        names = {m["name"]: m for m in j["members"]}
        self.assertEqual(set(names), {"vendor1", "isp1", "auditor1"})   # no submitter
        self.assertEqual(set(names["isp1"]), {"name", "role", "since", "until"})
        self.assertIsNone(names["isp1"]["until"])
        self.assertRegex(names["auditor1"]["until"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertNotIn("gateway1", self.ctl("members", "--public").stdout)
        self.assertEqual(self.ctl("members", "--public", "--format", "xml",
                                  check=False).returncode, 64)


if __name__ == "__main__":
    unittest.main()
