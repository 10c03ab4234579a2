"""In-memory implementations of the ports, for tests; `tests/contract/` keeps them honest."""
