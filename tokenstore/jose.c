/*
 * jose.c - compact JWS signing (RS256, ES256) for RFC 7523 assertions, the
 * certificate thumbprints Microsoft's certificate credentials need, and
 * Google's service-account key files.
 *
 * The PEM text of a key is parsed for every signature: assertions are
 * signed once per refresh, and an EVP_PKEY kept across a fork or a chroot
 * buys nothing. Buffers that held key material or an assertion are wiped.
 */
#include <config.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "jose.h"
#include "oauth.h"
#include "oauth_http_p.h"
#include "ts_p.h"

/* Refuse to prompt for a passphrase: keys must be stored unencrypted. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Parse the private key in `pem`; *out_alg receives its JWS algorithm. */
static int key_load(EVP_PKEY **out, const char **out_alg, const char *pem, size_t len,
		    const char *what, ts_error *err)
{
	EVP_PKEY *pk = NULL;
	BIO *bio;
	char group[64];
	int rc = TS_OK;

	*out = NULL;
	if (len == 0 || len > JOSE_FILE_MAX)
		return ts_error_set(err, TS_EINVAL, "%s: %s; give a PEM private key", what,
				    len == 0 ? "is empty" : "is too large for a key");
	if (strstr(pem, "ENCRYPTED") != NULL)
		return ts_error_set(err, TS_EINVAL,
				    "%s: the private key is encrypted; store it without a passphrase (openssl pkey -in KEY -out KEY.plain) in a 0600 file",
				    what);
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return ts_enomem(err);
	pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (pk == NULL)
		return ts_error_set(err, TS_EINVAL,
				    "%s: no PEM private key found (expected -----BEGIN PRIVATE KEY-----); give the key, not the certificate",
				    what);
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(pk) < 2048)
			rc = ts_error_set(err, TS_EINVAL,
					  "%s: the RSA key has %d bits; use 2048 bits or more",
					  what, EVP_PKEY_get_bits(pk));
		else if (out_alg != NULL)
			*out_alg = "RS256";
		break;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) != 1 ||
		    strcmp(group, "prime256v1") != 0)
			rc = ts_error_set(err, TS_EINVAL,
					  "%s: the EC key is not on the P-256 curve; ES256 needs a P-256 key (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)",
					  what);
		else if (out_alg != NULL)
			*out_alg = "ES256";
		break;
	default:
		rc = ts_error_set(err, TS_EINVAL,
				  "%s: unsupported key type; use an RSA (RS256) or EC P-256 (ES256) key",
				  what);
		break;
	}
	ERR_clear_error();
	if (rc != TS_OK) {
		EVP_PKEY_free(pk);
		return rc;
	}
	*out = pk;
	return TS_OK;
}

int jose_key_check(const char **out_alg, const char *pem, size_t len, const char *what,
		   ts_error *err)
{
	EVP_PKEY *pk = NULL;
	const char *alg = NULL;
	int rc;

	if ((rc = key_load(&pk, &alg, pem, len, what, err)) != TS_OK)
		return rc;
	EVP_PKEY_free(pk);
	if (out_alg != NULL)
		*out_alg = alg;
	return TS_OK;
}

int jose_cert_thumbprints(char **out_x5t, char **out_x5t256, const char *pem, size_t len,
			  const char *what, ts_error *err)
{
	unsigned char sha1[SHA_DIGEST_LENGTH], sha256[SHA256_DIGEST_LENGTH];
	unsigned char *der = NULL;
	X509 *cert = NULL;
	BIO *bio = NULL;
	int derlen, rc;

	*out_x5t = NULL;
	*out_x5t256 = NULL;
	if (len == 0 || len > JOSE_FILE_MAX)
		return ts_error_set(err, TS_EINVAL, "%s: %s; give a PEM certificate", what,
				    len == 0 ? "is empty" : "is too large for a certificate");
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return ts_enomem(err);
	cert = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (cert == NULL) {
		ERR_clear_error();
		return ts_error_set(err, TS_EINVAL,
				    "%s: no PEM certificate found (expected -----BEGIN CERTIFICATE-----); give the certificate uploaded to the provider",
				    what);
	}
	derlen = i2d_X509(cert, &der);
	X509_free(cert);
	if (derlen <= 0) {
		ERR_clear_error();
		return ts_error_set(err, TS_EINVAL, "%s: the certificate cannot be encoded", what);
	}
	SHA1(der, (size_t)derlen, sha1);
	SHA256(der, (size_t)derlen, sha256);
	OPENSSL_free(der);
	if (oa2_base64url(out_x5t, sha1, sizeof(sha1)) != TS_OK ||
	    oa2_base64url(out_x5t256, sha256, sizeof(sha256)) != TS_OK) {
		free(*out_x5t);
		*out_x5t = NULL;
		return ts_enomem(err);
	}
	rc = TS_OK;
	return rc;
}

