/*
 * curl_dl_p.h - libcurl through a table filled when it is first needed
 * (curl_dl.c). oauth_http.c includes this instead of <curl/curl.h>: the
 * curl_* names it uses become calls through the table, so a program that
 * never parses a URL or makes a request (`sasl-oauth2 token` with a valid
 * token) never maps libcurl and the two dozen libraries it pulls in.
 */
#ifndef CURL_DL_P_H
#define CURL_DL_P_H

#include <stdint.h>

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include "tokenstore.h"

struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

struct oa2_curl_api {
	CURLcode (*p_global_init)(long flags);
	CURLcode (*p_global_init_mem)(long flags, curl_malloc_callback m, curl_free_callback f,
				      curl_realloc_callback r, curl_strdup_callback s,
				      curl_calloc_callback c);
	CURL *(*p_easy_init)(void);
	CURLcode (*p_easy_setopt)(CURL *c, CURLoption opt, ...);
	CURLcode (*p_easy_perform)(CURL *c);
	CURLcode (*p_easy_getinfo)(CURL *c, CURLINFO info, ...);
	void (*p_easy_cleanup)(CURL *c);
	const char *(*p_easy_strerror)(CURLcode cc);
	struct curl_slist *(*p_slist_append)(struct curl_slist *l, const char *s);
	void (*p_slist_free_all)(struct curl_slist *l);
	CURLU *(*p_url)(void);
	CURLUcode (*p_url_set)(CURLU *u, CURLUPart part, const char *s, unsigned int flags);
	CURLUcode (*p_url_get)(const CURLU *u, CURLUPart part, char **out, unsigned int flags);
	void (*p_url_cleanup)(CURLU *u);
	void (*p_free)(void *p);
	/* OpenSSL's, from libcurl's own libssl; NULL when libcurl uses
	 * another TLS library. Looked up here so that the plugin does not
	 * link libssl for this one call. */
	uint64_t (*p_ssl_ctx_set_options)(struct ssl_ctx_st *ctx, uint64_t options);
};

extern struct oa2_curl_api oa2_curl;

/* Load libcurl once (thread-safe). TS_OK, or TS_ERR saying why and what to
 * do; until it succeeds the table must not be used. */
int oa2_curl_load(ts_error *err);

/* curl.h maps these two to themselves, to count their arguments. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init oa2_curl.p_global_init
#define curl_global_init_mem oa2_curl.p_global_init_mem
#define curl_easy_init oa2_curl.p_easy_init
#define curl_easy_setopt oa2_curl.p_easy_setopt
#define curl_easy_perform oa2_curl.p_easy_perform
#define curl_easy_getinfo oa2_curl.p_easy_getinfo
#define curl_easy_cleanup oa2_curl.p_easy_cleanup
#define curl_easy_strerror oa2_curl.p_easy_strerror
#define curl_slist_append oa2_curl.p_slist_append
#define curl_slist_free_all oa2_curl.p_slist_free_all
#define curl_url oa2_curl.p_url
#define curl_url_set oa2_curl.p_url_set
#define curl_url_get oa2_curl.p_url_get
#define curl_url_cleanup oa2_curl.p_url_cleanup
#define curl_free oa2_curl.p_free

#endif /* CURL_DL_P_H */
