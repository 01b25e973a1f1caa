"""The wire: mutual TLS 1.3, member identity, Hello/Welcome, framing errors,
heartbeats, GoAway on operator changes and shutdown."""
import os
import shutil
import signal
import socket
import ssl
import struct
import time
import unittest

from harness import PKI, SLOW, World, pb


class Handshake(World):
    def setUp(self):
        super().setUp()
        self.add_member("vendor1", "vendor")
        self.pki.member("stranger")        # right CA, never registered
        self.pki.member("revoked")
        self.add_member("gone", "vendor")
        self.pki.revoke("revoked")
        self.other = PKI(os.path.join(self.dir, "other-pki"))
        self.other.member("outsider")
        self.start_server(tls_crl=self.pki.crl())

    def test_registered_member_gets_welcome(self):
        c = self.connect("vendor1")
        self.assertEqual(c.s.version(), "TLSv1.3")
        self.assertEqual(c.s.selected_alpn_protocol(), "sprex/1")
        c.hello()
        w = c.recv_kind("welcome").welcome
        self.assertEqual(w.member, "vendor1")
        self.assertEqual(w.role, pb.ROLE_VENDOR)
        self.assertEqual(w.version, 1)
        self.assertEqual(w.max_frame, 1 << 20)   # the smaller of both proposals
        self.assertTrue(w.server.startswith("sprexd/"))
        self.server.wait_for(r"member vendor1 \(vendor\) authenticated")
        c.close()

    def test_no_client_certificate(self):
        self.assert_refused(self.client_context(None), r"handshake refused")

    def test_certificate_from_another_ca(self):
        ctx = self.client_context(None)
        ctx.load_cert_chain(self.other.cert("outsider"), self.other.key("outsider"))
        self.assert_refused(ctx, r"handshake refused.*(unknown ca|unable to get local issuer)")

    def test_revoked_certificate(self):
        self.assert_refused(self.client_context("revoked"),
                            r"handshake refused.*revoked")

    def test_tls12_only_client(self):
        ctx = self.client_context("vendor1", max_version=ssl.TLSVersion.TLSv1_2)
        with self.assertRaises(ssl.SSLError):
            self.connect(ctx=ctx)
        self.server.wait_for(r"handshake refused.*(protocol version|unsupported protocol)")

    def test_missing_alpn(self):
        ctx = self.client_context("vendor1", alpn=None)
        with self.assertRaises(ssl.SSLError):
            c = self.connect(ctx=ctx)
            c.hello()
            c.recv(5)
        self.server.wait_for(r"handshake refused")

    def test_wrong_alpn(self):
        ctx = self.client_context("vendor1", alpn=("http/1.1",))
        with self.assertRaises(ssl.SSLError):
            c = self.connect(ctx=ctx)
            c.hello()
            c.recv(5)
        self.server.wait_for(r"handshake refused")

    def test_unregistered_key_gets_unknown_member(self):
        c = self.connect("stranger")
        f = c.recv_kind("error")
        self.assertEqual(f.error.code, pb.ERROR_UNKNOWN_MEMBER)
        self.assertIn(self.pki.spki("stranger"), f.error.message)
        self.assertIsNone(c.recv(5))      # then closed

    def test_suspended_member_refused(self):
        self.ctl("member", "suspend", "gone")
        self.server.wait_for(r"member registry reloaded")
        c = self.connect("gone")
        f = c.recv_kind("error")
        self.assertEqual(f.error.code, pb.ERROR_SUSPENDED)
        self.assertIsNone(c.recv(5))

    def test_no_session_tickets(self):
        c = self.connect("vendor1")
        c.hello()
        c.recv_kind("welcome")
        self.assertIsNone(c.s.session.has_ticket and c.s.session or None)
        c.close()


