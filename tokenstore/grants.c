/*
 * grants.c - the OAuth2 grants: the authorization request URL (RFC 6749
 * 4.1 with PKCE), the code exchange, the device flow (RFC 8628), client
 * credentials, refresh, revocation (RFC 7009) and the reachability probe
 * used by `doctor`.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jose.h"
#include "oauth_http_p.h"

static const char *tname(const ts_token_effective *eff)
{
	return eff && eff->name ? eff->name : "";
}

static int nomem(ts_error *err, const ts_token_effective *eff)
{
	return ts_error_set(err, TS_ENOMEM, "token '%s': out of memory building a request",
			    tname(eff));
}

/* Add scope (space-joined) when the token has any. */
static int form_add_scope(oa2_buf *f, const ts_token_effective *eff)
{
	char *scope;
	int rc;

	if (eff->scope.n == 0)
		return TS_OK;
	scope = ts_strlist_join(&eff->scope, " ");
	if (scope == NULL)
		return TS_ENOMEM;
	rc = oa2_form_add(f, "scope", scope);
	free(scope);
	return rc;
}

int oa2_authorize_url(char **out, const ts_token_effective *eff, const char *redirect_uri,
		      const char *state, const char *code_challenge, ts_error *err)
{
	oa2_buf q = { 0 }, url = { 0 };
	int rc;

	*out = NULL;
	if ((rc = oa2_url_allowed(eff->auth_url, "authorization endpoint", eff->name, err)) != TS_OK)
		goto cleanup;
	if (redirect_uri == NULL || *redirect_uri == '\0' || state == NULL || *state == '\0') {
		rc = ts_error_set(err, TS_EINVAL, "token '%s': an authorization request needs a "
				  "redirect_uri and a state", tname(eff));
		goto cleanup;
	}
	rc = TS_ENOMEM;
	if (oa2_form_add(&q, "response_type", "code") != TS_OK ||
	    oa2_form_add(&q, "client_id", eff->client_id ? eff->client_id : "") != TS_OK ||
	    oa2_form_add(&q, "redirect_uri", redirect_uri) != TS_OK ||
	    form_add_scope(&q, eff) != TS_OK ||
	    oa2_form_add(&q, "state", state) != TS_OK)
		goto fail_nomem;
	if (code_challenge != NULL &&
	    (oa2_form_add(&q, "code_challenge", code_challenge) != TS_OK ||
	     oa2_form_add(&q, "code_challenge_method", "S256") != TS_OK))
		goto fail_nomem;
	/* The mailbox as a login hint saves the user picking an account;
	 * auth_params may override it. */
	if (eff->user != NULL && *eff->user != '\0' &&
	    ts_kvlist_get(&eff->auth_params, "login_hint") == NULL &&
	    oa2_form_add(&q, "login_hint", eff->user) != TS_OK)
		goto fail_nomem;
	for (size_t i = 0; i < eff->auth_params.n; i++)
		if (oa2_form_add(&q, eff->auth_params.v[i].key,
				 eff->auth_params.v[i].value) != TS_OK)
			goto fail_nomem;
	if (oa2_buf_append(&url, eff->auth_url, strlen(eff->auth_url)) != TS_OK ||
	    oa2_buf_append(&url, strchr(eff->auth_url, '?') ? "&" : "?", 1) != TS_OK ||
	    oa2_buf_append(&url, q.p, q.len) != TS_OK)
		goto fail_nomem;
	*out = url.p;
	url.p = NULL;
	url.len = url.cap = 0;
	rc = TS_OK;
	goto cleanup;
fail_nomem:
	rc = nomem(err, eff);
cleanup:
	oa2_buf_clear(&q);
	oa2_buf_clear(&url);
	return rc;
}

int oa2_exchange_code(oa2_token_response **out, ts_ctx *ctx, const ts_token_effective *eff,
		      const char *code, const char *redirect_uri, const char *verifier,
		      ts_error *err)
{
	oa2_buf f = { 0 };

	*out = NULL;
	if (code == NULL || *code == '\0')
		return ts_error_set(err, TS_EINVAL, "token '%s': no authorization code to exchange",
				    tname(eff));
	if (oa2_form_add(&f, "grant_type", "authorization_code") != TS_OK ||
	    oa2_form_add(&f, "code", code) != TS_OK ||
	    (redirect_uri != NULL && oa2_form_add(&f, "redirect_uri", redirect_uri) != TS_OK) ||
	    (verifier != NULL && oa2_form_add(&f, "code_verifier", verifier) != TS_OK)) {
		oa2_buf_clear(&f);
		return nomem(err, eff);
	}
	return oa2_token_request(out, NULL, ctx, eff, &f, 0, err);
}

