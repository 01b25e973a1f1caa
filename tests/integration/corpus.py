"""Synthetic spam for the delivery tests, and a World that ingests it."""
import os
import time

from harness import SLOW, World

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
PLAIN_BODY = "Hi, are we still on for lunch tomorrow at noon?\r\n"


def spam(n, ip="203.0.113.7", advert=True):
    text = SPAM.format(n=n, ip=ip)
    if not advert:
        text = text.replace(text[text.index("Everything"):], PLAIN_BODY)
        text = text.replace("Big sale", "Lunch")
    return text.encode()


def forwarded(n, inner):
    """A reporter's mail forwarding the spam as a message/rfc822 part."""
    return (
        "From: Reporter %d <reporter%d@example.jp>\r\n"
        "To: report@center.example\r\n"
        "Subject: Fwd: spam\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n"
        "--b%d\r\nContent-Type: text/plain\r\n\r\nPlease look at this.\r\n"
        "--b%d\r\nContent-Type: message/rfc822\r\n\r\n" % (n, n, n, n, n)
    ).encode() + inner + ("\r\n--b%d--\r\n" % n).encode()


def wait_until(pred, timeout=15.0, what="condition"):
    end = time.time() + timeout * SLOW
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


class SpamWorld(World):
    """A World with an inbox and sprexctl ingest of synthetic spam."""

    def setUp(self):
        super().setUp()
        self.n = 0
        self.inbox = os.path.join(self.dir, "inbox")
        os.mkdir(self.inbox)

    def ingest_rows(self, count=1, source="monitor", ip="203.0.113.7", consent=None):
        """Ingests count new spams; returns [(report id, seq)] of those stored."""
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
        return [(line.split()[2], int(line.split(" seq ")[1].split(":")[0]))
                for line in out.splitlines() if " stored " in line]

    def ingest(self, *a, **kw):
        """Report ids of the stored spams (see ingest_rows)."""
        return [rid for rid, _ in self.ingest_rows(*a, **kw)]

    def ingest_seqs(self, *a, **kw):
        return [seq for _, seq in self.ingest_rows(*a, **kw)]
