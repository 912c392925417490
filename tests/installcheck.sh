#!/bin/sh
# tests/installcheck.sh - the installed helper and plugin work as installed,
# with none of the test environment: the helper finds its own templates
# (no SASL_OAUTH2_TEMPLATES), and, when the installation is a private one
# (make distcheck installs into its own directory), the default paths an
# installed Postfix relies on: the plugin and the helper read
# SYSCONFDIR/sasl-oauth2/sasl-oauth2.conf when given no option, and root's
# default store is LOCALSTATEDIR/lib/sasl-oauth2. The installed plugin finds
# the templates too when it must refresh. Run by `make installcheck`
# (installcheck-local in tests/local.mk), which `make distcheck` runs.
#
# Usage: installcheck.sh BINDIR PLUGINDIR SYSCONFDIR LOCALSTATEDIR PREFIX BUILDDIR
# (BUILDDIR: where tests/plugin/test_plugin was built by make check)
# Speaks TAP on stdout; exits non-zero when a check failed.
set -u
bin="$1/sasl-oauth2" plugindir=$2 sysconfdir=$3 localstatedir=$4 prefix=$5 builddir=$6
unset SASL_OAUTH2_TEMPLATES SASL_OAUTH2_CONFIG SASL_OAUTH2_STORE XDG_DATA_HOME
T=$(mktemp -d "${TMPDIR:-/tmp}/so2inst.XXXXXX")
chmod 700 "$T"
n=0 failed=0
conf="$sysconfdir/sasl-oauth2/sasl-oauth2.conf"
made_conf=""
cleanup() {
	[ -n "$made_conf" ] && rm -f "$conf"
	rm -rf "$T"
}
trap cleanup EXIT
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

URLS="--set auth_url=http://127.0.0.1:9/authorize --set token_url=http://127.0.0.1:9/token"

# ---- templates, found by the installed helper on its own
if "$bin" templates >"$T/out" 2>"$T/err" && grep -q '^google ' "$T/out" && grep -q '^generic ' "$T/out"; then
	ok "the installed helper lists its installed templates"
else
	not_ok "the installed helper lists its installed templates"; diag "$(cat "$T/out" "$T/err")"
fi
# shellcheck disable=SC2086
if "$bin" --store "$T/s1" add g --template google --client-id x >"$T/out" 2>"$T/err" &&
   "$bin" --store "$T/s1" show g >"$T/out" 2>"$T/err" && grep -q 'accounts.google.com' "$T/out"; then
	ok "add --template google works with the installed templates"
else
	not_ok "add --template google works with the installed templates"; diag "$(cat "$T/out" "$T/err")"
fi

# ---- default paths: only in a private installation (make distcheck, or a
# --prefix of one's own), never in the system's /etc or /var, and never
# over an existing configuration file or store.
case $prefix in
/|/usr|/usr/local|/opt|/opt/*) private=no ;;
*) private=yes ;;
esac
if [ "$private" = no ] || [ -e "$conf" ]; then
	for d in "the plugin reads SYSCONFDIR/sasl-oauth2/sasl-oauth2.conf" \
		"the helper reads SYSCONFDIR/sasl-oauth2/sasl-oauth2.conf" \
		"the installed plugin finds its templates when it refreshes" \
		"root's default store is LOCALSTATEDIR/lib/sasl-oauth2"; do
		ok "$d # SKIP not a private installation (prefix $prefix); make distcheck runs it"
	done
	echo "1..$n"
	[ $failed -eq 0 ]
	exit
fi
mkdir -p "$sysconfdir/sasl-oauth2"
printf 'store: %s\n' "$T/cfgstore" >"$conf"
chmod 644 "$conf"
made_conf=yes
mkdir -m 700 "$T/cfgstore"
# shellcheck disable=SC2086
"$bin" --store "$T/cfgstore" add pl --template generic --user pl@example.test --client-id c $URLS >/dev/null 2>"$T/err" ||
	diag "add pl: $(cat "$T/err")"
printf '%s\n' '{"access_token": "at-installed", "token_type": "Bearer", "expires_at": 4102444800, "refresh_token": "rt-installed", "generation": 1}' >"$T/cfgstore/pl.state"
chmod 600 "$T/cfgstore/pl.state"

prog="$builddir/tests/plugin/test_plugin"
if [ ! -x "$prog" ]; then
	not_ok "the plugin reads SYSCONFDIR/sasl-oauth2/sasl-oauth2.conf ($prog not built: run make check first)"
else
	TEST_PLUGIN_DIR="$plugindir" SASL_PATH="$plugindir" "$prog" login "" "" pl@example.test >"$T/out" 2>"$T/err"
	if grep -q 'auth=Bearer at-installed' "$T/out"; then
		ok "the plugin reads SYSCONFDIR/sasl-oauth2/sasl-oauth2.conf (store: from there)"
	else
		not_ok "the plugin reads SYSCONFDIR/sasl-oauth2/sasl-oauth2.conf"; diag "$(cat "$T/out" "$T/err")"
	fi
fi
if "$bin" list >"$T/out" 2>"$T/err" && grep -q '^pl ' "$T/out"; then
	ok "the helper reads SYSCONFDIR/sasl-oauth2/sasl-oauth2.conf (store: from there)"
else
	not_ok "the helper reads SYSCONFDIR/sasl-oauth2/sasl-oauth2.conf"; diag "$(cat "$T/out" "$T/err")"
fi
# A due token: the plugin must load the installed template to refresh; the
# refresh then fails at 127.0.0.1:9 (nothing listens) as a temporary error.
printf '%s\n' '{"access_token": "at-installed", "token_type": "Bearer", "expires_at": 1000, "refresh_token": "rt-installed", "generation": 1}' >"$T/cfgstore/pl.state"
if [ -x "$prog" ]; then
	TEST_PLUGIN_DIR="$plugindir" SASL_PATH="$plugindir" "$prog" login "" "" pl@example.test >"$T/out" 2>"$T/err"
	if grep -q '^login failed (-8): .*127.0.0.1:9' "$T/err" && ! grep -qi 'template' "$T/err"; then
		ok "the installed plugin finds its templates when it refreshes"
	else
		not_ok "the installed plugin finds its templates when it refreshes"; diag "$(cat "$T/out" "$T/err")"
	fi
else
	not_ok "the installed plugin finds its templates when it refreshes ($prog not built)"
fi
rm -f "$conf"
made_conf=""
def="$localstatedir/lib/sasl-oauth2"
if [ "$(id -u)" -eq 0 ] && [ ! -e "$def" ]; then
	mkdir -p "$def" && chmod 700 "$def"
	if "$bin" list >"$T/out" 2>&1 && grep -q "$def" "$T/out"; then
		ok "root's default store is LOCALSTATEDIR/lib/sasl-oauth2"
	else
		not_ok "root's default store is LOCALSTATEDIR/lib/sasl-oauth2"; diag "$(cat "$T/out")"
	fi
	rmdir "$def" 2>/dev/null
else
	ok "root's default store is LOCALSTATEDIR/lib/sasl-oauth2 # SKIP needs root, and no store there yet"
fi
echo "1..$n"
[ $failed -eq 0 ]
