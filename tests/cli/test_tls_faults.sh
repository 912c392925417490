#!/bin/sh
# tests/cli/test_tls_faults.sh - the token endpoint over real TLS, from a
# private CA made at test time (tls_ca_make in tests/integration/env.sh)
# and trusted through the global `ca_bundle`: an endpoint that stalls the
# handshake, hangs, drips, answers 5xx, junk or an oversized body, presents
# a certificate for another name or from an unknown CA, or refuses the
# connection. Each refresh, by the helper (`token`) and by the plugin (a
# login through libsasl2), ends within http_timeout with an error naming
# the cause, leaves the tokens in the state file as they were, and the
# plugin answers SASL_TRYAGAIN. Without `ca_bundle` the private CA is not
# trusted. The certificate cases fail if TLS verification (peer or host
# name) is turned off. As root, the plugin also refreshes over TLS inside an
# empty chroot (the CA bundle read when it was loaded) and, without
# CAP_SYS_CHROOT, reads the bundle at the refresh.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/env.sh"

require_tool openssl
prog="$top_builddir/tests/plugin/test_plugin"
TIMEOUT=3
# Process start, the plugin's own open and a loaded machine: a fixed
# allowance on top of http_timeout, far below what a missing timeout costs
# (the fault servers hang for 120 s).
SLACK=4

tls_ca_make || { not_ok "a private CA and certificates are made"; done_testing; exit 1; }
ok "a private CA and certificates are made"

# tls_fault_start MODE CERT KEY: a fault server (tests/server/tls_fault_server.py),
# stopped at exit; sets FPORT.
_fault_n=0
tls_fault_start() {
	_fault_n=$((_fault_n + 1))
	_pf="$T/fault.$_fault_n.port"
	"$PYTHON3" "$top_srcdir/tests/server/tls_fault_server.py" --cert "$2" --key "$3" \
		--port-file "$_pf" --max-seconds 300 "$1" 2>>"$T/fault.log" &
	at_exit "kill $! 2>/dev/null"
	wait_for_file "$_pf" 10 || { diag "fault server $1 did not start" "$(cat "$T/fault.log")"; return 1; }
	FPORT=$(cat "$_pf")
}

S="$T/store"
mkdir -m 700 "$S"
umask 077
CONF="$T/tls.conf"
printf 'ca_bundle: %s\nhttp_timeout: %s\n' "$TLS_CA" "$TIMEOUT" >"$CONF"
printf 'http_timeout: %s\n' "$TIMEOUT" >"$T/noca.conf"
STATE='{"access_token": "at-expired-old", "token_type": "Bearer", "expires_at": 1000,
 "refresh_token": "rt-keep-me", "generation": 7}
'
# token_at URL: the token's configuration with that token endpoint, and the
# original (expired) state.
token_at() {
	cat >"$S/t.yaml" <<EOY
name: t
template: generic
user: alice@example.test
client_id: public-client
client_auth: none
auth_url: https://127.0.0.1:1/authorize
token_url: $1
scope: [mail]
EOY
	printf '%s' "$STATE" >"$S/t.state"
}
# The tokens of the state, in a form that compares byte for byte.
tokens() {
	"$PYTHON3" -c 'import json, sys
s = json.load(open(sys.argv[1]))
print(json.dumps({k: s.get(k) for k in ("access_token", "token_type", "expires_at", "refresh_token")}, sort_keys=True))' "$S/t.state"
}
printf '%s' "$STATE" >"$T/pristine.state"
pristine=$(cp "$T/pristine.state" "$S/t.state" && tokens)

now_ms() { date +%s%3N; }

# fault_run DESC WHO URL CAUSE CONFIG: run WHO ("token": the helper, or
# "the plugin": a login through libsasl2) against URL, check that it fails
# naming CAUSE (an extended regular expression) within http_timeout and
# leaves the tokens alone.
fault_run() {
	token_at "$3"
	_t0=$(now_ms)
	if [ "$2" = token ]; then
		"$HELPER" --store "$S" --config "$5" token t >"$T/out" 2>"$T/err"; _rc=$?
		# One error line, nothing on stdout.
		[ ! -s "$T/out" ] && [ "$(wc -l <"$T/err")" -eq 1 ]; _shape=$?
		_what="fails with one line naming the cause"
	else
		"$prog" login "$S" "$5" alice@example.test >"$T/out" 2>"$T/err"; _rc=$?
		grep -q "login failed (-8)" "$T/err"; _shape=$?
		_what="answers SASL_TRYAGAIN naming the cause"
	fi
	_el=$(( $(now_ms) - _t0 ))
	if [ $_rc -ne 0 ] && [ $_shape -eq 0 ] && grep -Eqi "$4" "$T/err"; then
		ok "$1: $2 $_what"
	else
		not_ok "$1: $2 $_what (exit $_rc, want /$4/)"; diag "$(cat "$T/out" "$T/err")"
	fi
	[ $_el -le $(( (TIMEOUT + SLACK) * 1000 )) ] && ok "$1: $2 ends within http_timeout ($_el ms)" \
		|| not_ok "$1: $2 took $_el ms (http_timeout $TIMEOUT s)"
	[ "$(tokens)" = "$pristine" ] && ok "$1: $2 leaves the tokens in the state as they were" \
		|| { not_ok "$1: $2 changed the tokens"; diag "$(cat "$S/t.state")"; }
}

