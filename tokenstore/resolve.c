/*
 * resolve.c - from what the user wrote to what a grant needs: the token's
 * value, else the template's (with {tenant} substituted), else the global
 * configuration's; then every URL is checked and the required fields are
 * enforced. Also ts_token_config_check(), the same without reading secrets.
 *
 * client_auth: an explicit token value wins; otherwise, with no client
 * secret at all, the client is public ("none"), whatever the template says;
 * otherwise the template's, else "basic" (RFC 6749 2.3.1).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ts_p.h"

void ts_token_effective_free(ts_token_effective *e)
{
	if (e == NULL)
		return;
	free(e->name);
	free(e->template_name);
	free(e->user);
	free(e->client_id);
	ts_free_secret(e->client_secret);
	ts_free_secret(e->client_key);
	free(e->client_key_id);
	free(e->client_x5t);
	free(e->client_x5t256);
	free(e->assertion_issuer);
	free(e->tenant);
	free(e->auth_url);
	free(e->token_url);
	free(e->device_url);
	free(e->revoke_url);
	free(e->redirect_uri);
	ts_strlist_clear(&e->scope);
	ts_servers_clear(&e->servers);
	ts_kvlist_clear(&e->auth_params);
	ts_strlist_clear(&e->users);
	ts_strlist_clear(&e->hosts);
	free(e);
}

/* Whose rights a secret file is opened with when root reads it: the
 * owner of the store it was named in, else the file's own owner (found
 * without following a symbolic link); 0 means root's own. */
static void secret_reader(uid_t *uid, gid_t *gid, const ts_store *st, const char *path)
{
	struct stat sb;

	*uid = 0;
	*gid = 0;
	if (geteuid() != 0)
		return;
	if (st != NULL && st->owner_uid != 0) {
		*uid = st->owner_uid;
		*gid = st->owner_gid;
	} else if (fstatat(AT_FDCWD, path, &sb, AT_SYMLINK_NOFOLLOW) == 0 && sb.st_uid != 0) {
		*uid = sb.st_uid;
		*gid = sb.st_gid;
	}
}

/* The secret is exactly one line: trailing white space and one line end
 * are dropped; any other line break, or a NUL, is refused. */
static int secret_one_line(char *buf, size_t *len, const char *path, ts_error *err)
{
	size_t n = *len;

	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
			 buf[n - 1] == '\t')) {
		bool nl = buf[n - 1] == '\n';

		buf[--n] = '\0';
		if (nl) {
			if (n > 0 && buf[n - 1] == '\r')
				buf[--n] = '\0';
			break;
		}
	}
	while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	if (n == 0 || strlen(buf) != n)
		return ts_error_set(err, TS_EINVAL,
				    "%s is empty or contains a NUL byte; put the client secret on one line", path);
	if (memchr(buf, '\n', n) != NULL || memchr(buf, '\r', n) != NULL)
		return ts_error_set(err, TS_EINVAL,
				    "%s has more than one line, and a client secret file holds exactly one; check that it is the right file and put the secret alone on one line",
				    path);
	*len = n;
	return TS_OK;
}

int ts_owned_file_read(char **out, size_t *outlen, const ts_store *st, const char *path, size_t max,
		       bool secret, ts_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	struct stat sb;
	ts_act act;
	uid_t uid;
	gid_t gid;
	int rc;

	*out = NULL;
	if (path[0] != '/')
		return ts_error_set(err, TS_EINVAL, "'%s' is not an absolute path; give the full path",
				    path);
	secret_reader(&uid, &gid, st, path);
	if ((rc = ts_act_begin(&act, uid, gid, err)) != TS_OK)
		return rc;
	rc = ts_file_read_st(&buf, &len, &sb, AT_FDCWD, NULL, path, max, secret, true, err);
	ts_act_end(&act);
	if (rc == TS_EPERM && strstr(err ? err->msg : "", "cannot open") != NULL) {
		uid_t reader = uid != 0 ? uid : geteuid();

		if (reader != 0)
			return ts_error_set(err, TS_EPERM,
					    "%s cannot be read by uid %ld, the user of this store (root, too, reads secret files only with the store owner's rights); fix: chown %ld %s && chmod 600 %s",
					    path, (long)reader, (long)reader, path, path);
	}
	if (rc != TS_OK)
		return rc;
	if (secret && uid != 0 && sb.st_uid != uid) {
		ts_free_secret(buf);
		return ts_error_set(err, TS_EPERM,
				    "%s belongs to uid %ld, but the store belongs to uid %ld, and a secret file must belong to the store's owner; fix: chown %ld %s",
				    path, (long)sb.st_uid, (long)uid, (long)uid, path);
	}
	*out = buf;
	if (outlen)
		*outlen = len;
	return TS_OK;
}

