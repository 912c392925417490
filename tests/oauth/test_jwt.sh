#!/bin/sh
# test_jwt.sh - client authentication with a signed assertion
# (client_auth: private_key_jwt, RFC 7523 2.2) through the helper, against
# the test OAuth2 server, which checks every signature with openssl:
# RS256 and ES256 keys, the certificate thumbprints in the header, every
# flow that authenticates the client (client credentials, device code and
# refresh), and the files and keys that must be refused.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/server/server.sh"

command -v openssl >/dev/null || { echo "Bail out! openssl is missing (Debian: openssl)"; exit 1; }
K="$T/keys"
mkdir -m 700 "$K"
(
	cd "$K" || exit 1
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem &&
	openssl req -x509 -new -key rsa.pem -subj /CN=relay -days 2 -out rsa.crt &&
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem &&
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.pem &&
	openssl pkey -in rsa.pem -pubout -out rsa.pub &&
	openssl pkey -in ec.pem -pubout -out ec.pub &&
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.pem &&
	openssl pkey -in sa.pem -pubout -out sa.pub &&
	chmod 600 ./*.pem
) >"$T/keygen.out" 2>&1 || { echo "Bail out! openssl could not make the test keys"; cat "$T/keygen.out"; exit 1; }

oauth_server_start --access-ttl 60 --device-interval 1 \
	--jwt-client "jwt-rsa=$K/rsa.pub" --jwt-client "jwt-ec=$K/ec.pub" \
	--service-account "relay@project.iam.gserviceaccount.com=$K/sa.pub" || {
	echo "Bail out! the test OAuth2 server did not start"; exit 1; }

STORE="$T/store"
mkdir -m 700 "$STORE"
export SASL_OAUTH2_STORE="$STORE"
export SASL_OAUTH2_CONFIG="$T/sasl-oauth2.conf"
printf 'http_timeout: 5\nrefresh_margin: 10\n' >"$SASL_OAUTH2_CONFIG"
chmod 600 "$SASL_OAUTH2_CONFIG"

b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
X5T=$(openssl x509 -in "$K/rsa.crt" -outform DER | openssl dgst -sha1 -binary | b64url)
X5T256=$(openssl x509 -in "$K/rsa.crt" -outform DER | openssl dgst -sha256 -binary | b64url)

# addtok NAME CLIENT FLOW KEY [--set ...]: a generic token at the test server.
addtok() {
	_n=$1 _c=$2 _f=$3 _k=$4
	shift 4
	"$HELPER" add "$_n" --template generic --client-id "$_c" --flow "$_f" \
		--user alice@example.test --scope mail \
		--set "token_url=$OAUTH_URL/token" --set "auth_url=$OAUTH_URL/authorize" \
		--set "device_url=$OAUTH_URL/device_authorization" \
		--set client_auth=private_key_jwt --set "client_key_file=$_k" "$@"
}
# header FIELD: a field of the header of the last assertion the server saw.
header() {
	oauth_stats | "$PYTHON3" -c '
import json, sys
h = json.load(sys.stdin)["last_assertion_header"] or {}
print(h.get(sys.argv[1], ""))' "$1"
}
stat() { oauth_stats | "$PYTHON3" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# run CMD...: run the helper, keeping stdout, stderr and the exit status.
run() { "$@" >"$T/out" 2>"$T/err"; rc=$?; }
# expect RC PATTERN DESCRIPTION: the last run exited RC and stderr matches.
expect() {
	if [ "$rc" -eq "$1" ] && grep -q -- "$2" "$T/err"; then ok "$3"; else
		not_ok "$3"; diag "exit $rc, stderr:" "$(cat "$T/err")"; fi
}

# ------------------------------------------------ client credentials, RS256
run addtok cc jwt-rsa client_credentials "$K/rsa.pem" --set "client_cert_file=$K/rsa.crt"
[ "$rc" -eq 0 ] && ok "add: a private_key_jwt token with a certificate" ||
	{ not_ok "add private_key_jwt"; diag "$(cat "$T/err")"; }
grep -q '^client_auth: private_key_jwt' "$STORE/cc.yaml" &&
grep -q "^client_key_file: $K/rsa.pem" "$STORE/cc.yaml" &&
grep -q "^client_cert_file: $K/rsa.crt" "$STORE/cc.yaml" &&
	ok "the configuration keeps client_auth and the two paths" ||
	{ not_ok "configuration"; diag "$(cat "$STORE/cc.yaml")"; }
run "$HELPER" authorize cc
[ "$rc" -eq 0 ] && ok "authorize: client credentials authenticated by an RS256 assertion" ||
	{ not_ok "authorize cc"; diag "$(cat "$T/err")"; }
run "$HELPER" token cc
case $(cat "$T/out") in at-*) ok "token: the access token of the client credentials grant" ;;
*) not_ok "token cc"; diag "$(cat "$T/err")" ;; esac
[ "$(header alg)" = RS256 ] && ok "the assertion is RS256 for an RSA key" || not_ok "alg: $(header alg)"
[ "$(header x5t)" = "$X5T" ] && ok "header x5t is the certificate's SHA-1 thumbprint" ||
	not_ok "x5t: $(header x5t), want $X5T"
[ "$(header 'x5t#S256')" = "$X5T256" ] && ok "header x5t#S256 is its SHA-256 thumbprint" ||
	not_ok "x5t#S256: $(header 'x5t#S256'), want $X5T256"
run "$HELPER" refresh cc
[ "$rc" -eq 0 ] && [ "$(stat assertion_replays)" = 0 ] &&
	ok "a second request signs a new assertion (no jti replayed)" ||
	{ not_ok "second assertion"; diag "$(cat "$T/err")"; }
run "$HELPER" show cc
grep -q 'BEGIN' "$T/out" "$T/err" && not_ok "show prints key material" ||
	ok "show prints the key's path, never the key"

# ------------------------------------------------ ES256, no certificate
run addtok ec jwt-ec client_credentials "$K/ec.pem"
run "$HELPER" authorize ec
[ "$rc" -eq 0 ] && [ "$(header alg)" = ES256 ] && [ -z "$(header x5t)" ] &&
	ok "an EC P-256 key signs ES256, without thumbprints when no certificate is set" ||
	{ not_ok "ES256"; diag "alg $(header alg)" "$(cat "$T/err")"; }

# ------------------------------------------------ device code, then refresh
run addtok dev jwt-rsa device_code "$K/rsa.pem"
"$HELPER" authorize dev --device >"$T/dev.out" 2>"$T/dev.err" &
dpid=$!
i=0
while ! grep -q '^Enter code: ' "$T/dev.out" && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
ucode=$(sed -n 's/^Enter code: //p' "$T/dev.out")
oauth_approve_device "$ucode" alice@example.test
wait $dpid
rc=$?
[ "$rc" -eq 0 ] && ok "device flow: the device request and the polls carry assertions" ||
	{ not_ok "device flow with private_key_jwt"; diag "$(cat "$T/dev.err")"; }
before=$(oauth_count refresh_token)
run "$HELPER" refresh dev
[ "$rc" -eq 0 ] && [ "$(oauth_count refresh_token)" -eq $((before + 1)) ] &&
	ok "refresh: the refresh grant is authenticated by an assertion" ||
	{ not_ok "refresh with private_key_jwt"; diag "$(cat "$T/err")"; }

# ------------------------------------------------ refusals
chmod 644 "$K/rsa.pem"
run "$HELPER" refresh cc
expect 1 "client_key_file.*$K/rsa.pem" "a key file readable by others is refused, naming the field and file"
grep -q 'chmod' "$T/err" && ok "... and the message says how to fix it" || not_ok "no chmod advice: $(cat "$T/err")"
chmod 600 "$K/rsa.pem"
ln -s "$K/rsa.pem" "$K/link.pem"
run "$HELPER" edit cc --set "client_key_file=$K/link.pem"
run "$HELPER" refresh cc
expect 1 "client_key_file" "a key file that is a symbolic link is refused"
run "$HELPER" edit cc --set "client_key_file=$K/other.pem"
before=$(oauth_count client_credentials)
run "$HELPER" refresh cc
expect 1 "invalid_client" "a key the server does not know: invalid_client in the error"
cp "$K/rsa.crt" "$K/crt-as-key.pem"
chmod 600 "$K/crt-as-key.pem"
run "$HELPER" edit cc --set "client_key_file=$K/crt-as-key.pem"
run "$HELPER" refresh cc
expect 1 "client_key_file.*no PEM private key" "a certificate given as the key is named as such"
[ "$(oauth_count client_credentials)" -eq $((before + 1)) ] &&
	ok "a file that is not a key is refused before any request" ||
	not_ok "requests: $(oauth_count client_credentials), want $((before + 1))"
run "$HELPER" edit cc --set "client_key_file=$K/rsa.pem" --set "client_cert_file=$K/rsa.pem"
run "$HELPER" refresh cc
expect 1 "client_cert_file.*no PEM certificate" "a key given as the certificate is named as such"
run "$HELPER" add nokey --template generic --client-id jwt-rsa --flow client_credentials \
	--set "token_url=$OAUTH_URL/token" --set client_auth=private_key_jwt
expect 1 "client_key_file is not set" "client_auth private_key_jwt without client_key_file is refused at add"
run "$HELPER" add stray --template generic --client-id x --client-secret-file - \
	--set "token_url=$OAUTH_URL/token" --set "client_cert_file=$K/rsa.crt" </dev/null
[ "$rc" -ne 0 ] && ok "a certificate without private_key_jwt is refused" || not_ok "stray client_cert_file accepted"
grep -rq 'eyJ' "$OAUTH_LOG" "$T"/*.err "$T/err" 2>/dev/null &&
	not_ok "an assertion appears in a log or message" ||
	ok "no assertion in the server's request log or any message"

# ------------------------------------------------ jwt_bearer (service account)
SA="relay@project.iam.gserviceaccount.com"
# sajson FILE ISSUER KEY: a Google-style service-account key file, 0600.
sajson() {
	"$PYTHON3" -c '
import json, os, sys
d = {"type": "service_account", "project_id": "project", "private_key_id": "k1",
     "private_key": open(sys.argv[3]).read(), "client_email": sys.argv[2],
     "token_uri": sys.argv[4] + "/token"}
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps(d).encode())
os.close(fd)' "$1" "$2" "$3" "$OAUTH_URL"
}
sajson "$K/sa.json" "$SA" "$K/sa.pem"
bearer=urn:ietf:params:oauth:grant-type:jwt-bearer
# introspected TOKEN: the user the test server issued the token for.
introspected() {
	oauth_introspect "$1" | "$PYTHON3" -c 'import json, sys; print(json.load(sys.stdin).get("username", ""))'
}
run "$HELPER" add jb --template generic --flow jwt_bearer --user alice@example.test \
	--set "service_account_file=$K/sa.json" --set 'users=*@example.test' --scope mail
[ "$rc" -eq 0 ] && ok "add: a jwt_bearer token with a service account file and no client id or token_url" ||
	{ not_ok "add jwt_bearer"; diag "$(cat "$T/err")"; }
run "$HELPER" authorize jb
[ "$rc" -eq 0 ] && [ "$(oauth_count $bearer)" -eq 1 ] &&
	ok "authorize: a token for the token's user with the jwt-bearer grant" ||
	{ not_ok "authorize jb"; diag "$(cat "$T/err")" "$(cat "$T/out")"; }
[ "$(header alg)" = RS256 ] && [ "$(header kid)" = k1 ] &&
	ok "the assertion is RS256 with the key file's private_key_id as kid" ||
	not_ok "jwt-bearer header: alg $(header alg) kid $(header kid)"
run "$HELPER" token jb
alice_tok=$(cat "$T/out")
[ "$(introspected "$alice_tok")" = alice@example.test ] &&
	ok "the token acts for the token's user (sub = alice@example.test)" ||
	not_ok "alice token: $(introspected "$alice_tok")"
run "$HELPER" token jb --user Bob@Example.test
bob_tok=$(cat "$T/out")
[ "$rc" -eq 0 ] && [ "$(introspected "$bob_tok")" = Bob@Example.test ] && [ "$bob_tok" != "$alice_tok" ] &&
	ok "token --user: another mailbox of users gets its own token (sub = that mailbox)" ||
	{ not_ok "bob token"; diag "$(cat "$T/err")"; }
n=$(ls "$STORE" | grep -c '^jb#[0-9a-f]*\.state$')
[ "$n" -eq 1 ] && ok "the second mailbox's state is kept under its own key (jb#HEX.state)" ||
	not_ok "per-mailbox state files: $n"
run "$HELPER" token jb --user bob@example.TEST
[ "$(cat "$T/out")" = "$bob_tok" ] && [ "$(oauth_count $bearer)" -eq 2 ] &&
	ok "the mailbox is matched case-insensitively and its cached token reused" ||
	not_ok "bob again: $(oauth_count $bearer) grants"
before=$(oauth_count $bearer)
run "$HELPER" token jb --user eve@elsewhere.test
[ "$rc" -ne 0 ] && grep -q "eve@elsewhere.test" "$T/err" && [ "$(oauth_count $bearer)" -eq "$before" ] &&
	ok "a mailbox outside users is refused before any request" ||
	{ not_ok "eve not refused"; diag "exit $rc" "$(cat "$T/err")"; }
out=$("$top_builddir/tests/oauth/oauth_driver" get-access-as jb eve@elsewhere.test 2>&1)
[ $? -ne 0 ] && [ "$(oauth_count $bearer)" -eq "$before" ] &&
	ok "... also through the library (as the plugin asks)" || { not_ok "library eve"; diag "$out"; }

# A herd: 8 processes for each of two new mailboxes, one request per mailbox.
before=$(oauth_count $bearer)
pids=""
for i in 1 2 3 4 5 6 7 8; do
	for mb in carol@example.test dave@example.test; do
		"$top_builddir/tests/oauth/oauth_driver" get-access-as jb $mb >"$T/herd.$mb.$i" 2>"$T/herd-err.$mb.$i" &
		pids="$pids $!"
	done
done
fails=0
for p in $pids; do wait "$p" || fails=$((fails + 1)); done
[ "$fails" -eq 0 ] && [ "$(oauth_count $bearer)" -eq $((before + 2)) ] &&
	ok "16 processes on two new mailboxes: 16 tokens, exactly one request per mailbox" ||
	not_ok "herd: $fails failed, $(( $(oauth_count $bearer) - before )) requests"
[ "$(sort -u "$T"/herd.carol@example.test.* | wc -l)" -eq 1 ] &&
[ "$(sort -u "$T"/herd.dave@example.test.* | wc -l)" -eq 1 ] &&
	ok "every process of a mailbox got that mailbox's one token" || not_ok "herd tokens differ"

# An expired token for the user is fetched again, once.
"$PYTHON3" -c '
import json, os, sys
p = sys.argv[1]; s = json.load(open(p)); s["expires_at"] = 1000
t = p + ".edit"; fd = os.open(t, os.O_WRONLY | os.O_CREAT, 0o600)
os.write(fd, json.dumps(s).encode()); os.close(fd); os.rename(t, p)' "$STORE/jb.state"
before=$(oauth_count $bearer)
run "$HELPER" token jb
[ "$rc" -eq 0 ] && [ "$(cat "$T/out")" != "$alice_tok" ] && [ "$(oauth_count $bearer)" -eq $((before + 1)) ] &&
	ok "an expired token is replaced by a new assertion grant (no refresh token exists)" ||
	{ not_ok "expired jb"; diag "$(cat "$T/err")"; }
run "$HELPER" status jb
[ "$rc" -eq 0 ] && ok "status: a jwt_bearer token without a refresh token is fine" ||
	{ not_ok "status jb: exit $rc"; diag "$(cat "$T/out")"; }

# Through the plugin: Dovecot (passdb oauth2, introspecting at the test
# server) logs in a mailbox of users with its own token.
it_dovecot() {
	. "$top_srcdir/tests/integration/env.sh"
	[ -x "$DOVECOT" ] && [ -x "$IMTEST" ] || return 2
	it_require_built
	dovecot_start
}
it_dovecot; it_rc=$?
if [ $it_rc -eq 2 ]; then
	not_ok "Dovecot and imtest are installed (run tools/install-deps)"
elif [ $it_rc -ne 0 ]; then
	not_ok "private Dovecot starts"
else
	before=$(oauth_count $bearer)
	for mech in XOAUTH2 OAUTHBEARER; do
		dovecot_log_mark
		if printf 'x1 LOGOUT\n' | CLIENT_AUTHNAME=erin@example.test \
			cyrus_client "$IMTEST" "$IMAP_PORT" $mech "$T/imap-$mech.out" -w jb -o "oauth2_store=$STORE" &&
		   dovecot_log_wait "imap-login: Info: Login: user=<erin@example.test>, method=$mech"; then
			ok "plugin: $mech login as erin@example.test with the service account's token for her"
		else
			not_ok "plugin $mech login as erin"; diag "$(cat "$T/imap-$mech.out")"; dovecot_log 20
		fi
	done
	[ "$(oauth_count $bearer)" -eq $((before + 1)) ] &&
		ok "the plugin asked once for erin's token and reused it for the second login" ||
		not_ok "plugin jwt-bearer requests: $(( $(oauth_count $bearer) - before ))"
	before=$(oauth_count $bearer)
	if printf 'x1 LOGOUT\n' | CLIENT_AUTHNAME=mallory@elsewhere.test \
		cyrus_client "$IMTEST" "$IMAP_PORT" XOAUTH2 "$T/imap-mallory.out" -w jb -o "oauth2_store=$STORE"; then
		not_ok "plugin: a mailbox outside users logged in"
	elif grep -q "^Authentication failed" "$T/imap-mallory.out" && [ "$(oauth_count $bearer)" -eq "$before" ]; then
		ok "plugin: a mailbox outside users is refused before any request"
	else
		not_ok "plugin: mallory's refusal"; diag "$(cat "$T/imap-mallory.out")"
	fi
fi

chmod 644 "$K/sa.json"
run "$HELPER" refresh jb
expect 1 "service_account_file.*chmod" "a service account file readable by others is refused with the fix"
chmod 600 "$K/sa.json"
sajson "$K/stranger.json" stranger@project.iam.gserviceaccount.com "$K/sa.pem"
run "$HELPER" edit jb --set "service_account_file=$K/stranger.json"
run "$HELPER" refresh jb
expect 1 "invalid_grant" "an issuer the server does not know: invalid_grant in the error"
run "$HELPER" remove jb
[ "$rc" -eq 0 ] && [ -z "$(ls "$STORE" | grep '^jb')" ] &&
	ok "remove: the token goes with every mailbox's state and lock" ||
	{ not_ok "remove jb"; diag "$(ls "$STORE")"; }
grep -rq 'eyJ' "$OAUTH_LOG" "$T/err" 2>/dev/null && not_ok "an assertion leaked" ||
	ok "no service-account assertion in any log or message"

done_testing