/* ES256 signatures are R || S, 32 bytes each (RFC 7518 3.4), not DER. */
static int ecdsa_der_to_raw(unsigned char raw[64], const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r, *s;
	int ok;

	if (sig == NULL)
		return -1;
	ECDSA_SIG_get0(sig, &r, &s);
	ok = BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32;
	ECDSA_SIG_free(sig);
	return ok ? 0 : -1;
}

/* base64url of a JSON object's plain serialisation, appended to `b`. */
static int append_b64_json(oa2_buf *b, json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
	char *enc = NULL;
	int rc;

	if (s == NULL)
		return TS_ENOMEM;
	if ((rc = oa2_base64url(&enc, (const unsigned char *)s, strlen(s))) != TS_OK)
		return rc;
	rc = oa2_buf_append(b, enc, strlen(enc));
	free(enc);
	return rc;
}

static int json_add_str(json_object *o, const char *key, const char *value)
{
	json_object *v;

	if (value == NULL)
		return TS_OK;
	if ((v = json_object_new_string(value)) == NULL)
		return TS_ENOMEM;
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return TS_ENOMEM;
	}
	return TS_OK;
}

static int json_add_int(json_object *o, const char *key, int64_t value)
{
	json_object *v = json_object_new_int64(value);

	if (v == NULL)
		return TS_ENOMEM;
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return TS_ENOMEM;
	}
	return TS_OK;
}

/* Sign the bytes of `b` with `pk` and append "." and the signature. */
static int append_signature(oa2_buf *b, EVP_PKEY *pk, const char *alg, const char *what,
			    ts_error *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *sig = NULL, raw[64];
	const unsigned char *use;
	size_t siglen = 0, uselen;
	char *enc = NULL;
	int rc;

	if (md == NULL)
		return ts_enomem(err);
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)b->p, b->len) != 1 ||
	    (sig = OPENSSL_malloc(siglen)) == NULL ||
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)b->p, b->len) != 1) {
		ERR_clear_error();
		rc = ts_error_set(err, TS_ERR, "%s: signing the assertion failed (OpenSSL); check the key",
				  what);
		goto cleanup;
	}
	use = sig;
	uselen = siglen;
	if (strcmp(alg, "ES256") == 0) {
		if (ecdsa_der_to_raw(raw, sig, siglen) != 0) {
			rc = ts_error_set(err, TS_ERR, "%s: the ECDSA signature has an unexpected form",
					  what);
			goto cleanup;
		}
		use = raw;
		uselen = sizeof(raw);
	}
	if ((rc = oa2_base64url(&enc, use, uselen)) != TS_OK ||
	    (rc = oa2_buf_append(b, ".", 1)) != TS_OK ||
	    (rc = oa2_buf_append(b, enc, strlen(enc))) != TS_OK)
		rc = ts_enomem(err);
cleanup:
	free(enc);
	OPENSSL_free(sig);
	EVP_MD_CTX_free(md);
	return rc;
}

/*
 * Parsed keys, by SHA-256 of their PEM. OpenSSL 3 takes milliseconds to
 * decode a PEM key, ten times what the signature costs, and the same key
 * signs every assertion of a process: keep a few parsed, shared by threads.
 * jose_keys_forget() drops them (ts_ctx_close).
 */
#define KEY_SLOTS 16
static struct key_slot {
	unsigned char id[SHA256_DIGEST_LENGTH];
	EVP_PKEY *pk;
	const char *alg;
	unsigned long used;
} key_slots[KEY_SLOTS];
static unsigned long key_clock;
static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;

void jose_keys_forget(void)
{
	pthread_mutex_lock(&key_lock);
	for (size_t i = 0; i < KEY_SLOTS; i++) {
		EVP_PKEY_free(key_slots[i].pk);
		memset(&key_slots[i], 0, sizeof(key_slots[i]));
	}
	pthread_mutex_unlock(&key_lock);
}

