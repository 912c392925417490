/* test_export.c - export documents: round trip with/without secrets, duplicates, errors. */
#include <config.h>

#include "unit.h"

int main(void)
{
	static const struct {
		const char *doc, *want1, *want2;
	} bad[] = {
		{ "tokens: []\n", "sasl-oauth2-export", "missing" },
		{ "sasl-oauth2-export: 2\ntokens: []\n", "x.yaml:1:21", "sasl-oauth2-export" },
		{ "sasl-oauth2-export: 1\ntokens:\n  - name: a\n    template: generic\n  - name: a\n    template: generic\n",
		  "x.yaml:5:5", "first at line 3" },
		{ "sasl-oauth2-export: 1\ntokens:\n  - name: a\n    templat: generic\n", "x.yaml:4:5", "field 'templat'" },
		{ "sasl-oauth2-export: 1\ntokens:\n  - name: a\n", "x.yaml:3:5", "field 'template'" },
		{ "sasl-oauth2-export: 1\ntokens:\n  - name: a/b\n    template: generic\n", "x.yaml:3:11", "field 'name'" },
		{ "sasl-oauth2-export: 1\ntokens:\n  - name: a\n    template: generic\n    refresh_margin: x\n",
		  "x.yaml:5:21", "field 'refresh_margin'" },
		{ "sasl-oauth2-export: 1\ntokens:\n  - name: a\n    template: generic\n    state:\n      expires_at: soon\n",
		  "x.yaml:6:19", "field 'expires_at'" },
		{ "sasl-oauth2-export: 1\ntokens:\n  - name: a\n    template: generic\n    state:\n      bogus: 1\n",
		  "x.yaml:6:7", "field 'bogus'" },
		{ "sasl-oauth2-export: 1\ntokens:\n  - name: a\n    template: generic\n    state: 5\n", "x.yaml:5:12",
		  "field 'state'" },
		{ "sasl-oauth2-export: 1\ntokens: {a: 1}\n", "x.yaml:2:9", "list" },
		{ "sasl-oauth2-export: 1\nextra: 1\n", "x.yaml:2:1", "field 'extra'" },
		{ "sasl-oauth2-export: 1\ntokens:\n  - [\n", "x.yaml:", "syntax" },
		{ "", "x.yaml", "not a sasl-oauth2 export" },
	};
	ts_export *ex = NULL, *ex2 = NULL;
	ts_token_config *c = NULL;
	ts_state *s = NULL;
	char *text = NULL, *text2 = NULL;
	ts_error e;
	size_t i;
	int rc;

	ts_export_new(&ex, &e);
	ts_token_config_new(&c, "work", &e);
	c->template_name = strdup("microsoft-common");
	ts_token_config_set(c, "client_id", "cid", &e);
	ts_token_config_set(c, "client_secret", "sec: ret #1", &e);
	ts_token_config_set(c, "scope", "offline_access,x", &e);
	ts_state_new(&s, &e);
	s->access_token = strdup("at-123");
	s->refresh_token = strdup("rt-456");
	s->token_type = strdup("Bearer");
	s->expires_at = 1790000000;
	s->generation = 7;
	tap_ok(ts_export_add(ex, c, s, &e) == TS_OK, "entry added");
	free(c->name);
	c->name = strdup("home");
	ts_token_config_set(c, "client_secret", "", &e);
	ts_token_config_set(c, "client_secret_file", "/etc/secret", &e);
	tap_ok(ts_export_add(ex, c, NULL, &e) == TS_OK, "entry without state added");

	rc = ts_export_emit(&text, ex, false, &e);
	tap_ok(rc == TS_OK && !unit_has(text, "sec: ret") && !unit_has(text, "rt-456") && !unit_has(text, "state"),
	       "export without secrets has no secret and no state");
	tap_ok(unit_has(text, "/etc/secret"), "client_secret_file stays a path");
	rc = ts_export_parse(&ex2, text, strlen(text), "plain.yaml", &e);
	tap_ok(rc == TS_OK && ex2->n == 2 && ex2->v[0].state == NULL && ex2->v[0].config->client_secret == NULL,
	       "plain export parses back");
	tap_ok(ex2 && ex2->v[0].line == 3 && ex2->v[1].line > 3, "entries carry their line numbers");
	ts_export_free(ex2);
	ex2 = NULL;
	ts_free_secret(text);

	rc = ts_export_emit(&text, ex, true, &e);
	tap_ok(rc == TS_OK && unit_has(text, "sec: ret #1") && unit_has(text, "rt-456"), "export with secrets");
	rc = ts_export_parse(&ex2, text, strlen(text), "full.yaml", &e);
	if (tap_ok(rc == TS_OK && ex2->n == 2, "full export parses back")) {
		TAP_STREQ(ex2->v[0].config->client_secret, "sec: ret #1", "secret with YAML specials survives");
		tap_ok(ex2->v[0].state && strcmp(ex2->v[0].state->refresh_token, "rt-456") == 0 &&
			       ex2->v[0].state->expires_at == 1790000000 && ex2->v[0].state->generation == 7,
		       "state survives");
		tap_ok(ex2->v[1].state == NULL, "entry without state has none");
		rc = ts_export_emit(&text2, ex2, true, &e);
		tap_ok(rc == TS_OK && strcmp(text, text2) == 0, "round trip is identical");
	} else {
		tap_diag("%s", e.msg);
	}
	ts_free_secret(text);
	ts_free_secret(text2);
	ts_export_free(ex2);
	ts_export_free(ex);

	rc = ts_export_parse(&ex, "sasl-oauth2-export: 1\ntokens: []\n", 32, "empty.yaml", &e);
	tap_ok(rc == TS_OK && ex->n == 0, "empty token list is fine");
	ts_export_free(ex);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ex = NULL;
		memset(&e, 0, sizeof(e));
		rc = ts_export_parse(&ex, bad[i].doc, strlen(bad[i].doc), "x.yaml", &e);
		UNIT_ERR(rc, e, TS_EINVAL, bad[i].want1, bad[i].want2, "bad export refused with position");
		tap_ok(ex == NULL, "nothing returned for bad export %zu", i);
	}
	ts_token_config_free(c);
	ts_state_free(s);
	return tap_done();
}
