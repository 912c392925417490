# tests/fuzz.mk - fuzz targets of the parsers of outside input outside the
# token store: the authorization redirect the helper receives and the
# error challenge the plugin receives. Like tests/unit/fuzz_* and
# tests/oauth/fuzz_token_response, their committed corpora replay as TAP
# tests in `make check`. `make fuzz` runs every fuzz target under libFuzzer
# (tools/fuzz; FUZZ_SECONDS per target, default 60).
fuzz_replay_tests = tests/fuzz/fuzz_redirect tests/fuzz/fuzz_challenge \
	tests/fuzz/fuzz_service_account

check_PROGRAMS += $(fuzz_replay_tests)
TESTS += $(fuzz_replay_tests)
EXTRA_DIST += tests/fuzz/fuzz_driver.h tests/fuzz/corpus tools/fuzz

fuzz_cppflags = $(AM_CPPFLAGS) -I$(top_srcdir)/tests

tests_fuzz_fuzz_redirect_SOURCES = tests/fuzz/fuzz_redirect.c \
	helper/redirect_parse.c helper/redirect_parse.h
tests_fuzz_fuzz_redirect_CPPFLAGS = $(fuzz_cppflags) -I$(top_srcdir)/helper \
	-DFUZZ_CORPUS='"tests/fuzz/corpus/redirect"'
tests_fuzz_fuzz_redirect_LDADD = libtokenstore.la

tests_fuzz_fuzz_challenge_SOURCES = tests/fuzz/fuzz_challenge.c \
	plugin/mech_challenge.c plugin/mech_challenge_p.h
tests_fuzz_fuzz_challenge_CPPFLAGS = $(fuzz_cppflags) -I$(top_srcdir)/plugin \
	-DFUZZ_CORPUS='"tests/fuzz/corpus/challenge"'
tests_fuzz_fuzz_challenge_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
tests_fuzz_fuzz_challenge_LDADD = $(JSONC_LIBS)

tests_fuzz_fuzz_service_account_SOURCES = tests/fuzz/fuzz_service_account.c
tests_fuzz_fuzz_service_account_CPPFLAGS = $(fuzz_cppflags) -I$(top_srcdir)/tokenstore \
	-DFUZZ_CORPUS='"tests/fuzz/corpus/service_account"'
tests_fuzz_fuzz_service_account_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
tests_fuzz_fuzz_service_account_LDADD = libtokenstore.la $(JSONC_LIBS) $(CRYPTO_LIBS)

FUZZ_SECONDS = 60
fuzz:
	@FUZZ_SECONDS='$(FUZZ_SECONDS)' $(SHELL) $(top_srcdir)/tools/fuzz
.PHONY: fuzz
