/*
 * yaml_config.c - reading YAML with libyaml's document API: the global
 * configuration, token configurations and the state block of export
 * entries.
 *
 * Every value is checked where it is read, and every message carries the
 * position of the offending node: "FILE:LINE:COL: field 'KEY': reason; fix".
 * Unknown keys and keys given twice are refused, so that a typo never
 * silently falls back to a default.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ts_p.h"

/* ---------------------------------------------------------------------- */
/* Documents                                                                */

/* libyaml keeps copies of the input (which may hold secrets) in its
 * buffers; wipe them before the parser frees them. */
static void parser_wipe_delete(yaml_parser_t *p)
{
	if (p->buffer.start != NULL)
		ts_wipe(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
	if (p->raw_buffer.start != NULL)
		ts_wipe(p->raw_buffer.start, (size_t)(p->raw_buffer.end - p->raw_buffer.start));
	yaml_parser_delete(p);
}

/*
 * Limits on what a YAML input may be, checked on libyaml's event stream
 * (which neither recurses nor builds anything) before the document is
 * loaded: an import file may come from anywhere.
 * - Nesting: libyaml's loader recurses once per level.
 * - Anchors and aliases: an alias repeats a whole subtree, so a few
 *   hundred KiB expand to gigabytes; no file of this project needs them.
 * - Nodes in all and items per list or mapping: the loaded document costs
 *   about 200 bytes per node, so 150000 nodes bound it near 30 MB
 *   whatever the file size (an export entry takes 20 to 50 nodes).
 */
#define TS_YAML_MAX_DEPTH 64
#define TS_YAML_MAX_NODES 150000
#define TS_YAML_MAX_ITEMS 10000         /* entries of a list, keys of a mapping */

static int event_refuse(ts_error *err, const char *origin, const yaml_event_t *ev,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int event_refuse(ts_error *err, const char *origin, const yaml_event_t *ev,
			const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ts_error_set(err, TS_EINVAL, "%s:%zu:%zu: %s", origin, ev->start_mark.line + 1,
			    ev->start_mark.column + 1, msg);
}

static const unsigned char *event_anchor(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT: return ev->data.scalar.anchor;
	case YAML_SEQUENCE_START_EVENT: return ev->data.sequence_start.anchor;
	case YAML_MAPPING_START_EVENT: return ev->data.mapping_start.anchor;
	default: return NULL;
	}
}

static int check_events(const char *buf, size_t len, const char *origin, ts_error *err)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	size_t items[TS_YAML_MAX_DEPTH + 1], nodes = 0;
	bool is_map[TS_YAML_MAX_DEPTH + 1];
	int depth = 0, rc = TS_OK;

	if (!yaml_parser_initialize(&parser))
		return ts_enomem(err);
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (rc == TS_OK) {
		bool node, start;

		if (!yaml_parser_parse(&parser, &ev))
			break; /* the loader reports syntax errors with positions */
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		node = ev.type == YAML_SCALAR_EVENT || ev.type == YAML_SEQUENCE_START_EVENT ||
		       ev.type == YAML_MAPPING_START_EVENT;
		start = ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT;
		if (ev.type == YAML_ALIAS_EVENT || (node && event_anchor(&ev) != NULL)) {
			rc = event_refuse(err, origin, &ev,
					  "YAML anchors and aliases (&NAME, *NAME) are not accepted; "
					  "write each value out in full");
		} else if (node && ++nodes > TS_YAML_MAX_NODES) {
			rc = event_refuse(err, origin, &ev,
					  "more than %d values in one file; split it into smaller files",
					  TS_YAML_MAX_NODES);
		} else if (node && depth > 0 &&
			   ++items[depth - 1] > (is_map[depth - 1] ? 2 : 1) * (size_t)TS_YAML_MAX_ITEMS) {
			rc = event_refuse(err, origin, &ev, "a %s with more than %d %s; %s",
					  is_map[depth - 1] ? "mapping" : "list", TS_YAML_MAX_ITEMS,
					  is_map[depth - 1] ? "keys" : "entries",
					  is_map[depth - 1] ? "no configuration needs that many"
							    : "split it into smaller files");
		} else if (start && depth >= TS_YAML_MAX_DEPTH) {
			rc = event_refuse(err, origin, &ev,
					  "nested more than %d levels deep; a configuration is never that deep",
					  TS_YAML_MAX_DEPTH);
		} else if (start) {
			items[depth] = 0;
			is_map[depth] = ev.type == YAML_MAPPING_START_EVENT;
			depth++;
		} else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
			depth--;
		}
		if (ev.type == YAML_SCALAR_EVENT)
			ts_wipe(ev.data.scalar.value, ev.data.scalar.length);
		yaml_event_delete(&ev);
	}
	parser_wipe_delete(&parser);
	return rc;
}

