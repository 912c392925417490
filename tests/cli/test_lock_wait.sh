#!/bin/sh
# tests/cli/test_lock_wait.sh - a process waiting for a token's lock waits
# as long as the holder may need: its refresh can make two requests (the
# configured scope refused with invalid_scope, then asked again without
# scope), each up to http_timeout, then the write. With http_timeout 7 and
# both requests answered after 6.6 s the holder keeps the lock for over
# 13 s, longer than http_timeout + 5 s; the waiter must still get the
# holder's fresh token and make no request of its own.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/server/server.sh"
. "$top_srcdir/tests/cli/store.sh"

require_tool curl
oauth_server_start || { not_ok "test OAuth2 server starts"; done_testing; exit 1; }
S="$T/store"
printf 'http_timeout: 7\n' >"$T/slow.conf"
h() { "$HELPER" --store "$S" --config "$T/slow.conf" "$@"; }
browser_init
umask 077
printf 'confidential-secret\n' >"$T/conf.secret"

# The user grants less than the configured scope: every refresh that asks
# for the configured scope is invalid_scope, and is asked again without.
h add narrow --template generic --client-id confidential-client --client-secret-file "$T/conf.secret" \
	--scope mail --scope offline --set auth_url="$OAUTH_URL/authorize" \
	--set token_url="$OAUTH_URL/token" >/dev/null 2>&1
oauth_control '{"withhold_scope": "offline"}'
BROWSER="$T/browser" h authorize narrow --timeout 30 >"$T/out" 2>"$T/err" </dev/null; rc=$?
oauth_control '{"withhold_scope": ""}'
[ $rc -eq 0 ] && ok "authorized with a narrower grant" || { not_ok "authorized (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
state_expire "$S/narrow.state"

n0=$(oauth_stats | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["paths"].get("/token", 0))')
oauth_control '{"fault": {"path": "/token", "kind": "delay", "seconds": 6.6, "count": 2}}'
h token narrow >"$T/holder.out" 2>"$T/holder.err" &
holder=$!
sleep 0.5
h token narrow >"$T/waiter.out" 2>"$T/waiter.err"; wrc=$?
wait $holder; hrc=$?
n1=$(oauth_stats | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["paths"].get("/token", 0))')
[ $hrc -eq 0 ] && [ -s "$T/holder.out" ] && ok "the holder refreshed (invalid_scope, then without scope)" ||
	{ not_ok "the holder refreshed (exit $hrc)"; diag "$(cat "$T/holder.err")"; }
[ $((n1 - n0)) -eq 2 ] && ok "the holder made its two requests, the waiter none" ||
	not_ok "the holder made its two requests, the waiter none ($((n1 - n0)) requests)"
if [ $wrc -eq 0 ] && cmp -s "$T/holder.out" "$T/waiter.out"; then
	ok "the waiter outlasted the holder's worst case and got its token"
else
	not_ok "the waiter outlasted the holder's worst case and got its token (exit $wrc)"
	diag "$(cat "$T/waiter.err")"
fi
done_testing
