/* test_root.c - root working in a store that belongs to another user (the
 * documented Postfix setup): every file of that store and every secret
 * file its tokens name is opened with the owner's rights, never root's;
 * secret files are single lines and never symbolic links; files in the
 * store and lock files must belong to the store's owner, and a lock file
 * that is a hard link is refused untouched. Needs root (skipped otherwise). */
#include <config.h>

#include <errno.h>
#include <sys/stat.h>

#include "unit.h"

#define OWNER 65534
#define OTHER 65533

static const char *tmp;
static char store[300], tdir[600];

/* What the context logged. */
static char logged[8192];

static void log_collect(void *arg, ts_log_level level, const char *msg)
{
	size_t n = strlen(logged);

	(void)arg;
	(void)level;
	snprintf(logged + n, sizeof(logged) - n, "%s\n", msg);
}

/* A file written by root, then given to `uid`. */
static void write_as(const char *path, const char *text, mode_t mode, uid_t uid)
{
	unit_write(path, text, mode);
	if (chown(path, uid, uid) != 0)
		tap_diag("chown %s: %s", path, strerror(errno));
}

static void write_token(const char *name, const char *secret_file, uid_t uid)
{
	char path[700], text[1400];

	snprintf(path, sizeof(path), "%s/%s.yaml", store, name);
	snprintf(text, sizeof(text),
		 "name: %s\ntemplate: generic\nclient_id: app-%s\nclient_secret_file: %s\n"
		 "flow: client_credentials\nclient_auth: post\ntoken_url: http://127.0.0.1:9/token\n",
		 name, name, secret_file);
	write_as(path, text, 0600, uid);
}

static ts_ctx *open_ctx(bool preload, ts_error *e)
{
	ts_open_opts o;
	ts_ctx *ctx = NULL;
	char cfg[700];

	snprintf(cfg, sizeof(cfg), "%s/empty.conf", tmp);
	memset(&o, 0, sizeof(o));
	memset(e, 0, sizeof(*e));
	o.store_dir = store;
	o.config_path = cfg;
	o.templates_dir = tdir;
	o.preload_secrets = preload;
	o.log = log_collect;
	if (ts_ctx_open(&ctx, &o, e) != TS_OK)
		tap_diag("ctx open: %s", e->msg);
	return ctx;
}

/* The secret of token `name` as the context resolves it; NULL on error. */
static char *secret_of(ts_ctx *ctx, const char *name, ts_error *e)
{
	ts_token_effective *eff = NULL;
	char *s = NULL;

	memset(e, 0, sizeof(*e));
	if (ctx != NULL && ts_ctx_token_effective(&eff, ctx, name, e) == TS_OK && eff->client_secret)
		s = strdup(eff->client_secret);
	ts_token_effective_free(eff);
	return s;
}

