#!/bin/sh
# test_margin_floor.sh - a template's refresh_margin is a floor under the
# global margin (Microsoft's HVE refuses tokens that expire within 10
# minutes, so its templates ask for 900 s): a token without a margin of its
# own counts as due that early, in the helper, in the context's cache and
# on the slow path alike; a token's own refresh_margin still wins.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/server/server.sh"

oauth_server_start --access-ttl 600 || { echo "Bail out! the test OAuth2 server did not start"; exit 1; }
TPL="$T/templates"
mkdir -m 700 "$TPL"
cp "$top_srcdir"/templates/*.yaml "$TPL/"
{
	echo "name: floor"
	echo "description: a provider whose servers want tokens valid for 15 more minutes"
	echo "token_url: $OAUTH_URL/token"
	echo "client_auth: basic"
	echo "flow: client_credentials"
	echo "refresh_margin: 900"
} >"$TPL/floor.yaml"
chmod 600 "$TPL"/*.yaml
export SASL_OAUTH2_TEMPLATES="$TPL"
S="$T/store"
printf 'refresh_margin: 300\n' >"$T/conf"
chmod 600 "$T/conf"
printf 'confidential-secret\n' >"$T/secret"
chmod 600 "$T/secret"
h() { "$HELPER" --store "$S" --config "$T/conf" "$@"; }
cc=client_credentials

check "add a token of a template with refresh_margin 900" h add hve --template floor \
	--client-id confidential-client --client-secret-file "$T/secret" --user a@example.test
check "add the same with its own refresh_margin 0" h add own --template floor \
	--client-id confidential-client --client-secret-file "$T/secret" --user a@example.test \
	--set refresh_margin=0
check "authorize hve (a token valid for 600 s)" h authorize hve
check "authorize own" h authorize own
# The state files must be older than the cache's settle time to be cached.
sleep 3
n0=$(oauth_count $cc)
t1=$(h token hve 2>"$T/err")
[ "$(oauth_count $cc)" -eq $((n0 + 1)) ] && [ -n "$t1" ] &&
	ok "600 s left is due under the template's 900 s floor: token fetches a new one" ||
	{ not_ok "floor ignored: $(( $(oauth_count $cc) - n0 )) requests"; diag "$(cat "$T/err")"; }
n0=$(oauth_count $cc)
h token own >/dev/null 2>"$T/err"
[ "$(oauth_count $cc)" -eq "$n0" ] &&
	ok "a token's own refresh_margin wins over the template's floor: the cached token is used" ||
	{ not_ok "own margin: $(( $(oauth_count $cc) - n0 )) requests"; diag "$(cat "$T/err")"; }
# Right after a write the cache does not trust the stamps: the slow path
# must apply the floor too.
n0=$(oauth_count $cc)
h refresh hve >/dev/null 2>&1
h token hve >/dev/null 2>"$T/err"
[ "$(oauth_count $cc)" -eq $((n0 + 2)) ] &&
	ok "the slow path (a state just written) applies the floor as well" ||
	{ not_ok "slow path: $(( $(oauth_count $cc) - n0 )) requests"; diag "$(cat "$T/err")"; }
h status hve >"$T/out" 2>&1
done_testing
