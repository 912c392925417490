/*
 * oauth_http.c - the HTTP side of the OAuth2 client: form-encoded POSTs
 * with client authentication, bounded in time and size, TLS always
 * verified, and the strict parser of token endpoint answers.
 *
 * Proxies: only the configured `proxy` is used. When none is configured
 * CURLOPT_PROXY is set to "" so that http_proxy / https_proxy in the
 * environment of some mail daemon never silently reroute token requests
 * (the configuration is the one place a proxy comes from).
 *
 * Every buffer that may have held a secret (request bodies with client
 * secrets, codes, refresh tokens; response bodies with tokens; the Basic
 * authorization header; json-c's copies) is wiped before it is freed.
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "curl_dl_p.h"
#include "jose.h"
#include "oauth_http_p.h"

/* Ten years: a longer access token lifetime is a broken server. */
#define OA2_MAX_EXPIRES_IN (10LL * 365 * 24 * 3600)
#define OA2_DEFAULT_TIMEOUT 20L

/* ---------------------------------------------------------------------- */
/* Buffers                                                                  */

int oa2_buf_append(oa2_buf *b, const char *s, size_t n)
{
	if (n == 0 && b->p != NULL)
		return TS_OK;
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		char *np;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		/* Never realloc: the old block may hold a secret and must be wiped. */
		np = malloc(ncap);
		if (np == NULL)
			return TS_ENOMEM;
		if (b->p != NULL) {
			memcpy(np, b->p, b->len);
			ts_wipe(b->p, b->cap);
			free(b->p);
		}
		b->p = np;
		b->cap = ncap;
	}
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return TS_OK;
}

void oa2_buf_clear(oa2_buf *b)
{
	if (b->p != NULL) {
		ts_wipe(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Percent-encode everything but the unreserved characters (RFC 3986), which
 * is also a valid application/x-www-form-urlencoded value. */
static int pct_append(oa2_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		int rc;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			rc = oa2_buf_append(b, (const char *)&c, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			rc = oa2_buf_append(b, e, 3);
		}
		if (rc != TS_OK)
			return rc;
	}
	return TS_OK;
}

int oa2_form_add(oa2_buf *b, const char *key, const char *value)
{
	int rc;

	if (b->len > 0 && (rc = oa2_buf_append(b, "&", 1)) != TS_OK)
		return rc;
	if ((rc = pct_append(b, key)) != TS_OK)
		return rc;
	if ((rc = oa2_buf_append(b, "=", 1)) != TS_OK)
		return rc;
	return pct_append(b, value ? value : "");
}

int oa2_base64url(char **out, const unsigned char *data, size_t len)
{
	size_t cap = 4 * ((len + 2) / 3) + 1;
	char *s;
	int n;

	*out = NULL;
	if (len > INT32_MAX / 2)
		return TS_EINVAL;
	s = malloc(cap);
	if (s == NULL)
		return TS_ENOMEM;
	n = EVP_EncodeBlock((unsigned char *)s, data, (int)len);
	while (n > 0 && s[n - 1] == '=')
		n--;
	s[n] = '\0';
	for (char *p = s; *p; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	}
	*out = s;
	return TS_OK;
}

/* ---------------------------------------------------------------------- */
/* Small helpers for messages                                               */

void oa2_sanitize(char *out, size_t outsz, const char *in, size_t inlen)
{
	size_t o = 0;

	if (outsz == 0)
		return;
	for (size_t i = 0; in != NULL && i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];

		if (o + 1 >= outsz) {
			if (outsz > 4)
				memcpy(out + outsz - 4, "...", 3);
			o = outsz - 1;
			break;
		}
		out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[o] = '\0';
}

static int curl_ready(ts_error *err);

void oa2_url_host(char *out, size_t outsz, const char *url)
{
	CURLU *u;
	char *host = NULL, *port = NULL;

	if (outsz == 0)
		return;
	snprintf(out, outsz, "(unparsable URL)");
	if (curl_ready(NULL) != TS_OK)
		return;
	u = curl_url();
	if (u == NULL || url == NULL)
		goto cleanup;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto cleanup;
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto cleanup;
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port != NULL)
		snprintf(out, outsz, "%s:%s", host, port);
	else
		snprintf(out, outsz, "%s", host);
cleanup:
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
}

static bool host_is_loopback(const char *host)
{
	return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "[::1]") == 0 ||
	       strcmp(host, "::1") == 0 || strcasecmp(host, "localhost") == 0;
}

/* "token 'NAME': " or nothing when there is no token (probe). */
static void msg_prefix(char *out, size_t outsz, const char *token)
{
	if (token != NULL && *token != '\0')
		snprintf(out, outsz, "token '%s': ", token);
	else if (outsz > 0)
		out[0] = '\0';
}

