#!/bin/sh
# tests/integration/test_herd.sh - a thundering herd: 20 imtest clients log
# in at the same time with one expired token. The store's per-token lock must
# turn that into exactly one refresh request, and every client logs in.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/env.sh"
. "$top_srcdir/tests/server/server.sh"

it_require "$DOVECOT" "$IMTEST"
it_require_built
N=20

oauth_server_start --max-seconds 300 || { not_ok "test OAuth2 server starts"; done_testing; exit 1; }
dovecot_start || { not_ok "private Dovecot starts"; done_testing; exit 1; }

oauth_control '{"access_ttl": 3}' >/dev/null
token_add alice "$TEST_USER" --set refresh_margin=1 || { not_ok "token 'alice' authorized"; done_testing; exit 1; }
oauth_control '{"access_ttl": 3600}' >/dev/null
ok "token 'alice' authorized with a 3 s access token"
sleep 4

r0=$(oauth_count refresh_token)
dovecot_log_mark
i=1
pids=""
while [ $i -le $N ]; do
	printf 'x1 LOGOUT\n' | CLIENT_TIMEOUT=60 cyrus_client "$IMTEST" "$IMAP_PORT" XOAUTH2 "$T/herd-$i.out" \
		-w alice -o "oauth2_store=$STORE" &
	pids="$pids $!"
	i=$((i + 1))
done
failed=0
for p in $pids; do wait "$p" || failed=$((failed + 1)); done
r1=$(oauth_count refresh_token)

authed=$(grep -l '^Authenticated\.' "$T"/herd-*.out 2>/dev/null | wc -l)
if [ "$authed" -eq $N ] && [ $failed -eq 0 ]; then ok "all $N parallel imtest clients logged in"; else
	not_ok "all $N parallel imtest clients logged in ($authed authenticated, $failed failed)"
	for f in "$T"/herd-*.out; do grep -q '^Authenticated\.' "$f" || { diag "$f:" "$(tail -5 "$f")"; break; }; done
	dovecot_log 20
fi
logins=$(dovecot_log_since | grep -c "imap-login: Info: Login: user=<$TEST_USER>, method=XOAUTH2")
[ "$logins" -eq $N ] && ok "Dovecot logged $N logins" || not_ok "Dovecot logged $N logins (logged $logins)"
if [ "$r1" -eq $((r0 + 1)) ]; then ok "exactly one refresh request for $N clients ($r0 -> $r1)"; else
	not_ok "exactly one refresh request for $N clients ($r0 -> $r1)"
fi
# Every client used the one refreshed token: no rotation race lost it.
if so2 token alice >/dev/null 2>&1 && [ "$(oauth_count refresh_token)" -eq "$r1" ]; then
	ok "the refreshed token is stored and still valid afterwards"
else
	not_ok "the refreshed token is stored and still valid afterwards"
fi
leftovers=$(ls -A "$STORE" | grep -c '\.tmp$')
[ "$leftovers" -eq 0 ] && ok "no temporary files left in the store" || not_ok "no temporary files left in the store ($leftovers)"

done_testing
