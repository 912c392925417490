/*
 * refresh.c - when and how a token is refreshed, shared by the plugin and
 * the helper.
 *
 * The hot path (a cached access token valid beyond the margin) takes no
 * lock, touches no network and reads only the token's configuration and
 * state: the template and the client secret wait until a refresh is due. A due token is refreshed under the
 * per-token lock; whoever waited on the lock re-reads the state first, so
 * a herd of processes on one expired token makes exactly one request.
 * Failures are recorded in the state (last_error, last_attempt) without
 * touching the tokens, except invalid_grant, which marks the refresh token
 * dead so nobody hammers the provider with it again.
 *
 * A successful answer may have rotated the refresh token: from then on the
 * old one is dead (or, with reuse detection, poison). So a state that
 * cannot be saved is retried, a complete copy that could not be renamed
 * stays for the next lock holder to adopt (store_file.c), the context
 * keeps it in memory and writes it first at the next call, and the new
 * access token is handed out all the same.
 */
#include <config.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "oauth_http_p.h"
#include "ts_p.h"


static int replace_str(char **dst, const char *src, bool secret)
{
	char *n = NULL;

	if (src != NULL && (n = strdup(src)) == NULL)
		return TS_ENOMEM;
	if (secret)
		ts_free_secret(*dst);
	else
		free(*dst);
	*dst = n;
	return TS_OK;
}

int oa2_state_apply(ts_state *s, const oa2_token_response *r, ts_error *err)
{
	int64_t now = ts_now();

	if (replace_str(&s->access_token, r->access_token, true) != TS_OK ||
	    replace_str(&s->token_type, r->token_type ? r->token_type : "Bearer", false) != TS_OK ||
	    (r->refresh_token != NULL &&
	     replace_str(&s->refresh_token, r->refresh_token, true) != TS_OK) ||
	    (r->scope != NULL && replace_str(&s->scope, r->scope, false) != TS_OK) ||
	    replace_str(&s->last_error, NULL, false) != TS_OK)
		return ts_error_set(err, TS_ENOMEM, "out of memory storing a token response");
	s->expires_at = now + (r->expires_in > 0 ? r->expires_in : OA2_DEFAULT_EXPIRES_IN);
	if (r->refresh_token != NULL)
		s->refresh_expires_at = r->refresh_token_expires_in > 0 ?
			now + r->refresh_token_expires_in : 0;
	s->last_refresh = now;
	s->last_attempt = now;
	s->refresh_token_dead = false;
	s->access_rejected = false;
	/* Fine again: a later failure is a new transition worth reporting. */
	s->notified = 0;
	return TS_OK;
}

/* How many times a refreshed state is written before giving up. */
#define SAVE_ATTEMPTS 3

int ts_lock_wait_ms(const ts_global_config *cfg)
{
	long t = (cfg && cfg->http_timeout > 0) ? cfg->http_timeout : 20;

	/* The holder's worst case: the refresh and its invalid_scope retry
	 * (oa2_refresh_ex), each bounded by http_timeout, then the write and
	 * its retries; 5 s covers the writes and a slow disk. */
	return (int)(2 * t * 1000 + 5000);
}

static int lock_timeout_ms(ts_ctx *ctx)
{
	return ts_lock_wait_ms(ts_ctx_config(ctx));
}

/* Write a refreshed state, trying SAVE_ATTEMPTS times. */
static int save_refreshed(ts_store *st, const char *name, ts_state *s, ts_error *err)
{
	int rc = TS_OK, i;

	for (i = 0; i < SAVE_ATTEMPTS; i++) {
		struct timespec pause = { 0, 100L * 1000 * 1000 * i };

		if (i > 0)
			nanosleep(&pause, NULL);
		rc = ts_store_save_state(st, name, s, err);
		if (rc == TS_OK || rc == TS_ENOMEM)
			break;
	}
	return rc;
}

/* Under the lock, with the state just read in *s2: a refreshed state this
 * process could not save earlier is newer unless another process has
 * written since (its generation is then higher); write it now, and use it
 * either way. */
