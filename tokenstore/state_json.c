/*
 * state_json.c - the token state (<name>.state) in JSON, through json-c.
 *
 * Parsing is strict about what it knows: every known key must have its type
 * (string or null, integer, boolean), the document must be one complete JSON
 * object, and a truncated file says so and tells the user what to do. Keys
 * it does not know are ignored so that a newer version's state file can
 * still be read after a downgrade.
 */
#include <config.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <json-c/printbuf.h>

#include "ts_p.h"

int ts_state_new(ts_state **out, ts_error *err)
{
	*out = calloc(1, sizeof(**out));
	return *out ? TS_OK : ts_enomem(err);
}

void ts_state_free(ts_state *s)
{
	if (s == NULL)
		return;
	ts_free_secret(s->access_token);
	free(s->token_type);
	ts_free_secret(s->refresh_token);
	free(s->scope);
	free(s->last_error);
	free(s);
}

int ts_state_dup(ts_state **out, const ts_state *s, ts_error *err)
{
	ts_state *n;

	*out = NULL;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return ts_enomem(err);
	*n = *s;
	n->access_token = n->token_type = n->refresh_token = n->scope = n->last_error = NULL;
	if (ts_strdup_to(&n->access_token, s->access_token, NULL) ||
	    ts_strdup_to(&n->token_type, s->token_type, NULL) ||
	    ts_strdup_to(&n->refresh_token, s->refresh_token, NULL) ||
	    ts_strdup_to(&n->scope, s->scope, NULL) ||
	    ts_strdup_to(&n->last_error, s->last_error, NULL)) {
		ts_state_free(n);
		return ts_enomem(err);
	}
	*out = n;
	return TS_OK;
}

static const char fix[] = "run: sasl-oauth2 authorize NAME, or restore the file from a backup";

/* How a string of the state is checked on reading: the same rules as on
 * every other input path. */
enum str_rule {
	STR_TEXT,           /* no control character */
	STR_REFRESH,        /* tokens: printable ASCII without space (the stricter
			     * b64token rule for access tokens is applied where
			     * one is handed out: ts_token_get_access) */
	STR_MESSAGE,        /* control characters become '?' (see below) */
};

