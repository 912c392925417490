/*
 * wipe_alloc.c - an allocator that wipes every block before freeing it,
 * for libraries that accept one (libcurl through curl_global_init_mem).
 *
 * free() is not told the size of the block, so each block carries it in a
 * header in front of what the caller gets: the header is as large as the
 * strictest alignment malloc guarantees, so the caller's pointer keeps
 * that alignment. Only for programs that own their process (the helper):
 * the plugin must not hand its functions to the host's libraries.
 */
#include <config.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oauth.h"

#define HDR (sizeof(size_t) > _Alignof(max_align_t) ? sizeof(size_t) : _Alignof(max_align_t))

static unsigned char *block_of(void *p)
{
	return (unsigned char *)p - HDR;
}

static size_t size_of(void *p)
{
	size_t n;

	memcpy(&n, block_of(p), sizeof(n));
	return n;
}

void *ts_wipe_malloc(size_t n)
{
	unsigned char *b;

	if (n > SIZE_MAX - HDR || (b = malloc(n + HDR)) == NULL)
		return NULL;
	memcpy(b, &n, sizeof(n));
	return b + HDR;
}

void ts_wipe_free(void *p)
{
	if (p == NULL)
		return;
	ts_wipe(block_of(p), size_of(p) + HDR);
	free(block_of(p));
}

/* Always moves: an in-place realloc could leave the old tail unwiped. */
void *ts_wipe_realloc(void *p, size_t n)
{
	void *q;
	size_t old;

	if (p == NULL)
		return ts_wipe_malloc(n);
	if ((q = ts_wipe_malloc(n)) == NULL)
		return NULL;
	old = size_of(p);
	memcpy(q, p, old < n ? old : n);
	ts_wipe_free(p);
	return q;
}

void *ts_wipe_calloc(size_t k, size_t n)
{
	void *p;

	if (n != 0 && k > SIZE_MAX / n)
		return NULL;
	if ((p = ts_wipe_malloc(k * n)) != NULL)
		memset(p, 0, k * n);
	return p;
}

char *ts_wipe_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = ts_wipe_malloc(n);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}