static int adopt_pending(ts_ctx *ctx, const char *name, ts_state **s2, ts_error *err)
{
	ts_state *p = NULL;
	ts_error e2 = { 0 };
	int rc;

	if ((rc = ts_ctx_pending_get(&p, ctx, name, err)) != TS_OK || p == NULL)
		return rc;
	if (*s2 != NULL && (*s2)->generation > p->generation) {
		ts_ctx_pending_drop(ctx, name);
		ts_state_free(p);
		return TS_OK;
	}
	ts_state_free(*s2);
	*s2 = p;
	if (ts_store_save_state(ts_ctx_store(ctx), name, p, &e2) == TS_OK) {
		ts_ctx_pending_drop(ctx, name);
		ts_ctx_log(ctx, TS_LOG_INFO, "token '%s': saved the state kept in memory since an "
			   "earlier write failed", name);
	}
	return TS_OK;
}

static bool usable(const ts_state *s, long margin, int64_t now)
{
	return s != NULL && s->access_token != NULL && s->access_token[0] != '\0' &&
	       !s->access_rejected && s->expires_at - margin > now;
}

/* Every access token handed out goes on the wire after "Bearer ": one
 * with a byte outside RFC 6750's b64token (a state file edited by hand, an
 * old store) could add fields to the SASL message, so it never leaves. */
static int hand_out(char **out, int64_t *out_expires_at, const char *name, const ts_state *s,
		    ts_error *err)
{
	if (!ts_b64token_ok(s->access_token))
		return ts_error_set(err, TS_EINVAL, "token '%s': the stored access token contains a "
				    "character outside RFC 6750's token set, so it is not sent; run: "
				    "sasl-oauth2 refresh %s", name, name);
	*out = strdup(s->access_token);
	if (*out == NULL)
		return ts_error_set(err, TS_ENOMEM, "out of memory");
	if (out_expires_at != NULL)
		*out_expires_at = s->expires_at;
	return TS_OK;
}

/* The token's state, or NULL (and TS_OK) when it has none yet. */
static int load_state_opt(ts_state **out, ts_store *st, const char *name, ts_error *err)
{
	ts_error lerr = { 0 };
	int rc = ts_store_load_state(st, name, out, &lerr);

	if (rc == TS_ENOTFOUND) {
		*out = NULL;
		return TS_OK;
	}
	if (rc != TS_OK && err != NULL)
		*err = lerr;
	return rc;
}

/* Checks that need no network: a refresh is possible at all. */
static int refresh_possible(const ts_token_effective *eff, const ts_state *s, ts_error *err)
{
	const char *n = eff->name;

	if (eff->flow == TS_FLOW_CLIENT_CREDENTIALS || eff->flow == TS_FLOW_JWT_BEARER)
		return TS_OK;
	if (s == NULL)
		return ts_error_set(err, TS_ESTATE, "token '%s' has never been authorized; run: "
				    "sasl-oauth2 authorize %s", n, n);
	if (s->refresh_token_dead)
		return ts_error_set(err, TS_EGRANT, "token '%s': the refresh token was revoked or "
				    "expired (%s); run: sasl-oauth2 authorize %s", n,
				    s->last_error && strstr(s->last_error, "invalid_grant") ?
				    "invalid_grant" : "marked dead", n);
	if (s->refresh_token == NULL || s->refresh_token[0] == '\0')
		return ts_error_set(err, TS_ESTATE, "token '%s' has no refresh token (the provider "
				    "did not issue one); run: sasl-oauth2 authorize %s", n, n);
	return TS_OK;
}

/* Record a failed attempt in `s` (created when NULL) and save it. The
 * tokens stay as they were; invalid_grant on a refresh marks the refresh
 * token dead. */
