#!/bin/sh
# tests/integration/test_tunnel.sh - `sasl-oauth2 tunnel` with real clients
# against the private Dovecot speaking TLS from a private CA: Debian's
# fetchmail (plugin + auth ssh + sslproto '') over POP3 and IMAP, implicit
# TLS and STARTTLS; mbsync's Tunnel; imaplib's IMAP4_stream for a 20 MB
# message (checksum) and 20 tunnels at once; and the failures (unknown CA,
# name mismatch, expired certificate, invalid and revoked token, a server
# closing during and after login), each ending with nothing fetched and
# the reason on stderr.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/env.sh"
. "$top_srcdir/tests/server/server.sh"

it_require "$DOVECOT" fetchmail mbsync openssl
it_require_built

oauth_server_start --max-seconds 400 || { not_ok "test OAuth2 server starts"; done_testing; exit 1; }
DOVECOT_TLS=1 dovecot_start || { not_ok "private Dovecot with TLS starts"; done_testing; exit 1; }
token_add alice "$TEST_USER" || { not_ok "token 'alice' authorized"; done_testing; exit 1; }
ok "Dovecot with TLS from a private CA, token 'alice' authorized"

# The helper as the clients run it: the store, the configuration (which
# trusts the private CA) and the plugin directory come from the environment.
printf 'ca_bundle: %s\nhttp_timeout: 10\n' "$TLS_CA" >"$T/so2.conf"
SASL_PATH="$PLUGIN_DIR" SASL_OAUTH2_STORE="$STORE" SASL_OAUTH2_CONFIG="$T/so2.conf"
export SASL_PATH SASL_OAUTH2_STORE SASL_OAUTH2_CONFIG
TUNNEL="$HELPER tunnel alice"

for _i in 1 2; do
	printf 'From: bob@example.test\nTo: %s\nSubject: so2 tunnel %s\nMessage-ID: <tunnel-%s@example.test>\n\nmessage %s through the tunnel\n' \
		"$TEST_USER" "$_i" "$_i" "$_i" >"$T/msg$_i.eml"
	dovecot_deliver "$TEST_USER" "$T/msg$_i.eml"
done

cat >"$T/mda.sh" <<'EOF'
#!/bin/sh
f=$(mktemp "$1/msg.XXXXXX") && cat >"$f"
EOF
chmod 755 "$T/mda.sh"

# fm NAME PROTO PORT [TUNNEL ARGS...]: one fetchmail run through the tunnel
# (rcfile as the README shows it); its output (stdout and stderr, where the
# tunnel's reason lands) goes to $T/fm-NAME.out, the messages to $T/fm-NAME/.
fm() {
	_fn=$1 _fp=$2 _fport=$3; shift 3
	mkdir -p "$T/fm-$_fn"
	cat >"$T/fetchmailrc-$_fn" <<EOF
set no bouncemail
poll 127.0.0.1 port $_fport protocol $_fp auth ssh
  plugin "$TUNNEL %h %p $*"
  user "$TEST_USER" there is "$(id -un)" here
  sslproto ''
  keep fetchall
  mda "$T/mda.sh $T/fm-$_fn"
EOF
	chmod 600 "$T/fetchmailrc-$_fn"
	HOME="$T" timeout 90 fetchmail -f "$T/fetchmailrc-$_fn" -N --nosyslog -v \
		--pidfile "$T/fm-$_fn.pid" -i "$T/fm-$_fn.ids" </dev/null >"$T/fm-$_fn.out" 2>&1
}
fm_count() { ls "$T/fm-$1" 2>/dev/null | grep -c '^msg\.'; }

