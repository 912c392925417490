/*
 * store_pg.c - the PostgreSQL backend of the token store, through libpq.
 *
 * Several machines share one database; every guarantee of the file store
 * holds across them:
 * - one row per token in sasl_oauth2_tokens (and one per extra state key
 *   "NAME#HASH" of a jwt_bearer token acting for other mailboxes, with
 *   only a state): `config` is the token's YAML
 *   document and `state` its JSON state, the very texts of <name>.yaml and
 *   <name>.state. Keeping the texts (rather than a column per key) means one
 *   parser and one validator for both backends, a schema that does not
 *   change when a configuration key is added, and export/import that move
 *   rows and files alike;
 * - the per-token lock is a session advisory lock keyed by the token's
 *   state key (pg_advisory_lock, waiting at most `lock_timeout`), held on
 *   this connection across transactions: refresh.c writes the state before
 *   it spends a refresh token and again, with retries, after the answer,
 *   and each of those writes must be durable (committed) while the lock is
 *   still held. A row lock (SELECT ... FOR UPDATE) ends with the first
 *   commit, so it cannot serve. The holder re-reads the row under the lock;
 *   a lost connection drops the lock on the server, and is not silently
 *   re-made while this process believes it holds one. Connection poolers
 *   in transaction mode (pgbouncer) do not keep session locks: connect to
 *   the server, or pool by session;
 * - reads are cached in the process for PG_RECHECK_MS: a valid access
 *   token is handed out with no round trip, and an edit made elsewhere (for
 *   example validity: invalid) is seen within that time. The holder of a
 *   lock always reads the database. While the database is unreachable the
 *   cached values are used as they are, so a token that is still valid
 *   keeps working; anything else is a TS_ENET temporary failure. The stamps
 *   the context's cache asks for (pg_stamp) come from these cached rows
 *   (the row's xmin, which every update changes), so they cost no round
 *   trip either;
 * - the schema version is in sasl_oauth2_schema; `init` (TS_STORE_INIT)
 *   creates or upgrades it under an advisory lock, any other open checks it.
 *
 * Connections: one per store, made at open (the plugin opens before a
 * chroot). A lost connection is re-established with PQreset, which reuses
 * what libpq read at open (the password from ~/.pgpass, and hostaddr, which
 * open fills in by resolving the host names, so no name service is needed
 * later). libpq reads sslrootcert, sslcert and sslkey again at every
 * connection: inside a chroot those files must exist at the same paths.
 * The mutex is recursive and held by a lock holder until unlock, because
 * a libpq connection serves one caller at a time.
 */
#include <config.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "pq_dl_p.h"

#include "ts_p.h"

#define PG_SCHEMA_VERSION 1
#define PG_RECHECK_MS 5000      /* edits made elsewhere are seen within this */
#define PG_RETRY_MS 2000        /* after a failed reconnect, use the cache this long */
#define PG_MAX_PARAMS 64

typedef struct pg_entry {
	char *name;
	bool exists;                /* the row has a configuration */
	ts_token_config *config;
	ts_state *state;            /* NULL: no state yet */
	int64_t fetched_ms;
	uint64_t xmin;              /* the row version read (0: no row) */
	uint64_t local;             /* changes this process made since */
} pg_entry;

typedef struct pg_store {
	PGconn *conn;
	pthread_mutex_t mu;         /* recursive; a lock holder keeps it */
	char *locked;               /* name whose row lock the open transaction holds */
	bool in_tx;                 /* schema_init's transaction is open */
	pg_entry *cache;
	size_t ncache;
	ts_strlist names;           /* cached list */
	int64_t names_ms;           /* 0: not cached */
	uint64_t names_version;     /* changes whenever the list read differs */
	int64_t retry_after_ms;     /* no reconnect before this (monotonic)... */
	bool stale_ok;              /* ...when the caller has cached values to fall back on */
	void (*log)(void *arg, int level, const char *msg);
	void *log_arg;
} pg_store;