/* Scheme check; *out_http tells whether plain http must be allowed. */
static int url_check(bool *out_http, const char *url, const char *what, const char *token,
		     ts_error *err)
{
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL;
	int rc = TS_OK;
	char tk[TS_NAME_MAX + 16];

	msg_prefix(tk, sizeof(tk), token);
	*out_http = false;
	if (url == NULL || *url == '\0')
		return ts_error_set(err, TS_ECONFIG, "%sno %s URL is configured; "
				    "set it in the token's configuration (sasl-oauth2 edit)", tk, what);
	if ((rc = curl_ready(err)) != TS_OK)
		return rc;
	u = curl_url();
	if (u == NULL) {
		rc = ts_error_set(err, TS_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		rc = ts_error_set(err, TS_EINVAL, "%sthe %s URL is not a valid absolute "
				  "URL; fix it in the token's configuration", tk, what);
		goto cleanup;
	}
	if (strcasecmp(scheme, "https") == 0) {
		rc = TS_OK;
	} else if (strcasecmp(scheme, "http") == 0 && host_is_loopback(host)) {
		*out_http = true;
	} else if (strcasecmp(scheme, "http") == 0) {
		rc = ts_error_set(err, TS_EINVAL, "%srefusing plain http to %s for the %s "
				  "(http is allowed for 127.0.0.1, ::1 and localhost only); use an "
				  "https URL", tk, host, what);
	} else {
		rc = ts_error_set(err, TS_EINVAL, "%sthe %s URL has scheme '%s'; only "
				  "https (or http to a loopback host) is allowed", tk, what, scheme);
	}
cleanup:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

int oa2_url_allowed(const char *url, const char *what, const char *token, ts_error *err)
{
	bool http;

	return url_check(&http, url, what, token, err);
}

/* ---------------------------------------------------------------------- */
/* libcurl                                                                  */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;
static bool curl_wiping, curl_inited;

static void curl_init(void)
{
	curl_inited = true;
	/* Never cleaned up: the plugin may be unloaded while the application
	 * still uses libcurl itself. */
	if (curl_wiping) {
		curl_init_rc = curl_global_init_mem(CURL_GLOBAL_DEFAULT, ts_wipe_malloc, ts_wipe_free,
						    ts_wipe_realloc, ts_wipe_strdup, ts_wipe_calloc);
	} else {
		curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	}
}

/* libcurl loaded for parsing URLs; initialised first when the program
 * asked for the wiping allocator, so that every libcurl allocation goes
 * through it (else the global initialisation, and the memory OpenSSL's
 * takes, waits for the first request). */
static int curl_ready(ts_error *err)
{
	int rc;

	if ((rc = oa2_curl_load(err)) != TS_OK)
		return rc;
	if (!curl_wiping)
		return TS_OK;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return ts_error_set(err, TS_ENET, "libcurl could not be initialised (%s)",
				    curl_easy_strerror(curl_init_rc));
	return TS_OK;
}

int oa2_global_init_wiping(void)
{
	/* libcurl is loaded when first needed (curl_dl.c): the allocator is
	 * installed then, before libcurl allocates anything. */
	if (curl_inited)
		return TS_ERR;
	curl_wiping = true;
	return TS_OK;
}

#ifdef SSL_OP_CLEANSE_PLAINTEXT
/* OpenSSL keeps received plaintext (the token answer) in its record
 * buffers until they are reused; this makes it wipe them as soon as the
 * data is handed over. Per connection, so the plugin may set it too. */
static CURLcode ssl_ctx_cleanse(CURL *c, void *sslctx, void *ud)
{
	(void)c;
	(void)ud;
	if (oa2_curl.p_ssl_ctx_set_options != NULL)
		oa2_curl.p_ssl_ctx_set_options(sslctx, SSL_OP_CLEANSE_PLAINTEXT);
	return CURLE_OK;
}
#endif

void oa2_http_result_clear(oa2_http_result *r)
{
	if (r->body != NULL) {
		ts_wipe(r->body, r->len);
		free(r->body);
	}
	memset(r, 0, sizeof(*r));
}

struct sink {
	oa2_buf buf;
	bool too_big;
	bool nomem;
};

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t n = size * nmemb;

	if (s->buf.len + n > OA2_MAX_RESPONSE) {
		s->too_big = true;
		return 0;           /* aborts the transfer */
	}
	if (oa2_buf_append(&s->buf, ptr, n) != TS_OK) {
		s->nomem = true;
		return 0;
	}
	return n;
}

/* Wipe and free a header list that held an Authorization header. */
static void slist_free_wiped(struct curl_slist *l)
{
	if (l == NULL)
		return; /* also when libcurl never loaded */
	for (struct curl_slist *p = l; p != NULL; p = p->next)
		if (p->data != NULL)
			ts_wipe(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/* "Authorization: Basic base64(urlenc(id):urlenc(secret))" (RFC 6749 2.3.1). */
static int basic_header(char **out, const char *id, const char *secret)
{
	oa2_buf cred = { 0 }, hdr = { 0 };
	char *b64 = NULL;
	int rc, n;

	*out = NULL;
	if ((rc = pct_append(&cred, id)) != TS_OK ||
	    (rc = oa2_buf_append(&cred, ":", 1)) != TS_OK ||
	    (rc = pct_append(&cred, secret)) != TS_OK)
		goto cleanup;
	b64 = malloc(4 * ((cred.len + 2) / 3) + 1);
	if (b64 == NULL) {
		rc = TS_ENOMEM;
		goto cleanup;
	}
	n = EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)cred.p, (int)cred.len);
	if ((rc = oa2_buf_append(&hdr, "Authorization: Basic ", 21)) != TS_OK ||
	    (rc = oa2_buf_append(&hdr, b64, (size_t)n)) != TS_OK)
		goto cleanup;
	*out = hdr.p;
	hdr.p = NULL;
	hdr.len = hdr.cap = 0;
cleanup:
	if (b64 != NULL)
		ts_free_secret(b64);
	oa2_buf_clear(&cred);
	oa2_buf_clear(&hdr);
	return rc;
}

/* Describe a failed transfer as one line. */
static int curl_failure(ts_error *err, CURLcode cc, const struct sink *s, const char *errbuf,
			const char *token, const char *what, const char *host, long timeout)
{
	if (s->too_big)
		return ts_error_set(err, TS_ENET, "%s%s %s: response larger than %d "
				    "bytes; refused (is the URL right?)", token, what, host,
				    OA2_MAX_RESPONSE);
	if (s->nomem)
		return ts_error_set(err, TS_ENOMEM, "%s%s %s: out of memory reading the "
				    "response", token, what, host);
	if (cc == CURLE_OPERATION_TIMEDOUT)
		return ts_error_set(err, TS_ENET, "%s%s %s did not answer within %ld s "
				    "(http_timeout); try again later", token, what, host, timeout);
	return ts_error_set(err, TS_ENET, "%s%s %s: %s; check the network, proxy "
			    "and CA settings, then try again", token, what, host,
			    errbuf[0] ? errbuf : curl_easy_strerror(cc));
}

/*
 * RFC 7523 2.2 client authentication: client_id, client_assertion_type and
 * a fresh assertion signed with the token's key (iss = sub = client_id,
 * aud = the token endpoint, whichever endpoint this request goes to).
 */
static int client_assertion_add(oa2_buf *form, const ts_token_effective *eff, const char *tk,
				ts_error *err)
{
	char what[TS_NAME_MAX + 64];
	char *jwt = NULL;
	int rc;

	snprintf(what, sizeof(what), "%sfield 'client_key_file'", tk);
	if (eff->client_key == NULL)
		return ts_error_set(err, TS_ECONFIG, "%s: no key was read; set client_key_file", what);
	rc = jose_assertion(&jwt, eff->client_key, strlen(eff->client_key), what, NULL,
			    eff->client_x5t, eff->client_x5t256, eff->client_id, eff->client_id,
			    eff->token_url, NULL, ts_now(), err);
	if (rc != TS_OK)
		return rc;
	if (oa2_form_add(form, "client_id", eff->client_id ? eff->client_id : "") != TS_OK ||
	    oa2_form_add(form, "client_assertion_type",
			 "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") != TS_OK ||
	    oa2_form_add(form, "client_assertion", jwt) != TS_OK)
		rc = ts_error_set(err, TS_ENOMEM, "%sout of memory adding the client assertion", tk);
	ts_free_secret(jwt);
	return rc;
}

/* One request. form == NULL means GET. */
static int http_request(oa2_http_result *out, ts_ctx *ctx, const ts_token_effective *eff,
			const char *token, const char *what, const char *url, oa2_buf *form,
			bool client_auth, ts_error *err)
{
	CURL *c = NULL;
	struct curl_slist *hdrs = NULL, *tmp;
	struct sink sink = { 0 };
	char errbuf[CURL_ERROR_SIZE] = "";
	char host[256];
	char *auth = NULL;
	char *ctype = NULL;
	const ts_global_config *cfg = ctx ? ts_ctx_config(ctx) : NULL;
	long timeout = (cfg && cfg->http_timeout > 0) ? cfg->http_timeout : OA2_DEFAULT_TIMEOUT;
	bool http = false;
	CURLcode cc;
	int rc;
	char tk[TS_NAME_MAX + 16];

	msg_prefix(tk, sizeof(tk), token);
	memset(out, 0, sizeof(*out));
	oa2_url_host(host, sizeof(host), url);
	/* Refused before any I/O. */
	if ((rc = url_check(&http, url, what, token, err)) != TS_OK)
		goto cleanup;

	if ((rc = oa2_curl_load(err)) != TS_OK)
		goto cleanup;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		rc = ts_error_set(err, TS_ENET, "%slibcurl could not be initialised (%s)",
				  tk, curl_easy_strerror(curl_init_rc));
		goto cleanup;
	}
	c = curl_easy_init();
	if (c == NULL) {
		rc = ts_error_set(err, TS_ENOMEM, "%sout of memory (curl_easy_init)", tk);
		goto cleanup;
	}

	if (form != NULL && client_auth) {
		const char *id = eff->client_id ? eff->client_id : "";

		switch (eff->client_auth) {
		case TS_CLIENT_AUTH_POST:
			if (oa2_form_add(form, "client_id", id) != TS_OK ||
			    oa2_form_add(form, "client_secret", eff->client_secret ? eff->client_secret : "") != TS_OK)
				goto nomem;
			break;
		case TS_CLIENT_AUTH_NONE:
			/* A jwt-bearer grant may have no client at all. */
			if (eff->client_id != NULL && oa2_form_add(form, "client_id", id) != TS_OK)
				goto nomem;
			break;
		case TS_CLIENT_AUTH_PRIVATE_KEY_JWT:
			if ((rc = client_assertion_add(form, eff, tk, err)) != TS_OK)
				goto cleanup;
			break;
		case TS_CLIENT_AUTH_BASIC:
		case TS_CLIENT_AUTH_UNSET:
		default:
			/* RFC 6749 2.3.1: servers must support Basic. A public client
			 * configured as basic sends an empty secret. */
			if (basic_header(&auth, id, eff->client_secret ? eff->client_secret : "") != TS_OK)
				goto nomem;
			if ((tmp = curl_slist_append(hdrs, auth)) == NULL)
				goto nomem;
			hdrs = tmp;
			break;
		}
	}
	if ((tmp = curl_slist_append(hdrs, "Accept: application/json")) == NULL)
		goto nomem;
	hdrs = tmp;
	if (form != NULL) {
		if ((tmp = curl_slist_append(hdrs, "Content-Type: application/x-www-form-urlencoded")) == NULL)
			goto nomem;
		hdrs = tmp;
		/* Expect: 100-continue only adds a round trip. */
		if ((tmp = curl_slist_append(hdrs, "Expect:")) == NULL)
			goto nomem;
		hdrs = tmp;
		if (oa2_buf_append(form, "", 0) != TS_OK)
			goto nomem;
	}

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, http ? "https,http" : "https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS,
			 (long)(http ? (CURLPROTO_HTTPS | CURLPROTO_HTTP) : CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
#ifdef SSL_OP_CLEANSE_PLAINTEXT
	/* Fails harmlessly with a libcurl built on another TLS library. */
	curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cleanse);
#endif
	{
		size_t calen = 0;
		const void *ca = ctx ? ts_ctx_ca_blob(ctx, &calen) : NULL;

		if (ca != NULL && calen > 0) {
			struct curl_blob blob = { (void *)ca, calen, CURL_BLOB_NOCOPY };

			curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
		} else if (cfg != NULL && cfg->ca_bundle != NULL && cfg->ca_bundle[0] != '\0') {
			curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_bundle);
		}
	}
	curl_easy_setopt(c, CURLOPT_PROXY, (cfg && cfg->proxy) ? cfg->proxy : "");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "sasl-oauth2/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)OA2_MAX_RESPONSE);
	if (form != NULL) {
		/* POSTFIELDS, not COPYPOSTFIELDS: the body stays in our buffer,
		 * which we wipe. */
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, form->p);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)form->len);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}

	cc = curl_easy_perform(c);
	if (cc == CURLE_FILESIZE_EXCEEDED)
		sink.too_big = true;
	if (cc != CURLE_OK) {
		rc = curl_failure(err, cc, &sink, errbuf, tk, what, host, timeout);
		goto cleanup;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype) == CURLE_OK && ctype != NULL)
		oa2_sanitize(out->content_type, sizeof(out->content_type), ctype, strlen(ctype));
	/* A redirect on a POST means a wrong URL (or worse: the body with the
	 * client secret would be replayed elsewhere). For a GET probe any
	 * answer shows the endpoint is reachable. */
	if (form != NULL && out->status >= 300 && out->status < 400) {
		rc = ts_error_set(err, TS_ENET, "%s%s %s answered HTTP %ld (a redirect, "
				  "which is never followed); check the %s URL", tk, what, host,
				  out->status, what);
		goto cleanup;
	}
	if (oa2_buf_append(&sink.buf, "", 0) != TS_OK)
		goto nomem;
	out->body = sink.buf.p;
	out->len = sink.buf.len;
	sink.buf.p = NULL;
	sink.buf.len = sink.buf.cap = 0;
	rc = TS_OK;
	goto cleanup;

