/*
 * test_config.c - token and global configuration parsing (yaml_config.c),
 * emitting (yaml_emit.c), ts_token_config_set and ts_url_check.
 */
#include <config.h>

#include "unit.h"

struct bad {
	const char *doc;
	const char *pos;   /* "LINE:COL" expected in the message */
	const char *field; /* expected "field 'X'" part, or another substring */
};

static const struct bad bad_tokens[] = {
	{ "name: a\ntemplate: generic\n  bad: [\n", "t.yaml:3:", "syntax" },
	{ "name: a\nfoo: 1\n", "t.yaml:2:1", "field 'foo': unknown key" },
	{ "name: a\nclient_id: [x]\n", "t.yaml:2:12", "field 'client_id': expected a string" },
	{ "name: a\nflow: implicit\n", "t.yaml:2:7", "field 'flow'" },
	{ "name: a\nvalidity: maybe\n", "t.yaml:2:11", "field 'validity'" },
	{ "name: a\nclient_auth: jwt\n", "t.yaml:2:14", "field 'client_auth'" },
	{ "name: a\nrefresh_margin: -5\n", "t.yaml:2:17", "field 'refresh_margin'" },
	{ "name: a\nrefresh_margin: soon\n", "t.yaml:2:17", "field 'refresh_margin'" },
	{ "name: a\nrefresh_margin: \"30\"\n", "t.yaml:2:17", "field 'refresh_margin'" },
	{ "name: a\ntoken_url: http://example.com/token\n", "t.yaml:2:12", "field 'token_url'" },
	{ "name: a\ntoken_url: ftp://example.com/token\n", "t.yaml:2:12", "field 'token_url'" },
	{ "name: a\nauth_url: https://user@example.com/\n", "t.yaml:2:11", "field 'auth_url'" },
	{ "name: a\nauth_url: https://exa mple.com/\n", "t.yaml:2:11", "field 'auth_url'" },
	{ "name: a\nauth_url: https://example.com:99999/\n", "t.yaml:2:11", "field 'auth_url'" },
	{ "name: a/b\n", "t.yaml:1:7", "field 'name'" },
	{ "name: .x\n", "t.yaml:1:7", "field 'name'" },
	{ "template: generic\n", "t.yaml:1:1", "field 'name': is missing" },
	{ "name: a\nname: b\n", "t.yaml:2:1", "given twice" },
	{ "name: a\ntenant: \"a/b\"\n", "t.yaml:2:9", "field 'tenant'" },
	{ "name: a\ntenant: ''\n", "t.yaml:2:9", "field 'tenant'" },
	{ "name: a\nclient_secret_file: secret.txt\n", "t.yaml:2:21", "field 'client_secret_file'" },
	{ "name: a\nservers:\n  imap: imap.example.com\n", "t.yaml:3:9", "field 'servers.imap'" },
	{ "name: a\nservers:\n  nntp: x:119\n", "t.yaml:3:3", "field 'servers'" },
	{ "name: a\nservers: imap\n", "t.yaml:2:10", "field 'servers'" },
	{ "name: a\nnotify: [token_expired, bogus]\n", "t.yaml:2:9", "field 'notify'" },
	{ "name: a\nscope: {a: b}\n", "t.yaml:2:8", "field 'scope'" },
	{ "name: a\nauth_params:\n  prompt: [x]\n", "t.yaml:3:11", "field 'auth_params.prompt'" },
	{ "name: a\nauth_params:\n  \"bad key\": x\n", "t.yaml:3:3", "field 'auth_params'" },
	{ "name: a\nuser: ~\n", "t.yaml:2:7", "field 'user'" },
	{ "- name: a\n", "t.yaml:1:1", "mapping" },
	{ "name: a\n---\nname: b\n", "t.yaml:", "second YAML document" },
	{ "name: a\nstate: {}\n", "t.yaml:2:1", "field 'state': unknown key" },
	{ "", "t.yaml", "empty" },
};

static const struct bad bad_globals[] = {
	{ "http_timeout: 0\n", "g.conf:1:15", "field 'http_timeout'" },
	{ "http_timeout: 301\n", "g.conf:1:15", "field 'http_timeout'" },
	{ "refresh_margin: -1\n", "g.conf:1:17", "field 'refresh_margin'" },
	{ "log: journald\n", "g.conf:1:6", "field 'log'" },
	{ "store: relative/dir\n", "g.conf:1:8", "field 'store'" },
	{ "ca_bundle: [x]\n", "g.conf:1:12", "field 'ca_bundle'" },
	{ "pop3_split_hosts: [\"a b\"]\n", "g.conf:1:19", "field 'pop3_split_hosts'" },
	{ "pop3_split_hosts: [\"x.*.com\"]\n", "g.conf:1:19", "field 'pop3_split_hosts'" },
	{ "proxy: nothing\n", "g.conf:1:8", "field 'proxy'" },
	{ "stor: /x\n", "g.conf:1:1", "field 'stor': unknown key" },
	{ "[1, 2]\n", "g.conf:1:1", "mapping" },
	{ "log: syslog\nlog: stderr\n", "g.conf:2:1", "given twice" },
	{ "a: [\n", "g.conf:", "syntax" },
};

