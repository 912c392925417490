#!/bin/sh
# test_grants.sh - the OAuth2 client and refresh logic against the test
# OAuth2 server: client credentials and client authentication methods,
# authorization code with PKCE, refresh with rotation, a herd of processes
# on one expired token, every server fault, device flow, revocation, token
# selection, and http to a non-loopback host.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/server/server.sh"

DRIVER="$top_builddir/tests/oauth/oauth_driver"
[ -x "$DRIVER" ] || { echo "Bail out! $DRIVER not built"; exit 1; }
oauth_server_start --access-ttl 60 --device-interval 1 || {
	echo "Bail out! the test OAuth2 server did not start"; exit 1; }

STORE="$T/store"
mkdir -m 700 "$STORE"
export SASL_OAUTH2_STORE="$STORE"
export SASL_OAUTH2_CONFIG="$T/sasl-oauth2.conf"
cat >"$SASL_OAUTH2_CONFIG" <<EOF
http_timeout: 3
refresh_margin: 10
log: stderr
EOF
chmod 600 "$SASL_OAUTH2_CONFIG"

# mktoken NAME CLIENT_ID SECRET CLIENT_AUTH FLOW USER [extra YAML lines...]
mktoken() {
	_f="$STORE/$1.yaml"
	{
		echo "name: $1"
		echo "template: generic"
		echo "user: $6"
		echo "client_id: \"$2\""
		[ -n "$3" ] && echo "client_secret: \"$3\""
		echo "client_auth: $4"
		echo "flow: $5"
		echo "auth_url: $OAUTH_URL/authorize"
		echo "token_url: $OAUTH_URL/token"
		echo "device_url: $OAUTH_URL/device_authorization"
		echo "revoke_url: $OAUTH_URL/revoke"
		echo "scope: [mail]"
		shift 6
		for _l in "$@"; do echo "$_l"; done
	} >"$_f"
	chmod 600 "$_f"
}

# sfield NAME KEY: one field of the token's state ("" when absent).
sfield() {
	"$PYTHON3" -c '
import json, sys
v = json.load(open(sys.argv[1])).get(sys.argv[2])
print("" if v is None else (str(v).lower() if isinstance(v, bool) else v))' \
		"$STORE/$1.state" "$2"
}
# tokfields NAME: the token fields a transient failure must not touch.
tokfields() {
	"$PYTHON3" -c '
import json, sys
s = json.load(open(sys.argv[1]))
keys = ("access_token", "token_type", "expires_at", "refresh_token",
        "refresh_expires_at", "scope", "last_refresh", "refresh_token_dead",
        "access_rejected")
print(json.dumps({k: s.get(k) for k in keys}, sort_keys=True))' "$STORE/$1.state"
}
# expire NAME: make the cached access token expired (as if time passed).
expire() {
	"$PYTHON3" -c '
import json, os, sys
p = sys.argv[1]
s = json.load(open(p))
s["expires_at"] = 1000
t = p + ".edit"
with open(t, "w") as f:
    json.dump(s, f)
os.chmod(t, 0o600)
os.rename(t, p)' "$STORE/$1.state"
}
now_ms() { "$PYTHON3" -c 'import time; print(int(time.time() * 1000))'; }

# run_driver ARGS...: stdout in $T/out, stderr in $T/err, status in $rc.
# Every run's stderr is also kept in $T/all-runs.err for the final scan for
# leaked secrets.
run_driver() {
	"$DRIVER" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	cat "$T/err" >>"$T/all-runs.err"
}
expect_rc() { # expect_rc WANT DESCRIPTION
	if [ "$rc" -eq "$1" ]; then ok "$2"; else
		not_ok "$2 (exit $rc, want $1)"; diag "$(cat "$T/out" "$T/err")"; fi
}
expect_err() { # expect_err SUBSTRING DESCRIPTION
	if grep -q -- "$1" "$T/err"; then ok "$2"; else
		not_ok "$2"; diag "stderr: $(cat "$T/err")"; fi
}

# ---------------------------------------------------------------- client credentials
mktoken cc confidential-client confidential-secret basic client_credentials cc@example.test
run_driver cc cc
expect_rc 0 "client_credentials with HTTP Basic"
run_driver get-access cc
expect_rc 0 "get-access returns the client_credentials token"
at1=$(cat "$T/out")
case $at1 in at-*) ok "access token looks like one" ;; *) not_ok "access token '$at1'" ;; esac
n=$(oauth_count client_credentials)
run_driver get-access cc
[ "$(cat "$T/out")" = "$at1" ] && [ "$(oauth_count client_credentials)" = "$n" ] &&
	ok "valid cached token: no network" || not_ok "cached token refetched"
