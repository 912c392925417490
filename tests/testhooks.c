/*
 * testhooks.c - linked into test programs only (never into the installed
 * helper or the plugin): lets the library read its SASL_OAUTH2_TEST_*
 * environment variables (the clock, the cache's settle time), which a
 * production build ignores.
 */
#include <config.h>

#include <stdlib.h>

#include "tokenstore.h"

static const char *test_env(const char *name)
{
	return getenv(name);
}

__attribute__((constructor)) static void testhooks_init(void)
{
	ts_test_env = test_env;
}