class Negotiation(World):
    heartbeat = "1s"

    def setUp(self):
        super().setUp()
        self.add_member("isp1", "isp", "192.0.2.0/24")
        self.start_server(max_frame="64K")

    def welcome(self, **hello):
        c = self.connect("isp1")
        c.hello(**hello)
        return c, c.recv_kind("welcome").welcome

    def test_no_common_version(self):
        c = self.connect("isp1")
        c.hello(versions=(7, 9))
        f = c.recv_kind("error")
        self.assertEqual(f.error.code, pb.ERROR_UNSUPPORTED_VERSION)
        self.assertEqual(list(f.error.supported_versions), [1])
        self.assertIsNone(c.recv(5))

    def test_frame_limit_is_the_smaller(self):
        c, w = self.welcome(max_frame=10 << 20)
        self.assertEqual(w.max_frame, 64 << 10)
        c.close()
        c, w = self.welcome(max_frame=32 << 10)
        self.assertEqual(w.max_frame, 32 << 10)
        c.close()

    def test_max_frame_below_minimum(self):
        c = self.connect("isp1")
        c.hello(max_frame=1024)
        self.assertEqual(c.recv_kind("error").error.code, pb.ERROR_INVALID)

    def test_hello_is_required_within_three_intervals(self):
        c = self.connect("isp1")
        while True:                      # answer pings, never say hello
            f = c.recv(10)
            self.assertIsNotNone(f, "closed without an error")
            if f.WhichOneof("msg") == "ping":
                pong = pb.Frame()
                pong.pong.nonce = f.ping.nonce
                c.send(pong)
                continue
            self.assertEqual(f.WhichOneof("msg"), "error")
            self.assertIn("no hello", f.error.message)
            break

    def test_second_hello_is_a_protocol_error(self):
        c, _ = self.welcome()
        c.hello()
        self.assertEqual(c.recv_kind("error").error.code, pb.ERROR_PROTOCOL)
        self.assertIsNone(c.recv(5))

    def test_welcome_states_limits_and_head(self):
        _, w = self.welcome()
        self.assertEqual(w.limits.max_mail_bytes, 10 << 20)
        self.assertEqual(w.head_seq, 0)

    def test_first_frame_must_be_hello(self):
        c = self.connect("isp1")
        f = pb.Frame()
        f.ping.nonce = 1
        c.send(f)
        pong = c.recv_kind("pong")    # pings are answered at any time
        self.assertEqual(pong.pong.nonce, 1)
        f = pb.Frame()
        f.ack.sub_id = 1
        c.send(f)
        self.assertEqual(c.recv_kind("error").error.code, pb.ERROR_PROTOCOL)

    def test_length_zero(self):
        c, _ = self.welcome()
        c.send_raw(b"\0\0\0\0")
        self.assertEqual(c.recv_kind("error").error.code, pb.ERROR_EMPTY_FRAME)
        self.assertIsNone(c.recv(5))

    def test_length_over_maximum(self):
        c, w = self.welcome()
        c.send_raw(struct.pack(">I", w.max_frame + 1))
        e = c.recv_kind("error").error
        self.assertEqual(e.code, pb.ERROR_FRAME_TOO_LARGE)
        self.assertIn(str(w.max_frame + 1), e.message)
        self.assertIsNone(c.recv(5))

    def test_length_all_ones(self):
        c, _ = self.welcome()
        c.send_raw(b"\xff\xff\xff\xff")
        self.assertEqual(c.recv_kind("error").error.code, pb.ERROR_FRAME_TOO_LARGE)

    def test_exactly_maximum_is_accepted(self):
        c, w = self.welcome()
        # Ping{nonce 5} plus an unknown length-delimited field 99 that pads
        # the frame to exactly max_frame bytes (unknown fields are legal).
        ping = b"\x6a\x02\x08\x05"
        tag = b"\x9a\x06"
        n = w.max_frame - len(ping) - len(tag) - 3       # 3-byte varint length
        varint = bytes([0x80 | (n & 0x7f), 0x80 | ((n >> 7) & 0x7f), n >> 14])
        body = ping + tag + varint + b"x" * n
        self.assertEqual(len(body), w.max_frame)
        c.send_raw(struct.pack(">I", len(body)) + body)
        self.assertEqual(c.recv_kind("pong").pong.nonce, 5)

    def test_garbage_protobuf(self):
        c, _ = self.welcome()
        c.send_raw(struct.pack(">I", 5) + b"\xff\xff\xff\xff\xff")
        self.assertEqual(c.recv_kind("error").error.code, pb.ERROR_PROTOCOL)
        self.assertIsNone(c.recv(5))

    def test_ping_pong_and_server_pings(self):
        c, w = self.welcome(heartbeat_ms=1000)
        self.assertEqual(w.heartbeat_ms, 1000)
        f = pb.Frame()
        f.ping.nonce = 42
        c.send(f)
        self.assertEqual(c.recv_kind("pong").pong.nonce, 42)
        self.assertEqual(c.recv_kind("ping").WhichOneof("msg"), "ping")

    def test_silent_peer_is_closed(self):
        c, w = self.welcome(heartbeat_ms=1000)
        # Answer nothing: after three intervals the server gives up.
        frames = []
        while True:
            f = c.recv(10)
            if f is None:
                break
            frames.append(f.WhichOneof("msg"))
        self.assertEqual(frames[-1], "goaway")
        self.server.wait_for(r"silent for \d+ ms \(3 heartbeat intervals\)")

    def test_handshake_deadline(self):
        self.stop_server()
        self.start_server(handshake_timeout="500ms")
        s = socket.create_connection(("127.0.0.1", self.port))
        s.settimeout(10 * SLOW)
        self.assertEqual(s.recv(10), b"")   # closed by the server
        self.server.wait_for(r"handshake not completed within 500 ms")
        s.close()

    def test_max_connections(self):
        self.stop_server()
        self.start_server(max_connections=2)
        a, _ = self.welcome()
        b, _ = self.welcome()
        mark = self.server.mark()
        with self.assertRaises((ssl.SSLError, ConnectionError, AssertionError, OSError)):
            c, _ = self.welcome()
        self.server.wait_for(r"max_connections \(2\) reached", start=mark)
        a.close()
        b.close()