int ts_ydoc_load(ts_ydoc *d, const char *buf, size_t len, const char *origin, ts_error *err)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	int rc = TS_OK;

	memset(d, 0, sizeof(*d));
	d->origin = origin ? origin : "(input)";
	if ((rc = check_events(buf, len, d->origin, err)) != TS_OK)
		return rc;
	if (!yaml_parser_initialize(&parser))
		return ts_enomem(err);
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &d->doc)) {
		rc = ts_error_set(err, TS_EINVAL, "%s:%zu:%zu: YAML syntax error: %s%s%s; fix the YAML syntax",
				  d->origin, parser.problem_mark.line + 1, parser.problem_mark.column + 1,
				  parser.problem ? parser.problem : "unknown problem",
				  parser.context ? " " : "", parser.context ? parser.context : "");
		goto cleanup;
	}
	d->loaded = true;
	/* Exactly one document: a second one would be silently ignored otherwise. */
	if (yaml_document_get_root_node(&d->doc) != NULL) {
		if (!yaml_parser_load(&parser, &extra)) {
			rc = ts_error_set(err, TS_EINVAL, "%s:%zu:%zu: YAML syntax error: %s; fix the YAML syntax",
					  d->origin, parser.problem_mark.line + 1,
					  parser.problem_mark.column + 1,
					  parser.problem ? parser.problem : "unknown problem");
			goto cleanup;
		}
		if (yaml_document_get_root_node(&extra) != NULL) {
			rc = ts_error_set(err, TS_EINVAL,
					  "%s:%zu:%zu: a second YAML document follows; keep one document per file",
					  d->origin, extra.start_mark.line + 1, extra.start_mark.column + 1);
			yaml_document_delete(&extra);
			goto cleanup;
		}
		yaml_document_delete(&extra);
	}
cleanup:
	parser_wipe_delete(&parser);
	if (rc != TS_OK)
		ts_ydoc_free(d);
	return rc;
}

void ts_ydoc_free(ts_ydoc *d)
{
	if (d->loaded) {
		yaml_node_t *n;

		/* Scalars may hold secrets: wipe them before libyaml frees them. */
		for (n = d->doc.nodes.start; n != NULL && n < d->doc.nodes.top; n++)
			if (n->type == YAML_SCALAR_NODE)
				ts_wipe(n->data.scalar.value, n->data.scalar.length);
		yaml_document_delete(&d->doc);
	}
	d->loaded = false;
}

yaml_node_t *ts_ydoc_root(ts_ydoc *d)
{
	return d->loaded ? yaml_document_get_root_node(&d->doc) : NULL;
}

yaml_node_t *ts_ynode(ts_ydoc *d, int id)
{
	return yaml_document_get_node(&d->doc, id);
}

int ts_yerr(ts_error *err, int code, ts_ydoc *d, const yaml_node_t *n, const char *key,
	    const char *fmt, ...)
{
	char msg[TS_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n == NULL)
		return key ? ts_error_set(err, code, "%s: field '%s': %s", d->origin, key, msg)
			   : ts_error_set(err, code, "%s: %s", d->origin, msg);
	if (key)
		return ts_error_set(err, code, "%s:%zu:%zu: field '%s': %s", d->origin,
				    n->start_mark.line + 1, n->start_mark.column + 1, key, msg);
	return ts_error_set(err, code, "%s:%zu:%zu: %s", d->origin, n->start_mark.line + 1,
			    n->start_mark.column + 1, msg);
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SCALAR_NODE: return "a scalar";
	default: return "nothing";
	}
}

static bool scalar_is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool scalar_is_null(const yaml_node_t *n)
{
	const char *v;

	if (!scalar_is_plain(n))
		return false;
	v = (const char *)n->data.scalar.value;
	return *v == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	       strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* The first control character of `s` (other than those in `allow`), or
 * -1. */
static int first_control(const char *s, const char *allow)
{
	for (; *s != '\0'; s++)
		if (((unsigned char)*s < 0x20 || *s == 0x7f) && strchr(allow, *s) == NULL)
			return (unsigned char)*s;
	return -1;
}

/* Every string read from YAML is refused when it holds a control
 * character, as `--set` refuses it: none has a use in a value, and an
 * escape sequence would reach terminals and logs. notify_command alone may
 * span lines (a shell script). */
static int yget_str_allow(char **out, ts_ydoc *d, yaml_node_t *n, const char *key,
			  const char *allow, ts_error *err)
{
	int c;

	*out = NULL;
	if (n->type != YAML_SCALAR_NODE)
		return ts_yerr(err, TS_EINVAL, d, n, key, "expected a string, got %s", node_kind(n));
	if (scalar_is_null(n))
		return ts_yerr(err, TS_EINVAL, d, n, key,
			       "expected a string, got nothing; give a value or remove the key");
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return ts_yerr(err, TS_EINVAL, d, n, key, "contains a NUL character; remove it");
	if ((c = first_control((const char *)n->data.scalar.value, allow)) >= 0)
		return ts_yerr(err, TS_EINVAL, d, n, key,
			       "contains a control character (byte 0x%02X); remove it", (unsigned)c);
	if ((*out = strdup((const char *)n->data.scalar.value)) == NULL)
		return ts_enomem(err);
	return TS_OK;
}

int ts_yget_str(char **out, ts_ydoc *d, yaml_node_t *n, const char *key, ts_error *err)
{
	return yget_str_allow(out, d, n, key, "", err);
}

/* Parse a decimal integer literal; false when it is not one or overflows. */
static bool parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (*s == '\0' || !(*s == '-' || *s == '+' || (*s >= '0' && *s <= '9')))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s)
		return false;
	*out = (int64_t)v;
	return true;
}

