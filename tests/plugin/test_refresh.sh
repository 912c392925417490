#!/bin/sh
# test_refresh.sh - a login through the plugin with an expired access token
# refreshes it once inside the plugin (against the test OAuth2 server),
# sends the new token and persists the new state; the next login uses the
# cached token without network. As root, a confidential client whose secret
# is in a 0600 file outside the store refreshes after the program entered a
# chroot (an empty directory), as Postfix's smtp does.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/server/server.sh"

require_tool curl
prog="$top_builddir/tests/plugin/test_plugin"
oauth_server_start || { not_ok "test OAuth2 server starts"; done_testing; exit; }
ok "test OAuth2 server starts"

# A refresh token from the server: authorization code with PKCE as the
# public client (what `sasl-oauth2 authorize` does, done here by hand).
verifier=$("$PYTHON3" -c 'import secrets; print(secrets.token_urlsafe(48))')
challenge=$("$PYTHON3" -c 'import base64, hashlib, sys
print(base64.urlsafe_b64encode(hashlib.sha256(sys.argv[1].encode()).digest()).rstrip(b"=").decode())' "$verifier")
redirect="http://127.0.0.1:1/"
loc=$(curl -sS --max-time 10 -o /dev/null -w '%{redirect_url}' \
	"$OAUTH_URL/authorize?response_type=code&client_id=public-client&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2F&state=s1&code_challenge=$challenge&code_challenge_method=S256&login_hint=alice%40example.test")
code=$(printf '%s' "$loc" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')
[ -n "$code" ] && ok "authorization code obtained" || { not_ok "authorization code obtained"; diag "$loc"; }
curl -sS --max-time 10 -o "$T/grant.json" \
	--data-urlencode grant_type=authorization_code --data-urlencode "code=$code" \
	--data-urlencode "redirect_uri=$redirect" --data-urlencode client_id=public-client \
	--data-urlencode "code_verifier=$verifier" "$OAUTH_URL/token"
rt=$("$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1]))["refresh_token"])' "$T/grant.json" 2>/dev/null)
[ -n "$rt" ] && ok "refresh token obtained" || { not_ok "refresh token obtained"; diag "$(cat "$T/grant.json")"; }

store="$T/store"
mkdir -m 700 "$store"
umask 077
cat >"$store/mail.yaml" <<EOY
name: mail
template: generic
user: alice@example.test
client_id: public-client
client_auth: none
flow: authorization_code
auth_url: $OAUTH_URL/authorize
token_url: $OAUTH_URL/token
scope: [mail]
validity: valid
EOY
cat >"$store/mail.state" <<EOS
{"access_token": "at-expired-old", "token_type": "Bearer", "expires_at": 1000,
 "refresh_token": "$rt", "generation": 1}
EOS
: >"$T/empty.conf"

before=$(oauth_count refresh_token)
if "$prog" login "$store" "$T/empty.conf" alice@example.test >"$T/login1.out" 2>"$T/login1.err"; then
	ok "login with an expired access token succeeds"
else
	not_ok "login with an expired access token succeeds"; diag "$(cat "$T/login1.out" "$T/login1.err")"
fi
after=$(oauth_count refresh_token)
[ $((after - before)) -eq 1 ] && ok "exactly one refresh request" || not_ok "exactly one refresh request (got $((after - before)))"

new_at=$("$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("access_token", ""))' "$store/mail.state" 2>/dev/null)
case $new_at in
at-expired-old|"") not_ok "new access token persisted in the state"; diag "$(cat "$store/mail.state")" ;;
*) ok "new access token persisted in the state" ;;
esac
new_rt=$("$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("refresh_token", ""))' "$store/mail.state" 2>/dev/null)
[ -n "$new_rt" ] && [ "$new_rt" != "$rt" ] && ok "rotated refresh token persisted" || not_ok "rotated refresh token persisted"
if [ "$(cat "$T/login1.out")" = "user=alice@example.test^Aauth=Bearer $new_at^A^A" ]; then
	ok "the login sent the refreshed token"
else
	not_ok "the login sent the refreshed token"; diag "$(cat "$T/login1.out")"
fi
mode=$(stat -c %a "$store/mail.state")
[ "$mode" = 600 ] && ok "state file stays 0600" || not_ok "state file stays 0600 (got $mode)"

if "$prog" login "$store" "$T/empty.conf" mail >"$T/login2.out" 2>"$T/login2.err" &&
	[ "$(oauth_count refresh_token)" -eq "$after" ]; then
	ok "second login uses the cached token (no refresh)"
else
	not_ok "second login uses the cached token (no refresh)"; diag "$(cat "$T/login2.out" "$T/login2.err")"
fi
grep -q "$new_at" "$T/login2.out" && ok "second login sent the cached token" || not_ok "second login sent the cached token"

# ---- 8 threads of one process log in at once with an expired token: the
# token's lock serialises them, one refreshes, all send the new token.
"$PYTHON3" - "$store/mail.state" <<'EOP'
import json, sys
with open(sys.argv[1]) as f:
    s = json.load(f)
s["expires_at"] = 1000
with open(sys.argv[1], "w") as f:
    json.dump(s, f)
EOP
before=$(oauth_count refresh_token)
if "$prog" threads "$store" "$T/empty.conf" mail 8 >"$T/threads.out" 2>"$T/threads.err"; then
	ok "8 concurrent logins in 8 threads with an expired token all succeed"
else
	not_ok "8 concurrent logins in 8 threads with an expired token all succeed"; diag "$(cat "$T/threads.out" "$T/threads.err")"
fi
after=$(oauth_count refresh_token)
[ $((after - before)) -eq 1 ] && ok "the 8 threads refreshed exactly once" ||
	not_ok "the 8 threads refreshed exactly once (got $((after - before)))"
thr_at=$("$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("access_token", ""))' "$store/mail.state" 2>/dev/null)
# (the threads alternate XOAUTH2 and OAUTHBEARER)
if [ -n "$thr_at" ] && [ "$(grep -c "alice@example.test,*^A.*auth=Bearer $thr_at^A^A\$" "$T/threads.out")" -eq 8 ]; then
	ok "every thread sent the one refreshed token"
else
	not_ok "every thread sent the one refreshed token"; diag "$(cat "$T/threads.out")"
fi

# ---- temporary failures (sasl-oauth2-plugin(8) REFRESHING): a refresh the
# provider answers 500, and a lock held by another process beyond the
# bounded wait, fail with SASL_TRYAGAIN (-8), so that Postfix defers.
expire_mail() {
	"$PYTHON3" - "$store/mail.state" <<'EOP'
import json, os, sys
with open(sys.argv[1]) as f:
    s = json.load(f)
s["expires_at"] = 1000
with open(sys.argv[1] + ".edit", "w") as f:
    json.dump(s, f)
os.rename(sys.argv[1] + ".edit", sys.argv[1])
EOP
}
expire_mail
rt_before=$("$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1]))["refresh_token"])' "$store/mail.state")
oauth_control '{"fault": {"path": "/token", "kind": "500", "count": 1}}'
"$prog" login "$store" "$T/empty.conf" mail >"$T/login3.out" 2>"$T/login3.err"
if grep -q "^login failed (-8): " "$T/login3.err"; then
	ok "a refresh answered 500 fails the login with SASL_TRYAGAIN"
else
	not_ok "a refresh answered 500 fails the login with SASL_TRYAGAIN"; diag "$(cat "$T/login3.out" "$T/login3.err")"
fi
rt_after=$("$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1]))["refresh_token"])' "$store/mail.state")
[ "$rt_after" = "$rt_before" ] && ok "the failed refresh kept the refresh token" || not_ok "the failed refresh kept the refresh token"

# Another process holds the token's lock (a POSIX record lock conflicts
# with the store's OFD lock) for longer than the plugin may wait, which is
# twice http_timeout (1 s here) plus 5 seconds (sasl-oauth2-plugin(8)).
printf 'http_timeout: 1\n' >"$T/t1.conf"
"$PYTHON3" - "$store/mail.lock" "$T/holding" <<'EOP' &
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.lockf(fd, fcntl.LOCK_EX)
open(sys.argv[2], "w").write("held\n")
time.sleep(60)
EOP
holder=$!
at_exit "kill $holder 2>/dev/null"
wait_for_file "$T/holding" 10 || diag "the lock holder did not start"
before=$(oauth_count refresh_token)
t0=$(date +%s)
"$prog" login "$store" "$T/t1.conf" mail >"$T/login4.out" 2>"$T/login4.err"
t1=$(date +%s)
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
if grep -q "^login failed (-8): .*locked by another process" "$T/login4.err"; then
	ok "a lock held too long fails the login with SASL_TRYAGAIN, saying so"
else
	not_ok "a lock held too long fails the login with SASL_TRYAGAIN, saying so"; diag "$(cat "$T/login4.out" "$T/login4.err")"
fi
# Bounds, not a speed goal: it waited at all, and it did not wait for the
# holder (60 s) but gave up within its bound plus a generous margin.
[ $((t1 - t0)) -ge 1 ] && [ $((t1 - t0)) -le 30 ] && ok "the plugin waited for the lock, bounded ($((t1 - t0)) s)" ||
	not_ok "the plugin waited for the lock, bounded ($((t1 - t0)) s)"
[ "$(oauth_count refresh_token)" = "$before" ] && ok "no refresh request while another process holds the lock" ||
	not_ok "no refresh request while another process holds the lock"

# ---- an application without a log callback: libsasl2 sends the plugin's
# messages to syslog, facility auth (sasl-oauth2-plugin(8) LOGGING).
expire_mail
# (the fault is set only when syslog can be captured: a fault left over
# would fail the next test's request)
if with_syslog "$T/syslog.out" true &&
   oauth_control '{"fault": {"path": "/token", "kind": "500", "count": 1}}' &&
   with_syslog "$T/syslog.out" env TEST_PLUGIN_NO_LOG=1 "$prog" login "$store" "$T/empty.conf" mail \
	>"$T/login5.out" 2>"$T/login5.err"; [ $? -ne 77 ] && [ -s "$T/login5.err" ]; then
	# <PRI> = facility auth (4) * 8 + severity: 32..39.
	if grep -q "^<3[2-9]>.*token 'mail'.*HTTP 500" "$T/syslog.out" &&
	   ! grep -qF -e "$rt_before" -e "at-" "$T/syslog.out"; then
		ok "without a log callback the refresh failure reaches syslog (facility auth), no token"
	else
		not_ok "without a log callback the refresh failure reaches syslog (facility auth), no token"
		diag "syslog got:" "$(cat "$T/syslog.out")" "login:" "$(cat "$T/login5.err")"
	fi
else
	ok "plugin syslog fallback # SKIP no private mount namespace to capture syslog"
fi

# ---- chroot: the client secret file is read when the plugin is loaded
if [ "$(id -u)" -ne 0 ]; then
	for d in "confidential client authorized" "refresh inside a chroot with the secret from a file outside" \
		"exactly one refresh, authenticated with the client secret" "the refreshed token was sent" \
		"a secret file missing at load: the jailed refresh says why and what to do"; do
		ok "$d # SKIP chroot needs root"
	done
	done_testing
	exit
fi
printf 'confidential-secret\n' >"$T/client.secret"
chmod 600 "$T/client.secret"
loc=$(curl -sS --max-time 10 -o /dev/null -w '%{redirect_url}' \
	"$OAUTH_URL/authorize?response_type=code&client_id=confidential-client&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2F&state=s2&code_challenge=$challenge&code_challenge_method=S256&login_hint=alice%40example.test")
code=$(printf '%s' "$loc" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')
curl -sS --max-time 10 -o "$T/grant2.json" -u confidential-client:confidential-secret \
	--data-urlencode grant_type=authorization_code --data-urlencode "code=$code" \
	--data-urlencode "redirect_uri=$redirect" --data-urlencode "code_verifier=$verifier" "$OAUTH_URL/token"
crt=$("$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1]))["refresh_token"])' "$T/grant2.json" 2>/dev/null)
[ -n "$crt" ] && ok "confidential client authorized" || { not_ok "confidential client authorized"; diag "$loc" "$(cat "$T/grant2.json")"; }
for n in conf gone; do
	sf="$T/client.secret"
	[ $n = gone ] && sf="$T/not-yet.secret"
	cat >"$store/$n.yaml" <<EOY
name: $n
template: generic
user: $n@example.test
client_id: confidential-client
client_secret_file: $sf
client_auth: basic
flow: authorization_code
auth_url: $OAUTH_URL/authorize
token_url: $OAUTH_URL/token
scope: [mail]
EOY
	cat >"$store/$n.state" <<EOS
{"access_token": "at-expired-$n", "token_type": "Bearer", "expires_at": 1000,
 "refresh_token": "$crt", "generation": 1}
EOS
done
mkdir -m 755 "$T/jail"
# LeakSanitizer (sanitizer builds) needs /proc at exit, which the jail lacks.
jail_asan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
before=$(oauth_count refresh_token)
if ASAN_OPTIONS="$jail_asan" TEST_PLUGIN_CHROOT="$T/jail" "$prog" login "$store" "$T/empty.conf" conf >"$T/login3.out" 2>"$T/login3.err"; then
	ok "refresh inside a chroot with the secret from a file outside"
else
	not_ok "refresh inside a chroot with the secret from a file outside"; diag "$(cat "$T/login3.out" "$T/login3.err")"
fi
after=$(oauth_count refresh_token)
ok_count=$("$PYTHON3" -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("path") == "/token" and r.get("grant_type") == "refresh_token" and r.get("status") == 200 \
            and r.get("client_id") == "confidential-client":
        n += 1
print(n)' "$OAUTH_LOG" 2>/dev/null)
if [ $((after - before)) -eq 1 ] && [ "${ok_count:-0}" -ge 1 ]; then
	ok "exactly one refresh, authenticated with the client secret"
else
	not_ok "exactly one refresh, authenticated with the client secret ($((after - before)) requests, $ok_count accepted)"
	diag "$(tail -3 "$OAUTH_LOG")"
fi
conf_at=$("$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("access_token", ""))' "$store/conf.state" 2>/dev/null)
case $conf_at in
at-expired-conf|"") not_ok "the refreshed token was sent"; diag "$(cat "$store/conf.state")" ;;
*) grep -q "auth=Bearer $conf_at" "$T/login3.out" && ok "the refreshed token was sent" ||
	{ not_ok "the refreshed token was sent"; diag "$(cat "$T/login3.out")"; } ;;
esac
# The file appears after the plugin was loaded (here: never inside the jail).
if ASAN_OPTIONS="$jail_asan" TEST_PLUGIN_CHROOT="$T/jail" "$prog" login "$store" "$T/empty.conf" gone >"$T/login4.out" 2>"$T/login4.err"; then
	not_ok "a secret file missing at load: the jailed refresh says why and what to do"
elif grep -q "client_secret_file.*not-yet.secret does not exist.*when the plugin was loaded.*postfix reload" "$T/login4.err"; then
	ok "a secret file missing at load: the jailed refresh says why and what to do"
else
	not_ok "a secret file missing at load: the jailed refresh says why and what to do"; diag "$(cat "$T/login4.err")"
fi
done_testing