/* The parsed key of `pem` (a reference of the caller's), from the slots or
 * parsed now and kept in the least recently used slot. */
static int key_get(EVP_PKEY **out, const char **out_alg, const char *pem, size_t len,
		   const char *what, ts_error *err)
{
	unsigned char id[SHA256_DIGEST_LENGTH];
	struct key_slot *victim = &key_slots[0];
	int rc;

	*out = NULL;
	SHA256((const unsigned char *)pem, len, id);
	pthread_mutex_lock(&key_lock);
	for (size_t i = 0; i < KEY_SLOTS; i++) {
		struct key_slot *k = &key_slots[i];

		if (k->pk != NULL && memcmp(k->id, id, sizeof(id)) == 0 && EVP_PKEY_up_ref(k->pk) == 1) {
			k->used = ++key_clock;
			*out = k->pk;
			*out_alg = k->alg;
			pthread_mutex_unlock(&key_lock);
			return TS_OK;
		}
		if (k->used < victim->used)
			victim = k;
	}
	pthread_mutex_unlock(&key_lock);
	if ((rc = key_load(out, out_alg, pem, len, what, err)) != TS_OK)
		return rc;
	pthread_mutex_lock(&key_lock);
	if (EVP_PKEY_up_ref(*out) == 1) {
		EVP_PKEY_free(victim->pk);
		memcpy(victim->id, id, sizeof(id));
		victim->pk = *out;
		victim->alg = *out_alg;
		victim->used = ++key_clock;
	}
	pthread_mutex_unlock(&key_lock);
	return TS_OK;
}

int jose_sign(char **out, const char *pem, size_t len, const char *what, const char *kid,
	      const char *x5t, const char *x5t256, json_object *claims, ts_error *err)
{
	EVP_PKEY *pk = NULL;
	json_object *hdr = NULL;
	oa2_buf b = { 0 };
	const char *alg = NULL;
	int rc;

	*out = NULL;
	if ((rc = key_get(&pk, &alg, pem, len, what, err)) != TS_OK)
		return rc;
	if ((hdr = json_object_new_object()) == NULL ||
	    json_add_str(hdr, "alg", alg) != TS_OK || json_add_str(hdr, "typ", "JWT") != TS_OK ||
	    json_add_str(hdr, "kid", kid) != TS_OK || json_add_str(hdr, "x5t", x5t) != TS_OK ||
	    json_add_str(hdr, "x5t#S256", x5t256) != TS_OK ||
	    append_b64_json(&b, hdr) != TS_OK || oa2_buf_append(&b, ".", 1) != TS_OK ||
	    append_b64_json(&b, claims) != TS_OK) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	if ((rc = append_signature(&b, pk, alg, what, err)) != TS_OK)
		goto cleanup;
	*out = b.p;
	b.p = NULL;
cleanup:
	oa2_buf_clear(&b);
	json_object_put(hdr);
	EVP_PKEY_free(pk);
	return rc;
}

int jose_assertion(char **out, const char *pem, size_t len, const char *what, const char *kid,
		   const char *x5t, const char *x5t256, const char *iss, const char *sub,
		   const char *aud, const char *scope, int64_t now, ts_error *err)
{
	json_object *claims = NULL;
	char *jti = NULL;
	int rc;

	*out = NULL;
	if ((rc = oa2_random_string(&jti, 16, err)) != TS_OK)
		return rc;
	if ((claims = json_object_new_object()) == NULL ||
	    json_add_str(claims, "iss", iss) != TS_OK || json_add_str(claims, "sub", sub) != TS_OK ||
	    json_add_str(claims, "aud", aud) != TS_OK || json_add_str(claims, "jti", jti) != TS_OK ||
	    json_add_str(claims, "scope", scope) != TS_OK ||
	    json_add_int(claims, "iat", now) != TS_OK || json_add_int(claims, "nbf", now) != TS_OK ||
	    json_add_int(claims, "exp", now + JOSE_ASSERTION_LIFETIME) != TS_OK) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	rc = jose_sign(out, pem, len, what, kid, x5t, x5t256, claims, err);
cleanup:
	json_object_put(claims);
	free(jti);
	return rc;
}

void jose_service_account_free(jose_service_account *sa)
{
	if (sa == NULL)
		return;
	free(sa->client_email);
	ts_free_secret(sa->private_key);
	free(sa->private_key_id);
	free(sa->token_uri);
	free(sa);
}

