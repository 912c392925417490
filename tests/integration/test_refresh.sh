#!/bin/sh
# tests/integration/test_refresh.sh - the plugin refreshes inside the mail
# client: a login after the access token expired makes exactly one refresh
# request, a cached valid token makes none, and a token the server rejects
# fails that login cleanly and makes the next login refresh and succeed
# (XOAUTH2 over IMAP, OAUTHBEARER over IMAP, XOAUTH2 over POP3).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/env.sh"
. "$top_srcdir/tests/server/server.sh"

it_require "$DOVECOT" "$IMTEST" "$POP3TEST"
it_require_built

oauth_server_start --max-seconds 300 || { not_ok "test OAuth2 server starts"; done_testing; exit 1; }
dovecot_start || { not_ok "private Dovecot starts"; done_testing; exit 1; }

refreshes() { oauth_count refresh_token; }
imap_cmds() { printf 'x1 SELECT INBOX\nx2 LOGOUT\n'; }

# login TOOL PORT MECH OUT: a login with token 'alice' from the store.
login() {
	_cmds='x2 LOGOUT\n'
	[ "$1" = "$POP3TEST" ] && _cmds='QUIT\n'
	printf "$_cmds" | cyrus_client "$1" "$2" "$3" "$4" -w alice -o "oauth2_store=$STORE"
}

# ---- a short-lived first access token
oauth_control '{"access_ttl": 3}' >/dev/null
if token_add alice "$TEST_USER" --set refresh_margin=1; then ok "token 'alice' authorized with a 3 s access token"; else
	not_ok "token 'alice' authorized with a 3 s access token"; done_testing; exit 1
fi
oauth_control '{"access_ttl": 3600}' >/dev/null
old_token=$(state_field alice access_token)
sleep 4

# ---- login after expiry: exactly one refresh, inside the plugin
r0=$(refreshes)
dovecot_log_mark
if login "$IMTEST" "$IMAP_PORT" XOAUTH2 "$T/exp.out"; then ok "IMAP XOAUTH2 login after the access token expired"; else
	not_ok "IMAP XOAUTH2 login after the access token expired"; diag "$(cat "$T/exp.out")"; dovecot_log 20
fi
r1=$(refreshes)
if [ "$r1" -eq $((r0 + 1)) ]; then ok "the plugin made exactly one refresh request ($r0 -> $r1)"; else
	not_ok "the plugin made exactly one refresh request ($r0 -> $r1)"
fi
new_token=$(state_field alice access_token)
[ -n "$new_token" ] && [ "$new_token" != "$old_token" ] && ok "the refreshed access token was stored" ||
	not_ok "the refreshed access token was stored"

# ---- a valid cached token: no network
if login "$IMTEST" "$IMAP_PORT" XOAUTH2 "$T/cached.out"; then ok "IMAP XOAUTH2 login with the cached token"; else
	not_ok "IMAP XOAUTH2 login with the cached token"; diag "$(cat "$T/cached.out")"
fi
r2=$(refreshes)
[ "$r2" -eq "$r1" ] && ok "a valid cached token causes no refresh" || not_ok "a valid cached token causes no refresh ($r1 -> $r2)"

# ---- rejected by the server, per mechanism / protocol
reject_then_recover() {
	_tool=$1 _port=$2 _mech=$3 _what=$4
	oauth_control '{"expire_access_tokens": true}' >/dev/null
	_r0=$(refreshes)
	dovecot_log_mark
	login "$_tool" "$_port" "$_mech" "$T/rej-$_mech-$_port.out"
	_rc=$?
	if [ $_rc -ne 0 ] && ! grep -q '^Authenticated\.' "$T/rej-$_mech-$_port.out"; then
		ok "$_what: a token the server rejects fails the login"
	else
		not_ok "$_what: a token the server rejects fails the login"; diag "$(cat "$T/rej-$_mech-$_port.out")"
	fi
	# timeout(1) exits 124 and a crash makes 128+N: both are unclean.
	if grep -qE 'Authentication failed|failure' "$T/rej-$_mech-$_port.out" && [ $_rc -ne 124 ] &&
		! grep -qiE 'segmentation|core dumped|aborted' "$T/rej-$_mech-$_port.out"; then
		ok "$_what: the failure is clean (no hang, no crash)"
	else
		not_ok "$_what: the failure is clean (no hang, no crash)"; diag "$(cat "$T/rej-$_mech-$_port.out")"
	fi
	# The server's error challenge is answered as the mechanism says: an
	# empty response (XOAUTH2) or a single ^A (OAUTHBEARER).
	_ans=$(sed -n '/^S: + ./{n;p;q;}' "$T/rej-$_mech-$_port.out" | tr -d '\r')
	_want_ans="C: "
	[ "$_mech" = OAUTHBEARER ] && _want_ans="C: AQ=="
	if [ "$_ans" = "$_want_ans" ]; then ok "$_what: the error challenge is answered with '$_want_ans'"; else
		not_ok "$_what: the error challenge is answered with '$_want_ans'"; diag "answer: '$_ans'"
	fi
	if dovecot_log_since | grep -qiE 'auth(entication)? failed|Aborted login|Disconnected.*auth'; then
		ok "$_what: Dovecot logged the failed login"
	else
		not_ok "$_what: Dovecot logged the failed login"; dovecot_log 15
	fi
	[ "$(refreshes)" -eq "$_r0" ] && ok "$_what: the failed login made no refresh request" ||
		not_ok "$_what: the failed login made no refresh request"
	if login "$_tool" "$_port" "$_mech" "$T/rec-$_mech-$_port.out"; then ok "$_what: the next login succeeds"; else
		not_ok "$_what: the next login succeeds"; diag "$(cat "$T/rec-$_mech-$_port.out")"; dovecot_log 15
	fi
	_r1=$(refreshes)
	[ "$_r1" -eq $((_r0 + 1)) ] && ok "$_what: the next login refreshed exactly once" ||
		not_ok "$_what: the next login refreshed exactly once ($_r0 -> $_r1)"
}
reject_then_recover "$IMTEST" "$IMAP_PORT" XOAUTH2 "IMAP XOAUTH2"
reject_then_recover "$IMTEST" "$IMAP_PORT" OAUTHBEARER "IMAP OAUTHBEARER"
reject_then_recover "$POP3TEST" "$POP3_PORT" XOAUTH2 "POP3 XOAUTH2"

done_testing
