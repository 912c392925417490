/* test_ctx.c - context opening: store, config and templates resolution order. */
#include <config.h>

#include <sys/wait.h>

#include "unit.h"

static const char *tmp;

static int open_with(ts_ctx **ctx, const ts_open_opts *o, ts_error *e)
{
	memset(e, 0, sizeof(*e));
	return ts_ctx_open(ctx, o, e);
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

	/* ts_now honours SASL_OAUTH2_TEST_NOW. */
	setenv("SASL_OAUTH2_TEST_NOW", "1234567890", 1);
	tap_ok(ts_now() == 1234567890, "ts_now honours SASL_OAUTH2_TEST_NOW");
	unsetenv("SASL_OAUTH2_TEST_NOW");
	tap_ok(ts_now() > 1600000000, "ts_now is the clock otherwise");
	return tap_done();
}