int ts_yget_long(long *out, ts_ydoc *d, yaml_node_t *n, const char *key, long min, long max,
		 ts_error *err)
{
	int64_t v;

	if (!scalar_is_plain(n) || !parse_i64((const char *)n->data.scalar.value, &v))
		return ts_yerr(err, TS_EINVAL, d, n, key,
			       "expected an integer from %ld to %ld, got %s%.40s%s", min, max,
			       n->type == YAML_SCALAR_NODE ? "'" : "",
			       n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
							   : node_kind(n),
			       n->type == YAML_SCALAR_NODE ? "'" : "");
	if (v < min || v > max)
		return ts_yerr(err, TS_EINVAL, d, n, key,
			       "%lld is out of range; give an integer from %ld to %ld", (long long)v,
			       min, max);
	*out = (long)v;
	return TS_OK;
}

int ts_yget_i64(int64_t *out, ts_ydoc *d, yaml_node_t *n, const char *key, ts_error *err)
{
	if (!scalar_is_plain(n) || !parse_i64((const char *)n->data.scalar.value, out))
		return ts_yerr(err, TS_EINVAL, d, n, key, "expected an integer, got %s",
			       node_kind(n));
	if (*out < 0)
		return ts_yerr(err, TS_EINVAL, d, n, key, "must not be negative");
	return TS_OK;
}

int ts_yget_bool(bool *out, ts_ydoc *d, yaml_node_t *n, const char *key, ts_error *err)
{
	const char *v = n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : "";

	if (scalar_is_plain(n) && strcasecmp(v, "true") == 0) {
		*out = true;
		return TS_OK;
	}
	if (scalar_is_plain(n) && strcasecmp(v, "false") == 0) {
		*out = false;
		return TS_OK;
	}
	return ts_yerr(err, TS_EINVAL, d, n, key, "expected true or false");
}

int ts_yget_strlist(ts_strlist *out, ts_ydoc *d, yaml_node_t *n, const char *key,
		    bool split_scalar, ts_error *err)
{
	yaml_node_item_t *it;

	ts_strlist_clear(out);
	if (n->type == YAML_SCALAR_NODE && split_scalar && !scalar_is_null(n)) {
		if (ts_strlist_split(out, (const char *)n->data.scalar.value, " \t") != TS_OK)
			return ts_enomem(err);
		return TS_OK;
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return ts_yerr(err, TS_EINVAL, d, n, key, "expected a list, got %s%s", node_kind(n),
			       split_scalar ? "; give a list or a space-separated string" : "");
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *item = ts_ynode(d, *it);
		char *s = NULL;
		int rc;

		if (item == NULL)
			continue;
		if ((rc = ts_yget_str(&s, d, item, key, err)) != TS_OK) {
			ts_strlist_clear(out);
			return rc;
		}
		rc = ts_strlist_add(out, s);
		free(s);
		if (rc != TS_OK) {
			ts_strlist_clear(out);
			return ts_enomem(err);
		}
	}
	return TS_OK;
}

/* Iterate a mapping checking that keys are unique strings; calls back per pair. */
typedef int (*pair_fn)(void *arg, ts_ydoc *d, yaml_node_t *k, const char *key, yaml_node_t *v,
		       ts_error *err);

static int map_walk(ts_ydoc *d, yaml_node_t *map, const char *what, pair_fn fn, void *arg,
		    ts_error *err)
{
	yaml_node_pair_t *p, *q;
	ts_strset seen = { 0 };
	bool big;
	int rc;

	if (map->type != YAML_MAPPING_NODE)
		return ts_yerr(err, TS_EINVAL, d, map, what, "expected a mapping of keys, got %s",
			       node_kind(map));
	/* Small mappings (nearly all) compare keys pairwise; big ones use a
	 * hash set, so the check stays linear. */
	big = map->data.mapping.pairs.top - map->data.mapping.pairs.start > 16;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = ts_ynode(d, p->key), *v = ts_ynode(d, p->value);
		const char *key;

		if (k == NULL || v == NULL)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			rc = ts_yerr(err, TS_EINVAL, d, k, what, "a key must be a string, not %s",
				     node_kind(k));
			goto cleanup;
		}
		key = (const char *)k->data.scalar.value;
		if (big) {
			const void *first = NULL;

			if ((rc = ts_strset_put(&seen, key, k, &first)) == TS_ENOMEM) {
				rc = ts_enomem(err);
				goto cleanup;
			}
			if (rc == 1) {
				rc = ts_yerr(err, TS_EINVAL, d, k, key,
					     "given twice (first at line %zu); remove one",
					     ((const yaml_node_t *)first)->start_mark.line + 1);
				goto cleanup;
			}
		} else {
			for (q = map->data.mapping.pairs.start; q < p; q++) {
				yaml_node_t *k2 = ts_ynode(d, q->key);

				if (k2 != NULL && k2->type == YAML_SCALAR_NODE &&
				    strcmp((const char *)k2->data.scalar.value, key) == 0)
					return ts_yerr(err, TS_EINVAL, d, k, key,
						       "given twice (first at line %zu); remove one",
						       k2->start_mark.line + 1);
			}
		}
		if ((rc = fn(arg, d, k, key, v, err)) != TS_OK)
			goto cleanup;
	}
	rc = TS_OK;
cleanup:
	ts_strset_clear(&seen);
	return rc;
}

struct kv_arg {
	ts_kvlist *l;
	const char *field;
};