nomem:
	rc = ts_error_set(err, TS_ENOMEM, "%sout of memory preparing the request to "
			  "the %s", tk, what);
cleanup:
	if (c != NULL)
		curl_easy_cleanup(c);
	slist_free_wiped(hdrs);
	if (auth != NULL)
		ts_free_secret(auth);
	if (form != NULL)
		oa2_buf_clear(form);
	oa2_buf_clear(&sink.buf);
	if (rc != TS_OK)
		oa2_http_result_clear(out);
	return rc;
}

int oa2_http_post(oa2_http_result *out, ts_ctx *ctx, const ts_token_effective *eff,
		  const char *what, const char *url, oa2_buf *form, bool client_auth,
		  ts_error *err)
{
	return http_request(out, ctx, eff, eff->name, what, url, form, client_auth, err);
}

int oa2_http_get(oa2_http_result *out, ts_ctx *ctx, const char *token, const char *what,
		 const char *url, ts_error *err)
{
	return http_request(out, ctx, NULL, token, what, url, NULL, false, err);
}

/* ---------------------------------------------------------------------- */
/* JSON                                                                     */

/* Wipe every string value (recursively) before json-c frees them: a token
 * answer holds access and refresh tokens, id tokens, device codes. */
static void json_wipe(json_object *o, int depth)
{
	if (o == NULL || depth > 64)
		return;
	switch (json_object_get_type(o)) {
	case json_type_string: {
		int n = json_object_get_string_len(o);
		char *s = (char *)json_object_get_string(o);

		if (s != NULL && n > 0)
			ts_wipe(s, (size_t)n);
		break;
	}
	case json_type_object: {
		json_object_object_foreach(o, k, v) {
			(void)k;
			json_wipe(v, depth + 1);
		}
		break;
	}
	case json_type_array: {
		size_t n = json_object_array_length(o);

		for (size_t i = 0; i < n; i++)
			json_wipe(json_object_array_get_idx(o, i), depth + 1);
		break;
	}
	default:
		break;
	}
}

