/*
 * test_pkce.c - PKCE verifiers and challenges (RFC 7636), random state
 * strings and base64url, table-driven.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "oauth_http_p.h"
#include "../tap.h"

static const char unreserved[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

static const struct {
	const char *verifier;
	const char *challenge;      /* NULL: must be refused */
} challenges[] = {
	/* RFC 7636 Appendix B */
	{ "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
	  "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" },
	/* 42 characters: one too short */
	{ "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX", NULL },
	/* a character outside the unreserved set */
	{ "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk+", NULL },
	{ "", NULL },
};

static const struct {
	const char *in;
	size_t len;
	const char *out;
} b64[] = {
	{ "", 0, "" },
	{ "f", 1, "Zg" },
	{ "fo", 2, "Zm8" },
	{ "foo", 3, "Zm9v" },
	{ "foob", 4, "Zm9vYg" },
	{ "\xfb\xff", 2, "-_8" },
	{ "\xff\xfe\xfd", 3, "__79" },
};

int main(void)
{
	ts_error err;
	char *a = NULL, *b = NULL, *c = NULL;

	for (size_t i = 0; i < sizeof(challenges) / sizeof(challenges[0]); i++) {
		int rc = oa2_pkce_challenge(&c, challenges[i].verifier, &err);

		if (challenges[i].challenge != NULL)
			TAP_STREQ(rc == TS_OK ? c : NULL, challenges[i].challenge,
				  "challenge %zu matches", i);
		else
			tap_ok(rc == TS_EINVAL && c == NULL, "verifier %zu refused: %s", i,
			       rc ? err.msg : "(accepted)");
		free(c);
		c = NULL;
	}

	for (size_t i = 0; i < sizeof(b64) / sizeof(b64[0]); i++) {
		tap_ok(oa2_base64url(&c, (const unsigned char *)b64[i].in, b64[i].len) == TS_OK,
		       "base64url %zu encodes", i);
		TAP_STREQ(c, b64[i].out, "base64url %zu", i);
		free(c);
		c = NULL;
	}

	tap_ok(oa2_pkce_verifier(&a, &err) == TS_OK && a != NULL, "verifier created");
	tap_ok(oa2_pkce_verifier(&b, &err) == TS_OK && b != NULL, "second verifier created");
	tap_ok(a && strlen(a) == 64, "verifier is 64 characters");
	tap_ok(a && strspn(a, unreserved) == strlen(a), "verifier uses unreserved characters only");
	tap_ok(a && b && strcmp(a, b) != 0, "two verifiers differ");
	tap_ok(a && oa2_pkce_challenge(&c, a, &err) == TS_OK && c && strlen(c) == 43,
	       "challenge of a fresh verifier is 43 characters");
	ts_free_secret(a);
	ts_free_secret(b);
	free(c);
	a = b = c = NULL;

	tap_ok(oa2_random_string(&a, 32, &err) == TS_OK && a && strlen(a) == 43,
	       "32 random bytes give 43 base64url characters");
	tap_ok(a && strspn(a, unreserved) == strlen(a) && !strchr(a, '='),
	       "random string is URL-safe and unpadded");
	tap_ok(oa2_random_string(&b, 32, &err) == TS_OK && a && b && strcmp(a, b) != 0,
	       "two random strings differ");
	free(a);
	free(b);
	a = b = NULL;
	tap_ok(oa2_random_string(&a, 0, &err) == TS_EINVAL && a == NULL, "0 bytes refused");
	tap_ok(oa2_random_string(&a, 100000, &err) == TS_EINVAL && a == NULL,
	       "absurd size refused");
	return tap_done();
}
