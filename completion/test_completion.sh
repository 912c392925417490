#!/bin/sh
# completion/test_completion.sh - the bash completion answers scripted
# completion requests: commands and options as the helper's --help lists
# them, token names of the store named on the command line (or by
# SASL_OAUTH2_STORE), template names, flows, files and directories, and
# nothing (no error text, no new store) where nothing fits.
# COMPLETION (the script) and HELPER may be set to check installed copies.
# shellcheck source=tests/lib.sh
. "${top_srcdir:?}/tests/lib.sh"

COMPLETION=${COMPLETION:-$top_srcdir/completion/sasl-oauth2}
COMMANDS="templates add edit list show remove authorize refresh token status export import doctor"

if [ ! -r /usr/share/bash-completion/bash_completion ] || ! command -v bash >/dev/null 2>&1; then
	not_ok "bash and bash-completion are installed (run tools/install-deps)"
	done_testing
	exit 1
fi

# The completion runs `sasl-oauth2` as typed, found on PATH.
mkdir "$T/bin"
ln -s "$HELPER" "$T/bin/sasl-oauth2"
PATH="$T/bin:$PATH"
export PATH

# comp WORD... CURRENT: what the completion offers, space-separated.
comp() {
	bash "$top_srcdir/tests/complete.bash" "$COMPLETION" sasl-oauth2 "$@" 2>"$T/comp.err" | tr '\n' ' ' | sed 's/ $//'
}
# expect DESC WANT WORD... CURRENT: the offer is exactly WANT, with no stderr.
expect() {
	_d=$1; _want=$2; shift 2
	_got=$(comp "$@")
	if [ "$_got" = "$_want" ] && [ ! -s "$T/comp.err" ]; then
		ok "$_d"
	else
		not_ok "$_d"; diag "words: $*" "wanted: '$_want'" "got:    '$_got'" "$(cat "$T/comp.err")"
	fi
}
# offers DESC PATTERN WORD... CURRENT: some offered word matches PATTERN.
offers() {
	_d=$1; _pat=$2; shift 2
	_got=$(comp "$@")
	if printf '%s\n' $_got | grep -qx -- "$_pat" && [ ! -s "$T/comp.err" ]; then
		ok "$_d"
	else
		not_ok "$_d"; diag "words: $*" "wanted a match for '$_pat' in: '$_got'" "$(cat "$T/comp.err")"
	fi
}

S="$T/store"
URLS="--set auth_url=http://127.0.0.1:9/a --set token_url=http://127.0.0.1:9/t"
for n in alice@example.test bob work+2; do
	# shellcheck disable=SC2086
	"$HELPER" --store "$S" add "$n" --template generic --client-id cid $URLS >"$T/out" 2>&1 ||
		{ not_ok "add test token $n"; diag "$(cat "$T/out")"; }
done

# ---------------------------------------------------------------- commands
got=$(comp '')
missing=""
for c in $COMMANDS; do
	case " $got " in *" $c "*) ;; *) missing="$missing $c" ;; esac
done
[ -z "$missing" ] && ok "the first word offers every command" || { not_ok "commands missing:$missing"; diag "got: $got"; }
bad=""
for c in $got; do
	"$HELPER" "$c" --help >/dev/null 2>&1 || bad="$bad $c"
done
[ -z "$bad" ] && ok "every offered command is one" || not_ok "offered non-commands:$bad"
expect "command prefix" "refresh remove" re
expect "global options" "--config --help --store --version -v" -
expect "global options with --" "--config --help --store --version" --

# ---------------------------------------------------------------- token names
expect "token names from --store" "alice@example.test bob work+2" --store "$S" token ''
expect "token name prefix" "alice@example.test" --store "$S" show a
printf 'http_timeout: 5\n' >"$T/so.conf"
chmod 600 "$T/so.conf"
expect "token names after -v and --config" "bob" -v --store "$S" --config "$T/so.conf" status b
# The store named by the global configuration, when no --store is given.
printf 'store: %s\n' "$S" >"$T/store.conf"
chmod 600 "$T/store.conf"
expect "token names from the store of --config" "bob" --config "$T/store.conf" token b
SASL_OAUTH2_STORE=$S expect "token names from SASL_OAUTH2_STORE" "alice@example.test bob work+2" refresh ''
expect "token names after a name and an option" "alice@example.test bob work+2" --store "$S" refresh --if-expiring-in 60 ''
expect "a missing store offers nothing and stays missing" "" --store "$T/nostore" token ''
[ ! -e "$T/nostore" ] && ok "completion created no store" || not_ok "completion created $T/nostore"
expect "add takes a new name: nothing offered" "" --store "$S" add ''

# ---------------------------------------------------------------- options
offers "add options include --template" --template --store "$S" add x --
offers "add options include --client-secret-file" --client-secret-file --store "$S" add x --
offers "refresh options include --if-expiring-in" --if-expiring-in --store "$S" refresh --
offers "export options include -o" -o --store "$S" export -
expect "list options" "--help --json --names" list --
expect "an option value (--port N) offers nothing" "" --store "$S" authorize bob --port ''
expect "flows" "authorization_code client_credentials device_code" add x --flow ''
# Values listed in --help as a|b|c are offered; positions are counted
# past options and their values.
expect "values of --tls from tunnel --help" "implicit none starttls" --store "$S" tunnel bob --tls ''
expect "values of --mech from tunnel --help" "OAUTHBEARER XOAUTH2" --store "$S" tunnel --mech ''
expect "tunnel: the first argument is a token" "alice@example.test bob work+2" --store "$S" tunnel --tls none ''
expect "tunnel: the third argument is a port" "imap imaps pop3 pop3s" --store "$S" tunnel bob --tls none mail.example.test ''
expect "templates takes one name" "" templates generic ''

# ---------------------------------------------------------------- templates
want=$(cd "$top_srcdir/templates" && ls microsoft-*.yaml | sed 's/\.yaml$//' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')
expect "template names after --template" "$want" add x --template mi
expect "template names for templates NAME" "generic google" templates g

# ---------------------------------------------------------------- files
mkdir "$T/w" "$T/w/adir"
: >"$T/w/afile"
cd "$T/w" || exit 1
expect "--store offers directories only" "adir" --store a
expect "import offers files" "adir afile" import a
expect "--client-secret-file offers files" "adir afile" add x --client-secret-file a
cd "$T" || exit 1

done_testing
