/*
 * oauth.h - OAuth2 grants and the refresh logic shared by plugin and helper.
 *
 * Built on libcurl and json-c. Every request has a connect and total
 * timeout (global http_timeout), a cap on the response size, TLS
 * verification always on (CA bundle from the configuration or libcurl's
 * default), and plain http only for loopback hosts. Nothing here prints;
 * errors come back as ts_code values with a one-line message in ts_error
 * that names the token, the endpoint host, the HTTP status and the OAuth
 * error code/description, never a token, secret, code or verifier.
 */
#ifndef TS_OAUTH_H
#define TS_OAUTH_H

#include "tokenstore.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest response body accepted from an OAuth2 endpoint. */
#define OA2_MAX_RESPONSE (256 * 1024)

/* Lifetime assumed for an access token whose answer had no expires_in
 * (optional in RFC 6749 5.1); a server rejection refreshes it earlier. */
#define OA2_DEFAULT_EXPIRES_IN 3600

/* Load now what requests need (libcurl, otherwise loaded by the first URL
 * parsed or request made: curl_dl.c). The plugin calls it when it opens
 * its context, before the program may enter a chroot. TS_ERR saying why
 * and what to do. */
int oa2_preload(ts_error *err);

/* ---------------------------------------------------------------------- */
/* Memory that held secrets (wipe_alloc.c, oauth_http.c)                   */

/* malloc, free, realloc, calloc and strdup whose blocks are wiped before
 * they are freed (each block records its size in a header). */
void *ts_wipe_malloc(size_t n);
void ts_wipe_free(void *p);
void *ts_wipe_realloc(void *p, size_t n);
void *ts_wipe_calloc(size_t k, size_t n);
char *ts_wipe_strdup(const char *s);

/*
 * Initialise libcurl with the wiping allocator above, so that its request
 * and receive buffers (which hold secrets and tokens) are wiped when
 * libcurl frees them. Only for a program that owns its process, called
 * before anything else uses libcurl: the helper. The plugin never calls
 * it; libcurl belongs to its host. libcurl is loaded when first needed
 * (curl_dl.c) and initialised then, with this allocator. Returns TS_OK,
 * or TS_ERR when libcurl was initialised already (with the plain
 * allocator).
 */
int oa2_global_init_wiping(void);

/* ---------------------------------------------------------------------- */
/* PKCE and random values (pkce.c)                                          */

/* A random PKCE verifier (64 chars of [A-Za-z0-9-._~]) in *out. */
int oa2_pkce_verifier(char **out, ts_error *err);
/* base64url(SHA-256(verifier)) without padding, in *out. */
int oa2_pkce_challenge(char **out, const char *verifier, ts_error *err);
/* A random URL-safe string of `nbytes` random bytes (for `state`). */
int oa2_random_string(char **out, size_t nbytes, ts_error *err);

/* ---------------------------------------------------------------------- */
/* Token endpoint responses                                                 */

typedef struct oa2_token_response {
	long http_status;
	char *access_token;         /* secret */
	char *token_type;
	int64_t expires_in;         /* -1 when absent */
	char *refresh_token;        /* secret; NULL when absent */
	int64_t refresh_token_expires_in; /* -1 when absent (Microsoft: refresh_token_expires_in) */
	char *scope;                /* NULL when absent */
} oa2_token_response;

void oa2_token_response_free(oa2_token_response *r);

/* Apply a successful token response to a state: the access token, type,
 * expiry, scope, a rotated refresh token (kept when the response has none),
 * last_refresh = now, and clears last_error, refresh_token_dead and
 * access_rejected. */
int oa2_state_apply(ts_state *s, const oa2_token_response *r, ts_error *err);

/* ---------------------------------------------------------------------- */
/* Grants (grants.c). `eff` comes from ts_ctx_token_effective().           */

/* Build the authorization URL (response_type=code, client_id, redirect_uri,
 * scope, state, code_challenge, code_challenge_method=S256, auth_params). */
int oa2_authorize_url(char **out, const ts_token_effective *eff, const char *redirect_uri,
		      const char *state, const char *code_challenge, ts_error *err);

/* Exchange an authorization code (grant_type=authorization_code). */
int oa2_exchange_code(oa2_token_response **out, ts_ctx *ctx, const ts_token_effective *eff,
		      const char *code, const char *redirect_uri, const char *verifier,
		      ts_error *err);

