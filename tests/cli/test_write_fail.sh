#!/bin/sh
# tests/cli/test_write_fail.sh - a state write that fails after a
# successful refresh loses nothing. The test OAuth2 server rotates refresh
# tokens and revokes the whole grant when a rotated-away one comes back, so
# losing the new refresh token (and replaying the old one) is visible as
# invalid_grant. tests/cli/failwrite.c makes the writes fail (the disk is
# full) from the moment the token endpoint answered:
# - the rename fails (a complete temporary exists): the helper still prints
#   the new access token, and the next run adopts the temporary;
# - every write fails (no copy on disk): a process that keeps running (the
#   plugin in a mail program) keeps the new state in memory, sends the new
#   token and never the old refresh token, and saves it once it can.
# Also: a store that cannot be written at all is not refreshed (nothing is
# spent that could not be kept).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/server/server.sh"
. "$top_srcdir/tests/cli/store.sh"

failwrite_init
oauth_server_start --access-ttl 600 || { not_ok "test OAuth2 server starts"; done_testing; exit 1; }
ok "test OAuth2 server starts"

S="$T/store"
: >"$T/empty.conf"
h() { "$HELPER" --store "$S" --config "$T/empty.conf" "$@"; }
full() { FAILWRITE=$1 FAILWRITE_FROM=${2:-answer} LD_PRELOAD="$SHIM" "$HELPER" --store "$S" --config "$T/empty.conf" token rot; }
sfield() { "$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' "$S/rot.state" "$1" 2>/dev/null; }
replays() { oauth_stats | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["refresh_replays"])'; }
temps() { ls -A "$S" | grep -c '\.tmp$'; }
browser_init
umask 077

h add rot --template generic --client-id public-client --set client_auth=none \
	--set auth_url="$OAUTH_URL/authorize" --set token_url="$OAUTH_URL/token" >/dev/null 2>&1
if BROWSER="$T/browser" h authorize rot --timeout 30 >"$T/out" 2>"$T/err" </dev/null; then
	ok "authorized (rotating refresh tokens with reuse detection)"
else
	not_ok "authorized"; diag "$(cat "$T/out" "$T/err")"
fi

# ---- the rename fails: a complete temporary copy is left
rt0=$(sfield refresh_token)
state_expire "$S/rot.state"
n0=$(oauth_count refresh_token)
full rename >"$T/out" 2>"$T/err"; rc=$?
at1=$(cat "$T/out")
[ $rc -eq 0 ] && [ -n "$at1" ] && ok "rename fails: the new access token is still handed out (exit 0)" ||
	{ not_ok "rename fails: the new access token is still handed out (exit $rc)"; diag "$(cat "$T/err")"; }
[ "$(oauth_count refresh_token)" -eq $((n0 + 1)) ] && ok "one refresh request" || not_ok "one refresh request"
oauth_introspect "$at1" | grep -q '"active": *true' && ok "the handed-out token is live at the server" ||
	not_ok "the handed-out token is live at the server"
grep -q "could not be saved" "$T/err" && ok "the failed write is reported" ||
	{ not_ok "the failed write is reported"; diag "$(cat "$T/err")"; }
grep -q "$at1" "$T/err" && not_ok "no token in the message" || ok "no token in the message"
[ "$(sfield refresh_token)" = "$rt0" ] && [ "$(temps)" -ge 1 ] &&
	ok "the state file is the old one, a complete temporary copy exists" ||
	not_ok "the state file is the old one, a complete temporary copy exists ($(temps) temporaries)"
# The next run (no fault) adopts the copy and refreshes with the rotated token.
n0=$(oauth_count refresh_token)
h refresh rot >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && ok "the next refresh succeeds" || { not_ok "the next refresh succeeds (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
[ "$(replays)" -eq 0 ] && ok "the old refresh token was never replayed" ||
	not_ok "the old refresh token was never replayed ($(replays) replays)"
[ "$(temps)" -eq 0 ] && ok "no temporary file is left" || not_ok "no temporary file is left ($(ls -A "$S"))"
[ "$(sfield refresh_token)" != "$rt0" ] && ok "the rotated refresh token is saved" || not_ok "the rotated refresh token is saved"

# ---- every write fails, in a process that keeps running: the plugin.
# Writes after the answer: 1-3 the three attempts, 4 the second login's
# retry (all fail: no copy on disk at all), 5 the third login's retry (the
# disk has room again).
prog="$top_builddir/tests/plugin/test_plugin"
rt1=$(sfield refresh_token)
state_expire "$S/rot.state"
n0=$(oauth_count refresh_token)
FAILWRITE=write FAILWRITE_UNTIL=4 LD_PRELOAD="$SHIM" TEST_PLUGIN_LOGINS=3 \
	"$prog" login "$S" "$T/empty.conf" rot >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ "$(wc -l <"$T/out")" -eq 3 ] && ok "no copy on disk: three logins in one process succeed" ||
	{ not_ok "no copy on disk: three logins in one process succeed (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
[ "$(oauth_count refresh_token)" -eq $((n0 + 1)) ] && ok "exactly one refresh request" ||
	not_ok "exactly one refresh request (got $(($(oauth_count refresh_token) - n0)))"
[ "$(sort -u "$T/out" | wc -l)" -eq 1 ] && ! grep -q "auth=Bearer $at1" "$T/out" &&
	ok "every login sent the one new access token (kept in memory)" ||
	{ not_ok "every login sent the one new access token (kept in memory)"; diag "$(cat "$T/out")"; }
[ "$(replays)" -eq 0 ] && ok "the old refresh token was never replayed" || not_ok "no replay ($(replays))"
[ "$(sfield refresh_token)" != "$rt1" ] && [ "$(temps)" -eq 0 ] &&
	ok "once writes work again the kept state is saved" ||
	not_ok "once writes work again the kept state is saved ($(temps) temporaries)"

# ---- the store cannot be written at all: no refresh is spent
state_expire "$S/rot.state"
n0=$(oauth_count refresh_token)
full write start >"$T/out" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ "$(oauth_count refresh_token)" -eq "$n0" ] &&
	ok "a store that cannot be written is not refreshed" ||
	{ not_ok "a store that cannot be written is not refreshed (exit $rc)"; diag "$(cat "$T/err")"; }
grep -q "^sasl-oauth2: rot: .*No space left" "$T/err" && ok "and the error says why in one line" ||
	{ not_ok "and the error says why in one line"; diag "$(cat "$T/err")"; }
h token rot >/dev/null 2>"$T/err" && [ "$(replays)" -eq 0 ] && ok "the token works once the disk has room" ||
	{ not_ok "the token works once the disk has room"; diag "$(cat "$T/err")"; }
done_testing
