# tests/cli build fragment
