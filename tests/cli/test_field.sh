#!/bin/sh
# tests/cli/test_field.sh - what first real Microsoft and Google users hit,
# through the helper and the test OAuth2 server: one token for several
# mailboxes (users) and the token bound to its provider's hosts, the scope
# Microsoft's app-only flow needs (client_credentials_scope) as the token
# request carries it, ...
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/server/server.sh"

if ! oauth_server_start --access-ttl 3600; then
	not_ok "test OAuth2 server starts"
	done_testing
	exit 1
fi

S="$T/store"
CONF="$T/sasl-oauth2.conf"
: >"$CONF"
h() { "$HELPER" --store "$S" --config "$CONF" "$@"; }
umask 077
printf 'confidential-secret\n' >"$T/conf.secret"

# expect_fail DESC PATTERN CMD...: exits non-zero with one stderr line
# "sasl-oauth2: ..." matching PATTERN.
expect_fail() {
	_d=$1; _pat=$2; shift 2
	"$@" >"$T/out" 2>"$T/err" </dev/null
	_rc=$?
	if [ $_rc -ne 0 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "^sasl-oauth2: " "$T/err" &&
	   grep -q -- "$_pat" "$T/err"; then
		ok "$_d"
	else
		not_ok "$_d"; diag "exit $_rc, wanted /$_pat/ in:" "$(cat "$T/err")"
	fi
}

# last_request PATH: the JSON line of the last logged request to PATH.
last_request() { grep "\"path\": \"$1\"" "$OAUTH_LOG" | tail -n 1; }
# req_field JSON KEY
req_field() { printf '%s\n' "$1" | "$PYTHON3" -c 'import json,sys; print(json.loads(sys.stdin.read()).get(sys.argv[1]))' "$2"; }

# ---------------------------------------------------------------- users / hosts keys
check "add a users token" h add relay --template generic --client-id confidential-client \
	--client-secret-file "$T/conf.secret" --flow client_credentials \
	--set token_url="$OAUTH_URL/token" --set "users=*@corp.test,info@shop.test" \
	--set hosts=127.0.0.1,*.mail.test
h show relay >"$T/out" 2>&1
grep -q "^users  *\*@corp.test info@shop.test$" "$T/out" &&
	grep -q "^hosts  *127.0.0.1 \*.mail.test$" "$T/out" \
	&& ok "show lists users and hosts" || { not_ok "show users/hosts"; diag "$(cat "$T/out")"; }
expect_fail "users: a value that is no mailbox is refused" "users.*not a mailbox" \
	h edit relay --set users=nobody
expect_fail "users: '*' elsewhere than *@domain is refused" "users.*\*@domain" \
	h edit relay --set "users=a*@corp.test"
expect_fail "hosts: a bad pattern is refused" "hosts.*leading" h edit relay --set "hosts=imap.*.test"
cat >"$T/bad.yaml" <<EOF
sasl-oauth2-export: 1
tokens:
  - name: badusers
    template: generic
    client_id: x
    token_url: $OAUTH_URL/token
    users: [ok@x.test, "bad user"]
EOF
expect_fail "import: a bad users entry names file, line and field" "bad.yaml:[0-9]*:[0-9]*: field 'users'" \
	h import "$T/bad.yaml"

check "authorize the users token (client credentials)" h authorize relay
h token relay --user bob@corp.test >"$T/out" 2>"$T/err" && grep -q '^at-' "$T/out" \
	&& ok "token --user with a *@domain mailbox prints the token" || { not_ok "token --user bob"; diag "$(cat "$T/err")"; }
h token relay --user INFO@Shop.Test >"$T/out" 2>"$T/err" && grep -q '^at-' "$T/out" \
	&& ok "token --user matches users case-insensitively" || { not_ok "token --user INFO"; diag "$(cat "$T/err")"; }
expect_fail "token --user outside users is refused, naming the mailbox and the fix" \
	"relay: .*may not log in as 'bob@other.test'.*--set users=" h token relay --user bob@other.test
[ ! -s "$T/out" ] && ok "a refused token --user prints nothing on stdout" || not_ok "stdout not empty"
expect_fail "token --user '@corp.test' (no local part) is refused" "may not log in" \
	h token relay --user @corp.test

# ---------------------------------------------------------------- client_credentials_scope
# Microsoft's app-only flow: the template's .default scope, never the
# delegated scopes or offline_access; the token's own scope wins.
cc_scope() { # cc_scope NAME TEMPLATE [ARGS...]: add, authorize, print the requested scope
	_n=$1; _tpl=$2; shift 2
	h add "$_n" --template "$_tpl" --tenant contoso.onmicrosoft.com --client-id confidential-client \
		--client-secret-file "$T/conf.secret" --flow client_credentials \
		--set token_url="$OAUTH_URL/token" --set client_auth=post --set hosts=127.0.0.1 "$@" >/dev/null 2>"$T/err" ||
		{ echo "add failed: $(cat "$T/err")"; return; }
	h authorize "$_n" >/dev/null 2>"$T/err" || { echo "authorize failed: $(cat "$T/err")"; return; }
	_r=$(last_request /token)
	echo "$(req_field "$_r" grant_type) $(req_field "$_r" scope)"
}
got=$(cc_scope ccorg microsoft-organizations)
[ "$got" = "client_credentials https://outlook.office365.com/.default" ] \
	&& ok "microsoft-organizations app-only: scope https://outlook.office365.com/.default only" \
	|| { not_ok "organizations cc scope"; diag "got: $got"; }
got=$(cc_scope ccgov microsoft-usgov)
[ "$got" = "client_credentials https://outlook.office365.us/.default" ] \
	&& ok "microsoft-usgov app-only: scope https://outlook.office365.us/.default" \
	|| { not_ok "usgov cc scope"; diag "got: $got"; }
got=$(cc_scope cccn microsoft-china)
[ "$got" = "client_credentials https://partner.outlook.cn/.default" ] \
	&& ok "microsoft-china app-only: scope https://partner.outlook.cn/.default" \
	|| { not_ok "china cc scope"; diag "got: $got"; }
got=$(cc_scope ccown microsoft-organizations --scope https://example.test/own.scope)
[ "$got" = "client_credentials https://example.test/own.scope" ] \
	&& ok "a token's own scope wins over client_credentials_scope" \
	|| { not_ok "own cc scope"; diag "got: $got"; }
h show ccorg >"$T/out" 2>&1
grep -q "offline_access" "$T/out" && { not_ok "show ccorg mentions offline_access"; diag "$(cat "$T/out")"; } \
	|| ok "show of an app-only Microsoft token has no offline_access"
# The delegated flow keeps the delegated scopes.
h add deleg --template microsoft-organizations --tenant contoso.onmicrosoft.com --client-id c >/dev/null 2>&1
h show deleg | grep -q "IMAP.AccessAsUser.All" && ok "the delegated flow keeps IMAP.AccessAsUser.All" \
	|| not_ok "delegated scope"

# ---------------------------------------------------------------- templates, add --for
h templates >"$T/out" 2>&1
grep -q "^fastmail " "$T/out" && grep -q "^yahoo .*approval" "$T/out" && grep -q "^aol .*approval" "$T/out" \
	&& ok "templates lists fastmail, and yahoo and aol saying new clients need approval" \
	|| { not_ok "templates list"; diag "$(cat "$T/out")"; }
h templates fastmail >"$T/out" 2>&1
grep -q "^client_auth  *none" "$T/out" && grep -q "api.fastmail.com/oauth/refresh" "$T/out" \
	&& ok "fastmail is a public client (client_auth none) with Fastmail's endpoints" \
	|| { not_ok "fastmail template"; diag "$(cat "$T/out")"; }
# A fastmail token against the test server: public client, PKCE S256.
cat >"$T/browser-plain" <<EOF
#!/bin/sh
printf '%s\n' "\$1" >>"$T/authurls-plain.log"
exec curl -sS --max-time 10 -L "\$1" >>"$T/browser.log" 2>&1
EOF
chmod 755 "$T/browser-plain"
h add fm --template fastmail --client-id public-client --set auth_url="$OAUTH_URL/authorize" \
	--set token_url="$OAUTH_URL/token" >/dev/null 2>&1
if BROWSER="$T/browser-plain" timeout 60 "$HELPER" --store "$S" --config "$CONF" authorize fm --timeout 20 \
	</dev/null >"$T/out" 2>"$T/err" && grep -q 'code_challenge_method=S256' "$T/authurls-plain.log"; then
	ok "fastmail: authorize as a public client with PKCE S256"
else
	not_ok "fastmail authorize"; diag "$(cat "$T/out" "$T/err")"
fi
# add --for: only those services' scopes, in the authorization request too.
check "add --for imap,smtp" h add forme --template microsoft-organizations --tenant contoso.onmicrosoft.com \
	--client-id confidential-client --client-secret-file "$T/conf.secret" --for imap,smtp \
	--set auth_url="$OAUTH_URL/authorize" --set token_url="$OAUTH_URL/token"
h show forme | grep -q '^scope  *offline_access https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send$' \
	&& ok "add --for imap,smtp: IMAP and SMTP scopes, offline_access once, no POP" \
	|| { not_ok "--for scopes"; diag "$(h show forme)"; }
oauth_control '{"localhost_redirect": true}' >/dev/null
cat >"$T/browser-lh" <<EOF
#!/bin/sh
loc=\$(curl -sS --max-time 10 -o /dev/null -w '%{redirect_url}' "\$1")
exec curl -sS --max-time 10 "\$loc" >>"$T/browser.log" 2>&1
EOF
chmod 755 "$T/browser-lh"
BROWSER="$T/browser-lh" timeout 60 "$HELPER" --store "$S" --config "$CONF" authorize forme --timeout 20 \
	</dev/null >"$T/out" 2>&1
got=$(req_field "$(last_request /authorize)" scope)
[ "$got" = "offline_access https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send" ] \
	&& ok "add --for: the authorization request asks for exactly those scopes" \
	|| { not_ok "--for request scope"; diag "got: $got" "$(cat "$T/out")"; }
oauth_control '{"localhost_redirect": false}' >/dev/null
expect_fail "add --for with an unknown service" "unknown service 'nntp'" \
	h add forbad --template google --client-id c --for imap,nntp
expect_fail "add --for and --scope together" "not both" \
	h add forbad --template google --client-id c --for imap --scope x
expect_fail "add --for on a template without per-service scopes" "lists no scopes for imap" \
	h add forbad --template generic --client-id c --set token_url=https://x.test/t --set auth_url=https://x.test/a --for imap
expect_fail "add --for with client_credentials" "client_credentials_scope" \
	h add forbad --template microsoft-organizations --tenant t.test --client-id c \
	--client-secret-file "$T/conf.secret" --flow client_credentials --for smtp
[ ! -e "$S/forbad.yaml" ] && ok "refused --for adds wrote nothing" || not_ok "forbad.yaml written"

# ---------------------------------------------------------------- issuer discovery
# The test server publishes RFC 8414 metadata only: the OpenID path is
# tried first, then /.well-known/oauth-authorization-server.
check "add with issuer: endpoints discovered" h add disc --template generic --client-id confidential-client \
	--client-secret-file "$T/conf.secret" --flow client_credentials --set issuer="$OAUTH_URL"
h show disc >"$T/out" 2>&1
grep -q "^token_url  *$OAUTH_URL/token$" "$T/out" && grep -q "^auth_url  *$OAUTH_URL/authorize$" "$T/out" &&
	grep -q "^device_url  *$OAUTH_URL/device_authorization$" "$T/out" && grep -q "^revoke_url  *$OAUTH_URL/revoke$" "$T/out" \
	&& ok "issuer: token, authorization, device and revocation endpoints filled" \
	|| { not_ok "discovered endpoints"; diag "$(cat "$T/out")"; }
grep -q '"path": "/.well-known/openid-configuration"' "$OAUTH_LOG" &&
	grep -q '"path": "/.well-known/oauth-authorization-server"' "$OAUTH_LOG" \
	&& ok "issuer: OpenID discovery tried first, then RFC 8414" || not_ok "discovery order"
h authorize disc >/dev/null 2>&1 && ok "a token added from discovery works" || not_ok "authorize disc"
check "add with issuer keeps endpoints given explicitly" h add disc2 --template generic --client-id c \
	--set issuer="$OAUTH_URL" --set token_url=https://token.example.test/t
h show disc2 | grep -q "^token_url  *https://token.example.test/t$" && ok "an explicit token_url wins over discovery" \
	|| not_ok "explicit token_url"
oauth_control '{"metadata_issuer": "https://evil.example.test"}' >/dev/null
expect_fail "issuer: metadata naming another issuer is refused" "names another issuer ('https://evil.example.test')" \
	h add disc3 --template generic --client-id c --set issuer="$OAUTH_URL"
oauth_control '{"metadata_issuer": ""}' >/dev/null
expect_fail "issuer without metadata is refused naming both URLs" "publishes no metadata at .*openid-configuration or .*oauth-authorization-server" \
	h add disc4 --template generic --client-id c --set issuer="$OAUTH_URL/nothing"
[ ! -e "$S/disc3.yaml" ] && [ ! -e "$S/disc4.yaml" ] && ok "refused discoveries wrote nothing" || not_ok "disc3/4 written"

# ---------------------------------------------------------------- redirect URIs
# Microsoft: users register http://localhost (the portal takes http:// only
# for localhost) and the port is ignored, so the Microsoft templates send
# http://localhost:PORT and the listener serves both 127.0.0.1 and ::1,
# either of which "localhost" may reach. Google keeps http://127.0.0.1:PORT/.
oauth_control '{"localhost_redirect": true}' >/dev/null
# browser_via HOST: a browser whose "localhost" resolves to HOST.
browser_via() {
	cat >"$T/browser-$2" <<EOF
#!/bin/sh
printf '%s\n' "\$1" >>"$T/authurls-$2.log"
loc=\$(curl -sS --max-time 10 -o /dev/null -w '%{redirect_url}' "\$1")
printf '%s\n' "\$loc" >>"$T/redirects-$2.log"
loc=\$(printf '%s' "\$loc" | sed 's|^http://localhost:|http://$1:|')
exec curl -g -sS --max-time 10 "\$loc" >>"$T/browser.log" 2>&1
EOF
	chmod 755 "$T/browser-$2"
}
browser_via '[::1]' v6
browser_via 127.0.0.1 v4
ms_redirect() { # ms_redirect NAME BROWSER
	h add "$1" --template microsoft-common --client-id confidential-client \
		--client-secret-file "$T/conf.secret" --set auth_url="$OAUTH_URL/authorize" \
		--set token_url="$OAUTH_URL/token" >/dev/null 2>&1
	BROWSER="$T/browser-$2" timeout 60 "$HELPER" --store "$S" --config "$CONF" authorize "$1" \
		--timeout 20 </dev/null >"$T/out" 2>"$T/err"
}
if ms_redirect msv6 v6 && [ -s "$S/msv6.state" ]; then ok "microsoft template: the redirect arrives on ::1 (localhost may be IPv6)"; else
	not_ok "microsoft template: the redirect arrives on ::1"; diag "$(cat "$T/out" "$T/err")"
fi
grep -Eq 'redirect_uri=http%3A%2F%2Flocalhost%3A[0-9]+(&|$)' "$T/authurls-v6.log" &&
	grep -Eq '^http://localhost:[0-9]+/?\?code=' "$T/redirects-v6.log" \
	&& ok "microsoft template: redirect_uri is http://localhost:PORT (as registered: http://localhost)" \
	|| { not_ok "microsoft redirect_uri form"; diag "$(cat "$T/authurls-v6.log" "$T/redirects-v6.log")"; }
if ms_redirect msv4 v4 && [ -s "$S/msv4.state" ]; then ok "microsoft template: the redirect arrives on 127.0.0.1"; else
	not_ok "microsoft template: the redirect arrives on 127.0.0.1"; diag "$(cat "$T/out" "$T/err")"
fi
last=$(last_request /token)
[ "$(req_field "$last" grant_type)" = authorization_code ] && [ "$(req_field "$last" status)" = 200 ] \
	&& ok "the code exchange with http://localhost:PORT succeeds" || { not_ok "exchange"; diag "$last"; }
h add gredir --template google --client-id c --set auth_url="$OAUTH_URL/authorize" >/dev/null 2>&1
h show gredir | grep -q '^redirect_uri  *http://127.0.0.1:<port>/$' \
	&& ok "google template: the loopback IP redirect http://127.0.0.1:PORT/" || { not_ok "google redirect"; diag "$(h show gredir)"; }
oauth_control '{"localhost_redirect": false}' >/dev/null

# ---------------------------------------------------------------- errors that name the fix
# The test server answers the token request with a provider's own error
# body; the one error line must carry the advice for it.
advice() { # advice DESC STATUS ERROR DESCRIPTION PATTERN
	_body=$("$PYTHON3" -c 'import json,sys; print(json.dumps({"fault": {"kind": "error_body", "status": int(sys.argv[1]), "body": {"error": sys.argv[2], "error_description": sys.argv[3], "error_codes": [1]}}}))' "$2" "$3" "$4")
	oauth_control "$_body" >/dev/null || { not_ok "$1: control"; return; }
	expect_fail "$1" "$5" h refresh relay
}
TRACE="Trace ID: 0d3c5e2a-1b2c-4d5e-8f90-123456789abc Correlation ID: 7e8f9a0b-1c2d-3e4f-5a6b-7c8d9e0f1a2b Timestamp: 2026-11-28 21:00:00Z"
advice "AADSTS50011: the redirect URI to register" 400 invalid_request \
	"AADSTS50011: The redirect URI 'http://127.0.0.1:8080/' specified in the request does not match the redirect URIs configured for the application. $TRACE" \
	"AADSTS50011.*redirect URI is not registered.*Mobile and desktop applications.*http://localhost"
advice "AADSTS7000218: a secret or public client flows" 401 invalid_client \
	"AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'. $TRACE" \
	"client_secret_file.*Allow public client flows"
advice "AADSTS7000215: the secret's Value, not its id" 401 invalid_client \
	"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID. $TRACE" \
	"secret is wrong.*Value (not the Secret ID)"
advice "AADSTS700082: 90 days unused, schedule refreshes" 400 invalid_grant \
	"AADSTS700082: The refresh token has expired due to inactivity. The token was issued on 2026-08-01T10:00:00Z and was inactive for 90.00:00:00. $TRACE" \
	"90 days without use: run sasl-oauth2 authorize relay.*refresh --all"
advice "AADSTS700084: single-page application tokens" 400 invalid_grant \
	"AADSTS700084: The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime of 1.00:00:00. $TRACE" \
	"single-page application.*Mobile and desktop applications"
advice "AADSTS65001: consent" 400 invalid_grant \
	"AADSTS65001: The user or administrator has not consented to use the application with ID 'x' named 'y'. $TRACE" \
	"not consented.*Grant admin consent"
advice "AADSTS50076: multi-factor authentication" 400 invalid_grant \
	"AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication. $TRACE" \
	"multi-factor authentication is required: run sasl-oauth2 authorize relay"
advice "AADSTS50079: MFA registration / Conditional Access" 400 invalid_grant \
	"AADSTS50079: Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication. $TRACE" \
	"Conditional Access.*authorize relay"
advice "AADSTS7000112: application disabled" 401 unauthorized_client \
	"AADSTS7000112: Application '08162f7c-0fd2-4200-a84a-f25a4db0b584'(Mozilla Thunderbird) is disabled. $TRACE" \
	"client_id) is disabled.*--set client_id=ID"
advice "Google invalid_grant: Testing, password, revoked, too many" 400 invalid_grant \
	"Token has been expired or revoked." \
	"'Testing' (after 7 days.*password changes.*revoked.*too many live refresh tokens.*authorize relay"
advice "an unknown AADSTS code keeps the generic hint" 400 invalid_grant \
	"AADSTS9999999: Something new. $TRACE" \
	"a new consent is needed (sasl-oauth2 authorize)"
grep -q "AADSTS9999999" "$T/err" && ok "the provider's description stays in the line" || not_ok "description lost"

# ---------------------------------------------------------------- HVE: refresh_margin
# Microsoft's HVE host refuses tokens expiring within 10 minutes: the
# microsoft-organizations template's margin (900 s) is a floor under the
# global one; a token's own margin still wins.
h show deleg | grep -q '^refresh_margin  *900 s$' && ok "microsoft-organizations: refresh_margin 900 s for HVE" \
	|| { not_ok "template margin"; diag "$(h show deleg)"; }
printf 'refresh_margin: 1200\n' >"$T/margin.conf"
"$HELPER" --store "$S" --config "$T/margin.conf" show deleg | grep -q '^refresh_margin  *1200 s$' \
	&& ok "a larger global refresh_margin is kept" || not_ok "global 1200"
h edit deleg --set refresh_margin=60 >/dev/null 2>&1
h show deleg | grep -q '^refresh_margin  *60 s$' && ok "a token's own refresh_margin wins over the template's" \
	|| not_ok "token margin"
h show gredir | grep -q '^refresh_margin  *300 s$' && ok "google keeps the global default (300 s)" || not_ok "google margin"

# ---------------------------------------------------------------- notify_timeout
# A hung notify_command (and what it started) is stopped after
# notify_timeout seconds; status still answers.
h add dead --template generic --client-id confidential-client --client-secret-file "$T/conf.secret" \
	--set token_url="$OAUTH_URL/token" --set auth_url="$OAUTH_URL/authorize" >/dev/null 2>&1
dead_state() {
	printf '%s\n' '{"access_token":"at-d","token_type":"Bearer","expires_at":1000,"refresh_token":"rt-d","refresh_expires_at":0,"scope":null,"last_refresh":0,"last_attempt":0,"last_error":"invalid_grant","refresh_token_dead":true,"access_rejected":false,"notified":0,"generation":1}' >"$S/dead.state"
	chmod 600 "$S/dead.state"
}
dead_state
cat >"$T/hang.conf" <<EOF
notify_timeout: 1
notify_command: 'sleep 300 & echo \$! >$T/hang.pid; echo started >>$T/hang.log; wait'
EOF
start=$(date +%s)
timeout 60 "$HELPER" --store "$S" --config "$T/hang.conf" status dead >"$T/out" 2>"$T/err"; rc=$?
took=$(( $(date +%s) - start ))
[ $rc -eq 2 ] && [ $took -le 10 ] && grep -q "started" "$T/hang.log" \
	&& ok "status with a hung notify_command returns (exit 2 after $took s, notify_timeout 1)" \
	|| { not_ok "hung notifier: exit $rc after $took s"; diag "$(cat "$T/err")"; }
grep -q "notify_timeout" "$T/err" && ok "the hung notifier is reported, naming notify_timeout" \
	|| { not_ok "no notify_timeout warning"; diag "$(cat "$T/err")"; }
gpid=$(cat "$T/hang.pid" 2>/dev/null)
sleep 0.3
# (a killed process may stay a zombie until its new parent reaps it)
gstate=$(sed 's/^.*) //' "/proc/$gpid/stat" 2>/dev/null | cut -c1)
if [ -n "$gpid" ] && { [ -z "$gstate" ] || [ "$gstate" = Z ]; }; then ok "what the notifier started was stopped too"; else
	not_ok "the notifier's background sleep survived (pid $gpid)"; [ -n "$gpid" ] && kill "$gpid" 2>/dev/null
fi
printf 'notify_timeout: 0\n' >"$T/bad.conf"
expect_fail "notify_timeout 0 is refused" "notify_timeout" "$HELPER" --store "$S" --config "$T/bad.conf" status dead
dead_state
printf 'notify_command: "sleep 2; echo slow-ok >>%s/slow.log"\n' "$T" >"$T/slow.conf"
"$HELPER" --store "$S" --config "$T/slow.conf" status dead >/dev/null 2>&1
grep -q slow-ok "$T/slow.log" 2>/dev/null && ok "a notifier within the default notify_timeout (10 s) runs to its end" \
	|| not_ok "slow notifier did not finish"

done_testing
