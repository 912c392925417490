/*
 * cache.c - the context's cache of parsed token configurations and states,
 * shared by every connection of a process (the plugin serves many logins
 * from one context, in several threads), so that a login with a valid
 * cached access token reads and parses nothing.
 *
 * Freshness, in two levels of stamps (see ts_backend.stamp):
 * - The store's stamp (TS_OBJ_LIST; the file backend: the directory, which
 *   every save, addition and removal changes, since saves rename into it)
 *   is taken once per call. While it is unchanged, an epoch goes on, and
 *   whatever was checked in this epoch is used as it is.
 * - When the store's stamp changed, and at least every TS_CACHE_EPOCH_NS
 *   (so that a file edited in place by hand, which leaves the directory
 *   alone, is seen within that time), a new epoch begins: each object is
 *   checked by its own stamp when next used (file: fstatat: device, inode,
 *   size, mtime, ctime in ns) and loaded again only if that changed.
 * A load takes the object's stamp before and after; when they differ, or
 * when a stamp is younger than TS_CACHE_RACY_NS (a timestamp's granularity,
 * within which a rewrite might reproduce it), it vouches for nothing and
 * the object is checked and loaded again at the next use.
 *
 * Selection by user goes through an index built from the cached
 * configurations, complete once per epoch.
 *
 * The cached state keeps the access token and its expiry only: refresh
 * tokens are never kept here (a refresh reads the state under the lock).
 * A backend without stamps gets no caching: every use loads.
 *
 * Threads: one mutex guards the cache; the network is never used under it.
 */
#include <config.h>

#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "oauth.h"
#include "ts_p.h"

#define TS_CACHE_RACY_NS (2 * 1000000000LL)
#define TS_CACHE_EPOCH_NS (1000000000LL)

typedef struct cache_tok {
	char *name;
	bool in_list;               /* seen by the last listing */
	/* configuration: cfg, or why it did not load (cfg_rc, cfg_msg) */
	bool cfg_known;
	bool cfg_fresh;             /* cfg_stamp vouches for the content */
	uint64_t cfg_epoch;         /* checked in this epoch */
	ts_stamp cfg_stamp;
	ts_token_config *cfg;
	int cfg_rc;
	char *cfg_msg;
	/* effective configuration (without the client secret), from cfg
	 * and the template of version eff_tpl_ver, or why it failed */
	bool eff_known;
	ts_token_effective *eff;
	int eff_rc;
	char *eff_msg;
	uint64_t eff_tpl_ver;
	char *host_ok;              /* the last host eff's hosts allowed */
	/* state: the access token part only */
	bool st_known;
	bool st_fresh;
	uint64_t st_epoch;
	ts_stamp st_stamp;
	ts_state *st;
} cache_tok;

/* A template, checked by its own stamp once per epoch. */
typedef struct cache_tpl {
	char *name;
	uint64_t epoch;
	bool fresh;
	ts_stamp stamp;
	ts_template *tpl;           /* NULL: rc and msg say why */
	int rc;
	char *msg;
	uint64_t version;           /* bumped by every load */
} cache_tpl;

/* The selection index: who matches a lower-case key, at which tier. */
enum { TIER_USER, TIER_USERS_EXACT, TIER_USERS_DOMAIN };

typedef struct cache_ix {
	int tier;
	char *key;                  /* user, an address of users, or the domain of *@domain */
	cache_tok *t;
} cache_ix;