/* Whether `s` has a control character (a newline is allowed in a PEM). */
static bool has_ctrl(const char *s, bool pem)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && !(pem && *s == '\n')) || *s == 0x7f)
			return true;
	return false;
}

/* A string member, or NULL when absent; TS_EINVAL when of another type. */
static int sa_string(char **out, json_object *root, const char *key, bool required,
		     const char *origin, ts_error *err)
{
	json_object *v;
	const char *s;

	*out = NULL;
	if (!json_object_object_get_ex(root, key, &v) || json_object_is_type(v, json_type_null)) {
		if (!required)
			return TS_OK;
		return ts_error_set(err, TS_EINVAL,
				    "%s: field '%s' is missing; download the key again (Google Cloud console: IAM, Service accounts, Keys, Add key, JSON)",
				    origin, key);
	}
	if (!json_object_is_type(v, json_type_string) || (s = json_object_get_string(v)) == NULL ||
	    s[0] == '\0' || strlen(s) != (size_t)json_object_get_string_len(v) ||
	    has_ctrl(s, strcmp(key, "private_key") == 0))
		return ts_error_set(err, TS_EINVAL, "%s: field '%s' must be a non-empty text", origin, key);
	return ts_strdup_to(out, s, err);
}

int jose_service_account_parse(jose_service_account **out, const char *buf, size_t len,
			       const char *origin, ts_error *err)
{
	jose_service_account *sa = NULL;
	json_tokener *tok = NULL;
	json_object *root = NULL, *type;
	char what[512];
	int rc;

	*out = NULL;
	if (len == 0 || len > JOSE_FILE_MAX || memchr(buf, '\0', len) != NULL)
		return ts_error_set(err, TS_EINVAL, "%s: %s; give Google's JSON key file", origin,
				    len == 0 ? "is empty" : len > JOSE_FILE_MAX ? "is too large" : "contains a NUL byte");
	if ((tok = json_tokener_new_ex(16)) == NULL)
		return ts_enomem(err);
	root = json_tokener_parse_ex(tok, buf, (int)len);
	if (root == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset != (int)len) {
		rc = ts_error_set(err, TS_EINVAL, "%s: not valid JSON (%s); give Google's JSON key file",
				  origin, json_tokener_error_desc(json_tokener_get_error(tok)));
		goto cleanup;
	}
	if (!json_object_is_type(root, json_type_object)) {
		rc = ts_error_set(err, TS_EINVAL, "%s: not a JSON object; give Google's JSON key file",
				  origin);
		goto cleanup;
	}
	if (json_object_object_get_ex(root, "type", &type) &&
	    (!json_object_is_type(type, json_type_string) ||
	     strcmp(json_object_get_string(type), "service_account") != 0)) {
		rc = ts_error_set(err, TS_EINVAL,
				  "%s: field 'type' is not 'service_account'; give a service account's key, not an OAuth client file",
				  origin);
		goto cleanup;
	}
	if ((sa = calloc(1, sizeof(*sa))) == NULL) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	if ((rc = sa_string(&sa->client_email, root, "client_email", true, origin, err)) != TS_OK ||
	    (rc = sa_string(&sa->private_key, root, "private_key", true, origin, err)) != TS_OK ||
	    (rc = sa_string(&sa->private_key_id, root, "private_key_id", false, origin, err)) != TS_OK ||
	    (rc = sa_string(&sa->token_uri, root, "token_uri", false, origin, err)) != TS_OK)
		goto cleanup;
	if (sa->token_uri != NULL && (rc = ts_url_check(sa->token_uri, "", err)) != TS_OK) {
		rc = ts_error_set(err, rc, "%s: field 'token_uri': %s", origin, err->msg);
		goto cleanup;
	}
	snprintf(what, sizeof(what), "%s: field 'private_key'", origin);
	if ((rc = jose_key_check(NULL, sa->private_key, strlen(sa->private_key), what, err)) != TS_OK)
		goto cleanup;
	*out = sa;
	sa = NULL;
cleanup:
	jose_service_account_free(sa);
	if (root != NULL) {
		/* The parsed copy holds the private key: wipe its string. */
		json_object *pk;

		if (json_object_object_get_ex(root, "private_key", &pk) &&
		    json_object_is_type(pk, json_type_string))
			ts_wipe((void *)json_object_get_string(pk), (size_t)json_object_get_string_len(pk));
		json_object_put(root);
	}
	json_tokener_free(tok);
	return rc;
}
