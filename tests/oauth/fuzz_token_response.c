/*
 * fuzz_token_response.c - fuzz target for the token endpoint and device
 * authorization answer parsers, and for the error-body classifier of the
 * other endpoints (oa2_error_parse, used for revocation).
 *
 * Input: an optional first line "NNN\n" giving the HTTP status (default
 * 200), then the body. Built with -fsanitize=fuzzer (define
 * OA2_LIBFUZZER) it is a libFuzzer target; otherwise its main() replays
 * the files given as arguments, or every file of
 * $top_srcdir/tests/oauth/corpus, as TAP test cases for `make check`.
 */
#include <config.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauth_http_p.h"
#include "../tap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	long status = 200;
	const char *body = (const char *)data;
	char *copy;
	oa2_token_response *r = NULL;
	oa2_device_auth *d = NULL;
	oa2_oauth_error oe;
	ts_error err;
	int rc;

	if (size >= 4 && data[3] == '\n' && data[0] >= '1' && data[0] <= '5' &&
	    data[1] >= '0' && data[1] <= '9' && data[2] >= '0' && data[2] <= '9') {
		status = (data[0] - '0') * 100 + (data[1] - '0') * 10 + (data[2] - '0');
		body += 4;
		size -= 4;
	}
	/* An exact-size copy so that ASan sees any read past the end. */
	copy = malloc(size ? size : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, body, size);

	for (unsigned flags = 0; flags <= (OA2_PARSE_DEVICE | OA2_PARSE_SALVAGE); flags++) {
		rc = oa2_token_response_parse(&r, &oe, status, "application/json", copy, size,
					      "fuzz", "fuzz.example", flags, &err);
		if (rc == TS_OK && (r == NULL || r->access_token == NULL || r->token_type == NULL))
			abort();
		/* A failure hands back at most a salvaged refresh token. */
		if (rc != TS_OK && r != NULL &&
		    (!(flags & OA2_PARSE_SALVAGE) || r->access_token != NULL ||
		     r->refresh_token == NULL || r->refresh_token[0] == '\0'))
			abort();
		/* A failure has a one-line, terminated message. */
		if (rc < 0 && (strnlen(err.msg, sizeof(err.msg)) == sizeof(err.msg) ||
			       err.msg[0] == '\0' || strchr(err.msg, '\n') != NULL))
			abort();
		oa2_token_response_free(r);
		r = NULL;
	}
	rc = oa2_device_auth_parse(&d, &oe, status, NULL, copy, size, "fuzz", "fuzz.example", &err);
	if ((rc == TS_OK) != (d != NULL))
		abort();
	/* Never a success; the OAuth error code is printable and terminated. */
	rc = oa2_error_parse(&oe, status, "text/html", copy, size, "fuzz", "revocation endpoint",
			     "fuzz.example", &err);
	if (rc >= 0 || err.code != rc || err.msg[0] == '\0' || strchr(err.msg, '\n') != NULL ||
	    strnlen(oe.code, sizeof(oe.code)) == sizeof(oe.code) || oe.http_status != status)
		abort();
	for (const char *p = oe.code; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			abort();
	oa2_device_auth_free(d);
	free(copy);
	return 0;
}

#ifndef OA2_LIBFUZZER
static int replay(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL)
		return tap_ok(0, "%s: cannot open", path);
	buf = malloc(OA2_MAX_RESPONSE + 8);
	if (buf == NULL) {
		fclose(f);
		return tap_ok(0, "%s: out of memory", path);
	}
	n = fread(buf, 1, OA2_MAX_RESPONSE + 8, f);
	fclose(f);
	LLVMFuzzerTestOneInput((const uint8_t *)buf, n);
	free(buf);
	return tap_ok(1, "replayed %s (%zu bytes)", path, n);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	const char *top = getenv("top_srcdir");
	char dir[4096], path[4352];
	char *names[1024];
	size_t n = 0;
	struct dirent *e;
	DIR *dp;

	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			replay(argv[i]);
		return tap_done();
	}
	snprintf(dir, sizeof(dir), "%s/tests/oauth/corpus", top ? top : ".");
	dp = opendir(dir);
	if (!tap_ok(dp != NULL, "corpus directory %s", dir))
		return tap_done();
	while ((e = readdir(dp)) != NULL && n < sizeof(names) / sizeof(names[0]))
		if (e->d_name[0] != '.')
			names[n++] = strdup(e->d_name);
	closedir(dp);
	qsort(names, n, sizeof(names[0]), cmp);
	tap_ok(n >= 10, "corpus has %zu inputs", n);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		replay(path);
		free(names[i]);
	}
	return tap_done();
}
#endif
