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
#include <sasl/saslplug.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <pwd.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "doctor_p.h"

static int problems;

void doctor_ok(const char *what, const char *fmt, ...)
{
	va_list ap;

	printf("ok       %s: ", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

void doctor_bad(const char *what, const char *msg)
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

/* Postfix's mail_owner, from `postconf -h mail_owner` when Postfix is
 * installed; false when it is not (or says nothing). */
static bool postfix_mail_owner(char *out, size_t size)
{
	static const char *const postconf[] = { "/usr/sbin/postconf", "/usr/local/sbin/postconf" };
	const char *pc = NULL;
	char cmd[128];
	FILE *f;
	size_t i, n;

	for (i = 0; i < sizeof postconf / sizeof postconf[0] && !pc; i++)
		if (access(postconf[i], X_OK) == 0)
			pc = postconf[i];
	if (!pc)
		return false;
	snprintf(cmd, sizeof cmd, "%s -h mail_owner 2>/dev/null", pc);
	if ((f = popen(cmd, "r")) == NULL)
		return false;
	if (fgets(out, (int)size, f) == NULL)
		out[0] = '\0';
	pclose(f);
	n = strcspn(out, "\r\n");
	out[n] = '\0';
	return n > 0;
}

/* Can Postfix's SMTP client, which refreshes tokens as mail_owner, write
 * the store? Only the store's owner can (0700). Run as root, doctor checks
 * the store a system service would use, so a mismatch is a problem there;
 * for a user's own store it is a note. */
static void check_mail_owner(const char *dir, const struct stat *sb)
{
	char owner[64], msg[TS_ERRMSG_MAX];
	struct passwd *pw;

	if (!postfix_mail_owner(owner, sizeof owner))
		return;
	pw = getpwnam(owner);
	if (pw == NULL) {
		snprintf(msg, sizeof msg, "Postfix's mail_owner '%s' is not a user of this system; fix "
			 "mail_owner in main.cf", owner);
		doctor_bad("postfix", msg);
		return;
	}
	if (pw->pw_uid == sb->st_uid) {
		doctor_ok("postfix", "mail_owner '%s' owns %s and can write refreshed tokens there",
			 owner, dir);
		return;
	}
	snprintf(msg, sizeof msg, "Postfix's mail_owner '%s' cannot write %s (owned by uid %u), so "
		 "Postfix could not save a refreshed token; if Postfix uses this store, run: "
		 "chown -R %s: '%s'", owner, dir, (unsigned)sb->st_uid, owner, dir);
	if (geteuid() == 0)
		doctor_bad("postfix", msg);
	else
		printf("note     postfix: %s\n", msg);
}

static void check_store(const char *dir)
{
	struct stat sb;
	DIR *d;
	struct dirent *de;
	char msg[TS_ERRMSG_MAX];
	int bad = 0, dfd;

	if (ts_store_is_pg(dir)) {
		/* The context opened it: connected, schema of the right version. */
		doctor_ok("store", "PostgreSQL %s (connected, schema current)", dir);
		return;
	}
	if (stat(dir, &sb) != 0) {
		snprintf(msg, sizeof msg, "%s: %s; create it with: %s add NAME --template T", dir,
			 strerror(errno), CLI_PROG);
		doctor_bad("store", msg);
		return;
	}
	if (sb.st_mode & 022) {
		snprintf(msg, sizeof msg, "directory %s is writable by group or others (mode %03o); run: chmod 700 '%s'",
			 dir, (unsigned)(sb.st_mode & 0777), dir);
		doctor_bad("store", msg);
		return;
	}
	if (sb.st_uid != geteuid() && geteuid() != 0) {
		snprintf(msg, sizeof msg, "directory %s is owned by uid %u, not by you (uid %u); run: chown %u '%s'",
			 dir, (unsigned)sb.st_uid, (unsigned)geteuid(), (unsigned)geteuid(), dir);
		doctor_bad("store", msg);
		return;
	}
	if ((sb.st_mode & 0700) != 0700) {
		snprintf(msg, sizeof msg, "directory %s cannot be written by its owner (mode %03o), so "
			 "refreshed tokens cannot be saved; run: chmod 700 '%s'", dir,
			 (unsigned)(sb.st_mode & 0777), dir);
		doctor_bad("store", msg);
		return;
	}
	check_mail_owner(dir, &sb);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		snprintf(msg, sizeof msg, "cannot read directory %s: %s", dir, strerror(errno));
		doctor_bad("store", msg);
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
			doctor_bad("store file", msg);
			bad++;
		} else if (S_ISREG(fs.st_mode) && (fs.st_mode & 077)) {
			snprintf(msg, sizeof msg, "%s/%s is accessible by group or others (mode %03o); run: chmod 600 '%s/%s'",
				 dir, de->d_name, (unsigned)(fs.st_mode & 0777), dir, de->d_name);
			doctor_bad("store file", msg);
			bad++;
		} else if (!S_ISREG(fs.st_mode)) {
			snprintf(msg, sizeof msg, "%s/%s is not a regular file; remove it", dir, de->d_name);
			doctor_bad("store file", msg);
			bad++;
		}
	}
	closedir(d);
	if (!bad)
		doctor_ok("store", "%s (private, files 0600)", dir);
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

/*
 * Every module offering XOAUTH2 or OAUTHBEARER, in libsasl2's own order.
 * libsasl2 keeps one list of the mechanisms of all modules, sorted by
 * security flags, then max_ssf, a module loaded later going first on a tie
 * (lib/client.c); sasl_client_start takes the first of a name. So a module
 * that claims NOPLAINTEXT (sasl-xoauth2) always beats ours, and one with
 * equal flags (KDE's) wins or loses by the directory's read order.
 */
#define MECH_SEEN_MAX 16

struct mech_seen {
	char mech[16];
	char module[128];
	unsigned flags;
	unsigned max_ssf;
};

struct mech_list {
	struct mech_seen v[MECH_SEEN_MAX];
	size_t n;
};

static void mech_info_cb(client_sasl_mechanism_t *m, sasl_info_callback_stage_t stage, void *rock)
{
	struct mech_list *l = rock;
	struct mech_seen *e;

	if (stage != SASL_INFO_LIST_MECH || m == NULL || m->plug == NULL ||
	    m->plug->mech_name == NULL || l->n >= MECH_SEEN_MAX)
		return;
	if (strcasecmp(m->plug->mech_name, "XOAUTH2") != 0 &&
	    strcasecmp(m->plug->mech_name, "OAUTHBEARER") != 0)
		return;
	e = &l->v[l->n++];
	snprintf(e->mech, sizeof e->mech, "%s", m->plug->mech_name);
	snprintf(e->module, sizeof e->module, "%s", m->plugname ? m->plugname : "?");
	e->flags = m->plug->security_flags;
	e->max_ssf = m->plug->max_ssf;
}

static bool module_is_ours(const char *module)
{
	return strstr(module, "sasloauth2") != NULL;
}

static void flags_text(char *buf, size_t size, unsigned flags)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ SASL_SEC_NOPLAINTEXT, "noplaintext" }, { SASL_SEC_NOACTIVE, "noactive" },
		{ SASL_SEC_NODICTIONARY, "nodictionary" },
		{ SASL_SEC_FORWARD_SECRECY, "forward_secrecy" },
		{ SASL_SEC_NOANONYMOUS, "noanonymous" },
		{ SASL_SEC_PASS_CREDENTIALS, "pass_credentials" },
		{ SASL_SEC_MUTUAL_AUTH, "mutual_auth" },
	};
	size_t i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if ((flags & names[i].bit) && len < size)
			len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? "," : "",
						names[i].name);
	if (buf[0] == '\0')
		snprintf(buf, size, "none");
}

