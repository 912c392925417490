#!/bin/sh
# test_root.sh - root never reads a file for a store it does not own with
# root's rights. The store belongs to nobody (as Postfix's belongs to
# postfix) and a token in it names a root-only client_secret_file. The
# plugin is loaded as root and the program then becomes nobody (Postfix's
# smtp does exactly this); the helper runs as root. Neither may read the
# file, so nothing reaches the token endpoint; once the file belongs to the
# store's owner both work, and what root writes belongs to that owner.
# Last, a set-uid-root client run by nobody: the caller's environment
# (SASL_OAUTH2_STORE naming nobody's store) is not trusted.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/server/server.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root (the plugin is loaded as root, then drops to nobody)"
prog="$top_builddir/tests/plugin/test_plugin"
nobody=65534
oauth_server_start || { not_ok "test OAuth2 server starts"; done_testing; exit; }
ok "test OAuth2 server starts"

# nobody must reach files under $T.
chmod 711 "$T"
store="$T/store"
mkdir -m 700 "$store"
umask 077
printf 'confidential-secret\n' >"$T/root.secret"
chmod 600 "$T/root.secret"
: >"$T/empty.conf"
chmod 644 "$T/empty.conf"
for n in cc hc; do
	cat >"$store/$n.yaml" <<EOY
name: $n
template: generic
user: $n@example.test
client_id: confidential-client
client_secret_file: $T/root.secret
client_auth: basic
flow: client_credentials
token_url: $OAUTH_URL/token
EOY
done
chown -R $nobody:$nobody "$store"

cc_requests() { oauth_count client_credentials; }

# ---- the plugin: loaded as root, then setuid(nobody)
before=$(cc_requests)
if TEST_PLUGIN_SETUID=$nobody "$prog" login "$store" "$T/empty.conf" cc >"$T/p1.out" 2>"$T/p1.err"; then
	not_ok "plugin: a root-only secret file named in nobody's store is not used"
	diag "the login succeeded: root read the file for nobody's store"
else
	ok "plugin: a root-only secret file named in nobody's store is not used"
fi
[ "$(cc_requests)" -eq "$before" ] && ok "plugin: nothing was sent to the token endpoint" ||
	not_ok "plugin: nothing was sent to the token endpoint ($(($(cc_requests) - before)) requests)"
grep -q "root.secret.*uid $nobody.*chown $nobody" "$T/p1.err" &&
	ok "plugin: the error names the file, the store owner and the fix" ||
	{ not_ok "plugin: the error names the file, the store owner and the fix"; diag "$(cat "$T/p1.err")"; }

# ---- the helper as root
before=$(cc_requests)
if "$HELPER" --store "$store" --config "$T/empty.conf" token hc >"$T/h1.out" 2>"$T/h1.err"; then
	not_ok "helper as root: the root-only secret file is not used"
else
	ok "helper as root: the root-only secret file is not used"
fi
[ "$(cc_requests)" -eq "$before" ] && ok "helper: nothing was sent to the token endpoint" ||
	not_ok "helper: nothing was sent to the token endpoint"
grep -q "^sasl-oauth2: .*root.secret.*uid $nobody.*chown $nobody" "$T/h1.err" &&
	ok "helper: one error line naming the file, the store owner and the fix" ||
	{ not_ok "helper: one error line naming the file, the store owner and the fix"; diag "$(cat "$T/h1.err")"; }
grep -q "confidential-secret" "$T/h1.out" "$T/h1.err" "$T/p1.out" "$T/p1.err" &&
	not_ok "the secret never appears in any output" || ok "the secret never appears in any output"

# ---- the same file given to the store's owner: both work
chown $nobody:$nobody "$T/root.secret"
before=$(cc_requests)
if TEST_PLUGIN_SETUID=$nobody "$prog" login "$store" "$T/empty.conf" cc >"$T/p2.out" 2>"$T/p2.err"; then
	ok "plugin: a secret file of the store's owner is read before the setuid and used"
else
	not_ok "plugin: a secret file of the store's owner is read before the setuid and used"
	diag "$(cat "$T/p2.err")"
fi
[ "$(cc_requests)" -eq $((before + 1)) ] && ok "plugin: one client_credentials request" ||
	not_ok "plugin: one client_credentials request"
if "$HELPER" --store "$store" --config "$T/empty.conf" token hc >"$T/h2.out" 2>"$T/h2.err" &&
	grep -q . "$T/h2.out"; then
	ok "helper as root: a secret file of the store's owner is used"
else
	not_ok "helper as root: a secret file of the store's owner is used"; diag "$(cat "$T/h2.err")"
fi
owners=$(stat -c '%u %a' "$store/hc.state" "$store/hc.lock" 2>/dev/null | sort -u | tr '\n' ' ')
[ "$owners" = "$nobody 600 " ] && ok "files root wrote in the store belong to its owner, 0600" ||
	not_ok "files root wrote in the store belong to its owner, 0600 (got: $owners)"

# ---- a set-uid-root client run by nobody ignores SASL_OAUTH2_STORE
for n in legit evil; do
	d="$T/$n-store"
	mkdir -m 700 "$d"
	cat >"$d/t.yaml" <<EOY
name: t
template: generic
user: t@example.test
client_id: public-client
client_auth: none
token_url: $OAUTH_URL/token
auth_url: $OAUTH_URL/authorize
EOY
	printf '{"access_token": "at-%s", "token_type": "Bearer", "expires_at": 4000000000, "generation": 1}\n' "$n" >"$d/t.state"
done
chown -R $nobody:$nobody "$T/evil-store"
printf 'templates_dir: %s/templates\n' "$top_srcdir" >"$T/suid.conf"
chmod 644 "$T/suid.conf"
cp "$prog" "$T/suid-client" && chmod 4755 "$T/suid-client"
setpriv --reuid=$nobody --regid=$nobody --clear-groups env TEST_PLUGIN_ENV_STORE="$T/evil-store" \
	"$T/suid-client" login "$T/legit-store" "$T/suid.conf" t >"$T/s1.out" 2>"$T/s1.err"; rc=$?
if [ $rc -eq 0 ] && grep -q "auth=Bearer at-legit" "$T/s1.out"; then
	ok "set-uid client: SASL_OAUTH2_STORE from the caller is ignored (secure_getenv)"
else
	not_ok "set-uid client: SASL_OAUTH2_STORE from the caller is ignored (exit $rc)"
	diag "$(cat "$T/s1.out" "$T/s1.err")"
fi
done_testing
