/*
 * template.c - provider templates: <dir>/<name>.yaml files that fill in
 * endpoints, scopes, servers and client authentication, and the {tenant}
 * substitution in their URLs.
 *
 * Templates are read relative to a directory descriptor so that a context
 * opened before chroot can still load them afterwards.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ts_p.h"

void ts_template_free(ts_template *t)
{
	if (t == NULL)
		return;
	free(t->name);
	free(t->description);
	free(t->auth_url);
	free(t->token_url);
	free(t->device_url);
	free(t->revoke_url);
	free(t->redirect_uri);
	free(t->issuer);
	ts_strlist_clear(&t->scope);
	ts_strlist_clear(&t->scope_imap);
	ts_strlist_clear(&t->scope_pop);
	ts_strlist_clear(&t->scope_smtp);
	ts_servers_clear(&t->servers);
	free(t->default_tenant);
	ts_kvlist_clear(&t->auth_params);
	ts_strlist_clear(&t->hosts);
	ts_strlist_clear(&t->client_credentials_scope);
	free(t);
}

static int check_tpl_url(const char *s, char *why, size_t whylen)
{
	return ts_check_url_field(s, true, why, whylen);
}

static int tpl_str(char **slot, ts_ydoc *d, yaml_node_t *v, const char *key,
		   int (*check)(const char *, char *, size_t), ts_error *err)
{
	int rc;

	free(*slot);
	*slot = NULL;
	if ((rc = ts_yget_str(slot, d, v, key, err)) != TS_OK)
		return rc;
	return check ? ts_ycheck(d, v, key, *slot, check, err) : TS_OK;
}

static int tpl_scopes(ts_template *t, ts_ydoc *d, yaml_node_t *map, ts_error *err)
{
	yaml_node_pair_t *p;
	int rc;

	if (map->type != YAML_MAPPING_NODE)
		return ts_yerr(err, TS_EINVAL, d, map, "scopes", "expected a mapping of imap, pop, smtp");
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = ts_ynode(d, p->key), *v = ts_ynode(d, p->value);
		const char *key = k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
		ts_strlist *l;

		if (v == NULL)
			continue;
		if (strcmp(key, "imap") == 0)
			l = &t->scope_imap;
		else if (strcmp(key, "pop") == 0)
			l = &t->scope_pop;
		else if (strcmp(key, "smtp") == 0)
			l = &t->scope_smtp;
		else
			return ts_yerr(err, TS_EINVAL, d, k, "scopes",
				       "unknown protocol '%.64s'; use imap, pop or smtp", key);
		if ((rc = ts_yget_strlist(l, d, v, "scopes", true, err)) != TS_OK)
			return rc;
	}
	return TS_OK;
}

static const char tpl_keys[] =
	"name, description, auth_url, token_url, device_url, revoke_url, redirect_uri, issuer, scope, scopes, client_credentials_scope, servers, hosts, client_auth, flow, refresh_margin, refresh_token_rotates, default_tenant, auth_params";

static int tpl_from_doc(ts_template *t, ts_ydoc *d, const char *expect, ts_error *err)
{
	yaml_node_t *root = ts_ydoc_root(d);
	yaml_node_pair_t *p, *q;
	int rc;

	if (root == NULL || root->type != YAML_MAPPING_NODE)
		return ts_yerr(err, TS_EINVAL, d, root, NULL, "a template must be a mapping of keys");
	for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = ts_ynode(d, p->key), *v = ts_ynode(d, p->value);
		const char *key, *s;

		if (k == NULL || v == NULL)
			continue;
		if (k->type != YAML_SCALAR_NODE)
			return ts_yerr(err, TS_EINVAL, d, k, NULL, "a key must be a string");
		key = (const char *)k->data.scalar.value;
		s = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "";
		for (q = root->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *k2 = ts_ynode(d, q->key);

			if (k2 && k2->type == YAML_SCALAR_NODE &&
			    strcmp((const char *)k2->data.scalar.value, key) == 0)
				return ts_yerr(err, TS_EINVAL, d, k, key, "given twice; remove one");
		}
		if (strcmp(key, "name") == 0)
			rc = tpl_str(&t->name, d, v, key, NULL, err);
		else if (strcmp(key, "description") == 0)
			rc = tpl_str(&t->description, d, v, key, NULL, err);
		else if (strcmp(key, "auth_url") == 0)
			rc = tpl_str(&t->auth_url, d, v, key, check_tpl_url, err);
		else if (strcmp(key, "token_url") == 0)
			rc = tpl_str(&t->token_url, d, v, key, check_tpl_url, err);
		else if (strcmp(key, "device_url") == 0)
			rc = tpl_str(&t->device_url, d, v, key, check_tpl_url, err);
		else if (strcmp(key, "revoke_url") == 0)
			rc = tpl_str(&t->revoke_url, d, v, key, check_tpl_url, err);
		else if (strcmp(key, "issuer") == 0)
			rc = tpl_str(&t->issuer, d, v, key, check_tpl_url, err);
		else if (strcmp(key, "redirect_uri") == 0)
			rc = tpl_str(&t->redirect_uri, d, v, key, check_tpl_url, err);
		else if (strcmp(key, "default_tenant") == 0)
			rc = tpl_str(&t->default_tenant, d, v, key, ts_check_tenant, err);
		else if (strcmp(key, "scope") == 0)
			rc = ts_yget_strlist(&t->scope, d, v, key, true, err);
		else if (strcmp(key, "scopes") == 0)
			rc = tpl_scopes(t, d, v, err);
		else if (strcmp(key, "servers") == 0)
			rc = ts_yget_servers(&t->servers, d, v, key, err);
		else if (strcmp(key, "hosts") == 0)
			rc = ts_yget_checked_list(&t->hosts, d, v, key, ts_check_hostpattern_list, err);
		else if (strcmp(key, "client_credentials_scope") == 0)
			rc = ts_yget_strlist(&t->client_credentials_scope, d, v, key, true, err);
		else if (strcmp(key, "auth_params") == 0)
			rc = ts_yget_kvmap(&t->auth_params, d, v, key, err);
		else if (strcmp(key, "refresh_margin") == 0)
			rc = ts_yget_long(&t->refresh_margin, d, v, key, 0, 31536000, err);
		else if (strcmp(key, "refresh_token_rotates") == 0)
			rc = ts_yget_bool(&t->refresh_token_rotates, d, v, key, err);
		else if (strcmp(key, "client_auth") == 0)
			rc = v->type == YAML_SCALAR_NODE && ts_client_auth_parse(&t->client_auth, s) == 0
				     ? TS_OK
				     : ts_yerr(err, TS_EINVAL, d, v, key,
					       "'%.64s' is not allowed; use basic, post, none or private_key_jwt", s);
		else if (strcmp(key, "flow") == 0)
			rc = v->type == YAML_SCALAR_NODE && ts_flow_parse(&t->flow, s) == 0
				     ? TS_OK
				     : ts_yerr(err, TS_EINVAL, d, v, key,
					       "'%.64s' is not a flow; use authorization_code, device_code, client_credentials or jwt_bearer",
					       s);
		else
			rc = ts_yerr(err, TS_EINVAL, d, k, key, "unknown key; valid keys are: %s", tpl_keys);
		if (rc != TS_OK)
			return rc;
	}
	if (t->name == NULL)
		return ts_yerr(err, TS_EINVAL, d, root, "name", "is missing; add name: %s", expect);
	if (strcmp(t->name, expect) != 0)
		return ts_yerr(err, TS_EINVAL, d, root, "name",
			       "'%.64s' does not match the file name '%s.yaml'; make them equal", t->name,
			       expect);
	t->needs_tenant = (t->auth_url && strstr(t->auth_url, "{tenant}")) ||
			  (t->token_url && strstr(t->token_url, "{tenant}")) ||
			  (t->device_url && strstr(t->device_url, "{tenant}")) ||
			  (t->revoke_url && strstr(t->revoke_url, "{tenant}"));
	return TS_OK;
}

/* Parse a template from a buffer (tests and fuzzing use this too). */
int ts_template_parse(ts_template **out, const char *buf, size_t len, const char *origin,
		      const char *name, ts_error *err)
{
	ts_template *t = NULL;
	ts_ydoc d;
	int rc;

	*out = NULL;
	if ((rc = ts_ydoc_load(&d, buf, len, origin, err)) != TS_OK)
		return rc;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	if ((rc = tpl_from_doc(t, &d, name, err)) != TS_OK)
		goto cleanup;
	*out = t;
	t = NULL;
cleanup:
	ts_template_free(t);
	ts_ydoc_free(&d);
	return rc;
}

