/*
 * mech_xoauth2.c - the XOAUTH2 wire format (Google's and Microsoft's
 * pre-standard bearer mechanism):
 *
 *   user=<mailbox> ^A auth=Bearer <token> ^A ^A
 *
 * and its answer to an error challenge, an empty response. The exchange
 * itself (steps, prompts, token selection) lives in mech_common.c.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_p.h"

/* Append n bytes at *p, advancing it; the caller sized the buffer. */
static void put(char **p, const char *s, size_t n)
{
	memcpy(*p, s, n);
	*p += n;
}

int mech_xoauth2_build(char **out, size_t *out_len, const char *user, const char *token)
{
	static const char k_user[] = "user=", k_auth[] = "\001auth=Bearer ", k_end[] = "\001\001";
	size_t ulen = strlen(user), tlen = strlen(token), len;
	char *buf, *p;

	*out = NULL;
	*out_len = 0;
	if (ulen > SIZE_MAX / 4 || tlen > SIZE_MAX / 4)
		return SASL_BADPARAM;
	len = (sizeof(k_user) - 1) + ulen + (sizeof(k_auth) - 1) + tlen + (sizeof(k_end) - 1);
	buf = malloc(len + 1);
	if (buf == NULL)
		return SASL_NOMEM;
	p = buf;
	put(&p, k_user, sizeof(k_user) - 1);
	put(&p, user, ulen);
	put(&p, k_auth, sizeof(k_auth) - 1);
	put(&p, token, tlen);
	put(&p, k_end, sizeof(k_end) - 1);
	*p = '\0';
	*out = buf;
	*out_len = len;
	return SASL_OK;
}

const char *mech_error_answer(mech_kind kind, unsigned *len)
{
	if (kind == MECH_OAUTHBEARER) {
		*len = 1;
		return "\001";
	}
	*len = 0;
	return "";
}
