/*
 * cmd_io.c - export and import of token configurations as one YAML
 * document (backup and migration). Import checks the whole document before
 * it changes anything (the same checks for --dry-run, template changes
 * included), so a refused import leaves the store byte for byte as it was;
 * a write that fails half way (a full disk) puts back what was written.
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

/* One entry's plan, and what it replaces (to put it back on failure). */
typedef struct import_step {
	enum action act;
	ts_token_config *old_config;    /* ACT_REPLACE: the saved configuration */
	ts_state *old_state;            /* and its state; NULL when it had none */
} import_step;

static void steps_free(import_step *st, size_t n)
{
	for (size_t k = 0; st != NULL && k < n; k++) {
		ts_token_config_free(st[k].old_config);
		ts_state_free(st[k].old_state);
	}
	free(st);
}

/* "cannot import: FILE:LINE:COL: token 'NAME': WHY; nothing was imported". */
static int entry_refused(const char *origin, const ts_export_entry *e, const char *why)
{
	/* The library's message usually names the token already. */
	if (strncmp(why, "token '", 7) == 0)
		return cli_err(NULL, "cannot import: %s:%d:%d: %s; nothing was imported", origin, e->line,
			       e->column, why);
	return cli_err(NULL, "cannot import: %s:%d:%d: token '%s': %s; nothing was imported", origin,
		       e->line, e->column, e->config->name ? e->config->name : "?", why);
}

/*
 * Phase 1, the same for --dry-run and a real import: every check that the
 * store would make while writing is made here, so that a refusal changes
 * nothing and the dry run predicts it. CLI_EXIT_OK, or the error printed.
 */
static int import_plan(import_step *st, ts_ctx *ctx, const ts_export *doc, const char *origin,
		       bool overwrite)
{
	ts_store *store = ts_ctx_store(ctx);
	ts_error err = { 0 };
	char why[TS_ERRMSG_MAX + 128];

	for (size_t k = 0; k < doc->n; k++) {
		const ts_export_entry *e = &doc->v[k];
		const char *name = e->config->name;
		int rc;

		memset(&err, 0, sizeof err);
		if (ts_token_config_check(ctx, e->config, &err) != TS_OK)
			return entry_refused(origin, e, err.msg);
		rc = ts_store_load_config(store, name, &st[k].old_config, &err);
		if (rc == TS_ENOTFOUND) {
			st[k].act = ACT_ADD;
			continue;
		}
		if (!overwrite) {
			/* Present (even if unreadable): left alone. */
			st[k].act = ACT_SKIP;
			continue;
		}
		st[k].act = ACT_REPLACE;
		if (rc != TS_OK) {
			snprintf(why, sizeof why, "the token in the store cannot be read, so it cannot be replaced: %s", err.msg);
			return entry_refused(origin, e, why);
		}
		if (strcmp(st[k].old_config->template_name ? st[k].old_config->template_name : "",
			   e->config->template_name ? e->config->template_name : "") != 0) {
			snprintf(why, sizeof why,
				 "field 'template' is permanent: the saved token uses '%s', not '%s'; remove the token first (sasl-oauth2 remove %s) and import again",
				 st[k].old_config->template_name ? st[k].old_config->template_name : "",
				 e->config->template_name ? e->config->template_name : "", name);
			return entry_refused(origin, e, why);
		}
		rc = ts_store_load_state(store, name, &st[k].old_state, &err);
		if (rc != TS_OK && rc != TS_ENOTFOUND) {
			snprintf(why, sizeof why, "the state in the store cannot be read, so it cannot be replaced: %s", err.msg);
			return entry_refused(origin, e, why);
		}
	}
	return CLI_EXIT_OK;
}

/* Save `s` as the state of `name` under the token's lock. */
static int save_state_locked(ts_ctx *ctx, const char *name, ts_state *s, ts_error *err)
{
	ts_store *store = ts_ctx_store(ctx);
	ts_lock *lk = NULL;
	int rc;

	if ((rc = ts_store_lock(store, name, ts_lock_wait_ms(ts_ctx_config(ctx)), &lk, err)) != TS_OK)
		return rc;
	rc = ts_store_save_state(store, name, s, err);
	ts_store_unlock(store, lk);
	return rc;
}

