# tests/server/server.sh - shell functions to run the test OAuth2 server.
#
# Source after tests/lib.sh (it needs $T, at_exit, diag, wait_for_file):
#   . "$top_srcdir/tests/lib.sh"
#   . "$top_srcdir/tests/server/server.sh"
#   oauth_server_start [--access-ttl N] [--device-interval N] ...
# sets OAUTH_PORT, OAUTH_URL and OAUTH_LOG (the JSON-lines request log).
# Every curl call is bounded by --max-time.
#
# Where the server is as strict as a certified one (details in the header
# of oauth2_server.py):
# - POST /introspect requires client authentication (RFC 7662 2.1): use
#   the resource-server client $OAUTH_INTROSPECT_ID / $OAUTH_INTROSPECT_SECRET
#   (dovecot-client / dovecot-secret, client_secret_basic, registered for
#   introspection only) or any confidential client; otherwise 401
#   invalid_client with WWW-Authenticate. oauth_introspect TOKEN does it.
#   A Dovecot passdb gets the credentials in the userinfo of
#   introspection_url (tests/integration/env.sh writes that).
# - Refresh tokens rotate, with reuse detection: a rotated (old) refresh
#   token presented again is invalid_grant and revokes the whole grant, its
#   current refresh token and its access tokens included. Tests must not
#   replay an old refresh token unless that is what they test.

: "${OAUTH_CURL_MAX_TIME:=10}"
OAUTH_INTROSPECT_ID=dovecot-client
OAUTH_INTROSPECT_SECRET=dovecot-secret
_oauth_n=0
# PIDs already reaped by oauth_server_wait: never signalled again at exit,
# the number may belong to another process by then.
_oauth_reaped=" "

# oauth_server_start [extra args]: start a server in the background, stop it
# at exit, wait (bounded) until it listens.
oauth_server_start() {
	_oauth_n=$((_oauth_n + 1))
	_oauth_dir="$T/oauth-server.$_oauth_n"
	mkdir -p "$_oauth_dir" || return 1
	OAUTH_LOG="$_oauth_dir/requests.log"
	: >"$OAUTH_LOG"
	"${PYTHON3:-python3}" "$top_srcdir/tests/server/oauth2_server.py" \
		--port 0 --port-file "$_oauth_dir/port" --log "$OAUTH_LOG" \
		--max-seconds 1800 "$@" \
		>"$_oauth_dir/server.out" 2>&1 &
	OAUTH_PID=$!
	at_exit "_oauth_stop $OAUTH_PID"
	if ! wait_for_file "$_oauth_dir/port" 15; then
		diag "test OAuth2 server did not start:" "$(cat "$_oauth_dir/server.out")"
		return 1
	fi
	OAUTH_PORT=$(cat "$_oauth_dir/port")
	OAUTH_URL="http://127.0.0.1:$OAUTH_PORT"
	export OAUTH_PORT OAUTH_URL OAUTH_LOG
}

# _oauth_stop PID: the at_exit hook; a server already reaped is left alone.
_oauth_stop() {
	case $_oauth_reaped in *" $1 "*) return 0 ;; esac
	kill "$1" 2>/dev/null
}

# oauth_server_wait PID SECONDS: wait until the server PID (started by
# oauth_server_start in this shell) exits; returns its exit status. A
# watchdog kills it with SIGKILL after SECONDS (status 137), so the wait is
# bounded however loaded the machine is.
oauth_server_wait() {
	(
		trap - EXIT
		trap 'kill $_ow_sleep 2>/dev/null; exit 0' TERM
		sleep "$2" &
		_ow_sleep=$!
		wait $_ow_sleep && kill -9 "$1" 2>/dev/null
	) >/dev/null 2>&1 &
	_ow_dog=$!
	wait "$1"
	_ow_rc=$?
	_oauth_reaped="$_oauth_reaped$1 "
	kill "$_ow_dog" 2>/dev/null
	wait "$_ow_dog" 2>/dev/null
	return $_ow_rc
}

# oauth_introspect TOKEN: POST /introspect as the resource server
# (client_secret_basic); prints the JSON answer, fails unless 200.
oauth_introspect() {
	curl -sS --fail --max-time "$OAUTH_CURL_MAX_TIME" \
		-u "$OAUTH_INTROSPECT_ID:$OAUTH_INTROSPECT_SECRET" \
		--data-urlencode "token=$1" "$OAUTH_URL/introspect"
}

# oauth_control 'JSON': POST to /control; quiet on success, non-zero on error.
oauth_control() {
	_oauth_out=$(curl -sS --max-time "$OAUTH_CURL_MAX_TIME" -X POST \
		-H 'Content-Type: application/json' --data-binary "$1" \
		-w '\n%{http_code}' "$OAUTH_URL/control") || return 1
	case "$_oauth_out" in
	*"
200") return 0 ;;
	*) echo "oauth_control failed: $_oauth_out" >&2; return 1 ;;
	esac
}

# oauth_stats: print the /stats JSON.
oauth_stats() {
	curl -sS --fail --max-time "$OAUTH_CURL_MAX_TIME" "$OAUTH_URL/stats"
}

# oauth_count GRANT_TYPE: how many /token requests with that grant_type
# were received (whatever they were answered). When /stats does not answer
# it prints a word that differs on every call, so that a check comparing
# two counts with = cannot pass on two failures.
oauth_count() {
	oauth_stats | "${PYTHON3:-python3}" -c '
import json, sys
print(json.load(sys.stdin)["grant_types"].get(sys.argv[1], 0))' "$1" ||
		echo "no-stats-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
}

# oauth_approve_device USER_CODE [USER]
oauth_approve_device() {
	curl -sS --fail --max-time "$OAUTH_CURL_MAX_TIME" -o /dev/null \
		--data-urlencode "user_code=$1" \
		--data-urlencode "user=${2:-alice@example.test}" \
		"$OAUTH_URL/device/approve"
}

# oauth_deny_device USER_CODE
oauth_deny_device() {
	curl -sS --fail --max-time "$OAUTH_CURL_MAX_TIME" -o /dev/null \
		--data-urlencode "user_code=$1" "$OAUTH_URL/device/deny"
}