int oa2_device_start(oa2_device_auth **out, ts_ctx *ctx, const ts_token_effective *eff, ts_error *err)
{
	static const char what[] = "device authorization endpoint";
	oa2_buf f = { 0 };
	oa2_http_result res = { 0 };
	char host[256];
	int rc;

	*out = NULL;
	if (eff->device_url == NULL || *eff->device_url == '\0')
		return ts_error_set(err, TS_ECONFIG, "token '%s': no device_url is configured, so "
				    "the device flow cannot be used; set device_url or use "
				    "authorize without --device", tname(eff));
	if (form_add_scope(&f, eff) != TS_OK) {
		oa2_buf_clear(&f);
		return nomem(err, eff);
	}
	oa2_url_host(host, sizeof(host), eff->device_url);
	rc = oa2_http_post(&res, ctx, eff, what, eff->device_url, &f, true, err);
	if (rc == TS_OK)
		rc = oa2_device_auth_parse(out, NULL, res.status, res.content_type, res.body,
					   res.len, eff->name, host, err);
	oa2_buf_clear(&f);
	oa2_http_result_clear(&res);
	return rc;
}

int oa2_device_poll(oa2_token_response **out, ts_ctx *ctx, const ts_token_effective *eff,
		    const char *device_code, ts_error *err)
{
	oa2_buf f = { 0 };

	*out = NULL;
	if (oa2_form_add(&f, "grant_type", "urn:ietf:params:oauth:grant-type:device_code") != TS_OK ||
	    oa2_form_add(&f, "device_code", device_code ? device_code : "") != TS_OK) {
		oa2_buf_clear(&f);
		return nomem(err, eff);
	}
	return oa2_token_request(out, NULL, ctx, eff, &f, OA2_PARSE_DEVICE, err);
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_seconds(double s)
{
	struct timespec ts, rem;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &rem) != 0 && errno == EINTR)
		ts = rem;
}

int oa2_device_wait(oa2_token_response **out, ts_ctx *ctx, const ts_token_effective *eff,
		    const oa2_device_auth *d, ts_error *err)
{
	double deadline = mono_now() + (double)(d->expires_in > 0 ? d->expires_in : 300);
	int64_t interval = d->interval > 0 ? d->interval : 5;
	int rc;

	*out = NULL;
	for (;;) {
		/* Polling before the interval is over breaks RFC 8628 3.5; a wait
		 * past the device code's lifetime is pointless. */
		if (mono_now() + (double)interval > deadline)
			return ts_error_set(err, TS_EEXPIRED, "token '%s': the device code expired "
					    "after %lld s before the request was approved; run the "
					    "device authorization again", tname(eff),
					    (long long)d->expires_in);
		sleep_seconds((double)interval);
		rc = oa2_device_poll(out, ctx, eff, d->device_code, err);
		if (rc == OA2_PENDING)
			continue;
		if (rc == OA2_SLOW_DOWN) {
			interval += 5;
			ts_ctx_log(ctx, TS_LOG_INFO, "token '%s': slow_down from the token endpoint; "
				   "polling every %lld s", tname(eff), (long long)interval);
			continue;
		}
		return rc;
	}
}

int oa2_client_credentials(oa2_token_response **out, ts_ctx *ctx, const ts_token_effective *eff,
			   ts_error *err)
{
	oa2_buf f = { 0 };

	*out = NULL;
	if (oa2_form_add(&f, "grant_type", "client_credentials") != TS_OK ||
	    form_add_scope(&f, eff) != TS_OK) {
		oa2_buf_clear(&f);
		return nomem(err, eff);
	}
	return oa2_token_request(out, NULL, ctx, eff, &f, 0, err);
}

int oa2_jwt_bearer(oa2_token_response **out, ts_ctx *ctx, const ts_token_effective *eff,
		   const char *mailbox, ts_error *err)
{
	char what[TS_NAME_MAX + 64];
	char *scope = NULL, *jwt = NULL;
	oa2_buf f = { 0 };
	int rc;

	*out = NULL;
	snprintf(what, sizeof(what), "token '%s': field 'service_account_file'", eff->name);
	if (eff->client_key == NULL || eff->assertion_issuer == NULL)
		return ts_error_set(err, TS_ECONFIG, "%s: no key was read; set service_account_file",
				    what);
	if (mailbox == NULL || *mailbox == '\0')
		return ts_error_set(err, TS_EINVAL,
				    "token '%s': the jwt_bearer flow needs the mailbox to act for; set user or give --user",
				    eff->name);
	if (eff->scope.n > 0 && (scope = ts_strlist_join(&eff->scope, " ")) == NULL)
		return nomem(err, eff);
	rc = jose_assertion(&jwt, eff->client_key, strlen(eff->client_key), what, eff->client_key_id,
			    NULL, NULL, eff->assertion_issuer, mailbox, eff->token_url, scope, ts_now(),
			    err);
	free(scope);
	if (rc != TS_OK)
		return rc;
	if (oa2_form_add(&f, "grant_type", OA2_JWT_BEARER_GRANT) != TS_OK ||
	    oa2_form_add(&f, "assertion", jwt) != TS_OK) {
		ts_free_secret(jwt);
		oa2_buf_clear(&f);
		return nomem(err, eff);
	}
	ts_free_secret(jwt);
	return oa2_token_request(out, NULL, ctx, eff, &f, 0, err);
}

