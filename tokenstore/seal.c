/*
 * seal.c - secrets at rest: with the global key `secrets_key_file`, client
 * secrets, refresh tokens and access tokens are stored sealed with
 * AES-256-GCM (OpenSSL EVP), in either backend.
 *
 * A sealed value is the text "sealed:v1:" followed by the base64 of a
 * random 96-bit nonce, the ciphertext and the 128-bit tag. The associated
 * data is "sasl-oauth2 v1", the token name and the field name, so a value
 * copied to another token's row or to another field fails to open. The
 * sealing happens in the backend-independent wrappers (ts_store_save_*,
 * ts_store_load_*), below every caller and above every backend. A sealed
 * value met without a key, or one the key cannot open, is an error that
 * says which; a value in clear is accepted (a store from before the key)
 * and sealed at its next write.
 */
#include <config.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ts_p.h"

#define SEAL_PREFIX "sealed:v1:"
#define SEAL_KEY_LEN 32
#define SEAL_NONCE_LEN 12
#define SEAL_TAG_LEN 16
#define SEAL_MAX (64 * 1024)    /* longest value sealed or opened */

struct ts_seal {
	unsigned char key[SEAL_KEY_LEN];
	char *path;                 /* the key file, for messages */
};

void ts_seal_free(ts_seal *k)
{
	if (k == NULL)
		return;
	ts_wipe(k->key, sizeof(k->key));
	free(k->path);
	free(k);
}

int ts_store_set_key_file(ts_store *st, const char *path, ts_error *err)
{
	ts_seal *k = NULL;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (st == NULL)
		return ts_error_set(err, TS_EINVAL, "no store is open");
	if (path == NULL || path[0] != '/')
		return ts_error_set(err, TS_EINVAL,
				    "secrets_key_file '%s' is not an absolute path; give the full path",
				    path ? path : "");
	rc = ts_file_read_st(&buf, &len, NULL, AT_FDCWD, NULL, path, 4096, true, false, err);
	if (rc == TS_ENOTFOUND)
		return ts_error_set(err, rc,
				    "secrets_key_file %s does not exist; create it with: (umask 077; head -c 32 /dev/urandom > %s)",
				    path, path);
	if (rc != TS_OK)
		return rc;
	if (len != SEAL_KEY_LEN) {
		rc = ts_error_set(err, TS_EINVAL,
				  "secrets_key_file %s holds %zu bytes, not 32; create a key with: (umask 077; head -c 32 /dev/urandom > FILE)",
				  path, len);
		goto cleanup;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL || (k->path = strdup(path)) == NULL) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	memcpy(k->key, buf, SEAL_KEY_LEN);
	ts_seal_free(st->seal);
	st->seal = k;
	k = NULL;
cleanup:
	ts_seal_free(k);
	if (buf != NULL) {
		ts_wipe(buf, len);
		free(buf);
	}
	return rc;
}

bool ts_seal_is_sealed(const char *s)
{
	return s != NULL && strncmp(s, SEAL_PREFIX, sizeof(SEAL_PREFIX) - 1) == 0;
}

/* "sasl-oauth2 v1" NUL name NUL field: what a value is bound to. */
static size_t seal_ad(unsigned char *ad, size_t n, const char *name, const char *field)
{
	size_t a = strlen(name), b = strlen(field), len = 15 + a + 1 + b;

	if (len > n)
		return 0;
	memcpy(ad, "sasl-oauth2 v1", 15);
	memcpy(ad + 15, name, a + 1);
	memcpy(ad + 15 + a + 1, field, b);
	return len;
}

/* AES-256-GCM in one direction; 0 on success. `tag` is written when
 * encrypting and checked when decrypting. */
static int gcm(bool enc, const ts_seal *k, const unsigned char *nonce, const unsigned char *ad,
	       size_t adlen, const unsigned char *in, size_t inlen, unsigned char *out,
	       unsigned char *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int len = 0, ok = 0;

	if (c == NULL)
		return -1;
	if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(c, NULL, NULL, k->key, nonce, enc) != 1 ||
	    EVP_CipherUpdate(c, NULL, &len, ad, (int)adlen) != 1 ||
	    EVP_CipherUpdate(c, out, &len, in, (int)inlen) != 1)
		goto cleanup;
	if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN, tag) != 1)
		goto cleanup;
	if (EVP_CipherFinal_ex(c, out + len, &len) != 1)
		goto cleanup;
	if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN, tag) != 1)
		goto cleanup;
	ok = 1;
cleanup:
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

