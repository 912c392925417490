#!/bin/sh
# tests/integration/test_imtest.sh - Cyrus imtest, pop3test and smtptest log
# in to a private Dovecot (IMAP, POP3, submission) with XOAUTH2 and
# OAUTHBEARER through the built plugin, with tokens the helper got from the
# test OAuth2 server. Asserts the client transcripts, Dovecot's log, the
# exact initial responses on the wire, the POP3 split form and delivery of a
# submitted message to the relay.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/env.sh"
. "$top_srcdir/tests/server/server.sh"

it_require "$DOVECOT" "$IMTEST" "$POP3TEST" "$SMTPTEST"
it_require_built

oauth_server_start --max-seconds 300 || { not_ok "test OAuth2 server starts"; done_testing; exit 1; }
if dovecot_start; then ok "private Dovecot listens on IMAP $IMAP_PORT, POP3 $POP3_PORT, submission $SUBM_PORT"; else
	not_ok "private Dovecot starts"; done_testing; exit 1
fi

if token_add alice "$TEST_USER"; then ok "token 'alice' created and authorized"; else
	not_ok "token 'alice' created and authorized"; done_testing; exit 1
fi
TOKEN=$(so2 token alice 2>"$T/token.err")
case $TOKEN in
at-*) ok "sasl-oauth2 token prints the access token" ;;
*) not_ok "sasl-oauth2 token prints the access token"; diag "$(cat "$T/token.err")" ;;
esac

# expect_login SERVICE MECH: Dovecot logged a successful login since the mark.
expect_login() {
	if dovecot_log_wait "$1-login: Info: Login: user=<$TEST_USER>, method=$2"; then
		ok "Dovecot logged the $1 $2 login of $TEST_USER"
	else
		not_ok "Dovecot logged the $1 $2 login of $TEST_USER"; dovecot_log 20
	fi
}

# first_client_b64 FILE PREFIX: the base64 argument of the first client line
# that starts with PREFIX in a recorded client-to-server stream.
client_line_after() {
	tr -d '\r' <"$1" | grep -m1 "^$2" | sed "s/^$2//"
}

# check_bytes DESCRIPTION B64 EXPECTED(printf format): decoded bytes equal.
check_bytes() {
	printf '%s' "$2" | b64dec >"$T/got.bin" 2>/dev/null
	printf "$3" >"$T/want.bin"
	if [ -n "$2" ] && cmp -s "$T/got.bin" "$T/want.bin"; then ok "$1"; else
		not_ok "$1"
		diag "got:  $(od -c "$T/got.bin" | head -8 | sed "s/$TOKEN/<token>/g")"
		diag "want: $(od -c "$T/want.bin" | head -8 | sed "s/$TOKEN/<token>/g")"
	fi
}

imap_cmds() { printf 'x1 SELECT INBOX\nx2 LOGOUT\n'; }

# ---- IMAP XOAUTH2, the token named by the SASL password, bytes on the wire
tcp_record_start "$IMAP_PORT"
dovecot_log_mark
if imap_cmds | cyrus_client "$IMTEST" "$REC_PORT" XOAUTH2 "$T/imap1.out" -w alice -o "oauth2_store=$STORE"; then
	ok "imtest XOAUTH2 (password names token 'alice') is authenticated"
else
	not_ok "imtest XOAUTH2 (password names token 'alice') is authenticated"; diag "$(cat "$T/imap1.out")"
fi
grep -q '^x1 OK' "$T/imap1.out" && ok "imtest SELECT INBOX after XOAUTH2 login" || not_ok "imtest SELECT INBOX after XOAUTH2 login"
expect_login imap XOAUTH2
ir=$(client_line_after "$REC_DIR/conn-1.c2s" "A01 AUTHENTICATE XOAUTH2 ")
check_bytes "IMAP XOAUTH2 initial response on the wire is user=...^Aauth=Bearer <token>^A^A" \
	"$ir" "user=$TEST_USER\001auth=Bearer $TOKEN\001\001"

# ---- IMAP OAUTHBEARER, store given through SASL_OAUTH2_STORE
dovecot_log_mark
if imap_cmds | SASL_OAUTH2_STORE="$STORE" cyrus_client "$IMTEST" "$REC_PORT" OAUTHBEARER "$T/imap2.out" -w alice; then
	ok "imtest OAUTHBEARER (store from SASL_OAUTH2_STORE) is authenticated"
else
	not_ok "imtest OAUTHBEARER (store from SASL_OAUTH2_STORE) is authenticated"; diag "$(cat "$T/imap2.out")"
