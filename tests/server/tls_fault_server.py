# tests/server/tls_fault_server.py - a token endpoint over real TLS that
# misbehaves on purpose, for the endpoint-fault tests
# (tests/cli/test_tls_faults.sh).
#
#   python3 tls_fault_server.py --cert PEM --key KEY --port-file F MODE
#
# Binds 127.0.0.1 on an ephemeral port, writes the port to F, and answers
# every connection according to MODE:
#   ok     a valid token response (the control case)
#   stall  accepts TCP and never starts the TLS handshake
#   hang   completes TLS, reads the request, never answers
#   drip   sends a 200 head and then one body byte every 0.5 s, forever
#   5xx    503 with an OAuth2 error body
#   junk   200 with a body that is not JSON
#   big    200 with a 4 MiB JSON body
# It logs one line per request to stderr and exits after --max-seconds.
import argparse
import os
import socket
import ssl
import sys
import threading
import time

OK_BODY = b'{"access_token":"at-tls-ok","token_type":"Bearer","expires_in":3600}'


def head(status, length=None, ctype="application/json"):
    h = "HTTP/1.1 %s\r\nContent-Type: %s\r\nCache-Control: no-store\r\nConnection: close\r\n" % (
        status, ctype)
    if length is not None:
        h += "Content-Length: %d\r\n" % length
    return (h + "\r\n").encode()


def read_request(s):
    data = b""
    s.settimeout(10)
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = s.recv(4096)
        if not chunk:
            return data
        data += chunk
    hdr, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in hdr.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            break
        body += chunk
    return hdr


def serve(conn, ctx, mode):
    try:
        if mode == "stall":
            time.sleep(120)
            return
        s = ctx.wrap_socket(conn, server_side=True)
        req = read_request(s)
        sys.stderr.write("%s %s\n" % (mode, req.split(b"\r\n", 1)[0].decode("latin-1")))
        sys.stderr.flush()
        if mode == "ok":
            s.sendall(head("200 OK", len(OK_BODY)) + OK_BODY)
        elif mode == "hang":
            time.sleep(120)
        elif mode == "drip":
            s.sendall(head("200 OK"))
            for _ in range(240):
                s.sendall(b" ")
                time.sleep(0.5)
        elif mode == "5xx":
            body = b'{"error":"temporarily_unavailable"}'
            s.sendall(head("503 Service Unavailable", len(body)) + body)
        elif mode == "junk":
            body = b"<html>this is not a token response</html>"
            s.sendall(head("200 OK", len(body), "text/html") + body)
        elif mode == "big":
            n = 4 << 20
            s.sendall(head("200 OK", n) + b'{"access_token":"')
            chunk = b"a" * 65536
            sent = 17
            while sent < n:
                s.sendall(chunk[: min(len(chunk), n - sent)])
                sent += len(chunk)
        s.close()
    except (OSError, ssl.SSLError) as e:
        sys.stderr.write("%s: %s\n" % (mode, e))
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--max-seconds", type=float, default=600)
    ap.add_argument("mode", choices=["ok", "stall", "hang", "drip", "5xx", "junk", "big"])
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(tmp, a.port_file)
    end = time.time() + a.max_seconds
    ls.settimeout(1)
    while time.time() < end:
        try:
            conn, _ = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(conn, ctx, a.mode), daemon=True).start()


if __name__ == "__main__":
    main()