static void json_put_wiped(json_object *o)
{
	json_wipe(o, 0);
	json_object_put(o);
}

/* Parse `len` bytes as exactly one JSON value (whitespace around it is
 * fine); NULL when it is not valid JSON. */
static json_object *json_parse_exact(const char *body, size_t len)
{
	json_tokener *tok;
	json_object *o = NULL;
	size_t end;

	if (body == NULL || len == 0 || len > OA2_MAX_RESPONSE)
		return NULL;
	tok = json_tokener_new_ex(32);
	if (tok == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success)
		goto fail;
	end = json_tokener_get_parse_end(tok);
	for (; end < len; end++)
		if (!isspace((unsigned char)body[end]))
			goto fail;
	goto done;
fail:
	if (o != NULL)
		json_put_wiped(o);
	o = NULL;
done:
	/* The tokener's scratch buffer held the last string it read. */
	if (tok->pb != NULL && tok->pb->buf != NULL && tok->pb->size > 0)
		ts_wipe(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
	return o;
}

/* A string member without embedded NULs; NULL when absent or not a string.
 * *bad is set when present with another type. */
static const char *json_str(json_object *o, const char *key, bool *bad)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return NULL;
	if (!json_object_is_type(v, json_type_string)) {
		if (bad)
			*bad = true;
		return NULL;
	}
	s = json_object_get_string(v);
	if (s == NULL || strlen(s) != (size_t)json_object_get_string_len(v)) {
		if (bad)
			*bad = true;
		return NULL;
	}
	return s;
}

