/*
 * validate.c - checks of single field values, shared by the YAML parser
 * (which adds FILE:LINE:COL) and ts_token_config_set() (which does not),
 * and ts_url_check().
 *
 * Each validator returns 0, or -1 with "reason; fix" in `why`.
 */
#include <config.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ts_p.h"

static bool printable_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

int ts_check_tenant(const char *s, char *why, size_t whylen)
{
	const char *p;

	if (*s == '\0') {
		snprintf(why, whylen, "is empty; give the tenant id or domain");
		return -1;
	}
	if (strlen(s) > 253) {
		snprintf(why, whylen, "is longer than 253 characters; give the tenant id or domain");
		return -1;
	}
	for (p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (!isalnum(c) && c != '.' && c != '-') {
			if (c > 0x20 && c < 0x7f)
				snprintf(why, whylen,
					 "contains '%c'; a tenant uses only letters, digits, '.' and '-'", c);
			else
				snprintf(why, whylen,
					 "contains a space or control character; a tenant uses only letters, digits, '.' and '-'");
			return -1;
		}
	}
	return 0;
}

/* Host name or IP literal; [v6] allowed when `brackets`. */
static int check_host(const char *h, size_t len, char *why, size_t whylen)
{
	size_t i;

	if (len == 0) {
		snprintf(why, whylen, "has an empty host name");
		return -1;
	}
	if (h[0] == '[') {
		if (len < 3 || h[len - 1] != ']') {
			snprintf(why, whylen, "has a malformed IPv6 literal; write it as [::1]");
			return -1;
		}
		for (i = 1; i + 1 < len; i++) {
			if (!isxdigit((unsigned char)h[i]) && h[i] != ':' && h[i] != '.') {
				snprintf(why, whylen, "has a malformed IPv6 literal; write it as [::1]");
				return -1;
			}
		}
		return 0;
	}
	if (len > 253) {
		snprintf(why, whylen, "has a host name longer than 253 characters");
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)h[i];

		if (!isalnum(c) && c != '.' && c != '-' && c != '_') {
			snprintf(why, whylen,
				 "has an invalid character in the host name; use letters, digits, '.' and '-'");
			return -1;
		}
	}
	return 0;
}

static int check_port(const char *p, size_t len, char *why, size_t whylen)
{
	long v = 0;
	size_t i;

	if (len == 0 || len > 5) {
		snprintf(why, whylen, "has an invalid port; give a number from 1 to 65535");
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)p[i])) {
			snprintf(why, whylen, "has an invalid port; give a number from 1 to 65535");
			return -1;
		}
		v = v * 10 + (p[i] - '0');
	}
	if (v < 1 || v > 65535) {
		snprintf(why, whylen, "has port %ld; give a number from 1 to 65535", v);
		return -1;
	}
	return 0;
}

int ts_check_hostport(const char *s, char *why, size_t whylen)
{
	const char *colon;

	if (!printable_ascii(s) || *s == '\0') {
		snprintf(why, whylen, "is not a host:port; write it like imap.example.com:993");
		return -1;
	}
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL || end[1] != ':') {
			snprintf(why, whylen, "is not a host:port; write it like [::1]:993");
			return -1;
		}
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL) {
			snprintf(why, whylen, "is not a host:port; write it like imap.example.com:993");
			return -1;
		}
	}
	if (check_host(s, (size_t)(colon - s), why, whylen) != 0)
		return -1;
	return check_port(colon + 1, strlen(colon + 1), why, whylen);
}

int ts_check_hostpattern(const char *s, char *why, size_t whylen)
{
	const char *h = s;

	if (!printable_ascii(s) || *s == '\0') {
		snprintf(why, whylen, "is not a host name; give a host name, an IP address or *.domain");
		return -1;
	}
	if (h[0] == '*' && h[1] == '.')
		h += 2;
	if (strchr(h, '*') != NULL) {
		snprintf(why, whylen, "uses '*' other than as a leading '*.'; write it like *.example.com");
		return -1;
	}
	if (strchr(h, ':') != NULL) {
		/* IPv6 literal, matched as the client passes it. */
		for (; *h != '\0'; h++)
			if (!isxdigit((unsigned char)*h) && *h != ':' && *h != '.') {
				snprintf(why, whylen, "is not a host name or an IP address");
				return -1;
			}
		return 0;
	}
	return check_host(h, strlen(h), why, whylen);
}

int ts_check_mailbox_pattern(const char *s, char *why, size_t whylen)
{
	const char *at = strrchr(s, '@');

	if (!printable_ascii(s) || at == NULL || at[1] == '\0' || at == s ||
	    strchr(s, '@') != at) {
		snprintf(why, whylen, "'%.200s' is not a mailbox; give an address like "
			 "user@example.com, or *@example.com for every mailbox of a domain", s);
		return -1;
	}
	if (strchr(s, '*') != NULL && !(s[0] == '*' && s + 1 == at)) {
		snprintf(why, whylen, "'%.200s' uses '*' other than as '*@domain'; write it like "
			 "*@example.com", s);
		return -1;
	}
	return 0;
}

int ts_check_hostpattern_list(const ts_strlist *l, char *why, size_t whylen)
{
	char sub[256];
	size_t i;

	for (i = 0; i < l->n; i++)
		if (ts_check_hostpattern(l->v[i], sub, sizeof(sub)) != 0) {
			snprintf(why, whylen, "'%.100s' %s", l->v[i], sub);
			return -1;
		}
	return 0;
}

