"""Contract tests: one class per port, run against the fake and the real adapter."""
