/*
 * ctx.c - the context: global configuration, store, templates directory and
 * CA bundle, resolved once (ts_ctx_open) in the documented order and kept
 * open (descriptors, memory) so that the plugin keeps working in a chroot.
 * With preload_secrets (the plugin) the client_secret_file of every token is
 * read at open too and kept in memory until ts_ctx_close, for the same
 * reason. After open the context changes only in its cache of parsed
 * tokens (cache.c), which has its own lock, so threads may share it.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys_p.h"
#include "ts_p.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#ifndef TEMPLATESDIR
#define TEMPLATESDIR "/usr/share/sasl-oauth2/templates"
#endif

/* A client_secret_file read at open: its secret, or why it could not be read. */
typedef struct ctx_secret {
	char *path;
	char *secret;               /* secret; NULL when reading failed */
	char *fail;                 /* the reason then (no secret in it) */
	int fail_code;
} ctx_secret;

/* A refreshed state that could not be saved (see ts_ctx_pending_put). */
typedef struct ctx_pending {
	char *name;
	ts_state *state;
} ctx_pending;

struct ts_ctx {
	ts_global_config *cfg;
	ts_store *store;
	char *store_path;
	char *templates_dir;
	int templates_fd;
	char *ca;
	size_t ca_len;
	ts_log_fn *log;
	void *log_arg;
	ctx_secret *secrets;        /* preload_secrets: one per distinct path */
	size_t nsecrets;
	ts_keycache *keys;          /* preload_secrets: key files (keys.c) */
	ts_cache *cache;            /* parsed configurations and states (cache.c) */
	ctx_pending *pending;       /* unsaved refreshed states, by token */
	size_t npending;
	pthread_mutex_t pending_lock;
	bool have_root;             /* root_dev/root_ino: "/" when opened */
	dev_t root_dev;
	ino_t root_ino;
};

/* The environment is not trusted in a set-uid or set-gid program (nor
 * with other elevated rights, AT_SECURE): there it is the caller's, and
 * would choose the store, configuration and templates read with the
 * program's rights. libsasl2 ignores SASL_PATH there for the same reason. */
static const char *env_nonempty(const char *name)
{
	const char *v = secure_getenv(name);

	return v && *v ? v : NULL;
}

/* The per-user default store: $XDG_DATA_HOME/sasl-oauth2 or ~/.local/share/sasl-oauth2. */
static int default_store(char **out, ts_error *err)
{
	const char *xdg = env_nonempty("XDG_DATA_HOME"), *home = env_nonempty("HOME");
	char buf[4096];

	*out = NULL;
	if (geteuid() == 0) {
		snprintf(buf, sizeof(buf), "%s/lib/sasl-oauth2", LOCALSTATEDIR);
	} else if (xdg != NULL && xdg[0] == '/') {
		snprintf(buf, sizeof(buf), "%s/sasl-oauth2", xdg);
	} else {
		if (home == NULL) {
			struct passwd *pw = getpwuid(geteuid());

			home = pw ? pw->pw_dir : NULL;
		}
		if (home == NULL || home[0] != '/')
			return ts_error_set(err, TS_EINVAL,
					    "cannot find the default store: HOME is not set; use --store DIR or SASL_OAUTH2_STORE");
		snprintf(buf, sizeof(buf), "%s/.local/share/sasl-oauth2", home);
	}
	return ts_strdup_to(out, buf, err);
}

static int load_ca(ts_ctx *ctx, ts_error *err)
{
	static const char *const defaults[] = {
		"/etc/ssl/certs/ca-certificates.crt",
		"/etc/pki/tls/certs/ca-bundle.crt",
	};
	size_t i;
	int rc;

	if (ctx->cfg->ca_bundle != NULL) {
		rc = ts_file_read_st(&ctx->ca, &ctx->ca_len, NULL, AT_FDCWD, NULL, ctx->cfg->ca_bundle,
				     TS_CA_MAX, false, false, err);
		if (rc == TS_ENOTFOUND)
			return ts_error_set(err, rc, "ca_bundle %s does not exist; fix ca_bundle in %s",
					    ctx->cfg->ca_bundle, ctx->cfg->path ? ctx->cfg->path : "the configuration");
		return rc;
	}
	for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		rc = ts_file_read_st(&ctx->ca, &ctx->ca_len, NULL, AT_FDCWD, NULL, defaults[i], TS_CA_MAX,
				     false, false, err);
		if (rc != TS_ENOTFOUND)
			return rc;
	}
	return TS_OK; /* libcurl's built-in default then */
}

