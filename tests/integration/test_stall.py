"""A subscriber that reads nothing while 20,000 reports are ingested: the
server's memory stays under a fixed bound (docs/subscriptions.md), another
subscriber keeps receiving everything, and the stalled one's heartbeats say
stalled."""
import os
import subprocess
import time
import unittest

from harness import SANITIZED, SLOW, SPREXCTL, World, pb
from corpus import spam

REPORTS = int(os.environ.get("SPREX_STALL_REPORTS", "20000"))
# The bound the docs state for this configuration: the process's baseline,
# plus the report cache, plus per session its window and output watermark.
CACHE_MB = 16
BOUND_MB = 64 + CACHE_MB + 2 * (8 + 1)


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


class Stall(World):
    heartbeat = "1s"
    extra_conf = ("cache_bytes = %dM\noutput_high_water = 1M\noutput_low_water = 256K\n"
                  "window_bytes = 8M\n" % CACHE_MB)

    def test_stalled_subscriber_costs_bounded_memory(self):
        try:
            self.stalled()
        except Exception:
            print(self.server.output()[-4000:] if self.server else "")
            raise

    def stalled(self):
        self.add_member("vendor-live", "vendor")
        self.add_member("vendor-stuck", "vendor")
        # The mail is written first: sessions are silent meanwhile.
        # Ingest in files of 500 by two sprexctl processes at a time.
        inbox = os.path.join(self.dir, "inbox")
        os.mkdir(inbox)
        batches = []
        for b in range(0, REPORTS, 500):
            d = os.path.join(inbox, "b%d" % b)
            os.mkdir(d)
            for n in range(b, min(REPORTS, b + 500)):
                with open(os.path.join(d, "%d.eml" % n), "wb") as fh:
                    fh.write(spam(n))
            batches.append(d)
        self.start_server()
        pid = self.server.p.pid
        stuck = self.connect("vendor-stuck")
        stuck.hello(heartbeat_ms=1000)
        stuck.recv_kind("welcome")
        f = pb.Frame()
        f.id = 1
        f.subscribe.name = "stuck"
        f.subscribe.feed = pb.FEED_ASSOCIATION
        f.subscribe.start.new_only = True
        stuck.send(f)
        stuck.recv_kind("subscribed")
        # From here on the stuck subscriber reads nothing.
        live = self.connect("vendor-live")
        live.hello(heartbeat_ms=1000)
        live.recv_kind("welcome")
        f.subscribe.name = "live"
        live.send(f)
        sub_id = live.recv_kind("subscribed").subscribed.sub_id

        running = []
        got = set()
        peak = 0.0
        base = rss_mb(pid)

        last_ping = [0.0]

        def pump_live(budget):
            # The stuck one only writes (a Ping now and then), so it is
            # neither silent nor reading: the TCP connection stays up.
            if time.time() - last_ping[0] > 0.5:
                ping = pb.Frame()
                ping.ping.nonce = 1
                stuck.send(ping)
                last_ping[0] = time.time()
            end = time.time() + budget
            while time.time() < end:
                try:
                    fr = live.recv(0.05)
                except OSError:
                    return
                if fr is None:
                    return
                if fr.WhichOneof("msg") == "deliver":
                    got.add(fr.deliver.seq)
                    a = pb.Frame()
                    a.ack.sub_id = sub_id
                    r = a.ack.ranges.add()
                    r.first = r.last = fr.deliver.seq
                    live.send(a)

        while batches or running:
            while batches and len(running) < 2:
                files = sorted(os.path.join(batches[0], x) for x in os.listdir(batches[0]))
                running.append(subprocess.Popen(
                    [SPREXCTL, "--db", self.db, "ingest", "--source", "monitor"] + files,
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
                batches.pop(0)
            pump_live(0.2)
            peak = max(peak, rss_mb(pid))
            for p in list(running):
                if p.poll() is not None:
                    self.assertEqual(p.returncode, 0, p.stderr.read())
                    running.remove(p)
        end = time.time() + 60 * SLOW
        while len(got) < REPORTS and time.time() < end:
            pump_live(0.5)
            peak = max(peak, rss_mb(pid))
        print("stall: %d reports; sprexd RSS %.1f MiB at start, peak %.1f MiB, bound %d MiB"
              % (REPORTS, base, peak, BOUND_MB))
        self.assertEqual(len(got), REPORTS, "the live subscriber missed reports")
        if not SANITIZED:  # ASan's shadow memory and quarantine are not ours
            self.assertLess(peak, BOUND_MB)
        # Now read the stuck one: its window of deliveries, then heartbeats
        # saying stalled.
        stalled = None
        delivered = 0
        stuck.recv(0.01)  # not a wait: reads what is there
        while stalled is None:
            fr = stuck.recv(10)
            self.assertIsNotNone(fr)
            kind = fr.WhichOneof("msg")
            if kind == "deliver":
                delivered += 1
            elif kind == "heartbeat" and fr.heartbeat.subscriptions:
                st = fr.heartbeat.subscriptions[0]
                if st.stalled:
                    stalled = st
        self.assertEqual(stalled.pending, delivered)
        self.assertLess(delivered, REPORTS)
        stuck.close()
        live.close()


if __name__ == "__main__":
    unittest.main()