static void record_failure(ts_ctx *ctx, const char *name, ts_state **sp, int rc,
			   bool was_refresh, const ts_error *err)
{
	ts_store *st = ts_ctx_store(ctx);
	ts_error e2 = { 0 };

	if (*sp == NULL && ts_state_new(sp, &e2) != TS_OK)
		return;
	(*sp)->last_attempt = ts_now();
	if (replace_str(&(*sp)->last_error, err ? err->msg : "refresh failed", false) != TS_OK)
		return;
	/* The message may quote a server; the state holds no control characters. */
	for (char *p = (*sp)->last_error; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (rc == TS_EGRANT && was_refresh)
		(*sp)->refresh_token_dead = true;
	if (ts_store_save_state(st, name, *sp, &e2) != TS_OK)
		ts_ctx_log(ctx, TS_LOG_ERR, "token '%s': could not record the failed refresh: %s",
			   name, e2.msg);
}

/* The network part, with the lock held and `s` freshly read. */
static int do_refresh(oa2_token_response **out, ts_ctx *ctx, const ts_token_effective *eff,
		      const char *mailbox, const ts_state *s, bool *was_refresh, ts_error *err)
{
	oa2_oauth_error oe;
	int rc;

	*was_refresh = false;
	if (s != NULL && s->refresh_token != NULL && s->refresh_token[0] != '\0' &&
	    !s->refresh_token_dead) {
		*was_refresh = true;
		rc = oa2_refresh_ex(out, &oe, ctx, eff, s->refresh_token, err);
		if (rc == TS_EGRANT)
			ts_error_set(err, TS_EGRANT, "token '%s': refresh token was revoked or expired "
				     "(invalid_grant%s%s; token endpoint %s, HTTP %ld); run: "
				     "sasl-oauth2 authorize %s", eff->name,
				     oe.description[0] ? ": " : "", oe.description, oe.host,
				     oe.http_status, eff->name);
		return rc;
	}
	if (eff->flow == TS_FLOW_CLIENT_CREDENTIALS)
		return oa2_client_credentials(out, ctx, eff, err);
	if (eff->flow == TS_FLOW_JWT_BEARER)
		return oa2_jwt_bearer(out, ctx, eff, mailbox, err);
	return refresh_possible(eff, s, err);
}

static int key_dup(char **out, const char *s, ts_error *err)
{
	if ((*out = strdup(s)) == NULL)
		return ts_error_set(err, TS_ENOMEM, "out of memory");
	return TS_OK;
}

int ts_token_state_key(char **out, const ts_token_config *c, const char *mailbox,
		       ts_error *err)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char lower[512], key[TS_NAME_MAX + TS_STATE_KEY_HEX + 2];
	size_t i, n;

	*out = NULL;
	if (c->flow != TS_FLOW_JWT_BEARER || mailbox == NULL ||
	    (c->user != NULL && strcasecmp(c->user, mailbox) == 0))
		return key_dup(out, c->name, err);
	if ((n = strlen(mailbox)) >= sizeof(lower))
		return ts_error_set(err, TS_EINVAL, "token '%s': the mailbox is too long", c->name);
	for (i = 0; i <= n; i++)
		lower[i] = (char)tolower((unsigned char)mailbox[i]);
	SHA256((const unsigned char *)lower, n, md);
	n = (size_t)snprintf(key, sizeof(key), "%s#", c->name);
	for (i = 0; i < TS_STATE_KEY_HEX / 2; i++)
		n += (size_t)snprintf(key + n, sizeof(key) - n, "%02x", md[i]);
	return key_dup(out, key, err);
}

/*
 * The mailbox a jwt_bearer token acts for: `mailbox` when the token may
 * (its user, or a match of its users), else the token's user. NULL for
 * other flows, whose tokens are not per mailbox.
 */
static int bearer_mailbox(const char **out, const ts_token_config *c, const char *mailbox,
			  ts_error *err)
{
	*out = NULL;
	if (c->flow != TS_FLOW_JWT_BEARER)
		return TS_OK;
	if (mailbox == NULL || *mailbox == '\0')
		mailbox = c->user;
	if (mailbox == NULL)
		return ts_error_set(err, TS_EINVAL,
				    "token '%s' (jwt_bearer) has no user; set user, or log in as one of its users",
				    c->name);
	if ((c->user == NULL || strcasecmp(c->user, mailbox) != 0) &&
	    !ts_users_match(&c->users, mailbox))
		return ts_error_set(err, TS_EPERM,
				    "token '%s' may not act for mailbox '%.200s' (not its user, not in its users); add it with: sasl-oauth2 edit %s --set users=...",
				    c->name, mailbox, c->name);
	*out = mailbox;
	return TS_OK;
}

/* The margin before expiry at which the token counts as due: its own,
 * else the global one raised to its template's floor (refresh_margin in a
 * template, e.g. 900 s for Microsoft's HVE). */
static int token_margin(long *out, ts_ctx *ctx, const ts_token_config *c, ts_error *err)
{
	const ts_global_config *cfg = ts_ctx_config(ctx);
	long global = cfg ? cfg->refresh_margin : 300;
	ts_template *t = NULL;
	ts_error sub = { 0 };
	int rc;

	*out = c->refresh_margin >= 0 ? c->refresh_margin : global;
	if (c->refresh_margin >= 0 || c->template_name == NULL)
		return TS_OK;
	if ((rc = ts_ctx_template_load(&t, ctx, c->template_name, &sub)) != TS_OK)
		return ts_error_set(err, rc, "token '%s': field 'template': %s", c->name, sub.msg);
	if (t->refresh_margin > *out)
		*out = t->refresh_margin;
	ts_template_free(t);
	return TS_OK;
}

