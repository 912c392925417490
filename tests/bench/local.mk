# tests/bench/local.mk - `make bench` (target in the top Makefile.am): a
# benchmark of the token store, built and run only on request, never by
# `make check`.
EXTRA_PROGRAMS += tests/bench/bench_access
tests_bench_bench_access_SOURCES = tests/bench/bench_access.c
tests_bench_bench_access_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(JSONC_CFLAGS)
tests_bench_bench_access_LDADD = libtokenstore.la $(JSONC_LIBS)
EXTRA_PROGRAMS += tests/bench/bench_jose
tests_bench_bench_jose_SOURCES = tests/bench/bench_jose.c
tests_bench_bench_jose_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tokenstore
tests_bench_bench_jose_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(CRYPTO_CFLAGS)
tests_bench_bench_jose_LDADD = libtokenstore.la $(JSONC_LIBS) $(CRYPTO_LIBS)
EXTRA_PROGRAMS += tests/bench/bench_login
tests_bench_bench_login_SOURCES = tests/bench/bench_login.c
tests_bench_bench_login_CFLAGS = $(AM_CFLAGS) $(SASL_CFLAGS)
tests_bench_bench_login_LDADD = $(SASL_LIBS)
EXTRA_DIST += tests/bench/run.sh tests/bench/tunnel.sh tests/bench/tunnel_bench.py \
	tests/bench/logins.sh
CLEANFILES += tests/bench/bench_access$(EXEEXT) tests/bench/bench_jose$(EXEEXT) \
	tests/bench/bench_login$(EXEEXT)
