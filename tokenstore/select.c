/*
 * select.c - which token a login means, which mailbox it may log in as, and
 * which servers it may be sent to.
 *
 * One token may serve several mailboxes (`users`: addresses or `*@domain`,
 * for app-only tokens, shared mailboxes and relays sending as several
 * addresses), and a token is bound to its provider's servers (`hosts`), so
 * a client pointed at another server never receives it. The plugin, the
 * helper's `token`, `doctor --login` and `tunnel` all decide through the
 * functions here, so they cannot disagree.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "oauth.h"
#include "ts_p.h"

/* How well a `users` list matches a mailbox. */
enum users_match {
	USERS_NONE = 0,
	USERS_WILDCARD,             /* "*@domain" */
	USERS_EXACT,                /* the address itself */
};

static enum users_match users_match(const ts_strlist *users, const char *mailbox)
{
	enum users_match best = USERS_NONE;
	const char *at = mailbox ? strrchr(mailbox, '@') : NULL;
	size_t i;

	if (mailbox == NULL || *mailbox == '\0')
		return USERS_NONE;
	for (i = 0; i < users->n; i++) {
		const char *u = users->v[i];

		if (u[0] == '*' && u[1] == '@') {
			/* The local part must not be empty: "@domain" is no mailbox. */
			if (at != NULL && at != mailbox && strcasecmp(at + 1, u + 2) == 0 &&
			    best < USERS_WILDCARD)
				best = USERS_WILDCARD;
		} else if (strcasecmp(u, mailbox) == 0) {
			return USERS_EXACT;
		}
	}
	return best;
}

bool ts_users_match(const ts_strlist *users, const char *mailbox)
{
	return users != NULL && users_match(users, mailbox) != USERS_NONE;
}

int ts_token_mailbox(char **out, const ts_token_effective *e, const char *requested, ts_error *err)
{
	const char *pick = NULL;
	char *list = NULL;
	int rc;

	*out = NULL;
	if (requested != NULL && *requested == '\0')
		requested = NULL;
	if (requested == NULL || strcmp(requested, e->name) == 0 ||
	    (e->user != NULL && strcasecmp(requested, e->user) == 0)) {
		/* The token's own mailbox (asked by token name, or by user). */
		pick = e->user ? e->user : requested;
		if (pick != NULL && e->user == NULL && e->users.n > 0)
			return ts_error_set(err, TS_EINVAL,
					    "token '%s' serves several mailboxes (users) and has no user of "
					    "its own; give the mailbox as the authentication name (or --user)",
					    e->name);
		if (pick == NULL)
			return ts_error_set(err, TS_EINVAL,
					    "token '%s' has no user, and no mailbox was given; set one with: "
					    "sasl-oauth2 edit %s --set user=MAILBOX",
					    e->name, e->name);
	} else if (ts_users_match(&e->users, requested)) {
		pick = requested;
	} else if (e->user == NULL && e->users.n == 0) {
		/* A token without any mailbox of its own logs in as asked. */
		pick = requested;
	} else {
		list = ts_strlist_join(&e->users, ", ");
		rc = ts_error_set(err, TS_EPERM,
				  "token '%s' may not log in as '%s': it is neither the token's user "
				  "('%s') nor in its users (%s); to allow it, run: sasl-oauth2 edit %s "
				  "--set users=%s%s%s",
				  e->name, requested, e->user ? e->user : "none",
				  list && *list ? list : "none", e->name,
				  list && *list ? list : "", list && *list ? "," : "", requested);
		free(list);
		return rc;
	}
	if ((*out = strdup(pick)) == NULL)
		return ts_enomem(err);
	return TS_OK;
}

int ts_token_host_check(const ts_token_effective *e, const char *host, ts_error *err)
{
	char *list;
	int rc;

	if (e->hosts.n == 0)
		return TS_OK;
	if (host != NULL && *host != '\0' && ts_host_match(&e->hosts, host))
		return TS_OK;
	list = ts_strlist_join(&e->hosts, ",");
	if (host == NULL || *host == '\0')
		rc = ts_error_set(err, TS_EPERM,
				  "token '%s' may only be sent to the hosts in its 'hosts' list (%s), and "
				  "the application did not say which server it talks to; configure the "
				  "server by its host name",
				  e->name, list ? list : "?");
	else
		rc = ts_error_set(err, TS_EPERM,
				  "token '%s' was not sent to host '%s': that host is not in the token's "
				  "'hosts' list (%s); if this server belongs to the token's provider, run: "
				  "sasl-oauth2 edit %s --set hosts=%s,%s",
				  e->name, host, list ? list : "?", e->name, list ? list : "", host);
	free(list);
	return rc;
}

