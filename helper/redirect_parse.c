/*
 * redirect_parse.c - what `authorize` makes of the authorization redirect:
 * the request line of an HTTP request on the loopback listener or a pasted
 * URL, the percent-decoded query, and the verdict on state, code and
 * error. No I/O here: loopback.c does the sockets and stdin, and
 * tests/fuzz/fuzz_redirect.c feeds these functions arbitrary bytes.
 *
 * Everything is bounded by the length passed in; nothing relies on a
 * terminating NUL, but a NUL byte ends the input as it would a C string
 * (what the listener did before this was split out).
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redirect_parse.h"

void cli_redirect_params_clear(cli_redirect_params *rp)
{
	ts_free_secret(rp->code);
	free(rp->state);
	free(rp->error);
	free(rp->error_description);
	memset(rp, 0, sizeof *rp);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode `n` bytes of `s` into a new string ('+' is a space). A
 * '%' not followed by two hex digits stays as it is. */
static char *url_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%' && i + 2 < n &&
			   hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

/* The first byte of [p, end) that is one of `set`, or end. */
static const char *span_to(const char *p, const char *end, const char *set)
{
	while (p < end && strchr(set, *p) == NULL)
		p++;
	return p;
}

/* Parse "a=b&c=d" in [q, end), stopping early at '#' or whitespace. A
 * repeated parameter replaces the earlier one. Returns the number of known
 * parameters found, -1 on allocation failure. */
static int parse_query(cli_redirect_params *rp, const char *q, const char *end)
{
	int found = 0;

	while (q < end && *q != '#' && *q != ' ' && *q != '\r' && *q != '\n') {
		const char *seg_end = span_to(q, end, "&# \r\n");
		size_t n = (size_t)(seg_end - q);
		const char *eq = memchr(q, '=', n);
		size_t kl = eq ? (size_t)(eq - q) : n;
		char **slot = NULL;

		if (kl == 4 && strncmp(q, "code", 4) == 0)
			slot = &rp->code;
		else if (kl == 5 && strncmp(q, "state", 5) == 0)
			slot = &rp->state;
		else if (kl == 5 && strncmp(q, "error", 5) == 0)
			slot = &rp->error;
		else if (kl == 17 && strncmp(q, "error_description", 17) == 0)
			slot = &rp->error_description;
		if (slot && eq) {
			char *v = url_decode(eq + 1, n - kl - 1);

			if (!v)
				return -1;
			if (*slot)
				ts_free_secret(*slot);
			*slot = v;
			found++;
		}
		q = seg_end;
		if (q < end && *q == '&')
			q++;
	}
	return found;
}

cli_request_kind cli_redirect_parse_request(cli_redirect_params *out, const char *buf,
					    size_t len, const char *path)
{
	const char *end = buf + strnlen(buf, len);
	const char *sp1, *target, *sp2, *q;
	size_t plen;
	int found;

	memset(out, 0, sizeof *out);
	/* The first space anywhere ends the method, as in "GET / HTTP/1.1". */
	sp1 = memchr(buf, ' ', (size_t)(end - buf));
	if (!sp1)
		return CLI_REQ_NO_METHOD;
	if (sp1 - buf != 3 || strncmp(buf, "GET", 3) != 0)
		return CLI_REQ_METHOD;
	target = sp1 + 1;
	sp2 = span_to(target, end, " \r\n");
	if (sp2 == end)
		return CLI_REQ_BAD;
	q = memchr(target, '?', (size_t)(sp2 - target));
	plen = (size_t)((q ? q : sp2) - target);
	if (plen != strlen(path) || strncmp(target, path, plen) != 0)
		return CLI_REQ_NOT_FOUND;
	found = q ? parse_query(out, q + 1, sp2) : 0;
	if (found <= 0) {
		cli_redirect_params_clear(out);
		return found < 0 ? CLI_REQ_NOMEM : CLI_REQ_NO_PARAMS;
	}
	return CLI_REQ_REDIRECT;
}

int cli_redirect_parse_paste(cli_redirect_params *out, const char *line, size_t len)
{
	const char *end = line + strnlen(line, len);
	const char *q = memchr(line, '?', (size_t)(end - line));
	int found;

	memset(out, 0, sizeof *out);
	while (line < end && (*line == ' ' || *line == '\t'))
		line++;
	found = parse_query(out, q ? q + 1 : line, end);
	if (found <= 0)
		cli_redirect_params_clear(out);
	return found;
}

static bool str_eq_ct(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char d = la != lb;

	for (i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

bool cli_redirect_state_ok(const cli_redirect_params *rp, const char *state)
{
	return rp->state && str_eq_ct(rp->state, state);
}

/* Printable, bounded copy of provider text for messages. */
static void clean_text(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	for (; src && *src && i + 1 < size; src++)
		dst[i++] = ((unsigned char)*src < 0x20 || *src == 0x7f) ? ' ' : *src;
	dst[i] = '\0';
}

int cli_redirect_judge(char **out, cli_redirect_params *rp, const char *state, char *page,
		       size_t psize, ts_error *err)
{
	char e[128], d[256];

	if (!cli_redirect_state_ok(rp, state)) {
		snprintf(page, psize, "sasl-oauth2: authorization failed: the state parameter does not match "
			 "this request. Nothing was stored; run sasl-oauth2 authorize again.\n");
		return ts_error_set(err, TS_EINVAL, "the redirect's state does not match this authorization "
				    "request (a stale or forged redirect); nothing stored; run authorize again");
	}
	if (rp->error) {
		clean_text(e, sizeof e, rp->error);
		clean_text(d, sizeof d, rp->error_description);
		if (strcmp(rp->error, "access_denied") == 0) {
			snprintf(page, psize, "sasl-oauth2: authorization was denied. Nothing was stored.\n");
			return ts_error_set(err, TS_EDENIED, "authorization denied at the provider (access_denied%s%s); "
					    "nothing stored; run authorize again and grant access",
					    d[0] ? ": " : "", d);
		}
		snprintf(page, psize, "sasl-oauth2: authorization failed: %s. Nothing was stored.\n", e);
		return ts_error_set(err, TS_EINVAL, "the provider refused the authorization (%s%s%s); "
				    "check the token's client_id, scope and redirect_uri", e, d[0] ? ": " : "", d);
	}
	if (!rp->code || !*rp->code) {
		snprintf(page, psize, "sasl-oauth2: authorization failed: the redirect carries no code.\n");
		return ts_error_set(err, TS_EINVAL, "the redirect carries no authorization code; run authorize again");
	}
	snprintf(page, psize, "sasl-oauth2: authorization received. You can close this window; "
		 "the terminal shows the result.\n");
	*out = rp->code;
	rp->code = NULL;
	return TS_OK;
}
