/*
 * jose.h - signed JSON Web Tokens for OAuth2 client assertions and the
 * JWT-bearer grant (RFC 7515, RFC 7519, RFC 7523), with OpenSSL's EVP and
 * json-c only.
 *
 * Keys are PEM text held in memory (read at context open, so a chrooted
 * plugin still has them). RSA keys (2048 bits or more) sign RS256, EC P-256
 * keys ES256. Nothing here prints; messages name the key or certificate by
 * the `what` string the caller passes (usually "token 'x': field 'k' (path)")
 * and never contain key material.
 */
#ifndef TS_JOSE_H
#define TS_JOSE_H

#include <json-c/json.h>

#include "tokenstore.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest key, certificate or service-account file accepted. */
#define JOSE_FILE_MAX (64 * 1024)

/* Lifetime of every assertion this project signs: RFC 7523 asks for a
 * short one, and Microsoft and Google accept this. */
#define JOSE_ASSERTION_LIFETIME 300

/*
 * Check that `pem` holds one unencrypted private key this module can sign
 * with. *out_alg (may be NULL) receives "RS256" or "ES256".
 * TS_EINVAL with the reason (encrypted, not a key, unsupported type or
 * curve, RSA shorter than 2048 bits).
 */
int jose_key_check(const char **out_alg, const char *pem, size_t len, const char *what,
		   ts_error *err);

/*
 * The certificate thumbprints of RFC 7515 4.1.7 and 4.1.8: base64url of the
 * SHA-1 (x5t) and SHA-256 (x5t#S256) digests of the DER certificate in
 * `pem`. TS_EINVAL when `pem` holds no certificate.
 */
int jose_cert_thumbprints(char **out_x5t, char **out_x5t256, const char *pem, size_t len,
			  const char *what, ts_error *err);

/*
 * Sign `claims` (a JSON object, not consumed) with the key in `pem` as a
 * compact JWS: base64url(header).base64url(claims).base64url(signature).
 * The header is {"alg", "typ":"JWT"} plus, when not NULL, "kid", "x5t" and
 * "x5t#S256". The result is a secret (free with ts_free_secret).
 */
int jose_sign(char **out, const char *pem, size_t len, const char *what, const char *kid,
	      const char *x5t, const char *x5t256, json_object *claims, ts_error *err);

/* Drop the parsed keys jose_sign keeps for the keys it signed with. */
void jose_keys_forget(void);

/*
 * An RFC 7523 assertion: iss = `iss`, sub = `sub`, aud = `aud`, a random
 * jti, iat = nbf = `now`, exp = now + JOSE_ASSERTION_LIFETIME, plus
 * "scope" when `scope` is not NULL (Google's service accounts want it in the
 * claims). For a client assertion (2.2) iss and sub are the client id.
 */
int jose_assertion(char **out, const char *pem, size_t len, const char *what, const char *kid,
		   const char *x5t, const char *x5t256, const char *iss, const char *sub,
		   const char *aud, const char *scope, int64_t now, ts_error *err);

/* A Google service-account key file (type "service_account"). */
typedef struct jose_service_account {
	char *client_email;         /* the issuer of the assertions */
	char *private_key;          /* secret: PEM */
	char *private_key_id;       /* "kid"; NULL when absent */
	char *token_uri;            /* "aud" and where to post; NULL when absent */
} jose_service_account;

/*
 * Parse a service-account JSON key. The key inside is checked with
 * jose_key_check. TS_EINVAL naming `origin` and the field on bad input.
 */
int jose_service_account_parse(jose_service_account **out, const char *buf, size_t len,
			       const char *origin, ts_error *err);
void jose_service_account_free(jose_service_account *sa);

#ifdef __cplusplus
}
#endif

#endif /* TS_JOSE_H */