static void test_good_token(void)
{
	static const char doc[] =
		"# a comment\n"
		"name: alice@example.com\n"
		"template: microsoft-common\n"
		"user: alice@example.com\n"
		"client_id: \"0123\"\n"
		"client_secret: s3cr3t\n"
		"tenant: contoso.onmicrosoft.com\n"
		"flow: device_code\n"
		"token_url: http://127.0.0.1:8080/token\n"
		"scope: offline_access https://outlook.office.com/IMAP.AccessAsUser.All\n"
		"validity: invalid-temporarily\n"
		"notify: [token_expired, refresh_failed]\n"
		"refresh_margin: 0\n"
		"servers:\n  imap: imap.example.com:993\n  smtp: '[::1]:587'\n"
		"client_auth: basic\n"
		"auth_params:\n  prompt: consent\n  login_hint: \"yes\"\n";
	ts_token_config *c = NULL, *c2 = NULL;
	char *text = NULL, *text2 = NULL;
	ts_error e;
	int rc;

	memset(&e, 0, sizeof(e));
	rc = ts_token_config_parse(&c, doc, strlen(doc), "good.yaml", &e);
	if (!tap_ok(rc == TS_OK, "valid token configuration parses")) {
		tap_diag("%s", e.msg);
		return;
	}
	TAP_STREQ(c->name, "alice@example.com", "name");
	TAP_STREQ(c->client_id, "0123", "quoted number kept as string");
	tap_ok(c->flow == TS_FLOW_DEVICE_CODE, "flow");
	tap_ok(c->scope.n == 2 && strcmp(c->scope.v[1], "https://outlook.office.com/IMAP.AccessAsUser.All") == 0,
	       "scope string split on spaces");
	tap_ok(c->scope_set, "scope_set");
	tap_ok(c->notify == (TS_NOTIFY_TOKEN_EXPIRED | TS_NOTIFY_REFRESH_FAILED) && c->notify_set, "notify bits");
	tap_ok(c->refresh_margin == 0, "refresh_margin 0 allowed");
	TAP_STREQ(c->servers.smtp, "[::1]:587", "IPv6 server");
	TAP_STREQ(ts_kvlist_get(&c->auth_params, "login_hint"), "yes", "auth param");
	tap_ok(c->validity == TS_VALIDITY_INVALID_TEMPORARILY, "validity");

	rc = ts_token_config_emit(&text, c, false, &e);
	tap_ok(rc == TS_OK && !unit_has(text, "s3cr3t"), "emit without secrets omits client_secret");
	ts_free_secret(text);
	text = NULL;
	rc = ts_token_config_emit(&text, c, true, &e);
	tap_ok(rc == TS_OK && unit_has(text, "s3cr3t"), "emit with secrets includes client_secret");
	tap_ok(unit_has(text, "client_id: \"0123\""), "number-like string is quoted on output");
	tap_ok(unit_has(text, "login_hint: \"yes\""), "boolean-like string is quoted on output");
	rc = ts_token_config_parse(&c2, text, strlen(text), "emitted", &e);
	tap_ok(rc == TS_OK, "emitted YAML parses again");
	if (rc == TS_OK) {
		rc = ts_token_config_emit(&text2, c2, true, &e);
		tap_ok(rc == TS_OK && strcmp(text, text2) == 0, "emit/parse/emit is stable");
	}
	ts_free_secret(text);
	ts_free_secret(text2);
	ts_token_config_free(c2);
	c2 = NULL;

	/* dup */
	rc = ts_token_config_dup(&c2, c, &e);
	tap_ok(rc == TS_OK && strcmp(c2->client_secret, "s3cr3t") == 0 && c2->auth_params.n == 2,
	       "dup copies everything");
	ts_token_config_free(c2);
	ts_token_config_free(c);
}