static void check_mech_modules(const char *dir)
{
	static const char *const mechs[] = { "XOAUTH2", "OAUTHBEARER" };
	struct mech_list l;
	size_t i, k;

	memset(&l, 0, sizeof l);
	if (sasl_client_plugin_info(NULL, mech_info_cb, &l) != SASL_OK)
		return;
	for (k = 0; k < sizeof mechs / sizeof mechs[0]; k++) {
		const struct mech_seen *first = NULL, *ours = NULL;
		char what[64], list[512], msg[TS_ERRMSG_MAX], f1[128], f2[128], why[512];
		size_t len = 0, count = 0;

		list[0] = '\0';
		for (i = 0; i < l.n; i++) {
			const struct mech_seen *e = &l.v[i];

			if (strcasecmp(e->mech, mechs[k]) != 0)
				continue;
			if (first == NULL)
				first = e;
			if (ours == NULL && module_is_ours(e->module))
				ours = e;
			flags_text(f1, sizeof f1, e->flags);
			if (len < sizeof list)
				len += (size_t)snprintf(list + len, sizeof list - len, "%s%s (flags %s, max_ssf %u)",
							count ? ", " : "", e->module, f1, e->max_ssf);
			count++;
		}
		snprintf(what, sizeof what, "mechanism %s", mechs[k]);
		if (first == NULL)
			continue;
		if (module_is_ours(first->module)) {
			if (count == 1)
				doctor_ok(what, "libsasl2 will use %s, the only module in %s offering it",
					 first->module, dir);
			else
				doctor_ok(what, "libsasl2 will use %s; modules offering it, in libsasl2's "
					 "order: %s", first->module, list);
			continue;
		}
		flags_text(f1, sizeof f1, first->flags);
		flags_text(f2, sizeof f2, ours ? ours->flags : 0);
		if (ours == NULL)
			snprintf(why, sizeof why, "sasl-oauth2's libsasloauth2.so is not in %s", dir);
		else if (first->flags != ours->flags)
			snprintf(why, sizeof why, "its security flags (%s) rank before ours (%s)", f1, f2);
		else if (first->max_ssf != ours->max_ssf)
			snprintf(why, sizeof why, "its max_ssf %u is higher than ours (%u)",
				 first->max_ssf, ours->max_ssf);
		else
			snprintf(why, sizeof why, "equal flags and max_ssf, and it was loaded later "
				 "(the directory's read order decides)");
		snprintf(msg, sizeof msg, "libsasl2 will use module %s, not sasl-oauth2's: %s; "
			 "modules offering it, in libsasl2's order: %s; remove the other module's "
			 "package, or point SASL_PATH (or plugin_list in the application's SASL "
			 "configuration) at a directory holding only libsasloauth2.so",
			 first->module, why, list);
		doctor_bad(what, msg);
	}
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
		doctor_bad("plugin", msg);
		return;
	}
	r = sasl_client_new("imap", "localhost", NULL, NULL, conn_cbs, 0, &conn);
	if (r != SASL_OK) {
		snprintf(msg, sizeof msg, "sasl_client_new failed: %s", sasl_errstring(r, NULL, NULL));
		doctor_bad("plugin", msg);
		goto cleanup;
	}
	memset(&secprops, 0, sizeof secprops);
	secprops.max_ssf = 256;
	sasl_setprop(conn, SASL_SEC_PROPS, &secprops);
	r = sasl_listmech(conn, NULL, " ", " ", " ", &mechs, NULL, NULL);
	if (r != SASL_OK || !mechs) {
		snprintf(msg, sizeof msg, "libsasl2 lists no mechanisms from %s (%s); install libsasloauth2.so there "
			 "or set SASL_PATH", plugin_path, sasl_errstring(r, NULL, NULL));
		doctor_bad("plugin", msg);
		goto cleanup;
	}
	if (!strstr(mechs, " XOAUTH2 ") || !strstr(mechs, " OAUTHBEARER ")) {
		snprintf(msg, sizeof msg, "libsasl2 does not offer XOAUTH2 and OAUTHBEARER from %s (it offers:%s); "
			 "install libsasloauth2.so in that directory or point SASL_PATH at it",
			 plugin_path, mechs);
		doctor_bad("plugin", msg);
		goto cleanup;
	}
	doctor_ok("plugin", "libsasl2 offers XOAUTH2 and OAUTHBEARER (from %s)", plugin_path);
	check_mech_modules(plugin_path);
