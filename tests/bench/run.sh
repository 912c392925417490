#!/bin/sh
# tests/bench/run.sh - `make bench`: start the test OAuth2 server, authorize
# one token against it with the helper (a scripted browser follows the
# redirect), and run tests/bench/bench_access, which prints the table; then
# the cached-login goals side by side with PLAIN and cat (logins.sh).
# Not part of `make check`. BENCH_SECONDS sets the time of each timed loop;
# BENCH_LOGINS, BENCH_ROUNDS and BENCH_PEER_* are described in logins.sh.
# When PostgreSQL 15 can be started (tests/integration/pg_env.sh), the same
# token is also authorized in a private database store for the database
# figures (e), (f), (g).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/server/server.sh"
. "$top_srcdir/tests/integration/env.sh"
. "$top_srcdir/tests/integration/pg_env.sh"

BENCH="$top_builddir/tests/bench/bench_access"
[ -x "$BENCH" ] || { echo "bench: $BENCH is not built; run: make bench" >&2; exit 1; }
oauth_server_start --max-seconds 600 || { echo "bench: the test OAuth2 server did not start" >&2; exit 1; }

S="$T/store-refresh"
umask 077
printf 'confidential-secret\n' >"$T/secret"
printf '# bench: defaults\n' >"$T/bench.conf"
cat >"$T/browser" <<EOS
#!/bin/sh
exec curl -sS --max-time 10 -L "\$1" >/dev/null 2>&1
EOS
chmod 700 "$T/browser"
h() { "$HELPER" --store "$S" --config "$T/bench.conf" "$@"; }
if ! h add bench --template generic --client-id confidential-client --client-secret-file "$T/secret" \
	--set auth_url="$OAUTH_URL/authorize" --set token_url="$OAUTH_URL/token" >/dev/null ||
   ! BROWSER="$T/browser" h authorize bench --timeout 30 >/dev/null </dev/null; then
	echo "bench: cannot authorize the token against the test server" >&2
	exit 1
fi
set --
if [ -x "$PG_BIN/initdb" ] && [ "$(id -u)" -eq 0 ] && pg_start >"$T/pg.out" 2>&1; then
	S="$PG_URI"
	if h init >/dev/null &&
	   h add bench --template generic --client-id confidential-client --client-secret-file "$T/secret" \
		--set auth_url="$OAUTH_URL/authorize" --set token_url="$OAUTH_URL/token" >/dev/null &&
	   BROWSER="$T/browser" h authorize bench --timeout 30 >/dev/null </dev/null; then
		set -- --pg "$PG_URI"
	else
		echo "bench: cannot authorize the token in the database store" >&2
		exit 1
	fi
	S="$T/store-refresh"
else
	echo "bench: PostgreSQL 15 cannot be started here (needs root and postgresql-15): no database figures"
fi
echo "sasl-oauth2 benchmark: $(uname -srm), $(nproc 2>/dev/null || echo '?') CPUs, store in $T"
"$BENCH" --dir "$T" --url "$OAUTH_URL" --store "$S" --token bench --seconds "${BENCH_SECONDS:-1}" "$@" || exit 1
"$top_builddir/tests/bench/bench_jose" --url "$OAUTH_URL" --seconds "${BENCH_SECONDS:-1}" || exit 1
sh "$top_srcdir/tests/bench/tunnel.sh"
. "$top_srcdir/tests/bench/logins.sh"
