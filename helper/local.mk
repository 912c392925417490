# helper/local.mk - the sasl-oauth2 command line helper.
bin_PROGRAMS += sasl-oauth2
sasl_oauth2_SOURCES =
sasl_oauth2_LDADD = libtokenstore.la
