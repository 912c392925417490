#!/usr/bin/env python3
"""tests/bench/tunnel_bench.py - `make bench` figures for `sasl-oauth2 tunnel`
against a reference measured in the same run on the same host:

  login:  time until a client has a logged-in IMAP session; the tunnel (run
          as a command, greeting '* PREAUTH') against a direct TLS client that
          connects, verifies and logs in with AUTHENTICATE XOAUTH2 itself.
  relay:  MB/s of FETCH BODY.PEEK[] of the largest INBOX message; through
          the tunnel's pipes against the same reader on a direct TLS socket.

The access token for the direct client comes on stdin (never argv).
"""
import argparse
import base64
import resource
import socket
import ssl
import statistics
import subprocess
import sys
import time


def direct_open(port, ca):
    ctx = ssl.create_default_context(cafile=ca)
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s = ctx.wrap_socket(s, server_hostname="localhost")
    return s, s.makefile("rwb", buffering=65536)


def direct_login(port, ca, user, token):
    s, f = direct_open(port, ca)
    f.readline()
    ir = base64.b64encode(b"user=%s\x01auth=Bearer %s\x01\x01" % (user, token))
    f.write(b"L1 AUTHENTICATE XOAUTH2 " + ir + b"\r\n")
    f.flush()
    while True:
        line = f.readline()
        if not line:
            raise RuntimeError("direct login: connection closed")
        if line.startswith(b"L1 "):
            if not line.startswith(b"L1 OK"):
                raise RuntimeError("direct login refused: %r" % line)
            return s, f


def tunnel_login(cmd):
    p = subprocess.Popen(cmd, shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         bufsize=65536)
    line = p.stdout.readline()
    if not line.startswith(b"* PREAUTH"):
        raise RuntimeError("tunnel: no PREAUTH: %r" % line)
    return p, p.stdin, p.stdout


def fetch_largest(w, r):
    """FETCH the last message (the big one) and return the bytes read."""
    w.write(b"F1 SELECT INBOX\r\n")
    w.flush()
    n = 0
    while True:
        line = r.readline()
        if line.endswith(b" EXISTS\r\n"):
            n = int(line.split()[1])
        if line.startswith(b"F1 "):
            break
    w.write(b"F2 FETCH %d BODY.PEEK[]\r\n" % n)
    w.flush()
    got = 0
    while True:
        line = r.readline()
        if not line:
            raise RuntimeError("connection closed during FETCH")
        if line.rstrip().endswith(b"}") and b"{" in line:
            size = int(line[line.rindex(b"{") + 1:line.rindex(b"}")])
            left = size
            while left:
                chunk = r.read(min(left, 1 << 20))
                if not chunk:
                    raise RuntimeError("short literal")
                left -= len(chunk)
            got += size
        elif line.startswith(b"F2 "):
            return got


def logout(w, r):
    w.write(b"Z LOGOUT\r\n")
    w.flush()
    while r.readline():
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--tunnel", required=True, help="the tunnel command line")
    ap.add_argument("--helper", required=True, help="the helper, for its start time")
    ap.add_argument("--logins", type=int, default=30)
    ap.add_argument("--fetches", type=int, default=3)
    a = ap.parse_args()
    token = sys.stdin.readline().strip().encode()
    user = a.user.encode()

    # Interleaved, so both see the same machine load; medians.
    t_direct, t_tunnel = [], []
    for _ in range(a.logins):
        t0 = time.perf_counter()
        s, f = direct_login(a.port, a.ca, user, token)
        t_direct.append(time.perf_counter() - t0)
        logout(f, f)
        s.close()
        t0 = time.perf_counter()
        p, w, r = tunnel_login(a.tunnel)
        t_tunnel.append(time.perf_counter() - t0)
        logout(w, r)
        p.wait(30)
    md, mt = statistics.median(t_direct), statistics.median(t_tunnel)
    # What starting the helper alone costs (exec and its shared libraries),
    # the same way the tunnel is started: part of "added", not of the login.
    t_start = []
    for _ in range(a.logins):
        t0 = time.perf_counter()
        subprocess.run(a.helper + " --version", shell=True, stdout=subprocess.DEVNULL,
                       check=True)
        t_start.append(time.perf_counter() - t0)
    ms = statistics.median(t_start)
    print("tunnel login: direct TLS login %.2f ms, tunnel to PREAUTH %.2f ms, "
          "added %.2f ms (goal <= 5 ms), of which starting the helper process "
          "(sasl-oauth2 --version) %.2f ms [medians of %d]"
          % (md * 1e3, mt * 1e3, (mt - md) * 1e3, ms * 1e3, a.logins))

    # CPU time of the child processes does not depend on the machine's load
    # the way wall-clock time does.
    def child_cpu():
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime
    c0 = child_cpu()
    for _ in range(a.logins):
        p, w, r = tunnel_login(a.tunnel)
        logout(w, r)
        p.wait(30)
    c1 = child_cpu()
    for _ in range(a.logins):
        subprocess.run(a.helper + " --version", shell=True, stdout=subprocess.DEVNULL,
                       check=True)
    c2 = child_cpu()
    print("tunnel login CPU: %.2f ms per session (login and LOGOUT), of which %.2f ms "
          "starting the helper process [means of %d]"
          % ((c1 - c0) / a.logins * 1e3, (c2 - c1) / a.logins * 1e3, a.logins))

    r_direct, r_tunnel = [], []
    size = 0
    for _ in range(a.fetches):
        s, f = direct_login(a.port, a.ca, user, token)
        t0 = time.perf_counter()
        size = fetch_largest(f, f)
        r_direct.append(size / (time.perf_counter() - t0))
        logout(f, f)
        s.close()
        p, w, r = tunnel_login(a.tunnel)
        t0 = time.perf_counter()
        size = fetch_largest(w, r)
        r_tunnel.append(size / (time.perf_counter() - t0))
        logout(w, r)
        p.wait(30)
    bd, bt = max(r_direct), max(r_tunnel)
    print("tunnel relay: %d-byte FETCH, direct TLS %.1f MB/s, through the tunnel "
          "%.1f MB/s = %.0f %% (goal >= 80 %%) [best of %d]"
          % (size, bd / 1e6, bt / 1e6, 100 * bt / bd, a.fetches))
    return 0


if __name__ == "__main__":
    sys.exit(main())
