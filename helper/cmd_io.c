/*
 * cmd_io.c - export and import of token configurations as one YAML
 * document (backup and migration). Import checks the whole document before
 * it changes anything, so a refused import leaves the store byte for byte
 * as it was.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define IMPORT_MAX (8 * 1024 * 1024)

enum { O_WITH_SECRETS = 1, O_OUTPUT, O_OVERWRITE, O_DRY_RUN };

/* Add token `name` to the export document. With secrets, the client
 * secret from client_secret_file is inlined (the key stays a path) and the
 * state is included. */
static int export_one(ts_export *doc, ts_ctx *ctx, const char *name, bool with_secrets)
{
	ts_token_config *c = NULL;
	ts_token_effective *eff = NULL;
	ts_state *s = NULL;
	ts_error err = { 0 };
	int rc = CLI_EXIT_FAIL;

	if (ts_store_load_config(ts_ctx_store(ctx), name, &c, &err) != TS_OK) {
		rc = cli_err_ts(name, "cannot export", &err);
		goto cleanup;
	}
	if (with_secrets) {
		if (c->client_secret_file && !c->client_secret) {
			if (ts_token_resolve(&eff, ctx, c, &err) != TS_OK) {
				rc = cli_err_ts(name, "cannot export the client secret", &err);
				goto cleanup;
			}
			if (eff->client_secret) {
				c->client_secret = strdup(eff->client_secret);
				if (!c->client_secret) {
					rc = cli_err(name, "out of memory");
					goto cleanup;
				}
			}
		}
		if (ts_store_load_state(ts_ctx_store(ctx), name, &s, &err) != TS_OK) {
			if (err.code != TS_ENOTFOUND) {
				rc = cli_err_ts(name, "cannot export the state", &err);
				goto cleanup;
			}
			s = NULL;
		}
	}
	if (ts_export_add(doc, c, s, &err) != TS_OK) {
		rc = cli_err_ts(name, "cannot export", &err);
		goto cleanup;
	}
	rc = CLI_EXIT_OK;
cleanup:
	ts_state_free(s);
	ts_token_effective_free(eff);
	ts_token_config_free(c);
	return rc;
}

int cmd_export(const cli_global *g, int argc, char **argv)
{
	static const cli_opt opts[] = {
		{ "with-secrets", 0, false, O_WITH_SECRETS },
		{ "output", 'o', true, O_OUTPUT },
		{ NULL, 0, false, 0 },
	};
	cli_parser p;
	bool with_secrets = false;
	const char *output = NULL;
	int id, rc = CLI_EXIT_FAIL;
	ts_ctx *ctx = NULL;
	ts_strlist names = { 0 };
	ts_export *doc = NULL;
	ts_error err = { 0 };
	char *text = NULL;
	size_t k;

	if (cli_parser_init(&p, "export", argc, argv, opts) != 0)
		return cli_err(NULL, "out of memory");
	while ((id = cli_parser_next(&p)) > 0) {
		if (id == O_WITH_SECRETS)
			with_secrets = true;
		else
			output = p.arg;
	}
	if ((rc = cli_names_check(&p, id)) != CLI_GO_ON ||
	    (rc = cli_ctx_open(&ctx, g, 0, NULL)) != CLI_EXIT_OK ||
	    (rc = cli_names_collect(&names, ctx, p.pos, p.npos)) != CLI_EXIT_OK)
		goto cleanup;
	rc = CLI_EXIT_FAIL;
	if (ts_export_new(&doc, &err) != TS_OK) {
		rc = cli_err_ts(NULL, "cannot export", &err);
		goto cleanup;
	}
	for (k = 0; k < names.n; k++)
		if ((rc = export_one(doc, ctx, names.v[k], with_secrets)) != CLI_EXIT_OK)
			goto cleanup;
	rc = CLI_EXIT_FAIL;
	if (ts_export_emit(&text, doc, with_secrets, &err) != TS_OK) {
		rc = cli_err_ts(NULL, "cannot export", &err);
		goto cleanup;
	}
	if (output) {
		if (cli_write_file_atomic(output, text, strlen(text), &err) != TS_OK) {
			rc = cli_err_ts(NULL, "cannot write the export", &err);
			goto cleanup;
		}
		fprintf(stderr, "%s: exported %zu token%s to %s%s\n", CLI_PROG, names.n,
			names.n == 1 ? "" : "s", output, with_secrets ? " (with secrets)" : "");
	} else {
		fflush(stdout);
		if (cli_write_all(STDOUT_FILENO, text, strlen(text)) != 0) {
			rc = cli_err(NULL, "cannot write to standard output: %s", strerror(errno));
			goto cleanup;
		}
	}
	rc = CLI_EXIT_OK;
cleanup:
	ts_free_secret(text);
	ts_export_free(doc);
	ts_strlist_clear(&names);
	ts_ctx_close(ctx);
	cli_parser_free(&p);
	return rc;
}

/* What import does with one entry. */
enum action { ACT_ADD, ACT_REPLACE, ACT_SKIP };