struct ts_cache {
	pthread_mutex_t lock;
	cache_tok **v;              /* sorted by name */
	size_t n;
	cache_ix *ix;               /* listed tokens, sorted by tier, key, name */
	size_t nix;
	cache_tpl *tpls;
	size_t ntpls;
	uint64_t tpl_versions;
	bool index_dirty;
	uint64_t epoch;             /* starts at 1; 0 in an entry: never checked */
	bool gen_fresh;             /* gen vouches for the store */
	ts_stamp gen;               /* the store's stamp when the epoch began */
	int64_t gen_at;             /* CLOCK_MONOTONIC_COARSE ns of that */
	bool listed;                /* v holds every token as of list_stamp */
	bool list_fresh;
	ts_stamp list_stamp;
	uint64_t scan_epoch;        /* every listed configuration checked in it */
	int64_t settle_ns;          /* TS_CACHE_RACY_NS; tests may shorten it */
	bool test_clock;            /* SASL_OAUTH2_TEST_NOW was set: use ts_now */
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool stamp_eq(const ts_stamp *a, const ts_stamp *b)
{
	return memcmp(a->v, b->v, sizeof(a->v)) == 0 && a->changed_ns == b->changed_ns;
}

/* Whether a stamp taken now can vouch for the content later: not when the
 * object changed so recently that a rewrite might reproduce the stamp. */
static bool stamp_settled(const ts_cache *c, const ts_stamp *s)
{
	struct timespec ts;
	int64_t now;

	if (s->changed_ns == 0)
		return true;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	return s->changed_ns < now - c->settle_ns;
}

/* ts_now without its environment lookup, unless a test sets the clock. */
static int64_t cache_now(const ts_cache *c)
{
	struct timespec ts;

	if (c->test_clock)
		return ts_now();
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

int ts_cache_new(ts_cache **out, ts_error *err)
{
	const char *v;
	ts_cache *c;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return ts_enomem(err);
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return ts_enomem(err);
	}
	c->epoch = 1;
	c->settle_ns = TS_CACHE_RACY_NS;
	/* Tests that must see a stale cache if stamps were not compared set
	 * this to 0, so that recent changes are not simply loaded again. */
	if ((v = ts_test_getenv("SASL_OAUTH2_TEST_CACHE_SETTLE_MS")) != NULL && *v != '\0')
		c->settle_ns = atoll(v) * 1000000;
	c->test_clock = ts_test_getenv("SASL_OAUTH2_TEST_NOW") != NULL;
	*out = c;
	return TS_OK;
}

/* Start a call: go on with the epoch while the store's stamp is unchanged
 * and young enough, else begin a new one. One stamp, no other I/O. */
static void cache_begin(ts_store *st, ts_cache *c)
{
	int64_t now = mono_ns();
	ts_stamp s;

	if (ts_store_stamp(st, TS_OBJ_LIST, NULL, &s, NULL) != TS_OK) {
		c->epoch++;
		c->gen_fresh = false;
		return;
	}
	if (c->gen_fresh && stamp_eq(&s, &c->gen) && now - c->gen_at < TS_CACHE_EPOCH_NS)
		return;
	c->epoch++;
	c->gen = s;
	c->gen_at = now;
	c->gen_fresh = stamp_settled(c, &s);
}

static void tok_forget_eff(cache_tok *t)
{
	ts_token_effective_free(t->eff);
	free(t->eff_msg);
	free(t->host_ok);
	t->eff = NULL;
	t->eff_msg = NULL;
	t->host_ok = NULL;
	t->eff_known = false;
}

static void tok_forget_cfg(cache_tok *t)
{
	tok_forget_eff(t);
	ts_token_config_free(t->cfg);
	free(t->cfg_msg);
	t->cfg = NULL;
	t->cfg_msg = NULL;
	t->cfg_known = false;
}

static void tok_forget_state(cache_tok *t)
{
	ts_state_free(t->st);
	t->st = NULL;
	t->st_known = false;
}

static void tok_free(cache_tok *t)
{
	if (t == NULL)
		return;
	tok_forget_cfg(t);
	tok_forget_state(t);
	free(t->name);
	free(t);
}

void ts_cache_free(ts_cache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++)
		tok_free(c->v[i]);
	free(c->v);
	for (i = 0; i < c->nix; i++)
		free(c->ix[i].key);
	free(c->ix);
	for (i = 0; i < c->ntpls; i++) {
		free(c->tpls[i].name);
		ts_template_free(c->tpls[i].tpl);
		free(c->tpls[i].msg);
	}
	free(c->tpls);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Position of `name` in c->v, or where it would go (*found false). */
static size_t tok_pos(const ts_cache *c, const char *name, bool *found)
{
	size_t lo = 0, hi = c->n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(c->v[mid]->name, name);

		if (d == 0) {
			*found = true;
			return mid;
		}
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static cache_tok *tok_find(const ts_cache *c, const char *name)
{
	bool found;
	size_t i = tok_pos(c, name, &found);

	return found ? c->v[i] : NULL;
}

/* The entry of `name`, created empty when missing; NULL: out of memory. */
static cache_tok *tok_get(ts_cache *c, const char *name)
{
	cache_tok **grown, *t;
	bool found;
	size_t i = tok_pos(c, name, &found);

	if (found)
		return c->v[i];
	if ((grown = realloc(c->v, (c->n + 1) * sizeof(*grown))) == NULL)
		return NULL;
	c->v = grown;
	if ((t = calloc(1, sizeof(*t))) == NULL || (t->name = strdup(name)) == NULL) {
		free(t);
		return NULL;
	}
	memmove(&c->v[i + 1], &c->v[i], (c->n - i) * sizeof(*c->v));
	c->v[i] = t;
	c->n++;
	c->index_dirty = true;
	return t;
}

static void tok_drop(ts_cache *c, const char *name)
{
	bool found;
	size_t i = tok_pos(c, name, &found);

	if (!found)
		return;
	tok_free(c->v[i]);
	memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof(*c->v));
	c->n--;
	c->index_dirty = true;
}

static char *lower_dup(const char *s)
{
	char *d = strdup(s), *p;

	if (d != NULL)
		for (p = d; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	return d;
}

/*
 * Make t's configuration current. TS_OK when the entry reflects the store
 * (cfg, or the reason it does not load, in cfg_rc); TS_ENOTFOUND when the
 * token has no configuration; TS_ENOMEM.
 */
static int tok_config(ts_store *st, ts_cache *c, cache_tok *t)
{
	ts_stamp before, after;
	ts_token_config *cfg = NULL;
	ts_error lerr = { 0 };
	int rc;

	if (t->cfg_known && t->cfg_epoch == c->epoch)
		return TS_OK;
	rc = ts_store_stamp(st, TS_OBJ_CONFIG, t->name, &before, NULL);
	if (rc == TS_ENOTFOUND)
		return TS_ENOTFOUND;
	if (rc == TS_OK && t->cfg_known && t->cfg_fresh && stamp_eq(&before, &t->cfg_stamp)) {
		t->cfg_epoch = c->epoch;
		return TS_OK;
	}
	tok_forget_cfg(t);
	c->index_dirty = true;
	rc = ts_store_load_config(st, t->name, &cfg, &lerr);
	if (rc == TS_ENOMEM || rc == TS_ENOTFOUND)
		return rc;
	t->cfg_known = true;
	t->cfg_stamp = before;
	t->cfg_fresh = ts_store_stamp(st, TS_OBJ_CONFIG, t->name, &after, NULL) == TS_OK &&
		       stamp_eq(&before, &after) && stamp_settled(c, &before);
	t->cfg_epoch = t->cfg_fresh ? c->epoch : 0;
	t->cfg_rc = rc;
	t->cfg = cfg;
	if (rc != TS_OK && (t->cfg_msg = strdup(lerr.msg)) == NULL) {
		t->cfg_known = false;
		return TS_ENOMEM;
	}
	return TS_OK;
}

/*
 * Make t's state current: TS_OK (t->st set), TS_ENOTFOUND (no state yet),
 * or the load's error (TS_ENOMEM, TS_EPERM, ...) with its message in err.
 */
static int tok_state(ts_store *st, ts_cache *c, cache_tok *t, ts_error *err)
{
	ts_stamp before, after;
	ts_state *s = NULL;
	int rc;

	if (t->st_known && t->st_epoch == c->epoch)
		return TS_OK;
	rc = ts_store_stamp(st, TS_OBJ_STATE, t->name, &before, NULL);
	if (rc == TS_ENOTFOUND) {
		tok_forget_state(t);
		return TS_ENOTFOUND;
	}
	if (rc == TS_OK && t->st_known && t->st_fresh && stamp_eq(&before, &t->st_stamp)) {
		t->st_epoch = c->epoch;
		return TS_OK;
	}
	tok_forget_state(t);
	if ((rc = ts_store_load_state(st, t->name, &s, err)) != TS_OK)
		return rc;
	/* Only what a login needs stays in memory. */
	ts_free_secret(s->refresh_token);
	s->refresh_token = NULL;
	/* An access token outside RFC 6750's b64token never leaves the cache
	 * (checked once per load, not per login): the slow path refuses it
	 * and says why (ts_token_get_access). */
	if (s->access_token != NULL && !ts_b64token_ok(s->access_token))
		s->access_rejected = true;
	t->st = s;
	t->st_known = true;
	t->st_stamp = before;
	t->st_fresh = ts_store_stamp(st, TS_OBJ_STATE, t->name, &after, NULL) == TS_OK &&
		      stamp_eq(&before, &after) && stamp_settled(c, &before);
	t->st_epoch = t->st_fresh ? c->epoch : 0;
	return TS_OK;
}

static int ix_cmp(const void *a, const void *b)
{
	const cache_ix *x = a, *y = b;
	int d = x->tier - y->tier;

	if (d == 0)
		d = strcmp(x->key, y->key);
	return d ? d : strcmp(x->t->name, y->t->name);
}

static int ix_add(cache_ix **ix, size_t *n, size_t *cap, int tier, const char *key, cache_tok *t)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		cache_ix *grown = realloc(*ix, ncap * sizeof(*grown));

		if (grown == NULL)
			return TS_ENOMEM;
		*ix = grown;
		*cap = ncap;
	}
	if (((*ix)[*n].key = lower_dup(key)) == NULL)
		return TS_ENOMEM;
	(*ix)[*n].tier = tier;
	(*ix)[*n].t = t;
	(*n)++;
	return TS_OK;
}