static void test_secret_files(void)
{
	char rootsec[700], svcdir[650], svcsec[700], link[700], multi[700], path[700];
	ts_ctx *ctx;
	ts_error e;
	char *s;

	snprintf(rootsec, sizeof(rootsec), "%s/rootsecret", tmp);
	snprintf(svcdir, sizeof(svcdir), "%.600s/svcsecrets", tmp);
	snprintf(svcsec, sizeof(svcsec), "%s/svc.secret", svcdir);
	snprintf(link, sizeof(link), "%s/link.secret", svcdir);
	snprintf(multi, sizeof(multi), "%s/multi.secret", svcdir);
	unit_write(rootsec, "ROOT-ONLY-SECRET\n", 0600);
	mkdir(svcdir, 0755);
	write_as(svcsec, "svc-secret\n", 0600, OWNER);
	write_as(multi, "-----BEGIN KEY-----\nSECOND-LINE\n", 0600, OWNER);
	if (symlink(svcsec, link) != 0 || lchown(link, OWNER, OWNER) != 0)
		tap_diag("symlink: %s", strerror(errno));
	write_token("rootonly", rootsec, OWNER);
	write_token("mine", svcsec, OWNER);
	write_token("linked", link, OWNER);
	write_token("multi", multi, OWNER);

	/* The plugin's open: secrets preloaded as root, before a setuid. */
	logged[0] = '\0';
	ctx = open_ctx(true, &e);
	tap_ok(ctx != NULL, "root opens the service user's store with preloaded secrets");
	s = secret_of(ctx, "rootonly", &e);
	tap_ok(s == NULL, "a root-only file named by the store's owner is not read by root");
	free(s);
	if (!tap_ok(e.code == TS_EPERM && unit_has(e.msg, rootsec) && unit_has(e.msg, "uid 65534") &&
		    unit_has(e.msg, "chown 65534"),
		    "the refusal names the file, the store owner's uid and the fix"))
		tap_diag("  code %d: %s", e.code, e.msg);
	tap_ok(!unit_has(logged, "ROOT-ONLY-SECRET") && unit_has(logged, rootsec),
	       "the preload logs the refusal, never the file's content");
	s = secret_of(ctx, "mine", &e);
	if (!tap_ok(s != NULL && strcmp(s, "svc-secret") == 0,
		    "a secret file of the store's owner is read (with the owner's rights)"))
		tap_diag("  %s", e.msg);
	free(s);
	s = secret_of(ctx, "linked", &e);
	if (!tap_ok(s == NULL && unit_has(e.msg, "symbolic link"), "a secret file that is a symbolic link is refused"))
		tap_diag("  %s", e.msg);
	free(s);
	s = secret_of(ctx, "multi", &e);
	if (!tap_ok(s == NULL && unit_has(e.msg, "more than one line") && !unit_has(e.msg, "SECOND-LINE"),
		    "a secret file of more than one line is refused, without its content"))
		tap_diag("  %s", e.msg);
	free(s);
	ts_ctx_close(ctx);

	/* The helper's way: no preload, the file read when needed. */
	ctx = open_ctx(false, &e);
	s = secret_of(ctx, "rootonly", &e);
	tap_ok(s == NULL && e.code == TS_EPERM && unit_has(e.msg, "uid 65534"),
	       "without preload, root still reads it only with the owner's rights");
	free(s);
	ts_ctx_close(ctx);

	/* A private key file (private_key_jwt) is read the same way. */
	{
		char keytok[700], text[1400];

		snprintf(keytok, sizeof(keytok), "%s/jwtkey.yaml", store);
		snprintf(text, sizeof(text),
			 "name: jwtkey\ntemplate: generic\nclient_id: app\nclient_auth: private_key_jwt\n"
			 "client_key_file: %s\nflow: client_credentials\ntoken_url: http://127.0.0.1:9/token\n",
			 rootsec);
		write_as(keytok, text, 0600, OWNER);
		ctx = open_ctx(false, &e);
		s = secret_of(ctx, "jwtkey", &e);
		if (!tap_ok(s == NULL && e.code == TS_EPERM && unit_has(e.msg, rootsec) &&
			    unit_has(e.msg, "uid 65534"),
			    "a root-only client_key_file named by the store's owner is not read by root"))
			tap_diag("  code %d: %s", e.code, e.msg);
		free(s);
		ts_ctx_close(ctx);
		unlink(keytok);
	}

	/* A configuration in the store that belongs to someone else. */
	write_token("foreign", svcsec, OTHER);
	ctx = open_ctx(false, &e);
	s = secret_of(ctx, "foreign", &e);
	if (!tap_ok(s == NULL && e.code == TS_EPERM && unit_has(e.msg, "owned by uid 65533") &&
		    unit_has(e.msg, "chown 65534"),
		    "a token configuration owned by another user is refused"))
		tap_diag("  %s", e.msg);
	free(s);
	ts_ctx_close(ctx);
	snprintf(path, sizeof(path), "%s/foreign.yaml", store);
	unlink(path);
}

