/*
 * token_config.c - the token configuration object: creation, copying,
 * freeing and ts_token_config_set(), the `--set KEY=VALUE` editor.
 *
 * `template` and `name` cannot be set: the name is the file name and the
 * template is permanent once saved (the file backend also refuses to replace
 * a configuration whose template differs, see store_file.c).
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts_p.h"

int ts_token_config_new(ts_token_config **out, const char *name, ts_error *err)
{
	ts_token_config *c;
	int rc;

	*out = NULL;
	if ((rc = ts_name_check(name, err)) != TS_OK)
		return rc;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return ts_enomem(err);
	c->refresh_margin = -1;
	if ((c->name = strdup(name)) == NULL) {
		free(c);
		return ts_enomem(err);
	}
	*out = c;
	return TS_OK;
}

void ts_token_config_free(ts_token_config *c)
{
	if (c == NULL)
		return;
	free(c->name);
	free(c->template_name);
	free(c->user);
	free(c->client_id);
	ts_free_secret(c->client_secret);
	free(c->client_secret_file);
	free(c->client_key_file);
	free(c->client_cert_file);
	free(c->service_account_file);
	free(c->tenant);
	free(c->auth_url);
	free(c->token_url);
	free(c->device_url);
	free(c->revoke_url);
	free(c->redirect_uri);
	ts_strlist_clear(&c->scope);
	ts_servers_clear(&c->servers);
	ts_kvlist_clear(&c->auth_params);
	ts_strlist_clear(&c->users);
	ts_strlist_clear(&c->hosts);
	free(c->issuer);
	free(c);
}

int ts_token_config_dup(ts_token_config **out, const ts_token_config *c, ts_error *err)
{
	ts_token_config *n;

	*out = NULL;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return ts_enomem(err);
	n->flow = c->flow;
	n->scope_set = c->scope_set;
	n->validity = c->validity;
	n->notify = c->notify;
	n->notify_set = c->notify_set;
	n->refresh_margin = c->refresh_margin;
	n->client_auth = c->client_auth;
	if (ts_strdup_to(&n->name, c->name, NULL) || ts_strdup_to(&n->template_name, c->template_name, NULL) ||
	    ts_strdup_to(&n->user, c->user, NULL) || ts_strdup_to(&n->client_id, c->client_id, NULL) ||
	    ts_strdup_to(&n->client_secret, c->client_secret, NULL) ||
	    ts_strdup_to(&n->client_secret_file, c->client_secret_file, NULL) ||
	    ts_strdup_to(&n->client_key_file, c->client_key_file, NULL) ||
	    ts_strdup_to(&n->client_cert_file, c->client_cert_file, NULL) ||
	    ts_strdup_to(&n->service_account_file, c->service_account_file, NULL) ||
	    ts_strdup_to(&n->tenant, c->tenant, NULL) || ts_strdup_to(&n->auth_url, c->auth_url, NULL) ||
	    ts_strdup_to(&n->token_url, c->token_url, NULL) ||
	    ts_strdup_to(&n->device_url, c->device_url, NULL) ||
	    ts_strdup_to(&n->revoke_url, c->revoke_url, NULL) ||
	    ts_strdup_to(&n->redirect_uri, c->redirect_uri, NULL) ||
	    ts_strlist_copy(&n->scope, &c->scope) || ts_servers_copy(&n->servers, &c->servers) ||
	    ts_kvlist_copy(&n->auth_params, &c->auth_params) ||
	    ts_strlist_copy(&n->users, &c->users) || ts_strlist_copy(&n->hosts, &c->hosts) ||
	    ts_strdup_to(&n->issuer, c->issuer, NULL)) {
		ts_token_config_free(n);
		return ts_enomem(err);
	}
	*out = n;
	return TS_OK;
}

static int set_err(ts_error *err, const char *key, const char *why)
{
	return ts_error_set(err, TS_EINVAL, "field '%s': %s", key, why);
}

/* Set a string field after checking it with `check` (may be NULL). */
static int set_str(char **slot, const char *key, const char *value, bool secret,
		   int (*check)(const char *, char *, size_t), ts_error *err)
{
	char why[512];

	if (*value != '\0' && check != NULL && check(value, why, sizeof(why)) != 0)
		return set_err(err, key, why);
	return ts_str_replace(slot, *value ? value : NULL, secret, err);
}