/* Index the listed tokens by user, by the addresses of their users and by
 * the domains of their *@domain patterns. */
static int index_build(ts_cache *c)
{
	cache_ix *ix = NULL;
	size_t i, j, n = 0, cap = 0;
	int rc = TS_OK;

	for (i = 0; i < c->nix; i++)
		free(c->ix[i].key);
	free(c->ix);
	c->ix = NULL;
	c->nix = 0;
	for (i = 0; i < c->n && rc == TS_OK; i++) {
		cache_tok *t = c->v[i];

		if (!t->in_list || t->cfg == NULL)
			continue;
		if (t->cfg->user != NULL)
			rc = ix_add(&ix, &n, &cap, TIER_USER, t->cfg->user, t);
		for (j = 0; j < t->cfg->users.n && rc == TS_OK; j++) {
			const char *u = t->cfg->users.v[j];

			if (u[0] == '*' && u[1] == '@')
				rc = ix_add(&ix, &n, &cap, TIER_USERS_DOMAIN, u + 2, t);
			else
				rc = ix_add(&ix, &n, &cap, TIER_USERS_EXACT, u, t);
		}
	}
	if (rc != TS_OK) {
		for (i = 0; i < n; i++)
			free(ix[i].key);
		free(ix);
		return rc;
	}
	if (n > 0)
		qsort(ix, n, sizeof(*ix), ix_cmp);
	c->ix = ix;
	c->nix = n;
	c->index_dirty = false;
	return TS_OK;
}