int ts_token_get_access(char **out, int64_t *out_expires_at, ts_ctx *ctx,
			const char *name, unsigned flags, ts_error *err)
{
	return ts_token_get_access_as(out, out_expires_at, ctx, name, NULL, flags, err);
}

int ts_token_get_access_as(char **out, int64_t *out_expires_at, ts_ctx *ctx, const char *name,
			   const char *mailbox, unsigned flags, ts_error *err)
{
	ts_token_config *c = NULL;
	char *key = NULL;
	const char *as = NULL;
	ts_token_effective *eff = NULL;
	ts_state *s = NULL, *s2 = NULL;
	ts_lock *lk = NULL;
	oa2_token_response *resp = NULL;
	ts_store *st = ts_ctx_store(ctx);
	ts_error serr = { 0 };
	char host[256];
	bool was_refresh = false;
	long margin;
	int64_t now;
	int rc;

	*out = NULL;
	if (out_expires_at != NULL)
		*out_expires_at = 0;
	/* The hot path needs only the token's own validity and margin and its
	 * state, parsed copies of which the context keeps: the template, the
	 * endpoints and the client secret (maybe a file) are read when a
	 * refresh is due. The cache holds a token's own state only, so a
	 * request for a given mailbox (jwt_bearer keeps one state per
	 * mailbox) reads the store. */
	if (!(flags & TS_ACCESS_FORCE) && mailbox == NULL &&
	    (rc = ts_cache_access(out, out_expires_at, ctx, name, err)) != TS_CACHE_MISS)
		return rc;
	if ((rc = ts_store_load_config(st, name, &c, err)) != TS_OK)
		goto cleanup;
	if (c->validity != TS_VALIDITY_VALID && c->validity != TS_VALIDITY_UNSET) {
		rc = ts_error_set(err, TS_EINVALID, "token '%s' is marked %s (validity); run: "
				  "sasl-oauth2 edit %s --set validity=valid to use it again", name,
				  ts_validity_str(c->validity), name);
		ts_ctx_log(ctx, TS_LOG_WARN, "%s", err ? err->msg : "token not valid");
		goto cleanup;
	}
	if ((rc = token_margin(&margin, ctx, c, err)) != TS_OK)
		goto cleanup;
	/* A jwt_bearer token keeps one state per mailbox it acts for. */
	if ((rc = bearer_mailbox(&as, c, mailbox, err)) != TS_OK ||
	    (rc = ts_token_state_key(&key, c, as, err)) != TS_OK)
		goto cleanup;
	if ((rc = load_state_opt(&s, st, key, err)) != TS_OK)
		goto cleanup;
	now = ts_now();
	if (!(flags & TS_ACCESS_FORCE) && usable(s, margin, now)) {
		rc = hand_out(out, out_expires_at, name, s, err);
		goto cleanup;
	}
	if (flags & TS_ACCESS_NO_NETWORK) {
		rc = ts_error_set(err, TS_EEXPIRED, "token '%s': the access token is expired or due "
				  "and refreshing is not allowed here; run: sasl-oauth2 refresh %s",
				  name, name);
		goto cleanup;
	}
	if ((rc = ts_token_resolve(&eff, ctx, c, err)) != TS_OK ||
	    (rc = refresh_possible(eff, s, err)) != TS_OK)
		goto cleanup;

	if ((rc = ts_store_lock(st, key, lock_timeout_ms(ctx), &lk, err)) != TS_OK)
		goto cleanup;
	if ((rc = load_state_opt(&s2, st, key, err)) != TS_OK ||
	    (rc = adopt_pending(ctx, key, &s2, err)) != TS_OK)
		goto cleanup;
	now = ts_now();
	/* Someone else refreshed while we waited for the lock. */
	if (usable(s2, margin, now) &&
	    (!(flags & TS_ACCESS_FORCE) ||
	     (s != NULL && s2->last_refresh > s->last_refresh))) {
		rc = hand_out(out, out_expires_at, name, s2, err);
		goto cleanup;
	}
	if ((rc = refresh_possible(eff, s2, err)) != TS_OK)
		goto cleanup;

	/* Write first: a store that cannot take the state now would lose the
	 * rotated refresh token of the answer, so do not spend the old one. */
	if (s2 != NULL && s2->refresh_token != NULL && s2->refresh_token[0] != '\0' &&
	    ts_store_save_state(st, key, s2, &serr) != TS_OK) {
		rc = ts_error_set(err, serr.code == TS_ENOMEM ? TS_ENOMEM : TS_EIO,
				  "token '%s': not refreshed, because the store cannot be written (%s), and the answer's new refresh token could be lost; free space in the store and try again",
				  name, serr.msg);
		ts_ctx_log(ctx, TS_LOG_ERR, "%s", err ? err->msg : "store not writable");
		goto cleanup;
	}
	oa2_url_host(host, sizeof(host), eff->token_url);
	rc = do_refresh(&resp, ctx, eff, as, s2, &was_refresh, err);
	if (rc != TS_OK) {
		ts_ctx_log(ctx, rc == TS_ENET ? TS_LOG_WARN : TS_LOG_ERR, "%s",
			   err ? err->msg : "refresh failed");
		/* The server may have rotated before we refused its answer: its
		 * new refresh token is the only live one, so keep it. */
		if (resp != NULL && resp->refresh_token != NULL && s2 != NULL &&
		    replace_str(&s2->refresh_token, resp->refresh_token, true) == TS_OK) {
			s2->refresh_expires_at = resp->refresh_token_expires_in > 0 ?
				now + resp->refresh_token_expires_in : 0;
			ts_ctx_log(ctx, TS_LOG_WARN, "token '%s': kept the rotated refresh token "
				   "of the refused answer", name);
		}
		if (rc != TS_ENOMEM)
			record_failure(ctx, key, &s2, rc, was_refresh, err);
		goto cleanup;
	}
	if (s2 == NULL && (rc = ts_state_new(&s2, err)) != TS_OK)
		goto cleanup;
	if ((rc = oa2_state_apply(s2, resp, err)) != TS_OK)
		goto cleanup;
	if (save_refreshed(st, key, s2, &serr) != TS_OK) {
		/* Never lose what the provider just issued: keep it for the next
		 * call of this process and hand out the new access token. */
		if ((rc = ts_ctx_pending_put(ctx, key, s2, err)) != TS_OK)
			goto cleanup;
		ts_ctx_log(ctx, TS_LOG_ERR, "token '%s': refreshed, but the new state could not be "
			   "saved (%s); the new tokens are kept in memory and in any complete "
			   "temporary copy, and written at the next use; free space in the store",
			   name, serr.msg);
	} else {
		ts_ctx_pending_drop(ctx, key);
	}
	ts_ctx_log(ctx, TS_LOG_INFO, "token '%s': %s at %s; access token valid for %lld s%s",
		   name, was_refresh ? "refreshed" : as ? "new token (jwt_bearer)" :
		   "new token (client_credentials)", host,
		   (long long)(s2->expires_at - now),
		   resp->refresh_token ? ", refresh token rotated" : "");
	rc = hand_out(out, out_expires_at, name, s2, err);
cleanup:
	if (lk != NULL)
		ts_store_unlock(st, lk);
	oa2_token_response_free(resp);
	ts_state_free(s);
	ts_state_free(s2);
	ts_token_effective_free(eff);
	ts_token_config_free(c);
	free(key);
	return rc;
}

