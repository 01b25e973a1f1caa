"""Submit frames over the wire: sprex-agent submit as a monitor receiver,
answers only after commit, idempotency, the policy on who may submit."""
import os
import subprocess

from harness import SLOW, SPREX_AGENT, SRC, World, pb

SAMPLE = os.path.join(SRC, "tests", "data", "submit", "monitor1.eml")


class Submit(World):
    def setUp(self):
        super().setUp()
        self.add_member("monitor1", "submitter")
        self.add_member("vendor1", "vendor")
        self.start_server()

    def submit(self, member, *args):
        conf = self.write_agent_conf(member)
        return subprocess.run([SPREX_AGENT, "submit", "--config", conf, *args],
                              capture_output=True, text=True, timeout=60 * SLOW)

    def test_monitor_capture_is_stored_once(self):
        r = self.submit("monitor1", "--source", "monitor", SAMPLE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"monitor1\.eml: (stored|quarantined) r[a-z2-7]{25} seq 1")
        rid = r.stdout.split()[2]
        self.server.wait_for(r"member monitor1 submitted %s seq 1" % rid)
        again = self.submit("monitor1", "--source", "monitor", SAMPLE)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn(rid, again.stdout)
        self.assertIn("duplicate", again.stdout)
        show = self.ctl("report", "show", rid).stdout
        self.assertIn("203.0.113.45", show)           # the source below the private hop
        raw = self.ctl("report", "raw", rid).stdout
        self.assertNotIn("trap-0042", raw)           # a published trap is a burned trap
        self.assertIn("deals.example.com", raw)      # the spam's own evidence stays

    def test_client_id_is_the_idempotency_key(self):
        a = self.submit("monitor1", "--source", "monitor", "--id", "cap-1", SAMPLE)
        b = self.submit("monitor1", "--source", "monitor", "--id", "cap-2", SAMPLE)
        self.assertEqual(a.returncode, 0, a.stderr)
        self.assertEqual(b.returncode, 0, b.stderr)
        self.assertNotEqual(a.stdout.split()[2], b.stdout.split()[2])

    def test_only_submitters_may_submit(self):
        r = self.submit("vendor1", "--source", "monitor", SAMPLE)
        self.assertEqual(r.returncode, 77, r.stdout + r.stderr)
        self.assertIn("forbidden", r.stdout)
        self.server.wait_for(r"a vendor member may not send submit")

    def test_unusable_message_is_refused(self):
        empty = os.path.join(self.dir, "empty.eml")
        open(empty, "w").close()
        r = self.submit("monitor1", "--source", "monitor", empty)
        self.assertEqual(r.returncode, 65, r.stdout + r.stderr)

    def test_server_down_is_try_again(self):
        self.stop_server()
        r = self.submit("monitor1", "--source", "monitor", SAMPLE)
        self.assertEqual(r.returncode, 75, r.stdout + r.stderr)
        self.assertIn("not submitted", r.stdout)

    def test_raw_submit_frame_answers_after_commit(self):
        c = self.connect("monitor1")
        c.hello()
        c.recv_kind("welcome")
        f = pb.Frame()
        f.id = 9
        f.submit.client_msg_id = "raw-1"
        f.submit.source = pb.SOURCE_MONITOR
        f.submit.raw_mail = open(SAMPLE, "rb").read()
        c.send(f)
        ans = c.recv_kind("submitted")
        self.assertEqual(ans.id, 9)
        self.assertEqual(ans.submitted.client_msg_id, "raw-1")
        self.assertEqual(ans.submitted.seq, 1)
        # Committed before the answer: another connection to the database sees it.
        self.assertIn(ans.submitted.report_id, self.ctl("report", "show",
                                                        ans.submitted.report_id).stdout)
        bad = pb.Frame()
        bad.id = 10
        bad.submit.client_msg_id = "raw 2"     # blanks are not allowed
        bad.submit.source = pb.SOURCE_MONITOR
        bad.submit.raw_mail = b"x"
        c.send(bad)
        e = c.recv_kind("error")
        self.assertEqual(e.id, 10)
        self.assertEqual(e.error.code, pb.ERROR_INVALID)
        # The session goes on after a refused request.
        ping = pb.Frame()
        ping.ping.nonce = 3
        c.send(ping)
        self.assertEqual(c.recv_kind("pong").pong.nonce, 3)

    def variants(self, n):
        """n distinct captures (their own Message-ID and line), so each has
        its own client id."""
        base = open(SAMPLE, "rb").read()
        paths = []
        for i in range(n):
            data = base.replace(b"20261128091240.1234@", b"20261128091240.%d@" % (5000 + i))
            data += b"offer %d\n" % i
            path = os.path.join(self.dir, "cap%02d.eml" % i)
            with open(path, "wb") as f:
                f.write(data)
            paths.append(path)
        return paths

    def test_window_answers_in_file_order(self):
        """With Submits sent ahead, the lines still come in file order, every
        capture is stored once, and a bad file in the middle is refused alone."""
        files = self.variants(24)
        empty = os.path.join(self.dir, "empty.eml")
        open(empty, "w").close()
        files.insert(11, empty)
        r = self.submit("monitor1", "--source", "monitor", "--window", "8", *files)
        self.assertEqual(r.returncode, 65, r.stdout + r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual([l.split(": ", 1)[0] for l in lines],
                         [f for f in files if f != empty])
        self.assertIn(empty + ": empty", r.stderr)
        ids = [l.split()[2] for l in lines]
        for l in lines:
            self.assertRegex(l, r": (stored|quarantined) r[a-z2-7]{25} seq \d+")
        self.assertEqual(len(set(ids)), 24)
        for rid in ids:
            self.ctl("report", "show", rid)
        again = self.submit("monitor1", "--source", "monitor", "--window", "3", *files[:5])
        self.assertEqual(again.returncode, 0, again.stdout + again.stderr)
        self.assertEqual([l.split()[2] for l in again.stdout.splitlines()], ids[:5])
        self.assertEqual(again.stdout.count("duplicate"), 5)
        bad = self.submit("monitor1", "--source", "monitor", "--window", "0", SAMPLE)
        self.assertEqual(bad.returncode, 64)
        self.assertIn("--window needs a number from 1 to 64", bad.stderr)
        bad = self.submit("monitor1", "--source", "monitor", "--window", "65", SAMPLE)
        self.assertEqual(bad.returncode, 64)
        top = self.submit("monitor1", "--source", "monitor", "--window", "64", *files[:3])
        self.assertEqual(top.returncode, 0, top.stdout + top.stderr)
        self.assertEqual(top.stdout.count("duplicate"), 3)

    def send_all(self, files, first_id, cid):
        """A new session of monitor1 with one Submit per file sent at once:
        frame ids from first_id, client ids cid % index."""
        c = self.connect("monitor1")
        c.hello()
        c.recv_kind("welcome")
        for i, path in enumerate(files):
            self.raw_submit(c, first_id + i, path, cid % i)
        return c

    def raw_submit(self, c, fid, path, cid):
        f = pb.Frame()
        f.id = fid
        f.submit.client_msg_id = cid
        f.submit.source = pb.SOURCE_MONITOR
        f.submit.raw_mail = open(path, "rb").read()
        c.send(f)

    def test_inflight_limit_answers_busy(self):
        """Past max_submits_inflight a Submit is answered BUSY at once (the
        submitter tries again); the others are stored and answered."""
        self.stop_server()
        self.start_server(max_submits_inflight=1)
        files = self.variants(12)
        c = self.send_all(files, 100, "cap-%d")
        answers = {}
        while len(answers) < len(files):
            f = c.recv(10)
            self.assertIsNotNone(f, "closed with %d answers" % len(answers))
            if f.WhichOneof("msg") in ("submitted", "error"):
                answers[f.id] = f
        busy = [a for a in answers.values() if a.WhichOneof("msg") == "error"]
        done = [a for a in answers.values() if a.WhichOneof("msg") == "submitted"]
        self.assertGreaterEqual(len(busy), 1)
        self.assertGreaterEqual(len(done), 1)
        for a in busy:
            self.assertEqual(a.error.code, pb.ERROR_BUSY, a)
            self.assertIn("max_submits_inflight", a.error.message)
        for a in done:
            self.assertEqual(a.submitted.client_msg_id, "cap-%d" % (a.id - 100))
            self.ctl("report", "show", a.submitted.report_id)

    def threads(self):
        return len(os.listdir("/proc/%d/task" % self.server.pid))

    def test_intake_threads_size_the_pool(self):
        """intake_threads is the number of pipelines sprexd runs at once:
        libuv starts that many pool threads at the first Submit."""
        self.stop_server()
        self.start_server(intake_threads=3)
        self.server.wait_for(r"intake on 3 threads")
        before = self.threads()
        r = self.submit("monitor1", "--source", "monitor", SAMPLE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.threads(), before + 3)

    def test_session_closed_mid_submit(self):
        """A session that closes while its Submits run loses only their
        answers: nothing half stored, the server goes on, and sending them
        again stores each once."""
        files = self.variants(6)
        self.send_all(files, 1, "gone-%d").close()
        self.server.wait_for(r"monitor1 .*closed")
        first = {}
        for rnd in range(2):
            c2 = self.send_all(files, 50, "gone-%d")
            got = [c2.recv_kind("submitted") for _ in files]
            c2.close()
            ids = {g.submitted.client_msg_id: g.submitted.report_id for g in got}
            self.assertEqual(sorted(ids), sorted("gone-%d" % i for i in range(6)))
            self.assertEqual(len(set(ids.values())), 6)
            if rnd == 0:
                first = ids
            else:
                # each client id names one report, stored once
                self.assertEqual(ids, first)
                self.assertTrue(all(g.submitted.duplicate for g in got))
        # the server is still serving
        r = self.submit("monitor1", "--source", "monitor", SAMPLE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