/* An integer member: JSON integer, integral number or decimal string.
 * Returns 0 absent, 1 ok, -1 invalid. */
static int json_int(int64_t *out, json_object *o, const char *key)
{
	json_object *v;

	*out = -1;
	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return 0;
	switch (json_object_get_type(v)) {
	case json_type_int:
		errno = 0;
		*out = json_object_get_int64(v);
		if (errno != 0 || *out == INT64_MAX || *out == INT64_MIN)
			return -1;
		return 1;
	case json_type_double: {
		double d = json_object_get_double(v);

		if (!(d >= -1e15 && d <= 1e15) || d != (double)(int64_t)d)
			return -1;
		*out = (int64_t)d;
		return 1;
	}
	case json_type_string: {
		const char *s = json_object_get_string(v);
		char *end;
		long long x;

		if (s == NULL || *s == '\0' || strlen(s) > 18)
			return -1;
		for (const char *p = (*s == '-') ? s + 1 : s; *p; p++)
			if (!isdigit((unsigned char)*p))
				return -1;
		errno = 0;
		x = strtoll(s, &end, 10);
		if (errno != 0 || *end != '\0')
			return -1;
		*out = x;
		return 1;
	}
	default:
		return -1;
	}
}

static bool status_ok(long status)
{
	return status == 200;
}

struct classify {
	const char *name;
	int code;
};

