#!/bin/sh
# tests/integration/test_valgrind.sh - imtest runs under valgrind with the
# plugin loaded and logs in to Dovecot: with a cached token (XOAUTH2 and
# OAUTHBEARER), with an expired token (refresh through libcurl inside the
# plugin) and with a token the server rejects (error challenge). Valgrind must
# report no memory errors and no definite leaks; suppressions, in
# valgrind.supp, cover only libraries that are not ours.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/env.sh"
. "$top_srcdir/tests/server/server.sh"

it_require "$DOVECOT" "$IMTEST" valgrind
it_require_built
[ -z "$SAN_PRELOAD" ] || skip_all "valgrind cannot run the ASan-instrumented plugin of a sanitizer build"

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
	printf 'x1 LOGOUT\n' | SASL_PATH="$PLUGIN_DIR" timeout 120 valgrind -q \
		--leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
		--error-exitcode=99 --num-callers=30 \
		--suppressions="$top_srcdir/tests/integration/valgrind.supp" \
		--log-file="$T/vg-$_l.log" \
		"$IMTEST" -v -p "$IMAP_PORT" -m "$_m" -a "$TEST_USER" -w "$_tok" \
		-o "oauth2_store=$STORE" 127.0.0.1 >"$T/vg-$_l.out" 2>&1
	_rc=$?
	if [ "$_want" = ok ]; then
		grep -q '^Authenticated\.' "$T/vg-$_l.out" && ok "$_l: imtest under valgrind logged in" ||
			{ not_ok "$_l: imtest under valgrind logged in"; diag "$(tail -15 "$T/vg-$_l.out")"; }
	else
		grep -q '^Authenticated\.' "$T/vg-$_l.out" && not_ok "$_l: the rejected login failed" ||
			ok "$_l: the rejected login failed"
	fi
	if [ $_rc -ne 99 ] && [ $_rc -ne 124 ] && ! grep -qE 'Invalid (read|write|free)|uninitialised|definitely lost' "$T/vg-$_l.log"; then
		ok "$_l: valgrind reports no errors and no definite leaks"
	else
		not_ok "$_l: valgrind reports no errors and no definite leaks (exit $_rc)"
		diag "$(head -80 "$T/vg-$_l.log")"
	fi
	if grep -qE 'libsasloauth2|: (ts|oa2|mech|plug)_[A-Za-z0-9_]+ \(' "$T/vg-$_l.log"; then
		not_ok "$_l: no valgrind report points into the plugin"
		diag "$(grep -B3 -A20 -m3 -E 'libsasloauth2|: (ts|oa2|mech|plug)_[A-Za-z0-9_]+ \(' "$T/vg-$_l.log" | head -60)"
	else
		ok "$_l: no valgrind report points into the plugin"
	fi
}

vg_imtest xoauth2 XOAUTH2 alice
vg_imtest oauthbearer OAUTHBEARER alice
sleep 3
r0=$(oauth_count refresh_token)
vg_imtest refresh XOAUTH2 short
r1=$(oauth_count refresh_token)
[ "$r1" -eq $((r0 + 1)) ] && ok "refresh: the plugin refreshed once under valgrind" ||
	not_ok "refresh: the plugin refreshed once under valgrind ($r0 -> $r1)"
oauth_control '{"expire_access_tokens": true}' >/dev/null
vg_imtest rejected-xoauth2 XOAUTH2 alice fail
vg_imtest rejected-oauthbearer OAUTHBEARER short fail

done_testing
