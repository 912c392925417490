/*
 * test_token_parse.c - the strict token endpoint and device authorization
 * answer parsers over a table of statuses and bodies, including every
 * malformed answer a broken or hostile server might send.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "oauth_http_p.h"
#include "../tap.h"

#define OK TS_OK

struct tcase {
	const char *what;
	long status;
	const char *body;
	unsigned flags;
	int rc;
	const char *access;         /* expected access token on success */
	const char *refresh;        /* expected refresh token (NULL: none) */
	long long expires_in;       /* expected, -1 absent */
	const char *scope;
	const char *msg;            /* substring of the error message */
};

static const struct tcase cases[] = {
	{ "minimal", 200, "{\"access_token\":\"at-1\",\"token_type\":\"Bearer\"}", 0, OK,
	  "at-1", NULL, -1, NULL, NULL },
	{ "full", 200, "{\"access_token\":\"at-2\",\"token_type\":\"bearer\",\"expires_in\":3599,"
	  "\"refresh_token\":\"rt-2\",\"scope\":\"a b\"}", 0, OK, "at-2", "rt-2", 3599, "a b", NULL },
	{ "expires_in as string", 200, "{\"access_token\":\"at-3\",\"token_type\":\"BEARER\","
	  "\"expires_in\":\"3600\"}", 0, OK, "at-3", NULL, 3600, NULL, NULL },
	{ "whitespace around", 200, " \n{\"access_token\":\"at-4\",\"token_type\":\"Bearer\","
	  "\"expires_in\":60}\r\n", 0, OK, "at-4", NULL, 60, NULL, NULL },
	{ "extra members ignored", 200, "{\"access_token\":\"at-5\",\"token_type\":\"Bearer\","
	  "\"id_token\":\"x.y.z\",\"ext_expires_in\":3600,\"foo\":[1,{\"a\":null}]}", 0, OK,
	  "at-5", NULL, -1, NULL, NULL },
	{ "microsoft refresh_token_expires_in", 200, "{\"access_token\":\"at-6\",\"token_type\":"
	  "\"Bearer\",\"expires_in\":3600,\"refresh_token\":\"rt-6\",\"refresh_token_expires_in\":"
	  "7776000}", 0, OK, "at-6", "rt-6", 3600, NULL, NULL },
	{ "integral double", 200, "{\"access_token\":\"at-7\",\"token_type\":\"Bearer\","
	  "\"expires_in\":3600.0}", 0, OK, "at-7", NULL, 3600, NULL, NULL },

	{ "no access_token", 200, "{\"token_type\":\"Bearer\",\"expires_in\":3600}", 0, TS_ENET,
	  NULL, NULL, 0, NULL, "access_token" },
	{ "empty access_token", 200, "{\"access_token\":\"\",\"token_type\":\"Bearer\"}", 0,
	  TS_ENET, NULL, NULL, 0, NULL, "access_token" },
	{ "access_token not a string", 200, "{\"access_token\":42,\"token_type\":\"Bearer\"}", 0,
	  TS_ENET, NULL, NULL, 0, NULL, "access_token" },
	{ "access_token with control char", 200, "{\"access_token\":\"a\\u0001b\",\"token_type\":"
	  "\"Bearer\"}", 0, TS_ENET, NULL, NULL, 0, NULL, "RFC 6750" },
	{ "access_token outside b64token (':')", 200, "{\"access_token\":\"a:b\",\"token_type\":"
	  "\"Bearer\"}", 0, TS_ENET, NULL, NULL, 0, NULL, "RFC 6750" },
	{ "access_token with '=' inside", 200, "{\"access_token\":\"a=b\",\"token_type\":"
	  "\"Bearer\"}", 0, TS_ENET, NULL, NULL, 0, NULL, "RFC 6750" },
	{ "access_token with NUL", 200, "{\"access_token\":\"a\\u0000b\",\"token_type\":"
	  "\"Bearer\"}", 0, TS_ENET, NULL, NULL, 0, NULL, "access_token" },
	{ "no token_type", 200, "{\"access_token\":\"at\"}", 0, TS_ENET, NULL, NULL, 0, NULL,
	  "token_type" },
	{ "mac token_type", 200, "{\"access_token\":\"at\",\"token_type\":\"mac\"}", 0, TS_ENET,
	  NULL, NULL, 0, NULL, "token_type 'mac'" },
	{ "negative expires_in", 200, "{\"access_token\":\"at\",\"token_type\":\"Bearer\","
	  "\"expires_in\":-5}", 0, TS_ENET, NULL, NULL, 0, NULL, "invalid expires_in" },
	{ "zero expires_in", 200, "{\"access_token\":\"at\",\"token_type\":\"Bearer\","
	  "\"expires_in\":0}", 0, TS_ENET, NULL, NULL, 0, NULL, "invalid expires_in" },
	{ "huge expires_in", 200, "{\"access_token\":\"at\",\"token_type\":\"Bearer\","
	  "\"expires_in\":99999999999}", 0, TS_ENET, NULL, NULL, 0, NULL, "invalid expires_in" },
	{ "overflowing expires_in", 200, "{\"access_token\":\"at\",\"token_type\":\"Bearer\","
	  "\"expires_in\":99999999999999999999999}", 0, TS_ENET, NULL, NULL, 0, NULL,
	  "invalid expires_in" },
	{ "expires_in garbage string", 200, "{\"access_token\":\"at\",\"token_type\":\"Bearer\","
	  "\"expires_in\":\"soon\"}", 0, TS_ENET, NULL, NULL, 0, NULL, "invalid expires_in" },
	{ "expires_in fraction", 200, "{\"access_token\":\"at\",\"token_type\":\"Bearer\","
	  "\"expires_in\":1.5}", 0, TS_ENET, NULL, NULL, 0, NULL, "invalid expires_in" },
	{ "expires_in boolean", 200, "{\"access_token\":\"at\",\"token_type\":\"Bearer\","
	  "\"expires_in\":true}", 0, TS_ENET, NULL, NULL, 0, NULL, "invalid expires_in" },
	{ "refresh_token not a string", 200, "{\"access_token\":\"at\",\"token_type\":\"Bearer\","
	  "\"refresh_token\":{}}", 0, TS_ENET, NULL, NULL, 0, NULL, "refresh_token" },
	{ "scope not a string", 200, "{\"access_token\":\"at\",\"token_type\":\"Bearer\","
	  "\"scope\":[\"a\"]}", 0, TS_ENET, NULL, NULL, 0, NULL, "scope" },
	{ "array", 200, "[{\"access_token\":\"at\"}]", 0, TS_ENET, NULL, NULL, 0, NULL, "not an object" },
	{ "html", 200, "<html><body>Login</body></html>", 0, TS_ENET, NULL, NULL, 0, NULL,
	  "not JSON" },
	{ "truncated", 200, "{\"access_token\":\"at\",\"token_type\":\"Bea", 0, TS_ENET, NULL,
	  NULL, 0, NULL, "not JSON" },
	{ "trailing garbage", 200, "{\"access_token\":\"at\",\"token_type\":\"Bearer\"} x", 0,
	  TS_ENET, NULL, NULL, 0, NULL, "not JSON" },
	{ "empty body", 200, "", 0, TS_ENET, NULL, NULL, 0, NULL, "not JSON" },
	{ "deep nesting", 200, "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	  "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", 0, TS_ENET, NULL, NULL, 0,
	  NULL, "not JSON" },
	{ "200 with error", 200, "{\"error\":\"invalid_grant\"}", 0, TS_EGRANT, NULL, NULL, 0,
	  NULL, "invalid_grant" },

	{ "invalid_grant", 400, "{\"error\":\"invalid_grant\",\"error_description\":\"Token has "
	  "been expired or revoked.\"}", 0, TS_EGRANT, NULL, NULL, 0, NULL,
	  "HTTP 400: invalid_grant (Token has been expired or revoked.)" },
	{ "invalid_client", 401, "{\"error\":\"invalid_client\"}", 0, TS_ECONFIG, NULL, NULL, 0,
	  NULL, "HTTP 401: invalid_client" },
	{ "unauthorized_client", 400, "{\"error\":\"unauthorized_client\"}", 0, TS_ECONFIG, NULL,
	  NULL, 0, NULL, "unauthorized_client" },
	{ "unsupported_grant_type", 400, "{\"error\":\"unsupported_grant_type\"}", 0, TS_ECONFIG,
	  NULL, NULL, 0, NULL, "unsupported_grant_type" },
	{ "invalid_scope", 400, "{\"error\":\"invalid_scope\"}", 0, TS_ECONFIG, NULL, NULL, 0,
	  NULL, "invalid_scope" },
	{ "invalid_request", 400, "{\"error\":\"invalid_request\"}", 0, TS_ECONFIG, NULL, NULL, 0,
	  NULL, "invalid_request" },
	{ "access_denied", 400, "{\"error\":\"access_denied\"}", 0, TS_EDENIED, NULL, NULL, 0,
	  NULL, "denied" },
	{ "expired_token", 400, "{\"error\":\"expired_token\"}", 0, TS_EEXPIRED, NULL, NULL, 0,
	  NULL, "expired_token" },
	{ "pending, device", 400, "{\"error\":\"authorization_pending\"}", OA2_PARSE_DEVICE,
	  OA2_PENDING, NULL, NULL, 0, NULL, NULL },
	{ "slow_down, device", 400, "{\"error\":\"slow_down\"}", OA2_PARSE_DEVICE, OA2_SLOW_DOWN,
	  NULL, NULL, 0, NULL, NULL },
	{ "pending outside the device flow", 400, "{\"error\":\"authorization_pending\"}", 0,
	  TS_ENET, NULL, NULL, 0, NULL, "authorization_pending" },
	{ "unknown oauth error", 400, "{\"error\":\"temporarily_unavailable\"}", 0, TS_ENET, NULL,
	  NULL, 0, NULL, "temporarily_unavailable" },
	{ "description sanitised", 400, "{\"error\":\"invalid_grant\",\"error_description\":"
	  "\"bad\\nline\\u001b[31m\"}", 0, TS_EGRANT, NULL, NULL, 0, NULL, "bad?line?[31m" },
	{ "500 without body", 500, "", 0, TS_ENET, NULL, NULL, 0, NULL, "HTTP 500" },
	{ "503 html", 503, "<h1>down</h1>", 0, TS_ENET, NULL, NULL, 0, NULL, "HTTP 503" },
	{ "502 json without error", 502, "{\"message\":\"bad gateway\"}", 0, TS_ENET, NULL, NULL,
	  0, NULL, "without an OAuth error" },
	{ "404", 404, "not found", 0, TS_ENET, NULL, NULL, 0, NULL, "HTTP 404" },
	{ "201 with a token", 201, "{\"access_token\":\"at\",\"token_type\":\"Bearer\"}", 0,
	  TS_ENET, NULL, NULL, 0, NULL, "HTTP 201" },
};