struct ts_lock {
	ts_store *st;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pg_store *pg_of(ts_store *st)
{
	return st->priv;
}

static void pg_log(pg_store *ps, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void pg_log(pg_store *ps, int level, const char *fmt, ...)
{
	char msg[TS_ERRMSG_MAX];
	va_list ap;

	if (ps->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ps->log(ps->log_arg, level, msg);
}

/* libpq's messages end in a newline and may span indented lines: one
 * line here, the pieces joined by "; ". */
static void one_line(char *dst, size_t n, const char *src)
{
	size_t i = 0;
	bool sep = false;

	for (; src != NULL && *src != '\0' && i + 3 < n; src++) {
		if (*src == '\n' || *src == '\r' || *src == '\t') {
			sep = i > 0;
			continue;
		}
		if (sep && *src == ' ')
			continue;
		if (sep) {
			dst[i++] = ';';
			dst[i++] = ' ';
			sep = false;
		}
		dst[i++] = *src;
	}
	dst[i] = '\0';
}

static bool conn_lost(pg_store *ps, const char *sqlstate)
{
	if (PQstatus(ps->conn) != CONNECTION_OK)
		return true;
	/* connection_exception, admin/crash shutdown, cannot connect now */
	return sqlstate != NULL && (strncmp(sqlstate, "08", 2) == 0 ||
				    strcmp(sqlstate, "57P01") == 0 || strcmp(sqlstate, "57P02") == 0 ||
				    strcmp(sqlstate, "57P03") == 0);
}

/* Turn a failed result (or a failed connection when res is NULL) into a
 * ts_code and one line naming the store, what failed and what to do. */
static int pg_error(ts_store *st, PGresult *res, const char *what, ts_error *err)
{
	pg_store *ps = pg_of(st);
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char msg[512];

	one_line(msg, sizeof(msg), res ? PQresultErrorMessage(res) : PQerrorMessage(ps->conn));
	if (msg[0] == '\0')
		one_line(msg, sizeof(msg), PQerrorMessage(ps->conn));
	if (conn_lost(ps, state))
		return ts_error_set(err, TS_ENET,
				    "store %s: %s: the database is unreachable (%s); this is temporary: check that the database is up (pg_isready) and reachable from here",
				    st->location, what, msg);
	if (state != NULL && strcmp(state, "55P03") == 0)
		return ts_error_set(err, TS_ELOCKED,
				    "store %s: %s: the token's row stayed locked by another process beyond lock_timeout; try again, or look for a hung sasl-oauth2 process (pg_stat_activity)",
				    st->location, what);
	if (state != NULL && strcmp(state, "42P01") == 0)
		return ts_error_set(err, TS_ENOTFOUND,
				    "store %s: the database has no sasl-oauth2 schema; create it with: sasl-oauth2 --store URI init",
				    st->location);
	if (state != NULL && strcmp(state, "42501") == 0)
		return ts_error_set(err, TS_EPERM, "store %s: %s: %s; grant the database user access to the sasl_oauth2_* tables",
				    st->location, what, msg);
	return ts_error_set(err, TS_EIO, "store %s: %s: %s", st->location, what, msg);
}

/* Make sure a connection is up before a statement outside a transaction:
 * PQreset when it was lost; at most once per PG_RETRY_MS when cached values
 * can stand in, so an outage does not slow down every login. */
static int pg_ensure(ts_store *st, const char *what, ts_error *err)
{
	pg_store *ps = pg_of(st);
	int64_t now;

	if (PQstatus(ps->conn) == CONNECTION_OK)
		return TS_OK;
	now = mono_ms();
	if (ps->stale_ok && now < ps->retry_after_ms)
		return pg_error(st, NULL, what, err);
	PQreset(ps->conn);
	if (PQstatus(ps->conn) != CONNECTION_OK) {
		ps->retry_after_ms = mono_ms() + PG_RETRY_MS;
		return pg_error(st, NULL, what, err);
	}
	ps->retry_after_ms = 0;
	pg_log(ps, TS_LOG_INFO, "store %s: reconnected to the database", st->location);
	return TS_OK;
}

/* Run one statement with text parameters. Outside a transaction a lost
 * connection is re-established and the statement tried once more. *out
 * gets the result (PQclear it) when `out` is non-NULL and all went well. */
static int pg_exec(PGresult **out, ts_store *st, const char *sql, int n, const char *const *v,
		   const char *what, ts_error *err)
{
	pg_store *ps = pg_of(st);
	PGresult *res = NULL;
	int attempt, rc = TS_OK;

	if (out != NULL)
		*out = NULL;
	for (attempt = 0; attempt < 2; attempt++) {
		ExecStatusType es;

		/* Never reconnect under a lock: the new session would not hold it. */
		if (ps->locked != NULL && PQstatus(ps->conn) != CONNECTION_OK)
			return pg_error(st, NULL, what, err);
		if (!ps->in_tx && (rc = pg_ensure(st, what, err)) != TS_OK)
			return rc;
		res = n > 0 ? PQexecParams(ps->conn, sql, n, NULL, v, NULL, NULL, 0) : PQexec(ps->conn, sql);
		es = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
		if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
			if (out != NULL)
				*out = res;
			else
				PQclear(res);
			return TS_OK;
		}
		rc = pg_error(st, res, what, err);
		PQclear(res);
		res = NULL;
		if (rc != TS_ENET || ps->in_tx || ps->locked != NULL || attempt == 1)
			break;
		/* Lost between statements (server restarted): reconnect once. */
		ps->retry_after_ms = 0;
	}
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Cache                                                                     */

static void entry_clear(pg_entry *e)
{
	free(e->name);
	ts_token_config_free(e->config);
	ts_state_free(e->state);
	memset(e, 0, sizeof(*e));
}

static pg_entry *cache_find(pg_store *ps, const char *name)
{
	size_t i;

	for (i = 0; i < ps->ncache; i++)
		if (strcmp(ps->cache[i].name, name) == 0)
			return &ps->cache[i];
	return NULL;
}

static void cache_drop(pg_store *ps, const char *name)
{
	pg_entry *e = cache_find(ps, name);

	if (e == NULL)
		return;
	entry_clear(e);
	*e = ps->cache[--ps->ncache];
	ps->names_ms = 0;
}

/* Take over `c` and `s` as the cached row of `name`, version `xmin`. */
static int cache_put(pg_store *ps, const char *name, bool exists, ts_token_config *c, ts_state *s,
		     uint64_t xmin, ts_error *err)
{
	pg_entry *e = cache_find(ps, name);

	if (e == NULL) {
		pg_entry *grown = realloc(ps->cache, (ps->ncache + 1) * sizeof(*grown));

		if (grown == NULL)
			goto nomem;
		ps->cache = grown;
		e = &ps->cache[ps->ncache];
		memset(e, 0, sizeof(*e));
		if ((e->name = strdup(name)) == NULL)
			goto nomem;
		ps->ncache++;
	} else {
		ts_token_config_free(e->config);
		ts_state_free(e->state);
	}
	e->exists = exists;
	e->config = c;
	e->state = s;
	e->fetched_ms = mono_ms();
	e->xmin = xmin;
	return TS_OK;
nomem:
	ts_token_config_free(c);
	ts_state_free(s);
	return ts_enomem(err);
}

/* Read the row of `name` into the cache. */
static int row_fetch(ts_store *st, const char *name, ts_error *err)
{
	static const char sql[] = "SELECT config, state, xmin FROM sasl_oauth2_tokens WHERE name = $1";
	pg_store *ps = pg_of(st);
	const char *v[1] = { name };
	ts_token_config *c = NULL;
	ts_state *s = NULL;
	PGresult *res = NULL;
	char origin[TS_NAME_MAX + 64];
	bool exists = false;
	int rc;

	if ((rc = pg_exec(&res, st, sql, 1, v, "cannot read a token", err)) != TS_OK)
		return rc;
	snprintf(origin, sizeof(origin), "%s row '%s'", "sasl_oauth2_tokens", name);
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
		const char *t = PQgetvalue(res, 0, 0);

		exists = true;
		if ((rc = ts_token_config_parse_named(&c, t, strlen(t), origin, name, err)) != TS_OK)
			goto cleanup;
	}
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 1)) {
		const char *t = PQgetvalue(res, 0, 1);

		if ((rc = ts_state_parse(&s, t, strlen(t), origin, err)) != TS_OK)
			goto cleanup;
	}
	rc = cache_put(ps, name, exists, c, s,
		       PQntuples(res) == 1 ? strtoull(PQgetvalue(res, 0, 2), NULL, 10) + 1 : 0, err);
	c = NULL;
	s = NULL;
cleanup:
	/* The texts held secrets (client secret, tokens): wipe libpq's copy. */
	if (PQntuples(res) == 1) {
		ts_wipe(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
		ts_wipe(PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1));
	}
	PQclear(res);
	ts_token_config_free(c);
	ts_state_free(s);
	return rc;
}

