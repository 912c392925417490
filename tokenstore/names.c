/*
 * names.c - token name checks. A token name becomes a file name in the
 * store, so the character set is strict: [A-Za-z0-9][A-Za-z0-9._@+-]{0,127}.
 * That allows e-mail addresses and refuses '/', a leading dot and so "..".
 */
#include <config.h>

#include <string.h>

#include "tokenstore.h"

static bool name_char(unsigned char c, bool first)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return true;
	if (first)
		return false;
	return c == '.' || c == '_' || c == '@' || c == '+' || c == '-';
}

int ts_name_check(const char *name, ts_error *err)
{
	size_t i, len;

	if (name == NULL || *name == '\0')
		return ts_error_set(err, TS_EINVAL,
				    "token name is empty; use letters, digits and ._@+- (an e-mail address is fine)");
	len = strlen(name);
	if (len > TS_NAME_MAX)
		return ts_error_set(err, TS_EINVAL,
				    "token name is %zu characters long; at most %d are allowed",
				    len, TS_NAME_MAX);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (name_char(c, i == 0))
			continue;
		if (i == 0)
			return ts_error_set(err, TS_EINVAL,
					    "token name '%.*s' must start with a letter or a digit, not '%c'",
					    (int)(len > 64 ? 64 : len), c >= 0x20 && c < 0x7f ? name : "?",
					    c >= 0x20 && c < 0x7f ? c : '?');
		if (c >= 0x20 && c < 0x7f)
			return ts_error_set(err, TS_EINVAL,
					    "token name '%.64s' contains '%c'; use only letters, digits and ._@+-",
					    name, c);
		return ts_error_set(err, TS_EINVAL,
				    "token name contains the byte 0x%02x; use only letters, digits and ._@+-",
				    c);
	}
	return TS_OK;
}

/*
 * A state key: a token name, or NAME#HEX for the state a jwt_bearer token
 * keeps for one mailbox ('#' never occurs in a name, so no token's own
 * state can be mistaken for it).
 */
int ts_state_key_check(const char *key, ts_error *err)
{
	const char *hash = key ? strchr(key, '#') : NULL;
	char name[TS_NAME_MAX + 1];
	size_t n;

	if (hash == NULL)
		return ts_name_check(key, err);
	n = (size_t)(hash - key);
	if (n == 0 || n > TS_NAME_MAX || strlen(hash + 1) != TS_STATE_KEY_HEX ||
	    strspn(hash + 1, "0123456789abcdef") != TS_STATE_KEY_HEX)
		return ts_error_set(err, TS_EINVAL, "state key '%.64s' is malformed", key);
	memcpy(name, key, n);
	name[n] = '\0';
	return ts_name_check(name, err);
}
