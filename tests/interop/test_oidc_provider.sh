#!/bin/sh
# tests/interop/test_oidc_provider.sh - the helper and the plugin against an
# independent, OpenID Certified server: panva's oidc-provider (npm), set up
# by tests/interop/provider.mjs. Authorization code + PKCE for a
# client_secret_basic, a client_secret_post and a public client (scripted
# browser through the provider's login and consent), token, refresh with
# rotation (old refresh tokens dead at the provider), reuse detection,
# device flow (approved and aborted), client credentials (with a secret and
# with a private_key_jwt assertion), denial, remove
# --revoke, and XOAUTH2/OAUTHBEARER logins to a Dovecot whose passdb
# introspects at the provider, including a refresh done by the plugin.
#
# oidc-provider is installed with npm into a cache outside the source tree
# (SASL_OAUTH2_NPM_CACHE, default ~/.cache/sasl-oauth2-interop) and reused;
# the script skips only when node/npm are missing or the install fails, and
# fails instead in strict mode (tools/test, CI=true; see tests/lib.sh).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/cli/store.sh"

# 8.x: the newest line that supports Node 18/20 (9.x wants Node 22).
OIDC_PROVIDER_VERSION=8.8.1
NPM_DIR=${SASL_OAUTH2_NPM_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/sasl-oauth2-interop}

# Debian's nodejs and npm packages (tools/install-deps installs them) serve.
require_tool node npm curl
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)
[ "${node_major:-0}" -ge 18 ] 2>/dev/null ||
	missing_tool "node ${node_major:-?} is too old for oidc-provider $OIDC_PROVIDER_VERSION (needs 18 or later)"

installed_version() {
	sed -n 's/^  "version": "\(.*\)",$/\1/p' "$NPM_DIR/node_modules/oidc-provider/package.json" 2>/dev/null
}
# npm_install: install the pinned version into the cache, three attempts
# (a registry hiccup is not a test failure), one install at a time when
# several builds test at once; the first run of tools/test fills the cache
# and every later build reuses it.
npm_install() {
	(
		command -v flock >/dev/null 2>&1 && flock -w 600 9
		for _try in 1 2 3; do
			[ "$(installed_version)" = "$OIDC_PROVIDER_VERSION" ] && exit 0
			[ "$_try" -eq 1 ] || sleep $((_try * 5))
			timeout 300 npm install --prefix "$NPM_DIR" --no-audit --no-fund \
				--loglevel=error "oidc-provider@$OIDC_PROVIDER_VERSION" >>"$T/npm.out" 2>&1
		done
		[ "$(installed_version)" = "$OIDC_PROVIDER_VERSION" ]
	) 9>"$NPM_DIR/.install.lock"
}
if [ "$(installed_version)" != "$OIDC_PROVIDER_VERSION" ]; then
	mkdir -p "$NPM_DIR" || missing_tool "cannot create the npm cache $NPM_DIR (set SASL_OAUTH2_NPM_CACHE)"
	npm_install ||
		missing_tool "npm install oidc-provider@$OIDC_PROVIDER_VERSION into $NPM_DIR failed 3 times (no registry access?): $(grep -v 'complete log\|_logs/' "$T/npm.out" 2>/dev/null | head -n 6 | tr '\n' ' ')"
fi

# ---------------------------------------------------------------- the provider
# Turn signals into an exit so the at_exit hooks stop the servers.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
PLOG="$T/provider.log"
# The key of jwt-client, which authenticates with private_key_jwt.
K="$T/keys"
mkdir -m 700 "$K"
if ! { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$K/client.pem" &&
       openssl pkey -in "$K/client.pem" -pubout -out "$K/client.pub" &&
       openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$K/other.pem" &&
       chmod 600 "$K/client.pem" "$K/other.pem"; } >"$T/keygen.out" 2>&1; then
	echo "Bail out! openssl could not make the client key: $(cat "$T/keygen.out")"; exit 1
fi
node "$top_srcdir/tests/interop/provider.mjs" --modules "$NPM_DIR" --port-file "$T/provider.port" \
	--log "$PLOG" --max-seconds 300 --client-key "$K/client.pub" >"$T/provider.out" 2>&1 &
PROVIDER_PID=$!
at_exit "kill $PROVIDER_PID 2>/dev/null; wait $PROVIDER_PID 2>/dev/null"
if ! wait_for_file "$T/provider.port" 30; then
	not_ok "oidc-provider $OIDC_PROVIDER_VERSION starts"; diag "$(cat "$T/provider.out")"
	done_testing; exit 1