int ts_token_refresh(ts_ctx *ctx, const char *name, ts_error *err)
{
	char *tok = NULL;
	int rc = ts_token_get_access(&tok, NULL, ctx, name, TS_ACCESS_FORCE, err);

	ts_free_secret(tok);
	return rc;
}

/* Take the token's lock and read its state; a missing state is a new
 * one when `create`, else TS_ENOTFOUND. On failure nothing is held. */
static int lock_and_load(ts_lock **out_lock, ts_state **out, ts_ctx *ctx, const char *name,
			 bool create, ts_error *err)
{
	ts_store *st = ts_ctx_store(ctx);
	int rc;

	*out = NULL;
	if ((rc = ts_store_lock(st, name, lock_timeout_ms(ctx), out_lock, err)) != TS_OK)
		return rc;
	rc = ts_store_load_state(st, name, out, err);
	if (rc == TS_ENOTFOUND && create)
		rc = ts_state_new(out, err);
	if (rc != TS_OK) {
		ts_store_unlock(st, *out_lock);
		*out_lock = NULL;
	}
	return rc;
}

int ts_token_store_grant(ts_ctx *ctx, const char *name, const oa2_token_response *r, ts_error *err)
{
	ts_store *st = ts_ctx_store(ctx);
	ts_lock *lk = NULL;
	ts_state *s = NULL;
	int rc;

	if ((rc = ts_name_check(name, err)) != TS_OK ||
	    (rc = lock_and_load(&lk, &s, ctx, name, true, err)) != TS_OK)
		return rc;
	if ((rc = oa2_state_apply(s, r, err)) != TS_OK)
		goto cleanup;
	/* A new consent with no refresh token in the answer keeps the old
	 * refresh token (oa2_state_apply), which is still the grant's. */
	rc = ts_store_save_state(st, name, s, err);
	if (rc == TS_OK)
		ts_ctx_log(ctx, TS_LOG_INFO, "token '%s': stored a new grant%s", name,
			   r->refresh_token ? " with a refresh token" : "");
cleanup:
	ts_store_unlock(st, lk);
	ts_state_free(s);
	return rc;
}

