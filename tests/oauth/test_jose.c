/*
 * test_jose.c - JWS signing and the helpers around it, against vectors
 * made with the openssl command line (tests/oauth/jose/README): a fixed
 * RS256 token (PKCS #1 v1.5 signatures are deterministic), the
 * certificate thumbprints, and the keys this project must refuse. ES256
 * signatures are random; test_jose.sh verifies them with openssl.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "jose.h"
#include "oauth_http_p.h"
#include "../tap.h"

/* openssl x509 -in cert.pem -outform DER | openssl dgst -sha1|-sha256 -binary | base64url */
#define CERT_X5T "tRBUFW723rS22nOvXcKoYlFsvTw"
#define CERT_X5T256 "-Dhp3tLNjrJ3fkm1gb_cHy9wLoRel3u74AxBTIDJeec"

static char *slurp(const char *name, size_t *len)
{
	const char *top = getenv("top_srcdir");
	char path[4096];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/tests/oauth/jose/%s", top ? top : ".", name);
	if ((f = fopen(path, "rb")) == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "test_jose: cannot read %s\n", path);
		exit(99);
	}
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

static json_object *fixed_claims(void)
{
	json_object *c = json_object_new_object();

	json_object_object_add(c, "iss", json_object_new_string("client-1"));
	json_object_object_add(c, "sub", json_object_new_string("client-1"));
	json_object_object_add(c, "aud", json_object_new_string("https://login.example/token"));
	json_object_object_add(c, "iat", json_object_new_int64(1700000000));
	json_object_object_add(c, "exp", json_object_new_int64(1700000300));
	return c;
}

static void test_rs256_vectors(void)
{
	size_t klen;
	char *key = slurp("rsa2048.pem", &klen);
	char *want = slurp("rs256.jwt", NULL), *want_x5t = slurp("rs256-x5t.jwt", NULL);
	json_object *claims = fixed_claims();
	ts_error err = { 0 };
	char *jwt = NULL;
	int rc;

	rc = jose_sign(&jwt, key, klen, "rsa2048.pem", NULL, NULL, NULL, claims, &err);
	tap_ok(rc == TS_OK, "RS256: signs (%s)", err.msg);
	TAP_STREQ(jwt, want, "RS256: the token equals the one openssl made");
	ts_free_secret(jwt);
	jwt = NULL;
	rc = jose_sign(&jwt, key, klen, "rsa2048.pem", NULL, CERT_X5T, CERT_X5T256, claims, &err);
	tap_ok(rc == TS_OK, "RS256 with thumbprints: signs (%s)", err.msg);
	TAP_STREQ(jwt, want_x5t, "RS256: x5t and x5t#S256 go into the header");
	ts_free_secret(jwt);
	json_object_put(claims);
	free(key);
	free(want);
	free(want_x5t);
}

static void test_thumbprints(void)
{
	size_t len;
	char *pem = slurp("cert.pem", &len), *key = slurp("rsa2048.pem", NULL);
	char *x5t = NULL, *x5t256 = NULL;
	ts_error err = { 0 };
	int rc;

	rc = jose_cert_thumbprints(&x5t, &x5t256, pem, len, "cert.pem", &err);
	tap_ok(rc == TS_OK, "thumbprints of cert.pem (%s)", err.msg);
	TAP_STREQ(x5t, CERT_X5T, "x5t is base64url(SHA-1(DER))");
	TAP_STREQ(x5t256, CERT_X5T256, "x5t#S256 is base64url(SHA-256(DER))");
	free(x5t);
	free(x5t256);
	rc = jose_cert_thumbprints(&x5t, &x5t256, key, strlen(key), "key.pem", &err);
	tap_ok(rc == TS_EINVAL && strstr(err.msg, "key.pem: no PEM certificate") != NULL,
	       "a key given as the certificate is refused, naming it: %s", err.msg);
	tap_ok(x5t == NULL && x5t256 == NULL, "nothing is returned then");
	free(pem);
	free(key);
}

