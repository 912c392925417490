/*
 * cmd_auth.c - `authorize`: the first consent of a token. Authorization
 * code with PKCE (S256), a random state and a loopback redirect (RFC 8252,
 * 7636); the device flow (RFC 8628); or client credentials. It stores the
 * grant with ts_token_store_grant and says what it stored, never a token.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

enum { O_DEVICE = 1, O_NO_BROWSER, O_PORT, O_TIMEOUT };

#define DEFAULT_TIMEOUT 300

/* Start the user's browser on `url` without a shell and without waiting
 * for it: a double fork leaves it to init, so a browser that stays open
 * does not keep us (or a zombie) around. Its stdout goes to /dev/null so
 * it cannot mix with ours. */
static void open_browser(const char *url)
{
	const char *browser = getenv("BROWSER");
	const char *prog = NULL;
	pid_t pid;
	int status;

	if (browser && *browser)
		prog = browser;
	else if ((getenv("DISPLAY") && *getenv("DISPLAY")) ||
		 (getenv("WAYLAND_DISPLAY") && *getenv("WAYLAND_DISPLAY")))
		prog = "xdg-open";
	if (!prog)
		return;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		cli_warn(NULL, "cannot start the browser: %s; open the URL yourself", strerror(errno));
		return;
	}
	if (pid == 0) {
		pid_t gc = fork();

		if (gc != 0)
			_exit(gc < 0 ? 1 : 0);
		{
			int nul = open("/dev/null", O_RDWR | O_CLOEXEC);

			if (nul >= 0) {
				dup2(nul, STDIN_FILENO);
				dup2(nul, STDOUT_FILENO);
			}
		}
		cli_child_restore_limits();
		execlp(prog, prog, url, (char *)NULL);
		fprintf(stderr, "%s: cannot run browser '%s': %s; open the URL yourself\n",
			CLI_PROG, prog, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

static int report_grant(const char *name, const ts_token_effective *eff, const oa2_token_response *r)
{
	char when[128];
	int64_t now = ts_now();

	printf("authorized token '%s'%s%s%s\n", name, eff->user ? " (user " : "",
	       eff->user ? eff->user : "", eff->user ? ")" : "");
	if (r->expires_in >= 0)
		printf("  access token: stored, valid until %s\n",
		       cli_fmt_when(when, sizeof when, now + r->expires_in, now));
	else
		printf("  access token: stored, expiry not given by the provider\n");
	printf("  refresh token: %s\n", r->refresh_token ? "received and stored" :
	       eff->flow == TS_FLOW_CLIENT_CREDENTIALS ? "none (client credentials: a new token is fetched when due)" :
	       eff->flow == TS_FLOW_JWT_BEARER ? "none (jwt_bearer: a new token is fetched for each mailbox when due)" :
	       "none received (the token cannot be refreshed; check the scope, e.g. offline_access)");
	printf("  scope: %s\n", r->scope ? r->scope : "(as requested)");
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static int store(ts_ctx *ctx, const char *name, const ts_token_effective *eff, const oa2_token_response *r)
{
	ts_error err = { 0 };

	if (ts_token_store_grant(ctx, name, r, &err) != TS_OK)
		return cli_err_ts(name, "cannot store the tokens", &err);
	return report_grant(name, eff, r);
}

static int flow_code(ts_ctx *ctx, const char *name, const ts_token_effective *eff, bool no_browser,
		     int port, int timeout)
{
	cli_loopback lb = { .fd = -1 };
	char *verifier = NULL, *challenge = NULL, *state = NULL, *url = NULL, *code = NULL;
	oa2_token_response *r = NULL;
	ts_error err = { 0 };
	bool read_stdin;
	int rc = CLI_EXIT_FAIL;

	if (oa2_pkce_verifier(&verifier, &err) != TS_OK ||
	    oa2_pkce_challenge(&challenge, verifier, &err) != TS_OK ||
	    oa2_random_string(&state, 24, &err) != TS_OK) {
		rc = cli_err_ts(name, "cannot prepare the authorization", &err);
		goto cleanup;
	}
	if (cli_loopback_open(&lb, port, eff->redirect_uri, &err) != TS_OK) {
		rc = cli_err_ts(name, "cannot prepare the authorization", &err);
		goto cleanup;
	}
	read_stdin = no_browser || lb.fd < 0;
	if (oa2_authorize_url(&url, eff, lb.redirect_uri, state, challenge, &err) != TS_OK) {
		rc = cli_err_ts(name, "cannot build the authorization URL", &err);
		goto cleanup;
	}
	printf("To authorize token '%s', open this URL in a browser:\n\n  %s\n\n", name, url);
	if (lb.fd >= 0)
		printf("Waiting up to %d s for the redirect to %s ...\n", timeout, lb.redirect_uri);
	if (read_stdin)
		printf("%s paste the address your browser was redirected to here and press Enter:\n",
		       lb.fd >= 0 ? "Or" : "Then");
	fflush(stdout);
	if (!no_browser)
		open_browser(url);
	if (cli_loopback_wait(&code, &lb, state, read_stdin, timeout, &err) != TS_OK) {
		rc = cli_err_ts(name, err.code == TS_EDENIED ? "authorization denied" : "authorization failed", &err);
		goto cleanup;
	}
	/* The listener is no longer needed; free the port early. */
	if (lb.fd >= 0) {
		close(lb.fd);
		lb.fd = -1;
	}
	if (oa2_exchange_code(&r, ctx, eff, code, lb.redirect_uri, verifier, &err) != TS_OK) {
		rc = cli_err_ts(name, "code exchange failed", &err);
		goto cleanup;
	}
	rc = store(ctx, name, eff, r);
cleanup:
	oa2_token_response_free(r);
	ts_free_secret(code);
	ts_free_secret(verifier);
	free(challenge);
	ts_free_secret(state);
	free(url);
	cli_loopback_close(&lb);
	return rc;
}

static int flow_device(ts_ctx *ctx, const char *name, const ts_token_effective *eff)
{
	oa2_device_auth *d = NULL;
	oa2_token_response *r = NULL;
	ts_error err = { 0 };
	int rc = CLI_EXIT_FAIL;

	if (!eff->device_url) {
		rc = cli_err(name, "device flow: the token has no device_url; "
			     "set it with: %s edit %s --set device_url=URL", CLI_PROG, name);
		goto cleanup;
	}
	if (oa2_device_start(&d, ctx, eff, &err) != TS_OK) {
		rc = cli_err_ts(name, "device authorization failed", &err);
		goto cleanup;
	}
	printf("To authorize token '%s', visit: %s\n", name, d->verification_uri);
	printf("Enter code: %s\n", d->user_code);
	if (d->verification_uri_complete)
		printf("(or open %s)\n", d->verification_uri_complete);
	printf("Waiting for the approval (up to %lld s)...\n", (long long)d->expires_in);
	fflush(stdout);
	if (oa2_device_wait(&r, ctx, eff, d, &err) != TS_OK) {
		rc = cli_err_ts(name, err.code == TS_EDENIED ? "authorization denied" :
				err.code == TS_EEXPIRED ? "the device code expired" : "device authorization failed",
				&err);
		goto cleanup;
	}
	rc = store(ctx, name, eff, r);
cleanup:
	oa2_token_response_free(r);
	oa2_device_auth_free(d);
	return rc;
}

static int flow_client_credentials(ts_ctx *ctx, const char *name, const ts_token_effective *eff)
{
	oa2_token_response *r = NULL;
	ts_error err = { 0 };
	int rc;

	if (oa2_client_credentials(&r, ctx, eff, &err) != TS_OK)
		return cli_err_ts(name, "client credentials grant failed", &err);
	rc = store(ctx, name, eff, r);
	oa2_token_response_free(r);
	return rc;
}

/* A service account: the first token, for the token's user. */
static int flow_jwt_bearer(ts_ctx *ctx, const char *name, const ts_token_effective *eff)
{
	oa2_token_response *r = NULL;
	ts_error err = { 0 };
	int rc;

	if (oa2_jwt_bearer(&r, ctx, eff, eff->user, &err) != TS_OK)
		return cli_err_ts(name, "jwt-bearer grant failed", &err);
	rc = store(ctx, name, eff, r);
	oa2_token_response_free(r);
	return rc;
}

static int parse_int(int *out, const char *s, int min, int max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

int cmd_authorize(const cli_global *g, int argc, char **argv)
{
	static const cli_opt opts[] = {
		{ "device", 0, false, O_DEVICE },
		{ "no-browser", 0, false, O_NO_BROWSER },
		{ "port", 0, true, O_PORT },
		{ "timeout", 0, true, O_TIMEOUT },
		{ NULL, 0, false, 0 },
	};
	cli_parser p;
	bool device = false, no_browser = false;
	int port = 0, timeout = DEFAULT_TIMEOUT, id, rc = CLI_EXIT_FAIL;
	ts_ctx *ctx = NULL;
	ts_token_effective *eff = NULL;
	ts_error err = { 0 };
	const char *name;

	if (cli_parser_init(&p, "authorize", argc, argv, opts) != 0)
		return cli_err(NULL, "out of memory");
	while ((id = cli_parser_next(&p)) > 0) {
		switch (id) {
		case O_DEVICE: device = true; break;
		case O_NO_BROWSER: no_browser = true; break;
		case O_PORT:
			if (parse_int(&port, p.arg, 0, 65535) != 0) {
				rc = cli_usage_error("authorize", "--port needs a port number 0-65535, got '%s'", p.arg);
				goto cleanup;
			}
			break;
		case O_TIMEOUT:
			if (parse_int(&timeout, p.arg, 1, 86400) != 0) {
				rc = cli_usage_error("authorize", "--timeout needs seconds (1-86400), got '%s'", p.arg);
				goto cleanup;
			}
			break;
		}
	}
	if ((rc = cli_one_name(&name, &p, id)) != CLI_GO_ON ||
	    (rc = cli_ctx_open(&ctx, g, 0, name)) != CLI_EXIT_OK)
		goto cleanup;
	rc = CLI_EXIT_FAIL;
	if (ts_ctx_token_effective(&eff, ctx, name, &err) != TS_OK) {
		rc = cli_err_ts(name, "cannot authorize", &err);
		goto cleanup;
	}
	if (device || eff->flow == TS_FLOW_DEVICE_CODE)
		rc = flow_device(ctx, name, eff);
	else if (eff->flow == TS_FLOW_CLIENT_CREDENTIALS)
		rc = flow_client_credentials(ctx, name, eff);
	else if (eff->flow == TS_FLOW_JWT_BEARER)
		rc = flow_jwt_bearer(ctx, name, eff);
	else
		rc = flow_code(ctx, name, eff, no_browser, port, timeout);
cleanup:
	ts_token_effective_free(eff);
	ts_ctx_close(ctx);
	cli_parser_free(&p);
	return rc;
}
