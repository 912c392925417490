#!/bin/sh
# tests/cli/test_hostile_yaml.sh - `import --dry-run` of hostile YAML files
# of up to 8 MiB, import's own size limit (security review finding 8):
# anchors and aliases, huge lists and mappings, duplicates found only at
# the end, one huge scalar, and a fleet of tokens just under the limits.
# Each is refused (or, for the valid fleet, accepted) with a clear message,
# within a resource bound: at most 64 MB of resident memory and 2 s of CPU
# time, measured with getrusage (tests/cli/rusage.py). The bound is what
# keeps a careful admin's dry run from taking the machine down; it is not
# a speed benchmark, and it is not checked in sanitizer builds, whose
# shadow memory and quarantine make RSS meaningless.
. "$top_srcdir/tests/lib.sh"

S="$T/store"
mkdir -m 700 "$S"
: >"$T/empty.conf"
MAX_RSS_KB=65536
MAX_CPU_MS=2000
SIZE=$((8 * 1024 * 1024 - 64))
bounds=1 as_mb=1024
if ldd "$HELPER" 2>/dev/null | grep -q 'lib[at]san'; then bounds=0 as_mb=0; fi

# hostile KIND RC REGEX: generate, dry-run, check exit, message and bounds.
hostile() {
	"$PYTHON3" "$top_srcdir/tests/cli/hostile_yaml.py" "$1" "$SIZE" "$T/$1.yaml" ||
		{ not_ok "$1: generate"; return; }
	# The address-space limit (1 GiB; none under ASan, which reserves
	# terabytes of shadow) and the timeout only keep a regression from
	# exhausting the shared machine.
	"$PYTHON3" "$top_srcdir/tests/cli/rusage.py" $as_mb 20 "$T/$1.ru" -- \
		"$HELPER" --store "$S" --config "$T/empty.conf" import --dry-run "$T/$1.yaml" \
		>"$T/out" 2>"$T/err"
	read -r rc rss cpu <"$T/$1.ru"
	if [ "$rc" = "$2" ] && { [ "$2" = 0 ] || [ "$(wc -l <"$T/err")" -eq 1 ]; } &&
	   grep -Eq "$3" "$T/err" "$T/out"; then
		ok "$1: exit $2: $(cat "$T/err" | head -c 200; tail -n 1 "$T/out")"
	else
		not_ok "$1: exit $rc (want $2), message /$3/"; diag "$(head -c 600 "$T/err")"
	fi
	if [ $bounds -eq 0 ]; then
		ok "$1: resource bound # SKIP sanitizer build (RSS $rss KB, CPU $cpu ms)"
	elif [ "$rss" -le $MAX_RSS_KB ] && [ "$cpu" -le $MAX_CPU_MS ]; then
		ok "$1: within $MAX_RSS_KB KB and $MAX_CPU_MS ms (RSS $rss KB, CPU $cpu ms)"
	else
		not_ok "$1: RSS $rss KB, CPU $cpu ms (bound $MAX_RSS_KB KB, $MAX_CPU_MS ms)"
	fi
}

hostile alias 1 "^sasl-oauth2: .*alias.yaml:[0-9]+:[0-9]+: YAML anchors and aliases .* are not accepted"
hostile tokens 1 "tokens.yaml:[0-9]+:[0-9]+: a list with more than 10000 entries"
hostile params 1 "params.yaml:[0-9]+:[0-9]+: a mapping with more than 10000 keys"
hostile scope 1 "scope.yaml:[0-9]+:[0-9]+: a list with more than 10000 entries"
hostile dupkey 1 "dupkey.yaml:[0-9]+:[0-9]+: a mapping with more than 10000 keys"
hostile long 1 "long.yaml:[0-9]+:[0-9]+: token 't0': field 'token_url' is missing"
hostile fleet 1 "fleet.yaml:[0-9]+:[0-9]+: field 'name': token 'f0' is listed twice \(first at line 3\)"
hostile fatfleet 1 "fatfleet.yaml:[0-9]+:[0-9]+: field 'name': token 'f0' is listed twice"
hostile fleetok 0 "dry run, nothing changed: 5000 added"

# A mapping under the key limit with its duplicate last: found, in linear
# time (the store's own files take the same path).
"$PYTHON3" - "$T/dup.yaml" <<'EOP'
import sys
with open(sys.argv[1], "w") as f:
    f.write("sasl-oauth2-export: 1\ntokens:\n  - name: d\n    template: generic\n    auth_params:\n")
    for i in range(9999):
        f.write("      k%d: v\n" % i)
    f.write("      k17: again\n")
EOP
"$HELPER" --store "$S" --config "$T/empty.conf" import --dry-run "$T/dup.yaml" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "dup.yaml:10005:7: field 'k17': given twice (first at line 23)" "$T/err" \
	&& ok "a duplicate key among 10000 is named with both lines" \
	|| { not_ok "duplicate key among 10000 (exit $rc)"; diag "$(cat "$T/err")"; }

# Anchors are refused in every YAML input, the store's files included.
printf 'name: a\ntemplate: generic\nclient_id: &c x\nuser: *c\n' >"$S/a.yaml"
"$HELPER" --store "$S" --config "$T/empty.conf" show a >"$T/out" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q "a.yaml:3:12: YAML anchors and aliases" "$T/err" \
	&& ok "an anchor in a token configuration is refused with its position" \
	|| { not_ok "anchor in the store (exit $rc)"; diag "$(cat "$T/out" "$T/err")"; }
rm -f "$S/a.yaml"
[ -z "$(ls -A "$S")" ] && ok "the dry runs left the store empty" || { not_ok "store changed"; diag "$(ls -la "$S")"; }

done_testing
