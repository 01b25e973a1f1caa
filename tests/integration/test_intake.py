"""sprexctl ingest, report show/raw and quarantine list as an operator and an
MTA use them: files, Maildir and stdin; the MTA pipe's exit codes; and the
promise that the reporter's original never reaches the disk."""
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import unittest

from harness import SPREXCTL, SRC, World, run

DATA = os.path.join(SRC, "tests", "data", "intake")
LINE = re.compile(r"^(?P<name>.+): (?P<what>stored|quarantined) (?P<id>r[a-z2-7]{25}) "
                  r"seq (?P<seq>\d+)(?:: (?P<reason>.*))?$")

# What identifies the reporters of the samples, and what of their own
# messages must never be kept: addresses, local parts, display names, the
# reporter's own message id and client address.
REPORTER_SECRETS = [b"taro.yamada@example.jp", b"taro.yamada", b"Taro Yamada",
                    b"TaroYamada", b"fwd-4711@example.jp", b"198.51.100.20"]
MONITOR_SECRETS = [b"trap01@monitor.example", b"trap01"]


def sample(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


class Intake(World):
    def setUp(self):
        super().setUp()
        # Inputs live apart from the database's folder, which is searched
        # for reporter identifiers afterwards.
        self.inbox = os.path.join(self.dir, "inbox")
        os.mkdir(self.inbox)
        self.dbdir = os.path.join(self.dir, "var")
        os.mkdir(self.dbdir)
        self.db = os.path.join(self.dbdir, "sprex.db")
        self.ctl("init")

    # ---------------------------------------------------------- helpers

    def put(self, name, data, where=None):
        path = os.path.join(where or self.inbox, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def ingest(self, *args, input=None, check=True, config=None, db=True):
        argv = [SPREXCTL]
        if db:
            argv += ["--db", self.db]
        if config:
            argv += ["--config", config]
        return run(argv + ["ingest", *args], input=input, check=check)

    def parse_lines(self, text):
        out = []
        for line in text.splitlines():
            m = LINE.match(line)
            self.assertIsNotNone(m, "unexpected line: %r in\n%s" % (line, text))
            out.append(m)
        return out

    def show(self, rid):
        return self.ctl("report", "show", rid).stdout

    def raw(self, rid):
        return self.ctl("report", "raw", rid, input=b"").stdout

    def assert_no_secrets(self, data, secrets, what):
        low = data.lower()
        for s in secrets:
            self.assertNotIn(s.lower(), low, "%s holds %r" % (what, s))

    def assert_disk_clean(self, secrets):
        """Nothing under the database's folder (database, WAL, shared memory,
        anything else written there) holds an identifier in any case."""
        names = []
        for root, _, files in os.walk(self.dbdir):
            for n in files:
                path = os.path.join(root, n)
                names.append(n)
                with open(path, "rb") as f:
                    self.assert_no_secrets(f.read(), secrets, path)
        self.assertIn("sprex.db", names)
        return names

    def server_conf(self, **over):
        over.setdefault("db", self.db)
        return self.write_server_conf(**over)

    # ---------------------------------------------------------- files

    def test_files(self):
        self.add_member("isp1", "isp", "203.0.113.0/24")
        fwd = self.put("fwd.eml", sample("forwarded.eml"))
        mon = self.put("mon.eml", sample("monitor.eml"))
        r = self.ingest("--source", "public", "--consent", "association,isp", fwd)
        [m] = self.parse_lines(r.stdout)
        self.assertEqual(m.group("name"), fwd)
        self.assertEqual(m.group("what"), "stored", r.stdout)
        self.assertEqual(r.stderr, "")
        r2 = self.ingest("--source", "monitor", mon)
        [m2] = self.parse_lines(r2.stdout)
        self.assertEqual(m2.group("what"), "stored", r2.stdout)
        self.assertGreater(int(m2.group("seq")), int(m.group("seq")))
        self.assertNotEqual(m2.group("id"), m.group("id"))

        # The stored mail is the spam, de-personalized, and what show says.
        rid = m.group("id")
        mail = self.raw(rid)
        self.assertIn(b"SPAM-TOKEN-7731", mail)
        self.assertNotIn(b"Please find the spam attached", mail)   # the reporter's text
        self.assert_no_secrets(mail, REPORTER_SECRETS, "stored mail")
        self.assert_no_secrets(self.raw(m2.group("id")), MONITOR_SECRETS, "monitor mail")

        text = self.show(rid)
        fields = dict(re.findall(r"^(\S+(?: \S+)?)\s{2,}(.*)$", text, re.M))
        self.assertEqual(fields["id"], rid)
        self.assertEqual(fields["seq"], m.group("seq"))
        self.assertRegex(fields["received"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(fields["source"], "public")
        self.assertEqual(fields["consent"], "association,isp")
        self.assertTrue(fields["submitter"].startswith("- "))
        self.assertEqual(fields["state"], "ready")
        self.assertEqual(fields["sha256"], hashlib.sha256(mail).hexdigest())
        self.assertEqual(fields["size"], "%d bytes" % len(mail))
        self.assertIn("SPAM-TOKEN-7731", fields["subject"])
        self.assertGreaterEqual(int(fields["redactions"]), 1)
        # The manifest says where, never what.
        self.assertRegex(text, r"(?m)^  part \S+  \S+  (address|local-part|name)  \S+  x\d+")
        self.assert_no_secrets(text.encode(), REPORTER_SECRETS, "report show")
        # Without trusted relays the topmost public hop is the source.
        self.assertTrue(fields["source ip"].startswith("192.0.2.25"), text)
        self.assertEqual(fields["isp"], "-")

        mtext = self.show(m2.group("id"))
        self.assertRegex(mtext, r"(?m)^source\s+monitor$")
        self.assertRegex(mtext, r"(?m)^consent\s+-$")
        self.assertRegex(mtext, r"(?m)^source ip\s+203\.0\.113\.99")
        self.assertRegex(mtext, r"(?m)^isp\s+isp1$")
        self.assert_disk_clean(REPORTER_SECRETS + MONITOR_SECRETS)

    def test_config_relays_and_db(self):
        """With --config, trusted_relay comes from sprexd's file and --db
        defaults to its db."""
        self.add_member("isp1", "isp", "203.0.113.0/24")
        conf = self.server_conf(trusted_relay="192.0.2.0/24")
        fwd = self.put("fwd.eml", sample("forwarded.eml"))
        r = self.ingest("--source", "public", fwd, config=conf, db=False)
        [m] = self.parse_lines(r.stdout)
        text = self.show(m.group("id"))
        self.assertRegex(text, r"(?m)^source ip\s+203\.0\.113\.45")
        self.assertRegex(text, r"(?m)^isp\s+isp1$")
        self.assertRegex(text, r"(?m)^consent\s+none$")

    def test_several_files_worst_status(self):
        good = self.put("good.eml", sample("monitor.eml"))
        empty = self.put("empty.eml", b"")
        missing = os.path.join(self.inbox, "missing.eml")
        r = self.ingest("--source", "monitor", good, empty, missing, check=False)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 3, r.stdout)
        m = LINE.match(lines[0])
        self.assertIsNotNone(m, r.stdout)
        self.assertEqual(lines[1], empty + ": refused: empty message")
        self.assertTrue(lines[2].startswith(missing + ": cannot read: "), lines[2])
        self.assertEqual(r.returncode, 66)   # worst: missing input
        # What was stored stays stored.
        self.show(m.group("id"))
        r = self.ingest("--source", "monitor", good, empty, check=False)
        self.assertEqual(r.returncode, 65)

    def test_jobs_keep_order(self):
        """With pipeline threads the lines, the sequence numbers and the
        stored reports come in the order the files were given, and each
        outcome is what one thread makes of the same file."""
        kinds = [("monitor.eml", "monitor"), ("forwarded.eml", "forwarded"),
                 ("anonymous.eml", "anonymous"), ("empty.eml", None)]
        files = []
        for i in range(32):
            name, what = kinds[i % len(kinds)]
            # each its own message (the same bytes again would be a duplicate)
            data = b"X-Test-Index: %d\r\n" % i + sample(name) if what else b""
            files.append(self.put("m%02d.eml" % i, data))
        r = self.ingest("--source", "public", "--jobs", "4", *files, check=False)
        self.assertEqual(r.returncode, 65, r.stderr)   # the empty ones
        lines = r.stdout.splitlines()
        self.assertEqual([l.split(": ", 1)[0] for l in lines], files)
        seqs = []
        for i, line in enumerate(lines):
            name, what = kinds[i % len(kinds)]
            if what is None:
                self.assertEqual(line, files[i] + ": refused: empty message")
                continue
            m = LINE.match(line)
            self.assertIsNotNone(m, line)
            self.assertEqual(m.group("what"),
                             "quarantined" if what == "anonymous" else "stored", line)
            seqs.append(int(m.group("seq")))
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(seqs)), 24)
        # The same files again, one at a time: each the report stored the
        # first time (the operator's idempotency key), in the same order.
        one = self.ingest("--source", "public", "--jobs", "1", *files, check=False)
        self.assertEqual(one.returncode, 65, one.stderr)
        again = one.stdout.splitlines()
        for i, line in enumerate(lines):
            m = LINE.match(line)
            if m is None:
                self.assertEqual(again[i], line)   # refused again
            else:
                self.assertEqual(again[i], "%s: duplicate of %s seq %s"
                                 % (files[i], m.group("id"), m.group("seq")))

    def test_quarantine(self):
        anon = self.put("anon.eml", sample("anonymous.eml"))
        r = self.ingest("--source", "public", anon)
        [m] = self.parse_lines(r.stdout)
        self.assertEqual(m.group("what"), "quarantined", r.stdout)
        self.assertIn("no reporter identifier", m.group("reason"))
        ok = self.put("mon.eml", sample("monitor.eml"))
        r = self.ingest("--source", "monitor", ok)
        [ready] = self.parse_lines(r.stdout)

        q = self.ctl("quarantine", "list").stdout.splitlines()
        self.assertEqual(q[0].split(), ["SEQ", "ID", "RECEIVED", "SOURCE", "REASON"])
        self.assertEqual(len(q), 2, q)
        cols = q[1].split(None, 4)
        self.assertEqual(cols[0], m.group("seq"))
        self.assertEqual(cols[1], m.group("id"))
        self.assertEqual(cols[3], "public")
        self.assertIn("no reporter identifier", cols[4])
        self.assertNotIn(ready.group("id"), "\n".join(q))
        self.assertEqual(len(self.ctl("quarantine", "list", "--after",
                                      m.group("seq")).stdout.splitlines()), 1)
        text = self.show(m.group("id"))
        self.assertRegex(text, r"(?m)^state\s+quarantined: no reporter identifier")

    # ---------------------------------------------------------- Maildir

    def test_maildir(self):
        md = os.path.join(self.inbox, "Maildir")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub))
        a = self.put("1700000002.M1P1.host", sample("monitor.eml"), os.path.join(md, "new"))
        b = self.put("1700000001.M1P1.host:2,S", b"X-Seen: 1\r\n" + sample("monitor.eml"),
                     os.path.join(md, "cur"))
        self.put("1700000000.M1P1.host", b"being written", os.path.join(md, "tmp"))
        self.put(".hidden", b"not a message", os.path.join(md, "new"))
        r = self.ingest("--source", "monitor", "--maildir", md)
        lines = self.parse_lines(r.stdout)
        self.assertEqual([l.group("name") for l in lines], [b, a])   # by name
        self.assertTrue(os.path.exists(a) and os.path.exists(b))     # left in place
        # Ingested again: the reports stored the first time, nothing new.
        again = self.ingest("--source", "monitor", "--maildir", md).stdout.splitlines()
        self.assertEqual(again, ["%s: duplicate of %s seq %s" % (l.group("name"), l.group("id"),
                                                                 l.group("seq")) for l in lines])
        r = self.ingest("--source", "monitor", "--maildir", os.path.join(self.inbox, "nope"),
                        check=False)
        self.assertEqual(r.returncode, 66, r.stderr)

    # ---------------------------------------------------------- MTA pipe

    def test_stdin_stored(self):
        r = self.ingest("--source", "public", "--reporter", "Hanako Suzuki", "-",
                        input=sample("forwarded.eml"))
        self.assertEqual(r.stdout, b"")
        [m] = self.parse_lines(r.stderr.decode())
        self.assertEqual(m.group("name"), "-")
        self.assertEqual(m.group("what"), "stored")
        self.assert_no_secrets(self.raw(m.group("id")), REPORTER_SECRETS, "stored mail")
        self.assert_disk_clean(REPORTER_SECRETS)

    def test_pipe_redelivery_is_a_duplicate(self):
        """An MTA that lost the exit status delivers the same message again:
        exit 0 and the report stored the first time. The same bytes with
        other options (another --reporter, another consent) are a new report."""
        args = ("--source", "public", "--consent", "isp", "--reporter", "Hanako Suzuki", "-")
        first = self.ingest(*args, input=sample("forwarded.eml"))
        [m] = self.parse_lines(first.stderr.decode())
        again = self.ingest(*args, input=sample("forwarded.eml"))
        self.assertEqual(again.returncode, 0)
        self.assertEqual(again.stderr.decode(), "-: duplicate of %s seq %s\n"
                         % (m.group("id"), m.group("seq")))
        for other in (("--source", "public", "--consent", "isp", "-"),
                      ("--source", "public", "--consent", "association", "--reporter",
                       "Hanako Suzuki", "-")):
            r = self.ingest(*other, input=sample("forwarded.eml"))
            [n] = self.parse_lines(r.stderr.decode())
            self.assertNotEqual(n.group("id"), m.group("id"))

    def test_stdin_quarantined_is_delivered(self):
        r = self.ingest("--source", "public", "-", input=sample("anonymous.eml"))
        self.assertEqual(r.returncode, 0)
        [m] = self.parse_lines(r.stderr.decode())
        self.assertEqual(m.group("what"), "quarantined")

    def assert_pipe(self, r, code, *needles):
        self.assertEqual(r.returncode, code, r.stderr)
        self.assertEqual(r.stdout, b"")
        lines = [l for l in r.stderr.decode().splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, r.stderr)
        for n in needles:
            self.assertIn(n, lines[0])

    def test_pipe_unusable(self):
        conf = self.server_conf(max_message_size="1K")
        big = sample("monitor.eml") + b"x" * 2000 + b"\r\n"
        r = self.ingest("--source", "monitor", "-", input=big, check=False, config=conf)
        self.assert_pipe(r, 65, "max_message_size")
        # At the limit exactly it is taken, one byte more is not. (The trap
        # address is longer than its replacement, so the redacted mail stays
        # within the limit for the pipeline's own checks too.)
        edge = sample("monitor.eml").replace(b"trap01@monitor.example",
                                             b"trap-address-long01@monitor.example")
        edge += b"\r\n" * ((1024 - len(edge)) // 2) + b"\n" * (len(edge) % 2)
        self.assertEqual(len(edge), 1024)
        r = self.ingest("--source", "monitor", "-", input=edge + b"\n", check=False,
                        config=conf)
        self.assert_pipe(r, 65, "max_message_size (1024 bytes)")
        r = self.ingest("--source", "monitor", "-", input=edge, check=False, config=conf)
        self.assert_pipe(r, 0, "stored")
        r = self.ingest("--source", "monitor", "-", input=b"", check=False)
        self.assert_pipe(r, 65, "empty message")

    def test_pipe_config_errors(self):
        r = self.ingest("--source", "monitor", "-", input=b"x", check=False,
                        config=os.path.join(self.dir, "missing.conf"))
        self.assert_pipe(r, 78, "missing.conf")
        conf = self.server_conf()
        with open(conf, "a") as f:
            f.write("colour = blue\n")
        r = self.ingest("--source", "monitor", "-", input=b"x", check=False, config=conf)
        self.assert_pipe(r, 78, "colour")
        # A database that is not there is the operator's to fix, not the sender's.
        r = run([SPREXCTL, "--db", os.path.join(self.dir, "none.db"), "ingest", "--source",
                 "monitor", "-"], input=sample("monitor.eml"), check=False)
        self.assert_pipe(r, 78, "none.db")

    def test_pipe_busy(self):
        """Another writer holds the database past the busy timeout (5 s,
        the one slow test): try again later, and nothing is stored."""
        con = sqlite3.connect(self.db, isolation_level=None, timeout=0)
        try:
            con.execute("BEGIN EXCLUSIVE")
            r = self.ingest("--source", "monitor", "-", input=sample("monitor.eml"),
                            check=False)
        finally:
            con.execute("ROLLBACK")
            con.close()
        self.assert_pipe(r, 75, "try again later")
        q = sqlite3.connect(self.db)
        try:
            self.assertEqual(q.execute("SELECT count(*) FROM reports").fetchone()[0], 0)
        finally:
            q.close()
        r = self.ingest("--source", "monitor", "-", input=sample("monitor.eml"))
        self.assertEqual(r.returncode, 0)

    # ---------------------------------------------------------- retention

    def test_notices_and_purge(self):
        """notices lists what ISPs were sent and did; purge deletes a prefix
        of the sequence with its notices, and its content leaves the disk."""
        self.add_member("isp-b", "isp", "203.0.113.0/24")
        fwd = self.put("fwd.eml", sample("forwarded.eml"))
        mon = self.put("mon.eml", sample("monitor.eml"))
        [old] = self.parse_lines(self.ingest("--source", "public", "--consent", "isp",
                                             fwd).stdout)
        [new] = self.parse_lines(self.ingest("--source", "monitor", mon).stdout)
        self.assertIn(b"SPAM-TOKEN-7731", self.raw(old.group("id")))
        # The notices feed is not served yet by this branch: record the
        # deliveries and one action as the server will, and age the first
        # report past retention.
        db = sqlite3.connect(self.db)
        with db:
            isp = db.execute("SELECT id FROM members WHERE name = 'isp-b'").fetchone()[0]
            db.execute("UPDATE reports SET received_ms = received_ms - 40 * 86400000 "
                       "WHERE seq = ?", (int(old.group("seq")),))
            for m in (old, new):
                db.execute("INSERT INTO notices (seq, isp, sent_ms) VALUES (?, ?, ?)",
                           (int(m.group("seq")), isp, 1764345600000))
            db.execute("INSERT INTO notice_actions (seq, isp, action, note, time_ms) "
                       "VALUES (?, ?, 2, 'warned', 1764345660000)", (int(new.group("seq")), isp))
            db.execute("UPDATE notices SET actions = 1 WHERE seq = ?", (int(new.group("seq")),))
        db.close()

        lines = self.ctl("notices").stdout.splitlines()
        self.assertEqual(lines[0].split(), ["REPORT", "SEQ", "ISP", "SENT", "ACTION", "AT"])
        self.assertEqual(len(lines), 3, lines)
        self.assertEqual(lines[1].split(), [old.group("id"), old.group("seq"), "isp-b",
                                            "2025-11-28T16:00:00Z", "open", "-"])
        self.assertEqual(lines[2].split(), [new.group("id"), new.group("seq"), "isp-b",
                                            "2025-11-28T16:00:00Z", "warning",
                                            "2025-11-28T16:01:00Z"])
        lines = self.ctl("notices", "--open", "--isp", "isp-b").stdout.splitlines()
        self.assertEqual([l.split()[0] for l in lines[1:]], [old.group("id")])
        r = self.ctl("notices", "--isp", "nobody", check=False)
        self.assertEqual(r.returncode, 65)

        r = self.ctl("purge", "--days", "30")
        self.assertRegex(r.stdout, r"^purged 1 reports received before "
                         r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; horizon: seq %s\n$"
                         % old.group("seq"))
        self.assertEqual(self.ctl("report", "show", old.group("id"), check=False).returncode,
                         65)
        self.show(new.group("id"))
        lines = self.ctl("notices").stdout.splitlines()
        self.assertEqual([l.split()[0] for l in lines[1:]], [new.group("id")])
        self.assert_disk_clean([b"SPAM-TOKEN-7731"])
        # Again: nothing more is that old, and the horizon stays.
        r = self.ctl("purge", "--days", "30")
        self.assertIn("purged 0 reports", r.stdout)
        self.assertIn("horizon: seq %s" % old.group("seq"), r.stdout)
        for args, needle in [([], "either"), (["--days", "0"], "1 to 36500"),
                             (["--days", "1", "--before", "2025-01-01"], "either"),
                             (["--before", "2025-02-29"], "UTC time"),
                             (["--before", "2999-01-01"], "future")]:
            with self.subTest(args=args):
                r = self.ctl("purge", *args, check=False)
                self.assertEqual(r.returncode, 64, r.stderr)
                self.assertIn(needle, r.stderr)

    def test_with_server_running(self):
        self.start_server()
        r = self.ingest("--source", "monitor", "-", input=sample("monitor.eml"))
        [m] = self.parse_lines(r.stderr.decode())
        self.assertEqual(m.group("what"), "stored")
        self.stop_server()

    # ---------------------------------------------------------- usage

    def test_usage(self):
        f = self.put("m.eml", sample("monitor.eml"))
        cases = [
            (["--source", "monitor", "--consent", "isp", f], "public only"),
            (["--source", "public", "--consent", "police", f], "unknown consent"),
            (["--source", "spam", f], "unknown source"),
            ([f], "missing --source"),
            (["--source", "monitor"], "nothing to ingest"),
            (["--source", "monitor", "-", f], "alone"),
            (["--source", "monitor", "--maildir", self.inbox, f], "not several"),
            (["--source", "monitor", "--jobs", "0", f], "--jobs needs a number from 1 to 64"),
            (["--source", "monitor", "--jobs", "65", f], "--jobs needs a number"),
            (["--source", "monitor", "--jobs", "2x", f], "not '2x'"),
            (["--source", "monitor", "--jobs", "-1", f], "--jobs needs a number"),
        ]
        for args, needle in cases:
            with self.subTest(args=args):
                r = self.ingest(*args, check=False)
                self.assertEqual(r.returncode, 64, r.stderr)
                self.assertIn(needle, r.stderr)
        # the limit itself is accepted (64 threads for two messages)
        g = self.put("g.eml", b"X-Other: 1\r\n" + sample("monitor.eml"))
        r = self.ingest("--source", "monitor", "--jobs", "64", f, g)
        self.assertEqual(len(self.parse_lines(r.stdout)), 2)
        self.assertEqual(self.ctl("quarantine", "list").stdout.count("\n"), 1)
        r = self.ctl("report", "show", "nope", check=False)
        self.assertEqual(r.returncode, 65)
        self.assertIn("invalid report id", r.stderr)
        r = self.ctl("report", "raw", "r" + "a" * 25, check=False)
        self.assertEqual(r.returncode, 65)
        self.assertIn("no report", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