/* The names of the <name>.yaml files in a directory, sorted; the store
 * lists its token configurations with it too, so messages name the
 * directory by its path only. */
int ts_template_list_at(ts_strlist *out, int dirfd, const char *dirpath, ts_error *err)
{
	DIR *dir;
	struct dirent *de;
	int fd;

	out->v = NULL;
	out->n = 0;
	if (dirfd < 0)
		return ts_error_set(err, TS_ENOTFOUND, "templates directory %s cannot be opened",
				    dirpath ? dirpath : "(unset)");
	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return ts_error_set(err, TS_EIO, "cannot read directory %s: %s", dirpath,
				    strerror(errno));
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return ts_enomem(err);
	}
	while ((de = readdir(dir)) != NULL) {
		size_t n = strlen(de->d_name);
		char *base;

		if (de->d_name[0] == '.' || !ts_has_suffix(de->d_name, ".yaml") || n == 5)
			continue;
		if ((base = strndup(de->d_name, n - 5)) == NULL || ts_strlist_add(out, base) != TS_OK) {
			free(base);
			closedir(dir);
			ts_strlist_clear(out);
			return ts_enomem(err);
		}
		free(base);
	}
	closedir(dir);
	ts_strlist_sort(out);
	return TS_OK;
}

int ts_template_list(ts_strlist *out, const char *dir, ts_error *err)
{
	int fd, rc;

	out->v = NULL;
	out->n = 0;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return ts_error_set(err, errno == ENOENT ? TS_ENOTFOUND : TS_EIO,
				    "cannot open templates directory %s: %s; set templates_dir or SASL_OAUTH2_TEMPLATES",
				    dir, strerror(errno));
	rc = ts_template_list_at(out, fd, dir, err);
	close(fd);
	return rc;
}