/* Whether c->v holds exactly the tokens the store lists now. */
static bool list_current(const ts_cache *c)
{
	return c->listed && c->list_fresh && c->gen_fresh && stamp_eq(&c->list_stamp, &c->gen);
}

/*
 * Make the whole list current, once per epoch: list again when the store's
 * stamp is not the one of the last listing, then check every configuration
 * (by its stamp; loaded only when changed) and rebuild the index.
 */
static int cache_list(ts_store *st, ts_cache *c, ts_error *err)
{
	ts_strlist names = { 0 };
	ts_stamp before, after;
	bool stamped;
	size_t i;
	int rc;

	if (c->listed && c->scan_epoch == c->epoch)
		return c->index_dirty && index_build(c) != TS_OK ? ts_enomem(err) : TS_OK;
	if (!list_current(c)) {
		stamped = ts_store_stamp(st, TS_OBJ_LIST, NULL, &before, NULL) == TS_OK;
		if ((rc = ts_store_list(st, &names, err)) != TS_OK)
			return rc;
		for (i = 0; i < c->n; i++)
			c->v[i]->in_list = false;
		for (i = 0; i < names.n; i++) {
			cache_tok *t = tok_get(c, names.v[i]);

			if (t == NULL) {
				ts_strlist_clear(&names);
				return ts_enomem(err);
			}
			t->in_list = true;
		}
		ts_strlist_clear(&names);
		/* Tokens gone from the store leave the cache. */
		for (i = c->n; i-- > 0;)
			if (!c->v[i]->in_list)
				tok_drop(c, c->v[i]->name);
		c->list_stamp = before;
		c->list_fresh = stamped &&
				ts_store_stamp(st, TS_OBJ_LIST, NULL, &after, NULL) == TS_OK &&
				stamp_eq(&before, &after) && stamp_settled(c, &before);
		c->listed = true;
		c->index_dirty = true;
	}
	for (i = c->n; i-- > 0;) {
		rc = tok_config(st, c, c->v[i]);
		if (rc == TS_ENOMEM)
			return ts_enomem(err);
		if (rc == TS_ENOTFOUND)
			tok_drop(c, c->v[i]->name);
	}
	c->scan_epoch = c->epoch;
	return index_build(c) == TS_OK ? TS_OK : ts_enomem(err);
}

