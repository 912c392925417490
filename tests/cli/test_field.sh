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

done_testing
