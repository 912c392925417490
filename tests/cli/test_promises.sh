#!/bin/sh
# tests/cli/test_promises.sh - promises of sasl-oauth2(1) and
# sasl-oauth2.conf(5) that the other CLI tests did not exercise (test-quality
# audit §3): the JSON fields of list and status, client secret input (first
# line, CRLF and trailing blanks dropped, empty refused, a terminal prompt
# that does not echo), rotating a client secret with edit, authorize
# --device, --port and a configured redirect_uri, refresh --all skipping an
# invalid token, the proxy key used and proxy variables ignored, and the
# notify_command contract.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/server/server.sh"
# The JSON checks move the clock with SASL_OAUTH2_TEST_NOW: the helper with
# the test hooks.
HELPER=$HELPER_TESTHOOKS

if ! oauth_server_start --access-ttl 3600 --device-interval 1 --device-expires 30; then
	not_ok "test OAuth2 server starts"
	done_testing
	exit 1
fi

S="$T/store"
CONF="$T/sasl-oauth2.conf"
: >"$CONF"
h() { "$HELPER" --store "$S" --config "$CONF" "$@"; }
ENDP="--set auth_url=$OAUTH_URL/authorize --set token_url=$OAUTH_URL/token --set device_url=$OAUTH_URL/device_authorization --set revoke_url=$OAUTH_URL/revoke"
umask 077
printf 'confidential-secret\n' >"$T/right.secret"
printf 'not-the-secret\n' >"$T/wrong.secret"
cat >"$T/browser" <<EOF
#!/bin/sh
exec curl -sS --max-time 20 -L "\$1" >>"$T/browser.log" 2>&1
EOF
chmod 755 "$T/browser"

