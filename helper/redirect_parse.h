/*
 * redirect_parse.h - parsing of the authorization redirect (RFC 6749 4.1.2)
 * as it reaches `authorize`: an HTTP request head on the loopback listener,
 * or the redirected URL pasted on stdin. Pure functions (bytes in, result
 * out, no I/O) so that loopback.c and the fuzz target share them.
 */
#ifndef HELPER_REDIRECT_PARSE_H
#define HELPER_REDIRECT_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "tokenstore.h"

/* The known parameters of a redirect's query, percent-decoded. */
typedef struct cli_redirect_params {
	char *code;                 /* secret */
	char *state;
	char *error;
	char *error_description;
} cli_redirect_params;

/* Wipe the code, free everything; the struct is zeroed afterwards. */
void cli_redirect_params_clear(cli_redirect_params *rp);

/* What a request head on the listener is. */
typedef enum cli_request_kind {
	CLI_REQ_REDIRECT = 0,       /* *out holds the redirect's parameters */
	CLI_REQ_NOMEM,              /* allocation failed */
	CLI_REQ_NO_METHOD,          /* no request line at all: 400 */
	CLI_REQ_METHOD,             /* a method other than GET: 405 */
	CLI_REQ_BAD,                /* the target is not terminated: 400 */
	CLI_REQ_NOT_FOUND,          /* another path (e.g. /favicon.ico): 404 */
	CLI_REQ_NO_PARAMS,          /* the path, but no code, state or error: 400 */
} cli_request_kind;

/*
 * Parse the request head in (buf, len) (a NUL byte ends it early) that
 * arrived at the listener whose redirect path is `path`. Only the request
 * line matters: "GET <path>?<query> HTTP/1.1". Returns CLI_REQ_REDIRECT
 * with *out filled (clear it with cli_redirect_params_clear), or another
 * kind with *out empty.
 */
cli_request_kind cli_redirect_parse_request(cli_redirect_params *out, const char *buf,
					    size_t len, const char *path);

/*
 * Parse one pasted line (without its newline; a NUL byte ends it early):
 * the whole redirected URL, or just its query. Returns the number of known
 * parameters found (0: not a redirect, *out empty), -1 when allocation
 * failed.
 */
int cli_redirect_parse_paste(cli_redirect_params *out, const char *line, size_t len);

/*
 * Whether the redirect carries the `state` this request sent (compared in
 * constant time). A redirect without it is a stale browser tab or a forgery
 * by another local process or web page: the listener answers it with 400
 * and keeps waiting for the real one.
 */
bool cli_redirect_state_ok(const cli_redirect_params *rp, const char *state);

/*
 * Judge a parsed redirect against the `state` this request sent (compared
 * in constant time). TS_OK moves the code to *out (free with
 * ts_free_secret); TS_EDENIED for access_denied; TS_EINVAL for a wrong
 * state, another provider error or a missing code. `page` (psize bytes)
 * receives one line of text for the browser; provider text in it and in
 * err is cleared of control characters.
 */
int cli_redirect_judge(char **out, cli_redirect_params *rp, const char *state, char *page,
		       size_t psize, ts_error *err);

#endif /* HELPER_REDIRECT_PARSE_H */
