#!/bin/sh
# tests/cli/test_crash.sh - crash safety of the token store.
# 1. A refresh killed between writing the new state's temporary file and
#    renaming it (tests/cli/failwrite.c, FAILWRITE=kill): doctor reports the
#    leftover, the next use under the token's lock adopts it (it holds the
#    only live rotated refresh token) and leaves no temporary file, stale
#    configuration temporaries go too, and `remove` removes every one.
# 2. crash_loop.py: 200 refreshes each SIGKILLed at a random moment, against
#    a provider that keeps rotated refresh tokens valid for a while (every
#    cycle must end with a working token) and against one with reuse
#    detection (only kills between the provider's answer and the rename may
#    cost the grant; how many landed there is reported).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/server/server.sh"
. "$top_srcdir/tests/cli/store.sh"

failwrite_init
: "${CRASH_CYCLES:=200}"

: >"$T/empty.conf"
S="$T/store"
h() { "$HELPER" --store "$S" --config "$T/empty.conf" "$@"; }
sfield() { "$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' "$S/$1.state" "$2" 2>/dev/null; }
replays() { oauth_stats | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["refresh_replays"])'; }
browser_init
BROWSER="$T/browser"
export BROWSER
umask 077

# add_token NAME: a public client token at the current server, authorized.
add_token() {
	h add "$1" --template generic --client-id public-client --set client_auth=none \
		--set auth_url="$OAUTH_URL/authorize" --set token_url="$OAUTH_URL/token" >/dev/null 2>&1 &&
		h authorize "$1" --timeout 30 >"$T/out" 2>"$T/err" </dev/null
}

oauth_server_start || { not_ok "test OAuth2 server starts"; done_testing; exit 1; }
add_token k && ok "token authorized (rotating refresh tokens, reuse detection)" ||
	{ not_ok "token authorized"; diag "$(cat "$T/out" "$T/err")"; }

# ---- 1. killed between the temporary's write and its rename
rt0=$(sfield k refresh_token)
FAILWRITE=kill LD_PRELOAD="$SHIM" h refresh k >/dev/null 2>&1; rc=$?
left=$(ls -A "$S" | grep -c '^\.k\.state\..*\.tmp$')
[ $rc -eq 137 ] && [ "$left" -eq 1 ] && [ "$(sfield k refresh_token)" = "$rt0" ] &&
	ok "a refresh killed before its rename leaves one temporary file, the old state in place" ||
	not_ok "a refresh killed before its rename leaves one temporary file (exit $rc, $left temporaries)"
touch "$S/.k.yaml.0123456789ab.tmp" "$S/.k.yaml.abcdef012345.tmp"
chmod 600 "$S/.k.yaml.0123456789ab.tmp" "$S/.k.yaml.abcdef012345.tmp"
touch -d '-5 minutes' "$S/.k.yaml.0123456789ab.tmp"
h doctor >"$T/out" 2>&1
grep -q "\.k\.state\..*\.tmp is a temporary file left by a process that stopped" "$T/out" &&
	ok "doctor reports the leftover temporary file" || { not_ok "doctor reports the leftover temporary file"; diag "$(cat "$T/out")"; }
h refresh k >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ "$(replays)" -eq 0 ] && [ "$(sfield k refresh_token)" != "$rt0" ] &&
	ok "the next use adopts it: the rotated refresh token is kept, the old one never replayed" ||
	{ not_ok "the next use adopts it (exit $rc, $(replays) replays)"; diag "$(cat "$T/err")"; }
ls -A "$S" | grep -q '^\.k\.state\..*\.tmp$' && not_ok "no state temporary survives the next use" ||
	ok "no state temporary survives the next use"
[ ! -e "$S/.k.yaml.0123456789ab.tmp" ] && [ -e "$S/.k.yaml.abcdef012345.tmp" ] &&
	ok "a configuration temporary older than a minute is removed, a fresh one (a writer at work) kept" ||
	not_ok "a configuration temporary older than a minute is removed, a fresh one kept ($(ls -A "$S" | tr '\n' ' '))"
