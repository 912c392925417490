/*
 * store_driver.c - a long-running token store client for the tests of the
 * postgresql:// store: it opens a context the way the plugin does (CA
 * bundle and client secret files read at open) and then obeys one command
 * a line on stdin, answering one line each on stdout:
 *   token NAME     "ok" when a valid access token came back, else
 *                  "err CODE MESSAGE" (never the token itself)
 *   refresh NAME   the same after a forced refresh
 *   chroot DIR     chroot(2) into DIR, as Postfix's smtp does after loading
 *                  the plugin; "ok" or "err"
 * The library's log lines go to stderr.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokenstore.h"
#include "oauth.h"

static void log_stderr(void *arg, ts_log_level level, const char *msg)
{
	(void)arg;
	fprintf(stderr, "store_driver: [%d] %s\n", (int)level, msg);
}

static void answer(int rc, const ts_error *err)
{
	if (rc == TS_OK)
		printf("ok\n");
	else
		printf("err %d %s\n", rc, err->msg);
	fflush(stdout);
}

int main(void)
{
	ts_open_opts o;
	ts_ctx *ctx = NULL;
	ts_error err = { 0 };
	char line[4096];
	int rc;

	memset(&o, 0, sizeof(o));
	o.load_ca = true;
	o.preload_secrets = true;
	o.log = log_stderr;
	/* As the plugin does: libcurl loaded before any chroot. */
	if ((rc = oa2_preload(&err)) != TS_OK || (rc = ts_ctx_open(&ctx, &o, &err)) != TS_OK) {
		answer(rc, &err);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *arg = strchr(line, ' ');
		char *tok = NULL;

		line[strcspn(line, "\n")] = '\0';
		if (arg != NULL)
			*arg++ = '\0';
		memset(&err, 0, sizeof(err));
		if (strcmp(line, "token") == 0 && arg != NULL) {
			rc = ts_token_get_access(&tok, NULL, ctx, arg, 0, &err);
		} else if (strcmp(line, "refresh") == 0 && arg != NULL) {
			rc = ts_token_get_access(&tok, NULL, ctx, arg, TS_ACCESS_FORCE, &err);
		} else if (strcmp(line, "chroot") == 0 && arg != NULL) {
			rc = chroot(arg) == 0 && chdir("/") == 0 ? TS_OK :
				ts_error_set(&err, TS_EPERM, "chroot %s failed", arg);
		} else {
			rc = ts_error_set(&err, TS_EINVAL, "unknown command '%s'", line);
		}
		ts_free_secret(tok);
		answer(rc, &err);
	}
	ts_ctx_close(ctx);
	return 0;
}
