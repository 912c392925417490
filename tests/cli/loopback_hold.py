# tests/cli/loopback_hold.py - a local process that tries to keep the
# `authorize` listener busy (slowloris): it holds COUNT connections open,
# each having sent one byte of a request and nothing more, and opens a new
# one whenever one is closed, until it is killed.
#
#   python3 loopback_hold.py PORT COUNT READY_FILE
# READY_FILE is written once COUNT connections are established.
import os
import socket
import sys
import time

port, count, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = []
announced = False
deadline = time.time() + 120
while time.time() < deadline:
    while len(socks) < count:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.send(b"G")
            s.setblocking(False)
            socks.append(s)
        except OSError:
            time.sleep(0.01)
            break
    if not announced and len(socks) >= count:
        with open(ready + ".tmp", "w") as f:
            f.write("%d\n" % len(socks))
        os.rename(ready + ".tmp", ready)
        announced = True
    time.sleep(0.02)
    for s in list(socks):
        try:
            s.recv(100)             # closed or answered (408, 503): replace it
            s.close()
            socks.remove(s)
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            socks.remove(s)
