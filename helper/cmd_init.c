/*
 * cmd_init.c - `sasl-oauth2 init`: create the store, a 0700 directory or
 * the schema of a PostgreSQL database (created or upgraded; idempotent).
 */
#include <config.h>

#include <stdio.h>

#include "cli.h"

int cmd_init(const cli_global *g, int argc, char **argv)
{
	static const cli_opt opts[] = { { NULL, 0, false, 0 } };
	cli_parser p;
	ts_ctx *ctx = NULL;
	int id, rc;

	if (cli_parser_init(&p, "init", argc, argv, opts) != 0)
		return cli_err(NULL, "out of memory");
	while ((id = cli_parser_next(&p)) > 0)
		;
	if ((rc = cli_parser_done(id)) != CLI_GO_ON)
		goto cleanup;
	if (p.npos != 0) {
		rc = cli_usage_error("init", "unexpected argument '%s'", p.pos[0]);
		goto cleanup;
	}
	if ((rc = cli_ctx_open(&ctx, g, TS_STORE_CREATE | TS_STORE_INIT, NULL)) != CLI_EXIT_OK)
		goto cleanup;
	printf("store %s is ready\n", ts_ctx_store_path(ctx));
	rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
cleanup:
	ts_ctx_close(ctx);
	cli_parser_free(&p);
	return rc;
}
