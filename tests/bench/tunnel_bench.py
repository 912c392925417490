#!/usr/bin/env python3
"""tests/bench/tunnel_bench.py - `make bench` figures for `sasl-oauth2 tunnel`
against a reference measured in the same run on the same host:

  login:  time until a client has a logged-in IMAP session; the tunnel (run
          as a command, greeting '* PREAUTH') against a direct TLS client that
          connects, verifies and logs in with AUTHENTICATE XOAUTH2 itself.
  relay:  MB/s of FETCH BODY.PEEK[] of the largest INBOX message; through
          the tunnel's pipes against the same reader on a direct TLS socket.

Wall-clock figures are minima of interleaved runs (least disturbed by other
load), with medians beside; CPU figures (wait4 for the tunnel, this
process's own for the direct client) do not depend on the load.

The access token for the direct client comes on stdin (never argv).
"""
import argparse
import base64
import os
import resource
import shlex
import socket
import ssl
import statistics
import subprocess
import sys
import time


def direct_open(port, ca):
    ctx = ssl.create_default_context(cafile=ca)
    s = socket.create_connection(("localhost", port), timeout=30)  # as the tunnel
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


def tunnel_login(argv):
    # No shell in between: its start would count as the tunnel's.
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=65536)
    line = p.stdout.readline()
    if not line.startswith(b"* PREAUTH"):
        raise RuntimeError("tunnel: no PREAUTH: %r" % line)
    return p, p.stdin, p.stdout


def reap(p):
    """Wait for a child; its own CPU seconds (user + system)."""
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError("%s exited with %d" % (p.args[0], p.returncode))
    return ru.ru_utime + ru.ru_stime


def self_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def verdict(ok):
    return "met" if ok else "NOT met"


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
    ap.add_argument("--tunnel-sysca", help="the tunnel command line without ca_bundle, "
                    "for the system's CAs (SSL_CERT_DIR, SSL_CERT_FILE from the environment)")
    a = ap.parse_args()
    token = sys.stdin.readline().strip().encode()
    user = a.user.encode()
    tunnel = shlex.split(a.tunnel)
    version = shlex.split(a.helper) + ["--version"]
    n = a.logins
    print("tunnel bench: load average %s at the start; %d logins of each kind, interleaved"
          % (" ".join("%.2f" % x for x in os.getloadavg()), n))

    # Interleaved, so both see the same machine load. On a shared machine
    # the minimum is the figure least disturbed by others; the median shows
    # how much waiting for the CPU added. CPU time does not depend on load:
    # the tunnel's from wait4, the direct client's from this process.
    t_direct, t_tunnel, c_direct, c_tunnel, c_start = [], [], [], [], []
    for _ in range(n):
        c0, t0 = self_cpu(), time.perf_counter()
        s, f = direct_login(a.port, a.ca, user, token)
        t_direct.append(time.perf_counter() - t0)
        c_direct.append(self_cpu() - c0)
        logout(f, f)
        s.close()
        t0 = time.perf_counter()
        p, w, r = tunnel_login(tunnel)
        t_tunnel.append(time.perf_counter() - t0)
        logout(w, r)
        c_tunnel.append(reap(p))
        p = subprocess.Popen(version, stdout=subprocess.DEVNULL)
        c_start.append(reap(p))
    ms = 1e3
    td, tt = min(t_direct), min(t_tunnel)
    md, mt = statistics.median(t_direct), statistics.median(t_tunnel)
    print("tunnel login wall: direct TLS login %.2f ms, tunnel to PREAUTH %.2f ms, "
          "added %.2f ms (goal <= 5 ms: %s) [minimum of %d]"
          % (td * ms, tt * ms, (tt - td) * ms, verdict(tt - td <= 0.005), n))
    print("tunnel login wall, medians: direct %.2f ms, tunnel %.2f ms, added %.2f ms"
          % (md * ms, mt * ms, (mt - md) * ms))
    cd, ct, cs = min(c_direct), min(c_tunnel), min(c_start)
    print("tunnel login CPU: direct client %.2f ms (connect, TLS, AUTHENTICATE), tunnel "
          "process %.2f ms (start, TLS, login, relay of LOGOUT, exit), added %.2f ms; "
          "starting the helper alone (--version) %.2f ms [minimum of %d]"
          % (cd * ms, ct * ms, (ct - cd) * ms, cs * ms, n))

    if a.tunnel_sysca:
        # The usual setup (no ca_bundle): what the system's CA store costs.
        c_sys = []
        for _ in range(n):
            p, w, r = tunnel_login(shlex.split(a.tunnel_sysca))
            logout(w, r)
            c_sys.append(reap(p))
        print("tunnel login CPU with the system's CAs instead of ca_bundle: %.2f ms, "
              "%+.2f ms against ca_bundle [minimum of %d]"
              % (min(c_sys) * ms, (min(c_sys) - ct) * ms, n))

    r_direct, r_tunnel = [], []
    size = 0
    for _ in range(a.fetches):
        s, f = direct_login(a.port, a.ca, user, token)
        t0 = time.perf_counter()
        size = fetch_largest(f, f)
        r_direct.append(size / (time.perf_counter() - t0))
        logout(f, f)
        s.close()
        p, w, r = tunnel_login(tunnel)
        t0 = time.perf_counter()
        size = fetch_largest(w, r)
        r_tunnel.append(size / (time.perf_counter() - t0))
        logout(w, r)
        reap(p)
    bd, bt = max(r_direct), max(r_tunnel)
    print("tunnel relay: %d-byte FETCH, direct TLS %.1f MB/s, through the tunnel "
          "%.1f MB/s = %.0f %% of direct (goal >= 80 %%: %s) [best of %d]"
          % (size, bd / 1e6, bt / 1e6, 100 * bt / bd, verdict(bt >= 0.8 * bd), a.fetches))
    return 0


if __name__ == "__main__":
    sys.exit(main())
