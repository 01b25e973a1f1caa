"""sprexctl members --public --sign: the published recipient registry,
signed with the audit key, checked with the openssl command line exactly
as docs/audit.md ("The public registry") tells anyone to: the signature
verifies on the list as written, and fails after any one-byte edit.
"""
import json
import os
import subprocess
import unittest

from harness import World

DATAERR = 65


class Registry(World):

    def populate(self):
        self.add_member("isp1", "isp", "192.0.2.0/24")
        self.add_member("vendor1", "vendor")
        self.add_member("police1", "enforcement")
        self.add_member("sub1", "submitter")   # receives nothing: not published
        self.ctl("member", "remove", "vendor1")

    def pubkey(self):
        path = os.path.join(self.dir, "audit.pub")
        with open(path, "w") as f:
            f.write(self.ctl("audit", "pubkey").stdout)
        return path

    def openssl_verify(self, pub, listing, sig):
        return subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub,
                               "-rawin", "-in", listing, "-sigfile", sig],
                              capture_output=True, text=True)

    def signed(self, fmt):
        listing = os.path.join(self.dir, "registry." + fmt)
        sig = listing + ".sig"
        r = self.ctl("members", "--public", "--format", fmt, "--sign", sig)
        with open(listing, "w") as f:
            f.write(r.stdout)
        return listing, sig, r.stdout

    def check_edits(self, pub, listing, sig, text):
        r = self.openssl_verify(pub, listing, sig)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Signature Verified Successfully", r.stdout)
        data = text.encode()
        edited = listing + ".edited"
        # one byte changed at the start, in a name, at the end; one appended
        spots = [0, data.index(b"isp1"), len(data) - 1]
        for i in spots:
            b = bytearray(data)
            b[i] ^= 0x01
            with open(edited, "wb") as f:
                f.write(b)
            r = self.openssl_verify(pub, edited, sig)
            self.assertNotEqual(r.returncode, 0, "edit at byte %d verified" % i)
            self.assertIn("Signature Verification Failure", r.stdout + r.stderr)
        with open(edited, "wb") as f:
            f.write(data + b"\n")
        self.assertNotEqual(self.openssl_verify(pub, edited, sig).returncode, 0)

    def test_text_signed(self):
        self.populate()
        pub = self.pubkey()
        listing, sig, text = self.signed("text")
        self.assertEqual(os.path.getsize(sig), 64)
        lines = text.splitlines()
        self.assertRegex(lines[0], r"^# sprex public registry of sprex\.\S+/audit, "
                         r"generated \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(lines[1].split(), ["NAME", "ROLE", "SINCE", "UNTIL"])
        names = [l.split()[0] for l in lines[2:]]
        self.assertEqual(sorted(names), ["isp1", "police1", "vendor1"])
        self.check_edits(pub, listing, sig, text)

    def test_json_signed(self):
        self.populate()
        pub = self.pubkey()
        listing, sig, text = self.signed("json")
        j = json.loads(text)
        self.assertTrue(j["origin"].endswith("/audit"))
        self.assertIn("generated", j)
        by_name = {m["name"]: m for m in j["members"]}
        self.assertEqual(sorted(by_name), ["isp1", "police1", "vendor1"])
        self.assertIsNotNone(by_name["vendor1"]["until"])
        self.check_edits(pub, listing, sig, text)

    def test_other_key_fails(self):
        self.populate()
        listing, sig, _ = self.signed("text")
        other = os.path.join(self.dir, "other.key")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", other],
                       check=True, capture_output=True)
        other_pub = os.path.join(self.dir, "other.pub")
        subprocess.run(["openssl", "pkey", "-in", other, "-pubout", "-out", other_pub],
                       check=True, capture_output=True)
        self.assertNotEqual(self.openssl_verify(other_pub, listing, sig).returncode, 0)

    def test_unsigned_unchanged_and_errors(self):
        self.populate()
        text = self.ctl("members", "--public").stdout
        self.assertFalse(text.startswith("#"))   # no head without --sign
        self.assertNotIn("origin", json.loads(
            self.ctl("members", "--public", "--format", "json").stdout))
        # no audit key: nothing written, exit 66
        os.rename(self.db + ".audit-key", self.db + ".moved")
        sig = os.path.join(self.dir, "x.sig")
        r = self.ctl("members", "--public", "--sign", sig, check=False)
        self.assertEqual(r.returncode, 66, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertFalse(os.path.exists(sig))
        r = self.ctl("members", "--public", "--sign", "", check=False)
        self.assertEqual(r.returncode, 64)


if __name__ == "__main__":
    unittest.main(verbosity=2)