int ts_template_load_at(ts_template **out, int dirfd, const char *dirpath, const char *name,
			ts_error *err)
{
	char file[TS_NAME_MAX + 8], origin[4096];
	char *buf = NULL;
	size_t len = 0;
	ts_error sub;
	int rc;

	*out = NULL;
	if (ts_name_check(name, &sub) != TS_OK)
		return ts_error_set(err, TS_EINVAL, "bad template name: %s", sub.msg);
	snprintf(file, sizeof(file), "%s.yaml", name);
	ts_path_join(origin, sizeof(origin), dirpath, file);
	if (dirfd < 0)
		return ts_error_set(err, TS_ENOTFOUND,
				    "template '%s' not found: templates directory %s cannot be opened; set templates_dir or SASL_OAUTH2_TEMPLATES",
				    name, dirpath ? dirpath : "(unset)");
	rc = ts_file_read_st(&buf, &len, NULL, dirfd, dirpath, file, TS_FILE_MAX, false, false, err);
	if (rc == TS_ENOTFOUND) {
		ts_strlist l = { NULL, 0 };
		char *avail = NULL;

		if (ts_template_list_at(&l, dirfd, dirpath, NULL) == TS_OK)
			avail = ts_strlist_join(&l, ", ");
		rc = ts_error_set(err, TS_ENOTFOUND, "template '%s' not found in %s; available: %s", name,
				  dirpath ? dirpath : "(templates directory)",
				  avail && *avail ? avail : "none");
		free(avail);
		ts_strlist_clear(&l);
		return rc;
	}
	if (rc != TS_OK)
		return rc;
	rc = ts_template_parse(out, buf, len, origin, name, err);
	free(buf);
	return rc;
}

int ts_template_load(ts_template **out, const char *dir, const char *name, ts_error *err)
{
	int fd, rc;

	*out = NULL;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return ts_error_set(err, TS_ENOTFOUND,
				    "template '%s' not found: cannot open templates directory %s: %s; set templates_dir or SASL_OAUTH2_TEMPLATES",
				    name, dir, strerror(errno));
	rc = ts_template_load_at(out, fd, dir, name, err);
	close(fd);
	return rc;
}

int ts_template_subst(char **out, const char *url, const char *tenant, ts_error *err)
{
	const char *p;
	size_t n = 0, tl, cap;
	char why[256];
	char *s;

	*out = NULL;
	if (url == NULL)
		return TS_OK;
	if (strstr(url, "{tenant}") != NULL) {
		if (tenant == NULL || *tenant == '\0')
			return ts_error_set(err, TS_EINVAL,
					    "field 'tenant': the URL %.200s needs a tenant; set tenant to your directory (tenant) id or domain",
					    url);
		if (ts_check_tenant(tenant, why, sizeof(why)) != 0)
			return ts_error_set(err, TS_EINVAL, "field 'tenant': %s", why);
	}
	tl = tenant ? strlen(tenant) : 0;
	cap = strlen(url) + 1;
	for (p = url; (p = strstr(p, "{tenant}")) != NULL; p += 8)
		cap += tl;
	if ((s = malloc(cap)) == NULL)
		return ts_enomem(err);
	for (p = url; *p != '\0';) {
		if (strncmp(p, "{tenant}", 8) == 0) {
			memcpy(s + n, tenant, tl);
			n += tl;
			p += 8;
		} else {
			s[n++] = *p++;
		}
	}
	s[n] = '\0';
	*out = s;
	return TS_OK;
}
