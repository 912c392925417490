#!/bin/sh
# tests/cli/test_import_atomic.sh - import is all or nothing, and --dry-run
# predicts it: an --overwrite entry that changes a token's template (or
# names a token the store cannot read) is refused by both before anything
# is written, with the same message; a write that fails half way (the disk
# fills up: tests/cli/failwrite.c) puts back every entry written before it.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/server/server.sh"
. "$top_srcdir/tests/cli/store.sh"

failwrite_init
S="$T/store"
X="$T/scratch"
: >"$T/empty.conf"
h() { "$HELPER" --store "$S" --config "$T/empty.conf" "$@"; }
x() { "$HELPER" --store "$X" --config "$T/empty.conf" "$@"; }
URLS="--set auth_url=https://auth.example/a --set token_url=https://auth.example/t"
umask 077
snap() { (cd "$S" && find . -type f | LC_ALL=C sort | xargs -r sha256sum; ls -lan --time-style=+%s . | grep -v ' \.\.$'); }
state() { # state STORE NAME AT
	printf '{"access_token":"%s","token_type":"Bearer","expires_at":4000000000,"refresh_token":"rt-%s","generation":1}\n' "$3" "$3" >"$1/$2.state"
	chmod 600 "$1/$2.state"
}

# shellcheck disable=SC2086
h add b --template generic --client-id cid-b $URLS >/dev/null 2>&1
# shellcheck disable=SC2086
h add c --template generic --client-id cid-c $URLS >/dev/null 2>&1
state "$S" c at-c-old

# ---- a template change in the middle of the document
cat >"$T/imp.yaml" <<EOF
sasl-oauth2-export: 1
tokens:
  - name: a
    template: generic
    client_id: cid
    auth_url: https://auth.example/a
    token_url: https://auth.example/t
  - name: b
    template: google
    client_id: cid2
EOF
before=$(snap)
h import --dry-run --overwrite "$T/imp.yaml" >"$T/dry.out" 2>"$T/dry.err"; drc=$?
h import --overwrite "$T/imp.yaml" >"$T/real.out" 2>"$T/real.err"; rrc=$?
[ $rrc -ne 0 ] && [ "$(snap)" = "$before" ] && ok "a template change refuses the whole import: the store is byte for byte as it was" ||
	{ not_ok "a template change refuses the whole import (exit $rrc)"; diag "$(cat "$T/real.out" "$T/real.err")"; ls -A "$S" | sed 's/^/# /'; }
[ "$(wc -l <"$T/real.err")" -eq 1 ] && grep -q "imp.yaml:[0-9]*:[0-9]*: .*'template' is permanent.*remove b.*nothing was imported" "$T/real.err" &&
	ok "one line naming the file, the entry, the reason and the fix" ||
	{ not_ok "one line naming the file, the entry, the reason and the fix"; diag "$(cat "$T/real.err")"; }
[ $drc -eq $rrc ] && cmp -s "$T/dry.err" "$T/real.err" && [ ! -s "$T/dry.out" ] &&
	ok "--dry-run predicts it: the same exit status and the same error" ||
	{ not_ok "--dry-run predicts it (exit $drc vs $rrc)"; diag "$(cat "$T/dry.out" "$T/dry.err")"; }

# ---- a token the store cannot read, to be replaced (root only: a file of another user)
if [ "$(id -u)" -eq 0 ]; then
	chown 65534 "$S/b.yaml"
	printf '    auth_url: https://auth.example/a\n    token_url: https://auth.example/t\n' >>"$T/imp.yaml"
	sed -i 's/template: google/template: generic/' "$T/imp.yaml"
	before=$(snap)
	h import --dry-run --overwrite "$T/imp.yaml" >"$T/dry.out" 2>"$T/dry.err"; drc=$?
	h import --overwrite "$T/imp.yaml" >"$T/real.out" 2>"$T/real.err"; rrc=$?
	[ $rrc -ne 0 ] && [ "$(snap)" = "$before" ] && cmp -s "$T/dry.err" "$T/real.err" && [ $drc -eq $rrc ] &&
		grep -q "cannot be read, so it cannot be replaced" "$T/real.err" &&
		ok "an unreadable token to replace refuses the whole import, and --dry-run says the same" ||
		{ not_ok "an unreadable token to replace refuses the whole import (exit $drc/$rrc)"; diag "$(cat "$T/dry.err" "$T/real.err")"; }
	chown 0 "$S/b.yaml"
else
	ok "an unreadable token to replace refuses the whole import # SKIP needs root"
fi

# ---- the disk fills up half way: everything written is put back
for n in a2 c d2; do
	# shellcheck disable=SC2086
	x add $n --template generic --client-id cid-$n $URLS >/dev/null 2>&1
	state "$X" $n at-$n-new
done
x export --with-secrets -o "$T/imp2.yaml" 2>"$T/err" || diag "$(cat "$T/err")"
h list >"$T/list.before"
cfg_c=$(h show c)
# State writes: the first (a2) works, the second (c) fails, the rest work.
FAILWRITE=write FAILWRITE_FROM=start FAILWRITE_SKIP=1 FAILWRITE_UNTIL=2 LD_PRELOAD="$SHIM" \
	"$HELPER" --store "$S" --config "$T/empty.conf" import --overwrite "$T/imp2.yaml" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q "^sasl-oauth2: c: import failed: .*No space left.*put back as it was, nothing was imported" "$T/err" &&
	ok "a write failing half way: the import fails naming the entry and the reason" ||
	{ not_ok "a write failing half way: the import fails naming the entry and the reason (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
h list >"$T/list.after"
[ ! -e "$S/a2.yaml" ] && [ ! -e "$S/a2.state" ] && [ ! -e "$S/d2.yaml" ] && cmp -s "$T/list.before" "$T/list.after" &&
	ok "the entry added before the failure was taken back" ||
	{ not_ok "the entry added before the failure was taken back"; diag "$(ls -A "$S")"; }
[ "$(h show c)" = "$cfg_c" ] && grep -q '"access_token": *"at-c-old"' "$S/c.state" &&
	ok "the token being replaced has its configuration and state back" ||
	{ not_ok "the token being replaced has its configuration and state back"; diag "$(cat "$S/c.state")"; }
ls -A "$S" | grep -q '\.tmp$' && not_ok "no temporary file is left" || ok "no temporary file is left"
# And without the fault the same document imports completely.
h import --overwrite "$T/imp2.yaml" >"$T/out" 2>"$T/err" && grep -q "1 added\|2 added" "$T/out" &&
	grep -q '"access_token": *"at-c-new"' "$S/c.state" && [ -e "$S/d2.yaml" ] &&
	ok "with room on the disk the document imports completely" ||
	{ not_ok "with room on the disk the document imports completely"; diag "$(cat "$T/out" "$T/err")"; }
done_testing