/* The cached row of `name`, fetched again when older than PG_RECHECK_MS or
 * when this process holds its lock. An unreachable database leaves the
 * cached row in use (logged). */
static int row_get(pg_entry **out, ts_store *st, const char *name, ts_error *err)
{
	pg_store *ps = pg_of(st);
	pg_entry *e = cache_find(ps, name);
	bool mine = ps->locked != NULL && strcmp(ps->locked, name) == 0;
	int rc;

	*out = NULL;
	if ((rc = ts_state_key_check(name, err)) != TS_OK)
		return rc;
	if (e != NULL && !mine && mono_ms() - e->fetched_ms < PG_RECHECK_MS) {
		*out = e;
		return TS_OK;
	}
	ps->stale_ok = e != NULL && !mine;
	rc = row_fetch(st, name, err);
	ps->stale_ok = false;
	if (rc == TS_ENET && !mine && (e = cache_find(ps, name)) != NULL) {
		pg_log(ps, TS_LOG_WARN, "token '%s': using the values read %lld s ago: %s", name,
		       (long long)((mono_ms() - e->fetched_ms) / 1000), err ? err->msg : "");
		*out = e;
		return TS_OK;
	}
	if (rc == TS_OK)
		*out = cache_find(ps, name);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Backend operations                                                       */

/* Read the token list again when the cached one is older than
 * PG_RECHECK_MS (an unreachable database leaves the old one in use). */
static int list_get(ts_store *st, ts_error *err)
{
	static const char sql[] =
		"SELECT name FROM sasl_oauth2_tokens WHERE config IS NOT NULL ORDER BY name";
	pg_store *ps = pg_of(st);
	PGresult *res = NULL;
	ts_strlist fresh = { 0 };
	bool same;
	int i, rc;

	if (ps->names_ms != 0 && mono_ms() - ps->names_ms < PG_RECHECK_MS)
		return TS_OK;
	ps->stale_ok = ps->names_ms != 0;
	rc = pg_exec(&res, st, sql, 0, NULL, "cannot list the tokens", err);
	ps->stale_ok = false;
	if (rc == TS_ENET && ps->names_ms != 0) {
		pg_log(ps, TS_LOG_WARN, "using the token list read %lld s ago: %s",
		       (long long)((mono_ms() - ps->names_ms) / 1000), err ? err->msg : "");
		return TS_OK;
	}
	if (rc != TS_OK)
		return rc;
	for (i = 0; i < PQntuples(res); i++) {
		if (ts_name_check(PQgetvalue(res, i, 0), NULL) != TS_OK)
			continue;
		if (ts_strlist_add(&fresh, PQgetvalue(res, i, 0)) != TS_OK) {
			rc = ts_enomem(err);
			goto cleanup;
		}
	}
	same = fresh.n == ps->names.n;
	for (i = 0; same && (size_t)i < fresh.n; i++)
		same = strcmp(fresh.v[i], ps->names.v[i]) == 0;
	if (!same)
		ps->names_version++;
	ts_strlist_clear(&ps->names);
	ps->names = fresh;
	fresh.v = NULL;
	fresh.n = 0;
	ps->names_ms = mono_ms();
cleanup:
	PQclear(res);
	ts_strlist_clear(&fresh);
	return rc;
}

static int pg_list(ts_store *st, ts_strlist *out, ts_error *err)
{
	pg_store *ps = pg_of(st);
	int rc;

	pthread_mutex_lock(&ps->mu);
	if ((rc = list_get(st, err)) == TS_OK && ts_strlist_copy(out, &ps->names) != TS_OK)
		rc = ts_enomem(err);
	pthread_mutex_unlock(&ps->mu);
	return rc;
}

/* For the context's cache: versions from the cached rows, no round trip
 * except the re-check every PG_RECHECK_MS. */
static int pg_stamp(ts_store *st, ts_obj what, const char *name, ts_stamp *out, ts_error *err)
{
	pg_store *ps = pg_of(st);
	pg_entry *e = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&ps->mu);
	if (what == TS_OBJ_LIST) {
		if ((rc = list_get(st, err)) == TS_OK)
			out->v[0] = ps->names_version;
	} else if ((rc = row_get(&e, st, name, err)) == TS_OK) {
		if (what == TS_OBJ_CONFIG ? !e->exists : e->state == NULL)
			rc = TS_ENOTFOUND;
		out->v[0] = e->xmin;
		out->v[1] = e->local;
	}
	pthread_mutex_unlock(&ps->mu);
	return rc;
}

