/*
 * cmd_doctor.c - `doctor`: one line per check of what usually goes wrong
 * (configuration, store permissions, tokens that do not resolve, the
 * templates directory, libsasl2 not finding the plugin - "no worthy mechs
 * found" - and unreachable token endpoints), each with the fix.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sasl/sasl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static int problems;

static void check_ok(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void check_ok(const char *what, const char *fmt, ...)
{
	va_list ap;

	printf("ok       %s: ", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void check_bad(const char *what, const char *msg)
{
	char clean[TS_ERRMSG_MAX];
	size_t i;

	snprintf(clean, sizeof clean, "%s", msg);
	for (i = 0; clean[i]; i++)
		if ((unsigned char)clean[i] < 0x20)
			clean[i] = ' ';
	printf("PROBLEM  %s: %s\n", what, clean);
	problems++;
}

/* ---------------------------------------------------------------------- */
/* Store permissions                                                        */

static void check_store(const char *dir)
{
	struct stat sb;
	DIR *d;
	struct dirent *de;
	char msg[TS_ERRMSG_MAX];
	int bad = 0, dfd;

	if (stat(dir, &sb) != 0) {
		snprintf(msg, sizeof msg, "%s: %s; create it with: %s add NAME --template T", dir,
			 strerror(errno), CLI_PROG);
		check_bad("store", msg);
		return;
	}
	if (sb.st_mode & 022) {
		snprintf(msg, sizeof msg, "directory %s is writable by group or others (mode %03o); run: chmod 700 '%s'",
			 dir, (unsigned)(sb.st_mode & 0777), dir);
		check_bad("store", msg);
		return;
	}
	if (sb.st_uid != geteuid()) {
		snprintf(msg, sizeof msg, "directory %s is owned by uid %u, not by you (uid %u); run: chown %u '%s'",
			 dir, (unsigned)sb.st_uid, (unsigned)geteuid(), (unsigned)geteuid(), dir);
		check_bad("store", msg);
		return;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		snprintf(msg, sizeof msg, "cannot read directory %s: %s", dir, strerror(errno));
		check_bad("store", msg);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat fs;

		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (fstatat(dirfd(d), de->d_name, &fs, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (de->d_name[0] == '.' && strlen(de->d_name) > 4 &&
		    strcmp(de->d_name + strlen(de->d_name) - 4, ".tmp") == 0) {
			snprintf(msg, sizeof msg, "%s/%s is a temporary file left by a process that stopped while writing (it may hold tokens); the token's next refresh adopts or removes it, or run: %s refresh NAME",
				 dir, de->d_name, CLI_PROG);
			check_bad("store file", msg);
			bad++;
		} else if (S_ISREG(fs.st_mode) && (fs.st_mode & 077)) {
			snprintf(msg, sizeof msg, "%s/%s is accessible by group or others (mode %03o); run: chmod 600 '%s/%s'",
				 dir, de->d_name, (unsigned)(fs.st_mode & 0777), dir, de->d_name);
			check_bad("store file", msg);
			bad++;
		} else if (!S_ISREG(fs.st_mode)) {
			snprintf(msg, sizeof msg, "%s/%s is not a regular file; remove it", dir, de->d_name);
			check_bad("store file", msg);
			bad++;
		}
	}
	closedir(d);
	if (!bad)
		check_ok("store", "%s (private, files 0600)", dir);
}

/* ---------------------------------------------------------------------- */
/* The plugin, through libsasl2 itself                                      */

static const char *plugin_path;

static int cb_getpath(void *context, const char **path)
{
	(void)context;
	*path = plugin_path;
	return SASL_OK;
}

static int cb_simple(void *context, int id, const char **result, unsigned *len)
{
	(void)context;
	(void)id;
	*result = "doctor@example.invalid";
	if (len)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
}

static int cb_pass(sasl_conn_t *conn, void *context, int id, sasl_secret_t **psecret)
{
	static sasl_secret_t none = { 0, { 0 } };

	(void)conn;
	(void)context;
	(void)id;
	*psecret = &none;
	return SASL_OK;
}

static void check_plugin(void)
{
	static sasl_callback_t global_cbs[] = {
		{ SASL_CB_GETPATH, (int (*)(void))(void (*)(void))cb_getpath, NULL },
		{ SASL_CB_LIST_END, NULL, NULL },
	};
	static sasl_callback_t conn_cbs[] = {
		{ SASL_CB_AUTHNAME, NULL, NULL },
		{ SASL_CB_USER, NULL, NULL },
		{ SASL_CB_PASS, NULL, NULL },
		{ SASL_CB_LIST_END, NULL, NULL },
	};
	sasl_conn_t *conn = NULL;
	sasl_security_properties_t secprops;
	const char *mechs = NULL;
	char msg[TS_ERRMSG_MAX];
	const char *env = getenv("SASL_PATH");
	int r;

	conn_cbs[0].proc = (int (*)(void))(void (*)(void))cb_simple;
	conn_cbs[1].proc = (int (*)(void))(void (*)(void))cb_simple;
	conn_cbs[2].proc = (int (*)(void))(void (*)(void))cb_pass;
	plugin_path = env && *env ? env : PLUGINDIR;
	r = sasl_client_init(global_cbs);
	if (r != SASL_OK) {
		snprintf(msg, sizeof msg, "libsasl2 client initialisation failed: %s",
			 sasl_errstring(r, NULL, NULL));
		check_bad("plugin", msg);
		return;
	}
	r = sasl_client_new("imap", "localhost", NULL, NULL, conn_cbs, 0, &conn);
	if (r != SASL_OK) {
		snprintf(msg, sizeof msg, "sasl_client_new failed: %s", sasl_errstring(r, NULL, NULL));
		check_bad("plugin", msg);
		goto cleanup;
	}
	memset(&secprops, 0, sizeof secprops);
	secprops.max_ssf = 256;
	sasl_setprop(conn, SASL_SEC_PROPS, &secprops);
	r = sasl_listmech(conn, NULL, " ", " ", " ", &mechs, NULL, NULL);
	if (r != SASL_OK || !mechs) {
		snprintf(msg, sizeof msg, "libsasl2 lists no mechanisms from %s (%s); install libsasloauth2.so there "
			 "or set SASL_PATH", plugin_path, sasl_errstring(r, NULL, NULL));
		check_bad("plugin", msg);
		goto cleanup;
	}
	if (!strstr(mechs, " XOAUTH2 ") || !strstr(mechs, " OAUTHBEARER ")) {
		snprintf(msg, sizeof msg, "libsasl2 does not offer XOAUTH2 and OAUTHBEARER from %s (it offers:%s); "
			 "install libsasloauth2.so in that directory or point SASL_PATH at it",
			 plugin_path, mechs);
		check_bad("plugin", msg);
		goto cleanup;
	}
	check_ok("plugin", "libsasl2 offers XOAUTH2 and OAUTHBEARER (from %s)", plugin_path);
cleanup:
	sasl_dispose(&conn);
	sasl_client_done();
}

/* ---------------------------------------------------------------------- */

int cmd_doctor(const cli_global *g, int argc, char **argv)
{
	static const cli_opt opts[] = { { NULL, 0, false, 0 } };
	cli_parser p;
	ts_ctx *ctx = NULL;
	ts_open_opts o;
	ts_error err = { 0 };
	ts_strlist names = { 0 }, tmpls = { 0 }, urls = { 0 };
	const ts_global_config *cfg;
	int id, rc = CLI_EXIT_FAIL;
	size_t i;
	char what[TS_NAME_MAX + 32], why[TS_ERRMSG_MAX + 16];

	if (cli_parser_init(&p, "doctor", argc, argv, opts) != 0)
		return cli_err(NULL, "out of memory");
	while ((id = cli_parser_next(&p)) > 0)
		;
	if ((rc = cli_parser_done(id)) != CLI_GO_ON)
		goto cleanup;
	if (p.npos > 0) {
		rc = cli_usage_error("doctor", "unexpected argument '%s'", p.pos[0]);
		goto cleanup;
	}
	problems = 0;
	memset(&o, 0, sizeof o);
	o.config_path = g->config_path;
	o.store_dir = g->store_dir;
	if (ts_ctx_open(&ctx, &o, &err) != TS_OK) {
		check_bad("configuration and store", err.msg);
		ctx = NULL;
	} else {
		cfg = ts_ctx_config(ctx);
		check_ok("configuration", "%s", cfg->path ? cfg->path : "built-in defaults (no file)");
		check_store(ts_ctx_store_path(ctx));
		if (ts_template_list(&tmpls, ts_ctx_templates_dir(ctx), &err) != TS_OK)
			check_bad("templates", err.msg);
		else if (tmpls.n == 0)
			check_bad("templates", "the templates directory holds no template; set templates_dir or SASL_OAUTH2_TEMPLATES");
		else {
			char m[256];
			snprintf(m, sizeof m, "%zu in %s", tmpls.n, ts_ctx_templates_dir(ctx));
			check_ok("templates", "%s", m);
		}
		if (ts_store_list(ts_ctx_store(ctx), &names, &err) != TS_OK)
			check_bad("tokens", err.msg);
		for (i = 0; i < names.n; i++) {
			ts_token_effective *eff = NULL;
			ts_state *s = NULL;

			snprintf(what, sizeof what, "token %s", names.v[i]);
			memset(&err, 0, sizeof err);
			if (ts_ctx_token_effective(&eff, ctx, names.v[i], &err) != TS_OK) {
				check_bad(what, cli_unname(why, sizeof why, names.v[i], err.msg));
				continue;
			}
			if (ts_store_load_state(ts_ctx_store(ctx), names.v[i], &s, &err) != TS_OK &&
			    err.code != TS_ENOTFOUND)
				check_bad(what, cli_unname(why, sizeof why, names.v[i], err.msg));
			else
				check_ok(what, "%s", s ? "configuration and state readable"
					 : "configuration readable (not authorized yet)");
			if (eff->token_url) {
				size_t k;

				for (k = 0; k < urls.n; k++)
					if (strcmp(urls.v[k], eff->token_url) == 0)
						break;
				if (k == urls.n)
					ts_strlist_add(&urls, eff->token_url);
			}
			ts_state_free(s);
			ts_token_effective_free(eff);
		}
		for (i = 0; i < urls.n; i++) {
			long status = 0;

			memset(&err, 0, sizeof err);
			if (oa2_probe(&status, ctx, urls.v[i], &err) != TS_OK) {
				check_bad("reachability", err.msg);
			} else {
				char m[512];
				snprintf(m, sizeof m, "%s (HTTP %ld)", urls.v[i], status);
				check_ok("reachability", "%s", m);
			}
		}
	}
	check_plugin();
	printf("%s\n", problems ? "some checks failed; see the PROBLEM lines" : "all checks passed");
	rc = fflush(stdout) == 0 && problems == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
cleanup:
	ts_strlist_clear(&urls);
	ts_strlist_clear(&tmpls);
	ts_strlist_clear(&names);
	ts_ctx_close(ctx);
	cli_parser_free(&p);
	return rc;
}