static int kv_pair(void *arg, ts_ydoc *d, yaml_node_t *k, const char *key, yaml_node_t *v,
		   ts_error *err)
{
	struct kv_arg *a = arg;
	char field[160], why[256];
	char *s = NULL;
	int rc;

	snprintf(field, sizeof(field), "%s.%.100s", a->field, key);
	if (ts_check_param_name(key, why, sizeof(why)) != 0)
		return ts_yerr(err, TS_EINVAL, d, k, a->field, "%s", why);
	if ((rc = ts_yget_str(&s, d, v, field, err)) != TS_OK)
		return rc;
	/* map_walk refused duplicate keys already. */
	rc = ts_kvlist_append(a->l, key, s);
	free(s);
	return rc == TS_OK ? TS_OK : ts_enomem(err);
}

int ts_yget_kvmap(ts_kvlist *out, ts_ydoc *d, yaml_node_t *n, const char *key, ts_error *err)
{
	struct kv_arg a = { out, key };
	int rc;

	ts_kvlist_clear(out);
	if (scalar_is_null(n))
		return TS_OK;
	if ((rc = map_walk(d, n, key, kv_pair, &a, err)) != TS_OK)
		ts_kvlist_clear(out);
	return rc;
}

static int servers_pair(void *arg, ts_ydoc *d, yaml_node_t *k, const char *key, yaml_node_t *v,
			ts_error *err)
{
	ts_servers *s = arg;
	char **slot;
	char field[32];
	int rc;

	if (strcmp(key, "imap") == 0)
		slot = &s->imap;
	else if (strcmp(key, "pop3") == 0)
		slot = &s->pop3;
	else if (strcmp(key, "smtp") == 0)
		slot = &s->smtp;
	else
		return ts_yerr(err, TS_EINVAL, d, k, "servers",
			       "unknown protocol '%.64s'; use imap, pop3 or smtp", key);
	snprintf(field, sizeof(field), "servers.%s", key);
	free(*slot);
	*slot = NULL;
	if ((rc = ts_yget_str(slot, d, v, field, err)) != TS_OK)
		return rc;
	return ts_ycheck(d, v, field, *slot, ts_check_hostport, err);
}

int ts_yget_servers(ts_servers *out, ts_ydoc *d, yaml_node_t *n, const char *key, ts_error *err)
{
	int rc;

	ts_servers_clear(out);
	if ((rc = map_walk(d, n, key, servers_pair, out, err)) != TS_OK)
		ts_servers_clear(out);
	return rc;
}

int ts_yget_checked_list(ts_strlist *out, ts_ydoc *d, yaml_node_t *n, const char *key,
			 int (*check)(const ts_strlist *, char *, size_t), ts_error *err)
{
	char why[512];
	int rc;

	ts_strlist_clear(out);
	if ((rc = ts_yget_strlist(out, d, n, key, false, err)) != TS_OK)
		return rc;
	if (check(out, why, sizeof(why)) != 0)
		return ts_yerr(err, TS_EINVAL, d, n, key, "%s", why);
	return TS_OK;
}

int ts_ycheck(ts_ydoc *d, yaml_node_t *n, const char *key, const char *value,
	      int (*check)(const char *, char *, size_t), ts_error *err)
{
	char why[512];

	if (check(value, why, sizeof(why)) != 0)
		return ts_yerr(err, TS_EINVAL, d, n, key, "%s", why);
	return TS_OK;
}

static int check_url_plain(const char *s, char *why, size_t whylen)
{
	return ts_check_url_field(s, false, why, whylen);
}

static int check_proxy(const char *s, char *why, size_t whylen)
{
	const char *p = strstr(s, "://");

	if (p == NULL || p == s || p[3] == '\0') {
		snprintf(why, whylen, "'%.200s' is not a proxy URL; write it like http://proxy.example:3128", s);
		return -1;
	}
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f) {
			snprintf(why, whylen, "contains a space or control character");
			return -1;
		}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Global configuration                                                     */

static const char *const default_pop3_hosts[] = {
	"outlook.office365.com", "outlook.office.com", "pop-mail.outlook.com", "pop.outlook.com",
};

static const char global_keys[] =
	"store, templates_dir, refresh_margin, http_timeout, ca_bundle, proxy, pop3_split_hosts, smtp_inline_hosts, notify_command, notify_timeout, log, secrets_key_file";

int ts_global_config_default(ts_global_config **out, ts_error *err)
{
	ts_global_config *c;
	size_t i;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return ts_enomem(err);
	c->refresh_margin = 300;
	c->http_timeout = 20;
	c->notify_timeout = 10;
	c->log = TS_LOG_UNSET; /* each program has its own default */
	for (i = 0; i < sizeof(default_pop3_hosts) / sizeof(default_pop3_hosts[0]); i++) {
		if (ts_strlist_add(&c->pop3_split_hosts, default_pop3_hosts[i]) != TS_OK) {
			ts_global_config_free(c);
			return ts_enomem(err);
		}
	}
	*out = c;
	return TS_OK;
}

void ts_global_config_free(ts_global_config *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->store);
	free(c->templates_dir);
	free(c->ca_bundle);
	free(c->proxy);
	ts_strlist_clear(&c->pop3_split_hosts);
	ts_strlist_clear(&c->smtp_inline_hosts);
	free(c->notify_command);
	free(c->secrets_key_file);
	free(c);
}