# A field of a token's state or configuration, read by the test itself.
sfield() { "$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' "$S/$1.state" "$2" 2>/dev/null; }
cfield() { sed -n "s/^$2: *//p" "$S/$1.yaml"; }
free_port() {
	"$PYTHON3" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# authorize_browser NAME [ARGS...]: authorize with the scripted browser.
authorize_browser() {
	_n=$1; shift
	BROWSER="$T/browser" h authorize "$_n" --timeout 30 "$@" >"$T/out" 2>"$T/err" </dev/null
}

# ---------------------------------------------------------------- JSON fields
# shellcheck disable=SC2086
check "add j1" h add j1 --template generic --client-id c --user j1@example.test $ENDP
# shellcheck disable=SC2086
check "add j2" h add j2 --template generic --client-id c $ENDP
printf '%s\n' '{"access_token":"at-j1","token_type":"Bearer","expires_at":2000003600,"refresh_token":"rt-j1","refresh_expires_at":2000086400,"generation":1}' >"$S/j1.state"
NOW=2000000000
SASL_OAUTH2_TEST_NOW=$NOW h list --json >"$T/list.json" 2>"$T/err"; lrc=$?
SASL_OAUTH2_TEST_NOW=$NOW h status --json j1 j2 >"$T/status.json" 2>"$T/err"; src=$?
"$PYTHON3" - "$T/list.json" "$T/status.json" >"$T/json.check" 2>&1 <<'EOF'
import json, sys
lst = {o["name"]: o for o in json.load(open(sys.argv[1]))}
sts = {o["name"]: o for o in json.load(open(sys.argv[2]))}
want_list = {"name", "template", "user", "validity", "expires_at", "refresh_expires_at",
             "has_refresh_token", "status", "level"}
want_status = {"name", "status", "level", "events", "expires_at", "refresh_expires_at"}
bad = []
for n, o in lst.items():
    if not want_list <= set(o):
        bad.append("list %s lacks %s" % (n, sorted(want_list - set(o))))
for n, o in sts.items():
    if not want_status <= set(o):
        bad.append("status %s lacks %s" % (n, sorted(want_status - set(o))))
j1, j2 = lst.get("j1", {}), lst.get("j2", {})
if (j1.get("template"), j1.get("user"), j1.get("validity"), j1.get("expires_at"),
        j1.get("refresh_expires_at"), j1.get("has_refresh_token"), j1.get("level")) != \
        ("generic", "j1@example.test", "valid", 2000003600, 2000086400, True, 1):
    bad.append("list j1: %r" % j1)
if (j2.get("status"), j2.get("level"), j2.get("has_refresh_token"), j2.get("user")) != \
        ("not authorized", 2, False, None):
    bad.append("list j2: %r" % j2)
s1, s2 = sts.get("j1", {}), sts.get("j2", {})
if (s1.get("level"), s1.get("expires_at"), s1.get("refresh_expires_at"), s1.get("events")) != \
        (1, 2000003600, 2000086400, []) or "refresh token expires" not in s1.get("status", ""):
    bad.append("status j1: %r" % s1)
if (s2.get("status"), s2.get("level"), s2.get("expires_at")) != ("not authorized", 2, 0):
    bad.append("status j2: %r" % s2)
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
[ $? -eq 0 ] && [ $lrc -eq 0 ] && ok "list --json: name, template, user, validity, expiries, has_refresh_token, status, level" ||
	{ not_ok "list --json fields (exit $lrc)"; diag "$(cat "$T/json.check" "$T/list.json")"; }
[ $src -eq 2 ] && ! grep -q "status" "$T/json.check" && ok "status --json: name, status, level, events, expiries; exit status is the worst level" ||
	{ not_ok "status --json fields (exit $src)"; diag "$(cat "$T/json.check" "$T/status.json")"; }
h remove j1 >/dev/null && h remove j2 >/dev/null

# ---------------------------------------------------------------- client secret input
# secret_in DESC FILE-CONTENT(printf format) WANT: add reads the secret from a
# file holding exactly that; WANT is the stored secret, or "refused".
n=0
secret_in() {
	n=$((n + 1))
	# shellcheck disable=SC2059
	printf "$2" >"$T/in.secret"
	# shellcheck disable=SC2086
	h add "s$n" --template generic --client-id c --client-secret-file "$T/in.secret" $ENDP >"$T/out" 2>"$T/err"
	_rc=$?
	if [ "$3" = refused ]; then
		[ $_rc -ne 0 ] && [ ! -e "$S/s$n.yaml" ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -qi "empty" "$T/err" &&
			ok "$1: refused, nothing stored" || { not_ok "$1: refused, nothing stored (exit $_rc)"; diag "$(cat "$T/err")"; }
	else
		[ $_rc -eq 0 ] && [ "$(cfield "s$n" client_secret)" = "$3" ] && ok "$1" ||
			{ not_ok "$1 (exit $_rc)"; diag "$(cat "$T/err")" "stored: $(cfield "s$n" client_secret | od -c | head -2)"; }
	fi
}
secret_in "a secret ending in CRLF is stored without the CR" 'crlf-secret\r\n' crlf-secret
secret_in "trailing blanks are dropped" 'blank-secret \t \n' blank-secret
secret_in "only the first line is the secret" 'first-line\nsecond-line\n' first-line
secret_in "a secret without a final newline" 'no-newline' no-newline
secret_in "an empty file is refused" '' refused
secret_in "a file holding only a newline is refused" '\n' refused
# On a terminal, the helper asks and does not echo what is typed.
"$PYTHON3" - "$HELPER" "$S" "$T/tty.out" <<'EOF' >"$T/tty.log" 2>&1
import os, pty, select, sys, time
helper, store, outp = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.execv(helper, [helper, "--store", store, "add", "ttysec", "--template", "generic",
                      "--client-id", "c", "--client-secret-file", "-",
                      "--set", "auth_url=http://127.0.0.1:9/a", "--set", "token_url=http://127.0.0.1:9/t"])
out = b""
end = time.time() + 60
sent = False
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    if not sent and b"Client secret (not shown): " in out:
        os.write(fd, b"typed-tty-secret\n")
        sent = True
        end = time.time() + 60
if not sent:
    os.kill(pid, 9)  # never left waiting for a secret nobody types
_, status = os.waitpid(pid, 0)
open(outp, "wb").write(out)
sys.exit(0 if sent and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else 1)
EOF
trc=$?
if [ $trc -eq 0 ] && [ "$(cfield ttysec client_secret)" = typed-tty-secret ] && ! grep -q typed-tty-secret "$T/tty.out"; then
	ok "on a terminal, add prompts for the secret, stores it and does not echo it"
else
	not_ok "on a terminal, add prompts for the secret, stores it and does not echo it"
	diag "$(cat "$T/tty.log")" "terminal: $(cat "$T/tty.out" 2>/dev/null)"
fi

# ---------------------------------------------------------------- rotating a client secret with edit
# shellcheck disable=SC2086
check "add rot (secret stored)" h add rot --template generic --client-id confidential-client \
	--client-secret-file "$T/right.secret" $ENDP
authorize_browser rot && ok "authorize rot" || { not_ok "authorize rot"; diag "$(cat "$T/out" "$T/err")"; }
# refresh_result NAME: "ok" when a refresh works, else the error line.
refresh_result() {
	h refresh "$1" >"$T/out" 2>"$T/err" && echo ok || cat "$T/err"
}
check "edit --client-secret-file replaces the stored secret" h edit rot --client-secret-file "$T/wrong.secret"
[ "$(cfield rot client_secret)" = not-the-secret ] && ok "the new secret is stored" || not_ok "the new secret is stored"
case $(refresh_result rot) in
*invalid_client*) ok "the refresh now authenticates with the new (wrong) secret: invalid_client" ;;
*) not_ok "the refresh now authenticates with the new (wrong) secret: invalid_client"; diag "$(cat "$T/out" "$T/err")" ;;
esac
check "edit --client-secret-file - reads the new secret from stdin" sh -c "'$HELPER' --store '$S' --config '$CONF' edit rot --client-secret-file - <'$T/right.secret'"
[ "$(refresh_result rot)" = ok ] && ok "after rotating back, the refresh works" || { not_ok "after rotating back, the refresh works"; diag "$(cat "$T/err")"; }
check "edit --set client_secret_file=PATH replaces a stored secret" h edit rot --set client_secret_file="$T/wrong.secret"
[ -z "$(cfield rot client_secret)" ] && [ "$(cfield rot client_secret_file)" = "$T/wrong.secret" ] &&
	ok "the stored secret is gone, the path is kept" || { not_ok "the stored secret is gone, the path is kept"; diag "$(cat "$S/rot.yaml")"; }
case $(refresh_result rot) in
*invalid_client*) ok "the refresh uses the secret file: invalid_client" ;;
*) not_ok "the refresh uses the secret file: invalid_client"; diag "$(cat "$T/out" "$T/err")" ;;
esac
check "edit --client-secret-file replaces a client_secret_file path" h edit rot --client-secret-file "$T/right.secret"
[ -z "$(cfield rot client_secret_file)" ] && [ "$(cfield rot client_secret)" = confidential-secret ] &&
	ok "the path is gone, the secret is stored" || { not_ok "the path is gone, the secret is stored"; diag "$(cat "$S/rot.yaml")"; }
