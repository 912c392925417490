# plugin/local.mk - the Cyrus SASL client plugin, a libtool module.
plugin_LTLIBRARIES += plugin/libsasloauth2.la
plugin_libsasloauth2_la_SOURCES =
plugin_libsasloauth2_la_CFLAGS = $(AM_CFLAGS) $(SASL_CFLAGS)
plugin_libsasloauth2_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -no-undefined -shared \
	-export-symbols-regex '^sasl_client_plug_init$$'
plugin_libsasloauth2_la_LIBADD = libtokenstore.la