static int pg_load_config(ts_store *st, const char *name, ts_token_config **out, ts_error *err)
{
	pg_store *ps = pg_of(st);
	pg_entry *e = NULL;
	int rc;

	*out = NULL;
	if ((rc = ts_name_check(name, err)) != TS_OK)
		return rc;
	pthread_mutex_lock(&ps->mu);
	if ((rc = row_get(&e, st, name, err)) != TS_OK)
		goto cleanup;
	if (!e->exists || e->config == NULL)
		rc = ts_error_set(err, TS_ENOTFOUND,
				  "token '%s' not found in store %s; create it with: sasl-oauth2 add %s --template TEMPLATE",
				  name, st->location, name);
	else
		rc = ts_token_config_dup(out, e->config, err);
cleanup:
	pthread_mutex_unlock(&ps->mu);
	return rc;
}

static int pg_load_state(ts_store *st, const char *name, ts_state **out, ts_error *err)
{
	pg_store *ps = pg_of(st);
	pg_entry *e = NULL;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&ps->mu);
	if ((rc = row_get(&e, st, name, err)) != TS_OK)
		goto cleanup;
	if (e->state == NULL)
		rc = ts_error_set(err, TS_ENOTFOUND,
				  "token '%s' has no state yet (never authorized); run: sasl-oauth2 authorize %s",
				  name, name);
	else
		rc = ts_state_dup(out, e->state, err);
cleanup:
	pthread_mutex_unlock(&ps->mu);
	return rc;
}