static void run_token_cases(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *c = &cases[i];
		oa2_token_response *r = NULL;
		oa2_oauth_error oe;
		ts_error err = { 0 };
		int rc = oa2_token_response_parse(&r, &oe, c->status, "application/json", c->body,
						  strlen(c->body), "work", "login.example:443",
						  c->flags, &err);

		if (!tap_ok(rc == c->rc, "%s: code %d", c->what, c->rc))
			tap_diag("  got %d: %s", rc, err.msg);
		if (c->rc == OK) {
			tap_ok(r != NULL, "%s: response", c->what);
			if (r == NULL)
				continue;
			TAP_STREQ(r->access_token, c->access, "%s: access token", c->what);
			TAP_STREQ(r->token_type, "Bearer", "%s: token type normalised", c->what);
			TAP_STREQ(r->refresh_token, c->refresh, "%s: refresh token", c->what);
			tap_ok(r->expires_in == c->expires_in, "%s: expires_in %lld (got %lld)",
			       c->what, c->expires_in, (long long)r->expires_in);
			TAP_STREQ(r->scope, c->scope, "%s: scope", c->what);
			tap_ok(r->http_status == 200, "%s: status kept", c->what);
		} else {
			tap_ok(r == NULL, "%s: no response on failure", c->what);
			if (c->msg != NULL && !tap_ok(strstr(err.msg, c->msg) != NULL,
						      "%s: message mentions '%s'", c->what, c->msg))
				tap_diag("  message: %s", err.msg);
			if (c->rc < 0) {
				tap_ok(strstr(err.msg, "token 'work'") && strstr(err.msg, "login.example:443"),
				       "%s: message names token and host", c->what);
				tap_ok(strchr(err.msg, '\n') == NULL, "%s: message is one line", c->what);
			}
		}
		oa2_token_response_free(r);
	}
}

