/*
 * bench_access.c - how fast the token store answers, for `make bench`
 * (tests/bench/run.sh starts the test OAuth2 server and authorizes a token
 * first). Not a test: it prints a table and fails only when something does
 * not work at all, or when a herd makes more than one refresh request.
 *
 *   (a) ts_token_get_access on a valid cached token: the plugin's hot path
 *   (b) ts_token_select + ts_token_get_access in stores of 1, 10, 100 tokens
 *   (c) a full refresh against the server: lock, POST, atomic state write
 *   (d) 20 processes at once on one expired token: wall time, requests
 * With --pg URI (a postgresql:// store whose schema exists) the same for the
 * database store, and the ratio of (a) to the file store's:
 *   (e) get_access, valid cached token, database store
 *   (f) a full refresh through the database: row lock, POST, commit
 *   (g) 3 "machines" (three spellings of the URI) x 10 processes at once
 *
 * Usage: bench_access --dir DIR --url URL --store STORE --token NAME
 *                     [--seconds S] [--refreshes N] [--herd N] [--pg URI]
 * DIR is scratch space for the fabricated stores of (a) and (b); STORE holds
 * the authorized token NAME used by (c) and (d); URL is the server's base.
 */
#include "config.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tokenstore.h"
#include "oauth.h"
#include "oauth_http_p.h"

static const char *opt_dir, *opt_url, *opt_store, *opt_token, *opt_pg;
static double opt_seconds = 1.0;
static int opt_refreshes = 20, opt_herd = 20;
static char config_path[4096];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const ts_error *err)
{
	fprintf(stderr, "bench_access: %s: %s\n", what, err && err->msg[0] ? err->msg : "failed");
	exit(1);
}

static ts_ctx *ctx_open(const char *store)
{
	ts_open_opts o;
	ts_error err = { 0 };
	ts_ctx *ctx = NULL;

	memset(&o, 0, sizeof o);
	o.config_path = config_path;
	o.store_dir = store;
	o.store_flags = TS_STORE_CREATE;
	if (ts_ctx_open(&ctx, &o, &err) != TS_OK)
		die("cannot open the store", &err);
	return ctx;
}

/* A token as `add` writes it, with a state holding a cached access token
 * valid for an hour: what a mail program finds on most logins. */
static void make_token(ts_ctx *ctx, const char *name, const char *user)
{
	static const char *const sets[][2] = {
		{ "client_id", "confidential-client" },
		{ "auth_url", "http://127.0.0.1:9/authorize" },
		{ "token_url", "http://127.0.0.1:9/token" },
		{ "scope", "imap,smtp,offline_access" },
	};
	ts_token_config *c = NULL;
	ts_state *s = NULL;
	ts_lock *lk = NULL;
	ts_error err = { 0 };
	size_t i;

	if (ts_token_config_new(&c, name, &err) != TS_OK)
		die("config", &err);
	c->template_name = strdup("generic");
	c->client_secret = strdup("confidential-secret");
	if (!c->template_name || !c->client_secret)
		die("out of memory", NULL);
	for (i = 0; i < sizeof sets / sizeof sets[0]; i++)
		if (ts_token_config_set(c, sets[i][0], sets[i][1], &err) != TS_OK)
			die(sets[i][0], &err);
	if (ts_token_config_set(c, "user", user, &err) != TS_OK ||
	    ts_store_save_config(ts_ctx_store(ctx), c, &err) != TS_OK)
		die("save config", &err);
	if (ts_state_new(&s, &err) != TS_OK)
		die("state", &err);
	s->access_token = strdup("at-bench-cached-access-token-0123456789abcdef");
	s->token_type = strdup("Bearer");
	s->refresh_token = strdup("rt-bench-refresh-token-0123456789abcdef");
	s->scope = strdup("imap smtp offline_access");
	if (!s->access_token || !s->token_type || !s->refresh_token || !s->scope)
		die("out of memory", NULL);
	s->expires_at = ts_now() + 3600;
	s->last_refresh = s->last_attempt = ts_now();
	if (ts_store_lock(ts_ctx_store(ctx), name, 5000, &lk, &err) != TS_OK ||
	    ts_store_save_state(ts_ctx_store(ctx), name, s, &err) != TS_OK)
		die("save state", &err);
	ts_store_unlock(ts_ctx_store(ctx), lk);
	ts_state_free(s);
	ts_token_config_free(c);
}

