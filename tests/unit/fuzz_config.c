/*
 * fuzz_config.c - fuzz target for the YAML parsers of token and global
 * configurations. Invariants: a document that parses emits YAML that parses
 * again to the same emitted text; a refused one leaves *out NULL and a
 * one-line message with the origin.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tokenstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ts_token_config *c = NULL, *c2 = NULL;
	ts_global_config *g = NULL;
	char *t1 = NULL, *t2 = NULL;
	ts_error e;
	int rc;

	memset(&e, 0, sizeof(e));
	rc = ts_token_config_parse(&c, (const char *)data, size, "fuzz.yaml", &e);
	if (rc != TS_OK) {
		if (c != NULL || strncmp(e.msg, "fuzz.yaml", 9) != 0 || strchr(e.msg, '\n'))
			abort();
	} else {
		if (ts_token_config_emit(&t1, c, true, &e) != TS_OK)
			abort();
		if (ts_token_config_parse(&c2, t1, strlen(t1), "emitted", &e) != TS_OK)
			abort();
		if (ts_token_config_emit(&t2, c2, true, &e) != TS_OK || strcmp(t1, t2) != 0)
			abort();
	}
	ts_free_secret(t1);
	ts_free_secret(t2);
	ts_token_config_free(c);
	ts_token_config_free(c2);

	rc = ts_global_config_parse(&g, (const char *)data, size, "fuzz.conf", &e);
	if (rc != TS_OK && g != NULL)
		abort();
	if (rc == TS_OK && (g->http_timeout < 1 || g->http_timeout > 300 || g->refresh_margin < 0))
		abort();
	ts_global_config_free(g);
	return 0;
}
