# tests/integration/env.sh - shell library for the integration tests and
# tools/demo: a private Dovecot 2.3 (IMAP, POP3, submission) on free loopback
# ports that validates OAuth2 tokens against the test OAuth2 server, a
# loopback SMTP sink behind Dovecot's submission relay, and helpers to create
# and authorize tokens with the built sasl-oauth2 helper.
#
# Source after tests/lib.sh (which provides $T, at_exit, ok, ...) and
# tests/server/server.sh (oauth_server_start sets $OAUTH_URL):
#   . "$top_srcdir/tests/integration/env.sh"
# Everything started here binds 127.0.0.1, has a bounded lifetime and is
# stopped by PID at exit.

if [ -z "${_tap_n+set}" ]; then
	. "$top_srcdir/tests/lib.sh"
fi
# A test killed by timeout(1) or the harness must still stop its servers:
# turn the signals into an exit so the EXIT trap runs the at_exit hooks.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
: "${PYTHON3:=python3}"
CYRUS_BIN=/usr/lib/cyrus/bin
IMTEST=$CYRUS_BIN/imtest
POP3TEST=$CYRUS_BIN/pop3test
SMTPTEST=$CYRUS_BIN/smtptest
DOVECOT=/usr/sbin/dovecot
STORE="$T/store"
TEST_USER=alice@example.test
# A test-only secret of the test server's registered confidential client.
TEST_CLIENT_ID=confidential-client
TEST_CLIENT_SECRET=confidential-secret
# Dovecot's client at the introspection endpoint (the test server's
# resource-server registration; test-only secret).
INTROSPECT_CLIENT_ID=${OAUTH_INTROSPECT_ID:-dovecot-client}
INTROSPECT_CLIENT_SECRET=${OAUTH_INTROSPECT_SECRET:-dovecot-secret}

# A sanitizer build (--enable-sanitizers) links the plugin against the
# ASan/UBSan runtimes, which must be loaded first into the uninstrumented
# clients and daemons that dlopen it. SAN_PRELOAD is empty otherwise; leak
# detection stays off there (the clients' own leaks are not ours; valgrind
# and tests/plugin check the plugin's).
# The runtimes are followed by tests/integration/asan_initfirst.c, built with
# -z initfirst: it brings ASan up before the hosts' library constructors run.
# Without it, ASan initializes lazily inside libp11-kit's constructor (Cyrus
# clients) while newlocale holds glibc's locale lock, and the lock ends up
# corrupted: the next newlocale (json-c parsing the token state) hangs.
SAN_PRELOAD=""
if [ -f "$PLUGIN_DIR/libsasloauth2.so" ]; then
	SAN_PRELOAD=$(ldd "$PLUGIN_DIR/libsasloauth2.so" 2>/dev/null |
		awk '/lib(asan|ubsan)\.so/ { printf "%s%s", sep, $3; sep = ":" }')
fi
SAN_INITFIRST="$top_builddir/tests/integration/.libs/libasan_initfirst.so"
if [ -n "$SAN_PRELOAD" ]; then
	SAN_PRELOAD="$SAN_PRELOAD:$SAN_INITFIRST"
	SAN_ENV="LD_PRELOAD=$SAN_PRELOAD ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0"
else
	SAN_ENV=""
fi

# it_require BINARY...: skip the whole script when a server or client binary
# is missing (tools/install-deps installs them all on Debian); a failure in
# strict mode (see require_tool in tests/lib.sh).
it_require() { require_tool "$@"; }

# it_require_built: the helper and the plugin must have been built; that is a
# failure, not a reason to skip.
it_require_built() {
	_miss=""
	[ -x "$HELPER" ] || _miss="$_miss $HELPER"
	[ -f "$PLUGIN_DIR/libsasloauth2.so" ] || _miss="$_miss $PLUGIN_DIR/libsasloauth2.so"
	[ -z "$SAN_PRELOAD" ] || [ -f "$SAN_INITFIRST" ] || _miss="$_miss $SAN_INITFIRST"
	if [ -n "$_miss" ]; then
		echo "1..1"
		echo "not ok 1 - not built:$_miss (run make first)"
		exit 1
	fi
}

