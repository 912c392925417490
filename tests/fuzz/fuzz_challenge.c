/*
 * fuzz_challenge.c - fuzz target for the plugin's parser of the server's
 * error challenge (plugin/mech_challenge.c), the bytes a mail server sends
 * back when it refuses the token. No libsasl2 and no connection: the
 * parser is called directly.
 *
 * Invariants: the fields are NUL-terminated within their buffers and hold
 * printable ASCII only (they go into log lines); a challenge that is not a
 * JSON object leaves them empty; parsing is deterministic.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "fuzz_driver.h"
#include "mech_challenge_p.h"

static void check_field(const char *s, size_t size, int must_be_empty)
{
	size_t n = strnlen(s, size);

	if (n == size || (must_be_empty && n != 0))
		abort();
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] >= 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mech_challenge ch, again;

	mech_challenge_parse(&ch, (const char *)data, size);
	if (size == 0 || size > MECH_MAX_CHALLENGE) {
		if (ch.is_json)
			abort();
	}
	check_field(ch.status, sizeof(ch.status), !ch.is_json);
	check_field(ch.scope, sizeof(ch.scope), !ch.is_json);
	check_field(ch.schemes, sizeof(ch.schemes), !ch.is_json);
	mech_challenge_parse(&again, (const char *)data, size);
	if (memcmp(&ch, &again, sizeof(ch)) != 0)
		abort();
	return 0;
}
