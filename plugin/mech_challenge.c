/*
 * mech_challenge.c - what the plugin reads from the server's error
 * challenge: the JSON object of RFC 7628 section 3.2.2 ("status", "scope",
 * "schemes"), sent by a server that refuses the token. The plugin only
 * logs these fields, so they are copied as printable ASCII: it is server
 * text going into the application's log.
 */
#include "config.h"

#include <string.h>

#include <json-c/json.h>

#include "mech_challenge_p.h"

/* Copy a member's string form into buf, printable ASCII only; "" when the
 * member is absent. */
static void challenge_field(json_object *obj, const char *key, char *buf, size_t size)
{
	json_object *v;
	const char *s = NULL;
	size_t i = 0;

	if (json_object_object_get_ex(obj, key, &v) && v != NULL)
		s = json_object_get_string(v);
	for (; s != NULL && *s && i + 1 < size; s++)
		buf[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	buf[i] = '\0';
}

void mech_challenge_parse(mech_challenge *out, const char *serverin, size_t serverinlen)
{
	json_tokener *tok = NULL;
	json_object *obj = NULL;

	memset(out, 0, sizeof(*out));
	if (serverin == NULL || serverinlen == 0 || serverinlen > MECH_MAX_CHALLENGE)
		return;
	tok = json_tokener_new();
	if (tok == NULL)
		return;
	obj = json_tokener_parse_ex(tok, serverin, (int)serverinlen);
	if (obj != NULL && json_object_is_type(obj, json_type_object)) {
		out->is_json = true;
		challenge_field(obj, "status", out->status, sizeof(out->status));
		challenge_field(obj, "scope", out->scope, sizeof(out->scope));
		challenge_field(obj, "schemes", out->schemes, sizeof(out->schemes));
	}
	if (obj != NULL)
		json_object_put(obj);
	json_tokener_free(tok);
}