# free_ports N: print N distinct free 127.0.0.1 TCP ports, one a line. All
# sockets are held open together so the ports differ.
free_ports() {
	"$PYTHON3" -c '
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
for s in socks:
    s.close()
' "$1"
}

# wait_port PORT [SECONDS]: bounded wait until 127.0.0.1:PORT accepts.
wait_port() {
	"$PYTHON3" -c '
import socket, sys, time
port, limit = int(sys.argv[1]), float(sys.argv[2])
end = time.time() + limit
while time.time() < end:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
' "$1" "${2:-10}"
}

# wait_until SECONDS COMMAND...: bounded poll until COMMAND succeeds.
wait_until() {
	_wu_max=$(( $1 * 10 )); shift
	_wu_i=0
	while ! "$@" >/dev/null 2>&1; do
		_wu_i=$((_wu_i + 1))
		[ $_wu_i -ge $_wu_max ] && return 1
		sleep 0.1
	done
	return 0
}

# watchdog SECONDS COMMAND: run COMMAND after SECONDS unless this test
# exits first (the watchdog and its sleep are stopped at exit).
watchdog() {
	(
		trap 'kill $_wd_sleep 2>/dev/null; exit 0' TERM
		sleep "$1" &
		_wd_sleep=$!
		wait $_wd_sleep && eval "$2"
	) >/dev/null 2>&1 &
	at_exit "kill $! 2>/dev/null"
}

# b64dec: decode base64 from stdin to stdout.
b64dec() {
	"$PYTHON3" -c 'import base64, sys; sys.stdout.buffer.write(base64.b64decode(sys.stdin.read().strip()))'
}
# b64enc: base64 of stdin, one line.
b64enc() {
	"$PYTHON3" -c 'import base64, sys; print(base64.b64encode(sys.stdin.buffer.read()).decode())'
}

# ---------------------------------------------------------------- SMTP sink
# smtp_sink_start: start the sink; sets SINK_PORT, SINK_DIR, SINK_LOG.
smtp_sink_start() {
	SINK_DIR="$T/sink"
	SINK_LOG="$T/sink.log"
	mkdir -p "$SINK_DIR"
	rm -f "$T/sink.port"
	"$PYTHON3" "$top_srcdir/tests/integration/smtp_sink.py" \
		--port-file "$T/sink.port" --dir "$SINK_DIR" --log "$SINK_LOG" \
		--max-seconds "${IT_MAX_SECONDS:-600}" >>"$T/sink.out" 2>&1 &
	SINK_PID=$!
	at_exit "kill $SINK_PID 2>/dev/null; wait $SINK_PID 2>/dev/null"
	if ! wait_for_file "$T/sink.port" 10; then
		diag "SMTP sink did not start:" "$(cat "$T/sink.out" 2>/dev/null)"
		return 1
	fi
	SINK_PORT=$(cat "$T/sink.port")
}

# sink_count: how many messages the sink stored.
sink_count() {
	ls "$SINK_DIR" 2>/dev/null | grep -c '^msg-.*\.eml$'
}
# wait_sink_count N [SECONDS]: bounded wait for at least N stored messages.
_sink_has() { [ "$(sink_count)" -ge "$1" ]; }
wait_sink_count() { wait_until "${2:-15}" _sink_has "$1"; }