/* The tokens indexed at `tier` under `key`, appended to f[*n] (at most
 * max, further ones only counted). */
static void ix_find(cache_tok **f, size_t *n, size_t max, const ts_cache *c, int tier,
		    const char *key)
{
	size_t lo = 0, hi = c->nix, j;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = c->ix[mid].tier - tier;

		if (d == 0)
			d = strcmp(c->ix[mid].key, key);
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < c->nix && c->ix[lo].tier == tier && strcmp(c->ix[lo].key, key) == 0; lo++) {
		/* A token listed twice under one key (or by name too) counts once. */
		for (j = 0; j < *n && j < max && f[j] != c->ix[lo].t; j++)
			;
		if (j < *n && j < max)
			continue;
		if (*n < max)
			f[*n] = c->ix[lo].t;
		(*n)++;
	}
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp((*(cache_tok *const *)a)->name, (*(cache_tok *const *)b)->name);
}

#define CACHE_MATCH_MAX 16

/* Select by authname from the index, deciding as ts_token_select: the
 * token named so or whose user it is; else those listing the address in
 * users; else those with its domain as *@domain. */
static int cache_match(cache_tok **out, ts_ctx *ctx, const ts_cache *c, const char *authname,
		       ts_error *err)
{
	static const char *const how[] = {
		"by name or user", "by an address in their users",
		"by a *@domain pattern in their users",
	};
	cache_tok *f[CACHE_MATCH_MAX], *byname = tok_find(c, authname);
	const char *at = strrchr(authname, '@');
	char keybuf[256], *key = keybuf, *p;
	size_t n = 0, len = strlen(authname), i;
	int tier = TIER_USER, rc;
	ts_strlist names = { 0 };
	char *one = NULL;

	*out = NULL;
	if (len >= sizeof(keybuf) && (key = malloc(len + 1)) == NULL)
		return ts_enomem(err);
	for (p = key; *authname; authname++)
		*p++ = (char)tolower((unsigned char)*authname);
	*p = '\0';
	authname -= len;
	if (byname != NULL && byname->in_list)
		f[n++] = byname;
	ix_find(f, &n, CACHE_MATCH_MAX, c, TIER_USER, key);
	if (n == 0) {
		tier = TIER_USERS_EXACT;
		ix_find(f, &n, CACHE_MATCH_MAX, c, tier, key);
	}
	if (n == 0 && at != NULL && at != authname) {
		tier = TIER_USERS_DOMAIN;
		ix_find(f, &n, CACHE_MATCH_MAX, c, tier, key + (at - authname) + 1);
	}
	if (key != keybuf)
		free(key);
	if (n == 1) {
		*out = f[0];
		return TS_OK;
	}
	if (n == 0)
		return ts_select_none(ctx, authname, err);
	/* So many that only the uncached selection names them all. */
	if (n > CACHE_MATCH_MAX)
		return TS_CACHE_MISS;
	/* Several: the message names them, sorted, as ts_token_select does. */
	qsort(f, n, sizeof(*f), name_cmp);
	for (i = 0; i < n; i++)
		if (ts_strlist_add(&names, f[i]->name) != TS_OK) {
			ts_strlist_clear(&names);
			return ts_enomem(err);
		}
	rc = ts_select_pick(&one, &names, authname, how[tier], err);
	free(one);
	ts_strlist_clear(&names);
	return rc;
}

