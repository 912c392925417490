#!/bin/sh
# test_exports.sh - the module exports sasl_client_plug_init and nothing
# else (the tokenstore is linked in statically and must stay hidden, so it
# cannot clash with symbols of the host program or other plugins).
. "$top_srcdir/tests/lib.sh"

so="$PLUGIN_DIR/libsasloauth2.so"
[ -f "$so" ] || { not_ok "module built at $so"; done_testing; exit; }
ok "module built"
require_tool nm

nm -D --defined-only "$so" | awk '$2 ~ /^[A-Z]$/ && $2 != "U" && $2 != "w" && $2 != "V" { print $3 }' \
	| sort -u >"$T/defined"
if [ "$(cat "$T/defined")" = sasl_client_plug_init ]; then
	ok "only sasl_client_plug_init is exported"
else
	not_ok "only sasl_client_plug_init is exported"
	diag "exported: $(tr '\n' ' ' <"$T/defined")"
fi
if nm -D --undefined-only "$so" | grep -q ' ts_\| oa2_'; then
	not_ok "tokenstore linked statically (no undefined ts_/oa2_ symbols)"
else
	ok "tokenstore linked statically (no undefined ts_/oa2_ symbols)"
fi
if ldd "$so" 2>/dev/null | grep -q 'not found'; then
	not_ok "every shared library the module needs is found"; diag "$(ldd "$so")"
else
	ok "every shared library the module needs is found"
fi
done_testing