static void test_keys(void)
{
	static const struct {
		const char *file;
		int rc;
		const char *alg_or_msg;
	} keys[] = {
		{ "rsa2048.pem", TS_OK, "RS256" },
		{ "ec256.pem", TS_OK, "ES256" },
		{ "rsa1024.pem", TS_EINVAL, "has 1024 bits; use 2048 bits or more" },
		{ "ec384.pem", TS_EINVAL, "not on the P-256 curve" },
		{ "ed25519.pem", TS_EINVAL, "unsupported key type" },
		{ "encrypted.pem", TS_EINVAL, "is encrypted; store it without a passphrase" },
		{ "cert.pem", TS_EINVAL, "no PEM private key found" },
		{ "rsa2048.pub", TS_EINVAL, "no PEM private key found" },
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		size_t len;
		char *pem = slurp(keys[i].file, &len);
		const char *alg = NULL;
		ts_error err = { 0 };
		int rc = jose_key_check(&alg, pem, len, keys[i].file, &err);

		if (keys[i].rc == TS_OK) {
			tap_ok(rc == TS_OK && alg && strcmp(alg, keys[i].alg_or_msg) == 0,
			       "%s: accepted as %s (%s)", keys[i].file, keys[i].alg_or_msg, err.msg);
		} else {
			tap_ok(rc == keys[i].rc && strstr(err.msg, keys[i].alg_or_msg) != NULL &&
			       strncmp(err.msg, keys[i].file, strlen(keys[i].file)) == 0,
			       "%s: refused, naming it: %s", keys[i].file, err.msg);
			/* The second line of the PEM is base64 key material. */
			char line[33] = "";
			const char *nl = strchr(pem, '\n');

			if (nl != NULL)
				snprintf(line, sizeof(line), "%s", nl + 1);
			tap_ok(line[0] && strstr(err.msg, line) == NULL,
			       "%s: the message quotes no key material", keys[i].file);
		}
		free(pem);
	}
}

