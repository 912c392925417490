#!/bin/sh
# tests/cli/test_export.sh - export and import: round trips with and
# without secrets, client_secret_file staying a path, --overwrite replacing
# only same-name tokens, --dry-run, and broken documents refused with
# file:line and the store left byte for byte as it was.
. "$top_srcdir/tests/lib.sh"
# The clock is moved with SASL_OAUTH2_TEST_NOW: the helper with the test hooks.
HELPER=$HELPER_TESTHOOKS

A="$T/store-a"
B="$T/store-b"
C="$T/store-c"
NOW=2000000000
export SASL_OAUTH2_TEST_NOW=$NOW

snap() { # snap DIR
	[ -d "$1" ] || { echo "no store"; return; }
	(cd "$1" && find . -type f | LC_ALL=C sort | xargs -r sha256sum)
	ls -la --time-style=+%s "$1" | grep -v ' \.\.$'
}

# import_refused DESC STORE FILE PATTERN [IMPORT OPTIONS...]: import fails
# with one line matching PATTERN, the store unchanged.
import_refused() {
	_d=$1; _s=$2; _f=$3; _pat=$4; shift 4
	_before=$(snap "$_s")
	"$HELPER" --store "$_s" import "$_f" "$@" >"$T/out" 2>"$T/err"
	_rc=$?
	_after=$(snap "$_s")
	if [ $_rc -ne 0 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q -- "$_pat" "$T/err" &&
	   [ "$_before" = "$_after" ]; then
		ok "$_d"
	else
		not_ok "$_d"
		diag "exit $_rc, wanted /$_pat/:" "$(cat "$T/err")"
		[ "$_before" = "$_after" ] || diag "the store changed"
	fi
}

URLS="--set auth_url=http://127.0.0.1:9/authorize --set token_url=http://127.0.0.1:9/token"
SECRET=export-test-secret-PLUGH
umask 077
printf '%s\n' "$SECRET" >"$T/secret"

# shellcheck disable=SC2086
check "add inline-secret token" "$HELPER" --store "$A" add inline --template generic --client-id cid1 \
	--client-secret-file "$T/secret" --user one@example.test --scope imap --scope smtp $URLS
# shellcheck disable=SC2086
check "add secret-file token" "$HELPER" --store "$A" add filesecret --template generic --client-id cid2 \
	--set client_secret_file="$T/secret" --user two@example.test --set refresh_margin=0 $URLS
# shellcheck disable=SC2086
check "add public token" "$HELPER" --store "$A" add public@example.test --template generic --client-id pub \
	--set client_auth=none $URLS
printf '%s\n' '{"access_token":"at-export-1","token_type":"Bearer","expires_at":2000003600,"refresh_token":"rt-export-1","refresh_expires_at":0,"scope":"imap","last_refresh":1999999000,"last_attempt":1999999000,"last_error":null,"refresh_token_dead":false,"access_rejected":false,"notified":0,"generation":3}' >"$A/filesecret.state"
chmod 600 "$A/filesecret.state"

# ---------------------------------------------------------------- export
check "export without secrets" sh -c "'$HELPER' --store '$A' export >'$T/plain.yaml'"
if grep -q -- "$SECRET" "$T/plain.yaml" || grep -q "export-1" "$T/plain.yaml"; then
	not_ok "export without --with-secrets holds no secret"; diag "$(cat "$T/plain.yaml")"
else
	ok "export without --with-secrets holds no secret"
fi
grep -q "client_secret_file: *$T/secret" "$T/plain.yaml" && ok "client_secret_file exported as a path" \
	|| { not_ok "client_secret_file path"; diag "$(cat "$T/plain.yaml")"; }
grep -q "^sasl-oauth2-export: 1" "$T/plain.yaml" && [ "$(grep -c -- '- name:' "$T/plain.yaml")" -eq 3 ] \
	&& ok "export lists the three tokens" || { not_ok "export document"; diag "$(cat "$T/plain.yaml")"; }
check "export NAME" sh -c "'$HELPER' --store '$A' export inline >'$T/one.yaml'"
[ "$(grep -c -- '- name:' "$T/one.yaml")" -eq 1 ] && ok "export NAME exports one" || not_ok "export NAME"
check "export --with-secrets -o FILE" "$HELPER" --store "$A" export --with-secrets -o "$T/full.yaml"
[ "$(stat -c %a "$T/full.yaml")" = 600 ] && ok "-o FILE is mode 0600" || not_ok "-o mode $(stat -c %a "$T/full.yaml")"
# As root into a directory another user owns: the file is root's, never
# given to the directory's owner (who would get every secret).
if [ "$(id -u)" -eq 0 ]; then
	mkdir -m 755 "$T/nobodys" && chown 65534:65534 "$T/nobodys"
	"$HELPER" --store "$A" export --with-secrets -o "$T/nobodys/full.yaml" 2>"$T/err"
	got=$(stat -c '%u %a' "$T/nobodys/full.yaml" 2>&1)
	[ "$got" = "0 600" ] && ok "export -o as root into nobody's directory: the file is root's, 0600" ||
		{ not_ok "export -o as root into nobody's directory: the file is root's, 0600 (got $got)"; diag "$(cat "$T/err")"; }
else
	ok "export -o as root into nobody's directory # SKIP needs root"
fi
[ "$(grep -c -- "$SECRET" "$T/full.yaml")" -eq 2 ] && ok "client secrets inlined (also from client_secret_file)" \
	|| { not_ok "secrets in --with-secrets"; diag "$(cat "$T/full.yaml")"; }
grep -q "rt-export-1" "$T/full.yaml" && grep -q "at-export-1" "$T/full.yaml" && ok "state exported with secrets" \
	|| not_ok "state in --with-secrets"
grep -q "client_secret_file: *$T/secret" "$T/full.yaml" && ok "client_secret_file still a path with secrets" \
	|| not_ok "client_secret_file path with secrets"
ls -a "$T" | grep -q '\.tmp$' && not_ok "temporary file left by -o" || ok "no temporary file left by -o"
expect_missing() { "$HELPER" --store "$A" export nosuch >"$T/out" 2>"$T/err"; }
if expect_missing; then not_ok "export of a missing token fails"; else
	[ "$(wc -l <"$T/err")" -eq 1 ] && ok "export of a missing token: one error line" || not_ok "export missing: $(cat "$T/err")"; fi

# ---------------------------------------------------------------- round trips
check "import with secrets into an empty store" "$HELPER" --store "$B" import "$T/full.yaml"
"$HELPER" --store "$A" export >"$T/a.yaml"
"$HELPER" --store "$B" export >"$T/b.yaml"
cmp -s "$T/a.yaml" "$T/b.yaml" && ok "round trip keeps the configurations" \
	|| { not_ok "round trip differs"; diag "$(diff "$T/a.yaml" "$T/b.yaml")"; }
[ "$("$HELPER" --store "$B" token filesecret 2>&1)" = "at-export-1" ] \
	&& ok "imported state works without a new consent" || not_ok "token from the imported state"
grep -q -- "$SECRET" "$B/inline.yaml" && ok "inline secret imported" || not_ok "inline secret imported"
modes=$(stat -c '%a %n' "$B"/* | grep -v '^600 ')
[ -z "$modes" ] && [ -e "$B/inline.yaml" ] && ok "imported files are 0600" || { not_ok "imported files are 0600"; diag "$modes"; }
# The imported store holds what the exported one held: configuration files
# byte for byte, state files field for field. Comparing the store files, not
# two exports, catches a field that export and import both drop.
for f in inline.yaml public@example.test.yaml; do
	cmp -s "$A/$f" "$B/$f" && ok "round trip: $f is the same in both stores" ||
		{ not_ok "round trip: $f is the same in both stores"; diag "$(diff "$A/$f" "$B/$f")"; }
done
# --with-secrets inlined the secret of client_secret_file: that line is new.
grep -v '^client_secret: ' "$B/filesecret.yaml" >"$T/filesecret.b"
cmp -s "$A/filesecret.yaml" "$T/filesecret.b" && grep -q "^client_secret: $SECRET\$" "$B/filesecret.yaml" &&
	ok "round trip: filesecret.yaml is the same, plus the inlined secret" ||
	{ not_ok "round trip: filesecret.yaml is the same, plus the inlined secret"; diag "$(diff "$A/filesecret.yaml" "$B/filesecret.yaml")"; }
# generation counts writes in each store, so it may differ.
"$PYTHON3" -c '
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
diff = sorted(k for k in set(a) | set(b) if k != "generation" and a.get(k) != b.get(k))
print(" ".join(diff))
sys.exit(1 if diff else 0)' "$A/filesecret.state" "$B/filesecret.state" >"$T/statediff" 2>&1 &&
	ok "round trip: every field of the state survives" ||
	not_ok "round trip: state fields differ: $(cat "$T/statediff")"

check "import without secrets (from stdin)" sh -c "'$HELPER' --store '$C' import - <'$T/plain.yaml'"
"$HELPER" --store "$C" export >"$T/c.yaml"
cmp -s "$T/a.yaml" "$T/c.yaml" && ok "round trip without secrets" || { not_ok "round trip without secrets"; diag "$(diff "$T/a.yaml" "$T/c.yaml")"; }
[ ! -e "$C/filesecret.state" ] && ok "no state imported without secrets" || not_ok "state appeared"
grep -q "client_secret_file: *$T/secret" "$C/filesecret.yaml" && ! grep -q -- "$SECRET" "$C/filesecret.yaml" \
	&& ok "client_secret_file imported as a path" || not_ok "client_secret_file imported as a path"

# ---------------------------------------------------------------- skip / overwrite / dry run
# shellcheck disable=SC2086
check "add a token only in B" "$HELPER" --store "$B" add onlyb --template generic --client-id b $URLS
sed 's/one@example.test/changed@example.test/' "$T/plain.yaml" >"$T/changed.yaml"
other_before=$(sha256sum <"$B/onlyb.yaml")
before=$(snap "$B")
"$HELPER" --store "$B" import "$T/changed.yaml" >"$T/out" 2>&1
[ "$(snap "$B")" = "$before" ] && grep -q "skipped inline" "$T/out" && ok "existing names are skipped and reported" \
	|| { not_ok "skip"; diag "$(cat "$T/out")"; }
"$HELPER" --store "$B" import --dry-run --overwrite "$T/changed.yaml" >"$T/out" 2>&1
[ "$(snap "$B")" = "$before" ] && grep -q "would replace inline" "$T/out" && ok "--dry-run changes nothing and says what it would do" \
	|| { not_ok "dry run"; diag "$(cat "$T/out")"; }
check "import --overwrite" "$HELPER" --store "$B" import --overwrite "$T/changed.yaml"
grep -q "changed@example.test" "$B/inline.yaml" && ok "--overwrite replaced the same-name token" || not_ok "--overwrite did not replace"
[ "$(sha256sum <"$B/onlyb.yaml")" = "$other_before" ] && ok "--overwrite left other tokens alone" || not_ok "--overwrite touched onlyb"
[ "$("$HELPER" --store "$B" token filesecret 2>&1)" = "at-export-1" ] && ok "--overwrite without state keeps the state" \
	|| not_ok "state lost by --overwrite"
rm -rf "$C"
"$HELPER" --store "$B" export >/dev/null
mkdir -p "$C" && chmod 700 "$C"
before=$(snap "$C")
"$HELPER" --store "$C" import --dry-run "$T/plain.yaml" >"$T/out" 2>&1
[ "$(snap "$C")" = "$before" ] && grep -q "would add inline" "$T/out" && ok "--dry-run into an empty store adds nothing" \
	|| { not_ok "dry run empty"; diag "$(cat "$T/out")"; }

# ---------------------------------------------------------------- broken documents
cat >"$T/syntax.yaml" <<'EOF'
sasl-oauth2-export: 1
tokens:
  - name: good1
    template: generic
    client_id: x
    token_url: http://127.0.0.1:9/token
  - name: [unclosed
EOF
import_refused "syntax error refused" "$B" "$T/syntax.yaml" "syntax.yaml:[0-9]"

cat >"$T/tmpl.yaml" <<'EOF'
sasl-oauth2-export: 1
tokens:
  - name: good2
    template: generic
    client_id: x
    auth_url: http://127.0.0.1:9/authorize
    token_url: http://127.0.0.1:9/token
  - name: badtemplate
    template: no-such-provider
    client_id: x
EOF
import_refused "unknown template refused" "$B" "$T/tmpl.yaml" "tmpl.yaml:8:.*no-such-provider"

cat >"$T/name.yaml" <<'EOF'
sasl-oauth2-export: 1
tokens:
  - name: good3
    template: generic
    client_id: x
    auth_url: http://127.0.0.1:9/authorize
    token_url: http://127.0.0.1:9/token
  - name: ../evil
    template: generic
    client_id: x
EOF
import_refused "bad name refused" "$B" "$T/name.yaml" "name.yaml:8:"

cat >"$T/type.yaml" <<'EOF'
sasl-oauth2-export: 1
tokens:
  - name: good4
    template: generic
    client_id: x
    auth_url: http://127.0.0.1:9/authorize
    token_url: http://127.0.0.1:9/token
    refresh_margin: soon
EOF
import_refused "wrong type refused" "$B" "$T/type.yaml" "type.yaml:8:.*refresh_margin"

cat >"$T/dup.yaml" <<'EOF'
sasl-oauth2-export: 1
tokens:
  - name: dup
    template: generic
    client_id: x
    auth_url: http://127.0.0.1:9/authorize
    token_url: http://127.0.0.1:9/token
  - name: dup
    template: generic
    client_id: y
    auth_url: http://127.0.0.1:9/authorize
    token_url: http://127.0.0.1:9/token
EOF
import_refused "duplicate names refused" "$B" "$T/dup.yaml" "dup.yaml:8:.*dup"

cat >"$T/url.yaml" <<'EOF'
sasl-oauth2-export: 1
tokens:
  - name: good5
    template: generic
    client_id: x
    auth_url: http://127.0.0.1:9/authorize
    token_url: http://127.0.0.1:9/token
  - name: badurl
    template: generic
    client_id: x
    auth_url: http://127.0.0.1:9/authorize
    token_url: http://mail.example.com/token
EOF
import_refused "semantic check (plain http to a remote host) refused" "$B" "$T/url.yaml" "url.yaml:1[12]:.*token_url"
import_refused "broken document refused by --overwrite too" "$B" "$T/tmpl.yaml" "tmpl.yaml:8:" --overwrite
printf 'just: a string\n' >"$T/notexport.yaml"
import_refused "a document that is not an export refused" "$B" "$T/notexport.yaml" "notexport.yaml"
import_refused "a missing file refused" "$B" "$T/missing.yaml" "missing.yaml"
wrote=""
for n in good1 good2 good3 good4 good5 dup badurl; do
	[ -e "$B/$n.yaml" ] && wrote="$wrote $n"
done
[ -z "$wrote" ] && ok "refused imports wrote none of their tokens" || not_ok "refused imports wrote:$wrote"
ls -a "$B" | grep -qE '\.tmp$|^good|^dup' && not_ok "files left behind" || ok "no temporary or lock files left behind"

done_testing