cleanup:
	sasl_dispose(&conn);
	sasl_client_done();
}

/* ---------------------------------------------------------------------- */
/* The redacted report (doctor --report): what a bug report needs, and no
 * token, secret, code, client id or full mailbox.                          */

/* "jane@contoso.com" -> "j***@contoso.com"; other text -> "x***". */
static const char *redact_mailbox(char *buf, size_t size, const char *s)
{
	const char *at;

	if (s == NULL || *s == '\0')
		return "-";
	at = strrchr(s, '@');
	snprintf(buf, size, "%c***%s", s[0], at ? at : "");
	return buf;
}

/* An identifier shown by its length and first characters only. */
static const char *redact_id(char *buf, size_t size, const char *s)
{
	if (s == NULL || *s == '\0')
		return "-";
	snprintf(buf, size, "%.4s... (%zu characters)", s, strlen(s));
	return buf;
}

/* "scheme://host[:port]" of a URL, never its path, query or userinfo. */
static const char *url_host(char *buf, size_t size, const char *url)
{
	const char *sep, *p, *at, *end;
	int scheme_len = 0;

	if (url == NULL || *url == '\0')
		return "-";
	sep = strstr(url, "://");
	if (sep) {
		scheme_len = (int)(sep - url) + 3;
		p = sep + 3;
	} else {
		p = url;
	}
	end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(end - p));
	if (at)
		p = at + 1;
	snprintf(buf, size, "%.*s%.*s", scheme_len, url, (int)(end - p), p);
	return buf;
}

