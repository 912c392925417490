/*
 * fuzz_driver.h - the standalone driver of the fuzz targets in tests/fuzz.
 *
 * Built with -fsanitize=fuzzer and -DFUZZ_LIBFUZZER (tools/fuzz, `make
 * fuzz`) a target is only its LLVMFuzzerTestOneInput. Otherwise this main()
 * replays inputs as TAP cases, one per file, so the committed corpus runs in
 * `make check` (and under the sanitizers in a --enable-sanitizers build):
 * with no arguments every file of $top_srcdir/FUZZ_CORPUS, else the files
 * (or directories) named. Each input is handed over in an allocation of its
 * exact size so that ASan sees a read past its end. Targets abort() when an
 * invariant breaks; returning 0 is a pass.
 */
#ifndef TESTS_FUZZ_DRIVER_H
#define TESTS_FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef FUZZ_LIBFUZZER
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tap.h"

/* Inputs larger than this are a mistake in the corpus, not a test. */
#define FUZZ_REPLAY_MAX (1024 * 1024)

static void fuzz_replay_file(const char *path, const char *label)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = malloc(FUZZ_REPLAY_MAX + 1), *exact;
	size_t n = 0;

	if (f == NULL || buf == NULL) {
		tap_ok(0, "%s: cannot read", label);
		goto cleanup;
	}
	n = fread(buf, 1, FUZZ_REPLAY_MAX + 1, f);
	if (ferror(f) || n > FUZZ_REPLAY_MAX) {
		tap_ok(0, "%s: unreadable or over %d bytes", label, FUZZ_REPLAY_MAX);
		goto cleanup;
	}
	exact = malloc(n ? n : 1);
	if (exact == NULL) {
		tap_ok(0, "%s: out of memory", label);
		goto cleanup;
	}
	memcpy(exact, buf, n);
	tap_ok(LLVMFuzzerTestOneInput(exact, n) == 0, "%s (%zu bytes)", label, n);
	free(exact);
cleanup:
	free(buf);
	if (f != NULL)
		fclose(f);
}

static int fuzz_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replay every file of `dir` in name order; returns how many there were. */
static size_t fuzz_replay_dir(const char *dir)
{
	char *names[256], path[4096];
	size_t n = 0, i;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL) {
		tap_ok(0, "open corpus %s", dir);
		return 0;
	}
	while ((de = readdir(d)) != NULL && n < sizeof(names) / sizeof(names[0]))
		if (de->d_name[0] != '.' && (names[n] = strdup(de->d_name)) != NULL)
			n++;
	closedir(d);
	qsort(names, n, sizeof(names[0]), fuzz_name_cmp);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		fuzz_replay_file(path, names[i]);
		free(names[i]);
	}
	return n;
}

int main(int argc, char **argv)
{
	const char *top = getenv("top_srcdir");
	char dir[4096];
	struct stat st;
	size_t n;

	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
				fuzz_replay_dir(argv[i]);
			else
				fuzz_replay_file(argv[i], argv[i]);
		}
		return tap_done();
	}
	snprintf(dir, sizeof(dir), "%s/%s", top ? top : "../..", FUZZ_CORPUS);
	n = fuzz_replay_dir(dir);
	tap_ok(n >= 10, "corpus %s has %zu inputs", FUZZ_CORPUS, n);
	return tap_done();
}
#endif /* FUZZ_LIBFUZZER */
#endif /* TESTS_FUZZ_DRIVER_H */