static int get_str(char **slot, json_object *v, const char *key, enum str_rule rule,
		   const char *origin, ts_error *err)
{
	const char *s;
	size_t len;

	if (v == NULL || json_object_is_type(v, json_type_null))
		return TS_OK;
	if (!json_object_is_type(v, json_type_string))
		return ts_error_set(err, TS_EINVAL, "%s: key '%s' must be a string; %s", origin, key, fix);
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (strlen(s) != len)
		return ts_error_set(err, TS_EINVAL, "%s: key '%s' contains a NUL character; %s", origin,
				    key, fix);
	if ((rule == STR_TEXT && !ts_text_ok(s)) || (rule == STR_REFRESH && !ts_token_chars_ok(s)))
		return ts_error_set(err, TS_EINVAL, "%s: key '%s' contains a %s; %s", origin, key,
				    rule == STR_TEXT ? "control character"
				    : "space, control character or non-ASCII byte", fix);
	if ((*slot = strdup(s)) == NULL)
		return ts_enomem(err);
	/*
	 * last_error is this program's own message, written by older versions
	 * with the provider's text in it: it is cleaned rather than refused,
	 * so that an upgrade never disables a working token over a message.
	 */
	if (rule == STR_MESSAGE)
		for (char *p = *slot; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	return TS_OK;
}

static int get_int(int64_t *slot, json_object *v, const char *key, const char *origin, ts_error *err)
{
	if (v == NULL || json_object_is_type(v, json_type_null))
		return TS_OK;
	if (!json_object_is_type(v, json_type_int))
		return ts_error_set(err, TS_EINVAL, "%s: key '%s' must be an integer; %s", origin, key, fix);
	*slot = json_object_get_int64(v);
	if (*slot < 0)
		return ts_error_set(err, TS_EINVAL, "%s: key '%s' must not be negative; %s", origin, key,
				    fix);
	return TS_OK;
}

static int get_bool(bool *slot, json_object *v, const char *key, const char *origin, ts_error *err)
{
	if (v == NULL || json_object_is_type(v, json_type_null))
		return TS_OK;
	if (!json_object_is_type(v, json_type_boolean))
		return ts_error_set(err, TS_EINVAL, "%s: key '%s' must be true or false; %s", origin, key,
				    fix);
	*slot = json_object_get_boolean(v) != 0;
	return TS_OK;
}

static int from_object(ts_state *s, json_object *o, const char *origin, ts_error *err)
{
	int64_t n = 0;
	int rc;

#define F(k) json_object_object_get_ex(o, k, &v) ? v : NULL
	json_object *v;

	if ((rc = get_str(&s->access_token, F("access_token"), "access_token", STR_REFRESH, origin, err)) ||
	    (rc = get_str(&s->token_type, F("token_type"), "token_type", STR_TEXT, origin, err)) ||
	    (rc = get_int(&s->expires_at, F("expires_at"), "expires_at", origin, err)) ||
	    (rc = get_str(&s->refresh_token, F("refresh_token"), "refresh_token", STR_REFRESH, origin, err)) ||
	    (rc = get_int(&s->refresh_expires_at, F("refresh_expires_at"), "refresh_expires_at", origin, err)) ||
	    (rc = get_str(&s->scope, F("scope"), "scope", STR_TEXT, origin, err)) ||
	    (rc = get_int(&s->last_refresh, F("last_refresh"), "last_refresh", origin, err)) ||
	    (rc = get_int(&s->last_attempt, F("last_attempt"), "last_attempt", origin, err)) ||
	    (rc = get_str(&s->last_error, F("last_error"), "last_error", STR_MESSAGE, origin, err)) ||
	    (rc = get_bool(&s->refresh_token_dead, F("refresh_token_dead"), "refresh_token_dead", origin, err)) ||
	    (rc = get_bool(&s->access_rejected, F("access_rejected"), "access_rejected", origin, err)))
		return rc;
	if ((rc = get_int(&n, F("notified"), "notified", origin, err)) != TS_OK)
		return rc;
	if (n > TS_NOTIFY_ALL)
		return ts_error_set(err, TS_EINVAL, "%s: key 'notified' is out of range; %s", origin, fix);
	s->notified = (unsigned)n;
	n = 0;
	if ((rc = get_int(&n, F("generation"), "generation", origin, err)) != TS_OK)
		return rc;
	s->generation = (uint64_t)n;
#undef F
	return TS_OK;
}

/* Free a json-c tree after wiping its strings (tokens live there). */
static void wipe_tree(json_object *o)
{
	if (o == NULL)
		return;
	if (json_object_is_type(o, json_type_string)) {
		/* json-c keeps the string in the object; clear it in place. */
		char *p = (char *)json_object_get_string(o);

		ts_wipe(p, (size_t)json_object_get_string_len(o));
	} else if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v) {
			(void)k;
			wipe_tree(v);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		size_t i, n = json_object_array_length(o);

		for (i = 0; i < n; i++)
			wipe_tree(json_object_array_get_idx(o, i));
	}
}

