#!/bin/sh
# test_valgrind.sh - 2000 logins through the plugin under valgrind (or
# LeakSanitizer in a sanitizer build): no definite leaks and no memory
# errors, in the plugin or anywhere else.
. "$top_srcdir/tests/lib.sh"

prog="$top_builddir/tests/plugin/test_plugin"
[ -x "$prog" ] || { not_ok "test program built"; done_testing; exit; }
n=${PLUGIN_LOOP_LOGINS:-2000}
# An ASan build cannot run under valgrind: there LeakSanitizer checks the
# same loop at exit (non-zero exit status on a leak or memory error).
if nm "$prog" 2>/dev/null | grep -q __asan_init; then
	if TMPDIR="$T" ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}" "$prog" loop "$n" >"$T/loop.out" 2>&1; then
		ok "$n logins under ASan/LSan: no errors, no leaks"
	else
		not_ok "$n logins under ASan/LSan: no errors, no leaks"; diag "$(tail -60 "$T/loop.out")"
	fi
	if grep -q '^not ok' "$T/loop.out" || ! grep -q '^ok' "$T/loop.out"; then
		not_ok "the login loop's own checks pass"; diag "$(tail -20 "$T/loop.out")"
	else
		ok "the login loop's own checks pass"
	fi
	done_testing
	exit
fi
require_tool valgrind
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