fi
ISSUER="http://127.0.0.1:$(cat "$T/provider.port")"
ok "oidc-provider $OIDC_PROVIDER_VERSION listens at $ISSUER"

# Endpoints come from discovery, as a user would read them.
curl -sS --max-time 10 "$ISSUER/.well-known/openid-configuration" >"$T/discovery.json" 2>"$T/discovery.err"
disc() {
	"$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' \
		"$T/discovery.json" "$1" 2>/dev/null
}
AUTH_URL=$(disc authorization_endpoint)
TOKEN_URL=$(disc token_endpoint)
DEVICE_URL=$(disc device_authorization_endpoint)
REVOKE_URL=$(disc revocation_endpoint)
INTROSPECT_URL=$(disc introspection_endpoint)
if [ "$(disc issuer)" = "$ISSUER" ] && [ -n "$AUTH_URL" ] && [ -n "$TOKEN_URL" ] && [ -n "$DEVICE_URL" ] &&
   [ -n "$REVOKE_URL" ] && [ -n "$INTROSPECT_URL" ]; then
	ok "discovery names the authorization, token, device, revocation and introspection endpoints"
else
	not_ok "discovery document"; diag "$(cat "$T/discovery.json" "$T/discovery.err")"
	done_testing; exit 1
fi

# introspect TOKEN [HINT]: the provider's verdict, as the resource server
# (dovecot-client) sees it; prints "active" or "inactive".
introspect() {
	curl -sS --max-time 10 -u dovecot-client:dovecot-secret --data-urlencode "token=$1" \
		${2:+--data-urlencode "token_type_hint=$2"} "$INTROSPECT_URL" 2>/dev/null |
		"$PYTHON3" -c 'import json, sys; print("active" if json.load(sys.stdin).get("active") is True else "inactive")' 2>/dev/null
}
# introspect_field TOKEN KEY: one member of the introspection answer.
introspect_field() {
	curl -sS --max-time 10 -u dovecot-client:dovecot-secret --data-urlencode "token=$1" "$INTROSPECT_URL" 2>/dev/null |
		"$PYTHON3" -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$2" 2>/dev/null
}
# plog_count FILTER: requests in the provider's log matching a JSON filter
# like '"path":"/token","grant_type":"refresh_token","status":200'.
plog_count() {
	"$PYTHON3" -c '
import json, sys
want = json.loads("{" + sys.argv[2] + "}")
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if all(e.get(k) == v for k, v in want.items()):
        n += 1
print(n)' "$PLOG" "$1"
}
# plog_last KEY FILTER: KEY of the last logged request matching FILTER.
plog_last() {
	"$PYTHON3" -c '
import json, sys
want = json.loads("{" + sys.argv[3] + "}")
v = ""
for line in open(sys.argv[1]):
    e = json.loads(line)
    if all(e.get(k) == x for k, x in want.items()):
        v = e.get(sys.argv[2], "")
print(v)' "$PLOG" "$1" "$2"
}

# ---------------------------------------------------------------- the helper
STORE="$T/store"
h() { "$HELPER" --store "$STORE" "$@"; }
sfield() {
	"$PYTHON3" -c 'import json, sys; v = json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)' \
		"$STORE/$1.state" "$2" 2>/dev/null
}
umask 077
printf 'basic s3cr:t/+%%&=~\n' >"$T/basic.secret"
printf 'post-secret\n' >"$T/post.secret"
printf 'service-secret\n' >"$T/service.secret"
printf 'wrong-secret\n' >"$T/wrong.secret"

# The browser: follows every redirect through the provider's login and
# consent to the helper's loopback listener, with a fresh cookie jar.
cat >"$T/browser" <<EOF
#!/bin/sh
rm -f "$T/browser.jar"
exec curl -sS --max-time 15 -L -c "$T/browser.jar" -b "$T/browser.jar" -o "$T/browser.page" \
	-w '%{http_code} %{url_effective}\n' "\$1" >>"$T/browser.log" 2>&1
EOF
chmod 700 "$T/browser"

# Endpoints of the user-facing flows; scope and prompt=consent as
# oidc-provider needs them to issue a refresh token (offline_access).
USER_FLOW="--set auth_url=$AUTH_URL --set token_url=$TOKEN_URL --set device_url=$DEVICE_URL
 --set revoke_url=$REVOKE_URL --scope openid --scope offline_access --set auth_params.prompt=consent"

