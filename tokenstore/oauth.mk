# tokenstore/oauth.mk - OAuth2 HTTP client, PKCE, grants, refresh logic.
ts_oauth_sources = \
	tokenstore/oauth.h