/* Secrets of an answer never reach the message, even when it is refused. */
static void secrets_not_in_messages(void)
{
	static const char *bodies[] = {
		"{\"access_token\":\"SECRET-AT\",\"token_type\":\"mac\",\"refresh_token\":\"SECRET-RT\"}",
		"{\"access_token\":\"SECRET-AT\",\"token_type\":\"Bearer\",\"expires_in\":-1}",
		"{\"access_token\":\"SECRET AT\",\"token_type\":\"Bearer\"}",
		"{\"access_token\":\"at\",\"token_type\":\"Bearer\",\"refresh_token\":\"SECRET RT\"}",
	};

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		oa2_token_response *r = NULL;
		ts_error err = { 0 };
		int rc = oa2_token_response_parse(&r, NULL, 200, NULL, bodies[i], strlen(bodies[i]),
						  "work", "h", 0, &err);

		tap_ok(rc == TS_ENET && strstr(err.msg, "SECRET") == NULL,
		       "refused answer %zu: no secret in '%s'", i, err.msg);
		oa2_token_response_free(r);
	}
}

static void run_device_cases(void)
{
	static const struct {
		const char *what;
		long status;
		const char *body;
		int rc;
		long long interval;
	} dc[] = {
		{ "rfc 8628 example", 200, "{\"device_code\":\"GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS\","
		  "\"user_code\":\"WDJB-MJHT\",\"verification_uri\":\"https://example.com/device\","
		  "\"verification_uri_complete\":\"https://example.com/device?user_code=WDJB-MJHT\","
		  "\"expires_in\":1800,\"interval\":5}", OK, 5 },
		{ "google spelling, no interval", 200, "{\"device_code\":\"d\",\"user_code\":\"U\","
		  "\"verification_url\":\"https://www.google.com/device\",\"expires_in\":1800}", OK, 5 },
		{ "interval 1", 200, "{\"device_code\":\"d\",\"user_code\":\"U\",\"verification_uri\":"
		  "\"https://x/\",\"expires_in\":60,\"interval\":1}", OK, 1 },
		{ "no device_code", 200, "{\"user_code\":\"U\",\"verification_uri\":\"https://x/\","
		  "\"expires_in\":60}", TS_ENET, 0 },
		{ "no expires_in", 200, "{\"device_code\":\"d\",\"user_code\":\"U\","
		  "\"verification_uri\":\"https://x/\"}", TS_ENET, 0 },
		{ "negative interval", 200, "{\"device_code\":\"d\",\"user_code\":\"U\","
		  "\"verification_uri\":\"https://x/\",\"expires_in\":60,\"interval\":-1}", TS_ENET, 0 },
		{ "invalid_client", 401, "{\"error\":\"invalid_client\"}", TS_ECONFIG, 0 },
		{ "html", 200, "<html>", TS_ENET, 0 },
	};

	for (size_t i = 0; i < sizeof(dc) / sizeof(dc[0]); i++) {
		oa2_device_auth *d = NULL;
		ts_error err = { 0 };
		int rc = oa2_device_auth_parse(&d, NULL, dc[i].status, NULL, dc[i].body,
					       strlen(dc[i].body), "dev", "h", &err);

		if (!tap_ok(rc == dc[i].rc, "device %s: code %d", dc[i].what, dc[i].rc))
			tap_diag("  got %d: %s", rc, err.msg);
		if (rc == OK)
			tap_ok(d && d->interval == dc[i].interval && d->device_code && d->user_code &&
			       d->verification_uri && d->expires_in > 0,
			       "device %s: fields, interval %lld", dc[i].what, dc[i].interval);
		else
			tap_ok(d == NULL, "device %s: nothing on failure", dc[i].what);
		oa2_device_auth_free(d);
	}
}