static int pg_save_config(ts_store *st, const ts_token_config *c, ts_error *err)
{
	static const char sql[] =
		"INSERT INTO sasl_oauth2_tokens (name, config) VALUES ($1, $2) "
		"ON CONFLICT (name) DO UPDATE SET config = EXCLUDED.config, updated_at = now()";
	pg_store *ps = pg_of(st);
	pg_entry *e = NULL;
	char *text = NULL;
	const char *v[2];
	int rc;

	if ((rc = ts_name_check(c->name, err)) != TS_OK)
		return rc;
	pthread_mutex_lock(&ps->mu);
	/* The template is permanent, as in the file store: compare with the
	 * row as it is now, not as cached. */
	cache_drop(ps, c->name);
	if ((rc = row_get(&e, st, c->name, err)) != TS_OK)
		goto cleanup;
	if (e->exists && e->config != NULL) {
		const char *a = e->config->template_name ? e->config->template_name : "";
		const char *b = c->template_name ? c->template_name : "";

		if (strcmp(a, b) != 0) {
			rc = ts_error_set(err, TS_EINVAL,
					  "token '%s': field 'template' is permanent: the saved token uses '%s', not '%s'; remove the token first (sasl-oauth2 remove %s) and add it again",
					  c->name, a, b, c->name);
			goto cleanup;
		}
	}
	if ((rc = ts_token_config_emit(&text, c, true, err)) != TS_OK)
		goto cleanup;
	v[0] = c->name;
	v[1] = text;
	rc = pg_exec(NULL, st, sql, 2, v, "cannot save the token configuration", err);
cleanup:
	cache_drop(ps, c->name);
	ts_free_secret(text);
	pthread_mutex_unlock(&ps->mu);
	return rc;
}

static int pg_save_state(ts_store *st, const char *name, ts_state *s, ts_error *err)
{
	static const char sql[] =
		"INSERT INTO sasl_oauth2_tokens (name, state) VALUES ($1, $2) "
		"ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state, updated_at = now()";
	pg_store *ps = pg_of(st);
	char *text = NULL;
	const char *v[2];
	ts_state *copy = NULL;
	int rc;

	if ((rc = ts_state_key_check(name, err)) != TS_OK)
		return rc;
	pthread_mutex_lock(&ps->mu);
	s->generation++;
	if ((rc = ts_state_emit(&text, s, err)) != TS_OK)
		goto cleanup;
	v[0] = name;
	v[1] = text;
	/* One statement, committed at once: durable before the caller goes on
	 * (and spends the refresh token), while the caller holds the lock. */
	rc = pg_exec(NULL, st, sql, 2, v, "cannot save the token state", err);
	if (rc == TS_OK && ts_state_dup(&copy, s, NULL) == TS_OK) {
		pg_entry *e = cache_find(ps, name);

		if (e != NULL) {
			ts_state_free(e->state);
			e->state = copy;
			e->fetched_ms = mono_ms();
			e->local++;
		} else {
			ts_state_free(copy);
		}
	} else {
		cache_drop(ps, name);
	}
cleanup:
	if (rc != TS_OK)
		s->generation--;
	ts_free_secret(text);
	pthread_mutex_unlock(&ps->mu);
	return rc;
}

static void pg_rollback(ts_store *st)
{
	pg_store *ps = pg_of(st);

	if (ps->in_tx) {
		PQclear(PQexec(ps->conn, "ROLLBACK"));
		ps->in_tx = false;
	}
}

/* The advisory lock's keys: a constant for this program, and the hash of
 * the state key (a collision only makes two tokens wait for each other). */
#define PG_LOCK_SQL(fn) "SELECT " fn "(1397703982, hashtext($1))"

static int pg_lock(ts_store *st, const char *name, int timeout_ms, ts_lock **out, ts_error *err)
{
	pg_store *ps = pg_of(st);
	const char *v[1] = { name };
	char set[64];
	ts_lock *lk = NULL;
	int rc, rc2;

	*out = NULL;
	if ((rc = ts_state_key_check(name, err)) != TS_OK)
		return rc;
	pthread_mutex_lock(&ps->mu);
	if (ps->locked != NULL) {
		/* One lock at a time per connection (this thread holds it). */
		rc = ts_error_set(err, TS_EINVAL, "token '%s': this process already holds the lock of token '%s'",
				  name, ps->locked);
		pthread_mutex_unlock(&ps->mu);
		return rc;
	}
	if ((lk = calloc(1, sizeof(*lk))) == NULL) {
		rc = ts_enomem(err);
		goto fail;
	}
	lk->st = st;
	snprintf(set, sizeof(set), "SET lock_timeout = %d", timeout_ms > 0 ? timeout_ms : 1);
	if ((rc = pg_exec(NULL, st, set, 0, NULL, "cannot lock a token", err)) != TS_OK)
		goto fail;
	rc = pg_exec(NULL, st, PG_LOCK_SQL("pg_advisory_lock"), 1, v, "cannot lock a token", err);
	rc2 = pg_exec(NULL, st, "SET lock_timeout = 0", 0, NULL, "cannot lock a token", NULL);
	if (rc == TS_OK && rc2 != TS_OK) {
		(void)pg_exec(NULL, st, PG_LOCK_SQL("pg_advisory_unlock"), 1, v, "unlock", NULL);
		rc = pg_error(st, NULL, "cannot lock a token", err);
	}
	if (rc != TS_OK)
		goto fail;
	if ((ps->locked = strdup(name)) == NULL) {
		(void)pg_exec(NULL, st, PG_LOCK_SQL("pg_advisory_unlock"), 1, v, "unlock", NULL);
		rc = ts_enomem(err);
		goto fail;
	}
	*out = lk;
	return TS_OK; /* the mutex stays held until unlock */
fail:
	if (rc == TS_ELOCKED)
		ts_error_set(err, TS_ELOCKED,
			     "token '%s' is locked by another process and was not released within %d ms; try again, or look for a hung process (pg_stat_activity, pg_locks)",
			     name, timeout_ms);
	free(lk);
	pthread_mutex_unlock(&ps->mu);
	return rc;
}