static const ctx_secret *ctx_secret_find(const ts_ctx *ctx, const char *path)
{
	size_t i;

	for (i = 0; ctx != NULL && i < ctx->nsecrets; i++)
		if (strcmp(ctx->secrets[i].path, path) == 0)
			return &ctx->secrets[i];
	return NULL;
}

/* Read one token's client_secret_file into the cache. A file that cannot be
 * read is remembered with the reason and logged, not fatal: the other
 * tokens must keep working. TS_ENOMEM only. */
static int ctx_secret_add(ts_ctx *ctx, const char *name, const char *path, ts_error *err)
{
	ctx_secret *grown, *s;
	ts_error sub = { 0 };
	int rc;

	grown = realloc(ctx->secrets, (ctx->nsecrets + 1) * sizeof(*grown));
	if (grown == NULL)
		return ts_enomem(err);
	ctx->secrets = grown;
	s = &ctx->secrets[ctx->nsecrets];
	memset(s, 0, sizeof(*s));
	if ((s->path = strdup(path)) == NULL)
		return ts_enomem(err);
	rc = ts_secret_file_read(&s->secret, ctx->store, path, &sub);
	if (rc == TS_ENOMEM) {
		free(s->path);
		return ts_enomem(err);
	}
	if (rc != TS_OK) {
		s->fail_code = rc;
		if ((s->fail = strdup(sub.msg)) == NULL) {
			free(s->path);
			return ts_enomem(err);
		}
		ts_ctx_log(ctx, TS_LOG_WARN,
			   "token '%s': field 'client_secret_file': %s; a refresh of this token fails until that is fixed (a program that has entered a chroot, like Postfix's smtp, must then be reloaded)",
			   name, sub.msg);
	}
	ctx->nsecrets++;
	return TS_OK;
}

/* Read the client_secret_file of every token of the store now, so that a
 * refresh after the program entered a chroot still has the secret. Tokens
 * whose configuration does not load are skipped: using them reports why. */
static int ctx_preload_secrets(ts_ctx *ctx, ts_error *err)
{
	ts_strlist names = { 0 };
	ts_error sub = { 0 };
	size_t i;
	int rc;

	rc = ts_store_list(ctx->store, &names, &sub);
	if (rc == TS_ENOMEM)
		return ts_enomem(err);
	if (rc != TS_OK) {
		ts_ctx_log(ctx, TS_LOG_WARN, "cannot list the tokens to read their client secret files: %s",
			   sub.msg);
		return TS_OK;
	}
	for (i = 0; i < names.n; i++) {
		ts_token_config *c = NULL;

		rc = ts_store_load_config(ctx->store, names.v[i], &c, &sub);
		if (rc == TS_ENOMEM)
			break;
		rc = TS_OK;
		if (c != NULL && c->client_secret == NULL && c->client_secret_file != NULL &&
		    ctx_secret_find(ctx, c->client_secret_file) == NULL)
			rc = ctx_secret_add(ctx, names.v[i], c->client_secret_file, err);
		if (c != NULL && rc == TS_OK)
			rc = ts_keycache_add_token(&ctx->keys, ctx, c, err);
		ts_token_config_free(c);
		if (rc != TS_OK)
			break;
	}
	ts_strlist_clear(&names);
	return rc == TS_ENOMEM ? ts_enomem(err) : rc;
}

/* Whether the process has entered a chroot since the context was opened. */
static bool ctx_chrooted(const ts_ctx *ctx)
{
	struct stat st;

	if (ctx == NULL || !ctx->have_root || stat("/", &st) != 0)
		return false;
	return st.st_dev != ctx->root_dev || st.st_ino != ctx->root_ino;
}

/* The store's events (e.g. a database outage bridged by cached values). */
static void ctx_store_log(void *arg, int level, const char *msg)
{
	ts_ctx_log(arg, (ts_log_level)level, "%s", msg);
}

