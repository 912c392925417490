# tests/cli/rusage.py - run a command under an address-space limit and a
# timeout, and report what it used:
#
#   python3 rusage.py AS_MB TIMEOUT_S OUT -- COMMAND [ARGS...]
#
# AS_MB 0 sets no address-space limit.
# OUT receives one line "rc MAXRSS_KB CPU_MS" (rc -9 when the timeout
# killed it). The command's stdout and stderr pass through. The limit keeps
# a regression from exhausting the machine; the figures are the bound the
# test checks (a resource bound, not a benchmark).
import resource
import subprocess
import sys

as_mb, timeout, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
cmd = sys.argv[5:] if sys.argv[4] == "--" else sys.argv[4:]


def limit():
    # 0: no address-space limit (ASan reserves terabytes of shadow).
    if as_mb > 0:
        lim = as_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


p = subprocess.Popen(cmd, preexec_fn=limit)
try:
    rc = p.wait(timeout=timeout)
except subprocess.TimeoutExpired:
    p.kill()
    p.wait()
    rc = -9
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(out, "w") as f:
    f.write("%d %d %d\n" % (rc, ru.ru_maxrss, int((ru.ru_utime + ru.ru_stime) * 1000)))
