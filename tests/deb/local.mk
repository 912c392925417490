# tests/deb build fragment - the Debian packages built by tools/deb.
TESTS += tests/deb/test_deb.sh
