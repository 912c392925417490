/*
 * keys.c - the files that stand in for a client secret: client_key_file and
 * client_cert_file (client_auth: private_key_jwt) and service_account_file
 * (flow: jwt_bearer).
 *
 * Key files are checked like secret files (absolute path, regular file, no
 * symbolic link, not readable by others) and are multi-line PEM or JSON.
 * A context opened with preload_secrets (the plugin) reads every token's
 * files at open, checks them once and keeps what signing needs: the PEM, the
 * certificate's thumbprints, a service account's issuer. A program that
 * then enters a chroot (Postfix's smtp) still signs. Without preloading
 * (the helper) the files are read when a token is resolved.
 */
#include <config.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jose.h"
#include "keys_p.h"
#include "ts_p.h"

enum key_kind {
	KEY_PRIVATE,                /* client_key_file: PEM private key */
	KEY_CERT,                   /* client_cert_file: PEM certificate */
	KEY_SERVICE_ACCOUNT,        /* service_account_file: Google JSON key */
};

static const char *const kind_field[] = {
	[KEY_PRIVATE] = "client_key_file",
	[KEY_CERT] = "client_cert_file",
	[KEY_SERVICE_ACCOUNT] = "service_account_file",
};

/* One file, read and checked. */
typedef struct key_entry {
	char *path;
	enum key_kind kind;
	char *pem;                  /* secret: the private key (KEY_PRIVATE, KEY_SERVICE_ACCOUNT) */
	char *x5t, *x5t256;         /* KEY_CERT */
	char *issuer, *kid, *token_uri; /* KEY_SERVICE_ACCOUNT */
	int fail_code;              /* when reading or checking failed: */
	char *fail;                 /* the reason (no key material in it) */
} key_entry;

struct ts_keycache {
	key_entry *v;
	size_t n;
};

static void entry_clear(key_entry *k)
{
	free(k->path);
	ts_free_secret(k->pem);
	free(k->x5t);
	free(k->x5t256);
	free(k->issuer);
	free(k->kid);
	free(k->token_uri);
	free(k->fail);
	memset(k, 0, sizeof(*k));
}

void ts_keycache_free(ts_keycache *kc)
{
	jose_keys_forget();
	if (kc == NULL)
		return;
	for (size_t i = 0; i < kc->n; i++)
		entry_clear(&kc->v[i]);
	free(kc->v);
	free(kc);
}

/* Read and check `path` into `k`. The message of a failure names the file. */
static int entry_load(key_entry *k, const ts_store *st, const char *path, enum key_kind kind,
		      ts_error *err)
{
	jose_service_account *sa = NULL;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	memset(k, 0, sizeof(*k));
	k->kind = kind;
	if ((k->path = strdup(path)) == NULL)
		return ts_enomem(err);
	/* Like a client_secret_file (as root: the store owner's rights), but
	 * multi-line. */
	if ((rc = ts_owned_file_read(&buf, &len, st, path, JOSE_FILE_MAX, kind != KEY_CERT, err)) != TS_OK)
		return rc;
	switch (kind) {
	case KEY_PRIVATE:
		if ((rc = jose_key_check(NULL, buf, len, path, err)) == TS_OK) {
			k->pem = buf;
			buf = NULL;
		}
		break;
	case KEY_CERT:
		rc = jose_cert_thumbprints(&k->x5t, &k->x5t256, buf, len, path, err);
		break;
	case KEY_SERVICE_ACCOUNT:
		if ((rc = jose_service_account_parse(&sa, buf, len, path, err)) != TS_OK)
			break;
		k->pem = sa->private_key;
		k->issuer = sa->client_email;
		k->kid = sa->private_key_id;
		k->token_uri = sa->token_uri;
		sa->private_key = sa->client_email = sa->private_key_id = sa->token_uri = NULL;
		jose_service_account_free(sa);
		break;
	}
	ts_free_secret(buf);
	return rc;
}

static const key_entry *cache_find(const ts_keycache *kc, const char *path, enum key_kind kind)
{
	for (size_t i = 0; kc != NULL && i < kc->n; i++)
		if (kc->v[i].kind == kind && strcmp(kc->v[i].path, path) == 0)
			return &kc->v[i];
	return NULL;
}

/* Add one file to the cache; a failure is kept with its reason and logged. */
static int cache_add(ts_keycache *kc, ts_ctx *ctx, const char *name, const char *path,
		     enum key_kind kind, ts_error *err)
{
	key_entry *grown, *k;
	ts_error sub = { 0 };
	int rc;

