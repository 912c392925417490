# tests/complete.bash - ask a bash completion script what it offers.
#
#   bash tests/complete.bash SCRIPT WORD... CURRENT
#
# Loads bash-completion and SCRIPT, sets COMP_WORDS/COMP_CWORD/COMP_LINE/
# COMP_POINT as bash would for a command line whose cursor is at the end of
# CURRENT (the last argument, may be empty), calls the function registered
# for WORD (the command) and prints COMPREPLY, one entry per line, sorted.
# Exit 2 if bash-completion or the function is missing.
set -u
script=$1
shift
bc=${BASH_COMPLETION_SCRIPT:-/usr/share/bash-completion/bash_completion}
[ -r "$bc" ] || { echo "complete.bash: $bc not found; install bash-completion" >&2; exit 2; }
# shellcheck source=/dev/null
. "$bc"
# shellcheck source=/dev/null
. "$script"
spec=$(complete -p "$1" 2>/dev/null) || { echo "complete.bash: $script registers nothing for $1" >&2; exit 2; }
fn=$(sed -n 's/.* -F \([^ ]*\) .*/\1/p' <<<"$spec")
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
"$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
((${#COMPREPLY[@]} == 0)) || printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort
