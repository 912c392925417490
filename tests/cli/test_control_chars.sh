#!/bin/sh
# tests/cli/test_control_chars.sh - control characters on every input path
# (security review finding 11): import, token configurations and state
# files in the store, the global configuration. Each is refused as
# `--set` refuses it, naming the file, position and field; nothing the
# helper prints carries a raw control character; an access token with a
# byte outside RFC 6750's b64token is never handed out (`token`, and the
# plugin, which would put it on the wire).
. "$top_srcdir/tests/lib.sh"

S="$T/store"
mkdir -m 700 "$S"
umask 077
: >"$T/empty.conf"
h() { "$HELPER" --store "$S" --config "$T/empty.conf" "$@"; }
ESC=$(printf '\033')
CA=$(printf '\001')
prog="$top_builddir/tests/plugin/test_plugin"

# raw FILE...: the files hold a byte below 0x20 other than newline and tab,
# or DEL.
raw() { LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177]')" "$@"; }

# --set refuses, for reference.
check_fails "--set refuses a control character (the reference)" \
	h add ref --template generic --client-id "c${ESC}x"

# ---------------------------------------------------------------- import
# import_refused DESC YAML-LINES REGEX
import_refused() {
	{
		printf 'sasl-oauth2-export: 1\ntokens:\n  - name: esc\n    template: generic\n'
		printf '    auth_url: https://a.example/a\n    token_url: https://a.example/t\n'
		printf '%s\n' "$2"
	} >"$T/imp.yaml"
	h import "$T/imp.yaml" >"$T/out" 2>"$T/err"; rc=$?
	if [ $rc -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -Eq "$3" "$T/err" &&
	   [ -z "$(ls -A "$S")" ] && ! raw "$T/out" "$T/err"; then
		ok "import refuses $1"
	else
		not_ok "import refuses $1 (exit $rc)"; diag "$(cat "$T/out" "$T/err")" "$(ls -A "$S")"
	fi
}
import_refused "ESC and CR in user (the review's esc.yaml)" \
	'    user: "victim@example.com\e[2K\rfake-token   generic   ok"' \
	"imp.yaml:7:11: field 'user': contains a control character \(byte 0x1B\)"
import_refused "BEL in client_id" '    client_id: "c\e]0;owned\a"' \
	"imp.yaml:7:16: field 'client_id': contains a control character"
import_refused "a control character in client_secret" '    client_secret: "s\x01"' \
	"field 'client_secret': contains a control character"
import_refused "a control character in an auth_params value" \
	'    auth_params: {prompt: "x\x1b[2J"}' "field 'auth_params.prompt': contains a control character"
import_refused "SOH in the state's access_token" \
	"$(printf '    state:\n      access_token: "AAA\\x01user=other@example.com\\x01auth=Bearer BBB"')" \
	"field 'access_token': contains a control character"
import_refused "an access_token outside RFC 6750's token set" \
	"$(printf '    state:\n      access_token: "AAA:BBB"')" \
	"field 'access_token': contains a character outside RFC 6750's token set"
import_refused "ESC in the state's last_error" \
	"$(printf '    state:\n      last_error: "x\\e]0;owned\\a"')" "field 'last_error': contains a control character"

