/*
 * fuzz_service_account.c - fuzz target for the parser of Google's
 * service-account key files (jose_service_account_parse). Invariants: a
 * refusal returns nothing and names the file; an accepted file has an
 * issuer and a key that signs an assertion.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "fuzz_driver.h"
#include "jose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	jose_service_account *sa = NULL;
	ts_error e;
	char *jwt = NULL;

	memset(&e, 0, sizeof(e));
	if (jose_service_account_parse(&sa, (const char *)data, size, "fuzz.json", &e) != TS_OK) {
		if (sa != NULL || strncmp(e.msg, "fuzz.json", 9) != 0)
			abort();
		return 0;
	}
	if (sa->client_email == NULL || sa->private_key == NULL)
		abort();
	if (jose_assertion(&jwt, sa->private_key, strlen(sa->private_key), "fuzz", sa->private_key_id,
			   NULL, NULL, sa->client_email, "a@example.com", "https://example.com/token",
			   NULL, 1700000000, &e) != TS_OK)
		abort();
	ts_free_secret(jwt);
	jose_service_account_free(sa);
	return 0;
}