static void test_lock_files(void)
{
	char victim[700], lockf[700], cfg[700];
	ts_store *st = NULL;
	ts_lock *lk = NULL;
	struct stat sb;
	ts_error e;
	int rc;

	snprintf(cfg, sizeof(cfg), "%s/empty.conf", tmp);
	memset(&e, 0, sizeof(e));
	if (ts_store_open_file(&st, store, 0, &e) != TS_OK) {
		tap_diag("store open: %s", e.msg);
		return;
	}
	/* The owner plants a hard link to a root file as the lock file. */
	snprintf(victim, sizeof(victim), "%s/victim", tmp);
	snprintf(lockf, sizeof(lockf), "%s/hl.lock", store);
	unit_write(victim, "root data\n", 0666);
	if (link(victim, lockf) != 0)
		tap_diag("link: %s", strerror(errno));
	rc = ts_store_lock(st, "hl", 100, &lk, &e);
	if (!tap_ok(rc == TS_EPERM && unit_has(e.msg, "links"), "a lock file with two links is refused"))
		tap_diag("  rc %d: %s", rc, e.msg);
	ts_store_unlock(st, lk);
	lk = NULL;
	tap_ok(stat(victim, &sb) == 0 && sb.st_uid == 0 && sb.st_gid == 0 && (sb.st_mode & 07777) == 0666,
	       "the hard link's target keeps its owner and mode");

	/* A lock file owned by someone other than the store's owner. */
	snprintf(lockf, sizeof(lockf), "%s/other.lock", store);
	write_as(lockf, "", 0644, OTHER);
	rc = ts_store_lock(st, "other", 100, &lk, &e);
	if (!tap_ok(rc == TS_EPERM && unit_has(e.msg, "owned by uid 65533"),
		    "a lock file owned by another user is refused"))
		tap_diag("  rc %d: %s", rc, e.msg);
	ts_store_unlock(st, lk);
	lk = NULL;
	tap_ok(stat(lockf, &sb) == 0 && sb.st_uid == OTHER && (sb.st_mode & 07777) == 0644,
	       "and is left as it was (no chmod, no chown)");

	/* An existing lock of the owner's is used as it is. */
	snprintf(lockf, sizeof(lockf), "%s/kept.lock", store);
	write_as(lockf, "", 0640, OWNER);
	rc = ts_store_lock(st, "kept", 100, &lk, &e);
	tap_ok(rc == TS_OK && stat(lockf, &sb) == 0 && (sb.st_mode & 07777) == 0640,
	       "the owner's existing lock file is used and not chmodded");
	ts_store_unlock(st, lk);
	lk = NULL;

	/* A missing lock file is created new, for the owner, 0600. */
	snprintf(lockf, sizeof(lockf), "%s/fresh.lock", store);
	umask(0);
	rc = ts_store_lock(st, "fresh", 100, &lk, &e);
	umask(077);
	tap_ok(rc == TS_OK && stat(lockf, &sb) == 0 && sb.st_uid == OWNER && (sb.st_mode & 07777) == 0600 &&
	       sb.st_nlink == 1, "a missing lock file is created for the store's owner, 0600");
	ts_store_unlock(st, lk);
	ts_store_close(st);
}

int main(void)
{
	const char *src = getenv("top_srcdir");
	char cfg[700];

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (to own files as other users)\n");
		return 0;
	}
	tmp = unit_tmpdir();
	/* Other users must reach the files below. */
	chmod(tmp, 0711);
	/* The build's copy (templates/local.mk), with installed modes. */
	if (getenv("top_builddir") != NULL)
		snprintf(tdir, sizeof(tdir), "%s/tests/templates", getenv("top_builddir"));
	else
		snprintf(tdir, sizeof(tdir), "%s/templates", src && *src ? src : ".");
	snprintf(store, sizeof(store), "%s/svcstore", tmp);
	snprintf(cfg, sizeof(cfg), "%s/empty.conf", tmp);
	unit_write(cfg, "", 0644);
	mkdir(store, 0700);
	if (chown(store, OWNER, OWNER) != 0)
		tap_diag("chown store: %s", strerror(errno));
	test_secret_files();
	test_lock_files();
	{
		/* The global configuration of another user is not root's. */
		char other[700];
		ts_open_opts o;
		ts_ctx *ctx = NULL;
		ts_error e;
		int rc;

		snprintf(other, sizeof(other), "%s/nobody.conf", tmp);
		write_as(other, "refresh_margin: 60\n", 0644, OWNER);
		memset(&o, 0, sizeof(o));
		memset(&e, 0, sizeof(e));
		o.store_dir = store;
		o.config_path = other;
		o.templates_dir = tdir;
		rc = ts_ctx_open(&ctx, &o, &e);
		if (!tap_ok(rc == TS_EPERM && unit_has(e.msg, "owned by uid 65534") && unit_has(e.msg, "chown 0"),
			    "a configuration file owned by another user is refused"))
			tap_diag("  rc %d: %s", rc, e.msg);
		ts_ctx_close(ctx);
	}
	return tap_done();
}