static void pg_unlock(ts_lock *lk)
{
	pg_store *ps;
	const char *v[1];

	if (lk == NULL)
		return;
	ps = pg_of(lk->st);
	v[0] = ps->locked;
	/* A lost connection has dropped the lock on the server already. */
	if (PQstatus(ps->conn) == CONNECTION_OK)
		(void)pg_exec(NULL, lk->st, PG_LOCK_SQL("pg_advisory_unlock"), 1, v, "unlock", NULL);
	free(ps->locked);
	ps->locked = NULL;
	free(lk);
	pthread_mutex_unlock(&ps->mu);
}

static int pg_remove(ts_store *st, const char *name, ts_error *err)
{
	/* The token's row and the rows of its other state keys (NAME#HASH). */
	static const char sql[] =
		"DELETE FROM sasl_oauth2_tokens WHERE name = $1 OR left(name, length($1) + 1) = $1 || '#' "
		"RETURNING name = $1 AND config IS NOT NULL";
	pg_store *ps = pg_of(st);
	const char *v[1] = { name };
	PGresult *res = NULL;
	int rc;

	if ((rc = ts_name_check(name, err)) != TS_OK)
		return rc;
	pthread_mutex_lock(&ps->mu);
	rc = pg_exec(&res, st, sql, 1, v, "cannot remove the token", err);
	if (rc == TS_OK) {
		bool had = false;
		size_t i, n = strlen(name);

		for (i = 0; i < (size_t)PQntuples(res); i++)
			had = had || strcmp(PQgetvalue(res, (int)i, 0), "t") == 0;
		if (!had)
			rc = ts_error_set(err, TS_ENOTFOUND, "token '%s' not found in store %s", name,
					  st->location);
		for (i = ps->ncache; i-- > 0;)
			if (strncmp(ps->cache[i].name, name, n) == 0 && ps->cache[i].name[n] == '#')
				cache_drop(ps, ps->cache[i].name);
	}
	cache_drop(ps, name);
	PQclear(res);
	pthread_mutex_unlock(&ps->mu);
	return rc;
}

static void pg_close(ts_store *st)
{
	pg_store *ps;
	size_t i;

	if (st == NULL)
		return;
	ps = st->priv;
	if (ps != NULL) {
		if (ps->conn != NULL)
			PQfinish(ps->conn);
		for (i = 0; i < ps->ncache; i++)
			entry_clear(&ps->cache[i]);
		free(ps->cache);
		ts_strlist_clear(&ps->names);
		free(ps->locked);
		pthread_mutex_destroy(&ps->mu);
		free(ps);
	}
	free(st->location);
	free(st);
}

static const ts_backend pg_backend = {
	.name = "postgresql",
	.list = pg_list,
	.load_config = pg_load_config,
	.save_config = pg_save_config,
	.load_state = pg_load_state,
	.save_state = pg_save_state,
	.lock = pg_lock,
	.unlock = pg_unlock,
	.remove = pg_remove,
	.close = pg_close,
	.stamp = pg_stamp,
};

/* ---------------------------------------------------------------------- */
/* Schema                                                                   */

/* Each step takes the schema from version i to i + 1. */
static const char *const schema_steps[PG_SCHEMA_VERSION] = {
	"CREATE TABLE sasl_oauth2_tokens ("
	" name text PRIMARY KEY"
	"  CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}(#[0-9a-f]{32})?$'),"
	" config text,"
	" state text,"
	" updated_at timestamptz NOT NULL DEFAULT now())",
};

