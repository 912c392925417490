/*
 * fuzz_state.c - fuzz target for the JSON state parser. Invariant: a parsed
 * state emits JSON that parses back and emits byte-identically.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tokenstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ts_state *s = NULL, *s2 = NULL;
	char *t1 = NULL, *t2 = NULL;
	ts_error e;

	memset(&e, 0, sizeof(e));
	if (ts_state_parse(&s, (const char *)data, size, "fuzz.state", &e) != TS_OK) {
		if (s != NULL || strncmp(e.msg, "fuzz.state", 10) != 0)
			abort();
		return 0;
	}
	if (ts_state_emit(&t1, s, &e) != TS_OK)
		abort();
	if (ts_state_parse(&s2, t1, strlen(t1), "emitted", &e) != TS_OK)
		abort();
	if (ts_state_emit(&t2, s2, &e) != TS_OK || strcmp(t1, t2) != 0)
		abort();
	ts_free_secret(t1);
	ts_free_secret(t2);
	ts_state_free(s);
	ts_state_free(s2);
	return 0;
}
