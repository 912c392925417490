/*
 * fuzz_redirect.c - fuzz target for what reaches `authorize` as the
 * authorization redirect (helper/redirect_parse.c): the input is parsed
 * as an HTTP request head on the loopback listener (for two redirect
 * paths), and each of its lines as a URL pasted with --no-browser; every
 * parsed redirect is then judged against a fixed state.
 *
 * Invariants: a parse that finds nothing leaves nothing allocated; a
 * judged redirect either hands over exactly the parsed code (state
 * matched, no error) or fails with TS_EINVAL / TS_EDENIED and a one-line
 * message; the browser page and the message carry no control characters
 * from the provider.
 */
#include <config.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_driver.h"
#include "redirect_parse.h"

#define FUZZ_STATE "st-4f2a9c"

static bool params_empty(const cli_redirect_params *rp)
{
	return !rp->code && !rp->state && !rp->error && !rp->error_description;
}

/* One line of text: non-empty, no control characters except, when
 * `nl_end`, the newline that ends it. */
static void check_line(const char *s, size_t size, bool nl_end)
{
	size_t n = strnlen(s, size);

	if (n == 0 || n == size)
		abort();
	if (nl_end) {
		if (s[n - 1] != '\n')
			abort();
		n--;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
}

static void judge(cli_redirect_params *rp)
{
	char *code = NULL, *want = NULL;
	bool state_ok = rp->state && strcmp(rp->state, FUZZ_STATE) == 0;
	bool has_error = rp->error != NULL;
	char page[512];
	ts_error err;
	int rc;

	memset(&err, 0, sizeof(err));
	memset(page, 0, sizeof(page));
	if (rp->code && (want = strdup(rp->code)) == NULL)
		goto cleanup;
	rc = cli_redirect_judge(&code, rp, FUZZ_STATE, page, sizeof(page), &err);
	check_line(page, sizeof(page), true);
	if (rc == TS_OK) {
		if (!state_ok || has_error || code == NULL || want == NULL || *code == '\0' ||
		    strcmp(code, want) != 0 || rp->code != NULL)
			abort();
	} else {
		if (code != NULL || (rc != TS_EINVAL && rc != TS_EDENIED) || err.code != rc)
			abort();
		if (rc == TS_EDENIED && (!state_ok || !has_error))
			abort();
		check_line(err.msg, sizeof(err.msg), false);
	}
cleanup:
	ts_free_secret(code);
	ts_free_secret(want);
	cli_redirect_params_clear(rp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = { "/", "/oauth2/callback" };
	const char *buf = (const char *)data, *line, *end = buf + size;
	cli_redirect_params rp;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		cli_request_kind k = cli_redirect_parse_request(&rp, buf, size, paths[i]);

		if (k == CLI_REQ_REDIRECT) {
			if (params_empty(&rp))
				abort();
			judge(&rp);
		} else if (!params_empty(&rp) || (unsigned)k > CLI_REQ_NO_PARAMS) {
			abort();
		}
	}
	/* The listener hands each line of stdin over without its newline. */
	for (line = buf; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
		int found = cli_redirect_parse_paste(&rp, line, n);

		if (found > 0) {
			if (params_empty(&rp))
				abort();
			judge(&rp);
		} else if (!params_empty(&rp)) {
			abort();
		}
		line += n + 1;
	}
	return 0;
}