/* Device authorization request (RFC 8628 section 3.1/3.2). */
typedef struct oa2_device_auth {
	char *device_code;          /* secret */
	char *user_code;
	char *verification_uri;
	char *verification_uri_complete; /* NULL when absent */
	int64_t expires_in;
	int64_t interval;           /* seconds, 5 when absent */
} oa2_device_auth;

int oa2_device_start(oa2_device_auth **out, ts_ctx *ctx, const ts_token_effective *eff, ts_error *err);
void oa2_device_auth_free(oa2_device_auth *d);

/* One device token poll. Returns TS_OK with *out on success; otherwise:
 * OA2_PENDING (authorization_pending), OA2_SLOW_DOWN (slow_down), or an
 * error: TS_EDENIED (access_denied), TS_EEXPIRED (expired_token), others. */
#define OA2_PENDING 1
#define OA2_SLOW_DOWN 2
int oa2_device_poll(oa2_token_response **out, ts_ctx *ctx, const ts_token_effective *eff,
		    const char *device_code, ts_error *err);

/* Poll until done, following RFC 8628 (interval, +5 s on slow_down, stop on
 * access_denied / expired_token / the device code's lifetime). */
int oa2_device_wait(oa2_token_response **out, ts_ctx *ctx, const ts_token_effective *eff,
		    const oa2_device_auth *d, ts_error *err);

/* grant_type=client_credentials. */
int oa2_client_credentials(oa2_token_response **out, ts_ctx *ctx, const ts_token_effective *eff,
			   ts_error *err);

/* RFC 7523 2.1: grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer with
 * an assertion signed by the service account's key, whose sub is `mailbox`
 * (the account the token acts for) and whose scope claim is the token's
 * scope. TS_EINVAL when `mailbox` is empty; otherwise as refresh. */
#define OA2_JWT_BEARER_GRANT "urn:ietf:params:oauth:grant-type:jwt-bearer"
int oa2_jwt_bearer(oa2_token_response **out, ts_ctx *ctx, const ts_token_effective *eff,
		   const char *mailbox, ts_error *err);

/* grant_type=refresh_token. invalid_grant is TS_EGRANT; invalid_client,
 * unauthorized_client, unsupported_grant_type, invalid_scope are TS_ECONFIG;
 * network failures, timeouts, 5xx and malformed answers are TS_ENET. */
int oa2_refresh(oa2_token_response **out, ts_ctx *ctx, const ts_token_effective *eff,
		const char *refresh_token, ts_error *err);

/* RFC 7009 revocation of `token` (hint "refresh_token" or "access_token").
 * TS_ENOTFOUND when the token has no revoke_url. */
int oa2_revoke(ts_ctx *ctx, const ts_token_effective *eff, const char *token,
	       const char *hint, ts_error *err);

/* Reachability check for `doctor`: a GET of `url` with the usual timeouts,
 * TLS and proxy settings; *out_status receives the HTTP status (any status
 * means the endpoint is reachable). TS_ENET with the reason otherwise. */
int oa2_probe(long *out_status, ts_ctx *ctx, const char *url, ts_error *err);

/* Endpoints from an issuer's metadata (discovery.c): OpenID Connect
 * Discovery (ISSUER/.well-known/openid-configuration), else RFC 8414
 * (/.well-known/oauth-authorization-server inserted before the issuer's
 * path). The document's issuer must equal `issuer`; every endpoint must
 * pass ts_url_check. Fields the metadata lacks stay NULL (token_endpoint
 * is required). TS_ENOTFOUND when neither document exists, TS_EINVAL for a
 * wrong issuer or URL, TS_ENET for network failures. */
typedef struct oa2_discovery {
	char *authorization_endpoint;
	char *token_endpoint;
	char *device_authorization_endpoint;
	char *revocation_endpoint;
} oa2_discovery;

int oa2_discover(oa2_discovery **out, ts_ctx *ctx, const char *issuer, ts_error *err);
void oa2_discovery_free(oa2_discovery *d);

/* ---------------------------------------------------------------------- */
/* Refresh semantics shared by plugin and helper (refresh.c)                */

enum ts_access_flags {
	TS_ACCESS_FORCE = 1 << 0,   /* refresh even if the cached token is still valid */
	TS_ACCESS_NO_NETWORK = 1 << 1, /* never refresh: TS_EEXPIRED if due */
};