/* Select with the lock held; *out is the entry (owned by the cache). */
static int cache_select(cache_tok **out, ts_ctx *ctx, ts_cache *c, const char *authname,
			const char *password, ts_error *err)
{
	ts_store *st = ts_ctx_store(ctx);
	cache_tok *t;
	size_t i;
	int rc;

	*out = NULL;
	/* The password is only ever compared to names: it may be a real
	 * password and must not reach a message. A name the current listing
	 * lacks needs no look. */
	if (password != NULL && *password != '\0' &&
	    ((t = tok_find(c, password)) != NULL ||
	     (!list_current(c) && ts_name_check(password, NULL) == TS_OK &&
	      ts_store_stamp(st, TS_OBJ_CONFIG, password, &(ts_stamp){ 0 }, NULL) == TS_OK))) {
		if (t == NULL && (t = tok_get(c, password)) == NULL)
			return ts_enomem(err);
		rc = tok_config(st, c, t);
		if (rc == TS_ENOMEM)
			return ts_enomem(err);
		if (rc == TS_OK && t->cfg != NULL) {
			*out = t;
			return TS_OK;
		}
		if (rc == TS_ENOTFOUND) {
			tok_drop(c, password);
			c->listed = false;
		}
	}
	if (authname == NULL || *authname == '\0')
		return ts_error_set(err, TS_ENOTFOUND, "no token name given: pass the token name "
				    "as the SASL password or the token's user as the "
				    "authentication name");
	if ((rc = cache_list(st, c, err)) != TS_OK)
		return rc;
	for (i = 0; i < c->n; i++) {
		t = c->v[i];
		if (t->in_list && t->cfg_known && t->cfg == NULL && strcmp(t->name, authname) != 0)
			ts_ctx_log(ctx, TS_LOG_WARN, "skipping token '%s': %s", t->name,
				   t->cfg_msg ? t->cfg_msg : "");
	}
	return cache_match(out, ctx, c, authname, err);
}

/* The template `name`, checked once per epoch by its stamp and loaded
 * again when that changed; NULL only when memory ran out. */
static cache_tpl *tpl_get(ts_ctx *ctx, ts_cache *c, const char *name)
{
	cache_tpl *tp = NULL, *grown;
	char file[TS_NAME_MAX + 8];
	ts_stamp before = { 0 }, after = { 0 };
	ts_error e = { 0 };
	struct stat sb;
	bool stamped = false;
	size_t i;

	for (i = 0; i < c->ntpls && tp == NULL; i++)
		if (strcmp(c->tpls[i].name, name) == 0)
			tp = &c->tpls[i];
	if (tp != NULL && tp->epoch == c->epoch)
		return tp;
	if (ts_name_check(name, NULL) == TS_OK) {
		snprintf(file, sizeof(file), "%s.yaml", name);
		if (fstatat(ts_ctx_templates_fd(ctx), file, &sb, 0) == 0) {
			before.v[0] = (uint64_t)sb.st_dev;
			before.v[1] = (uint64_t)sb.st_ino;
			before.v[2] = (uint64_t)sb.st_size;
			before.v[3] = (uint64_t)sb.st_mtim.tv_sec * 1000000000u +
				      (uint64_t)sb.st_mtim.tv_nsec;
			before.changed_ns = (int64_t)sb.st_ctim.tv_sec * 1000000000 +
					    sb.st_ctim.tv_nsec;
			stamped = true;
		}
	}
	if (tp != NULL && tp->fresh && stamped && stamp_eq(&before, &tp->stamp)) {
		tp->epoch = c->epoch;
		return tp;
	}
	if (tp == NULL) {
		if ((grown = realloc(c->tpls, (c->ntpls + 1) * sizeof(*grown))) == NULL)
			return NULL;
		c->tpls = grown;
		tp = &c->tpls[c->ntpls];
		memset(tp, 0, sizeof(*tp));
		if ((tp->name = strdup(name)) == NULL)
			return NULL;
		c->ntpls++;
	}
	ts_template_free(tp->tpl);
	free(tp->msg);
	tp->tpl = NULL;
	tp->msg = NULL;
	tp->rc = ts_ctx_template_load(&tp->tpl, ctx, name, &e);
	if (tp->rc != TS_OK && (tp->msg = strdup(e.msg)) == NULL)
		tp->rc = TS_ENOMEM;
	tp->version = ++c->tpl_versions;
	tp->stamp = before;
	tp->epoch = c->epoch;
	if (stamped && fstatat(ts_ctx_templates_fd(ctx), file, &sb, 0) == 0) {
		after = before;
		after.v[1] = (uint64_t)sb.st_ino;
		after.v[2] = (uint64_t)sb.st_size;
		after.changed_ns = (int64_t)sb.st_ctim.tv_sec * 1000000000 + sb.st_ctim.tv_nsec;
	}
	tp->fresh = stamped && tp->rc != TS_ENOMEM && stamp_eq(&before, &after) &&
		    stamp_settled(c, &before);
	return tp;
}