/* Read a client_secret_file: ts_owned_file_read, then exactly one line.
 * Messages name the file, not the token (the caller adds that). */
int ts_secret_file_read(char **out, const ts_store *st, const char *path, ts_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if ((rc = ts_owned_file_read(&buf, &len, st, path, TS_SECRET_FILE_MAX, true, err)) != TS_OK)
		return rc;
	if ((rc = secret_one_line(buf, &len, path, err)) != TS_OK) {
		ts_free_secret(buf);
		return rc;
	}
	*out = buf;
	return TS_OK;
}

static int read_secret_file(char **out, const char *name, const char *path, ts_error *err)
{
	ts_error sub;
	int rc;

	if ((rc = ts_secret_file_read(out, NULL, path, &sub)) != TS_OK)
		return ts_error_set(err, rc, "token '%s': field 'client_secret_file': %s", name, sub.msg);
	return TS_OK;
}

/*
 * The keys that replace a client secret. client_auth: private_key_jwt needs
 * client_key_file, which alone implies it; flow: jwt_bearer needs
 * service_account_file. The files themselves are read by the context.
 */
static int resolve_key_auth(ts_token_effective *e, const ts_token_config *c, const char *name,
			    bool have_secret, ts_error *err)
{
	if (e->flow == TS_FLOW_JWT_BEARER) {
		if (c->service_account_file == NULL)
			return ts_error_set(err, TS_EINVAL,
					    "token '%s': flow 'jwt_bearer' needs field 'service_account_file'; set it to the service account's JSON key (0600)",
					    name);
		if (c->client_key_file != NULL || c->client_auth == TS_CLIENT_AUTH_PRIVATE_KEY_JWT)
			return ts_error_set(err, TS_EINVAL,
					    "token '%s': flow 'jwt_bearer' signs with the key in service_account_file; remove client_key_file and client_auth",
					    name);
		e->client_auth = TS_CLIENT_AUTH_NONE;
		return TS_OK;
	}
	if (c->service_account_file != NULL)
		return ts_error_set(err, TS_EINVAL,
				    "token '%s': field 'service_account_file' is only used by flow 'jwt_bearer'; set flow: jwt_bearer or remove it",
				    name);
	if (c->client_auth == TS_CLIENT_AUTH_PRIVATE_KEY_JWT ||
	    (c->client_auth == TS_CLIENT_AUTH_UNSET && c->client_key_file != NULL && !have_secret)) {
		if (c->client_key_file == NULL)
			return ts_error_set(err, TS_EINVAL,
					    "token '%s': field 'client_auth' is 'private_key_jwt' but client_key_file is not set; set it to the PEM private key whose certificate is registered with the provider",
					    name);
		e->client_auth = TS_CLIENT_AUTH_PRIVATE_KEY_JWT;
		return TS_OK;
	}
	if (c->client_key_file != NULL || c->client_cert_file != NULL)
		return ts_error_set(err, TS_EINVAL,
				    "token '%s': field '%s' is only used with client_auth: private_key_jwt; set that, or remove the field",
				    name, c->client_key_file ? "client_key_file" : "client_cert_file");
	return TS_OK;
}