# fm_ok NAME PROTO PORT [ARGS...]: fetchmail exits 0 with both messages.
fm_ok() {
	_n=$1 _p=$2 _port=$3; shift 3
	_d="fetchmail $_p through 'tunnel alice 127.0.0.1 PORT $*' fetches both messages ($_n)"
	if fm "$_n" "$_p" "$_port" "$@" && [ "$(fm_count "$_n")" -ge 2 ] &&
	   grep -qs 'so2 tunnel 2' "$T/fm-$_n"/msg.*; then
		ok "$_d"
	else
		not_ok "$_d"; diag "$(tail -25 "$T/fm-$_n.out")"; dovecot_log 10
	fi
}

dovecot_log_mark
fm_ok pop3s POP3 "$POP3S_PORT" --protocol pop3
fm_ok pop3stls POP3 "$POP3_PORT" --protocol pop3 --tls starttls --mech OAUTHBEARER
fm_ok imaps IMAP "$IMAPS_PORT" --mech OAUTHBEARER
fm_ok imapstls IMAP "$IMAP_PORT" --tls starttls

# Dovecot saw token logins over TLS with both mechanisms and both protocols.
for _l in pop3:XOAUTH2 pop3:OAUTHBEARER imap:XOAUTH2 imap:OAUTHBEARER; do
	if dovecot_log_since |
	   grep -q "${_l%:*}-login: Info: Login: user=<$TEST_USER>, method=${_l#*:}, .*, TLS, "; then
		ok "Dovecot logged a ${_l#*:} login over ${_l%:*} with TLS"
	else
		not_ok "Dovecot logged a ${_l#*:} login over ${_l%:*} with TLS"; dovecot_log 20
	fi
done

# ---- mbsync with Tunnel
mkdir -p "$T/near"
cat >"$T/mbsyncrc" <<EOF
IMAPAccount tunnel
Tunnel "$TUNNEL 127.0.0.1 $IMAPS_PORT"

IMAPStore far
Account tunnel

MaildirStore near
Path $T/near/
Inbox $T/near/INBOX
SubFolders Verbatim

Channel so2
Far :far:
Near :near:
Patterns INBOX
Create Near
Expunge None
SyncState *
EOF
if HOME="$T" timeout 60 mbsync -c "$T/mbsyncrc" -V so2 </dev/null >"$T/mbsync.out" 2>&1 &&
   grep -rqs 'so2 tunnel 2' "$T/near/INBOX"; then
	ok "mbsync syncs INBOX through Tunnel"
else
	not_ok "mbsync syncs INBOX through Tunnel"; diag "$(tail -20 "$T/mbsync.out")"
fi

# ---- 20 tunnels at once
if out=$(timeout 120 "$PYTHON3" "$top_srcdir/tests/integration/tunnel_client.py" parallel 20 \
	"$TUNNEL 127.0.0.1 $IMAPS_PORT" 2>"$T/parallel.err") && [ "$out" = 20 ]; then
	ok "20 tunnels at once all log in and fetch"
else
	not_ok "20 tunnels at once all log in and fetch (succeeded: ${out:-0})"
	diag "$(tail -20 "$T/parallel.err")"
fi

# ---- a 20 MB message relays byte for byte (CRLF lines: Dovecot sends the
# stored bytes unchanged)
"$PYTHON3" -c '
import os, sys
rnd = os.urandom(10 * 1024 * 1024).hex()
with open(sys.argv[1], "wb") as f:
    f.write(b"From: bob@example.test\r\nSubject: so2 tunnel big\r\n\r\n")
    for i in range(0, len(rnd), 76):
        f.write(rnd[i:i + 76].encode() + b"\r\n")
' "$T/big.eml"
big_sha=$(sha256sum "$T/big.eml" | cut -d' ' -f1)
dovecot_deliver "$TEST_USER" "$T/big.eml"
if timeout 120 "$PYTHON3" "$top_srcdir/tests/integration/tunnel_client.py" sha256 \
	"$TUNNEL 127.0.0.1 $IMAPS_PORT" >"$T/sha.out" 2>"$T/sha.err" &&
   grep -q " $big_sha " "$T/sha.out"; then
	ok "a $(wc -c <"$T/big.eml")-byte message relays byte for byte (SHA-256)"