/* Make t's effective configuration current (t->cfg must be loaded):
 * TS_OK with t->eff, TS_ENOMEM, or the resolution's error (in err). */
static int tok_eff(ts_ctx *ctx, ts_cache *c, cache_tok *t, ts_error *err)
{
	const ts_global_config *g = ts_ctx_config(ctx);
	cache_tpl *tp = NULL;
	ts_error e = { 0 };
	int rc;

	if (t->cfg->template_name != NULL &&
	    (tp = tpl_get(ctx, c, t->cfg->template_name)) == NULL)
		return ts_enomem(err);
	if (!t->eff_known || t->eff_tpl_ver != (tp ? tp->version : 0)) {
		tok_forget_eff(t);
		if (tp != NULL && tp->tpl == NULL) {
			rc = ts_error_set(&e, tp->rc, "token '%s': field 'template': %s", t->name,
					  tp->msg ? tp->msg : "");
		} else {
			rc = ts_token_resolve_tpl(&t->eff, t->cfg, tp ? tp->tpl : NULL,
						  g != NULL ? g->refresh_margin : 300, false, &e);
			/* A login needs no client secret: a refresh reads it. */
			if (rc == TS_OK) {
				ts_free_secret(t->eff->client_secret);
				t->eff->client_secret = NULL;
			}
		}
		if (rc == TS_ENOMEM)
			return ts_enomem(err);
		if (rc != TS_OK && (t->eff_msg = strdup(e.msg)) == NULL)
			return ts_enomem(err);
		t->eff_rc = rc;
		t->eff_tpl_ver = tp ? tp->version : 0;
		t->eff_known = true;
	}
	if (t->eff == NULL)
		return ts_error_set(err, t->eff_rc, "%s", t->eff_msg ? t->eff_msg : "");
	return TS_OK;
}

static ts_cache *cache_of(ts_ctx *ctx)
{
	ts_cache *c = ts_ctx_cache(ctx);

	ts_store *st = ts_ctx_store(ctx);

	/* No stamps, no cache: a backend without them loads every time. */
	if (c == NULL || st == NULL || st->ops->stamp == NULL)
		return NULL;
	return c;
}

