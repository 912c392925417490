# tests/cli/store.sh - shell helpers for the store's failure tests; source
# after tests/lib.sh and tests/server/server.sh.
#   failwrite_init     $SHIM (tests/cli/failwrite.c, see its header) or exit
#   browser_init       $T/browser: a scripted browser for `authorize`
#   state_expire FILE  make a saved access token due (the file is replaced)

failwrite_init() {
	require_tool curl
	SHIM="$top_builddir/tests/cli/.libs/failwrite.so"
	[ -f "$SHIM" ] || { not_ok "the failwrite shim is built ($SHIM)"; done_testing; exit 1; }
	# A sanitizer runtime wants to come first; the shim is harmless before it.
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
	export ASAN_OPTIONS
}

browser_init() {
	cat >"$T/browser" <<EOB
#!/bin/sh
exec curl -sS --max-time 10 -L "\$1" >>"$T/browser.log" 2>&1
EOB
	chmod +x "$T/browser"
}

state_expire() {
	"$PYTHON3" - "$1" <<'EOP'
import json, os, sys
p = sys.argv[1]
with open(p) as f:
    s = json.load(f)
s["expires_at"] = 1000
with open(p + ".new", "w") as f:
    json.dump(s, f)
os.chmod(p + ".new", 0o600)
os.rename(p + ".new", p)
EOP
}