static void report_list(const char *key, const ts_strlist *l)
{
	size_t i;

	printf("  %-22s", key);
	if (l->n == 0)
		printf(" -");
	for (i = 0; i < l->n; i++)
		printf(" %s", l->v[i]);
	putchar('\n');
}

static void report_token(ts_ctx *ctx, const char *name)
{
	ts_token_effective *e = NULL;
	ts_state *st = NULL;
	ts_error err = { 0 };
	char b1[256], why[TS_ERRMSG_MAX + 16];
	int64_t now = ts_now();
	size_t i;

	printf("token %s\n", name);
	if (ts_ctx_token_effective(&e, ctx, name, &err) != TS_OK) {
		printf("  %-22s %s\n", "error", cli_unname(why, sizeof why, name, err.msg));
		return;
	}
	printf("  %-22s %s\n", "template", e->template_name ? e->template_name : "-");
	printf("  %-22s %s\n", "flow", ts_flow_str(e->flow));
	printf("  %-22s %s\n", "client_auth", ts_client_auth_str(e->client_auth));
	printf("  %-22s %s\n", "client_id", redact_id(b1, sizeof b1, e->client_id));
	printf("  %-22s %s\n", "client_secret", e->client_secret ? "set (not shown)" : "none");
	printf("  %-22s %s\n", "tenant", redact_id(b1, sizeof b1, e->tenant));
	printf("  %-22s %s\n", "user", redact_mailbox(b1, sizeof b1, e->user));
	printf("  %-22s %zu entr%s\n", "users", e->users.n, e->users.n == 1 ? "y" : "ies");
	printf("  %-22s %s\n", "auth_url", url_host(b1, sizeof b1, e->auth_url));
	printf("  %-22s %s\n", "token_url", url_host(b1, sizeof b1, e->token_url));
	printf("  %-22s %s\n", "device_url", url_host(b1, sizeof b1, e->device_url));
	printf("  %-22s %s\n", "redirect_uri", e->redirect_uri ? e->redirect_uri : "default loopback");
	report_list("scope", &e->scope);
	report_list("hosts", &e->hosts);
	printf("  %-22s %s %s %s\n", "servers", e->servers.imap ? e->servers.imap : "-",
	       e->servers.pop3 ? e->servers.pop3 : "-", e->servers.smtp ? e->servers.smtp : "-");
	printf("  %-22s %ld s\n", "refresh_margin", e->refresh_margin);
	printf("  %-22s %s\n", "validity", ts_validity_str(e->validity));
	for (i = 0; i < e->auth_params.n; i++)
		printf("  auth_params.%-10s %s\n", e->auth_params.v[i].key,
		       strcmp(e->auth_params.v[i].key, "login_hint") == 0 ?
		       redact_mailbox(b1, sizeof b1, e->auth_params.v[i].value) : e->auth_params.v[i].value);
	memset(&err, 0, sizeof err);
	if (ts_store_load_state(ts_ctx_store(ctx), name, &st, &err) != TS_OK) {
		printf("  %-22s %s\n", "state", err.code == TS_ENOTFOUND ? "none (not authorized)" :
		       cli_unname(why, sizeof why, name, err.msg));
	} else {
		if (st->access_token)
			printf("  %-22s present, expires in %lld s%s\n", "access token",
			       (long long)(st->expires_at - now), st->access_rejected ? ", rejected by a server" : "");
		else
			printf("  %-22s none\n", "access token");
		printf("  %-22s %s\n", "refresh token", st->refresh_token ?
		       (st->refresh_token_dead ? "present, dead (invalid_grant)" : "present") : "none");
		printf("  %-22s %lld s ago\n", "last refresh", st->last_refresh ?
		       (long long)(now - st->last_refresh) : -1LL);
		printf("  %-22s %s\n", "last error", st->last_error ? st->last_error : "-");
	}
	ts_state_free(st);
	ts_token_effective_free(e);
}

