# plugin/local.mk - the Cyrus SASL client plugin, a libtool module.
plugin_LTLIBRARIES += plugin/libsasloauth2.la
plugin_libsasloauth2_la_SOURCES = \
	plugin/plugin_p.h \
	plugin/plugin_init.c \
	plugin/plugin_log.c \
	plugin/mech_common.c \
	plugin/mech_challenge_p.h \
	plugin/mech_challenge.c \
	plugin/mech_xoauth2.c \
	plugin/mech_oauthbearer.c
# -pthread: the global context's mutex (plugin_p.h); libc has the functions
# on glibc >= 2.34, older systems need libpthread.
plugin_libsasloauth2_la_CFLAGS = $(AM_CFLAGS) -pthread $(SASL_CFLAGS) $(JSONC_CFLAGS)
plugin_libsasloauth2_la_LDFLAGS = $(AM_LDFLAGS) -pthread -module -avoid-version -no-undefined -shared \
	-export-symbols-regex '^sasl_client_plug_init$$'
plugin_libsasloauth2_la_LIBADD = libtokenstore.la $(JSONC_LIBS)
