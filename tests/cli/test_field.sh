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
