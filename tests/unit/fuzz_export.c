/*
 * fuzz_export.c - fuzz target for export documents. Invariants: a parsed
 * document emits (with secrets) YAML that parses to the same number of
 * entries and emits identically; names are unique.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tokenstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ts_export *x = NULL, *y = NULL;
	char *t1 = NULL, *t2 = NULL;
	ts_error e;
	size_t i, j;

	memset(&e, 0, sizeof(e));
	if (ts_export_parse(&x, (const char *)data, size, "fuzz.yaml", &e) != TS_OK) {
		if (x != NULL || strncmp(e.msg, "fuzz.yaml", 9) != 0)
			abort();
		return 0;
	}
	for (i = 0; i < x->n; i++)
		for (j = i + 1; j < x->n; j++)
			if (strcmp(x->v[i].config->name, x->v[j].config->name) == 0)
				abort();
	if (ts_export_emit(&t1, x, true, &e) != TS_OK)
		abort();
	if (ts_export_parse(&y, t1, strlen(t1), "emitted", &e) != TS_OK || y->n != x->n)
		abort();
	if (ts_export_emit(&t2, y, true, &e) != TS_OK || strcmp(t1, t2) != 0)
		abort();
	ts_free_secret(t1);
	ts_free_secret(t2);
	ts_export_free(x);
	ts_export_free(y);
	return 0;
}
