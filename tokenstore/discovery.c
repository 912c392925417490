/*
 * discovery.c - endpoints from an issuer's metadata (OpenID Connect
 * Discovery 1.0 section 4, RFC 8414 section 3), read once when a token
 * with `issuer` is added, never at login time.
 *
 * ISSUER/.well-known/openid-configuration is tried first, then the RFC 8414
 * form (the well-known segment between host and path). The document's own
 * "issuer" must equal the configured one (RFC 8414 section 3.3, OpenID
 * Discovery section 4.3), so a mix-up or a look-alike answer is refused.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "oauth_http_p.h"

void oa2_discovery_free(oa2_discovery *d)
{
	if (d == NULL)
		return;
	free(d->authorization_endpoint);
	free(d->token_endpoint);
	free(d->device_authorization_endpoint);
	free(d->revocation_endpoint);
	free(d);
}

static int take_url(char **slot, json_object *o, const char *key, const char *issuer,
		    const char *where, ts_error *err)
{
	json_object *v;
	const char *s;
	ts_error sub;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return TS_OK;
	s = json_object_get_string(v);
	if (ts_url_check(s, "", &sub) != TS_OK)
		return ts_error_set(err, TS_EINVAL, "issuer %s: %s names %s, which is not an https URL "
				    "(%s); fix the provider's metadata or give the endpoint with --set",
				    issuer, where, key, sub.msg);
	if ((*slot = strdup(s)) == NULL)
		return ts_error_set(err, TS_ENOMEM, "out of memory");
	return TS_OK;
}

/* The two metadata URLs of `issuer` (without a trailing slash). */
static int well_known(char **oidc, char **rfc8414, const char *issuer, ts_error *err)
{
	size_t n = strlen(issuer);
	const char *host, *path;
	size_t hlen;

	while (n > 0 && issuer[n - 1] == '/')
		n--;
	host = strstr(issuer, "://");
	host = host ? host + 3 : issuer;
	path = host + strcspn(host, "/");
	if ((size_t)(path - issuer) > n)
		path = issuer + n;
	hlen = (size_t)(path - issuer);
	if (asprintf(oidc, "%.*s/.well-known/openid-configuration", (int)n, issuer) < 0) {
		*oidc = NULL;
		return ts_error_set(err, TS_ENOMEM, "out of memory");
	}
	if (asprintf(rfc8414, "%.*s/.well-known/oauth-authorization-server%.*s", (int)hlen, issuer,
		     (int)(n - hlen), path) < 0) {
		*rfc8414 = NULL;
		return ts_error_set(err, TS_ENOMEM, "out of memory");
	}
	return TS_OK;
}

/* Fetch and check one metadata document: TS_ENOTFOUND when the server has
 * none there (any HTTP status but 200), else TS_OK or a clear error. */
static int fetch_one(oa2_discovery **out, ts_ctx *ctx, const char *issuer, const char *url,
		     ts_error *err)
{
	oa2_http_result res = { 0 };
	oa2_discovery *d = NULL;
	json_object *o = NULL, *v;
	size_t ilen = strlen(issuer);
	int rc;

	if ((rc = oa2_http_get(&res, ctx, NULL, "issuer metadata", url, err)) != TS_OK)
		goto cleanup;
	if (res.status != 200) {
		rc = ts_error_set(err, TS_ENOTFOUND, "issuer %s: %s answered HTTP %ld", issuer, url,
				  res.status);
		goto cleanup;
	}
	o = json_tokener_parse(res.body);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		rc = ts_error_set(err, TS_ENET, "issuer %s: %s is not a JSON object; check the issuer URL",
				  issuer, url);
		goto cleanup;
	}
	while (ilen > 0 && issuer[ilen - 1] == '/')
		ilen--;
	if (!json_object_object_get_ex(o, "issuer", &v) || !json_object_is_type(v, json_type_string) ||
	    strncmp(json_object_get_string(v), issuer, ilen) != 0 ||
	    strspn(json_object_get_string(v) + ilen, "/") != strlen(json_object_get_string(v) + ilen)) {
		rc = ts_error_set(err, TS_EINVAL, "issuer %s: the metadata at %s names another issuer "
				  "('%.200s'); give the issuer exactly as the provider publishes it",
				  issuer, url, v && json_object_is_type(v, json_type_string) ?
				  json_object_get_string(v) : "none");
		goto cleanup;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		rc = ts_error_set(err, TS_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = take_url(&d->authorization_endpoint, o, "authorization_endpoint", issuer, url, err)) ||
	    (rc = take_url(&d->token_endpoint, o, "token_endpoint", issuer, url, err)) ||
	    (rc = take_url(&d->device_authorization_endpoint, o, "device_authorization_endpoint",
			   issuer, url, err)) ||
	    (rc = take_url(&d->revocation_endpoint, o, "revocation_endpoint", issuer, url, err)))
		goto cleanup;
	if (d->token_endpoint == NULL) {
		rc = ts_error_set(err, TS_EINVAL, "issuer %s: the metadata at %s has no token_endpoint; "
				  "give token_url with --set", issuer, url);
		goto cleanup;
	}
	*out = d;
	d = NULL;
	rc = TS_OK;
cleanup:
	if (o != NULL)
		json_object_put(o);
	oa2_discovery_free(d);
	oa2_http_result_clear(&res);
	return rc;
}

int oa2_discover(oa2_discovery **out, ts_ctx *ctx, const char *issuer, ts_error *err)
{
	char *oidc = NULL, *rfc = NULL;
	ts_error first = { 0 };
	int rc;

	*out = NULL;
	if ((rc = ts_url_check(issuer, "", err)) != TS_OK) {
		rc = ts_error_set(err, TS_EINVAL, "issuer '%s' is not an https URL; give it as the "
				  "provider publishes it (https://...)", issuer);
		goto cleanup;
	}
	if ((rc = well_known(&oidc, &rfc, issuer, err)) != TS_OK)
		goto cleanup;
	rc = fetch_one(out, ctx, issuer, oidc, &first);
	if (rc == TS_ENOTFOUND)
		rc = fetch_one(out, ctx, issuer, rfc, err);
	else if (rc != TS_OK)
		*err = first;
	if (rc == TS_ENOTFOUND)
		rc = ts_error_set(err, TS_ENOTFOUND, "issuer %s publishes no metadata at %s or %s; "
				  "check the issuer URL, or give auth_url and token_url with --set",
				  issuer, oidc, rfc);
cleanup:
	free(oidc);
	free(rfc);
	return rc;
}
