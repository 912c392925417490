# tests/server build fragment
