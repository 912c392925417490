#!/bin/sh
# tests/cli/test_doctor.sh - doctor's answers on good and broken setups:
# which module libsasl2 will use for XOAUTH2/OAUTHBEARER when another module
# offers them too (a competing test module built in tests/plugin), whether
# the store's owner and Postfix's mail_owner can write the store, and the
# redacted report for bug reports (no secret in it).
. "$top_srcdir/tests/lib.sh"

S="$T/store"
CONF="$T/sasl-oauth2.conf"
: >"$CONF"
h() { "$HELPER" --store "$S" --config "$CONF" "$@"; }
umask 077
COMPETE="$top_builddir/tests/plugin/.libs/libcompete.so"
[ -f "$COMPETE" ] || { not_ok "the competing test module is built ($COMPETE)"; done_testing; exit 1; }
printf 'doctor-test-client-secret-QWERTY\n' >"$T/secret"
h add work --template microsoft-organizations --tenant contoso.onmicrosoft.com --user jane@contoso.test \
	--client-id 0000-doctor-client --client-secret-file "$T/secret" \
	--set token_url=http://127.0.0.1:9/token >/dev/null 2>&1
printf '%s\n' '{"access_token":"at-SECRET-ACCESS-123","token_type":"Bearer","expires_at":4102444800,"refresh_token":"rt-SECRET-REFRESH-456","refresh_expires_at":0,"scope":"x","last_refresh":0,"last_attempt":0,"last_error":null,"refresh_token_dead":false,"access_rejected":false,"notified":0,"generation":1}' >"$S/work.state"
chmod 600 "$S/work.state"

# ---------------------------------------------------------------- competing modules
# Only ours: it is the one libsasl2 uses.
mkdir -p "$T/only" "$T/both"
ln -s "$PLUGIN_DIR/libsasloauth2.so" "$T/only/libsasloauth2.so"
SASL_PATH="$T/only" h doctor >"$T/out" 2>&1
grep -q "^ok  *mechanism XOAUTH2: libsasl2 will use sasloauth2, the only module" "$T/out" &&
	grep -q "^ok  *mechanism OAUTHBEARER: libsasl2 will use sasloauth2" "$T/out" \
	&& ok "doctor: with only our module, libsasl2 uses it for XOAUTH2 and OAUTHBEARER" \
	|| { not_ok "doctor, only ours"; diag "$(cat "$T/out")"; }
# A module like sasl-xoauth2 (NOPLAINTEXT, max_ssf 60) next to ours wins XOAUTH2.
ln -s "$PLUGIN_DIR/libsasloauth2.so" "$T/both/libsasloauth2.so"
ln -s "$COMPETE" "$T/both/libcompete.so"
SASL_PATH="$T/both" h doctor >"$T/out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "^PROBLEM  *mechanism XOAUTH2: libsasl2 will use module compete, not sasl-oauth2's: its security flags (noplaintext,noanonymous) rank before ours" "$T/out" \
	&& ok "doctor: a competing XOAUTH2 module is a problem naming it and why it wins" \
	|| { not_ok "doctor, competing module (exit $rc)"; diag "$(cat "$T/out")"; }
grep "^PROBLEM  *mechanism XOAUTH2" "$T/out" | grep -q "in libsasl2's order: compete (.*), sasloauth2 (.*); remove the other module's package, or point SASL_PATH" \
	&& ok "doctor: it lists the modules in libsasl2's order and says how to fix it" \
	|| { not_ok "doctor: order and fix"; diag "$(cat "$T/out")"; }
grep -q "^ok  *mechanism OAUTHBEARER: libsasl2 will use sasloauth2" "$T/out" \
	&& ok "doctor: OAUTHBEARER, offered by ours alone, stays ok" || { not_ok "OAUTHBEARER"; diag "$(cat "$T/out")"; }

