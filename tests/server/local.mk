# tests/server/local.mk - the test OAuth2 server and its conformance test.
EXTRA_DIST += tests/server/oauth2_server.py tests/server/server.sh tests/server/tls_fault_server.py
TESTS += tests/server/test_server.sh
