/*
 * cmd_token.c - `token` (a valid access token on stdout and nothing else,
 * for mutt, msmtp, mbsync and curl) and `refresh` (refresh now, for cron,
 * so that refresh tokens do not die from disuse).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

enum { O_ALL = 1, O_IF_EXPIRING, O_USER };

int cmd_token(const cli_global *g, int argc, char **argv)
{
	static const cli_opt opts[] = { { "user", 'u', true, O_USER }, { NULL, 0, false, 0 } };
	cli_parser p;
	int id, rc = CLI_EXIT_FAIL;
	ts_ctx *ctx = NULL;
	ts_error err = { 0 };
	char *tok = NULL;
	const char *name, *mailbox = NULL;

	if (cli_parser_init(&p, "token", argc, argv, opts) != 0)
		return cli_err(NULL, "out of memory");
	while ((id = cli_parser_next(&p)) > 0)
		mailbox = p.arg;
	if ((rc = cli_one_name(&name, &p, id)) != CLI_GO_ON ||
	    (rc = cli_ctx_open(&ctx, g, 0, name)) != CLI_EXIT_OK)
		goto cleanup;
	rc = CLI_EXIT_FAIL;
	if (mailbox != NULL) {
		/* The same rule as a login: the mailbox must be the token's. */
		ts_token_effective *eff = NULL;
		char *wire = NULL;

		if (ts_ctx_token_effective(&eff, ctx, name, &err) != TS_OK ||
		    ts_token_mailbox(&wire, eff, mailbox, &err) != TS_OK) {
			ts_token_effective_free(eff);
			rc = cli_err_ts(name, "no access token", &err);
			goto cleanup;
		}
		free(wire);
		ts_token_effective_free(eff);
	}
	if (ts_token_get_access_as(&tok, NULL, ctx, name, mailbox, 0, &err) != TS_OK) {
		rc = cli_err_ts(name, "no access token", &err);
		goto cleanup;
	}
	{
		/* One write of token and newline, past stdio: no stray copy. */
		size_t n = strlen(tok);
		char *line = malloc(n + 2);
		int wrc;

		if (!line) {
			rc = cli_err(name, "out of memory");
			goto cleanup;
		}
		memcpy(line, tok, n);
		line[n] = '\n';
		line[n + 1] = '\0';
		wrc = cli_write_all(STDOUT_FILENO, line, n + 1);
		ts_free_secret(line);
		if (wrc != 0) {
			rc = cli_err(name, "cannot write the token to standard output: %s", strerror(errno));
			goto cleanup;
		}
	}
	rc = CLI_EXIT_OK;
cleanup:
	ts_free_secret(tok);
	ts_ctx_close(ctx);
	cli_parser_free(&p);
	return rc;
}

int cmd_refresh(const cli_global *g, int argc, char **argv)
{
	static const cli_opt opts[] = {
		{ "all", 0, false, O_ALL },
		{ "if-expiring-in", 0, true, O_IF_EXPIRING },
		{ NULL, 0, false, 0 },
	};
	cli_parser p;
	bool all = false;
	long within = -1;
	int id, rc = CLI_EXIT_FAIL, failed = 0;
	ts_ctx *ctx = NULL;
	ts_strlist names = { 0 };
	ts_error err = { 0 };
	size_t k;

	if (cli_parser_init(&p, "refresh", argc, argv, opts) != 0)
		return cli_err(NULL, "out of memory");
	while ((id = cli_parser_next(&p)) > 0) {
		if (id == O_ALL) {
			all = true;
		} else {
			char *end;

			errno = 0;
			within = strtol(p.arg, &end, 10);
			if (errno || end == p.arg || *end || within < 0) {
				rc = cli_usage_error("refresh", "--if-expiring-in needs a number of seconds, got '%s'", p.arg);
				goto cleanup;
			}
		}
	}
	if ((rc = cli_parser_done(id)) != CLI_GO_ON)
		goto cleanup;
	if (all == (p.npos > 0)) {
		rc = cli_usage_error("refresh", all ? "give token names or --all, not both" :
				     "missing token NAME (or --all)");
		goto cleanup;
	}
	/* Without names, --all was given: every token of the store. */
	if ((rc = cli_names_check(&p, id)) != CLI_GO_ON ||
	    (rc = cli_ctx_open(&ctx, g, 0, p.npos == 1 ? p.pos[0] : NULL)) != CLI_EXIT_OK ||
	    (rc = cli_names_collect(&names, ctx, p.pos, p.npos)) != CLI_EXIT_OK)
		goto cleanup;
	for (k = 0; k < names.n; k++) {
		const char *name = names.v[k];
		ts_state *s = NULL;
		ts_token_effective *eff = NULL;
		char when[96];
		int64_t now = ts_now();

		memset(&err, 0, sizeof err);
		if (all) {
			/* --all leaves alone what the user switched off or never
			 * authorized: those are reported by status. */
			if (ts_ctx_token_effective(&eff, ctx, name, &err) != TS_OK) {
				cli_err_ts(name, "not refreshed", &err);
				failed++;
				continue;
			}
			if (eff->validity != TS_VALIDITY_VALID) {
				printf("%s: skipped (validity: %s)\n", name, ts_validity_str(eff->validity));
				ts_token_effective_free(eff);
				continue;
			}
			if (eff->flow != TS_FLOW_CLIENT_CREDENTIALS && eff->flow != TS_FLOW_JWT_BEARER &&
			    ts_store_load_state(ts_ctx_store(ctx), name, &s, &err) == TS_ENOTFOUND) {
				printf("%s: skipped (not authorized; run: %s authorize %s)\n", name, CLI_PROG, name);
				ts_token_effective_free(eff);
				continue;
			}
			ts_state_free(s);
			s = NULL;
			memset(&err, 0, sizeof err);
			ts_token_effective_free(eff);
			eff = NULL;
		}
		if (within >= 0) {
			if (ts_store_load_state(ts_ctx_store(ctx), name, &s, &err) == TS_OK &&
			    s->access_token && !s->access_rejected && s->expires_at > 0 &&
			    s->expires_at - now > within) {
				printf("%s: not due (expires %s)\n", name,
				       cli_fmt_rel(when, sizeof when, s->expires_at, now));
				ts_state_free(s);
				continue;
			}
			ts_state_free(s);
			s = NULL;
			memset(&err, 0, sizeof err);
		}
		if (ts_token_refresh(ctx, name, &err) != TS_OK) {
			cli_err_ts(name, "refresh failed", &err);
			failed++;
			continue;
		}
		if (ts_store_load_state(ts_ctx_store(ctx), name, &s, &err) == TS_OK)
			printf("%s: refreshed, access token valid until %s\n", name,
			       cli_fmt_when(when, sizeof when, s->expires_at, ts_now()));
		else
			printf("%s: refreshed\n", name);
		ts_state_free(s);
	}
	if (all && names.n == 0)
		printf("no tokens\n");
	if (fflush(stdout) != 0)
		failed++;
	rc = failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
cleanup:
	ts_strlist_clear(&names);
	ts_ctx_close(ctx);
	cli_parser_free(&p);
	return rc;
}
