"""Adapters layer: one module per vendor, translating its errors into Transient/PermanentError."""
