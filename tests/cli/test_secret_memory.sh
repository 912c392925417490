#!/bin/sh
# tests/cli/test_secret_memory.sh - secrets in the helper's memory
# (security review finding 9):
# - libcurl's buffers (the request with the client secret, the answer with
#   the access token) are wiped before libcurl frees them: a test build of
#   the helper with free() interposed (tests/cli/freecheck.c) counts the
#   freed blocks that still hold a secret, per library that freed them;
# - the helper cannot dump core while it runs (RLIMIT_CORE 0) and is not
#   dumpable (PR_SET_DUMPABLE 0: its /proc/PID files belong to root), and a
#   program it starts gets the original core limit back.
# json-c and libyaml have no allocator hooks: their counts are reported,
# not checked (docs/SECURITY.md says so).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/server/server.sh"

sanitizer=0
if ldd "$HELPER" 2>/dev/null | grep -q 'lib[at]san'; then sanitizer=1; fi
FC="$top_builddir/tests/cli/sasl-oauth2-freecheck"

oauth_server_start --access-ttl 60 || { not_ok "test OAuth2 server starts"; done_testing; exit 1; }
S="$T/store"
umask 077
: >"$T/empty.conf"
printf 'post-only-secret\n' >"$T/post.secret"
"$HELPER" --store "$S" --config "$T/empty.conf" add cc --template generic \
	--client-id post-only-client --client-secret-file "$T/post.secret" \
	--flow client_credentials --set client_auth=post --set token_url="$OAUTH_URL/token" >/dev/null

# ---------------------------------------------------------------- libcurl's buffers
if [ $sanitizer -eq 1 ]; then
	ok "libcurl frees no secret unwiped # SKIP sanitizer build (ASan owns free)"
else
	FREECHECK_MARKERS='post-only-secret|"access_token"' FREECHECK_OUT="$T/fc.out" \
		"$FC" --store "$S" --config "$T/empty.conf" authorize cc >"$T/out" 2>"$T/err"; rc=$?
	curl_n=$(sed -n 's/^libcurl //p' "$T/fc.out" 2>/dev/null)
	if [ $rc -eq 0 ] && [ "$curl_n" = 0 ]; then
		ok "libcurl frees no block holding the client secret or the token answer unwiped"
	else
		not_ok "libcurl frees secrets unwiped (exit $rc, '$curl_n' blocks)"
		diag "$(cat "$T/err" "$T/fc.out" 2>/dev/null)"
	fi
	diag "blocks freed with a secret in them, by library: $(tr '\n' ' ' <"$T/fc.out" 2>/dev/null)"
fi

# ---------------------------------------------------------------- core dumps
# A helper that waits: import - reads standard input until it ends.
mkfifo "$T/fifo"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
	# As root every /proc entry is readable and owned alike: run the
	# helper as nobody, so that "owned by root" means "not dumpable".
	pub=$(mktemp -d "${TMPDIR:-/tmp}/so2pub.XXXXXX")
	at_exit "rm -rf '$pub'"
	chmod 755 "$pub"
	: >"$pub/empty.conf"
	chmod 644 "$pub/empty.conf"
	(ulimit -c 1024 2>/dev/null; exec setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$HELPER" --store "$pub/store" --config "$pub/empty.conf" import - <"$T/fifo" >/dev/null 2>&1) &
	pid=$!
	me=65534
else
	(ulimit -c 1024 2>/dev/null; exec "$HELPER" --store "$S" --config "$T/empty.conf" import - <"$T/fifo" >/dev/null 2>&1) &
	pid=$!
	me=$(id -u)
fi
exec 3>"$T/fifo"
i=0
# Wait until the helper itself runs (setpriv execs it) and has set up.
while [ $i -lt 50 ]; do
	case $(readlink "/proc/$pid/exe" 2>/dev/null) in
	*sasl-oauth2*) grep -q '^Max core file size *0 ' "/proc/$pid/limits" 2>/dev/null && break ;;
	esac
	sleep 0.1; i=$((i + 1))
done
grep '^Max core file size' "/proc/$pid/limits" >"$T/limits" 2>&1
owner=$(stat -c %u "/proc/$pid/environ" 2>/dev/null)
exec 3>&-
wait $pid
# It was started with a limit above 0 where the hard limit allows one, so
# 0 means the helper lowered it.
if ! (ulimit -c 1024) 2>/dev/null; then
	ok "the helper lowers its core limit to 0 # SKIP the hard core limit is 0 here"
elif grep -q '^Max core file size *0 ' "$T/limits"; then
	ok "the helper started with a core limit above 0 runs with 0"
else
	not_ok "core limit of the running helper"; diag "$(cat "$T/limits")"
fi
if [ $sanitizer -eq 1 ]; then
	ok "the helper is not dumpable # SKIP sanitizer build (LeakSanitizer must attach)"
elif [ "$me" = 0 ]; then
	ok "the helper is not dumpable # SKIP running as root without setpriv"
else
	[ "$owner" = 0 ] && ok "the helper is not dumpable (its /proc/PID/environ belongs to root)" \
		|| not_ok "the helper is dumpable (/proc/$pid/environ owned by uid $owner, not root)"
fi

# A program the helper starts gets the original limit back: an expired
# token that cannot be refreshed makes status run notify_command.
printf 'notify_command: grep "^Max core file size" /proc/self/limits > %s/child.limits\n' "$T" >"$T/notify.conf"
"$HELPER" --store "$S" --config "$T/empty.conf" add nt --template generic --client-id c \
	--set auth_url="$OAUTH_URL/authorize" --set token_url="$OAUTH_URL/token" >/dev/null
printf '{"access_token": "at-x", "token_type": "Bearer", "expires_at": 1000}\n' >"$S/nt.state"
want=$( (ulimit -c 1024 && grep '^Max core file size' /proc/self/limits) 2>/dev/null | awk '{ print $5 }')
if [ -z "$want" ]; then
	ok "a started program gets the core limit back # SKIP the hard core limit is 0 here"
elif [ $sanitizer -eq 1 ]; then
	ok "a started program gets the core limit back # SKIP sanitizer build (ASan sets the limit to 0 itself)"
else
	(ulimit -c 1024; "$HELPER" --store "$S" --config "$T/notify.conf" status nt >/dev/null 2>&1)
	got=$(awk '{ print $5 }' "$T/child.limits" 2>/dev/null)
	[ "$got" = "$want" ] && ok "notify_command runs with the caller's core limit ($want), not 0" \
		|| { not_ok "notify_command's core limit: '$got', want '$want'"; diag "$(cat "$T/child.limits" 2>/dev/null)"; }
fi

done_testing
