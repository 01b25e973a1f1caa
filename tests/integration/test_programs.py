"""The programs as an operator and a member use them: sprexd's configuration
and start-up errors, daemon mode, sprexctl's member registry, sprex-agent's
session, heartbeats and reconnects."""
import os
import re
import signal
import socket
import subprocess
import time
import unittest

from harness import SPREX_AGENT, SPREXD, SLOW, Proc, World, pb, run


class ServerStartup(World):
    def setUp(self):
        super().setUp()
        self.add_member("vendor1", "vendor")

    def sprexd(self, conf_path, *flags):
        return subprocess.run([SPREXD, "-f", "--config", conf_path, *flags],
                              capture_output=True, text=True, timeout=30 * SLOW)

    def assert_one_line_error(self, r, code, *needles):
        self.assertEqual(r.returncode, code, r.stderr)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, r.stderr)
        for n in needles:
            self.assertIn(n, lines[0])

    def test_check_ok(self):
        r = self.sprexd(self.write_server_conf(), "-n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "configuration OK")

    def test_unknown_key(self):
        path = self.write_server_conf()
        with open(path, "a") as f:
            f.write("colour = blue\n")
        r = self.sprexd(path, "-n")
        self.assert_one_line_error(r, 78, path + ":", "unknown key \"colour\"")

    def test_bad_values_name_file_and_line(self):
        cases = [
            ("max_frame", "1K", "max_frame"),
            ("max_frame", "65M", "max_frame"),
            ("heartbeat", "soon", "heartbeat"),
            ("max_connections", "0", "max_connections"),
            ("listen", "127.0.0.1", "listen"),
            ("listen", "127.0.0.1:70000", "listen"),
            ("handshake_timeout", "10ms", "handshake_timeout"),
            ("intake_threads", "0", "intake_threads"),
            ("intake_threads", "1025", "intake_threads"),
        ]
        for key, value, needle in cases:
            with self.subTest(key=key, value=value):
                path = self.write_server_conf(**{key: value})
                r = self.sprexd(path, "-n")
                self.assert_one_line_error(r, 78, path + ":", needle)
                # the line number of the offending key
                lineno = [i + 1 for i, l in enumerate(open(path))
                          if l.startswith(key + " ")][0]
                self.assertIn("%s:%d:" % (path, lineno), r.stderr)

    def test_intake_threads_edges_accepted(self):
        for value in ("1", "1024"):
            with self.subTest(value=value):
                r = self.sprexd(self.write_server_conf(intake_threads=value), "-n")
                self.assertEqual(r.returncode, 0, r.stderr)

    def test_repeatable_keys_at_their_limits(self):
        for key, value, limit, what in (("listen", "127.0.0.1:0", 16, "listen addresses"),
                                        ("trusted_relay", "192.0.2.0/24", 256, "trusted relays")):
            with self.subTest(key=key):
                ok = self.sprexd(self.write_server_conf(**{key: [value] * limit}), "-n")
                self.assertEqual(ok.returncode, 0, ok.stderr)
                path = self.write_server_conf(**{key: [value] * (limit + 1)})
                r = self.sprexd(path, "-n")
                self.assert_one_line_error(r, 78, path + ":", "more than %d %s" % (limit, what))

    def test_missing_required_key(self):
        r = self.sprexd(self.write_server_conf(db=None), "-n")
        self.assert_one_line_error(r, 78, "required key \"db\" missing")

    def test_missing_config_file(self):
        r = self.sprexd(os.path.join(self.dir, "nope.conf"))
        self.assert_one_line_error(r, 78, "nope.conf", "No such file")

    def test_missing_certificate(self):
        r = self.sprexd(self.write_server_conf(tls_cert=os.path.join(self.dir, "x.crt")))
        self.assert_one_line_error(r, 78, "x.crt")

    def test_key_does_not_match_certificate(self):
        self.pki.member("other")
        r = self.sprexd(self.write_server_conf(tls_key=self.pki.key("other")))
        self.assert_one_line_error(r, 78, "does not match")

    def test_missing_crl(self):
        r = self.sprexd(self.write_server_conf(tls_crl=os.path.join(self.dir, "no-crl.pem")))
        self.assert_one_line_error(r, 78, "no-crl.pem")

    def test_expired_crl(self):
        crl = self.pki.crl("--seconds", "1")
        time.sleep(2)
        r = self.sprexd(self.write_server_conf(tls_crl=crl))
        self.assert_one_line_error(r, 78, "crl.pem", "expired")

    def test_missing_database(self):
        r = self.sprexd(self.write_server_conf(db=os.path.join(self.dir, "none.db")))
        self.assert_one_line_error(r, 78, "none.db")

    def test_port_in_use(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        pidfile = os.path.join(self.dir, "sprexd.pid")
        r = self.sprexd(self.write_server_conf(listen="127.0.0.1:%d" % port, pidfile=pidfile))
        self.assert_one_line_error(r, 71, "127.0.0.1:%d" % port, "address already in use")
        self.assertFalse(os.path.exists(pidfile))
        s.close()

    def test_daemon_mode(self):
        pidfile = os.path.join(self.dir, "sprexd.pid")
        path = self.write_server_conf(listen="127.0.0.1:0", pidfile=pidfile)
        r = subprocess.run([SPREXD, "--config", path], capture_output=True, text=True,
                           timeout=30 * SLOW)
        self.assertEqual(r.returncode, 0, r.stderr)
        pid = int(open(pidfile).read())
        try:
            os.kill(pid, 0)
        finally:
            os.kill(pid, signal.SIGTERM)
        for _ in range(int(100 * SLOW)):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            self.fail("daemon did not stop on SIGTERM")
        self.assertFalse(os.path.exists(pidfile))

    def test_daemon_mode_reports_start_failure(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        path = self.write_server_conf(listen="127.0.0.1:%d" % port)
        r = subprocess.run([SPREXD, "--config", path], capture_output=True, text=True,
                           timeout=30 * SLOW)
        self.assertEqual(r.returncode, 71)
        self.assertIn("address already in use", r.stderr)
        s.close()

    def test_ipv6_and_several_listeners(self):
        try:
            socket.socket(socket.AF_INET6).bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback here")
        p = self.start_server(listen=["127.0.0.1:0", "[::1]:0"])
        m = p.wait_for(r"listening on \[::1\]:(\d+)")
        c = socket.create_connection(("::1", int(m.group(1))))
        c.close()


class Registry(World):
    def test_member_lifecycle_and_public_list(self):
        self.add_member("vendor1", "vendor")
        self.add_member("isp1", "isp", "192.0.2.0/24", "2001:db8::/32")
        self.add_member("auditor1", "auditor")
        out = self.ctl("member", "list").stdout
        for name in ("vendor1", "isp1", "auditor1"):
            self.assertIn(name, out)
        self.assertIn(self.pki.spki("isp1"), out)
        self.assertIn("192.0.2.0/24", out)
        self.assertIn("2001:db8::/32", out)
        self.ctl("member", "suspend", "vendor1")
        self.assertRegex(self.ctl("member", "list").stdout, r"vendor1\s+vendor\s+suspended")
        self.ctl("member", "resume", "vendor1")
        self.ctl("member", "remove", "auditor1")
        pub = self.ctl("members", "--public").stdout
        self.assertRegex(pub, r"auditor1\s+auditor\s+\S+\s+\S+")   # since and until
        self.assertNotIn(self.pki.spki("isp1"), pub)               # keys are not published

    def test_refusals(self):
        self.add_member("vendor1", "vendor")
        cert = self.pki.cert("vendor1")
        cases = [
            (["member", "add", "vendor1", "--role", "vendor", "--cert", cert], "exists"),
            (["member", "add", "v2", "--role", "vendor", "--cert", cert], "key"),
            (["member", "add", "v3", "--role", "king", "--cert", cert], "role"),
            (["member", "add", "v4", "--role", "vendor", "--cert", "/nonexistent.pem"],
             "/nonexistent.pem"),
            (["member", "add", "v5", "--role", "vendor", "--cert", cert, "--prefix",
              "10.0.0.0/8"], "prefix"),
            (["member", "add", "bad name", "--role", "vendor", "--cert", cert], "name"),
            (["member", "suspend", "nobody"], "nobody"),
        ]
        for args, needle in cases:
            with self.subTest(args=args):
                r = self.ctl(*args, check=False)
                self.assertNotEqual(r.returncode, 0)
                self.assertIn(needle, r.stderr.lower() if needle.islower() else r.stderr)
        self.pki.member("isp9")
        r = self.ctl("member", "add", "isp9", "--role", "isp", "--cert", self.pki.cert("isp9"),
                     "--prefix", "192.0.2.1/24", check=False)
        self.assertNotEqual(r.returncode, 0)

    def test_init_refuses_existing(self):
        r = self.ctl("init", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(self.db, r.stderr)


class Agent(World):
    heartbeat = "1s"

    def setUp(self):
        super().setUp()
        self.add_member("vendor1", "vendor")
        self.pki.member("stranger")
        self.start_server()

    def test_authenticates_and_heartbeats(self):
        a = self.start_agent("vendor1", heartbeat="1s")
        a.wait_for(r"authenticated as member vendor1 \(role VENDOR\)")
        a.wait_for(r"heartbeat: ping sent")
        self.server.wait_for(r"member vendor1 \(vendor\) authenticated .*agent \"sprex-agent/")
        a.signal(signal.SIGTERM)
        self.assertEqual(a.wait(), 0)
        self.server.wait_for(r"member vendor1 leaves: shutdown")

    def test_unknown_member_is_told_and_retries(self):
        a = self.start_agent("stranger")
        a.wait_for(r"server refused: unknown-member: certificate key [0-9a-f]{64}")
        a.wait_for(r"reconnecting in")
        a.signal(signal.SIGTERM)
        self.assertEqual(a.wait(), 0)

    def test_reconnects_after_server_restart(self):
        a = self.start_agent("vendor1")
        a.wait_for(r"authenticated as member vendor1")
        port = self.port
        self.stop_server()
        a.wait_for(r"server sent goaway shutdown \(retry after 5000 ms\)")
        a.wait_for(r"reconnecting in [0-9.]+ s")
        mark = a.mark()
        self.start_server(listen="127.0.0.1:%d" % port)
        a.wait_for(r"authenticated as member vendor1", timeout=30, start=mark)
        a.signal(signal.SIGTERM)
        self.assertEqual(a.wait(), 0)

    def test_backoff_grows_and_is_capped(self):
        self.stop_server()
        a = self.start_agent("vendor1", reconnect_min="100ms", reconnect_max="400ms")
        for _ in range(6):
            a.wait_for(r"reconnecting in", start=a.mark())
        a.signal(signal.SIGTERM)
        self.assertEqual(a.wait(), 0)
        delays = [float(m) for m in re.findall(r"reconnecting in ([0-9.]+) s", a.output())]
        self.assertGreaterEqual(len(delays), 6)
        # Full jitter in [d/2, d], d doubling from 100 ms and capped at 400 ms.
        self.assertLessEqual(delays[0], 0.1)
        self.assertTrue(all(0.05 <= d <= 0.4 for d in delays), delays)
        self.assertGreaterEqual(max(delays[3:]), 0.2, delays)

    def test_bad_agent_config(self):
        path = self.write_agent_conf("vendor1", server="localhost")
        r = subprocess.run([SPREX_AGENT, "--config", path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 78)
        self.assertIn(path + ":", r.stderr)
        self.assertIn("server", r.stderr)

    def test_wrong_server_name(self):
        a = self.start_agent("vendor1", server_name="wrong.example")
        a.wait_for(r"session closed .*(certificate verify failed|hostname mismatch|verify)")
        a.signal(signal.SIGTERM)
        self.assertEqual(a.wait(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
