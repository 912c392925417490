#!/bin/sh
# tests/integration/test_valgrind.sh - imtest runs under valgrind with the
# plugin loaded and logs in to Dovecot: with a cached token (XOAUTH2 and
# OAUTHBEARER), with an expired token (refresh through libcurl inside the
# plugin) and with a token the server rejects (error challenge). Valgrind must
# report no memory errors and no definite leaks; suppressions, in
# valgrind.supp, cover only libraries that are not ours.
# A sanitizer build's plugin cannot run under valgrind: there the same logins
# run with the ASan runtime preloaded and LeakSanitizer on; no ASan/UBSan
# error may occur, and no leak report may point into the plugin (imtest's
# and libsasl2's own leaks are not ours).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/env.sh"
. "$top_srcdir/tests/server/server.sh"

it_require_built
if [ -n "$SAN_PRELOAD" ]; then
	it_require "$DOVECOT" "$IMTEST"
	CHECKER="ASan/LSan"
	ERRS="ASan/UBSan report no memory errors"
else
	it_require "$DOVECOT" "$IMTEST" valgrind
	CHECKER=valgrind
	ERRS="valgrind reports no errors and no definite leaks"
fi

oauth_server_start --max-seconds 300 || { not_ok "test OAuth2 server starts"; done_testing; exit 1; }
dovecot_start || { not_ok "private Dovecot starts"; done_testing; exit 1; }
token_add alice "$TEST_USER" || { not_ok "token 'alice' authorized"; done_testing; exit 1; }
oauth_control '{"access_ttl": 3}' >/dev/null
token_add short "$TEST_USER" --set refresh_margin=1 || { not_ok "token 'short' authorized"; done_testing; exit 1; }
oauth_control '{"access_ttl": 3600}' >/dev/null
ok "tokens 'alice' and 'short' authorized"

# vg_imtest LABEL MECH TOKEN [EXPECT=ok|fail]
vg_imtest() {
	_l=$1 _m=$2 _tok=$3 _want=${4:-ok}
	if [ "$CHECKER" = valgrind ]; then
		printf 'x1 LOGOUT\n' | SASL_PATH="$PLUGIN_DIR" timeout 120 valgrind -q \
			--leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
			--error-exitcode=99 --num-callers=30 \
			--suppressions="$top_srcdir/tests/integration/valgrind.supp" \
			--log-file="$T/vg-$_l.log" \
			"$IMTEST" -v -p "$IMAP_PORT" -m "$_m" -a "$TEST_USER" -w "$_tok" \
			-o "oauth2_store=$STORE" 127.0.0.1 >"$T/vg-$_l.out" 2>&1
		_rc=$?
	else
		# exitcode=0: imtest's own leaks must not fail the run; errors
		# and leaks are judged from the report.
		printf 'x1 LOGOUT\n' | env LD_PRELOAD="$SAN_PRELOAD" \
			ASAN_OPTIONS="detect_leaks=1:verify_asan_link_order=0:exitcode=0:log_path=$T/asan-$_l" \
			SASL_PATH="$PLUGIN_DIR" timeout 120 \
			"$IMTEST" -v -p "$IMAP_PORT" -m "$_m" -a "$TEST_USER" -w "$_tok" \
			-o "oauth2_store=$STORE" 127.0.0.1 >"$T/vg-$_l.out" 2>&1
		_rc=$?
		cat "$T/asan-$_l".* "$T/vg-$_l.out" >"$T/vg-$_l.log" 2>/dev/null
		grep -qE 'ERROR: AddressSanitizer|runtime error:' "$T/vg-$_l.log" && _rc=99
	fi
	if [ "$_want" = ok ]; then
		grep -q '^Authenticated\.' "$T/vg-$_l.out" && ok "$_l: imtest under $CHECKER logged in" ||
			{ not_ok "$_l: imtest under $CHECKER logged in"; diag "$(tail -15 "$T/vg-$_l.out")"; }
	else
		# Refused by the server after its error challenge, not by a crash,
		# a timeout or a Dovecot that is down.
		if ! grep -q '^Authenticated\.' "$T/vg-$_l.out" && grep -q '^Authentication failed' "$T/vg-$_l.out" &&
			grep -q '^S: + .' "$T/vg-$_l.out" && [ $_rc -ne 124 ] && [ $_rc -lt 128 ]; then
			ok "$_l: the rejected login failed at the server"
		else
			not_ok "$_l: the rejected login failed at the server (exit $_rc)"; diag "$(tail -15 "$T/vg-$_l.out")"
		fi
	fi
	if [ $_rc -ne 99 ] && [ $_rc -ne 124 ] && ! grep -qE 'Invalid (read|write|free)|uninitialised|definitely lost' "$T/vg-$_l.log"; then
		ok "$_l: $ERRS"
	else
		not_ok "$_l: $ERRS (exit $_rc)"
		diag "$(head -80 "$T/vg-$_l.log")"
	fi
	if [ "$CHECKER" = valgrind ]; then
		_ours=$(grep -B3 -A20 -m3 -E 'libsasloauth2|: (ts|oa2|mech|plug)_[A-Za-z0-9_]+ \(' "$T/vg-$_l.log" | head -60)
	else
		# LeakSanitizer blocks ("Direct leak of ...") whose stack has a frame of ours.
		_ours=$(awk -v RS= '/(Direct|Indirect) leak of/ && /libsasloauth2|in (ts|oa2|mech|plug)_[A-Za-z0-9_]+ / { print; print "" }' \
			"$T/vg-$_l.log" | head -60)
	fi
	if [ -n "$_ours" ]; then
		not_ok "$_l: no $CHECKER report points into the plugin"
		diag "$_ours"
	else
		ok "$_l: no $CHECKER report points into the plugin"
	fi
}

vg_imtest xoauth2 XOAUTH2 alice
vg_imtest oauthbearer OAUTHBEARER alice
sleep 3
r0=$(oauth_count refresh_token)
vg_imtest refresh XOAUTH2 short
r1=$(oauth_count refresh_token)
[ "$r1" -eq $((r0 + 1)) ] && ok "refresh: the plugin refreshed once under $CHECKER" ||
	not_ok "refresh: the plugin refreshed once under $CHECKER ($r0 -> $r1)"
oauth_control '{"expire_access_tokens": true}' >/dev/null
vg_imtest rejected-xoauth2 XOAUTH2 alice fail
vg_imtest rejected-oauthbearer OAUTHBEARER short fail

done_testing
