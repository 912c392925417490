#!/bin/sh
# tests/cli/test_manage.sh - the helper's management commands without a
# network: add, edit, list, show, remove, templates, --help of every
# command, status exit codes from crafted states, and bad input. Every
# refused command must print exactly one line on stderr, exit non-zero and
# leave the store byte for byte as it was.
. "$top_srcdir/tests/lib.sh"
# The clock is moved with SASL_OAUTH2_TEST_NOW: the helper with the test
# hooks; $PROD_HELPER is the one that gets installed.
PROD_HELPER=$HELPER
HELPER=$HELPER_TESTHOOKS

S="$T/store"
h() { "$HELPER" --store "$S" "$@"; }

# A listing that changes when any file or its mode/size changes.
snap() {
	[ -d "$S" ] || { echo "no store"; return; }
	(cd "$S" && find . -type f | LC_ALL=C sort | xargs -r sha256sum)
	ls -la --time-style=+%s "$S" | grep -v ' \.\.$'
}

# expect_error DESC PATTERN CMD...: fails, one stderr line matching
# PATTERN and starting with "sasl-oauth2: ", store unchanged.
expect_error() {
	_d=$1; _pat=$2; shift 2
	_before=$(snap)
	"$@" >"$T/out" 2>"$T/err" </dev/null
	_rc=$?
	_after=$(snap)
	cat "$T/out" "$T/err" >>"$T/errors.all"
	_lines=$(wc -l <"$T/err")
	if [ $_rc -ne 0 ] && [ "$_lines" -eq 1 ] && grep -q "^sasl-oauth2: " "$T/err" &&
	   grep -qi -- "$_pat" "$T/err" && [ "$_before" = "$_after" ]; then
		ok "$_d"
	else
		not_ok "$_d"
		diag "exit $_rc, $_lines stderr line(s), wanted /$_pat/:" "$(cat "$T/err")"
		[ "$_before" = "$_after" ] || diag "the store changed"
	fi
}

# named_once NAME DESC: the error line in $T/err names token NAME once.
named_once() {
	if grep -q "^sasl-oauth2: $1: " "$T/err" && ! grep -q "token '$1'" "$T/err"; then
		ok "$2: the error line names the token once"
	else
		not_ok "$2: the error line names the token once"; diag "$(cat "$T/err")"
	fi
}

# expect_out DESC PATTERN CMD...: succeeds, stdout matches PATTERN.
expect_out() {
	_d=$1; _pat=$2; shift 2
	if "$@" >"$T/out" 2>"$T/err" && grep -q -- "$_pat" "$T/out"; then
		ok "$_d"
	else
		not_ok "$_d"; diag "wanted /$_pat/ in:" "$(cat "$T/out")" "stderr:" "$(cat "$T/err")"
	fi
}

URLS="--set auth_url=http://127.0.0.1:9/authorize --set token_url=http://127.0.0.1:9/token"
SECRET=cli-test-client-secret-XYZZY

# ---------------------------------------------------------------- help
for c in templates add edit list show remove authorize refresh token status export import doctor; do
	if h "$c" --help >"$T/out" 2>"$T/err" && grep -q "^Usage: sasl-oauth2 $c" "$T/out" && [ ! -s "$T/err" ]; then
		ok "$c --help prints its usage on stdout"
	else
		not_ok "$c --help"; diag "$(cat "$T/out" "$T/err")"
	fi
done
expect_out "--help lists the commands" "import FILE" "$HELPER" --help
expect_out "--version" "^sasl-oauth2 [0-9]" "$HELPER" --version
"$HELPER" frobnicate >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "unknown command 'frobnicate'" "$T/err" \
	&& ok "unknown command: exit 2, one line" || { not_ok "unknown command"; diag "rc=$rc $(cat "$T/err")"; }
h list --frob >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q -- "--frob" "$T/err" && grep -q "list --help" "$T/err" \
	&& ok "unknown option: exit 2, one line with a hint" || { not_ok "unknown option"; diag "rc=$rc $(cat "$T/err")"; }
"$HELPER" --bogus list >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && ok "unknown global option: exit 2" || not_ok "unknown global option: rc=$rc"

# ---------------------------------------------------------------- templates
expect_out "templates lists generic" "^generic " h templates
expect_out "templates shows one" "^name  *generic" h templates generic
expect_error "unknown template in templates NAME" "not found" h templates no-such-template

# ---------------------------------------------------------------- add
umask 077
printf '%s\n' "$SECRET" >"$T/secret"
chmod 600 "$T/secret"
# shellcheck disable=SC2086
check "add a generic token with a secret file" h add work --template generic --user alice@example.test \
	--client-id cid --client-secret-file "$T/secret" --scope imap --scope smtp $URLS
