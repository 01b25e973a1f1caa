"""Durable subscriptions over the wire, as members see them: Subscribe,
Deliver in seq order, Ack, redelivery with backoff, parking and replay,
supersede, gaps after retention, ISP notices and actions, and who receives
what (DESIGN §1) end to end with real reports."""
import os
import sqlite3
import time
import unittest

from corpus import SpamWorld, forwarded, spam
from harness import SLOW, pb

# DESIGN §1, written as plainly as possible: which feed of which role gets
# a report with these stored properties.
PUBLIC, MONITOR, CHAIN = 1, 2, 3
C_ASSOC, C_ISP, C_ENF = 1, 2, 4


def allowed(role, member_id, feed, r):
    src, consent, state, flags, isp = r
    if state != 0:
        return False
    if role == "vendor" and feed == pb.FEED_ASSOCIATION:
        return src == MONITOR or (src == PUBLIC and consent & C_ASSOC)
    if role == "vendor" and feed == pb.FEED_CHAIN:
        return src == CHAIN
    if role == "isp" and feed == pb.FEED_NOTICES:
        return isp == member_id and (src == MONITOR or (src == PUBLIC and consent & C_ISP))
    if role == "enforcement" and feed == pb.FEED_ENFORCEMENT:
        return flags != 0 and (src == MONITOR or (src == PUBLIC and consent & C_ENF))
    return False