expire cc
run_driver get-access cc
expect_rc 0 "expired client_credentials token fetched again"
[ "$(cat "$T/out")" != "$at1" ] && [ "$(oauth_count client_credentials)" = $((n + 1)) ] &&
	ok "exactly one new client_credentials request" || not_ok "no new cc token"

mktoken ccpost post-only-client post-only-secret post client_credentials ccpost@example.test
run_driver cc ccpost
expect_rc 0 "client_secret_post"
mktoken ccspecial "special:client" 's3cr:t+with/%&=chars' basic client_credentials sp@example.test
run_driver cc ccspecial
expect_rc 0 "HTTP Basic form-urlencodes id and secret (RFC 6749 2.3.1)"
mktoken ccbad basic-only-client basic-only-secret post client_credentials bad@example.test
run_driver cc ccbad
expect_rc 11 "post to a basic-only client: invalid_client is a configuration error"
expect_err "invalid_client" "message has the OAuth error code"
expect_err "127.0.0.1:$OAUTH_PORT" "message names the endpoint host"
expect_err "HTTP 401" "message has the HTTP status"
if grep -q "basic-only-secret" "$T/err"; then not_ok "secret leaked in a message"; else
	ok "no client secret in the message"; fi
mktoken ccwrong confidential-client wrong-secret basic client_credentials w@example.test
run_driver cc ccwrong
expect_rc 11 "wrong client secret: TS_ECONFIG"
# (a client_credentials token without a secret is refused by the
# configuration check; drive the grant directly to see the server's answer)
mktoken ccpub public-client "" none authorization_code pub@example.test
run_driver cc ccpub
expect_rc 11 "public client cannot use client_credentials: unauthorized_client"

# ---------------------------------------------------------------- authorization code + PKCE
REDIR="http://127.0.0.1:9/"
# authorize NAME: run authorize URL + /authorize + exchange; sets $code.
authorize() {
	run_driver authurl "$1" "$REDIR" "$T/$1.pkce"
	[ "$rc" -eq 0 ] || { diag "$(cat "$T/err")"; return 1; }
	_url=$(cat "$T/out")
	_loc=$(curl -sS --max-time 10 -o /dev/null -w '%{redirect_url}' "$_url")
	code=$(printf '%s\n' "$_loc" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')
	_state=$(printf '%s\n' "$_loc" | sed -n 's/.*[?&]state=\([^&]*\).*/\1/p')
	[ "$_state" = "$(sed -n 2p "$T/$1.pkce")" ] || { diag "state mismatch: $_loc"; return 1; }
	[ -n "$code" ] || { diag "no code in: $_loc"; return 1; }
	run_driver exchange "$1" "$REDIR" "$T/$1.pkce" "$code"
	[ "$rc" -eq 0 ] || { diag "$(cat "$T/err")"; return 1; }
}
mktoken web confidential-client confidential-secret basic authorization_code web@example.test
run_driver authurl web "$REDIR" "$T/web.pkce"
url=$(cat "$T/out")
case $url in
"$OAUTH_URL/authorize?response_type=code&client_id=confidential-client&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2F&scope=mail&state="*"&code_challenge="*"&code_challenge_method=S256&login_hint=web%40example.test")
	ok "authorization URL has every parameter, url-encoded" ;;
