/* test_state.c - the JSON state: round trip, truncation, malformed input, types. */
#include <config.h>

#include "unit.h"

int main(void)
{
	static const struct {
		const char *doc, *want;
	} bad[] = {
		{ "", "truncated" },
		{ "{", "truncated" },
		{ "{\"access_token\": \"at-1\", \"expires_at\": 17", "truncated" },
		{ "{\"access_token\": \"at-1\"", "truncated" },
		{ "[]", "JSON object" },
		{ "null", "JSON object" },
		{ "{\"access_token\": 5}", "'access_token' must be a string" },
		{ "{\"expires_at\": \"soon\"}", "'expires_at' must be an integer" },
		{ "{\"expires_at\": 1.5}", "'expires_at' must be an integer" },
		{ "{\"expires_at\": -3}", "'expires_at' must not be negative" },
		{ "{\"refresh_token_dead\": 1}", "'refresh_token_dead' must be true or false" },
		{ "{\"notified\": 99}", "'notified'" },
		{ "{\"scope\": {}}", "'scope' must be a string" },
		{ "{} {}", "byte 3" },
		{ "{}\n\n{", "malformed" },
		{ "{\"a\": tru}", "malformed" },
		{ "{\"access_token\": \"a\\u0000b\"}", "NUL" },
	};
	ts_state *s = NULL, *s2 = NULL, *s3 = NULL;
	char *text = NULL, *text2 = NULL;
	ts_error e;
	size_t i;
	int rc;

	ts_state_new(&s, &e);
	s->access_token = strdup("at-abc\"quote");
	s->token_type = strdup("Bearer");
	s->expires_at = 1790000000;
	s->refresh_token = strdup("rt-xyz");
	s->refresh_expires_at = 0;
	s->scope = strdup("a b c");
	s->last_refresh = 1700000000;
	s->last_attempt = 1700000001;
	s->last_error = strdup("refresh failed: HTTP 503");
	s->refresh_token_dead = true;
	s->access_rejected = true;
	s->notified = TS_NOTIFY_REFRESH_FAILED;
	s->generation = 42;
	rc = ts_state_emit(&text, s, &e);
	tap_ok(rc == TS_OK && text != NULL, "state emits");
	rc = ts_state_parse(&s2, text, strlen(text), "x.state", &e);
	if (tap_ok(rc == TS_OK, "emitted state parses")) {
		TAP_STREQ(s2->access_token, "at-abc\"quote", "access_token");
		TAP_STREQ(s2->refresh_token, "rt-xyz", "refresh_token");
		TAP_STREQ(s2->scope, "a b c", "scope");
		TAP_STREQ(s2->last_error, "refresh failed: HTTP 503", "last_error");
		tap_ok(s2->expires_at == 1790000000 && s2->last_refresh == 1700000000 &&
			       s2->last_attempt == 1700000001 && s2->generation == 42,
		       "integers");
		tap_ok(s2->refresh_token_dead && s2->access_rejected && s2->notified == TS_NOTIFY_REFRESH_FAILED,
		       "flags");
		rc = ts_state_emit(&text2, s2, &e);
		tap_ok(rc == TS_OK && strcmp(text, text2) == 0, "round trip is byte-identical");
	} else {
		tap_diag("%s", e.msg);
	}
	rc = ts_state_dup(&s3, s, &e);
	tap_ok(rc == TS_OK && strcmp(s3->refresh_token, "rt-xyz") == 0 && s3->generation == 42, "dup");
	ts_free_secret(text);
	ts_free_secret(text2);
	ts_state_free(s);
	ts_state_free(s2);
	ts_state_free(s3);

	/* Nulls and missing keys are fine; unknown keys are ignored. */
	s = NULL;
	rc = ts_state_parse(&s, "{\"access_token\": null, \"future_key\": [1]}", 41, "x.state", &e);
	tap_ok(rc == TS_OK && s->access_token == NULL && s->generation == 0, "nulls and unknown keys accepted");
	ts_state_free(s);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = NULL;
		memset(&e, 0, sizeof(e));
		rc = ts_state_parse(&s, bad[i].doc, strlen(bad[i].doc),
				    "/store/t.state", &e);
		UNIT_ERR(rc, e, TS_EINVAL, bad[i].want, "/store/t.state", "bad state refused");
		tap_ok(s == NULL, "nothing returned for bad state %zu", i);
		tap_ok(unit_has(e.msg, "authorize") || unit_has(e.msg, "restore"), "message says what to do (%zu)", i);
	}
	return tap_done();
}
