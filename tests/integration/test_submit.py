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


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