static int global_path_field(char **slot, ts_ydoc *d, yaml_node_t *v, const char *key,
			     ts_error *err)
{
	int rc;

	free(*slot);
	if ((rc = ts_yget_str(slot, d, v, key, err)) != TS_OK)
		return rc;
	return ts_ycheck(d, v, key, *slot, ts_check_abspath, err);
}

static int global_pair(void *arg, ts_ydoc *d, yaml_node_t *k, const char *key, yaml_node_t *v,
		       ts_error *err)
{
	ts_global_config *c = arg;
	int rc;

	if (strcmp(key, "store") == 0) {
		/* A directory, or a PostgreSQL URI (checked when it is opened). */
		if (v->type == YAML_SCALAR_NODE && ts_store_is_pg((const char *)v->data.scalar.value)) {
			free(c->store);
			return ts_yget_str(&c->store, d, v, key, err);
		}
		return global_path_field(&c->store, d, v, key, err);
	}
	if (strcmp(key, "secrets_key_file") == 0)
		return global_path_field(&c->secrets_key_file, d, v, key, err);
	if (strcmp(key, "templates_dir") == 0)
		return global_path_field(&c->templates_dir, d, v, key, err);
	if (strcmp(key, "ca_bundle") == 0)
		return global_path_field(&c->ca_bundle, d, v, key, err);
	if (strcmp(key, "refresh_margin") == 0)
		return ts_yget_long(&c->refresh_margin, d, v, key, 0, 31536000, err);
	if (strcmp(key, "http_timeout") == 0)
		return ts_yget_long(&c->http_timeout, d, v, key, 1, 300, err);
	if (strcmp(key, "proxy") == 0) {
		free(c->proxy);
		if ((rc = ts_yget_str(&c->proxy, d, v, key, err)) != TS_OK)
			return rc;
		return ts_ycheck(d, v, key, c->proxy, check_proxy, err);
	}
	if (strcmp(key, "notify_command") == 0) {
		free(c->notify_command);
		return yget_str_allow(&c->notify_command, d, v, key, "\t\n", err);
	}
	if (strcmp(key, "log") == 0) {
		const char *s = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "";

		if (v->type == YAML_SCALAR_NODE && strcmp(s, "syslog") == 0)
			c->log = TS_LOG_SYSLOG;
		else if (v->type == YAML_SCALAR_NODE && strcmp(s, "stderr") == 0)
			c->log = TS_LOG_STDERR;
		else
			return ts_yerr(err, TS_EINVAL, d, v, key, "'%.64s' is not allowed; use syslog or stderr",
				       s);
		return TS_OK;
	}
	if (strcmp(key, "pop3_split_hosts") == 0) {
		size_t i;

		if ((rc = ts_yget_strlist(&c->pop3_split_hosts, d, v, key, false, err)) != TS_OK)
			return rc;
		for (i = 0; i < c->pop3_split_hosts.n; i++) {
			char why[256];

			if (ts_check_hostpattern(c->pop3_split_hosts.v[i], why, sizeof(why)) != 0)
				return ts_yerr(err, TS_EINVAL, d, v, key, "'%.100s' %s",
					       c->pop3_split_hosts.v[i], why);
		}
		return TS_OK;
	}
	if (strcmp(key, "smtp_inline_hosts") == 0)
		return ts_yget_checked_list(&c->smtp_inline_hosts, d, v, key, ts_check_hostpattern_list,
					    err);
	if (strcmp(key, "notify_timeout") == 0)
		return ts_yget_long(&c->notify_timeout, d, v, key, 1, 3600, err);
	return ts_yerr(err, TS_EINVAL, d, k, key, "unknown key; valid keys are: %s", global_keys);
}

static int global_parse(ts_global_config **out, const char *buf, size_t len, const char *origin,
			ts_error *err)
{
	ts_global_config *c = NULL;
	ts_ydoc d;
	yaml_node_t *root;
	int rc;

	*out = NULL;
	if ((rc = ts_ydoc_load(&d, buf, len, origin, err)) != TS_OK)
		return rc;
	if ((rc = ts_global_config_default(&c, err)) != TS_OK)
		goto cleanup;
	if ((c->path = strdup(origin)) == NULL) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	root = ts_ydoc_root(&d);
	if (root != NULL && !scalar_is_null(root)) {
		if (root->type != YAML_MAPPING_NODE) {
			rc = ts_yerr(err, TS_EINVAL, &d, root, NULL,
				     "the configuration must be a mapping of keys (key: value), not %s",
				     node_kind(root));
			goto cleanup;
		}
		if ((rc = map_walk(&d, root, NULL, global_pair, c, err)) != TS_OK)
			goto cleanup;
	}
	*out = c;
	c = NULL;
cleanup:
	ts_global_config_free(c);
	ts_ydoc_free(&d);
	return rc;
}