# ---------------------------------------------------------------- report
SASL_PATH="$T/only" h doctor --report >"$T/report" 2>&1
if grep -q "SECRET-ACCESS\|SECRET-REFRESH\|doctor-test-client-secret\|jane@\|0000-doctor-client" "$T/report"; then
	not_ok "doctor --report shows no token, secret, client id or full mailbox"; diag "$(grep -n "SECRET\|secret-QWERTY\|jane@\|0000-doctor" "$T/report")"
else
	ok "doctor --report shows no token, secret, client id or full mailbox"
fi
grep -q "^sasl-oauth2 doctor report (redacted" "$T/report" && grep -q "^token work$" "$T/report" &&
	grep -q "^  template  *microsoft-organizations$" "$T/report" && grep -q "^  user  *j\*\*\*@contoso.test$" "$T/report" &&
	grep -q "^  client_secret  *set (not shown)$" "$T/report" && grep -q "^  token_url  *http://127.0.0.1:9$" "$T/report" &&
	grep -q "^  access token  *present, expires in" "$T/report" && grep -q "^  libsasl2 " "$T/report" &&
	grep -q "^ok  *mechanism XOAUTH2" "$T/report" \
	&& ok "doctor --report: versions, configuration, each token redacted, then the checks" \
	|| { not_ok "doctor --report content"; diag "$(cat "$T/report")"; }

# ---------------------------------------------------------------- Postfix's mail_owner
# A private Postfix configuration (postconf reads $MAIL_CONFIG), so the
# check runs whether or not this machine's Postfix was ever configured.
if [ -x /usr/sbin/postconf ] && id postfix >/dev/null 2>&1; then
	mkdir -p "$T/postfix"
	printf 'mail_owner = postfix\n' >"$T/postfix/main.cf"
	: >"$T/postfix/master.cf"
	MAIL_CONFIG="$T/postfix"
	export MAIL_CONFIG
fi
if [ -x /usr/sbin/postconf ] && owner=$(/usr/sbin/postconf -h mail_owner 2>/dev/null) && id "$owner" >/dev/null 2>&1; then
	SASL_PATH="$T/only" h doctor >"$T/out" 2>&1
	if [ "$(id -u)" -eq 0 ]; then
		grep -q "^PROBLEM  *postfix: Postfix's mail_owner '$owner' cannot write $S .*chown -R $owner: '$S'" "$T/out" \
			&& ok "doctor as root: a store $owner cannot write is a problem with the chown fix" \
			|| { not_ok "mail_owner problem"; diag "$(cat "$T/out")"; }
		chown -R "$owner" "$S"
		SASL_PATH="$T/only" h doctor >"$T/out" 2>&1
		grep -q "^ok  *postfix: mail_owner '$owner' owns $S" "$T/out" && ! grep -q "^PROBLEM  *store" "$T/out" \
			&& ok "doctor as root: a store owned by $owner is fine (root may manage it)" \
			|| { not_ok "mail_owner ok"; diag "$(cat "$T/out")"; }
		chown -R "$(id -u)" "$S"
	else
		grep -q "^note  *postfix: Postfix's mail_owner '$owner' cannot write" "$T/out" \
			&& ok "doctor: a personal store Postfix cannot write is a note" || { not_ok "note"; diag "$(cat "$T/out")"; }
		ok "# SKIP the root case needs root"
	fi
else
	ok "# SKIP Postfix (postconf) is not installed"
	ok "# SKIP Postfix (postconf) is not installed"
fi
unset MAIL_CONFIG
chmod 500 "$S"
SASL_PATH="$T/only" h doctor >"$T/out" 2>&1; rc=$?
chmod 700 "$S"
[ $rc -eq 1 ] && grep -q "^PROBLEM  *store: directory $S cannot be written by its owner (mode 500).*chmod 700" "$T/out" \
	&& ok "doctor: a store its owner cannot write is a problem" || { not_ok "store 0500"; diag "$(cat "$T/out")"; }

done_testing