/*
 * Return a valid access token for token `name` in *out (free with
 * ts_free_secret). The cached token is returned without network access when
 * it is valid for longer than the margin and not marked rejected. Otherwise
 * the per-token lock is taken (bounded wait), the state re-read (another
 * process may have refreshed meanwhile), the token refreshed (refresh_token
 * grant, or client_credentials for that flow), the state written atomically
 * and the lock released.
 *
 * Errors: TS_EINVALID (validity not valid), TS_ESTATE (never authorized),
 * TS_EGRANT (refresh token dead; recorded in the state), TS_ECONFIG,
 * TS_ENET (state untouched apart from last_error/last_attempt), TS_ELOCKED.
 * `out_expires_at` (may be NULL) receives the token's expiry.
 * A refreshed state that cannot be written (a full disk) is not an error:
 * it is logged, kept in the context and written at the next call, and the
 * new access token is returned.
 */
int ts_token_get_access(char **out, int64_t *out_expires_at, ts_ctx *ctx,
			const char *name, unsigned flags, ts_error *err);

/* How long to wait for a token's lock: the holder's worst case (the
 * refresh and its invalid_scope retry, each up to http_timeout, then the
 * write), derived from the configuration. */
int ts_lock_wait_ms(const ts_global_config *cfg);

/*
 * The same for `mailbox`: a jwt_bearer token keeps one state (and lock) per
 * mailbox it acts for, so each mailbox gets its own access token, refreshed
 * once per expiry. `mailbox` must be the token's user or match its users
 * (TS_EPERM before any request otherwise); NULL means the token's user.
 * For other flows `mailbox` is ignored: ts_token_mailbox checks it.
 */
int ts_token_get_access_as(char **out, int64_t *out_expires_at, ts_ctx *ctx, const char *name,
			   const char *mailbox, unsigned flags, ts_error *err);

/* The state key of `c` for `mailbox` (see ts_state_key_check): the name,
 * or NAME#HEX for a jwt_bearer token and a mailbox other than its user. */
int ts_token_state_key(char **out, const ts_token_config *c, const char *mailbox,
		       ts_error *err);

/* Refresh now regardless of expiry (helper `refresh`); same errors. */
int ts_token_refresh(ts_ctx *ctx, const char *name, ts_error *err);

/* Store a fresh grant result as the token's state, under the lock (used by
 * `authorize`): replaces access and refresh token, clears error flags. */
int ts_token_store_grant(ts_ctx *ctx, const char *name, const oa2_token_response *r, ts_error *err);

/* A server rejected `access_token`: if it is still the cached one, mark it
 * so the next ts_token_get_access refreshes. Compares in constant time. */
int ts_token_mark_rejected(ts_ctx *ctx, const char *name, const char *access_token, ts_error *err);
/* The same for the state a jwt_bearer token keeps for `mailbox`. */
int ts_token_mark_rejected_as(ts_ctx *ctx, const char *name, const char *mailbox,
			      const char *access_token, ts_error *err);

/* Find the token a SASL login means (select.c): if `password` names a
 * token, that one; else the single token whose name or user equals
 * `authname`; else the single token whose `users` list `authname` (an exact
 * address beats a *@domain pattern). TS_ENOTFOUND, or TS_EINVAL when
 * several match, with a message naming the candidates. The mailbox the
 * login then sends comes from ts_token_mailbox (tokenstore.h). */
int ts_token_select(char **out, ts_ctx *ctx, const char *authname, const char *password,
		    ts_error *err);

/*
 * Everything a SASL login needs, in one call, deciding as the functions it
 * stands for: select the token (ts_token_select); its configuration
 * resolved (ts_ctx_token_effective, without the client secret, which only
 * a refresh needs); its validity; whether it may go to `host`
 * (ts_token_host_check) and which mailbox it sends for `authname`
 * (ts_token_mailbox); then a valid access token (ts_token_get_access,
 * refreshing when due). With a valid cached token nothing is read or
 * parsed (cache.c). out->step tells where a failure happened, with the
 * error of the function that failed. A token that is not valid is TS_OK
 * at TS_LOGIN_CONFIG with out->access NULL: the caller refuses it in its
 * own words. Free with ts_login_clear.
 */
int ts_token_login(ts_login *out, ts_ctx *ctx, const char *authname, const char *password,
		   const char *host, ts_error *err);

#ifdef __cplusplus
}
#endif

#endif /* TS_OAUTH_H */