/* One refresh request, with or without the configured scope. */
static int refresh_once(oa2_token_response **out, oa2_oauth_error *oe, ts_ctx *ctx,
			const ts_token_effective *eff, const char *refresh_token,
			bool with_scope, ts_error *err)
{
	oa2_buf f = { 0 };

	if (oa2_form_add(&f, "grant_type", "refresh_token") != TS_OK ||
	    oa2_form_add(&f, "refresh_token", refresh_token) != TS_OK ||
	    (with_scope && form_add_scope(&f, eff) != TS_OK)) {
		oa2_buf_clear(&f);
		return nomem(err, eff);
	}
	return oa2_token_request(out, oe, ctx, eff, &f, OA2_PARSE_SALVAGE, err);
}

int oa2_refresh_ex(oa2_token_response **out, oa2_oauth_error *oe, ts_ctx *ctx,
		   const ts_token_effective *eff, const char *refresh_token, ts_error *err)
{
	oa2_oauth_error local;
	int rc;

	*out = NULL;
	if (refresh_token == NULL || *refresh_token == '\0')
		return ts_error_set(err, TS_ESTATE, "token '%s': there is no refresh token; run: "
				    "sasl-oauth2 authorize %s", tname(eff), tname(eff));
	if (oe == NULL)
		oe = &local;
	/* Scope on refresh: optional in RFC 6749 6, but Microsoft's v2
	 * endpoint wants it (with offline_access, which it never lists in the
	 * granted scope), so the configured scope is sent. A server may have
	 * granted less than was asked for (RFC 6749 3.3), and section 6 forbids
	 * asking for more than was granted: a strict server (oidc-provider)
	 * answers invalid_scope. An error answer changes nothing at the server,
	 * so ask once more without scope, which means "as originally granted". */
	rc = refresh_once(out, oe, ctx, eff, refresh_token, eff->scope.n > 0, err);
	if (rc == TS_ECONFIG && eff->scope.n > 0 && strcmp(oe->code, "invalid_scope") == 0) {
		oa2_token_response_free(*out);
		*out = NULL;
		ts_ctx_log(ctx, TS_LOG_INFO, "token '%s': the token endpoint %s refused the "
			   "configured scope on refresh (invalid_scope); asking again for the "
			   "scope originally granted", tname(eff), oe->host);
		rc = refresh_once(out, oe, ctx, eff, refresh_token, false, err);
	}
	return rc;
}

int oa2_refresh(oa2_token_response **out, ts_ctx *ctx, const ts_token_effective *eff,
		const char *refresh_token, ts_error *err)
{
	int rc = oa2_refresh_ex(out, NULL, ctx, eff, refresh_token, err);

	if (rc != TS_OK) {
		oa2_token_response_free(*out);
		*out = NULL;
	}
	return rc;
}

int oa2_revoke(ts_ctx *ctx, const ts_token_effective *eff, const char *token,
	       const char *hint, ts_error *err)
{
	static const char what[] = "revocation endpoint";
	oa2_buf f = { 0 };
	oa2_http_result res = { 0 };
	char host[256];
	int rc;

	if (eff->revoke_url == NULL || *eff->revoke_url == '\0')
		return ts_error_set(err, TS_ENOTFOUND, "token '%s': the provider has no revocation "
				    "endpoint (revoke_url); revoke the grant in the provider's "
				    "account settings", tname(eff));
	if (token == NULL || *token == '\0')
		return ts_error_set(err, TS_ESTATE, "token '%s': nothing to revoke", tname(eff));
	if (oa2_form_add(&f, "token", token) != TS_OK ||
	    (hint != NULL && oa2_form_add(&f, "token_type_hint", hint) != TS_OK)) {
		oa2_buf_clear(&f);
		return nomem(err, eff);
	}
	oa2_url_host(host, sizeof(host), eff->revoke_url);
	rc = oa2_http_post(&res, ctx, eff, what, eff->revoke_url, &f, true, err);
	if (rc == TS_OK && res.status != 200)
		rc = oa2_error_parse(NULL, res.status, res.content_type, res.body, res.len,
				     eff->name, what, host, err);
	if (rc == TS_OK)
		ts_ctx_log(ctx, TS_LOG_INFO, "token '%s': revoked the %s at %s", tname(eff),
			   hint ? hint : "token", host);
	oa2_buf_clear(&f);
	oa2_http_result_clear(&res);
	return rc;
}

int oa2_probe(long *out_status, ts_ctx *ctx, const char *url, ts_error *err)
{
	oa2_http_result res = { 0 };
	int rc;

	*out_status = 0;
	rc = oa2_http_get(&res, ctx, NULL, "endpoint", url, err);
	if (rc == TS_OK)
		*out_status = res.status;
	oa2_http_result_clear(&res);
	return rc;
}