static void report_header(ts_ctx *ctx)
{
	const ts_global_config *c = ctx ? ts_ctx_config(ctx) : NULL;
	const char *impl = NULL, *ver = NULL;
	struct utsname u;
	char b1[256];

	printf("sasl-oauth2 doctor report (redacted: no token, secret, code, client id or full "
	       "mailbox is shown)\n");
	printf("  %-22s %s\n", "version", PACKAGE_VERSION);
	if (uname(&u) == 0)
		printf("  %-22s %s %s %s\n", "system", u.sysname, u.release, u.machine);
	sasl_version_info(&impl, &ver, NULL, NULL, NULL, NULL);
	printf("  %-22s %s %s\n", "libsasl2", impl ? impl : "?", ver ? ver : "?");
	printf("  %-22s %s\n", "uid", geteuid() == 0 ? "root" : "not root");
	if (c == NULL)
		return;
	printf("configuration %s\n", c->path ? c->path : "(built-in defaults)");
	printf("  %-22s %s\n", "store", ts_ctx_store_path(ctx));
	printf("  %-22s %s\n", "templates_dir", ts_ctx_templates_dir(ctx));
	printf("  %-22s %ld s\n", "refresh_margin", c->refresh_margin);
	printf("  %-22s %ld s\n", "http_timeout", c->http_timeout);
	printf("  %-22s %s\n", "ca_bundle", c->ca_bundle ? c->ca_bundle : "system default");
	printf("  %-22s %s\n", "proxy", c->proxy ? url_host(b1, sizeof b1, c->proxy) : "none");
	report_list("pop3_split_hosts", &c->pop3_split_hosts);
	report_list("smtp_inline_hosts", &c->smtp_inline_hosts);
	printf("  %-22s %s\n", "notify_command", c->notify_command ? "set (not shown)" : "none");
	printf("  %-22s %ld s\n", "notify_timeout", c->notify_timeout);
}

/* ---------------------------------------------------------------------- */

