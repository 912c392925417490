#!/usr/bin/env python3
"""tests/integration/tunnel_client.py - an IMAP client that runs a command as
its connection (imaplib's IMAP4_stream, as mutt's tunnel and isync's Tunnel
do), for the tunnel tests and the bench.

  tunnel_client.py sha256 CMD      print "<n> <sha256>" of each INBOX message
                                   (BODY.PEEK[], the exact bytes the server sent)
  tunnel_client.py parallel N CMD  N sessions at once, each lists INBOX and
                                   fetches every message; prints how many
                                   sessions succeeded; exit 0 when all did
  tunnel_client.py time CMD        seconds until the session is usable
                                   (greeting read), then LOGOUT
"""
import hashlib
import imaplib
import sys
import threading
import time


def session(cmd):
    m = imaplib.IMAP4_stream(cmd)
    if m.state != "AUTH":
        raise RuntimeError("no PREAUTH greeting: %r" % m.welcome)
    return m


def fetch_all(m):
    typ, data = m.select("INBOX", readonly=True)
    if typ != "OK":
        raise RuntimeError("SELECT failed: %r" % data)
    n = int(data[0])
    out = []
    for i in range(1, n + 1):
        typ, data = m.fetch(str(i), "(BODY.PEEK[])")
        if typ != "OK" or not data or not isinstance(data[0], tuple):
            raise RuntimeError("FETCH %d failed: %r" % (i, data))
        out.append(data[0][1])
    return out


def cmd_sha256(cmd):
    m = session(cmd)
    for i, body in enumerate(fetch_all(m), 1):
        print(i, hashlib.sha256(body).hexdigest(), len(body))
    m.logout()
    return 0


def cmd_parallel(n, cmd):
    ok = []
    errors = []

    def one(k):
        try:
            m = session(cmd)
            bodies = fetch_all(m)
            m.logout()
            if bodies:
                ok.append(k)
            else:
                errors.append("%d: empty INBOX" % k)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            errors.append("%d: %s" % (k, e))

    threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    print(len(ok))
    for e in errors:
        print("error:", e, file=sys.stderr)
    return 0 if len(ok) == n else 1


def cmd_time(cmd):
    t0 = time.monotonic()
    m = session(cmd)
    t1 = time.monotonic()
    m.logout()
    print("%.6f" % (t1 - t0))
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "sha256":
        return cmd_sha256(argv[2])
    if len(argv) == 4 and argv[1] == "parallel":
        return cmd_parallel(int(argv[2]), argv[3])
    if len(argv) == 3 and argv[1] == "time":
        return cmd_time(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
