# tests/oauth build fragment: OAuth2 client unit tests, the token-response
# fuzz target (replaying its corpus), and the grant integration test.
oauth_test_ldadd = libtokenstore.la $(CURL_LIBS) $(JSONC_LIBS) $(CRYPTO_LIBS)

check_PROGRAMS += tests/oauth/test_pkce tests/oauth/test_token_parse \
	tests/oauth/fuzz_token_response tests/oauth/oauth_driver
tests_oauth_test_pkce_SOURCES = tests/oauth/test_pkce.c
tests_oauth_test_pkce_LDADD = $(oauth_test_ldadd)
tests_oauth_test_token_parse_SOURCES = tests/oauth/test_token_parse.c
tests_oauth_test_token_parse_LDADD = $(oauth_test_ldadd)
tests_oauth_fuzz_token_response_SOURCES = tests/oauth/fuzz_token_response.c
tests_oauth_fuzz_token_response_LDADD = $(oauth_test_ldadd)
tests_oauth_oauth_driver_SOURCES = tests/oauth/oauth_driver.c
tests_oauth_oauth_driver_LDADD = $(oauth_test_ldadd)

TESTS += tests/oauth/test_pkce tests/oauth/test_token_parse \
	tests/oauth/fuzz_token_response tests/oauth/test_grants.sh tests/oauth/test_jwt.sh
EXTRA_DIST += tests/oauth/corpus

# JOSE: fixed vectors made with the openssl command line (tests/oauth/jose/).
check_PROGRAMS += tests/oauth/test_jose
tests_oauth_test_jose_SOURCES = tests/oauth/test_jose.c
tests_oauth_test_jose_LDADD = $(oauth_test_ldadd)
TESTS += tests/oauth/test_jose
EXTRA_DIST += tests/oauth/jose