/* Add `name` to `l`; TS_ENOMEM on failure. */
static int add_name(ts_strlist *l, const char *name, ts_error *err)
{
	return ts_strlist_add(l, name) == TS_OK ? TS_OK : ts_enomem(err);
}

/* Exactly one candidate: hand it out. Several: refuse naming them. */
int ts_select_pick(char **out, const ts_strlist *found, const char *authname, const char *how,
		   ts_error *err)
{
	char *list;
	int rc;

	if (found->n == 1) {
		*out = strdup(found->v[0]);
		return *out ? TS_OK : ts_enomem(err);
	}
	list = ts_strlist_join(found, ", ");
	rc = ts_error_set(err, TS_EINVAL,
			  "%zu tokens match '%s' %s (%s), so none is used; pass the token name as the "
			  "SASL password to choose one, or change their user/users so that only "
			  "one matches", found->n, authname, how, list ? list : "?");
	free(list);
	return rc;
}

int ts_select_none(ts_ctx *ctx, const char *authname, ts_error *err)
{
	return ts_error_set(err, TS_ENOTFOUND,
			    "no token named '%s' and none with user or users matching '%s' in "
			    "the store %s; create one with: sasl-oauth2 add NAME --template "
			    "TEMPLATE --user %s", authname, authname, ts_ctx_store_path(ctx),
			    authname);
}

int ts_token_select(char **out, ts_ctx *ctx, const char *authname, const char *password,
		    ts_error *err)
{
	ts_store *st = ts_ctx_store(ctx);
	ts_strlist names = { 0 }, primary = { 0 }, exact = { 0 }, wild = { 0 };
	ts_token_config *c = NULL;
	ts_error lerr = { 0 };
	size_t i;
	int rc;

	*out = NULL;
	/* The context's cache decides the same way, from parsed copies. */
	if ((rc = ts_cache_select(out, ctx, authname, password, err)) != TS_CACHE_MISS)
		return rc;
	/* The password is only ever compared to names: it may be a real
	 * password and must not reach a message. */
	if (password != NULL && *password != '\0' && ts_name_check(password, NULL) == TS_OK &&
	    ts_store_load_config(st, password, &c, NULL) == TS_OK) {
		ts_token_config_free(c);
		*out = strdup(password);
		return *out ? TS_OK : ts_enomem(err);
	}
	if (authname == NULL || *authname == '\0')
		return ts_error_set(err, TS_ENOTFOUND, "no token name given: pass the token name "
				    "as the SASL password or the token's user as the "
				    "authentication name");
	if ((rc = ts_store_list(st, &names, err)) != TS_OK)
		goto cleanup;
	for (i = 0; i < names.n; i++) {
		enum users_match um;

		if (strcmp(names.v[i], authname) == 0) {
			if ((rc = add_name(&primary, names.v[i], err)) != TS_OK)
				goto cleanup;
			continue;
		}
		if (ts_store_load_config(st, names.v[i], &c, &lerr) != TS_OK) {
			ts_ctx_log(ctx, TS_LOG_WARN, "skipping token '%s': %s", names.v[i], lerr.msg);
			continue;
		}
		um = users_match(&c->users, authname);
		if (c->user != NULL && strcasecmp(c->user, authname) == 0)
			rc = add_name(&primary, names.v[i], err);
		else if (um == USERS_EXACT)
			rc = add_name(&exact, names.v[i], err);
		else if (um == USERS_WILDCARD)
			rc = add_name(&wild, names.v[i], err);
		ts_token_config_free(c);
		c = NULL;
		if (rc != TS_OK)
			goto cleanup;
	}
	if (primary.n > 0)
		rc = ts_select_pick(out, &primary, authname, "by name or user", err);
	else if (exact.n > 0)
		rc = ts_select_pick(out, &exact, authname, "by an address in their users", err);
	else if (wild.n > 0)
		rc = ts_select_pick(out, &wild, authname, "by a *@domain pattern in their users", err);
	else
		rc = ts_select_none(ctx, authname, err);
cleanup:
	ts_token_config_free(c);
	ts_strlist_clear(&names);
	ts_strlist_clear(&primary);
	ts_strlist_clear(&exact);
	ts_strlist_clear(&wild);
	return rc;
}