static const struct classify oauth_errors[] = {
	{ "invalid_grant", TS_EGRANT },
	{ "invalid_client", TS_ECONFIG },
	{ "unauthorized_client", TS_ECONFIG },
	{ "unsupported_grant_type", TS_ECONFIG },
	{ "invalid_scope", TS_ECONFIG },
	{ "invalid_request", TS_ECONFIG },
	{ "access_denied", TS_EDENIED },
	{ "expired_token", TS_EEXPIRED },
};

static const char *oauth_error_hint(int code)
{
	switch (code) {
	case TS_EGRANT:
		return "a new consent is needed (sasl-oauth2 authorize)";
	case TS_ECONFIG:
		return "check client_id, client_secret, client_auth, scope and the endpoint URLs";
	case TS_EDENIED:
		return "the request was denied";
	case TS_EEXPIRED:
		return "the request expired; start again";
	default:
		return "try again later";
	}
}

/*
 * Start reading an answer of `host`: reset `oe` (may be NULL) to its status
 * and host, and parse the body. Returns the JSON object, or NULL when the
 * body is not JSON or (*not_object set) JSON of another type.
 */
static json_object *answer_open(oa2_oauth_error *oe, long status, const char *host,
				const char *body, size_t len, bool *not_object)
{
	json_object *o;

	if (oe != NULL) {
		memset(oe, 0, sizeof(*oe));
		oe->http_status = status;
		snprintf(oe->host, sizeof(oe->host), "%s", host ? host : "");
	}
	*not_object = false;
	o = json_parse_exact(body, len);
	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		json_put_wiped(o);
		o = NULL;
		*not_object = true;
	}
	return o;
}

/*
 * Turn a non-success answer (or a 200 carrying `error`) into a code and a
 * message. `o` may be NULL (not JSON).
 */
static int answer_error(oa2_oauth_error *oe, json_object *o, long status,
			const char *content_type, const char *token, const char *what,
			const char *host, unsigned flags, ts_error *err)
{
	const char *ecode = o ? json_str(o, "error", NULL) : NULL;
	const char *edesc = o ? json_str(o, "error_description", NULL) : NULL;
	char code[64], desc[256], advice[512];
	int rc = TS_ENET;

	if (ecode == NULL) {
		if (o == NULL)
			return ts_error_set(err, TS_ENET, "token '%s': %s %s answered HTTP %ld with a "
					    "body that is not JSON (content type %s); try again "
					    "later or check the URL", token, what, host, status,
					    content_type && *content_type ? content_type : "none");
		return ts_error_set(err, TS_ENET, "token '%s': %s %s answered HTTP %ld without an "
				    "OAuth error; try again later", token, what, host, status);
	}
	oa2_sanitize(code, sizeof(code), ecode, strlen(ecode));
	oa2_sanitize(desc, sizeof(desc), edesc ? edesc : "", edesc ? strlen(edesc) : 0);
	if (oe != NULL) {
		snprintf(oe->code, sizeof(oe->code), "%s", code);
		snprintf(oe->description, sizeof(oe->description), "%s", desc);
	}
	if (flags & OA2_PARSE_DEVICE) {
		if (strcmp(ecode, "authorization_pending") == 0)
			return OA2_PENDING;
		if (strcmp(ecode, "slow_down") == 0)
			return OA2_SLOW_DOWN;
	}
	for (size_t i = 0; i < sizeof(oauth_errors) / sizeof(oauth_errors[0]); i++)
		if (strcmp(ecode, oauth_errors[i].name) == 0)
			rc = oauth_errors[i].code;
	if (!oa2_error_advice(advice, sizeof(advice), code, edesc, host, token))
		snprintf(advice, sizeof(advice), "%s", oauth_error_hint(rc));
	return ts_error_set(err, rc, "token '%s': %s %s answered HTTP %ld: %s%s%s%s; %s", token,
			    what, host, status, code, desc[0] ? " (" : "", desc,
			    desc[0] ? ")" : "", advice);
}

void oa2_token_response_free(oa2_token_response *r)
{
	if (r == NULL)
		return;
	ts_free_secret(r->access_token);
	free(r->token_type);
	ts_free_secret(r->refresh_token);
	free(r->scope);
	free(r);
}