int cmd_import(const cli_global *g, int argc, char **argv)
{
	static const cli_opt opts[] = {
		{ "overwrite", 0, false, O_OVERWRITE },
		{ "dry-run", 'n', false, O_DRY_RUN },
		{ NULL, 0, false, 0 },
	};
	cli_parser p;
	bool overwrite = false, dry_run = false;
	int id, rc = CLI_EXIT_FAIL;
	ts_ctx *ctx = NULL;
	ts_export *doc = NULL;
	ts_error err = { 0 };
	char *text = NULL;
	size_t len = 0, k, added = 0, replaced = 0, skipped = 0;
	enum action *act = NULL;
	const char *path, *origin;

	if (cli_parser_init(&p, "import", argc, argv, opts) != 0)
		return cli_err(NULL, "out of memory");
	while ((id = cli_parser_next(&p)) > 0) {
		if (id == O_OVERWRITE)
			overwrite = true;
		else
			dry_run = true;
	}
	if ((rc = cli_parser_done(id)) != CLI_GO_ON)
		goto cleanup;
	if (p.npos != 1) {
		rc = cli_usage_error("import", p.npos == 0 ? "missing FILE (or - for stdin)" : "too many arguments");
		goto cleanup;
	}
	path = p.pos[0];
	origin = strcmp(path, "-") == 0 ? "<stdin>" : path;
	if (cli_read_file(&text, &len, path, IMPORT_MAX, &err) != TS_OK) {
		rc = cli_err_ts(NULL, "cannot import", &err);
		goto cleanup;
	}
	if (ts_export_parse(&doc, text, len, origin, &err) != TS_OK) {
		rc = cli_err_ts(NULL, "cannot import", &err);
		goto cleanup;
	}
	if ((rc = cli_ctx_open(&ctx, g, dry_run ? 0 : TS_STORE_CREATE, NULL)) != CLI_EXIT_OK)
		goto cleanup;
	rc = CLI_EXIT_FAIL;
	act = calloc(doc->n + 1, sizeof *act);
	if (!act) {
		rc = cli_err(NULL, "out of memory");
		goto cleanup;
	}
	/* Phase 1: check everything; the store is not touched. */
	for (k = 0; k < doc->n; k++) {
		const ts_export_entry *e = &doc->v[k];
		ts_token_config *old = NULL;

		memset(&err, 0, sizeof err);
		if (ts_token_config_check(ctx, e->config, &err) != TS_OK) {
			/* The library's message usually names the token already. */
			if (strncmp(err.msg, "token '", 7) == 0)
				rc = cli_err(NULL, "cannot import: %s:%d:%d: %s; nothing was imported",
					     origin, e->line, e->column, err.msg);
			else
				rc = cli_err(NULL, "cannot import: %s:%d:%d: token '%s': %s; nothing was imported",
					     origin, e->line, e->column,
					     e->config->name ? e->config->name : "?", err.msg);
			goto cleanup;
		}
		if (ts_store_load_config(ts_ctx_store(ctx), e->config->name, &old, &err) == TS_OK ||
		    (err.code != TS_ENOTFOUND && err.code != TS_OK)) {
			/* Present (even if unreadable): replace only when asked. */
			act[k] = overwrite ? ACT_REPLACE : ACT_SKIP;
		} else {
			act[k] = ACT_ADD;
		}
		ts_token_config_free(old);
	}
	/* Phase 2: apply (or say what would be done). */
	for (k = 0; k < doc->n; k++) {
		const ts_export_entry *e = &doc->v[k];
		const char *name = e->config->name;
		const char *verb = act[k] == ACT_ADD ? "add" : act[k] == ACT_REPLACE ? "replace" : "skip";

		if (act[k] == ACT_SKIP) {
			printf("%s %s: token '%s' exists (use --overwrite to replace it)\n",
			       dry_run ? "would skip" : "skipped", name, name);
			skipped++;
			continue;
		}
		if (dry_run) {
			printf("would %s %s%s\n", verb, name, e->state ? " (with state)" : "");
		} else {
			if (ts_store_save_config(ts_ctx_store(ctx), e->config, &err) != TS_OK) {
				rc = cli_err_ts(name, "import failed", &err);
				goto cleanup;
			}
			if (e->state) {
				ts_lock *lk = NULL;

				if (ts_store_lock(ts_ctx_store(ctx), name, ts_lock_wait_ms(ts_ctx_config(ctx)), &lk, &err) != TS_OK) {
					rc = cli_err_ts(name, "import of the state failed", &err);
					goto cleanup;
				}
				if (ts_store_save_state(ts_ctx_store(ctx), name, e->state, &err) != TS_OK) {
					ts_store_unlock(ts_ctx_store(ctx), lk);
					rc = cli_err_ts(name, "import of the state failed", &err);
					goto cleanup;
				}
				ts_store_unlock(ts_ctx_store(ctx), lk);
			}
			printf("%s %s%s\n", act[k] == ACT_ADD ? "added" : "replaced", name,
			       e->state ? " (with state)" : "");
		}
		if (act[k] == ACT_ADD)
			added++;
		else
			replaced++;
	}
	printf("%s%zu added, %zu replaced, %zu skipped\n", dry_run ? "dry run, nothing changed: " : "",
	       added, replaced, skipped);
	rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
cleanup:
	free(act);
	ts_export_free(doc);
	ts_free_secret(text);
	ts_ctx_close(ctx);
	cli_parser_free(&p);
	return rc;
}
