# tests/lib.sh - shared shell helpers for the TAP test scripts.
#
# Source it from a test script:  . "$top_srcdir/tests/lib.sh"
# It sets up a private temporary directory ($T) removed on exit, the built
# helper ($HELPER) and TAP functions: ok, not_ok, check, skip_all, done_testing,
# and require_tool / tool_check for tests that need an installed tool.
set -u

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${PYTHON3:=python3}"
HELPER="$top_builddir/sasl-oauth2"
# The same helper built with the test hooks: only it honours
# SASL_OAUTH2_TEST_NOW (tests/testhooks.c).
HELPER_TESTHOOKS="$top_builddir/tests/sasl-oauth2-test"
PLUGIN_DIR="$top_builddir/plugin/.libs"
# The build's copy of the shipped templates (templates/local.mk), which has
# the modes of an installed copy whatever the umask of the checkout.
export SASL_OAUTH2_TEMPLATES="$top_builddir/tests/templates"

T=$(mktemp -d "${TMPDIR:-/tmp}/so2test.XXXXXX")
chmod 700 "$T"
_tap_n=0
_tap_failed=0
_cleanup_hooks=""

# Register a command to run at exit (before $T is removed).
at_exit() { _cleanup_hooks="$1; $_cleanup_hooks"; }
_tap_exit() {
	eval "$_cleanup_hooks"
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$T"
}
trap _tap_exit EXIT

ok()     { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $*"; }
not_ok() { _tap_n=$((_tap_n + 1)); _tap_failed=$((_tap_failed + 1)); echo "not ok $_tap_n - $*"; }
diag()   { printf '%s\n' "$@" | sed 's/^/# /'; }

# check "description" command args...: ok when the command exits 0.
check() {
	_d=$1; shift
	if "$@" >"$T/.check.out" 2>&1; then ok "$_d"; else not_ok "$_d"; diag "command: $*"; diag "$(cat "$T/.check.out")"; fi
}
# check_fails "description" command args...: ok when the command exits non-zero.
check_fails() {
	_d=$1; shift
	if "$@" >"$T/.check.out" 2>&1; then not_ok "$_d"; diag "command unexpectedly succeeded: $*"; diag "$(cat "$T/.check.out")"; else ok "$_d"; fi
}
# Skip the whole script (only when a server truly cannot be installed).
skip_all() { echo "1..0 # SKIP $*"; exit 0; }

# Missing tools. tools/install-deps installs every tool a test uses, so a
# test skipped for a missing tool may hide a real failure. Strict mode turns
# such a skip into a failure: tools/test sets SO2_REQUIRE_TOOLS=1 (unless
# --allow-missing), and CI=true does the same.
tools_strict() { [ "${SO2_REQUIRE_TOOLS:-}" = 1 ] || [ "${CI:-}" = true ]; }
# have_tool TOOL: TOOL (a command name or an absolute path) can be run.
have_tool() { [ -x "$1" ] || command -v "$1" >/dev/null 2>&1; }
# missing_tool REASON: this script cannot run for REASON, something
# tools/install-deps provides; skip it, or in strict mode fail it.
missing_tool() {
	if tools_strict; then
		not_ok "$1; tools/install-deps provides it (strict mode: SO2_REQUIRE_TOOLS=1 or CI=true)"
		done_testing
		exit 1
	fi
	skip_all "$1 (run tools/install-deps)"
}
# require_tool TOOL...: skip the whole script (strict mode: fail it) unless
# every TOOL can be run. Call it before the first check.
require_tool() {
	for _rt in "$@"; do
		have_tool "$_rt" || missing_tool "$_rt is not installed"
	done
}
# tool_check TOOL DESCRIPTION: for one check that needs TOOL. Returns 0 when
# TOOL is there; otherwise reports DESCRIPTION as skipped (strict mode:
# failed) and returns 1.
tool_check() {
	have_tool "$1" && return 0
	if tools_strict; then
		not_ok "$2 ($1 is not installed; tools/install-deps provides it)"
	else
		ok "$2 # SKIP $1 is not installed (run tools/install-deps)"
	fi
	return 1
}
done_testing() { echo "1..$_tap_n"; [ "$_tap_failed" -eq 0 ]; }

# with_syslog FILE COMMAND...: run COMMAND with syslog(3) captured: in a
# private mount namespace whose /dev/log is a socket that appends every
# message (raw, "<PRI>... IDENT[PID]: TEXT") to FILE, one a line. Returns
# COMMAND's status, or 77 when this machine allows no private mount
# namespace (neither root nor unprivileged user namespaces); without root
# COMMAND runs as root of a user namespace.
with_syslog() {
	_sl_out=$1; shift
	_sl_dir=$(mktemp -d "$T/syslog.XXXXXX")
	_sl_ns="unshare -m"
	[ "$(id -u)" -eq 0 ] || _sl_ns="unshare -rm"
	$_sl_ns true 2>/dev/null || return 77
	: >"$_sl_out"
	"$PYTHON3" -c '
import signal, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1] + "/log")
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
open(sys.argv[1] + "/ready", "w").write("1")
s.settimeout(0.5)
end = time.time() + 120
with open(sys.argv[2], "ab", buffering=0) as f:
    while time.time() < end:
        try:
            f.write(s.recv(65536).rstrip(b"\0\n") + b"\n")
        except socket.timeout:
            pass
' "$_sl_dir" "$_sl_out" &
	_sl_pid=$!
	wait_for_file "$_sl_dir/ready" 10 || : 
	for _sl_d in null zero full random urandom tty; do : >"$_sl_dir/$_sl_d"; done
	$_sl_ns sh -c '
d=$1; shift
for n in null zero full random urandom tty; do mount --bind "/dev/$n" "$d/$n" || exit 125; done
mount --bind "$d" /dev || exit 125
exec "$@"' with_syslog "$_sl_dir" "$@"
	_sl_rc=$?
	sleep 0.6
	kill "$_sl_pid" 2>/dev/null
	wait "$_sl_pid" 2>/dev/null
	return $_sl_rc
}

# wait_for_file FILE [SECONDS]: bounded wait for a file to appear.
wait_for_file() {
	_i=0; _max=$(( ${2:-10} * 10 ))
	while [ ! -s "$1" ] && [ $_i -lt $_max ]; do sleep 0.1; _i=$((_i + 1)); done
	[ -s "$1" ]
}