else
	not_ok "a 20 MB message relays byte for byte (SHA-256 $big_sha)"
	diag "$(cat "$T/sha.out" "$T/sha.err" | tail -10)"
fi

# ---- failures: nothing fetched, the reason on stderr
# fm_fails NAME PROTO PORT PATTERN [ARGS...]
fm_fails() {
	_n=$1 _p=$2 _port=$3 _pat=$4; shift 4
	_d="fetchmail $_p via the tunnel fails cleanly: $_n"
	if fm "$_n" "$_p" "$_port" "$@"; then
		not_ok "$_d (fetchmail exited 0)"; diag "$(tail -20 "$T/fm-$_n.out")"
	elif [ "$(fm_count "$_n")" -ne 0 ]; then
		not_ok "$_d ($(fm_count "$_n") messages fetched)"
	elif ! grep -q "sasl-oauth2: alice: tunnel to 127.0.0.1 port $_port: .*$_pat" "$T/fm-$_n.out"; then
		not_ok "$_d (no line saying: $_pat)"; diag "$(tail -20 "$T/fm-$_n.out")"
	else
		ok "$_d"
	fi
}

tls_server_start "$TLS_ROGUE_CERT" "$TLS_ROGUE_KEY"
fm_fails unknown-ca IMAP "$TLS_SRV_PORT" "signed by an unknown CA (issuer /CN=so2 rogue CA)"
fm_fails unknown-ca-pop POP3 "$TLS_SRV_PORT" "unknown CA" --protocol pop3
tls_server_start "$TLS_WRONG_CERT" "$TLS_WRONG_KEY"
fm_fails mismatch IMAP "$TLS_SRV_PORT" "name mismatch: the certificate is for 'wrong.example.test', not '127.0.0.1'"
tls_server_start "$TLS_EXPIRED_CERT" "$TLS_EXPIRED_KEY"
fm_fails expired IMAP "$TLS_SRV_PORT" "certificate of 127.0.0.1 expired on 2020-01-31"

# The refusal the client sees is protocol-shaped.
"$HELPER" tunnel alice 127.0.0.1 "$TLS_SRV_PORT" </dev/null >"$T/shape-imap.out" 2>/dev/null
rc_imap=$?
"$HELPER" tunnel alice 127.0.0.1 "$TLS_SRV_PORT" --protocol pop3 </dev/null >"$T/shape-pop.out" 2>/dev/null
rc_pop=$?
if [ $rc_imap -eq 1 ] && [ $rc_pop -eq 1 ] &&
   grep -q '^\* BYE sasl-oauth2 tunnel: TLS certificate of 127.0.0.1 expired' "$T/shape-imap.out" &&
   grep -q '^-ERR sasl-oauth2 tunnel: TLS certificate' "$T/shape-pop.out"; then
	ok "refusals: '* BYE' for IMAP, '-ERR' for POP3, exit 1"
else
	not_ok "refusals: '* BYE' for IMAP, '-ERR' for POP3, exit 1 (exit $rc_imap/$rc_pop)"
	diag "$(cat "$T/shape-imap.out" "$T/shape-pop.out")"
fi

# With 'log: syslog' the reason goes to syslog, not to stderr; the client
# still gets its refusal.
printf 'ca_bundle: %s\nlog: syslog\n' "$TLS_CA" >"$T/so2-syslog.conf"
SASL_OAUTH2_CONFIG="$T/so2-syslog.conf" "$HELPER" tunnel alice 127.0.0.1 "$TLS_SRV_PORT" \
	</dev/null >"$T/syslog.out" 2>"$T/syslog.err"
rc=$?
if [ $rc -eq 1 ] && [ ! -s "$T/syslog.err" ] && grep -q '^\* BYE sasl-oauth2 tunnel: TLS' "$T/syslog.out"; then
	ok "with log: syslog nothing goes to stderr, the refusal still to stdout"