int ts_seal_value(char **out, const ts_seal *k, const char *name, const char *field,
		  const char *plain, ts_error *err)
{
	unsigned char ad[TS_NAME_MAX + 128], *raw = NULL;
	size_t plen = strlen(plain), adlen = seal_ad(ad, sizeof(ad), name, field);
	size_t rawlen = SEAL_NONCE_LEN + plen + SEAL_TAG_LEN, pre = sizeof(SEAL_PREFIX) - 1;
	char *text = NULL;
	int rc = TS_OK;

	*out = NULL;
	if (adlen == 0 || plen > SEAL_MAX)
		return ts_error_set(err, TS_EINVAL, "token '%s': field '%s' is too long to seal", name, field);
	if ((raw = malloc(rawlen)) == NULL || (text = malloc(pre + 4 * ((rawlen + 2) / 3) + 1)) == NULL) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	if (RAND_bytes(raw, SEAL_NONCE_LEN) != 1 ||
	    gcm(true, k, raw, ad, adlen, (const unsigned char *)plain, plen, raw + SEAL_NONCE_LEN,
		raw + SEAL_NONCE_LEN + plen) != 0) {
		rc = ts_error_set(err, TS_ERR, "token '%s': field '%s': encryption failed (OpenSSL)", name, field);
		goto cleanup;
	}
	memcpy(text, SEAL_PREFIX, pre);
	EVP_EncodeBlock((unsigned char *)text + pre, raw, (int)rawlen);
	*out = text;
	text = NULL;
cleanup:
	free(text);
	free(raw);
	return rc;
}

int ts_seal_open(char **out, const ts_seal *k, const char *name, const char *field,
		 const char *sealed, ts_error *err)
{
	unsigned char ad[TS_NAME_MAX + 128], *raw = NULL;
	const char *b64 = sealed + sizeof(SEAL_PREFIX) - 1;
	size_t b64len = strlen(b64), adlen = seal_ad(ad, sizeof(ad), name, field);
	char *plain = NULL;
	int rawlen, pad = 0, rc = TS_OK;
	size_t clen;

	*out = NULL;
	if (k == NULL)
		return ts_error_set(err, TS_EPERM,
				    "token '%s': field '%s' is encrypted (the store was written with a secrets_key_file) but no secrets_key_file is configured; set secrets_key_file in the configuration to the key it was written with",
				    name, field);
	if (adlen == 0 || b64len == 0 || b64len % 4 != 0 || b64len > 4 * SEAL_MAX)
		goto bad;
	if ((raw = malloc(b64len / 4 * 3)) == NULL)
		return ts_enomem(err);
	rawlen = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)b64len);
	pad = (b64[b64len - 1] == '=') + (b64[b64len - 2] == '=');
	if (rawlen < 0 || rawlen - pad < SEAL_NONCE_LEN + SEAL_TAG_LEN)
		goto bad;
	clen = (size_t)(rawlen - pad) - SEAL_NONCE_LEN - SEAL_TAG_LEN;
	if ((plain = malloc(clen + 1)) == NULL) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	if (gcm(false, k, raw, ad, adlen, raw + SEAL_NONCE_LEN, clen, (unsigned char *)plain,
		raw + SEAL_NONCE_LEN + clen) != 0) {
		ts_wipe(plain, clen);
		rc = ts_error_set(err, TS_EPERM,
				  "token '%s': field '%s' cannot be decrypted with the key in %s: the store was written with another key, or the value was copied from another token or field; use the right secrets_key_file, or authorize the token again",
				  name, field, k->path);
		goto cleanup;
	}
	plain[clen] = '\0';
	if (strlen(plain) != clen) {
		ts_wipe(plain, clen);
		goto bad;
	}
	*out = plain;
	plain = NULL;
	goto cleanup;
bad:
	rc = ts_error_set(err, TS_EINVAL,
			  "token '%s': field '%s' is a damaged encrypted value; authorize the token again (or import it with its secrets)",
			  name, field);
cleanup:
	free(plain);
	if (raw != NULL) {
		ts_wipe(raw, b64len / 4 * 3);
		free(raw);
	}
	return rc;
}

/* Replace *slot (sealed or not) by its sealed form when `seal`, by its
 * opened form otherwise. A value in clear stays in clear when opening. */
static int seal_slot(char **slot, bool seal, const ts_seal *k, const char *name, const char *field,
		     ts_error *err)
{
	char *n = NULL;
	int rc;

	if (*slot == NULL)
		return TS_OK;
	if (seal == ts_seal_is_sealed(*slot))
		return TS_OK;
	if (seal)
		rc = ts_seal_value(&n, k, name, field, *slot, err);
	else
		rc = ts_seal_open(&n, k, name, field, *slot, err);
	if (rc != TS_OK)
		return rc;
	ts_free_secret(*slot);
	*slot = n;
	return TS_OK;
}

int ts_seal_config(ts_token_config *c, bool seal, const ts_seal *k, ts_error *err)
{
	return seal_slot(&c->client_secret, seal, k, c->name ? c->name : "", "client_secret", err);
}

int ts_seal_state(ts_state *s, bool seal, const ts_seal *k, const char *name, ts_error *err)
{
	int rc = seal_slot(&s->access_token, seal, k, name, "access_token", err);

	if (rc == TS_OK)
		rc = seal_slot(&s->refresh_token, seal, k, name, "refresh_token", err);
	return rc;
}