*) not_ok "authorization URL: $url" ;;
esac
check "authorization code flow with PKCE (confidential client)" authorize web
grep -q "refresh_token=yes" "$T/out" && ok "exchange stored a refresh token" || not_ok "no refresh token"
mktoken pub public-client "" none authorization_code pub@example.test
check "authorization code flow with PKCE (public client)" authorize pub
# A code exchanged with the wrong verifier is refused: invalid_grant.
run_driver authurl web "$REDIR" "$T/web2.pkce"
loc=$(curl -sS --max-time 10 -o /dev/null -w '%{redirect_url}' "$(cat "$T/out")")
code=$(printf '%s\n' "$loc" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')
run_driver exchange web "$REDIR" "$T/web.pkce" "$code"
expect_rc 10 "wrong PKCE verifier: invalid_grant"

# ---------------------------------------------------------------- refresh and rotation
rt0=$(sfield web refresh_token)
at0=$(sfield web access_token)
n=$(oauth_count refresh_token)
run_driver refresh web
expect_rc 0 "forced refresh"
rt1=$(sfield web refresh_token)
[ -n "$rt1" ] && [ "$rt1" != "$rt0" ] && ok "rotated refresh token persisted" ||
	not_ok "refresh token not rotated ($rt0 -> $rt1)"
[ "$(sfield web access_token)" != "$at0" ] && ok "new access token stored" || not_ok "same access token"
[ "$(oauth_count refresh_token)" = $((n + 1)) ] && ok "one refresh request" || not_ok "refresh count"
[ "$(stat -c %a "$STORE/web.state")" = 600 ] && ok "state file is 0600" || not_ok "state mode"
expire web
run_driver get-access web
expect_rc 0 "expired token refreshed by get-access"
[ "$(cat "$T/out")" = "$(sfield web access_token)" ] && ok "returned token is the stored one" ||
	not_ok "returned token differs from the state"
run_driver get-access web nonet
expect_rc 0 "fresh token with NO_NETWORK"
expire web
run_driver get-access web nonet
expect_rc 14 "expired token with NO_NETWORK: TS_EEXPIRED"
run_driver reject web
expect_rc 0 "mark the access token rejected"
[ "$(sfield web access_rejected)" = true ] && ok "access_rejected recorded" || not_ok "access_rejected"
n=$(oauth_count refresh_token)
run_driver get-access web
expect_rc 0 "rejected token refreshed"
[ "$(oauth_count refresh_token)" = $((n + 1)) ] && [ "$(sfield web access_rejected)" = false ] &&
	ok "rejection cleared by the refresh" || not_ok "rejection handling"

# ---------------------------------------------------------------- herd
expire web
oauth_control '{"reset": true}'
i=0; pids=""
while [ $i -lt 20 ]; do
	"$DRIVER" get-access web >"$T/herd.$i.out" 2>"$T/herd.$i.err" &
	pids="$pids $!"
	i=$((i + 1))
done
fails=0
for p in $pids; do wait "$p" || fails=$((fails + 1)); done
[ "$fails" -eq 0 ] && ok "20 concurrent get-access all succeed" || not_ok "$fails of 20 failed"
[ "$(oauth_count refresh_token)" = 1 ] && ok "herd of 20 made exactly 1 refresh request" ||
	not_ok "herd made $(oauth_count refresh_token) refresh requests"
[ "$(cat "$T"/herd.*.out | sort -u | wc -l)" = 1 ] && ok "all 20 got the same token" ||
	not_ok "different tokens handed out"

# ---------------------------------------------------------------- faults (transient)
for kind in hang 500 503 malformed oversized no_access_token bad_token_type \
	negative_expires huge_expires html; do
	expire web
	before=$(tokfields web)
	oauth_control "{\"fault\": {\"path\": \"/token\", \"kind\": \"$kind\", \"count\": 1, \"seconds\": 8}}"
	t0=$(now_ms)
	run_driver get-access web
	t1=$(now_ms)
	expect_rc 9 "fault $kind: TS_ENET"
	case $kind in
	negative_expires|huge_expires)
		# The server answered 200 and rotated: the new refresh token is
		# the only live one and is kept; everything else is untouched.
		rtb=$(sfield web refresh_token)
		[ "$(tokfields web | sed 's/"refresh_token": "[^"]*"//')" = \
		  "$(printf '%s\n' "$before" | sed 's/"refresh_token": "[^"]*"//')" ] &&
			ok "fault $kind: access token and expiry untouched" ||
			{ not_ok "fault $kind: state changed"; diag "before $before" "after  $(tokfields web)"; }
		case $before in *"\"refresh_token\": \"$rtb\""*) not_ok "fault $kind: rotated refresh token lost" ;;
		*) ok "fault $kind: rotated refresh token kept" ;; esac ;;
	*)
		[ "$(tokfields web)" = "$before" ] && ok "fault $kind: token fields untouched" ||
			{ not_ok "fault $kind: state changed"; diag "before $before" "after  $(tokfields web)"; } ;;
	esac
	le=$(sfield web last_error)
	[ -n "$le" ] && ok "fault $kind: last_error recorded" || not_ok "fault $kind: no last_error"
	case $le in *at-*|*rt-*) not_ok "fault $kind: secret in last_error: $le" ;;
	*) ok "fault $kind: no token in last_error" ;; esac
	diag "$kind: $le"
	if [ "$kind" = hang ]; then
		[ $((t1 - t0)) -lt 7000 ] && ok "hang: gave up within http_timeout ($((t1 - t0)) ms)" ||
			not_ok "hang took $((t1 - t0)) ms"
	fi
