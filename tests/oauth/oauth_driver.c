/*
 * oauth_driver.c - a small command-line driver of the OAuth2 client and
 * the refresh logic for tests/oauth/test_grants.sh. Not installed.
 *
 * The store and configuration come from SASL_OAUTH2_STORE and
 * SASL_OAUTH2_CONFIG. The exit status is 0 on success and -ts_code on
 * failure (TS_ENET -> 9, TS_EGRANT -> 10, TS_ECONFIG -> 11, ...); the
 * error message goes to stderr, library log lines too ("log: ...").
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oauth_http_p.h"

static void log_cb(void *arg, ts_log_level level, const char *msg)
{
	(void)arg;
	fprintf(stderr, "log(%d): %s\n", (int)level, msg);
}

static int usage(void)
{
	fprintf(stderr,
		"usage: oauth_driver get-access NAME [force|nonet]\n"
		"       oauth_driver get-access-as NAME MAILBOX\n"
		"       oauth_driver refresh NAME\n"
		"       oauth_driver cc NAME\n"
		"       oauth_driver authurl NAME REDIRECT_URI STATEFILE\n"
		"       oauth_driver exchange NAME REDIRECT_URI STATEFILE CODE\n"
		"       oauth_driver device NAME [EXPIRES_IN]\n"
		"       oauth_driver revoke NAME access|refresh\n"
		"       oauth_driver reject NAME\n"
		"       oauth_driver select AUTHNAME [PASSWORD]\n"
		"       oauth_driver badurl NAME URL\n"
		"       oauth_driver probe URL\n");
	return 2;
}

static int store_response(ts_ctx *ctx, const char *name, int rc, oa2_token_response *r,
			  ts_error *err)
{
	if (rc == TS_OK)
		rc = ts_token_store_grant(ctx, name, r, err);
	if (rc == TS_OK)
		printf("stored: refresh_token=%s expires_in=%lld\n", r->refresh_token ? "yes" : "no",
		       (long long)r->expires_in);
	oa2_token_response_free(r);
	return rc;
}

static int read_state_file(const char *path, char *verifier, size_t vsz, char *state, size_t ssz)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (f == NULL)
		return -1;
	ok = fgets(verifier, (int)vsz, f) != NULL && fgets(state, (int)ssz, f) != NULL;
	fclose(f);
	verifier[strcspn(verifier, "\n")] = '\0';
	state[strcspn(state, "\n")] = '\0';
	return ok ? 0 : -1;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int run(ts_ctx *ctx, int argc, char **argv, ts_error *err)
{
	const char *cmd = argv[1];
	const char *name = argc > 2 ? argv[2] : NULL;
	ts_token_effective *eff = NULL;
	oa2_token_response *r = NULL;
	ts_state *s = NULL;
	char *tok = NULL;
	int rc = TS_EINVAL;

	if (strcmp(cmd, "get-access") == 0 && argc >= 3) {
		unsigned flags = 0;
		int64_t exp = 0;

		if (argc > 3 && strcmp(argv[3], "force") == 0)
			flags |= TS_ACCESS_FORCE;
		if (argc > 3 && strcmp(argv[3], "nonet") == 0)
			flags |= TS_ACCESS_NO_NETWORK;
		rc = ts_token_get_access(&tok, &exp, ctx, name, flags, err);
		if (rc == TS_OK)
			printf("%s\n", tok);
	} else if (strcmp(cmd, "get-access-as") == 0 && argc == 4) {
		rc = ts_token_get_access_as(&tok, NULL, ctx, name, argv[3], 0, err);
		if (rc == TS_OK)
			printf("%s\n", tok);
	} else if (strcmp(cmd, "refresh") == 0 && argc == 3) {
		rc = ts_token_refresh(ctx, name, err);
	} else if (strcmp(cmd, "cc") == 0 && argc == 3) {
		if ((rc = ts_ctx_token_effective(&eff, ctx, name, err)) == TS_OK) {
			rc = oa2_client_credentials(&r, ctx, eff, err);
			rc = store_response(ctx, name, rc, r, err);
		}
	} else if (strcmp(cmd, "authurl") == 0 && argc == 5) {
		char *verifier = NULL, *challenge = NULL, *state = NULL, *url = NULL;
		FILE *f;

		if ((rc = ts_ctx_token_effective(&eff, ctx, name, err)) == TS_OK &&
		    (rc = oa2_pkce_verifier(&verifier, err)) == TS_OK &&
		    (rc = oa2_pkce_challenge(&challenge, verifier, err)) == TS_OK &&
		    (rc = oa2_random_string(&state, 24, err)) == TS_OK &&
		    (rc = oa2_authorize_url(&url, eff, argv[3], state, challenge, err)) == TS_OK) {
			f = fopen(argv[4], "w");
			if (f != NULL) {
				fprintf(f, "%s\n%s\n", verifier, state);
				fclose(f);
				printf("%s\n", url);
			} else {
				rc = ts_error_set(err, TS_EIO, "cannot write %s", argv[4]);
			}
		}
		ts_free_secret(verifier);
		free(challenge);
		free(state);
		free(url);
	} else if (strcmp(cmd, "exchange") == 0 && argc == 6) {
		char verifier[256], state[256];

		if (read_state_file(argv[4], verifier, sizeof(verifier), state, sizeof(state)) != 0) {
			rc = ts_error_set(err, TS_EIO, "cannot read %s", argv[4]);
		} else if ((rc = ts_ctx_token_effective(&eff, ctx, name, err)) == TS_OK) {
			rc = oa2_exchange_code(&r, ctx, eff, argv[5], argv[3], verifier, err);
			rc = store_response(ctx, name, rc, r, err);
		}
		ts_wipe(verifier, sizeof(verifier));
	} else if (strcmp(cmd, "device") == 0 && argc >= 3) {
		oa2_device_auth *d = NULL;
		double t0 = now_ms();

		if ((rc = ts_ctx_token_effective(&eff, ctx, name, err)) == TS_OK &&
		    (rc = oa2_device_start(&d, ctx, eff, err)) == TS_OK) {
			if (argc > 3)
				d->expires_in = atoll(argv[3]);
			printf("verification: %s\nEnter code: %s\ninterval: %lld\n",
			       d->verification_uri, d->user_code, (long long)d->interval);
			fflush(stdout);
			rc = oa2_device_wait(&r, ctx, eff, d, err);
			printf("elapsed_ms: %.0f\n", now_ms() - t0);
			rc = store_response(ctx, name, rc, r, err);
		}
		oa2_device_auth_free(d);
	} else if (strcmp(cmd, "revoke") == 0 && argc == 4) {
		bool refresh = strcmp(argv[3], "refresh") == 0;

		if ((rc = ts_ctx_token_effective(&eff, ctx, name, err)) == TS_OK &&
		    (rc = ts_store_load_state(ts_ctx_store(ctx), name, &s, err)) == TS_OK)
			rc = oa2_revoke(ctx, eff, refresh ? s->refresh_token : s->access_token,
					refresh ? "refresh_token" : "access_token", err);
	} else if (strcmp(cmd, "reject") == 0 && argc == 3) {
		if ((rc = ts_store_load_state(ts_ctx_store(ctx), name, &s, err)) == TS_OK)
			rc = ts_token_mark_rejected(ctx, name, s->access_token, err);
	} else if (strcmp(cmd, "select") == 0 && argc >= 3) {
		rc = ts_token_select(&tok, ctx, argv[2], argc > 3 ? argv[3] : NULL, err);
		if (rc == TS_OK)
			printf("%s\n", tok);
	} else if (strcmp(cmd, "badurl") == 0 && argc == 4) {
		double t0 = now_ms();

		if ((rc = ts_ctx_token_effective(&eff, ctx, name, err)) == TS_OK) {
			free(eff->token_url);
			eff->token_url = strdup(argv[3]);
			rc = oa2_refresh(&r, ctx, eff, "rt-dummy", err);
			oa2_token_response_free(r);
		}
		printf("elapsed_ms: %.0f\n", now_ms() - t0);
	} else if (strcmp(cmd, "probe") == 0 && argc == 3) {
		long status = 0;

		rc = oa2_probe(&status, ctx, argv[2], err);
		if (rc == TS_OK)
			printf("status: %ld\n", status);
	} else {
		rc = usage();
		return rc;
	}
	ts_free_secret(tok);
	ts_state_free(s);
	ts_token_effective_free(eff);
	return rc;
}

int main(int argc, char **argv)
{
	ts_open_opts opts = { 0 };
	ts_ctx *ctx = NULL;
	ts_error err = { 0 };
	int rc;

	if (argc < 2)
		return usage();
	opts.log = log_cb;
	rc = ts_ctx_open(&ctx, &opts, &err);
	if (rc == TS_OK)
		rc = run(ctx, argc, argv, &err);
	ts_ctx_close(ctx);
	if (rc == 2 && err.msg[0] == '\0')
		return 2;
	if (rc != TS_OK) {
		fprintf(stderr, "oauth_driver: %s: %s\n", ts_code_str(rc), err.msg);
		return rc < 0 ? -rc : 1;
	}
	return 0;
}