else
	not_ok "with log: syslog nothing goes to stderr (exit $rc)"; diag "$(cat "$T/syslog.err")"
fi

# --tls none only to a loopback address (192.0.2.1 is TEST-NET-1: refused
# before any connection).
"$HELPER" tunnel alice 192.0.2.1 143 --tls none </dev/null >"$T/none.out" 2>"$T/none.err"
rc=$?
if [ $rc -eq 1 ] && grep -q 'not a loopback address' "$T/none.err" && grep -q '^\* BYE' "$T/none.out"; then
	ok "--tls none to a non-loopback address is refused"
else
	not_ok "--tls none to a non-loopback address is refused (exit $rc)"; diag "$(cat "$T/none.err")"
fi
if (printf 'a1 LOGOUT\r\n'; sleep 1) | "$HELPER" tunnel alice localhost "$IMAP_PORT" --tls none \
	>"$T/none-lo.out" 2>&1 && grep -q '^\* PREAUTH' "$T/none-lo.out" &&
   grep -q '^a1 OK' "$T/none-lo.out"; then
	ok "--tls none to a loopback address logs in and relays"
else
	not_ok "--tls none to a loopback address logs in and relays"; diag "$(cat "$T/none-lo.out")"
fi

"$HELPER" tunnel alice 127.0.0.1 993 --tls maybe </dev/null >/dev/null 2>"$T/usage.err"
rc=$?
if [ $rc -eq 2 ] && grep -q -- "--tls is implicit, starttls or none" "$T/usage.err"; then
	ok "a bad --tls is a usage error (exit 2)"
else
	not_ok "a bad --tls is a usage error (exit $rc)"; diag "$(cat "$T/usage.err")"
fi

"$HELPER" tunnel alice 127.0.0.1 imapx </dev/null >/dev/null 2>"$T/usage2.err"
rc=$?
if [ $rc -eq 2 ] && grep -q "PORT must be a number from 1 to 65535 or one of imap" "$T/usage2.err"; then
	ok "a PORT that is neither a number nor imap/imaps/pop3/pop3s is a usage error"
else
	not_ok "a bad PORT is a usage error (exit $rc)"; diag "$(cat "$T/usage2.err")"
fi

# A login with a cached token loads neither libcurl nor anything it pulls
# in (the plugin's chroot preload is off in the tunnel): the live tunnel's
# memory map after PREAUTH. Linux /proc only.
if [ -r /proc/self/maps ]; then
	sleep 3 | "$HELPER" tunnel alice 127.0.0.1 "$IMAPS_PORT" >"$T/lazy.out" 2>"$T/lazy.err" &
	_lp=$!
	_i=0
	while [ $_i -lt 600 ] && ! grep -q '^\* PREAUTH' "$T/lazy.out"; do sleep 0.1; _i=$((_i + 1)); done
	cp "/proc/$_lp/maps" "$T/lazy.maps" 2>/dev/null
	wait $_lp
	if grep -q '^\* PREAUTH' "$T/lazy.out" && grep -q 'libsasloauth2' "$T/lazy.maps" &&
	   ! grep -q 'libcurl' "$T/lazy.maps"; then
		ok "a cached-token tunnel login does not load libcurl"
	else
		not_ok "a cached-token tunnel login does not load libcurl"
		diag "$(grep -E 'libcurl|libsasloauth2' "$T/lazy.maps" | head -3)" "$(cat "$T/lazy.err")"
	fi
fi

