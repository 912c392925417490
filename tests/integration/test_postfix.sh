#!/bin/sh
# tests/integration/test_postfix.sh - a private Postfix instance relays mail
# to the private Dovecot's submission service, logging in with XOAUTH2
# through the plugin from a chrooted smtp(8) with nothing copied into the
# chroot; the message must reach the SMTP sink behind Dovecot. A second
# token whose access token expired makes the chrooted smtp(8) refresh.
# With PF_PG=1 (test_pg_postfix.sh) the relay's store is a PostgreSQL
# database instead: connected before the chroot, refreshed through it.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/env.sh"
. "$top_srcdir/tests/server/server.sh"
if [ -n "${PF_PG:-}" ]; then
	. "$top_srcdir/tests/integration/pg_env.sh"
	pg_require
fi

it_require "$DOVECOT" /usr/sbin/postfix /usr/sbin/postconf /usr/lib/postfix/sbin/master pgrep
it_require_built
if [ "$(id -u)" -ne 0 ]; then
	skip_all "a private Postfix instance with a chrooted smtp(8) needs root"
fi
id postfix >/dev/null 2>&1 || missing_tool "the postfix user does not exist (the postfix package creates it)"

oauth_server_start --max-seconds 300 || { not_ok "test OAuth2 server starts"; done_testing; exit 1; }
dovecot_start || { not_ok "private Dovecot starts"; done_testing; exit 1; }

# The relay's store: the secret goes inline (stdin), since a chrooted
# smtp(8) cannot open a client_secret_file by path.
TOKEN_SECRET_STDIN=1 token_add alice "$TEST_USER" ||
	{ not_ok "token 'alice' authorized"; done_testing; exit 1; }
ok "token 'alice' authorized"
# 'short' gets a 3 s access token: its first use must refresh in the chroot.
oauth_control '{"access_ttl": 3}' >/dev/null
TOKEN_SECRET_STDIN=1 token_add short "$TEST_USER" --set refresh_margin=1 ||
	{ not_ok "token 'short' authorized"; done_testing; exit 1; }
oauth_control '{"access_ttl": 3600}' >/dev/null
ok "token 'short' authorized with a 3 s access token"
# 'long' has a 2 KB access token, as real ones are.
oauth_control '{"token_length": 2048}' >/dev/null
TOKEN_SECRET_STDIN=1 token_add long "$TEST_USER" ||
	{ not_ok "token 'long' authorized"; done_testing; exit 1; }
oauth_control '{"token_length": 0}' >/dev/null
ok "token 'long' authorized with a 2 KB access token"
# smtp(8) runs as the mail owner: the store is the relay's, owned by postfix.
chown -R postfix:postfix "$STORE"
PF_STORE=$STORE PF_ENV=""
if [ -n "${PF_PG:-}" ]; then
	pg_start || { not_ok "private PostgreSQL starts"; done_testing; exit 1; }
	"$HELPER" --store "$PG_URI" init >/dev/null &&
		so2 export --with-secrets | "$HELPER" --store "$PG_URI" import - >"$T/pg-import.out" 2>&1 ||
		{ not_ok "tokens moved into PostgreSQL"; diag "$(cat "$T/pg-import.out")"; done_testing; exit 1; }
	ok "tokens moved into PostgreSQL; the relay uses $PG_URI"
	chown postfix "$PGPASSFILE"
	PF_STORE=$PG_URI PF_ENV="PGPASSFILE=$PGPASSFILE"
fi

PF="$T/postfix"
# master(8) opens data_directory files as the mail owner.
chmod 711 "$T"
mkdir -p "$PF/queue" "$PF/data"
chown postfix:postfix "$PF/data"
set -- $(free_ports 1)
INJ_PORT=$1

# pf_main TOKEN [PORT]: (re)write main.cf for relaying with TOKEN to
# 127.0.0.1:PORT (default: Dovecot's submission).
pf_main() {
	_pf_port=${2:-$SUBM_PORT}
	cat >"$PF/main.cf" <<EOF
# Private test instance written by tests/integration/test_postfix.sh
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.example.test
mydomain = example.test
myorigin = example.test
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
biff = no
smtputf8_enable = no
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
relayhost = [127.0.0.1]:$_pf_port
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = inline:{ [127.0.0.1]:$_pf_port=$TEST_USER:$1 }
smtp_sasl_mechanism_filter = xoauth2
smtp_sasl_security_options = noanonymous
smtp_tls_security_level = none
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C SASL_PATH=$PLUGIN_DIR SASL_OAUTH2_STORE=$PF_STORE SASL_OAUTH2_TEMPLATES=$SASL_OAUTH2_TEMPLATES $PF_ENV $SAN_ENV
EOF
}
pf_main alice
# smtp(8) and relay(8) run chrooted (column 5 = y) in $PF/queue.
cat >"$PF/master.cf" <<EOF
127.0.0.1:$INJ_PORT inet n - n - - smtpd
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       y       -       -       smtp
relay     unix  -       -       y       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF

