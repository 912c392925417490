/*
 * mech_oauthbearer.c - the OAUTHBEARER wire format (RFC 7628):
 *
 *   n,a=<mailbox>,^Ahost=<host>^Aport=<port>^Aauth=Bearer <token>^A^A
 *
 * The mailbox goes into the GS2 header, where ',' and '=' are written as
 * "=2C" and "=3D" (RFC 5801). host and port are sent when known: host from
 * the server name the application gave libsasl2, port from its "ip;port"
 * remote address (absent under Postfix and mbsync).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_p.h"

const char *mech_port_of(const char *ipremoteport, char *buf, size_t bufsize)
{
	const char *semi, *p;
	size_t n;

	if (ipremoteport == NULL)
		return NULL;
	semi = strrchr(ipremoteport, ';');
	if (semi == NULL)
		return NULL;
	p = semi + 1;
	n = strlen(p);
	if (n == 0 || n >= bufsize || n > 5)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return NULL;
	memcpy(buf, p, n + 1);
	return buf;
}

/* Length of `user` with ',' and '=' escaped. */
static size_t escaped_len(const char *user)
{
	size_t n = strlen(user);
	const char *q;

	/* Once per login: a mailbox rarely has either character. */
	for (q = user; (q = strpbrk(q, ",=")) != NULL; q++)
		n += 2;
	return n;
}

static char *put_escaped(char *p, const char *user)
{
	if (strpbrk(user, ",=") == NULL) {
		size_t n = strlen(user);

		memcpy(p, user, n);
		return p + n;
	}
	for (; *user; user++) {
		if (*user == ',') {
			memcpy(p, "=2C", 3);
			p += 3;
		} else if (*user == '=') {
			memcpy(p, "=3D", 3);
			p += 3;
		} else {
			*p++ = *user;
		}
	}
	return p;
}

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

int mech_oauthbearer_build(char **out, size_t *out_len, const char *user,
			   const char *host, const char *port, const char *token)
{
	static const char k_gs2[] = "n,a=", k_host[] = ",\001host=", k_port[] = "\001port=",
		k_auth[] = "\001auth=Bearer ", k_end[] = "\001\001", k_nohost[] = ",";
	size_t ulen, hlen = host ? strlen(host) : 0, plen = port ? strlen(port) : 0;
	size_t tlen = strlen(token), len;
	char *buf, *p;

	*out = NULL;
	*out_len = 0;
	if (strlen(user) > SIZE_MAX / 8 || hlen > SIZE_MAX / 8 || tlen > SIZE_MAX / 8)
		return SASL_BADPARAM;
	ulen = escaped_len(user);
	len = (sizeof(k_gs2) - 1) + ulen + (sizeof(k_auth) - 1) + tlen + (sizeof(k_end) - 1);
	if (hlen > 0)
		len += (sizeof(k_host) - 1) + hlen;
	else
		len += sizeof(k_nohost) - 1;
	if (plen > 0)
		len += (sizeof(k_port) - 1) + plen;
	/* host and port are optional key/value pairs (RFC 7628 section 3.1):
	 * without them the GS2 header's ',' is followed by ^Aauth=... */
	buf = malloc(len + 1);
	if (buf == NULL)
		return SASL_NOMEM;
	p = put(buf, k_gs2, sizeof(k_gs2) - 1);
	p = put_escaped(p, user);
	if (hlen > 0) {
		p = put(p, k_host, sizeof(k_host) - 1);
		p = put(p, host, hlen);
	} else {
		p = put(p, k_nohost, sizeof(k_nohost) - 1);
	}
	if (plen > 0) {
		p = put(p, k_port, sizeof(k_port) - 1);
		p = put(p, port, plen);
	}
	p = put(p, k_auth, sizeof(k_auth) - 1);
	p = put(p, token, tlen);
	p = put(p, k_end, sizeof(k_end) - 1);
	*p = '\0';
	*out = buf;
	*out_len = len;
	return SASL_OK;
}