# Without ca_bundle the system's CAs: the hashed directory (SSL_CERT_DIR)
# is asked first, the bundle file (SSL_CERT_FILE) only when the directory
# has no issuer; a CA in neither is refused.
printf 'http_timeout: 10\n' >"$T/noca.conf"
mkdir -p "$T/cadir-empty" "$T/cadir"
cp "$TLS_CA" "$T/cadir/ca.pem"
openssl rehash "$T/cadir" >/dev/null 2>&1 || c_rehash "$T/cadir" >/dev/null 2>&1
sysca() {
	_sn=$1; shift
	printf 'a1 LOGOUT\r\n' | env SASL_OAUTH2_CONFIG="$T/noca.conf" "$@" \
		"$HELPER" tunnel alice localhost "$IMAPS_PORT" >"$T/sysca-$_sn.out" 2>"$T/sysca-$_sn.err"
}
sysca file SSL_CERT_DIR="$T/cadir-empty" SSL_CERT_FILE="$TLS_CA"
sysca dir SSL_CERT_DIR="$T/cadir" SSL_CERT_FILE="$T/none.pem"
sysca neither SSL_CERT_DIR="$T/cadir-empty" SSL_CERT_FILE="$T/none.pem"
if grep -q '^\* PREAUTH' "$T/sysca-file.out" && grep -q '^\* PREAUTH' "$T/sysca-dir.out" &&
   grep -q 'signed by an unknown CA' "$T/sysca-neither.err" &&
   ! grep -q 'PREAUTH' "$T/sysca-neither.out"; then
	ok "without ca_bundle the CA comes from SSL_CERT_DIR or SSL_CERT_FILE, else refused"
else
	not_ok "without ca_bundle the CA comes from SSL_CERT_DIR or SSL_CERT_FILE, else refused"
	diag "$(cat "$T"/sysca-*.err "$T"/sysca-*.out)"
fi

# --idle-timeout ends a silent session (exit 3, reason on stderr); without
# it the same silence is fine.
sleep 4 | "$HELPER" tunnel alice 127.0.0.1 "$IMAPS_PORT" --idle-timeout 1 >"$T/idle.out" 2>"$T/idle.err"
rc=$?
if [ $rc -eq 3 ] && grep -q '^\* PREAUTH' "$T/idle.out" && grep -q 'no traffic for 1 s' "$T/idle.err"; then
	ok "--idle-timeout 1 ends a silent session with exit 3"
else
	not_ok "--idle-timeout 1 ends a silent session with exit 3 (exit $rc)"; diag "$(cat "$T/idle.err")"
fi
(sleep 2; printf 'a1 LOGOUT\r\n'; sleep 1) | "$HELPER" tunnel alice 127.0.0.1 "$IMAPS_PORT" >"$T/noidle.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q '^a1 OK' "$T/noidle.out"; then
	ok "without --idle-timeout a silent session stays open"
else
	not_ok "without --idle-timeout a silent session stays open (exit $rc)"; diag "$(cat "$T/noidle.out")"
fi

# The plugin's rules hold through the tunnel: --user must be the token's
# user (or in its users), and the server must be in the token's hosts.
"$HELPER" tunnel alice 127.0.0.1 "$IMAPS_PORT" --user mallory@example.test </dev/null \
	>"$T/user.out" 2>"$T/user.err"
rc=$?
if [ $rc -eq 1 ] && grep -q "may not log in as 'mallory@example.test'" "$T/user.err" &&
   grep -q '^\* BYE' "$T/user.out"; then
	ok "--user outside the token's user and users is refused before any login"
else
	not_ok "--user outside the token's user and users is refused (exit $rc)"; diag "$(cat "$T/user.err")"
fi
so2 edit alice --set hosts=imap.example.com >/dev/null
"$HELPER" tunnel alice 127.0.0.1 "$IMAPS_PORT" </dev/null >/dev/null 2>"$T/hosts.err"
rc=$?
so2 edit alice --set hosts= >/dev/null
if [ $rc -eq 1 ] && grep -q "not in the token's 'hosts' list" "$T/hosts.err"; then
	ok "a server outside the token's hosts never gets the token"
else
	not_ok "a server outside the token's hosts never gets the token (exit $rc)"; diag "$(cat "$T/hosts.err")"
fi

