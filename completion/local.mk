# completion/local.mk - bash completion, installed where bash-completion
# loads it on demand (the file is named after the command).
if BASH_COMPLETION
dist_bashcompletion_DATA = completion/sasl-oauth2
else
EXTRA_DIST += completion/sasl-oauth2
endif

TESTS += completion/test_completion.sh
EXTRA_DIST += tests/complete.bash
