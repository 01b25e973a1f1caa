"""sprexctl audit: verify, export, checkpoint, pubkey, and the operator
records of sprexctl's commands, on the real binaries.

The tamper cases act as an attacker with write access to the database file
(Python's sqlite3, triggers dropped); each must make `sprexctl audit verify`
exit 65 and name what failed. Signatures are checked with the openssl
command line exactly as docs/audit.md tells an auditor to.
"""
import csv
import io
import json
import os
import pwd
import re
import shutil
import sqlite3
import subprocess
import unittest

from harness import World, run, SRC, pb

DATAERR = 65
DROP = ("DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete; "
        "DROP TRIGGER IF EXISTS audit_append_only; DROP TRIGGER IF EXISTS audit_nodes_no_update; "
        "DROP TRIGGER IF EXISTS audit_nodes_no_delete; "
        "DROP TRIGGER IF EXISTS audit_checkpoints_no_delete; "
        "DROP TRIGGER IF EXISTS audit_checkpoints_no_update;")


class Audit(World):

    def export(self, *args):
        r = self.ctl("audit", "export", *args)
        return [json.loads(l) for l in r.stdout.splitlines()]

    def attack(self, sql):
        con = sqlite3.connect(self.db)
        con.executescript(DROP + sql)
        con.commit()
        con.close()

    def sign(self):
        return self.ctl("audit", "checkpoint", "--sign").stdout

    def save(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def verify_fails(self, *args):
        r = self.ctl("audit", "verify", *args, check=False)
        self.assertEqual(r.returncode, DATAERR, r.stdout + r.stderr)
        return r.stderr

    def populate(self):
        self.add_member("isp1", "isp", "192.0.2.0/24")
        self.add_member("vendor1", "vendor")
        self.ctl("member", "suspend", "vendor1")
        self.ctl("member", "resume", "vendor1")

    # ------------------------------------------------------------ records

    def test_operator_records(self):
        user = pwd.getpwuid(os.geteuid()).pw_name
        self.populate()
        self.ctl("member", "remove", "vendor1")
        r = self.ctl("member", "add", "isp1", "--role", "isp", "--cert",
                     self.pki.cert("isp1"), "--prefix", "192.0.2.0/24",
                     check=False)   # taken: refused by the store
        self.assertEqual(r.returncode, DATAERR)
        self.ctl("ingest", "--source", "monitor",
                 os.path.join(SRC, "tests/data/intake/monitor.eml"))
        self.ctl("purge", "--before", "2000-01-01")
        recs = self.export()
        ops = [r for r in recs if r["event"] == "operator"]
        objects = [r["object"] for r in ops]
        for want in ("init ", "member add member=isp1 role=isp", "member add member=vendor1",
                     "member suspend member=vendor1", "member resume member=vendor1",
                     "member remove member=vendor1", "ingest files", "purge before="):
            self.assertTrue(any(o.startswith(want) for o in objects), (want, objects))
        for r in ops:
            self.assertEqual(r["os_user"], user)
            self.assertRegex(r["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        # A refused command is recorded with its failure; the export itself too.
        self.assertTrue(any(r["outcome"].startswith("failed") for r in ops))
        self.assertEqual([r["leaf_index"] for r in recs], list(range(len(recs))))
        again = self.export("--event", "operator")
        self.assertTrue(again[-1]["object"].startswith("audit export"))
        # No mail content or reporter identifier in any record.
        with open(os.path.join(SRC, "tests/data/intake/monitor.eml"), "rb") as f:
            mail = f.read().decode("utf-8", "replace")
        text = self.ctl("audit", "export").stdout
        addrs = set(re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", mail))
        self.assertTrue(addrs)
        for a in addrs:
            self.assertNotIn(a, text)
        subject = re.search(r"^Subject: *(.+)$", mail, re.M)
        if subject and len(subject.group(1).strip()) > 6:
            self.assertNotIn(subject.group(1).strip(), text)

    def test_export_filters_and_csv(self):
        self.populate()
        all_ = self.export()
        self.assertEqual(len(self.export("--member", "nobody")), 0)
        self.assertEqual(len(self.export("--since", "2999-01-01")), 0)
        self.assertEqual(len(self.export("--until", "2000-01-01T00:00:00Z")), 0)
        first = all_[0]["time"]
        self.assertGreaterEqual(len(self.export("--since", first)), len(all_))
        r = self.ctl("audit", "export", "--format", "csv", "--event", "operator")
        rows = list(csv.reader(io.StringIO(r.stdout)))
        self.assertEqual(rows[0], ["leaf_index", "time", "time_ms", "event", "member", "spki",
                                   "peer", "object", "outcome", "os_user", "leaf_hash"])
        self.assertGreaterEqual(len(rows) - 1, len(all_))
        self.assertTrue(all(len(x) == 11 for x in rows))
        r = self.ctl("audit", "export", "--format", "xml", check=False)
        self.assertEqual(r.returncode, 64)
        r = self.ctl("audit", "export", "--event", "bogus", check=False)
        self.assertEqual(r.returncode, 64)

    # ------------------------------------------------------------ keys, notes

    def test_key_checkpoint_openssl(self):
        key = self.db + ".audit-key"
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        self.populate()
        note = self.sign()
        lines = note.split("\n")
        self.assertTrue(lines[0].startswith("sprex.") and lines[0].endswith("/audit"))
        size = int(lines[1])
        self.assertGreater(size, 0)
        self.assertEqual(lines[3], "")
        self.assertTrue(lines[4].startswith("\u2014 " + lines[0] + " "))
        self.assertEqual(self.ctl("audit", "checkpoint").stdout, note)
        # The auditor's procedure of docs/audit.md, with openssl alone.
        pub = self.save("audit.pub", self.ctl("audit", "pubkey").stdout)
        body = self.save("body", "\n".join(lines[:3]) + "\n")
        sigb64 = lines[4].split(" ")[2]
        import base64
        raw = base64.b64decode(sigb64)
        vkey = self.ctl("audit", "pubkey", "--vkey").stdout.strip()
        self.assertEqual(raw[:4].hex(), vkey.split("+")[1])
        sig = os.path.join(self.dir, "sig")
        with open(sig, "wb") as f:
            f.write(raw[4:])
        r = run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin",
                 "-in", body, "-sigfile", sig], check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Signature Verified Successfully", r.stdout)
        self.save("body", "\n".join([lines[0], str(size + 1), lines[2]]) + "\n")
        r = run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin",
                 "-in", body, "-sigfile", sig], check=False)
        self.assertNotEqual(r.returncode, 0)
        # Nothing new: no new checkpoint, the latest printed again.
        r = self.ctl("audit", "verify")
        self.assertIn("audit log ok", r.stdout)

    # ------------------------------------------------------------ tampering

    def test_verify_clean_and_extends(self):
        self.populate()
        old = self.save("old.cp", self.sign())
        self.add_member("isp2", "isp", "198.51.100.0/24")
        self.sign()
        r = self.ctl("audit", "verify", "--checkpoint", old)
        self.assertIn("1 external checkpoint(s) consistent", r.stdout)

    def test_tamper_changed_leaf(self):
        self.populate()
        self.sign()
        self.attack("UPDATE audit SET os_user = 'mallory' WHERE leaf_index = 2;")
        err = self.verify_fails()
        self.assertIn("leaf 2: stored hash does not match the record", err)

    def test_tamper_rehashed_leaf(self):
        """The attacker recomputes the leaf and node hashes: the signed
        checkpoint no longer matches."""
        self.populate()
        old = self.save("old.cp", self.sign())
        recs = self.export()
        n = len(recs)
        # Rebuild a consistent tree over a rewritten record with Python.
        import hashlib
        con = sqlite3.connect(self.db)
        con.executescript(DROP)
        con.execute("UPDATE audit SET os_user = 'mallory' WHERE leaf_index = 1")
        rows = con.execute("SELECT time_ms, event, member, spki, peer, object, outcome, "
                           "os_user FROM audit ORDER BY leaf_index").fetchall()
        leaves = []
        for row in rows:
            enc = b"SXA1" + row[0].to_bytes(8, "big")
            for field in row[1:]:
                b = field.encode()
                enc += len(b).to_bytes(4, "big") + b
            leaves.append(hashlib.sha256(b"\x00" + enc).digest())
        for i, h in enumerate(leaves):
            con.execute("UPDATE audit SET leaf_hash = ? WHERE leaf_index = ?", (h, i))
        level, cur = 0, leaves
        while len(cur) > 1:
            nxt = [hashlib.sha256(b"\x01" + cur[2 * j] + cur[2 * j + 1]).digest()
                   for j in range(len(cur) // 2)]
            level += 1
            for j, h in enumerate(nxt):
                con.execute("UPDATE audit_nodes SET hash = ? WHERE level = ? AND idx = ?",
                            (h, level, j))
            cur = nxt
        con.commit()
        con.close()
        err = self.verify_fails("--checkpoint", old)
        self.assertNotIn("leaf 1:", err)       # the tree is self-consistent ...
        self.assertGreater(n, 1)
        self.assertRegex(err, r"checkpoint 1 \(size \d+\)")   # ... the signature is not
        self.assertIn("history rewritten", err)
        self.assertIn(old + ":", err)

    def test_tamper_reordered(self):
        self.populate()
        self.sign()
        self.attack("UPDATE audit SET leaf_index = 1000 WHERE leaf_index = 1;"
                    "UPDATE audit SET leaf_index = 1 WHERE leaf_index = 2;"
                    "UPDATE audit SET leaf_index = 2 WHERE leaf_index = 1000;")
        err = self.verify_fails()
        self.assertRegex(err, r"node 1/\d+ \(leaves \d+\.\.\d+\): hash does not match")

    def test_tamper_deleted_trailing(self):
        self.populate()
        cp = self.save("auditor.cp", self.sign())
        with open(cp) as f:
            size = int(f.read().split("\n")[1])
        self.attack("DELETE FROM audit WHERE leaf_index >= %d;"
                    "DELETE FROM audit_nodes WHERE (idx + 1) << level > %d;"
                    "DELETE FROM audit_checkpoints;" % (size - 2, size - 2))
        # The tree alone is consistent again; the auditor's checkpoint is not.
        r = self.ctl("audit", "verify", check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        err = self.verify_fails("--checkpoint", cp)
        self.assertIn("%s: checkpoint of %d records, but the log has only %d" %
                      (cp, size, size - 2), err)

    def test_older_backup(self):
        self.populate()
        backup = os.path.join(self.dir, "backup.db")
        src = sqlite3.connect(self.db)
        dst = sqlite3.connect(backup)
        src.backup(dst)
        dst.close()
        src.close()
        shutil.copy(self.db + ".audit-key", backup + ".audit-key")
        self.add_member("isp2", "isp", "198.51.100.0/24")
        newer = self.save("newer.cp", self.sign())
        r = run([os.environ["SPREXCTL"], "--db", backup, "audit", "verify",
                 "--checkpoint", newer], check=False)
        self.assertEqual(r.returncode, DATAERR)
        self.assertIn("restored from an older backup", r.stderr)

    def test_other_key(self):
        self.populate()
        note = self.sign()
        other = os.path.join(self.dir, "other.key")
        run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", other])
        err = self.verify_fails("--key", other)
        self.assertIn("checkpoint 1 (size", err)
        self.assertIn("signed by another key", err)
        # A checkpoint made with another key under the same name.
        odb = os.path.join(self.dir, "other.db")
        run([os.environ["SPREXCTL"], "--db", odb, "init"])
        self.assertTrue(note)
        r = run([os.environ["SPREXCTL"], "--db", odb, "audit", "checkpoint", "--sign"])
        forged = self.save("forged.cp", r.stdout)
        err = self.verify_fails("--checkpoint", forged)
        self.assertIn(forged + ":", err)

    def test_triggers_hold(self):
        self.populate()
        con = sqlite3.connect(self.db)
        for sql in ("UPDATE audit SET outcome = 'x'", "DELETE FROM audit",
                    "DELETE FROM audit_nodes", "UPDATE audit_nodes SET hash = x'00'"):
            with self.assertRaises(sqlite3.DatabaseError, msg=sql):
                con.execute(sql)
        con.close()
        self.assertIn("audit log ok", self.ctl("audit", "verify").stdout)


class AgentAudit(World):
    """sprex-agent audit against a running sprexd: AuditQuery, checkpoint
    signature, consistency with the checkpoint stored by the last run."""

    def setUp(self):
        super().setUp()
        self.add_member("aud1", "auditor")
        self.add_member("vendor1", "vendor")
        self.start_server()
        self.pub = os.path.join(self.dir, "audit.pub")
        with open(self.pub, "w") as f:
            f.write(self.ctl("audit", "pubkey").stdout)
        self.state = os.path.join(self.dir, "aud1.cp")

    def agent(self, name="aud1", pub=None, *args):
        conf = self.write_agent_conf(name)
        return run([os.environ["SPREX_AGENT"], "audit", "--config", conf, "--pubkey",
                    pub or self.pub, "--state", self.state, *args], check=False)

    def test_first_run_then_consistent(self):
        self.ctl("audit", "checkpoint", "--sign")
        r = self.agent()
        self.assertEqual(r.returncode, 0, r.stderr)
        recs = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertTrue(any(x["object"].startswith("member add member=aud1") for x in recs))
        self.assertIn("stored (first run)", r.stderr)
        with open(self.state) as f:
            first = f.read()
        self.add_member("isp1", "isp", "192.0.2.0/24")
        self.ctl("audit", "checkpoint", "--sign")
        r = self.agent("aud1", None, "--format", "csv", "--event", "audit-query")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("consistent with the stored one", r.stderr)
        rows = list(csv.reader(io.StringIO(r.stdout)))
        self.assertEqual(rows[0][0], "leaf_index")
        self.assertTrue(all(x[2] == "audit-query" and x[3] == "aud1" for x in rows[1:]))
        self.assertGreaterEqual(len(rows), 2)
        with open(self.state) as f:
            self.assertNotEqual(f.read(), first)

    def deliver_one(self):
        """Ingests a monitor report and has vendor1 receive and ack it on
        the association feed: one deliver record, "delivery 1"."""
        self.ctl("ingest", "--source", "monitor",
                 os.path.join(SRC, "tests/data/intake/monitor.eml"))
        c = self.connect("vendor1")
        c.hello()
        c.recv_kind("welcome")
        f = pb.Frame()
        f.id = 1
        f.subscribe.name = "main"
        f.subscribe.feed = pb.FEED_ASSOCIATION
        f.subscribe.start.earliest = True
        c.send(f)
        sub = c.recv_kind("subscribed").subscribed
        d = c.recv_kind("deliver", 20).deliver
        a = pb.Frame()
        a.ack.sub_id = sub.sub_id
        r = a.ack.ranges.add()
        r.first = r.last = d.seq
        c.send(a)
        c.close()

    def test_stats_over_the_wire(self):
        self.deliver_one()
        # The raw answer: records, then Stats, then the Checkpoint last.
        self.ctl("audit", "checkpoint", "--sign")
        c = self.connect("aud1")
        c.hello()
        c.recv_kind("welcome")
        q = pb.Frame()
        q.id = 7
        q.audit_query.event = "deliver"
        q.audit_query.stats = True
        c.send(q)
        kinds, months = [], []
        while True:
            f = c.recv(20)
            self.assertIsNotNone(f)
            k = f.WhichOneof("msg")
            if k in ("ping", "pong"):
                continue
            self.assertNotEqual(k, "error", f)
            self.assertEqual(f.id, 7)
            kinds.append(k)
            if k == "stats":
                months += f.stats.months
            if k == "checkpoint":
                break
        self.assertEqual(kinds[-2:], ["stats", "checkpoint"])
        self.assertEqual(set(kinds[:-2]), {"audit_record"})
        self.assertEqual(len(months), 1)   # the data span is this month
        fig = dict(months[0].figures)
        self.assertEqual(fig["reports.monitor"], 1)
        self.assertEqual(fig["deliveries.association"], 1)
        self.assertEqual(fig["deliveries.enforcement"], 0)
        # Without stats: no Stats frame.
        q.id = 8
        q.audit_query.stats = False
        c.send(q)
        while True:
            f = c.recv(20)
            k = f.WhichOneof("msg")
            self.assertNotEqual(k, "stats")
            if k == "checkpoint":
                break
        # More than 1200 months: one Error, nothing else.
        q.id = 9
        q.audit_query.stats = True
        q.audit_query.since_ms = 1
        q.audit_query.until_ms = 7258118400000   # 2200-01-01
        c.send(q)
        f = c.recv_kind("error", 20)
        self.assertEqual(f.id, 9)
        self.assertEqual(f.error.code, pb.ERROR_INVALID)
        c.close()

        # sprex-agent audit --stats prints what sprexctl stats prints.
        self.ctl("audit", "checkpoint", "--sign")
        r = self.agent("aud1", None, "--stats", "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 month(s) of statistics", r.stderr)
        wire = json.loads(r.stdout)
        local = json.loads(self.ctl("stats", "--format", "json").stdout)
        self.assertEqual(wire["months"], local["months"])
        self.assertEqual(wire["months"][0]["figures"]["deliveries.association"], 1)
        for fmt in ("csv", "text"):
            r = self.agent("aud1", None, "--stats", "--format", fmt)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, self.ctl("stats", "--format", fmt).stdout, fmt)
        # --since past the data: one empty month from the since month on
        r = self.agent("aud1", None, "--stats", "--format", "json", "--since", "2099-05-01")
        self.assertEqual(r.returncode, 0, r.stderr)
        months = json.loads(r.stdout)["months"]
        self.assertEqual([m["month"] for m in months], ["2099-05"])
        self.assertEqual(set(months[0]["figures"].values()), {0})
        r = self.agent("aud1", None, "--stats", "--format", "jsonl")
        self.assertEqual(r.returncode, 64, r.stderr)
        # the query is in the log, with its stats flag
        objs = [x["object"] for x in self.ctl_export_queries()]
        self.assertTrue(any(o.endswith(" stats") for o in objs), objs)

    def ctl_export_queries(self):
        r = self.ctl("audit", "export", "--event", "audit-query")
        return [json.loads(l) for l in r.stdout.splitlines()]

    def test_not_for_other_roles(self):
        self.ctl("audit", "checkpoint", "--sign")
        r = self.agent("vendor1")
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertFalse(os.path.exists(self.state))

    def test_bad_signature(self):
        self.ctl("audit", "checkpoint", "--sign")
        other = os.path.join(self.dir, "other.key")
        run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", other])
        otherpub = os.path.join(self.dir, "other.pub")
        run(["openssl", "pkey", "-in", other, "-pubout", "-out", otherpub])
        r = self.agent("aud1", otherpub)
        self.assertEqual(r.returncode, DATAERR)
        self.assertIn("AUDIT ALARM", r.stderr)
        self.assertIn("does not verify", r.stderr)
        self.assertFalse(os.path.exists(self.state))

    def truncate(self, keep):
        con = sqlite3.connect(self.db)
        con.executescript(DROP + "DELETE FROM audit WHERE leaf_index >= %d;"
                          "DELETE FROM audit_nodes WHERE (idx + 1) << level > %d;"
                          "DELETE FROM audit_checkpoints;" % (keep, keep))
        con.commit()
        con.close()

    def test_rollback(self):
        self.add_member("isp1", "isp", "192.0.2.0/24")
        self.ctl("audit", "checkpoint", "--sign")
        self.assertEqual(self.agent().returncode, 0)
        with open(self.state) as f:
            size = int(f.read().split("\n")[1])
        self.truncate(size - 3)
        self.ctl("audit", "checkpoint", "--sign")   # a smaller, validly signed log
        r = self.agent()
        self.assertEqual(r.returncode, DATAERR, r.stderr)
        self.assertIn("AUDIT ALARM: rollback", r.stderr)

    def test_fork(self):
        self.add_member("isp1", "isp", "192.0.2.0/24")
        self.ctl("audit", "checkpoint", "--sign")
        self.assertEqual(self.agent().returncode, 0)
        with open(self.state) as f:
            before = f.read()
        size = int(before.split("\n")[1])
        # History rewritten from record 2 on, then grown past the old size.
        self.truncate(2)
        for i in range(size):
            self.ctl("member", "suspend", "isp1", check=False)
        self.ctl("audit", "checkpoint", "--sign")
        r = self.agent()
        self.assertEqual(r.returncode, DATAERR, r.stderr)
        self.assertIn("AUDIT ALARM: fork or rewritten history", r.stderr)
        with open(self.state) as f:
            self.assertEqual(f.read(), before)   # the verified one is kept


if __name__ == "__main__":
    unittest.main(verbosity=2)