int ts_ctx_open(ts_ctx **out, const ts_open_opts *opts, ts_error *err)
{
	static const ts_open_opts no_opts;
	ts_ctx *ctx;
	const char *cfgpath, *store, *tdir;
	bool explicit_cfg = true;
	int rc;

	*out = NULL;
	if (opts == NULL)
		opts = &no_opts;
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return ts_enomem(err);
	ctx->templates_fd = -1;
	pthread_mutex_init(&ctx->pending_lock, NULL);
	ctx->log = opts->log;
	ctx->log_arg = opts->log_arg;

	/* Configuration: a missing default file means built-in defaults. */
	cfgpath = opts->config_path;
	if (cfgpath == NULL)
		cfgpath = env_nonempty("SASL_OAUTH2_CONFIG");
	if (cfgpath == NULL)
		cfgpath = opts->plugin_config;
	if (cfgpath == NULL) {
		cfgpath = SYSCONFDIR "/sasl-oauth2/sasl-oauth2.conf";
		explicit_cfg = false;
	}
	rc = ts_global_config_load(&ctx->cfg, cfgpath, err);
	if (rc == TS_ENOTFOUND && !explicit_cfg)
		rc = ts_global_config_default(&ctx->cfg, err);
	else if (rc == TS_ENOTFOUND)
		rc = ts_error_set(err, TS_ENOTFOUND,
				  "configuration file %s does not exist; create it or give another with --config",
				  cfgpath);
	if (rc != TS_OK)
		goto cleanup;

	/* Store directory. */
	store = opts->store_dir;
	if (store == NULL)
		store = env_nonempty("SASL_OAUTH2_STORE");
	if (store == NULL)
		store = opts->plugin_store;
	if (store == NULL)
		store = ctx->cfg->store;
	if (store != NULL)
		rc = ts_strdup_to(&ctx->store_path, store, err);
	else
		rc = default_store(&ctx->store_path, err);
	if (rc != TS_OK)
		goto cleanup;
	if (ts_store_is_pg(ctx->store_path))
		rc = ts_store_open_pg(&ctx->store, ctx->store_path, ctx->cfg->http_timeout,
				      opts->store_flags, ctx_store_log, ctx, err);
	else
		rc = ts_store_open_file(&ctx->store, ctx->store_path, opts->store_flags, err);
	if (rc != TS_OK)
		goto cleanup;
	if ((ctx->cfg->secrets_key_file != NULL &&
	     (rc = ts_store_set_key_file(ctx->store, ctx->cfg->secrets_key_file, err)) != TS_OK) ||
	    (rc = ts_cache_new(&ctx->cache, err)) != TS_OK)
		goto cleanup;

	/* Templates: a missing directory is reported when a template is needed. */
	tdir = opts->templates_dir;
	if (tdir == NULL)
		tdir = env_nonempty("SASL_OAUTH2_TEMPLATES");
	if (tdir == NULL)
		tdir = ctx->cfg->templates_dir;
	if (tdir == NULL)
		tdir = TEMPLATESDIR;
	if ((rc = ts_strdup_to(&ctx->templates_dir, tdir, err)) != TS_OK)
		goto cleanup;
	ctx->templates_fd = open(tdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctx->templates_fd < 0)
		ts_ctx_log(ctx, TS_LOG_WARN, "templates directory %s cannot be opened: %s", tdir,
			   strerror(errno));

	if (opts->load_ca && (rc = load_ca(ctx, err)) != TS_OK)
		goto cleanup;
	{
		struct stat root;

		if (stat("/", &root) == 0) {
			ctx->have_root = true;
			ctx->root_dev = root.st_dev;
			ctx->root_ino = root.st_ino;
		}
	}
	if (opts->preload_secrets && (rc = ctx_preload_secrets(ctx, err)) != TS_OK)
		goto cleanup;
	*out = ctx;
	ctx = NULL;
	rc = TS_OK;
cleanup:
	ts_ctx_close(ctx);
	return rc;
}

void ts_ctx_close(ts_ctx *ctx)
{
	size_t i;

	if (ctx == NULL)
		return;
	for (i = 0; i < ctx->nsecrets; i++) {
		free(ctx->secrets[i].path);
		ts_free_secret(ctx->secrets[i].secret);
		free(ctx->secrets[i].fail);
	}
	free(ctx->secrets);
	ts_keycache_free(ctx->keys);
	ts_cache_free(ctx->cache);
	for (i = 0; i < ctx->npending; i++) {
		free(ctx->pending[i].name);
		ts_state_free(ctx->pending[i].state);
	}
	free(ctx->pending);
	pthread_mutex_destroy(&ctx->pending_lock);
	ts_global_config_free(ctx->cfg);
	ts_store_close(ctx->store);
	free(ctx->store_path);
	free(ctx->templates_dir);
	if (ctx->templates_fd >= 0)
		close(ctx->templates_fd);
	free(ctx->ca);
	free(ctx);
}

const ts_keycache *ts_ctx_keycache(const ts_ctx *ctx)
{
	return ctx ? ctx->keys : NULL;
}

bool ts_ctx_in_chroot(const ts_ctx *ctx)
{
	return ctx_chrooted(ctx);
}

