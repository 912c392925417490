#!/bin/sh
# tests/cli/test_lazy_curl.sh - the helper maps libcurl (and the two dozen
# libraries it brings) only when it needs the network or parses a URL
# (tokenstore/curl_dl.c): `token` with a valid cached token starts without
# it, and a refresh still loads it and reaches the token endpoint.
. "$top_srcdir/tests/lib.sh"

# The dynamic loader names every object it maps (glibc: LD_DEBUG=files).
LD_DEBUG=files "$HELPER" --version 2>&1 | grep -q 'file=' ||
	skip_all "the dynamic loader does not report loaded files (not glibc)"
S="$T/store"
CONF="$T/empty.conf"
: >"$CONF"
h() { "$HELPER" --store "$S" --config "$CONF" "$@"; }
umask 077
check "add a token" h add lazy --template generic --client-id app --user lazy@example.test \
	--set auth_url=http://127.0.0.1:9/authorize --set token_url=http://127.0.0.1:9/token
printf '{"access_token": "at-lazy", "token_type": "Bearer", "expires_at": %s, "refresh_token": "rt-lazy", "generation": 1}\n' \
	"$(( $(date +%s) + 86400 ))" >"$S/lazy.state"

LD_DEBUG=files h token lazy >"$T/out" 2>"$T/ld"
if [ "$(cat "$T/out")" = at-lazy ]; then ok "token prints the cached token"; else
	not_ok "token prints the cached token"; diag "$(cat "$T/out")"; fi
if grep -q 'file=[^ ]*libcurl' "$T/ld"; then
	not_ok "token with a valid token does not load libcurl"; diag "$(grep 'file=[^ ]*libcurl' "$T/ld" | head -3)"
else
	ok "token with a valid token does not load libcurl"
fi

# Due now: the refresh goes to the (closed) token endpoint through libcurl.
printf '{"access_token": "at-lazy", "token_type": "Bearer", "expires_at": 1000, "refresh_token": "rt-lazy", "generation": 1}\n' \
	>"$S/lazy.state"
LD_DEBUG=files h token lazy >"$T/out" 2>"$T/ld"
rc=$?
if grep -q 'file=[^ ]*libcurl' "$T/ld"; then ok "a due token loads libcurl"; else
	not_ok "a due token loads libcurl"; fi
grep -v '^ *[0-9]*:' "$T/ld" >"$T/err"
if [ $rc -ne 0 ] && grep -q "127.0.0.1:9" "$T/err" && ! grep -q "cannot load" "$T/err"; then
	ok "and its refresh reaches the token endpoint (a network error)"
else
	not_ok "and its refresh reaches the token endpoint (a network error)"; diag "$(cat "$T/err")"
fi
done_testing