class OperatorChanges(World):
    def setUp(self):
        super().setUp()
        self.add_member("vendor1", "vendor")
        self.add_member("vendor2", "vendor")
        self.start_server(tls_crl=self.pki.crl())

    def ready(self, name):
        c = self.connect(name)
        c.hello()
        c.recv_kind("welcome")
        return c

    def test_suspend_while_connected(self):
        c = self.ready("vendor1")
        other = self.ready("vendor2")
        t0 = time.monotonic()
        self.ctl("member", "suspend", "vendor1")
        g = c.recv_kind("goaway", timeout=5)
        self.assertEqual(g.goaway.reason, pb.GOAWAY_SUSPENDED)
        self.assertIsNone(c.recv(5))
        elapsed = time.monotonic() - t0
        # The server looks for registry changes every reload_interval (250 ms).
        self.assertLess(elapsed, 1.0 * SLOW, "suspension took %.2f s to apply" % elapsed)
        # Another member is untouched.
        f = pb.Frame()
        f.ping.nonce = 7
        other.send(f)
        self.assertEqual(other.recv_kind("pong").pong.nonce, 7)
        # And the suspended one cannot come back until resumed.
        c2 = self.connect("vendor1")
        self.assertEqual(c2.recv_kind("error").error.code, pb.ERROR_SUSPENDED)
        self.ctl("member", "resume", "vendor1")
        self.server.wait_for(r"member registry reloaded", start=self.server.mark())
        time.sleep(0.3 * SLOW)
        self.ready("vendor1").close()

    def test_remove_while_connected(self):
        c = self.ready("vendor1")
        self.ctl("member", "remove", "vendor1")
        g = c.recv_kind("goaway", timeout=5)
        self.assertEqual(g.goaway.reason, pb.GOAWAY_REMOVED)
        self.assertIsNone(c.recv(5))

    def test_revoke_while_connected(self):
        c = self.ready("vendor1")
        self.pki.revoke("vendor1")
        self.pki.crl()
        g = c.recv_kind("goaway", timeout=5)
        self.assertEqual(g.goaway.reason, pb.GOAWAY_REVOKED)
        self.assertIsNone(c.recv(5))
        self.assert_refused(self.client_context("vendor1"), r"handshake refused.*revoked")

    def test_missing_crl_refuses_everyone(self):
        open_session = self.ready("vendor1")
        os.rename(self.pki.crl_path, self.pki.crl_path + ".away")
        self.server.wait_for(r"CRL unusable, refusing every handshake and closing every session")
        g = open_session.recv_kind("goaway", timeout=5)
        self.assertEqual(g.goaway.reason, pb.GOAWAY_REVOKED)
        mark = self.server.mark()
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError, AssertionError)):
            c = self.connect("vendor2")
            c.hello()
            if c.recv(5) is None:
                raise ConnectionError("closed")
        self.server.wait_for(r"refused .*CRL is unusable", start=mark)
        os.rename(self.pki.crl_path + ".away", self.pki.crl_path)
        self.server.wait_for(r"CRL usable again")
        self.ready("vendor2").close()

    def test_expired_crl_closes_sessions(self):
        self.stop_server()
        self.pki.crl("--seconds", "3")
        self.start_server(tls_crl=self.pki.crl_path)
        c = self.ready("vendor1")
        g = c.recv_kind("goaway", timeout=15)
        self.assertEqual(g.goaway.reason, pb.GOAWAY_REVOKED)
        self.server.wait_for(r"CRL unusable.*expired")
        self.assert_refused(self.client_context("vendor2"), r"refused .*CRL is unusable")

    def test_sighup_rereads_and_keeps_serving(self):
        c = self.ready("vendor1")
        self.server.signal(signal.SIGHUP)
        self.server.wait_for(r"received SIGHUP")
        f = pb.Frame()
        f.ping.nonce = 11
        c.send(f)
        self.assertEqual(c.recv_kind("pong").pong.nonce, 11)

    def test_sigterm_sends_goaway_and_exits_zero(self):
        a = self.ready("vendor1")
        b = self.ready("vendor2")
        self.server.signal(signal.SIGTERM)
        for c in (a, b):
            g = c.recv_kind("goaway")
            self.assertEqual(g.goaway.reason, pb.GOAWAY_SHUTDOWN)
            self.assertGreater(g.goaway.retry_after_ms, 0)
            self.assertIsNone(c.recv(5))
        self.assertEqual(self.server.wait(15), 0)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