int oa2_token_response_parse(oa2_token_response **out, oa2_oauth_error *oe, long status,
			     const char *content_type, const char *body, size_t len,
			     const char *token, const char *host, unsigned flags, ts_error *err)
{
	static const char what[] = "token endpoint";
	json_object *o = NULL;
	oa2_token_response *r = NULL;
	const char *at, *tt, *rt, *sc;
	bool bad = false, not_object;
	int64_t n;
	int rc, k;

	*out = NULL;
	o = answer_open(oe, status, host, body, len, &not_object);
	token = token ? token : "";
	host = host ? host : "";
	if (not_object && status_ok(status)) {
		rc = ts_error_set(err, TS_ENET, "token '%s': %s %s answered HTTP %ld with JSON "
				  "that is not an object; try again later", token, what, host, status);
		goto cleanup;
	}
	if (!status_ok(status) || o == NULL ||
	    json_object_object_get_ex(o, "error", NULL)) {
		if (status_ok(status) && o == NULL) {
			rc = ts_error_set(err, TS_ENET, "token '%s': %s %s answered HTTP %ld with a body "
					  "that is not JSON (content type %s); try again later or "
					  "check the URL", token, what, host, status,
					  content_type && *content_type ? content_type : "none");
			goto cleanup;
		}
		rc = answer_error(oe, o, status, content_type, token, what, host, flags, err);
		goto cleanup;
	}

	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		rc = ts_error_set(err, TS_ENOMEM, "out of memory");
		goto cleanup;
	}
	r->http_status = status;
	r->expires_in = -1;
	r->refresh_token_expires_in = -1;

	at = json_str(o, "access_token", &bad);
	if (at == NULL || *at == '\0' || bad) {
		rc = ts_error_set(err, TS_ENET, "token '%s': %s %s answered HTTP %ld without a "
				  "usable access_token; try again later", token, what, host, status);
		goto cleanup;
	}
	if (!ts_b64token_ok(at)) {
		/* It would go into SASL messages after "Bearer ": a byte outside
		 * RFC 6750's b64token could add fields to them. */
		rc = ts_error_set(err, TS_ENET, "token '%s': %s %s answered HTTP %ld with an "
				  "access_token containing characters outside RFC 6750's token "
				  "set; refused", token, what, host, status);
		goto cleanup;
	}
	tt = json_str(o, "token_type", &bad);
	if (tt == NULL || strcasecmp(tt, "Bearer") != 0) {
		char tts[32];

		oa2_sanitize(tts, sizeof(tts), tt ? tt : "(none)", tt ? strlen(tt) : 6);
		rc = ts_error_set(err, TS_ENET, "token '%s': %s %s answered HTTP %ld with "
				  "token_type '%s', but only Bearer tokens can be used (RFC 6750)",
				  token, what, host, status, tts);
		goto cleanup;
	}
	k = json_int(&n, o, "expires_in");
	if (k < 0 || (k > 0 && (n < 1 || n > OA2_MAX_EXPIRES_IN))) {
		rc = ts_error_set(err, TS_ENET, "token '%s': %s %s answered HTTP %ld: the server "
				  "answered an invalid expires_in; try again later", token, what,
				  host, status);
		goto cleanup;
	}
	r->expires_in = k > 0 ? n : -1;
	rt = json_str(o, "refresh_token", &bad);
	if (bad || (rt != NULL && (*rt == '\0' || !ts_token_chars_ok(rt)))) {
		rc = ts_error_set(err, TS_ENET, "token '%s': %s %s answered HTTP %ld with an "
				  "unusable refresh_token; try again later", token, what, host,
				  status);
		goto cleanup;
	}
	sc = json_str(o, "scope", &bad);
	if (bad) {
		rc = ts_error_set(err, TS_ENET, "token '%s': %s %s answered HTTP %ld with a scope "
				  "that is not a string; try again later", token, what, host, status);
		goto cleanup;
	}
	/* Microsoft's extension: ignored when unusable, it is only informative. */
	if (json_int(&n, o, "refresh_token_expires_in") > 0 && n > 0 && n <= OA2_MAX_EXPIRES_IN)
		r->refresh_token_expires_in = n;

	if ((r->access_token = strdup(at)) == NULL || (r->token_type = strdup("Bearer")) == NULL ||
	    (rt != NULL && (r->refresh_token = strdup(rt)) == NULL)) {
		rc = ts_error_set(err, TS_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (sc != NULL) {
		char *s = malloc(strlen(sc) + 1);

		if (s == NULL) {
			rc = ts_error_set(err, TS_ENOMEM, "out of memory");
			goto cleanup;
		}
		oa2_sanitize(s, strlen(sc) + 1, sc, strlen(sc));
		r->scope = s;
	}
	*out = r;
	r = NULL;
	rc = TS_OK;
cleanup:
	if (rc != TS_OK && r != NULL && (flags & OA2_PARSE_SALVAGE) && o != NULL) {
		const char *srt = json_str(o, "refresh_token", NULL);

		ts_free_secret(r->access_token);
		r->access_token = NULL;
		ts_free_secret(r->refresh_token);
		r->refresh_token = NULL;
		if (srt != NULL && *srt != '\0' && ts_token_chars_ok(srt) &&
		    (r->refresh_token = strdup(srt)) != NULL) {
			*out = r;
			r = NULL;
		}
	}
	oa2_token_response_free(r);
	if (o != NULL)
		json_put_wiped(o);
	return rc;
}

void oa2_device_auth_free(oa2_device_auth *d)
{
	if (d == NULL)
		return;
	ts_free_secret(d->device_code);
	free(d->user_code);
	free(d->verification_uri);
	free(d->verification_uri_complete);
	free(d);
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

int oa2_device_auth_parse(oa2_device_auth **out, oa2_oauth_error *oe, long status,
			  const char *content_type, const char *body, size_t len,
			  const char *token, const char *host, ts_error *err)
{
	static const char what[] = "device authorization endpoint";
	json_object *o = NULL;
	oa2_device_auth *d = NULL;
	const char *dc, *uc, *vu, *vuc;
	bool bad = false, not_object;
	int64_t n;
	int rc, k;

	*out = NULL;
	o = answer_open(oe, status, host, body, len, &not_object);
	token = token ? token : "";
	host = host ? host : "";
	if (!status_ok(status) || o == NULL || json_object_object_get_ex(o, "error", NULL)) {
		rc = answer_error(oe, o, status, content_type, token, what, host, 0, err);
		goto cleanup;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		rc = ts_error_set(err, TS_ENOMEM, "out of memory");
		goto cleanup;
	}
	dc = json_str(o, "device_code", &bad);
	uc = json_str(o, "user_code", &bad);
	vu = json_str(o, "verification_uri", &bad);
	if (vu == NULL)
		vu = json_str(o, "verification_url", &bad); /* Google's spelling */
	vuc = json_str(o, "verification_uri_complete", &bad);
	if (bad || dc == NULL || *dc == '\0' || uc == NULL || *uc == '\0' || vu == NULL ||
	    *vu == '\0' || !printable(uc) || !printable(vu) || !ts_token_chars_ok(dc) ||
	    (vuc != NULL && !printable(vuc))) {
		rc = ts_error_set(err, TS_ENET, "token '%s': %s %s answered HTTP %ld without a "
				  "usable device_code, user_code and verification_uri; try again "
				  "later", token, what, host, status);
		goto cleanup;
	}
	k = json_int(&n, o, "expires_in");
	if (k <= 0 || n < 1 || n > 24 * 3600) {
		rc = ts_error_set(err, TS_ENET, "token '%s': %s %s answered HTTP %ld: the server "
				  "answered an invalid expires_in; try again later", token, what,
				  host, status);
		goto cleanup;
	}
	d->expires_in = n;
	k = json_int(&n, o, "interval");
	if (k < 0 || (k > 0 && (n < 0 || n > 3600))) {
		rc = ts_error_set(err, TS_ENET, "token '%s': %s %s answered HTTP %ld with an "
				  "invalid interval; try again later", token, what, host, status);
		goto cleanup;
	}
	d->interval = (k > 0 && n > 0) ? n : 5;
	if ((d->device_code = strdup(dc)) == NULL || (d->user_code = strdup(uc)) == NULL ||
	    (d->verification_uri = strdup(vu)) == NULL ||
	    (vuc != NULL && (d->verification_uri_complete = strdup(vuc)) == NULL)) {
		rc = ts_error_set(err, TS_ENOMEM, "out of memory");
		goto cleanup;
	}
	*out = d;
	d = NULL;
	rc = TS_OK;
cleanup:
	oa2_device_auth_free(d);
	if (o != NULL)
		json_put_wiped(o);
	return rc;
}

int oa2_token_request(oa2_token_response **out, oa2_oauth_error *oe, ts_ctx *ctx,
		      const ts_token_effective *eff, oa2_buf *form, unsigned flags,
		      ts_error *err)
{
	oa2_http_result res = { 0 };
	char host[256];
	int rc;

	*out = NULL;
	oa2_url_host(host, sizeof(host), eff->token_url);
	if (oe != NULL) {
		memset(oe, 0, sizeof(*oe));
		snprintf(oe->host, sizeof(oe->host), "%s", host);
	}
	rc = oa2_http_post(&res, ctx, eff, "token endpoint", eff->token_url, form, true, err);
	if (rc != TS_OK)
		goto cleanup;
	rc = oa2_token_response_parse(out, oe, res.status, res.content_type, res.body, res.len,
				      eff->name, host, flags, err);
	if (rc != TS_OK && *out != NULL && !(flags & OA2_PARSE_SALVAGE)) {
		oa2_token_response_free(*out);
		*out = NULL;
	}
cleanup:
	oa2_buf_clear(form);
	oa2_http_result_clear(&res);
	return rc;
}

int oa2_error_parse(oa2_oauth_error *oe, long status, const char *content_type,
		    const char *body, size_t len, const char *token, const char *what,
		    const char *host, ts_error *err)
{
	bool not_object;
	json_object *o = answer_open(oe, status, host, body, len, &not_object);
	int rc;

	rc = answer_error(oe, o, status, content_type, token ? token : "", what,
			  host ? host : "", 0, err);
	if (o != NULL)
		json_put_wiped(o);
	return rc;
}