int ts_global_config_load(ts_global_config **out, const char *path, ts_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int rc;

	*out = NULL;
	rc = ts_file_read_st(&buf, &len, &st, AT_FDCWD, NULL, path, TS_FILE_MAX, false, false, err);
	if (rc != TS_OK)
		return rc;
	/* It chooses the store and names a command to run (notify_command):
	 * only the caller or root may own it. */
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		rc = ts_error_set(err, TS_EPERM,
				  "configuration file %s is owned by uid %ld, not by you (uid %ld) or root, and it chooses the store and a command to run; fix: chown %ld %s",
				  path, (long)st.st_uid, (long)geteuid(), (long)geteuid(), path);
		ts_free_secret(buf);
		return rc;
	}
	rc = global_parse(out, buf, len, path, err);
	ts_free_secret(buf);
	return rc;
}

/* Exposed for the fuzzer and tests through ts_global_config_parse. */
int ts_global_config_parse(ts_global_config **out, const char *buf, size_t len,
			   const char *origin, ts_error *err)
{
	return global_parse(out, buf, len, origin ? origin : "(config)", err);
}

/* ---------------------------------------------------------------------- */
/* Token configuration                                                      */

static const char token_keys[] =
	"name, template, user, users, client_id, client_secret, client_secret_file, client_key_file, client_cert_file, service_account_file, tenant, flow, auth_url, token_url, device_url, revoke_url, redirect_uri, issuer, scope, validity, notify, refresh_margin, servers, hosts, client_auth, auth_params";

struct tok_arg {
	ts_token_config *c;
	yaml_node_t **state_node;
	yaml_node_t *name_node;
};

static int tok_str(char **slot, ts_ydoc *d, yaml_node_t *v, const char *key, bool secret,
		   int (*check)(const char *, char *, size_t), ts_error *err)
{
	int rc;

	if (secret)
		ts_free_secret(*slot);
	else
		free(*slot);
	*slot = NULL;
	if ((rc = ts_yget_str(slot, d, v, key, err)) != TS_OK)
		return rc;
	if (**slot == '\0' && check != NULL)
		return ts_yerr(err, TS_EINVAL, d, v, key, "is empty; give a value or remove the key");
	return check ? ts_ycheck(d, v, key, *slot, check, err) : TS_OK;
}

static int check_name_field(const char *s, char *why, size_t whylen)
{
	ts_error e;

	if (ts_name_check(s, &e) != TS_OK) {
		snprintf(why, whylen, "%s", e.msg);
		return -1;
	}
	return 0;
}

static int check_nonempty(const char *s, char *why, size_t whylen)
{
	if (*s == '\0') {
		snprintf(why, whylen, "is empty; give a value or remove the key");
		return -1;
	}
	return 0;
}

