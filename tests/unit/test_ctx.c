/* test_ctx.c - context opening: store, config and templates resolution
 * order, the CA bundle, and the client secret files read at open
 * (preload_secrets) for programs that chroot afterwards. */
#include <config.h>

#include <sys/wait.h>

#include "unit.h"

static const char *tmp;

static int open_with(ts_ctx **ctx, const ts_open_opts *o, ts_error *e)
{
	memset(e, 0, sizeof(*e));
	return ts_ctx_open(ctx, o, e);
}

/* What the context logged during the secret preload test. */
static char logged[4096];

static void log_collect(void *arg, ts_log_level level, const char *msg)
{
	size_t n = strlen(logged);

	(void)arg;
	(void)level;
	snprintf(logged + n, sizeof(logged) - n, "%s\n", msg);
}

static void write_token(const char *store, const char *name, const char *secret_file)
{
	char path[700], text[1400];

	snprintf(path, sizeof(path), "%s/%s.yaml", store, name);
	snprintf(text, sizeof(text),
		 "name: %s\ntemplate: generic\nclient_id: app-%s\nclient_secret_file: %s\n"
		 "auth_url: https://id.example.test/authorize\ntoken_url: https://id.example.test/token\n",
		 name, name, secret_file);
	unit_write(path, text, 0600);
}

/* The secret of token `name` as the context resolves it; NULL on error
 * (left in *e). */
static char *effective_secret(ts_ctx *ctx, const char *name, ts_error *e)
{
	ts_token_effective *eff = NULL;
	char *s = NULL;

	memset(e, 0, sizeof(*e));
	if (ts_ctx_token_effective(&eff, ctx, name, e) == TS_OK && eff->client_secret)
		s = strdup(eff->client_secret);
	ts_token_effective_free(eff);
	return s;
}

/*
 * preload_secrets: every token's client_secret_file is read at open, with
 * the permission checks of a refresh, and used afterwards even when the
 * file is gone (a chroot); without it the file is read when needed.
 */