class Delivery(SpamWorld):
    extra_conf = ""

    def session(self, name, **hello):
        c = self.connect(name)
        c.hello(**hello)
        c.recv_kind("welcome")
        return c

    def subscribe(self, c, name, feed, start="earliest", reset=False, window=0, rid=1,
                  expect="subscribed"):
        f = pb.Frame()
        f.id = rid
        f.subscribe.name = name
        f.subscribe.feed = feed
        if start == "earliest":
            f.subscribe.start.earliest = True
        elif start == "new":
            f.subscribe.start.new_only = True
        else:
            f.subscribe.start.from_seq = start
        f.subscribe.reset = reset
        f.subscribe.window_count = window
        c.send(f)
        return c.recv_kind(expect)

    def ack(self, c, sub_id, first, last=None, name=""):
        f = pb.Frame()
        f.ack.sub_id = sub_id
        r = f.ack.ranges.add()
        r.first = first
        r.last = last or first
        f.ack.name = name
        c.send(f)

    def delivers(self, c, count, timeout=10.0, late=()):
        """The next count Deliver frames. Heartbeats between them are passed
        over, and so are Delivers of the seqs in late (redeliveries sent
        before an ack for them arrived)."""
        out = []
        while len(out) < count:
            f = c.recv(timeout)
            if f is None:
                raise AssertionError("connection closed while waiting for deliver")
            kind = f.WhichOneof("msg")
            if kind in ("ping", "pong", "heartbeat"):
                continue
            if kind != "deliver":
                raise AssertionError("expected deliver, got %s: %s" % (kind, f))
            if f.deliver.seq in late:
                continue
            out.append(f.deliver)
        return out

    def nothing(self, c, kind="deliver", wait=0.6):
        """Asserts no frame of kind arrives within wait seconds."""
        end = time.time() + wait * SLOW
        while time.time() < end:
            try:
                f = c.recv(max(0.05, end - time.time()))
            except OSError:
                return
            if f is None:
                return
            self.assertNotEqual(f.WhichOneof("msg"), kind, f)

    # ---------------------------------------------------------- tests

    def test_vendor_receives_in_order_and_acks(self):
        self.add_member("vendor-a", "vendor")
        self.start_server()
        seqs = self.ingest_seqs(3)
        c = self.session("vendor-a")
        ok = self.subscribe(c, "main", pb.FEED_ASSOCIATION).subscribed
        self.assertTrue(ok.created)
        got = self.delivers(c, 3)
        self.assertEqual([d.seq for d in got], seqs)
        for d in got:
            self.assertEqual(d.delivery_count, 1)
            self.assertEqual(d.meta.source, pb.SOURCE_MONITOR)
            self.assertTrue(d.raw_mail.startswith(b"Received:"))
            self.assertEqual(d.meta.source_ip, "203.0.113.7")
        self.ack(c, ok.sub_id, seqs[0], seqs[-1])
        # Live: a report stored by sprexctl while attached arrives by itself.
        more = self.ingest_seqs(1)
        d = self.delivers(c, 1)[0]
        self.assertEqual(d.seq, more[0])
        self.ack(c, ok.sub_id, d.seq)
        c.close()
        # Re-attach: nothing pending, nothing again.
        c = self.session("vendor-a")
        ok = self.subscribe(c, "main", pb.FEED_ASSOCIATION).subscribed
        self.assertFalse(ok.created)
        self.assertEqual(ok.position, more[0] + 1)
        self.nothing(c)


    def drain(self, c, sub_id, quiet=1.0):
        """Every report delivered until the subscription is quiet, acked."""
        seqs = set()
        while True:
            try:
                f = c.recv(quiet * SLOW)
            except OSError:
                f = None
            if f is None:
                return seqs
            if f.WhichOneof("msg") == "deliver":
                self.assertNotIn(f.deliver.seq, seqs)
                seqs.add(f.deliver.seq)
                self.ack(c, sub_id, f.deliver.seq)

    def test_who_receives_what_matrix(self):
        """Every role against reports of every source, consent scope,
        violation state and ISP: each member gets exactly what DESIGN §1
        allows (computed from the stored metadata by an independent oracle)."""
        members = [("vendor-a", "vendor"), ("isp-a", "isp", "203.0.113.0/24"),
                   ("isp-b", "isp", "198.51.100.0/24"), ("enf-a", "enforcement"),
                   ("auditor-a", "auditor"), ("submitter-a", "submitter")]
        for m in members:
            self.add_member(*m)
        ips = ["203.0.113.7", "198.51.100.7", "192.0.2.7"]
        n = 0
        consents = ["", "association", "isp", "enforcement", "association,isp",
                    "association,enforcement", "isp,enforcement",
                    "association,isp,enforcement"]
        for source in ("public", "monitor", "chain"):
            for consent in (consents if source == "public" else [""]):
                paths = []
                for ip in ips:
                    for advert in (True, False):
                        n += 1
                        mail = spam(n, ip, advert)
                        if source == "public":
                            mail = forwarded(n, mail)
                        p = os.path.join(self.inbox, "x%d.eml" % n)
                        with open(p, "wb") as f:
                            f.write(mail)
                        paths.append(p)
                args = ["ingest", "--source", source]
                if consent:
                    args += ["--consent", consent]
                self.ctl(*args, *paths)
        self.start_server()
        db = sqlite3.connect(self.db)
        rows = {seq: (src, consent, state, flags, isp or 0) for seq, src, consent, state,
                flags, isp in db.execute("SELECT seq, source, consent, state, flags, isp "
                                         "FROM reports")}
        ids = dict(db.execute("SELECT name, id FROM members"))
        self.assertEqual(len(rows), n)
        self.assertTrue(any(r[3] for r in rows.values()), "no flagged report in the corpus")
        self.assertTrue(any(not r[3] for r in rows.values()), "every report flagged")
        feeds = [pb.FEED_ASSOCIATION, pb.FEED_NOTICES, pb.FEED_ENFORCEMENT, pb.FEED_CHAIN]
        for m in members:
            name, role = m[0], m[1]
            c = self.session(name)
            for i, feed in enumerate(feeds):
                want = {seq for seq, r in rows.items() if allowed(role, ids[name], feed, r)}
                may = any(allowed(role, ids[name], feed, (s_, 7, 0, 7, ids[name]))
                          for s_ in (PUBLIC, MONITOR, CHAIN))
                if not may:
                    e = self.subscribe(c, "f%d" % feed, feed, rid=10 + i, expect="error")
                    self.assertEqual(e.error.code, pb.ERROR_FORBIDDEN, (name, feed))
                    continue
                ok = self.subscribe(c, "f%d" % feed, feed, rid=10 + i).subscribed
                got = self.drain(c, ok.sub_id)
                self.assertEqual(got, want, "%s on feed %d" % (name, feed))
                self.assertTrue(want, "%s on feed %d: the corpus gives it nothing" % (name, feed))
            c.close()

    def test_conflict_reset_and_supersede(self):
        self.add_member("vendor-a", "vendor")
        self.start_server()
        seqs = self.ingest_seqs(2)
        c1 = self.session("vendor-a")
        ok = self.subscribe(c1, "s", pb.FEED_ASSOCIATION).subscribed
        self.assertEqual(len(self.delivers(c1, 2)), 2)
        # Another session of the member takes the subscription over: the
        # first gets GoAway(SUPERSEDED); unacked reports go to the second.
        c2 = self.session("vendor-a")
        ok2 = self.subscribe(c2, "s", pb.FEED_ASSOCIATION).subscribed
        self.assertFalse(ok2.created)
        g = c1.recv_kind("goaway")
        self.assertEqual(g.goaway.reason, pb.GOAWAY_SUPERSEDED)
        got = self.delivers(c2, 2)
        self.assertEqual(sorted(d.seq for d in got), seqs)
        self.assertTrue(all(d.delivery_count == 2 for d in got))
        # An ack by name from a third session of the same member counts.
        c3 = self.session("vendor-a")
        self.ack(c3, 0, seqs[0], seqs[1], name="s")
        time.sleep(0.3 * SLOW)
        # A different filter without reset is a conflict; with reset it
        # starts over from the new start.
        f = pb.Frame()
        f.id = 7
        f.subscribe.name = "s"
        f.subscribe.feed = pb.FEED_ASSOCIATION
        f.subscribe.filter.sources.append(pb.SOURCE_PUBLIC)
        c3.send(f)
        e = c3.recv_kind("error")
        self.assertEqual(e.error.code, pb.ERROR_CONFLICT)
        f.subscribe.reset = True
        f.subscribe.start.new_only = True
        c3.send(f)
        self.assertEqual(c3.recv_kind("subscribed").subscribed.position, seqs[-1] + 1)
        db = sqlite3.connect(self.db)
        self.assertEqual(db.execute("SELECT count(*) FROM sub_pending").fetchone()[0], 0)

    def test_redelivery_window_and_stalled_heartbeat(self):
        self.add_member("vendor-a", "vendor")
        self.extra_conf = "ack_wait = 300ms\n"
        self.start_server(heartbeat="1s")
        seqs = self.ingest_seqs(5)
        c = self.session("vendor-a", heartbeat_ms=1000)
        ok = self.subscribe(c, "w", pb.FEED_ASSOCIATION, window=2).subscribed
        first = self.delivers(c, 2)
        self.assertEqual([d.seq for d in first], seqs[:2])
        # Window full: nothing more until an ack; the same two come back.
        again = self.delivers(c, 2, timeout=5)
        self.assertEqual([d.seq for d in again], seqs[:2])
        self.assertTrue(all(d.delivery_count == 2 for d in again))
        # The next heartbeat; redeliveries of the same two may come first
        # (backoff 600 ms against heartbeats every second), nothing else.
        hb = None
        while hb is None:
            f = c.recv(5)
            self.assertIsNotNone(f, "closed while waiting for a heartbeat")
            kind = f.WhichOneof("msg")
            if kind == "deliver":
                self.assertIn(f.deliver.seq, seqs[:2])
            elif kind == "heartbeat":
                hb = f.heartbeat
            else:
                self.assertIn(kind, ("ping", "pong"), f)
        st = hb.subscriptions[0]
        self.assertTrue(st.stalled)
        self.assertEqual(st.pending, 2)
        self.ack(c, ok.sub_id, seqs[0], seqs[1])
        got = [d.seq for d in self.delivers(c, 2, late=seqs[:2])]
        self.assertEqual(got, seqs[2:4])

    def test_retention_purge_gives_gap(self):
        self.add_member("vendor-a", "vendor")
        self.start_server()
        old = self.ingest_seqs(3)
        c = self.session("vendor-a")
        ok = self.subscribe(c, "g", pb.FEED_ASSOCIATION).subscribed
        self.assertEqual(len(self.delivers(c, 3)), 3)
        c.close()
        # Purge everything so far while the subscription is away, then add more.
        time.sleep(1.1)  # --before has second resolution and may not be in the future
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        r = self.ctl("purge", "--before", now)
        self.assertIn("3", r.stdout)
        new = self.ingest_seqs(2)
        c = self.session("vendor-a")
        ok = self.subscribe(c, "g", pb.FEED_ASSOCIATION).subscribed
        g = c.recv_kind("gap").gap
        self.assertEqual((g.from_seq, g.to_seq), (old[0], old[-1]))
        got = [d.seq for d in self.delivers(c, 2)]
        self.assertEqual(got, new)

    def test_forbidden_and_invalid_subscribe(self):
        self.add_member("vendor-a", "vendor")
        self.start_server()
        c = self.session("vendor-a")
        e = self.subscribe(c, "n", pb.FEED_NOTICES, expect="error")
        self.assertEqual(e.error.code, pb.ERROR_FORBIDDEN)
        e = self.subscribe(c, "bad name", pb.FEED_ASSOCIATION, rid=2, expect="error")
        self.assertEqual(e.error.code, pb.ERROR_INVALID)
        f = pb.Frame()
        f.id = 3
        f.subscribe.name = "f"
        f.subscribe.feed = pb.FEED_ASSOCIATION
        f.subscribe.filter.flags_any = 1 << 9
        c.send(f)
        self.assertEqual(c.recv_kind("error").error.code, pb.ERROR_INVALID)
        f = pb.Frame()
        f.id = 4
        f.notice_action.report_id = "r" + "a" * 25
        f.notice_action.action = pb.ACTION_WARNING
        c.send(f)
        self.assertEqual(c.recv_kind("error").error.code, pb.ERROR_FORBIDDEN)


if __name__ == "__main__":
    unittest.main()
