#!/bin/sh
# tests/integration/test_pg_store.sh - the postgresql:// store against a
# private PostgreSQL 15: the URI rules (no password in it), `init` (schema
# created, idempotent, required), a multi-host URI whose first host is down,
# migration from a file store with `export --with-secrets | import`, a
# database outage under a running process (cached token keeps working, a
# clear temporary failure within http_timeout, no new consent afterwards),
# and a reconnect inside a chroot with nothing copied into it.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/env.sh"
. "$top_srcdir/tests/server/server.sh"
. "$top_srcdir/tests/integration/pg_env.sh"

pg_require
DRIVER="$top_builddir/tests/integration/store_driver"
[ -x "$DRIVER" ] || { echo "1..1"; echo "not ok 1 - $DRIVER not built (run make check)"; exit 1; }

pg_start || { not_ok "private PostgreSQL starts"; done_testing; exit 1; }
ok "private PostgreSQL on 127.0.0.1:$PG_PORT with scram-sha-256"
oauth_server_start || { not_ok "test OAuth2 server starts"; done_testing; exit 1; }
printf 'http_timeout: 4\n' >"$T/so2.conf"
export SASL_OAUTH2_CONFIG="$T/so2.conf"
pgs() { "$HELPER" --store "$PG_URI" "$@"; }

# ---- the URI
pw_uri="postgresql://so2:hunter2-pw@127.0.0.1:$PG_PORT/so2"
if "$HELPER" --store "$pw_uri" list >"$T/pw.out" 2>&1; then
	not_ok "a URI with a password is refused"
else
	grep -q 'pgpass' "$T/pw.out" && ! grep -q 'hunter2-pw' "$T/pw.out" &&
		ok "a URI with a password is refused, pointing to ~/.pgpass, without echoing it" ||
		{ not_ok "a URI with a password is refused, pointing to ~/.pgpass"; diag "$(cat "$T/pw.out")"; }
fi
if SASL_OAUTH2_STORE="postgresql://so2@127.0.0.1:$PG_PORT/so2?password=hunter2-pw" "$HELPER" list \
	>"$T/pw2.out" 2>&1; then
	not_ok "a password given as a URI parameter is refused too"
else
	grep -q 'pgpass' "$T/pw2.out" && ok "a password given as a URI parameter is refused too" ||
		{ not_ok "a password given as a URI parameter is refused too"; diag "$(cat "$T/pw2.out")"; }
fi

# ---- init
if pgs list >"$T/noschema.out" 2>&1; then
	not_ok "a database without the schema is refused"
else
	grep -q 'sasl-oauth2 --store URI init' "$T/noschema.out" &&
		ok "a database without the schema is refused, saying to run init" ||
		{ not_ok "a database without the schema is refused, saying to run init"; diag "$(cat "$T/noschema.out")"; }
fi
check "init creates the schema" pgs init
check "init again changes nothing (idempotent)" pgs init
[ "$(pg_sql 'SELECT version FROM sasl_oauth2_schema')" = 1 ] &&
	ok "the schema version table holds version 1" || not_ok "the schema version table holds version 1"
pg_sql "INSERT INTO sasl_oauth2_schema (version) VALUES (99)"
if pgs list >"$T/newer.out" 2>&1; then not_ok "a newer schema is refused"; else
	grep -q 'newer than this sasl-oauth2' "$T/newer.out" && ok "a newer schema is refused" ||
		{ not_ok "a newer schema is refused"; diag "$(cat "$T/newer.out")"; }
fi
pg_sql "DELETE FROM sasl_oauth2_schema WHERE version = 99"
dir_store="$T/made-by-init"
"$HELPER" --store "$dir_store" init >/dev/null 2>&1 &&
	[ "$(stat -c %a "$dir_store")" = 700 ] && ok "init makes a 0700 directory store" ||
	not_ok "init makes a 0700 directory store"

# ---- migration from a file store
token_add alice "$TEST_USER" || { not_ok "token 'alice' authorized in a file store"; done_testing; exit 1; }
a0=$(oauth_count authorization_code)
r0=$(oauth_count refresh_token)
so2 token alice >"$T/file-token" 2>/dev/null
if so2 export --with-secrets | pgs import - >"$T/import.out" 2>&1; then
	ok "export --with-secrets | import moves the token into PostgreSQL"
else
	not_ok "export --with-secrets | import moves the token into PostgreSQL"; diag "$(cat "$T/import.out")"
fi
pgs token alice >"$T/pg-token" 2>"$T/pg-token.err"
cmp -s "$T/file-token" "$T/pg-token" && [ -s "$T/pg-token" ] &&
	ok "the database store hands out the same access token, no request made" ||
	{ not_ok "the database store hands out the same access token"; diag "$(cat "$T/pg-token.err")"; }
check "a refresh through the database works with the migrated refresh token" pgs refresh alice
[ "$(oauth_count authorization_code)" -eq "$a0" ] && [ "$(oauth_count refresh_token)" -eq $((r0 + 1)) ] &&
	ok "no new consent: one refresh, no authorization" || not_ok "no new consent: one refresh, no authorization"
pgs export --with-secrets >"$T/back.yaml" 2>&1 && "$HELPER" --store "$T/back" import "$T/back.yaml" >/dev/null 2>&1 &&
	"$HELPER" --store "$T/back" token alice >/dev/null 2>&1 &&
	ok "and back: database to file store" || not_ok "and back: database to file store"