FAILWRITE=kill LD_PRELOAD="$SHIM" h refresh k >/dev/null 2>&1
h remove k >"$T/out" 2>&1; rc=$?
left=$(ls -A "$S" | grep -c '^\.\?k\.')
[ $rc -eq 0 ] && [ "$left" -eq 0 ] && ok "remove removes the token's temporary files too" ||
	{ not_ok "remove removes the token's temporary files too (exit $rc)"; diag "$(ls -A "$S")"; }

# ---- 2. random kills, the two providers at once (two stores, two servers).
# A killed process's data outlives it in the page cache whatever the file
# system, so the stores may live in memory (faster, when /dev/shm is there).
M=$(mktemp -d /dev/shm/so2crash.XXXXXX 2>/dev/null) || M=$(mktemp -d "$T/crash.XXXXXX")
at_exit "rm -rf '$M'"
cfield() { "$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T/crash-$1.json" "$2" 2>/dev/null; }
seed=$(date +%s)
diag "random seed: $seed (CRASH_CYCLES=$CRASH_CYCLES)"
# crash_loop KIND [SERVER ARGS]: a server, a token KIND in store $M/KIND,
# and crash_loop.py in the background (summary in $T/crash-KIND.json).
crash_loop() {
	_k=$1; shift
	oauth_server_start "$@" || { not_ok "$_k: test OAuth2 server starts"; return 1; }
	S="$M/$_k"
	if ! add_token "$_k"; then
		not_ok "$_k: token authorized"; diag "$(cat "$T/err")"; return 1
	fi
	"$PYTHON3" "$top_srcdir/tests/cli/crash_loop.py" "$HELPER" "$S" "$T/empty.conf" "$_k" \
		"$OAUTH_URL" "$CRASH_CYCLES" "$seed" >"$T/crash-$_k.json" 2>"$T/crash-$_k.err" &
}
crash_loop grace --refresh-grace 3600 && pid_g=$!
crash_loop reuse && pid_r=$!
wait ${pid_g:-} ${pid_r:-}

diag "grace period: $(cat "$T/crash-grace.json" "$T/crash-grace.err")"
[ "$(cfield grace cycles)" = "$CRASH_CYCLES" ] && [ "$(cfield grace killed)" -ge $((CRASH_CYCLES / 4)) ] &&
	ok "grace period: $CRASH_CYCLES refreshes ran, $(cfield grace killed) of them killed" ||
	not_ok "grace period: $CRASH_CYCLES refreshes ran, at least a quarter of them killed"
[ "$(cfield grace parse_failures)" = 0 ] && ok "grace period: the state parses after every kill" ||
	not_ok "grace period: the state parses after every kill"
[ "$(cfield grace temps_left)" = 0 ] && ok "grace period: no temporary file survives the next refresh" ||
	not_ok "grace period: no temporary file survives the next refresh"
[ "$(cfield grace lost)" = 0 ] && [ "$(cfield grace other_failures)" = 0 ] &&
	ok "grace period: $CRASH_CYCLES of $CRASH_CYCLES cycles end with a working token" ||
	not_ok "grace period: every cycle ends with a working token"

diag "reuse detection: $(cat "$T/crash-reuse.json" "$T/crash-reuse.err")"
diag "reuse detection: $(cfield reuse window) kills landed between the provider's answer and the rename; $(cfield reuse window_recovered) of those recovered from the complete temporary copy, $(cfield reuse lost) grants lost"
[ "$(cfield reuse cycles)" = "$CRASH_CYCLES" ] && [ "$(cfield reuse killed)" -ge $((CRASH_CYCLES / 4)) ] &&
	ok "reuse detection: $CRASH_CYCLES refreshes ran, $(cfield reuse killed) of them killed" ||
	not_ok "reuse detection: $CRASH_CYCLES refreshes ran, at least a quarter of them killed"
[ "$(cfield reuse parse_failures)" = 0 ] && [ "$(cfield reuse temps_left)" = 0 ] &&
	ok "reuse detection: the state parses after every kill, no temporary survives the next refresh" ||
	not_ok "reuse detection: the state parses after every kill, no temporary survives the next refresh"
[ "$(cfield reuse lost_outside_window)" = 0 ] && [ "$(cfield reuse other_failures)" = 0 ] &&
	ok "reuse detection: no cycle outside that window lost the grant or failed" ||
	not_ok "reuse detection: no cycle outside that window lost the grant or failed"
done_testing
