#!/bin/sh
# tests/integration/test_seal.sh - secrets at rest (secrets_key_file) in both
# backends: client secret, refresh token and access token are nowhere in
# clear in the store files or the database rows; a store written with a key
# is refused without it and with another key; a value moved to another
# token is refused; the key is changed by export --with-secrets with the old
# key and import --overwrite with the new one.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/env.sh"
. "$top_srcdir/tests/server/server.sh"
. "$top_srcdir/tests/integration/pg_env.sh"

pg_require
oauth_server_start || { not_ok "test OAuth2 server starts"; done_testing; exit 1; }
pg_start || { not_ok "private PostgreSQL starts"; done_testing; exit 1; }

(umask 077; head -c 32 /dev/urandom >"$T/k1"; head -c 32 /dev/urandom >"$T/k2"; head -c 31 /dev/urandom >"$T/short")
cp "$T/k1" "$T/open"; chmod 644 "$T/open"
printf 'secrets_key_file: %s\n' "$T/k1" >"$T/c1"
printf 'secrets_key_file: %s\n' "$T/k2" >"$T/c2"
printf 'secrets_key_file: %s\n' "$T/short" >"$T/cshort"
printf 'secrets_key_file: %s\n' "$T/open" >"$T/copen"
: >"$T/c0"
with() { _c=$1; shift; SASL_OAUTH2_CONFIG="$T/$_c" "$@"; }
# expect_fail DESCRIPTION PATTERN COMMAND...: fails, and says PATTERN.
expect_fail() {
	_d=$1 _p=$2; shift 2
	if "$@" >"$T/ef.out" 2>&1; then not_ok "$_d"; diag "unexpectedly succeeded: $*"; return; fi
	grep -q -- "$_p" "$T/ef.out" && ok "$_d" || { not_ok "$_d"; diag "$(cat "$T/ef.out")"; }
}
# no_clear DESCRIPTION TEXT-FILE: none of the secrets occurs in the file.
no_clear() {
	if grep -q -F -e "$AT" -e "$RT" -e "$TEST_CLIENT_SECRET" "$2"; then not_ok "$1"; else
		grep -q 'sealed:v1:' "$2" && ok "$1" || { not_ok "$1 (no sealed value either)"; diag "$(head -c 600 "$2")"; }
	fi
}


# ---- file store
export SASL_OAUTH2_CONFIG="$T/c1"
TOKEN_SECRET_STDIN=1 token_add alice "$TEST_USER" || { not_ok "token 'alice' authorized with a key"; done_testing; exit 1; }
TOKEN_SECRET_STDIN=1 token_add bob bob@example.test || { not_ok "token 'bob' authorized with a key"; done_testing; exit 1; }
AT=$(so2 token alice)
RT=$(so2 export --with-secrets alice | sed -n 's/^ *refresh_token: *//p')
[ -n "$AT" ] && [ -n "$RT" ] && ok "with the key the store works and export --with-secrets shows the tokens" ||
	not_ok "with the key the store works and export --with-secrets shows the tokens"
cat "$STORE"/* >"$T/files.txt"
no_clear "file store: no client secret, refresh or access token in clear" "$T/files.txt"
unset SASL_OAUTH2_CONFIG
expect_fail "a key file readable by others is refused" 'readable' with copen "$HELPER" --store "$STORE" list
expect_fail "a key file of 31 bytes is refused" 'not 32' with cshort "$HELPER" --store "$STORE" list
expect_fail "file store without the key: refused, saying so" 'no secrets_key_file is configured' with c0 so2 token alice
expect_fail "file store with another key: refused" 'cannot be decrypted' with c2 so2 token alice
cp "$STORE/bob.state" "$T/bob.state"
cp "$STORE/alice.state" "$STORE/bob.state"
expect_fail "file store: alice's state copied to bob is refused" 'copied from another token' with c1 so2 token bob
cp "$T/bob.state" "$STORE/bob.state"
check "bob's own state still works" with c1 so2 token bob

# ---- changing the key (as the README says): export with the old key,
# remove the tokens, import with the new key
with c1 so2 export --with-secrets >"$T/all.yaml" &&
	with c1 so2 remove alice >/dev/null && with c1 so2 remove bob >/dev/null &&
	with c2 so2 import "$T/all.yaml" >"$T/rekey.out" 2>&1 &&
	[ "$(with c2 so2 token alice)" = "$AT" ] &&
	ok "key changed: export --with-secrets with the old key, remove, import with the new" ||
	{ not_ok "key changed: export --with-secrets with the old key, remove, import with the new"; diag "$(cat "$T/rekey.out")"; }
expect_fail "after the change the old key is refused" 'cannot be decrypted' with c1 so2 token alice
cat "$STORE"/* >"$T/files2.txt"
no_clear "after the change: still nothing in clear" "$T/files2.txt"
rm -f "$T/all.yaml"

# ---- PostgreSQL store
check "init the database store" with c2 "$HELPER" --store "$PG_URI" init
with c2 so2 export --with-secrets | with c2 "$HELPER" --store "$PG_URI" import - >"$T/pgimp.out" 2>&1 &&
	ok "tokens moved into the database with the key" ||
	{ not_ok "tokens moved into the database with the key"; diag "$(cat "$T/pgimp.out")"; }
[ "$(with c2 "$HELPER" --store "$PG_URI" token alice)" = "$AT" ] &&
	ok "the database store opens the sealed values" || not_ok "the database store opens the sealed values"
pg_sql "SELECT name, config, state FROM sasl_oauth2_tokens" >"$T/rows.txt"
no_clear "database: no client secret, refresh or access token in clear" "$T/rows.txt"
expect_fail "database store without the key: refused" 'no secrets_key_file is configured' \
	with c0 "$HELPER" --store "$PG_URI" token alice
expect_fail "database store with another key: refused" 'cannot be decrypted' \
	with c1 "$HELPER" --store "$PG_URI" token alice
pg_sql "UPDATE sasl_oauth2_tokens SET state = (SELECT state FROM sasl_oauth2_tokens WHERE name = 'alice') WHERE name = 'bob'"
expect_fail "database: a row's state swapped into another token is refused" 'copied from another token' \
	with c2 "$HELPER" --store "$PG_URI" token bob
done_testing