[ "$(refresh_result rot)" = ok ] && ok "and the refresh works again" || { not_ok "and the refresh works again"; diag "$(cat "$T/err")"; }

# ---------------------------------------------------------------- authorize --device
# shellcheck disable=SC2086
check "add devcli (authorization_code flow)" h add devcli --template generic --client-id confidential-client \
	--client-secret-file "$T/right.secret" $ENDP
d0=$(oauth_count urn:ietf:params:oauth:grant-type:device_code)
"$HELPER" --store "$S" --config "$CONF" authorize devcli --device >"$T/dev.out" 2>"$T/dev.err" </dev/null &
pid=$!
i=0
while ! grep -q "^Enter code: [A-Z0-9]*-[A-Z0-9]*$" "$T/dev.out" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
oauth_approve_device "$(sed -n 's/^Enter code: //p' "$T/dev.out")" || diag "approving the user code failed"
wait $pid; rc=$?
d1=$(oauth_count urn:ietf:params:oauth:grant-type:device_code)
[ $rc -eq 0 ] && [ -n "$(sfield devcli refresh_token)" ] && [ "$(sfield devcli refresh_token)" != None ] &&
	[ "$d1" -gt "$d0" ] 2>/dev/null && grep -q "$OAUTH_URL/device" "$T/dev.out" &&
	ok "authorize --device runs the device flow for a token configured for authorization_code" ||
	{ not_ok "authorize --device (exit $rc, device polls $d0 -> $d1)"; diag "$(cat "$T/dev.out" "$T/dev.err")"; }
