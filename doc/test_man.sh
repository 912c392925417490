# doc/test_man.sh - the manual pages render cleanly and match the helper.
#
# Checks that every page formats without a single groff or man warning, that
# sasl-oauth2(1) documents every command of the helper with its exit status,
# and, when the helper is built, that `sasl-oauth2 --help` lists every command
# and that every long option it mentions is documented in sasl-oauth2(1).
# shellcheck source=tests/lib.sh
. "${top_srcdir:?}/tests/lib.sh"

DOC="$top_srcdir/doc"
PAGES="sasl-oauth2.1 sasl-oauth2.conf.5 sasl-oauth2-token.5 sasl-oauth2-plugin.8"
# The helper's commands, as the specification lists them.
COMMANDS="templates add edit list show remove authorize refresh token status export import doctor tunnel init"

require_tool groff

# wider_than_80 FILE: the lines of the UTF-8 FILE longer than 80 characters.
wider_than_80() {
	"$PYTHON3" -c '
import sys
with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
    for line in f:
        line = line.rstrip("\n")
        if len(line) > 80:
            print(line)
' "$1"
}

for p in $PAGES; do
	f="$DOC/$p"
	if [ ! -f "$f" ]; then
		not_ok "$p exists"
		continue
	fi
	# groff: every warning category on, output discarded; any stderr is a failure.
	if groff -man -ww -z "$f" >"$T/groff.err" 2>&1 && [ ! -s "$T/groff.err" ]; then
		ok "$p: groff -man -ww renders without warnings"
	else
		not_ok "$p: groff -man -ww renders without warnings"
		diag "$(cat "$T/groff.err")"
	fi
	if tool_check man "$p: man --warnings renders without warnings"; then
		LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" >"$T/man.out" 2>"$T/man.err"
		rc=$?
		if [ $rc -eq 0 ] && [ ! -s "$T/man.err" ] && [ -s "$T/man.out" ]; then
			ok "$p: man --warnings renders without warnings"
		else
			not_ok "$p: man --warnings renders without warnings"
			diag "exit status $rc" "$(cat "$T/man.err")"
		fi
		# A rendered line wider than the terminal means an unbreakable
		# example that will wrap badly for readers. Columns are characters
		# of the UTF-8 output, counted by python3: awk's length() counts
		# bytes or characters depending on which awk is installed and on
		# the locale.
		wide=$(wider_than_80 "$T/man.out")
		if [ -z "$wide" ]; then
			ok "$p: no rendered line is wider than 80 columns"
		else
			not_ok "$p: no rendered line is wider than 80 columns"
			diag "$wide"
		fi
	fi
	if grep -q '^\.SH NAME' "$f" && grep -q '^\.SH SEE ALSO' "$f"; then
		ok "$p: has NAME and SEE ALSO sections"
	else
		not_ok "$p: has NAME and SEE ALSO sections"
	fi
	# Every sasl-oauth2 page it refers to exists.
	missing=""
	for ref in $(sed -n 's/^\.BR \(sasl\\-oauth2[a-z\\.-]*\) (\([158]\)).*/\1.\2/p' "$f" | sed 's/\\-/-/g' | sort -u); do
		[ -f "$DOC/$ref" ] || missing="$missing $ref"
	done
	if [ -z "$missing" ]; then
		ok "$p: every sasl-oauth2 page it refers to exists"
	else
		not_ok "$p: every sasl-oauth2 page it refers to exists"
		diag "missing:$missing"
	fi
done

man1="$DOC/sasl-oauth2.1"
for c in $COMMANDS; do
	if grep -q "^\\.SS $c\\b" "$man1"; then
		ok "sasl-oauth2(1) documents the command '$c'"
	else
		not_ok "sasl-oauth2(1) documents the command '$c'"
	fi
done
# Each command's own section (from its .SS line to the next .SS or .SH)
# has an exit-status paragraph.
for c in $COMMANDS; do
	if sed -n "/^\\.SS $c\\b/,/^\\.S[SH] /p" "$man1" | grep -q '^Exit status:'; then
		ok "sasl-oauth2(1) gives the exit status of '$c' in its section"
	else
		not_ok "sasl-oauth2(1) gives the exit status of '$c' in its section"
	fi
done
for v in SASL_OAUTH2_STORE SASL_OAUTH2_CONFIG SASL_OAUTH2_TEMPLATES BROWSER DISPLAY XDG_DATA_HOME; do
	if grep -q "^\\.B.* $v\\b" "$man1"; then
		ok "sasl-oauth2(1) describes the environment variable $v"
	else
		not_ok "sasl-oauth2(1) describes the environment variable $v"
	fi
done

if [ -x "$HELPER" ]; then
	"$HELPER" --help >"$T/help.out" 2>&1
	rc=$?
	if [ $rc -eq 0 ] && [ -s "$T/help.out" ]; then
		ok "sasl-oauth2 --help exits 0 and prints a summary"
	else
		not_ok "sasl-oauth2 --help exits 0 and prints a summary"
		diag "exit status $rc" "$(cat "$T/help.out")"
	fi
	# A command is listed where a line of the summary starts with it, not
	# wherever its name occurs as a word ("list templates, or show one").
	for c in $COMMANDS; do
		if grep -qE -- "^  $c( |\$)" "$T/help.out"; then
			ok "sasl-oauth2 --help lists the command '$c'"
		else
			not_ok "sasl-oauth2 --help lists the command '$c'"
		fi
	done
	# Every long option the helper admits to, in the summary or in a
	# command's own help, is documented.
	for c in $COMMANDS; do
		"$HELPER" "$c" --help >>"$T/help.out" 2>&1 ||
			diag "sasl-oauth2 $c --help exited non-zero"
	done
	plain="$T/man1.txt"
	sed 's/\\-/-/g' "$man1" >"$plain"
	for o in $(grep -o -- '--[a-z][a-z-]*' "$T/help.out" | sort -u); do
		if grep -q -- "$o\\b" "$plain"; then
			ok "sasl-oauth2(1) documents the option $o shown by --help"
		else
			not_ok "sasl-oauth2(1) documents the option $o shown by --help"
		fi
	done
else
	ok "sasl-oauth2 --help # SKIP the helper is not built ($HELPER)"
fi

done_testing