static void test_set(void)
{
	static const struct {
		const char *key, *value;
		int rc;
		const char *msg;
	} cases[] = {
		{ "user", "bob@example.com", TS_OK, NULL },
		{ "client_id", "abc", TS_OK, NULL },
		{ "refresh_margin", "0", TS_OK, NULL },
		{ "refresh_margin", "-1", TS_EINVAL, "field 'refresh_margin'" },
		{ "refresh_margin", "12x", TS_EINVAL, "field 'refresh_margin'" },
		{ "scope", "a,b c", TS_OK, NULL },
		{ "notify", "token_expired,refresh_failed", TS_OK, NULL },
		{ "notify", "token_expired,nope", TS_EINVAL, "field 'notify'" },
		{ "flow", "client_credentials", TS_OK, NULL },
		{ "flow", "password", TS_EINVAL, "field 'flow'" },
		{ "validity", "invalid", TS_OK, NULL },
		{ "client_auth", "none", TS_OK, NULL },
		{ "token_url", "https://example.com/t", TS_OK, NULL },
		{ "token_url", "http://example.com/t", TS_EINVAL, "field 'token_url'" },
		{ "servers.imap", "imap.example.com:993", TS_OK, NULL },
		{ "servers.imap", "imap.example.com", TS_EINVAL, "field 'servers.imap'" },
		{ "servers.nntp", "x:119", TS_EINVAL, "servers.nntp" },
		{ "auth_params.prompt", "consent", TS_OK, NULL },
		{ "auth_params.", "x", TS_EINVAL, "auth_params" },
		{ "tenant", "a b", TS_EINVAL, "field 'tenant'" },
		{ "client_secret_file", "rel/path", TS_EINVAL, "field 'client_secret_file'" },
		{ "template", "google", TS_EINVAL, "permanent" },
		{ "name", "x", TS_EINVAL, "field 'name'" },
		{ "bogus", "x", TS_EINVAL, "unknown key" },
	};
	ts_token_config *c = NULL;
	ts_error e;
	size_t i;

	tap_ok(ts_token_config_new(&c, "../x", &e) == TS_EINVAL && c == NULL, "new config refuses a bad name");
	tap_ok(ts_token_config_new(&c, "t1", &e) == TS_OK, "new config");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		memset(&e, 0, sizeof(e));
		rc = ts_token_config_set(c, cases[i].key, cases[i].value, &e);
		if (cases[i].rc == TS_OK)
			tap_ok(rc == TS_OK, "set %s=%s", cases[i].key, cases[i].value);
		else
			UNIT_ERR(rc, e, cases[i].rc, cases[i].msg, NULL, "set refused with field named");
	}
	tap_ok(c->refresh_margin == 0, "refresh_margin set to 0");
	tap_ok(c->scope.n == 3, "scope split on commas and spaces");
	tap_ok(c->notify == (TS_NOTIFY_TOKEN_EXPIRED | TS_NOTIFY_REFRESH_FAILED), "notify kept after refused set");
	tap_ok(ts_token_config_set(c, "user", "", &e) == TS_OK && c->user == NULL, "empty value unsets");
	tap_ok(ts_token_config_set(c, "auth_params.prompt", "", &e) == TS_OK && c->auth_params.n == 0,
	       "empty map entry removes it");
	tap_ok(ts_token_config_set(c, "scope", "", &e) == TS_OK && !c->scope_set, "empty scope unsets");
	ts_token_config_free(c);
}

static void test_urls(void)
{
	static const struct {
		const char *url;
		int ok;
	} cases[] = {
		{ "https://example.com", 1 },
		{ "https://example.com/a?b=c#d", 1 },
		{ "HTTPS://EXAMPLE.COM:8443/x", 1 },
		{ "http://127.0.0.1:1234/token", 1 },
		{ "http://localhost/x", 1 },
		{ "http://[::1]:80/x", 1 },
		{ "https://[2001:db8::1]/x", 1 },
		{ "http://example.com/", 0 },
		{ "http://127.0.0.2/", 0 },
		{ "http://localhost.evil.com/", 0 },
		{ "https://", 0 },
		{ "https:///path", 0 },
		{ "https://a b/", 0 },
		{ "https://user:pw@example.com/", 0 },
		{ "example.com/token", 0 },
		{ "javascript:alert(1)", 0 },
		{ "https://example.com:0/", 0 },
		{ "https://example.com:/", 0 },
		{ "https://example.com\n/", 0 },
		{ "", 0 },
	};
	ts_error e;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = ts_url_check(cases[i].url, "token_url", &e);

		tap_ok((rc == TS_OK) == cases[i].ok, "url '%s' %s", cases[i].url,
		       cases[i].ok ? "accepted" : "refused");
	}
	ts_url_check("http://example.com/", "token_url", &e);
	tap_ok(unit_has(e.msg, "token_url") && unit_has(e.msg, "https"), "URL message names the field and the fix");
}