fi
expect_login imap OAUTHBEARER
ir=$(client_line_after "$REC_DIR/conn-2.c2s" "A01 AUTHENTICATE OAUTHBEARER ")
# imtest hands libsasl2 the server's ip;port, so the port is known.
check_bytes "IMAP OAUTHBEARER initial response on the wire (RFC 7628 with host and port)" \
	"$ir" "n,a=$TEST_USER,\001host=127.0.0.1\001port=$REC_PORT\001auth=Bearer $TOKEN\001\001"

# ---- selection by user: no password, the token whose user is the authname
dovecot_log_mark
if imap_cmds | cyrus_client "$IMTEST" "$IMAP_PORT" XOAUTH2 "$T/imap3.out" -w "" -o "oauth2_store=$STORE"; then
	ok "imtest XOAUTH2 with an empty password selects the token by user"
else
	not_ok "imtest XOAUTH2 with an empty password selects the token by user"; diag "$(cat "$T/imap3.out")"
fi
expect_login imap XOAUTH2

# ---- no token named by the password nor matching the authname: refused
CLIENT_AUTHNAME=nobody@example.test
# refused_by_plugin FILE: imtest reported the plugin's SASL_NOUSER ("user
# not found") and ended the session cleanly: not a crash, a timeout or a
# server that is down.
refused_by_plugin() {
	! grep -q '^Authenticated\.' "$1" && grep -q '^Authentication failed\. user not found' "$1" &&
		grep -q '^Connection closed\.' "$1"
}
imap_cmds | cyrus_client "$IMTEST" "$IMAP_PORT" XOAUTH2 "$T/imap4.out" -w nosuchtoken -o "oauth2_store=$STORE"
if refused_by_plugin "$T/imap4.out"; then
	ok "imtest with no matching token is refused by the plugin (user not found)"
else
	not_ok "imtest with no matching token is refused by the plugin (user not found)"; diag "$(cat "$T/imap4.out")"
fi
CLIENT_AUTHNAME=
if grep -q '^C: A01 AUTHENTICATE' "$T/imap4.out"; then
	not_ok "no AUTHENTICATE is sent without a token"; diag "$(cat "$T/imap4.out")"
else
	ok "no AUTHENTICATE is sent without a token"
fi
diag "imtest said: $(grep -i -m1 'fail' "$T/imap4.out")"

# ---- POP3, both mechanisms
for mech in XOAUTH2 OAUTHBEARER; do
	dovecot_log_mark
	if printf 'STAT\nQUIT\n' | cyrus_client "$POP3TEST" "$POP3_PORT" $mech "$T/pop-$mech.out" -w alice -o "oauth2_store=$STORE"; then
		ok "pop3test $mech is authenticated"
	else
		not_ok "pop3test $mech is authenticated"; diag "$(cat "$T/pop-$mech.out")"
	fi
	expect_login pop3 $mech
done

# ---- POP3 split (Microsoft): forced by pop3_split_hosts, else inline
tcp_record_start "$POP3_PORT"
printf 'QUIT\n' | cyrus_client "$POP3TEST" "$REC_PORT" XOAUTH2 "$T/pop-inline.out" -w alice -o "oauth2_store=$STORE" ||
	diag "$(cat "$T/pop-inline.out")"
c2s=$(tr -d '\r' <"$REC_DIR/conn-1.c2s")
ir=$(printf '%s\n' "$c2s" | grep -m1 '^AUTH XOAUTH2 ' | sed 's/^AUTH XOAUTH2 //')
check_bytes "POP3 without the split list: inline AUTH XOAUTH2 <b64>" \
	"$ir" "user=$TEST_USER\001auth=Bearer $TOKEN\001\001"

cat >"$T/split.conf" <<EOF
pop3_split_hosts:
  - 127.0.0.1
EOF
printf 'QUIT\n' | cyrus_client "$POP3TEST" "$REC_PORT" XOAUTH2 "$T/pop-split.out" -w alice \
	-o "oauth2_store=$STORE" -o "oauth2_config=$T/split.conf" || diag "$(cat "$T/pop-split.out")"
grep -q '^Authenticated\.' "$T/pop-split.out" && ok "pop3test with the split form is authenticated" ||
	{ not_ok "pop3test with the split form is authenticated"; diag "$(cat "$T/pop-split.out")"; }
c2s=$(tr -d '\r' <"$REC_DIR/conn-2.c2s")
s2c=$(tr -d '\r' <"$REC_DIR/conn-2.s2c")
auth_line=$(printf '%s\n' "$c2s" | grep -m1 '^AUTH ')
if [ "$auth_line" = "AUTH XOAUTH2" ]; then ok "POP3 split: the client sends 'AUTH XOAUTH2' alone"; else
	not_ok "POP3 split: the client sends 'AUTH XOAUTH2' alone"; diag "first AUTH line: $auth_line"
