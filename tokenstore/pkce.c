/*
 * pkce.c - PKCE (RFC 7636) verifiers and S256 challenges, and the random
 * `state` values of the authorization request, all from OpenSSL's CSPRNG.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "oauth_http_p.h"

#define PKCE_VERIFIER_LEN 64
#define MAX_RANDOM_BYTES 1024

/* RFC 7636 section 4.1: unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~" */
static const char unreserved[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

int oa2_pkce_verifier(char **out, ts_error *err)
{
	const size_t nset = sizeof(unreserved) - 1; /* 66 */
	/* Rejection sampling keeps the distribution uniform: 198 = 3 * 66. */
	const unsigned limit = (unsigned)(256 / nset * nset);
	unsigned char rnd[64];
	char *v;
	size_t n = 0;

	*out = NULL;
	v = malloc(PKCE_VERIFIER_LEN + 1);
	if (v == NULL)
		return ts_error_set(err, TS_ENOMEM, "out of memory creating a PKCE verifier");
	while (n < PKCE_VERIFIER_LEN) {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			OPENSSL_cleanse(rnd, sizeof(rnd));
			ts_free_secret(v);
			return ts_error_set(err, TS_ERR, "the random number generator failed "
					    "(RAND_bytes); check the OpenSSL installation");
		}
		for (size_t i = 0; i < sizeof(rnd) && n < PKCE_VERIFIER_LEN; i++)
			if (rnd[i] < limit)
				v[n++] = unreserved[rnd[i] % nset];
	}
	v[n] = '\0';
	OPENSSL_cleanse(rnd, sizeof(rnd));
	*out = v;
	return TS_OK;
}

int oa2_pkce_challenge(char **out, const char *verifier, ts_error *err)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	size_t len;
	int rc;

	*out = NULL;
	len = verifier ? strlen(verifier) : 0;
	if (len < 43 || len > 128 || strspn(verifier, unreserved) != len)
		return ts_error_set(err, TS_EINVAL, "a PKCE verifier must be 43 to 128 characters "
				    "of [A-Za-z0-9-._~] (RFC 7636 4.1)");
	SHA256((const unsigned char *)verifier, len, md);
	rc = oa2_base64url(out, md, sizeof(md));
	OPENSSL_cleanse(md, sizeof(md));
	if (rc != TS_OK)
		return ts_error_set(err, rc, "out of memory creating a PKCE challenge");
	return TS_OK;
}

int oa2_random_string(char **out, size_t nbytes, ts_error *err)
{
	unsigned char buf[MAX_RANDOM_BYTES];
	int rc;

	*out = NULL;
	if (nbytes == 0 || nbytes > MAX_RANDOM_BYTES)
		return ts_error_set(err, TS_EINVAL, "random string of %zu bytes requested; "
				    "1 to %d are possible", nbytes, MAX_RANDOM_BYTES);
	if (RAND_bytes(buf, (int)nbytes) != 1)
		return ts_error_set(err, TS_ERR, "the random number generator failed "
				    "(RAND_bytes); check the OpenSSL installation");
	rc = oa2_base64url(out, buf, nbytes);
	OPENSSL_cleanse(buf, nbytes);
	if (rc != TS_OK)
		return ts_error_set(err, rc, "out of memory creating a random string");
	return TS_OK;
}