static void test_preload_secrets(void)
{
	char store[600], sec[600], sec_moved[600], bad[600], late[600], tdir[600], cfgfile[600];
	const char *src = getenv("top_srcdir");
	ts_open_opts o;
	ts_ctx *ctx = NULL, *plain = NULL;
	ts_error e;
	char *s;
	int rc;

	/* The build's copy (templates/local.mk), with installed modes. */
	if (getenv("top_builddir") != NULL)
		snprintf(tdir, sizeof(tdir), "%s/tests/templates", getenv("top_builddir"));
	else
		snprintf(tdir, sizeof(tdir), "%s/templates", src && *src ? src : ".");
	snprintf(store, sizeof(store), "%s/secstore", tmp);
	snprintf(sec, sizeof(sec), "%s/client.secret", tmp);
	snprintf(sec_moved, sizeof(sec_moved), "%s/client.secret.moved", tmp);
	snprintf(bad, sizeof(bad), "%s/open.secret", tmp);
	snprintf(late, sizeof(late), "%s/late.secret", tmp);
	snprintf(cfgfile, sizeof(cfgfile), "%s/secstore.conf", tmp);
	unit_write(cfgfile, "refresh_margin: 60\n", 0644);
	mkdir(store, 0700);
	unit_write(sec, "shared-secret-1\n", 0600);
	unit_write(bad, "readable-by-all\n", 0644);
	chmod(bad, 0644);
	write_token(store, "one", sec);
	write_token(store, "two", sec);
	write_token(store, "open", bad);

	memset(&o, 0, sizeof(o));
	o.store_dir = store;
	o.config_path = cfgfile;
	o.templates_dir = tdir;
	o.preload_secrets = true;
	o.log = log_collect;
	logged[0] = '\0';
	rc = open_with(&ctx, &o, &e);
	if (!tap_ok(rc == TS_OK, "preload: context opens although one secret file is unsafe"))
		tap_diag("  %s", e.msg);
	tap_ok(unit_has(logged, "token 'open'") && unit_has(logged, bad) &&
	       !unit_has(logged, "readable-by-all") && !unit_has(logged, "shared-secret-1"),
	       "preload: the unsafe secret file is logged at open, without its content");
	o.preload_secrets = false;
	o.log = NULL;
	rc = open_with(&plain, &o, &e);
	tap_ok(rc == TS_OK, "a context without preload opens");

	/* The file disappears, as it does for a program inside a chroot. */
	if (rename(sec, sec_moved) != 0)
		tap_diag("rename failed");
	write_token(store, "late", late);
	unit_write(late, "late-secret\n", 0600);
	s = effective_secret(ctx, "one", &e);
	tap_ok(s && strcmp(s, "shared-secret-1") == 0, "preload: secret of 'one' from memory after the file went away");
	free(s);
	s = effective_secret(ctx, "two", &e);
	tap_ok(s && strcmp(s, "shared-secret-1") == 0, "preload: a second token naming the same file shares it");
	free(s);
	s = effective_secret(ctx, "late", &e);
	tap_ok(s && strcmp(s, "late-secret") == 0,
	       "preload: a token added after open reads its file when needed");
	free(s);
	s = effective_secret(ctx, "open", &e);
	UNIT_ERR(s ? TS_OK : e.code, e, TS_EPERM, "token 'open'", "client_secret_file",
		 "preload: the unsafe file is still refused when used");
	free(s);
	s = effective_secret(plain, "one", &e);
	UNIT_ERR(s ? TS_OK : e.code, e, TS_ENOTFOUND, "token 'one'", sec,
		 "without preload the secret file is read when needed (and is gone)");
	free(s);
	ts_ctx_close(plain);

	/* Inside a chroot: cached secrets work, the rest says what to do. */
	if (geteuid() == 0) {
		char jail[600];
		int status = 0;
		pid_t pid;

		snprintf(jail, sizeof(jail), "%s/jail", tmp);
		mkdir(jail, 0755);
		pid = fork();
		if (pid == 0) {
			char *in;
			int code = 0;

			if (chroot(jail) != 0 || chdir("/") != 0)
				_exit(10);
			in = effective_secret(ctx, "one", &e);
			if (in == NULL || strcmp(in, "shared-secret-1") != 0)
				code |= 1;
			free(in);
			in = effective_secret(ctx, "late", &e);
			if (in != NULL || e.code != TS_ENOTFOUND || !unit_has(e.msg, "not visible in the chroot") ||
			    !unit_has(e.msg, "postfix reload") ||
			    !unit_has(e.msg, "sasl-oauth2 edit late --client-secret-file"))
				code |= 2;
			free(in);
			in = effective_secret(ctx, "open", &e);
			if (in != NULL || e.code != TS_EPERM || !unit_has(e.msg, "when the plugin was loaded"))
				code |= 4;
			free(in);
			_exit(code);
		}
		waitpid(pid, &status, 0);
		tap_ok(WIFEXITED(status) && (WEXITSTATUS(status) & 1) == 0 && WEXITSTATUS(status) != 10,
		       "chroot: the preloaded secret is used inside the jail");
		tap_ok(WIFEXITED(status) && (WEXITSTATUS(status) & 2) == 0 && WEXITSTATUS(status) != 10,
		       "chroot: a secret file read only now is 'not visible in the chroot', with what to do");
		tap_ok(WIFEXITED(status) && (WEXITSTATUS(status) & 4) == 0 && WEXITSTATUS(status) != 10,
		       "chroot: a file refused at open reports that reason from inside the jail");
	} else {
		tap_ok(1, "chroot: the preloaded secret is used inside the jail # SKIP needs root");
		tap_ok(1, "chroot: a secret file read only now is 'not visible in the chroot' # SKIP needs root");
		tap_ok(1, "chroot: a file refused at open reports that reason # SKIP needs root");
	}
	ts_ctx_close(ctx);
}