fi
printf '%s\n' "$s2c" | grep -qx '+ *' && ok "POP3 split: the server answers '+'" || not_ok "POP3 split: the server answers '+'"
ir=$(printf '%s\n' "$c2s" | sed -n '/^AUTH XOAUTH2$/{n;p;q;}')
check_bytes "POP3 split: the next client line is the base64 initial response" \
	"$ir" "user=$TEST_USER\001auth=Bearer $TOKEN\001\001"

# Same split config through SASL_OAUTH2_CONFIG.
printf 'QUIT\n' | SASL_OAUTH2_CONFIG="$T/split.conf" cyrus_client "$POP3TEST" "$REC_PORT" XOAUTH2 \
	"$T/pop-split2.out" -w alice -o "oauth2_store=$STORE" || diag "$(cat "$T/pop-split2.out")"
auth_line=$(tr -d '\r' <"$REC_DIR/conn-3.c2s" | grep -m1 '^AUTH ')
[ "$auth_line" = "AUTH XOAUTH2" ] && ok "POP3 split through SASL_OAUTH2_CONFIG" ||
	{ not_ok "POP3 split through SASL_OAUTH2_CONFIG"; diag "first AUTH line: $auth_line"; }

# ---- SMTP submission: log in and submit a message to the relay
smtp_session() {
	sleep 1
	printf 'MAIL FROM:<%s>\n' "$TEST_USER"; sleep 0.3
	printf 'RCPT TO:<bob@example.test>\n'; sleep 0.3
	printf 'DATA\n'; sleep 0.3
	printf 'From: %s\nTo: bob@example.test\nSubject: %s\n\nhello through sasl-oauth2\n.\n' "$TEST_USER" "$1"
	sleep 0.5
	printf 'QUIT\n'
}
before=$(sink_count)
dovecot_log_mark
if smtp_session "so2 smtptest XOAUTH2" | cyrus_client "$SMTPTEST" "$SUBM_PORT" XOAUTH2 "$T/smtp1.out" -w alice -o "oauth2_store=$STORE"; then
	ok "smtptest XOAUTH2 is authenticated"
else
	not_ok "smtptest XOAUTH2 is authenticated"; diag "$(cat "$T/smtp1.out")"
fi
expect_login submission XOAUTH2
if wait_sink_count $((before + 1)) 15 && grep -l 'Subject: so2 smtptest XOAUTH2' "$SINK_DIR"/msg-*.eml >/dev/null 2>&1; then
	ok "the submitted message reached the relay (SMTP sink)"
else
	not_ok "the submitted message reached the relay (SMTP sink)"; diag "$(cat "$T/smtp1.out")"; dovecot_log 20
fi

dovecot_log_mark
if printf 'QUIT\n' | cyrus_client "$SMTPTEST" "$SUBM_PORT" OAUTHBEARER "$T/smtp2.out" -w alice -o "oauth2_store=$STORE"; then
	ok "smtptest OAUTHBEARER is authenticated"
else
	not_ok "smtptest OAUTHBEARER is authenticated"; diag "$(cat "$T/smtp2.out")"
fi
expect_login submission OAUTHBEARER

# The plugin's log lines (shown by the clients) never carry the token in
# clear; -v shows only the base64 exchange.
if grep -l -F "$TOKEN" "$T"/imap*.out "$T"/pop-*.out "$T"/smtp*.out >/dev/null 2>&1; then
	not_ok "no client transcript shows the access token in clear"
else
	ok "no client transcript shows the access token in clear"
fi

# ---- 2 KB tokens (real ones are 1-2.5 KB): POP3 (RFC 5034, 255 octets)
# and SMTP (RFC 4954, 512 octets) get "AUTH XOAUTH2" alone, the server's
# continuation, then the token; IMAP keeps one line.
oauth_control '{"token_length": 2048}' >/dev/null
if token_add long "$TEST_USER"; then ok "token 'long' authorized with a 2 KB access token"; else
	not_ok "token 'long' authorized with a 2 KB access token"
