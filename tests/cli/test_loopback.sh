#!/bin/sh
# tests/cli/test_loopback.sh - the loopback listener of `authorize` under
# attack by other local processes (security review finding 7): a redirect
# with a wrong state (a forgery or an old tab) gets 400 and the wait goes on
# until the real redirect; connections held open by a slowloris client never
# keep the browser's redirect out.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/server/server.sh"

if ! oauth_server_start --access-ttl 60; then
	not_ok "test OAuth2 server starts"
	done_testing
	exit 1
fi
S="$T/store"
: >"$T/empty.conf"
h() { "$HELPER" --store "$S" --config "$T/empty.conf" "$@"; }
umask 077
printf 'confidential-secret\n' >"$T/conf.secret"
add() {
	h add "$1" --template generic --client-id confidential-client \
		--client-secret-file "$T/conf.secret" --set auth_url="$OAUTH_URL/authorize" \
		--set token_url="$OAUTH_URL/token" >/dev/null
}

# A browser that first sends a forged redirect (the real one with another
# state), then the real one; it records both HTTP status codes.
cat >"$T/browser-forge" <<EOF
#!/bin/sh
loc=\$(curl -sS --max-time 10 -o /dev/null -w '%{redirect_url}' "\$1")
bad=\$(printf '%s' "\$loc" | sed 's/state=[^&]*/state=forged-state/')
{
	curl -sS --max-time 10 -o /dev/null -w '%{http_code} ' "\$bad"
	curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "\$loc"
} >"$T/forge.codes" 2>>"$T/browser.log"
EOF
# A browser that only ever sends the forged redirect.
cat >"$T/browser-forge-only" <<EOF
#!/bin/sh
loc=\$(curl -sS --max-time 10 -o /dev/null -w '%{redirect_url}' "\$1")
bad=\$(printf '%s' "\$loc" | sed 's/state=[^&]*/state=forged-state/')
curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "\$bad" >"$T/forge-only.codes" 2>>"$T/browser.log"
EOF
# A browser whose redirect arrives while another local process holds
# $HOLD connections to the listener open (more than it has slots).
HOLD=100
cat >"$T/browser-held" <<EOF
#!/bin/sh
loc=\$(curl -sS --max-time 10 -o /dev/null -w '%{redirect_url}' "\$1")
port=\$(printf '%s' "\$loc" | sed -n 's|^http://127.0.0.1:\([0-9]*\)/.*|\1|p')
"$PYTHON3" "$top_srcdir/tests/cli/loopback_hold.py" "\$port" $HOLD "$T/hold.ready" 2>>"$T/hold.log" &
echo \$! >"$T/hold.pid"
i=0
while [ ! -s "$T/hold.ready" ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done
sleep 0.5
curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "\$loc" >"$T/held.codes" 2>>"$T/browser.log"
EOF
chmod 700 "$T/browser-forge" "$T/browser-forge-only" "$T/browser-held"

# ---------------------------------------------------------------- forged state
add forge
BROWSER="$T/browser-forge" h authorize forge --timeout 30 >"$T/out" 2>"$T/err" </dev/null; rc=$?
[ $rc -eq 0 ] && [ "$(cat "$T/forge.codes")" = "400 200" ] && [ -s "$S/forge.state" ] \
	&& ok "a redirect with a wrong state gets 400, and the real one after it is accepted" \
	|| { not_ok "forged then real redirect (exit $rc)"; diag "codes: $(cat "$T/forge.codes" 2>/dev/null)" "$(cat "$T/err")"; }

add forgeonly
BROWSER="$T/browser-forge-only" h authorize forgeonly --timeout 4 >"$T/out" 2>"$T/err" </dev/null; rc=$?
[ $rc -ne 0 ] && [ "$(cat "$T/forge-only.codes")" = 400 ] && [ ! -e "$S/forgeonly.state" ] \
	&& ok "a forged redirect alone does not end the wait; the timeout does, nothing stored" \
	|| { not_ok "forged redirect alone (exit $rc)"; diag "codes: $(cat "$T/forge-only.codes" 2>/dev/null)" "$(cat "$T/err")"; }
[ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "^sasl-oauth2: forgeonly: .*within 4 s.*1 redirect with a wrong state ignored" "$T/err" \
	&& ok "the timeout message counts the ignored redirect, on one line" \
	|| { not_ok "timeout message after a forged redirect"; diag "$(cat "$T/err")"; }

# ---------------------------------------------------------------- slowloris
add held
BROWSER="$T/browser-held" h authorize held --timeout 40 >"$T/out" 2>"$T/err" </dev/null; rc=$?
[ -s "$T/hold.pid" ] && kill "$(cat "$T/hold.pid")" 2>/dev/null
if [ -s "$T/hold.ready" ]; then
	ok "the slowloris client held $HOLD connections"
else
	not_ok "the slowloris client held $HOLD connections"; diag "$(cat "$T/hold.log" 2>/dev/null)"
fi
[ $rc -eq 0 ] && [ "$(cat "$T/held.codes" 2>/dev/null)" = 200 ] && [ -s "$S/held.state" ] \
	&& ok "the redirect is accepted while $HOLD idle connections are held" \
	|| { not_ok "redirect under slowloris (exit $rc)"; diag "code: $(cat "$T/held.codes" 2>/dev/null)" "$(cat "$T/err")"; }

done_testing
