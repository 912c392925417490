# tests/oauth build fragment
