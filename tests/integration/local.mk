# tests/integration/local.mk - end-to-end tests against real servers on
# 127.0.0.1: Dovecot (IMAP, POP3, submission), Postfix, mbsync and the Cyrus
# test clients, all logging in through the built plugin with tokens from the
# test OAuth2 server.
TESTS += \
	tests/integration/test_imtest.sh \
	tests/integration/test_refresh.sh \
	tests/integration/test_mbsync.sh \
	tests/integration/test_postfix.sh \
	tests/integration/test_herd.sh \
	tests/integration/test_tunnel.sh \
	tests/integration/test_doctor_login.sh \
	tests/integration/test_valgrind.sh \
	tests/integration/test_pg_store.sh \
	tests/integration/test_pg_herd.sh \
	tests/integration/test_seal.sh \
	tests/integration/test_pg_postfix.sh
EXTRA_DIST += \
	tests/integration/env.sh \
	tests/integration/pg_env.sh \
	tests/integration/smtp_sink.py \
	tests/integration/tcp_record.py \
	tests/integration/tunnel_client.py \
	tests/integration/fake_imap_tls.py \
	tests/integration/valgrind.supp \
	tools/demo

# Sanitizer builds: the preload that initializes ASan before the uninstrumented
# hosts' own constructors run (see asan_initfirst.c and env.sh).
if SANITIZERS
check_LTLIBRARIES += tests/integration/libasan_initfirst.la
tests_integration_libasan_initfirst_la_SOURCES = tests/integration/asan_initfirst.c
tests_integration_libasan_initfirst_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared \
	-rpath /nowhere -Wl,-z,initfirst
endif
EXTRA_DIST += tests/integration/asan_initfirst.c

# A long-running store client (like the plugin in a Postfix smtp process)
# for the postgresql:// store tests: outages, reconnects, chroot.
check_PROGRAMS += tests/integration/store_driver
tests_integration_store_driver_SOURCES = tests/integration/store_driver.c
tests_integration_store_driver_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tokenstore
tests_integration_store_driver_LDADD = libtokenstore.la
