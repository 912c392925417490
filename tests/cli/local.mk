# tests/cli/local.mk - TAP shell tests of the sasl-oauth2 helper.
TESTS += \
	tests/cli/test_manage.sh \
	tests/cli/test_export.sh \
	tests/cli/test_flows.sh \
	tests/cli/test_field.sh \
	tests/cli/test_doctor.sh \
	tests/cli/test_lazy_curl.sh \
	tests/cli/test_margin_floor.sh \
	tests/cli/test_loopback.sh \
	tests/cli/test_tls_faults.sh \
	tests/cli/test_promises.sh
EXTRA_DIST += tests/cli/loopback_hold.py

# failwrite.so: an LD_PRELOAD shim that makes state writes fail (a full disk).
check_LTLIBRARIES += tests/cli/failwrite.la
tests_cli_failwrite_la_SOURCES = tests/cli/failwrite.c
tests_cli_failwrite_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared -rpath /nowhere
tests_cli_failwrite_la_LIBADD = -ldl
TESTS += tests/cli/test_write_fail.sh tests/cli/test_crash.sh tests/cli/test_lock_wait.sh \
	tests/cli/test_import_atomic.sh
EXTRA_DIST += tests/cli/crash_loop.py tests/cli/store.sh
TESTS += tests/cli/test_hostile_yaml.sh
EXTRA_DIST += tests/cli/hostile_yaml.py tests/cli/rusage.py
TESTS += tests/cli/test_control_chars.sh
TESTS += tests/cli/test_secret_memory.sh

# The helper with free() interposed (tests/cli/freecheck.c), for
# test_secret_memory.sh: which library frees a secret unwiped.
check_PROGRAMS += tests/cli/sasl-oauth2-freecheck
tests_cli_sasl_oauth2_freecheck_SOURCES = $(sasl_oauth2_SOURCES) tests/cli/freecheck.c
tests_cli_sasl_oauth2_freecheck_CFLAGS = $(sasl_oauth2_CFLAGS)
tests_cli_sasl_oauth2_freecheck_LDADD = $(sasl_oauth2_LDADD)

# The helper built with the test hooks (tests/testhooks.c): the tests that
# move the clock with SASL_OAUTH2_TEST_NOW run it; the installed helper
# ignores that variable.
check_PROGRAMS += tests/sasl-oauth2-test
tests_sasl_oauth2_test_SOURCES = $(sasl_oauth2_SOURCES) tests/testhooks.c
tests_sasl_oauth2_test_CFLAGS = $(sasl_oauth2_CFLAGS)
tests_sasl_oauth2_test_LDADD = $(sasl_oauth2_LDADD)