/* Effective URL: token value, else template value; substitute {tenant}; check. */
static int pick_url(char **out, const char *name, const char *key, const char *mine,
		    const char *tpl, const char *tenant, ts_error *err)
{
	const char *src = mine ? mine : tpl;
	ts_error sub;
	int rc;

	*out = NULL;
	if (src == NULL)
		return TS_OK;
	if ((rc = ts_template_subst(out, src, tenant, &sub)) != TS_OK)
		return ts_error_set(err, rc, "token '%s': %s", name, sub.msg);
	if ((rc = ts_url_check(*out, "", &sub)) != TS_OK)
		return ts_error_set(err, rc, "token '%s': field '%s':%s", name, key, sub.msg);
	return TS_OK;
}

int ts_token_resolve_tpl(ts_token_effective **out, const ts_token_config *c, const ts_template *t,
			 long global_margin, bool read_secret, ts_error *err)
{
	static const ts_template none;
	ts_token_effective *e;
	const char *name = c->name ? c->name : "?";
	bool have_secret;
	size_t i;
	int rc;

	*out = NULL;
	if (t == NULL)
		t = &none;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return ts_enomem(err);
	if (ts_strdup_to(&e->name, c->name, NULL) || ts_strdup_to(&e->template_name, c->template_name, NULL) ||
	    ts_strdup_to(&e->user, c->user, NULL) || ts_strdup_to(&e->client_id, c->client_id, NULL) ||
	    ts_strdup_to(&e->tenant, c->tenant ? c->tenant : t->default_tenant, NULL) ||
	    ts_strdup_to(&e->redirect_uri, c->redirect_uri ? c->redirect_uri : t->redirect_uri, NULL)) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	if (e->tenant != NULL) {
		char why[256];

		if (ts_check_tenant(e->tenant, why, sizeof(why)) != 0) {
			rc = ts_error_set(err, TS_EINVAL, "token '%s': field 'tenant': %s", name, why);
			goto cleanup;
		}
	}
	if ((rc = pick_url(&e->auth_url, name, "auth_url", c->auth_url, t->auth_url, e->tenant, err)) ||
	    (rc = pick_url(&e->token_url, name, "token_url", c->token_url, t->token_url, e->tenant, err)) ||
	    (rc = pick_url(&e->device_url, name, "device_url", c->device_url, t->device_url, e->tenant, err)) ||
	    (rc = pick_url(&e->revoke_url, name, "revoke_url", c->revoke_url, t->revoke_url, e->tenant, err)))
		goto cleanup;
	if (e->redirect_uri != NULL && (rc = ts_url_check(e->redirect_uri, "field 'redirect_uri':", NULL)) != TS_OK) {
		rc = ts_error_set(err, TS_EINVAL,
				  "token '%s': field 'redirect_uri' must be an https:// URL or a loopback http:// URL",
				  name);
		goto cleanup;
	}
	e->flow = c->flow ? c->flow : t->flow ? t->flow : TS_FLOW_AUTHORIZATION_CODE;
	e->validity = c->validity ? c->validity : TS_VALIDITY_VALID;
	e->notify = c->notify_set ? c->notify : TS_NOTIFY_ALL;
	/* A template's margin is a floor under the global one (Microsoft's
	 * HVE refuses tokens expiring within 10 minutes); a token's own wins. */
	e->refresh_margin = c->refresh_margin >= 0 ? c->refresh_margin :
			    global_margin > t->refresh_margin ? global_margin : t->refresh_margin;
	e->refresh_token_rotates = t->refresh_token_rotates;
	if (ts_strlist_copy(&e->scope, c->scope_set ? &c->scope : e->flow == TS_FLOW_CLIENT_CREDENTIALS &&
			    t->client_credentials_scope.n > 0 ? &t->client_credentials_scope : &t->scope) != TS_OK ||
	    ts_strlist_copy(&e->users, &c->users) != TS_OK ||
	    ts_strlist_copy(&e->hosts, c->hosts.n > 0 ? &c->hosts : &t->hosts) != TS_OK) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	if (ts_strdup_to(&e->servers.imap, c->servers.imap ? c->servers.imap : t->servers.imap, NULL) ||
	    ts_strdup_to(&e->servers.pop3, c->servers.pop3 ? c->servers.pop3 : t->servers.pop3, NULL) ||
	    ts_strdup_to(&e->servers.smtp, c->servers.smtp ? c->servers.smtp : t->servers.smtp, NULL)) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	if (ts_kvlist_copy(&e->auth_params, &t->auth_params) != TS_OK) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	for (i = 0; i < c->auth_params.n; i++) {
		if (ts_kvlist_set(&e->auth_params, c->auth_params.v[i].key, c->auth_params.v[i].value) != TS_OK) {
			rc = ts_enomem(err);
			goto cleanup;
		}
	}
	/* The secret: inline, else from the file (only when asked to read it). */
	if (c->client_secret != NULL) {
		if ((rc = ts_strdup_to(&e->client_secret, c->client_secret, err)) != TS_OK)
			goto cleanup;
	} else if (c->client_secret_file != NULL && read_secret) {
		if ((rc = read_secret_file(&e->client_secret, name, c->client_secret_file, err)) != TS_OK)
			goto cleanup;
	}
	have_secret = c->client_secret != NULL || c->client_secret_file != NULL;
	if ((rc = resolve_key_auth(e, c, name, have_secret, err)) != TS_OK)
		goto cleanup;
	if (e->client_auth == TS_CLIENT_AUTH_PRIVATE_KEY_JWT || e->flow == TS_FLOW_JWT_BEARER) {
		/* The key authenticates the client: no secret needed. */
		have_secret = true;
	} else if (c->client_auth != TS_CLIENT_AUTH_UNSET) {
		e->client_auth = c->client_auth;
		if (e->client_auth != TS_CLIENT_AUTH_NONE && !have_secret) {
			rc = ts_error_set(err, TS_EINVAL,
					  "token '%s': field 'client_auth' is '%s' but no client secret is set; set client_secret_file (or client_secret), or client_auth: none for a public client",
					  name, ts_client_auth_str(e->client_auth));
			goto cleanup;
		}
	} else if (!have_secret) {
		e->client_auth = TS_CLIENT_AUTH_NONE;
	} else {
		e->client_auth = t->client_auth ? t->client_auth : TS_CLIENT_AUTH_BASIC;
	}
	/* Required fields. A service account's key file names its issuer. */
	if (e->client_id == NULL && e->flow != TS_FLOW_JWT_BEARER) {
		rc = ts_error_set(err, TS_EINVAL,
				  "token '%s': field 'client_id' is missing; set it to the application (client) id registered with the provider",
				  name);
		goto cleanup;
	}
	if (e->token_url == NULL && c->service_account_file == NULL) {
		rc = ts_error_set(err, TS_EINVAL,
				  "token '%s': field 'token_url' is missing; set token_url (the template '%s' has none)",
				  name, c->template_name ? c->template_name : "(none)");
		goto cleanup;
	}
	if (e->flow == TS_FLOW_AUTHORIZATION_CODE && e->auth_url == NULL) {
		rc = ts_error_set(err, TS_EINVAL,
				  "token '%s': field 'auth_url' is missing, and the authorization_code flow needs it; set auth_url or another flow",
				  name);
		goto cleanup;
	}
	if (e->flow == TS_FLOW_DEVICE_CODE && e->device_url == NULL) {
		rc = ts_error_set(err, TS_EINVAL,
				  "token '%s': field 'device_url' is missing, and the device_code flow needs it; set device_url or another flow",
				  name);
		goto cleanup;
	}
	if (e->flow == TS_FLOW_CLIENT_CREDENTIALS && !have_secret) {
		rc = ts_error_set(err, TS_EINVAL,
				  "token '%s': the client_credentials flow needs a client secret or key; set client_secret_file, or client_key_file with client_auth: private_key_jwt",
				  name);
		goto cleanup;
	}
	*out = e;
	e = NULL;
	rc = TS_OK;
cleanup:
	ts_token_effective_free(e);
	return rc;
}