/* The context's cache reads files younger than 2 s again at every use
 * (tokenstore/cache.c): measure what mail programs meet, settled files. */
static void settle(void)
{
	struct timespec ts = { 2, 200 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

/* One operation of a timed loop; dies on failure. */
typedef void bench_fn(ts_ctx *ctx, const void *arg);

/* Run `fn` for about opt_seconds; microseconds per call in *us. */
static double run_for(ts_ctx *ctx, bench_fn *fn, const void *arg, double *us)
{
	double t0 = now_s(), t;
	long n = 0;

	do {
		int k;

		for (k = 0; k < 50; k++)
			fn(ctx, arg);
		n += 50;
		t = now_s() - t0;
	} while (t < opt_seconds);
	*us = t / (double)n * 1e6;
	return (double)n / t;
}

static void get_access(ts_ctx *ctx, const void *arg)
{
	ts_error err = { 0 };
	char *tok = NULL;

	if (ts_token_get_access(&tok, NULL, ctx, arg, 0, &err) != TS_OK)
		die("ts_token_get_access", &err);
	ts_free_secret(tok);
}

typedef struct select_arg {
	const char *authname;
	const char *password;
} select_arg;

static void select_get(ts_ctx *ctx, const void *arg)
{
	const select_arg *a = arg;
	ts_error err = { 0 };
	char *name = NULL;

	if (ts_token_select(&name, ctx, a->authname, a->password, &err) != TS_OK)
		die("ts_token_select", &err);
	get_access(ctx, name);
	free(name);
}

static void row(const char *what, double us, double per_s)
{
	printf("%-50s %10.1f us %10.0f/s\n", what, us, per_s);
}

/* Requests the server answered for grant_type `grant`, from its /stats. */
static long server_count(ts_ctx *ctx, const char *grant)
{
	oa2_http_result res = { 0 };
	ts_error err = { 0 };
	json_object *o = NULL, *g = NULL, *v = NULL;
	char url[1024];
	long n = -1;

	snprintf(url, sizeof url, "%s/stats", opt_url);
	if (oa2_http_get(&res, ctx, NULL, "stats", url, &err) != TS_OK)
		die("server /stats", &err);
	o = json_tokener_parse(res.body ? res.body : "");
	if (o && json_object_object_get_ex(o, "grant_types", &g) &&
	    json_object_object_get_ex(g, grant, &v))
		n = (long)json_object_get_int64(v);
	else if (o)
		n = 0;
	json_object_put(o);
	oa2_http_result_clear(&res);
	if (n < 0)
		die("server /stats is not JSON", NULL);
	return n;
}

/* (a) in the file store, or (e) in `store` when given; returns us/call. */
static double bench_cached(const char *store_uri)
{
	char store[4096];
	ts_ctx *ctx;
	double us, rate;

	snprintf(store, sizeof store, "%s/store-a", opt_dir);
	ctx = ctx_open(store_uri ? store_uri : store);
	make_token(ctx, "work", "alice@example.test");
	settle();
	rate = run_for(ctx, get_access, "work", &us);
	row(store_uri ? "(e) get_access, valid cached token, database" :
	    "(a) get_access, valid cached token", us, rate);
	ts_ctx_close(ctx);
	return us;
}

static void bench_select(int ntokens)
{
	char store[4096], name[32], user[64], what[96];
	ts_ctx *ctx;
	double us, rate;
	int i, by_name;

	snprintf(store, sizeof store, "%s/store-b%d", opt_dir, ntokens);
	ctx = ctx_open(store);
	for (i = 0; i < ntokens; i++) {
		snprintf(name, sizeof name, "t%03d", i);
		snprintf(user, sizeof user, "user%03d@example.test", i);
		make_token(ctx, name, user);
	}
	settle();
	/* The last token of the listing: selecting it by user reads every
	 * configuration; by name (the SASL password) reads one. */
	for (by_name = 0; by_name <= 1; by_name++) {
		select_arg a = { user, by_name ? name : NULL };

		snprintf(what, sizeof what, "(b) select by %s + get_access, %3d token%s",
			 by_name ? "name" : "user", ntokens, ntokens == 1 ? "" : "s");
		rate = run_for(ctx, select_get, &a, &us);
		row(what, us, rate);
	}
	ts_ctx_close(ctx);
}

static void bench_refresh(const char *store, const char *what)
{
	ts_ctx *ctx = ctx_open(store);
	ts_error err = { 0 };
	double t0, t, min = 1e9, max = 0, sum = 0;
	long r0, r1;
	int i;

	r0 = server_count(ctx, "refresh_token");
	for (i = 0; i < opt_refreshes; i++) {
		t0 = now_s();
		if (ts_token_refresh(ctx, opt_token, &err) != TS_OK)
			die("ts_token_refresh", &err);
		t = now_s() - t0;
		sum += t;
		min = t < min ? t : min;
		max = t > max ? t : max;
	}
	r1 = server_count(ctx, "refresh_token");
	printf("%-50s %10.2f ms %10.0f/s   (min %.2f ms, max %.2f ms, %ld requests)\n",
	       what, sum / opt_refreshes * 1e3,
	       opt_refreshes / sum, min * 1e3, max * 1e3, r1 - r0);
	ts_ctx_close(ctx);
	if (r1 - r0 != opt_refreshes) {
		fprintf(stderr, "bench_access: %d refreshes made %ld requests\n", opt_refreshes, r1 - r0);
		exit(1);
	}
}

/* Make the cached access token of the refreshed token expired. */
static void expire(ts_ctx *ctx)
{
	ts_store *st = ts_ctx_store(ctx);
	ts_state *s = NULL;
	ts_lock *lk = NULL;
	ts_error err = { 0 };

	if (ts_store_lock(st, opt_token, 5000, &lk, &err) != TS_OK ||
	    ts_store_load_state(st, opt_token, &s, &err) != TS_OK)
		die("expire", &err);
	s->expires_at = ts_now() - 60;
	if (ts_store_save_state(st, opt_token, s, &err) != TS_OK)
		die("expire", &err);
	ts_store_unlock(st, lk);
	ts_state_free(s);
}

/* `per` processes for each of the `nstores` spellings of one store ("machines")
 * at once on one expired token: wall time and requests. 0 when exactly one
 * request was made and every process got a token. */
static int herd(const char *const *stores, int nstores, int per, const char *what)
{
	ts_ctx *ctx = ctx_open(stores[0]);
	int n = nstores * per;
	pid_t *pids = calloc((size_t)n, sizeof *pids);
	double t0, t;
	long r0, r1;
	int i, failed = 0;

	if (!pids)
		die("out of memory", NULL);
	expire(ctx);
	r0 = server_count(ctx, "refresh_token");
	fflush(stdout);
	t0 = now_s();
	for (i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork", NULL);
		if (pids[i] == 0) {
			/* Each process on its own, as separate mail programs are. */
			ts_ctx *c = ctx_open(stores[i % nstores]);
			ts_error err = { 0 };
			char *tok = NULL;
			int rc = ts_token_get_access(&tok, NULL, c, opt_token, 0, &err);

			if (rc != TS_OK)
				fprintf(stderr, "bench_access: herd: %s\n", err.msg);
			ts_free_secret(tok);
			ts_ctx_close(c);
			_exit(rc == TS_OK ? 0 : 1);
		}
	}
	for (i = 0; i < n; i++) {
		int status;

		while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	t = now_s() - t0;
	r1 = server_count(ctx, "refresh_token");
	printf("%-50s %10.1f ms wall, %ld refresh request%s, %d failed\n", what, t * 1e3, r1 - r0,
	       r1 - r0 == 1 ? "" : "s", failed);
	free(pids);
	ts_ctx_close(ctx);
	return r1 - r0 == 1 && failed == 0 ? 0 : 1;
}

/* The database store: (e), (f), (g), and the cached-login ratio to (a). */
static int bench_pg(double file_us)
{
	char what[96], local[1024], multi[1024];
	const char *stores[3];
	const char *at = strchr(opt_pg, '@'), *port = at ? strchr(at, ':') : NULL;
	double us = bench_cached(opt_pg);

	printf("%-50s %10.2f x   (1.00 = same cost as the file store)\n",
	       "    cached login, database / file store", us / file_us);
	bench_refresh(opt_pg, "(f) refresh via database: row lock, POST, commit");
	/* Three machines: three spellings of the same database. */
	if (at == NULL || port == NULL || strncmp(at, "@127.0.0.1:", 11) != 0) {
		fprintf(stderr, "bench_access: --pg must look like postgresql://USER@127.0.0.1:PORT/DB\n");
		return 1;
	}
	snprintf(local, sizeof local, "%.*s@localhost%s", (int)(at - opt_pg), opt_pg, port);
	snprintf(multi, sizeof multi, "%.*s@127.0.0.1:1,127.0.0.1%s%ctarget_session_attrs=read-write",
		 (int)(at - opt_pg), opt_pg, port, strchr(port, '?') ? '&' : '?');
	stores[0] = opt_pg;
	stores[1] = local;
	stores[2] = multi;
	snprintf(what, sizeof what, "(g) herd: 3 machines x %d processes, database", 10);
	return herd(stores, 3, 10, what);
}

int main(int argc, char **argv)
{
	char what[96];
	double file_us;
	int i, rc;

	for (i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (strcmp(k, "--dir") == 0)
			opt_dir = v;
		else if (strcmp(k, "--url") == 0)
			opt_url = v;
		else if (strcmp(k, "--store") == 0)
			opt_store = v;
		else if (strcmp(k, "--token") == 0)
			opt_token = v;
		else if (strcmp(k, "--seconds") == 0)
			opt_seconds = atof(v);
		else if (strcmp(k, "--refreshes") == 0)
			opt_refreshes = atoi(v);
		else if (strcmp(k, "--herd") == 0)
			opt_herd = atoi(v);
		else if (strcmp(k, "--pg") == 0)
			opt_pg = v;
		else
			break;
	}
	if (i != argc || !opt_dir || !opt_url || !opt_store || !opt_token || opt_seconds <= 0 ||
	    opt_refreshes < 1 || opt_herd < 1) {
		fprintf(stderr, "usage: bench_access --dir DIR --url URL --store STORE --token NAME "
			"[--seconds S] [--refreshes N] [--herd N] [--pg URI]\n");
		return 2;
	}
	/* An empty global configuration: built-in defaults, whatever the host has. */
	snprintf(config_path, sizeof config_path, "%s/bench.conf", opt_dir);
	{
		FILE *f = fopen(config_path, "w");

		if (!f || fputs("# bench_access: defaults\n", f) == EOF || fclose(f) != 0)
			die("cannot write the configuration", NULL);
	}
	printf("%-50s %13s %12s\n", "what", "per call", "rate");
	file_us = bench_cached(NULL);
	bench_select(1);
	bench_select(10);
	bench_select(100);
	bench_refresh(opt_store, "(c) refresh: lock, POST, atomic write");
	snprintf(what, sizeof what, "(d) herd: %d processes, one expired token", opt_herd);
	rc = herd((const char *const[]){ opt_store }, 1, opt_herd, what);
	if (opt_pg != NULL && bench_pg(file_us) != 0)
		rc = 1;
	return rc;
}
