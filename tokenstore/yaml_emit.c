/*
 * yaml_emit.c - writing YAML through libyaml's emitter, so that quoting is
 * always right whatever a value contains, plus the serialisation of token
 * configurations (ts_token_config_emit) and of state blocks.
 *
 * Strings that a YAML reader could take for another type (numbers, booleans,
 * null, empty) are double-quoted; the output buffer is wiped whenever it
 * grows because it may hold a client secret or tokens.
 */
#include <config.h>

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ts_p.h"

struct ts_yemit {
	yaml_emitter_t em;
	char *buf;
	size_t len, cap;
	bool failed;
	bool oom;
};

static int write_handler(void *data, unsigned char *chunk, size_t size)
{
	ts_yemit *e = data;

	if (e->len + size + 1 > e->cap) {
		size_t ncap = e->cap ? e->cap : 1024;
		char *nb;

		while (ncap < e->len + size + 1)
			ncap *= 2;
		/* No realloc: the old block may hold secrets and must be wiped. */
		if ((nb = malloc(ncap)) == NULL) {
			e->oom = true;
			return 0;
		}
		if (e->buf != NULL) {
			memcpy(nb, e->buf, e->len);
			ts_wipe(e->buf, e->cap);
			free(e->buf);
		}
		e->buf = nb;
		e->cap = ncap;
	}
	memcpy(e->buf + e->len, chunk, size);
	e->len += size;
	e->buf[e->len] = '\0';
	return 1;
}

static int emit(ts_yemit *e, yaml_event_t *ev)
{
	if (e->failed)
		return TS_ERR;
	if (!yaml_emitter_emit(&e->em, ev)) {
		e->failed = true;
		return TS_ERR;
	}
	return TS_OK;
}

int ts_yemit_begin(ts_yemit **out, ts_error *err)
{
	ts_yemit *e;
	yaml_event_t ev;

	*out = NULL;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return ts_enomem(err);
	if (!yaml_emitter_initialize(&e->em)) {
		free(e);
		return ts_enomem(err);
	}
	yaml_emitter_set_output(&e->em, write_handler, e);
	yaml_emitter_set_unicode(&e->em, 1);
	yaml_emitter_set_width(&e->em, -1);
	yaml_emitter_set_indent(&e->em, 2);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	emit(e, &ev);
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	emit(e, &ev);
	*out = e;
	return TS_OK;
}

void ts_yemit_free(ts_yemit *e)
{
	if (e == NULL)
		return;
	/* The emitter's own buffers held the serialised secrets too. */
	if (e->em.buffer.start != NULL)
		ts_wipe(e->em.buffer.start, (size_t)(e->em.buffer.end - e->em.buffer.start));
	if (e->em.raw_buffer.start != NULL)
		ts_wipe(e->em.raw_buffer.start, (size_t)(e->em.raw_buffer.end - e->em.raw_buffer.start));
	yaml_emitter_delete(&e->em);
	if (e->buf != NULL) {
		ts_wipe(e->buf, e->cap);
		free(e->buf);
	}
	free(e);
}

int ts_yemit_end(ts_yemit *e, char **out, ts_error *err)
{
	yaml_event_t ev;

	*out = NULL;
	yaml_document_end_event_initialize(&ev, 1);
	emit(e, &ev);
	yaml_stream_end_event_initialize(&ev);
	emit(e, &ev);
	if (!e->failed && !yaml_emitter_flush(&e->em))
		e->failed = true;
	if (e->oom)
		return ts_enomem(err);
	if (e->failed)
		return ts_error_set(err, TS_ERR, "cannot write YAML: %s",
				    e->em.problem ? e->em.problem : "emitter failure");
	if (e->buf == NULL && write_handler(e, (unsigned char *)"", 0) == 0)
		return ts_enomem(err);
	*out = e->buf;
	e->buf = NULL;
	e->cap = e->len = 0;
	return TS_OK;
}

/* Start or end a block mapping or sequence: `type` is the event. */
static int block(ts_yemit *e, yaml_event_type_t type)
{
	yaml_event_t ev;

	if (type == YAML_MAPPING_START_EVENT)
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
	else if (type == YAML_SEQUENCE_START_EVENT)
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
	else if (type == YAML_MAPPING_END_EVENT)
		yaml_mapping_end_event_initialize(&ev);
	else
		yaml_sequence_end_event_initialize(&ev);
	return emit(e, &ev);
}

int ts_yemit_map_start(ts_yemit *e)
{
	return block(e, YAML_MAPPING_START_EVENT);
}

int ts_yemit_map_end(ts_yemit *e)
{
	return block(e, YAML_MAPPING_END_EVENT);
}

int ts_yemit_seq_start(ts_yemit *e)
{
	return block(e, YAML_SEQUENCE_START_EVENT);
}

int ts_yemit_seq_end(ts_yemit *e)
{
	return block(e, YAML_SEQUENCE_END_EVENT);
}

/* Would a YAML 1.1/1.2 reader resolve this plain scalar to a non-string? */
static bool looks_typed(const char *s)
{
	static const char *const words[] = {
		"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
		".inf", "-.inf", "+.inf", ".nan",
	};
	const char *p = s;
	size_t i;

	if (*s == '\0')
		return true;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(s, words[i]) == 0)
			return true;
	if (*p == '-' || *p == '+')
		p++;
	if (isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))) {
		/* Numbers, dates, times, sexagesimals, 0x/0o literals: quote them all. */
		for (; *p != '\0'; p++)
			if (!isalnum((unsigned char)*p) && strchr("._:-+", *p) == NULL)
				return false;
		return true;
	}
	return false;
}

static int scalar(ts_yemit *e, const char *s, yaml_scalar_style_t style)
{
	yaml_event_t ev;

	if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
					  style)) {
		e->oom = e->failed = true;
		return TS_ENOMEM;
	}
	return emit(e, &ev);
}

