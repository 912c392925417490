#!/bin/sh
# tests/integration/test_doctor_login.sh - `doctor NAME --login`: real
# logins over TLS (a private CA) to the private Dovecot's IMAP, POP3 and
# submission (STARTTLS), through libsasl2 and the plugin, reported per
# protocol; and the broken setups: a token the server refuses, a host the
# token may not be sent to (no connection made), an untrusted certificate,
# and a protocol the token has no server for.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/env.sh"
. "$top_srcdir/tests/server/server.sh"

it_require "$DOVECOT" openssl
it_require_built

oauth_server_start --max-seconds 400 || { not_ok "test OAuth2 server starts"; done_testing; exit 1; }
DOVECOT_TLS=1 dovecot_start || { not_ok "private Dovecot with TLS starts"; done_testing; exit 1; }
token_add alice "$TEST_USER" --set "servers.imap=127.0.0.1:$IMAP_PORT" \
	--set "servers.pop3=127.0.0.1:$POP3_PORT" --set "servers.smtp=127.0.0.1:$SUBM_PORT" ||
	{ not_ok "token 'alice' authorized"; done_testing; exit 1; }
ok "Dovecot with TLS from a private CA, token 'alice' with its three servers"

printf 'ca_bundle: %s\nhttp_timeout: 10\n' "$TLS_CA" >"$T/so2.conf"
export SASL_PATH="$PLUGIN_DIR"
d() { timeout 120 "$HELPER" --store "$STORE" --config "$T/so2.conf" doctor "$@"; }
TOKEN=$(so2 --config "$T/so2.conf" token alice)

d alice --login >"$T/out" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q "^ok  *login imap: 127.0.0.1:$IMAP_PORT: logged in as $TEST_USER" "$T/out" &&
	grep -q "^ok  *login pop3: 127.0.0.1:$POP3_PORT: logged in as $TEST_USER" "$T/out" &&
	grep -q "^ok  *login smtp: 127.0.0.1:$SUBM_PORT: logged in as $TEST_USER" "$T/out" \
	&& ok "doctor alice --login: IMAP, POP3 and SMTP logins over STARTTLS all ok" \
	|| { not_ok "doctor --login (exit $rc)"; diag "$(cat "$T/out")"; dovecot_log 20; }
dovecot_log_wait "submission-login: Info: Login: user=<$TEST_USER>, method=XOAUTH2.*TLS" ||
	dovecot_log | grep -q "submission-login: Info: Login: user=<$TEST_USER>, method=XOAUTH2" \
	&& ok "Dovecot logged the SMTP login" || { not_ok "Dovecot SMTP login"; dovecot_log 20; }
grep -qF "$TOKEN" "$T/out" && not_ok "doctor --login printed the token" || ok "doctor --login prints no token"

d alice --login smtp >"$T/out" 2>&1; rc=$?
[ $rc -eq 0 ] && [ "$(grep -c "^ok  *login" "$T/out")" -eq 1 ] && grep -q "^ok  *login smtp" "$T/out" \
	&& ok "doctor alice --login smtp: only SMTP" || { not_ok "--login smtp (exit $rc)"; diag "$(cat "$T/out")"; }

# A token the server refuses: each protocol reports the refusal.
so2 edit alice --set validity=valid >/dev/null 2>&1
oauth_control '{"revoke_all": true}' >/dev/null
# SMTP goes first: the server refuses the cached access token (535); the
# plugin marks it rejected, so IMAP's login refreshes and meets the
# revoked grant (invalid_grant) before anything is sent.
d alice --login smtp imap >"$T/out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "^PROBLEM  *login smtp: 127.0.0.1:$SUBM_PORT: the server refused the login: 535" "$T/out" \
	&& ok "a revoked token: SMTP reports the server's refusal (535)" \
	|| { not_ok "SMTP refusal (exit $rc)"; diag "$(cat "$T/out")"; }
grep -q "^PROBLEM  *login imap: 127.0.0.1:$IMAP_PORT: .*invalid_grant.*sasl-oauth2 authorize alice" "$T/out" \
	&& ok "then IMAP reports the dead grant with the fix" || { not_ok "IMAP after refusal"; diag "$(cat "$T/out")"; }
token_add bob "$TEST_USER" --set "servers.imap=127.0.0.1:$IMAP_PORT" --set "servers.smtp=127.0.0.1:$SUBM_PORT" \
	--set hosts=imap.gmail.com >/dev/null 2>&1
d bob --login >"$T/out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "^PROBLEM  *login imap: .*was not sent to host '127.0.0.1'" "$T/out" &&
	grep -q "^PROBLEM  *login smtp: .*was not sent to host '127.0.0.1'" "$T/out" \
	&& ok "hosts: a server outside the token's hosts is refused before connecting" \
	|| { not_ok "hosts refusal (exit $rc)"; diag "$(cat "$T/out")"; }
so2 edit bob --set hosts= >/dev/null 2>&1
printf 'http_timeout: 10\n' >"$T/noca.conf"
timeout 120 "$HELPER" --store "$STORE" --config "$T/noca.conf" doctor bob --login smtp >"$T/out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -qi "^PROBLEM  *login smtp: .*certificate" "$T/out" \
	&& ok "an untrusted server certificate is named as such" || { not_ok "untrusted CA (exit $rc)"; diag "$(cat "$T/out")"; }
d bob --login pop3 >"$T/out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "^PROBLEM  *login pop3: .*no servers.pop3" "$T/out" \
	&& ok "a protocol without a server is a problem naming the key to set" || { not_ok "no pop3 server (exit $rc)"; diag "$(cat "$T/out")"; }
d bob --login nntp >"$T/out" 2>&1; rc=$?
[ $rc -eq 2 ] && ok "an unknown protocol is a usage error" || { not_ok "nntp (exit $rc)"; diag "$(cat "$T/out")"; }

done_testing
