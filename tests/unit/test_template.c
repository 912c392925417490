/*
 * test_template.c - every shipped template loads from $top_srcdir/templates,
 * {tenant} substitution, and resolution of tokens against templates.
 */
#include <config.h>

#include "unit.h"

static char tdir[512];

static ts_ctx *open_ctx(const char *store)
{
	ts_open_opts o;
	ts_ctx *ctx = NULL;
	ts_error e;

	memset(&o, 0, sizeof(o));
	o.store_dir = store;
	o.templates_dir = tdir;
	o.config_path = NULL;
	o.store_flags = TS_STORE_CREATE;
	if (ts_ctx_open(&ctx, &o, &e) != TS_OK)
		tap_diag("ctx: %s", e.msg);
	return ctx;
}

static ts_token_config *cfg(const char *tpl, const char *const *sets)
{
	ts_token_config *c = NULL;
	ts_error e;

	ts_token_config_new(&c, "t", &e);
	c->template_name = strdup(tpl);
	for (; sets && *sets; sets += 2)
		if (ts_token_config_set(c, sets[0], sets[1], &e) != TS_OK)
			tap_diag("set %s: %s", sets[0], e.msg);
	return c;
}

int main(void)
{
	static const char *const shipped[] = {
		"generic", "google", "microsoft-china", "microsoft-common", "microsoft-consumers",
		"microsoft-organizations", "microsoft-usgov",
	};
	const char *top = getenv("top_srcdir");
	const char *store;
	ts_strlist names = { NULL, 0 };
	ts_template *t = NULL;
	ts_token_effective *eff = NULL;
	ts_token_config *c;
	ts_ctx *ctx;
	ts_error e;
	char *s = NULL;
	size_t i;
	int rc;

	/* The build's copy (templates/local.mk), with installed modes. */
	if (getenv("top_builddir") != NULL)
		snprintf(tdir, sizeof(tdir), "%s/tests/templates", getenv("top_builddir"));
	else
		snprintf(tdir, sizeof(tdir), "%s/templates", top ? top : "../..");
	store = unit_tmpdir();

	rc = ts_template_list(&names, tdir, &e);
	tap_ok(rc == TS_OK && names.n >= sizeof(shipped) / sizeof(shipped[0]), "templates listed");
	for (i = 0; i < sizeof(shipped) / sizeof(shipped[0]); i++) {
		size_t k;
		int found = 0;

		for (k = 0; k < names.n; k++)
			found |= strcmp(names.v[k], shipped[i]) == 0;
		tap_ok(found, "template %s is listed", shipped[i]);
	}
	for (i = 1; i < names.n; i++)
		tap_ok(strcmp(names.v[i - 1], names.v[i]) < 0, "list sorted at %zu", i);
	for (i = 0; i < names.n; i++) {
		memset(&e, 0, sizeof(e));
		rc = ts_template_load(&t, tdir, names.v[i], &e);
		if (!tap_ok(rc == TS_OK, "template %s loads", names.v[i]))
			tap_diag("%s", e.msg);
		else
			tap_ok(t->description != NULL && t->client_auth != TS_CLIENT_AUTH_UNSET,
			       "template %s has a description and client_auth", names.v[i]);
		ts_template_free(t);
		t = NULL;
	}
	ts_strlist_clear(&names);

	/* Facts of the main templates. */
	rc = ts_template_load(&t, tdir, "google", &e);
	if (tap_ok(rc == TS_OK, "google loads")) {
		TAP_STREQ(t->token_url, "https://oauth2.googleapis.com/token", "google token_url");
		TAP_STREQ(t->revoke_url, "https://oauth2.googleapis.com/revoke", "google revoke_url");
		tap_ok(t->client_auth == TS_CLIENT_AUTH_POST && !t->refresh_token_rotates && !t->needs_tenant,
		       "google: post, no rotation, no tenant");
		TAP_STREQ(ts_kvlist_get(&t->auth_params, "access_type"), "offline", "google access_type");
		TAP_STREQ(ts_kvlist_get(&t->auth_params, "prompt"), "consent", "google prompt");
		TAP_STREQ(t->servers.smtp, "smtp.gmail.com:587", "google smtp");
	}
	ts_template_free(t);
	rc = ts_template_load(&t, tdir, "microsoft-common", &e);
	if (tap_ok(rc == TS_OK, "microsoft-common loads")) {
		tap_ok(t->needs_tenant && t->default_tenant && strcmp(t->default_tenant, "common") == 0,
		       "microsoft-common: tenant with default common");
		tap_ok(t->refresh_token_rotates && t->revoke_url == NULL, "microsoft: rotates, no revoke");
		tap_ok(t->scope.n == 4 && strcmp(t->scope.v[0], "offline_access") == 0, "microsoft scopes");
		TAP_STREQ(t->servers.pop3, "outlook.office365.com:995", "microsoft pop3");
	}
	ts_template_free(t);
	rc = ts_template_load(&t, tdir, "microsoft-organizations", &e);
	tap_ok(rc == TS_OK && t->needs_tenant && t->default_tenant == NULL, "organizations needs a tenant");
	ts_template_free(t);
	rc = ts_template_load(&t, tdir, "generic", &e);
	tap_ok(rc == TS_OK && t->auth_url == NULL && t->client_auth == TS_CLIENT_AUTH_BASIC,
	       "generic: no URLs, basic");
	ts_template_free(t);
	t = NULL;
	memset(&e, 0, sizeof(e));
	rc = ts_template_load(&t, tdir, "nosuch", &e);
	UNIT_ERR(rc, e, TS_ENOTFOUND, "nosuch", "google", "unknown template names the available ones");
	rc = ts_template_load(&t, tdir, "../etc/passwd", &e);
	tap_ok(rc == TS_EINVAL, "template name with a slash refused");

	/* Substitution. */
	rc = ts_template_subst(&s, "https://h/{tenant}/a/{tenant}", "contoso.com", &e);
	TAP_STREQ(rc == TS_OK ? s : NULL, "https://h/contoso.com/a/contoso.com", "tenant substituted twice");
	free(s);
	rc = ts_template_subst(&s, "https://h/x", NULL, &e);
	TAP_STREQ(rc == TS_OK ? s : NULL, "https://h/x", "URL without {tenant} needs none");
	free(s);
	memset(&e, 0, sizeof(e));
	rc = ts_template_subst(&s, "https://h/{tenant}/x", NULL, &e);
	UNIT_ERR(rc, e, TS_EINVAL, "tenant", NULL, "missing tenant refused");
	rc = ts_template_subst(&s, "https://h/{tenant}/x", "", &e);
	UNIT_ERR(rc, e, TS_EINVAL, "tenant", NULL, "empty tenant refused");
	rc = ts_template_subst(&s, "https://h/{tenant}/x", "a/b", &e);
	UNIT_ERR(rc, e, TS_EINVAL, "'/'", NULL, "tenant with a slash refused");
	rc = ts_template_subst(&s, "https://h/{tenant}/x", "a?b", &e);
	UNIT_ERR(rc, e, TS_EINVAL, "'?'", NULL, "tenant with ? refused");

	/* Template parse errors. */
	{
		static const struct {
			const char *doc, *want;
		} bad[] = {
			{ "name: x\nfoo: 1\n", "x.yaml:2:1: field 'foo'" },
			{ "name: y\n", "does not match" },
			{ "name: x\nauth_url: http://evil/{tenant}\n", "field 'auth_url'" },
			{ "name: x\nscopes: {nntp: [a]}\n", "field 'scopes'" },
			{ "name: x\nrefresh_token_rotates: maybe\n", "field 'refresh_token_rotates'" },
			{ "name: x\ndefault_tenant: a/b\n", "field 'default_tenant'" },
		};
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			t = NULL;
			memset(&e, 0, sizeof(e));
			rc = ts_template_parse(&t, bad[i].doc, strlen(bad[i].doc), "x.yaml", "x", &e);
			UNIT_ERR(rc, e, TS_EINVAL, bad[i].want, NULL, "bad template refused");
		}
	}

	/* Resolution through a context. */
	if ((ctx = open_ctx(store)) == NULL) {
		tap_ok(0, "context opens");
		return tap_done();
	}
	{
		static const char *const s1[] = { "client_id", "cid", NULL };
		c = cfg("microsoft-common", s1);
		rc = ts_token_resolve(&eff, ctx, c, &e);
		if (tap_ok(rc == TS_OK, "microsoft-common resolves with the default tenant")) {
			TAP_STREQ(eff->token_url, "https://login.microsoftonline.com/common/oauth2/v2.0/token",
				  "default tenant substituted");
			tap_ok(eff->client_auth == TS_CLIENT_AUTH_NONE, "no secret: public client");
			tap_ok(eff->validity == TS_VALIDITY_VALID && eff->notify == TS_NOTIFY_ALL &&
				       eff->refresh_margin == 900 && eff->refresh_token_rotates,
			       "defaults: valid, notify all, the template's margin (900 s, HVE) "
			       "over the global 300 s, rotation");
			tap_ok(eff->flow == TS_FLOW_AUTHORIZATION_CODE, "flow from template");
		} else {
			tap_diag("%s", e.msg);
		}
		ts_token_effective_free(eff);
		ts_token_config_free(c);
	}
	{
		static const char *const s2[] = { "client_id", "cid", "client_secret", "x", NULL };
		c = cfg("microsoft-organizations", s2);
		memset(&e, 0, sizeof(e));
		rc = ts_token_resolve(&eff, ctx, c, &e);
		UNIT_ERR(rc, e, TS_EINVAL, "tenant", "token 't'", "organizations without a tenant refused");
		ts_token_config_set(c, "tenant", "contoso.onmicrosoft.com", &e);
		rc = ts_token_resolve(&eff, ctx, c, &e);
		tap_ok(rc == TS_OK && unit_has(eff->auth_url, "/contoso.onmicrosoft.com/oauth2/v2.0/authorize") &&
			       eff->client_auth == TS_CLIENT_AUTH_POST,
		       "organizations with a tenant resolves, client_auth from template");
		ts_token_effective_free(eff);
		eff = NULL;
		rc = ts_token_config_check(ctx, c, &e);
		tap_ok(rc == TS_OK, "config check passes");
		ts_token_config_free(c);
	}
	{
		static const char *const s3[] = { "client_id", "cid", NULL };
		c = cfg("generic", s3);
		memset(&e, 0, sizeof(e));
		rc = ts_token_resolve(&eff, ctx, c, &e);
		UNIT_ERR(rc, e, TS_EINVAL, "token_url", NULL, "generic without token_url refused");
		ts_token_config_set(c, "token_url", "http://127.0.0.1:9/token", &e);
		memset(&e, 0, sizeof(e));
		rc = ts_token_resolve(&eff, ctx, c, &e);
		UNIT_ERR(rc, e, TS_EINVAL, "auth_url", NULL, "authorization_code without auth_url refused");
		ts_token_config_set(c, "flow", "device_code", &e);
		rc = ts_token_resolve(&eff, ctx, c, &e);
		UNIT_ERR(rc, e, TS_EINVAL, "device_url", NULL, "device_code without device_url refused");
		ts_token_config_set(c, "device_url", "http://127.0.0.1:9/device", &e);
		ts_token_config_set(c, "refresh_margin", "0", &e);
		ts_token_config_set(c, "client_auth", "basic", &e);
		rc = ts_token_resolve(&eff, ctx, c, &e);
		UNIT_ERR(rc, e, TS_EINVAL, "client_auth", "secret", "basic without a secret refused");
		ts_token_config_set(c, "client_auth", "", &e);
		rc = ts_token_resolve(&eff, ctx, c, &e);
		tap_ok(rc == TS_OK && eff->refresh_margin == 0, "token refresh_margin 0 wins over global");
		ts_token_effective_free(eff);
		eff = NULL;
		/* client_secret_file */
		{
			char sp[600];

			snprintf(sp, sizeof(sp), "%s/secret", store);
			unit_write(sp, "file-secret\n", 0644);
			ts_token_config_set(c, "client_secret_file", sp, &e);
			memset(&e, 0, sizeof(e));
			rc = ts_token_resolve(&eff, ctx, c, &e);
			UNIT_ERR(rc, e, TS_EPERM, "chmod 600", sp, "world-readable secret file refused");
			rc = ts_token_config_check(ctx, c, &e);
			tap_ok(rc == TS_OK, "config check does not read the secret file");
			chmod(sp, 0600);
			rc = ts_token_resolve(&eff, ctx, c, &e);
			tap_ok(rc == TS_OK && eff->client_secret && strcmp(eff->client_secret, "file-secret") == 0 &&
				       eff->client_auth == TS_CLIENT_AUTH_BASIC,
			       "secret read from file (newline stripped), generic defaults to basic");
			ts_token_effective_free(eff);
			eff = NULL;
		}
		ts_token_config_free(c);
	}
	{
		static const char *const s4[] = { "client_id", "cid", NULL };
		c = cfg("nosuch", s4);
		memset(&e, 0, sizeof(e));
		rc = ts_token_resolve(&eff, ctx, c, &e);
		UNIT_ERR(rc, e, TS_ENOTFOUND, "nosuch", "field 'template'", "unknown template in a token refused");
		rc = ts_token_config_check(ctx, c, &e);
		tap_ok(rc == TS_ENOTFOUND, "config check refuses an unknown template");
		ts_token_config_free(c);
	}
	/* Loading through the context's descriptor works even if cwd changes. */
	if (chdir("/") == 0) {
		rc = ts_ctx_template_load(&t, ctx, "google", &e);
		tap_ok(rc == TS_OK, "template loads through the context descriptor");
		ts_template_free(t);
	}
	ts_ctx_close(ctx);
	return tap_done();
}