static int schema_version(int *out, ts_store *st, ts_error *err)
{
	PGresult *res = NULL;
	int rc;

	*out = 0;
	rc = pg_exec(&res, st, "SELECT coalesce(max(version), 0) FROM sasl_oauth2_schema", 0, NULL,
		     "cannot read the schema version", err);
	if (rc == TS_OK)
		*out = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc;
}

static int schema_init(ts_store *st, ts_error *err)
{
	pg_store *ps = pg_of(st);
	char sql[64];
	int rc, have = 0, i;

	/* Two concurrent inits wait for each other instead of failing. */
	if ((rc = pg_exec(NULL, st, "BEGIN; SELECT pg_advisory_xact_lock(7271736173);"
			  "CREATE TABLE IF NOT EXISTS sasl_oauth2_schema ("
			  " version integer PRIMARY KEY,"
			  " applied_at timestamptz NOT NULL DEFAULT now())", 0, NULL,
			  "cannot create the schema", err)) != TS_OK)
		return rc;
	ps->in_tx = true;
	if ((rc = schema_version(&have, st, err)) != TS_OK)
		goto cleanup;
	if (have > PG_SCHEMA_VERSION) {
		rc = ts_error_set(err, TS_EINVAL,
				  "store %s: the database schema has version %d, newer than this sasl-oauth2 knows (%d); upgrade sasl-oauth2",
				  st->location, have, PG_SCHEMA_VERSION);
		goto cleanup;
	}
	for (i = have; i < PG_SCHEMA_VERSION; i++) {
		if ((rc = pg_exec(NULL, st, schema_steps[i], 0, NULL, "cannot create the schema",
				  err)) != TS_OK)
			goto cleanup;
		snprintf(sql, sizeof(sql), "INSERT INTO sasl_oauth2_schema (version) VALUES (%d)", i + 1);
		if ((rc = pg_exec(NULL, st, sql, 0, NULL, "cannot create the schema", err)) != TS_OK)
			goto cleanup;
	}
	rc = pg_exec(NULL, st, "COMMIT", 0, NULL, "cannot create the schema", err);
	ps->in_tx = false;
cleanup:
	pg_rollback(st);
	return rc;
}

static int schema_check(ts_store *st, ts_error *err)
{
	int have = 0, rc = schema_version(&have, st, err);

	if (rc != TS_OK)
		return rc;
	if (have < PG_SCHEMA_VERSION)
		return ts_error_set(err, TS_ENOTFOUND,
				    "store %s: the database schema has version %d, this sasl-oauth2 needs %d; upgrade it with: sasl-oauth2 --store URI init",
				    st->location, have, PG_SCHEMA_VERSION);
	if (have > PG_SCHEMA_VERSION)
		return ts_error_set(err, TS_EINVAL,
				    "store %s: the database schema has version %d, newer than this sasl-oauth2 knows (%d); upgrade sasl-oauth2",
				    st->location, have, PG_SCHEMA_VERSION);
	return TS_OK;
}

/* ---------------------------------------------------------------------- */
/* Connection parameters                                                    */

typedef struct pg_params {
	const char *k[PG_MAX_PARAMS + 1];
	const char *v[PG_MAX_PARAMS + 1];
	int n;
	char connect_timeout[24];
	char tcp_user_timeout[24];
	char hostaddr[1024];
} pg_params;

static const char *param_get(const pg_params *p, const char *key)
{
	int i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->k[i], key) == 0)
			return p->v[i];
	return NULL;
}

static void param_add(pg_params *p, const char *key, const char *val)
{
	if (p->n < PG_MAX_PARAMS && param_get(p, key) == NULL) {
		p->k[p->n] = key;
		p->v[p->n] = val;
		p->n++;
	}
}

/* hostaddr for a comma-separated host list: each name resolved now (so a
 * reconnect inside a chroot needs no name service); empty items for socket
 * directories and names that do not resolve (libpq then uses the name). */