	if (path == NULL || cache_find(kc, path, kind) != NULL)
		return TS_OK;
	if ((grown = realloc(kc->v, (kc->n + 1) * sizeof(*grown))) == NULL)
		return ts_enomem(err);
	kc->v = grown;
	k = &kc->v[kc->n];
	rc = entry_load(k, ts_ctx_store(ctx), path, kind, &sub);
	if (rc == TS_ENOMEM) {
		entry_clear(k);
		return ts_enomem(err);
	}
	kc->n++;
	if (rc != TS_OK) {
		k->fail_code = rc;
		if ((k->fail = strdup(sub.msg)) == NULL)
			return ts_enomem(err);
		ts_ctx_log(ctx, TS_LOG_WARN,
			   "token '%s': field '%s': %s; this token cannot sign until that is fixed (a program that has entered a chroot, like Postfix's smtp, must then be reloaded)",
			   name, kind_field[kind], sub.msg);
	}
	return TS_OK;
}

int ts_keycache_add_token(ts_keycache **kcp, ts_ctx *ctx, const ts_token_config *c, ts_error *err)
{
	const char *name = c->name ? c->name : "?";
	int rc;

	if (c->client_key_file == NULL && c->client_cert_file == NULL &&
	    c->service_account_file == NULL)
		return TS_OK;
	if (*kcp == NULL && (*kcp = calloc(1, sizeof(**kcp))) == NULL)
		return ts_enomem(err);
	if ((rc = cache_add(*kcp, ctx, name, c->client_key_file, KEY_PRIVATE, err)) != TS_OK ||
	    (rc = cache_add(*kcp, ctx, name, c->client_cert_file, KEY_CERT, err)) != TS_OK ||
	    (rc = cache_add(*kcp, ctx, name, c->service_account_file, KEY_SERVICE_ACCOUNT, err)) != TS_OK)
		return rc;
	return TS_OK;
}

/*
 * The entry for `path`: the copy read at open when there is one (or its
 * failure), else the file now, into `tmp`. Inside a chroot entered after
 * the open, a missing file is explained.
 */
static int entry_get(const key_entry **out, key_entry *tmp, ts_ctx *ctx, const char *name,
		     const char *path, enum key_kind kind, ts_error *err)
{
	const key_entry *k = cache_find(ts_ctx_keycache(ctx), path, kind);
	ts_error sub = { 0 };
	int rc;

	*out = NULL;
	if (k != NULL && k->fail == NULL) {
		*out = k;
		return TS_OK;
	}
	rc = entry_load(tmp, ts_ctx_store(ctx), path, kind, &sub);
	if (rc == TS_OK) {
		*out = tmp;
		return TS_OK;
	}
	if (rc == TS_ENOMEM)
		return ts_enomem(err);
	if (rc == TS_ENOTFOUND && ts_ctx_in_chroot(ctx))
		return ts_error_set(err, k ? k->fail_code : rc,
				    "token '%s': field '%s': %s (the program has entered a chroot since the plugin was loaded); fix it and reload the program (e.g. postfix reload)",
				    name, kind_field[kind], k ? k->fail : path);
	return ts_error_set(err, rc, "token '%s': field '%s': %s", name, kind_field[kind], sub.msg);
}

int ts_keys_resolve(ts_token_effective *e, ts_ctx *ctx, const ts_token_config *c, ts_error *err)
{
	const char *name = c->name ? c->name : "?";
	key_entry tmp = { 0 };
	const key_entry *k;
	int rc = TS_OK;

	if (e->flow == TS_FLOW_JWT_BEARER && c->service_account_file != NULL) {
		if ((rc = entry_get(&k, &tmp, ctx, name, c->service_account_file,
				    KEY_SERVICE_ACCOUNT, err)) != TS_OK)
			goto cleanup;
		if (ts_strdup_to(&e->client_key, k->pem, err) != TS_OK ||
		    ts_strdup_to(&e->client_key_id, k->kid, err) != TS_OK ||
		    ts_strdup_to(&e->assertion_issuer, k->issuer, err) != TS_OK ||
		    (e->token_url == NULL && ts_strdup_to(&e->token_url, k->token_uri, err) != TS_OK)) {
			rc = TS_ENOMEM;
			goto cleanup;
		}
		if (e->token_url == NULL)
			rc = ts_error_set(err, TS_EINVAL,
					  "token '%s': field 'token_url' is missing and %s has no token_uri; set token_url",
					  name, c->service_account_file);
		goto cleanup;
	}
	if (e->client_auth != TS_CLIENT_AUTH_PRIVATE_KEY_JWT)
		return TS_OK;
	if ((rc = entry_get(&k, &tmp, ctx, name, c->client_key_file, KEY_PRIVATE, err)) != TS_OK)
		goto cleanup;
	if ((rc = ts_strdup_to(&e->client_key, k->pem, err)) != TS_OK)
		goto cleanup;
	entry_clear(&tmp);
	if (c->client_cert_file != NULL) {
		if ((rc = entry_get(&k, &tmp, ctx, name, c->client_cert_file, KEY_CERT, err)) != TS_OK)
			goto cleanup;
		if (ts_strdup_to(&e->client_x5t, k->x5t, err) != TS_OK ||
		    ts_strdup_to(&e->client_x5t256, k->x5t256, err) != TS_OK)
			rc = TS_ENOMEM;
	}
cleanup:
	entry_clear(&tmp);
	return rc;
}