static int tok_pair(void *arg, ts_ydoc *d, yaml_node_t *k, const char *key, yaml_node_t *v,
		    ts_error *err)
{
	struct tok_arg *a = arg;
	ts_token_config *c = a->c;
	const char *s = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "";
	size_t i;
	int rc;

	if (strcmp(key, "name") == 0) {
		a->name_node = v;
		return tok_str(&c->name, d, v, key, false, check_name_field, err);
	}
	if (strcmp(key, "template") == 0)
		return tok_str(&c->template_name, d, v, key, false, check_name_field, err);
	if (strcmp(key, "user") == 0)
		return tok_str(&c->user, d, v, key, false, check_nonempty, err);
	if (strcmp(key, "client_id") == 0)
		return tok_str(&c->client_id, d, v, key, false, check_nonempty, err);
	if (strcmp(key, "client_secret") == 0)
		return tok_str(&c->client_secret, d, v, key, true, check_nonempty, err);
	if (strcmp(key, "client_secret_file") == 0)
		return tok_str(&c->client_secret_file, d, v, key, false, ts_check_abspath, err);
	if (strcmp(key, "client_key_file") == 0)
		return tok_str(&c->client_key_file, d, v, key, false, ts_check_abspath, err);
	if (strcmp(key, "client_cert_file") == 0)
		return tok_str(&c->client_cert_file, d, v, key, false, ts_check_abspath, err);
	if (strcmp(key, "service_account_file") == 0)
		return tok_str(&c->service_account_file, d, v, key, false, ts_check_abspath, err);
	if (strcmp(key, "tenant") == 0)
		return tok_str(&c->tenant, d, v, key, false, ts_check_tenant, err);
	if (strcmp(key, "auth_url") == 0)
		return tok_str(&c->auth_url, d, v, key, false, check_url_plain, err);
	if (strcmp(key, "token_url") == 0)
		return tok_str(&c->token_url, d, v, key, false, check_url_plain, err);
	if (strcmp(key, "device_url") == 0)
		return tok_str(&c->device_url, d, v, key, false, check_url_plain, err);
	if (strcmp(key, "revoke_url") == 0)
		return tok_str(&c->revoke_url, d, v, key, false, check_url_plain, err);
	if (strcmp(key, "redirect_uri") == 0)
		return tok_str(&c->redirect_uri, d, v, key, false, check_url_plain, err);
	if (strcmp(key, "issuer") == 0)
		return tok_str(&c->issuer, d, v, key, false, check_url_plain, err);
	if (strcmp(key, "flow") == 0) {
		if (v->type != YAML_SCALAR_NODE || ts_flow_parse(&c->flow, s) != 0)
			return ts_yerr(err, TS_EINVAL, d, v, key,
				       "'%.64s' is not a flow; use authorization_code, device_code, client_credentials or jwt_bearer",
				       s);
		return TS_OK;
	}
	if (strcmp(key, "validity") == 0) {
		if (v->type != YAML_SCALAR_NODE || ts_validity_parse(&c->validity, s) != 0)
			return ts_yerr(err, TS_EINVAL, d, v, key,
				       "'%.64s' is not allowed; use valid, invalid or invalid-temporarily", s);
		return TS_OK;
	}
	if (strcmp(key, "client_auth") == 0) {
		if (v->type != YAML_SCALAR_NODE || ts_client_auth_parse(&c->client_auth, s) != 0)
			return ts_yerr(err, TS_EINVAL, d, v, key,
				       "'%.64s' is not allowed; use basic, post, none or private_key_jwt", s);
		return TS_OK;
	}
	if (strcmp(key, "refresh_margin") == 0)
		return ts_yget_long(&c->refresh_margin, d, v, key, 0, 31536000, err);
	if (strcmp(key, "scope") == 0) {
		if ((rc = ts_yget_strlist(&c->scope, d, v, key, true, err)) != TS_OK)
			return rc;
		for (i = 0; i < c->scope.n; i++) {
			const char *p;

			if (c->scope.v[i][0] == '\0')
				return ts_yerr(err, TS_EINVAL, d, v, key, "contains an empty scope; remove it");
			for (p = c->scope.v[i]; *p != '\0'; p++)
				if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
				    *p == '"' || *p == '\\')
					return ts_yerr(err, TS_EINVAL, d, v, key,
						       "scope '%.100s' contains a character not allowed in a scope (RFC 6749 3.3); write one scope per list item",
						       c->scope.v[i]);
		}
		c->scope_set = true;
		return TS_OK;
	}
	if (strcmp(key, "notify") == 0) {
		ts_strlist l = { NULL, 0 };

		if ((rc = ts_yget_strlist(&l, d, v, key, true, err)) != TS_OK)
			return rc;
		c->notify = 0;
		for (i = 0; i < l.n; i++) {
			unsigned ev;

			if (ts_notify_parse(&ev, l.v[i]) != 0) {
				rc = ts_yerr(err, TS_EINVAL, d, v, key,
					     "'%.64s' is not an event; use token_expired, refresh_token_expired or refresh_failed",
					     l.v[i]);
				ts_strlist_clear(&l);
				return rc;
			}
			c->notify |= ev;
		}
		ts_strlist_clear(&l);
		c->notify_set = true;
		return TS_OK;
	}
	if (strcmp(key, "servers") == 0)
		return ts_yget_servers(&c->servers, d, v, key, err);
	if (strcmp(key, "auth_params") == 0)
		return ts_yget_kvmap(&c->auth_params, d, v, key, err);
	if (strcmp(key, "users") == 0)
		return ts_yget_checked_list(&c->users, d, v, key, ts_check_mailbox_list, err);
	if (strcmp(key, "hosts") == 0)
		return ts_yget_checked_list(&c->hosts, d, v, key, ts_check_hostpattern_list, err);
	if (strcmp(key, "state") == 0 && a->state_node != NULL) {
		if (v->type != YAML_MAPPING_NODE)
			return ts_yerr(err, TS_EINVAL, d, v, key, "expected a mapping, got %s",
				       node_kind(v));
		*a->state_node = v;
		return TS_OK;
	}
	return ts_yerr(err, TS_EINVAL, d, k, key, "unknown key; valid keys are: %s%s", token_keys,
		       a->state_node ? ", state" : "");
}

int ts_token_config_from_node(ts_token_config **out, ts_ydoc *d, yaml_node_t *map,
			      yaml_node_t **state_node, ts_error *err)
{
	struct tok_arg a;
	ts_token_config *c;
	int rc;

	*out = NULL;
	if (state_node)
		*state_node = NULL;
	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return ts_yerr(err, TS_EINVAL, d, map, NULL,
			       "expected a token configuration (a mapping with name, template, ...), got %s",
			       map ? node_kind(map) : "nothing");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return ts_enomem(err);
	c->refresh_margin = -1;
	a.c = c;
	a.state_node = state_node;
	a.name_node = NULL;
	if ((rc = map_walk(d, map, NULL, tok_pair, &a, err)) != TS_OK)
		goto cleanup;
	if (c->name == NULL) {
		rc = ts_yerr(err, TS_EINVAL, d, map, "name", "is missing; add name: NAME");
		goto cleanup;
	}
	*out = c;
	c = NULL;
cleanup:
	ts_token_config_free(c);
	return rc;
}

int ts_token_config_parse_named(ts_token_config **out, const char *buf, size_t len,
				const char *origin, const char *expect_name, ts_error *err)
{
	ts_token_config *c = NULL;
	yaml_node_t *root;
	ts_ydoc d;
	int rc;

	*out = NULL;
	if (origin == NULL)
		origin = "(token configuration)";
	if ((rc = ts_ydoc_load(&d, buf, len, origin, err)) != TS_OK)
		return rc;
	root = ts_ydoc_root(&d);
	if (root == NULL || scalar_is_null(root)) {
		rc = ts_error_set(err, TS_EINVAL,
				  "%s: the token configuration is empty; it needs at least name and template",
				  origin);
		goto cleanup;
	}
	if ((rc = ts_token_config_from_node(&c, &d, root, NULL, err)) != TS_OK)
		goto cleanup;
	if (expect_name != NULL && strcmp(c->name, expect_name) != 0) {
		yaml_node_pair_t *p;
		yaml_node_t *at = root;

		for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
			yaml_node_t *k = ts_ynode(&d, p->key);

			if (k && k->type == YAML_SCALAR_NODE &&
			    strcmp((const char *)k->data.scalar.value, "name") == 0)
				at = ts_ynode(&d, p->value);
		}
		rc = ts_yerr(err, TS_EINVAL, &d, at, "name",
			     "'%s' does not match the file name '%s.yaml'; make them equal", c->name,
			     expect_name);
		goto cleanup;
	}
	*out = c;
	c = NULL;