[ "$(cfield devcli flow)" != device_code ] && ok "--device does not change the token's configured flow" ||
	not_ok "--device does not change the token's configured flow"

# ---------------------------------------------------------------- --port and redirect_uri
# shellcheck disable=SC2086
check "add port" h add port --template generic --client-id confidential-client \
	--client-secret-file "$T/right.secret" $ENDP
p=$(free_port)
authorize_browser port --port "$p"; rc=$?
[ $rc -eq 0 ] && grep -q "redirect_uri=http%3A%2F%2F127.0.0.1%3A$p%2F" "$T/out" && [ -e "$S/port.state" ] &&
	ok "authorize --port $p listens on that port and sends it as redirect_uri" ||
	{ not_ok "authorize --port $p (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
p=$(free_port)
# shellcheck disable=SC2086
check "add fixed (redirect_uri configured)" h add fixed --template generic --client-id confidential-client \
	--client-secret-file "$T/right.secret" --set "redirect_uri=http://127.0.0.1:$p/" $ENDP
authorize_browser fixed; rc=$?
[ $rc -eq 0 ] && grep -q "redirect_uri=http%3A%2F%2F127.0.0.1%3A$p%2F" "$T/out" && [ -e "$S/fixed.state" ] &&
	ok "a configured redirect_uri gives the listener its port ($p)" ||
	{ not_ok "a configured redirect_uri gives the listener its port ($p) (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }

# ---------------------------------------------------------------- refresh --all and validity
check "edit port --set validity=invalid" h edit port --set validity=invalid
at0=$(sfield port access_token)
h refresh --all >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && grep -q "^port: skipped (validity: invalid)$" "$T/out" && [ "$(sfield port access_token)" = "$at0" ] &&
	grep -q "^fixed: refreshed" "$T/out" &&
	ok "refresh --all skips an invalid token, refreshes the others, exits 0" ||
	{ not_ok "refresh --all with an invalid token (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }

# ---------------------------------------------------------------- proxy
# A forwarding HTTP proxy on loopback that logs each request line.
PROXY_LOG="$T/proxy.log"
"$PYTHON3" - "$T/proxy.port" "$PROXY_LOG" <<'EOF' >"$T/proxy.out" 2>&1 &
import http.server, sys, threading, urllib.request, urllib.error
class H(http.server.BaseHTTPRequestHandler):
    def relay(self):
        with open(sys.argv[2], "a") as f:
            f.write("%s %s\n" % (self.command, self.path))
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection", "host")}
        req = urllib.request.Request(self.path, data=body or None, headers=hdrs, method=self.command)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            r = opener.open(req, timeout=20)
            code, data, rh = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            code, data, rh = e.code, e.read(), e.headers
        self.send_response(code)
        for k, v in rh.items():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_POST = relay
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(srv.server_address[1]))
threading.Timer(300, srv.shutdown).start()
srv.serve_forever()
EOF
proxy_pid=$!
at_exit "kill $proxy_pid 2>/dev/null"
wait_for_file "$T/proxy.port" 10 || diag "the proxy did not start: $(cat "$T/proxy.out")"
PP=$(cat "$T/proxy.port" 2>/dev/null)
printf 'proxy: http://127.0.0.1:%s\n' "$PP" >"$T/proxy.conf"
"$HELPER" --store "$S" --config "$T/proxy.conf" refresh fixed >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && grep -q "^POST http://127.0.0.1:$OAUTH_PORT/token$" "$PROXY_LOG" 2>/dev/null &&
	ok "with 'proxy:' set, the token request goes through that proxy" ||
	{ not_ok "with 'proxy:' set, the token request goes through that proxy (exit $rc)"; diag "$(cat "$T/err" "$PROXY_LOG" "$T/proxy.out" 2>/dev/null)"; }
before=$(wc -l <"$PROXY_LOG" 2>/dev/null || echo 0)
http_proxy="http://127.0.0.1:$PP" https_proxy="http://127.0.0.1:$PP" HTTP_PROXY="http://127.0.0.1:$PP" \
	HTTPS_PROXY="http://127.0.0.1:$PP" ALL_PROXY="http://127.0.0.1:$PP" all_proxy="http://127.0.0.1:$PP" \
	h refresh fixed >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ "$(wc -l <"$PROXY_LOG" 2>/dev/null || echo 0)" = "$before" ] &&
	ok "without 'proxy:', the proxy environment variables are ignored" ||
	{ not_ok "without 'proxy:', the proxy environment variables are ignored (exit $rc)"; diag "$(cat "$T/err" "$PROXY_LOG")"; }

# ---------------------------------------------------------------- notify_command
# The command records its environment, writes to both streams and fails.
cat >"$T/notify.sh" <<EOF
#!/bin/sh
printf '%s|%s|%s\n' "\$SASL_OAUTH2_TOKEN" "\$SASL_OAUTH2_EVENT" "\$SASL_OAUTH2_DETAIL" >>"$T/notify.log"
echo NOTIFY-STDOUT
echo NOTIFY-STDERR >&2
exit 3
EOF
chmod 755 "$T/notify.sh"
printf 'notify_command: %s\n' "$T/notify.sh" >"$CONF"
: >"$T/notify.log"
# 'fixed' loses its grant (invalid_grant) and 'rot' fails another way;
# 'rot' only wants refresh_failed, 'fixed' only refresh_token_expired...
check "edit rot --set notify=refresh_token_expired" h edit rot --set notify=refresh_token_expired
oauth_control '{"fault": {"path": "/token", "kind": "invalid_grant", "count": 1}}'
h refresh fixed >/dev/null 2>&1
oauth_control '{"fault": {"path": "/token", "kind": "500", "count": 1}}'
h refresh rot >/dev/null 2>&1
# ... and 'atonly' has an expired access token and no refresh token.
# shellcheck disable=SC2086
check "add atonly" h add atonly --template generic --client-id c $ENDP
printf '%s\n' '{"access_token":"at-only-x","token_type":"Bearer","expires_at":1000,"refresh_token":null,"generation":1}' >"$S/atonly.state"
chmod 600 "$S/atonly.state"
h status --json fixed rot atonly >"$T/st.json" 2>"$T/st.err"; rc=$?
"$PYTHON3" -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/st.json" 2>/dev/null && ! grep -q NOTIFY "$T/st.json" &&
	ok "status --json stays parseable: the command's output is not on stdout" ||
	{ not_ok "status --json stays parseable"; diag "$(cat "$T/st.json")"; }
grep -q NOTIFY-STDOUT "$T/st.err" && grep -q NOTIFY-STDERR "$T/st.err" &&
	ok "the command's stdout and stderr go to status's stderr" || { not_ok "the command's output on stderr"; diag "$(cat "$T/st.err")"; }
grep -q "^sasl-oauth2: fixed: notify_command for refresh_token_expired exited with status 3$" "$T/st.err" &&
	ok "a command that exits non-zero is reported (one line naming token, event and status)" || { not_ok "non-zero notify exit reported"; diag "$(cat "$T/st.err")"; }
grep -q "^fixed|refresh_token_expired|." "$T/notify.log" && ok "invalid_grant: refresh_token_expired, with TOKEN and a DETAIL" ||
	{ not_ok "invalid_grant: refresh_token_expired with TOKEN and DETAIL"; diag "$(cat "$T/notify.log")"; }
grep -q "^atonly|token_expired|." "$T/notify.log" && ok "an expired access token without refresh token: token_expired" ||
	{ not_ok "token_expired event"; diag "$(cat "$T/notify.log")"; }
! grep -q "^rot|" "$T/notify.log" && ok "a token's notify key filters its events (refresh_failed not wanted)" ||
	{ not_ok "notify key filters events"; diag "$(cat "$T/notify.log")"; }
if grep -qE 'confidential-secret|at-[A-Za-z0-9_-]{20}|rt-[A-Za-z0-9_-]{20}|at-only-x' "$T/notify.log"; then
	not_ok "SASL_OAUTH2_DETAIL never holds a secret"; diag "$(cat "$T/notify.log")"
else
	ok "SASL_OAUTH2_DETAIL never holds a secret"
fi
n1=$(wc -l <"$T/notify.log")
h status fixed rot atonly >/dev/null 2>&1
[ "$(wc -l <"$T/notify.log")" = "$n1" ] && ok "the failed command's events still count: not reported again" ||
	{ not_ok "events reported again"; diag "$(cat "$T/notify.log")"; }

done_testing
