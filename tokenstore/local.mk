# tokenstore/local.mk - the token store library (no SASL, no printing).
# Core sources are listed here; the OAuth2 sources in tokenstore/oauth.mk.
noinst_LTLIBRARIES += libtokenstore.la
libtokenstore_la_SOURCES = $(ts_core_sources) $(ts_oauth_sources)
libtokenstore_la_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(JSONC_CFLAGS) $(YAML_CFLAGS) $(CRYPTO_CFLAGS) $(SSL_CFLAGS) \
	$(PQ_CFLAGS)
# libcurl and libpq are not linked: curl_dl.c loads libcurl when a URL or
# request needs it, pq_dl.c loads libpq when a postgresql:// store opens.
libtokenstore_la_LIBADD = $(JSONC_LIBS) $(YAML_LIBS) $(CRYPTO_LIBS) $(DL_LIBS)

ts_core_sources = \
	tokenstore/tokenstore.h \
	tokenstore/ts_p.h \
	tokenstore/error.c \
	tokenstore/util.c \
	tokenstore/names.c \
	tokenstore/validate.c \
	tokenstore/yaml_config.c \
	tokenstore/yaml_emit.c \
	tokenstore/token_config.c \
	tokenstore/template.c \
	tokenstore/state_json.c \
	tokenstore/perms.c \
	tokenstore/store_file.c \
	tokenstore/store_pg.c \
	tokenstore/pq_dl_p.h \
	tokenstore/pq_dl.c \
	tokenstore/seal.c \
	tokenstore/store.c \
	tokenstore/resolve.c \
	tokenstore/select.c \
	tokenstore/ctx.c \
	tokenstore/cache.c \
	tokenstore/export.c

include tokenstore/oauth.mk