[ -d "$S" ] && [ "$(stat -c %a "$S")" = 700 ] && ok "store directory created 0700" || not_ok "store mode $(stat -c %a "$S" 2>&1)"
[ "$(stat -c %a "$S/work.yaml")" = 600 ] && ok "config file is 0600" || not_ok "config mode $(stat -c %a "$S/work.yaml")"
# shellcheck disable=SC2086
printf '%s\n' "$SECRET-stdin" | h add viastdin --template generic --client-id cid --client-secret-file - $URLS >"$T/out" 2>&1 \
	&& grep -q "$SECRET-stdin" "$S/viastdin.yaml" && ok "add reads the client secret from stdin" \
	|| { not_ok "add --client-secret-file -"; diag "$(cat "$T/out")"; }
# shellcheck disable=SC2086
check "add keeping a path with --set client_secret_file" h add pathsecret --template generic --client-id cid \
	--set client_secret_file="$T/secret" $URLS
if grep -q "client_secret_file: *$T/secret" "$S/pathsecret.yaml" && ! grep -q "$SECRET" "$S/pathsecret.yaml"; then
	ok "client_secret_file stays a path"
else
	not_ok "client_secret_file stays a path"; diag "$(cat "$S/pathsecret.yaml")"
fi
check "add an e-mail address as name" h add alice@example.test --template generic --client-id cid $URLS

# shellcheck disable=SC2086
expect_error "existing name refused" "edit or remove" h add work --template generic --client-id cid $URLS
expect_error "unknown template" "template 'no-such'" h add x1 --template no-such
if [ -f "$top_srcdir/templates/microsoft-organizations.yaml" ]; then
	expect_error "tenant missing for microsoft-organizations" "tenant" \
		h add x2 --template microsoft-organizations --client-id cid
else
	not_ok "templates/microsoft-organizations.yaml is missing"
fi
expect_error "invalid URL scheme" "token_url" h add x3 --template generic --set token_url=ftp://example.com/token
expect_error "plain http to a non-loopback host" "token_url" \
	h add x4 --template generic --client-id cid --set auth_url=http://127.0.0.1:9/a --set token_url=http://example.com/token
expect_error "name with a slash" "name" h add a/b --template generic
expect_error "name '..'" "name" h add .. --template generic
expect_error "name with a leading dot" "name" h add .hidden --template generic
expect_error "empty name" "name" h add "" --template generic
expect_error "wrong type: refresh_margin=abc" "refresh_margin" h add x5 --template generic --set refresh_margin=abc
expect_error "wrong value: validity=maybe" "validity" h add x6 --template generic --set validity=maybe
expect_error "wrong value: flow" "flow" h add x7 --template generic --flow telepathy
expect_error "unknown key" "nosuchkey" h add x8 --template generic --set nosuchkey=1
expect_error "--set client_secret refused" "client-secret-file" h add x9 --template generic --set client_secret=$SECRET
expect_error "--client-secret refused" "client-secret-file" h add x10 --template generic --client-secret $SECRET
expect_error "missing --template" "template" h add x11
expect_error "world-readable secret file refused" "chmod 600" sh -c "chmod 644 '$T/secret' && '$HELPER' --store '$S' add x12 --template generic --client-id c --client-secret-file '$T/secret' $URLS; rc=\$?; chmod 600 '$T/secret'; exit \$rc"
expect_error "missing secret file" "nonexistent" h add x13 --template generic --client-id c --client-secret-file "$T/nonexistent" $URLS
# Over every refused command so far, the world-readable secret file (x12,
# the case that opens the secret) and --set client_secret=SECRET included.
if ! grep -q "secret.*chmod 600" "$T/errors.all"; then
	not_ok "secret never echoed in errors: the x12 error is not among the messages"
elif grep -q -- "$SECRET" "$T/errors.all"; then
	not_ok "secret never echoed in errors"; diag "$(grep -- "$SECRET" "$T/errors.all" | sed "s/$SECRET/SECRET/g")"
else
	ok "secret never echoed in errors"
fi

# ---------------------------------------------------------------- edit
check "edit sets several keys" h edit work --set refresh_margin=0 --set user=bob@example.test
grep -q "bob@example.test" "$S/work.yaml" && grep -q "refresh_margin: 0" "$S/work.yaml" \
	&& ok "edit persisted" || { not_ok "edit persisted"; diag "$(cat "$S/work.yaml")"; }
expect_error "template change refused" "template.*permanent" h edit work --set template=google
expect_error "edit is all-or-nothing" "refresh_margin" h edit work --set user=carol@example.test --set refresh_margin=-x
expect_error "edit of a missing token" "nosuch" h edit nosuch --set user=x@example.test
expect_error "edit client_secret refused" "client-secret-file" h edit work --set client_secret=$SECRET
expect_error "edit with a bad URL" "auth_url" h edit work --set auth_url=notaurl

