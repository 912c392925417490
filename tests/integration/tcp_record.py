#!/usr/bin/env python3
# tests/integration/tcp_record.py - a loopback TCP relay that records the
# bytes each side sent, so the integration tests can assert exactly what a
# client put on the wire (e.g. Microsoft's split POP3 AUTH form).
#
# Usage: tcp_record.py --port-file FILE --target PORT --dir DIR
#                      [--max-seconds S]
# Listens on 127.0.0.1 (ephemeral port written to FILE), forwards each
# connection to 127.0.0.1:PORT and writes DIR/conn-N.c2s (client to server)
# and DIR/conn-N.s2c. Exits by itself after --max-seconds.

import argparse
import os
import socket
import sys
import threading

MAX_BYTES = 4 * 1024 * 1024
IO_TIMEOUT = 30

_lock = threading.Lock()
_count = [0]


def _pump(src, dst, path):
    total = 0
    with open(path, "ab") as rec:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            total += len(data)
            if total <= MAX_BYTES:
                rec.write(data)
                rec.flush()
            try:
                dst.sendall(data)
            except OSError:
                break
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _serve(client, target, out_dir):
    with _lock:
        _count[0] += 1
        n = _count[0]
    try:
        upstream = socket.create_connection(("127.0.0.1", target), timeout=10)
    except OSError:
        client.close()
        return
    client.settimeout(IO_TIMEOUT)
    upstream.settimeout(IO_TIMEOUT)
    base = os.path.join(out_dir, "conn-%d" % n)
    t = threading.Thread(target=_pump, args=(upstream, client, base + ".s2c"),
                         daemon=True)
    t.start()
    _pump(client, upstream, base + ".c2s")
    t.join(IO_TIMEOUT)
    client.close()
    upstream.close()


def main():
    ap = argparse.ArgumentParser(description="recording loopback TCP relay")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--target", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--max-seconds", type=float, default=300)
    args = ap.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)

    timer = threading.Timer(args.max_seconds, lambda: os._exit(0))
    timer.daemon = True
    timer.start()

    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(tmp, args.port_file)
    while True:
        client, _ = srv.accept()
        threading.Thread(target=_serve, args=(client, args.target, args.dir),
                         daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
