# tokenstore/oauth.mk - OAuth2 HTTP client, PKCE, grants, refresh logic.
ts_oauth_sources = \
	tokenstore/oauth.h \
	tokenstore/oauth_http_p.h \
	tokenstore/oauth_http.c \
	tokenstore/advice.c \
	tokenstore/discovery.c \
	tokenstore/wipe_alloc.c \
	tokenstore/curl_dl_p.h \
	tokenstore/curl_dl.c \
	tokenstore/pkce.c \
	tokenstore/jose.h \
	tokenstore/jose.c \
	tokenstore/keys_p.h \
	tokenstore/keys.c \
	tokenstore/grants.c \
	tokenstore/refresh.c
