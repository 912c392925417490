# tests/integration/pg_env.sh - a private PostgreSQL 15 cluster for the
# tests of the postgresql:// store. Source after tests/lib.sh and env.sh.
#
#   pg_require            skip (77) only when PostgreSQL 15 is not installed
#   pg_start              initdb + pg_ctl start as the `postgres` user: data
#                         and socket directory in a private mktemp directory,
#                         listening on 127.0.0.1 at a free port, scram-sha-256
#                         password authentication; stopped by its own pg_ctl
#                         at exit. Sets PG_PORT, PG_URI (user so2, database
#                         so2, no password: it is in $PGPASSFILE) and exports
#                         PGPASSFILE (a .pgpass for the test user).
#   pg_stop / pg_restart  stop (fast) and start the same cluster again
#   pg_sql 'SQL'          run SQL as the superuser in database so2 (psql -At)
PG_BIN=/usr/lib/postgresql/15/bin

pg_require() {
	[ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] && id postgres >/dev/null 2>&1 ||
		{ echo "1..0 # SKIP PostgreSQL 15 is not installed (run tools/install-deps)"; exit 77; }
	[ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null 2>&1 ||
		{ echo "1..0 # SKIP starting PostgreSQL as the postgres user needs root"; exit 77; }
}

_pg_as() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -n -u postgres -- "$@"; fi
}

_pg_ctl_start() {
	_pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_DIR/sock -c fsync=off -c max_connections=200" \
		start >"$PG_DIR/ctl.out" 2>&1
}

pg_start() {
	PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/so2pg.XXXXXX") || return 1
	mkdir -p "$PG_DIR/sock" || return 1
	PG_PORT=$(free_ports 1)
	_pg_super=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
	_pg_user=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
	printf '%s\n' "$_pg_super" >"$PG_DIR/superpw"
	chown -R postgres "$PG_DIR" && chmod 700 "$PG_DIR" || return 1
	at_exit "pg_cleanup"
	if ! _pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --pwfile="$PG_DIR/superpw" \
		--auth=scram-sha-256 -E UTF8 --no-sync >"$PG_DIR/initdb.out" 2>&1; then
		diag "initdb failed:" "$(tail -5 "$PG_DIR/initdb.out")"
		return 1
	fi
	if ! _pg_ctl_start; then
		diag "pg_ctl start failed:" "$(cat "$PG_DIR/ctl.out")" "$(tail -5 "$PG_DIR/log")"
		return 1
	fi
	# The superuser's password file stays with the cluster; the test user's
	# is the one every tested program reads.
	(umask 077; printf '127.0.0.1:%s:*:postgres:%s\n' "$PG_PORT" "$_pg_super" >"$T/admin.pgpass")
	(umask 077; printf '*:*:*:so2:%s\n' "$_pg_user" >"$T/pgpass")
	export PGPASSFILE="$T/pgpass"
	PGPASSFILE="$T/admin.pgpass" psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
		-v ON_ERROR_STOP=1 -c "CREATE ROLE so2 LOGIN PASSWORD '$_pg_user'" \
		-c "CREATE DATABASE so2 OWNER so2" >"$PG_DIR/setup.out" 2>&1 ||
		{ diag "creating the test role failed:" "$(cat "$PG_DIR/setup.out")"; return 1; }
	PG_URI="postgresql://so2@127.0.0.1:$PG_PORT/so2"
	return 0
}

pg_sql() {
	PGPASSFILE="$T/admin.pgpass" psql -X -q -At -h 127.0.0.1 -p "$PG_PORT" -U postgres -d so2 \
		-v ON_ERROR_STOP=1 -c "$1"
}

pg_stop() {
	_pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null 2>&1
}

pg_restart() {
	_pg_ctl_start || { diag "pg_ctl start failed:" "$(cat "$PG_DIR/ctl.out")"; return 1; }
}

pg_cleanup() {
	if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR" ]; then
		[ -f "$PG_DIR/data/postmaster.pid" ] &&
			_pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1
		rm -rf "$PG_DIR"
	fi
}