static void run_helpers(void)
{
	char buf[16], host[64];
	oa2_buf f = { 0 };
	ts_error err;

	oa2_sanitize(buf, sizeof(buf), "abc\x01\xff", 5);
	TAP_STREQ(buf, "abc??", "sanitize replaces non-printables");
	oa2_sanitize(buf, sizeof(buf), "0123456789abcdefghij", 20);
	TAP_STREQ(buf, "0123456789ab...", "sanitize truncates visibly");
	oa2_url_host(host, sizeof(host), "https://login.example.com/o/token?secret=x");
	TAP_STREQ(host, "login.example.com", "host without path or query");
	oa2_url_host(host, sizeof(host), "http://127.0.0.1:8080/token");
	TAP_STREQ(host, "127.0.0.1:8080", "host with port");
	tap_ok(oa2_form_add(&f, "grant_type", "refresh_token") == OK &&
	       oa2_form_add(&f, "scope", "a b+c/d&e=f~.-_") == OK, "form built");
	TAP_STREQ(f.p, "grant_type=refresh_token&scope=a%20b%2Bc%2Fd%26e%3Df~.-_",
		  "form values percent-encoded");
	oa2_buf_clear(&f);
	tap_ok(f.p == NULL && f.len == 0, "form cleared");

	tap_ok(oa2_url_allowed("https://login.example.com/token", "token endpoint", "t", &err) == OK,
	       "https allowed");
	tap_ok(oa2_url_allowed("http://127.0.0.1:9/token", "token endpoint", "t", &err) == OK,
	       "http to 127.0.0.1 allowed");
	tap_ok(oa2_url_allowed("http://[::1]:9/token", "token endpoint", "t", &err) == OK,
	       "http to ::1 allowed");
	tap_ok(oa2_url_allowed("http://localhost/token", "token endpoint", "t", &err) == OK,
	       "http to localhost allowed");
	tap_ok(oa2_url_allowed("http://login.example.com/token", "token endpoint", "t", &err) ==
	       TS_EINVAL && strstr(err.msg, "refusing plain http"), "http elsewhere refused");
	tap_ok(oa2_url_allowed("http://127.0.0.1.example.com/token", "token endpoint", "t", &err) ==
	       TS_EINVAL, "http to a look-alike host refused");
	tap_ok(oa2_url_allowed("ftp://login.example.com/token", "token endpoint", "t", &err) ==
	       TS_EINVAL, "ftp refused");
	tap_ok(oa2_url_allowed("token", "token endpoint", "t", &err) == TS_EINVAL,
	       "relative URL refused");
	tap_ok(oa2_url_allowed(NULL, "token endpoint", "t", &err) == TS_ECONFIG,
	       "missing URL is a configuration error");
}

int main(void)
{
	run_token_cases();
	secrets_not_in_messages();
	run_device_cases();
	run_helpers();
	return tap_done();
}
