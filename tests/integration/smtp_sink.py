#!/usr/bin/env python3
# tests/integration/smtp_sink.py - a tiny loopback SMTP server that accepts
# every message and stores it in a directory, so the integration tests can
# check what Dovecot's submission service relayed.
#
# Usage: smtp_sink.py --port-file FILE --dir DIR [--port N] [--log FILE]
#                     [--max-seconds S]
# Binds 127.0.0.1 only, writes the chosen port to FILE once listening, stores
# each message as DIR/msg-N.eml (envelope in X-Sink-* header lines first,
# written atomically) and exits by itself after --max-seconds.

import argparse
import os
import socketserver
import sys
import threading
import time

MAX_LINE = 4096
MAX_MESSAGE = 10 * 1024 * 1024
IDLE_TIMEOUT = 60

_counter_lock = threading.Lock()
_counter = [0]


def _next_index():
    with _counter_lock:
        _counter[0] += 1
        return _counter[0]


class SinkHandler(socketserver.StreamRequestHandler):
    timeout = IDLE_TIMEOUT

    def _log(self, direction, line):
        log = self.server.log_path
        if not log:
            return
        with self.server.log_lock, open(log, "a", encoding="utf-8") as f:
            f.write("%s %s %s\n" % (time.strftime("%H:%M:%S"), direction, line))

    def _reply(self, text):
        self._log("S:", text)
        self.wfile.write((text + "\r\n").encode("utf-8"))
        self.wfile.flush()

    def _readline(self):
        raw = self.rfile.readline(MAX_LINE + 2)
        if not raw:
            return None
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    def _read_data(self):
        size = 0
        lines = []
        while True:
            raw = self.rfile.readline(MAX_LINE * 256)
            if not raw:
                return None
            if raw in (b".\r\n", b".\n"):
                return b"".join(lines)
            if raw.startswith(b".."):
                raw = raw[1:]
            size += len(raw)
            if size > MAX_MESSAGE:
                return None
            lines.append(raw)

    def _store(self, mail_from, rcpts, body):
        idx = _next_index()
        final = os.path.join(self.server.out_dir, "msg-%d.eml" % idx)
        tmp = os.path.join(self.server.out_dir, ".msg-%d.tmp" % idx)
        head = "X-Sink-Mail-From: %s\r\nX-Sink-Rcpt-To: %s\r\n" % (
            mail_from, ", ".join(rcpts))
        with open(tmp, "wb") as f:
            f.write(head.encode("utf-8"))
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, final)
        return idx

    def handle(self):
        mail_from = None
        rcpts = []
        self._reply("220 sink.example.test ESMTP test sink")
        while True:
            try:
                line = self._readline()
            except OSError:
                return
            if line is None:
                return
            self._log("C:", line)
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "LHLO"):
                self._reply("250-sink.example.test")
                self._reply("250-8BITMIME")
                self._reply("250 SIZE %d" % MAX_MESSAGE)
            elif verb == "HELO":
                self._reply("250 sink.example.test")
            elif verb == "MAIL":
                mail_from = line[5:].strip()
                if mail_from.upper().startswith("FROM:"):
                    mail_from = mail_from[5:].strip()
                rcpts = []
                self._reply("250 Ok")
            elif verb == "RCPT":
                if mail_from is None:
                    self._reply("503 MAIL first")
                else:
                    rcpt = line[5:].strip()
                    if rcpt.upper().startswith("TO:"):
                        rcpt = rcpt[3:].strip()
                    rcpts.append(rcpt)
                    self._reply("250 Ok")
            elif verb == "DATA":
                if not rcpts:
                    self._reply("503 RCPT first")
                    continue
                self._reply("354 End data with <CR><LF>.<CR><LF>")
                body = self._read_data()
                if body is None:
                    self._reply("552 message too big or connection lost")
                    return
                idx = self._store(mail_from, rcpts, body)
                self._reply("250 Ok: queued as sink-%d" % idx)
                mail_from = None
                rcpts = []
            elif verb == "RSET":
                mail_from = None
                rcpts = []
                self._reply("250 Ok")
            elif verb == "NOOP":
                self._reply("250 Ok")
            elif verb == "QUIT":
                self._reply("221 Bye")
                return
            else:
                self._reply("502 command not implemented")


class SinkServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description="loopback SMTP sink for tests")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", default="")
    ap.add_argument("--max-seconds", type=float, default=600)
    args = ap.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    srv = SinkServer(("127.0.0.1", args.port), SinkHandler)
    srv.out_dir = args.dir
    srv.log_path = args.log
    srv.log_lock = threading.Lock()

    # Bounded lifetime: a forgotten sink must not outlive the test run.
    timer = threading.Timer(args.max_seconds, lambda: os._exit(0))
    timer.daemon = True
    timer.start()

    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