done
run_driver get-access web
expect_rc 0 "after the faults the token refreshes again"
oauth_control '{"fault": {"path": "/token", "kind": "oversized", "count": 1}}'
expire web
run_driver get-access web
expect_err "response larger than 262144 bytes" "oversized answer named as such"
oauth_control '{"fault": {"path": "/token", "kind": "hang", "count": 1, "seconds": 8}}'
expire web
run_driver get-access web
expect_err "did not answer within 3 s" "timeout named as such"

# ---------------------------------------------------------------- faults (permanent)
expire web
before=$(tokfields web)
oauth_control '{"fault": {"path": "/token", "kind": "invalid_client", "count": 1}}'
run_driver get-access web
expect_rc 11 "invalid_client: TS_ECONFIG"
[ "$(tokfields web)" = "$before" ] && ok "invalid_client: tokens untouched" || not_ok "invalid_client changed tokens"
case $(sfield web last_error) in *invalid_client*) ok "invalid_client recorded" ;;
*) not_ok "last_error: $(sfield web last_error)" ;; esac
oauth_control '{"fault": {"path": "/token", "kind": "invalid_grant", "count": 1}}'
run_driver get-access web
expect_rc 10 "invalid_grant: TS_EGRANT"
expect_err "refresh token was revoked or expired (invalid_grant: injected fault" "invalid_grant message"
expect_err "run: sasl-oauth2 authorize web" "invalid_grant message says what to do"
[ "$(sfield web refresh_token_dead)" = true ] && ok "refresh_token_dead set" || not_ok "refresh_token_dead not set"
n=$(oauth_count refresh_token)
run_driver get-access web
expect_rc 10 "dead refresh token: TS_EGRANT again"
[ "$(oauth_count refresh_token)" = "$n" ] && ok "dead refresh token: no network" || not_ok "dead token retried"
check "a new consent revives the token" authorize web
run_driver get-access web force
expect_rc 0 "refresh works after the new consent"

# ---------------------------------------------------------------- device flow
mktoken dev confidential-client confidential-secret basic device_code dev@example.test
# device_run NAME [EXPIRES]: start the driver in the background; sets $dpid, $ucode.
device_run() {
	: >"$T/dev.out"
	"$DRIVER" device "$@" >"$T/dev.out" 2>"$T/dev.err" &
	dpid=$!
	_i=0
	while ! grep -q "^Enter code: " "$T/dev.out" && [ $_i -lt 600 ]; do sleep 0.1; _i=$((_i + 1)); done
	ucode=$(sed -n 's/^Enter code: //p' "$T/dev.out")
}
oauth_control '{"reset": true}'
device_run dev
[ -n "$ucode" ] && ok "device flow prints the user code" || not_ok "no user code"
sleep 2.5
oauth_approve_device "$ucode" dev@example.test
wait "$dpid"; rc=$?
expect_rc 0 "device flow approved after pending polls"
[ "$(oauth_count urn:ietf:params:oauth:grant-type:device_code)" -ge 3 ] && ok "polled while pending" ||
	not_ok "device polls: $(oauth_count urn:ietf:params:oauth:grant-type:device_code)"
grep -q 'slow_down' "$T/dev.err" && not_ok "slow_down without cause" || ok "polling at the interval: no slow_down"
[ -n "$(sfield dev refresh_token)" ] && ok "device grant stored" || not_ok "device grant not stored"

oauth_control '{"fault": {"path": "/token", "kind": "slow_down", "count": 1}}'
device_run dev
sleep 1
oauth_approve_device "$ucode" dev@example.test
wait "$dpid"; rc=$?
expect_rc 0 "device flow with slow_down"
el=$(sed -n 's/^elapsed_ms: //p' "$T/dev.out")
[ "${el:-0}" -ge 6500 ] && ok "slow_down added 5 s to the interval ($el ms)" || not_ok "slow_down ignored ($el ms)"

device_run dev
sleep 1
oauth_deny_device "$ucode"
wait "$dpid"; rc=$?
expect_rc 13 "denied device request: TS_EDENIED"
grep -q denied "$T/dev.err" && ok "denial says denied" || not_ok "denial message: $(cat "$T/dev.err")"

oauth_control '{"device_expires": 3}'
device_run dev
wait "$dpid"; rc=$?
expect_rc 14 "device code expired at the server: TS_EEXPIRED"
oauth_control '{"device_expires": 600}'
t0=$(now_ms)
device_run dev 2
wait "$dpid"; rc=$?
t1=$(now_ms)
expect_rc 14 "device code lifetime over on the client side: TS_EEXPIRED"
[ $((t1 - t0)) -lt 4000 ] && ok "client stopped polling at the lifetime ($((t1 - t0)) ms)" ||
	not_ok "client polled past the lifetime ($((t1 - t0)) ms)"

