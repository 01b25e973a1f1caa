"""Durable subscriptions over the wire, as members see them: Subscribe,
Deliver in seq order, Ack, redelivery with backoff, parking and replay,
supersede, gaps after retention, ISP notices and actions, and who receives
what (DESIGN §1) end to end with real reports."""
import os
import sqlite3
import time
import unittest

from harness import SLOW, World, pb

# A synthetic spam whose first untrusted hop is ip; advertising so that a
# monitor copy is flagged opt-in.
SPAM = (
    "Received: from bulk{n}.example.net (bulk{n}.example.net [{ip}])\r\n"
    "\tby mx.monitor.example with SMTP id X{n} for <trap{n}@monitor.example>;\r\n"
    "\tSat, 28 Nov 2026 11:00:00 +0900\r\n"
    "From: promo{n}@bulk.example.net\r\n"
    "To: trap{n}@monitor.example\r\n"
    "Subject: Big sale {n}\r\n"
    "Date: Sat, 28 Nov 2026 11:00:00 +0900\r\n"
    "Message-ID: <promo-{n}@bulk.example.net>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "Everything must go, buy now at a discount: http://sale.example.net/{n}\r\n"
)


def spam(n, ip="203.0.113.7"):
    return SPAM.format(n=n, ip=ip).encode()


class Delivery(World):
    extra_conf = ""

    def setUp(self):
        super().setUp()
        self.n = 0
        self.inbox = os.path.join(self.dir, "inbox")
        os.mkdir(self.inbox)

    def ingest(self, count=1, source="monitor", ip="203.0.113.7", consent=None):
        paths = []
        for _ in range(count):
            self.n += 1
            p = os.path.join(self.inbox, "m%d.eml" % self.n)
            with open(p, "wb") as f:
                f.write(spam(self.n, ip))
            paths.append(p)
        args = ["ingest", "--source", source]
        if consent:
            args += ["--consent", consent]
        out = self.ctl(*args, *paths).stdout
        return [int(line.split(" seq ")[1].split(":")[0]) for line in out.splitlines()
                if " stored " in line]

    def session(self, name):
        c = self.connect(name)
        c.hello()
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

    def delivers(self, c, count, timeout=10.0):
        out = []
        while len(out) < count:
            f = c.recv_kind("deliver", timeout)
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
        seqs = self.ingest(3)
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
        more = self.ingest(1)
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


if __name__ == "__main__":
    unittest.main()
