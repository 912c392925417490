#!/bin/sh
# tests/deb/test_deb.sh - tools/deb builds the two Debian packages from the
# source tree (one build, nocheck: make check runs the tests itself), and
# they are right: lintian reports no error, each package holds what it
# should where Debian wants it, the plugin from the unpacked package loads
# in libsasl2 with XOAUTH2 and OAUTHBEARER, the helper runs with the packaged
# templates, the systemd units pass `systemd-analyze verify` and their
# commands do what the units promise, nothing is enabled on installation,
# and the packaged bash completion offers the token names of a store.
# shellcheck source=tests/lib.sh
. "${top_srcdir:?}/tests/lib.sh"

require_tool dpkg-buildpackage

# ---------------------------------------------------------------- version
want=$("$HELPER" --version | awk '{ print $2 }')
got=$(dpkg-parsechangelog -l "$top_srcdir/debian/changelog" -S Version 2>&1)
if [ -n "$want" ] && [ "$got" = "$want" ]; then
	ok "debian/changelog has the version of configure.ac ($want)"
else
	not_ok "debian/changelog has the version of configure.ac"; diag "changelog: '$got', helper: '$want'"
fi
V=$got
ARCH=$(dpkg-architecture -qDEB_HOST_ARCH)
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)

# ---------------------------------------------------------------- build
OUT="$T/debs"
if DEB_BUILD_OPTIONS="nocheck parallel=2" "$top_srcdir/tools/deb" "$OUT" >"$T/build.out" 2>&1; then
	ok "tools/deb builds the packages"
else
	not_ok "tools/deb builds the packages"; diag "$(tail -40 "$T/build.out")"
	done_testing
	exit 1
fi
PLUGIN_DEB="$OUT/libsasl2-modules-oauth2_${V}_$ARCH.deb"
HELPER_DEB="$OUT/sasl-oauth2_${V}_$ARCH.deb"
for f in "$PLUGIN_DEB" "$HELPER_DEB" "$OUT/sasl-oauth2_${V}_$ARCH.changes" "$OUT/sasl-oauth2_${V}_$ARCH.buildinfo"; do
	[ -f "$f" ] && ok "DIR has $(basename "$f")" || { not_ok "DIR has $(basename "$f")"; diag "$(ls "$OUT")"; }
done

# ---------------------------------------------------------------- lintian
if command -v lintian >/dev/null 2>&1; then
	lintian --pedantic "$OUT/sasl-oauth2_${V}_$ARCH.changes" >"$T/lintian" 2>&1
	grep -v 'running with root privileges' "$T/lintian" >"$T/lintian.tags"
	if grep -q '^E: ' "$T/lintian.tags"; then
		not_ok "lintian reports no error"; diag "$(cat "$T/lintian.tags")"
	else
		ok "lintian reports no error"
		[ -s "$T/lintian.tags" ] && diag "lintian:" "$(cat "$T/lintian.tags")"
	fi
else
	not_ok "lintian is installed (tools/install-deps installs it)"
fi

# ---------------------------------------------------------------- contents
# has DEB PATH...: the package holds each PATH (relative to /).
has() {
	_deb=$1; shift
	dpkg-deb -c "$_deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$T/list"
	for _p; do
		grep -qx -- "$_p" "$T/list" && ok "$(basename "$_deb" .deb): $_p" ||
			not_ok "$(basename "$_deb" .deb) holds $_p"
	done
}
has "$PLUGIN_DEB" "/usr/lib/$MA/sasl2/libsasloauth2.so" /usr/share/doc/libsasl2-modules-oauth2/copyright
if grep -q '\.la$' "$T/list" || grep -q '^/usr/bin' "$T/list"; then
	not_ok "the plugin package holds only the plugin"; diag "$(cat "$T/list")"
else
	ok "the plugin package holds only the plugin"
fi
has "$HELPER_DEB" /usr/bin/sasl-oauth2 \
	/lib/systemd/system/sasl-oauth2-refresh.service /lib/systemd/system/sasl-oauth2-refresh.timer \
	/usr/lib/systemd/user/sasl-oauth2-refresh.service /usr/lib/systemd/user/sasl-oauth2-refresh.timer \
	/usr/share/bash-completion/completions/sasl-oauth2 \
	/usr/share/doc/sasl-oauth2/examples/sasl-oauth2-refresh.service.d/postfix.conf \
	/usr/share/doc/sasl-oauth2/README.Debian.gz /usr/share/doc/sasl-oauth2/copyright