/* Write one entry. */
static int import_apply(ts_ctx *ctx, const ts_export_entry *e, ts_error *err)
{
	int rc;

	if ((rc = ts_store_save_config(ts_ctx_store(ctx), e->config, err)) != TS_OK)
		return rc;
	return e->state ? save_state_locked(ctx, e->config->name, e->state, err) : TS_OK;
}

/* Put entry k back as it was: an added token goes, a replaced one gets its
 * configuration and state again (a state it did not have goes with a
 * remove and a new save of the configuration). */
static int import_undo(ts_ctx *ctx, const ts_export_entry *e, const import_step *st, ts_error *err)
{
	ts_store *store = ts_ctx_store(ctx);
	int rc;

	if (st->act == ACT_ADD) {
		rc = ts_store_remove(store, e->config->name, err);
		return rc == TS_ENOTFOUND ? TS_OK : rc;
	}
	if (st->old_state == NULL && e->state != NULL &&
	    (rc = ts_store_remove(store, e->config->name, err)) != TS_OK && rc != TS_ENOTFOUND)
		return rc;
	if ((rc = ts_store_save_config(store, st->old_config, err)) != TS_OK)
		return rc;
	return st->old_state ? save_state_locked(ctx, e->config->name, st->old_state, err) : TS_OK;
}

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
	import_step *st = NULL;
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
	if ((st = calloc(doc->n + 1, sizeof *st)) == NULL) {
		rc = cli_err(NULL, "out of memory");
		goto cleanup;
	}
	/* Phase 1: check everything; the store is not touched. */
	if ((rc = import_plan(st, ctx, doc, origin, overwrite)) != CLI_EXIT_OK)
		goto cleanup;
	rc = CLI_EXIT_FAIL;
	/* Phase 2: apply; a failure (a full disk, a lock held too long) puts
	 * back what was done, so the import is all or nothing. */
	for (k = 0; k < doc->n && !dry_run; k++) {
		const char *name = doc->v[k].config->name;
		ts_error uerr = { 0 };
		size_t j;

		if (st[k].act == ACT_SKIP || import_apply(ctx, &doc->v[k], &err) == TS_OK)
			continue;
		for (j = k + 1; j-- > 0;)
			if (st[j].act != ACT_SKIP && import_undo(ctx, &doc->v[j], &st[j], &uerr) != TS_OK)
				break;
		if (uerr.code != TS_OK)
			rc = cli_err(name, "import failed: %s; putting back the entries before it failed too (%s): check the store with: %s list",
				     err.msg, uerr.msg, CLI_PROG);
		else
			rc = cli_err(name, "import failed: %s; the store was put back as it was, nothing was imported",
				     err.msg);
		goto cleanup;
	}
	for (k = 0; k < doc->n; k++) {
		const ts_export_entry *e = &doc->v[k];
		const char *name = e->config->name;

		if (st[k].act == ACT_SKIP) {
			printf("%s %s: token '%s' exists (use --overwrite to replace it)\n",
			       dry_run ? "would skip" : "skipped", name, name);
			skipped++;
			continue;
		}
		if (dry_run)
			printf("would %s %s%s\n", st[k].act == ACT_ADD ? "add" : "replace", name,
			       e->state ? " (with state)" : "");
		else
			printf("%s %s%s\n", st[k].act == ACT_ADD ? "added" : "replaced", name,
			       e->state ? " (with state)" : "");
		if (st[k].act == ACT_ADD)
			added++;
		else
			replaced++;
	}
	printf("%s%zu added, %zu replaced, %zu skipped\n", dry_run ? "dry run, nothing changed: " : "",
	       added, replaced, skipped);
	rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
cleanup:
	steps_free(st, doc ? doc->n : 0);
	ts_export_free(doc);
	ts_free_secret(text);
	ts_ctx_close(ctx);
	cli_parser_free(&p);
	return rc;
}
