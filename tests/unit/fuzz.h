/*
 * fuzz.h - the standalone driver of the fuzz targets. Under libFuzzer
 * (compile with -DTS_LIBFUZZER -fsanitize=fuzzer) only
 * LLVMFuzzerTestOneInput is used; otherwise main() replays every file of
 * the committed corpus $top_srcdir/tests/unit/corpus/FUZZ_CORPUS as one TAP
 * case each, so the corpus runs in `make check` (under the sanitizers too).
 * The targets abort() when an invariant breaks.
 */
#ifndef TESTS_UNIT_FUZZ_H
#define TESTS_UNIT_FUZZ_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef TS_LIBFUZZER
#include "tap.h"

static int fuzz_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	const char *top = getenv("top_srcdir");
	char dir[1024], path[2048];
	char *names[512];
	size_t n = 0, i;
	struct dirent *de;
	DIR *d;

	if (argc > 1)
		snprintf(dir, sizeof(dir), "%s", argv[1]);
	else
		snprintf(dir, sizeof(dir), "%s/tests/unit/corpus/%s", top ? top : "../..", FUZZ_CORPUS);
	if ((d = opendir(dir)) == NULL) {
		tap_ok(0, "open corpus %s", dir);
		return tap_done();
	}
	while ((de = readdir(d)) != NULL && n < sizeof(names) / sizeof(names[0]))
		if (de->d_name[0] != '.')
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), fuzz_cmp);
	tap_ok(n >= 5, "corpus %s has %zu inputs", FUZZ_CORPUS, n);
	for (i = 0; i < n; i++) {
		FILE *f;
		uint8_t *buf;
		long len;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		f = fopen(path, "rb");
		if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
			tap_ok(0, "read %s", names[i]);
			if (f)
				fclose(f);
			continue;
		}
		buf = malloc((size_t)len + 1);
		if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
			tap_ok(0, "read %s", names[i]);
		} else {
			/* Exact-size copy so ASan catches reads past the end. */
			uint8_t *exact = malloc(len ? (size_t)len : 1);

			memcpy(exact, buf, (size_t)len);
			tap_ok(LLVMFuzzerTestOneInput(exact, (size_t)len) == 0, "%s/%s", FUZZ_CORPUS, names[i]);
			free(exact);
		}
		free(buf);
		fclose(f);
		free(names[i]);
	}
	return tap_done();
}
#endif
#endif
