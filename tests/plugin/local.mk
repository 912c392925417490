# tests/plugin build fragment