# ---------------------------------------------------------------- list / show
expect_out "list shows the token" "^work  *generic  *bob@example.test  *valid" h list
expect_out "list shows 'not authorized'" "not authorized" h list
expect_out "list --json" '"name":"work"' h list --json
# --names: the names and nothing else, the same as list's first column.
h list | awk 'NR > 1 { print $1 }' >"$T/want"
if h list --names >"$T/out" 2>"$T/err" && [ -s "$T/want" ] && cmp -s "$T/want" "$T/out" && [ ! -s "$T/err" ]; then
	ok "list --names prints exactly the token names"
else
	not_ok "list --names prints exactly the token names"; diag "want:" "$(cat "$T/want")" "got:" "$(cat "$T/out" "$T/err")"
fi
expect_error "list --names with --json refused" "exclude" h list --names --json
expect_out "show shows the effective config" "^token_url  *http://127.0.0.1:9/token" h show work
expect_out "show masks the client secret" "^client_secret  *\*\*\*\*\*\*\*\*" h show work
expect_out "show --json masks the client secret" '"client_secret":"\*\*\*\*\*\*\*\*"' h show work --json
# no_leak DESC PATTERN CMD...: the command ran (exit 0, 1 or 2, not a crash),
# printed something, and nothing matching PATTERN.
no_leak() {
	_d=$1; _pat=$2; shift 2
	"$@" >"$T/out" 2>&1
	_rc=$?
	if [ $_rc -le 2 ] && [ -s "$T/out" ] && ! grep -q -- "$_pat" "$T/out"; then
		ok "$_d"
	else
		not_ok "$_d (exit $_rc)"; diag "$(sed "s/$_pat/SECRET/g" "$T/out")"
	fi
}
for c in "list" "list --json" "show work" "show work --json" "show viastdin" "status" "status --json" "export"; do
	# shellcheck disable=SC2086
	no_leak "no secret in '$c'" "$SECRET" h $c
done
expect_error "show of a missing token" "nosuch" h show nosuch

# ---------------------------------------------------------------- states and status
NOW=2000000000
state() { # state NAME JSON
	printf '%s\n' "$2" >"$S/$1.state"; chmod 600 "$S/$1.state"
}
state work '{"access_token":"at-cached-1","token_type":"Bearer","expires_at":2000003600,"refresh_token":"rt-cached-1","refresh_expires_at":0,"scope":"imap smtp","last_refresh":1999999000,"last_attempt":1999999000,"last_error":null,"refresh_token_dead":false,"access_rejected":false,"notified":0,"generation":1}'
SASL_OAUTH2_TEST_NOW=$NOW h token work >"$T/out" 2>"$T/err"
[ "$(cat "$T/out")" = "at-cached-1" ] && [ "$(wc -l <"$T/out")" -eq 1 ] && [ ! -s "$T/err" ] \
	&& ok "token prints the cached token, one line, no network" || { not_ok "token cached"; diag "$(cat "$T/out" "$T/err")"; }
SASL_OAUTH2_TEST_NOW=$NOW h status work >"$T/out"; rc=$?
[ $rc -eq 0 ] && grep -q "^work: ok" "$T/out" && ok "status ok: exit 0" || { not_ok "status ok rc=$rc"; diag "$(cat "$T/out")"; }
SASL_OAUTH2_TEST_NOW=$((NOW + 7200)) h status work >"$T/out"; rc=$?
[ $rc -eq 0 ] && grep -q "^work: ok" "$T/out" && ok "expired but refreshable access token is fine: exit 0" \
	|| { not_ok "refreshable rc=$rc"; diag "$(cat "$T/out")"; }
# The installed helper's clock is the real one (before 2033, when the
# cached token expires): the variable is ignored, the token handed out.
SASL_OAUTH2_TEST_NOW=$((NOW + 7200)) "$PROD_HELPER" --store "$S" token work >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ "$(cat "$T/out")" = "at-cached-1" ] &&
	ok "the installed helper ignores SASL_OAUTH2_TEST_NOW (only test builds move the clock)" ||
	{ not_ok "the installed helper ignores SASL_OAUTH2_TEST_NOW (exit $rc)"; diag "$(cat "$T/err")"; }
for c in "list" "show work" "status --json"; do
	# shellcheck disable=SC2086
	no_leak "no token in '$c'" "-cached-1" env SASL_OAUTH2_TEST_NOW=$NOW "$HELPER" --store "$S" $c
done
state viastdin '{"access_token":"at-2","token_type":"Bearer","expires_at":2000000100,"refresh_token":null,"refresh_expires_at":0,"scope":null,"last_refresh":0,"last_attempt":0,"last_error":null,"refresh_token_dead":false,"access_rejected":false,"notified":0,"generation":1}'
SASL_OAUTH2_TEST_NOW=$NOW h status viastdin >"$T/out"; rc=$?
[ $rc -eq 1 ] && grep -q "expires" "$T/out" && ok "access token without refresh expiring within the margin: exit 1" \
	|| { not_ok "expiring soon rc=$rc"; diag "$(cat "$T/out")"; }
