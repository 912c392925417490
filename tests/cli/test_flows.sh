#!/bin/sh
# tests/cli/test_flows.sh - the helper against the test OAuth2 server:
# authorize (code + PKCE with a scripted $BROWSER, wrong state, denial,
# --no-browser with the URL pasted on stdin, a registered non-loopback
# redirect_uri answered by pasting, device flow, client
# credentials), token and refresh (due tokens, --all, rotation; a replayed
# old refresh token revokes the grant, as at a certified server), status and
# notify_command on invalid_grant, and server faults (hang with a short
# http_timeout, 500, malformed, oversized) leaving the state unchanged.
. "$top_srcdir/tests/lib.sh"
# The clock is moved with SASL_OAUTH2_TEST_NOW: the helper with the test hooks.
HELPER=$HELPER_TESTHOOKS
. "$top_srcdir/tests/server/server.sh"

# --device-expires bounds a device flow that would otherwise wait 10 minutes
# if the test failed to answer it.
if ! oauth_server_start --access-ttl 60 --device-interval 1 --device-expires 30; then
	not_ok "test OAuth2 server starts"
	done_testing
	exit 1
fi

# named_once NAME DESC: the one error line in $T/err names token NAME once,
# as "sasl-oauth2: NAME: ...", and the library's "token 'NAME'" is not repeated.
named_once() {
	if grep -q "^sasl-oauth2: $1: " "$T/err" && ! grep -q "token '$1'" "$T/err"; then
		ok "$2: the error line names the token once"
	else
		not_ok "$2: the error line names the token once"; diag "$(cat "$T/err")"
	fi
}

S="$T/store"
CONF="$T/sasl-oauth2.conf"
cat >"$CONF" <<EOF
notify_command: 'echo "\$SASL_OAUTH2_TOKEN \$SASL_OAUTH2_EVENT" >>$T/notify.log'
EOF
h() { "$HELPER" --store "$S" --config "$CONF" "$@"; }
ENDP="--set auth_url=$OAUTH_URL/authorize --set token_url=$OAUTH_URL/token --set device_url=$OAUTH_URL/device_authorization --set revoke_url=$OAUTH_URL/revoke --set refresh_margin=10"
umask 077
printf 'confidential-secret\n' >"$T/conf.secret"
printf 'basic-only-secret\n' >"$T/basic.secret"
printf 'post-only-secret\n' >"$T/post.secret"

# The fake clock for "later": every call of later() moves an hour further.
FAKE=$(( $(date +%s) + 3600 ))
later() { FAKE=$((FAKE + 3600)); }