# authorize_code NAME DESC: authorize with the scripted browser and check
# what was stored.
authorize_code() {
	BROWSER="$T/browser" timeout 60 "$HELPER" --store "$STORE" authorize "$1" --timeout 30 \
		</dev/null >"$T/auth.out" 2>"$T/auth.err"
	_rc=$?
	if [ $_rc -eq 0 ] && grep -q "refresh token: received" "$T/auth.out" &&
	   [ -n "$(sfield "$1" access_token)" ] && [ -n "$(sfield "$1" refresh_token)" ]; then
		ok "$2: authorize (code + PKCE through the provider's login and consent)"
	else
		not_ok "$2: authorize (exit $_rc)"
		diag "$(cat "$T/auth.out" "$T/auth.err" "$T/browser.log" 2>/dev/null)" "$(tail -n 5 "$PLOG")"
	fi
}

# shellcheck disable=SC2086
check "add basic (client_secret_basic, secret needing form-urlencoding)" h add basic --template generic \
	--client-id basic-client --client-secret-file "$T/basic.secret" --set client_auth=basic \
	--user alice@example.test $USER_FLOW
# shellcheck disable=SC2086
check "add post (client_secret_post)" h add post --template generic --client-id post-client \
	--client-secret-file "$T/post.secret" --set client_auth=post --user alice@example.test $USER_FLOW
# shellcheck disable=SC2086
check "add pub (public client)" h add pub --template generic --client-id public-client \
	--set client_auth=none --user alice@example.test $USER_FLOW

for n in basic post pub; do
	authorize_code "$n" "$n"
	case $n in basic) want=basic ;; post) want=post ;; pub) want=none ;; esac
	got=$(plog_last client_auth '"path":"/token","grant_type":"authorization_code","status":200')
	[ "$got" = "$want" ] && ok "$n: the code exchange authenticated the client with $want" ||
		not_ok "$n: code exchange client authentication: got '$got', want '$want'"
done
grep -q "code_challenge_method=S256" "$T/auth.out" && ok "the authorization URL carries PKCE S256" ||
	not_ok "PKCE S256 in the authorization URL"
# oidc-provider accepted the loopback redirect on the helper's ephemeral
# port against the registered http://127.0.0.1/ (RFC 8252 7.3).
grep -q "redirect_uri=http%3A%2F%2F127.0.0.1%3A[0-9]*%2F" "$T/auth.out" &&
	ok "the redirect_uri is the loopback listener with its port" || not_ok "loopback redirect_uri"
[ "$(plog_count '"interaction":"login"')" -ge 3 ] && [ "$(plog_count '"interaction":"consent"')" -ge 3 ] &&
	ok "each authorization went through the provider's login and consent" ||
	{ not_ok "login and consent interactions"; diag "$(grep interaction "$PLOG")"; }

# ---------------------------------------------------------------- token
h token basic >"$T/out" 2>"$T/err"; rc=$?
AT=$(cat "$T/out")
if [ $rc -eq 0 ] && [ "$(wc -l <"$T/out")" -eq 1 ] && [ ! -s "$T/err" ] && [ "$AT" = "$(sfield basic access_token)" ]; then
	ok "token prints the stored access token, one line"
else
	not_ok "token (exit $rc)"; diag "$(cat "$T/err")"
fi
[ "$(introspect "$AT")" = active ] && [ "$(introspect_field "$AT" username)" = alice@example.test ] &&
	ok "the provider's introspection says the access token is active for alice@example.test" ||
	not_ok "access token active at the provider"

# ---------------------------------------------------------------- refresh + rotation
for n in basic post pub; do
	r0=$(sfield "$n" refresh_token)
	a0=$(sfield "$n" access_token)
	h refresh "$n" >"$T/r1.out" 2>&1; rc1=$?
	r1=$(sfield "$n" refresh_token)
	h refresh "$n" >"$T/r2.out" 2>&1; rc2=$?
	r2=$(sfield "$n" refresh_token)
	if [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ -n "$r2" ] && [ "$r0" != "$r1" ] && [ "$r1" != "$r2" ] &&
	   [ "$(sfield "$n" access_token)" != "$a0" ]; then
		ok "$n: refresh twice; each rotated refresh token is stored"
	else
		not_ok "$n: refresh with rotation (exit $rc1/$rc2)"; diag "$(cat "$T/r1.out" "$T/r2.out")" "$(tail -n 3 "$PLOG")"
	fi
	if [ "$(introspect "$r0" refresh_token)" = inactive ] && [ "$(introspect "$r1" refresh_token)" = inactive ] &&
	   [ "$(introspect "$r2" refresh_token)" = active ]; then
		ok "$n: the provider holds the replaced refresh tokens dead and the stored one alive"
	else
		not_ok "$n: refresh token states at the provider"
	fi
	[ "$(h token "$n")" = "$(sfield "$n" access_token)" ] && [ "$(introspect "$(sfield "$n" access_token)")" = active ] &&
		ok "$n: token prints the refreshed access token, active at the provider" || not_ok "$n: token after refresh"