# ---- several hosts: the first one is down
dead=$(free_ports 1)
ha_uri="postgresql://so2@127.0.0.1:$dead,127.0.0.1:$PG_PORT/so2?target_session_attrs=read-write"
"$HELPER" --store "$ha_uri" token alice >/dev/null 2>"$T/ha.err" &&
	ok "a multi-host URI skips a first host that is down (target_session_attrs=read-write)" ||
	{ not_ok "a multi-host URI skips a first host that is down"; diag "$(cat "$T/ha.err")"; }

# ---- outage under a running process
mkfifo "$T/drv.in"
SASL_OAUTH2_STORE="$PG_URI" "$DRIVER" <"$T/drv.in" >"$T/drv.out" 2>"$T/drv.err" &
DRV_PID=$!
exec 3>"$T/drv.in"
at_exit "exec 3>&-; kill $DRV_PID 2>/dev/null"
# drv CMD: send a command, print its one-line answer (bounded wait).
drv() {
	_dn=$(( $(wc -l <"$T/drv.out") + 1 ))
	echo "$1" >&3
	wait_until 30 sh -c "[ \$(wc -l <'$T/drv.out') -ge $_dn ]" || { echo "timeout"; return; }
	sed -n "${_dn}p" "$T/drv.out"
}
wait_until 15 grep -q ready "$T/drv.out" || diag "driver: $(cat "$T/drv.out" "$T/drv.err")"
[ "$(drv 'token alice')" = ok ] && ok "a running process gets the token from the database" ||
	not_ok "a running process gets the token from the database"
pg_stop
# Within the 5 s re-check time a valid cached token needs no database at
# all: no attempt is made (an attempt would fail and log the fallback).
[ "$(drv 'token alice')" = ok ] && ! grep -q 'using the values read' "$T/drv.err" &&
	ok "a valid cached token is handed out with no database round trip" ||
	not_ok "a valid cached token is handed out with no database round trip"
sleep 6 # beyond the 5 s re-check time: the process must try the database
[ "$(drv 'token alice')" = ok ] && ok "database down: the running process keeps using its valid token" ||
	{ not_ok "database down: the running process keeps using its valid token"; diag "$(tail -3 "$T/drv.err")"; }
start=$(date +%s)
if pgs token alice >"$T/down.out" 2>&1; then not_ok "database down: a new process fails"; else
	took=$(( $(date +%s) - start ))
	grep -q 'unreachable' "$T/down.out" && grep -q 'temporary' "$T/down.out" && [ "$took" -le 5 ] &&
		ok "database down: a new process fails at once with a clear temporary failure (${took}s)" ||
		{ not_ok "database down: clear temporary failure within http_timeout (${took}s)"; diag "$(cat "$T/down.out")"; }
fi
ans=$(drv 'refresh alice')
case $ans in
"err -9 "*unreachable*) ok "database down: a due refresh is a temporary failure (TS_ENET)" ;;
*) not_ok "database down: a due refresh is a temporary failure (TS_ENET)"; diag "$ans" ;;
esac
# The database comes back on the same address, reachable with what the
# process read before it entered a chroot that holds nothing.
mkdir "$T/jail"
[ "$(drv "chroot $T/jail")" = ok ] || not_ok "driver enters an empty chroot"
pg_restart || not_ok "PostgreSQL restarts"
r1=$(oauth_count refresh_token)
ans=$(drv 'refresh alice')
[ "$ans" = ok ] && ok "database back: the process in an empty chroot reconnects and refreshes" ||
	{ not_ok "database back: the process in an empty chroot reconnects and refreshes"; diag "$ans" "$(tail -3 "$T/drv.err")"; }
[ "$(oauth_count refresh_token)" -eq $((r1 + 1)) ] && ok "exactly one refresh request for it" ||
	not_ok "exactly one refresh request for it"
grep -q 'reconnected' "$T/drv.err" && ok "the reconnect is logged" || not_ok "the reconnect is logged"
check "database back: a new process works, no new consent" pgs token alice
[ "$(oauth_count authorization_code)" -eq "$a0" ] && [ "$(oauth_stats | grep -o '"refresh_replays": [0-9]*')" = '"refresh_replays": 0' ] &&
	ok "no consent and no replayed refresh token across the outage" ||
	not_ok "no consent and no replayed refresh token across the outage"

# ---- an edit made elsewhere is seen within the re-check time (5 s)
pgs edit alice --set validity=invalid >/dev/null 2>&1
sleep 6
case $(drv 'token alice') in
"err -12 "*) ok "validity: invalid set elsewhere is seen by a running process within 5 s" ;;
*) not_ok "validity: invalid set elsewhere is seen by a running process within 5 s" ;;
esac
# A jwt_bearer token keeps one state per mailbox (key NAME#HASH): those rows
# go with the token.
pg_sql "INSERT INTO sasl_oauth2_tokens (name, state) VALUES ('alice#0123456789abcdef0123456789abcdef', '{}')" >/dev/null
pgs remove alice >/dev/null 2>&1 && [ "$(pg_sql "SELECT count(*) FROM sasl_oauth2_tokens WHERE name LIKE 'alice%'")" = 0 ] &&
	ok "remove takes the token's per-mailbox state rows with it" ||
	not_ok "remove takes the token's per-mailbox state rows with it"
exec 3>&-
done_testing