# ---------------------------------------------------------------- store files
# A token configuration written by someone else (or before this rule).
cat >"$S/bad.yaml" <<EOF
name: bad
template: generic
user: "v@example.com\\e[2K\\rfake"
client_id: c
EOF
h show bad >"$T/out" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q "bad.yaml:3:7: field 'user': contains a control character" "$T/err" \
	&& ok "a token configuration in the store with ESC is refused, naming file and field" \
	|| { not_ok "store config with ESC (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
h list >"$T/out" 2>"$T/err"
if raw "$T/out" "$T/err"; then not_ok "list prints no raw control character"; diag "$(od -c "$T/out" "$T/err" | head)"; \
	else ok "list prints no raw control character"; fi
rm -f "$S/bad.yaml"

# A key with ESC: the message quotes it, escaped.
printf 'name: k\ntemplate: generic\n"x\\e[2J": 1\n' >"$S/k.yaml"
h show k >"$T/out" 2>"$T/err"
if ! raw "$T/err" && grep -q "field 'x.*\[2J': unknown key" "$T/err"; then
	ok "an error quoting a key with a control character prints it harmlessly"
else
	not_ok "escaped error"; diag "$(od -c "$T/err" | head)"
fi
rm -f "$S/k.yaml"

# State files: a token with a control character is refused; last_error
# (this program's own message, perhaps from an older version) is cleaned.
cat >"$S/st.yaml" <<EOF
name: st
template: generic
user: st@example.test
client_id: c
auth_url: https://a.example/a
token_url: https://a.example/t
EOF
printf '{"access_token": "AAA\\u0001user=other@example.com\\u0001auth=Bearer BBB", "token_type": "Bearer", "expires_at": 4102444800}\n' >"$S/st.state"
h token st >"$T/out" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ ! -s "$T/out" ] && grep -q "key 'access_token' contains a space, control character" "$T/err" \
	&& ok "token: a state file whose access token holds SOH is refused, nothing printed" \
	|| { not_ok "state with SOH (exit $rc)"; diag "$(od -c "$T/out" | head -3)" "$(cat "$T/err")"; }
# A text field of the state (scope, token_type) with ESC: refused on load.
printf '{"access_token": "AAA", "token_type": "Bearer", "expires_at": 4102444800, "scope": "mail\\u001b[2Jx"}\n' >"$S/st.state"
h token st >"$T/out" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ ! -s "$T/out" ] && grep -q "key 'scope' contains a control character" "$T/err" \
	&& ok "token: a state file whose scope holds ESC is refused, nothing printed" \
	|| { not_ok "state with ESC in scope (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
printf '{"access_token": "AAA:user=other", "token_type": "Bearer", "expires_at": 4102444800}\n' >"$S/st.state"
h token st >"$T/out" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ ! -s "$T/out" ] && grep -q "outside RFC 6750's token set, so it is not sent" "$T/err" \
	&& ok "token: an access token outside b64token is never handed out" \
	|| { not_ok "token outside b64token (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
"$prog" login "$S" "$T/empty.conf" st@example.test >"$T/out" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && ! grep -q "AAA" "$T/out" && grep -q "outside RFC 6750's token set" "$T/err" \
	&& ok "plugin: an access token outside b64token is not put on the wire" \
	|| { not_ok "plugin with a token outside b64token (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
printf '{"access_token": "AAA", "token_type": "Bearer", "expires_at": 4102444800, "last_error": "x\\u001b]0;owned\\u0007\\u001b[2J"}\n' >"$S/st.state"
h status st >"$T/out" 2>"$T/err"
h status --json st >>"$T/out" 2>>"$T/err"
h show st >>"$T/out" 2>>"$T/err"
if raw "$T/out" "$T/err" || grep -q '\\u001b' "$T/out"; then
	not_ok "status and show print no control character from last_error"; diag "$(od -c "$T/out" | head)"
else
	ok "status and show print no control character from last_error"
fi

# ---------------------------------------------------------------- global configuration
printf 'proxy: "http://p\\e[2J"\n' >"$T/bad.conf"
"$HELPER" --store "$S" --config "$T/bad.conf" list >"$T/out" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q "bad.conf:1:8: field 'proxy': contains a control character" "$T/err" \
	&& ok "the global configuration refuses a control character" \
	|| { not_ok "config with ESC (exit $rc)"; diag "$(cat "$T/err")"; }
printf 'notify_command: |\n  echo one\n  echo two\n' >"$T/multi.conf"
check "notify_command may span lines (a shell script)" \
	"$HELPER" --store "$S" --config "$T/multi.conf" list

done_testing
