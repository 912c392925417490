/*
 * test_cache.c - the context's cache of parsed tokens (tokenstore/cache.c)
 * never serves what the store no longer holds. One context stays open, as
 * in a mail program that loaded the plugin, and logs in (ts_token_login)
 * before and after another process changes the store: a refresh, a
 * rejection, an `edit` by the helper, files replaced behind its back with
 * the same size and a forged mtime, tokens added and removed.
 *
 * SASL_OAUTH2_TEST_CACHE_SETTLE_MS=0 makes the cache trust a stamp at once
 * (normally not within 2 s of a change), so a change the stamps missed
 * would be served stale and fail these tests.
 */
#include <config.h>

#include <sys/wait.h>
#include <time.h>

#include "oauth.h"
#include "unit.h"

#define FAR "4000000000"

static const char *tmp;
static char store[300], conf[300], helper[600];

static void write_state(const char *name, const char *access, const char *extra)
{
	char path[400], text[600];

	snprintf(path, sizeof(path), "%s/%s.state", store, name);
	snprintf(text, sizeof(text),
		 "{\"access_token\": \"%s\", \"token_type\": \"Bearer\", \"expires_at\": " FAR
		 ", \"refresh_token\": \"rt-%s\", \"generation\": 1%s}\n", access, name, extra);
	unit_write(path, text, 0600);
}

static void write_config(const char *name, const char *user, const char *validity)
{
	char path[400], text[800];

	snprintf(path, sizeof(path), "%s/%s.yaml", store, name);
	snprintf(text, sizeof(text),
		 "name: %s\ntemplate: generic\nuser: %s\nclient_id: app\nclient_secret: s3cret\n"
		 "auth_url: http://127.0.0.1:9/authorize\ntoken_url: http://127.0.0.1:9/token\n"
		 "validity: %s\n", name, user, validity);
	unit_write(path, text, 0600);
}

/*
 * Replace <store>/<file> by `text` the way another program might: a new
 * file renamed over it (rename) or the same file rewritten (in place); then
 * the mtime set back to the old one, as `touch -d` would. The size must
 * stay the same for the test to mean anything.
 */
static void replace_behind(const char *file, const char *text, bool rename_over)
{
	char path[400], tmpf[420];
	struct stat before;
	struct timespec times[2];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", store, file);
	snprintf(tmpf, sizeof(tmpf), "%s/.%s.new", store, file);
	if (stat(path, &before) != 0 || (size_t)before.st_size != strlen(text)) {
		printf("Bail out! %s: not the same size as the replacement\n", path);
		exit(99);
	}
	if (rename_over) {
		unit_write(tmpf, text, 0600);
		fd = open(tmpf, O_WRONLY);
	} else {
		fd = open(path, O_WRONLY);
		if (fd < 0 || pwrite(fd, text, strlen(text), 0) != (ssize_t)strlen(text))
			exit(99);
	}
	times[0] = before.st_atim;
	times[1] = before.st_mtim;
	if (fd < 0 || futimens(fd, times) != 0)
		exit(99);
	close(fd);
	if (rename_over && rename(tmpf, path) != 0)
		exit(99);
}

/* Run the helper with `args` (another process); its exit status. */
static int run_helper(const char *args)
{
	char cmd[2048];
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' --store '%s' --config '%s' %s >/dev/null 2>&1", helper,
		 store, conf, args);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* In a child process with its own context, as another mail program. */