int ts_token_mark_rejected(ts_ctx *ctx, const char *name, const char *access_token, ts_error *err)
{
	return ts_token_mark_rejected_as(ctx, name, NULL, access_token, err);
}

int ts_token_mark_rejected_as(ts_ctx *ctx, const char *name, const char *mailbox,
			      const char *access_token, ts_error *err)
{
	ts_store *st = ts_ctx_store(ctx);
	ts_token_config *c = NULL;
	ts_lock *lk = NULL;
	ts_state *s = NULL;
	char *key = NULL;
	size_t n;
	int rc;

	if (access_token == NULL)
		return TS_OK;
	/* A jwt_bearer token's access token for a mailbox lives under its key. */
	if (mailbox != NULL) {
		if ((rc = ts_store_load_config(st, name, &c, err)) != TS_OK)
			return rc;
		rc = ts_token_state_key(&key, c, mailbox, err);
		ts_token_config_free(c);
		if (rc != TS_OK)
			return rc;
		name = key;
	}
	if ((rc = lock_and_load(&lk, &s, ctx, name, false, err)) != TS_OK) {
		free(key);
		return rc;
	}
	n = strlen(access_token);
	if (s->access_token != NULL && strlen(s->access_token) == n &&
	    CRYPTO_memcmp(s->access_token, access_token, n) == 0 && !s->access_rejected) {
		s->access_rejected = true;
		rc = ts_store_save_state(st, name, s, err);
		if (rc == TS_OK)
			ts_ctx_log(ctx, TS_LOG_INFO, "token '%s': the server rejected the access "
				   "token; the next login refreshes it", name);
	}
	ts_store_unlock(st, lk);
	ts_state_free(s);
	free(key);
	return rc;
}

/* ts_token_login for a backend without stamps: each step as it stands. */
static int login_uncached(ts_login *out, ts_ctx *ctx, const char *authname,
			  const char *password, const char *host, ts_error *err)
{
	ts_token_effective *eff = NULL;
	int rc;

	out->step = TS_LOGIN_SELECT;
	if ((rc = ts_token_select(&out->name, ctx, authname, password, err)) != TS_OK)
		return rc;
	out->step = TS_LOGIN_CONFIG;
	if ((rc = ts_ctx_token_effective(&eff, ctx, out->name, err)) != TS_OK)
		return rc;
	out->validity = eff->validity ? eff->validity : TS_VALIDITY_VALID;
	if (out->validity == TS_VALIDITY_VALID) {
		out->step = TS_LOGIN_REFUSED;
		if ((rc = ts_token_host_check(eff, host, err)) == TS_OK &&
		    (rc = ts_token_mailbox(&out->mailbox, eff, authname, err)) == TS_OK)
			out->step = TS_LOGIN_ACCESS;
	}
	ts_token_effective_free(eff);
	return rc;
}

int ts_token_login(ts_login *out, ts_ctx *ctx, const char *authname, const char *password,
		   const char *host, ts_error *err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	rc = ts_cache_login(out, ctx, authname, password, host, err);
	if (rc == TS_CACHE_MISS)
		rc = login_uncached(out, ctx, authname, password, host, err);
	if (rc != TS_OK || out->step != TS_LOGIN_ACCESS)
		return rc;
	/* Due, rejected or not cached: the ordinary path, which refreshes. */
	if (out->access == NULL)
		rc = ts_token_get_access_as(&out->access, &out->expires_at, ctx, out->name,
					    out->mailbox, 0, err);
	return rc;
}
