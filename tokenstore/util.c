/*
 * util.c - small helpers: wiping secrets, the clock, string lists,
 * key/value lists, the enumerations' names and host pattern matching.
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "ts_p.h"

void ts_wipe(void *p, size_t len)
{
	if (p == NULL || len == 0)
		return;
#ifdef HAVE_EXPLICIT_BZERO
	explicit_bzero(p, len);
#else
	OPENSSL_cleanse(p, len);
#endif
}

void ts_free_secret(char *s)
{
	if (s == NULL)
		return;
	ts_wipe(s, strlen(s));
	free(s);
}

const char *(*ts_test_env)(const char *name);

const char *ts_test_getenv(const char *name)
{
	return ts_test_env != NULL ? ts_test_env(name) : NULL;
}

int64_t ts_now(void)
{
	/* Only test programs can move the clock (see ts_test_env). */
	const char *env = ts_test_getenv("SASL_OAUTH2_TEST_NOW");

	if (env != NULL && *env != '\0') {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(env, &end, 10);
		if (errno == 0 && *end == '\0' && v >= 0)
			return (int64_t)v;
	}
	return (int64_t)time(NULL);
}

int ts_enomem(ts_error *err)
{
	return ts_error_set(err, TS_ENOMEM, "out of memory");
}

int ts_strdup_to(char **dst, const char *s, ts_error *err)
{
	*dst = NULL;
	if (s == NULL)
		return TS_OK;
	*dst = strdup(s);
	if (*dst == NULL)
		return ts_enomem(err);
	return TS_OK;
}

int ts_str_replace(char **dst, const char *s, bool secret, ts_error *err)
{
	char *n = NULL;

	if (s != NULL && (n = strdup(s)) == NULL)
		return ts_enomem(err);
	if (secret)
		ts_free_secret(*dst);
	else
		free(*dst);
	*dst = n;
	return TS_OK;
}

bool ts_has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* ---- string lists ---- */

