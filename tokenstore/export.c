/*
 * export.c - export/import documents: one YAML document with a version key
 * and a list of token configurations, each optionally carrying its state.
 *
 * Parsing checks the whole document before anything is returned (so an
 * import can be all-or-nothing) and reports duplicates with both positions.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "ts_p.h"

int ts_export_new(ts_export **out, ts_error *err)
{
	*out = calloc(1, sizeof(**out));
	return *out ? TS_OK : ts_enomem(err);
}

void ts_export_free(ts_export *e)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->n; i++) {
		ts_token_config_free(e->v[i].config);
		ts_state_free(e->v[i].state);
	}
	free(e->v);
	free(e);
}

/* Take ownership of c and s. */
static int push(ts_export *e, ts_token_config *c, ts_state *s, int line, int col, ts_error *err)
{
	ts_export_entry *nv = realloc(e->v, (e->n + 1) * sizeof(*nv));

	if (nv == NULL) {
		ts_token_config_free(c);
		ts_state_free(s);
		return ts_enomem(err);
	}
	e->v = nv;
	e->v[e->n].config = c;
	e->v[e->n].state = s;
	e->v[e->n].line = line;
	e->v[e->n].column = col;
	e->n++;
	return TS_OK;
}

int ts_export_add(ts_export *e, const ts_token_config *c, const ts_state *s, ts_error *err)
{
	ts_token_config *cc = NULL;
	ts_state *ss = NULL;
	int rc;

	if ((rc = ts_token_config_dup(&cc, c, err)) != TS_OK)
		return rc;
	if (s != NULL && (rc = ts_state_dup(&ss, s, err)) != TS_OK) {
		ts_token_config_free(cc);
		return rc;
	}
	return push(e, cc, ss, 0, 0, err);
}

static int parse_tokens(ts_export *e, ts_ydoc *d, yaml_node_t *seq, ts_error *err)
{
	yaml_node_item_t *it;
	ts_strset names = { 0 };  /* name -> line of its entry, in linear time */
	int rc = TS_OK;

	if (seq->type != YAML_SEQUENCE_NODE)
		return ts_yerr(err, TS_EINVAL, d, seq, "tokens", "expected a list of token configurations");
	for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		yaml_node_t *item = ts_ynode(d, *it), *state_node = NULL;
		ts_token_config *c = NULL;
		ts_state *s = NULL;
		const void *first = NULL;

		if (item == NULL)
			continue;
		if ((rc = ts_token_config_from_node(&c, d, item, &state_node, err)) != TS_OK)
			goto cleanup;
		/* The key is the config's name: the config lives on in `e` (or is
		 * freed on the way out, when the set is no longer searched). */
		rc = ts_strset_put(&names, c->name, item, &first);
		if (rc != 0) {
			if (rc == 1)
				rc = ts_yerr(err, TS_EINVAL, d, item, "name",
					     "token '%s' is listed twice (first at line %zu); keep one entry per name",
					     c->name, ((const yaml_node_t *)first)->start_mark.line + 1);
			else
				rc = ts_enomem(err);
			ts_token_config_free(c);
			goto cleanup;
		}
		if (c->template_name == NULL) {
			rc = ts_yerr(err, TS_EINVAL, d, item, "template",
				     "is missing for token '%s'; add template: NAME", c->name);
			ts_token_config_free(c);
			goto cleanup;
		}
		if (state_node != NULL && (rc = ts_state_from_node(&s, d, state_node, err)) != TS_OK) {
			ts_token_config_free(c);
			goto cleanup;
		}
		if ((rc = push(e, c, s, (int)item->start_mark.line + 1, (int)item->start_mark.column + 1,
			       err)) != TS_OK)
			goto cleanup;
	}
cleanup:
	ts_strset_clear(&names);
	return rc;
}

int ts_export_parse(ts_export **out, const char *buf, size_t len, const char *origin, ts_error *err)
{
	ts_export *e = NULL;
	yaml_node_t *root, *tokens = NULL;
	yaml_node_pair_t *p;
	bool have_version = false;
	ts_ydoc d;
	int rc;

	*out = NULL;
	if (origin == NULL)
		origin = "(export)";
	if ((rc = ts_ydoc_load(&d, buf, len, origin, err)) != TS_OK)
		return rc;
	root = ts_ydoc_root(&d);
	if (root == NULL || root->type != YAML_MAPPING_NODE) {
		rc = ts_yerr(err, TS_EINVAL, &d, root, NULL,
			     "not a sasl-oauth2 export: expected a mapping with sasl-oauth2-export: 1 and tokens:");
		goto cleanup;
	}
	for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = ts_ynode(&d, p->key), *v = ts_ynode(&d, p->value);
		const char *key;

		if (k == NULL || v == NULL)
			continue;
		key = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
		if (strcmp(key, "sasl-oauth2-export") == 0) {
			long ver;

			if (have_version) {
				rc = ts_yerr(err, TS_EINVAL, &d, k, key, "given twice; remove one");
				goto cleanup;
			}
			if ((rc = ts_yget_long(&ver, &d, v, key, 1, 1, err)) != TS_OK)
				goto cleanup;
			have_version = true;
		} else if (strcmp(key, "tokens") == 0) {
			if (tokens != NULL) {
				rc = ts_yerr(err, TS_EINVAL, &d, k, key, "given twice; merge the lists");
				goto cleanup;
			}
			tokens = v;
		} else {
			rc = ts_yerr(err, TS_EINVAL, &d, k, key,
				     "unknown key; an export has only sasl-oauth2-export and tokens");
			goto cleanup;
		}
	}
	if (!have_version) {
		rc = ts_yerr(err, TS_EINVAL, &d, root, "sasl-oauth2-export",
			     "is missing; this is not a sasl-oauth2 export (add sasl-oauth2-export: 1)");
		goto cleanup;
	}
	if ((rc = ts_export_new(&e, err)) != TS_OK)
		goto cleanup;
	if (tokens != NULL && !(tokens->type == YAML_SCALAR_NODE && tokens->data.scalar.length == 0 &&
				tokens->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) &&
	    (rc = parse_tokens(e, &d, tokens, err)) != TS_OK)
		goto cleanup;
	*out = e;
	e = NULL;
cleanup:
	ts_export_free(e);
	ts_ydoc_free(&d);
	return rc;
}

int ts_export_emit(char **out, const ts_export *e, bool with_secrets, ts_error *err)
{
	ts_yemit *em = NULL;
	size_t i;
	int rc;

	*out = NULL;
	if ((rc = ts_yemit_begin(&em, err)) != TS_OK)
		return rc;
	ts_yemit_map_start(em);
	ts_yemit_str(em, "sasl-oauth2-export");
	ts_yemit_int(em, 1);
	ts_yemit_str(em, "tokens");
	ts_yemit_seq_start(em);
	for (i = 0; i < e->n; i++) {
		ts_yemit_map_start(em);
		ts_yemit_token_pairs(em, e->v[i].config, with_secrets);
		if (with_secrets && e->v[i].state != NULL) {
			ts_yemit_str(em, "state");
			ts_yemit_map_start(em);
			ts_yemit_state_pairs(em, e->v[i].state);
			ts_yemit_map_end(em);
		}
		ts_yemit_map_end(em);
	}
	ts_yemit_seq_end(em);
	ts_yemit_map_end(em);
	rc = ts_yemit_end(em, out, err);
	ts_yemit_free(em);
	return rc;
}