cleanup:
	ts_token_config_free(c);
	ts_ydoc_free(&d);
	return rc;
}

int ts_token_config_parse(ts_token_config **out, const char *buf, size_t len,
			  const char *origin, ts_error *err)
{
	return ts_token_config_parse_named(out, buf, len, origin, NULL, err);
}

int ts_token_config_load(ts_token_config **out, const char *path, ts_error *err)
{
	char *buf = NULL, *expect = NULL;
	const char *base;
	size_t len = 0;
	struct stat st;
	int rc;

	*out = NULL;
	rc = ts_file_read_st(&buf, &len, &st, AT_FDCWD, NULL, path, TS_FILE_MAX, false, true, err);
	if (rc != TS_OK)
		return rc;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (ts_has_suffix(base, ".yaml") && (expect = strndup(base, strlen(base) - 5)) == NULL) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	if ((rc = ts_token_config_parse_named(out, buf, len, path, expect, err)) != TS_OK)
		goto cleanup;
	if ((*out)->client_secret != NULL &&
	    (rc = ts_perm_check_file(&st, path, true, err)) != TS_OK) {
		ts_token_config_free(*out);
		*out = NULL;
	}
cleanup:
	free(expect);
	ts_free_secret(buf);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* State inside export entries                                              */

static int check_access_token(const char *s, char *why, size_t whylen)
{
	if (!ts_b64token_ok(s)) {
		snprintf(why, whylen, "contains a character outside RFC 6750's token set (letters, "
			 "digits, -._~+/ and trailing =); export it again from a working store");
		return -1;
	}
	return 0;
}

static int check_refresh_token(const char *s, char *why, size_t whylen)
{
	if (!ts_token_chars_ok(s)) {
		snprintf(why, whylen, "contains a space or a byte outside printable ASCII; "
			 "export it again from a working store");
		return -1;
	}
	return 0;
}

static int state_pair(void *arg, ts_ydoc *d, yaml_node_t *k, const char *key, yaml_node_t *v,
		      ts_error *err)
{
	ts_state *s = arg;
	int64_t n;
	int rc;

	if (strcmp(key, "access_token") == 0)
		return tok_str(&s->access_token, d, v, key, true, check_access_token, err);
	if (strcmp(key, "refresh_token") == 0)
		return tok_str(&s->refresh_token, d, v, key, true, check_refresh_token, err);
	if (strcmp(key, "token_type") == 0)
		return tok_str(&s->token_type, d, v, key, false, NULL, err);
	if (strcmp(key, "scope") == 0)
		return tok_str(&s->scope, d, v, key, false, NULL, err);
	if (strcmp(key, "last_error") == 0)
		return tok_str(&s->last_error, d, v, key, false, NULL, err);
	if (strcmp(key, "expires_at") == 0)
		return ts_yget_i64(&s->expires_at, d, v, key, err);
	if (strcmp(key, "refresh_expires_at") == 0)
		return ts_yget_i64(&s->refresh_expires_at, d, v, key, err);
	if (strcmp(key, "last_refresh") == 0)
		return ts_yget_i64(&s->last_refresh, d, v, key, err);
	if (strcmp(key, "last_attempt") == 0)
		return ts_yget_i64(&s->last_attempt, d, v, key, err);
	if (strcmp(key, "generation") == 0) {
		if ((rc = ts_yget_i64(&n, d, v, key, err)) != TS_OK)
			return rc;
		s->generation = (uint64_t)n;
		return TS_OK;
	}
	if (strcmp(key, "notified") == 0) {
		long l;

		if ((rc = ts_yget_long(&l, d, v, key, 0, TS_NOTIFY_ALL, err)) != TS_OK)
			return rc;
		s->notified = (unsigned)l;
		return TS_OK;
	}
	if (strcmp(key, "refresh_token_dead") == 0)
		return ts_yget_bool(&s->refresh_token_dead, d, v, key, err);
	if (strcmp(key, "access_rejected") == 0)
		return ts_yget_bool(&s->access_rejected, d, v, key, err);
	return ts_yerr(err, TS_EINVAL, d, k, key,
		       "unknown state key; valid keys are: access_token, token_type, expires_at, refresh_token, refresh_expires_at, scope, last_refresh, last_attempt, last_error, refresh_token_dead, access_rejected, notified, generation");
}

int ts_state_from_node(ts_state **out, ts_ydoc *d, yaml_node_t *map, ts_error *err)
{
	ts_state *s = NULL;
	int rc;

	*out = NULL;
	if ((rc = ts_state_new(&s, err)) != TS_OK)
		return rc;
	if ((rc = map_walk(d, map, "state", state_pair, s, err)) != TS_OK) {
		ts_state_free(s);
		return rc;
	}
	*out = s;
	return TS_OK;
}
