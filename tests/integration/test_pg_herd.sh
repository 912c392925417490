#!/bin/sh
# tests/integration/test_pg_herd.sh - a herd across machines: three
# configurations (three "machines", each with its own configuration file and
# its own spelling of the database URI, one of them a multi-host URI whose
# first host is down) share one PostgreSQL store; 10 imtest clients each log
# in to Dovecot at the same time with one expired token. The row lock must
# turn the 30 logins into exactly one refresh request, the rotated refresh
# token must be stored, and no rotated refresh token may ever be presented
# again (the test server counts replays).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/env.sh"
. "$top_srcdir/tests/server/server.sh"
. "$top_srcdir/tests/integration/pg_env.sh"

pg_require
it_require "$DOVECOT" "$IMTEST"
it_require_built
N=10

pg_start || { not_ok "private PostgreSQL starts"; done_testing; exit 1; }
oauth_server_start --max-seconds 300 || { not_ok "test OAuth2 server starts"; done_testing; exit 1; }
dovecot_start || { not_ok "private Dovecot starts"; done_testing; exit 1; }

dead=$(free_ports 1)
printf 'store: "postgresql://so2@127.0.0.1:%s/so2"\n' "$PG_PORT" >"$T/m1.conf"
printf 'store: "postgresql://so2@localhost:%s/so2"\n' "$PG_PORT" >"$T/m2.conf"
printf 'store: "postgresql://so2@127.0.0.1:%s,127.0.0.1:%s/so2?target_session_attrs=read-write"\n' \
	"$dead" "$PG_PORT" >"$T/m3.conf"
m() { _m=$1; shift; SASL_OAUTH2_CONFIG="$T/m$_m.conf" "$HELPER" "$@"; }
check "init from machine 1" m 1 init

oauth_control '{"access_ttl": 3}' >/dev/null
token_add alice "$TEST_USER" --set refresh_margin=1 || { not_ok "token 'alice' authorized"; done_testing; exit 1; }
oauth_control '{"access_ttl": 3600}' >/dev/null
so2 export --with-secrets | m 1 import - >"$T/import.out" 2>&1 &&
	ok "token 'alice' (3 s access token) imported into the database" ||
	{ not_ok "token 'alice' imported into the database"; diag "$(cat "$T/import.out")"; done_testing; exit 1; }
rt0=$(m 2 export --with-secrets alice | sed -n 's/^ *refresh_token: *//p')
sleep 4

r0=$(oauth_count refresh_token)
dovecot_log_mark
pids=""
for mach in 1 2 3; do
	i=1
	while [ $i -le $N ]; do
		printf 'x1 LOGOUT\n' | CLIENT_TIMEOUT=60 cyrus_client "$IMTEST" "$IMAP_PORT" XOAUTH2 \
			"$T/herd-$mach-$i.out" -w alice -o "oauth2_config=$T/m$mach.conf" &
		pids="$pids $!"
		i=$((i + 1))
	done
done
failed=0
for p in $pids; do wait "$p" || failed=$((failed + 1)); done
r1=$(oauth_count refresh_token)
total=$((3 * N))

authed=$(grep -l '^Authenticated\.' "$T"/herd-*.out 2>/dev/null | wc -l)
if [ "$authed" -eq $total ] && [ $failed -eq 0 ]; then ok "$total of $total clients on 3 machines logged in"; else
	not_ok "$total of $total clients on 3 machines logged in ($authed authenticated, $failed failed)"
	for f in "$T"/herd-*.out; do grep -q '^Authenticated\.' "$f" || { diag "$f:" "$(tail -5 "$f")"; break; }; done
fi
logins=$(dovecot_log_since | grep -c "imap-login: Info: Login: user=<$TEST_USER>, method=XOAUTH2")
[ "$logins" -eq $total ] && ok "Dovecot logged $total logins" || not_ok "Dovecot logged $total logins (logged $logins)"
[ "$r1" -eq $((r0 + 1)) ] && ok "exactly one refresh request for $total clients ($r0 -> $r1)" ||
	not_ok "exactly one refresh request for $total clients ($r0 -> $r1)"
rt1=$(m 3 export --with-secrets alice | sed -n 's/^ *refresh_token: *//p')
[ -n "$rt1" ] && [ "$rt1" != "$rt0" ] && ok "the rotated refresh token is stored in the database" ||
	not_ok "the rotated refresh token is stored in the database"
check "machine 3 refreshes with the stored refresh token" m 3 refresh alice
check "machine 2 refreshes after it" m 2 refresh alice
replays=$(oauth_stats | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["refresh_replays"])')
[ "$replays" = 0 ] && ok "no rotated refresh token was ever presented again" ||
	not_ok "no rotated refresh token was ever presented again ($replays replays)"
[ "$(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sasl-oauth2' AND state = 'idle in transaction'")" = 0 ] &&
	ok "no transaction left open" || not_ok "no transaction left open"
done_testing