/* Decode one base64url segment of a compact JWS into a JSON object. */
static json_object *segment(const char *jwt, int index)
{
	const char *p = jwt, *end;
	char b64[2048];
	unsigned char raw[2048];
	size_t n;
	int len;

	for (int i = 0; i < index; i++)
		p = strchr(p, '.') + 1;
	end = strchr(p, '.');
	n = end ? (size_t)(end - p) : strlen(p);
	if (n + 4 >= sizeof(b64))
		return NULL;
	memcpy(b64, p, n);
	for (size_t i = 0; i < n; i++)
		b64[i] = b64[i] == '-' ? '+' : b64[i] == '_' ? '/' : b64[i];
	while (n % 4)
		b64[n++] = '=';
	b64[n] = '\0';
	len = EVP_DecodeBlock(raw, (unsigned char *)b64, (int)n);
	if (len < 0)
		return NULL;
	raw[len] = '\0';
	return json_tokener_parse((char *)raw);
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static int64_t jint(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : -1;
}

static void test_assertion(void)
{
	size_t len;
	char *key = slurp("ec256.pem", &len);
	char *a = NULL, *b = NULL;
	json_object *hdr, *claims, *claims2;
	ts_error err = { 0 };
	int rc;

	rc = jose_assertion(&a, key, len, "ec256.pem", "kid-1", NULL, CERT_X5T256, "client-1",
			    "client-1", "https://login.example/token", NULL, 1700000000, &err);
	tap_ok(rc == TS_OK, "an ES256 client assertion is signed (%s)", err.msg);
	rc = jose_assertion(&b, key, len, "ec256.pem", NULL, NULL, NULL, "svc@example.iam",
			    "alice@example.com", "https://oauth2.example/token",
			    "https://mail.google.com/", 1700000000, &err);
	tap_ok(rc == TS_OK, "an ES256 jwt-bearer assertion is signed (%s)", err.msg);
	if (a == NULL || b == NULL) {
		free(key);
		return;
	}
	hdr = segment(a, 0);
	claims = segment(a, 1);
	claims2 = segment(b, 1);
	TAP_STREQ(jstr(hdr, "alg"), "ES256", "header alg is ES256 for a P-256 key");
	TAP_STREQ(jstr(hdr, "typ"), "JWT", "header typ is JWT");
	TAP_STREQ(jstr(hdr, "kid"), "kid-1", "header kid as given");
	TAP_STREQ(jstr(hdr, "x5t#S256"), CERT_X5T256, "header x5t#S256 as given");
	tap_ok(jstr(hdr, "x5t") == NULL, "no x5t when none is given");
	TAP_STREQ(jstr(claims, "iss"), "client-1", "client assertion: iss is the client id");
	TAP_STREQ(jstr(claims, "sub"), "client-1", "client assertion: sub is the client id");
	TAP_STREQ(jstr(claims, "aud"), "https://login.example/token", "aud is the token endpoint");
	tap_ok(jint(claims, "iat") == 1700000000 && jint(claims, "nbf") == 1700000000,
	       "iat and nbf are now");
	tap_ok(jint(claims, "exp") == 1700000000 + 300, "exp is 5 minutes ahead");
	tap_ok(jstr(claims, "scope") == NULL, "a client assertion has no scope claim");
	tap_ok(jstr(claims, "jti") != NULL && strlen(jstr(claims, "jti")) >= 20,
	       "a jti of 16 random bytes");
	tap_ok(jstr(claims2, "jti") && jstr(claims, "jti") &&
	       strcmp(jstr(claims, "jti"), jstr(claims2, "jti")) != 0, "every jti differs");
	TAP_STREQ(jstr(claims2, "sub"), "alice@example.com", "jwt-bearer: sub is the mailbox");
	TAP_STREQ(jstr(claims2, "scope"), "https://mail.google.com/", "jwt-bearer: scope claim");
	tap_ok(strlen(strrchr(a, '.') + 1) == 86, "the ES256 signature is 64 raw bytes (R||S)");
	json_object_put(hdr);
	json_object_put(claims);
	json_object_put(claims2);
	ts_free_secret(a);
	ts_free_secret(b);
	free(key);
}

static void test_service_account(void)
{
	static const char *const bad[][2] = {
		{ "", "is empty" },
		{ "[1]", "not a JSON object" },
		{ "{\"type\":\"authorized_user\"}", "field 'type' is not 'service_account'" },
		{ "{\"type\":\"service_account\",\"private_key\":\"x\"}", "field 'client_email' is missing" },
		{ "{\"client_email\":\"a@b\"}", "field 'private_key' is missing" },
		{ "{\"client_email\":5,\"private_key\":\"x\"}", "field 'client_email' must be a non-empty text" },
		{ "{\"client_email\":\"a\\u0007b\",\"private_key\":\"x\"}", "field 'client_email' must be a non-empty text" },
		{ "{\"client_email\":\"a@b\",\"private_key\":\"not a key\"}", "field 'private_key': no PEM private key" },
		{ "{\"client_email\":\"a@b\"", "not valid JSON" },
		{ "{\"client_email\":\"a@b\"} {}", "not valid JSON" },
	};
	char *key = slurp("rsa2048.pem", NULL);
	json_object *doc = json_object_new_object();
	jose_service_account *sa = NULL;
	ts_error err = { 0 };
	const char *text;
	int rc;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = jose_service_account_parse(&sa, bad[i][0], strlen(bad[i][0]), "sa.json", &err);
		tap_ok(rc == TS_EINVAL && sa == NULL && strncmp(err.msg, "sa.json: ", 9) == 0 &&
		       strstr(err.msg, bad[i][1]) != NULL, "service account %zu refused: %s", i, err.msg);
	}
	json_object_object_add(doc, "type", json_object_new_string("service_account"));
	json_object_object_add(doc, "client_email", json_object_new_string("relay@p.iam.gserviceaccount.com"));
	json_object_object_add(doc, "private_key_id", json_object_new_string("abc123"));
	json_object_object_add(doc, "private_key", json_object_new_string(key));
	json_object_object_add(doc, "token_uri", json_object_new_string("https://oauth2.googleapis.com/token"));
	text = json_object_to_json_string(doc);
	rc = jose_service_account_parse(&sa, text, strlen(text), "sa.json", &err);
	tap_ok(rc == TS_OK && sa != NULL, "a Google key file parses (%s)", err.msg);
	if (sa != NULL) {
		TAP_STREQ(sa->client_email, "relay@p.iam.gserviceaccount.com", "client_email");
		TAP_STREQ(sa->private_key_id, "abc123", "private_key_id");
		TAP_STREQ(sa->token_uri, "https://oauth2.googleapis.com/token", "token_uri");
		tap_ok(sa->private_key && strcmp(sa->private_key, key) == 0, "private_key");
	}
	jose_service_account_free(sa);
	json_object_put(doc);
	free(key);
}

int main(void)
{
	test_rs256_vectors();
	test_thumbprints();
	test_keys();
	test_assertion();
	test_service_account();
	return tap_done();
}