# A field of a token's state file (the test reads the store directly).
sfield() { "$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' "$S/$1.state" "$2" 2>/dev/null; }

cat >"$T/browser" <<EOF
#!/bin/sh
exec curl -sS --max-time 10 -L "\$1" >>"$T/browser.log" 2>&1
EOF
cat >"$T/browser-forge" <<EOF
#!/bin/sh
loc=\$(curl -sS --max-time 10 -o /dev/null -w '%{redirect_url}' "\$1")
loc=\$(printf '%s' "\$loc" | sed 's/state=[^&]*/state=forged-state/')
exec curl -sS --max-time 10 "\$loc" >>"$T/browser.log" 2>&1
EOF
# A browser that first asks the listener for other things: each must be
# answered with an error while the listener keeps waiting for the redirect.
cat >"$T/browser-noisy" <<EOF
#!/bin/sh
loc=\$(curl -sS --max-time 10 -o /dev/null -w '%{redirect_url}' "\$1")
base=\$(printf '%s' "\$loc" | sed -n 's|^\(http://127.0.0.1:[0-9]*\)/.*|\1|p')
big=\$(head -c 9000 /dev/zero | tr '\\0' x)
{
	curl -sS --max-time 10 -o /dev/null -w '%{http_code} ' "\$base/favicon.ico"
	curl -sS --max-time 10 -o /dev/null -w '%{http_code} ' -X POST "\$loc"
	curl -sS --max-time 10 -o /dev/null -w '%{http_code} ' "\$base/"
	curl -sS --max-time 10 -o /dev/null -w '%{http_code} ' -H "X-Big: \$big" "\$base/"
	curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "\$loc"
} >"$T/noisy.codes" 2>>"$T/browser.log"
EOF
chmod 700 "$T/browser" "$T/browser-forge" "$T/browser-noisy"

# ---------------------------------------------------------------- authorization code
# shellcheck disable=SC2086
check "add confidential (basic)" h add conf --template generic --client-id confidential-client \
	--client-secret-file "$T/conf.secret" --set client_auth=basic --user alice@example.test $ENDP
# shellcheck disable=SC2086
check "add basic-only" h add basic --template generic --client-id basic-only-client \
	--client-secret-file "$T/basic.secret" --set client_auth=basic $ENDP
# shellcheck disable=SC2086
check "add post-only" h add post --template generic --client-id post-only-client \
	--client-secret-file "$T/post.secret" --set client_auth=post $ENDP
# shellcheck disable=SC2086
check "add public" h add pub --template generic --client-id public-client --set client_auth=none $ENDP

for n in conf basic post pub; do
	BROWSER="$T/browser" h authorize "$n" --timeout 30 >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	if [ $rc -eq 0 ] && grep -q "refresh token: received" "$T/out" && [ -n "$(sfield "$n" refresh_token)" ] &&
	   [ "$(sfield "$n" refresh_token)" != None ]; then
		ok "authorize $n with a scripted browser"
	else
		not_ok "authorize $n (exit $rc)"; diag "$(cat "$T/out" "$T/err" "$T/browser.log" 2>/dev/null)"
	fi
	grep -q "http://127.0.0.1:[0-9]*/authorize?" "$T/out" && ok "authorize $n printed the URL" || not_ok "URL printed for $n"
	# The tokens it stored (patterns like "at-" would also match the
	# random state and PKCE challenge in the printed URL now and then).
	at=$(sfield "$n" access_token) rt=$(sfield "$n" refresh_token)
	if [ -z "$at" ] || [ "$at" = None ] || grep -qF -e "$at" -e "$rt" "$T/out" "$T/err"; then
		not_ok "authorize $n printed a secret"
	else
		ok "authorize $n printed no secret"
	fi
done
grep -q "code_challenge_method=S256" "$T/out" && ok "the URL carries PKCE S256" || not_ok "PKCE S256 in URL"

h token conf >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ "$(wc -l <"$T/out")" -eq 1 ] && grep -q '^at-' "$T/out" && [ ! -s "$T/err" ] \
	&& ok "token prints exactly one line" || { not_ok "token one line (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
first=$(cat "$T/out")
n0=$(oauth_count refresh_token)
[ "$(h token conf)" = "$first" ] && [ "$(oauth_count refresh_token)" = "$n0" ] \
	&& ok "a valid token is served from the cache" || not_ok "cached token"
later
second=$(SASL_OAUTH2_TEST_NOW=$FAKE h token conf)
[ -n "$second" ] && [ "$second" != "$first" ] && [ "$(oauth_count refresh_token)" = $((n0 + 1)) ] \
	&& ok "token refreshes once when due" || { not_ok "token refresh when due"; diag "n0=$n0 now=$(oauth_count refresh_token)"; }

# shellcheck disable=SC2086
check "add noisy" h add noisy --template generic --client-id confidential-client \
	--client-secret-file "$T/conf.secret" $ENDP
BROWSER="$T/browser-noisy" h authorize noisy --timeout 30 >"$T/out" 2>"$T/err" </dev/null; rc=$?
[ $rc -eq 0 ] && [ "$(cat "$T/noisy.codes")" = "404 405 400 431 200" ] \
	&& ok "listener answers favicon/POST/no query/oversized with errors and keeps waiting" \
	|| { not_ok "noisy browser (exit $rc)"; diag "codes: $(cat "$T/noisy.codes")" "$(cat "$T/err")"; }
check "remove noisy" h remove noisy

# ---------------------------------------------------------------- wrong state, denial
# shellcheck disable=SC2086
check "add wrongstate" h add wrongstate --template generic --client-id confidential-client \
	--client-secret-file "$T/conf.secret" $ENDP
# A forged state is answered with 400 and the wait goes on (tests/cli/test_loopback.sh);
# alone it ends only at the timeout.
BROWSER="$T/browser-forge" h authorize wrongstate --timeout 3 >"$T/out" 2>"$T/err" </dev/null; rc=$?
[ $rc -ne 0 ] && grep -qi "state" "$T/err" && [ ! -e "$S/wrongstate.state" ] \
	&& ok "a forged state fails and stores nothing" || { not_ok "wrong state (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
[ "$(wc -l <"$T/err")" -eq 1 ] && ok "wrong state: one error line" || { not_ok "wrong state lines"; diag "$(cat "$T/err")"; }

oauth_control '{"authorize": "deny"}'
BROWSER="$T/browser" h authorize wrongstate --timeout 30 >"$T/out" 2>"$T/err" </dev/null; rc=$?
[ $rc -ne 0 ] && grep -q "denied" "$T/err" && [ ! -e "$S/wrongstate.state" ] \
	&& ok "access_denied fails with 'denied' and stores nothing" || { not_ok "access_denied (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }

BROWSER='' DISPLAY='' WAYLAND_DISPLAY='' h authorize wrongstate --no-browser --timeout 2 >"$T/out" 2>"$T/err" </dev/null; rc=$?
[ $rc -ne 0 ] && [ ! -e "$S/wrongstate.state" ] && [ "$(wc -l <"$T/err")" -eq 1 ] \
	&& ok "no redirect: gives up with one line" || { not_ok "timeout (exit $rc)"; diag "$(cat "$T/err")"; }

# printed_redirect: wait (at most 60 s) for authorize to print its URL in
# $T/out and follow it at the test server as a browser would; sets url and
# loc, the address the browser ends on.
printed_redirect() {
	i=0
	while ! grep -q "/authorize?" "$T/out" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	url=$(grep -o "http://127.0.0.1:[0-9]*/authorize?[^ ]*" "$T/out" | head -1)
	loc=$(curl -sS --max-time 20 -o /dev/null -w '%{redirect_url}' "$url" 2>"$T/curl.err")
}

# ---------------------------------------------------------------- --no-browser, pasted URL
# shellcheck disable=SC2086
check "add pasted" h add pasted --template generic --client-id confidential-client \
	--client-secret-file "$T/conf.secret" $ENDP
mkfifo "$T/fifo"
# Background jobs run the binary directly: a backgrounded shell function is
# a subshell that could run the EXIT trap of tests/lib.sh when it ends.
BROWSER=/bin/false "$HELPER" --store "$S" --config "$CONF" authorize pasted --no-browser --timeout 90 \
	<"$T/fifo" >"$T/out" 2>"$T/err" &
pid=$!
exec 3>"$T/fifo"
printed_redirect
printf '%s\n' "$loc" >&3
exec 3>&-
wait $pid; rc=$?
[ $rc -eq 0 ] && [ -e "$S/pasted.state" ] && ok "--no-browser accepts the redirected URL on stdin" \
	|| { not_ok "--no-browser paste (exit $rc)"; diag "loc=${loc%%code=*}" "$(cat "$T/out" "$T/err" "$T/curl.err")"; }

# ---------------------------------------------------------------- a redirect_uri that is not the loopback
# A provider that takes only a registered web address (the test server has
# https://app.example.test/oauth2/callback for confidential-client): nothing
# can listen there, so authorize asks for the address the browser ends on.
# A line that is no redirect and one of another request are refused with
# their reason, and the wait goes on.
web_uri=https://app.example.test/oauth2/callback
# shellcheck disable=SC2086
check "add web" h add web --template generic --client-id confidential-client \
	--client-secret-file "$T/conf.secret" --set redirect_uri=$web_uri $ENDP
mkfifo "$T/fifo-web"
BROWSER=/bin/false "$HELPER" --store "$S" --config "$CONF" authorize web --timeout 90 \
	<"$T/fifo-web" >"$T/out" 2>"$T/err" &
pid=$!
exec 3>"$T/fifo-web"
printed_redirect
printf 'hello\n' >&3
printf '%s\n' "$loc" | sed 's/state=[^&]*/state=another-request/' >&3
printf '%s\n' "$loc" >&3
exec 3>&-
wait $pid; rc=$?
case $url in
*"redirect_uri=https%3A%2F%2Fapp.example.test%2Foauth2%2Fcallback&"*)
	ok "non-loopback redirect_uri: the authorization URL carries it" ;;
*) not_ok "non-loopback redirect_uri: the authorization URL carries it"; diag "$url" ;;
esac
grep -q "^Then paste the address your browser was redirected to here" "$T/out" &&
	! grep -q "Waiting up to" "$T/out" &&
	ok "non-loopback redirect_uri: no listener, the prompt asks for the address" ||
	{ not_ok "non-loopback redirect_uri: no listener, the prompt asks for the address"; diag "$(cat "$T/out")"; }
case $loc in
"$web_uri?code="*) ok "the test server redirected to the registered address" ;;
*) not_ok "the test server redirected to the registered address"; diag "loc=${loc%%code=*}" "$(cat "$T/curl.err")" ;;
esac
grep -q "that is not the redirected URL; paste the whole address" "$T/err" &&
	ok "a pasted line that is no redirect is refused with the fix" ||
	{ not_ok "a pasted line that is no redirect is refused with the fix"; diag "$(cat "$T/err")"; }