SASL_OAUTH2_TEST_NOW=$((NOW + 200)) h status viastdin >"$T/out"; rc=$?
[ $rc -eq 2 ] && grep -q "^viastdin: token expired" "$T/out" && ok "expired without refresh: 'token expired', exit 2" \
	|| { not_ok "token expired rc=$rc"; diag "$(cat "$T/out")"; }
state pathsecret '{"access_token":"at-3","token_type":"Bearer","expires_at":1999990000,"refresh_token":"rt-3","refresh_expires_at":0,"scope":null,"last_refresh":0,"last_attempt":1999999999,"last_error":"invalid_grant","refresh_token_dead":true,"access_rejected":false,"notified":0,"generation":1}'
SASL_OAUTH2_TEST_NOW=$NOW h status pathsecret >"$T/out"; rc=$?
[ $rc -eq 2 ] && grep -q "^pathsecret: refresh token revoked" "$T/out" && ok "dead refresh token: 'refresh token revoked', exit 2" \
	|| { not_ok "revoked rc=$rc"; diag "$(cat "$T/out")"; }
state alice@example.test '{"access_token":"at-4","token_type":"Bearer","expires_at":2000003600,"refresh_token":"rt-4","refresh_expires_at":2000100000,"scope":null,"last_refresh":0,"last_attempt":0,"last_error":null,"refresh_token_dead":false,"access_rejected":false,"notified":0,"generation":1}'
SASL_OAUTH2_TEST_NOW=$NOW h status alice@example.test >"$T/out"; rc=$?
[ $rc -eq 1 ] && grep -q "refresh token expires" "$T/out" && ok "refresh token expiring within 7 days: exit 1" \
	|| { not_ok "rt soon rc=$rc"; diag "$(cat "$T/out")"; }
SASL_OAUTH2_TEST_NOW=$((NOW + 200000)) h status alice@example.test >"$T/out"; rc=$?
[ $rc -eq 2 ] && grep -q "refresh token expired" "$T/out" && ok "refresh token expired: exit 2" \
	|| { not_ok "rt expired rc=$rc"; diag "$(cat "$T/out")"; }
check "invalid validity" h edit alice@example.test --set validity=invalid
SASL_OAUTH2_TEST_NOW=$NOW h status alice@example.test >"$T/out"; rc=$?
[ $rc -eq 2 ] && grep -q "invalid" "$T/out" && ok "validity invalid: 'invalid', exit 2" \
	|| { not_ok "invalid rc=$rc"; diag "$(cat "$T/out")"; }
expect_error "token refuses an invalid token" "valid" env SASL_OAUTH2_TEST_NOW=$NOW "$HELPER" --store "$S" token alice@example.test
named_once alice@example.test "token of an invalid token"

# A state file cut in half.
cp "$S/work.state" "$T/work.state.bak"
head -c 60 "$T/work.state.bak" >"$S/work.state"
expect_error "a state cut in half gives a clear error" "work" env SASL_OAUTH2_TEST_NOW=$NOW "$HELPER" --store "$S" token work
grep -q "state" "$T/err" && ok "the error mentions the state" || { not_ok "truncated state message"; diag "$(cat "$T/err")"; }
expect_out "list reports the broken state" "^work .*invalid state" h list
expect_out "list --names does not read the state" "^work$" h list --names
cp "$T/work.state.bak" "$S/work.state"

# ---------------------------------------------------------------- permissions
chmod 770 "$S"
expect_error "group-writable store refused with its path" "$S" h list
chmod 700 "$S"
chmod 666 "$S/work.yaml"
expect_error "world-writable config refused with its path" "work.yaml" h show work
chmod 600 "$S/work.yaml"

# ---------------------------------------------------------------- remove
check "remove" h remove viastdin
[ ! -e "$S/viastdin.yaml" ] && [ ! -e "$S/viastdin.state" ] && ok "remove deleted config and state" || not_ok "remove left files"
expect_error "remove of a missing token" "viastdin" h remove viastdin
named_once viastdin "remove of a missing token"
for c in token show authorize refresh; do
	expect_error "$c of a missing token: no such token" "sasl-oauth2: viastdin: .*: no such token in store" h $c viastdin
	named_once viastdin "$c of a missing token"
done
expect_error "status of a missing token: no such token" "sasl-oauth2: viastdin: no such token in store" h status viastdin
expect_out "remove --revoke without revoke_url says so" "no revoke_url" h remove pathsecret --revoke
[ ! -e "$S/pathsecret.yaml" ] && ok "remove --revoke without revoke_url removes" || not_ok "pathsecret still there"
expect_out "list after remove" "^work " h list

done_testing