static void resolve_hosts(char *out, size_t n, const char *hosts)
{
	const char *p = hosts;
	size_t used = 0;
	bool any = false;

	out[0] = '\0';
	while (p != NULL) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char host[256], addr[INET6_ADDRSTRLEN] = "";
		struct addrinfo hints, *ai = NULL;

		if (len > 0 && len < sizeof(host) && p[0] != '/' && p[0] != '@') {
			memcpy(host, p, len);
			host[len] = '\0';
			memset(&hints, 0, sizeof(hints));
			hints.ai_family = AF_UNSPEC;
			hints.ai_socktype = SOCK_STREAM;
			hints.ai_flags = AI_ADDRCONFIG;
			if (getaddrinfo(host, NULL, &hints, &ai) == 0 && ai != NULL) {
				const void *a = ai->ai_family == AF_INET6 ?
					(const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr :
					(const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;

				if (inet_ntop(ai->ai_family, a, addr, sizeof(addr)) != NULL)
					any = true;
				else
					addr[0] = '\0';
			}
			if (ai != NULL)
				freeaddrinfo(ai);
		}
		used += (size_t)snprintf(out + used, used < n ? n - used : 0, "%s%s",
					 p == hosts ? "" : ",", addr);
		p = comma ? comma + 1 : NULL;
	}
	if (!any || used >= n)
		out[0] = '\0';
}

bool ts_store_is_pg(const char *location)
{
	return location != NULL && (strncmp(location, "postgresql://", 13) == 0 ||
				    strncmp(location, "postgres://", 11) == 0);
}

/* Parse the URI into p (pointing into *opts); refuse passwords. */
static int params_build(pg_params *p, PQconninfoOption **opts, const char *uri, long timeout_s,
			ts_error *err)
{
	PQconninfoOption *o;
	char *msg = NULL, line[512];
	const char *host;

	memset(p, 0, sizeof(*p));
	*opts = PQconninfoParse(uri, &msg);
	if (*opts == NULL) {
		one_line(line, sizeof(line), msg ? msg : "out of memory");
		PQfreemem(msg);
		return ts_error_set(err, TS_EINVAL,
				    "store: not a valid PostgreSQL connection URI (%s); see https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS",
				    line);
	}
	for (o = *opts; o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "sslpassword") == 0)
			return ts_error_set(err, TS_EINVAL,
					    "store: the PostgreSQL URI carries a %s, which would be visible to every user (ps, shell history, configuration); remove it from the URI and put it in ~/.pgpass (or the file PGPASSFILE names), mode 0600",
					    o->keyword);
		param_add(p, o->keyword, o->val);
	}
	/* Every wait is bounded by http_timeout: connecting (libpq's minimum
	 * is 2 s per host) and a server that stopped answering. */
	snprintf(p->connect_timeout, sizeof(p->connect_timeout), "%ld", timeout_s < 2 ? 2 : timeout_s);
	snprintf(p->tcp_user_timeout, sizeof(p->tcp_user_timeout), "%ld", timeout_s * 1000);
	param_add(p, "connect_timeout", p->connect_timeout);
	param_add(p, "tcp_user_timeout", p->tcp_user_timeout);
	param_add(p, "keepalives", "1");
	param_add(p, "keepalives_idle", p->connect_timeout);
	param_add(p, "keepalives_interval", "2");
	param_add(p, "keepalives_count", "3");
	param_add(p, "application_name", "sasl-oauth2");
	host = param_get(p, "host");
	if (host != NULL && param_get(p, "hostaddr") == NULL) {
		resolve_hosts(p->hostaddr, sizeof(p->hostaddr), host);
		if (p->hostaddr[0] != '\0')
			param_add(p, "hostaddr", p->hostaddr);
	}
	return TS_OK;
}

static void notice_ignore(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

int ts_store_open_pg(ts_store **out, const char *uri, long timeout_s, unsigned flags,
		     void (*log)(void *arg, int level, const char *msg), void *log_arg,
		     ts_error *err)
{
	ts_store *st = NULL;
	pg_store *ps = NULL;
	PQconninfoOption *opts = NULL;
	pthread_mutexattr_t ma;
	pg_params p;
	int rc;

	*out = NULL;
	if (!ts_store_is_pg(uri))
		return ts_error_set(err, TS_EINVAL, "store: not a postgresql:// URI");
	if ((rc = ts_pq_load(err)) != TS_OK)
		return rc;
	if ((rc = params_build(&p, &opts, uri, timeout_s, err)) != TS_OK)
		goto cleanup;
	if ((st = calloc(1, sizeof(*st))) == NULL || (ps = calloc(1, sizeof(*ps))) == NULL ||
	    (st->location = strdup(uri)) == NULL) {
		free(ps);
		ps = NULL;
		rc = ts_enomem(err);
		goto cleanup;
	}
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&ps->mu, &ma);
	pthread_mutexattr_destroy(&ma);
	ps->log = log;
	ps->log_arg = log_arg;
	st->ops = &pg_backend;
	st->priv = ps;
	ps->conn = PQconnectdbParams(p.k, p.v, 0);
	if (ps->conn == NULL) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	PQsetNoticeProcessor(ps->conn, notice_ignore, NULL);
	if (PQstatus(ps->conn) != CONNECTION_OK) {
		rc = pg_error(st, NULL, "cannot connect", err);
		goto cleanup;
	}
	rc = (flags & TS_STORE_INIT) ? schema_init(st, err) : schema_check(st, err);
	if (rc != TS_OK)
		goto cleanup;
	*out = st;
	st = NULL;
cleanup:
	PQconninfoFree(opts);
	if (st != NULL) {
		if (st->priv != NULL)
			pg_close(st);
		else {
			free(st->location);
			free(st);
		}
	}
	return rc;
}