int ts_check_mailbox_list(const ts_strlist *l, char *why, size_t whylen)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (ts_check_mailbox_pattern(l->v[i], why, whylen) != 0)
			return -1;
	return 0;
}

int ts_check_abspath(const char *s, char *why, size_t whylen)
{
	if (s[0] != '/') {
		snprintf(why, whylen, "'%.200s' is not an absolute path; give the full path starting with /", s);
		return -1;
	}
	if (strlen(s) >= 4096) {
		snprintf(why, whylen, "the path is too long");
		return -1;
	}
	return 0;
}

bool ts_text_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int ts_check_text(const char *s, char *why, size_t whylen)
{
	if (!ts_text_ok(s)) {
		snprintf(why, whylen, "contains a control character; remove it");
		return -1;
	}
	return 0;
}

static bool b64token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

bool ts_b64token_ok(const char *s)
{
	const char *p = s;

	while (b64token_char(*p))
		p++;
	if (p == s)
		return false;
	while (*p == '=')
		p++;
	return *p == '\0';
}

bool ts_token_chars_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

int ts_check_param_name(const char *s, char *why, size_t whylen)
{
	const char *p;

	if (*s == '\0') {
		snprintf(why, whylen, "has an empty parameter name");
		return -1;
	}
	for (p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (!isalnum(c) && c != '_' && c != '-' && c != '.') {
			snprintf(why, whylen,
				 "parameter name '%.64s' is invalid; use letters, digits, '_', '-' and '.'", s);
			return -1;
		}
	}
	return 0;
}

/* The core URL check; `allow_tenant` lets "{tenant}" stand in the host or path. */
static int url_check(const char *url, bool allow_tenant, char *why, size_t whylen)
{
	const char *p, *auth, *auth_end, *host, *host_end;
	bool https;
	char tmp[1024];

	if (url == NULL || *url == '\0') {
		snprintf(why, whylen, "is empty; give an https:// URL");
		return -1;
	}
	if (strlen(url) >= sizeof(tmp)) {
		snprintf(why, whylen, "is longer than %zu characters", sizeof(tmp) - 1);
		return -1;
	}
	if (allow_tenant) {
		/* Substitute a neutral tenant so that the rest of the check applies. */
		size_t o = 0;

		for (p = url; *p != '\0' && o + 1 < sizeof(tmp);) {
			if (strncmp(p, "{tenant}", 8) == 0) {
				if (o + 6 >= sizeof(tmp))
					break;
				memcpy(tmp + o, "tenant", 6);
				o += 6;
				p += 8;
			} else {
				tmp[o++] = *p++;
			}
		}
		tmp[o] = '\0';
		url = tmp;
	}
	for (p = url; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' ||
		    c == '^' || c == '`' || c == '{' || c == '|' || c == '}') {
			snprintf(why, whylen,
				 "'%.200s' contains a space or a character not allowed in a URL; percent-encode it",
				 url);
			return -1;
		}
	}
	if (strncasecmp(url, "https://", 8) == 0) {
		https = true;
		auth = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		https = false;
		auth = url + 7;
	} else {
		snprintf(why, whylen, "'%.200s' is not an absolute https:// URL; give the full https:// URL", url);
		return -1;
	}
	auth_end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(auth_end - auth)) != NULL) {
		snprintf(why, whylen, "'%.200s' contains user information; remove the part before '@'", url);
		return -1;
	}
	host = auth;
	if (*host == '[') {
		const char *rb = memchr(host, ']', (size_t)(auth_end - host));

		if (rb == NULL) {
			snprintf(why, whylen, "'%.200s' has a malformed IPv6 literal", url);
			return -1;
		}
		host_end = rb + 1;
	} else {
		host_end = memchr(host, ':', (size_t)(auth_end - host));
		if (host_end == NULL)
			host_end = auth_end;
	}
	if (check_host(host, (size_t)(host_end - host), why, whylen) != 0)
		return -1;
	if (host_end < auth_end) {
		if (*host_end != ':' || check_port(host_end + 1, (size_t)(auth_end - host_end - 1), why, whylen) != 0) {
			if (*host_end != ':')
				snprintf(why, whylen, "'%.200s' has garbage after the host name", url);
			return -1;
		}
	}
	if (!https) {
		size_t hl = (size_t)(host_end - host);

		if (!((hl == 9 && strncmp(host, "127.0.0.1", 9) == 0) ||
		      (hl == 5 && strncmp(host, "[::1]", 5) == 0) ||
		      (hl == 9 && strncasecmp(host, "localhost", 9) == 0))) {
			snprintf(why, whylen,
				 "'%.200s' uses http:// to a host that is not the loopback; use https:// (http is only for 127.0.0.1, ::1 and localhost)",
				 url);
			return -1;
		}
	}
	return 0;
}

int ts_check_url_field(const char *s, bool allow_tenant, char *why, size_t whylen)
{
	return url_check(s, allow_tenant, why, whylen);
}

int ts_url_check(const char *url, const char *what, ts_error *err)
{
	char why[512];

	if (url_check(url, false, why, sizeof(why)) != 0)
		return ts_error_set(err, TS_EINVAL, "%s %s", what ? what : "URL", why);
	return TS_OK;
}