fi
oauth_control '{"token_length": 0}' >/dev/null
LTOKEN=$(so2 token long 2>/dev/null)
[ ${#LTOKEN} -eq 2048 ] && ok "the long access token has 2048 characters" ||
	not_ok "the long access token has 2048 characters (${#LTOKEN})"
# split_seen DESC DIR N CONT: the client sent "AUTH XOAUTH2" alone, the
# server answered with CONT (a regex), the next client line is the token.
split_seen() {
	_c2s=$(tr -d '\r' <"$2/conn-$3.c2s")
	_s2c=$(tr -d '\r' <"$2/conn-$3.s2c")
	_al=$(printf '%s\n' "$_c2s" | grep -m1 '^AUTH ')
	if [ "$_al" = "AUTH XOAUTH2" ]; then ok "$1: 'AUTH XOAUTH2' alone"; else
		not_ok "$1: 'AUTH XOAUTH2' alone"; diag "first AUTH line: $(printf '%.80s' "$_al")"
	fi
	printf '%s\n' "$_s2c" | grep -qx "$4" && ok "$1: the server's continuation" ||
		{ not_ok "$1: the server's continuation"; diag "$(printf '%s\n' "$_s2c" | head -5)"; }
	_ir=$(printf '%s\n' "$_c2s" | sed -n '/^AUTH XOAUTH2$/{n;p;q;}')
	TOKEN=$LTOKEN check_bytes "$1: then the 2 KB token on its own line" \
		"$_ir" "user=$TEST_USER\001auth=Bearer $LTOKEN\001\001"
}
tcp_record_start "$POP3_PORT"
dovecot_log_mark
printf 'STAT\nQUIT\n' | cyrus_client "$POP3TEST" "$REC_PORT" XOAUTH2 "$T/pop-long.out" -w long \
	-o "oauth2_store=$STORE" && ok "pop3test with a 2 KB token is authenticated" ||
	{ not_ok "pop3test with a 2 KB token is authenticated"; diag "$(tail -5 "$T/pop-long.out")"; }
split_seen "POP3, 2 KB token" "$REC_DIR" 1 '+ *'
tcp_record_start "$SUBM_PORT"
printf 'QUIT\n' | cyrus_client "$SMTPTEST" "$REC_PORT" XOAUTH2 "$T/smtp-long.out" -w long \
	-o "oauth2_store=$STORE" && ok "smtptest with a 2 KB token is authenticated" ||
	{ not_ok "smtptest with a 2 KB token is authenticated"; diag "$(tail -5 "$T/smtp-long.out")"; }
split_seen "SMTP, 2 KB token" "$REC_DIR" 1 '334 *'
tcp_record_start "$IMAP_PORT"
imap_cmds | cyrus_client "$IMTEST" "$REC_PORT" XOAUTH2 "$T/imap-long.out" -w long \
	-o "oauth2_store=$STORE" && ok "imtest with a 2 KB token is authenticated" ||
	{ not_ok "imtest with a 2 KB token is authenticated"; diag "$(tail -5 "$T/imap-long.out")"; }
ir=$(tr -d '\r' <"$REC_DIR/conn-1.c2s" | grep -m1 ' AUTHENTICATE XOAUTH2 ' | sed 's/^.* AUTHENTICATE XOAUTH2 //')
TOKEN=$LTOKEN check_bytes "IMAP, 2 KB token: one line AUTHENTICATE XOAUTH2 <b64> (SASL-IR)" \
	"$ir" "user=$TEST_USER\001auth=Bearer $LTOKEN\001\001"
if grep -l -F "$LTOKEN" "$T"/pop-long.out "$T"/smtp-long.out "$T"/imap-long.out >/dev/null 2>&1; then
	not_ok "no client transcript shows the 2 KB token in clear"
else
	ok "no client transcript shows the 2 KB token in clear"
fi

# ---- two tokens for the same user: selection by user is ambiguous
if token_add alice-b "$TEST_USER"; then ok "second token 'alice-b' for the same user authorized"; else
	not_ok "second token 'alice-b' for the same user authorized"
fi
# (imtest shows only the SASL code; the plugin's message naming both
# tokens is checked in tests/plugin/test_plugin and tests/oauth.)
imap_cmds | cyrus_client "$IMTEST" "$IMAP_PORT" XOAUTH2 "$T/imap5.out" -w "" -o "oauth2_store=$STORE"
if refused_by_plugin "$T/imap5.out" && ! grep -q '^C: A01 AUTHENTICATE' "$T/imap5.out"; then
	ok "with two tokens for one user, an empty password is refused by the plugin before AUTHENTICATE"
else
	not_ok "with two tokens for one user, an empty password is refused by the plugin before AUTHENTICATE"; diag "$(cat "$T/imap5.out")"
fi
if imap_cmds | cyrus_client "$IMTEST" "$IMAP_PORT" XOAUTH2 "$T/imap6.out" -w alice-b -o "oauth2_store=$STORE"; then
	ok "naming 'alice-b' in the password still selects it"
else
	not_ok "naming 'alice-b' in the password still selects it"; diag "$(cat "$T/imap6.out")"
fi

done_testing