static int other_process(int (*fn)(ts_ctx *ctx))
{
	pid_t pid = fork();
	int st = -1;

	if (pid == 0) {
		ts_open_opts o = { .config_path = conf, .store_dir = store };
		ts_error e = { 0 };
		ts_ctx *ctx = NULL;

		if (ts_ctx_open(&ctx, &o, &e) != TS_OK)
			_exit(98);
		st = fn(ctx);
		ts_ctx_close(ctx);
		_exit(st);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Another process refreshes: a new state written under the lock. */
static int refresh_elsewhere(ts_ctx *ctx)
{
	ts_store *st = ts_ctx_store(ctx);
	ts_state *s = NULL;
	ts_lock *lk = NULL;
	ts_error e = { 0 };
	int rc;

	if (ts_store_lock(st, "work", 5000, &lk, &e) != TS_OK)
		return 1;
	rc = ts_store_load_state(st, "work", &s, &e) == TS_OK ? 0 : 2;
	if (rc == 0) {
		ts_free_secret(s->access_token);
		s->access_token = strdup("at-fresh-from-elsewhere");
		rc = ts_store_save_state(st, "work", s, &e) == TS_OK ? 0 : 3;
	}
	ts_state_free(s);
	ts_store_unlock(st, lk);
	return rc;
}

static int reject_elsewhere(ts_ctx *ctx)
{
	ts_error e = { 0 };

	return ts_token_mark_rejected(ctx, "work", "at-fresh-from-elsewhere", &e) == TS_OK ? 0 : 1;
}

/* One login by the long-lived context; *access gets a copy (or NULL). */
static int login(ts_ctx *ctx, const char *authname, const char *password, char **access,
		 ts_validity *validity, ts_error *e)
{
	ts_login l;
	int rc;

	memset(e, 0, sizeof(*e));
	rc = ts_token_login(&l, ctx, authname, password, NULL, e);
	*access = l.access ? strdup(l.access) : NULL;
	if (validity)
		*validity = l.validity;
	ts_login_clear(&l);
	return rc;
}

static bool is(const char *got, const char *want)
{
	return got != NULL && strcmp(got, want) == 0;
}

int main(void)
{
	ts_open_opts o = { 0 };
	ts_ctx *ctx = NULL;
	ts_error e = { 0 };
	ts_validity v;
	char *at = NULL;
	const char *bd = getenv("top_builddir");
	int rc;

	setenv("SASL_OAUTH2_TEST_CACHE_SETTLE_MS", "0", 1);
	tmp = unit_tmpdir();
	snprintf(store, sizeof(store), "%s/store", tmp);
	snprintf(conf, sizeof(conf), "%s/empty.conf", tmp);
	snprintf(helper, sizeof(helper), "%s/sasl-oauth2", bd ? bd : ".");
	mkdir(store, 0700);
	unit_write(conf, "# defaults\n", 0600);
	write_config("work", "alice@example.test", "valid");
	write_state("work", "at-cached-00000000000", "");

	o.config_path = conf;
	o.store_dir = store;
	if (ts_ctx_open(&ctx, &o, &e) != TS_OK) {
		printf("Bail out! %s\n", e.msg);
		return 99;
	}

	rc = login(ctx, "alice@example.test", NULL, &at, NULL, &e);
	tap_ok(rc == TS_OK && is(at, "at-cached-00000000000"), "first login by user: %s",
	       rc ? e.msg : at);
	free(at);
	rc = login(ctx, "alice@example.test", NULL, &at, NULL, &e);
	tap_ok(rc == TS_OK && is(at, "at-cached-00000000000"), "second login from the cache");
	free(at);

	/* Another process's refresh is seen on the next login. */
	tap_ok(other_process(refresh_elsewhere) == 0, "another process refreshes");
	rc = login(ctx, "alice@example.test", "work", &at, NULL, &e);
	tap_ok(rc == TS_OK && is(at, "at-fresh-from-elsewhere"),
	       "the next login sends the token of that refresh (%s)", at ? at : e.msg);
	free(at);

	/* A token rejected by one process is refreshed by the next. */
	tap_ok(other_process(reject_elsewhere) == 0, "another process marks the token rejected");
	rc = login(ctx, "alice@example.test", NULL, &at, NULL, &e);
	tap_ok(rc == TS_ENET && at == NULL && strstr(e.msg, "127.0.0.1:9") != NULL,
	       "the next login refreshes instead of sending the rejected token (rc %d: %s)", rc,
	       e.msg);
	free(at);
	write_state("work", "at-cached-11111111111", "");
	rc = login(ctx, "alice@example.test", NULL, &at, NULL, &e);
	tap_ok(rc == TS_OK && is(at, "at-cached-11111111111"), "a new state is used at once");
	free(at);

	/* An edit by the helper takes effect on the next login, both ways. */
	tap_ok(run_helper("edit work --set validity=invalid") == 0, "helper: edit validity=invalid");
	rc = login(ctx, "alice@example.test", NULL, &at, &v, &e);
	tap_ok(rc == TS_OK && at == NULL && v == TS_VALIDITY_INVALID,
	       "the next login sees validity invalid (rc %d, validity %d)", rc, (int)v);
	free(at);
	tap_ok(run_helper("edit work --set validity=valid") == 0, "helper: edit validity=valid");
	rc = login(ctx, "alice@example.test", "work", &at, &v, &e);
	tap_ok(rc == TS_OK && is(at, "at-cached-11111111111") && v == TS_VALIDITY_VALID,
	       "and valid again on the login after (rc %d)", rc);
	free(at);

	/* Replaced by rename, same size, mtime forged: the state... */
	{
		char text[600];

		snprintf(text, sizeof(text),
			 "{\"access_token\": \"%s\", \"token_type\": \"Bearer\", \"expires_at\": " FAR
			 ", \"refresh_token\": \"rt-work\", \"generation\": 1}\n",
			 "at-cached-22222222222");
		replace_behind("work.state", text, true);
		rc = login(ctx, "alice@example.test", NULL, &at, NULL, &e);
		tap_ok(rc == TS_OK && is(at, "at-cached-22222222222"),
		       "state renamed over (same size, old mtime): the new token is sent (%s)",
		       at ? at : e.msg);
		free(at);
	}
	/* ... and the configuration: the user changes, same length. */
	{
		char path[400];
		FILE *f;
		char text[800];
		size_t n;

		snprintf(path, sizeof(path), "%s/work.yaml", store);
		f = fopen(path, "r");
		n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
		if (f)
			fclose(f);
		text[n] = '\0';
		if (strstr(text, "alice@") == NULL)
			return 99;
		memcpy(strstr(text, "alice@"), "alicf@", 6);
		replace_behind("work.yaml", text, true);
		rc = login(ctx, "alice@example.test", NULL, &at, NULL, &e);
		tap_ok(rc == TS_ENOTFOUND && at == NULL,
		       "configuration renamed over: the old user no longer selects it (rc %d)", rc);
		free(at);
		rc = login(ctx, "alicf@example.test", NULL, &at, NULL, &e);
		tap_ok(rc == TS_OK && is(at, "at-cached-22222222222"),
		       "and the new user does (rc %d: %s)", rc, rc ? e.msg : "");
		free(at);

		/* Rewritten in place (the directory does not change): seen
		 * within the cache's epoch of one second. */
		memcpy(strstr(text, "alicf@"), "alice@", 6);
		replace_behind("work.yaml", text, false);
		{
			struct timespec ts = { 1, 200 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
		rc = login(ctx, "alice@example.test", NULL, &at, NULL, &e);
		tap_ok(rc == TS_OK && is(at, "at-cached-22222222222"),
		       "configuration rewritten in place, old mtime: seen after a second (rc %d)",
		       rc);
		free(at);
	}

	/* Tokens added and removed by another process change the selection. */
	tap_ok(run_helper("add twin --template generic --user ALICE@example.test --client-id app "
			  "--set auth_url=http://127.0.0.1:9/a --set token_url=http://127.0.0.1:9/t") == 0,
	       "helper: add a second token for the same user");
	rc = login(ctx, "alice@example.test", NULL, &at, NULL, &e);
	tap_ok(rc == TS_EINVAL && strstr(e.msg, "twin, work") != NULL,
	       "the next login by user is ambiguous (%s)", e.msg);
	free(at);
	rc = login(ctx, "alice@example.test", "work", &at, NULL, &e);
	tap_ok(rc == TS_OK && is(at, "at-cached-22222222222"), "by name it still works");
	free(at);
	tap_ok(run_helper("remove twin") == 0, "helper: remove the second token");
	rc = login(ctx, "alice@example.test", NULL, &at, NULL, &e);
	tap_ok(rc == TS_OK && is(at, "at-cached-22222222222"),
	       "the next login by user selects the one left (rc %d: %s)", rc, rc ? e.msg : "");
	free(at);
	/* Mailboxes added to users by another process select the token. */
	rc = login(ctx, "bob@corp.test", NULL, &at, NULL, &e);
	tap_ok(rc == TS_ENOTFOUND, "bob@corp.test has no token yet (rc %d)", rc);
	free(at);
	tap_ok(run_helper("edit work --set users=*@corp.test") == 0,
	       "helper: edit users=*@corp.test");
	{
		ts_login l;

		rc = ts_token_login(&l, ctx, "bob@corp.test", NULL, NULL, &e);
		tap_ok(rc == TS_OK && is(l.name, "work") && is(l.mailbox, "bob@corp.test") &&
		       is(l.access, "at-cached-22222222222"),
		       "the next login as bob@corp.test uses it, as that mailbox (rc %d: %s)", rc,
		       rc ? e.msg : "");
		ts_login_clear(&l);
	}
	tap_ok(run_helper("remove work") == 0, "helper: remove the token");
	rc = login(ctx, "alice@example.test", "work", &at, NULL, &e);
	tap_ok(rc == TS_ENOTFOUND && at == NULL, "a removed token is not served (rc %d)", rc);
	free(at);

	ts_ctx_close(ctx);
	return tap_done();
}
