# tests/plugin build fragment - the SASL plugin loaded in-process by libsasl2.
check_PROGRAMS += tests/plugin/test_plugin
tests_plugin_test_plugin_SOURCES = tests/plugin/test_plugin.c
tests_plugin_test_plugin_CFLAGS = $(AM_CFLAGS) -pthread $(SASL_CFLAGS) $(JSONC_CFLAGS) -I$(top_srcdir)/tests
tests_plugin_test_plugin_LDFLAGS = $(AM_LDFLAGS) -pthread
tests_plugin_test_plugin_LDADD = $(SASL_LIBS) $(JSONC_LIBS)
# The program loads the module from plugin/.libs at run time.
EXTRA_tests_plugin_test_plugin_DEPENDENCIES = plugin/libsasloauth2.la
TESTS += tests/plugin/test_plugin tests/plugin/test_exports.sh \
	tests/plugin/test_valgrind.sh tests/plugin/test_refresh.sh \
	tests/plugin/test_root.sh tests/plugin/test_preload.sh
# A competing XOAUTH2 module (like sasl-xoauth2) for doctor's plugin check.
check_LTLIBRARIES += tests/plugin/libcompete.la
tests_plugin_libcompete_la_SOURCES = tests/plugin/compete_plugin.c
tests_plugin_libcompete_la_CFLAGS = $(AM_CFLAGS) $(SASL_CFLAGS)
tests_plugin_libcompete_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere \
	-export-symbols-regex '^sasl_client_plug_init$$'