static void test_globals(void)
{
	ts_global_config *g = NULL;
	ts_error e;
	size_t i;
	int rc;
	static const char good[] =
		"store: /var/lib/x\n"
		"templates_dir: /usr/share/x\n"
		"refresh_margin: 60\n"
		"http_timeout: 5\n"
		"ca_bundle: /etc/ssl/ca.pem\n"
		"proxy: http://proxy.example:3128\n"
		"pop3_split_hosts: [pop.example.com, \"*.example.net\", 127.0.0.1]\n"
		"notify_command: logger -t oauth \"$SASL_OAUTH2_TOKEN\"\n"
		"log: stderr\n";

	rc = ts_global_config_default(&g, &e);
	tap_ok(rc == TS_OK && g->refresh_margin == 300 && g->http_timeout == 20 && g->log == TS_LOG_UNSET &&
		       g->pop3_split_hosts.n == 4 && g->path == NULL,
	       "built-in defaults");
	tap_ok(g && ts_host_match(&g->pop3_split_hosts, "POP-MAIL.outlook.com"), "default pop3 hosts match");
	ts_global_config_free(g);
	rc = ts_global_config_parse(&g, "", 0, "empty.conf", &e);
	tap_ok(rc == TS_OK && g->http_timeout == 20, "empty configuration gives defaults");
	ts_global_config_free(g);
	rc = ts_global_config_parse(&g, good, strlen(good), "g.conf", &e);
	if (tap_ok(rc == TS_OK, "full global configuration parses")) {
		tap_ok(g->refresh_margin == 60 && g->http_timeout == 5 && g->log == TS_LOG_STDERR, "numbers and enum");
		tap_ok(g->pop3_split_hosts.n == 3 && ts_host_match(&g->pop3_split_hosts, "a.example.net"),
		       "pop3_split_hosts replaced the default");
		TAP_STREQ(g->store, "/var/lib/x", "store");
		TAP_STREQ(g->path, "g.conf", "path recorded");
	} else {
		tap_diag("%s", e.msg);
	}
	ts_global_config_free(g);
	for (i = 0; i < sizeof(bad_globals) / sizeof(bad_globals[0]); i++) {
		g = NULL;
		memset(&e, 0, sizeof(e));
		rc = ts_global_config_parse(&g, bad_globals[i].doc, strlen(bad_globals[i].doc), "g.conf", &e);
		UNIT_ERR(rc, e, TS_EINVAL, bad_globals[i].pos, bad_globals[i].field, "bad global config refused");
		tap_ok(g == NULL, "no configuration returned on error");
	}
	memset(&e, 0, sizeof(e));
	rc = ts_global_config_load(&g, "/nonexistent/sasl-oauth2.conf", &e);
	tap_ok(rc == TS_ENOTFOUND, "missing file is TS_ENOTFOUND");
}

int main(void)
{
	const char *dir = unit_tmpdir();
	char path[512];
	ts_token_config *c = NULL;
	ts_error e;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(bad_tokens) / sizeof(bad_tokens[0]); i++) {
		c = NULL;
		memset(&e, 0, sizeof(e));
		rc = ts_token_config_parse(&c, bad_tokens[i].doc, strlen(bad_tokens[i].doc), "t.yaml", &e);
		UNIT_ERR(rc, e, TS_EINVAL, bad_tokens[i].pos, bad_tokens[i].field, "bad token config refused");
		tap_ok(c == NULL, "nothing returned for bad document %zu", i);
	}
	test_good_token();
	test_set();
	test_urls();
	test_globals();

	/* Nesting is bounded before libyaml's recursive loader runs. */
	{
		char deep[400];
		int k, o = 0;

		o += snprintf(deep + o, sizeof(deep) - o, "name: ");
		for (k = 0; k < 100; k++)
			deep[o++] = '[';
		for (k = 0; k < 100; k++)
			deep[o++] = ']';
		deep[o] = '\0';
		memset(&e, 0, sizeof(e));
		rc = ts_token_config_parse(&c, deep, strlen(deep), "deep.yaml", &e);
		UNIT_ERR(rc, e, TS_EINVAL, "deep.yaml:1:", "nested more than", "deep nesting refused");
	}

	/* Loading from a file: the name must match the file name. */
	snprintf(path, sizeof(path), "%s/work.yaml", dir);
	unit_write(path, "name: home\ntemplate: generic\n", 0600);
	memset(&e, 0, sizeof(e));
	rc = ts_token_config_load(&c, path, &e);
	UNIT_ERR(rc, e, TS_EINVAL, "work.yaml:1:7", "field 'name'", "name must equal the file name");
	unit_write(path, "name: work\ntemplate: generic\nclient_secret: x\n", 0644);
	rc = ts_token_config_load(&c, path, &e);
	UNIT_ERR(rc, e, TS_EPERM, "chmod 600", path, "world-readable config with a secret refused");
	unit_write(path, "name: work\ntemplate: generic\n", 0644);
	rc = ts_token_config_load(&c, path, &e);
	tap_ok(rc == TS_OK, "readable config without a secret accepted");
	ts_token_config_free(c);
	return tap_done();
}