pf_stop() {
	timeout 20 postfix -c "$PF" stop >/dev/null 2>&1
	_pp=$(cat "$PF/queue/pid/master.pid" 2>/dev/null | tr -d ' ')
	[ -n "$_pp" ] || return 0
	_i=0
	while kill -0 "$_pp" 2>/dev/null && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
	kill -9 "$_pp" 2>/dev/null
	return 0
}
pf_log() { diag "---- postfix maillog" "$(tail -n "${1:-30}" "$PF/maillog" 2>/dev/null)"; }

if timeout 60 postfix -c "$PF" check >"$T/pf-check.out" 2>&1 &&
	timeout 60 postfix -c "$PF" start >"$T/pf-start.out" 2>&1; then
	at_exit pf_stop
	# Bounded lifetime even if this shell is killed with SIGKILL.
	watchdog "${IT_MAX_SECONDS:-600}" "postfix -c '$PF' stop"
	ok "private Postfix instance started"
else
	at_exit pf_stop
	not_ok "private Postfix instance started"; diag "$(cat "$T/pf-check.out" "$T/pf-start.out")"; pf_log
	done_testing; exit 1
fi
if wait_port "$INJ_PORT" 20; then ok "Postfix smtpd listens on 127.0.0.1:$INJ_PORT"; else
	not_ok "Postfix smtpd listens on 127.0.0.1:$INJ_PORT"; pf_log; done_testing; exit 1
fi
# Nothing of the plugin or the store is inside the chroot.
if [ -z "$(find "$PF/queue" -name 'libsasloauth2*' -o -name '*.state' -o -name '*.yaml' 2>/dev/null)" ]; then
	ok "the chroot holds no plugin, store or config file"
else
	not_ok "the chroot holds no plugin, store or config file"
fi

# inject SUBJECT: hand a message to Postfix's smtpd.
inject() {
	"$PYTHON3" - "$INJ_PORT" "$1" "$TEST_USER" <<'EOF'
import smtplib, sys
port, subject, sender = int(sys.argv[1]), sys.argv[2], sys.argv[3]
msg = ("From: %s\r\nTo: bob@example.test\r\nSubject: %s\r\n\r\n"
       "relayed by Postfix through sasl-oauth2\r\n" % (sender, subject))
with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
    s.sendmail(sender, ["bob@example.test"], msg)
EOF
}
sink_has() { grep -l "Subject: $1" "$SINK_DIR"/msg-*.eml >/dev/null 2>&1; }

# ---- a valid token
dovecot_log_mark
if inject "so2 postfix one" 2>"$T/inject1.err"; then ok "Postfix accepted message one"; else
	not_ok "Postfix accepted message one"; diag "$(cat "$T/inject1.err")"
fi
if wait_until 30 sink_has "so2 postfix one"; then
	ok "message one was relayed through Dovecot submission to the sink"
else
	not_ok "message one was relayed through Dovecot submission to the sink"; pf_log; dovecot_log 20
fi
dovecot_log_wait "submission-login: Info: Login: user=<$TEST_USER>, method=XOAUTH2" &&
	ok "Dovecot logged Postfix's XOAUTH2 login" || { not_ok "Dovecot logged Postfix's XOAUTH2 login"; dovecot_log 20; }
grep -q 'status=sent' "$PF/maillog" 2>/dev/null && ok "Postfix logged status=sent" || { not_ok "Postfix logged status=sent"; pf_log; }
# The smtp(8) that delivered it is still idle: its root is the chroot.
mpid=$(tr -d ' ' <"$PF/queue/pid/master.pid" 2>/dev/null)
chrooted=""
for p in $(pgrep -P "$mpid" 2>/dev/null); do
	[ "$(cat "/proc/$p/comm" 2>/dev/null)" = smtp ] || continue
	[ "$(readlink "/proc/$p/root")" = "$PF/queue" ] && chrooted=yes
done
[ -n "$chrooted" ] && ok "the delivering smtp(8) runs chrooted in $PF/queue" ||
	not_ok "the delivering smtp(8) runs chrooted in $PF/queue"

