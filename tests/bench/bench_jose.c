/*
 * bench_jose.c - `make bench`: the cost of signing one RFC 7523 assertion
 * (RS256 with a 2048-bit key, ES256 with P-256), which the plugin does
 * before a client_auth: private_key_jwt or jwt_bearer request, set against
 * one HTTP round trip to the test OAuth2 server on loopback made by the same
 * HTTP client in the same run (a real provider is further away still).
 *
 * usage: bench_jose --url OAUTH_URL [--seconds S]
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "jose.h"
#include "oauth.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A fresh private key as unencrypted PKCS #8 PEM. */
static char *make_key(const char *alg)
{
	EVP_PKEY *pk = strcmp(alg, "RSA") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048) :
					       EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL, *p;
	long n;

	if (pk == NULL || bio == NULL || !PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) ||
	    (n = BIO_get_mem_data(bio, &p)) <= 0 || (pem = malloc((size_t)n + 1)) == NULL) {
		fprintf(stderr, "bench_jose: cannot make a %s key\n", alg);
		exit(1);
	}
	memcpy(pem, p, (size_t)n);
	pem[n] = '\0';
	BIO_free(bio);
	EVP_PKEY_free(pk);
	return pem;
}

/* Seconds per assertion, over `seconds` of signing. */
static double time_sign(const char *pem, double seconds)
{
	double t0 = now_s(), t;
	long n = 0;
	ts_error err = { 0 };
	char *jwt;

	do {
		if (jose_assertion(&jwt, pem, strlen(pem), "bench", NULL, NULL, NULL, "client",
				   "client", "https://login.example/token", NULL, ts_now(),
				   &err) != TS_OK) {
			fprintf(stderr, "bench_jose: %s\n", err.msg);
			exit(1);
		}
		ts_free_secret(jwt);
		n++;
	} while ((t = now_s() - t0) < seconds);
	return t / (double)n;
}

int main(int argc, char **argv)
{
	const char *url = NULL;
	double seconds = 1, t0, rtt, rs, es;
	char probe[1024];
	ts_error err = { 0 };
	long status;
	int i, n = 50;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--url") == 0)
			url = argv[i + 1];
		else if (strcmp(argv[i], "--seconds") == 0)
			seconds = atof(argv[i + 1]);
	}
	if (url == NULL) {
		fprintf(stderr, "usage: bench_jose --url OAUTH_URL [--seconds S]\n");
		return 2;
	}
	snprintf(probe, sizeof(probe), "%s/.well-known/oauth-authorization-server", url);
	if (oa2_probe(&status, NULL, probe, &err) != TS_OK) {
		fprintf(stderr, "bench_jose: %s\n", err.msg);
		return 1;
	}
	t0 = now_s();
	for (i = 0; i < n; i++)
		if (oa2_probe(&status, NULL, probe, &err) != TS_OK) {
			fprintf(stderr, "bench_jose: %s\n", err.msg);
			return 1;
		}
	rtt = (now_s() - t0) / n;
	rs = time_sign(make_key("RSA"), seconds);
	es = time_sign(make_key("EC"), seconds);
	printf("\nAssertion signing (client_auth: private_key_jwt, flow: jwt_bearer), per assertion:\n");
	printf("  %-44s %9.1f us\n", "HTTP round trip to the test server, loopback", rtt * 1e6);
	printf("  %-44s %9.1f us  (%.2f of a loopback round trip)\n", "RS256, RSA 2048", rs * 1e6,
	       rs / rtt);
	printf("  %-44s %9.1f us  (%.2f of a loopback round trip)\n", "ES256, P-256", es * 1e6,
	       es / rtt);
	return 0;
}