int main(void)
{
	char d_flag[600], d_env[600], d_plug[600], d_cfg[600], cfg[600], cfg2[600], xdg[600], home[600], exp[700];
	ts_open_opts o;
	ts_ctx *ctx = NULL;
	ts_error e;
	int rc;

	tmp = unit_tmpdir();
	snprintf(d_flag, sizeof(d_flag), "%s/flag", tmp);
	snprintf(d_env, sizeof(d_env), "%s/env", tmp);
	snprintf(d_plug, sizeof(d_plug), "%s/plug", tmp);
	snprintf(d_cfg, sizeof(d_cfg), "%s/cfgstore", tmp);
	snprintf(cfg, sizeof(cfg), "%s/sasl-oauth2.conf", tmp);
	snprintf(cfg2, sizeof(cfg2), "%s/other.conf", tmp);
	snprintf(xdg, sizeof(xdg), "%s/xdg", tmp);
	snprintf(home, sizeof(home), "%s/home", tmp);
	{
		char text[1200];

		snprintf(text, sizeof(text), "store: %s\nrefresh_margin: 42\nhttp_timeout: 7\n", d_cfg);
		unit_write(cfg, text, 0644);
		unit_write(cfg2, "refresh_margin: 11\n", 0644);
	}
	unsetenv("SASL_OAUTH2_STORE");
	unsetenv("SASL_OAUTH2_CONFIG");

	memset(&o, 0, sizeof(o));
	o.store_flags = TS_STORE_CREATE;
	o.config_path = cfg;
	o.store_dir = d_flag;
	o.plugin_store = d_plug;
	setenv("SASL_OAUTH2_STORE", d_env, 1);
	rc = open_with(&ctx, &o, &e);
	tap_ok(rc == TS_OK && strcmp(ts_ctx_store_path(ctx), d_flag) == 0, "flag wins over env, plugin, config");
	tap_ok(ctx && ts_ctx_config(ctx)->refresh_margin == 42 && ts_ctx_config(ctx)->http_timeout == 7,
	       "config file read");
	tap_ok(ctx && ts_ctx_store(ctx) != NULL && ts_store_file_dirfd(ts_ctx_store(ctx)) >= 0, "store open");
	ts_ctx_close(ctx);
	ctx = NULL;

	o.store_dir = NULL;
	rc = open_with(&ctx, &o, &e);
	tap_ok(rc == TS_OK && strcmp(ts_ctx_store_path(ctx), d_env) == 0, "env wins over plugin and config");
	ts_ctx_close(ctx);
	ctx = NULL;

	unsetenv("SASL_OAUTH2_STORE");
	rc = open_with(&ctx, &o, &e);
	tap_ok(rc == TS_OK && strcmp(ts_ctx_store_path(ctx), d_plug) == 0, "plugin option wins over config");
	ts_ctx_close(ctx);
	ctx = NULL;

	o.plugin_store = NULL;
	rc = open_with(&ctx, &o, &e);
	tap_ok(rc == TS_OK && strcmp(ts_ctx_store_path(ctx), d_cfg) == 0, "config store used");
	ts_ctx_close(ctx);
	ctx = NULL;

	/* Config path order: flag, env, plugin option. */
	setenv("SASL_OAUTH2_CONFIG", cfg2, 1);
	o.store_dir = d_flag;
	rc = open_with(&ctx, &o, &e);
	tap_ok(rc == TS_OK && ts_ctx_config(ctx)->refresh_margin == 42, "--config wins over env");
	ts_ctx_close(ctx);
	ctx = NULL;
	o.config_path = NULL;
	o.plugin_config = cfg;
	rc = open_with(&ctx, &o, &e);
	tap_ok(rc == TS_OK && ts_ctx_config(ctx)->refresh_margin == 11, "env config wins over plugin option");
	ts_ctx_close(ctx);
	ctx = NULL;
	unsetenv("SASL_OAUTH2_CONFIG");
	rc = open_with(&ctx, &o, &e);
	tap_ok(rc == TS_OK && ts_ctx_config(ctx)->refresh_margin == 42, "plugin config option used");
	ts_ctx_close(ctx);
	ctx = NULL;
	o.plugin_config = NULL;
	o.config_path = "/nonexistent/explicit.conf";
	rc = open_with(&ctx, &o, &e);
	UNIT_ERR(rc, e, TS_ENOTFOUND, "/nonexistent/explicit.conf", NULL, "missing explicit config is an error");
	o.config_path = NULL;
	unit_write(cfg2, "refresh_margin: [\n", 0644);
	setenv("SASL_OAUTH2_CONFIG", cfg2, 1);
	rc = open_with(&ctx, &o, &e);
	UNIT_ERR(rc, e, TS_EINVAL, cfg2, NULL, "broken config refused with its path");
	unsetenv("SASL_OAUTH2_CONFIG");

	/* Default store for a non-root user: XDG_DATA_HOME, else HOME. The
	 * default config may exist on this machine; only the store matters. */
	if (geteuid() != 0) {
		o.store_dir = NULL;
		setenv("XDG_DATA_HOME", xdg, 1);
		rc = open_with(&ctx, &o, &e);
		snprintf(exp, sizeof(exp), "%s/sasl-oauth2", xdg);
		tap_ok(rc == TS_OK && strcmp(ts_ctx_store_path(ctx), exp) == 0, "XDG_DATA_HOME default");
		ts_ctx_close(ctx);
		ctx = NULL;
		unsetenv("XDG_DATA_HOME");
		setenv("HOME", home, 1);
		rc = open_with(&ctx, &o, &e);
		snprintf(exp, sizeof(exp), "%s/.local/share/sasl-oauth2", home);
		tap_ok(rc == TS_OK && strcmp(ts_ctx_store_path(ctx), exp) == 0, "HOME default");
		ts_ctx_close(ctx);
		ctx = NULL;
	} else {
		/* As root the default is LOCALSTATEDIR/lib/sasl-oauth2; check in a child as nobody. */
		char empty[600];
		pid_t pid;
		int status = 0;

		snprintf(empty, sizeof(empty), "%s/empty.conf", tmp);
		unit_write(empty, "", 0644);
		chmod(tmp, 0711);
		mkdir(xdg, 0700);
		if (chown(xdg, 65534, 65534) != 0)
			tap_diag("chown failed");
		pid = fork();
		if (pid == 0) {
			ts_open_opts o2;
			ts_ctx *c2 = NULL;

			if (setgid(65534) != 0 || setuid(65534) != 0)
				_exit(2);
			setenv("XDG_DATA_HOME", xdg, 1);
			memset(&o2, 0, sizeof(o2));
			o2.store_flags = TS_STORE_CREATE;
			/* cfg has `store`; use an empty config instead. */
			o2.config_path = empty;
			if (ts_ctx_open(&c2, &o2, NULL) != TS_OK)
				_exit(3);
			snprintf(exp, sizeof(exp), "%s/sasl-oauth2", xdg);
			_exit(strcmp(ts_ctx_store_path(c2), exp) == 0 ? 0 : 4);
		}
		waitpid(pid, &status, 0);
		tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "non-root default store under XDG_DATA_HOME");
		chmod(tmp, 0700);
	}

	/* Templates dir: opts, then env. */
	o.store_dir = d_flag;
	o.config_path = cfg;
	o.templates_dir = tmp;
	setenv("SASL_OAUTH2_TEMPLATES", "/nonexistent", 1);
	rc = open_with(&ctx, &o, &e);
	tap_ok(rc == TS_OK && strcmp(ts_ctx_templates_dir(ctx), tmp) == 0, "templates dir from opts");
	ts_ctx_close(ctx);
	ctx = NULL;
	o.templates_dir = NULL;
	rc = open_with(&ctx, &o, &e);
	tap_ok(rc == TS_OK && strcmp(ts_ctx_templates_dir(ctx), "/nonexistent") == 0, "templates dir from env");
	{
		ts_template *t = NULL;

		memset(&e, 0, sizeof(e));
		rc = ts_ctx_template_load(&t, ctx, "google", &e);
		UNIT_ERR(rc, e, TS_ENOTFOUND, "/nonexistent", "google", "missing templates dir reported on use");
	}
	ts_ctx_close(ctx);
	ctx = NULL;

	/* CA bundle. */
	{
		char ca[600], text[1200];
		const void *blob;
		size_t len = 0;

		snprintf(ca, sizeof(ca), "%s/ca.pem", tmp);
		unit_write(ca, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 0644);
		snprintf(text, sizeof(text), "ca_bundle: %s\n", ca);
		unit_write(cfg2, text, 0644);
		o.config_path = cfg2;
		o.load_ca = true;
		rc = open_with(&ctx, &o, &e);
		blob = ts_ctx_ca_blob(ctx, &len);
		tap_ok(rc == TS_OK && blob && len > 20 && memcmp(blob, "-----BEGIN", 10) == 0, "CA bundle loaded into memory");
		ts_ctx_close(ctx);
		ctx = NULL;
		unit_write(cfg2, "ca_bundle: /nonexistent/ca.pem\n", 0644);
		rc = open_with(&ctx, &o, &e);
		UNIT_ERR(rc, e, TS_ENOTFOUND, "/nonexistent/ca.pem", NULL, "missing CA bundle reported");
	}

	test_preload_secrets();

	/* ts_now honours SASL_OAUTH2_TEST_NOW. */
	setenv("SASL_OAUTH2_TEST_NOW", "1234567890", 1);
	tap_ok(ts_now() == 1234567890, "ts_now honours SASL_OAUTH2_TEST_NOW");
	unsetenv("SASL_OAUTH2_TEST_NOW");
	tap_ok(ts_now() > 1600000000, "ts_now is the clock otherwise");
	return tap_done();
}