int ts_state_parse(ts_state **out, const char *buf, size_t len, const char *origin, ts_error *err)
{
	json_tokener *tok = NULL;
	json_object *o = NULL;
	enum json_tokener_error jerr;
	ts_state *s = NULL;
	size_t used;
	int rc;

	*out = NULL;
	if (origin == NULL)
		origin = "(state)";
	if (len > TS_FILE_MAX)
		return ts_error_set(err, TS_EINVAL, "%s: state is larger than %d bytes; %s", origin,
				    TS_FILE_MAX, fix);
	{
		size_t k = 0;

		while (k < len && (buf[k] == ' ' || buf[k] == '\n' || buf[k] == '\t' || buf[k] == '\r'))
			k++;
		if (k < len && buf[k] != '{')
			return ts_error_set(err, TS_EINVAL, "%s: the state must be a JSON object; %s", origin, fix);
	}
	if ((tok = json_tokener_new()) == NULL)
		return ts_enomem(err);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	if (o == NULL && jerr == json_tokener_success) {
		rc = ts_error_set(err, TS_EINVAL, "%s: the state must be a JSON object, not null; %s", origin, fix);
		goto cleanup;
	}
	if (o == NULL) {
		if (jerr == json_tokener_continue || len == 0)
			rc = ts_error_set(err, TS_EINVAL, "%s: the state file is truncated or empty; %s",
					  origin, fix);
		else
			rc = ts_error_set(err, TS_EINVAL, "%s: malformed JSON at byte %zu (%s); %s", origin,
					  json_tokener_get_parse_end(tok), json_tokener_error_desc(jerr), fix);
		goto cleanup;
	}
	used = (size_t)json_tokener_get_parse_end(tok);
	for (; used < len; used++) {
		char c = buf[used];

		if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
			rc = ts_error_set(err, TS_EINVAL, "%s: garbage after the JSON object at byte %zu; %s",
					  origin, used, fix);
			goto cleanup;
		}
	}
	if (!json_object_is_type(o, json_type_object)) {
		rc = ts_error_set(err, TS_EINVAL, "%s: the state must be a JSON object; %s", origin, fix);
		goto cleanup;
	}
	if ((rc = ts_state_new(&s, err)) != TS_OK)
		goto cleanup;
	if ((rc = from_object(s, o, origin, err)) != TS_OK)
		goto cleanup;
	*out = s;
	s = NULL;
cleanup:
	ts_state_free(s);
	if (o != NULL) {
		wipe_tree(o);
		json_object_put(o);
	}
	/* The tokener's scratch buffer held the last token string parsed. */
	if (tok->pb != NULL && tok->pb->buf != NULL)
		ts_wipe(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
	return rc;
}

static int add_str(json_object *o, const char *k, const char *v)
{
	json_object *j = v ? json_object_new_string(v) : json_object_new_null();

	if (v != NULL && j == NULL)
		return -1;
	return json_object_object_add(o, k, j);
}

static int add_int(json_object *o, const char *k, int64_t v)
{
	json_object *j = json_object_new_int64(v);

	if (j == NULL)
		return -1;
	return json_object_object_add(o, k, j);
}

static int add_bool(json_object *o, const char *k, bool v)
{
	json_object *j = json_object_new_boolean(v);

	if (j == NULL)
		return -1;
	return json_object_object_add(o, k, j);
}

int ts_state_emit(char **out, const ts_state *s, ts_error *err)
{
	json_object *o;
	const char *text;
	size_t tlen;
	int rc = TS_OK;

	*out = NULL;
	if ((o = json_object_new_object()) == NULL)
		return ts_enomem(err);
	if (add_str(o, "access_token", s->access_token) || add_str(o, "token_type", s->token_type) ||
	    add_int(o, "expires_at", s->expires_at) || add_str(o, "refresh_token", s->refresh_token) ||
	    add_int(o, "refresh_expires_at", s->refresh_expires_at) || add_str(o, "scope", s->scope) ||
	    add_int(o, "last_refresh", s->last_refresh) || add_int(o, "last_attempt", s->last_attempt) ||
	    add_str(o, "last_error", s->last_error) ||
	    add_bool(o, "refresh_token_dead", s->refresh_token_dead) ||
	    add_bool(o, "access_rejected", s->access_rejected) ||
	    add_int(o, "notified", (int64_t)s->notified) ||
	    add_int(o, "generation", (int64_t)s->generation)) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE,
						 &tlen);
	if (text == NULL) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	if ((*out = malloc(tlen + 2)) == NULL) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	memcpy(*out, text, tlen);
	(*out)[tlen] = '\n';
	(*out)[tlen + 1] = '\0';
	/* json-c's own buffer held the tokens too. */
	ts_wipe((char *)text, tlen);
cleanup:
	wipe_tree(o);
	json_object_put(o);
	return rc;
}
