#!/usr/bin/env python3
# tests/cli/crash_loop.py - SIGKILL refreshing helpers at random moments.
#
# Each cycle starts `sasl-oauth2 refresh NAME` (the test OAuth2 server
# rotates the refresh token on every refresh), kills it with SIGKILL after
# a random delay spread over a whole refresh's duration, then checks that
# the state file parses, runs the next `refresh`, and checks that it
# succeeded and left no temporary file. A cycle whose kill landed after the
# server rotated the token (its request count went up) but before the new
# state was renamed into place is a "window" cycle; only those may lose the
# grant, and only against a server with reuse detection (after a lost
# grant the token is authorized again so the loop can go on).
#
# Usage: crash_loop.py HELPER STORE CONFIG NAME SERVER_URL CYCLES SEED
# with $BROWSER set for `authorize`. Prints one JSON object of counts.
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request

helper, store, config, name, url, cycles, seed = sys.argv[1:8]
cycles = int(cycles)
rnd = random.Random(int(seed))
base = [helper, "--store", store, "--config", config]


def run(*args, timeout=60):
    return subprocess.run(base + list(args), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)


def refreshes():
    with urllib.request.urlopen(url + "/stats", timeout=10) as r:
        return json.load(r)["grant_types"].get("refresh_token", 0)


def state():
    """The saved refresh token, or None when the state does not parse."""
    try:
        with open(os.path.join(store, name + ".state")) as f:
            return json.load(f).get("refresh_token")
    except (OSError, ValueError):
        return None


def temps():
    return [f for f in os.listdir(store) if f.endswith(".tmp")]


# How long one refresh takes here: the kills are spread over it (the
# span then follows the load, see below).
spans = []
for _ in range(5):
    t0 = time.monotonic()
    run("refresh", name)
    spans.append(time.monotonic() - t0)
span = sorted(spans)[2] * 0.9

out = {"cycles": 0, "killed": 0, "window": 0, "window_recovered": 0,
       "lost": 0, "lost_outside_window": 0, "parse_failures": 0,
       "temps_left": 0, "other_failures": 0, "span_ms": int(span * 1000),
       "errors": []}
for i in range(cycles):
    out["cycles"] += 1
    rt_before = state()
    n0 = refreshes()
    p = subprocess.Popen(base + ["refresh", name], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rnd.uniform(0, span))
    try:
        p.send_signal(signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()
    killed = p.returncode == -signal.SIGKILL
    out["killed"] += killed
    # Keep the kills spread over a whole run whatever the machine's load:
    # a run that finished first shrinks the span, a kill widens it (about
    # three runs in four are killed).
    span *= 1.03 if killed else 0.9
    if killed:
        # A request the process sent just before it died is still being
        # handled: let the server count (and rotate) it first. On a loaded
        # machine that can take far more than a fixed pause: wait until the
        # count has stayed the same for 0.2 s (at most 5 s).
        settle_end = time.monotonic() + 5
        last, still_since = refreshes(), time.monotonic()
        while time.monotonic() < settle_end:
            time.sleep(0.05)
            now_n = refreshes()
            if now_n != last:
                last, still_since = now_n, time.monotonic()
            elif time.monotonic() - still_since >= 0.2:
                break
    rt_after = state()
    if rt_after is None:
        out["parse_failures"] += 1
        out["errors"].append("cycle %d: the state does not parse after the kill" % i)
    window = killed and refreshes() > n0 and rt_after == rt_before
    out["window"] += window
    r = run("refresh", name)
    left = temps()
    if left:
        out["temps_left"] += 1
        out["errors"].append("cycle %d: temporaries left: %s" % (i, left))
    if state() is None:
        out["parse_failures"] += 1
    if r.returncode == 0:
        out["window_recovered"] += window
        continue
    err = r.stderr.decode(errors="replace").strip()
    if "invalid_grant" in err:
        out["lost"] += 1
        if not window:
            out["lost_outside_window"] += 1
            out["errors"].append("cycle %d: grant lost outside the window: %s" % (i, err))
        a = run("authorize", name, "--timeout", "30")
        if a.returncode != 0:
            out["errors"].append("cycle %d: authorize again failed: %s" %
                                 (i, a.stderr.decode(errors="replace")))
            break
    else:
        out["other_failures"] += 1
        out["errors"].append("cycle %d: the next refresh failed: %s" % (i, err))
out["errors"] = out["errors"][:5]
out["span_ms_end"] = int(span * 1000)
print(json.dumps(out))
