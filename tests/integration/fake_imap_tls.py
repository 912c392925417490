#!/usr/bin/env python3
"""tests/integration/fake_imap_tls.py - an IMAP server over implicit TLS that
misbehaves on purpose, for the tunnel's failure tests. It greets with
AUTH=XOAUTH2 and SASL-IR, then, by --mode:
  close-in-login    drops the connection when AUTHENTICATE arrives
  close-after-login accepts any AUTHENTICATE, then drops the connection
                    (no TLS close_notify) at the client's first command
  no-starttls       (no TLS at all) a server that does not offer STARTTLS
  starttls-inject   (no TLS at all) offers STARTTLS and sends a line after
                    its OK in the same packet, as a man in the middle would
Binds 127.0.0.1 on a free port written to --port-file; exits after
--max-seconds.
"""
import argparse
import os
import socket
import ssl
import threading
import time


def serve_plain(conn, mode):
    f = conn.makefile("rwb", buffering=0)
    caps = b"IMAP4rev1 AUTH=XOAUTH2" + (b" STARTTLS" if mode == "starttls-inject" else b"")
    f.write(b"* OK [CAPABILITY " + caps + b"] fake\r\n")
    while True:
        line = f.readline(70000)
        if not line:
            return
        tag = line.split(b" ", 1)[0]
        if b" STARTTLS" in line.upper():
            f.write(tag + b" OK begin TLS\r\n* OK [CAPABILITY IMAP4rev1] injected\r\n")
        else:
            f.write(tag + b" BAD unexpected\r\n")


def serve(conn, mode):
    f = conn.makefile("rwb", buffering=0)
    f.write(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER] fake\r\n")
    authed = False
    while True:
        line = f.readline(70000)
        if not line:
            return
        parts = line.split(b" ", 2)
        tag = parts[0]
        verb = parts[1].strip().upper() if len(parts) > 1 else b""
        if verb == b"CAPABILITY":
            f.write(b"* CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER\r\n")
            f.write(tag + b" OK done\r\n")
        elif verb == b"AUTHENTICATE" and mode == "close-in-login":
            break
        elif verb == b"AUTHENTICATE":
            f.write(tag + b" OK [CAPABILITY IMAP4rev1 IDLE] logged in\r\n")
            authed = True
        elif authed:
            break
        else:
            f.write(tag + b" BAD unexpected\r\n")
    # Drop the TCP connection under TLS: no close_notify.
    socket.socket(fileno=conn.detach()).close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--mode", required=True, choices=["close-in-login", "close-after-login",
                                                      "no-starttls", "starttls-inject"])
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--max-seconds", type=float, default=300)
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(a.cert, a.key)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    ls.settimeout(1)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(a.port_file + ".tmp", a.port_file)
    end = time.time() + a.max_seconds
    while time.time() < end:
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        c.settimeout(30)

        def run(c=c):
            try:
                if a.mode in ("no-starttls", "starttls-inject"):
                    serve_plain(c, a.mode)
                else:
                    serve(ctx.wrap_socket(c, server_side=True), a.mode)
            except (OSError, ssl.SSLError):
                pass
            finally:
                c.close()
        threading.Thread(target=run, daemon=True).start()


if __name__ == "__main__":
    main()
