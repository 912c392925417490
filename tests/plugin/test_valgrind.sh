#!/bin/sh
# test_valgrind.sh - 2000 logins through the plugin under valgrind (or
# LeakSanitizer in a sanitizer build): no definite leaks and no memory
# errors, in the plugin or anywhere else. As root the loop runs twice: as
# root, where the plugin loads libcurl with itself (oauth2_preload=auto in
# a process that may chroot), and without CAP_SYS_CHROOT, where the loop's
# first refresh loads it.
. "$top_srcdir/tests/lib.sh"

prog="$top_builddir/tests/plugin/test_plugin"
[ -x "$prog" ] || { not_ok "test program built"; done_testing; exit; }
n=${PLUGIN_LOOP_LOGINS:-2000}
# The runs: "as is", and as root also "without CAP_SYS_CHROOT" (a process
# whose bounding set lacks it), with fewer logins.
runs="asis"
if [ "$(id -u)" -eq 0 ]; then
	require_tool setpriv
	runs="asis nocap"
fi
asis() { "$@"; }
nocap() { setpriv --bounding-set -sys_chroot "$@"; }
what() { [ "$1" = asis ] && echo "" || echo " without CAP_SYS_CHROOT"; }
logins() { [ "$1" = asis ] && echo "$n" || echo $(( (n + 3) / 4 )); }

# The loop's own TAP lines: none may fail.
loop_checks() { # RUN
	if grep -q '^not ok' "$T/loop.$1.out" || ! grep -q '^ok' "$T/loop.$1.out"; then
		not_ok "the login loop's own checks pass$(what "$1")"; diag "$(tail -20 "$T/loop.$1.out")"
	else
		ok "the login loop's own checks pass$(what "$1")"
	fi
}

# An ASan build cannot run under valgrind: there LeakSanitizer checks the
# same loop at exit (non-zero exit status on a leak or memory error).
if nm "$prog" 2>/dev/null | grep -q __asan_init; then
	for r in $runs; do
		m=$(logins "$r")
		if TMPDIR="$T" ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}" $r "$prog" loop "$m" \
			>"$T/loop.$r.out" 2>&1; then
			ok "$m logins under ASan/LSan$(what "$r"): no errors, no leaks"
		else
			not_ok "$m logins under ASan/LSan$(what "$r"): no errors, no leaks"
			diag "$(tail -60 "$T/loop.$r.out")"
		fi
		loop_checks "$r"
	done
	done_testing
	exit
fi
require_tool valgrind
for r in $runs; do
	m=$(logins "$r")
	if TMPDIR="$T" $r valgrind -q --error-exitcode=1 --leak-check=full \
		--errors-for-leak-kinds=definite --show-leak-kinds=definite \
		--log-file="$T/valgrind.$r.log" "$prog" loop "$m" >"$T/loop.$r.out" 2>&1; then
		ok "$m logins under valgrind$(what "$r"): no errors, no definite leaks"
	else
		not_ok "$m logins under valgrind$(what "$r"): no errors, no definite leaks"
		diag "$(head -60 "$T/valgrind.$r.log")" "$(cat "$T/loop.$r.out")"
	fi
	loop_checks "$r"
done
done_testing