void ts_strlist_clear(ts_strlist *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int ts_strlist_add(ts_strlist *l, const char *s)
{
	char **nv;
	char *copy;

	if (s == NULL)
		return TS_EINVAL;
	if ((copy = strdup(s)) == NULL)
		return TS_ENOMEM;
	nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
	if (nv == NULL) {
		free(copy);
		return TS_ENOMEM;
	}
	l->v = nv;
	l->v[l->n++] = copy;
	return TS_OK;
}

char *ts_strlist_join(const ts_strlist *l, const char *sep)
{
	size_t len = 1, i, seplen = strlen(sep), pos = 0;
	char *s;

	for (i = 0; i < l->n; i++)
		len += strlen(l->v[i]) + seplen;
	if ((s = malloc(len)) == NULL)
		return NULL;
	for (i = 0; i < l->n; i++) {
		size_t k = strlen(l->v[i]);

		if (i > 0) {
			memcpy(s + pos, sep, seplen);
			pos += seplen;
		}
		memcpy(s + pos, l->v[i], k);
		pos += k;
	}
	s[pos] = '\0';
	return s;
}

int ts_strlist_copy(ts_strlist *dst, const ts_strlist *src)
{
	size_t i;

	dst->v = NULL;
	dst->n = 0;
	for (i = 0; i < src->n; i++) {
		if (ts_strlist_add(dst, src->v[i]) != TS_OK) {
			ts_strlist_clear(dst);
			return TS_ENOMEM;
		}
	}
	return TS_OK;
}

int ts_strlist_split(ts_strlist *out, const char *s, const char *seps)
{
	const char *p = s;

	while (*p != '\0') {
		size_t k;

		p += strspn(p, seps);
		k = strcspn(p, seps);
		if (k > 0) {
			char *piece = strndup(p, k);
			int rc;

			if (piece == NULL)
				return TS_ENOMEM;
			rc = ts_strlist_add(out, piece);
			free(piece);
			if (rc != TS_OK)
				return rc;
		}
		p += k;
	}
	return TS_OK;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void ts_strlist_sort(ts_strlist *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cmp_str);
}

/* ---- key/value lists ---- */

void ts_kvlist_clear(ts_kvlist *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int ts_kvlist_set(ts_kvlist *l, const char *key, const char *value)
{
	size_t i;
	char *v;

	if (key == NULL || value == NULL)
		return TS_EINVAL;
	for (i = 0; i < l->n; i++) {
		if (strcmp(l->v[i].key, key) == 0) {
			if ((v = strdup(value)) == NULL)
				return TS_ENOMEM;
			free(l->v[i].value);
			l->v[i].value = v;
			return TS_OK;
		}
	}
	return ts_kvlist_append(l, key, value);
}

int ts_kvlist_append(ts_kvlist *l, const char *key, const char *value)
{
	ts_kv *nv;
	char *k, *v;

	if (key == NULL || value == NULL)
		return TS_EINVAL;
	if ((l->n & (l->n - 1)) == 0) {
		/* Capacity doubles at each power of two: linear over many appends. */
		nv = realloc(l->v, (l->n ? 2 * l->n : 1) * sizeof(*nv));
		if (nv == NULL)
			return TS_ENOMEM;
		l->v = nv;
	}
	k = strdup(key);
	v = strdup(value);
	if (k == NULL || v == NULL) {
		free(k);
		free(v);
		return TS_ENOMEM;
	}
	l->v[l->n].key = k;
	l->v[l->n].value = v;
	l->n++;
	return TS_OK;
}

/* FNV-1a: spreads short keys well enough, and no input can make it slow
 * beyond its length. */
static size_t strset_hash(const char *s)
{
	size_t h = (size_t)14695981039346656037ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= (size_t)1099511628211ULL;
	}
	return h;
}

static int strset_grow(ts_strset *s)
{
	size_t cap = s->cap ? 2 * s->cap : 64, i, j;
	ts_strset_slot *slot = calloc(cap, sizeof(*slot));

	if (slot == NULL)
		return TS_ENOMEM;
	for (i = 0; i < s->cap; i++) {
		if (s->slot[i].key == NULL)
			continue;
		for (j = strset_hash(s->slot[i].key) & (cap - 1); slot[j].key != NULL; j = (j + 1) & (cap - 1))
			;
		slot[j] = s->slot[i];
	}
	free(s->slot);
	s->slot = slot;
	s->cap = cap;
	return TS_OK;
}

int ts_strset_put(ts_strset *s, const char *key, const void *val, const void **found)
{
	size_t j;

	if (2 * (s->n + 1) > s->cap && strset_grow(s) != TS_OK)
		return TS_ENOMEM;
	for (j = strset_hash(key) & (s->cap - 1); s->slot[j].key != NULL; j = (j + 1) & (s->cap - 1)) {
		if (strcmp(s->slot[j].key, key) == 0) {
			if (found != NULL)
				*found = s->slot[j].val;
			return 1;
		}
	}
	s->slot[j].key = key;
	s->slot[j].val = val;
	s->n++;
	return 0;
}

void ts_strset_clear(ts_strset *s)
{
	free(s->slot);
	s->slot = NULL;
	s->cap = s->n = 0;
}

const char *ts_kvlist_get(const ts_kvlist *l, const char *key)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].key, key) == 0)
			return l->v[i].value;
	return NULL;
}

void ts_kvlist_del(ts_kvlist *l, const char *key)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (strcmp(l->v[i].key, key) == 0) {
			free(l->v[i].key);
			free(l->v[i].value);
			memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(*l->v));
			l->n--;
			return;
		}
	}
}

int ts_kvlist_copy(ts_kvlist *dst, const ts_kvlist *src)
{
	size_t i;

	dst->v = NULL;
	dst->n = 0;
	for (i = 0; i < src->n; i++) {
		if (ts_kvlist_append(dst, src->v[i].key, src->v[i].value) != TS_OK) {
			ts_kvlist_clear(dst);
			return TS_ENOMEM;
		}
	}
	return TS_OK;
}

/* ---- servers ---- */

void ts_servers_clear(ts_servers *s)
{
	free(s->imap);
	free(s->pop3);
	free(s->smtp);
	s->imap = s->pop3 = s->smtp = NULL;
}

int ts_servers_copy(ts_servers *dst, const ts_servers *src)
{
	dst->imap = dst->pop3 = dst->smtp = NULL;
	if (ts_strdup_to(&dst->imap, src->imap, NULL) != TS_OK ||
	    ts_strdup_to(&dst->pop3, src->pop3, NULL) != TS_OK ||
	    ts_strdup_to(&dst->smtp, src->smtp, NULL) != TS_OK) {
		ts_servers_clear(dst);
		return TS_ENOMEM;
	}
	return TS_OK;
}

