/*
 * cmd_manage.c - the commands that manage token configurations: templates,
 * add, edit, list, show and remove. Every change is checked completely
 * (ts_token_config_check) before the one atomic write, so a refused command
 * leaves the store as it was.
 */
#include "config.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---------------------------------------------------------------------- */
/* Shared pieces                                                            */

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int print_json(json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_NOSLASHESCAPE);

	fputs(s, stdout);
	fputc('\n', stdout);
	return fflush(stdout) == 0 ? CLI_EXIT_OK : cli_err(NULL, "cannot write to standard output");
}

static void jstr(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static void jint(json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static json_object *jlist(const ts_strlist *l)
{
	json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; i < l->n; i++)
		json_object_array_add(a, json_object_new_string(l->v[i]));
	return a;
}

/* Apply --set KEY=VALUE arguments; refuses secrets and the template. */
static int apply_sets(ts_token_config *c, char **sets, int nsets, const char *name, const char *cmd)
{
	int i;

	for (i = 0; i < nsets; i++) {
		char *kv = sets[i];
		char *eq = strchr(kv, '=');
		char key[128];
		size_t kl;
		ts_error err = { 0 };

		if (!eq || eq == kv)
			return cli_usage_error(cmd, "--set needs KEY=VALUE, got '%s'", kv);
		kl = (size_t)(eq - kv);
		if (kl >= sizeof key)
			return cli_err(name, "--set: key '%.*s...' is too long", 32, kv);
		memcpy(key, kv, kl);
		key[kl] = '\0';
		if (strcmp(key, "client_secret") == 0)
			return cli_err(name, "--set client_secret: secrets are not accepted on the command line "
				       "(other users can see it); use --client-secret-file FILE or "
				       "--client-secret-file - (stdin)");
		if (strcmp(key, "template") == 0)
			return cli_err(name, "--set template: the template of a token is permanent; "
				       "remove the token and add it again with --template");
		if (strcmp(key, "name") == 0)
			return cli_err(name, "--set name: a token cannot be renamed; "
				       "export it, edit the name and import it");
		if (ts_token_config_set(c, key, eq + 1, &err) != TS_OK)
			return cli_err_ts(name, "invalid --set", &err);
		/* A stored secret would win over the new path: the user
		 * asked for the file, so drop the copy. */
		if (strcmp(key, "client_secret_file") == 0 && eq[1] != '\0') {
			ts_free_secret(c->client_secret);
			c->client_secret = NULL;
		}
	}
	return CLI_EXIT_OK;
}

static int set_one(ts_token_config *c, const char *key, const char *value, const char *name)
{
	ts_error err = { 0 };

	if (ts_token_config_set(c, key, value, &err) != TS_OK)
		return cli_err_ts(name, "invalid value", &err);
	return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------------- */
/* templates                                                                */

/* The templates directory when the context could not be opened (no store
 * yet): the same order as ts_ctx_open, env, config `templates_dir`, the
 * built-in directory. *cfg keeps the configuration the answer points into. */
static const char *templates_dir_fallback(ts_ctx *ctx, const cli_global *g, ts_global_config **cfg)
{
	const char *d, *path;
	ts_error err = { 0 };

	if (ctx && ts_ctx_templates_dir(ctx))
		return ts_ctx_templates_dir(ctx);
	d = getenv("SASL_OAUTH2_TEMPLATES");
	if (d && *d)
		return d;
	path = g->config_path;
	if (!path || !*path)
		path = getenv("SASL_OAUTH2_CONFIG");
	if (!path || !*path)
		path = SYSCONFDIR "/sasl-oauth2/sasl-oauth2.conf";
	if (ts_global_config_load(cfg, path, &err) == TS_OK && (*cfg)->templates_dir)
		return (*cfg)->templates_dir;
	return TEMPLATESDIR;
}

static void print_list_line(const char *label, const ts_strlist *l)
{
	char *j;

	if (l->n == 0)
		return;
	j = ts_strlist_join(l, " ");
	printf("%-18s %s\n", label, j ? j : "");
	free(j);
}

int cmd_templates(const cli_global *g, int argc, char **argv)
{
	static const cli_opt opts[] = { { NULL, 0, false, 0 } };
	cli_parser p;
	ts_ctx *ctx = NULL;
	ts_open_opts o;
	ts_error err = { 0 };
	ts_strlist names = { 0 };
	ts_template *t = NULL;
	ts_global_config *gcfg = NULL;
	const char *dir;
	int rc = CLI_EXIT_FAIL, id;
	size_t i;

	if (cli_parser_init(&p, "templates", argc, argv, opts) != 0)
		return cli_err(NULL, "out of memory");
	while ((id = cli_parser_next(&p)) > 0)
		;
	if ((rc = cli_parser_done(id)) != CLI_GO_ON)
		goto cleanup;
	if (p.npos > 1) {
		rc = cli_usage_error("templates", "too many arguments");
		goto cleanup;
	}
	/* Templates do not need a store: do not create one, and fall back
	 * to the built-in directory when the store cannot be opened. */
	memset(&o, 0, sizeof o);
	o.config_path = g->config_path;
	o.store_dir = g->store_dir;
	if (ts_ctx_open(&ctx, &o, &err) != TS_OK)
		ctx = NULL;
	dir = templates_dir_fallback(ctx, g, &gcfg);

	if (p.npos == 0) {
		if (ts_template_list(&names, dir, &err) != TS_OK) {
			rc = cli_err_ts(NULL, "cannot list templates", &err);
			goto cleanup;
		}
		for (i = 0; i < names.n; i++) {
			ts_template_free(t);
			t = NULL;
			if (ts_template_load(&t, dir, names.v[i], &err) != TS_OK)
				printf("%-26s (unreadable: %s)\n", names.v[i], err.msg);
			else
				printf("%-26s %s\n", names.v[i], t->description ? t->description : "");
		}
		rc = fflush(stdout) == 0 ? CLI_EXIT_OK : cli_err(NULL, "cannot write to standard output");
		goto cleanup;
	}
	if (ts_template_load(&t, dir, p.pos[0], &err) != TS_OK) {
		rc = cli_err_ts(p.pos[0], "cannot load template", &err);
		goto cleanup;
	}
	printf("%-18s %s\n", "name", t->name ? t->name : p.pos[0]);
	if (t->description)
		printf("%-18s %s\n", "description", t->description);
	if (t->auth_url)
		printf("%-18s %s\n", "auth_url", t->auth_url);
	if (t->token_url)
		printf("%-18s %s\n", "token_url", t->token_url);
	if (t->device_url)
		printf("%-18s %s\n", "device_url", t->device_url);
	if (t->revoke_url)
		printf("%-18s %s\n", "revoke_url", t->revoke_url);
	print_list_line("scope", &t->scope);
	print_list_line("scope (imap)", &t->scope_imap);
	print_list_line("scope (pop)", &t->scope_pop);
	print_list_line("scope (smtp)", &t->scope_smtp);
	print_list_line("scope (app-only)", &t->client_credentials_scope);
	print_list_line("hosts", &t->hosts);
	if (t->servers.imap)
		printf("%-18s %s\n", "servers.imap", t->servers.imap);
	if (t->servers.pop3)
		printf("%-18s %s\n", "servers.pop3", t->servers.pop3);
	if (t->servers.smtp)
		printf("%-18s %s\n", "servers.smtp", t->servers.smtp);
	if (t->client_auth != TS_CLIENT_AUTH_UNSET)
		printf("%-18s %s\n", "client_auth", ts_client_auth_str(t->client_auth));
	if (t->flow != TS_FLOW_UNSET)
		printf("%-18s %s\n", "flow", ts_flow_str(t->flow));
	printf("%-18s %s\n", "needs tenant", t->needs_tenant ?
	       (t->default_tenant ? "yes (default given below)" : "yes (--tenant required)") : "no");
	if (t->default_tenant)
		printf("%-18s %s\n", "default tenant", t->default_tenant);
	printf("%-18s %s\n", "refresh rotates", t->refresh_token_rotates ? "yes" : "no");
	for (i = 0; i < t->auth_params.n; i++)
		printf("auth_params.%-6s %s\n", t->auth_params.v[i].key, t->auth_params.v[i].value);
	rc = fflush(stdout) == 0 ? CLI_EXIT_OK : cli_err(NULL, "cannot write to standard output");
cleanup:
	ts_template_free(t);
	ts_strlist_clear(&names);
	ts_global_config_free(gcfg);
	ts_ctx_close(ctx);
	cli_parser_free(&p);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* add                                                                      */

enum { O_TEMPLATE = 1, O_USER, O_CLIENT_ID, O_SECRET_FILE, O_TENANT, O_FLOW, O_SCOPE, O_SET,
       O_JSON, O_REVOKE, O_NAMES, O_FOR };

/* add --for imap,smtp: the union of the template's per-service scopes for
 * those services, in the template's order, each once. */
static int scopes_for(ts_token_config *c, ts_ctx *ctx, const char *services, const char *name)
{
	ts_template *t = NULL;
	ts_strlist want = { 0 };
	ts_error err = { 0 };
	int rc = CLI_EXIT_FAIL;
	size_t i, j, k;

	if (c->flow == TS_FLOW_CLIENT_CREDENTIALS) {
		rc = cli_usage_error("add", "--for chooses delegated scopes; an app-only token "
				     "(client_credentials) uses the template's client_credentials_scope");
		goto cleanup;
	}
	if (ts_ctx_template_load(&t, ctx, c->template_name, &err) != TS_OK) {
		rc = cli_err_ts(name, "cannot add", &err);
		goto cleanup;
	}
	{
		char *copy = strdup(services), *save = NULL, *tok;

		for (tok = copy ? strtok_r(copy, ", ", &save) : NULL; tok;
		     tok = strtok_r(NULL, ", ", &save))
			if (ts_strlist_add(&want, tok) != TS_OK)
				break;
		if (copy == NULL || tok != NULL) {
			free(copy);
			rc = cli_err(name, "out of memory");
			goto cleanup;
		}
		free(copy);
	}
	ts_strlist_clear(&c->scope);
	for (i = 0; i < want.n; i++) {
		const ts_strlist *l;

		if (strcmp(want.v[i], "imap") == 0)
			l = &t->scope_imap;
		else if (strcmp(want.v[i], "pop") == 0 || strcmp(want.v[i], "pop3") == 0)
			l = &t->scope_pop;
		else if (strcmp(want.v[i], "smtp") == 0)
			l = &t->scope_smtp;
		else {
			rc = cli_usage_error("add", "--for: unknown service '%s'; use a comma list of "
					     "imap, pop and smtp", want.v[i]);
			goto cleanup;
		}
		if (l->n == 0) {
			rc = cli_err(name, "cannot add: template '%s' lists no scopes for %s; give "
				     "the scopes with --scope", c->template_name, want.v[i]);
			goto cleanup;
		}
		for (j = 0; j < l->n; j++) {
			for (k = 0; k < c->scope.n && strcmp(c->scope.v[k], l->v[j]) != 0; k++)
				;
			if (k == c->scope.n && ts_strlist_add(&c->scope, l->v[j]) != TS_OK) {
				rc = cli_err(name, "out of memory");
				goto cleanup;
			}
		}
	}
	if (want.n == 0) {
		rc = cli_usage_error("add", "--for needs a comma list of imap, pop and smtp");
		goto cleanup;
	}
	c->scope_set = true;
	rc = CLI_EXIT_OK;
cleanup:
	ts_strlist_clear(&want);
	ts_template_free(t);
	return rc;
}

/* Set *slot to `url` unless the user gave the key; a copy. */
static int fill_url(char **slot, const char *url)
{
	if (*slot != NULL || url == NULL)
		return 0;
	*slot = strdup(url);
	return *slot ? 0 : -1;
}

/* issuer (the token's, else its template's): fill the endpoints the user
 * did not give from the provider's metadata, once, now. */
static int discover_endpoints(ts_token_config *c, ts_ctx *ctx, const char *name)
{
	ts_template *t = NULL;
	oa2_discovery *d = NULL;
	ts_error err = { 0 };
	const char *issuer = c->issuer;
	int rc = CLI_EXIT_FAIL;

	if (issuer == NULL) {
		if (ts_ctx_template_load(&t, ctx, c->template_name, &err) != TS_OK)
			return CLI_EXIT_OK; /* the configuration check names the template */
		issuer = t->issuer;
	}
	if (issuer == NULL) {
		rc = CLI_EXIT_OK;
		goto cleanup;
	}
	if (oa2_discover(&d, ctx, issuer, &err) != TS_OK) {
		rc = cli_err_ts(name, "cannot add", &err);
		goto cleanup;
	}
	if (fill_url(&c->auth_url, d->authorization_endpoint) ||
	    fill_url(&c->token_url, d->token_endpoint) ||
	    fill_url(&c->device_url, d->device_authorization_endpoint) ||
	    fill_url(&c->revoke_url, d->revocation_endpoint)) {
		rc = cli_err(name, "out of memory");
		goto cleanup;
	}
	printf("endpoints of issuer %s: token %s%s%s\n", issuer, c->token_url,
	       c->auth_url ? ", authorization " : "", c->auth_url ? c->auth_url : "");
	rc = CLI_EXIT_OK;
cleanup:
	oa2_discovery_free(d);
	ts_template_free(t);
	return rc;
}

int cmd_add(const cli_global *g, int argc, char **argv)
{
	static const cli_opt opts[] = {
		{ "template", 0, true, O_TEMPLATE },
		{ "user", 0, true, O_USER },
		{ "client-id", 0, true, O_CLIENT_ID },
		{ "client-secret-file", 0, true, O_SECRET_FILE },
		{ "client-secret", 0, true, -100 },
		{ "tenant", 0, true, O_TENANT },
		{ "flow", 0, true, O_FLOW },
		{ "scope", 0, true, O_SCOPE },
		{ "set", 0, true, O_SET },
		{ "for", 0, true, O_FOR },
		{ NULL, 0, false, 0 },
	};
	cli_parser p;
	const char *tmpl = NULL, *user = NULL, *client_id = NULL, *secret_file = NULL;
	const char *tenant = NULL, *flow = NULL, *services = NULL, *name;
	char **sets = NULL, **scopes = NULL;
	int nsets = 0, nscopes = 0, id, rc = CLI_EXIT_FAIL, i;
	ts_ctx *ctx = NULL;
	ts_token_config *c = NULL, *old = NULL;
	ts_error err = { 0 };
	char *secret = NULL;

	if (cli_parser_init(&p, "add", argc, argv, opts) != 0)
		return cli_err(NULL, "out of memory");
	sets = calloc((size_t)argc + 1, sizeof *sets);
	scopes = calloc((size_t)argc + 1, sizeof *scopes);
	if (!sets || !scopes) {
		rc = cli_err(NULL, "out of memory");
		goto cleanup;
	}
	while ((id = cli_parser_next(&p)) > 0) {
		switch (id) {
		case O_TEMPLATE: tmpl = p.arg; break;
		case O_USER: user = p.arg; break;
		case O_CLIENT_ID: client_id = p.arg; break;
		case O_SECRET_FILE: secret_file = p.arg; break;
		case O_TENANT: tenant = p.arg; break;
		case O_FLOW: flow = p.arg; break;
		case O_SCOPE: scopes[nscopes++] = (char *)p.arg; break;
		case O_SET: sets[nsets++] = (char *)p.arg; break;
		case O_FOR: services = p.arg; break;
		}
	}
	if (id == -100 || (id < 0 && id != CLI_OPT_ERR && id != CLI_OPT_HELP)) {
		rc = cli_err(NULL, "add: --client-secret is not accepted (the command line is visible to "
			     "other users); use --client-secret-file FILE or --client-secret-file - (stdin)");
		goto cleanup;
	}
	if ((rc = cli_one_name(&name, &p, id)) != CLI_GO_ON)
		goto cleanup;
	if (!tmpl) {
		rc = cli_usage_error("add", "missing --template T (list them with: sasl-oauth2 templates)");
		goto cleanup;
	}
	if (ts_token_config_new(&c, name, &err) != TS_OK) {
		rc = cli_err_ts(name, "add", &err);
		goto cleanup;
	}
	c->template_name = xstrdup(tmpl);
	if (!c->template_name) {
		rc = cli_err(name, "out of memory");
		goto cleanup;
	}
	if ((user && (rc = set_one(c, "user", user, name)) != 0) ||
	    (client_id && (rc = set_one(c, "client_id", client_id, name)) != 0) ||
	    (tenant && (rc = set_one(c, "tenant", tenant, name)) != 0) ||
	    (flow && (rc = set_one(c, "flow", flow, name)) != 0))
		goto cleanup;
	if (nscopes > 0) {
		ts_strlist_clear(&c->scope);
		for (i = 0; i < nscopes; i++)
			if (ts_strlist_add(&c->scope, scopes[i]) != TS_OK) {
				rc = cli_err(name, "out of memory");
				goto cleanup;
			}
		c->scope_set = true;
	}
	if ((rc = apply_sets(c, sets, nsets, name, "add")) != CLI_EXIT_OK)
		goto cleanup;
	if (services && c->scope_set) {
		rc = cli_usage_error("add", "give either --for SERVICES (the template's scopes for "
				     "them) or --scope/--set scope=..., not both");
		goto cleanup;
	}
	if (secret_file && c->client_secret_file) {
		rc = cli_usage_error("add", "give either --client-secret-file (stores the secret) or "
				     "--set client_secret_file=PATH (keeps a path), not both");
		goto cleanup;
	}
	rc = CLI_EXIT_FAIL;
	if ((rc = cli_ctx_open(&ctx, g, TS_STORE_CREATE, name)) != CLI_EXIT_OK)
		goto cleanup;
	rc = CLI_EXIT_FAIL;
	if (ts_store_load_config(ts_ctx_store(ctx), name, &old, &err) == TS_OK) {
		rc = cli_err(name, "cannot add: a token with this name already exists; use edit or remove first");
		goto cleanup;
	} else if (err.code != TS_ENOTFOUND) {
		rc = cli_err_ts(name, "cannot add", &err);
		goto cleanup;
	}
	if (secret_file) {
		if (cli_read_secret(&secret, secret_file, &err) != TS_OK) {
			rc = cli_err_ts(name, "cannot read the client secret", &err);
			goto cleanup;
		}
		c->client_secret = secret;
		secret = NULL;
	}
	memset(&err, 0, sizeof err);
	if (services && (rc = scopes_for(c, ctx, services, name)) != CLI_EXIT_OK)
		goto cleanup;
	if ((rc = discover_endpoints(c, ctx, name)) != CLI_EXIT_OK)
		goto cleanup;
	rc = CLI_EXIT_FAIL;
	if (ts_token_config_check(ctx, c, &err) != TS_OK) {
		rc = cli_err_ts(name, "cannot add", &err);
		goto cleanup;
	}
	if (ts_store_save_config(ts_ctx_store(ctx), c, &err) != TS_OK) {
		rc = err.code == TS_EEXIST ?
			cli_err(name, "cannot add: a token with this name already exists; use edit or remove first") :
			cli_err_ts(name, "cannot save", &err);
		goto cleanup;
	}
	printf("added token '%s' (template %s)\n", name, tmpl);
	printf("next: %s authorize %s\n", CLI_PROG, name);
	rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
cleanup:
	ts_free_secret(secret);
	ts_token_config_free(c);
	ts_token_config_free(old);
	ts_ctx_close(ctx);
	free(sets);
	free(scopes);
	cli_parser_free(&p);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* edit                                                                     */

int cmd_edit(const cli_global *g, int argc, char **argv)
{
	static const cli_opt opts[] = {
		{ "set", 0, true, O_SET },
		{ "client-secret-file", 0, true, O_SECRET_FILE },
		{ NULL, 0, false, 0 },
	};
	cli_parser p;
	char **sets = NULL;
	int nsets = 0, id, rc = CLI_EXIT_FAIL;
	const char *name, *secret_file = NULL;
	ts_ctx *ctx = NULL;
	ts_token_config *c = NULL;
	ts_error err = { 0 };
	char *secret = NULL;

	if (cli_parser_init(&p, "edit", argc, argv, opts) != 0)
		return cli_err(NULL, "out of memory");
	sets = calloc((size_t)argc + 1, sizeof *sets);
	if (!sets) {
		rc = cli_err(NULL, "out of memory");
		goto cleanup;
	}
	while ((id = cli_parser_next(&p)) > 0) {
		if (id == O_SET)
			sets[nsets++] = (char *)p.arg;
		else if (id == O_SECRET_FILE)
			secret_file = p.arg;
	}
	if ((rc = cli_one_name(&name, &p, id)) != CLI_GO_ON)
		goto cleanup;
	if (nsets == 0 && !secret_file) {
		rc = cli_usage_error("edit", "nothing to change; give --set KEY=VALUE");
		goto cleanup;
	}
	if ((rc = cli_ctx_open(&ctx, g, 0, name)) != CLI_EXIT_OK)
		goto cleanup;
	rc = CLI_EXIT_FAIL;
	if (ts_store_load_config(ts_ctx_store(ctx), name, &c, &err) != TS_OK) {
		rc = cli_err_ts(name, "cannot edit", &err);
		goto cleanup;
	}
	if ((rc = apply_sets(c, sets, nsets, name, "edit")) != CLI_EXIT_OK)
		goto cleanup;
	rc = CLI_EXIT_FAIL;
	if (secret_file) {
		if (cli_read_secret(&secret, secret_file, &err) != TS_OK) {
			rc = cli_err_ts(name, "cannot read the client secret", &err);
			goto cleanup;
		}
		ts_free_secret(c->client_secret);
		c->client_secret = secret;
		secret = NULL;
		/* The stored secret replaces a path to one. */
		free(c->client_secret_file);
		c->client_secret_file = NULL;
	}
	if (ts_token_config_check(ctx, c, &err) != TS_OK) {
		rc = cli_err_ts(name, "cannot edit", &err);
		goto cleanup;
	}
	if (ts_store_save_config(ts_ctx_store(ctx), c, &err) != TS_OK) {
		rc = cli_err_ts(name, "cannot save", &err);
		goto cleanup;
	}
	printf("updated token '%s'\n", name);
	rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
cleanup:
	ts_free_secret(secret);
	ts_token_config_free(c);
	ts_ctx_close(ctx);
	free(sets);
	cli_parser_free(&p);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* list                                                                     */

static const char *short_time(char *buf, size_t size, int64_t t)
{
	char full[64];

	if (t <= 0) {
		snprintf(buf, size, "-");
		return buf;
	}
	cli_fmt_time(full, sizeof full, t);
	/* "YYYY-MM-DD HH:MM" is enough for a table. */
	snprintf(buf, size, "%.16s", full);
	return buf;
}

static const char *refresh_expiry(char *buf, size_t size, const ts_state *s)
{
	if (!s || !s->refresh_token)
		snprintf(buf, size, "none");
	else if (s->refresh_expires_at <= 0)
		snprintf(buf, size, "unknown");
	else
		short_time(buf, size, s->refresh_expires_at);
	return buf;
}

static const char *validity_of(const cli_status *st)
{
	if (st->eff)
		return ts_validity_str(st->eff->validity);
	if (st->config && st->config->validity != TS_VALIDITY_UNSET)
		return ts_validity_str(st->config->validity);
	return st->config ? "valid" : "?";
}

int cmd_list(const cli_global *g, int argc, char **argv)
{
	static const cli_opt opts[] = { { "json", 0, false, O_JSON }, { "names", 0, false, O_NAMES },
					{ NULL, 0, false, 0 } };
	enum { NCOL = 7 };
	static const char *heads[NCOL] = { "NAME", "TEMPLATE", "USER", "VALIDITY", "EXPIRES",
					   "REFRESH-EXPIRES", "STATUS" };
	cli_parser p;
	bool json = false, names_only = false;
	int id, rc = CLI_EXIT_FAIL;
	ts_ctx *ctx = NULL;
	ts_strlist names = { 0 };
	ts_error err = { 0 };
	json_object *arr = NULL;
	char (*cells)[NCOL][160] = NULL;
	size_t w[NCOL], i, k;

	if (cli_parser_init(&p, "list", argc, argv, opts) != 0)
		return cli_err(NULL, "out of memory");
	while ((id = cli_parser_next(&p)) > 0) {
		if (id == O_JSON)
			json = true;
		else
			names_only = true;
	}
	if ((rc = cli_parser_done(id)) != CLI_GO_ON)
		goto cleanup;
	if (p.npos > 0) {
		rc = cli_usage_error("list", "unexpected argument '%s'", p.pos[0]);
		goto cleanup;
	}
	if (json && names_only) {
		rc = cli_usage_error("list", "--json and --names exclude each other");
		goto cleanup;
	}
	if ((rc = cli_ctx_open(&ctx, g, 0, NULL)) != CLI_EXIT_OK)
		goto cleanup;
	rc = CLI_EXIT_FAIL;
	if (ts_store_list(ts_ctx_store(ctx), &names, &err) != TS_OK) {
		rc = cli_err_ts(NULL, "cannot list tokens", &err);
		goto cleanup;
	}
	/* Names only (for shell completion): no state is read, nothing else printed. */
	if (names_only) {
		for (i = 0; i < names.n; i++)
			printf("%s\n", names.v[i]);
		rc = fflush(stdout) == 0 ? CLI_EXIT_OK : cli_err(NULL, "cannot write to standard output");
		goto cleanup;
	}
	cells = calloc(names.n + 1, sizeof *cells);
	arr = json_object_new_array();
	if (!cells || !arr) {
		rc = cli_err(NULL, "out of memory");
		goto cleanup;
	}
	for (k = 0; k < NCOL; k++) {
		snprintf(cells[0][k], sizeof cells[0][k], "%s", heads[k]);
		w[k] = strlen(heads[k]);
	}
	for (i = 0; i < names.n; i++) {
		cli_status st;
		const char *tmpl, *user;
		json_object *o;
		int64_t exp = 0;

		cli_status_eval(&st, ctx, names.v[i]);
		tmpl = st.config && st.config->template_name ? st.config->template_name : "?";
		user = st.eff && st.eff->user ? st.eff->user :
		       st.config && st.config->user ? st.config->user : "-";
		if (st.state)
			exp = st.state->expires_at;
		snprintf(cells[i + 1][0], sizeof cells[0][0], "%s", names.v[i]);
		snprintf(cells[i + 1][1], sizeof cells[0][1], "%s", tmpl);
		snprintf(cells[i + 1][2], sizeof cells[0][2], "%s", user);
		snprintf(cells[i + 1][3], sizeof cells[0][3], "%s", validity_of(&st));
		if (st.state && st.state->access_token)
			short_time(cells[i + 1][4], sizeof cells[0][4], exp);
		else
			snprintf(cells[i + 1][4], sizeof cells[0][4], "-");
		refresh_expiry(cells[i + 1][5], sizeof cells[0][5], st.state);
		snprintf(cells[i + 1][6], sizeof cells[0][6], "%.150s", st.text);
		for (k = 0; k < NCOL - 1; k++)
			if (strlen(cells[i + 1][k]) > w[k])
				w[k] = strlen(cells[i + 1][k]);

		o = json_object_new_object();
		jstr(o, "name", names.v[i]);
		jstr(o, "template", st.config ? st.config->template_name : NULL);
		jstr(o, "user", st.eff ? st.eff->user : st.config ? st.config->user : NULL);
		jstr(o, "validity", validity_of(&st));
		jint(o, "expires_at", st.state ? st.state->expires_at : 0);
		jint(o, "refresh_expires_at", st.state ? st.state->refresh_expires_at : 0);
		json_object_object_add(o, "has_refresh_token",
				       json_object_new_boolean(st.state && st.state->refresh_token));
		jstr(o, "status", st.text);
		jint(o, "level", st.level);
		json_object_array_add(arr, o);
		cli_status_clear(&st);
	}
	if (json) {
		rc = print_json(arr);
		goto cleanup;
	}
	if (names.n == 0) {
		printf("no tokens in %s; add one with: %s add NAME --template T\n",
		       ts_ctx_store_path(ctx), CLI_PROG);
	} else {
		for (i = 0; i <= names.n; i++) {
			for (k = 0; k < NCOL - 1; k++)
				printf("%-*s  ", (int)w[k], cells[i][k]);
			printf("%s\n", cells[i][NCOL - 1]);
		}
	}
	rc = fflush(stdout) == 0 ? CLI_EXIT_OK : cli_err(NULL, "cannot write to standard output");
cleanup:
	json_object_put(arr);
	free(cells);
	ts_strlist_clear(&names);
	ts_ctx_close(ctx);
	cli_parser_free(&p);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* show                                                                     */

static void show_line(const char *k, const char *v)
{
	printf("%-20s %s\n", k, v && *v ? v : "-");
}

static void show_list(const char *k, const ts_strlist *l)
{
	char *j = ts_strlist_join(l, " ");

	show_line(k, j);
	free(j);
}

static void notify_text(char *buf, size_t size, unsigned n)
{
	unsigned bit;
	size_t len = 0;

	buf[0] = '\0';
	for (bit = 1; bit <= TS_NOTIFY_REFRESH_FAILED; bit <<= 1)
		if (n & bit) {
			int w = snprintf(buf + len, size - len, "%s%s", len ? " " : "",
					 ts_notify_event_str(bit));
			if (w < 0 || (size_t)w >= size - len)
				break;
			len += (size_t)w;
		}
	if (!len)
		snprintf(buf, size, "none");
}

int cmd_show(const cli_global *g, int argc, char **argv)
{
	static const cli_opt opts[] = { { "json", 0, false, O_JSON }, { NULL, 0, false, 0 } };
	cli_parser p;
	bool json = false;
	int id, rc = CLI_EXIT_FAIL;
	ts_ctx *ctx = NULL;
	ts_error err = { 0 };
	cli_status st;
	const char *name;
	char b1[128], b2[128];
	int64_t now = ts_now();
	bool st_init = false;

	if (cli_parser_init(&p, "show", argc, argv, opts) != 0)
		return cli_err(NULL, "out of memory");
	while ((id = cli_parser_next(&p)) > 0)
		json = true;
	if ((rc = cli_one_name(&name, &p, id)) != CLI_GO_ON ||
	    (rc = cli_ctx_open(&ctx, g, 0, name)) != CLI_EXIT_OK)
		goto cleanup;
	rc = CLI_EXIT_FAIL;
	{
		ts_token_config *c = NULL;

		if (ts_store_load_config(ts_ctx_store(ctx), name, &c, &err) != TS_OK) {
			rc = cli_err_ts(name, "cannot show", &err);
			goto cleanup;
		}
		ts_token_config_free(c);
	}
	cli_status_eval(&st, ctx, name);
	st_init = true;

	if (json) {
		json_object *o = json_object_new_object(), *cfg = json_object_new_object();
		json_object *state = NULL;
		const ts_token_config *c = st.config;
		const ts_token_effective *e = st.eff;

		jstr(o, "name", name);
		if (e) {
			jstr(cfg, "template", e->template_name);
			jstr(cfg, "user", e->user);
			json_object_object_add(cfg, "users", jlist(&e->users));
			jstr(cfg, "client_id", e->client_id);
			jstr(cfg, "client_secret", e->client_secret ? "********" : NULL);
			jstr(cfg, "client_secret_file", c ? c->client_secret_file : NULL);
			jstr(cfg, "tenant", e->tenant);
			jstr(cfg, "flow", ts_flow_str(e->flow));
			jstr(cfg, "auth_url", e->auth_url);
			jstr(cfg, "token_url", e->token_url);
			jstr(cfg, "device_url", e->device_url);
			jstr(cfg, "revoke_url", e->revoke_url);
			jstr(cfg, "redirect_uri", e->redirect_uri);
			json_object_object_add(cfg, "scope", jlist(&e->scope));
			jstr(cfg, "validity", ts_validity_str(e->validity));
			notify_text(b1, sizeof b1, e->notify);
			jstr(cfg, "notify", b1);
			jint(cfg, "refresh_margin", e->refresh_margin);
			jstr(cfg, "client_auth", ts_client_auth_str(e->client_auth));
			{
				json_object *sv = json_object_new_object();
				jstr(sv, "imap", e->servers.imap);
				jstr(sv, "pop3", e->servers.pop3);
				jstr(sv, "smtp", e->servers.smtp);
				json_object_object_add(cfg, "servers", sv);
			}
			json_object_object_add(cfg, "hosts", jlist(&e->hosts));
		} else if (c) {
			jstr(cfg, "template", c->template_name);
			jstr(cfg, "user", c->user);
			jstr(cfg, "client_id", c->client_id);
			jstr(cfg, "client_secret", c->client_secret ? "********" : NULL);
			jstr(cfg, "client_secret_file", c->client_secret_file);
		}
		json_object_object_add(o, "config", cfg);
		if (st.state) {
			const ts_state *s = st.state;

			state = json_object_new_object();
			jstr(state, "access_token", s->access_token ? "********" : NULL);
			jstr(state, "token_type", s->token_type);
			jint(state, "expires_at", s->expires_at);
			jstr(state, "refresh_token", s->refresh_token ? "********" : NULL);
			jint(state, "refresh_expires_at", s->refresh_expires_at);
			jstr(state, "scope", s->scope);
			jint(state, "last_refresh", s->last_refresh);
			jint(state, "last_attempt", s->last_attempt);
			jstr(state, "last_error", s->last_error);
			json_object_object_add(state, "refresh_token_dead", json_object_new_boolean(s->refresh_token_dead));
			json_object_object_add(state, "access_rejected", json_object_new_boolean(s->access_rejected));
		}
		json_object_object_add(o, "state", state);
		jstr(o, "status", st.text);
		jint(o, "level", st.level);
		rc = print_json(o);
		json_object_put(o);
	} else {
		const ts_token_config *c = st.config;
		const ts_token_effective *e = st.eff;

		show_line("name", name);
		if (e) {
			show_line("template", e->template_name);
			show_line("user", e->user);
			if (e->users.n > 0)
				show_list("users", &e->users);
			show_line("client_id", e->client_id);
			if (c && c->client_secret_file)
				printf("%-20s ******** (from %s)\n", "client_secret", c->client_secret_file);
			else
				show_line("client_secret", e->client_secret ? "********" : "none (public client)");
			show_line("tenant", e->tenant);
			show_line("flow", ts_flow_str(e->flow));
			show_line("client_auth", ts_client_auth_str(e->client_auth));
			show_line("auth_url", e->auth_url);
			show_line("token_url", e->token_url);
			show_line("device_url", e->device_url);
			show_line("revoke_url", e->revoke_url);
			show_line("redirect_uri", e->redirect_uri ? e->redirect_uri : "http://127.0.0.1:<port>/");
			show_list("scope", &e->scope);
			for (size_t i = 0; i < e->auth_params.n; i++) {
				char k[160];
				snprintf(k, sizeof k, "auth_params.%s", e->auth_params.v[i].key);
				show_line(k, e->auth_params.v[i].value);
			}
			show_line("validity", ts_validity_str(e->validity));
			notify_text(b1, sizeof b1, e->notify);
			show_line("notify", b1);
			snprintf(b2, sizeof b2, "%ld s", e->refresh_margin);
			show_line("refresh_margin", b2);
			show_line("servers.imap", e->servers.imap);
			show_line("servers.pop3", e->servers.pop3);
			show_line("servers.smtp", e->servers.smtp);
			if (e->hosts.n > 0)
				show_list("hosts", &e->hosts);
			else
				show_line("hosts", "any (no restriction)");
		} else if (c) {
			show_line("template", c->template_name);
			show_line("user", c->user);
			show_line("client_id", c->client_id);
			if (c->client_secret_file)
				printf("%-20s ******** (from %s)\n", "client_secret", c->client_secret_file);
			else if (c->client_secret)
				show_line("client_secret", "********");
		}
		if (st.state) {
			const ts_state *s = st.state;

			show_line("access_token", s->access_token ? "********" : "none");
			show_line("token_type", s->token_type);
			show_line("expires", cli_fmt_when(b1, sizeof b1, s->expires_at, now));
			show_line("refresh_token", s->refresh_token ? "********" : "none");
			if (s->refresh_token)
				show_line("refresh_expires", s->refresh_expires_at > 0 ?
					  cli_fmt_when(b1, sizeof b1, s->refresh_expires_at, now) : "unknown");
			show_line("granted scope", s->scope);
			show_line("last refresh", cli_fmt_when(b1, sizeof b1, s->last_refresh, now));
			show_line("last attempt", cli_fmt_when(b1, sizeof b1, s->last_attempt, now));
			show_line("last error", s->last_error);
		}
		show_line("status", st.text);
		rc = fflush(stdout) == 0 ? CLI_EXIT_OK : cli_err(NULL, "cannot write to standard output");
	}
	/* A configuration or state that cannot be used is an error, after
	 * showing what could be shown. */
	if (rc == CLI_EXIT_OK && st.broken)
		rc = cli_err(name, "%s", st.text);
cleanup:
	if (st_init)
		cli_status_clear(&st);
	ts_ctx_close(ctx);
	cli_parser_free(&p);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* remove                                                                   */

int cmd_remove(const cli_global *g, int argc, char **argv)
{
	static const cli_opt opts[] = { { "revoke", 0, false, O_REVOKE }, { NULL, 0, false, 0 } };
	cli_parser p;
	bool revoke = false;
	int id, rc = CLI_EXIT_FAIL;
	ts_ctx *ctx = NULL;
	ts_token_config *c = NULL;
	ts_token_effective *eff = NULL;
	ts_state *s = NULL;
	ts_error err = { 0 };
	const char *name;

	if (cli_parser_init(&p, "remove", argc, argv, opts) != 0)
		return cli_err(NULL, "out of memory");
	while ((id = cli_parser_next(&p)) > 0)
		revoke = true;
	if ((rc = cli_one_name(&name, &p, id)) != CLI_GO_ON ||
	    (rc = cli_ctx_open(&ctx, g, 0, name)) != CLI_EXIT_OK)
		goto cleanup;
	rc = CLI_EXIT_FAIL;
	if (ts_store_load_config(ts_ctx_store(ctx), name, &c, &err) != TS_OK && err.code == TS_ENOTFOUND) {
		rc = cli_err_ts(name, "cannot remove", &err);
		goto cleanup;
	}
	if (revoke) {
		memset(&err, 0, sizeof err);
		if (!c || ts_token_resolve(&eff, ctx, c, &err) != TS_OK) {
			rc = cli_err_ts(name, "cannot revoke (nothing removed; remove without --revoke to skip revocation)", &err);
			goto cleanup;
		}
		if (ts_store_load_state(ts_ctx_store(ctx), name, &s, &err) != TS_OK || !s ||
		    (!s->refresh_token && !s->access_token)) {
			printf("token '%s' has no stored tokens; nothing to revoke\n", name);
		} else if (!eff->revoke_url) {
			printf("token '%s' has no revoke_url; not revoked at the provider "
			       "(revoke the app's access in the provider's account settings)\n", name);
		} else {
			const char *hint = s->refresh_token ? "refresh_token" : "access_token";
			const char *tok = s->refresh_token ? s->refresh_token : s->access_token;

			if (oa2_revoke(ctx, eff, tok, hint, &err) != TS_OK) {
				rc = cli_err_ts(name, "revocation failed, nothing removed", &err);
				goto cleanup;
			}
			printf("revoked the %s of token '%s'\n",
			       s->refresh_token ? "refresh token" : "access token", name);
		}
	}
	if (ts_store_remove(ts_ctx_store(ctx), name, &err) != TS_OK) {
		rc = cli_err_ts(name, "cannot remove", &err);
		goto cleanup;
	}
	printf("removed token '%s'\n", name);
	rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
cleanup:
	ts_state_free(s);
	ts_token_effective_free(eff);
	ts_token_config_free(c);
	ts_ctx_close(ctx);
	cli_parser_free(&p);
	return rc;
}