for f in "$top_srcdir"/templates/*.yaml; do
	has "$HELPER_DEB" "/usr/share/sasl-oauth2/templates/$(basename "$f")"
done
for f in "$top_srcdir"/doc/*.[1-8]; do
	s=${f##*.}
	has "$HELPER_DEB" "/usr/share/man/man$s/$(basename "$f").gz"
done
if grep -q "/sasl2/" "$T/list"; then not_ok "the helper package holds no plugin"; else ok "the helper package holds no plugin"; fi

# field DEB FIELD: a control field.
field() { dpkg-deb -f "$1" "$2"; }
case $(field "$HELPER_DEB" Recommends) in
*libsasl2-modules-oauth2*) ok "sasl-oauth2 recommends the plugin package" ;;
*) not_ok "sasl-oauth2 recommends the plugin package"; diag "$(field "$HELPER_DEB" Recommends)" ;;
esac
for d in "$PLUGIN_DEB" "$HELPER_DEB"; do
	# libcurl4 is named in debian/control: tokenstore loads it with dlopen.
	case $(field "$d" Depends) in
	*libcurl4*libc6*libjson-c*) ok "$(basename "$d" .deb): Depends from shlibs, and libcurl4" ;;
	*) not_ok "$(basename "$d" .deb): Depends from shlibs, and libcurl4"; diag "$(field "$d" Depends)" ;;
	esac
done
case $(field "$PLUGIN_DEB" Depends) in
*"sasl-oauth2 (= $V)"*) ok "the plugin depends on the helper package of its version (templates)" ;;
*) not_ok "the plugin depends on sasl-oauth2 (= $V)"; diag "$(field "$PLUGIN_DEB" Depends)" ;;
esac

# Nothing is enabled or started on a new installation: run the postinst
# with stand-ins for deb-systemd-helper/-invoke that answer as on a machine
# that never had the package (no state: `debian-installed` false,
# `was-enabled` true) and log what they are asked to do.
mkdir "$T/ctl" "$T/fake"
dpkg-deb -e "$HELPER_DEB" "$T/ctl"
for f in deb-systemd-helper deb-systemd-invoke systemctl; do
	cat >"$T/fake/$f" <<FAKE
#!/bin/sh
echo "$f \$*" >>"$T/fake.log"
for a; do
	case \$a in debian-installed) exit 1 ;; was-enabled) exit 0 ;; esac
done
exit 0
FAKE
	chmod +x "$T/fake/$f"
done
: >"$T/fake.log"
if [ -f "$T/ctl/postinst" ] && PATH="$T/fake:$PATH" DPKG_ROOT="" sh "$T/ctl/postinst" configure >"$T/out" 2>&1 &&
   ! grep -Eq ' enable |deb-systemd-invoke .*start|systemctl .*(enable|start)' "$T/fake.log"; then
	ok "postinst of a new installation neither enables nor starts a unit"
else
	not_ok "postinst of a new installation neither enables nor starts a unit"
	diag "calls:" "$(cat "$T/fake.log")" "$(cat "$T/out")"
fi

# ---------------------------------------------------------------- unpacked
R="$T/root"
dpkg-deb -x "$PLUGIN_DEB" "$R" && dpkg-deb -x "$HELPER_DEB" "$R" || not_ok "unpack the packages"
# The packaged helper and templates (the helper looks for them in
# /usr/share/sasl-oauth2/templates, here inside $R).
SASL_OAUTH2_TEMPLATES="$R/usr/share/sasl-oauth2/templates"
PH="$R/usr/bin/sasl-oauth2"
"$PH" --version >"$T/out" 2>&1
[ "$(cat "$T/out")" = "sasl-oauth2 $V" ] && ok "packaged helper runs: $(cat "$T/out")" ||
	{ not_ok "packaged helper --version"; diag "$(cat "$T/out")"; }
"$PH" templates >"$T/out" 2>&1
n_want=$(ls "$top_srcdir"/templates/*.yaml | wc -l)
n_got=$(grep -c '^[a-z]' "$T/out")
[ "$n_got" -eq "$n_want" ] && ok "packaged helper lists the $n_want packaged templates" ||
	{ not_ok "packaged helper lists its templates"; diag "$(cat "$T/out")"; }

S="$T/store"
export SASL_OAUTH2_STORE="$S"
for n in alice@example.test relay; do
	"$PH" add "$n" --template generic --client-id cid \
		--set auth_url=http://127.0.0.1:9/a --set token_url=http://127.0.0.1:9/t >"$T/out" 2>&1 ||
		{ not_ok "add test token $n"; diag "$(cat "$T/out")"; }
done

# The plugin of the package, loaded by libsasl2 from SASL_PATH.
if command -v saslpluginviewer >/dev/null 2>&1; then
	SASL_PATH="$R/usr/lib/$MA/sasl2" saslpluginviewer -c >"$T/spv" 2>&1
	if grep -q 'Plugin "sasloauth2" \[loaded\]' "$T/spv" &&
	   grep -q 'SASL mechanism: XOAUTH2' "$T/spv" && grep -q 'SASL mechanism: OAUTHBEARER' "$T/spv"; then
		ok "libsasl2 loads the packaged plugin: XOAUTH2 and OAUTHBEARER"
	else
		not_ok "libsasl2 loads the packaged plugin: XOAUTH2 and OAUTHBEARER"; diag "$(cat "$T/spv")"
	fi
else
	not_ok "saslpluginviewer is installed (sasl2-bin; tools/install-deps installs it)"
fi

# ---------------------------------------------------------------- units
if command -v systemd-analyze >/dev/null 2>&1; then
	for u in "$R"/lib/systemd/system/sasl-oauth2-refresh.*; do
		MANPATH="$R/usr/share/man" systemd-analyze verify "$u" >"$T/sa" 2>&1 && [ ! -s "$T/sa" ] &&
			ok "systemd-analyze verify system unit $(basename "$u")" ||
			{ not_ok "systemd-analyze verify system unit $(basename "$u")"; diag "$(cat "$T/sa")"; }
	done
	mkdir -m 700 "$T/run"
	for u in "$R"/usr/lib/systemd/user/sasl-oauth2-refresh.*; do
		XDG_RUNTIME_DIR="$T/run" MANPATH="$R/usr/share/man" systemd-analyze --user verify "$u" >"$T/sa" 2>&1 &&
			[ ! -s "$T/sa" ] && ok "systemd-analyze verify user unit $(basename "$u")" ||
			{ not_ok "systemd-analyze verify user unit $(basename "$u")"; diag "$(cat "$T/sa")"; }
	done
else
	ok "# SKIP systemd-analyze is not installed"
fi
# The service's commands, run by the packaged helper on the test store:
# refreshing leaves the never-authorized tokens alone, and status then
# fails (exit 2), which is what makes the unit show in systemctl --failed.
for kind in lib/systemd/system usr/lib/systemd/user; do
	u="$R/$kind/sasl-oauth2-refresh.service"
	sed -n 's/^ExecStart=-\{0,1\}//p' "$u" >"$T/exec"
	if [ "$(sed -n 1p "$T/exec")" = "/usr/bin/sasl-oauth2 refresh --all --if-expiring-in 3600" ] &&
	   [ "$(sed -n 2p "$T/exec")" = "/usr/bin/sasl-oauth2 status --refresh" ] &&
	   grep -q '^ExecStart=-/usr/bin/sasl-oauth2 refresh' "$u" && grep -qx 'SuccessExitStatus=1' "$u"; then
		ok "$kind service: refresh (failure tolerated), then status --refresh decides"
	else
		not_ok "$kind service runs refresh and status --refresh"; diag "$(cat "$u")"
	fi
done
# shellcheck disable=SC2046
"$PH" $(sed -n '1s|^/usr/bin/sasl-oauth2 ||p' "$T/exec") >"$T/out" 2>&1; rc=$?
[ $rc -eq 0 ] && ok "the refresh command of the unit skips tokens never authorized" ||
	{ not_ok "the unit's refresh command: exit $rc"; diag "$(cat "$T/out")"; }
# shellcheck disable=SC2046
"$PH" $(sed -n '2s|^/usr/bin/sasl-oauth2 ||p' "$T/exec") >"$T/out" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "not authorized" "$T/out" && ok "the status command of the unit exits 2 for a dead token" ||
	{ not_ok "the unit's status command exits 2 for a dead token: exit $rc"; diag "$(cat "$T/out")"; }
dropin="$R/usr/share/doc/sasl-oauth2/examples/sasl-oauth2-refresh.service.d/postfix.conf"
grep -qx 'User=postfix' "$dropin" && grep -qx 'Environment=SASL_OAUTH2_STORE=/var/lib/sasl-oauth2' "$dropin" &&
	ok "the Postfix drop-in runs the service as postfix on /var/lib/sasl-oauth2" ||
	{ not_ok "the Postfix drop-in"; diag "$(cat "$dropin" 2>&1)"; }

# ---------------------------------------------------------------- completion
mkdir "$T/bin"
ln -s "$PH" "$T/bin/sasl-oauth2"
got=$(PATH="$T/bin:$PATH" bash "$top_srcdir/tests/complete.bash" \
	"$R/usr/share/bash-completion/completions/sasl-oauth2" sasl-oauth2 --store "$S" token '' 2>&1 | tr '\n' ' ')
[ "$got" = "alice@example.test relay " ] && ok "the packaged completion offers the token names of the store" ||
	{ not_ok "the packaged completion offers the token names"; diag "got: '$got'"; }

done_testing