# ---------------------------------------------------------------- TLS
# tls_ca_make: a private CA and certificates under $T/tls, made with
# openssl at test time (nothing is checked in). Sets:
#   TLS_CA                 the CA certificate (PEM) clients must trust
#   TLS_CERT, TLS_KEY      server certificate for localhost, 127.0.0.1 and
#                          dovecot.example.test, signed by TLS_CA
#   TLS_WRONG_CERT/_KEY    signed by TLS_CA for wrong.example.test only
#                          (a name mismatch for 127.0.0.1 and localhost)
#   TLS_ROGUE_CERT/_KEY    for localhost and 127.0.0.1, signed by another CA
#                          that nobody trusts (an unknown CA)
#   TLS_EXPIRED_CERT/_KEY  for localhost and 127.0.0.1, signed by TLS_CA,
#                          valid only in January 2020
# Idempotent within one test.
tls_ca_make() {
	TLS_DIR="$T/tls"
	TLS_CA="$TLS_DIR/ca.pem"
	TLS_CERT="$TLS_DIR/server.pem" TLS_KEY="$TLS_DIR/server.key"
	TLS_WRONG_CERT="$TLS_DIR/wrong.pem" TLS_WRONG_KEY="$TLS_DIR/wrong.key"
	TLS_ROGUE_CERT="$TLS_DIR/rogue.pem" TLS_ROGUE_KEY="$TLS_DIR/rogue.key"
	TLS_EXPIRED_CERT="$TLS_DIR/expired.pem" TLS_EXPIRED_KEY="$TLS_DIR/expired.key"
	[ -s "$TLS_EXPIRED_CERT" ] && return 0
	mkdir -p "$TLS_DIR" || return 1
	(
		set -e
		cd "$TLS_DIR"
		_tls_ca ca "so2 test CA"
		_tls_ca rogue-ca "so2 rogue CA"
		_tls_leaf server ca "DNS:localhost,IP:127.0.0.1,DNS:dovecot.example.test"
		_tls_leaf wrong ca "DNS:wrong.example.test"
		_tls_leaf rogue rogue-ca "DNS:localhost,IP:127.0.0.1"
		_tls_expired
	) >"$TLS_DIR/make.out" 2>&1 || {
		diag "tls_ca_make: openssl failed:" "$(tail -20 "$TLS_DIR/make.out")"
		return 1
	}
	# Dovecot's login processes read the key as root before dropping
	# privileges; the test user's own processes read them directly.
	chmod 600 "$TLS_DIR"/*.key
	return 0
}

# _tls_ca NAME CN: a self-signed CA NAME.pem / NAME.key (EC P-256).
_tls_ca() {
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1.key" -out "$1.pem" -days 30 -subj "/CN=$2" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign"
}

# _tls_leaf NAME CA SAN: NAME.pem / NAME.key signed by CA for the SAN list.
_tls_leaf() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1.key" -out "$1.csr" -subj "/CN=${3%%,*}"
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
		"$3" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial \
		-days 30 -extfile "$1.ext" -out "$1.pem"
}

# _tls_expired: expired.pem, signed by ca with dates in the past (openssl ca
# is the only openssl 3.0 command that sets both dates).
_tls_expired() {
	mkdir -p ca-db
	: >ca-db/index.txt
	echo 01 >ca-db/serial
	cat >ca-db/ca.cnf <<'EOC'
[ ca ]
default_ca = so2
[ so2 ]
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db
default_md = sha256
policy = any
copy_extensions = none
x509_extensions = leaf
[ any ]
commonName = supplied
[ leaf ]
subjectAltName = DNS:localhost,IP:127.0.0.1
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
EOC
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout expired.key -out expired.csr -subj "/CN=localhost"
	openssl ca -batch -config ca-db/ca.cnf -cert ca.pem -keyfile ca.key \
		-startdate 20200101000000Z -enddate 20200131000000Z \
		-in expired.csr -out expired.pem -notext
}

# tls_server_start CERT KEY: a bare TLS server (openssl s_server) on a free
# port with that certificate, for handshake failure tests; sets
# TLS_SRV_PORT. It answers any number of handshakes until the test exits.
tls_server_start() {
	TLS_SRV_PORT=$(free_ports 1)
	openssl s_server -quiet -accept "127.0.0.1:$TLS_SRV_PORT" -cert "$1" -key "$2" \
		</dev/null >>"$T/tls_server.out" 2>&1 &
	_tsp=$!
	at_exit "kill $_tsp 2>/dev/null; wait $_tsp 2>/dev/null"
	watchdog "${IT_MAX_SECONDS:-600}" "kill $_tsp"
	wait_port "$TLS_SRV_PORT" 10 || {
		diag "openssl s_server did not start:" "$(cat "$T/tls_server.out")"
		return 1
	}
}

# ---------------------------------------------------------------- Dovecot
# dovecot_start: write a private configuration under $T/dovecot and start
# Dovecot on free ports. Needs $OAUTH_URL (Dovecot introspects at
# $OAUTH_URL/introspect as $INTROSPECT_CLIENT_ID unless the URL names a
# user itself); starts the SMTP sink when it is not
# running yet. Sets IMAP_PORT, POP3_PORT, SUBM_PORT, DOVECOT_DIR, DOVECOT_LOG,
# MAIL_DIR (homes are $MAIL_DIR/<user>).
# With DOVECOT_TLS=1 (set before the call) Dovecot also speaks TLS with the
# certificate of tls_ca_make (made here when needed; clients trust $TLS_CA):
# STARTTLS/STLS on IMAP_PORT and POP3_PORT, and implicit TLS (993/995-style)
# on IMAPS_PORT and POP3S_PORT; TLS 1.2 or later.
dovecot_start() {
	# A free port can be taken between the probe and Dovecot's bind: one
	# retry with other ports.
	if _dovecot_start_once; then return 0; fi
	diag "dovecot_start: retrying once with other ports"
	dovecot_stop
	_dovecot_start_once
}

_dovecot_start_once() {
	if [ -z "${OAUTH_URL:-}" ]; then
		diag "dovecot_start: OAUTH_URL is not set; start the test OAuth2 server first"
		return 1
	fi
	[ -n "${SINK_PORT:-}" ] || smtp_sink_start || return 1
	DOVECOT_DIR="$T/dovecot"
	DOVECOT_LOG="$DOVECOT_DIR/dovecot.log"
	MAIL_DIR="$T/mail"
	mkdir -p "$DOVECOT_DIR/run" "$DOVECOT_DIR/state" "$MAIL_DIR"
	set -- $(free_ports 5)
	IMAP_PORT=$1 POP3_PORT=$2 SUBM_PORT=$3
	IMAPS_PORT=0 POP3S_PORT=0
	_dv_ssl="ssl = no"
	_dv_ports="$IMAP_PORT $POP3_PORT $SUBM_PORT"
	if [ "${DOVECOT_TLS:-0}" = 1 ]; then
		tls_ca_make || return 1
		IMAPS_PORT=$4 POP3S_PORT=$5
		_dv_ssl="ssl = yes
ssl_cert = <$TLS_CERT
ssl_key = <$TLS_KEY
ssl_min_protocol = TLSv1.2"
		_dv_ports="$_dv_ports $IMAPS_PORT $POP3S_PORT"
	fi

	if [ "$(id -u)" -eq 0 ]; then
		_dv_user=dovecot
		_dv_uid=dovecot _dv_gid=dovecot
		_dv_extra=""
		_dv_chroot=""
		# The mail processes run as 'dovecot' and must reach $T/mail.
		chmod 711 "$T"
		chown dovecot:dovecot "$MAIL_DIR"
	else
		_dv_user=$(id -un)
		_dv_uid=$(id -u) _dv_gid=$(id -g)
		_dv_extra="default_login_user = $_dv_user
default_internal_user = $_dv_user
default_internal_group = $(id -gn)
service anvil {
  chroot =
}"
		_dv_chroot="chroot ="
	fi

	# RFC 7662 2.1: the introspection endpoint requires client
	# authentication. Dovecot 2.3 sends the userinfo of introspection_url
	# as HTTP Basic, so the resource server's credentials go there, unless
	# OAUTH_URL already carries some (another provider's client).
	case ${OAUTH_URL#*://} in
	*@*) _dv_introspect="$OAUTH_URL/introspect" ;;
	*) _dv_introspect="${OAUTH_URL%%://*}://${INTROSPECT_CLIENT_ID}:${INTROSPECT_CLIENT_SECRET}@${OAUTH_URL#*://}/introspect" ;;
	esac
	cat >"$DOVECOT_DIR/dovecot-oauth2.conf.ext" <<EOF
introspection_mode = post
introspection_url = $_dv_introspect
username_attribute = username
active_attribute = active
active_value = true
force_introspection = yes
timeout_msecs = 10000
EOF
	cat >"$DOVECOT_DIR/dovecot.conf" <<EOF
# Private test instance written by tests/integration/env.sh
protocols = imap pop3 submission
listen = 127.0.0.1
base_dir = $DOVECOT_DIR/run
state_dir = $DOVECOT_DIR/state
instance_name = so2test-$$
log_path = $DOVECOT_LOG
auth_verbose = yes
auth_debug = no
$_dv_ssl
disable_plaintext_auth = no
auth_mechanisms = xoauth2 oauthbearer
hostname = dovecot.example.test
postmaster_address = postmaster@example.test
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $DOVECOT_DIR/dovecot-oauth2.conf.ext
}
userdb {
  driver = static
  args = uid=$_dv_uid gid=$_dv_gid home=$MAIL_DIR/%u
}
mail_location = maildir:~/Maildir
first_valid_uid = 100
# test_herd.sh logs in 20 times at once as one user from one address.
mail_max_userip_connections = 100
# Tests fail logins on purpose: answer them at once (the next login from
# the same address still waits for Dovecot's auth penalty, about 4 s).
auth_failure_delay = 0
$_dv_extra
submission_relay_host = 127.0.0.1
submission_relay_port = $SINK_PORT
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
  }
  $_dv_chroot
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $POP3_PORT
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $POP3S_PORT
  }
  $_dv_chroot
}
service submission-login {
  inet_listener submission {
    address = 127.0.0.1
    port = $SUBM_PORT
  }
  $_dv_chroot
}
EOF
	if ! "$DOVECOT" -c "$DOVECOT_DIR/dovecot.conf" >"$DOVECOT_DIR/start.out" 2>&1; then
		diag "dovecot failed to start:" "$(cat "$DOVECOT_DIR/start.out")"
		dovecot_log
		return 1
	fi
	at_exit dovecot_stop
	# Bounded lifetime even if this shell is killed with SIGKILL.
	_dv_pidf="$DOVECOT_DIR/run/master.pid"
	watchdog "${IT_MAX_SECONDS:-600}" "[ -s '$_dv_pidf' ] && kill \$(cat '$_dv_pidf')"
	for _p in $_dv_ports; do
		if ! wait_port "$_p" 15; then
			diag "dovecot is not listening on 127.0.0.1:$_p"
			dovecot_log
			return 1
		fi
	done
	return 0
}

# dovecot_stop: stop the instance through its master.pid (bounded wait).
dovecot_stop() {
	_pidf="$DOVECOT_DIR/run/master.pid"
	[ -s "$_pidf" ] || return 0
	_dpid=$(cat "$_pidf")
	kill "$_dpid" 2>/dev/null || return 0
	_i=0
	while kill -0 "$_dpid" 2>/dev/null && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
	kill -0 "$_dpid" 2>/dev/null && kill -9 "$_dpid" 2>/dev/null
	rm -f "$_pidf"
	return 0
}

# dovecot_log [LINES]: show the end of Dovecot's log as TAP diagnostics.
dovecot_log() {
	[ -f "${DOVECOT_LOG:-}" ] || return 0
	diag "---- dovecot log (last ${1:-40} lines)" "$(tail -n "${1:-40}" "$DOVECOT_LOG")"
}

# dovecot_log_mark: remember the log size; dovecot_log_since prints what was
# logged after the mark.
dovecot_log_mark() { DOVECOT_LOG_MARK=$(wc -c <"$DOVECOT_LOG" 2>/dev/null || echo 0); }
dovecot_log_since() { tail -c +$(( ${DOVECOT_LOG_MARK:-0} + 1 )) "$DOVECOT_LOG" 2>/dev/null; }
# dovecot_log_wait PATTERN [SECONDS]: bounded wait (default 10 s) for a line
# matching PATTERN since the mark. Dovecot writes its log after it answers
# the client, so a client that finished does not mean the line is there.
dovecot_log_wait() {
	_lw_i=0 _lw_max=$(( ${2:-10} * 10 ))
	while ! dovecot_log_since | grep -q -- "$1"; do
		[ $_lw_i -ge $_lw_max ] && return 1
		sleep 0.1
		_lw_i=$((_lw_i + 1))
	done
}

# dovecot_deliver USER FILE: put a message straight into USER's Maildir/new.
dovecot_deliver() {
	_md="$MAIL_DIR/$1/Maildir"
	mkdir -p "$_md/new" "$_md/cur" "$_md/tmp"
	_f="$_md/new/$(date +%s).$$_$(od -An -N4 -tu4 /dev/urandom | tr -d ' ').so2test"
	cp "$2" "$_f"
	[ "$(id -u)" -eq 0 ] && chown -R dovecot:dovecot "$MAIL_DIR/$1"
	return 0
}

# ---------------------------------------------------------------- tokens
# so2: run the built helper on the test store.
so2() { "$HELPER" --store "$STORE" "$@"; }

# store_init: create the private token store and the client secret file.
store_init() {
	mkdir -p "$STORE"
	chmod 700 "$STORE"
	if [ ! -f "$T/client-secret" ]; then
		(umask 077; printf '%s' "$TEST_CLIENT_SECRET" >"$T/client-secret")
	fi
	if [ ! -x "$T/browser" ]; then
		# The scripted browser follows the provider's redirect to the
		# helper's loopback listener, which completes the consent.
		cat >"$T/browser" <<'EOF'
#!/bin/sh
exec curl -sS --max-time 10 -o /dev/null -L "$1"
EOF
		chmod 755 "$T/browser"
	fi
}

# token_add NAME USER [EXTRA HELPER ADD ARGS...]: create a token with the
# generic template pointed at the test server and authorize it as USER.
token_add() {
	_tn=$1 _tu=$2; shift 2
	store_init
	# TOKEN_SECRET_STDIN=1: the secret is read from stdin and kept in the
	# store instead of being referenced by path.
	_tsf="$T/client-secret"
	[ -n "${TOKEN_SECRET_STDIN:-}" ] && _tsf=-
	if ! so2 add "$_tn" --template generic --user "$_tu" \
		--client-id "$TEST_CLIENT_ID" --client-secret-file "$_tsf" \
		--set "auth_url=$OAUTH_URL/authorize" \
		--set "token_url=$OAUTH_URL/token" \
		--set "revoke_url=$OAUTH_URL/revoke" \
		--set "device_url=$OAUTH_URL/device_authorization" \
		--set "auth_params.login_hint=$_tu" \
		"$@" <"$T/client-secret" >"$T/token_add.out" 2>&1; then
		diag "sasl-oauth2 add $_tn failed:" "$(cat "$T/token_add.out")"
		return 1
	fi
	if ! BROWSER="$T/browser" timeout 30 "$HELPER" --store "$STORE" \
		authorize "$_tn" --timeout 20 </dev/null >"$T/token_auth.out" 2>&1; then
		diag "sasl-oauth2 authorize $_tn failed:" "$(cat "$T/token_auth.out")"
		return 1
	fi
	return 0
}

# state_field NAME KEY: print one key of the token's state file.
state_field() {
	"$PYTHON3" -c '
import json, sys
with open(sys.argv[1]) as f:
    v = json.load(f).get(sys.argv[2])
print("" if v is None else v)
' "$STORE/$1.state" "$2"
}

# ---------------------------------------------------------------- clients
# tcp_record_start TARGET_PORT: a recording relay in front of TARGET_PORT;
# sets REC_PORT and REC_DIR (conn-N.c2s / conn-N.s2c per connection).
tcp_record_start() {
	_rn=${_rn:-0}; _rn=$((_rn + 1))
	REC_DIR="$T/rec$_rn"
	mkdir -p "$REC_DIR"
	"$PYTHON3" "$top_srcdir/tests/integration/tcp_record.py" \
		--port-file "$REC_DIR.port" --target "$1" --dir "$REC_DIR" \
		--max-seconds "${IT_MAX_SECONDS:-600}" >>"$T/rec.out" 2>&1 &
	_rpid=$!
	at_exit "kill $_rpid 2>/dev/null; wait $_rpid 2>/dev/null"
	wait_for_file "$REC_DIR.port" 10 || return 1
	REC_PORT=$(cat "$REC_DIR.port")
}

# cyrus_client TOOL PORT MECH OUT [ARGS...]: run imtest/pop3test/smtptest
# (verbose) against 127.0.0.1:PORT as $TEST_USER (or $CLIENT_AUTHNAME) with MECH through the built
# plugin; stdin is passed on; output (both streams) goes to OUT. Succeeds
# when the client says "Authenticated.".
cyrus_client() {
	_cc_tool=$1 _cc_port=$2 _cc_mech=$3 _cc_out=$4; shift 4
	env $SAN_ENV SASL_PATH="$PLUGIN_DIR" timeout "${CLIENT_TIMEOUT:-30}" "$_cc_tool" -v \
		-p "$_cc_port" -m "$_cc_mech" -a "${CLIENT_AUTHNAME:-$TEST_USER}" "$@" 127.0.0.1 \
		>"$_cc_out" 2>&1
	grep -q '^Authenticated\.' "$_cc_out"
}