grep -q "answers another authorization request" "$T/err" &&
	ok "a pasted redirect of another request is refused" ||
	{ not_ok "a pasted redirect of another request is refused"; diag "$(cat "$T/err")"; }
# The server exchanges the code only with the redirect_uri it was issued for.
[ $rc -eq 0 ] && [ -e "$S/web.state" ] && [ "$(sfield web refresh_token)" != None ] &&
	ok "non-loopback redirect_uri: the pasted address completes the authorization" ||
	{ not_ok "non-loopback redirect_uri: the pasted address completes the authorization (exit $rc)"
	  diag "$(cat "$T/out" "$T/err")"; }
web_code=$(printf '%s' "$loc" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')
[ -n "$web_code" ] && ! grep -qF "$web_code" "$T/out" "$T/err" &&
	ok "non-loopback redirect_uri: the authorization code is not printed" ||
	not_ok "non-loopback redirect_uri: the authorization code is not printed"
check "remove web" h remove web

# ---------------------------------------------------------------- device flow
# shellcheck disable=SC2086
check "add dev" h add dev --template generic --client-id confidential-client \
	--client-secret-file "$T/conf.secret" --flow device_code $ENDP
# device_run NAME approve|deny: run authorize, answer from the printed code.
device_run() {
	# A user code left from the previous run must not be answered.
	rm -f "$T/dev.out" "$T/dev.err"
	"$HELPER" --store "$S" --config "$CONF" authorize "$1" >"$T/dev.out" 2>"$T/dev.err" </dev/null &
	_pid=$!
	_i=0
	while ! grep -q "^Enter code: [A-Z0-9]*-[A-Z0-9]*$" "$T/dev.out" 2>/dev/null && [ $_i -lt 600 ]; do
		sleep 0.1; _i=$((_i + 1))
	done
	_code=$(sed -n 's/^Enter code: //p' "$T/dev.out")
	if [ "$2" = approve ]; then oauth_approve_device "$_code"; else oauth_deny_device "$_code"; fi ||
		diag "answering user code '$_code' failed"
	wait $_pid
}
device_run dev approve; rc=$?
[ $rc -eq 0 ] && grep -q "$OAUTH_URL/device" "$T/dev.out" && [ -e "$S/dev.state" ] \
	&& ok "device flow: URL and code printed, approval stored" || { not_ok "device flow (exit $rc)"; diag "$(cat "$T/dev.out" "$T/dev.err")"; }
# shellcheck disable=SC2086
check "add devdeny" h add devdeny --template generic --client-id confidential-client \
	--client-secret-file "$T/conf.secret" $ENDP
h edit devdeny --set flow=device_code >/dev/null
device_run devdeny deny; rc=$?
[ $rc -ne 0 ] && grep -q "denied" "$T/dev.err" && [ ! -e "$S/devdeny.state" ] \
	&& ok "device flow denied: exit non-zero with 'denied'" || { not_ok "device deny (exit $rc)"; diag "$(cat "$T/dev.out" "$T/dev.err")"; }

# ---------------------------------------------------------------- client credentials
# shellcheck disable=SC2086
check "add cc" h add cc --template generic --client-id confidential-client \
	--client-secret-file "$T/conf.secret" --flow client_credentials $ENDP
h authorize cc >"$T/out" 2>"$T/err" </dev/null; rc=$?
[ $rc -eq 0 ] && [ -e "$S/cc.state" ] && ok "client_credentials: no interaction, exit 0" || { not_ok "cc (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
h token cc | grep -q '^at-' && ok "token of a client_credentials token" || not_ok "token cc"

# ---------------------------------------------------------------- refresh
n0=$(oauth_count refresh_token)
h refresh --all >"$T/out" 2>"$T/err"; rc=$?
n1=$(oauth_count refresh_token)
[ $rc -eq 0 ] && [ $((n1 - n0)) -eq 6 ] && grep -q "wrongstate: skipped" "$T/out" \
	&& ok "refresh --all refreshes every authorized token" || { not_ok "refresh --all (exit $rc, $((n1 - n0)) refreshes)"; diag "$(cat "$T/out" "$T/err")"; }
h refresh --all --if-expiring-in 5 >"$T/out" 2>&1
[ "$(oauth_count refresh_token)" = "$n1" ] && grep -q "not due" "$T/out" \
	&& ok "--if-expiring-in skips tokens that are not due" || { not_ok "--if-expiring-in"; diag "$(cat "$T/out")"; }
old_rt=$(sfield conf refresh_token)
check "refresh NAME" h refresh conf
new_rt=$(sfield conf refresh_token)
[ -n "$new_rt" ] && [ "$new_rt" != "$old_rt" ] && ok "rotated refresh token persisted" || not_ok "rotation persisted"
later
SASL_OAUTH2_TEST_NOW=$FAKE h token conf | grep -q '^at-' && ok "the helper keeps working after rotation" || not_ok "token after rotation"
# Someone replays the rotated-away refresh token (a stolen copy, a restored
# backup). Like a certified server (oidc-provider; OAuth 2.0 Security BCP
# reuse detection), the test server refuses it and revokes the whole grant:
# what the user sees next is the helper's refresh failing with invalid_grant
# and saying to authorize again, and status reporting the revoked token.
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -u confidential-client:confidential-secret \
	--data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$old_rt" "$OAUTH_URL/token")
[ "$code" = 400 ] && ok "the old refresh token is unusable" || not_ok "old refresh token answered $code"
: >"$T/notify.log"
h refresh conf >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "invalid_grant" "$T/err" && grep -q "sasl-oauth2 authorize conf" "$T/err" \
	&& ok "after the replay the grant is revoked: refresh fails with invalid_grant in one line naming 'sasl-oauth2 authorize conf'" \
	|| { not_ok "refresh after the replay (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
diag "$(cat "$T/err")"
named_once conf "refresh after the replay"
if grep -q "at-\|rt-" "$T/out" "$T/err"; then not_ok "refresh after the replay printed a token"; else ok "refresh after the replay: no token in the message"; fi
h status conf >"$T/out"; rc=$?
[ $rc -eq 2 ] && grep -q "^conf: refresh token \(revoked\|expired\)" "$T/out" \
	&& ok "after the replay status says the refresh token is revoked/expired, exit 2" || { not_ok "status after the replay (exit $rc)"; diag "$(cat "$T/out")"; }
BROWSER="$T/browser" h authorize conf --timeout 30 >"$T/out" 2>"$T/err" </dev/null; rc=$?
h status conf >"$T/out2"; src=$?
[ $rc -eq 0 ] && [ $src -eq 0 ] && ok "a new authorize recovers from the revoked grant" \
	|| { not_ok "authorize after the replay (exit $rc, status $src)"; diag "$(cat "$T/out" "$T/err" "$T/out2")"; }
later
SASL_OAUTH2_TEST_NOW=$FAKE h token conf | grep -q '^at-' && ok "after the new authorize the helper refreshes again" || not_ok "token after re-authorize"
h refresh conf nosuch >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "nosuch" "$T/err" && ok "refresh exits 1 when one fails" || { not_ok "refresh partial failure (exit $rc)"; diag "$(cat "$T/err")"; }

n0=$(oauth_count refresh_token)
later
SASL_OAUTH2_TEST_NOW=$FAKE h status conf >"$T/out"; rc=$?
[ $rc -eq 0 ] && [ "$(oauth_count refresh_token)" = "$n0" ] && grep -q "will be refreshed" "$T/out" \
	&& ok "status without --refresh: no network; an expired refreshable token is fine" \
	|| { not_ok "status no network (exit $rc)"; diag "$(cat "$T/out")"; }
SASL_OAUTH2_TEST_NOW=$FAKE h status --refresh conf >"$T/out"; rc=$?
[ $rc -eq 0 ] && [ "$(oauth_count refresh_token)" = $((n0 + 1)) ] && grep -q "^conf: ok$" "$T/out" \
	&& ok "status --refresh refreshes what is due" || { not_ok "status --refresh (exit $rc)"; diag "$(cat "$T/out")"; }

# ---------------------------------------------------------------- narrower grant
# The user grants less than the configured scope (RFC 6749 3.3); asking for
# the configured scope on refresh is then invalid_scope (RFC 6749 6), as
# oidc-provider answers: the refresh must still work, asking again without
# scope (the original grant).
# shellcheck disable=SC2086
check "add narrow (scope mail, offline)" h add narrow --template generic --client-id confidential-client \
	--client-secret-file "$T/conf.secret" --scope mail --scope offline $ENDP
oauth_control '{"withhold_scope": "offline"}'
BROWSER="$T/browser" h authorize narrow --timeout 30 >"$T/out" 2>"$T/err" </dev/null; rc=$?
oauth_control '{"withhold_scope": ""}'
[ $rc -eq 0 ] && grep -q "scope: mail$" "$T/out" && ok "narrow: authorized with the narrower grant" \
	|| { not_ok "narrow: authorize (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
old_rt=$(sfield narrow refresh_token)
h refresh narrow >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ "$(sfield narrow refresh_token)" != "$old_rt" ] && [ "$(sfield narrow last_error)" = None ] \
	&& ok "narrow: refresh succeeds although the configured scope was not all granted" \
	|| { not_ok "narrow: refresh (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
check "remove narrow" h remove narrow

# ---------------------------------------------------------------- invalid_grant, status, notify
: >"$T/notify.log"
h status conf >"$T/out"; rc=$?
[ $rc -eq 0 ] && [ ! -s "$T/notify.log" ] && ok "status fine: exit 0, no notification" || { not_ok "status before (exit $rc)"; diag "$(cat "$T/out")"; }
oauth_control '{"fault": {"path": "/token", "kind": "invalid_grant", "count": 1}}'
h refresh conf >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && ok "refresh with a revoked refresh token: one line, exit 1" || { not_ok "invalid_grant refresh (exit $rc)"; diag "$(cat "$T/err")"; }
named_once conf "refresh after invalid_grant"
h status conf >"$T/out"; rc=$?
[ $rc -eq 2 ] && grep -q "^conf: refresh token \(revoked\|expired\)" "$T/out" \
	&& ok "status says the refresh token is revoked, exit 2" || { not_ok "status after invalid_grant (exit $rc)"; diag "$(cat "$T/out")"; }
[ "$(grep -c "^conf refresh_token_expired$" "$T/notify.log")" -eq 1 ] && [ "$(wc -l <"$T/notify.log")" -eq 1 ] \
	&& ok "notify_command ran once for the transition" || { not_ok "notify once"; diag "$(cat "$T/notify.log")"; }
h status conf >/dev/null; h status >/dev/null
[ "$(wc -l <"$T/notify.log")" -eq 1 ] && ok "no second notification for the same condition" || { not_ok "notified again"; diag "$(cat "$T/notify.log")"; }
later
SASL_OAUTH2_TEST_NOW=$FAKE h token conf >"$T/out" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ ! -s "$T/out" ] && grep -q "authorize" "$T/err" && ok "token with a dead refresh token says to authorize" || { not_ok "token dead (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
named_once conf "token with a dead refresh token"
BROWSER="$T/browser" h authorize conf --timeout 30 >/dev/null 2>&1 </dev/null
h status conf >"$T/out"; rc=$?
[ $rc -eq 0 ] && ok "re-authorized: status fine again" || { not_ok "status after re-authorize (exit $rc)"; diag "$(cat "$T/out")"; }
oauth_control '{"fault": {"path": "/token", "kind": "invalid_grant", "count": 1}}'
h refresh conf >/dev/null 2>&1
h status conf >/dev/null
[ "$(grep -c "^conf refresh_token_expired$" "$T/notify.log")" -eq 2 ] && ok "a new transition notifies again" || { not_ok "second transition"; diag "$(cat "$T/notify.log")"; }
BROWSER="$T/browser" h authorize conf --timeout 30 >/dev/null 2>&1 </dev/null
h status conf >/dev/null
oauth_control '{"fault": {"path": "/token", "kind": "invalid_grant", "count": 1}}'
h refresh conf >/dev/null 2>&1
pids=
for i in 1 2 3 4 5 6; do
	"$HELPER" --store "$S" --config "$CONF" status conf >/dev/null 2>&1 &
	pids="$pids $!"
done
# shellcheck disable=SC2086
wait $pids
[ "$(grep -c "^conf refresh_token_expired$" "$T/notify.log")" -eq 3 ] \
	&& ok "six status runs at once notify a new transition once" || { not_ok "parallel status"; diag "$(cat "$T/notify.log")"; }
BROWSER="$T/browser" h authorize conf --timeout 30 >/dev/null 2>&1 </dev/null

# ---------------------------------------------------------------- faults
cat >"$T/slow.conf" <<EOF
http_timeout: 2
EOF
later
snapshot() { echo "$(sfield conf access_token) $(sfield conf refresh_token) $(sfield conf expires_at)"; }
before=$(snapshot)
oauth_control '{"fault": {"path": "/token", "kind": "hang", "count": 1, "seconds": 30}}'
t0=$(date +%s)
SASL_OAUTH2_TEST_NOW=$FAKE "$HELPER" --store "$S" --config "$T/slow.conf" token conf >"$T/out" 2>"$T/err"; rc=$?
t1=$(date +%s)
[ $rc -ne 0 ] && [ $((t1 - t0)) -le 10 ] && [ ! -s "$T/out" ] && [ "$(wc -l <"$T/err")" -eq 1 ] \
	&& ok "a hung token endpoint fails within $((t1 - t0)) s (http_timeout 2)" || { not_ok "hang (exit $rc, $((t1 - t0)) s)"; diag "$(cat "$T/err")"; }
[ "$(snapshot)" = "$before" ] && ok "hang: tokens in the state unchanged" || not_ok "hang changed the state"
oauth_control '{"reset": true}'
for kind in 500 malformed oversized; do
	oauth_control "{\"fault\": {\"path\": \"/token\", \"kind\": \"$kind\", \"count\": 1}}"
	SASL_OAUTH2_TEST_NOW=$FAKE h token conf >"$T/out" 2>"$T/err"; rc=$?
	if [ $rc -ne 0 ] && [ ! -s "$T/out" ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "^sasl-oauth2: conf: " "$T/err"; then
		ok "fault $kind: one clear error line"
	else
		not_ok "fault $kind (exit $rc)"; diag "$(cat "$T/out" "$T/err")"
	fi
	named_once conf "fault $kind"
	[ "$(snapshot)" = "$before" ] && ok "fault $kind: tokens in the state unchanged" || not_ok "fault $kind changed the state"
	if grep -q "at-\|rt-" "$T/err"; then not_ok "fault $kind leaked a token"; else ok "fault $kind: no token in the message"; fi
done
h status conf >"$T/out"; rc=$?
[ $rc -eq 2 ] && grep -q "^conf: refresh failed: " "$T/out" && ok "status reports 'refresh failed: REASON'" || { not_ok "refresh failed status (exit $rc)"; diag "$(cat "$T/out")"; }
grep -q "^conf refresh_failed$" "$T/notify.log" && ok "refresh_failed notified" || { not_ok "refresh_failed notified"; diag "$(cat "$T/notify.log")"; }
SASL_OAUTH2_TEST_NOW=$FAKE h token conf | grep -q '^at-' && ok "recovers once the server is fine" || not_ok "recovery"
h status conf >/dev/null; rc=$?
[ $rc -eq 0 ] && ok "status fine after recovery" || not_ok "status after recovery: $rc"

# ---------------------------------------------------------------- log: library events
# Every later() makes conf's access token due, so `token` refreshes it.
printf 'log: stderr\n' >"$T/log-stderr.conf"
printf 'log: syslog\n' >"$T/log-syslog.conf"
printf '# no log key\n' >"$T/none.conf"
# log_run DESC CONFIG [-v]: a due `token conf`; stderr in $T/err.
log_run() {
	later
	_n0=$(oauth_count refresh_token)
	${LOG_WRAP:-} env SASL_OAUTH2_TEST_NOW=$FAKE "$HELPER" --store "$S" --config "$2" ${3:-} token conf >"$T/out" 2>"$T/err"; _rc=$?
	if [ $_rc -eq 0 ] && grep -q '^at-' "$T/out" && [ "$(oauth_count refresh_token)" = $((_n0 + 1)) ]; then
		ok "$1: the due token is refreshed"
	else
		not_ok "$1: the due token is refreshed (exit $_rc)"; diag "$(cat "$T/err")"
	fi
}
log_run "-v, no log key" "$T/none.conf" -v
at=$(sfield conf access_token); rt=$(sfield conf refresh_token)
if [ "$(wc -l <"$T/err")" -eq 1 ] &&
   grep -q "^sasl-oauth2: info: token 'conf': refreshed at 127.0.0.1:$OAUTH_PORT; access token valid for [0-9]* s" "$T/err"; then
	ok "-v token: the refresh event on stderr (the helper's default)"
else
	not_ok "-v token: the refresh event on stderr"; diag "$(cat "$T/err")"
fi
if [ -n "$at" ] && [ -n "$rt" ] && ! grep -qF -e "$at" -e "$rt" "$T/err"; then
	ok "-v token: no token in the event"
else
	not_ok "-v token: no token in the event"; diag "$(cat "$T/err")"
fi
log_run "no -v" "$T/none.conf"
[ ! -s "$T/err" ] && ok "without -v a refresh (info) prints nothing on stderr" || { not_ok "quiet without -v"; diag "$(cat "$T/err")"; }
log_run "log: stderr, -v" "$T/log-stderr.conf" -v
grep -q "^sasl-oauth2: info: token 'conf': refreshed at " "$T/err" && ok "log: stderr sends the event to stderr" || { not_ok "log: stderr"; diag "$(cat "$T/err")"; }
# log: syslog, with syslog(3) captured (with_syslog in tests/lib.sh): the
# event goes there, as sasl-oauth2 with facility mail, and not to stderr.
if with_syslog "$T/syslog.out" true; then
	LOG_WRAP="with_syslog $T/syslog.out" log_run "log: syslog, -v" "$T/log-syslog.conf" -v
	[ ! -s "$T/err" ] && ok "log: syslog sends nothing to stderr" || { not_ok "log: syslog wrote to stderr"; diag "$(cat "$T/err")"; }
	# <PRI> = facility mail (2) * 8 + severity info (6) = 22.
	if grep -q "^<22>.* sasl-oauth2\[[0-9]*\]: token 'conf': refreshed at 127.0.0.1:$OAUTH_PORT" "$T/syslog.out" &&
	   ! grep -qF -e "$(sfield conf access_token)" -e "$(sfield conf refresh_token)" "$T/syslog.out"; then
		ok "log: syslog sends the refresh event to syslog (ident sasl-oauth2, facility mail, info), no token"
	else
		not_ok "log: syslog sends the refresh event to syslog (ident sasl-oauth2, facility mail, info), no token"
		diag "syslog got:" "$(cat "$T/syslog.out")"
	fi
else
	ok "log: syslog # SKIP no private mount namespace to capture syslog (needs root or user namespaces)"
	ok "log: syslog to syslog # SKIP no private mount namespace to capture syslog"
fi

# ---------------------------------------------------------------- hot path
# A valid cached token needs neither the template nor the client secret:
# with no templates at all it is still handed out; once due, the refresh
# needs the template and says so.
mkdir -p "$T/no-templates"
SASL_OAUTH2_TEST_NOW=$FAKE SASL_OAUTH2_TEMPLATES="$T/no-templates" h token conf >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && grep -q '^at-' "$T/out" && ok "a valid cached token is handed out without reading the template" \
	|| { not_ok "cached token without templates (exit $rc)"; diag "$(cat "$T/err")"; }
later
n0=$(oauth_count refresh_token)
SASL_OAUTH2_TEST_NOW=$FAKE SASL_OAUTH2_TEMPLATES="$T/no-templates" h token conf >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "^sasl-oauth2: conf: .*template 'generic'" "$T/err" && [ "$(oauth_count refresh_token)" = "$n0" ] \
	&& ok "a due token without its template fails naming it, no request" || { not_ok "due token without templates (exit $rc)"; diag "$(cat "$T/err")"; }

# ---------------------------------------------------------------- remove --revoke
# revoke_count: how many /revoke requests the server received (fails, and
# prints nothing, when /stats does not answer).
revoke_count() {
	oauth_stats | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["paths"].get("/revoke", 0))'
}
# refresh_status RT: the HTTP status the server gives a refresh of the
# public client's refresh token RT (200 rotates it, 400 when it is dead).
refresh_status() {
	curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -d grant_type=refresh_token \
		--data-urlencode "refresh_token=$1" -d client_id=public-client "$OAUTH_URL/token"
}
rt=$(sfield pub refresh_token)
n0=$(revoke_count)
h remove --revoke pub >"$T/out" 2>"$T/err"; rc=$?
n1=$(revoke_count)
[ $rc -eq 0 ] && grep -q "revoked the refresh token" "$T/out" && [ ! -e "$S/pub.yaml" ] && [ ! -e "$S/pub.state" ] \
	&& ok "remove --revoke removes the token's files" || { not_ok "remove --revoke (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
[ -n "$n0" ] && [ "$n1" = $((n0 + 1)) ] && ok "remove --revoke sent one revocation request ($n0 -> $n1)" ||
	not_ok "remove --revoke sent one revocation request (${n0:-?} -> ${n1:-?})"
st=$(refresh_status "$rt")
[ "$st" = 400 ] && ok "after remove --revoke, the server refuses the refresh token" ||
	not_ok "after remove --revoke, the server refuses the refresh token (HTTP $st)"
# A revocation that fails removes nothing (sasl-oauth2(1) remove).
rt=$(sfield basic refresh_token)
oauth_control '{"fault": {"path": "/revoke", "kind": "500", "count": 1}}'
n0=$(revoke_count)
h remove --revoke basic >"$T/out" 2>"$T/err"; rc=$?
n1=$(revoke_count)
[ $rc -eq 1 ] && grep -q "^sasl-oauth2: basic: .*nothing removed" "$T/err" &&
	[ -e "$S/basic.yaml" ] && [ "$(sfield basic refresh_token)" = "$rt" ] &&
	ok "remove --revoke: a revocation answered 500 fails and removes nothing" ||
	{ not_ok "remove --revoke with a failing revocation (exit $rc)"; diag "$(cat "$T/out" "$T/err")" "$(ls "$S")"; }
[ -n "$n0" ] && [ "$n1" = $((n0 + 1)) ] && ok "the failing revocation was attempted ($n0 -> $n1)" ||
	not_ok "the failing revocation was attempted (${n0:-?} -> ${n1:-?})"

# ---------------------------------------------------------------- doctor
SASL_PATH="$PLUGIN_DIR" h doctor >"$T/out" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q "^ok  *plugin: .*XOAUTH2 and OAUTHBEARER" "$T/out" && grep -q "^ok  *reachability: $OAUTH_URL/token" "$T/out" \
	&& ok "doctor: all checks pass with the built plugin" || { not_ok "doctor (exit $rc)"; diag "$(cat "$T/out")"; }
mkdir -p "$T/empty-plugins"
SASL_PATH="$T/empty-plugins" h doctor >"$T/out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "^PROBLEM  *plugin: .*$T/empty-plugins" "$T/out" \
	&& ok "doctor: a missing plugin is a problem naming the directory" || { not_ok "doctor without plugin (exit $rc)"; diag "$(cat "$T/out")"; }
chmod 644 "$S/conf.yaml"
SASL_PATH="$PLUGIN_DIR" h doctor >"$T/out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "^PROBLEM .*conf.yaml.*chmod 600" "$T/out" \
	&& ok "doctor: a readable config file is a problem with the fix" || { not_ok "doctor permissions (exit $rc)"; diag "$(cat "$T/out")"; }
chmod 600 "$S/conf.yaml"

done_testing