int ts_cache_select(char **out, ts_ctx *ctx, const char *authname, const char *password,
		    ts_error *err)
{
	ts_cache *c = cache_of(ctx);
	cache_tok *t = NULL;
	int rc;

	*out = NULL;
	if (c == NULL)
		return TS_CACHE_MISS;
	pthread_mutex_lock(&c->lock);
	cache_begin(ts_ctx_store(ctx), c);
	rc = cache_select(&t, ctx, c, authname, password, err);
	if (rc == TS_OK && (*out = strdup(t->name)) == NULL)
		rc = ts_enomem(err);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* The cached access token of t when usable (valid beyond the margin, not
 * rejected), else TS_CACHE_MISS. The configuration must be loaded. */
static int tok_access(char **out, int64_t *expires_at, ts_ctx *ctx, ts_cache *c, cache_tok *t,
		      ts_error *err)
{
	const ts_global_config *g = ts_ctx_config(ctx);
	long margin = t->cfg->refresh_margin >= 0 ? t->cfg->refresh_margin :
		      g != NULL ? g->refresh_margin : 300;
	int rc;

	/* Without a margin of its own, the token's template may raise the
	 * global one (Microsoft's HVE refuses tokens about to expire): the
	 * resolved configuration has the result. */
	if (t->cfg->refresh_margin < 0 && t->cfg->template_name != NULL) {
		if ((rc = tok_eff(ctx, c, t, err)) == TS_ENOMEM)
			return rc;
		if (rc != TS_OK)
			return TS_CACHE_MISS; /* the slow path says why */
		margin = t->eff->refresh_margin;
	}
	rc = tok_state(ts_ctx_store(ctx), c, t, err);

	if (rc == TS_ENOTFOUND || (rc != TS_OK && rc != TS_ENOMEM))
		return TS_CACHE_MISS; /* the slow path says why */
	if (rc != TS_OK)
		return rc;
	if (t->st->access_token == NULL || t->st->access_token[0] == '\0' ||
	    t->st->access_rejected || t->st->expires_at - margin <= cache_now(c))
		return TS_CACHE_MISS;
	if ((*out = strdup(t->st->access_token)) == NULL)
		return ts_enomem(err);
	if (expires_at != NULL)
		*expires_at = t->st->expires_at;
	return TS_OK;
}

int ts_cache_access(char **out, int64_t *expires_at, ts_ctx *ctx, const char *name, ts_error *err)
{
	ts_cache *c = cache_of(ctx);
	cache_tok *t;
	int rc;

	*out = NULL;
	if (c == NULL || ts_name_check(name, NULL) != TS_OK)
		return TS_CACHE_MISS;
	pthread_mutex_lock(&c->lock);
	cache_begin(ts_ctx_store(ctx), c);
	if ((t = tok_get(c, name)) == NULL) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	rc = tok_config(ts_ctx_store(ctx), c, t);
	if (rc == TS_ENOTFOUND) {
		tok_drop(c, name);
		c->listed = false;
		rc = TS_CACHE_MISS; /* the slow path says it does not exist */
		goto cleanup;
	}
	if (rc != TS_OK || t->cfg == NULL) {
		rc = rc == TS_ENOMEM ? ts_enomem(err) : TS_CACHE_MISS;
		goto cleanup;
	}
	if (t->cfg->validity != TS_VALIDITY_VALID && t->cfg->validity != TS_VALIDITY_UNSET) {
		rc = TS_CACHE_MISS; /* the slow path refuses it, with the message */
		goto cleanup;
	}
	rc = tok_access(out, expires_at, ctx, c, t, err);
cleanup:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int ts_cache_login(ts_login *out, ts_ctx *ctx, const char *authname, const char *password,
		   const char *host, ts_error *err)
{
	ts_cache *c = cache_of(ctx);
	cache_tok *t = NULL;
	int rc;

	if (c == NULL)
		return TS_CACHE_MISS;
	pthread_mutex_lock(&c->lock);
	cache_begin(ts_ctx_store(ctx), c);
	out->step = TS_LOGIN_SELECT;
	if ((rc = cache_select(&t, ctx, c, authname, password, err)) != TS_OK)
		goto cleanup;
	if ((out->name = strdup(t->name)) == NULL) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	out->step = TS_LOGIN_CONFIG;
	if (t->cfg == NULL) {
		/* Selected by name, but the configuration does not load. */
		rc = ts_error_set(err, t->cfg_rc, "%s", t->cfg_msg ? t->cfg_msg : "");
		goto cleanup;
	}
	if ((rc = tok_eff(ctx, c, t, err)) != TS_OK)
		goto cleanup;
	out->validity = t->eff->validity ? t->eff->validity : TS_VALIDITY_VALID;
	if (out->validity != TS_VALIDITY_VALID)
		goto cleanup; /* TS_OK: the caller refuses it */
	out->step = TS_LOGIN_REFUSED;
	/* Most logins of a process go to one server: its verdict is kept. */
	if (host == NULL || t->host_ok == NULL || strcmp(host, t->host_ok) != 0) {
		if ((rc = ts_token_host_check(t->eff, host, err)) != TS_OK)
			goto cleanup;
		free(t->host_ok);
		t->host_ok = host != NULL ? strdup(host) : NULL;
	}
	if ((rc = ts_token_mailbox(&out->mailbox, t->eff, authname, err)) != TS_OK)
		goto cleanup;
	out->step = TS_LOGIN_ACCESS;
	/* The cached state is the token's own; a jwt_bearer token acting for
	 * another mailbox keeps that one's under another key (refresh.c). */
	if (t->eff->flow == TS_FLOW_JWT_BEARER &&
	    (t->eff->user == NULL || strcasecmp(t->eff->user, out->mailbox) != 0))
		goto cleanup;
	rc = tok_access(&out->access, &out->expires_at, ctx, c, t, err);
	if (rc == TS_CACHE_MISS)
		rc = TS_OK; /* the caller refreshes */
cleanup:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void ts_login_clear(ts_login *l)
{
	if (l == NULL)
		return;
	free(l->name);
	free(l->mailbox);
	ts_free_secret(l->access);
	memset(l, 0, sizeof(*l));
}
