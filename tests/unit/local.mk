# tests/unit build fragment: one TAP program per token store module, plus
# fuzz targets whose committed corpora replay as ordinary tests.
ts_unit_tests = \
	tests/unit/test_names \
	tests/unit/test_config \
	tests/unit/test_template \
	tests/unit/test_state \
	tests/unit/test_store \
	tests/unit/test_export \
	tests/unit/test_ctx \
	tests/unit/test_root \
	tests/unit/test_cache \
	tests/unit/fuzz_config \
	tests/unit/fuzz_export \
	tests/unit/fuzz_state

check_PROGRAMS += $(ts_unit_tests)
TESTS += $(ts_unit_tests)
EXTRA_DIST += tests/unit/unit.h tests/unit/fuzz.h tests/unit/corpus

ts_unit_cppflags = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_unit_test_names_SOURCES = tests/unit/test_names.c
tests_unit_test_names_CPPFLAGS = $(ts_unit_cppflags)
tests_unit_test_names_LDADD = libtokenstore.la
tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CPPFLAGS = $(ts_unit_cppflags)
tests_unit_test_config_LDADD = libtokenstore.la
tests_unit_test_template_SOURCES = tests/unit/test_template.c
tests_unit_test_template_CPPFLAGS = $(ts_unit_cppflags)
tests_unit_test_template_LDADD = libtokenstore.la
tests_unit_test_state_SOURCES = tests/unit/test_state.c
tests_unit_test_state_CPPFLAGS = $(ts_unit_cppflags)
tests_unit_test_state_LDADD = libtokenstore.la
tests_unit_test_store_SOURCES = tests/unit/test_store.c
tests_unit_test_store_CPPFLAGS = $(ts_unit_cppflags)
tests_unit_test_store_LDADD = libtokenstore.la
tests_unit_test_export_SOURCES = tests/unit/test_export.c
tests_unit_test_export_CPPFLAGS = $(ts_unit_cppflags)
tests_unit_test_export_LDADD = libtokenstore.la
tests_unit_test_ctx_SOURCES = tests/unit/test_ctx.c tests/testhooks.c
tests_unit_test_ctx_CPPFLAGS = $(ts_unit_cppflags)
tests_unit_test_ctx_LDADD = libtokenstore.la
tests_unit_test_root_SOURCES = tests/unit/test_root.c
tests_unit_test_root_CPPFLAGS = $(ts_unit_cppflags)
tests_unit_test_root_LDADD = libtokenstore.la
tests_unit_test_cache_SOURCES = tests/unit/test_cache.c tests/testhooks.c
tests_unit_test_cache_CPPFLAGS = $(ts_unit_cppflags)
tests_unit_test_cache_LDADD = libtokenstore.la
# test_cache runs the helper as the other process.
EXTRA_tests_unit_test_cache_DEPENDENCIES = sasl-oauth2$(EXEEXT)

tests_unit_fuzz_config_SOURCES = tests/unit/fuzz_config.c
tests_unit_fuzz_config_CPPFLAGS = $(ts_unit_cppflags) -DFUZZ_CORPUS='"config"'
tests_unit_fuzz_config_LDADD = libtokenstore.la
tests_unit_fuzz_export_SOURCES = tests/unit/fuzz_export.c
tests_unit_fuzz_export_CPPFLAGS = $(ts_unit_cppflags) -DFUZZ_CORPUS='"export"'
tests_unit_fuzz_export_LDADD = libtokenstore.la
tests_unit_fuzz_state_SOURCES = tests/unit/fuzz_state.c
tests_unit_fuzz_state_CPPFLAGS = $(ts_unit_cppflags) -DFUZZ_CORPUS='"state"'
tests_unit_fuzz_state_LDADD = libtokenstore.la