const ts_global_config *ts_ctx_config(const ts_ctx *ctx)
{
	return ctx ? ctx->cfg : NULL;
}

ts_store *ts_ctx_store(ts_ctx *ctx)
{
	return ctx ? ctx->store : NULL;
}

ts_cache *ts_ctx_cache(ts_ctx *ctx)
{
	return ctx ? ctx->cache : NULL;
}

const char *ts_ctx_store_path(const ts_ctx *ctx)
{
	return ctx ? ctx->store_path : NULL;
}

const char *ts_ctx_templates_dir(const ts_ctx *ctx)
{
	return ctx ? ctx->templates_dir : NULL;
}

int ts_ctx_templates_fd(const ts_ctx *ctx)
{
	return ctx ? ctx->templates_fd : -1;
}

int ts_ctx_template_load(ts_template **out, ts_ctx *ctx, const char *name, ts_error *err)
{
	*out = NULL;
	if (ctx == NULL)
		return ts_error_set(err, TS_EINVAL, "no context");
	return ts_template_load_at(out, ctx->templates_fd, ctx->templates_dir, name, err);
}

void ts_ctx_log(ts_ctx *ctx, ts_log_level level, const char *fmt, ...)
{
	char msg[TS_ERRMSG_MAX];
	va_list ap;

	if (ctx == NULL || ctx->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->log(ctx->log_arg, level, msg);
}

const void *ts_ctx_ca_blob(const ts_ctx *ctx, size_t *len)
{
	if (len)
		*len = ctx && ctx->ca ? ctx->ca_len : 0;
	return ctx ? ctx->ca : NULL;
}

/* Load the token's template (if any) through the context. */
static int ctx_template(ts_template **out, ts_ctx *ctx, const ts_token_config *c, ts_error *err)
{
	ts_error sub;
	int rc;

	*out = NULL;
	if (c->template_name == NULL)
		return TS_OK;
	if (ctx == NULL)
		return ts_error_set(err, TS_EINVAL, "token '%s': no context to load template '%s'",
				    c->name ? c->name : "?", c->template_name);
	rc = ts_ctx_template_load(out, ctx, c->template_name, &sub);
	if (rc != TS_OK)
		return ts_error_set(err, rc, "token '%s': field 'template': %s", c->name ? c->name : "?",
				    sub.msg);
	return TS_OK;
}

/*
 * The client secret from client_secret_file: the copy read at open when
 * there is one, else the file now. Inside a chroot entered after the open,
 * the path usually does not exist: say so, and what to do.
 */
static int ctx_client_secret(char **out, ts_ctx *ctx, const char *name, const char *path,
			     ts_error *err)
{
	const ctx_secret *s = ctx_secret_find(ctx, path);
	ts_error sub = { 0 };
	int rc;

	*out = NULL;
	if (s != NULL && s->secret != NULL)
		return ts_strdup_to(out, s->secret, err);
	rc = ts_secret_file_read(out, ctx ? ctx->store : NULL, path, &sub);
	if (rc == TS_OK || rc == TS_ENOMEM)
		return rc == TS_OK ? TS_OK : ts_enomem(err);
	if (rc == TS_ENOTFOUND && ctx_chrooted(ctx)) {
		if (s != NULL)
			return ts_error_set(err, s->fail_code,
					    "token '%s': field 'client_secret_file': %s (when the plugin was loaded; the program has entered a chroot since): fix it and reload the program (e.g. postfix reload)",
					    name, s->fail);
		return ts_error_set(err, rc,
				    "token '%s': field 'client_secret_file': %s is not visible in the chroot this program entered after loading the plugin; reload the program (e.g. postfix reload) so the plugin reads it before the chroot, or store the secret in the token: sasl-oauth2 edit %s --client-secret-file %s",
				    name, path, name, path);
	}
	return ts_error_set(err, rc, "token '%s': field 'client_secret_file': %s", name, sub.msg);
}

int ts_token_resolve(ts_token_effective **out, ts_ctx *ctx, const ts_token_config *c, ts_error *err)
{
	ts_token_effective *e = NULL;
	ts_template *t = NULL;
	int rc;

	*out = NULL;
	if ((rc = ctx_template(&t, ctx, c, err)) != TS_OK)
		return rc;
	/* The secret file is read here rather than by the resolver, through
	 * the context's cache. */
	rc = ts_token_resolve_tpl(&e, c, t, ctx && ctx->cfg ? ctx->cfg->refresh_margin : 300, false, err);
	ts_template_free(t);
	if (rc != TS_OK)
		return rc;
	if (e->client_secret == NULL && c->client_secret_file != NULL &&
	    (rc = ctx_client_secret(&e->client_secret, ctx, c->name ? c->name : "?",
				    c->client_secret_file, err)) != TS_OK) {
		ts_token_effective_free(e);
		return rc;
	}
	if ((rc = ts_keys_resolve(e, ctx, c, err)) != TS_OK) {
		ts_token_effective_free(e);
		return rc;
	}
	*out = e;
	return TS_OK;
}

int ts_token_config_check(ts_ctx *ctx, const ts_token_config *c, ts_error *err)
{
	ts_token_effective *e = NULL;
	ts_template *t = NULL;
	int rc;

	if (c == NULL || c->name == NULL)
		return ts_error_set(err, TS_EINVAL, "token configuration without a name");
	if ((rc = ts_name_check(c->name, err)) != TS_OK)
		return rc;
	if (c->template_name == NULL)
		return ts_error_set(err, TS_EINVAL,
				    "token '%s': field 'template' is missing; choose one from: sasl-oauth2 templates",
				    c->name);
	if ((rc = ctx_template(&t, ctx, c, err)) != TS_OK)
		return rc;
	rc = ts_token_resolve_tpl(&e, c, t, ctx && ctx->cfg ? ctx->cfg->refresh_margin : 300, false, err);
	ts_token_effective_free(e);
	ts_template_free(t);
	return rc;
}

int ts_ctx_token_effective(ts_token_effective **out, ts_ctx *ctx, const char *name, ts_error *err)
{
	ts_token_config *c = NULL;
	int rc;

	*out = NULL;
	if ((rc = ts_store_load_config(ts_ctx_store(ctx), name, &c, err)) != TS_OK)
		return rc;
	rc = ts_token_resolve(out, ctx, c, err);
	ts_token_config_free(c);
	return rc;
}

/*
 * Refreshed states that could not be saved (a full disk): the answer may
 * have rotated the refresh token, and the old one must never be sent again,
 * so the process keeps the new state here until a later call under the
 * token's lock writes it. Threads share the context: a mutex guards it.
 */
static ctx_pending *pending_find(ts_ctx *ctx, const char *name)
{
	size_t i;

	for (i = 0; i < ctx->npending; i++)
		if (strcmp(ctx->pending[i].name, name) == 0)
			return &ctx->pending[i];
	return NULL;
}

int ts_ctx_pending_put(ts_ctx *ctx, const char *name, const ts_state *s, ts_error *err)
{
	ts_state *copy = NULL;
	ctx_pending *p, *grown;
	int rc;

	if (ctx == NULL)
		return TS_OK;
	if ((rc = ts_state_dup(&copy, s, err)) != TS_OK)
		return rc;
	pthread_mutex_lock(&ctx->pending_lock);
	if ((p = pending_find(ctx, name)) != NULL) {
		ts_state_free(p->state);
		p->state = copy;
		copy = NULL;
	} else if ((grown = realloc(ctx->pending, (ctx->npending + 1) * sizeof(*grown))) != NULL) {
		ctx->pending = grown;
		p = &ctx->pending[ctx->npending];
		if ((p->name = strdup(name)) != NULL) {
			p->state = copy;
			copy = NULL;
			ctx->npending++;
		}
	}
	pthread_mutex_unlock(&ctx->pending_lock);
	if (copy != NULL) {
		ts_state_free(copy);
		return ts_enomem(err);
	}
	return TS_OK;
}

int ts_ctx_pending_get(ts_state **out, ts_ctx *ctx, const char *name, ts_error *err)
{
	ctx_pending *p;
	int rc = TS_OK;

	*out = NULL;
	if (ctx == NULL || ctx->npending == 0)
		return TS_OK;
	pthread_mutex_lock(&ctx->pending_lock);
	if ((p = pending_find(ctx, name)) != NULL)
		rc = ts_state_dup(out, p->state, err);
	pthread_mutex_unlock(&ctx->pending_lock);
	return rc;
}

void ts_ctx_pending_drop(ts_ctx *ctx, const char *name)
{
	ctx_pending *p;

	if (ctx == NULL || ctx->npending == 0)
		return;
	pthread_mutex_lock(&ctx->pending_lock);
	if ((p = pending_find(ctx, name)) != NULL) {
		free(p->name);
		ts_state_free(p->state);
		*p = ctx->pending[--ctx->npending];
	}
	pthread_mutex_unlock(&ctx->pending_lock);
}