# fault_case DESC URL CAUSE [CONFIG]: the helper and the plugin against URL.
fault_case() {
	fault_run "$1" token "$2" "$3" "${4:-$CONF}"
	fault_run "$1" "the plugin" "$2" "$3" "${4:-$CONF}"
}

# ---------------------------------------------------------------- control
tls_fault_start ok "$TLS_CERT" "$TLS_KEY" || { not_ok "fault server starts"; done_testing; exit 1; }
OK_URL="https://127.0.0.1:$FPORT/token"
token_at "$OK_URL"
"$HELPER" --store "$S" --config "$CONF" token t >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ "$(cat "$T/out")" = at-tls-ok ] \
	&& ok "control: with ca_bundle the private CA is trusted and the refresh succeeds" \
	|| { not_ok "control: refresh over TLS with ca_bundle (exit $rc)"; diag "$(cat "$T/err")"; }
token_at "$OK_URL"
"$prog" login "$S" "$CONF" alice@example.test >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && grep -q "auth=Bearer at-tls-ok" "$T/out" \
	&& ok "control: the plugin refreshes over TLS with ca_bundle" \
	|| { not_ok "control: plugin over TLS (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }

# As Postfix's smtp: a process that may chroot reads the CA bundle with the
# plugin and refreshes over TLS inside an empty jail; one that may not
# reads the bundle at the refresh.
if [ "$(id -u)" -eq 0 ]; then
	require_tool setpriv
	mkdir -m 755 "$T/jail"
	token_at "$OK_URL"
	# LeakSanitizer (sanitizer builds) needs /proc at exit, which the jail lacks.
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" TEST_PLUGIN_CHROOT="$T/jail" \
		"$prog" login "$S" "$CONF" alice@example.test >"$T/out" 2>"$T/err"; rc=$?
	[ $rc -eq 0 ] && grep -q "auth=Bearer at-tls-ok" "$T/out" \
		&& ok "control: in a chroot the plugin refreshes over TLS with the CA bundle read before it" \
		|| { not_ok "control: plugin over TLS in a chroot (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
	token_at "$OK_URL"
	setpriv --bounding-set -sys_chroot "$prog" login "$S" "$CONF" alice@example.test >"$T/out" 2>"$T/err"; rc=$?
	[ $rc -eq 0 ] && grep -q "auth=Bearer at-tls-ok" "$T/out" \
		&& ok "control: without CAP_SYS_CHROOT the plugin reads ca_bundle at the refresh" \
		|| { not_ok "control: plugin over TLS without CAP_SYS_CHROOT (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
else
	ok "# SKIP a chrooted refresh over TLS needs root"
fi

# ---------------------------------------------------------------- certificates
fault_case "no ca_bundle" "$OK_URL" "certificate|SSL" "$T/noca.conf"
tls_fault_start ok "$TLS_WRONG_CERT" "$TLS_WRONG_KEY" || not_ok "fault server starts"
fault_case "certificate for another name" "https://127.0.0.1:$FPORT/token" "certificate|SSL|subject|name"
tls_fault_start ok "$TLS_ROGUE_CERT" "$TLS_ROGUE_KEY" || not_ok "fault server starts"
fault_case "certificate from an unknown CA" "https://127.0.0.1:$FPORT/token" "certificate|SSL"

# ---------------------------------------------------------------- endpoint faults
for mode in stall hang drip; do
	tls_fault_start $mode "$TLS_CERT" "$TLS_KEY" || not_ok "fault server starts"
	fault_case "$mode" "https://127.0.0.1:$FPORT/token" "time.*out|timeout"
done
tls_fault_start 5xx "$TLS_CERT" "$TLS_KEY" || not_ok "fault server starts"
fault_case "5xx" "https://127.0.0.1:$FPORT/token" "503"
tls_fault_start junk "$TLS_CERT" "$TLS_KEY" || not_ok "fault server starts"
fault_case "junk" "https://127.0.0.1:$FPORT/token" "JSON|malformed|not a token response"
tls_fault_start big "$TLS_CERT" "$TLS_KEY" || not_ok "fault server starts"
fault_case "oversized body" "https://127.0.0.1:$FPORT/token" "larger than|too large"
refused=$(free_ports 1)
fault_case "connection refused" "https://127.0.0.1:$refused/token" "connect|refused"

done_testing
