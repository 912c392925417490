# tests/integration build fragment
