#!/bin/sh
# test_valgrind.sh - 2000 logins through the plugin under valgrind: no
# definite leaks and no memory errors, in the plugin or anywhere else.
. "$top_srcdir/tests/lib.sh"

command -v valgrind >/dev/null 2>&1 || skip_all "valgrind not installed"
prog="$top_builddir/tests/plugin/test_plugin"
[ -x "$prog" ] || { not_ok "test program built"; done_testing; exit; }
# An ASan build cannot run under valgrind.
if nm "$prog" 2>/dev/null | grep -q __asan_init; then
	skip_all "sanitizer build (ASan checks leaks itself)"
fi

n=${PLUGIN_LOOP_LOGINS:-2000}
if TMPDIR="$T" valgrind -q --error-exitcode=1 --leak-check=full \
	--errors-for-leak-kinds=definite --show-leak-kinds=definite \
	--log-file="$T/valgrind.log" "$prog" loop "$n" >"$T/loop.out" 2>&1; then
	ok "$n logins under valgrind: no errors, no definite leaks"
else
	not_ok "$n logins under valgrind: no errors, no definite leaks"
	diag "$(head -60 "$T/valgrind.log")" "$(cat "$T/loop.out")"
fi
if grep -q '^not ok' "$T/loop.out" || ! grep -q '^ok' "$T/loop.out"; then
	not_ok "the login loop's own checks pass"; diag "$(cat "$T/loop.out")"
else
	ok "the login loop's own checks pass"
fi
done_testing