int ts_yemit_str(ts_yemit *e, const char *s)
{
	return scalar(e, s, looks_typed(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
}

int ts_yemit_int(ts_yemit *e, int64_t v)
{
	char b[32];

	snprintf(b, sizeof(b), "%" PRId64, v);
	return scalar(e, b, YAML_PLAIN_SCALAR_STYLE);
}

int ts_yemit_bool(ts_yemit *e, bool v)
{
	return scalar(e, v ? "true" : "false", YAML_PLAIN_SCALAR_STYLE);
}

static void pair_str(ts_yemit *e, const char *key, const char *v)
{
	if (v == NULL)
		return;
	ts_yemit_str(e, key);
	ts_yemit_str(e, v);
}

static void pair_list(ts_yemit *e, const char *key, const ts_strlist *l)
{
	size_t i;

	ts_yemit_str(e, key);
	ts_yemit_seq_start(e);
	for (i = 0; i < l->n; i++)
		ts_yemit_str(e, l->v[i]);
	ts_yemit_seq_end(e);
}

int ts_yemit_token_pairs(ts_yemit *e, const ts_token_config *c, bool with_secrets)
{
	size_t i;

	pair_str(e, "name", c->name);
	pair_str(e, "template", c->template_name);
	pair_str(e, "user", c->user);
	if (c->users.n > 0)
		pair_list(e, "users", &c->users);
	pair_str(e, "client_id", c->client_id);
	if (with_secrets)
		pair_str(e, "client_secret", c->client_secret);
	pair_str(e, "client_secret_file", c->client_secret_file);
	pair_str(e, "client_key_file", c->client_key_file);
	pair_str(e, "client_cert_file", c->client_cert_file);
	pair_str(e, "service_account_file", c->service_account_file);
	pair_str(e, "tenant", c->tenant);
	if (c->flow != TS_FLOW_UNSET)
		pair_str(e, "flow", ts_flow_str(c->flow));
	pair_str(e, "auth_url", c->auth_url);
	pair_str(e, "token_url", c->token_url);
	pair_str(e, "device_url", c->device_url);
	pair_str(e, "revoke_url", c->revoke_url);
	pair_str(e, "redirect_uri", c->redirect_uri);
	pair_str(e, "issuer", c->issuer);
	if (c->scope_set)
		pair_list(e, "scope", &c->scope);
	if (c->validity != TS_VALIDITY_UNSET)
		pair_str(e, "validity", ts_validity_str(c->validity));
	if (c->notify_set) {
		unsigned ev;

		ts_yemit_str(e, "notify");
		ts_yemit_seq_start(e);
		for (ev = 1; ev <= TS_NOTIFY_REFRESH_FAILED; ev <<= 1)
			if (c->notify & ev)
				ts_yemit_str(e, ts_notify_event_str(ev));
		ts_yemit_seq_end(e);
	}
	if (c->refresh_margin >= 0) {
		ts_yemit_str(e, "refresh_margin");
		ts_yemit_int(e, c->refresh_margin);
	}
	if (c->servers.imap || c->servers.pop3 || c->servers.smtp) {
		ts_yemit_str(e, "servers");
		ts_yemit_map_start(e);
		pair_str(e, "imap", c->servers.imap);
		pair_str(e, "pop3", c->servers.pop3);
		pair_str(e, "smtp", c->servers.smtp);
		ts_yemit_map_end(e);
	}
	if (c->hosts.n > 0)
		pair_list(e, "hosts", &c->hosts);
	if (c->client_auth != TS_CLIENT_AUTH_UNSET)
		pair_str(e, "client_auth", ts_client_auth_str(c->client_auth));
	if (c->auth_params.n > 0) {
		ts_yemit_str(e, "auth_params");
		ts_yemit_map_start(e);
		for (i = 0; i < c->auth_params.n; i++)
			pair_str(e, c->auth_params.v[i].key, c->auth_params.v[i].value);
		ts_yemit_map_end(e);
	}
	return e->failed ? TS_ERR : TS_OK;
}

static void pair_int(ts_yemit *e, const char *key, int64_t v)
{
	ts_yemit_str(e, key);
	ts_yemit_int(e, v);
}

int ts_yemit_state_pairs(ts_yemit *e, const ts_state *s)
{
	pair_str(e, "access_token", s->access_token);
	pair_str(e, "token_type", s->token_type);
	pair_int(e, "expires_at", s->expires_at);
	pair_str(e, "refresh_token", s->refresh_token);
	pair_int(e, "refresh_expires_at", s->refresh_expires_at);
	pair_str(e, "scope", s->scope);
	pair_int(e, "last_refresh", s->last_refresh);
	pair_int(e, "last_attempt", s->last_attempt);
	pair_str(e, "last_error", s->last_error);
	ts_yemit_str(e, "refresh_token_dead");
	ts_yemit_bool(e, s->refresh_token_dead);
	ts_yemit_str(e, "access_rejected");
	ts_yemit_bool(e, s->access_rejected);
	pair_int(e, "notified", s->notified);
	pair_int(e, "generation", (int64_t)s->generation);
	return e->failed ? TS_ERR : TS_OK;
}

int ts_token_config_emit(char **out, const ts_token_config *c, bool with_secrets, ts_error *err)
{
	ts_yemit *e = NULL;
	int rc;

	*out = NULL;
	if ((rc = ts_yemit_begin(&e, err)) != TS_OK)
		return rc;
	ts_yemit_map_start(e);
	ts_yemit_token_pairs(e, c, with_secrets);
	ts_yemit_map_end(e);
	rc = ts_yemit_end(e, out, err);
	ts_yemit_free(e);
	return rc;
}
