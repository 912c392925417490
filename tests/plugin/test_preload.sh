#!/bin/sh
# test_preload.sh - the plugin option oauth2_preload (auto, yes, no).
# What a refresh needs from outside the store (libcurl and its libraries,
# the CA certificates, client secrets) is loaded with the plugin only by a
# process that may enter a chroot (CAP_SYS_CHROOT in its permitted set, as
# Postfix's smtp has), or when the option says yes. Any other program maps
# no libcurl for a login with a cached token, and its first refresh loads
# libcurl and works.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/server/server.sh"

prog="$top_builddir/tests/plugin/test_plugin"
oauth_server_start || { not_ok "test OAuth2 server starts"; done_testing; exit; }
ok "test OAuth2 server starts"

# A process without CAP_SYS_CHROOT: as root, one whose bounding set lacks
# it (execve then leaves it out of the permitted set); else this user.
if [ "$(id -u)" -eq 0 ]; then
	require_tool setpriv
	nocap() { setpriv --bounding-set -sys_chroot "$@"; }
else
	nocap() { "$@"; }
fi

store="$T/store"
mkdir -m 700 "$store"
umask 077
: >"$T/empty.conf"
printf 'confidential-secret\n' >"$T/client.secret"
cat >"$store/cached.yaml" <<EOY
name: cached
template: generic
user: cached@example.test
client_id: public-client
client_auth: none
auth_url: $OAUTH_URL/authorize
token_url: $OAUTH_URL/token
EOY
printf '{"access_token": "at-cached", "token_type": "Bearer", "expires_at": 4000000000, "generation": 1}\n' \
	>"$store/cached.state"
cat >"$store/fresh.yaml" <<EOY
name: fresh
template: generic
user: fresh@example.test
client_id: confidential-client
client_secret_file: $T/client.secret
client_auth: basic
flow: client_credentials
token_url: $OAUTH_URL/token
EOY

# login nocap|asis NAME OUT [env...]: one login as NAME's mailbox, without
# CAP_SYS_CHROOT or as this process is, its output in OUT.out and OUT.err;
# the exit code of the program.
asis() { "$@"; }
login() {
	_run=$1 _user=$2 _out=$3
	shift 3
	$_run env TEST_PLUGIN_MAPS=1 "$@" "$prog" login "$store" "$T/empty.conf" "$_user@example.test" \
		>"$T/$_out.out" 2>"$T/$_out.err"
}
# says OUT WHEN yes|no: what the program said of libcurl at WHEN.
says() { grep -qx "libcurl $2: $3" "$T/$1.err"; }

# ---- a process that cannot chroot, default (auto)
if login nocap cached a1 && grep -q "auth=Bearer at-cached" "$T/a1.out"; then
	ok "no CAP_SYS_CHROOT, auto: a login with a cached token works"
else
	not_ok "no CAP_SYS_CHROOT, auto: a login with a cached token works"; diag "$(cat "$T/a1.out" "$T/a1.err")"
fi
says a1 "at load" no && says a1 "after login" no &&
	ok "no CAP_SYS_CHROOT, auto: libcurl is not mapped, at load or after the login" ||
	{ not_ok "no CAP_SYS_CHROOT, auto: libcurl is not mapped, at load or after the login"; diag "$(cat "$T/a1.err")"; }

# ---- the same process, the option saying yes
login nocap cached a2 TEST_PLUGIN_PRELOAD=yes
says a2 "at load" yes && ok "oauth2_preload=yes: libcurl is loaded with the plugin" ||
	{ not_ok "oauth2_preload=yes: libcurl is loaded with the plugin"; diag "$(cat "$T/a2.err")"; }

# ---- the first refresh of such a process loads libcurl and succeeds
before=$(oauth_count client_credentials)
if login nocap fresh a3 && grep -q "auth=Bearer " "$T/a3.out"; then
	ok "no CAP_SYS_CHROOT, auto: a login that needs a new token gets one"
else
	not_ok "no CAP_SYS_CHROOT, auto: a login that needs a new token gets one"; diag "$(cat "$T/a3.out" "$T/a3.err")"
fi
[ "$(oauth_count client_credentials)" -eq $((before + 1)) ] &&
	ok "no CAP_SYS_CHROOT, auto: exactly one token request" ||
	not_ok "no CAP_SYS_CHROOT, auto: exactly one token request ($(($(oauth_count client_credentials) - before)))"
says a3 "at load" no && says a3 "after login" yes &&
	ok "no CAP_SYS_CHROOT, auto: libcurl is loaded by the refresh, not before" ||
	{ not_ok "no CAP_SYS_CHROOT, auto: libcurl is loaded by the refresh, not before"; diag "$(cat "$T/a3.err")"; }
grep -q "confidential-secret" "$T/a3.out" "$T/a3.err" &&
	not_ok "the client secret appears in no output" || ok "the client secret appears in no output"

# ---- a value that is none of the three: auto, and a warning naming them.
# libsasl2 gives a module's messages at load to syslog, not to the
# application's callback.
login nocap cached a4 TEST_PLUGIN_PRELOAD=maybe
says a4 "at load" no && ok "oauth2_preload=maybe: auto is used" ||
	{ not_ok "oauth2_preload=maybe: auto is used"; diag "$(cat "$T/a4.err")"; }
with_syslog "$T/a5.syslog" env TEST_PLUGIN_PRELOAD=maybe "$prog" login "$store" "$T/empty.conf" \
	cached@example.test >"$T/a5.out" 2>"$T/a5.err"
case $? in
77) ok "# SKIP oauth2_preload=maybe: syslog cannot be captured here (no private mount namespace)" ;;
0) grep -q "oauth2_preload must be auto, yes or no; using auto" "$T/a5.syslog" &&
	ok "oauth2_preload=maybe: the warning names the three values" ||
	{ not_ok "oauth2_preload=maybe: the warning names the three values"; diag "$(cat "$T/a5.syslog")"; } ;;
*) not_ok "oauth2_preload=maybe: the login works"; diag "$(cat "$T/a5.out" "$T/a5.err")" ;;
esac

# ---- a process that may chroot (root)
if [ "$(id -u)" -ne 0 ]; then
	ok "# SKIP a process with CAP_SYS_CHROOT needs root"
	done_testing
	exit
fi
login asis cached r1
says r1 "at load" yes && ok "CAP_SYS_CHROOT, auto: libcurl is loaded with the plugin" ||
	{ not_ok "CAP_SYS_CHROOT, auto: libcurl is loaded with the plugin"; diag "$(cat "$T/r1.err")"; }
login asis cached r2 TEST_PLUGIN_PRELOAD=no
says r2 "at load" no && says r2 "after login" no &&
	ok "CAP_SYS_CHROOT, oauth2_preload=no: libcurl is not mapped" ||
	{ not_ok "CAP_SYS_CHROOT, oauth2_preload=no: libcurl is not mapped"; diag "$(cat "$T/r2.err")"; }
# The store may appear only after the program entered its jail: libcurl
# must be there by then all the same.
env TEST_PLUGIN_MAPS=1 "$prog" login "$T/no-store-yet" "$T/empty.conf" cached@example.test \
	>"$T/r3.out" 2>"$T/r3.err"
says r3 "at load" yes && ok "CAP_SYS_CHROOT, auto: libcurl is loaded even when the store is missing" ||
	{ not_ok "CAP_SYS_CHROOT, auto: libcurl is loaded even when the store is missing"; diag "$(cat "$T/r3.err")"; }
done_testing