/* ---- enumerations ---- */

const char *ts_flow_str(ts_flow f)
{
	switch (f) {
	case TS_FLOW_AUTHORIZATION_CODE: return "authorization_code";
	case TS_FLOW_DEVICE_CODE: return "device_code";
	case TS_FLOW_CLIENT_CREDENTIALS: return "client_credentials";
	case TS_FLOW_JWT_BEARER: return "jwt_bearer";
	case TS_FLOW_UNSET: break;
	}
	return "unset";
}

const char *ts_validity_str(ts_validity v)
{
	switch (v) {
	case TS_VALIDITY_VALID: return "valid";
	case TS_VALIDITY_INVALID: return "invalid";
	case TS_VALIDITY_INVALID_TEMPORARILY: return "invalid-temporarily";
	case TS_VALIDITY_UNSET: break;
	}
	return "unset";
}

const char *ts_client_auth_str(ts_client_auth a)
{
	switch (a) {
	case TS_CLIENT_AUTH_BASIC: return "basic";
	case TS_CLIENT_AUTH_POST: return "post";
	case TS_CLIENT_AUTH_NONE: return "none";
	case TS_CLIENT_AUTH_PRIVATE_KEY_JWT: return "private_key_jwt";
	case TS_CLIENT_AUTH_UNSET: break;
	}
	return "unset";
}

const char *ts_notify_event_str(unsigned ev)
{
	switch (ev) {
	case TS_NOTIFY_TOKEN_EXPIRED: return "token_expired";
	case TS_NOTIFY_REFRESH_TOKEN_EXPIRED: return "refresh_token_expired";
	case TS_NOTIFY_REFRESH_FAILED: return "refresh_failed";
	}
	return "unknown";
}

int ts_flow_parse(ts_flow *out, const char *s)
{
	static const ts_flow all[] = { TS_FLOW_AUTHORIZATION_CODE, TS_FLOW_DEVICE_CODE,
				       TS_FLOW_CLIENT_CREDENTIALS, TS_FLOW_JWT_BEARER };
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(s, ts_flow_str(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	}
	return -1;
}

int ts_validity_parse(ts_validity *out, const char *s)
{
	static const ts_validity all[] = { TS_VALIDITY_VALID, TS_VALIDITY_INVALID,
					   TS_VALIDITY_INVALID_TEMPORARILY };
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(s, ts_validity_str(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	}
	return -1;
}

int ts_client_auth_parse(ts_client_auth *out, const char *s)
{
	static const ts_client_auth all[] = { TS_CLIENT_AUTH_BASIC, TS_CLIENT_AUTH_POST,
					      TS_CLIENT_AUTH_NONE, TS_CLIENT_AUTH_PRIVATE_KEY_JWT };
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(s, ts_client_auth_str(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	}
	return -1;
}

int ts_notify_parse(unsigned *out, const char *s)
{
	unsigned ev;

	for (ev = 1; ev <= TS_NOTIFY_REFRESH_FAILED; ev <<= 1) {
		if (strcmp(s, ts_notify_event_str(ev)) == 0) {
			*out = ev;
			return 0;
		}
	}
	return -1;
}

/* ---- host patterns ---- */

bool ts_host_match(const ts_strlist *patterns, const char *host)
{
	size_t i, hlen;

	if (patterns == NULL || host == NULL || *host == '\0')
		return false;
	hlen = strlen(host);
	/* A fully qualified name may end in a dot; compare without it. */
	if (hlen > 1 && host[hlen - 1] == '.')
		hlen--;
	for (i = 0; i < patterns->n; i++) {
		const char *p = patterns->v[i];
		size_t plen = strlen(p);

		if (plen > 1 && p[plen - 1] == '.')
			plen--;
		if (plen > 2 && p[0] == '*' && p[1] == '.') {
			/* "*.example.com": the host must end in ".example.com" and
			 * have at least one label before it. */
			size_t slen = plen - 1; /* ".example.com" */

			if (hlen > slen && strncasecmp(host + hlen - slen, p + 1, slen) == 0)
				return true;
			continue;
		}
		if (plen == hlen && strncasecmp(host, p, hlen) == 0)
			return true;
	}
	return false;
}