# ---- an expired token: the chrooted smtp(8) refreshes it
sleep 3
pf_main short
timeout 30 postfix -c "$PF" reload >/dev/null 2>&1
sleep 1
r0=$(oauth_count refresh_token)
at0=$(state_field short access_token | sha256sum)
dovecot_log_mark
inject "so2 postfix two" 2>"$T/inject2.err" || diag "$(cat "$T/inject2.err")"
if wait_until 30 sink_has "so2 postfix two"; then
	ok "with an expired access token, message two was relayed too"
else
	not_ok "with an expired access token, message two was relayed too"; pf_log; dovecot_log 20
fi
r1=$(oauth_count refresh_token)
[ "$r1" -eq $((r0 + 1)) ] && ok "the chrooted smtp(8) refreshed exactly once ($r0 -> $r1)" ||
	{ not_ok "the chrooted smtp(8) refreshed exactly once ($r0 -> $r1)"; pf_log; }
# The refreshed state was written through the store opened before chroot.
if [ -n "${PF_PG:-}" ]; then
	"$HELPER" --store "$PG_URI" token short >/dev/null 2>&1 && [ "$(oauth_count refresh_token)" -eq "$r1" ] &&
		ok "the refreshed state is in the database (valid, no further refresh)" ||
		not_ok "the refreshed state is in the database (valid, no further refresh)"
else
	# The state file holds a new access token (the whole store already
	# belonged to postfix, so the owner alone proves nothing).
	at1=$(state_field short access_token | sha256sum)
	[ "$at1" != "$at0" ] && ok "the chrooted smtp(8) stored the refreshed access token" ||
		not_ok "the chrooted smtp(8) stored the refreshed access token (state file unchanged)"
	st_owner=$(stat -c %U "$STORE/short.state" 2>/dev/null)
	[ "$st_owner" = postfix ] && ok "the refreshed state file belongs to the mail owner" ||
		not_ok "the refreshed state file belongs to the mail owner (owner: $st_owner)"
fi

# ---- a 2 KB token through a recording relay: the AUTH line would exceed
# 512 octets (RFC 4954 section 4), so the wire must show "AUTH XOAUTH2"
# alone, the server's "334", then the token. The plugin withholds the
# initial response (tests/plugin/test_plugin.c proves that for the services
# smtp and relay); Postfix 3.7 was seen to split a long one by itself too.
LTOKEN=$(state_field long access_token)
tcp_record_start "$SUBM_PORT"
pf_main long "$REC_PORT"
timeout 30 postfix -c "$PF" reload >/dev/null 2>&1
sleep 1
dovecot_log_mark
inject "so2 postfix three" 2>"$T/inject3.err" || diag "$(cat "$T/inject3.err")"
if wait_until 30 sink_has "so2 postfix three"; then
	ok "with a 2 KB token, message three was relayed"
else
	not_ok "with a 2 KB token, message three was relayed"; pf_log; dovecot_log 20
fi
rec=$(grep -l '^AUTH ' "$REC_DIR"/conn-*.c2s 2>/dev/null | head -n 1)
c2s=$(tr -d '\r' <"${rec:-/dev/null}")
s2c=$(tr -d '\r' <"${rec%.c2s}.s2c" 2>/dev/null)
al=$(printf '%s\n' "$c2s" | grep -m1 '^AUTH ')
[ "$al" = "AUTH XOAUTH2" ] && ok "Postfix, 2 KB token: 'AUTH XOAUTH2' alone" ||
	{ not_ok "Postfix, 2 KB token: 'AUTH XOAUTH2' alone"; diag "first AUTH line: $(printf '%.80s' "$al")"; }
printf '%s\n' "$s2c" | grep -qx '334 *' && ok "Postfix, 2 KB token: the server's 334 continuation" ||
	{ not_ok "Postfix, 2 KB token: the server's 334 continuation"; diag "$(printf '%s\n' "$s2c" | tail -5)"; }
ir=$(printf '%s\n' "$c2s" | sed -n '/^AUTH XOAUTH2$/{n;p;q;}')
printf '%s' "$ir" | base64 -d >"$T/ir.bin" 2>/dev/null
printf "user=$TEST_USER\001auth=Bearer $LTOKEN\001\001" >"$T/want.bin"
[ ${#LTOKEN} -eq 2048 ] && cmp -s "$T/ir.bin" "$T/want.bin" &&
	ok "Postfix, 2 KB token: then the token on its own line" ||
	{ not_ok "Postfix, 2 KB token: then the token on its own line"; diag "token length ${#LTOKEN}"; }
dovecot_log_wait "submission-login: Info: Login: user=<$TEST_USER>, method=XOAUTH2" &&
	ok "Dovecot logged the split XOAUTH2 login" || { not_ok "Dovecot logged the split XOAUTH2 login"; dovecot_log 20; }

done_testing
