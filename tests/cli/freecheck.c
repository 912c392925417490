/*
 * freecheck.c - linked into a test build of the helper
 * (tests/cli/sasl-oauth2-freecheck): it interposes free() and counts, per
 * library that called free, the freed blocks that still hold one of the
 * strings in FREECHECK_MARKERS (separated by '|'). At exit it writes
 * "LIBRARY COUNT" lines to FREECHECK_OUT. tests/cli/test_secret_memory.sh
 * checks that libcurl frees no secret unwiped (security review finding 9).
 * Not built into sanitizer runs' checks: ASan owns free() there.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef __SANITIZE_ADDRESS__
extern void __libc_free(void *p);

static const char *libs[] = { "libcurl", "libjson-c", "libyaml", "libssl", "libcrypto",
			      "sasl-oauth2", "other" };
#define NLIBS (sizeof(libs) / sizeof(libs[0]))
static unsigned long counts[NLIBS];
static int busy;

static int lib_index(const void *caller)
{
	Dl_info info;
	size_t i;

	if (dladdr(caller, &info) == 0 || info.dli_fname == NULL)
		return (int)NLIBS - 1;
	for (i = 0; i + 1 < NLIBS; i++)
		if (strstr(info.dli_fname, libs[i]) != NULL)
			return (int)i;
	return (int)NLIBS - 1;
}

static int holds_marker(const void *p, size_t n)
{
	const char *m = getenv("FREECHECK_MARKERS"), *end;

	for (; m != NULL && *m != '\0'; m = *end ? end + 1 : end) {
		end = strchr(m, '|');
		if (end == NULL)
			end = m + strlen(m);
		if (end > m && memmem(p, n, m, (size_t)(end - m)) != NULL)
			return 1;
	}
	return 0;
}

void free(void *p)
{
	if (p != NULL && !busy) {
		busy = 1;
		if (holds_marker(p, malloc_usable_size(p)))
			counts[lib_index(__builtin_return_address(0))]++;
		busy = 0;
	}
	__libc_free(p);
}

__attribute__((destructor)) static void freecheck_report(void)
{
	const char *out = getenv("FREECHECK_OUT");
	FILE *f;
	size_t i;

	if (out == NULL || (f = fopen(out, "w")) == NULL)
		return;
	busy = 1;
	for (i = 0; i < NLIBS; i++)
		fprintf(f, "%s %lu\n", libs[i], counts[i]);
	fclose(f);
}
#endif