done
[ "$(plog_count '"path":"/token","grant_type":"refresh_token","status":200')" -eq 6 ] &&
	ok "six refresh requests, all answered 200" ||
	{ not_ok "refresh requests"; diag "$(grep refresh_token "$PLOG")"; }

# The provider treats a replayed refresh token as stolen (reuse detection)
# and revokes the whole grant: the helper must then report a dead refresh
# token, not a transient failure.
OLD_RT=$r1
code=$(curl -sS --max-time 10 -o "$T/reuse.json" -w '%{http_code}' --data-urlencode grant_type=refresh_token \
	--data-urlencode "refresh_token=$OLD_RT" --data-urlencode client_id=public-client "$TOKEN_URL")
[ "$code" = 400 ] && grep -q invalid_grant "$T/reuse.json" && ok "pub: a replayed old refresh token is refused (invalid_grant)" ||
	{ not_ok "pub: replayed refresh token refused (HTTP $code)"; diag "$(cat "$T/reuse.json")"; }
[ "$(introspect "$(sfield pub refresh_token)" refresh_token)" = inactive ] &&
	ok "pub: the replay revoked the grant at the provider" || not_ok "pub: grant revoked after replay"
h refresh pub >"$T/out" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q "invalid_grant" "$T/err" && [ "$(wc -l <"$T/err")" -eq 1 ] &&
	ok "pub: refresh after the revocation fails with one line naming invalid_grant" ||
	{ not_ok "pub: refresh of a revoked grant (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
h status pub >"$T/out" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "refresh token revoked\|refresh token expired" "$T/out" &&
	ok "pub: status exits 2 and says the refresh token is revoked" ||
	{ not_ok "pub: status after revocation (exit $rc)"; diag "$(cat "$T/out")"; }
authorize_code pub "pub, after the revocation"
check "pub: refresh works after the new consent" h refresh pub

# Wrong client credentials: invalid_client, the stored grant untouched.
r_before=$(sfield post refresh_token)
check "post: point the token at a wrong secret" h edit post --set client_secret_file="$T/wrong.secret"
h refresh post >"$T/out" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q "invalid_client" "$T/err" && [ "$(sfield post refresh_token)" = "$r_before" ] &&
	[ "$(introspect "$r_before" refresh_token)" = active ] &&
	ok "post: a wrong client secret fails with invalid_client and keeps the refresh token" ||
	{ not_ok "post: wrong secret (exit $rc)"; diag "$(cat "$T/err")"; }
check "post: back to the right secret" h edit post --set client_secret_file="$T/post.secret"
check "post: refresh works again" h refresh post

# No prompt=consent: oidc-provider drops offline_access, so no refresh
# token; the helper says so instead of failing later.
# shellcheck disable=SC2086
check "add noconsent (no prompt=consent)" h add noconsent --template generic --client-id basic-client \
	--client-secret-file "$T/basic.secret" --user alice@example.test \
	--set auth_url="$AUTH_URL" --set token_url="$TOKEN_URL" --scope openid --scope offline_access
BROWSER="$T/browser" timeout 60 "$HELPER" --store "$STORE" authorize noconsent --timeout 30 </dev/null >"$T/out" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q "refresh token: none received" "$T/out" && grep -q "offline_access" "$T/out" &&
	ok "without prompt=consent: stored, and the helper says no refresh token came (offline_access)" ||
	{ not_ok "without prompt=consent (exit $rc)"; diag "$(cat "$T/out")"; }

# A scope the provider does not know is left out of the grant (RFC 6749
# 3.3); asking for it again on refresh is invalid_scope (RFC 6749 6), so the
# helper must ask again for the granted scope.
# shellcheck disable=SC2086
check "add narrow (scope openid offline_access calendar)" h add narrow --template generic --client-id post-client \
	--client-secret-file "$T/post.secret" --set client_auth=post --user alice@example.test $USER_FLOW --scope calendar
authorize_code narrow "narrow"
grep -q "scope: openid offline_access$" "$T/auth.out" && ok "narrow: the provider granted less than the configured scope" ||
	{ not_ok "narrow: granted scope"; diag "$(cat "$T/auth.out")"; }
r0=$(sfield narrow refresh_token)
h refresh narrow >"$T/out" 2>&1; rc=$?
[ $rc -eq 0 ] && [ "$(sfield narrow refresh_token)" != "$r0" ] && [ "$(introspect "$(sfield narrow refresh_token)" refresh_token)" = active ] &&
	ok "narrow: refresh of a narrower grant succeeds" || { not_ok "narrow: refresh (exit $rc)"; diag "$(cat "$T/out")" "$(tail -n 2 "$PLOG")"; }
check "remove narrow --revoke" h remove narrow --revoke

# ---------------------------------------------------------------- denial
# shellcheck disable=SC2086
check "add denied" h add denied --template generic --client-id basic-client \
	--client-secret-file "$T/basic.secret" --user denied@example.test $USER_FLOW
BROWSER="$T/browser" timeout 60 "$HELPER" --store "$STORE" authorize denied --timeout 30 </dev/null >"$T/out" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q "denied" "$T/err" && [ ! -e "$STORE/denied.state" ] &&
	ok "a refusal at the provider (access_denied, with iss) fails with 'denied', nothing stored" ||
	{ not_ok "denied authorization (exit $rc)"; diag "$(cat "$T/out" "$T/err" "$T/browser.log")"; }

# ---------------------------------------------------------------- device flow
# device_browser USER_CODE_URL [abort]: the user opens the complete
# verification URI, confirms (or aborts), then logs in and consents.
device_browser() {
	_jar="$T/device.jar"
	rm -f "$_jar"
	curl -sS --max-time 10 -c "$_jar" -b "$_jar" -o "$T/dev1.html" "$1" || return 1
	_x=$(sed -n 's/.*name="xsrf" value="\([^"]*\)".*/\1/p' "$T/dev1.html" | head -n 1)
	_uc=$(sed -n 's/.*name="user_code" value="\([^"]*\)".*/\1/p' "$T/dev1.html" | head -n 1)
	_act=$(sed -n 's/.*<form[^>]*action="\([^"]*\)".*/\1/p' "$T/dev1.html" | head -n 1)
	[ -n "$_x" ] && [ -n "$_uc" ] && [ -n "$_act" ] || return 1
	# The page submits itself with JavaScript: the user code, then the
	# confirmation.
	curl -sS --max-time 10 -c "$_jar" -b "$_jar" -o "$T/dev2.html" --data-urlencode "xsrf=$_x" \
		--data-urlencode "user_code=$_uc" "$_act" || return 1
	grep -q 'name="confirm"' "$T/dev2.html" || return 1
	curl -sS --max-time 15 -L -c "$_jar" -b "$_jar" -o "$T/dev3.html" --data-urlencode "xsrf=$_x" \
		--data-urlencode "user_code=$_uc" --data-urlencode confirm=yes ${2:+--data-urlencode abort=yes} "$_act"
}

# device_start NAME: run authorize --device in the background; sets DPID
# and DEV_URL (the verification_uri_complete it printed).
device_start() {
	"$HELPER" --store "$STORE" authorize "$1" --device >"$T/dev.out" 2>"$T/dev.err" </dev/null &
	DPID=$!
	at_exit "kill $DPID 2>/dev/null"
	_i=0
	while ! grep -q '^(or open ' "$T/dev.out" 2>/dev/null && [ $_i -lt 600 ]; do sleep 0.1; _i=$((_i + 1)); done
	DEV_URL=$(sed -n 's/^(or open \(.*\))$/\1/p' "$T/dev.out")
	[ -n "$DEV_URL" ]
}
# device_wait: bounded wait for the background authorize; sets DRC.
device_wait() {
	_i=0
	while kill -0 "$DPID" 2>/dev/null && [ $_i -lt 300 ]; do sleep 0.1; _i=$((_i + 1)); done
	kill "$DPID" 2>/dev/null
	wait "$DPID"
	DRC=$?
}

# shellcheck disable=SC2086
check "add dev (device flow, client_secret_basic)" h add dev --template generic --client-id basic-client \
	--client-secret-file "$T/basic.secret" --user alice@example.test --set flow=device_code $USER_FLOW
if device_start dev; then
	grep -q "^To authorize token 'dev', visit: $ISSUER/device$" "$T/dev.out" && grep -q '^Enter code: [A-Z]\{4\}-[A-Z]\{4\}$' "$T/dev.out" &&
		ok "device flow: the verification URL and user code are printed" || { not_ok "device flow output"; diag "$(cat "$T/dev.out")"; }
	device_browser "$DEV_URL" && grep -q "Sign-in Success" "$T/dev3.html" &&
		ok "device flow: the user confirmed the code, logged in and consented" ||
		{ not_ok "device flow: user approval"; diag "$(head -n 20 "$T/dev3.html" 2>/dev/null)"; }
	device_wait
	[ "$DRC" -eq 0 ] && grep -q "refresh token: received" "$T/dev.out" && [ "$(introspect "$(sfield dev access_token)")" = active ] &&
		ok "device flow: authorize --device stored an active access token and a refresh token" ||
		{ not_ok "device flow: authorize --device (exit $DRC)"; diag "$(cat "$T/dev.out" "$T/dev.err")"; }
	[ "$(plog_last client_auth '"grant_type":"urn:ietf:params:oauth:grant-type:device_code","status":200')" = basic ] &&
		ok "device flow: the polls authenticated the client" || not_ok "device flow: client authentication of the polls"
else
	not_ok "device flow: authorize --device prints a verification URL"; diag "$(cat "$T/dev.out" "$T/dev.err")"
fi
check "dev: refresh" h refresh dev

# shellcheck disable=SC2086
check "add devpub (device flow, public client)" h add devpub --template generic --client-id public-client \
	--set client_auth=none --user alice@example.test --set flow=device_code $USER_FLOW
if device_start devpub; then
	device_browser "$DEV_URL" abort
	device_wait
	[ "$DRC" -ne 0 ] && grep -q "denied" "$T/dev.err" && [ ! -e "$STORE/devpub.state" ] &&
		ok "device flow: an aborted request fails with 'denied' and stores nothing" ||
		{ not_ok "device flow abort (exit $DRC)"; diag "$(cat "$T/dev.out" "$T/dev.err")"; }
else
	not_ok "device flow (public client) starts"; diag "$(cat "$T/dev.out" "$T/dev.err")"
fi

# ---------------------------------------------------------------- client credentials
check "add svc (client_credentials)" h add svc --template generic --client-id service-client \
	--client-secret-file "$T/service.secret" --set flow=client_credentials --set token_url="$TOKEN_URL" \
	--set revoke_url="$REVOKE_URL" --scope mail
h authorize svc >"$T/out" 2>&1; rc=$?
SVC_AT=$(sfield svc access_token)
[ $rc -eq 0 ] && [ -n "$SVC_AT" ] && [ "$(introspect "$SVC_AT")" = active ] && [ "$(introspect_field "$SVC_AT" scope)" = mail ] &&
	ok "client credentials: authorize fetched an active token with scope mail" ||
	{ not_ok "client credentials (exit $rc)"; diag "$(cat "$T/out")" "$(tail -n 3 "$PLOG")"; }
h refresh svc >"$T/out" 2>&1; rc=$?
[ $rc -eq 0 ] && [ "$(sfield svc access_token)" != "$SVC_AT" ] && [ "$(h token svc)" = "$(sfield svc access_token)" ] &&
	ok "client credentials: refresh fetches a new token, token prints it" ||
	{ not_ok "client credentials refresh (exit $rc)"; diag "$(cat "$T/out")"; }

# ---------------------------------------------------------------- issuer discovery
# add --set issuer=ISSUER fills the endpoints from oidc-provider's
# /.well-known/openid-configuration, and the token then works.
check "add disc (issuer: endpoints from discovery)" h add disc --template generic \
	--client-id service-client --client-secret-file "$T/service.secret" \
	--set flow=client_credentials --set issuer="$ISSUER" --scope mail
h show disc >"$T/out" 2>&1
grep -q "^token_url  *$TOKEN_URL$" "$T/out" && grep -q "^auth_url  *$AUTH_URL$" "$T/out" &&
	grep -q "^device_url  *$DEVICE_URL$" "$T/out" \
	&& ok "discovery filled token_url, auth_url and device_url from the metadata" \
	|| { not_ok "discovery endpoints"; diag "$(cat "$T/out")"; }
h authorize disc >"$T/out" 2>&1 && [ "$(introspect "$(sfield disc access_token)")" = active ] \
	&& ok "a token added from discovery gets an active access token" \
	|| { not_ok "discovered token authorize"; diag "$(cat "$T/out")"; }

# ---------------------------------------------------------------- private_key_jwt
check "add jwtsvc (client_credentials, private_key_jwt)" h add jwtsvc --template generic \
	--client-id jwt-client --user alice@example.test --set flow=client_credentials \
	--set token_url="$TOKEN_URL" --set client_auth=private_key_jwt \
	--set client_key_file="$K/client.pem" --scope mail
h authorize jwtsvc >"$T/out" 2>&1; rc=$?
JWT_AT=$(sfield jwtsvc access_token)
[ $rc -eq 0 ] && [ -n "$JWT_AT" ] && [ "$(introspect "$JWT_AT")" = active ] &&
[ "$(plog_last client_auth '"path":"/token","client_id":"jwt-client","status":200')" = private_key_jwt ] &&
	ok "private_key_jwt: oidc-provider accepts the ES256 client assertion and issues an active token" ||
	{ not_ok "private_key_jwt client credentials (exit $rc)"; diag "$(cat "$T/out")" "$(tail -n 3 "$PLOG")"; }
n0=$(plog_count '"path":"/token","client_id":"jwt-client"')
chmod 644 "$K/client.pem"
h refresh jwtsvc >"$T/out" 2>&1; rc=$?
[ $rc -ne 0 ] && grep -q "client_key_file.*chmod" "$T/out" && [ "$(plog_count '"path":"/token","client_id":"jwt-client"')" -eq "$n0" ] &&
	ok "private_key_jwt: a key file readable by others is refused before any request, with the fix" ||
	{ not_ok "loose key mode (exit $rc)"; diag "$(cat "$T/out")"; }
chmod 600 "$K/client.pem"
h edit jwtsvc --set client_key_file="$K/other.pem" >/dev/null 2>&1
h refresh jwtsvc >"$T/out" 2>&1; rc=$?
[ $rc -ne 0 ] && grep -q "invalid_client" "$T/out" &&
	ok "private_key_jwt: a key oidc-provider does not know is answered invalid_client, named in the error" ||
	{ not_ok "unknown key (exit $rc)"; diag "$(cat "$T/out")"; }
h edit jwtsvc --set client_key_file="$K/client.pem" >/dev/null 2>&1

# ---------------------------------------------------------------- Dovecot login
# The plugin's logins, checked by a Dovecot whose oauth2 passdb asks the
# provider's introspection endpoint as the resource server dovecot-client.
it_dovecot() {
	. "$top_srcdir/tests/integration/env.sh"
	[ -x "$DOVECOT" ] && [ -x "$IMTEST" ] && [ -f "$PLUGIN_DIR/libsasloauth2.so" ] || return 2
	# dovecot_start appends /introspect to OAUTH_URL; Dovecot sends the
	# credentials in the URL's userinfo as HTTP Basic.
	# shellcheck disable=SC2034
	OAUTH_URL="http://dovecot-client:dovecot-secret@${ISSUER#http://}"
	IT_MAX_SECONDS=300
	dovecot_start
}
it_dovecot; it_rc=$?
if [ $it_rc -eq 2 ]; then
	diag "Dovecot, imtest or the plugin is missing: the login part is not run"
elif [ $it_rc -ne 0 ]; then
	not_ok "private Dovecot with introspection at oidc-provider starts"
else
	ok "private Dovecot (passdb oauth2 introspecting at oidc-provider) listens on IMAP $IMAP_PORT"
	imap_cmds() { printf 'x1 SELECT INBOX\nx2 LOGOUT\n'; }
	n_intro=$(plog_count '"path":"/introspect","client_id":"dovecot-client","client_auth":"basic","status":200')
	for mech in XOAUTH2 OAUTHBEARER; do
		dovecot_log_mark
		if imap_cmds | cyrus_client "$IMTEST" "$IMAP_PORT" $mech "$T/imap-$mech.out" -w basic -o "oauth2_store=$STORE" &&
		   dovecot_log_wait "imap-login: Info: Login: user=<alice@example.test>, method=$mech"; then
			ok "imtest $mech with token 'basic' is accepted by Dovecot after introspection at oidc-provider"
		else
			not_ok "imtest $mech login"; diag "$(cat "$T/imap-$mech.out")"; dovecot_log 20
		fi
	done
	dovecot_log_mark
	if imap_cmds | cyrus_client "$IMTEST" "$IMAP_PORT" XOAUTH2 "$T/imap-jwt.out" -w jwtsvc -o "oauth2_store=$STORE" &&
	   dovecot_log_wait "imap-login: Info: Login: user=<alice@example.test>, method=XOAUTH2"; then
		ok "imtest XOAUTH2 with the private_key_jwt token 'jwtsvc' is accepted by Dovecot"
	else
		not_ok "imtest private_key_jwt login"; diag "$(cat "$T/imap-jwt.out")"; dovecot_log 20
	fi
	introspections=$(( $(plog_count '"path":"/introspect","client_id":"dovecot-client","client_auth":"basic","status":200') - n_intro ))
	[ "$introspections" -ge 2 ] && ok "Dovecot authenticated to the introspection endpoint ($introspections requests)" ||
		not_ok "Dovecot's introspection requests ($introspections)"

	# The plugin refreshes a due token itself: the cached access token is
	# made expired in the state file (the plugin's clock cannot be moved);
	# the provider rotates the refresh token and the plugin must store the
	# new one.
	r_old=$(sfield basic refresh_token)
	a_old=$(sfield basic access_token)
	n0=$(plog_count '"path":"/token","grant_type":"refresh_token","status":200')
	state_expire "$STORE/basic.state"
	dovecot_log_mark
	imap_cmds | cyrus_client "$IMTEST" "$IMAP_PORT" XOAUTH2 "$T/imap-refresh.out" -w basic -o "oauth2_store=$STORE"; rc=$?
	r_new=$(sfield basic refresh_token)
	if [ $rc -eq 0 ] && [ "$(plog_count '"path":"/token","grant_type":"refresh_token","status":200')" -eq $((n0 + 1)) ] &&
	   [ "$(sfield basic access_token)" != "$a_old" ] && [ "$r_new" != "$r_old" ] &&
	   dovecot_log_wait "Login: user=<alice@example.test>, method=XOAUTH2"; then
		ok "the plugin refreshed the due token once at oidc-provider and logged in with the new one"
	else
		not_ok "plugin refresh and login (exit $rc)"; diag "$(cat "$T/imap-refresh.out")"; dovecot_log 10
	fi
	[ "$(introspect "$r_old" refresh_token)" = inactive ] && [ "$(introspect "$r_new" refresh_token)" = active ] &&
		ok "the plugin stored the rotated refresh token (the old one is dead at the provider)" ||
		not_ok "rotated refresh token stored by the plugin"

	# A token the provider no longer honours is refused by Dovecot.
	check "revoke the access token of 'post' at the provider" curl -sS --max-time 10 --fail \
		--data-urlencode "token=$(sfield post access_token)" --data-urlencode client_id=post-client \
		--data-urlencode client_secret=post-secret "$REVOKE_URL"
	dovecot_log_mark
	if imap_cmds | cyrus_client "$IMTEST" "$IMAP_PORT" XOAUTH2 "$T/imap-revoked.out" -w post -o "oauth2_store=$STORE"; then
		not_ok "a revoked access token is refused"; diag "$(cat "$T/imap-revoked.out")"
	else
		ok "a revoked access token is refused by Dovecot (the provider says inactive)"
	fi
	[ "$(sfield post access_rejected)" = True ] && ok "the plugin marked the refused access token as rejected" ||
		{ not_ok "access token marked rejected"; diag "$(sed 's/"[a-z_]*token": "[^"]*"/<token>/g' "$STORE/post.state")"; }
	# The next login refreshes first (the refresh token is still good).
	a_old=$(sfield post access_token)
	dovecot_log_mark
	if imap_cmds | cyrus_client "$IMTEST" "$IMAP_PORT" OAUTHBEARER "$T/imap-again.out" -w post -o "oauth2_store=$STORE" &&
	   [ "$(sfield post access_token)" != "$a_old" ]; then
		ok "the next login refreshes the rejected token at the provider and succeeds"
	else
		not_ok "login after a rejection"; diag "$(cat "$T/imap-again.out")"; dovecot_log 10
	fi
fi

# ---------------------------------------------------------------- remove --revoke
for n in basic post pub dev; do
	rt=$(sfield "$n" refresh_token)
	at=$(sfield "$n" access_token)
	h remove "$n" --revoke >"$T/out" 2>&1; rc=$?
	if [ $rc -eq 0 ] && [ ! -e "$STORE/$n.yaml" ] && [ "$(introspect "$rt" refresh_token)" = inactive ] &&
	   [ "$(introspect "$at")" = inactive ]; then
		ok "$n: remove --revoke; the provider says the refresh and access tokens are inactive"
	else
		not_ok "$n: remove --revoke (exit $rc)"; diag "$(cat "$T/out")" "$(tail -n 2 "$PLOG")"
	fi
done
want_auth="basic post none basic"
got_auth=$(grep '"path":"/token/revocation"' "$PLOG" | grep '"status":200' | tail -n 4 |
	sed -n 's/.*"client_auth":"\([a-z]*\)".*/\1/p' | tr '\n' ' ' | sed 's/ $//')
[ "$got_auth" = "$want_auth" ] && ok "revocation requests authenticated each client its own way" ||
	not_ok "revocation client authentication: got '$got_auth', want '$want_auth'"

# Nothing secret reached the provider's log or the helper's output.
if grep -q "basic s3cr\|post-secret\|service-secret" "$PLOG" "$T/auth.out" "$T/dev.out" 2>/dev/null; then
	not_ok "no client secret in logs or output"
else
	ok "no client secret in logs or output"
fi
if grep -q '"server_error"' "$PLOG"; then
	not_ok "oidc-provider reported no server error"; diag "$(grep server_error "$PLOG")"
else
	ok "oidc-provider reported no server error"
fi

done_testing
