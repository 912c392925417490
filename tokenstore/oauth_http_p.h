/*
 * oauth_http_p.h - private interface of the OAuth2 HTTP client.
 *
 * Shared by oauth_http.c, pkce.c, grants.c, refresh.c and the unit tests
 * and fuzz target under tests/oauth/. Nothing here is part of the public
 * tokenstore API.
 */
#ifndef TS_OAUTH_HTTP_P_H
#define TS_OAUTH_HTTP_P_H

#include <stdbool.h>
#include <stddef.h>

#include "oauth.h"

/* A growing byte buffer that may hold secrets: always wiped when cleared. */
typedef struct oa2_buf {
	char *p;
	size_t len;
	size_t cap;
} oa2_buf;

/* Append bytes; TS_ENOMEM on failure (the buffer stays valid). */
int oa2_buf_append(oa2_buf *b, const char *s, size_t n);
/* Wipe and free the contents; the buffer is empty afterwards. */
void oa2_buf_clear(oa2_buf *b);
/* Append "key=value" (both percent-encoded) with a leading '&' when the
 * buffer is not empty. */
int oa2_form_add(oa2_buf *b, const char *key, const char *value);

/* base64url without padding of `len` bytes, in *out (NUL-terminated). */
int oa2_base64url(char **out, const unsigned char *data, size_t len);

/* The OAuth error of a failed request, for callers that build their own
 * message (refresh.c). Empty strings when not known. */
typedef struct oa2_oauth_error {
	long http_status;
	char code[64];              /* e.g. "invalid_grant", sanitised */
	char description[256];      /* error_description, sanitised, truncated */
	char host[256];             /* endpoint host[:port] */
} oa2_oauth_error;

/* advice.c: one line saying what to change for a provider error that
 * names its cause (Microsoft AADSTS codes in `desc`, Google's
 * invalid_grant); false when there is none. `token` names the token. */
bool oa2_error_advice(char *out, size_t outsz, const char *code, const char *desc,
		      const char *host, const char *token);

/* Copy `in` into `out` keeping printable ASCII only (others become '?'),
 * truncated to `outsz - 1` bytes ("..." marks a truncation). */
void oa2_sanitize(char *out, size_t outsz, const char *in, size_t inlen);

/* The host[:port] of `url` for messages (never the path or query). */
void oa2_url_host(char *out, size_t outsz, const char *url);

/* Is `url` acceptable for a request: https, or http to 127.0.0.1, ::1 or
 * localhost? TS_EINVAL naming `what` otherwise. */
int oa2_url_allowed(const char *url, const char *what, const char *token, ts_error *err);

/* An HTTP answer. body is NUL-terminated, wiped by oa2_http_result_clear. */
typedef struct oa2_http_result {
	long status;
	char *body;
	size_t len;
	char content_type[128];
} oa2_http_result;

void oa2_http_result_clear(oa2_http_result *r);

/*
 * POST the form in `form` to `url`. With `client_auth`, the client
 * authenticates as eff->client_auth says (basic header, or client_id and
 * client_secret added to the form, or client_id alone). `what` names the
 * endpoint in messages ("token endpoint"). Any HTTP status is TS_OK here;
 * 3xx is TS_ENET (redirects are never followed). Network failures, timeouts
 * and oversized answers are TS_ENET.
 */
int oa2_http_post(oa2_http_result *out, ts_ctx *ctx, const ts_token_effective *eff,
		  const char *what, const char *url, oa2_buf *form, bool client_auth,
		  ts_error *err);

/* GET `url` (no authentication); any HTTP status is TS_OK. `token` may be NULL. */
int oa2_http_get(oa2_http_result *out, ts_ctx *ctx, const char *token, const char *what,
		 const char *url, ts_error *err);

/* Flags of oa2_token_response_parse. */
enum oa2_parse_flags {
	OA2_PARSE_DEVICE = 1 << 0,  /* authorization_pending / slow_down are OA2_PENDING / OA2_SLOW_DOWN */
	/* A refused HTTP 200 answer that still carries a usable refresh_token
	 * hands it back in *out (access_token NULL) with the error code: the
	 * server may have rotated, and the old refresh token is gone. */
	OA2_PARSE_SALVAGE = 1 << 1,
};

/*
 * Parse a token endpoint answer strictly. `token` and `host` are used in
 * messages only. Returns TS_OK with *out, OA2_PENDING / OA2_SLOW_DOWN (only
 * with OA2_PARSE_DEVICE), or TS_EGRANT / TS_ECONFIG / TS_EDENIED /
 * TS_EEXPIRED / TS_ENET as oauth.h documents. `oe` (may be NULL) receives
 * the OAuth error.
 */
int oa2_token_response_parse(oa2_token_response **out, oa2_oauth_error *oe, long status,
			     const char *content_type, const char *body, size_t len,
			     const char *token, const char *host, unsigned flags, ts_error *err);

/* Parse an RFC 8628 device authorization answer. */
int oa2_device_auth_parse(oa2_device_auth **out, oa2_oauth_error *oe, long status,
			  const char *content_type, const char *body, size_t len,
			  const char *token, const char *host, ts_error *err);

/* Classify a failed answer of any OAuth endpoint (`what` names it):
 * the code mapping of oa2_token_response_parse, message included. */
int oa2_error_parse(oa2_oauth_error *oe, long status, const char *content_type,
		    const char *body, size_t len, const char *token, const char *what,
		    const char *host, ts_error *err);

/* POST `form` to eff->token_url with client authentication and parse the
 * answer with oa2_token_response_parse. Wipes `form`. */
int oa2_token_request(oa2_token_response **out, oa2_oauth_error *oe, ts_ctx *ctx,
		      const ts_token_effective *eff, oa2_buf *form, unsigned flags,
		      ts_error *err);

/* oa2_refresh with the OAuth error handed back in `oe` (may be NULL), for
 * refresh.c, which builds its own message on invalid_grant. Parses with
 * OA2_PARSE_SALVAGE: on failure *out may hold a salvaged refresh token. */
int oa2_refresh_ex(oa2_token_response **out, oa2_oauth_error *oe, ts_ctx *ctx,
		   const ts_token_effective *eff, const char *refresh_token, ts_error *err);

#endif /* TS_OAUTH_HTTP_P_H */