/* Set a list field from "a,b c"; an empty value clears it. */
static int set_list(ts_strlist *slot, const char *key, const char *value,
		    int (*check)(const ts_strlist *, char *, size_t), ts_error *err)
{
	ts_strlist l = { NULL, 0 };
	char why[512];

	if (ts_strlist_split(&l, value, ", \t") != TS_OK)
		return ts_enomem(err);
	if (check(&l, why, sizeof(why)) != 0) {
		ts_strlist_clear(&l);
		return set_err(err, key, why);
	}
	ts_strlist_clear(slot);
	*slot = l;
	return TS_OK;
}

static int check_url(const char *s, char *why, size_t whylen)
{
	return ts_check_url_field(s, false, why, whylen);
}

static const char set_keys[] =
	"user, users, client_id, client_secret, client_secret_file, client_key_file, client_cert_file, service_account_file, tenant, flow, auth_url, token_url, device_url, revoke_url, redirect_uri, issuer, scope, validity, notify, refresh_margin, servers.imap, servers.pop3, servers.smtp, hosts, client_auth, auth_params.NAME";

int ts_token_config_set(ts_token_config *c, const char *key, const char *value, ts_error *err)
{
	char why[512];
	size_t i;
	int rc;

	if (key == NULL || value == NULL)
		return ts_error_set(err, TS_EINVAL, "missing key or value; write KEY=VALUE");
	if (strcmp(key, "name") == 0)
		return ts_error_set(err, TS_EINVAL,
				    "field 'name' cannot be changed; export the token, edit the name and import it");
	if (strcmp(key, "template") == 0)
		return ts_error_set(err, TS_EINVAL,
				    "field 'template' is permanent once saved; remove the token and add it again with the new template");
	if (strcmp(key, "user") == 0)
		return set_str(&c->user, key, value, false, ts_check_text, err);
	if (strcmp(key, "client_id") == 0)
		return set_str(&c->client_id, key, value, false, ts_check_text, err);
	if (strcmp(key, "client_secret") == 0)
		return set_str(&c->client_secret, key, value, true, ts_check_text, err);
	if (strcmp(key, "client_secret_file") == 0)
		return set_str(&c->client_secret_file, key, value, false, ts_check_abspath, err);
	if (strcmp(key, "client_key_file") == 0)
		return set_str(&c->client_key_file, key, value, false, ts_check_abspath, err);
	if (strcmp(key, "client_cert_file") == 0)
		return set_str(&c->client_cert_file, key, value, false, ts_check_abspath, err);
	if (strcmp(key, "service_account_file") == 0)
		return set_str(&c->service_account_file, key, value, false, ts_check_abspath, err);
	if (strcmp(key, "tenant") == 0)
		return set_str(&c->tenant, key, value, false, ts_check_tenant, err);
	if (strcmp(key, "auth_url") == 0)
		return set_str(&c->auth_url, key, value, false, check_url, err);
	if (strcmp(key, "token_url") == 0)
		return set_str(&c->token_url, key, value, false, check_url, err);
	if (strcmp(key, "device_url") == 0)
		return set_str(&c->device_url, key, value, false, check_url, err);
	if (strcmp(key, "revoke_url") == 0)
		return set_str(&c->revoke_url, key, value, false, check_url, err);
	if (strcmp(key, "redirect_uri") == 0)
		return set_str(&c->redirect_uri, key, value, false, check_url, err);
	if (strcmp(key, "issuer") == 0)
		return set_str(&c->issuer, key, value, false, check_url, err);
	if (strcmp(key, "flow") == 0) {
		if (*value == '\0') {
			c->flow = TS_FLOW_UNSET;
			return TS_OK;
		}
		if (ts_flow_parse(&c->flow, value) != 0)
			return ts_error_set(err, TS_EINVAL,
					    "field 'flow': '%.64s' is not a flow; use authorization_code, device_code, client_credentials or jwt_bearer",
					    value);
		return TS_OK;
	}
	if (strcmp(key, "validity") == 0) {
		if (*value == '\0') {
			c->validity = TS_VALIDITY_UNSET;
			return TS_OK;
		}
		if (ts_validity_parse(&c->validity, value) != 0)
			return ts_error_set(err, TS_EINVAL,
					    "field 'validity': '%.64s' is not allowed; use valid, invalid or invalid-temporarily",
					    value);
		return TS_OK;
	}
	if (strcmp(key, "client_auth") == 0) {
		if (*value == '\0') {
			c->client_auth = TS_CLIENT_AUTH_UNSET;
			return TS_OK;
		}
		if (ts_client_auth_parse(&c->client_auth, value) != 0)
			return ts_error_set(err, TS_EINVAL,
					    "field 'client_auth': '%.64s' is not allowed; use basic, post, none or private_key_jwt",
					    value);
		return TS_OK;
	}
	if (strcmp(key, "refresh_margin") == 0) {
		char *end;
		long v;

		if (*value == '\0') {
			c->refresh_margin = -1;
			return TS_OK;
		}
		errno = 0;
		v = strtol(value, &end, 10);
		if (errno != 0 || *end != '\0' || v < 0 || v > 31536000 || value[0] == '+' || value[0] == ' ')
			return ts_error_set(err, TS_EINVAL,
					    "field 'refresh_margin': '%.64s' is not a number of seconds; give an integer from 0 to 31536000",
					    value);
		c->refresh_margin = v;
		return TS_OK;
	}
	if (strcmp(key, "scope") == 0) {
		ts_strlist l = { NULL, 0 };

		if (*value == '\0') {
			ts_strlist_clear(&c->scope);
			c->scope_set = false;
			return TS_OK;
		}
		if (ts_strlist_split(&l, value, ", \t") != TS_OK)
			return ts_enomem(err);
		for (i = 0; i < l.n; i++) {
			if (ts_check_text(l.v[i], why, sizeof(why)) != 0 || strpbrk(l.v[i], "\"\\") != NULL) {
				ts_strlist_clear(&l);
				return ts_error_set(err, TS_EINVAL,
						    "field 'scope': a scope contains a character not allowed in scopes (RFC 6749 3.3)");
			}
		}
		ts_strlist_clear(&c->scope);
		c->scope = l;
		c->scope_set = true;
		return TS_OK;
	}
	if (strcmp(key, "users") == 0)
		return set_list(&c->users, key, value, ts_check_mailbox_list, err);
	if (strcmp(key, "hosts") == 0)
		return set_list(&c->hosts, key, value, ts_check_hostpattern_list, err);
	if (strcmp(key, "notify") == 0) {
		ts_strlist l = { NULL, 0 };
		unsigned bits = 0, ev;

		if (ts_strlist_split(&l, value, ", \t") != TS_OK)
			return ts_enomem(err);
		for (i = 0; i < l.n; i++) {
			if (ts_notify_parse(&ev, l.v[i]) != 0) {
				rc = ts_error_set(err, TS_EINVAL,
						  "field 'notify': '%.64s' is not an event; use token_expired, refresh_token_expired or refresh_failed",
						  l.v[i]);
				ts_strlist_clear(&l);
				return rc;
			}
			bits |= ev;
		}
		ts_strlist_clear(&l);
		/* An empty value unsets the key, so the default (all events) applies. */
		c->notify = bits;
		c->notify_set = *value != '\0';
		return TS_OK;
	}
	if (strncmp(key, "servers", 7) == 0) {
		char **slot;

		if (strcmp(key, "servers") == 0 && *value == '\0') {
			ts_servers_clear(&c->servers);
			return TS_OK;
		}
		if (strcmp(key, "servers.imap") == 0)
			slot = &c->servers.imap;
		else if (strcmp(key, "servers.pop3") == 0)
			slot = &c->servers.pop3;
		else if (strcmp(key, "servers.smtp") == 0)
			slot = &c->servers.smtp;
		else
			return ts_error_set(err, TS_EINVAL,
					    "field '%.64s': unknown key; use servers.imap, servers.pop3 or servers.smtp",
					    key);
		return set_str(slot, key, value, false, ts_check_hostport, err);
	}
	if (strncmp(key, "auth_params", 11) == 0) {
		if (strcmp(key, "auth_params") == 0 && *value == '\0') {
			ts_kvlist_clear(&c->auth_params);
			return TS_OK;
		}
		if (key[11] != '.' || ts_check_param_name(key + 12, why, sizeof(why)) != 0)
			return ts_error_set(err, TS_EINVAL,
					    "field '%.64s': write auth_params.NAME=VALUE with NAME of letters, digits, '_', '-' and '.'",
					    key);
		if (*value == '\0') {
			ts_kvlist_del(&c->auth_params, key + 12);
			return TS_OK;
		}
		if (ts_check_text(value, why, sizeof(why)) != 0)
			return set_err(err, key, why);
		if (ts_kvlist_set(&c->auth_params, key + 12, value) != TS_OK)
			return ts_enomem(err);
		return TS_OK;
	}
	return ts_error_set(err, TS_EINVAL, "field '%.64s': unknown key; valid keys are: %s", key,
			    set_keys);
}
