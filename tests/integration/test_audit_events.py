"""Every kind of event sprexd and sprexctl perform leaves its audit record
(DESIGN §4): connect, refused handshake, subscribe, attach, deliver, ack,
nak, park, gap, replay, submit, quarantine, notice action, operator
commands, purge; no record holds mail content or a reporter identifier;
the log verifies and an auditor cannot subscribe."""
import json
import os
import ssl
import time
import unittest

from corpus import SpamWorld, spam
from harness import SLOW, SRC, pb
from test_intake import MONITOR_SECRETS, REPORTER_SECRETS


class AuditEvents(SpamWorld):
    extra_conf = "ack_wait = 200ms\nack_wait_max = 400ms\nmax_deliveries = 2\n"

    def records(self):
        r = self.ctl("audit", "export", "--format", "jsonl")
        return [json.loads(line) for line in r.stdout.splitlines()]

    def wait_record(self, event, pred=lambda r: True, timeout=5.0):
        end = time.time() + timeout * SLOW
        while time.time() < end:
            hits = [r for r in self.records() if r["event"] == event and pred(r)]
            if hits:
                return hits
            time.sleep(0.1)
        self.fail("no %s record; log: %s" % (event, [r["event"] for r in self.records()]))

    def session(self, name):
        c = self.connect(name)
        c.hello()
        c.recv_kind("welcome")
        return c

    def test_every_event_kind(self):
        self.add_member("vendor-a", "vendor")
        self.add_member("isp-a", "isp", "203.0.113.0/24")
        self.add_member("sub-a", "submitter")
        self.add_member("aud-a", "auditor")
        self.start_server()

        # A refused handshake: a key nobody registered.
        self.pki.member("stranger")
        c = self.connect("stranger")
        c.hello()
        self.assertEqual(c.recv_kind("error").error.code, pb.ERROR_UNKNOWN_MEMBER)
        c.close()
        self.wait_record("auth-fail", lambda r: r["outcome"] == "unknown key")

        # Submit (stored, duplicate) and a quarantined submit.
        s = self.session("sub-a")
        for cid, mail in (("c1", spam(1)), ("c1", spam(1)),
                          ("zip", open(os.path.join(SRC, "tests/data/reports/monitor-zip.eml"),
                                       "rb").read())):
            f = pb.Frame()
            f.id = 1
            f.submit.client_msg_id = cid
            f.submit.source = pb.SOURCE_MONITOR
            f.submit.raw_mail = mail
            s.send(f)
            s.recv_kind("submitted")
        s.close()
        subs = self.wait_record("submit")
        self.assertEqual(sorted(r["outcome"] for r in subs), ["duplicate", "stored", "stored"])
        self.wait_record("quarantine")
        self.wait_record("connect", lambda r: r["member"] == "sub-a")

        # Subscribe, deliver, nak, redeliveries, park, replay, ack.
        v = self.session("vendor-a")
        f = pb.Frame()
        f.id = 2
        f.subscribe.name = "main"
        f.subscribe.feed = pb.FEED_ASSOCIATION
        f.subscribe.start.earliest = True
        v.send(f)
        sub_id = v.recv_kind("subscribed").subscribed.sub_id
        d = v.recv_kind("deliver").deliver
        n = pb.Frame()
        n.nak.sub_id = sub_id
        n.nak.seq = d.seq
        n.nak.delay_ms = 10
        v.send(n)
        while True:  # redelivered once (count 2), then parked (max_deliveries = 2)
            fr = v.recv(10)
            self.assertIsNotNone(fr)
            if fr.WhichOneof("msg") == "parked":
                break
        self.wait_record("subscribe", lambda r: "sub=main" in r["object"])
        self.wait_record("deliver", lambda r: d.report_id in r["object"])
        self.wait_record("nak", lambda r: d.report_id in r["object"])
        self.wait_record("park", lambda r: d.report_id in r["object"])
        q = pb.Frame()
        q.id = 3
        q.parked_query.name = "main"
        q.parked_query.replay = True
        v.send(q)
        while True:
            fr = v.recv(10)
            self.assertIsNotNone(fr)
            if fr.WhichOneof("msg") == "parked_list":
                self.assertEqual(fr.parked_list.replayed, 1)
                break
        d = v.recv_kind("deliver", timeout=10).deliver
        a = pb.Frame()
        a.ack.sub_id = sub_id
        r = a.ack.ranges.add()
        r.first = r.last = d.seq
        v.send(a)
        self.wait_record("replay")
        self.wait_record("ack", lambda r: "sub=main" in r["object"])
        v.close()

        # Attach again, then a purge behind it gives a gap.
        more = self.ingest_rows(2, ip="203.0.113.5")
        time.sleep(1.1)
        self.ctl("purge", "--before", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self.wait_record("purge")
        v = self.session("vendor-a")
        f.subscribe.ClearField("start")
        v.send(f)
        v.recv_kind("subscribed")
        v.recv_kind("gap")
        self.wait_record("attach", lambda r: "sub=main" in r["object"])
        self.wait_record("gap", lambda r: "sub=main" in r["object"])
        v.close()

        # An ISP's notice and its action.
        new = self.ingest_rows(1, ip="203.0.113.6")
        isp = self.session("isp-a")
        f = pb.Frame()
        f.id = 4
        f.subscribe.name = "n"
        f.subscribe.feed = pb.FEED_NOTICES
        f.subscribe.start.earliest = True
        isp.send(f)
        isp.recv_kind("subscribed")
        d = isp.recv_kind("deliver").deliver
        self.assertEqual(d.report_id, new[0][0])
        act = pb.Frame()
        act.id = 5
        act.notice_action.report_id = d.report_id
        act.notice_action.action = pb.ACTION_WARNING
        isp.send(act)
        isp.recv_kind("notice_action_ok")
        self.wait_record("notice-action", lambda r: d.report_id in r["object"])
        isp.close()

        # An auditor may query, never subscribe.
        aud = self.session("aud-a")
        f.id = 6
        f.subscribe.name = "peek"
        f.subscribe.feed = pb.FEED_ASSOCIATION
        aud.send(f)
        self.assertEqual(aud.recv_kind("error").error.code, pb.ERROR_FORBIDDEN)
        aud.close()

        # Operator commands carry the OS user; ingest is one of them.
        ops = self.wait_record("operator")
        self.assertTrue(all(r["os_user"] for r in ops))
        self.assertTrue(any("ingest" in r["object"] for r in ops))

        # Nothing of any mail's content or its addressees in the log.
        self.stop_server()
        log = json.dumps(self.records())
        for secret in REPORTER_SECRETS + MONITOR_SECRETS + [b"trap1@monitor.example",
                                                            b"Big sale", b"sale.example.net"]:
            self.assertNotIn(secret.decode(), log)
        kinds = {r["event"] for r in self.records()}
        for k in ("connect", "auth-fail", "subscribe", "attach", "deliver", "ack", "nak",
                  "park", "gap", "replay", "submit", "quarantine", "notice-action",
                  "operator", "purge"):
            self.assertIn(k, kinds)
        # The log, with the checkpoint signed at shutdown, verifies.
        r = self.ctl("audit", "verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