/* doctor NAME --login [imap|pop3|smtp]... */
static int doctor_login_cmd(const cli_global *g, const cli_parser *p, bool report)
{
	ts_ctx *ctx = NULL;
	ts_error err = { 0 };
	int i, rc;

	if (report)
		return cli_usage_error("doctor", "--report and --login are separate runs");
	if (p->npos < 1)
		return cli_usage_error("doctor", "--login needs the token NAME: doctor NAME --login "
				       "[imap|pop3|smtp]...");
	if (ts_name_check(p->pos[0], &err) != TS_OK)
		return cli_err_ts(NULL, "doctor", &err);
	for (i = 1; i < p->npos; i++)
		if (strcmp(p->pos[i], "imap") != 0 && strcmp(p->pos[i], "pop3") != 0 &&
		    strcmp(p->pos[i], "smtp") != 0)
			return cli_usage_error("doctor", "--login takes imap, pop3 or smtp, not '%s'",
					       p->pos[i]);
	if ((rc = cli_ctx_open(&ctx, g, 0, p->pos[0])) != CLI_EXIT_OK)
		return rc;
	problems = 0;
	rc = doctor_login(g, ctx, p->pos[0], p->pos + 1, p->npos - 1);
	printf("%s\n", rc || problems ? "some logins failed; see the PROBLEM lines" : "all logins succeeded");
	ts_ctx_close(ctx);
	return fflush(stdout) == 0 && rc == 0 && problems == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int cmd_doctor(const cli_global *g, int argc, char **argv)
{
	static const cli_opt opts[] = {
		{ "report", 0, false, 1 },
		{ "login", 0, false, 2 },
		{ NULL, 0, false, 0 },
	};
	cli_parser p;
	bool report = false, login = false;
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
	while ((id = cli_parser_next(&p)) > 0) {
		if (id == 1)
			report = true;
		else
			login = true;
	}
	if ((rc = cli_parser_done(id)) != CLI_GO_ON)
		goto cleanup;
	if (login) {
		rc = doctor_login_cmd(g, &p, report);
		goto cleanup;
	}
	if (p.npos > 0) {
		rc = cli_usage_error("doctor", "unexpected argument '%s' (a token NAME goes with "
				     "--login)", p.pos[0]);
		goto cleanup;
	}
	problems = 0;
	memset(&o, 0, sizeof o);
	o.config_path = g->config_path;
	o.store_dir = g->store_dir;
	if (ts_ctx_open(&ctx, &o, &err) != TS_OK) {
		doctor_bad("configuration and store", err.msg);
		ctx = NULL;
	} else {
		cfg = ts_ctx_config(ctx);
		if (report) {
			report_header(ctx);
			if (ts_store_list(ts_ctx_store(ctx), &names, &err) == TS_OK)
				for (i = 0; i < names.n; i++)
					report_token(ctx, names.v[i]);
			ts_strlist_clear(&names);
			memset(&err, 0, sizeof err);
			printf("checks\n");
		}
		doctor_ok("configuration", "%s", cfg->path ? cfg->path : "built-in defaults (no file)");
		check_store(ts_ctx_store_path(ctx));
		if (ts_template_list(&tmpls, ts_ctx_templates_dir(ctx), &err) != TS_OK)
			doctor_bad("templates", err.msg);
		else if (tmpls.n == 0)
			doctor_bad("templates", "the templates directory holds no template; set templates_dir or SASL_OAUTH2_TEMPLATES");
		else {
			char m[256];
			snprintf(m, sizeof m, "%zu in %s", tmpls.n, ts_ctx_templates_dir(ctx));
			doctor_ok("templates", "%s", m);
		}
		if (ts_store_list(ts_ctx_store(ctx), &names, &err) != TS_OK)
			doctor_bad("tokens", err.msg);
		for (i = 0; i < names.n; i++) {
			ts_token_effective *eff = NULL;
			ts_state *s = NULL;

			snprintf(what, sizeof what, "token %s", names.v[i]);
			memset(&err, 0, sizeof err);
			if (ts_ctx_token_effective(&eff, ctx, names.v[i], &err) != TS_OK) {
				doctor_bad(what, cli_unname(why, sizeof why, names.v[i], err.msg));
				continue;
			}
			if (ts_store_load_state(ts_ctx_store(ctx), names.v[i], &s, &err) != TS_OK &&
			    err.code != TS_ENOTFOUND)
				doctor_bad(what, cli_unname(why, sizeof why, names.v[i], err.msg));
			else
				doctor_ok(what, "%s", s ? "configuration and state readable"
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
				doctor_bad("reachability", err.msg);
			} else {
				char m[512];
				snprintf(m, sizeof m, "%s (HTTP %ld)", urls.v[i], status);
				doctor_ok("reachability", "%s", m);
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