# ---------------------------------------------------------------- revocation
run_driver revoke web refresh
expect_rc 0 "revoke the refresh token (RFC 7009)"
run_driver refresh web
expect_rc 10 "refresh after revocation: invalid_grant"
mktoken norevoke confidential-client confidential-secret basic client_credentials nr@example.test
run_driver cc norevoke
sed -i '/^revoke_url/d' "$STORE/norevoke.yaml"
run_driver revoke norevoke access
expect_rc 4 "no revoke_url: TS_ENOTFOUND"

# ---------------------------------------------------------------- state and validity
mktoken never confidential-client confidential-secret basic authorization_code never@example.test
run_driver get-access never
expect_rc 15 "never authorized: TS_ESTATE"
expect_err "sasl-oauth2 authorize never" "never authorized: says what to do"
mktoken off confidential-client confidential-secret basic client_credentials off@example.test \
	"validity: invalid"
n=$(oauth_count client_credentials)
run_driver get-access off
expect_rc 12 "validity invalid: TS_EINVALID"
[ "$(oauth_count client_credentials)" = "$n" ] && ok "invalid token: no network" || not_ok "invalid token used network"

# ---------------------------------------------------------------- token selection
run_driver select web
[ "$rc" -eq 0 ] && [ "$(cat "$T/out")" = web ] && ok "select by name" || not_ok "select by name: $(cat "$T/out" "$T/err")"
run_driver select DEV@Example.TEST
[ "$rc" -eq 0 ] && [ "$(cat "$T/out")" = dev ] && ok "select by user, case-insensitive" || not_ok "select by user"
run_driver select someone@example.test web
[ "$rc" -eq 0 ] && [ "$(cat "$T/out")" = web ] && ok "password naming a token wins" || not_ok "select by password"
run_driver select nobody@example.test
expect_rc 4 "no matching token: TS_ENOTFOUND"
expect_err "sasl-oauth2 add" "not found: says how to add one"
mktoken dev2 confidential-client confidential-secret basic device_code dev@example.test
run_driver select dev@example.test
expect_rc 3 "two tokens for one user: ambiguous"
expect_err "dev, dev2" "ambiguity lists the candidates"
expect_err "SASL password" "ambiguity says to pass the token name as password"
run_driver select dev@example.test not-a-token-secret
expect_rc 3 "a password that names no token falls back to the user"
if grep -q "not-a-token-secret" "$T/err"; then not_ok "password leaked"; else ok "password not in the message"; fi

# ---------------------------------------------------------------- URL policy and probe
t0=$(now_ms)
run_driver badurl web "http://192.0.2.1/token"
t1=$(now_ms)
expect_rc 3 "plain http to a non-loopback host refused"
expect_err "refusing plain http" "refusal explains why"
# A connection attempt to 192.0.2.1 (TEST-NET-1) would hang until the
# http_timeout (20 s); the bound only has to tell the two apart, also on a
# loaded machine.
[ $((t1 - t0)) -lt 10000 ] && ok "refused without network ($((t1 - t0)) ms)" || not_ok "refusal took $((t1 - t0)) ms"
run_driver badurl web "https://127.0.0.1:$OAUTH_PORT/token"
expect_rc 9 "https to a plain-http server fails the TLS handshake: TS_ENET"
run_driver badurl web "http://127.0.0.1:1/token"
expect_rc 9 "connection refused: TS_ENET"
run_driver probe "$OAUTH_URL/authorize"
[ "$rc" -eq 0 ] && grep -q "status: 400" "$T/out" && ok "probe reports the HTTP status" ||
	not_ok "probe: $(cat "$T/out" "$T/err")"

# Secrets never reach the log lines or messages of this whole run: the
# stderr of every run_driver call (with the fault, invalid_client and
# invalid_grant runs, whose library log lines go to stderr) and of the herd
# and device runs.
if grep -q invalid_client "$T/all-runs.err" && grep -q invalid_grant "$T/all-runs.err"; then
	ok "the scanned stderr holds the failing runs' messages"
else
	not_ok "the scanned stderr holds the failing runs' messages"; diag "$(tail -5 "$T/all-runs.err")"
fi
if cat "$T/all-runs.err" "$T"/herd.*.err "$T/dev.err" 2>/dev/null |
	grep -E 'at-[A-Za-z0-9_-]{20}|rt-[A-Za-z0-9_-]{20}|confidential-secret' >"$T/leaks"; then
	not_ok "a secret appeared on stderr"; diag "$(head -3 "$T/leaks" | cut -c1-60)"
else
	ok "no token or secret on stderr"
fi

done_testing
