"""sprex-agent running subscriptions against the real sprexd: the Maildir,
JSON Lines and exec sinks, at-least-once across SIGKILL of the agent,
parking and replay, ISP notices and actions, and status."""
import base64
import json
import os
import signal
import sqlite3
import time
import unittest

from corpus import SpamWorld, wait_until
from harness import SLOW, SPREX_AGENT, run


def maildir_ids(path):
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        if os.path.isdir(d):
            out += [n.split(":")[0] for n in os.listdir(d)]
    return out


class Agent(SpamWorld):
    heartbeat = "1s"
    extra_conf = "ack_wait = 300ms\nack_wait_max = 2s\nmax_deliveries = 3\n"

    def sub(self, name, feed, sink, start="earliest", **kw):
        s = "\n[subscription %s]\nfeed = %s\nstart = %s\nsink = %s\n" % (name, feed, start, sink)
        for k, v in kw.items():
            s += "%s = %s\n" % (k, v)
        return s

    def agent_cmd(self, name, *args, check=False):
        conf = os.path.join(self.dir, "agent-%s.conf" % name)
        return run([SPREX_AGENT, "--config", conf, *args], check=check)

    # ---------------------------------------------------------- tests

    def test_maildir_receives_with_sprex_fields_and_status(self):
        self.add_member("vendor-a", "vendor")
        self.start_server()
        md = os.path.join(self.dir, "Maildir")
        status = os.path.join(self.dir, "status.json")
        ids = self.ingest(3)
        self.start_agent("vendor-a", self.sub("main", "association", "maildir", path=md),
                         heartbeat="1s", status_file=status)
        wait_until(lambda: len(maildir_ids(md)) == 3, what="3 files in the Maildir")
        self.assertEqual(sorted(maildir_ids(md)), sorted(ids))
        name = os.listdir(os.path.join(md, "new"))[0]
        with open(os.path.join(md, "new", name), "rb") as f:
            text = f.read()
        self.assertIn(b"X-Sprex-Report-Id: " + name.encode(), text)
        self.assertIn(b"X-Sprex-Source: monitor", text)
        self.assertIn(b"X-Sprex-Source-IP: 203.0.113.7", text)
        self.assertIn(b"Received: from bulk", text)
        # Acked: nothing left pending on the server.
        db = sqlite3.connect(self.db)
        wait_until(lambda: db.execute("SELECT count(*) FROM sub_pending").fetchone()[0] == 0,
                   what="acks stored")
        st = wait_until(lambda: os.path.exists(status) and json.load(open(status)),
                        what="status file")
        self.assertEqual(st["subscriptions"][0]["name"], "main")
        out = self.agent_cmd("vendor-a", "status", check=True).stdout
        self.assertIn('"main"', out)
        self.assertIn('"stalled"', out)

    def test_jsonl_sink(self):
        self.add_member("vendor-a", "vendor")
        self.start_server()
        path = os.path.join(self.dir, "reports.jsonl")
        ids = self.ingest(2)
        self.start_agent("vendor-a", self.sub("j", "association", "jsonl", path=path))
        wait_until(lambda: os.path.exists(path) and
                   len(open(path).read().splitlines()) == 2, what="2 JSON lines")
        rows = [json.loads(line) for line in open(path)]
        self.assertEqual(sorted(r["report_id"] for r in rows), sorted(ids))
        mail = base64.b64decode(rows[0]["raw_mail"])
        self.assertTrue(mail.startswith(b"Received:"))

    def test_agent_killed_loses_nothing(self):
        """SIGKILL the agent while it stores and acks; restarted, it ends
        with exactly one file per report and nothing pending."""
        self.add_member("vendor-a", "vendor")
        self.start_server()
        md = os.path.join(self.dir, "Maildir")
        ids = self.ingest(150)
        # One report in flight at a time: slow enough to be killed mid-way.
        sections = self.sub("main", "association", "maildir", path=md, window_count=1)
        kills = 0
        for round_ in range(5):
            have = len(maildir_ids(md))
            if have >= len(ids) - 5:
                break
            a = self.start_agent("vendor-a", sections)
            # Kill it mid-stream: after a few more reports were written.
            wait_until(lambda: len(maildir_ids(md)) >= have + 3,
                       what="progress in round %d" % round_)
            a.signal(signal.SIGKILL)
            a.wait(10)
            self.procs.remove(a)
            a.release()
            kills += 1
        self.assertGreaterEqual(kills, 3)
        a = self.start_agent("vendor-a", sections)
        a.wait_for(r"subscription main attached")
        wait_until(lambda: len(maildir_ids(md)) == len(ids), timeout=30, what="every report")
        got = maildir_ids(md)
        self.assertEqual(len(got), len(set(got)), "a report was stored twice")
        self.assertEqual(sorted(got), sorted(ids))
        db = sqlite3.connect(self.db)
        wait_until(lambda: db.execute("SELECT count(*) FROM sub_pending").fetchone()[0] == 0,
                   what="every report acked")

    def test_exec_failures_park_and_replay(self):
        self.add_member("vendor-a", "vendor")
        self.start_server()
        flag = os.path.join(self.dir, "fixed")
        log = os.path.join(self.dir, "exec.log")
        # 65 for the first report (rejected: parked at once), 3 for the
        # second until "fixed" exists (naked until parked), then 0.
        cmd = ("if [ -e %s ]; then echo $SPREX_REPORT_ID >> %s; exit 0; fi; "
               "[ \"$SPREX_SEQ\" = 1 ] && exit 65; exit 3" % (flag, log))
        ids = self.ingest(2)
        a = self.start_agent("vendor-a", self.sub("x", "association", "exec", command=cmd))
        a.wait_for(r"rejected by the sink")
        a.wait_for(r"parked after 3 deliveries", timeout=30)
        out = self.agent_cmd("vendor-a", "parked", "list", "--subscription", "x",
                             check=True).stdout
        self.assertIn(ids[0], out)
        self.assertIn(ids[1], out)
        self.assertIn("rejected by the member", out)
        self.assertIn("not acked after 3 deliveries", out)
        open(flag, "w").close()
        out = self.agent_cmd("vendor-a", "parked", "replay", "--subscription", "x",
                             check=True).stdout
        self.assertIn("replayed 2", out)
        wait_until(lambda: os.path.exists(log) and
                   sorted(open(log).read().split()) == sorted(ids), what="replayed reports")
        out = self.agent_cmd("vendor-a", "parked", "list", "--subscription", "x",
                             check=True).stdout
        self.assertIn("no parked reports", out)
        r = self.agent_cmd("vendor-a", "parked", "list", "--subscription", "nope")
        self.assertEqual(r.returncode, 65, r.stderr)

    def test_isp_notice_and_action(self):
        self.add_member("isp-a", "isp", "203.0.113.0/24")
        self.add_member("isp-b", "isp", "198.51.100.0/24")
        self.start_server()
        md = os.path.join(self.dir, "isp-a")
        mine = self.ingest(2, ip="203.0.113.9")
        other = self.ingest(1, ip="198.51.100.9")
        self.start_agent("isp-a", self.sub("n", "notices", "maildir", path=md))
        wait_until(lambda: len(maildir_ids(md)) == 2, what="2 notices")
        time.sleep(0.5 * SLOW)
        self.assertEqual(sorted(maildir_ids(md)), sorted(mine))
        r = self.agent_cmd("isp-a", "action", mine[0], "--taken", "warning", "--note",
                           "customer warned", check=True)
        self.assertIn("warning recorded", r.stdout)
        r = self.agent_cmd("isp-a", "action", other[0], "--taken", "termination")
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertIn("FORBIDDEN", r.stderr.upper())
        r = self.agent_cmd("isp-a", "action", mine[1], "--taken", "nonsense")
        self.assertEqual(r.returncode, 64)


if __name__ == "__main__":
    unittest.main()