# A server that drops the connection during the login, and one that drops
# it after the login (no TLS close_notify).
fake_start() {
	rm -f "$T/fake-$1.port"
	"$PYTHON3" "$top_srcdir/tests/integration/fake_imap_tls.py" --cert "$TLS_CERT" \
		--key "$TLS_KEY" --mode "$1" --port-file "$T/fake-$1.port" --max-seconds 300 \
		>>"$T/fake.out" 2>&1 &
	_fpid=$!
	at_exit "kill $_fpid 2>/dev/null; wait $_fpid 2>/dev/null"
	wait_for_file "$T/fake-$1.port" 10 && FAKE_PORT=$(cat "$T/fake-$1.port")
}
fake_start close-in-login
fm_fails close-in-login IMAP "$FAKE_PORT" "127.0.0.1 closed the connection"
fake_start close-after-login
fm_fails close-after-login IMAP "$FAKE_PORT" "closed the connection without ending TLS"
(printf 'a1 NOOP\r\n'; sleep 2) | "$HELPER" tunnel alice 127.0.0.1 "$FAKE_PORT" >/dev/null 2>&1
rc=$?
if [ $rc -eq 3 ]; then ok "a session lost after login exits 3"; else not_ok "a session lost after login exits 3 (exit $rc)"; fi

# STARTTLS: a server that does not offer it is refused, and so is one that
# sends data after its STARTTLS reply (a possible injection); the token is
# never sent in either case.
fake_start no-starttls
"$HELPER" tunnel alice 127.0.0.1 "$FAKE_PORT" --tls starttls </dev/null >"$T/nostls.out" 2>"$T/nostls.err"
rc=$?
if [ $rc -eq 1 ] && grep -q 'does not offer STARTTLS' "$T/nostls.err"; then
	ok "--tls starttls refuses a server without STARTTLS"
else
	not_ok "--tls starttls refuses a server without STARTTLS (exit $rc)"; diag "$(cat "$T/nostls.err")"
fi
fake_start starttls-inject
"$HELPER" tunnel alice 127.0.0.1 "$FAKE_PORT" --tls starttls </dev/null >"$T/inject.out" 2>"$T/inject.err"
rc=$?
if [ $rc -eq 1 ] && grep -q 'sent data after its STARTTLS reply' "$T/inject.err"; then
	ok "--tls starttls refuses data injected after the STARTTLS reply"
else
	not_ok "--tls starttls refuses data injected after the STARTTLS reply (exit $rc)"
	diag "$(cat "$T/inject.err")"
fi

# An access token the server no longer accepts: refused, marked rejected,
# refreshed on the next run.
oauth_control '{"expire_access_tokens": true}'
fm_fails invalid-token IMAP "$IMAPS_PORT" "refused the login of '$TEST_USER' with XOAUTH2: NO \[AUTHENTICATIONFAILED\].*marked rejected"
if [ "$(state_field alice access_rejected)" = True ]; then
	ok "the refused access token is marked rejected in the state"
else
	not_ok "the refused access token is marked rejected in the state"; diag "$(cat "$STORE/alice.state")"
fi
fm_ok after-refresh IMAP "$IMAPS_PORT"

# A revoked grant: the login fails, and then the refresh says so.
oauth_control '{"revoke_all": true, "expire_access_tokens": true}'
fm_fails revoked-1 IMAP "$IMAPS_PORT" "refused the login"
fm_fails revoked-2 IMAP "$IMAPS_PORT" "invalid_grant"

# The tunnel never printed a token.
leak=0
for _tok in "$(state_field alice access_token)" "$(state_field alice refresh_token)"; do
	[ -n "$_tok" ] && grep -rqsF "$_tok" "$T"/fm-*.out "$T"/*.err "$T/mbsync.out" && leak=1
done
if [ $leak -eq 0 ]; then ok "no token in any client output or error"; else not_ok "a token leaked into an output"; fi

done_testing
