"""sprexd killed with SIGKILL at random moments while a submitter submits
and a vendor receives and acks, 50 rounds: every report whose Submitted was
received is stored exactly once, the subscription resumes exactly where its
committed acks left it, nothing is lost, and the database stays intact."""
import os
import random
import signal
import sqlite3
import threading
import time
import unittest

from harness import SLOW, World, pb
from corpus import spam

ROUNDS = int(os.environ.get("SPREX_CRASH_ROUNDS", "50"))


class Client(threading.Thread):
    """Reconnects to whatever port the current server listens on."""

    def __init__(self, world, name):
        super().__init__(daemon=True)
        self.world = world
        self.name_ = name
        self.stop = False
        self.error = None

    def run(self):
        try:
            while not self.stop:
                port = self.world.live_port
                if port is None:
                    time.sleep(0.01)
                    continue
                try:
                    c = self.world.connect(self.name_, port=port)
                    c.hello()
                    c.recv_kind("welcome", timeout=5)
                    self.session(c)
                except (OSError, AssertionError):
                    pass
                finally:
                    try:
                        c.close()
                    except Exception:
                        pass
                time.sleep(0.02)
        except Exception as e:  # surfaced by the test
            self.error = e


class Submitter(Client):
    def __init__(self, world):
        super().__init__(world, "submitter-a")
        self.next = 0
        self.answered = {}         # client id -> report id
        self.sent = set()

    def session(self, c):
        while not self.stop:
            cid = "crash-%d" % self.next
            f = pb.Frame()
            f.id = self.next + 1
            f.submit.client_msg_id = cid
            f.submit.source = pb.SOURCE_MONITOR
            f.submit.raw_mail = spam(self.next)
            self.sent.add(cid)
            c.send(f)
            a = c.recv_kind("submitted", timeout=5)
            self.answered[cid] = a.submitted.report_id
            self.next += 1


class Subscriber(Client):
    def __init__(self, world):
        super().__init__(world, "vendor-a")
        self.received = set()      # report ids

    def session(self, c):
        f = pb.Frame()
        f.id = 1
        f.subscribe.name = "crash"
        f.subscribe.feed = pb.FEED_ASSOCIATION
        f.subscribe.start.earliest = True
        c.send(f)
        ok = c.recv_kind("subscribed", timeout=5).subscribed
        while not self.stop:
            f = c.recv(5)
            if f is None:
                return
            if f.WhichOneof("msg") != "deliver":
                continue
            self.received.add(f.deliver.report_id)
            a = pb.Frame()
            a.ack.sub_id = ok.sub_id
            r = a.ack.ranges.add()
            r.first = r.last = f.deliver.seq
            c.send(a)


class Crash(World):
    extra_conf = "ack_wait = 1s\n"

    def connect(self, name=None, ctx=None, port=None, **kw):
        saved = self.port
        self.port = port or self.port
        try:
            return super().connect(name, ctx, **kw)
        finally:
            self.port = saved

    def test_sigkill_rounds(self):
        self.add_member("submitter-a", "submitter")
        self.add_member("vendor-a", "vendor")
        self.live_port = None
        sub, rcv = Submitter(self), Subscriber(self)
        sub.start()
        rcv.start()
        rnd = random.Random(20261128)
        for i in range(ROUNDS):
            p = self.start_server()
            self.live_port = self.port
            time.sleep(rnd.uniform(0.05, 0.4) * SLOW)
            self.live_port = None
            p.signal(signal.SIGKILL)
            p.wait(10)
            self.procs.remove(p)
            p.release()
        sub.stop = rcv.stop = True
        sub.join(10)
        rcv.join(10)
        self.assertIsNone(sub.error)
        self.assertIsNone(rcv.error)
        self.assertGreater(len(sub.answered), ROUNDS, "too little work got through")

        db = sqlite3.connect(self.db)
        self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        stored = dict(db.execute("SELECT client_msg_id, id FROM reports"))
        # Exactly once: the unique (submitter, client id) holds it; every
        # answered submission is there under the id it was answered with.
        for cid, rid in sub.answered.items():
            self.assertEqual(stored.get(cid), rid, cid)
        self.assertTrue(set(stored) <= sub.sent)
        # Where the committed acks left the subscription.
        (sid, position), = db.execute("SELECT id, position FROM subscriptions")
        pending = {r for r, in db.execute(
            "SELECT r.id FROM sub_pending p JOIN reports r ON r.seq = p.seq "
            "WHERE p.sub = ?", (sid,))}
        beyond = {r for r, in db.execute("SELECT id FROM reports WHERE seq >= ?", (position,))}
        db.close()

        self.start_server()
        c = self.connect("vendor-a")
        c.hello()
        c.recv_kind("welcome")
        f = pb.Frame()
        f.subscribe.name = "crash"
        f.subscribe.feed = pb.FEED_ASSOCIATION
        c.send(f)
        ok = c.recv_kind("subscribed").subscribed
        self.assertEqual(ok.position, position)
        again = set()
        while True:
            try:
                f = c.recv(1.5 * SLOW)
            except OSError:
                break  # quiet: everything owed was sent
            if f is None:
                break
            if f.WhichOneof("msg") == "deliver":
                again.add(f.deliver.report_id)
                a = pb.Frame()
                a.ack.sub_id = ok.sub_id
                r = a.ack.ranges.add()
                r.first = r.last = f.deliver.seq
                c.send(a)
        print("crash: %d rounds, %d submissions answered, %d reports stored, %d received "
              "before the last restart, %d pending and %d beyond the position after it"
              % (ROUNDS, len(sub.answered), len(stored), len(rcv.received), len(pending),
                 len(beyond)))
        self.assertEqual(again, pending | beyond)
        # Nothing lost: every stored report reached the subscriber.
        self.assertEqual(rcv.received | again, set(stored.values()))
        c.close()


if __name__ == "__main__":
    unittest.main()
