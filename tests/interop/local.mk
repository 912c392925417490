# tests/interop/local.mk - interoperability with an independent, OpenID
# Certified server: panva's oidc-provider, installed by the test with npm
# into a cache outside the source tree (skipped without node/npm/registry,
# except in strict mode: see require_tool in tests/lib.sh).
TESTS += tests/interop/test_oidc_provider.sh
EXTRA_DIST += tests/interop/provider.mjs
